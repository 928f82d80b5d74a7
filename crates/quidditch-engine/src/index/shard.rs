//! One shard of an index: its own tantivy index, write-ahead log, writer and realtime map.
//! Documents are assigned to shards by [`super::routing`]; the index's mapping and settings
//! are shared by all its shards.
//!
//! Layout: `<index dir>/shards/<n>/{tantivy,wal}`. An index written before shards existed
//! has `tantivy/` and `wal/` directly in its directory: it opens as a one-shard index whose
//! shard 0 lives there.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Weak};

use anyhow::Context as _;
use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};
use tantivy::directory::MmapDirectory;
use tantivy::schema::{IndexRecordOption, Value as _};
use tantivy::indexer::IndexWriterOptions;
use tantivy::{DocAddress, DocSet, IndexReader, ReloadPolicy, Searcher, TERMINATED, TantivyDocument, Term};

use super::schema::{self, IndexFields};
use super::writer_slots::{SlotOwner, WriterSlots};
use super::{Index, LiveDoc, StoredDoc, WriteState, now_millis, write};
use crate::EngineConfig;
use crate::document::DocMeta;
use crate::error::{EngineError, EngineResult};
use crate::mapping::Mapping;
use crate::wal::{Wal, WalOp};

/// What a commit needs to rebuild the writer from the WAL if it fails.
pub(crate) struct CommitContext<'a> {
    pub index_name: &'a str,
    pub mapping: &'a Mapping,
    pub fields: &'a IndexFields,
}

/// One shard. Owned by its [`super::Index`].
pub(crate) struct Shard {
    /// Shard number within the index.
    pub number: u32,
    dir: PathBuf,
    tantivy: tantivy::Index,
    reader: IndexReader,
    /// How this shard's writer is opened (on its first write, and again after it was closed).
    writer_options: IndexWriterOptions,
    /// The node's writer budget, and this shard's key in it.
    slots: Arc<WriterSlots>,
    slot_id: u64,
    /// Epoch millis of the last write that needed the writer: idle writers are closed, and
    /// the least recently written one gives way when the budget is used up.
    last_write: Arc<AtomicU64>,
    pub(crate) write: Mutex<WriteState>,
    pub(crate) live: RwLock<HashMap<String, LiveDoc>>,
    /// Writes applied since the last commit (cheap check without the write lock).
    pub(crate) dirty: AtomicBool,
    /// `_flush` requests since the shard opened (OpenSearch's `flush.total`).
    pub(crate) flushes: AtomicU64,
    /// The term this copy's new writes get (cluster mode: from the allocation record; it
    /// rises when a replica is promoted).
    pub(crate) primary_term: AtomicI64,
    /// A replica copy (cluster mode): written only by its primary's operations, never by a
    /// client's write, and left out of this node's own walks over its documents.
    pub(crate) replica: AtomicBool,
    /// Taken by a write batch before it releases the write lock and held while the batch is
    /// sent to the other copies: batches reach them in `_seq_no` order.
    pub(crate) replication_order: Mutex<()>,
}

/// Where shard `number` of the index in `index_dir` keeps its files.
pub(crate) fn shard_dir(index_dir: &Path, number: u32) -> PathBuf {
    index_dir.join("shards").join(number.to_string())
}

/// Whether `index_dir` has the layout of an index written before shards existed.
pub(crate) fn is_legacy_layout(index_dir: &Path) -> bool {
    index_dir.join("tantivy").is_dir() && !index_dir.join("shards").exists()
}

impl Shard {
    /// Creates the shard's empty tantivy index in `dir`.
    pub fn create_files(dir: &Path) -> anyhow::Result<()> {
        std::fs::create_dir_all(dir.join("tantivy"))?;
        let (schema, _) = schema::build_schema();
        tantivy::Index::create_in_dir(dir.join("tantivy"), schema)?;
        Ok(())
    }

