//! One index: its mapping, settings and shards (see `shard`: each shard has its own tantivy
//! index, write-ahead log and realtime view of documents written since its last commit), and
//! the routing of documents to shards (`routing`).
//!
//! Visibility model: tantivy only shows committed segments, so a *refresh* is a tantivy commit
//! followed by a reader reload (done in the background every `refresh_interval_ms`, on
//! `?refresh=true|wait_for`, `_refresh` and `_flush`). Each commit also truncates the WAL.
//! GET by id is realtime: documents written since the last commit are served from the
//! in-memory `live` map.

pub mod meta;
pub mod routing;
pub mod schema;
mod replication;
mod shard;
mod write;
mod writer_slots;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use parking_lot::{Mutex, RwLock};
use serde_json::Value;
use tantivy::{DocAddress, IndexWriter, Searcher};

pub use self::meta::{IndexMeta, IndexSettings};
pub use self::routing::ShardRouting;
pub use self::schema::IndexFields;
pub use self::write::{
    ExternalVersion, OpType, Refresh, UpdateRequest, VersionType, VersionedWrite, WriteOp, WriteOutcome, WriteResult,
    generate_id,
};
pub(crate) use self::writer_slots::WriterSlots;
pub use self::replication::{ShardDocuments, WriteReplication};

use self::shard::Shard;
use crate::EngineConfig;
use crate::document::DocMeta;
use crate::error::{EngineError, EngineResult};
use crate::analysis::AnalysisRegistry;
use crate::mapping::Mapping;
use crate::wal::Wal;

/// A document as stored (or as last written, for realtime GET).
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub id: String,
    pub meta: DocMeta,
    /// The `_source` JSON bytes.
    pub source: Arc<[u8]>,
    /// The custom routing it was written with (`_routing`), if any.
    pub routing: Option<String>,
}

impl StoredDoc {
    /// `_source` parsed as JSON (`Value::Null` if the stored bytes are somehow not JSON).
    pub fn source_json(&self) -> Value {
        serde_json::from_slice(&self.source).unwrap_or(Value::Null)
    }
}

/// A document written since the last commit: its latest version, or a tombstone (kept for
/// [`GC_DELETES`] across refreshes).
#[derive(Debug, Clone)]
pub(crate) struct LiveDoc {
    pub meta: DocMeta,
    /// `None` = deleted.
    pub source: Option<Arc<[u8]>>,
    pub routing: Option<String>,
    /// When a tombstone was written.
    pub deleted_at: Option<std::time::Instant>,
}

/// How long a deleted document's version still counts for the next write of its id (the
/// next internal version continues from it, an external one must exceed it): OpenSearch's
/// `index.gc_deletes` default.
pub(crate) const GC_DELETES: std::time::Duration = std::time::Duration::from_secs(60);

pub(crate) struct WriteState {
    /// Opened on demand and closed when idle (`None` then); see `writer_slots`. A closed
    /// writer never holds uncommitted ops: it is flushed first.
    writer: Option<IndexWriter>,
    /// The index is being deleted: no writer opens again.
    deleted: bool,
    wal: Wal,
    next_seq_no: i64,
    /// Ops applied to the writer but not yet committed.
    uncommitted: usize,
    /// Committed (flushed) but the reader was not reloaded yet: the next refresh reloads.
    unreloaded: bool,
    /// Last refresh (commit + reader reload), for `refresh_interval`.
    last_commit: std::time::Instant,
}

/// The first primary term of every shard: a single node never fails over, so it stays 1
/// there; in cluster mode a promoted replica's term is higher.
pub const PRIMARY_TERM: i64 = 1;

/// An open index. Shared as `Arc<Index>`; cheap to clone the handles it gives out.
/// Cluster mode: a mapping that dynamic fields grew is committed cluster-wide before the
/// write that grew it is logged, so every node maps the new fields alike and two nodes can
/// never give one field two types (the server implements it on the cluster's index records).
pub trait MappingGrowth: Send + Sync {
    /// `grown` is `index`'s mapping with the new fields. An error fails the writes that grew
    /// it, before anything is logged: [`EngineError::MapperParsing`] for a field another node
    /// mapped first with another type, [`EngineError::MetadataBlocked`] when the cluster's
    /// metadata cannot be changed now.
    fn commit(&self, index: &Index, grown: &Mapping) -> EngineResult<()>;
}

