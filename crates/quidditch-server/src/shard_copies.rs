//! Cluster mode: the replica copies of shards — the primary's side of every write, and the
//! recovery that brings a new or returning copy up to date.
//!
//! **Writes** (primary–backup). The engine calls [`ShardCopies`] (its `WriteReplication`
//! hook) for every write batch once it is durable on the primary and before anything is
//! acknowledged, in the shard's write order (so replicas get a shard's operations in
//! `_seq_no` order; not under its write lock, which a mapping change takes on every shard). The batch goes to every in-sync replica and every replica in recovery
//! (`POST /_quidditch/copies/{index}/_ops`, postcard); each one checks the primary's term,
//! logs (WAL, fsync) and applies it, and answers. An in-sync replica that fails is removed
//! from the in-sync set in etcd (`mark_stale`) *before* the write is acknowledged; when even
//! that fails (etcd out of reach, or this node is no longer the primary in this term) the
//! write fails with 503 and is not acknowledged. A recovering replica that fails only ends
//! its recovery (it starts over).
//!
//! **Recovery** (operation based). A node that holds a replica slot not in sync, whose
//! primary is live, empties its copy and asks the primary for one (`_start`): under the
//! shard's write lock the primary starts sending the shard's writes to it and takes a
//! snapshot of the shard's documents; the replica then pulls the snapshot in chunks
//! (`_chunk`) and applies them as the primary's operations (each only if newer than what
//! the copy has: snapshot copies and live writes that overtook them commute), commits, and
//! says it is done (`_finish`): the primary adds it to the in-sync set. Copies in recovery,
//! and copies not in sync, serve no reads.
//!
//! Every node also keeps its engine's view of each shard in step with the allocation record:
//! which local copies are replicas (they take no client writes) and each primary's term.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use quidditch_cluster::{Cluster, NodeInfo};
use quidditch_engine::wal::WalOp;
use quidditch_engine::{Engine, EngineError, EngineResult, Index, ShardDocuments, WriteReplication};
use serde::{Deserialize, Serialize};
use tracing::{info, warn};

/// A primary's write batch for one shard, as its replicas receive it.
#[derive(Debug, Serialize, Deserialize)]
pub struct ReplicaOps {
    pub uuid: String,
    pub shard: u32,
    /// The primary's term: a replica refuses one older than it knows.
    pub term: i64,
    pub ops: Vec<WalOp>,
}

/// A replica's request to start its recovery from the primary.
#[derive(Debug, Serialize, Deserialize)]
pub struct RecoveryStart {
    pub uuid: String,
    pub shard: u32,
    pub replica: String,
}

/// How documents a recovery's chunk carries at most.
const CHUNK_DOCS: usize = 2_000;
/// A recovery source nobody pulled from for this long is dropped.
const SOURCE_IDLE: Duration = Duration::from_secs(300);
/// How long after a recovery ended its copy may start another one if still not in sync.
const FINISHED_GRACE: Duration = Duration::from_secs(10);
/// How long a write waits for a replica to be marked stale in etcd.
const MARK_STALE_WAIT: Duration = Duration::from_secs(15);

/// A recovery this node serves as a shard's primary.
struct RecoverySource {
    index: Arc<Index>,
    shard: u32,
    replica: String,
    term: i64,
    docs: ShardDocuments,
    touched: Instant,
}

/// Progress of a recovery of a local copy, for `_cat/recovery`.
#[derive(Debug, Clone)]
pub struct RecoveryProgress {
    pub index: String,
    pub shard: u32,
    pub source: String,
    pub docs: u64,
    pub started: Instant,
    pub finished: Option<Instant>,
}