    /// Opens the shard in `dir` and returns it with the WAL records to replay.
    /// No writer is opened here: an idle shard costs no threads.
    pub fn open(
        dir: &Path,
        number: u32,
        config: &EngineConfig,
        slots: &Arc<WriterSlots>,
    ) -> anyhow::Result<(Shard, IndexFields, Vec<WalOp>)> {
        let tantivy = tantivy::Index::open(MmapDirectory::open(dir.join("tantivy"))?)?;
        let fields = schema::fields_of(&tantivy.schema())?;
        let threads = config.indexing_threads();
        let writer_options = IndexWriterOptions::builder()
            .num_worker_threads(threads)
            .num_merge_threads(config.merge_threads.max(1))
            .memory_budget_per_thread((config.writer_memory_bytes() / threads).max(16_000_000))
            .build();
        let reader = tantivy.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let committed_seq_no = committed_seq_no(&tantivy)?;
        let (wal, ops) = Wal::open(&dir.join("wal")).context("replaying the write-ahead log")?;
        let shard = Shard {
            number,
            dir: dir.to_path_buf(),
            tantivy,
            reader,
            writer_options,
            slots: slots.clone(),
            slot_id: slots.next_shard_id(),
            last_write: Arc::new(AtomicU64::new(0)),
            write: Mutex::new(WriteState {
                writer: None,
                deleted: false,
                wal,
                next_seq_no: committed_seq_no + 1,
                uncommitted: 0,
                unreloaded: false,
                last_commit: std::time::Instant::now(),
            }),
            live: RwLock::new(HashMap::new()),
            dirty: AtomicBool::new(false),
            flushes: AtomicU64::new(0),
            primary_term: AtomicI64::new(super::PRIMARY_TERM),
            replica: AtomicBool::new(false),
            replication_order: Mutex::new(()),
        };
        let ops = ops.into_iter().filter(|op| op.seq_no() > committed_seq_no).collect();
        Ok((shard, fields, ops))
    }

    /// Re-applies logged ops (those above the last committed `_seq_no`), commits them, and
    /// closes the writer again (opening a thousand indices must not hold a thousand writers).
    pub fn replay(&self, index: &Weak<Index>, ctx: &CommitContext<'_>, ops: Vec<WalOp>) -> anyhow::Result<()> {
        let mut st = self.write.lock();
        if ops.is_empty() {
            // Nothing to replay; a WAL holding only committed records is emptied lazily.
            return Ok(());
        }
        self.ensure_writer(&mut st, index)?;
        let replayed = self.apply_logged(&mut st, ctx.index_name, ctx.mapping, ctx.fields, ops)?;
        st.uncommitted += replayed;
        if replayed > 0 {
            tracing::info!(index = %ctx.index_name, shard = self.number, ops = replayed, "replayed write-ahead log");
        }
        self.commit_locked(&mut st, ctx)?;
        self.close_writer_locked(&mut st, ctx)?;
        Ok(())
    }

    /// Opens the shard's tantivy writer if it is not open (first write, or closed while
    /// idle), within the node's writer budget. Called under the write lock before anything
    /// is logged, so a write that cannot get a writer is rejected whole (429).
    pub(crate) fn ensure_writer(&self, st: &mut WriteState, index: &Weak<Index>) -> EngineResult<()> {
        if st.deleted {
            return Err(EngineError::internal("the index is being deleted"));
        }
        self.last_write.store(now_millis().max(0) as u64, Ordering::Relaxed);
        if st.writer.is_some() {
            return Ok(());
        }
        self.slots.acquire(SlotOwner { shard_id: self.slot_id, index, shard: self.number, last_write: &self.last_write })?;
        match self.tantivy.writer_with_options(self.writer_options.clone()) {
            Ok(writer) => {
                st.writer = Some(writer);
                Ok(())
            }
            Err(e) => {
                self.slots.release(self.slot_id);
                // Typically threads or memory ran out: the node is overloaded, not broken.
                Err(EngineError::Rejected(format!("rejected execution: cannot open an index writer: {e}")))
            }
        }
    }

    /// Flushes what the writer holds (tantivy commit, WAL truncated: durable, but not visible
    /// to search before the next refresh) and closes it, giving its threads and memory back.
    /// On a failed flush the writer stays open (and was rebuilt from the WAL).
    pub(crate) fn close_writer_locked(&self, st: &mut WriteState, ctx: &CommitContext<'_>) -> EngineResult<()> {
        if st.writer.is_none() {
            self.slots.release(self.slot_id);
            return Ok(());
        }
        self.flush_locked(st, ctx)?;
        if let Some(writer) = st.writer.take() {
            // Under the write lock: the shard cannot reopen a writer (and contend for tantivy's
            // directory lock) before this one has fully stopped.
            if let Err(e) = writer.wait_merging_threads() {
                tracing::warn!(index = %ctx.index_name, shard = self.number, "closing an index writer: {e}");
            }
        }
        self.slots.release(self.slot_id);
        Ok(())
    }

