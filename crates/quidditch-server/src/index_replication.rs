//! Cluster mode: this node's indices as replicas of the cluster's index metadata (see
//! `quidditch_cluster::indices`). Creating, deleting and changing the mapping of an index
//! through any node commits the change to etcd before answering; every node (the one that
//! took the call included) applies committed records to its own engine from the watch.
//!
//! Every change through this node holds the cluster's index metadata lock across the local
//! change, the commit and the undo of a failed commit, so the watch never applies a record
//! in between.

use std::sync::Arc;

use quidditch_cluster::{Cluster, ClusterError, LocalIndices, ReplicatedIndex};
use quidditch_engine::{Engine, EngineError, Index, IndexIdentity, Mapping, MappingGrowth};
use quidditch_engine::index::IndexSettings;
use serde_json::Value;
use tracing::warn;

use crate::http::ApiError;

/// How long a create waits for the manager to allocate the new index's shards.
const ALLOCATION_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

/// The engine as the replication sees it.
pub struct EngineReplica {
    pub engine: Arc<Engine>,
}

impl LocalIndices for EngineReplica {
    fn indices(&self) -> Vec<(String, String)> {
        self.engine.list().iter().map(|i| (i.name().to_string(), i.uuid().to_string())).collect()
    }

    fn apply(&self, record: &ReplicatedIndex) -> Result<(), String> {
        match self.engine.index(&record.name) {
            Ok(index) if index.uuid() == record.uuid => {
                if index.mapping().to_json() != record.mappings {
                    let mapping = Mapping::parse(&record.mappings).map_err(|e| e.to_string())?;
                    index.put_mapping(&mapping).map_err(|e| e.to_string())?;
                }
                if serde_json::to_value(index.settings()).ok().as_ref() != Some(&record.settings) {
                    let mut settings: IndexSettings =
                        serde_json::from_value(record.settings.clone()).map_err(|e| format!("settings: {e}"))?;
                    // Fixed at creation: never part of an update.
                    for key in ["number_of_shards", "number_of_routing_shards"] {
                        settings.values.remove(key);
                    }
                    index.put_settings(&settings).map_err(|e| e.to_string())?;
                }
                Ok(())
            }
            Ok(index) => Err(format!(
                "this node has another index of that name (uuid [{}], the cluster's is [{}]); it keeps its own",
                index.uuid(),
                record.uuid
            )),
            Err(EngineError::IndexNotFound { .. }) => {
                let settings: IndexSettings = serde_json::from_value(record.settings.clone()).map_err(|e| format!("settings: {e}"))?;
                let identity = IndexIdentity { uuid: record.uuid.clone(), creation_date: record.creation_date };
                self.engine
                    .create_replicated(&record.name, identity, settings, &record.mappings)
                    .map(drop)
                    .map_err(|e| e.to_string())
            }
            Err(e) => Err(e.to_string()),
        }
    }

    fn remove(&self, name: &str, uuid: &str) -> Result<(), String> {
        match self.engine.index(name) {
            Ok(index) if index.uuid() == uuid => self.engine.delete_indices(name).map(drop).map_err(|e| e.to_string()),
            _ => Ok(()),
        }
    }
}

/// The cluster's record of a local index.
fn record_of(index: &Index, node: &str) -> ReplicatedIndex {
    ReplicatedIndex {
        name: index.name().to_string(),
        uuid: index.uuid().to_string(),
        creation_date: index.creation_date(),
        settings: serde_json::to_value(index.settings()).expect("IndexSettings serializes"),
        mappings: index.mapping().to_json(),
        node: node.to_string(),
    }
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(format!("index metadata task failed: {e}")))?
}

