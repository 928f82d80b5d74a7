//! One index: its tantivy index, mapping, settings, write-ahead log and the realtime view of
//! documents written since the last commit.
//!
//! Visibility model: tantivy only shows committed segments, so a *refresh* is a tantivy commit
//! followed by a reader reload (done in the background every `refresh_interval_ms`, on
//! `?refresh=true|wait_for`, `_refresh` and `_flush`). Each commit also truncates the WAL.
//! GET by id is realtime: documents written since the last commit are served from the
//! in-memory `live` map.

pub mod meta;
pub mod schema;
mod write;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};

use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};
use tantivy::directory::MmapDirectory;
use tantivy::schema::{IndexRecordOption, Value as _};
use tantivy::{DocAddress, DocSet, IndexReader, IndexWriter, ReloadPolicy, Searcher, TERMINATED, TantivyDocument, Term};

pub use self::meta::{IndexMeta, IndexSettings};
pub use self::schema::IndexFields;
pub use self::write::{OpType, Refresh, UpdateRequest, WriteOp, WriteOutcome, WriteResult};

use crate::EngineConfig;
use crate::document::DocMeta;
use crate::error::{EngineError, EngineResult};
use crate::mapping::Mapping;
use crate::wal::{Wal, WalOp};

/// A document as stored (or as last written, for realtime GET).
#[derive(Debug, Clone)]
pub struct StoredDoc {
    pub id: String,
    pub meta: DocMeta,
    /// The `_source` JSON bytes.
    pub source: Arc<[u8]>,
}

impl StoredDoc {
    /// `_source` parsed as JSON (`Value::Null` if the stored bytes are somehow not JSON).
    pub fn source_json(&self) -> Value {
        serde_json::from_slice(&self.source).unwrap_or(Value::Null)
    }
}

/// A document written since the last commit: its latest version, or a tombstone.
#[derive(Debug, Clone)]
pub(crate) struct LiveDoc {
    pub meta: DocMeta,
    /// `None` = deleted.
    pub source: Option<Arc<[u8]>>,
}

pub(crate) struct WriteState {
    /// `None` once the index is deleted.
    writer: Option<IndexWriter>,
    wal: Wal,
    next_seq_no: i64,
    /// Ops applied to the writer but not yet committed.
    uncommitted: usize,
    last_commit: std::time::Instant,
}

/// Primary term: a single node never fails over, so it stays 1.
pub const PRIMARY_TERM: i64 = 1;

/// An open index. Shared as `Arc<Index>`; cheap to clone the handles it gives out.
pub struct Index {
    name: String,
    uuid: String,
    creation_date: i64,
    dir: PathBuf,
    settings: RwLock<IndexSettings>,
    mapping: RwLock<Arc<Mapping>>,
    tantivy: tantivy::Index,
    reader: IndexReader,
    fields: IndexFields,
    write: Mutex<WriteState>,
    live: RwLock<HashMap<String, LiveDoc>>,
    deleted: AtomicBool,
    /// Writes applied since the last commit (cheap check without the write lock).
    dirty: AtomicBool,
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
    /// Creates a new index directory (`meta.json`, `tantivy/`, `wal/`).
    pub(crate) fn create(
        dir: &Path,
        name: &str,
        settings: IndexSettings,
        mapping: Mapping,
        config: &EngineConfig,
    ) -> anyhow::Result<Index> {
        std::fs::create_dir_all(dir.join("tantivy"))?;
        let (schema, _) = schema::build_schema();
        tantivy::Index::create_in_dir(dir.join("tantivy"), schema)?;
        let meta = IndexMeta {
            uuid: new_uuid(),
            creation_date: now_millis(),
            settings,
            mappings: mapping.to_json(),
        };
        // meta.json last: an index directory without it is an aborted creation.
        meta.store(&dir.join("meta.json"))?;
        Index::open(dir, name, config)
    }

