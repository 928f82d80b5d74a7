//! Cluster mode: the copies of a shard on other nodes (replicas).
//!
//! The engine knows nothing of nodes; it gives the server three things:
//! - on the **primary**, a [`WriteReplication`] hook called for every write batch after its
//!   operations are durable here (WAL fsync) and before any of them is acknowledged, in the
//!   shard's write order (under its replication-order lock, not its write lock) — so a replica
//!   receives a shard's operations in `_seq_no` order, and a write whose replication fails is
//!   never acknowledged;
//! - on a **replica**, [`Index::apply_replicated`]: the primary's operations applied as they
//!   are (their `_seq_no`, `_version` and `_primary_term` kept), each only if it is newer than
//!   what the copy has for that id — which also makes a recovery's copied documents and the
//!   live operations that overtake them commute;
//! - for **recovery**, [`Index::shard_snapshot`] (every live document of a shard, in chunks, as
//!   index operations) on the primary and [`Index::clear_shard`] on the copy that starts over.
//!
//! The primary term of each shard ([`Index::set_primary_term`]) is the server's: it comes
//! from the cluster's allocation record, and rises when a replica is promoted.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use tantivy::schema::Value as _;
use tantivy::{DocAddress, Searcher, TantivyDocument};

use super::shard::Shard;
use super::write::{self, Pending};
use super::{Index, LiveDoc};
use crate::document::{DocMeta, add_meta};
use crate::error::{EngineError, EngineResult};
use crate::wal::WalOp;

/// Sends a primary's write batches to the shard's other copies (implemented by the server).
pub trait WriteReplication: Send + Sync {
    /// `ops` (in `_seq_no` order) were just made durable on shard `shard` of `index`, the
    /// primary copy, whose term is `primary_term`. `Ok` (with how many replicas have them)
    /// once every in-sync copy has them (or a copy that failed was removed from the in-sync
    /// set); an error fails the batch's writes — they are durable here but not acknowledged.
    fn replicate(&self, index: &Index, shard: u32, primary_term: i64, ops: &[WalOp]) -> EngineResult<u32>;
}

/// Every live document of one shard as of one refresh, read in chunks (a recovery's copy).
pub struct ShardDocuments {
    searcher: Searcher,
    fields: super::IndexFields,
    /// Next position: segment ordinal, doc id within it.
    segment: usize,
    doc: u32,
    /// The highest `_seq_no` the snapshot covers.
    pub max_seq_no: i64,
}

impl ShardDocuments {
    /// Up to `max` documents from where the last chunk ended, as index operations; empty at
    /// the end.
    pub fn next_chunk(&mut self, max: usize) -> EngineResult<Vec<WalOp>> {
        let mut out = Vec::new();
        let segments = self.searcher.segment_readers();
        while out.len() < max && self.segment < segments.len() {
            let reader = &segments[self.segment];
            if self.doc >= reader.max_doc() {
                self.segment += 1;
                self.doc = 0;
                continue;
            }
            let doc = self.doc;
            self.doc += 1;
            if reader.is_deleted(doc) {
                continue;
            }
            let addr = DocAddress::new(self.segment as u32, doc);
            // Hidden nested documents carry no `_source`: their parent's source rebuilds them.
            let stored: TantivyDocument = self.searcher.doc(addr)?;
            if stored.get_first(self.fields.source).and_then(|v| v.as_bytes()).is_none() {
                continue;
            }
            let d = Shard::stored_of(&self.fields, &stored);
            out.push(WalOp::Index {
                seq_no: d.meta.seq_no,
                version: d.meta.version,
                primary_term: d.meta.primary_term,
                id: d.id,
                source: d.source,
                routing: d.routing,
            });
        }
        Ok(out)
    }
}

impl Index {
    /// Cluster mode: where a primary's write batches are sent (see [`WriteReplication`]).
    pub(crate) fn set_write_replication(&self, replication: Arc<dyn WriteReplication>) {
        *self.write_replication.write() = Some(replication);
    }

    /// Runs the [`WriteReplication`] hook, if there is one, for a batch of shard `shard`; how
    /// many replicas have the batch.
    pub(crate) fn replicate_batch(&self, shard: &Shard, ops: &[WalOp]) -> EngineResult<u32> {
        let replication = self.write_replication.read().clone();
        match replication {
            Some(r) if !ops.is_empty() => r.replicate(self, shard.number, shard.primary_term(), ops),
            _ => Ok(0),
        }
    }

    fn shard_numbered(&self, shard: u32) -> EngineResult<&Shard> {
        self.shards.get(shard as usize).ok_or_else(|| EngineError::bad_request("illegal_argument_exception", format!("index [{}] has no shard [{shard}]", self.name)))
    }

    /// The term new writes on shard `shard` get.
    pub fn primary_term(&self, shard: u32) -> i64 {
        self.shards.get(shard as usize).map_or(super::PRIMARY_TERM, Shard::primary_term)
    }

    /// Sets the term of shard `shard` (never lowers it).
    pub fn set_primary_term(&self, shard: u32, term: i64) {
        if let Some(s) = self.shards.get(shard as usize) {
            s.primary_term.fetch_max(term, Ordering::AcqRel);
        }
    }

    /// Marks shard `shard` as a replica copy here (or the primary again, after a promotion).
    pub fn set_replica(&self, shard: u32, replica: bool) {
        if let Some(s) = self.shards.get(shard as usize) {
            s.replica.store(replica, Ordering::Release);
        }
    }

    /// Whether shard `shard` is a replica copy here.
    pub fn is_replica(&self, shard: u32) -> bool {
        self.shards.get(shard as usize).is_some_and(|s| s.replica.load(Ordering::Acquire))
    }

