//! Which permission each route needs: the one table from (method, route template) to an
//! OpenSearch action name and what it applies to. A route this table does not know needs
//! `cluster:admin/unknown` (only `all_access` has it), and the test below walks every route of
//! the router so a new route without an entry fails it.

use axum::http::Method;

/// What an action applies to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// A cluster-level action.
    Cluster,
    /// The indices of the path's `{index}` (all indices when the route has none). With
    /// `narrow`, a wildcard or `_all` resolves to only the indices the caller may use; an
    /// explicitly named index the caller may not use is a 403.
    PathIndices { narrow: bool },
    /// The indices named inside the body (`_bulk`, `_mget`, `_msearch`, `_aliases`), with the
    /// path's `{index}` as the default.
    BodyIndices(BodyKind),
    /// `_reindex`: read on the source indices, write on the destination.
    Reindex,
    /// The UDF named by the path parameter (`name` or `id`).
    NamedUdf,
    /// Every UDF (list, upload: the name is in the body).
    AllUdfs,
    /// Any authenticated caller (`authinfo`, their own API keys).
    Authenticated,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BodyKind {
    Bulk,
    Mget,
    Msearch,
    Aliases,
}

/// The permission a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RouteAction {
    pub action: &'static str,
    pub target: Target,
    /// The body may name UDFs (queries, scripts): each needs `udf:use`, inline code
    /// `udf:use/inline`.
    pub uses_udfs: bool,
}

const fn act(action: &'static str, target: Target) -> RouteAction {
    RouteAction { action, target, uses_udfs: false }
}

const fn query(action: &'static str, target: Target) -> RouteAction {
    RouteAction { action, target, uses_udfs: true }
}

const PATH: Target = Target::PathIndices { narrow: false };
const NARROW: Target = Target::PathIndices { narrow: true };