/// This node's part in keeping shard copies in sync.
pub struct ShardCopies {
    cluster: Arc<Cluster>,
    runtime: tokio::runtime::Handle,
    /// Replicas in recovery from this node, per (index uuid, shard): they get every write,
    /// but failing one only ends that recovery.
    recovering: Mutex<HashMap<(String, u32), BTreeSet<String>>>,
    /// Recoveries served here, by id.
    sources: Mutex<HashMap<u64, Arc<Mutex<RecoverySource>>>>,
    next_source: AtomicU64,
    /// Local copies being recovered now, and the last recoveries (by index uuid and shard).
    recoveries: Mutex<HashMap<(String, u32), RecoveryProgress>>,
}

impl std::fmt::Debug for ShardCopies {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ShardCopies").field("sources", &self.sources.lock().len()).finish()
    }
}

/// Waits on `runtime` for `future` from a thread outside it (engine writes run on blocking
/// threads, a few inside `block_in_place`); `None` after `timeout`.
pub fn wait_on<T: Send + 'static>(
    runtime: &tokio::runtime::Handle,
    timeout: Duration,
    future: impl std::future::Future<Output = T> + Send + 'static,
) -> Option<T> {
    let (done, result) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = done.send(future.await);
    });
    result.recv_timeout(timeout).ok()
}

fn unavailable(reason: String) -> EngineError {
    EngineError::ShardUnavailable { error_type: "unavailable_shards_exception", reason }
}

impl ShardCopies {
    pub fn new(cluster: Arc<Cluster>, runtime: tokio::runtime::Handle) -> Arc<Self> {
        Arc::new(ShardCopies {
            cluster,
            runtime,
            recovering: Mutex::default(),
            sources: Mutex::default(),
            next_source: AtomicU64::new(1),
            recoveries: Mutex::default(),
        })
    }

    /// Recoveries of local copies: running ones and the last one of each shard.
    pub fn recoveries(&self) -> Vec<RecoveryProgress> {
        self.recoveries.lock().values().cloned().collect()
    }

    /// Sends `body` to `targets`, in parallel; per target, the failure (if any).
    fn send_all(&self, index: &Index, targets: &[String], body: &[u8]) -> Vec<(String, Option<String>)> {
        let view = self.cluster.view();
        let path = format!("/_quidditch/copies/{}/_ops", encode(index.name()));
        std::thread::scope(|scope| {
            let calls: Vec<_> = targets
                .iter()
                .map(|target| {
                    let node = view.nodes.get(target).cloned();
                    let path = &path;
                    scope.spawn(move || {
                        let Some(node) = node else { return Some("the node is not a member of the cluster".to_string()) };
                        match self.cluster.peers().send_blocking(&node, "POST", path, Some((POSTCARD, body)), None) {
                            Ok(answer) if answer.status == 200 => None,
                            Ok(answer) => Some(format!("status {}: {}", answer.status, String::from_utf8_lossy(&answer.body))),
                            Err(e) => Some(e.to_string()),
                        }
                    })
                })
                .collect();
            targets.iter().cloned().zip(calls.into_iter().map(|c| c.join().unwrap_or_else(|_| Some("panicked".into())))).collect()
        })
    }

    /// Keeps every local index's shards in step with the allocation records, and starts the
    /// recovery of each local replica copy that is not in sync. Runs for the process's life.
    pub fn follow(self: &Arc<Self>, engine: Arc<Engine>) {
        let copies = self.clone();
        tokio::spawn(async move {
            let mut changes = copies.cluster.subscribe();
            loop {
                copies.apply_allocations(&engine);
                tokio::select! {
                    _ = changes.changed() => {}
                    _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                }
            }
        });
    }