    /// A client's write reached a replica copy (the sender's view of the cluster was stale).
    pub(crate) fn ensure_primary(&self, shard: &Shard) -> EngineResult<()> {
        if shard.replica.load(Ordering::Acquire) {
            return Err(EngineError::ShardUnavailable {
                error_type: "shard_not_in_primary_mode_exception",
                reason: format!("[{}][{}] this copy of the shard is a replica: writes go to its primary", self.name, shard.number),
            });
        }
        Ok(())
    }

    /// A replica applies the primary's operations of shard `shard`: each one whose `_seq_no`
    /// is above what this copy has for its id is logged (WAL, fsync) and applied with the
    /// primary's `_seq_no`, `_version` and term; older ones are skipped. Fields the primary
    /// mapped are mapped here too (the primary committed them cluster-wide already). Returns
    /// how many were applied.
    pub fn apply_replicated(&self, shard: u32, ops: Vec<WalOp>) -> EngineResult<usize> {
        self.ensure_open()?;
        let shard = self.shard_numbered(shard)?;
        let mut st = shard.write.lock();
        shard.ensure_writer(&mut st, &self.me)?;
        let mut mapping = self.mapping();
        let mut overlay: HashMap<String, LiveDoc> = HashMap::new();
        let mut logged = Vec::with_capacity(ops.len());
        let mut pending = Vec::with_capacity(ops.len());
        for op in ops {
            let (id, seq_no) = match &op {
                WalOp::Index { id, seq_no, .. } | WalOp::Delete { id, seq_no, .. } => (id.clone(), *seq_no),
            };
            let current = match overlay.get(&id) {
                Some(d) => Some(d.clone()),
                None => shard.current(&self.fields, &id)?,
            };
            if current.as_ref().is_some_and(|c| c.meta.seq_no >= seq_no) {
                continue;
            }
            match &op {
                WalOp::Index { seq_no, version, primary_term, id, source, routing } => {
                    let meta = DocMeta { seq_no: *seq_no, version: *version, primary_term: *primary_term };
                    let (mut doc, grown) = write::build_doc(&mapping, &self.fields, id, source)?;
                    if let Some(grown) = grown {
                        mapping = self.grow_mapping(&mapping, &grown)?;
                    }
                    add_meta(&mut doc.root, &self.fields, meta);
                    if let (Some(field), Some(routing)) = (self.fields.routing, routing) {
                        doc.root.add_text(field, routing);
                    }
                    pending.push(Pending::Add { id: id.clone(), doc, replace: current.is_some() });
                    overlay.insert(id.clone(), LiveDoc { meta, source: Some(source.clone()), routing: routing.clone(), deleted_at: None });
                }
                WalOp::Delete { seq_no, version, primary_term, id } => {
                    let meta = DocMeta { seq_no: *seq_no, version: *version, primary_term: *primary_term };
                    pending.push(Pending::Delete { id: id.clone() });
                    overlay.insert(
                        id.clone(),
                        LiveDoc { meta, source: None, routing: None, deleted_at: Some(std::time::Instant::now()) },
                    );
                }
            }
            st.next_seq_no = st.next_seq_no.max(seq_no + 1);
            logged.push(op);
        }
        if logged.is_empty() {
            return Ok(0);
        }
        st.wal.write(&logged).map_err(|e| EngineError::internal(format!("write-ahead log append failed: {e}")))?;
        st.wal.sync().map_err(|e| EngineError::internal(format!("write-ahead log fsync failed: {e}")))?;
        let n = pending.len();
        let writer = st.writer.as_mut().ok_or_else(|| EngineError::IndexNotFound { index: self.name.clone() })?;
        write::add_pending(writer, &self.fields, pending, mapping.has_nested())?;
        st.uncommitted += n;
        shard.dirty.store(true, Ordering::Release);
        shard.live.write().extend(overlay);
        Ok(n)
    }

    /// Deletes every document of shard `shard` and commits: a copy that starts its recovery
    /// over never serves what it had.
    pub fn clear_shard(&self, shard: u32) -> EngineResult<()> {
        self.ensure_open()?;
        let shard = self.shard_numbered(shard)?;
        let mut st = shard.write.lock();
        shard.ensure_writer(&mut st, &self.me)?;
        let writer = st.writer.as_mut().ok_or_else(|| EngineError::IndexNotFound { index: self.name.clone() })?;
        writer.delete_all_documents()?;
        st.uncommitted += 1;
        shard.live.write().clear();
        let mapping = self.mapping();
        shard.commit_locked(&mut st, &self.commit_context(&mapping))
    }

    /// Commits shard `shard` (tantivy commit, WAL truncated, reader reloaded).
    pub fn refresh_shard(&self, shard: u32) -> EngineResult<()> {
        let mapping = self.mapping();
        self.shard_numbered(shard)?.refresh(&self.commit_context(&mapping))
    }

    /// Refreshes shard `shard` and returns its documents as of then (for a replica's
    /// recovery). `start` runs first, under the shard's write lock: the server starts sending
    /// the shard's operations to the new copy there, so every operation is either in the
    /// snapshot or sent (or both: the copy keeps the newer). A batch applied before but still
    /// being sent may miss the new copy: it is in the snapshot.
    pub fn shard_snapshot(&self, shard: u32, start: impl FnOnce()) -> EngineResult<ShardDocuments> {
        self.ensure_open()?;
        let shard = self.shard_numbered(shard)?;
        let mapping = self.mapping();
        let mut st = shard.write.lock();
        start();
        shard.commit_locked(&mut st, &self.commit_context(&mapping))?;
        let max_seq_no = st.next_seq_no - 1;
        drop(st);
        Ok(ShardDocuments { searcher: shard.searcher(), fields: self.fields.clone(), segment: 0, doc: 0, max_seq_no })
    }
}
