//! Where each copy of each shard of an index is, as `_cluster/health`, `_cat/shards` and
//! `_cluster/state` report it: on a single node every primary is here and started and every
//! replica unassigned (a replica never shares a node with its primary); in cluster mode the
//! manager's allocation record says which node holds each copy
//! (`quidditch_cluster::allocation`): a primary is started while its node is a live member;
//! a replica is started when it is also in the in-sync set, initializing while it recovers,
//! unassigned while it has no live node.

use quidditch_engine::Index;

use crate::node::LocalNode;

/// A node holding a shard copy.
#[derive(Debug, Clone)]
pub(super) struct HoldingNode {
    pub name: String,
    pub id: String,
    pub ip: String,
}

/// The state of one copy, OpenSearch's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CopyState {
    Started,
    Initializing,
    Unassigned,
}

impl CopyState {
    pub fn as_str(self) -> &'static str {
        match self {
            CopyState::Started => "STARTED",
            CopyState::Initializing => "INITIALIZING",
            CopyState::Unassigned => "UNASSIGNED",
        }
    }
}

/// One replica copy's place.
#[derive(Debug, Clone)]
pub(super) struct ReplicaPlacement {
    /// Its live node (`None`: unassigned).
    pub node: Option<HoldingNode>,
    pub state: CopyState,
    /// Held by this node.
    pub local: bool,
}

/// One shard's place: its primary and its replicas.
#[derive(Debug, Clone)]
pub(super) struct ShardPlacement {
    pub shard: u32,
    /// The live node holding the primary; `None` when unassigned (never allocated, or its
    /// node left with no replica to promote).
    pub node: Option<HoldingNode>,
    /// The primary is held by this node (its documents and size are known here).
    pub local: bool,
    /// As many as `number_of_replicas` asks for.
    pub replicas: Vec<ReplicaPlacement>,
}

impl ShardPlacement {
    pub fn started(&self) -> bool {
        self.node.is_some()
    }

    /// Replicas in each state: (started, initializing, unassigned).
    pub fn replica_counts(&self) -> (u64, u64, u64) {
        let count = |state| self.replicas.iter().filter(|r| r.state == state).count() as u64;
        (count(CopyState::Started), count(CopyState::Initializing), count(CopyState::Unassigned))
    }
}

fn unassigned_replicas(n: u64) -> Vec<ReplicaPlacement> {
    (0..n).map(|_| ReplicaPlacement { node: None, state: CopyState::Unassigned, local: false }).collect()
}

/// The shards of `index`, by shard number.
pub(super) fn placements(node: &LocalNode, index: &Index) -> Vec<ShardPlacement> {
    let settings = index.settings();
    let shards = settings.number_of_shards() as u32;
    let replicas = settings.number_of_replicas();
    let Some(cluster) = &node.cluster else {
        let here = HoldingNode { name: node.name.clone(), id: node.id.clone(), ip: node.ip() };
        return (0..shards)
            .map(|shard| ShardPlacement { shard, node: Some(here.clone()), local: true, replicas: unassigned_replicas(replicas) })
            .collect();
    };
    let allocation = cluster.allocation(index.name()).filter(|a| a.uuid == index.uuid());
    let view = cluster.view();
    let holding = |name: &str| {
        view.nodes.get(name).map(|m| HoldingNode { name: m.name.clone(), id: m.id.clone(), ip: m.host().to_string() })
    };
    (0..shards)
        .map(|shard| {
            let primary = allocation.as_ref().and_then(|a| a.node_of(shard)).and_then(holding);
            let mut copies: Vec<ReplicaPlacement> = allocation
                .as_ref()
                .map(|a| {
                    a.replicas_of(shard)
                        .iter()
                        .map(|name| {
                            let live = holding(name);
                            let state = match (&live, a.in_sync_of(shard).contains(name)) {
                                (None, _) => CopyState::Unassigned,
                                (Some(_), true) => CopyState::Started,
                                (Some(_), false) => CopyState::Initializing,
                            };
                            ReplicaPlacement { local: live.is_some() && *name == node.name, node: live, state }
                        })
                        .collect()
                })
                .unwrap_or_default();
            copies.truncate(replicas as usize);
            copies.extend(unassigned_replicas(replicas.saturating_sub(copies.len() as u64)));
            ShardPlacement {
                shard,
                local: primary.as_ref().is_some_and(|m| m.name == node.name),
                node: primary,
                replicas: copies,
            }
        })
        .collect()
}