pub struct Index {
    /// Set in cluster mode (see [`MappingGrowth`]).
    mapping_growth: RwLock<Option<Arc<dyn MappingGrowth>>>,
    /// Set in cluster mode (see [`WriteReplication`]).
    write_replication: RwLock<Option<Arc<dyn WriteReplication>>>,
    /// This index's own handle, for the writer budget (which closes idle writers of any index).
    me: Weak<Index>,
    name: String,
    uuid: String,
    creation_date: i64,
    dir: PathBuf,
    settings: RwLock<IndexSettings>,
    mapping: RwLock<Arc<Mapping>>,
    /// Serialises mapping and settings changes (writes on different shards may each add
    /// fields; their additions are merged, never overwritten).
    meta_lock: Mutex<()>,
    routing: ShardRouting,
    shards: Vec<Shard>,
    fields: IndexFields,
    /// The analyzer of each typed text slot, read by the shards' slot tokenizers; follows
    /// `mapping` (set just before each new mapping is installed).
    slot_analyzers: Arc<crate::analysis::SlotAnalyzers>,
    deleted: AtomicBool,
    /// Closed by `POST /{index}/_close` (persisted in `meta.json`): reads and writes fail
    /// with `index_closed_exception` until `_open`.
    closed: AtomicBool,
    /// Last `searcher()` call, epoch millis (`i64::MIN` = never): search-idle detection.
    last_search_ms: AtomicI64,
    search_idle_after_ms: i64,
    flush_threshold_bytes: u64,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").field("name", &self.name).field("uuid", &self.uuid).finish()
    }
}

impl Index {
    /// Creates a new index directory (`meta.json`, `shards/<n>/{tantivy,wal}`) under a fresh
    /// identity (the engine itself always goes through [`Index::create_as`]).
    #[cfg(test)]
    pub(crate) fn create(
        dir: &Path,
        name: &str,
        settings: IndexSettings,
        mapping: Mapping,
        config: &EngineConfig,
        slots: &Arc<WriterSlots>,
    ) -> anyhow::Result<Arc<Index>> {
        Index::create_as(dir, name, settings, mapping, None, config, slots)
    }

    /// [`Index::create`] under a given identity (a fresh uuid and creation date when `None`).
    pub(crate) fn create_as(
        dir: &Path,
        name: &str,
        mut settings: IndexSettings,
        mapping: Mapping,
        identity: Option<IndexIdentity>,
        config: &EngineConfig,
        slots: &Arc<WriterSlots>,
    ) -> anyhow::Result<Arc<Index>> {
        let routing = settings.shard_routing()?;
        // Pinned at creation: the default could change, the routing of stored documents must not.
        settings.values.insert("number_of_shards".into(), Value::from(routing.number_of_shards));
        for n in 0..routing.number_of_shards {
            Shard::create_files(&shard::shard_dir(dir, n))?;
        }
        let meta = IndexMeta {
            uuid: identity.as_ref().map_or_else(new_uuid, |i| i.uuid.clone()),
            creation_date: identity.as_ref().map_or_else(now_millis, |i| i.creation_date),
            settings,
            mappings: mapping.to_json(),
            closed: false,
            text_slots: mapping.text_slots().clone(),
        };
        // meta.json last: an index directory without it is an aborted creation.
        meta.store(&dir.join("meta.json"))?;
        Index::open(dir, name, config, slots)
    }