    fn apply_allocations(self: &Arc<Self>, engine: &Arc<Engine>) {
        let me = self.cluster.local().name.clone();
        let view = self.cluster.view();
        for (name, allocation) in self.cluster.allocations() {
            let Ok(index) = engine.index(&name) else { continue };
            if index.uuid() != allocation.uuid {
                continue;
            }
            for shard in 0..index.number_of_shards() {
                let primary = allocation.node_of(shard);
                index.set_replica(shard, primary != Some(me.as_str()));
                if primary == Some(me.as_str()) {
                    index.set_primary_term(shard, allocation.term_of(shard));
                    continue;
                }
                let slot = allocation.replicas_of(shard).iter().any(|n| *n == me);
                let in_sync = allocation.in_sync_of(shard).iter().any(|n| *n == me);
                let Some(source) = primary.and_then(|p| view.nodes.get(p)).cloned() else { continue };
                let key = (index.uuid().to_string(), shard);
                // A recovery that just finished waits for its in-sync mark to reach this
                // node's view before another one may start (it would empty an in-sync copy).
                let idle = self.recoveries.lock().get(&key).is_none_or(|r| r.finished.is_some_and(|f| f.elapsed() > FINISHED_GRACE));
                if slot && !in_sync && idle {
                    self.recoveries.lock().insert(
                        key,
                        RecoveryProgress {
                            index: name.clone(),
                            shard,
                            source: source.name.clone(),
                            docs: 0,
                            started: Instant::now(),
                            finished: None,
                        },
                    );
                    let (copies, index) = (self.clone(), index.clone());
                    tokio::spawn(async move { copies.recover(index, shard, source).await });
                }
            }
        }
    }