    /// Opens an existing index and replays its write-ahead log.
    pub(crate) fn open(dir: &Path, name: &str, config: &EngineConfig) -> anyhow::Result<Index> {
        let meta = IndexMeta::load(&dir.join("meta.json"))?;
        let mapping = Mapping::parse(&meta.mappings)
            .map_err(|e| anyhow::anyhow!("invalid mappings in meta.json: {e}"))?;
        let tantivy = tantivy::Index::open(MmapDirectory::open(dir.join("tantivy"))?)?;
        let fields = schema::fields_of(&tantivy.schema())?;
        let threads = config.indexing_threads();
        let writer: IndexWriter =
            tantivy.writer_with_num_threads(threads, config.writer_memory_bytes().max(threads * 16_000_000))?;
        let reader = tantivy.reader_builder().reload_policy(ReloadPolicy::Manual).try_into()?;
        let committed_seq_no = committed_seq_no(&tantivy)?;
        let (wal, ops) = Wal::open(&dir.join("wal"))?;
        let index = Index {
            name: name.to_string(),
            uuid: meta.uuid,
            creation_date: meta.creation_date,
            dir: dir.to_path_buf(),
            settings: RwLock::new(meta.settings),
            mapping: RwLock::new(Arc::new(mapping)),
            tantivy,
            reader,
            fields,
            write: Mutex::new(WriteState { writer: Some(writer), wal, next_seq_no: committed_seq_no + 1, uncommitted: 0, last_commit: std::time::Instant::now() }),
            live: RwLock::new(HashMap::new()),
            deleted: AtomicBool::new(false),
            dirty: AtomicBool::new(false),
            last_search_ms: AtomicI64::new(i64::MIN),
            search_idle_after_ms: config.search_idle_after_ms as i64,
            flush_threshold_bytes: config.flush_threshold_mb * 1_000_000,
        };
        index.replay(ops, committed_seq_no)?;
        Ok(index)
    }

