//! Roles and what they allow: OpenSearch security plugin conventions (cluster permissions,
//! index permissions by index pattern, action groups), plus the UDF permissions Quidditch adds
//! (`udf_read`, `udf_use`, `udf_manage` by UDF name pattern).
//!
//! An action is an OpenSearch action name (`indices:data/read/search`,
//! `cluster:monitor/health`, …) or a UDF action (`udf:use`, `udf:manage/upload`, …). A role's
//! `allowed_actions` hold action names, `*` patterns of them, or action-group names that expand
//! to patterns ([`expand_action_group`]).

use std::collections::BTreeMap;

use quidditch_engine::query_ast::wildcard_glob_match as glob_match;
use serde::{Deserialize, Serialize};

/// Index permissions for the indices matching `index_patterns`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IndexPermission {
    pub index_patterns: Vec<String>,
    pub allowed_actions: Vec<String>,
}

/// UDF permissions for the UDFs whose names match `udf_patterns`.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UdfPermission {
    pub udf_patterns: Vec<String>,
    pub allowed_actions: Vec<String>,
}

/// One role, as in the security plugin's `roles.yml` (plus `udf_permissions`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Role {
    pub description: Option<String>,
    pub cluster_permissions: Vec<String>,
    pub index_permissions: Vec<IndexPermission>,
    pub udf_permissions: Vec<UdfPermission>,
}

/// Which users and backend roles get a role (the plugin's `roles_mapping.yml`).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RoleMapping {
    pub users: Vec<String>,
    pub backend_roles: Vec<String>,
}

/// The static action groups of the security plugin that Quidditch's APIs use, and the UDF
/// groups. `None` for a name that is not a group (it is then an action name or pattern).
pub fn expand_action_group(name: &str) -> Option<&'static [&'static str]> {
    Some(match name {
        // Cluster-level groups.
        "cluster_all" => &["cluster:*", "indices:data/read/scroll*", "indices:data/read/mget*", "indices:data/read/msearch*",
            "indices:data/write/bulk*", "indices:data/read/point_in_time/delete*", "indices:admin/aliases*"],
        "cluster_monitor" => &["cluster:monitor/*"],
        "cluster_composite_ops_ro" => &["indices:data/read/mget*", "indices:data/read/msearch*", "indices:data/read/scroll*",
            "indices:data/read/point_in_time/delete*", "cluster:monitor/main"],
        "cluster_composite_ops" => &["indices:data/read/mget*", "indices:data/read/msearch*", "indices:data/read/scroll*",
            "indices:data/read/point_in_time/delete*", "cluster:monitor/main", "indices:data/write/bulk*", "indices:admin/aliases*"],
        "cluster_manage_index_templates" => &["cluster:admin/template/*"],
        "audit_read" => &["cluster:admin/quidditch/audit/read"],
        // Index-level groups.
        "indices_all" => &["indices:*"],
        "read" => &["indices:data/read/*", "indices:admin/mappings/fields/get*", "indices:admin/resolve/index"],
        "search" => &["indices:data/read/search*", "indices:data/read/msearch*", "indices:data/read/scroll*",
            "indices:data/read/point_in_time/*", "indices:data/read/field_caps*", "indices:admin/validate/query*"],
        "get" => &["indices:data/read/get*", "indices:data/read/mget*"],
        "write" => &["indices:data/write/*", "indices:admin/mapping/put"],
        "delete" => &["indices:data/write/delete*", "indices:data/write/bulk*"],
        "index" => &["indices:data/write/index*", "indices:data/write/update*", "indices:data/write/bulk*", "indices:admin/mapping/put"],
        "crud" => &["indices:data/read/*", "indices:admin/mappings/fields/get*", "indices:data/write/*", "indices:admin/mapping/put"],
        "create_index" => &["indices:admin/create", "indices:admin/mapping/put"],
        "manage" => &["indices:monitor/*", "indices:admin/*"],
        "manage_aliases" => &["indices:admin/aliases*"],
        "indices_monitor" => &["indices:monitor/*"],
        // UDF groups.
        "udf_read" => &["udf:read/*"],
        "udf_use" => &["udf:use", "udf:read/*"],
        "udf_manage" => &["udf:manage/*", "udf:read/*", "udf:use", "udf:use/inline"],
        _ => return None,
    })
}