    /// Opens an existing index and replays the write-ahead log of each shard.
    pub(crate) fn open(
        dir: &Path,
        name: &str,
        config: &EngineConfig,
        slots: &Arc<WriterSlots>,
    ) -> anyhow::Result<Arc<Index>> {
        let meta = IndexMeta::load(&dir.join("meta.json"))?;
        let analysis = Arc::new(
            AnalysisRegistry::from_settings(meta.settings.analysis().as_ref(), meta.settings.similarity().as_ref())
                .map_err(|e| anyhow::anyhow!("invalid analysis settings in meta.json: {e}"))?,
        );
        let mapping = Mapping::parse(&meta.mappings)
            .map_err(|e| anyhow::anyhow!("invalid mappings in meta.json: {e}"))?
            .with_analysis(analysis.clone())
            .with_text_slots(meta.text_slots.clone());
        let legacy = shard::is_legacy_layout(dir);
        let routing = if legacy {
            ShardRouting { number_of_shards: 1, routing_num_shards: routing::default_routing_num_shards(1) }
        } else {
            meta.settings.shard_routing()?
        };
        let slot_analyzers = Arc::new(crate::analysis::SlotAnalyzers::new(mapping.slot_analyzers()));
        let mut shards = Vec::with_capacity(routing.number_of_shards as usize);
        let mut replays = Vec::new();
        let mut fields = None;
        for n in 0..routing.number_of_shards {
            let shard_dir = if legacy { dir.to_path_buf() } else { shard::shard_dir(dir, n) };
            let (shard, shard_fields, ops) = Shard::open(&shard_dir, n, config, slots)
                .map_err(|e| anyhow::anyhow!("shard [{n}]: {e:#}"))?;
            fields.get_or_insert(shard_fields);
            // `_text` of indices created since the engine analyses text itself declares this
            // tokenizer: the index's default analyzer (paths beyond the typed field pool).
            shard.tantivy_index().tokenizers().register(
                schema::ENGINE_ANALYZED,
                crate::analysis::tantivy_analyzer(analysis.default_analyzer()),
            );
            for slot in 0..shard_fields.text_pool_size {
                shard.tantivy_index().tokenizers().register(
                    &schema::text_pool_tokenizer(slot),
                    crate::analysis::slot_tokenizer(slot, slot_analyzers.clone(), analysis.default_analyzer()),
                );
            }
            shards.push(shard);
            replays.push(ops);
        }
        let fields = fields.ok_or_else(|| anyhow::anyhow!("index has no shards"))?;
        let index = Arc::new_cyclic(|me| Index {
            mapping_growth: RwLock::new(None),
            write_replication: RwLock::new(None),
            me: me.clone(),
            name: name.to_string(),
            uuid: meta.uuid,
            creation_date: meta.creation_date,
            dir: dir.to_path_buf(),
            settings: RwLock::new(meta.settings),
            mapping: RwLock::new(Arc::new(mapping)),
            meta_lock: Mutex::new(()),
            routing,
            shards,
            fields,
            slot_analyzers,
            deleted: AtomicBool::new(false),
            closed: AtomicBool::new(meta.closed),
            last_search_ms: AtomicI64::new(i64::MIN),
            search_idle_after_ms: config.search_idle_after_ms as i64,
            flush_threshold_bytes: config.flush_threshold_mb * 1_000_000,
        });
        let mapping = index.mapping();
        for (shard, ops) in index.shards.iter().zip(replays) {
            shard.replay(&index.me, &index.commit_context(&mapping), ops)?;
        }
        Ok(index)
    }

    /// The index name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The index uuid (22 URL-safe base64 characters, like OpenSearch).
    pub fn uuid(&self) -> &str {
        &self.uuid
    }

    /// Creation time in epoch milliseconds.
    pub fn creation_date(&self) -> i64 {
        self.creation_date
    }

    /// A snapshot of the current mapping. Cheap (an `Arc` clone); it does not change under
    /// the caller even if a write adds fields meanwhile.
    pub fn mapping(&self) -> Arc<Mapping> {
        self.mapping.read().clone()
    }

    /// A copy of the current settings.
    pub fn settings(&self) -> IndexSettings {
        self.settings.read().clone()
    }

    /// `index.hidden` (see [`IndexSettings::is_hidden`]).
    pub fn is_hidden(&self) -> bool {
        self.settings.read().is_hidden()
    }

    /// Number of primary shards (fixed at creation).
    pub fn number_of_shards(&self) -> u32 {
        self.routing.number_of_shards
    }

    /// How documents are assigned to shards.
    pub fn routing(&self) -> ShardRouting {
        self.routing
    }

    /// The shard a document with this routing value (`_routing`, else `_id`) belongs to.
    pub fn shard_for(&self, routing: &str) -> u32 {
        self.routing.shard_for(routing)
    }

