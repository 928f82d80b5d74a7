//! Errors of the cluster layer. They say what failed and against which endpoint or node; the
//! server decides the HTTP status and OpenSearch error type.

/// What can go wrong talking to etcd or to the other nodes.
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    /// etcd did not answer at start (or the connection could not be set up).
    #[error("cannot reach etcd at {endpoints}: {reason}")]
    EtcdUnreachable { endpoints: String, reason: String },
    /// An etcd request failed while the node was running.
    #[error("etcd request failed ({operation}): {reason}")]
    Etcd { operation: &'static str, reason: String },
    /// Another live node of the cluster already uses this node name.
    #[error("node name [{node}] is already in use in cluster [{cluster}] (another node holds its lease)")]
    NodeNameTaken { node: String, cluster: String },
    /// Another node did not answer a node-to-node call.
    #[error("node [{node}] at {url} did not answer: {reason}")]
    NodeUnreachable { node: String, url: String, reason: String },
    /// The UDF version is already registered in the cluster.
    #[error("UDF [{name}] version [{version}] already exists in the cluster")]
    UdfExists { name: String, version: String },
    /// This node has not applied the latest registry change in time.
    #[error("node [{node}] has not applied the UDF registry's revision {wanted} yet (applied {applied})")]
    UdfRegistryBehind { node: String, applied: i64, wanted: i64 },
    /// This node has not applied the latest index metadata change in time.
    #[error("node [{node}] has not applied the index metadata revision {wanted} yet (applied {applied})")]
    MetadataBehind { node: String, applied: i64, wanted: i64 },
    /// A value read from etcd is not what this version writes.
    #[error("malformed cluster state at [{key}]: {reason}")]
    MalformedState { key: String, reason: String },
    /// This node is not (or no longer) the primary of the shard in the given term: its
    /// writes on it cannot be acknowledged.
    #[error("[{index}][{shard}] this node is not the primary of the shard in term {term} (the cluster's record says {holder} in term {current_term})")]
    NotPrimary { index: String, shard: u32, term: i64, holder: String, current_term: i64 },
    /// The command line or configuration of cluster mode is invalid.
    #[error("invalid cluster configuration: {0}")]
    InvalidConfig(String),
}

impl ClusterError {
    pub(crate) fn etcd(operation: &'static str, e: etcd_client::Error) -> Self {
        ClusterError::Etcd { operation, reason: e.to_string() }
    }
}
