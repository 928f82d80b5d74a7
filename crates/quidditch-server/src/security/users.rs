//! The security file: internal users (bcrypt password hashes, as the security plugin's, backend roles, roles), custom
//! roles and role mappings — the security plugin's `internal_users.yml`, `roles.yml` and
//! `roles_mapping.yml` in one JSON file.
//!
//! ```json
//! {"users": {"alice": {"hash": "$2b$12$…", "backend_roles": ["analysts"], "roles": ["readall"]}},
//!  "roles": {"logs_reader": {"index_permissions": [{"index_patterns": ["logs-*"], "allowed_actions": ["read"]}]}},
//!  "role_mappings": {"logs_reader": {"backend_roles": ["analysts"]}}}
//! ```
//! `quidditch passwd` prints the hash of a password for `hash`.

use std::collections::BTreeMap;
use std::path::Path;

use serde::{Deserialize, Serialize};

use super::permissions::{Role, RoleMapping, builtin_roles};

/// One internal user.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct User {
    /// A bcrypt hash (`quidditch passwd`, or the security plugin's `hash.sh`).
    pub hash: String,
    pub backend_roles: Vec<String>,
    /// Roles given directly (besides the role mappings).
    pub roles: Vec<String>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityFile {
    pub users: BTreeMap<String, User>,
    pub roles: BTreeMap<String, Role>,
    pub role_mappings: BTreeMap<String, RoleMapping>,
}

impl SecurityFile {
    /// Reads and checks the file: hashes parse, custom roles do not redefine built-in ones,
    /// every role a user or mapping names exists.
    pub fn load(path: &Path) -> anyhow::Result<SecurityFile> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| anyhow::anyhow!("cannot read security file {}: {e}", path.display()))?;
        let file: SecurityFile = serde_json::from_str(&text)
            .map_err(|e| anyhow::anyhow!("invalid security file {}: {e}", path.display()))?;
        file.check().map_err(|e| anyhow::anyhow!("invalid security file {}: {e}", path.display()))?;
        Ok(file)
    }

    fn check(&self) -> Result<(), String> {
        let builtin = builtin_roles();
        if let Some(name) = self.roles.keys().find(|r| builtin.contains_key(*r)) {
            return Err(format!("[roles.{name}] is a built-in role and cannot be redefined"));
        }
        let known = |r: &String| builtin.contains_key(r) || self.roles.contains_key(r);
        for (name, user) in &self.users {
            user.hash
                .parse::<bcrypt::HashParts>()
                .map_err(|e| format!("[users.{name}.hash] is not a bcrypt hash (make one with `quidditch passwd`): {e}"))?;
            if let Some(role) = user.roles.iter().find(|r| !known(r)) {
                return Err(format!("[users.{name}.roles] names unknown role [{role}]"));
            }
        }
        if let Some(role) = self.role_mappings.keys().find(|r| !known(r)) {
            return Err(format!("[role_mappings.{role}] maps an unknown role"));
        }
        Ok(())
    }
}

/// bcrypt's work factor: the security plugin's `hash.sh` default (≈ 0.25 s per hash here;
/// verified credentials are cached, so a client pays it once).
const BCRYPT_COST: u32 = 12;

/// A bcrypt hash of `password` with a random salt.
pub fn hash_password(password: &str) -> anyhow::Result<String> {
    bcrypt::hash(password, BCRYPT_COST).map_err(|e| anyhow::anyhow!("cannot hash the password: {e}"))
}

/// Whether `password` matches a bcrypt hash.
pub fn verify_password(hash: &str, password: &str) -> bool {
    bcrypt::verify(password, hash).unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_verifies_its_password_only() {
        let h = hash_password("s3cret!").unwrap();
        assert!(h.starts_with("$2b$12$"));
        assert!(verify_password(&h, "s3cret!"));
        assert!(!verify_password(&h, "s3cret"));
        assert!(!verify_password("not a hash", "s3cret!"));
    }

    #[test]
    fn unknown_roles_and_bad_hashes_are_refused() {
        let mut file = SecurityFile::default();
        file.users.insert("a".into(), User { hash: "x".into(), ..Default::default() });
        assert!(file.check().unwrap_err().contains("[users.a.hash]"));
        file.users.insert("a".into(), User { hash: hash_password("p").unwrap(), roles: vec!["nope".into()], ..Default::default() });
        assert!(file.check().unwrap_err().contains("unknown role [nope]"));
        file.users.get_mut("a").unwrap().roles = vec!["readall".into()];
        assert!(file.check().is_ok());
        file.roles.insert("all_access".into(), Role::default());
        assert!(file.check().unwrap_err().contains("built-in"));
    }
}
