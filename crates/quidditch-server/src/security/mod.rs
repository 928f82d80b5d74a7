//! Security (issue 18), in the security plugin's terms: who is calling (HTTP Basic against
//! the security file's internal users, or an API key) and what they may do (roles with
//! cluster, index and UDF permissions, role mappings, built-in roles).
//!
//! This module holds the rules; `http/security.rs` applies them to every request (one layer in
//! front of the router) and serves `/_plugins/_security/…`; `tls.rs` encrypts the port.
//! Security is off unless configured (`security.enabled`, or `--security-file`): the embedded
//! single node on 127.0.0.1 stays open, as OpenSearch's demo configuration is not.

pub mod api_keys;
pub mod backoff;
pub mod permissions;
pub mod route_actions;
pub mod users;

use std::collections::{BTreeMap, HashMap};
use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use base64::Engine as _;
use parking_lot::Mutex;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use api_keys::{ApiKeyStore, KeyRejection};
use backoff::Backoff;
use permissions::{Role, builtin_roles};
use users::{SecurityFile, User, verify_password};

/// The `security` section of the server config.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SecurityConfig {
    /// Authenticate and authorize every request.
    pub enabled: bool,
    /// Users, custom roles and role mappings (see [`users`]); optional when an admin
    /// password is given.
    pub file: Option<PathBuf>,
    /// The password of the built-in `admin` user (role `all_access`), when the file does not
    /// define `admin`. Also read from `$QUIDDITCH_ADMIN_PASSWORD`. There is no default password.
    pub admin_password: Option<String>,
}

/// The environment variable with the first-run admin password.
pub const ADMIN_PASSWORD_ENV: &str = "QUIDDITCH_ADMIN_PASSWORD";

/// An authenticated caller.
#[derive(Debug, Clone, Serialize)]
pub struct Principal {
    pub user: String,
    pub backend_roles: Vec<String>,
    /// Every role the caller has (direct and mapped), sorted.
    pub roles: Vec<String>,
    /// The API key id when authenticated by one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub api_key: Option<String>,
}

impl Principal {
    /// Another node of the cluster, proven by the cluster secret (its calls were authorized
    /// by the node the client called).
    pub fn node(name: &str) -> Principal {
        Principal { user: format!("node:{name}"), backend_roles: vec![], roles: vec![], api_key: None }
    }
}

/// Why a request is not authenticated.
#[derive(Debug, Clone)]
pub enum AuthFailure {
    /// No `Authorization` header.
    Missing,
    /// A scheme other than Basic and ApiKey, or a malformed Basic value.
    Malformed,
    WrongPassword { user: String },
    Key(KeyRejection),
    /// Too many failures for this user or address: retry after this long.
    Blocked(Duration),
}

impl AuthFailure {
    pub fn reason(&self) -> String {
        match self {
            AuthFailure::Missing => "authentication required: send HTTP Basic credentials or an API key".into(),
            AuthFailure::Malformed => "unsupported or malformed Authorization header (use Basic or ApiKey)".into(),
            AuthFailure::WrongPassword { user } => format!("wrong user name or password for [{user}]"),
            AuthFailure::Key(k) => k.reason().into(),
            AuthFailure::Blocked(d) => format!(
                "too many failed authentication attempts: blocked for another {} ms",
                d.as_millis().max(1)
            ),
        }
    }
}

/// Verified Basic credentials are remembered this long (by the SHA-256 of the header, never
/// the password), so bcrypt runs once per client, not once per request.
const CREDENTIAL_CACHE_TTL: Duration = Duration::from_secs(300);

pub struct Security {
    users: BTreeMap<String, User>,
    roles: BTreeMap<String, Role>,
    file: SecurityFile,
    pub api_keys: ApiKeyStore,
    verified: Mutex<HashMap<[u8; 32], (Principal, Instant)>>,
    backoff: Backoff,
}