/// `PUT /{index}` in cluster mode: created here (all checks as on one node), then committed;
/// undone here when the commit fails (the name taken in the cluster: the usual
/// `resource_already_exists_exception`; etcd unreachable: 503).
pub async fn create(cluster: &Cluster, engine: &Arc<Engine>, name: String, body: Option<Value>) -> Result<Arc<Index>, ApiError> {
    let _guard = cluster.index_metadata_lock().lock().await;
    let creating = engine.clone();
    let index = blocking(move || Ok(creating.create_index(&name, body.as_ref())?)).await?;
    let record = record_of(&index, &cluster.local().name);
    let committed = cluster.publish_index(&record).await;
    if !matches!(committed, Ok(true)) {
        let (undo, name, uuid) = (engine.clone(), record.name.clone(), record.uuid.clone());
        let _ = blocking(move || {
            if undo.index(&name).is_ok_and(|i| i.uuid() == uuid) {
                undo.delete_indices(&name)?;
            }
            Ok(())
        })
        .await;
    }
    match committed {
        Ok(true) => {
            drop(_guard);
            // As OpenSearch waits for the primaries to start: answer once the manager has
            // placed the shards (bounded; `_cluster/health` shows them unassigned until then).
            if !cluster.wait_for_allocation(index.name(), index.uuid(), ALLOCATION_WAIT).await {
                warn!(index = %index.name(), "the shards of the new index are not allocated yet");
            }
            Ok(index)
        }
        Ok(false) => {
            let uuid = cluster.index_record(&record.name).await?.map(|(r, _)| r.uuid).unwrap_or_default();
            Err(EngineError::IndexAlreadyExists { index: record.name, uuid }.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// `DELETE /{expr}` in cluster mode: the indices it names are removed from the cluster
/// first, then here (the other nodes follow the watch).
pub async fn delete(cluster: &Cluster, engine: &Arc<Engine>, expr: String) -> Result<Vec<String>, ApiError> {
    let _guard = cluster.index_metadata_lock().lock().await;
    let targets: Vec<(String, String)> =
        engine.resolve_indices_lenient(&expr).iter().map(|i| (i.name().to_string(), i.uuid().to_string())).collect();
    cluster.unpublish_indices(&targets).await?;
    let engine = engine.clone();
    blocking(move || Ok(engine.delete_indices(&expr)?)).await
}

/// How often a mapping change is retried when another node's change won the compare.
const MAPPING_ATTEMPTS: usize = 5;

/// `PUT /{index}/_mapping` in cluster mode: applied here (all checks as on one node), then
/// the cluster's mapping of each index, merged with `update`, is committed with a compare on
/// the record's revision. A type conflicting with a change another node committed first is a
/// `mapper_parsing_exception` (the engine's merge rule).
pub async fn put_mapping(cluster: &Cluster, indices: Vec<Arc<Index>>, update: Mapping) -> Result<(), ApiError> {
    let _guard = cluster.index_metadata_lock().lock().await;
    let (local, local_update) = (indices.clone(), update.clone());
    blocking(move || {
        for index in local {
            index.put_mapping(&local_update)?;
        }
        Ok(())
    })
    .await?;
    for index in indices {
        commit_mapping(cluster, index.name(), index.uuid(), &update).await?;
    }
    Ok(())
}

/// `PUT /{index}/_settings` in cluster mode: applied here (all checks as on one node), then
/// merged into each index's record in etcd (compare-and-set on its revision), from where every
/// node applies it — and the manager allocates the replicas `number_of_replicas` asks for.
pub async fn put_settings(cluster: &Cluster, indices: Vec<Arc<Index>>, update: IndexSettings) -> Result<(), ApiError> {
    let _guard = cluster.index_metadata_lock().lock().await;
    let (local, local_update) = (indices.clone(), update.clone());
    blocking(move || {
        for index in local {
            index.put_settings(&local_update)?;
        }
        Ok(())
    })
    .await?;
    for index in indices {
        commit_settings(cluster, index.name(), index.uuid(), &update).await?;
    }
    Ok(())
}

async fn commit_settings(cluster: &Cluster, name: &str, uuid: &str, update: &IndexSettings) -> Result<(), ApiError> {
    for _ in 0..MAPPING_ATTEMPTS {
        let Some((record, revision)) = cluster.index_record(name).await? else { return Ok(()) };
        if record.uuid != uuid {
            return Ok(());
        }
        let mut settings: IndexSettings =
            serde_json::from_value(record.settings.clone()).map_err(|e| ApiError::internal(format!("the cluster's settings of [{name}]: {e}")))?;
        settings.update(update)?;
        let settings = serde_json::to_value(&settings).expect("IndexSettings serializes");
        if settings == record.settings {
            return Ok(());
        }
        if cluster.update_index(&ReplicatedIndex { settings, ..record }, revision).await? {
            return Ok(());
        }
    }
    Err(EngineError::MetadataBlocked(format!("[{name}]: too many concurrent settings changes; retry")).into())
}

/// Merges `update` into the cluster's record of the index (`name`, `uuid`), compare-and-set on
/// the record's revision. A type another node committed first is the engine's merge error
/// (`mapper_parsing_exception`); etcd out of reach is [`EngineError::MetadataBlocked`].
async fn commit_mapping(cluster: &Cluster, name: &str, uuid: &str, update: &Mapping) -> Result<(), EngineError> {
    // The reason the server gives any other etcd failure (one home for its wording).
    let blocked = |e: ClusterError| EngineError::MetadataBlocked(ApiError::from(e).reason);
    for _ in 0..MAPPING_ATTEMPTS {
        let Some((record, revision)) = cluster.index_record(name).await.map_err(blocked)? else {
            // Not a cluster index (created implicitly by a write on this node): local only.
            return Ok(());
        };
        if record.uuid != uuid {
            return Ok(());
        }
        let merged = Mapping::parse(&record.mappings)?.merged(update)?;
        if merged.to_json() == record.mappings {
            return Ok(());
        }
        let next = ReplicatedIndex { mappings: merged.to_json(), ..record };
        if cluster.update_index(&next, revision).await.map_err(blocked)? {
            return Ok(());
        }
    }
    warn!(index = name, "mapping change lost {MAPPING_ATTEMPTS} compare-and-set races in a row");
    Err(EngineError::MetadataBlocked(format!("[{name}]: too many concurrent mapping changes; retry")))
}

/// How long a write waits for its dynamic fields to be committed cluster-wide.
const GROWTH_WAIT: std::time::Duration = std::time::Duration::from_secs(15);

/// The engine's [`MappingGrowth`] hook in cluster mode: fields a write adds dynamically are
/// merged into the index's record in etcd before the write is logged, so every node maps
/// them (searches coordinated anywhere see them) and a field two nodes add concurrently gets
/// one type: the later write with another type fails with `mapper_parsing_exception`.
pub struct ClusterMappings {
    pub cluster: Arc<Cluster>,
    pub runtime: tokio::runtime::Handle,
}

impl MappingGrowth for ClusterMappings {
    fn commit(&self, index: &Index, grown: &Mapping) -> Result<(), EngineError> {
        let (cluster, name, uuid, grown) =
            (self.cluster.clone(), index.name().to_string(), index.uuid().to_string(), grown.clone());
        let committed = crate::shard_copies::wait_on(&self.runtime, GROWTH_WAIT, async move {
            match commit_mapping(&cluster, &name, &uuid, &grown).await {
                // A type another node gave the field first: for a write, the document does
                // not fit the mapping (as `PUT _mapping` it would be an illegal argument).
                Err(EngineError::IllegalArgument(reason)) => Err(EngineError::MapperParsing(reason)),
                other => other,
            }
        });
        committed.unwrap_or_else(|| {
            Err(EngineError::MetadataBlocked(format!("[{}]: the mapping change was not committed in time", index.name())))
        })
    }
}
