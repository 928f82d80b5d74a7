//! API keys: `Authorization: ApiKey base64(id:key)`. A key acts as its owner with the owner's
//! roles (or a subset named at creation), until it expires or is revoked. Only the SHA-256 of
//! the secret is stored (`<data>/security/api_keys.json`, rewritten atomically); the secret is
//! shown once, in the creation answer. Keys are 32 random bytes, so a plain hash is enough
//! (bcrypt is for guessable passwords).

use std::path::{Path, PathBuf};

use base64::Engine as _;
use parking_lot::Mutex;
use rand::RngCore;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ApiKey {
    pub id: String,
    pub name: String,
    pub owner: String,
    /// `None`: all the owner's roles.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub roles: Option<Vec<String>>,
    pub created_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expires_ms: Option<u64>,
    #[serde(default)]
    pub revoked: bool,
    /// Hex SHA-256 of the secret.
    secret_sha256: String,
}

impl ApiKey {
    /// The key's public description (no secret hash).
    pub fn describe(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id, "name": self.name, "owner": self.owner, "roles": self.roles,
            "creation": self.created_ms, "expiration": self.expires_ms, "invalidated": self.revoked,
        })
    }
}

/// Why a presented key does not authenticate.
#[derive(Debug, Clone, PartialEq)]
pub enum KeyRejection {
    Malformed,
    Unknown,
    Revoked,
    Expired,
}

impl KeyRejection {
    pub fn reason(&self) -> &'static str {
        match self {
            KeyRejection::Malformed => "the API key is not base64 of `id:key`",
            KeyRejection::Unknown => "unknown API key or wrong secret",
            KeyRejection::Revoked => "the API key was revoked",
            KeyRejection::Expired => "the API key has expired",
        }
    }
}

pub struct ApiKeyStore {
    path: PathBuf,
    keys: Mutex<Vec<ApiKey>>,
}

pub fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn random_token(len: usize) -> String {
    let mut bytes = vec![0u8; len];
    rand::thread_rng().fill_bytes(&mut bytes);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

impl ApiKeyStore {
    pub fn open(dir: &Path) -> anyhow::Result<ApiKeyStore> {
        std::fs::create_dir_all(dir)?;
        let path = dir.join("api_keys.json");
        let keys = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("corrupt API key store {}: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(anyhow::anyhow!("cannot read {}: {e}", path.display())),
        };
        Ok(ApiKeyStore { path, keys: Mutex::new(keys) })
    }

    fn persist(&self, keys: &[ApiKey]) -> std::io::Result<()> {
        let tmp = self.path.with_extension("json.tmp");
        std::fs::write(&tmp, serde_json::to_vec_pretty(keys).unwrap_or_default())?;
        std::fs::File::open(&tmp)?.sync_all()?;
        std::fs::rename(&tmp, &self.path)
    }

    /// Creates a key; returns it and its one-time secret.
    pub fn create(&self, owner: &str, name: &str, roles: Option<Vec<String>>, expires_ms: Option<u64>) -> std::io::Result<(ApiKey, String)> {
        let secret = random_token(32);
        let key = ApiKey {
            id: random_token(15),
            name: name.to_string(),
            owner: owner.to_string(),
            roles,
            created_ms: now_ms(),
            expires_ms,
            revoked: false,
            secret_sha256: sha256_hex(secret.as_bytes()),
        };
        let mut keys = self.keys.lock();
        let mut next = keys.clone();
        next.push(key.clone());
        self.persist(&next)?;
        *keys = next;
        Ok((key, secret))
    }

    /// The key a header's `base64(id:key)` names, if its secret matches and it is usable.
    pub fn authenticate(&self, encoded: &str) -> Result<ApiKey, KeyRejection> {
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(encoded.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .ok_or(KeyRejection::Malformed)?;
        let (id, secret) = decoded.split_once(':').ok_or(KeyRejection::Malformed)?;
        let keys = self.keys.lock();
        let key = keys.iter().find(|k| k.id == id).ok_or(KeyRejection::Unknown)?;
        let presented = sha256_hex(secret.as_bytes());
        if !super::constant_time_eq(presented.as_bytes(), key.secret_sha256.as_bytes()) {
            return Err(KeyRejection::Unknown);
        }
        if key.revoked {
            return Err(KeyRejection::Revoked);
        }
        if key.expires_ms.is_some_and(|t| t <= now_ms()) {
            return Err(KeyRejection::Expired);
        }
        Ok(key.clone())
    }

    /// Keys of `owner`, or every key when `owner` is `None`.
    pub fn list(&self, owner: Option<&str>) -> Vec<ApiKey> {
        self.keys.lock().iter().filter(|k| owner.is_none_or(|o| k.owner == o)).cloned().collect()
    }

    /// Revokes a key; `Ok(None)` when there is no such key (or it is not `owner`'s).
    pub fn revoke(&self, id: &str, owner: Option<&str>) -> std::io::Result<Option<ApiKey>> {
        let mut keys = self.keys.lock();
        let mut next = keys.clone();
        let Some(key) = next.iter_mut().find(|k| k.id == id && owner.is_none_or(|o| k.owner == o)) else {
            return Ok(None);
        };
        key.revoked = true;
        let revoked = key.clone();
        self.persist(&next)?;
        *keys = next;
        Ok(Some(revoked))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(key: &ApiKey, secret: &str) -> String {
        base64::engine::general_purpose::STANDARD.encode(format!("{}:{secret}", key.id))
    }

    #[test]
    fn create_use_revoke_and_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let store = ApiKeyStore::open(dir.path()).unwrap();
        let (key, secret) = store.create("alice", "ci", None, None).unwrap();
        assert_eq!(store.authenticate(&header(&key, &secret)).unwrap().owner, "alice");
        assert_eq!(store.authenticate(&header(&key, "wrong")).unwrap_err(), KeyRejection::Unknown);
        assert_eq!(store.authenticate("%%%").unwrap_err(), KeyRejection::Malformed);
        assert!(store.revoke(&key.id, Some("bob")).unwrap().is_none());
        assert!(store.revoke(&key.id, Some("alice")).unwrap().is_some());
        let reopened = ApiKeyStore::open(dir.path()).unwrap();
        assert_eq!(reopened.authenticate(&header(&key, &secret)).unwrap_err(), KeyRejection::Revoked);
        let (old, secret) = reopened.create("alice", "old", None, Some(now_ms() - 1)).unwrap();
        assert_eq!(reopened.authenticate(&header(&old, &secret)).unwrap_err(), KeyRejection::Expired);
    }
}
