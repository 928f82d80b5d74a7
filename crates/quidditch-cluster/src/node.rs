//! What a node publishes about itself in its membership key.

use serde::{Deserialize, Serialize};

/// A node as the rest of the cluster sees it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeInfo {
    /// Unique in the cluster (`--node-name`).
    pub name: String,
    /// Stable across restarts (kept in the node's data directory).
    pub id: String,
    /// Base URL other nodes and clients reach this node's HTTP API at (`--advertise`).
    pub http_url: String,
    /// Quidditch version of the process.
    pub version: String,
    /// OpenSearch node roles; every node holds data and can be manager.
    pub roles: Vec<String>,
    /// When the process registered (milliseconds since the Unix epoch).
    pub started_at_ms: u64,
}

impl NodeInfo {
    /// The host part of [`NodeInfo::http_url`] (what `_cat/nodes` shows as `ip`).
    pub fn host(&self) -> &str {
        let rest = self.http_url.split_once("://").map_or(self.http_url.as_str(), |(_, r)| r);
        let authority = rest.split('/').next().unwrap_or(rest);
        match authority.rsplit_once(':') {
            Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.trim_matches(['[', ']']),
            _ => authority,
        }
    }

    /// `host:port` of [`NodeInfo::http_url`].
    pub fn address(&self) -> &str {
        let rest = self.http_url.split_once("://").map_or(self.http_url.as_str(), |(_, r)| r);
        rest.split('/').next().unwrap_or(rest)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(url: &str) -> NodeInfo {
        NodeInfo {
            name: "n".into(),
            id: "i".into(),
            http_url: url.into(),
            version: "0".into(),
            roles: vec![],
            started_at_ms: 0,
        }
    }

    #[test]
    fn host_and_address_come_from_the_url() {
        assert_eq!(node("http://127.0.0.1:9201").host(), "127.0.0.1");
        assert_eq!(node("http://127.0.0.1:9201").address(), "127.0.0.1:9201");
        assert_eq!(node("http://[::1]:9201/").host(), "::1");
        assert_eq!(node("http://search.local").host(), "search.local");
    }
}
