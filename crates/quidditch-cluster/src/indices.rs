//! Index metadata replicated through etcd.
//!
//! Creating an index through any node commits its record (`metadata/indices/<name>`: uuid,
//! creation date, settings and mappings as resolved by that node) in one transaction that
//! fails if the name is taken, before the API answers; a mapping change rewrites the record
//! in a transaction that compares its modification revision (so two concurrent changes
//! cannot both win); a deletion removes the record and leaves a tombstone
//! (`metadata/deleted/<uuid>`) so a node that was down meanwhile drops its copy when it comes
//! back. Every transaction also rewrites `metadata/revision`, whose modification revision is
//! the metadata revision. Every node follows `metadata/` with a watch and applies the records
//! to its own engine; a request first waits (bounded) until this node applied the revision
//! committed so far ([`Cluster::wait_for_indices`]).

use std::sync::Arc;
use std::time::Duration;

use etcd_client::{Compare, CompareOp, EventType, GetOptions, Txn, TxnOp, TxnOpResponse, WatchOptions};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

use crate::barrier::Needs;
use crate::membership::mark_applied;
use crate::{Cluster, ClusterError};

/// One index as the cluster knows it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReplicatedIndex {
    pub name: String,
    pub uuid: String,
    /// Epoch milliseconds.
    pub creation_date: i64,
    /// The engine's `IndexSettings` (flattened keys without `index.`).
    pub settings: serde_json::Value,
    /// The mapping in OpenSearch's JSON form.
    pub mappings: serde_json::Value,
    /// The node that created it.
    pub node: String,
}

/// What a node's engine offers the replication (the server implements it). Called on
/// blocking threads, one call at a time per node (see [`Cluster::index_metadata_lock`]).
pub trait LocalIndices: Send + Sync + 'static {
    /// `(name, uuid)` of every index this node has.
    fn indices(&self) -> Vec<(String, String)>;
    /// Creates an index committed in etcd, or brings an existing copy (same uuid) to the
    /// record's mapping.
    fn apply(&self, index: &ReplicatedIndex) -> Result<(), String>;
    /// Deletes the local index `name` if it has `uuid`.
    fn remove(&self, name: &str, uuid: &str) -> Result<(), String>;
}

impl Cluster {
    /// Serializes this node's index metadata changes: an API call (local change, commit,
    /// undo on a failed commit) and the watch's application of a record never interleave.
    pub fn index_metadata_lock(&self) -> &tokio::sync::Mutex<()> {
        &self.index_lock
    }

    /// Commits a new index; `false` when the cluster already has an index of that name.
    pub async fn publish_index(&self, index: &ReplicatedIndex) -> Result<bool, ClusterError> {
        let mut client = self.client();
        let keys = self.keys();
        let record = keys.index(&index.name);
        let txn = Txn::new()
            .when([Compare::create_revision(record.clone(), CompareOp::Equal, 0)])
            .and_then([
                TxnOp::put(record, serde_json::to_vec(index).expect("ReplicatedIndex serializes"), None),
                TxnOp::put(keys.metadata_revision(), format!("created {}", index.name), None),
            ]);
        let resp = self.etcd_call("commit index creation", client.txn(txn)).await?;
        Ok(resp.succeeded())
    }

    /// Rewrites an index's record (a mapping change), if it is still the one of `uuid` at
    /// `mod_revision`. `false` when another change won.
    pub async fn update_index(&self, index: &ReplicatedIndex, mod_revision: i64) -> Result<bool, ClusterError> {
        let mut client = self.client();
        let keys = self.keys();
        let record = keys.index(&index.name);
        let txn = Txn::new()
            .when([Compare::mod_revision(record.clone(), CompareOp::Equal, mod_revision)])
            .and_then([
                TxnOp::put(record, serde_json::to_vec(index).expect("ReplicatedIndex serializes"), None),
                TxnOp::put(keys.metadata_revision(), format!("updated {}", index.name), None),
            ]);
        let resp = self.etcd_call("commit mapping change", client.txn(txn)).await?;
        Ok(resp.succeeded())
    }

    /// Removes indices from the cluster (each only if the record still has the given uuid),
    /// leaving tombstones.
    pub async fn unpublish_indices(&self, indices: &[(String, String)]) -> Result<(), ClusterError> {
        if indices.is_empty() {
            return Ok(());
        }
        let mut client = self.client();
        let keys = self.keys();
        for (name, uuid) in indices {
            let Some((record, _)) = self.index_record(name).await? else { continue };
            if record.uuid != *uuid {
                continue;
            }
            let txn = Txn::new().and_then([
                TxnOp::delete(keys.index(name), None),
                TxnOp::put(keys.deleted_index(uuid), name.clone(), None),
                TxnOp::put(keys.metadata_revision(), format!("deleted {name}"), None),
            ]);
            self.etcd_call("commit index deletion", client.txn(txn)).await?;
        }
        Ok(())
    }

    /// An index's record and its modification revision, if the cluster has it.
    pub async fn index_record(&self, name: &str) -> Result<Option<(ReplicatedIndex, i64)>, ClusterError> {
        let mut client = self.client();
        let key = self.keys().index(name);
        let resp = self.etcd_call("read index record", client.get(key.clone(), None)).await?;
        resp.kvs()
            .first()
            .map(|kv| {
                serde_json::from_slice(kv.value())
                    .map(|r| (r, kv.mod_revision()))
                    .map_err(|e| ClusterError::MalformedState { key: key.clone(), reason: e.to_string() })
            })
            .transpose()
    }