/// The action of `method` on `template`; `context` is the `{context}` path parameter (where
/// `POST /_scripts/{id}/_execute` runs a script rather than storing one). `None`: a route this
/// table does not know.
pub fn classify(method: &Method, template: &str, context: Option<&str>) -> Option<RouteAction> {
    let read = matches!(*method, Method::GET | Method::HEAD);
    let m = method.as_str();
    let index_route = template.starts_with("/{index}");
    // The route template without the leading `/{index}` (the index-less form has the same action).
    let rest = if index_route { &template["/{index}".len()..] } else { template };
    Some(match (rest, m) {
        // Methods a route does not serve get the router's 405; the table still names an action
        // for them, so every (method, route) pair is covered.
        ("/", _) if !index_route => act("cluster:monitor/main", Target::Cluster),
        // Security plugin endpoints: every authenticated caller, for themselves.
        (t, _) if t.starts_with("/_plugins/_security/") => act("cluster:admin/quidditch/security/self", Target::Authenticated),
        // UDF API.
        ("/api/v1/udfs", "GET" | "HEAD") => act("udf:read/list", Target::AllUdfs),
        ("/api/v1/udfs", _) => act("udf:manage/upload", Target::AllUdfs),
        ("/api/v1/udfs/_audit", _) => act("cluster:admin/quidditch/audit/read", Target::Cluster),
        ("/api/v1/udfs/_runtime", _) => act("cluster:monitor/quidditch/udf_runtime", Target::Cluster),
        ("/api/v1/udfs/{name}/test", _) => act("udf:use", Target::NamedUdf),
        ("/api/v1/udfs/{name}/_default" | "/api/v1/udfs/{name}/_rollback", _) => act("udf:manage/default", Target::NamedUdf),
        ("/api/v1/udfs/{name}" | "/api/v1/udfs/{name}/{version}", "DELETE") => act("udf:manage/delete", Target::NamedUdf),
        (t, "GET" | "HEAD") if t.starts_with("/api/v1/udfs/{name}") => act("udf:read/get", Target::NamedUdf),
        (t, _) if t.starts_with("/api/v1/udfs/{name}") => act("udf:manage/delete", Target::NamedUdf),
        ("/_prometheus/metrics" | "/metrics", _) => act("cluster:monitor/metrics", Target::Cluster),
        // Stored scripts are stored UDFs.
        ("/_scripts/{id}/{context}", _) if context == Some("_execute") => query("udf:use", Target::NamedUdf),
        ("/_scripts/{id}" | "/_scripts/{id}/{context}", "GET" | "HEAD") => act("udf:read/get", Target::NamedUdf),
        ("/_scripts/{id}" | "/_scripts/{id}/{context}", "DELETE") => act("udf:manage/delete", Target::NamedUdf),
        ("/_scripts/{id}" | "/_scripts/{id}/{context}", _) => act("udf:manage/upload", Target::NamedUdf),
        ("/_script_language" | "/_script_context", _) => act("cluster:monitor/script", Target::Cluster),
        // Cluster, nodes, tasks, cat.
        (t, _) if t.starts_with("/_cat/") => act("cluster:monitor/cat", Target::Cluster),
        (t, _) if t.starts_with("/_nodes") => act("cluster:monitor/nodes", Target::Cluster),
        // Node-to-node shard phases (cluster mode).
        (t, _) if t.starts_with("/_quidditch/") => act("cluster:internal/quidditch/shard_phase", Target::Cluster),
        (t, "GET" | "HEAD") if t.starts_with("/_cluster/") => act("cluster:monitor/state", Target::Cluster),
        (t, _) if t.starts_with("/_cluster/") => act("cluster:admin/settings", Target::Cluster),
        (t, "GET" | "HEAD") if t.starts_with("/_tasks") => act("cluster:monitor/tasks", Target::Cluster),
        (t, _) if t.starts_with("/_tasks") => act("cluster:admin/tasks/cancel", Target::Cluster),
        // Templates are cluster-level.
        (t, _) if is_template_route(t) && read => act("cluster:admin/template/get", Target::Cluster),
        (t, _) if t.starts_with("/_index_template/_simulate") => act("cluster:admin/template/get", Target::Cluster),
        (t, "DELETE") if is_template_route(t) => act("cluster:admin/template/delete", Target::Cluster),
        (t, _) if is_template_route(t) => act("cluster:admin/template/put", Target::Cluster),
        // Scroll and point in time continue what a search opened.
        ("/_search/scroll" | "/_search/scroll/{scroll_id}", "DELETE") => act("indices:data/read/scroll/clear", Target::Cluster),
        ("/_search/scroll" | "/_search/scroll/{scroll_id}", _) => act("indices:data/read/scroll", Target::Cluster),
        ("/_search/point_in_time" | "/_search/point_in_time/_all", "DELETE") => act("indices:data/read/point_in_time/delete", Target::Cluster),
        ("/_search/point_in_time" | "/_search/point_in_time/_all", _) if !index_route => act("indices:data/read/point_in_time/list", Target::Cluster),
        ("/_search/point_in_time", _) => act("indices:data/read/point_in_time/create", PATH),
        // Reading.
        ("/_search", _) => query("indices:data/read/search", NARROW),
        ("/_count", _) => query("indices:data/read/search", NARROW),
        ("/_msearch", _) => query("indices:data/read/msearch", Target::BodyIndices(BodyKind::Msearch)),
        ("/_mget", _) => act("indices:data/read/mget", Target::BodyIndices(BodyKind::Mget)),
        ("/_doc/{id}", "GET" | "HEAD") => act("indices:data/read/get", PATH),
        ("/_source/{id}", _) => act("indices:data/read/get", PATH),
        ("/_explain/{id}", _) => query("indices:data/read/explain", PATH),
        ("/_field_caps", _) => act("indices:data/read/field_caps", NARROW),
        ("/_validate/query", _) => query("indices:admin/validate/query", NARROW),
        // Writing.
        ("/_bulk", _) => act("indices:data/write/bulk", Target::BodyIndices(BodyKind::Bulk)),
        ("/_doc/{id}", "DELETE") => act("indices:data/write/delete", PATH),
        ("/_doc" | "/_doc/{id}" | "/_create/{id}", _) => act("indices:data/write/index", PATH),
        ("/_update/{id}", _) => query("indices:data/write/update", PATH),
        ("/_delete_by_query", _) => query("indices:data/write/delete/byquery", PATH),
        ("/_update_by_query", _) => query("indices:data/write/update/byquery", PATH),
        ("/_reindex", _) if !index_route => query("indices:data/write/reindex", Target::Reindex),
        // Index administration.
        ("", "PUT") => act("indices:admin/create", PATH),
        ("", "DELETE") => act("indices:admin/delete", PATH),
        ("", _) => act("indices:admin/get", NARROW),
        ("/_mapping/field/{fields}", _) => act("indices:admin/mappings/fields/get", NARROW),
        ("/_mapping", "GET" | "HEAD") => act("indices:admin/mappings/get", NARROW),
        ("/_mapping", _) => act("indices:admin/mapping/put", PATH),
        ("/_settings", "GET" | "HEAD") | ("/_settings/{name}", _) => act("indices:monitor/settings/get", NARROW),
        ("/_settings", _) => act("indices:admin/settings/update", PATH),
        ("/_aliases", "POST") if !index_route => act("indices:admin/aliases", Target::BodyIndices(BodyKind::Aliases)),
        (t, "GET" | "HEAD") if t.starts_with("/_alias") => act("indices:admin/aliases/get", NARROW),
        (t, _) if t.starts_with("/_alias") => act("indices:admin/aliases", PATH),
        ("/_analyze", _) if !index_route => act("cluster:monitor/analyze", Target::Cluster),
        ("/_analyze", _) => act("indices:admin/analyze", PATH),
        ("/_close", _) => act("indices:admin/close", PATH),
        ("/_open", _) => act("indices:admin/open", PATH),
        ("/_refresh", _) => act("indices:admin/refresh", NARROW),
        ("/_flush", _) => act("indices:admin/flush", NARROW),
        ("/_forcemerge", _) => act("indices:admin/forcemerge", NARROW),
        ("/_stats" | "/_stats/{metric}", _) => act("indices:monitor/stats", NARROW),
        _ => return None,
    })
}

