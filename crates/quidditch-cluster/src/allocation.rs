//! Shard allocation: which node holds each shard of each index.
//!
//! The elected cluster manager keeps one record per index (`allocation/<index>`: the index's
//! uuid and, per shard number, the node holding it). It writes them in etcd transactions that
//! compare the record's modification revision *and* that the manager's own election key still
//! exists, so a manager that lost its lease (and a newer manager already elected) can never
//! overwrite the newer one's decisions: of two managers, at most one transaction wins.
//!
//! What the manager decides ([`plan`], a pure function):
//! - a new index (or a record left over from a deleted index of the same name) gets every
//!   shard on the live node holding the fewest shards so far (ties by node name), so shards are
//!   balanced by count;
//! - a shard whose node left stays allocated to that node: without replicas its data is only
//!   there, so it is *unassigned* (health `red`) until the node comes back under its name —
//!   moving it would serve an empty shard;
//! - a node that joins receives the shards of indices created from then on (and any shard
//!   never allocated); shards that already hold data are not moved (that needs the data to be
//!   copied, which is not built);
//! - a record whose index no longer exists is deleted.
//!
//! Every node follows the records with a watch and keeps them in memory
//! ([`Cluster::allocation`]), for `_cat/shards`, `_cluster/health` and `_cluster/state`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, EventType, GetOptions, Txn, TxnOp, WatchOptions};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::indices::ReplicatedIndex;
use crate::membership::mark_applied;
use crate::{Cluster, ClusterError};

/// Where the shards of one index are.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct IndexAllocation {
    pub index: String,
    /// The index's uuid: a record of an older index of the same name is not this one's.
    pub uuid: String,
    /// Per shard number, the name of the node holding its primary (`None`: never allocated).
    pub shards: Vec<Option<String>>,
    /// Per shard number, the nodes holding a replica copy (in sync or not).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub replicas: Vec<Vec<String>>,
    /// Per shard number, the replicas that have every operation the primary acknowledged:
    /// the primary waits for them on every write, and only they can be promoted. The primary
    /// adds a replica when its recovery is done and removes one that fails a write ("mark
    /// stale"); the manager removes those that left.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub in_sync: Vec<Vec<String>>,
    /// Per shard number, the primary term (absent: 1); + 1 at every promotion.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub terms: Vec<i64>,
}

impl IndexAllocation {
    /// A record without any shard placed yet.
    pub fn new(index: &str, uuid: &str) -> Self {
        IndexAllocation {
            index: index.to_string(),
            uuid: uuid.to_string(),
            shards: Vec::new(),
            replicas: Vec::new(),
            in_sync: Vec::new(),
            terms: Vec::new(),
        }
    }

    /// The node holding the primary of shard `n`, if any.
    pub fn node_of(&self, shard: u32) -> Option<&str> {
        self.shards.get(shard as usize).and_then(|n| n.as_deref())
    }

    /// The nodes holding a replica of shard `n`.
    pub fn replicas_of(&self, shard: u32) -> &[String] {
        self.replicas.get(shard as usize).map_or(&[], Vec::as_slice)
    }

    /// The replicas of shard `n` that are in sync with its primary.
    pub fn in_sync_of(&self, shard: u32) -> &[String] {
        self.in_sync.get(shard as usize).map_or(&[], Vec::as_slice)
    }

    /// The primary term of shard `n`.
    pub fn term_of(&self, shard: u32) -> i64 {
        self.terms.get(shard as usize).copied().unwrap_or(1)
    }

    /// Whether `node` holds a copy of shard `n` that may serve reads: the primary or an
    /// in-sync replica.
    pub fn serves(&self, shard: u32, node: &str) -> bool {
        self.node_of(shard) == Some(node) || self.in_sync_of(shard).iter().any(|n| n == node)
    }

    /// Every node with some copy of some shard.
    pub fn nodes(&self) -> BTreeSet<&str> {
        self.shards.iter().flatten().chain(self.replicas.iter().flatten()).map(String::as_str).collect()
    }

    /// Gives every per-shard list `n` entries.
    pub(crate) fn resize(&mut self, n: usize) {
        self.shards.resize(n, None);
        self.replicas.resize(n, Vec::new());
        self.in_sync.resize(n, Vec::new());
        self.terms.resize(n, 1);
    }
}