impl Security {
    /// Loads the security file and the API key store (`<data>/security/`). Refuses to start
    /// with no user at all: security on with nobody able to log in is a misconfiguration.
    pub fn open(config: &SecurityConfig, data_dir: &Path) -> anyhow::Result<Security> {
        let file = match &config.file {
            Some(path) => SecurityFile::load(path)?,
            None => SecurityFile::default(),
        };
        let mut users = file.users.clone();
        let admin_password = config
            .admin_password
            .clone()
            .or_else(|| std::env::var(ADMIN_PASSWORD_ENV).ok())
            .filter(|p| !p.is_empty());
        if let Some(password) = admin_password {
            users.entry("admin".into()).or_insert(User {
                hash: users::hash_password(&password)?,
                backend_roles: vec!["admin".into()],
                roles: vec!["all_access".into()],
            });
        }
        if users.is_empty() {
            anyhow::bail!(
                "security is enabled but no user can log in: add users to the security file (`security.file`) \
                 or set an admin password (`security.admin_password` or ${ADMIN_PASSWORD_ENV})"
            );
        }
        let mut roles = builtin_roles();
        roles.extend(file.roles.clone());
        let api_keys = ApiKeyStore::open(&data_dir.join("security"))?;
        Ok(Security { users, roles, file, api_keys, verified: Mutex::new(HashMap::new()), backoff: Backoff::default() })
    }

    /// The caller of a request with this `Authorization` header from `source`.
    pub fn authenticate(&self, authorization: Option<&str>, source: IpAddr) -> Result<Principal, AuthFailure> {
        let header = authorization.ok_or(AuthFailure::Missing)?.trim();
        let digest: [u8; 32] = Sha256::digest(header.as_bytes()).into();
        if let Some((principal, at)) = self.verified.lock().get(&digest)
            && at.elapsed() < CREDENTIAL_CACHE_TTL
        {
            return Ok(principal.clone());
        }
        let address_key = format!("ip:{source}");
        let (scheme, value) = header.split_once(' ').ok_or(AuthFailure::Malformed)?;
        let principal = match scheme.to_ascii_lowercase().as_str() {
            "basic" => {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(value.trim())
                    .ok()
                    .and_then(|d| String::from_utf8(d).ok())
                    .ok_or(AuthFailure::Malformed)?;
                let (user, password) = decoded.split_once(':').ok_or(AuthFailure::Malformed)?;
                let user_key = format!("user:{user}");
                let keys = [user_key.as_str(), address_key.as_str()];
                if let Some(left) = self.backoff.blocked(&keys) {
                    return Err(AuthFailure::Blocked(left));
                }
                match self.users.get(user) {
                    Some(u) if verify_password(&u.hash, password) => {
                        self.backoff.record_success(&keys);
                        self.principal(user, u, None, None)
                    }
                    _ => {
                        self.backoff.record_failure(&keys);
                        return Err(AuthFailure::WrongPassword { user: user.to_string() });
                    }
                }
            }
            "apikey" => {
                let keys = [address_key.as_str()];
                if let Some(left) = self.backoff.blocked(&keys) {
                    return Err(AuthFailure::Blocked(left));
                }
                let key = self.api_keys.authenticate(value).map_err(|e| {
                    self.backoff.record_failure(&keys);
                    AuthFailure::Key(e)
                })?;
                // The key acts as its owner, who must still exist.
                let owner = self.users.get(&key.owner).ok_or(AuthFailure::Key(KeyRejection::Unknown))?;
                self.backoff.record_success(&keys);
                // API keys can be revoked at any moment: never cached.
                return Ok(self.principal(&key.owner, owner, key.roles.as_deref(), Some(key.id.clone())));
            }
            _ => return Err(AuthFailure::Malformed),
        };
        let mut verified = self.verified.lock();
        if verified.len() > 10_000 {
            verified.clear();
        }
        verified.insert(digest, (principal.clone(), Instant::now()));
        Ok(principal)
    }

    fn principal(&self, name: &str, user: &User, only: Option<&[String]>, api_key: Option<String>) -> Principal {
        let mut roles: Vec<String> = user.roles.clone();
        for (role, mapping) in &self.file.role_mappings {
            if mapping.users.iter().any(|u| u == name) || mapping.backend_roles.iter().any(|b| user.backend_roles.contains(b)) {
                roles.push(role.clone());
            }
        }
        if let Some(only) = only {
            roles.retain(|r| only.contains(r));
        }
        roles.sort();
        roles.dedup();
        Principal { user: name.to_string(), backend_roles: user.backend_roles.clone(), roles, api_key }
    }