fn is_template_route(t: &str) -> bool {
    t.starts_with("/_index_template") || t.starts_with("/_component_template") || t.starts_with("/_template")
}

/// What a request the table does not know needs: only `all_access` has it.
pub const UNKNOWN_ROUTE: RouteAction = act("cluster:admin/unknown", Target::Cluster);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_route_of_the_router_has_a_permission() {
        let methods = [Method::GET, Method::HEAD, Method::POST, Method::PUT, Method::DELETE];
        let mut missing = Vec::new();
        for template in crate::http::route_templates() {
            for method in &methods {
                if classify(method, &template, None).is_none() {
                    missing.push(format!("{method} {template}"));
                }
            }
        }
        assert!(missing.is_empty(), "routes without a permission in security/route_actions.rs: {missing:?}");
    }

    #[test]
    fn the_table_names_opensearch_actions() {
        let cases = [
            (Method::GET, "/{index}/_search", "indices:data/read/search", NARROW),
            (Method::POST, "/_search", "indices:data/read/search", NARROW),
            (Method::PUT, "/{index}", "indices:admin/create", PATH),
            (Method::DELETE, "/{index}", "indices:admin/delete", PATH),
            (Method::PUT, "/{index}/_doc/{id}", "indices:data/write/index", PATH),
            (Method::GET, "/{index}/_doc/{id}", "indices:data/read/get", PATH),
            (Method::DELETE, "/{index}/_doc/{id}", "indices:data/write/delete", PATH),
            (Method::POST, "/_bulk", "indices:data/write/bulk", Target::BodyIndices(BodyKind::Bulk)),
            (Method::GET, "/_cluster/health", "cluster:monitor/state", Target::Cluster),
            (Method::POST, "/api/v1/udfs", "udf:manage/upload", Target::AllUdfs),
            (Method::POST, "/api/v1/udfs/{name}/test", "udf:use", Target::NamedUdf),
            (Method::DELETE, "/api/v1/udfs/{name}/{version}", "udf:manage/delete", Target::NamedUdf),
        ];
        for (method, template, action, target) in cases {
            let got = classify(&method, template, None).unwrap_or_else(|| panic!("{method} {template}"));
            assert_eq!((got.action, got.target), (action, target), "{method} {template}");
        }
        let execute = classify(&Method::POST, "/_scripts/{id}/{context}", Some("_execute")).unwrap();
        assert_eq!((execute.action, execute.uses_udfs), ("udf:use", true));
    }
}