    /// Searchers over the last refresh of every shard, in shard order. Documents written
    /// after it are not visible until the next refresh — except on a *search-idle* index (no
    /// `refresh_interval` set and no search for `search_idle_after_ms`): there scheduled
    /// refreshes are skipped, so this call refreshes first, like OpenSearch. May block on the
    /// write lock; call it from blocking code.
    pub fn shard_searchers(&self) -> Vec<Searcher> {
        let now = now_millis();
        let previous = self.last_search_ms.swap(now, Ordering::Relaxed);
        let was_idle = now.saturating_sub(previous) > self.search_idle_after_ms;
        if was_idle && self.is_dirty() && !self.has_explicit_refresh_interval() {
            if let Err(e) = self.refresh() {
                tracing::error!(index = %self.name, "refresh of a search-idle index failed: {e}");
            }
        }
        self.shards.iter().map(Shard::searcher).collect()
    }

    /// The searcher of shard 0 (tools and tests on one-shard indices).
    pub fn searcher(&self) -> Searcher {
        self.shard_searchers().swap_remove(0)
    }

    /// Shard 0's committed searcher, without search-idle bookkeeping (tests).
    #[cfg(test)]
    fn committed_searcher(&self) -> Searcher {
        self.shards[0].searcher()
    }

    fn is_dirty(&self) -> bool {
        self.shards.iter().any(|s| s.dirty.load(Ordering::Acquire))
    }

    fn has_explicit_refresh_interval(&self) -> bool {
        self.settings.read().values.contains_key("refresh_interval")
    }

    fn is_search_idle(&self) -> bool {
        now_millis().saturating_sub(self.last_search_ms.load(Ordering::Relaxed)) > self.search_idle_after_ms
    }

    /// Handles of the fixed tantivy schema's fields (`_id`, `_source`, `_text`, `_kw`, …).
    pub fn fields(&self) -> &IndexFields {
        &self.fields
    }

    /// The underlying tantivy index of shard 0 (schema and tokenizers are the same on
    /// every shard).
    pub fn tantivy_index(&self) -> &tantivy::Index {
        self.shards[0].tantivy_index()
    }

    /// Reads the stored id, versioning metadata and `_source` of a search hit.
    pub fn read_stored(&self, searcher: &Searcher, addr: DocAddress) -> EngineResult<StoredDoc> {
        Shard::read_stored(&self.fields, searcher, addr)
    }

    fn shard_of(&self, id: &str, routing: Option<&str>) -> &Shard {
        &self.shards[self.routing.shard_for(routing.unwrap_or(id)) as usize]
    }

    /// Realtime GET: the latest acknowledged version of a document, even before a refresh.
    pub fn get(&self, id: &str) -> EngineResult<Option<StoredDoc>> {
        self.shard_of(id, None).get(&self.fields, id)
    }

    /// GET on the shard `routing` (or the id) points to: a document indexed with another
    /// routing is not found, as in OpenSearch. `realtime`: the latest acknowledged write,
    /// else what the last refresh made searchable.
    pub fn get_routed(&self, id: &str, routing: Option<&str>, realtime: bool) -> EngineResult<Option<StoredDoc>> {
        self.ensure_not_closed()?;
        if routing.is_none() && self.mapping().routing_required() {
            return Err(EngineError::RoutingMissing { index: self.name.clone(), id: id.to_string() });
        }
        let shard = self.shard_of(id, routing);
        if realtime { shard.get(&self.fields, id) } else { shard.get_refreshed(&self.fields, id) }
    }

    /// Makes everything written so far searchable (tantivy commit + reader reload) and
    /// truncates the WALs. `_refresh` and `_flush` both end up here.
    pub fn refresh(&self) -> EngineResult<()> {
        let mapping = self.mapping();
        for shard in &self.shards {
            shard.refresh(&self.commit_context(&mapping))?;
        }
        Ok(())
    }