/// One index as the allocation sees it.
#[derive(Debug, Clone)]
pub struct IndexShape {
    pub name: String,
    pub uuid: String,
    pub number_of_shards: u32,
    pub number_of_replicas: u32,
}

impl IndexShape {
    fn of(record: &ReplicatedIndex) -> IndexShape {
        // The engine's `IndexSettings`: `{"values": {"number_of_shards": …}}`.
        let values = record.settings.get("values").unwrap_or(&record.settings);
        let number = |key: &str, default: u64| {
            values.get(key).and_then(|v| v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok()))).unwrap_or(default)
        };
        IndexShape {
            name: record.name.clone(),
            uuid: record.uuid.clone(),
            number_of_shards: number("number_of_shards", 1) as u32,
            number_of_replicas: number("number_of_replicas", 1) as u32,
        }
    }
}

/// A change the manager commits.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocationChange {
    Put(IndexAllocation),
    Delete(String),
}

/// The changes that bring `current` (records by index name) to a balanced allocation of
/// `indices` over the `live` nodes. Deterministic: the same inputs give the same changes.
///
/// Per shard: a primary whose node left is replaced by an in-sync replica on a live node
/// (promotion: its term + 1; the other replicas must recover from the new primary, so the
/// in-sync set restarts empty, and the old primary's node keeps a replica slot to recover
/// into when it returns); without such a replica it stays (unassigned, health red). Missing
/// copies go to the least loaded live nodes that hold no copy of the shard; replicas of
/// nodes that left keep their slot (they recover when the node returns) but leave the
/// in-sync set. The copies of a new index are all empty, so all in sync.
pub fn plan(indices: &[IndexShape], current: &BTreeMap<String, IndexAllocation>, live: &BTreeSet<String>) -> Vec<AllocationChange> {
    let mut changes = Vec::new();
    let wanted: BTreeMap<&str, &IndexShape> = indices.iter().map(|i| (i.name.as_str(), i)).collect();
    for name in current.keys() {
        if !wanted.contains_key(name.as_str()) {
            changes.push(AllocationChange::Delete(name.clone()));
        }
    }
    // Copies per live node among the records that stay.
    let mut load: BTreeMap<&str, usize> = live.iter().map(|n| (n.as_str(), 0)).collect();
    for record in current.values().filter(|r| wanted.get(r.index.as_str()).is_some_and(|i| i.uuid == r.uuid)) {
        for node in record.shards.iter().flatten().chain(record.replicas.iter().flatten()) {
            if let Some(count) = load.get_mut(node.as_str()) {
                *count += 1;
            }
        }
    }
    for index in wanted.values() {
        let (mut record, fresh) = match current.get(&index.name) {
            Some(r) if r.uuid == index.uuid => (r.clone(), false),
            _ => (IndexAllocation::new(&index.name, &index.uuid), true),
        };
        record.resize(index.number_of_shards as usize);
        for shard in 0..index.number_of_shards as usize {
            place_shard(&mut record, shard, index.number_of_replicas as usize, live, &mut load);
            if fresh {
                // A new index's copies are all empty: in sync from the start.
                record.in_sync[shard] = record.replicas[shard].clone();
            }
        }
        if current.get(&index.name) != Some(&record) {
            changes.push(AllocationChange::Put(record));
        }
    }
    changes
}

/// The least loaded live node (then by name) outside `exclude`, counted as loaded by one more.
fn least_loaded<'a>(load: &mut BTreeMap<&'a str, usize>, exclude: &[&str]) -> Option<String> {
    let (node, count) = load.iter_mut().filter(|(n, _)| !exclude.contains(n)).min_by_key(|(name, count)| (**count, **name))?;
    *count += 1;
    Some(node.to_string())
}

