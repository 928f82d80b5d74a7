//! Server configuration: defaults, an optional JSON config file, then command-line flags.

use std::net::SocketAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    /// Address the HTTP server listens on.
    pub listen: SocketAddr,
    /// Where indices, the UDF registry, caches and the audit log live.
    pub data_dir: PathBuf,
    /// `tracing` filter, e.g. `info` or `quidditch=debug`.
    pub log_level: String,
    /// Largest accepted request body (OpenSearch's `http.max_content_length`).
    pub max_body_bytes: usize,
    /// Optional API key required on write endpoints of the UDF API
    /// (`Authorization: ApiKey <key>`). Off when unset.
    pub api_key: Option<String>,
    /// UDF runtime limits, permissions and signature policy.
    pub udf: quidditch_udf::UdfConfig,
    /// Index engine settings (commit interval, WAL).
    pub engine: quidditch_engine::EngineConfig,
    /// TLS on the REST port (PEM files); plain HTTP when unset.
    pub tls: Option<crate::tls::TlsConfig>,
    /// Users, roles and API keys (off unless `enabled`).
    pub security: crate::security::SecurityConfig,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:9200".parse().expect("valid default address"),
            data_dir: PathBuf::from("./data"),
            log_level: "info".into(),
            max_body_bytes: 100 * 1024 * 1024,
            api_key: None,
            udf: Default::default(),
            engine: Default::default(),
            tls: None,
            security: Default::default(),
        }
    }
}

impl ServerConfig {
    /// Loads a JSON config file over the defaults (missing keys keep their defaults).
    pub fn load(path: Option<&std::path::Path>) -> anyhow::Result<Self> {
        match path {
            None => Ok(Self::default()),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .map_err(|e| anyhow::anyhow!("cannot read config file {}: {e}", p.display()))?;
                serde_json::from_str(&text)
                    .map_err(|e| anyhow::anyhow!("invalid config file {}: {e}", p.display()))
            }
        }
    }
}