    /// `_flush`: a [`Index::refresh`] that the shards count (the `flush` stats).
    pub fn flush(&self) -> EngineResult<()> {
        let mapping = self.mapping();
        for shard in &self.shards {
            shard.refresh(&self.commit_context(&mapping))?;
            shard.flushes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
        Ok(())
    }

    /// `POST /{index}/_forcemerge` on every shard (see [`shard::Shard::force_merge`]).
    pub fn force_merge(&self, max_segments: Option<usize>, only_expunge_deletes: bool) -> EngineResult<()> {
        self.ensure_open()?;
        let mapping = self.mapping();
        for shard in &self.shards {
            shard.force_merge(&self.me, &self.commit_context(&mapping), max_segments, only_expunge_deletes)?;
        }
        Ok(())
    }

    /// What a shard's commit needs to rebuild its writer from the WAL if the commit fails.
    fn commit_context<'a>(&'a self, mapping: &'a Mapping) -> shard::CommitContext<'a> {
        shard::CommitContext { index_name: &self.name, mapping, fields: &self.fields }
    }

    /// Commits every shard written since its last commit whose `refresh_interval` has
    /// elapsed (background committer). With `refresh_interval: -1` only a large WAL forces a
    /// commit (OpenSearch's translog flush threshold).
    pub(crate) fn refresh_if_dirty(&self) -> EngineResult<()> {
        if !self.is_dirty() {
            return Ok(());
        }
        let interval = self.settings.read().values.get("refresh_interval").map(parse_interval);
        let idle = interval.is_none() && self.is_search_idle();
        for shard in &self.shards {
            if !shard.dirty.load(Ordering::Acquire) {
                continue;
            }
            let mut st = shard.write.lock();
            if st.uncommitted == 0 && !st.unreloaded {
                continue;
            }
            let big_wal = st.wal.size_bytes() > self.flush_threshold_bytes;
            let due = match &interval {
                // Search-idle (OpenSearch's `index.search.idle.after`): skip scheduled
                // refreshes; the next search refreshes. Still commit when the WAL grows large.
                None if idle => big_wal,
                // Not set, or unparseable: every committer tick (the engine's refresh_interval_ms).
                None | Some(Err(())) => true,
                Some(Ok(Some(every))) => big_wal || st.last_commit.elapsed() >= *every,
                Some(Ok(None)) => big_wal,
            };
            if due {
                let mapping = self.mapping();
                shard.commit_locked(&mut st, &self.commit_context(&mapping))?;
            }
        }
        Ok(())
    }

    /// Flushes and closes the writers of shards without writes for `idle` (background
    /// committer). A shard whose lock is taken is not idle.
    pub(crate) fn close_idle_writers(&self, idle: std::time::Duration) {
        let mapping = self.mapping();
        for shard in &self.shards {
            if !shard.is_idle_for(idle) {
                continue;
            }
            let Some(mut st) = shard.write.try_lock() else { continue };
            if st.writer.is_none() {
                continue;
            }
            if let Err(e) = shard.close_writer_locked(&mut st, &self.commit_context(&mapping)) {
                tracing::warn!(index = %self.name, shard = shard.number, "closing an idle index writer: {e}");
            }
        }
    }

    /// Flushes and closes shard `number`'s writer to make room in the node's writer budget,
    /// unless the shard is in the middle of a write. Returns whether its slot is free now.
    pub(crate) fn evict_writer(&self, number: u32) -> bool {
        let Some(shard) = self.shards.get(number as usize) else { return false };
        let Some(mut st) = shard.write.try_lock() else { return false };
        let mapping = self.mapping();
        match shard.close_writer_locked(&mut st, &self.commit_context(&mapping)) {
            Ok(()) => true,
            Err(e) => {
                tracing::warn!(index = %self.name, shard = number, "flushing an index writer to make room failed: {e}");
                false
            }
        }
    }

    /// Number of documents visible to search, and of deleted-but-not-merged ones.
    pub fn doc_counts(&self) -> (u64, u64) {
        self.shards.iter().map(Shard::doc_counts).fold((0, 0), |(a, b), (c, d)| (a + c, b + d))
    }

    /// Per shard: (live docs, deleted docs, bytes on disk, max `_seq_no`), in shard order.
    pub fn shard_stats(&self) -> Vec<ShardStats> {
        self.shards
            .iter()
            .map(|s| {
                let (docs, deleted) = s.doc_counts();
                let (wal_bytes, wal_operations) = s.wal_stats();
                ShardStats {
                    shard: s.number,
                    docs,
                    deleted,
                    store_bytes: s.store_size_bytes(),
                    max_seq_no: s.max_seq_no(),
                    segments: s.segment_count(),
                    wal_bytes,
                    wal_operations,
                    flushes: s.flushes.load(std::sync::atomic::Ordering::Relaxed),
                }
            })
            .collect()
    }

    /// Every searchable segment of every shard, in shard order (`_cat/segments`). Reading
    /// them is not a search: it does not wake a search-idle index.
    pub fn segments(&self) -> Vec<SegmentInfo> {
        let mut out = Vec::new();
        for shard in &self.shards {
            let committed: std::collections::HashSet<tantivy::index::SegmentId> = shard
                .tantivy_index()
                .load_metas()
                .map(|m| m.segments.iter().map(|s| s.id()).collect())
                .unwrap_or_default();
            for segment in shard.searcher().segment_readers() {
                let docs = segment.num_docs() as u64;
                out.push(SegmentInfo {
                    shard: shard.number,
                    id: segment.segment_id().short_uuid_string(),
                    docs,
                    deleted: segment.max_doc() as u64 - docs,
                    bytes: segment.space_usage().map(|u| u.total().get_bytes()).unwrap_or(0),
                    committed: committed.contains(&segment.segment_id()),
                });
            }
        }
        out
    }

    /// Bytes on disk (tantivy files + WAL + meta.json).
    pub fn store_size_bytes(&self) -> u64 {
        dir_size(&self.dir)
    }

    /// Writes acknowledged so far, over all shards (each shard numbers its own writes).
    pub fn max_seq_no(&self) -> i64 {
        self.shards.iter().map(|s| s.max_seq_no() + 1).sum::<i64>() - 1
    }

    /// Replaces the mapping with `update` merged in (PUT _mapping) and persists it.
    pub fn put_mapping(&self, update: &Mapping) -> EngineResult<()> {
        // Every shard's write lock first (the writers' lock order): no write builds a document
        // against the old mapping while the new one is installed.
        let _writes: Vec<_> = self.shards.iter().map(|s| s.write.lock()).collect();
        let _meta = self.meta_lock.lock();
        self.ensure_open()?;
        let current = self.mapping();
        current.check_update(update)?;
        let merged = current.merged(update)?;
        self.settings.read().mapping_limits().check(&merged)?;
        merged.check_analyzers(merged.analysis())?;
        self.persist_meta(Some(&merged), None)?;
        self.slot_analyzers.set(merged.slot_analyzers());
        *self.mapping.write() = Arc::new(merged);
        Ok(())
    }

    /// Installs a mapping grown by a write batch that started from `base`, merged with
    /// whatever other batches added meanwhile, and persists it.
    /// Cluster mode: where mappings grown by dynamic fields are committed first.
    pub(crate) fn set_mapping_growth(&self, growth: Arc<dyn MappingGrowth>) {
        *self.mapping_growth.write() = Some(growth);
    }

    /// Commits `grown` through the [`MappingGrowth`] hook, if there is one.
    pub(crate) fn commit_mapping_growth(&self, grown: &Mapping) -> EngineResult<()> {
        let growth = self.mapping_growth.read().clone();
        match growth {
            Some(growth) => growth.commit(self, grown),
            None => Ok(()),
        }
    }

    pub(crate) fn grow_mapping(&self, base: &Arc<Mapping>, grown: &Mapping) -> EngineResult<Arc<Mapping>> {
        let _meta = self.meta_lock.lock();
        let current = self.mapping();
        let next = if Arc::ptr_eq(&current, base) { grown.clone() } else { current.merged(grown)? };
        self.persist_meta(Some(&next), None)?;
        let next = Arc::new(next);
        self.slot_analyzers.set(next.slot_analyzers());
        *self.mapping.write() = next.clone();
        Ok(next)
    }

    /// Updates dynamic settings (PUT _settings) and persists them.
    pub fn put_settings(&self, update: &IndexSettings) -> EngineResult<()> {
        let _meta = self.meta_lock.lock();
        self.ensure_open()?;
        let mut settings = self.settings();
        settings.update(update)?;
        self.persist_meta(None, Some(&settings))?;
        *self.settings.write() = settings;
        Ok(())
    }

    fn persist_meta(&self, mapping: Option<&Mapping>, settings: Option<&IndexSettings>) -> EngineResult<()> {
        let meta = IndexMeta {
            uuid: self.uuid.clone(),
            creation_date: self.creation_date,
            settings: settings.cloned().unwrap_or_else(|| self.settings()),
            mappings: mapping.map(|m| m.to_json()).unwrap_or_else(|| self.mapping().to_json()),
            closed: self.is_closed(),
            text_slots: mapping.map(|m| m.text_slots().clone()).unwrap_or_else(|| self.mapping().text_slots().clone()),
        };
        meta.store(&self.dir.join("meta.json"))?;
        Ok(())
    }

    /// Whether the index is closed.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// The error for a read or write of a closed index.
    pub(crate) fn ensure_not_closed(&self) -> EngineResult<()> {
        if self.is_closed() {
            return Err(EngineError::IndexClosed { index: self.name.clone() });
        }
        Ok(())
    }

    /// Closes or reopens the index, durably. Closing commits outstanding writes first, so a
    /// closed index has nothing left in its write-ahead logs.
    pub(crate) fn set_closed(&self, closed: bool) -> EngineResult<()> {
        if closed && !self.is_closed() {
            self.refresh()?;
        }
        let _meta = self.meta_lock.lock();
        self.ensure_open()?;
        let was = self.closed.swap(closed, Ordering::AcqRel);
        if let Err(e) = self.persist_meta(None, None) {
            self.closed.store(was, Ordering::Release);
            return Err(e);
        }
        Ok(())
    }

    fn ensure_open(&self) -> EngineResult<()> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(EngineError::IndexNotFound { index: self.name.clone() });
        }
        Ok(())
    }

    /// Stops the writers (waits for their threads) and marks the index deleted; the caller
    /// removes the directory.
    pub(crate) fn close_for_delete(&self) {
        self.deleted.store(true, Ordering::Release);
        for shard in &self.shards {
            shard.close(&self.name);
        }
    }

    /// Commits outstanding writes (clean shutdown).
    pub(crate) fn shutdown(&self) -> EngineResult<()> {
        self.refresh()
    }

    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }
}