fn place_shard(record: &mut IndexAllocation, shard: usize, replicas_wanted: usize, live: &BTreeSet<String>, load: &mut BTreeMap<&str, usize>) {
    // Replicas that left are not in sync any more; neither is a node without a replica slot.
    let slots = record.replicas[shard].clone();
    record.in_sync[shard].retain(|n| live.contains(n) && slots.contains(n));
    match record.shards[shard].clone() {
        Some(primary) if !live.contains(&primary) => {
            if let Some(promoted) = record.in_sync[shard].first().cloned() {
                record.shards[shard] = Some(promoted.clone());
                record.replicas[shard].retain(|n| *n != promoted);
                record.replicas[shard].insert(0, primary);
                record.in_sync[shard].clear();
                record.terms[shard] += 1;
            }
        }
        Some(_) => {}
        None => {
            let holding: Vec<&str> = record.replicas[shard].iter().map(String::as_str).collect();
            record.shards[shard] = least_loaded(load, &holding);
        }
    }
    // Fewer replicas wanted: drop those that serve least (out of sync first, the last first).
    while record.replicas[shard].len() > replicas_wanted {
        let in_sync = &record.in_sync[shard];
        let pos = record.replicas[shard].iter().rposition(|n| !in_sync.contains(n)).unwrap_or(record.replicas[shard].len() - 1);
        let dropped = record.replicas[shard].remove(pos);
        record.in_sync[shard].retain(|n| *n != dropped);
    }
    while record.replicas[shard].len() < replicas_wanted {
        let mut holding: Vec<&str> = record.replicas[shard].iter().map(String::as_str).collect();
        holding.extend(record.shards[shard].as_deref());
        let Some(node) = least_loaded(load, &holding) else { break };
        record.replicas[shard].push(node);
    }
}

impl Cluster {
    /// The allocation of `index` as last seen (`None` before the manager allocated it).
    pub fn allocation(&self, index: &str) -> Option<IndexAllocation> {
        self.allocations.read().get(index).map(|(a, _)| a.clone())
    }

    /// Every allocation record as last seen, by index name.
    pub fn allocations(&self) -> BTreeMap<String, IndexAllocation> {
        self.allocations.read().iter().map(|(k, (a, _))| (k.clone(), a.clone())).collect()
    }

    /// Waits (at most `timeout`) until the allocation of the index `name` with `uuid` is
    /// known here; `false` if it is not by then.
    pub async fn wait_for_allocation(&self, name: &str, uuid: &str, timeout: Duration) -> bool {
        let mut changes = self.subscribe();
        let known = |c: &Cluster| c.allocation(name).is_some_and(|a| a.uuid == uuid && a.shards.iter().all(Option::is_some));
        let deadline = tokio::time::Instant::now() + timeout;
        while !known(self) {
            if tokio::time::timeout_at(deadline, changes.changed()).await.is_err() {
                return known(self);
            }
        }
        true
    }

    /// Starts the allocation work of this node: every node follows the records; the elected
    /// manager also keeps them balanced (re-planning whenever the membership or the index
    /// metadata changes, and at least every second).
    pub fn allocate_shards(self: &Arc<Self>) {
        self.keep_following("shard allocation", |cluster| async move { cluster.follow_allocations().await });
        self.keep_following("shard allocation by the manager", |cluster| async move { cluster.manage_allocations().await });
    }

    async fn manage_allocations(&self) -> Result<(), ClusterError> {
        let mut changes = self.subscribe();
        let mut metadata = self.indices_applied.subscribe();
        loop {
            if self.is_manager() && self.view().etcd_reachable {
                self.allocate_once().await?;
            }
            tokio::select! {
                _ = changes.changed() => {}
                _ = metadata.changed() => {}
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
            }
        }
    }

    /// One round of the manager: read the indices and records, commit the planned changes.
    async fn allocate_once(&self) -> Result<(), ClusterError> {
        let Some(election_key) = self.election_key.read().clone() else { return Ok(()) };
        let (indices, _, _) = self.list_indices().await?;
        let shapes: Vec<IndexShape> = indices.iter().map(IndexShape::of).collect();
        let (current, revisions) = self.read_allocations().await?;
        let live: BTreeSet<String> = self.view().nodes.keys().cloned().collect();
        let mut client = self.client();
        for change in plan(&shapes, &current, &live) {
            let (name, op) = match &change {
                AllocationChange::Put(record) => (
                    record.index.clone(),
                    TxnOp::put(
                        self.keys().allocation(&record.index),
                        serde_json::to_vec(record).expect("IndexAllocation serializes"),
                        None,
                    ),
                ),
                AllocationChange::Delete(name) => (name.clone(), TxnOp::delete(self.keys().allocation(name), None)),
            };
            let key = self.keys().allocation(&name);
            let txn = Txn::new()
                .when([
                    Compare::mod_revision(key, CompareOp::Equal, revisions.get(&name).copied().unwrap_or(0)),
                    // Still this manager's term: its election key is alive.
                    Compare::create_revision(election_key.clone(), CompareOp::Greater, 0),
                ])
                .and_then([op]);
            let resp = self.etcd_call("commit shard allocation", client.txn(txn)).await?;
            if resp.succeeded() {
                info!(index = %name, change = ?change, "shard allocation committed");
            } else {
                // Another change won (or this node is no longer manager): re-plan next round.
                warn!(index = %name, "shard allocation not committed: the record or the manager changed");
            }
        }
        Ok(())
    }

