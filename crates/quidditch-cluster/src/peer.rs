//! Calls from one node to another node's HTTP API (the node-to-node API).
//!
//! Plain HTTP with JSON bodies on the nodes' advertised URLs. Blocking `ureq` calls run on
//! tokio's blocking pool, so a slow node holds a blocking thread, never a runtime worker.
//! Every call carries [`FORWARDED_HEADER`] (the calling node's name: the callee serves it
//! itself, never forwarding it again) and, when the cluster has a secret, [`SECRET_HEADER`].

use std::time::Duration;

use serde_json::Value;

use crate::barrier::{REVISIONS_HEADER, Revisions};
use crate::{ClusterError, NodeInfo};

/// Names the node a request comes from: set on every node-to-node call.
pub const FORWARDED_HEADER: &str = "x-quidditch-forwarded-by";
/// The cluster secret (`--cluster-secret`), when one is configured.
pub const SECRET_HEADER: &str = "x-quidditch-cluster-secret";

/// What another node answered.
#[derive(Debug, Clone)]
pub struct PeerResponse {
    pub status: u16,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
}

/// A client for the other nodes, with one timeout for every call.
#[derive(Clone)]
pub struct PeerClient {
    agent: ureq::Agent,
    /// This node's name, sent in [`FORWARDED_HEADER`].
    from: String,
    secret: Option<String>,
}

impl PeerClient {
    pub fn new(timeout: Duration, from: &str, secret: Option<String>) -> Self {
        PeerClient {
            agent: ureq::AgentBuilder::new().timeout_connect(timeout).timeout(timeout).build(),
            from: from.to_string(),
            secret,
        }
    }

    /// Whether a request's secret header matches the cluster's (always, without a secret).
    pub fn accepts(&self, presented: Option<&str>) -> bool {
        self.secret.is_none() || self.proves_membership(presented)
    }

    /// Whether the cluster has a secret and `presented` is it: the caller is one of the nodes.
    pub fn proves_membership(&self, presented: Option<&str>) -> bool {
        use subtle::ConstantTimeEq;
        match (&self.secret, presented) {
            (Some(secret), Some(p)) => p.as_bytes().ct_eq(secret.as_bytes()).into(),
            _ => false,
        }
    }

    /// Whether node-to-node calls carry a secret.
    pub fn has_secret(&self) -> bool {
        self.secret.is_some()
    }

    /// `method <node><path_and_query>` with an optional body, on this thread (callers are on
    /// blocking threads already), carrying the `revisions` the request waited for (the callee
    /// waits for the same ones). Any answer, whatever its status, is `Ok`; only a node that
    /// does not answer is an error naming it.
    pub fn send_blocking(
        &self,
        node: &NodeInfo,
        method: &str,
        path_and_query: &str,
        body: Option<(&str, &[u8])>,
        revisions: Option<Revisions>,
    ) -> Result<PeerResponse, ClusterError> {
        let url = format!("{}{}", node.http_url.trim_end_matches('/'), path_and_query);
        let mut request = self.agent.request(method, &url).set(FORWARDED_HEADER, &self.from);
        if let Some(secret) = &self.secret {
            request = request.set(SECRET_HEADER, secret);
        }
        if let Some(revisions) = revisions {
            request = request.set(REVISIONS_HEADER, &revisions.header_value());
        }
        let result = match body {
            Some((content_type, bytes)) => request.set("content-type", content_type).send_bytes(bytes),
            None => request.call(),
        };
        let response = match result {
            Ok(r) | Err(ureq::Error::Status(_, r)) => r,
            Err(e) => return Err(ClusterError::NodeUnreachable { node: node.name.clone(), url, reason: e.to_string() }),
        };
        let status = response.status();
        let content_type = response.header("content-type").map(str::to_string);
        let mut bytes = Vec::new();
        std::io::Read::read_to_end(&mut response.into_reader(), &mut bytes)
            .map_err(|e| ClusterError::NodeUnreachable { node: node.name.clone(), url: url.clone(), reason: e.to_string() })?;
        Ok(PeerResponse { status, content_type, body: bytes })
    }

    /// [`PeerClient::send_blocking`] on tokio's blocking pool, with the revisions of the
    /// request running on this task.
    pub async fn send(
        &self,
        node: &NodeInfo,
        method: &str,
        path_and_query: &str,
        body: Option<(String, Vec<u8>)>,
    ) -> Result<PeerResponse, ClusterError> {
        let (client, node, method, path) = (self.clone(), node.clone(), method.to_string(), path_and_query.to_string());
        let name = node.name.clone();
        let url = node.http_url.clone();
        let revisions = Revisions::current();
        tokio::task::spawn_blocking(move || {
            client.send_blocking(&node, &method, &path, body.as_ref().map(|(t, b)| (t.as_str(), b.as_slice())), revisions)
        })
        .await
        .map_err(|e| ClusterError::NodeUnreachable { node: name, url, reason: e.to_string() })?
    }

    /// `GET <node><path>` answered with JSON. Any status other than 2xx is an error naming
    /// the node.
    pub async fn get_json(&self, node: &NodeInfo, path: &str) -> Result<Value, ClusterError> {
        let (agent, from, secret) = (self.agent.clone(), self.from.clone(), self.secret.clone());
        let url = format!("{}{}", node.http_url.trim_end_matches('/'), path);
        let name = node.name.clone();
        tokio::task::spawn_blocking(move || {
            let unreachable = |reason: String| ClusterError::NodeUnreachable { node: name.clone(), url: url.clone(), reason };
            let mut request = agent.get(&url).set(FORWARDED_HEADER, &from);
            if let Some(secret) = &secret {
                request = request.set(SECRET_HEADER, secret);
            }
            match request.call() {
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