    /// Whether no write needed the writer for `idle`.
    pub(crate) fn is_idle_for(&self, idle: std::time::Duration) -> bool {
        let last = self.last_write.load(Ordering::Relaxed) as i64;
        now_millis().saturating_sub(last) >= idle.as_millis() as i64
    }

    /// Adds logged ops to the writer; returns how many.
    fn apply_logged(
        &self,
        st: &mut WriteState,
        index_name: &str,
        mapping: &Mapping,
        fields: &IndexFields,
        ops: Vec<WalOp>,
    ) -> anyhow::Result<usize> {
        let mut replayed = 0usize;
        let has_nested = mapping.has_nested();
        for op in ops {
            st.next_seq_no = st.next_seq_no.max(op.seq_no() + 1);
            let writer = st.writer.as_mut().ok_or_else(|| anyhow::anyhow!("index closed"))?;
            match op {
                WalOp::Index { seq_no, version, primary_term, id, source, routing } => {
                    let meta = DocMeta { seq_no, version, primary_term };
                    let doc = match write::build_doc(mapping, fields, &id, &source) {
                        Ok((mut doc, _)) => {
                            crate::document::add_meta(&mut doc.root, fields, meta);
                            if let (Some(field), Some(routing)) = (fields.routing, &routing) {
                                doc.root.add_text(field, routing);
                            }
                            doc
                        }
                        Err(e) => {
                            tracing::error!(index = %index_name, shard = self.number, id, "cannot replay logged document: {e}");
                            continue;
                        }
                    };
                    write::add_block(writer, fields, &id, doc, true, has_nested)?;
                }
                WalOp::Delete { id, .. } => write::delete_block(writer, fields, &id, has_nested),
            }
            replayed += 1;
        }
        Ok(replayed)
    }

    /// After a failed commit (a full disk, an I/O error) tantivy's writer may have lost
    /// indexing threads, and with them documents it had accepted — a later successful commit
    /// would then truncate the WAL without them. Start a fresh writer from the last commit and
    /// re-add every uncommitted op from the WAL, which holds all of them (the realtime map
    /// still serves them to GET meanwhile).
    fn rebuild_writer(&self, st: &mut WriteState, ctx: &CommitContext<'_>) -> anyhow::Result<()> {
        let Some(writer) = st.writer.as_mut() else { return Ok(()) };
        writer.rollback()?;
        let committed = committed_seq_no(&self.tantivy)?;
        let ops: Vec<WalOp> = st.wal.read_ops()?.into_iter().filter(|op| op.seq_no() > committed).collect();
        let next_seq_no = st.next_seq_no;
        let readded = self.apply_logged(st, ctx.index_name, ctx.mapping, ctx.fields, ops)?;
        // Sequence numbers of failed (never acknowledged) batches stay gaps, never reused.
        st.next_seq_no = st.next_seq_no.max(next_seq_no);
        st.uncommitted = readded;
        tracing::warn!(index = %ctx.index_name, shard = self.number, ops = readded, "index writer rebuilt from the write-ahead log after a failed commit");
        Ok(())
    }

    pub fn primary_term(&self) -> i64 {
        self.primary_term.load(Ordering::Acquire)
    }

    /// The searcher over the last commit.
    pub fn searcher(&self) -> Searcher {
        self.reader.searcher()
    }

    pub fn tantivy_index(&self) -> &tantivy::Index {
        &self.tantivy
    }

