//! The local picture of the cluster: who is a member, who is manager, whether etcd answers.
//! Kept current by a watch on the cluster's keys, read by the HTTP layer without a round trip.

use std::collections::BTreeMap;

use crate::NodeInfo;

/// A snapshot of the membership as last seen in etcd.
#[derive(Debug, Clone, Default)]
pub struct ClusterView {
    /// Live nodes by name (each holds a lease on its key).
    pub nodes: BTreeMap<String, NodeInfo>,
    /// Name of the elected cluster manager, if any node holds the election.
    pub manager: Option<String>,
    /// etcd revision the snapshot was read at.
    pub revision: i64,
    /// False while this node cannot talk to etcd (the snapshot is then the last one read).
    pub etcd_reachable: bool,
}

impl ClusterView {
    /// The manager's registration (`None` while no node is elected).
    pub fn manager_node(&self) -> Option<&NodeInfo> {
        self.manager.as_ref().and_then(|m| self.nodes.get(m))
    }

    pub fn is_manager(&self, node_name: &str) -> bool {
        self.manager.as_deref() == Some(node_name)
    }
}