    /// Every index record, the uuids of deleted indices, and the etcd revision read at.
    pub async fn list_indices(&self) -> Result<(Vec<ReplicatedIndex>, Vec<String>, i64), ClusterError> {
        let mut client = self.client();
        let keys = self.keys();
        let resp = self
            .etcd_call(
                "list indices",
                client.txn(Txn::new().and_then([
                    TxnOp::get(keys.indices(), Some(GetOptions::new().with_prefix())),
                    TxnOp::get(keys.deleted_indices(), Some(GetOptions::new().with_prefix().with_keys_only())),
                ])),
            )
            .await?;
        let revision = resp.header().map_or(0, |h| h.revision());
        let mut responses = resp.op_responses().into_iter();
        let (Some(TxnOpResponse::Get(records)), Some(TxnOpResponse::Get(deleted))) = (responses.next(), responses.next()) else {
            return Err(ClusterError::Etcd { operation: "list indices", reason: "unexpected transaction response".into() });
        };
        let mut out = Vec::new();
        for kv in records.kvs() {
            let key = String::from_utf8_lossy(kv.key()).into_owned();
            out.push(serde_json::from_slice(kv.value()).map_err(|e| ClusterError::MalformedState { key, reason: e.to_string() })?);
        }
        let prefix = keys.deleted_indices();
        let tombstones = deleted
            .kvs()
            .iter()
            .filter_map(|kv| String::from_utf8_lossy(kv.key()).strip_prefix(&prefix).map(str::to_string))
            .collect();
        Ok((out, tombstones, revision))
    }

    /// Waits until this node has applied every index metadata change and every shard
    /// allocation committed so far, at most `timeout`. While etcd is unreachable the node
    /// answers from what it has.
    ///
    /// The allocation matters as much as the index: a node that knew an index but not yet
    /// where its shards are would write a document into its own copy of a shard that another
    /// node holds, where no search would find it.
    pub async fn wait_for_indices(&self, timeout: Duration) -> Result<(), ClusterError> {
        self.wait_for_committed(Needs { udfs: false, indices: true }, timeout).await
    }

    /// Keeps `local` equal to the cluster's index metadata for as long as the process lives:
    /// a full reconciliation first (and after any interruption of the watch), then every
    /// change as it is committed.
    pub fn replicate_indices(self: &Arc<Self>, local: Arc<dyn LocalIndices>) {
        self.keep_following("index metadata", move |cluster| {
            let local = local.clone();
            async move { cluster.follow_indices(&local).await }
        });
    }

    async fn follow_indices(&self, local: &Arc<dyn LocalIndices>) -> Result<(), ClusterError> {
        let (all, tombstones, revision) = self.list_indices().await?;
        {
            let _guard = self.index_lock.lock().await;
            let have = call(local, |l| l.indices()).await;
            for (name, uuid) in have {
                if tombstones.contains(&uuid) {
                    apply_remove(local, &name, &uuid).await;
                }
            }
            for index in &all {
                apply(local, index).await;
            }
        }
        mark_applied(&self.indices_applied, revision);
        let mut client = self.client();
        let options = WatchOptions::new().with_prefix().with_prev_key().with_start_revision(revision + 1);
        let mut stream = client
            .watch(self.keys().metadata(), Some(options))
            .await
            .map_err(|e| ClusterError::etcd("watch index metadata", e))?;
        let records = self.keys().indices();
        while let Some(resp) = stream.message().await.map_err(|e| ClusterError::etcd("watch index metadata", e))? {
            if resp.canceled() {
                return Err(ClusterError::Etcd { operation: "watch index metadata", reason: "canceled by etcd".into() });
            }
            let mut last = 0;
            let _guard = self.index_lock.lock().await;
            for event in resp.events() {
                let Some(kv) = event.kv() else { continue };
                last = last.max(kv.mod_revision());
                let key = String::from_utf8_lossy(kv.key()).into_owned();
                if !key.starts_with(&records) {
                    continue;
                }
                match event.event_type() {
                    EventType::Put => {
                        let index: ReplicatedIndex = serde_json::from_slice(kv.value())
                            .map_err(|e| ClusterError::MalformedState { key: key.clone(), reason: e.to_string() })?;
                        apply(local, &index).await;
                    }
                    EventType::Delete => {
                        if let Some(prev) = event.prev_kv().and_then(|p| serde_json::from_slice::<ReplicatedIndex>(p.value()).ok()) {
                            apply_remove(local, &prev.name, &prev.uuid).await;
                        }
                    }
                }
            }
            drop(_guard);
            if last > 0 {
                mark_applied(&self.indices_applied, last);
            }
        }
        Err(ClusterError::Etcd { operation: "watch index metadata", reason: "the stream ended".into() })
    }

}

async fn apply(local: &Arc<dyn LocalIndices>, index: &ReplicatedIndex) {
    let record = index.clone();
    match call(local, move |l| l.apply(&record)).await {
        Ok(()) => {}
        Err(e) => warn!(index = %index.name, uuid = %index.uuid, error = %e, "cannot apply the cluster's index metadata"),
    }
}

async fn apply_remove(local: &Arc<dyn LocalIndices>, name: &str, uuid: &str) {
    let (n, u) = (name.to_string(), uuid.to_string());
    match call(local, move |l| l.remove(&n, &u)).await {
        Ok(()) => info!(index = name, uuid, "deleted an index removed from the cluster"),
        Err(e) => warn!(index = name, uuid, error = %e, "cannot delete an index removed from the cluster"),
    }
}

async fn call<T: Send + 'static>(local: &Arc<dyn LocalIndices>, f: impl FnOnce(&dyn LocalIndices) -> T + Send + 'static) -> T {
    let local = local.clone();
    tokio::task::spawn_blocking(move || f(local.as_ref())).await.expect("index metadata task panicked")
}
