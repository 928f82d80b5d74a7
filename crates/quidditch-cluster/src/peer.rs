//! Calls from one node to another node's HTTP API (the node-to-node API).
//!
//! Plain HTTP with JSON bodies on the nodes' advertised URLs. Blocking `ureq` calls run on
//! tokio's blocking pool, so a slow node holds a blocking thread, never a runtime worker.

use std::time::Duration;

use serde_json::Value;

use crate::{ClusterError, NodeInfo};

/// A client for the other nodes, with one timeout for every call.
#[derive(Clone)]
pub struct PeerClient {
    agent: ureq::Agent,
}

impl PeerClient {
    pub fn new(timeout: Duration) -> Self {
        PeerClient { agent: ureq::AgentBuilder::new().timeout_connect(timeout).timeout(timeout).build() }
    }

    /// `GET <node><path>` answered with JSON. Any status other than 2xx is an error naming
    /// the node.
    pub async fn get_json(&self, node: &NodeInfo, path: &str) -> Result<Value, ClusterError> {
        let agent = self.agent.clone();
        let url = format!("{}{}", node.http_url.trim_end_matches('/'), path);
        let name = node.name.clone();
        tokio::task::spawn_blocking(move || {
            let unreachable = |reason: String| ClusterError::NodeUnreachable { node: name.clone(), url: url.clone(), reason };
            match agent.get(&url).call() {
                Ok(resp) => resp.into_json::<Value>().map_err(|e| unreachable(e.to_string())),
                Err(ureq::Error::Status(code, resp)) => {
                    let body = resp.into_string().unwrap_or_default();
                    Err(unreachable(format!("status {code}: {}", body.chars().take(300).collect::<String>())))
                }
                Err(e) => Err(unreachable(e.to_string())),
            }
        })
        .await
        .map_err(|e| ClusterError::NodeUnreachable { node: node.name.clone(), url: node.http_url.clone(), reason: e.to_string() })?
    }
}