    /// Recovers the local copy of shard `shard` of `index` from its primary on `source`.
    async fn recover(self: Arc<Self>, index: Arc<Index>, shard: u32, source: NodeInfo) {
        let key = (index.uuid().to_string(), shard);
        info!(index = index.name(), shard, from = %source.name, "recovering a replica copy");
        let outcome = self.recover_from(&index, shard, &source).await;
        if let Err(e) = &outcome {
            warn!(index = index.name(), shard, from = %source.name, error = %e, "replica recovery failed; it starts over");
            // Not at once: the primary may be leaving.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
        let mut recoveries = self.recoveries.lock();
        match outcome {
            Ok(docs) => {
                info!(index = index.name(), shard, docs, "replica copy recovered");
                if let Some(r) = recoveries.get_mut(&key) {
                    r.finished = Some(Instant::now());
                }
            }
            Err(_) => {
                recoveries.remove(&key);
            }
        }
    }

    async fn recover_from(&self, index: &Arc<Index>, shard: u32, source: &NodeInfo) -> Result<u64, String> {
        let key = (index.uuid().to_string(), shard);
        let local = index.clone();
        blocking(move || local.clear_shard(shard)).await?;
        let base = format!("/_quidditch/copies/{}", encode(index.name()));
        let start = RecoveryStart { uuid: index.uuid().to_string(), shard, replica: self.cluster.local().name.clone() };
        let id = self.call(source, &format!("{base}/_start"), &start).await?;
        let id: u64 = postcard::from_bytes(&id).map_err(|e| format!("unreadable recovery id: {e}"))?;
        let mut copied = 0u64;
        loop {
            let chunk = self.call(source, &format!("{base}/_chunk"), &id).await?;
            let ops: Vec<WalOp> = postcard::from_bytes(&chunk).map_err(|e| format!("unreadable recovery chunk: {e}"))?;
            if ops.is_empty() {
                break;
            }
            copied += ops.len() as u64;
            let local = index.clone();
            blocking(move || local.apply_replicated(shard, ops)).await?;
            if let Some(r) = self.recoveries.lock().get_mut(&key) {
                r.docs = copied;
            }
        }
        // Committed before it counts as in sync: a restart replays only what the WAL holds
        // above the last commit, and the copied documents are older than live writes.
        let local = index.clone();
        blocking(move || local.refresh_shard(shard)).await?;
        self.call(source, &format!("{base}/_finish"), &id).await?;
        Ok(copied)
    }

    /// One postcard call to the primary's recovery API; its answer's body.
    async fn call<T: Serialize>(&self, node: &NodeInfo, path: &str, body: &T) -> Result<Vec<u8>, String> {
        let bytes = postcard::to_allocvec(body).map_err(|e| e.to_string())?;
        let answer = self.cluster.peers().send(node, "POST", path, Some((POSTCARD.to_string(), bytes))).await.map_err(|e| e.to_string())?;
        if answer.status != 200 {
            return Err(format!("{path} on [{}]: status {}: {}", node.name, answer.status, String::from_utf8_lossy(&answer.body)));
        }
        Ok(answer.body)
    }

    // ---- the primary's side of a recovery ----

    /// Starts serving a recovery of `start.replica`'s copy; its id.
    pub fn start_recovery(&self, index: Arc<Index>, start: RecoveryStart) -> EngineResult<u64> {
        let me = self.cluster.local().name.clone();
        let allocation = self.cluster.allocation(index.name()).filter(|a| a.uuid == index.uuid());
        let Some(allocation) = allocation.filter(|a| a.node_of(start.shard) == Some(me.as_str())) else {
            return Err(EngineError::ShardUnavailable {
                error_type: "shard_not_in_primary_mode_exception",
                reason: format!("[{}][{}] this node is not the shard's primary", index.name(), start.shard),
            });
        };
        if !allocation.replicas_of(start.shard).contains(&start.replica) {
            return Err(EngineError::bad_request(
                "illegal_argument_exception",
                format!("[{}][{}] node [{}] holds no replica slot of the shard", index.name(), start.shard, start.replica),
            ));
        }
        let key = (index.uuid().to_string(), start.shard);
        let docs = index.shard_snapshot(start.shard, || {
            self.recovering.lock().entry(key).or_default().insert(start.replica.clone());
        })?;
        let id = self.next_source.fetch_add(1, Ordering::Relaxed);
        let term = index.primary_term(start.shard);
        let source = RecoverySource { index, shard: start.shard, replica: start.replica, term, docs, touched: Instant::now() };
        let mut sources = self.sources.lock();
        sources.retain(|_, s| s.lock().touched.elapsed() < SOURCE_IDLE);
        sources.insert(id, Arc::new(Mutex::new(source)));
        Ok(id)
    }

    fn source(&self, id: u64) -> EngineResult<Arc<Mutex<RecoverySource>>> {
        self.sources
            .lock()
            .get(&id)
            .cloned()
            .ok_or_else(|| EngineError::bad_request("resource_not_found_exception", format!("no recovery [{id}] on this node")))
    }

    /// The next chunk of recovery `id`'s documents (empty at the end).
    pub fn recovery_chunk(&self, id: u64) -> EngineResult<Vec<WalOp>> {
        let source = self.source(id)?;
        let mut source = source.lock();
        source.touched = Instant::now();
        source.docs.next_chunk(CHUNK_DOCS)
    }

    /// Ends recovery `id`: its replica joins the shard's in-sync set.
    pub async fn finish_recovery(&self, id: u64) -> EngineResult<()> {
        let source = self.source(id)?;
        let (name, uuid, shard, term, replica) = {
            let s = source.lock();
            (s.index.name().to_string(), s.index.uuid().to_string(), s.shard, s.term, s.replica.clone())
        };
        self.cluster.mark_in_sync(&name, &uuid, shard, term, &replica).await.map_err(|e| unavailable(e.to_string()))?;
        self.sources.lock().remove(&id);
        info!(index = %name, shard, replica = %replica, "replica copy in sync");
        Ok(())
    }

    // ---- a replica's side of a write ----

    /// Applies a primary's batch to the local replica copy; refused when the primary's term
    /// is older than this copy knows (a primary that was replaced).
    pub fn apply(&self, index: &Index, ops: ReplicaOps) -> EngineResult<usize> {
        let known = self
            .cluster
            .allocation(index.name())
            .filter(|a| a.uuid == index.uuid())
            .map_or(1, |a| a.term_of(ops.shard))
            .max(index.primary_term(ops.shard));
        if ops.term < known {
            return Err(EngineError::ShardUnavailable {
                error_type: "shard_not_in_primary_mode_exception",
                reason: format!("[{}][{}] operations of primary term [{}] are older than the current term [{known}]", index.name(), ops.shard, ops.term),
            });
        }
        index.set_primary_term(ops.shard, ops.term);
        index.apply_replicated(ops.shard, ops.ops)
    }
}

impl WriteReplication for ShardCopies {
    fn replicate(&self, index: &Index, shard: u32, term: i64, ops: &[WalOp]) -> EngineResult<u32> {
        let Some(allocation) = self.cluster.allocation(index.name()).filter(|a| a.uuid == index.uuid()) else {
            // Not allocated yet: served as on one node.
            return Ok(0);
        };
        let me = self.cluster.local().name.clone();
        if allocation.node_of(shard) != Some(me.as_str()) {
            return Err(EngineError::ShardUnavailable {
                error_type: "shard_not_in_primary_mode_exception",
                reason: format!("[{}][{shard}] this node is no longer the shard's primary", index.name()),
            });
        }
        let in_sync: Vec<String> = allocation.in_sync_of(shard).iter().filter(|n| **n != me).cloned().collect();
        let key = (index.uuid().to_string(), shard);
        let recovering: Vec<String> =
            self.recovering.lock().get(&key).map(|r| r.iter().filter(|n| !in_sync.contains(n)).cloned().collect()).unwrap_or_default();
        let targets: Vec<String> = in_sync.iter().chain(recovering.iter()).cloned().collect();
        if targets.is_empty() {
            return Ok(0);
        }
        let body = postcard::to_allocvec(&ReplicaOps { uuid: index.uuid().to_string(), shard, term, ops: ops.to_vec() })
            .map_err(|e| EngineError::Internal(anyhow::anyhow!("encoding replica operations: {e}")))?;
        let mut reached = 0;
        for (target, failure) in self.send_all(index, &targets, &body) {
            let Some(reason) = failure else {
                reached += 1;
                continue;
            };
            if !in_sync.contains(&target) {
                warn!(index = index.name(), shard, replica = %target, %reason, "a recovering replica missed a write: its recovery starts over");
                if let Some(set) = self.recovering.lock().get_mut(&key) {
                    set.remove(&target);
                }
                continue;
            }
            warn!(index = index.name(), shard, replica = %target, %reason, "an in-sync replica missed a write: marking it stale");
            let (cluster, name, uuid, replica) = (self.cluster.clone(), index.name().to_string(), index.uuid().to_string(), target.clone());
            let marked = wait_on(&self.runtime, MARK_STALE_WAIT, async move { cluster.mark_stale(&name, &uuid, shard, term, &replica).await });
            match marked {
                Some(Ok(())) => {}
                Some(Err(e)) => {
                    return Err(unavailable(format!(
                        "[{}][{shard}] the write did not reach the in-sync copy on [{target}] ({reason}) and the copy could not be marked stale: {e}",
                        index.name()
                    )));
                }
                None => {
                    return Err(unavailable(format!(
                        "[{}][{shard}] the write did not reach the in-sync copy on [{target}] ({reason}) and etcd did not confirm marking it stale in time",
                        index.name()
                    )));
                }
            }
        }
        Ok(reached)
    }
}

/// The media type of the copies API's bodies.
pub const POSTCARD: &str = "application/x-postcard";

/// An index name as a URL path segment.
pub fn encode(name: &str) -> String {
    name.bytes().map(|b| if b.is_ascii_alphanumeric() || b"-_.".contains(&b) { (b as char).to_string() } else { format!("%{b:02X}") }).collect()
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> EngineResult<T> + Send + 'static) -> Result<T, String> {
    tokio::task::spawn_blocking(f).await.map_err(|e| e.to_string())?.map_err(|e| e.to_string())
}