/// One searchable tantivy segment of a shard.
#[derive(Debug, Clone)]
pub struct SegmentInfo {
    pub shard: u32,
    /// tantivy's short segment id.
    pub id: String,
    pub docs: u64,
    /// Deleted documents the segment still holds (until a merge drops them).
    pub deleted: u64,
    /// Bytes of the segment's files.
    pub bytes: u64,
    /// Whether the last commit lists it (a segment is searchable once refreshed).
    pub committed: bool,
}

/// One shard's numbers, for `_cat/shards` and `_stats?level=shards`.
#[derive(Debug, Clone, Copy)]
pub struct ShardStats {
    pub shard: u32,
    pub docs: u64,
    pub deleted: u64,
    pub store_bytes: u64,
    pub max_seq_no: i64,
    /// Searchable tantivy segments.
    pub segments: usize,
    /// Write-ahead log bytes and the operations in it not yet committed to tantivy.
    pub wal_bytes: u64,
    pub wal_operations: u64,
    /// `_flush` requests since the shard opened.
    pub flushes: u64,
}

/// Parses a time value like `1s`, `500ms`, `2m`, or `-1` (disabled → `Ok(None)`).
fn parse_interval(v: &Value) -> Result<Option<std::time::Duration>, ()> {
    let s = match v {
        Value::String(s) => s.trim().to_string(),
        Value::Number(n) => format!("{n}ms"),
        _ => return Err(()),
    };
    if s == "-1" {
        return Ok(None);
    }
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| ())?;
    let ms = match unit {
        "ms" | "" => n,
        "s" => n * 1000.0,
        "m" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        _ => return Err(()),
    };
    Ok(Some(std::time::Duration::from_millis(ms as u64)))
}

pub(crate) fn dir_size(path: &Path) -> u64 {
    let mut total = 0;
    if let Ok(entries) = std::fs::read_dir(path) {
        for e in entries.flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => total += dir_size(&e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

pub(crate) fn now_millis() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Who an index is: cluster mode creates on every node the index one node created, under
/// the uuid and creation date the cluster recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexIdentity {
    pub uuid: String,
    /// Epoch milliseconds.
    pub creation_date: i64,
}

/// 22 URL-safe base64 characters from a random uuid (OpenSearch's uuid shape).
pub(crate) fn new_uuid() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

#[cfg(test)]
mod tests;