    /// Reads the stored id, versioning metadata and `_source` of a search hit.
    pub fn read_stored(fields: &IndexFields, searcher: &Searcher, addr: DocAddress) -> EngineResult<StoredDoc> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        Ok(Self::stored_of(fields, &doc))
    }

    /// The id, versioning metadata and `_source` of a stored document.
    pub fn stored_of(fields: &IndexFields, doc: &TantivyDocument) -> StoredDoc {
        let f = fields;
        let id = doc.get_first(f.id).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let source: std::sync::Arc<[u8]> = doc.get_first(f.source).and_then(|v| v.as_bytes()).unwrap_or(b"{}").into();
        let int = |field| doc.get_first(field).and_then(|v| v.as_i64()).unwrap_or(0);
        let routing = f.routing.and_then(|r| doc.get_first(r)).and_then(|v| v.as_str()).map(str::to_string);
        StoredDoc {
            id,
            meta: DocMeta { seq_no: int(f.seq_no), version: int(f.version), primary_term: int(f.primary_term) },
            source,
            routing,
        }
    }

    /// Address of the live (not deleted) committed document with this id.
    fn find_committed(fields: &IndexFields, searcher: &Searcher, id: &str) -> EngineResult<Option<DocAddress>> {
        let term = Term::from_field_text(fields.id, id);
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let inverted = segment.inverted_index(fields.id)?;
            if let Some(mut postings) = inverted.read_postings(&term, IndexRecordOption::Basic)? {
                let mut doc = postings.doc();
                while doc != TERMINATED {
                    if !segment.is_deleted(doc) {
                        return Ok(Some(DocAddress::new(ord as u32, doc)));
                    }
                    doc = postings.advance();
                }
            }
        }
        Ok(None)
    }

    /// Realtime GET: the latest acknowledged version of a document, even before a refresh.
    pub fn get(&self, fields: &IndexFields, id: &str) -> EngineResult<Option<StoredDoc>> {
        if let Some(live) = self.live.read().get(id) {
            return Ok(live.source.clone().map(|source| StoredDoc {
                id: id.to_string(),
                meta: live.meta,
                source,
                routing: live.routing.clone(),
            }));
        }
        // The reader is reloaded before the live map is cleared, so a miss above means the
        // committed searcher has the document (or it does not exist).
        self.get_refreshed(fields, id)
    }

    /// Non-realtime GET (`realtime=false`): the document as the searcher of the last refresh
    /// sees it.
    pub fn get_refreshed(&self, fields: &IndexFields, id: &str) -> EngineResult<Option<StoredDoc>> {
        let searcher = self.searcher();
        match Self::find_committed(fields, &searcher, id)? {
            Some(addr) => Ok(Some(Self::read_stored(fields, &searcher, addr)?)),
            None => Ok(None),
        }
    }

    /// Latest state including tombstones (for version checks), under the write lock.
    pub fn current(&self, fields: &IndexFields, id: &str) -> EngineResult<Option<LiveDoc>> {
        if let Some(live) = self.live.read().get(id) {
            return Ok(Some(live.clone()));
        }
        let searcher = self.searcher();
        match Self::find_committed(fields, &searcher, id)? {
            Some(addr) => {
                let d = Self::read_stored(fields, &searcher, addr)?;
                Ok(Some(LiveDoc { meta: d.meta, source: Some(d.source), routing: d.routing, deleted_at: None }))
            }
            None => Ok(None),
        }
    }

    /// Commits (tantivy commit + reader reload) and truncates the WAL.
    pub fn refresh(&self, ctx: &CommitContext<'_>) -> EngineResult<()> {
        let mut st = self.write.lock();
        self.commit_locked(&mut st, ctx)
    }

    /// A refresh: flush, then reload the reader so search sees everything acknowledged.
    pub(crate) fn commit_locked(&self, st: &mut WriteState, ctx: &CommitContext<'_>) -> EngineResult<()> {
        self.flush_locked(st, ctx)?;
        if st.unreloaded {
            self.reader.reload()?;
            // Reader first, then the live map: a GET that misses the map finds the new searcher.
            // Recent tombstones stay: the searcher no longer knows the deleted versions.
            self.live.write().retain(|_, d| d.deleted_at.is_some_and(|at| at.elapsed() < super::GC_DELETES));
            st.unreloaded = false;
            st.last_commit = std::time::Instant::now();
            self.dirty.store(false, Ordering::Release);
        }
        Ok(())
    }

    /// tantivy commit and WAL truncation, without a reader reload: the writes become durable
    /// in tantivy but not visible to search (OpenSearch's flush vs refresh). Realtime GET keeps
    /// serving them from the live map until the next refresh.
    fn flush_locked(&self, st: &mut WriteState, ctx: &CommitContext<'_>) -> EngineResult<()> {
        if st.uncommitted == 0 && st.wal.size_bytes() == 0 {
            return Ok(());
        }
        let Some(writer) = st.writer.as_mut() else { return Ok(()) };
        let payload = json!({ "max_seq_no": st.next_seq_no - 1 }).to_string();
        let committed = writer.prepare_commit().and_then(|mut prepared| {
            prepared.set_payload(&payload);
            prepared.commit()
        });
        if let Err(e) = committed {
            if let Err(rebuild) = self.rebuild_writer(st, ctx) {
                tracing::error!(index = %ctx.index_name, shard = self.number, "rebuilding the index writer after a failed commit: {rebuild:#}");
            }
            return Err(e.into());
        }
        st.unreloaded = true;
        st.uncommitted = 0;
        st.wal.truncate()?;
        Ok(())
    }

    /// `POST /{index}/_forcemerge`: commits, then merges the committed segments down to at
    /// most `max_segments` (the smallest ones into one; when there are no more than that,
    /// each segment holding deleted documents on its own, as with `only_expunge_deletes`);
    /// the reader reloads after. The write lock
    /// is held only to start the merge, so writes go on while tantivy merges (tantivy keeps
    /// segments in a merge out of its background merges).
    pub fn force_merge(
        &self,
        index: &Weak<Index>,
        ctx: &CommitContext<'_>,
        max_segments: Option<usize>,
        only_expunge_deletes: bool,
    ) -> EngineResult<()> {
        let merges = {
            let mut st = self.write.lock();
            self.commit_locked(&mut st, ctx)?;
            // Closing the writer waits for tantivy's own background merges: one of them could
            // otherwise be merging the segments picked below, and whichever ends second fails.
            // Under the write lock nothing commits (and starts a merge) until ours has started.
            self.close_writer_locked(&mut st, ctx)?;
            let mut metas = self.tantivy.searchable_segment_metas()?;
            let groups: Vec<Vec<tantivy::index::SegmentId>> = if only_expunge_deletes {
                metas.iter().filter(|m| m.has_deletes()).map(|m| vec![m.id()]).collect()
            } else {
                let target = max_segments.unwrap_or(1).max(1);
                if metas.len() <= target {
                    // Already few enough: like Lucene's forced merge, a segment holding deleted
                    // documents is still rewritten without them.
                    metas.iter().filter(|m| m.has_deletes()).map(|m| vec![m.id()]).collect()
                } else {
                    metas.sort_by_key(|m| m.num_docs());
                    vec![metas[..metas.len() - target + 1].iter().map(|m| m.id()).collect()]
                }
            };
            if groups.is_empty() {
                Vec::new()
            } else {
                self.ensure_writer(&mut st, index)?;
                let writer = st.writer.as_mut().expect("ensure_writer opened it");
                groups.iter().map(|ids| writer.merge(ids)).collect::<Vec<_>>()
            }
        };
        for merge in merges {
            merge.wait()?;
        }
        // Also when nothing was left to merge: the background merges just waited for may have
        // changed the segments.
        self.reader.reload()?;
        Ok(())
    }

    /// Documents visible to search, and deleted-but-not-merged ones.
    pub fn doc_counts(&self) -> (u64, u64) {
        let searcher = self.searcher();
        let live = searcher.num_docs();
        let total: u64 = searcher.segment_readers().iter().map(|s| s.max_doc() as u64).sum();
        (live, total - live)
    }

    /// Bytes on disk (tantivy files + WAL).
    pub fn store_size_bytes(&self) -> u64 {
        super::dir_size(&self.dir)
    }

    /// Searchable tantivy segments (as of the last refresh).
    pub fn segment_count(&self) -> usize {
        self.searcher().segment_readers().len()
    }

    /// The write-ahead log's bytes and the operations in it not yet committed to tantivy
    /// (what OpenSearch's `translog` stats count).
    pub fn wal_stats(&self) -> (u64, u64) {
        let st = self.write.lock();
        (st.wal.size_bytes(), st.uncommitted as u64)
    }

    /// `_seq_no` of the newest acknowledged write of this shard (-1 if none).
    pub fn max_seq_no(&self) -> i64 {
        self.write.lock().next_seq_no - 1
    }

    /// Stops the writer (waits for its threads) for good: the index is being deleted.
    pub fn close(&self, index_name: &str) {
        let mut st = self.write.lock();
        st.deleted = true;
        if let Some(writer) = st.writer.take() {
            if let Err(e) = writer.wait_merging_threads() {
                tracing::warn!(index = %index_name, shard = self.number, "stopping writer: {e}");
            }
        }
        self.slots.release(self.slot_id);
    }
}

fn committed_seq_no(index: &tantivy::Index) -> anyhow::Result<i64> {
    let metas = index.load_metas()?;
    Ok(metas
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .and_then(|v| v.get("max_seq_no").and_then(Value::as_i64))
        .unwrap_or(-1))
}