/// Whether an `allowed_actions` list grants `action`.
pub fn actions_allow(allowed: &[String], action: &str) -> bool {
    allowed.iter().any(|entry| match expand_action_group(entry) {
        Some(patterns) => patterns.iter().any(|p| glob_match(p, action)),
        None => glob_match(entry, action),
    })
}

fn any_pattern_matches(patterns: &[String], name: &str) -> bool {
    patterns.iter().any(|p| glob_match(p, name))
}

impl Role {
    pub fn allows_cluster(&self, action: &str) -> bool {
        actions_allow(&self.cluster_permissions, action)
    }

    pub fn allows_index(&self, action: &str, index: &str) -> bool {
        self.index_permissions
            .iter()
            .any(|p| any_pattern_matches(&p.index_patterns, index) && actions_allow(&p.allowed_actions, action))
    }

    pub fn allows_udf(&self, action: &str, udf: &str) -> bool {
        self.udf_permissions
            .iter()
            .any(|p| any_pattern_matches(&p.udf_patterns, udf) && actions_allow(&p.allowed_actions, action))
    }
}

fn strings(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

fn on_all_udfs(actions: &[&str]) -> Vec<UdfPermission> {
    vec![UdfPermission { udf_patterns: strings(&["*"]), allowed_actions: strings(actions) }]
}

/// The built-in roles, defined as the security plugin defines `all_access` and `readall`, plus
/// Quidditch's `udf_admin` and `udf_user`. A security file may add roles but not redefine these.
pub fn builtin_roles() -> BTreeMap<String, Role> {
    let mut roles = BTreeMap::new();
    roles.insert(
        "all_access".into(),
        Role {
            description: Some("Everything: every cluster, index and UDF action".into()),
            cluster_permissions: strings(&["cluster_all", "audit_read", "cluster_manage_index_templates"]),
            index_permissions: vec![IndexPermission { index_patterns: strings(&["*"]), allowed_actions: strings(&["indices_all"]) }],
            udf_permissions: on_all_udfs(&["udf_manage"]),
        },
    );
    roles.insert(
        "readall".into(),
        Role {
            description: Some("Read every index".into()),
            cluster_permissions: strings(&["cluster_composite_ops_ro"]),
            index_permissions: vec![IndexPermission { index_patterns: strings(&["*"]), allowed_actions: strings(&["read"]) }],
            udf_permissions: vec![],
        },
    );
    roles.insert(
        "udf_admin".into(),
        Role {
            description: Some("Upload, delete, inspect and use every UDF; read the audit log".into()),
            cluster_permissions: strings(&["cluster_monitor", "audit_read"]),
            index_permissions: vec![],
            udf_permissions: on_all_udfs(&["udf_manage"]),
        },
    );
    roles.insert(
        "udf_user".into(),
        Role {
            description: Some("Use and inspect every UDF (in searches and `_test`), not upload".into()),
            cluster_permissions: vec![],
            index_permissions: vec![],
            udf_permissions: on_all_udfs(&["udf_use"]),
        },
    );
    roles
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn groups_expand_to_the_actions_they_name() {
        let read = strings(&["read"]);
        assert!(actions_allow(&read, "indices:data/read/search"));
        assert!(actions_allow(&read, "indices:data/read/get"));
        assert!(!actions_allow(&read, "indices:data/write/index"));
        assert!(actions_allow(&strings(&["indices:data/write/*"]), "indices:data/write/bulk"));
        assert!(!actions_allow(&strings(&["udf_use"]), "udf:manage/upload"));
        assert!(actions_allow(&strings(&["udf_manage"]), "udf:manage/upload"));
    }

    #[test]
    fn index_permissions_apply_to_matching_indices_only() {
        let role = Role {
            index_permissions: vec![IndexPermission { index_patterns: strings(&["logs-*"]), allowed_actions: strings(&["read"]) }],
            ..Default::default()
        };
        assert!(role.allows_index("indices:data/read/search", "logs-2026"));
        assert!(!role.allows_index("indices:data/read/search", "secrets"));
        assert!(!role.allows_index("indices:data/write/index", "logs-2026"));
    }
}