    /// Re-applies logged ops above the last committed `_seq_no`, then commits them.
    fn replay(&self, ops: Vec<WalOp>, committed: i64) -> anyhow::Result<()> {
        let mut st = self.write.lock();
        let mapping = self.mapping();
        let mut replayed = 0usize;
        for op in ops {
            if op.seq_no() <= committed {
                continue;
            }
            st.next_seq_no = st.next_seq_no.max(op.seq_no() + 1);
            let writer = st.writer.as_mut().ok_or_else(|| anyhow::anyhow!("index closed"))?;
            match op {
                WalOp::Index { seq_no, version, primary_term, id, source } => {
                    let meta = DocMeta { seq_no, version, primary_term };
                    let doc = match write::build_doc(&mapping, &self.fields, &id, &source) {
                        Ok((mut doc, _)) => {
                            crate::document::add_meta(&mut doc, &self.fields, meta);
                            doc
                        }
                        Err(e) => {
                            tracing::error!(index = %self.name, id, "cannot replay logged document: {e}");
                            continue;
                        }
                    };
                    writer.delete_term(Term::from_field_text(self.fields.id, &id));
                    writer.add_document(doc)?;
                }
                WalOp::Delete { id, .. } => {
                    writer.delete_term(Term::from_field_text(self.fields.id, &id));
                }
            }
            replayed += 1;
        }
        st.uncommitted += replayed;
        if replayed > 0 {
            tracing::info!(index = %self.name, ops = replayed, "replayed write-ahead log");
        }
        self.commit_locked(&mut st)?;
        Ok(())
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

    /// A searcher over the last refresh (commit). Documents written after it are not visible
    /// until the next refresh — except on a *search-idle* index (no `refresh_interval` set and
    /// no search for `search_idle_after_ms`): there scheduled refreshes are skipped, so this
    /// call refreshes first, like OpenSearch. May block on the write lock; call it from
    /// blocking code.
    pub fn searcher(&self) -> Searcher {
        let now = now_millis();
        let previous = self.last_search_ms.swap(now, Ordering::Relaxed);
        let was_idle = now.saturating_sub(previous) > self.search_idle_after_ms;
        if was_idle && self.dirty.load(Ordering::Acquire) && !self.has_explicit_refresh_interval() {
            if let Err(e) = self.refresh() {
                tracing::error!(index = %self.name, "refresh of a search-idle index failed: {e}");
            }
        }
        self.reader.searcher()
    }

    /// The committed searcher, without search-idle bookkeeping (GET, version checks, stats).
    fn committed_searcher(&self) -> Searcher {
        self.reader.searcher()
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

    /// The underlying tantivy index (schema, tokenizers).
    pub fn tantivy_index(&self) -> &tantivy::Index {
        &self.tantivy
    }

    /// Reads the stored id, versioning metadata and `_source` of a search hit.
    pub fn read_stored(&self, searcher: &Searcher, addr: DocAddress) -> EngineResult<StoredDoc> {
        let doc: TantivyDocument = searcher.doc(addr)?;
        let f = &self.fields;
        let id = doc.get_first(f.id).and_then(|v| v.as_str()).unwrap_or_default().to_string();
        let source: Arc<[u8]> = doc.get_first(f.source).and_then(|v| v.as_bytes()).unwrap_or(b"{}").into();
        let int = |field| doc.get_first(field).and_then(|v| v.as_i64()).unwrap_or(0);
        Ok(StoredDoc {
            id,
            meta: DocMeta { seq_no: int(f.seq_no), version: int(f.version), primary_term: int(f.primary_term) },
            source,
        })
    }

    /// Address of the live (not deleted) committed document with this id.
    fn find_committed(&self, searcher: &Searcher, id: &str) -> EngineResult<Option<DocAddress>> {
        let term = Term::from_field_text(self.fields.id, id);
        for (ord, segment) in searcher.segment_readers().iter().enumerate() {
            let inverted = segment.inverted_index(self.fields.id)?;
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
    pub fn get(&self, id: &str) -> EngineResult<Option<StoredDoc>> {
        if let Some(live) = self.live.read().get(id) {
            return Ok(live.source.clone().map(|source| StoredDoc { id: id.to_string(), meta: live.meta, source }));
        }
        // The reader is reloaded before the live map is cleared, so a miss above means the
        // committed searcher has the document (or it does not exist).
        let searcher = self.committed_searcher();
        match self.find_committed(&searcher, id)? {
            Some(addr) => Ok(Some(self.read_stored(&searcher, addr)?)),
            None => Ok(None),
        }
    }

    /// Latest state including tombstones (for version checks), under the write lock.
    fn current(&self, id: &str) -> EngineResult<Option<LiveDoc>> {
        if let Some(live) = self.live.read().get(id) {
            return Ok(Some(live.clone()));
        }
        let searcher = self.committed_searcher();
        match self.find_committed(&searcher, id)? {
            Some(addr) => {
                let d = self.read_stored(&searcher, addr)?;
                Ok(Some(LiveDoc { meta: d.meta, source: Some(d.source) }))
            }
            None => Ok(None),
        }
    }

    /// Makes everything written so far searchable (tantivy commit + reader reload) and
    /// truncates the WAL. `_refresh` and `_flush` both end up here.
    pub fn refresh(&self) -> EngineResult<()> {
        let mut st = self.write.lock();
        self.commit_locked(&mut st)
    }

    /// Commits if anything was written since the last commit and the index's
    /// `refresh_interval` has elapsed (background committer). With `refresh_interval: -1`
    /// only a large WAL forces a commit (OpenSearch's translog flush threshold).
    pub(crate) fn refresh_if_dirty(&self) -> EngineResult<()> {
        if !self.dirty.load(Ordering::Acquire) {
            return Ok(());
        }
        let interval = self.settings.read().values.get("refresh_interval").map(parse_interval);
        let idle = interval.is_none() && self.is_search_idle();
        let mut st = self.write.lock();
        if st.uncommitted == 0 {
            return Ok(());
        }
        let big_wal = st.wal.size_bytes() > self.flush_threshold_bytes;
        let due = match interval {
            // Search-idle (OpenSearch's `index.search.idle.after`): skip scheduled refreshes;
            // the next search refreshes. Still commit when the WAL grows large.
            None if idle => big_wal,
            // Not set, or unparseable: every committer tick (the engine's refresh_interval_ms).
            None | Some(Err(())) => true,
            Some(Ok(Some(every))) => big_wal || st.last_commit.elapsed() >= every,
            Some(Ok(None)) => big_wal,
        };
        if !due {
            return Ok(());
        }
        self.commit_locked(&mut st)
    }

    fn commit_locked(&self, st: &mut WriteState) -> EngineResult<()> {
        if st.uncommitted == 0 && st.wal.size_bytes() == 0 {
            return Ok(());
        }
        let Some(writer) = st.writer.as_mut() else { return Ok(()) };
        let payload = json!({ "max_seq_no": st.next_seq_no - 1 }).to_string();
        let mut prepared = writer.prepare_commit()?;
        prepared.set_payload(&payload);
        prepared.commit()?;
        self.reader.reload()?;
        // Reader first, then the live map: a GET that misses the map finds the new searcher.
        self.live.write().clear();
        st.wal.truncate()?;
        st.uncommitted = 0;
        st.last_commit = std::time::Instant::now();
        self.dirty.store(false, Ordering::Release);
        Ok(())
    }

    /// Number of documents visible to search, and of deleted-but-not-merged ones.
    pub fn doc_counts(&self) -> (u64, u64) {
        let searcher = self.committed_searcher();
        let live = searcher.num_docs();
        let total: u64 = searcher.segment_readers().iter().map(|s| s.max_doc() as u64).sum();
        (live, total - live)
    }

    /// Bytes on disk (tantivy files + WAL + meta.json).
    pub fn store_size_bytes(&self) -> u64 {
        dir_size(&self.dir)
    }

    /// `_seq_no` of the newest acknowledged write (-1 if none).
    pub fn max_seq_no(&self) -> i64 {
        self.write.lock().next_seq_no - 1
    }

    /// Replaces the mapping with `update` merged in (PUT _mapping) and persists it.
    pub fn put_mapping(&self, update: &Mapping) -> EngineResult<()> {
        let _st = self.write.lock();
        self.ensure_open()?;
        let merged = self.mapping().merged(update)?;
        self.persist_meta(Some(&merged), None)?;
        *self.mapping.write() = Arc::new(merged);
        Ok(())
    }

    /// Updates dynamic settings (PUT _settings) and persists them.
    pub fn put_settings(&self, update: &IndexSettings) -> EngineResult<()> {
        let _st = self.write.lock();
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
        };
        meta.store(&self.dir.join("meta.json"))?;
        Ok(())
    }

    fn ensure_open(&self) -> EngineResult<()> {
        if self.deleted.load(Ordering::Acquire) {
            return Err(EngineError::IndexNotFound { index: self.name.clone() });
        }
        Ok(())
    }

    /// Stops the writer (waits for its threads) and marks the index deleted; the caller
    /// removes the directory.
    pub(crate) fn close_for_delete(&self) {
        let mut st = self.write.lock();
        self.deleted.store(true, Ordering::Release);
        if let Some(writer) = st.writer.take() {
            if let Err(e) = writer.wait_merging_threads() {
                tracing::warn!(index = %self.name, "stopping writer: {e}");
            }
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

fn committed_seq_no(index: &tantivy::Index) -> anyhow::Result<i64> {
    let metas = index.load_metas()?;
    Ok(metas
        .payload
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
        .and_then(|v| v.get("max_seq_no").and_then(Value::as_i64))
        .unwrap_or(-1))
}

fn dir_size(path: &Path) -> u64 {
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

/// 22 URL-safe base64 characters from a random uuid (OpenSearch's uuid shape).
pub(crate) fn new_uuid() -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(uuid::Uuid::new_v4().as_bytes())
}

#[cfg(test)]
mod tests;
