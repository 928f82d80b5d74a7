//! Where each shard of an index is, as `_cluster/health`, `_cat/shards` and `_cluster/state`
//! report it: on a single node every primary is here and started; in cluster mode the
//! manager's allocation record says which node holds it (`quidditch_cluster::allocation`),
//! and a shard is started while that node is a live member. Replicas are never allocated.

use quidditch_engine::Index;

use crate::node::LocalNode;

/// A node holding a shard.
#[derive(Debug, Clone)]
pub(super) struct HoldingNode {
    pub name: String,
    pub id: String,
    pub ip: String,
}

/// One primary shard's place.
#[derive(Debug, Clone)]
pub(super) struct ShardPlacement {
    pub shard: u32,
    /// The live node holding it; `None` when unassigned (never allocated, or its node left).
    pub node: Option<HoldingNode>,
    /// Held by this node (its documents and size are known here).
    pub local: bool,
}

impl ShardPlacement {
    pub fn started(&self) -> bool {
        self.node.is_some()
    }
}

/// The primaries of `index`, by shard number.
pub(super) fn placements(node: &LocalNode, index: &Index) -> Vec<ShardPlacement> {
    let shards = index.settings().number_of_shards() as u32;
    let Some(cluster) = &node.cluster else {
        let here = HoldingNode { name: node.name.clone(), id: node.id.clone(), ip: node.ip() };
        return (0..shards).map(|shard| ShardPlacement { shard, node: Some(here.clone()), local: true }).collect();
    };
    let allocation = cluster.allocation(index.name()).filter(|a| a.uuid == index.uuid());
    let view = cluster.view();
    (0..shards)
        .map(|shard| {
            let member = allocation.as_ref().and_then(|a| a.node_of(shard)).and_then(|name| view.nodes.get(name));
            ShardPlacement {
                shard,
                local: member.is_some_and(|m| m.name == node.name),
                node: member.map(|m| HoldingNode { name: m.name.clone(), id: m.id.clone(), ip: m.host().to_string() }),
            }
        })
        .collect()
}