    fn caller_roles<'a>(&'a self, p: &'a Principal) -> impl Iterator<Item = &'a Role> + 'a {
        p.roles.iter().filter_map(|r| self.roles.get(r))
    }

    pub fn allows_cluster(&self, p: &Principal, action: &str) -> bool {
        self.caller_roles(p).any(|r| r.allows_cluster(action))
    }

    pub fn allows_index(&self, p: &Principal, action: &str, index: &str) -> bool {
        self.caller_roles(p).any(|r| r.allows_index(action, index))
    }

    pub fn allows_udf(&self, p: &Principal, action: &str, udf: &str) -> bool {
        self.caller_roles(p).any(|r| r.allows_udf(action, udf))
    }

    /// Whether `p` holds `cluster_all`-level rights (may manage everyone's API keys).
    pub fn is_admin(&self, p: &Principal) -> bool {
        self.allows_cluster(p, "cluster:admin/quidditch/security/manage")
    }

    /// Whether every role in `names` exists.
    pub fn unknown_role<'a>(&self, names: &'a [String]) -> Option<&'a String> {
        names.iter().find(|n| !self.roles.contains_key(*n))
    }
}

/// Compares secrets without an early exit on the first differing byte.
pub(crate) fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    use subtle::ConstantTimeEq;
    a.ct_eq(b).into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use permissions::{IndexPermission, RoleMapping};

    fn basic(user: &str, password: &str) -> String {
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}")))
    }

    fn security_with(file: SecurityFile, admin: Option<&str>) -> (tempfile::TempDir, anyhow::Result<Security>) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("security.json");
        std::fs::write(&path, serde_json::to_vec(&file).unwrap()).unwrap();
        let config = SecurityConfig { enabled: true, file: Some(path), admin_password: admin.map(str::to_string) };
        let sec = Security::open(&config, dir.path());
        (dir, sec)
    }

    #[test]
    fn no_user_at_all_is_refused() {
        let (_dir, sec) = security_with(SecurityFile::default(), None);
        if std::env::var(ADMIN_PASSWORD_ENV).is_err() {
            assert!(sec.err().unwrap().to_string().contains("no user can log in"));
        }
    }

    #[test]
    fn users_get_their_roles_and_mapped_roles() {
        let mut file = SecurityFile::default();
        file.users.insert(
            "ann".into(),
            User { hash: users::hash_password("pw").unwrap(), backend_roles: vec!["analysts".into()], roles: vec!["udf_user".into()] },
        );
        file.roles.insert(
            "logs_reader".into(),
            Role {
                index_permissions: vec![IndexPermission { index_patterns: vec!["logs-*".into()], allowed_actions: vec!["read".into()] }],
                ..Default::default()
            },
        );
        file.role_mappings.insert("logs_reader".into(), RoleMapping { users: vec![], backend_roles: vec!["analysts".into()] });
        let (_dir, sec) = security_with(file, Some("adminpw"));
        let sec = sec.unwrap();
        let here: IpAddr = "127.0.0.1".parse().unwrap();
        let ann = sec.authenticate(Some(&basic("ann", "pw")), here).unwrap();
        assert_eq!(ann.roles, vec!["logs_reader", "udf_user"]);
        assert!(sec.allows_index(&ann, "indices:data/read/search", "logs-1"));
        assert!(!sec.allows_index(&ann, "indices:data/read/search", "other"));
        assert!(sec.allows_udf(&ann, "udf:use", "anything"));
        assert!(!sec.allows_udf(&ann, "udf:manage/upload", "anything"));
        let admin = sec.authenticate(Some(&basic("admin", "adminpw")), here).unwrap();
        assert!(sec.is_admin(&admin) && !sec.is_admin(&ann));
        assert!(matches!(sec.authenticate(Some(&basic("ann", "nope")), here), Err(AuthFailure::WrongPassword { .. })));
        assert!(matches!(sec.authenticate(None, here), Err(AuthFailure::Missing)));
        assert!(matches!(sec.authenticate(Some("Bearer x"), here), Err(AuthFailure::Malformed)));
    }
}