    /// Every record with its modification revision.
    async fn read_allocations(&self) -> Result<(BTreeMap<String, IndexAllocation>, BTreeMap<String, i64>), ClusterError> {
        let mut client = self.client();
        let prefix = self.keys().allocations();
        let resp = self.etcd_call("read shard allocation", client.get(prefix.clone(), Some(GetOptions::new().with_prefix()))).await?;
        let mut records = BTreeMap::new();
        let mut revisions = BTreeMap::new();
        for kv in resp.kvs() {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            let record: IndexAllocation =
                serde_json::from_slice(kv.value()).map_err(|e| ClusterError::MalformedState { key: key.clone(), reason: e.to_string() })?;
            let name = key.strip_prefix(&prefix).unwrap_or(&key).to_string();
            revisions.insert(name.clone(), kv.mod_revision());
            records.insert(name, record);
        }
        Ok((records, revisions))
    }

    async fn follow_allocations(&self) -> Result<(), ClusterError> {
        let mut client = self.client();
        let prefix = self.keys().allocations();
        let resp = self.etcd_call("read shard allocation", client.get(prefix.clone(), Some(GetOptions::new().with_prefix()))).await?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let mut all = BTreeMap::new();
        for kv in resp.kvs() {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            let record: IndexAllocation =
                serde_json::from_slice(kv.value()).map_err(|e| ClusterError::MalformedState { key: key.clone(), reason: e.to_string() })?;
            all.insert(record.index.clone(), (record, kv.mod_revision()));
        }
        *self.allocations.write() = all;
        self.notify_change();
        mark_applied(&self.allocations_applied, revision);
        let options = WatchOptions::new().with_prefix().with_start_revision(revision + 1);
        let mut stream = client.watch(prefix.clone(), Some(options)).await.map_err(|e| ClusterError::etcd("watch shard allocation", e))?;
        while let Some(resp) = stream.message().await.map_err(|e| ClusterError::etcd("watch shard allocation", e))? {
            if resp.canceled() {
                return Err(ClusterError::Etcd { operation: "watch shard allocation", reason: "canceled by etcd".into() });
            }
            {
                let mut allocations = self.allocations.write();
                for event in resp.events() {
                    let Some(kv) = event.kv() else { continue };
                    let key = String::from_utf8_lossy(kv.key()).into_owned();
                    let name = key.strip_prefix(&prefix).unwrap_or(&key).to_string();
                    match event.event_type() {
                        EventType::Put => {
                            let record: IndexAllocation = serde_json::from_slice(kv.value())
                                .map_err(|e| ClusterError::MalformedState { key: key.clone(), reason: e.to_string() })?;
                            allocations.insert(name, (record, kv.mod_revision()));
                        }
                        EventType::Delete => {
                            allocations.remove(&name);
                        }
                    }
                }
            }
            self.notify_change();
            if let Some(header) = resp.header() {
                mark_applied(&self.allocations_applied, header.revision());
            }
        }
        Err(ClusterError::Etcd { operation: "watch shard allocation", reason: "the stream ended".into() })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shape(name: &str, uuid: &str, shards: u32) -> IndexShape {
        IndexShape { name: name.into(), uuid: uuid.into(), number_of_shards: shards, number_of_replicas: 0 }
    }

    fn nodes(names: &[&str]) -> BTreeSet<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    fn apply(current: &mut BTreeMap<String, IndexAllocation>, changes: Vec<AllocationChange>) {
        for c in changes {
            match c {
                AllocationChange::Put(r) => {
                    current.insert(r.index.clone(), r);
                }
                AllocationChange::Delete(n) => {
                    current.remove(&n);
                }
            }
        }
    }

    /// Copies (primaries and replicas) per node.
    fn load(current: &BTreeMap<String, IndexAllocation>) -> BTreeMap<String, usize> {
        let mut out = BTreeMap::new();
        for r in current.values() {
            for n in r.shards.iter().flatten().chain(r.replicas.iter().flatten()) {
                *out.entry(n.clone()).or_default() += 1;
            }
        }
        out
    }

    #[test]
    fn a_new_index_is_balanced_by_shard_count() {
        let mut current = BTreeMap::new();
        let changes = plan(&[shape("a", "u1", 6)], &current, &nodes(&["n1", "n2", "n3"]));
        apply(&mut current, changes);
        assert_eq!(load(&current).values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
        // The next index fills in from the least loaded nodes: totals stay within one.
        let changes = plan(&[shape("a", "u1", 6), shape("b", "u2", 2)], &current, &nodes(&["n1", "n2", "n3"]));
        apply(&mut current, changes);
        let counts: Vec<usize> = load(&current).values().copied().collect();
        assert_eq!(counts.iter().sum::<usize>(), 8);
        assert!(counts.iter().max().unwrap() - counts.iter().min().unwrap() <= 1, "{counts:?}");
    }

    #[test]
    fn a_balanced_allocation_plans_nothing() {
        let mut current = BTreeMap::new();
        let indices = [shape("a", "u1", 4)];
        let changes = plan(&indices, &current, &nodes(&["n1", "n2"]));
        apply(&mut current, changes);
        assert!(plan(&indices, &current, &nodes(&["n1", "n2"])).is_empty());
    }

    #[test]
    fn shards_of_a_node_that_left_stay_with_it_and_new_nodes_get_new_shards() {
        let mut current = BTreeMap::new();
        let changes = plan(&[shape("a", "u1", 4)], &current, &nodes(&["n1", "n2"]));
        apply(&mut current, changes);
        let before = current["a"].clone();
        // n2 left: nothing moves (its shards are unassigned until it comes back).
        assert!(plan(&[shape("a", "u1", 4)], &current, &nodes(&["n1"])).is_empty());
        // n3 joined: a new index goes to it first.
        let changes = plan(&[shape("a", "u1", 4), shape("b", "u2", 1)], &current, &nodes(&["n1", "n2", "n3"]));
        apply(&mut current, changes);
        assert_eq!(current["a"], before);
        assert_eq!(current["b"].shards, vec![Some("n3".to_string())]);
    }

    #[test]
    fn records_of_deleted_or_recreated_indices_are_replaced() {
        let mut current = BTreeMap::new();
        let changes = plan(&[shape("a", "u1", 2), shape("b", "u2", 1)], &current, &nodes(&["n1"]));
        apply(&mut current, changes);
        let changes = plan(&[shape("a", "u9", 3)], &current, &nodes(&["n1"]));
        assert!(changes.contains(&AllocationChange::Delete("b".into())));
        apply(&mut current, changes);
        assert_eq!(current["a"].uuid, "u9");
        assert_eq!(current["a"].shards.len(), 3);
        assert!(!current.contains_key("b"));
    }

    #[test]
    fn the_shard_count_comes_from_the_engine_settings() {
        let record = ReplicatedIndex {
            name: "a".into(),
            uuid: "u".into(),
            creation_date: 0,
            settings: serde_json::json!({"values": {"number_of_shards": 6}}),
            mappings: serde_json::json!({}),
            node: "n1".into(),
        };
        assert_eq!(IndexShape::of(&record).number_of_shards, 6);
    }

    fn with_replicas(mut shape: IndexShape, n: u32) -> IndexShape {
        shape.number_of_replicas = n;
        shape
    }

    #[test]
    fn replicas_never_share_a_node_with_their_primary_and_start_in_sync() {
        let mut current = BTreeMap::new();
        let indices = [with_replicas(shape("a", "u1", 3), 1)];
        let changes = plan(&indices, &current, &nodes(&["n1", "n2", "n3"]));
        apply(&mut current, changes);
        let a = &current["a"];
        for shard in 0..3 {
            let primary = a.node_of(shard).unwrap();
            assert_eq!(a.replicas_of(shard).len(), 1);
            assert!(!a.replicas_of(shard).iter().any(|r| r == primary));
            assert_eq!(a.in_sync_of(shard), a.replicas_of(shard));
        }
        assert_eq!(load(&current).values().copied().collect::<Vec<_>>(), vec![2, 2, 2]);
        assert!(plan(&indices, &current, &nodes(&["n1", "n2", "n3"])).is_empty());
    }

    #[test]
    fn a_replica_without_a_node_of_its_own_stays_unassigned() {
        let mut current = BTreeMap::new();
        let changes = plan(&[with_replicas(shape("a", "u1", 1), 1)], &current, &nodes(&["n1"]));
        apply(&mut current, changes);
        assert_eq!(current["a"].replicas_of(0), &[] as &[String]);
        // A second node gets the replica, which must recover (the shard may hold data now).
        let changes = plan(&[with_replicas(shape("a", "u1", 1), 1)], &current, &nodes(&["n1", "n2"]));
        apply(&mut current, changes);
        assert_eq!(current["a"].replicas_of(0), &["n2".to_string()]);
        assert!(current["a"].in_sync_of(0).is_empty());
    }

    #[test]
    fn an_in_sync_replica_is_promoted_when_its_primary_leaves() {
        let mut current = BTreeMap::new();
        let indices = [with_replicas(shape("a", "u1", 1), 2)];
        let changes = plan(&indices, &current, &nodes(&["n1", "n2", "n3"]));
        apply(&mut current, changes);
        let before = current["a"].clone();
        let primary = before.node_of(0).unwrap().to_string();
        let live: BTreeSet<String> = nodes(&["n1", "n2", "n3"]).into_iter().filter(|n| *n != primary).collect();
        let changes = plan(&indices, &current, &live);
        apply(&mut current, changes);
        let after = &current["a"];
        let promoted = after.node_of(0).unwrap();
        assert_eq!(promoted, before.in_sync_of(0)[0]);
        assert_eq!(after.term_of(0), 2);
        // The old primary keeps a slot to recover into; the other replica must recover too.
        assert!(after.replicas_of(0).contains(&primary));
        assert!(after.in_sync_of(0).is_empty());
        // Nothing to promote: the primary stays where it was (unassigned).
        let mut lone = BTreeMap::new();
        let one = [with_replicas(shape("b", "u2", 1), 1)];
        let changes = plan(&one, &lone, &nodes(&["n1", "n2"]));
        apply(&mut lone, changes);
        lone.get_mut("b").unwrap().in_sync[0].clear();
        let holder = lone["b"].node_of(0).unwrap().to_string();
        let rest: BTreeSet<String> = nodes(&["n1", "n2"]).into_iter().filter(|n| *n != holder).collect();
        let changes = plan(&one, &lone, &rest);
        apply(&mut lone, changes);
        assert_eq!(lone["b"].node_of(0), Some(holder.as_str()));
        assert_eq!(lone["b"].term_of(0), 1);
    }

    #[test]
    fn a_replica_that_left_leaves_the_in_sync_set_but_keeps_its_slot() {
        let mut current = BTreeMap::new();
        let indices = [with_replicas(shape("a", "u1", 1), 1)];
        let changes = plan(&indices, &current, &nodes(&["n1", "n2"]));
        apply(&mut current, changes);
        let replica = current["a"].replicas_of(0)[0].clone();
        let primary = current["a"].node_of(0).unwrap().to_string();
        let changes = plan(&indices, &current, &nodes(&[primary.as_str()]));
        apply(&mut current, changes);
        assert_eq!(current["a"].replicas_of(0), &[replica]);
        assert!(current["a"].in_sync_of(0).is_empty());
    }

    #[test]
    fn without_live_nodes_nothing_is_allocated() {
        let current = BTreeMap::new();
        let changes = plan(&[shape("a", "u1", 2)], &current, &nodes(&[]));
        let mut expected = IndexAllocation::new("a", "u1");
        expected.resize(2);
        assert_eq!(changes, vec![AllocationChange::Put(expected)]);
    }
}
