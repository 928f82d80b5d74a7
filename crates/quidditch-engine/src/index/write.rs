//! The write path: index / create / update / delete, one op or a `_bulk` batch.
//!
//! Under the index's write lock a batch is (1) validated op by op against the latest state
//! (versions, `if_seq_no`, `op_type=create`) and the mapping (coercion, dynamic fields),
//! (2) the grown mapping is persisted if the batch added fields, (3) the batch's log records
//! are appended to the WAL with one fsync, and only then (4) applied to the tantivy writer
//! and the realtime `live` map. An op that fails validation gets its own error; the others
//! still apply. Nothing is acknowledged before step 3 returns.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use tantivy::Term;
use tantivy::indexer::UserOperation;

use super::shard::Shard;
use super::{Index, LiveDoc, WriteState};
use crate::document::{DocBlock, DocMeta, add_meta, nested_parent_term, parse_document, to_tantivy};
use crate::error::{EngineError, EngineResult};
use crate::index::schema::IndexFields;
use crate::mapping::{Mapping, MappingLimits};
use crate::wal::WalOp;

/// Largest document id, in bytes (OpenSearch's limit).
pub const MAX_ID_BYTES: usize = 512;

/// `op_type` of an index request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpType {
    /// Create or replace.
    Index,
    /// Fail with 409 if the id exists.
    Create,
}

/// `?refresh=`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Refresh {
    #[default]
    False,
    True,
    WaitFor,
}

impl Refresh {
    /// Parses the query parameter (`""` and `"true"` mean true, like OpenSearch).
    pub fn parse(s: Option<&str>) -> EngineResult<Refresh> {
        match s {
            None | Some("false") => Ok(Refresh::False),
            Some("") | Some("true") => Ok(Refresh::True),
            Some("wait_for") => Ok(Refresh::WaitFor),
            Some(other) => Err(EngineError::IllegalArgument(format!(
                "Unknown value for refresh: [{other}]."
            ))),
        }
    }
}

/// `version_type` of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionType {
    /// The engine counts versions (1, 2, ...); a write may not name one.
    Internal,
    /// The client's versions: a write's must be above the document's.
    External,
    /// Like `External`, but a write may also repeat the document's version.
    ExternalGte,
}

/// OpenSearch's `Versions.MATCH_ANY`: no `version` given.
const MATCH_ANY: i64 = -3;
/// OpenSearch's `Versions.MATCH_DELETED`.
const MATCH_DELETED: i64 = -4;

impl VersionType {
    /// Parses `version_type` (`external_gt` is OpenSearch's old name for `external`).
    pub fn parse(value: &str) -> EngineResult<VersionType> {
        match value {
            "internal" => Ok(VersionType::Internal),
            "external" | "external_gt" => Ok(VersionType::External),
            "external_gte" => Ok(VersionType::ExternalGte),
            other => Err(EngineError::IllegalArgument(format!("No version type match [{other}]"))),
        }
    }

    /// The name OpenSearch's messages use.
    fn name(self) -> &'static str {
        match self {
            VersionType::Internal => "INTERNAL",
            VersionType::External => "EXTERNAL",
            VersionType::ExternalGte => "EXTERNAL_GTE",
        }
    }

    fn valid_for_writes(self, version: i64) -> bool {
        match self {
            VersionType::Internal => version > 0 || version == MATCH_ANY || version == MATCH_DELETED,
            VersionType::External | VersionType::ExternalGte => version >= 0,
        }
    }
}

/// Which write a `version` / `version_type` pair comes with (their rules differ).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionedWrite {
    /// Index (`op_type=index`), with or without an id.
    Index { has_id: bool },
    /// `op_type=create`, `_create`, or `POST /{index}/_doc` without `op_type`.
    Create,
    Delete,
    Update,
}

/// A write's `version_type=external|external_gte` version: the write conflicts (409) unless
/// it is above (`external`) or at least (`external_gte`) the document's current version,
/// deleted documents included, and it becomes the document's new version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExternalVersion {
    pub version: i64,
    pub gte: bool,
}

impl ExternalVersion {
    /// Validates a write's `version` / `version_type` (and whether it has `if_seq_no`) as
    /// OpenSearch's request validation does: internal versioning refuses an explicit version
    /// (that is what `if_seq_no` is for), create and update take no versioning, and an
    /// external version needs an id and a value >= 0. `None`: internal versioning.
    pub fn for_write(
        write: VersionedWrite,
        version: Option<i64>,
        version_type: Option<VersionType>,
        compare_and_set: bool,
    ) -> EngineResult<Option<ExternalVersion>> {
        let version_type = version_type.unwrap_or(VersionType::Internal);
        let version = version.unwrap_or(MATCH_ANY);
        let mut errors: Vec<String> = Vec::new();
        match write {
            VersionedWrite::Create => {
                if version_type != VersionType::Internal {
                    errors.push("create operations only support internal versioning. use index instead".into());
                } else if version != MATCH_ANY && version != MATCH_DELETED {
                    errors.push("create operations do not support explicit versions. use index instead".into());
                }
                return validation(errors).map(|_| None);
            }
            VersionedWrite::Update if version_type != VersionType::Internal => {
                errors.push(format!("version type [{}] is not supported by the update API", version_type.name()));
            }
            VersionedWrite::Index { has_id: false }
                if version_type != VersionType::Internal || (version != MATCH_ANY && version != MATCH_DELETED) =>
            {
                errors.push("an id must be provided if version type or value are set".into());
            }
            _ => {}
        }
        if !version_type.valid_for_writes(version) {
            errors.push(format!("illegal version value [{version}] for version type [{}]", version_type.name()));
        }
        if version_type == VersionType::Internal && version != MATCH_ANY && version != MATCH_DELETED {
            errors.push(
                "internal versioning can not be used for optimistic concurrency control. Please use `if_seq_no` and `if_primary_term` instead"
                    .into(),
            );
        }
        if compare_and_set && (version_type != VersionType::Internal || version != MATCH_ANY) {
            errors.push("compare and write operations can not use versioning".into());
        }
        validation(errors)?;
        Ok(match version_type {
            VersionType::Internal => None,
            VersionType::External => Some(ExternalVersion { version, gte: false }),
            VersionType::ExternalGte => Some(ExternalVersion { version, gte: true }),
        })
    }

    /// The conflict reason against the document's current version (`None`: never written).
    fn conflict(&self, current: Option<i64>) -> Option<String> {
        let current = current?;
        if self.gte && current > self.version {
            Some(format!("current version [{current}] is higher than the one provided [{}]", self.version))
        } else if !self.gte && current >= self.version {
            Some(format!("current version [{current}] is higher or equal to the one provided [{}]", self.version))
        } else {
            None
        }
    }
}

/// OpenSearch lists every validation error of a request: "1: a;2: b".
fn validation(errors: Vec<String>) -> EngineResult<()> {
    if errors.is_empty() {
        return Ok(());
    }
    let joined = errors.iter().enumerate().map(|(i, e)| if i == 0 { e.clone() } else { format!("{}: {e}", i + 1) }).collect::<Vec<_>>();
    Err(EngineError::Validation(joined.join(";")))
}

/// The body of `POST /{index}/_update/{id}`.
#[derive(Debug, Clone, Default)]
pub struct UpdateRequest {
    /// Partial document merged into the existing source.
    pub doc: Option<Value>,
    /// Document to index when the id does not exist.
    pub upsert: Option<Value>,
    /// Use `doc` as the upsert document.
    pub doc_as_upsert: bool,
    /// Report `noop` (and write nothing) when the merge changes nothing. Default true.
    pub detect_noop: bool,
}

/// One write.
#[derive(Debug, Clone)]
pub enum WriteOp {
    Index {
        /// `None`: generate an id.
        id: Option<String>,
        /// The JSON source as received.
        source: Vec<u8>,
        op_type: OpType,
        if_seq_no: Option<i64>,
        if_primary_term: Option<i64>,
        /// `version_type=external[_gte]` (see [`ExternalVersion::for_write`]).
        version: Option<ExternalVersion>,
    },
    Delete { id: String, if_seq_no: Option<i64>, if_primary_term: Option<i64>, version: Option<ExternalVersion> },
    Update { id: String, request: UpdateRequest, if_seq_no: Option<i64>, if_primary_term: Option<i64> },
}

/// The `result` of a write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteOutcome {
    Created,
    Updated,
    Deleted,
    NotFound,
    Noop,
}

impl WriteOutcome {
    pub fn as_str(self) -> &'static str {
        match self {
            WriteOutcome::Created => "created",
            WriteOutcome::Updated => "updated",
            WriteOutcome::Deleted => "deleted",
            WriteOutcome::NotFound => "not_found",
            WriteOutcome::Noop => "noop",
        }
    }

    /// HTTP status of a successful op (201 created, 404 delete of a missing doc, else 200).
    pub fn status(self) -> u16 {
        match self {
            WriteOutcome::Created => 201,
            WriteOutcome::NotFound => 404,
            _ => 200,
        }
    }
}

/// The acknowledged result of one op.
#[derive(Debug, Clone)]
pub struct WriteResult {
    pub id: String,
    pub meta: DocMeta,
    pub outcome: WriteOutcome,
    /// The document's source after the write (index and update), for `_update`'s `get`.
    pub source: Option<Arc<[u8]>>,
    /// The write was followed by a refresh because of `?refresh=true`.
    pub forced_refresh: bool,
    /// The shard copies that have the write: the primary, and the replicas it reached
    /// (`_shards.successful`).
    pub copies: u32,
}

pub(crate) enum Pending {
    Add { id: String, doc: DocBlock, replace: bool },
    Delete { id: String },
}

/// Builds the tantivy document for a source, without versioning fields (also used by WAL
/// replay). Returns the updated mapping when the source adds fields.
pub(crate) fn build_doc(
    mapping: &Mapping,
    fields: &IndexFields,
    id: &str,
    source: &[u8],
) -> EngineResult<(DocBlock, Option<Mapping>)> {
    let value: Value = serde_json::from_slice(source).map_err(|e| {
        EngineError::MapperParsing(format!("failed to parse: {e} (document with id '{id}')"))
    })?;
    let (parsed, updated) = parse_document(mapping, &value, id)?;
    Ok((to_tantivy(fields, id, source, parsed), updated))
}

/// A fresh 20-character id (URL-safe base64 of 15 random bytes), like OpenSearch's.
pub fn generate_id() -> String {
    use base64::Engine as _;
    let bytes = uuid::Uuid::new_v4();
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes.as_bytes()[..15])
}

fn validate_id(id: &str) -> EngineResult<()> {
    if id.is_empty() {
        return Err(EngineError::IllegalArgument("if _id is specified it must not be empty".into()));
    }
    if id.len() > MAX_ID_BYTES {
        // OpenSearch echoes the whole id; a (possibly huge) input is echoed truncated here.
        let shown: String = id.chars().take(100).collect();
        return Err(EngineError::Validation(format!(
            "id [{shown}...] is too long, must be no longer than {MAX_ID_BYTES} bytes but was: {}",
            id.len()
        )));
    }
    Ok(())
}

/// Deep-merges `patch` into `base` (objects recursively, everything else replaced).
/// Returns whether anything changed.
pub fn merge_json(base: &mut Value, patch: &Value) -> bool {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            let mut changed = false;
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => {
                        changed |= merge_json(existing, v);
                    }
                    Some(existing) => {
                        if existing != v {
                            *existing = v.clone();
                            changed = true;
                        }
                    }
                    None => {
                        b.insert(k.clone(), v.clone());
                        changed = true;
                    }
                }
            }
            changed
        }
        (b, p) => {
            let changed = b != p;
            *b = p.clone();
            changed
        }
    }
}

struct Batch<'a> {
    index: &'a Index,
    shard: &'a Shard,
    /// Checked whenever a document grows the mapping.
    limits: MappingLimits,
    mapping: Arc<Mapping>,
    mapping_changed: bool,
    /// State of ids touched earlier in this batch.
    overlay: HashMap<String, LiveDoc>,
    wal: Vec<WalOp>,
    pending: Vec<Pending>,
}

/// An index op whose document was parsed and built before taking the write lock, so
/// concurrent requests do that CPU work in parallel.
struct Prepared {
    op: WriteOp,
    /// The request's `routing`, if any (else the id routes).
    routing: Option<String>,
    /// For `WriteOp::Index`: the id (generated if absent), the source, and the document
    /// built against the mapping snapshot — `Ok(None)` when it must be rebuilt under the lock
    /// because it adds fields.
    built: Option<(String, bool, Arc<[u8]>, EngineResult<Option<DocBlock>>)>,
}

/// Hands staged ops to tantivy. In an index with `nested` fields (`has_nested`) a document
/// is a block (its hidden nested documents, then itself) added as one group, and deleting or
/// replacing it deletes its nested documents too.
pub(crate) fn add_pending(writer: &mut tantivy::IndexWriter, fields: &IndexFields, pending: Vec<Pending>, has_nested: bool) -> EngineResult<()> {
    for p in pending {
        match p {
            Pending::Add { id, doc, replace } => add_block(writer, fields, &id, doc, replace, has_nested)?,
            Pending::Delete { id } => delete_block(writer, fields, &id, has_nested),
        }
    }
    Ok(())
}

/// Adds one document's block, replacing the document `id` first when `replace`.
pub(crate) fn add_block(
    writer: &mut tantivy::IndexWriter,
    fields: &IndexFields,
    id: &str,
    doc: DocBlock,
    replace: bool,
    has_nested: bool,
) -> tantivy::Result<()> {
    if !has_nested && doc.nested.is_empty() {
        if replace {
            writer.delete_term(Term::from_field_text(fields.id, id));
        }
        writer.add_document(doc.root)?;
        return Ok(());
    }
    let mut ops = Vec::with_capacity(doc.nested.len() + 3);
    if replace {
        ops.push(UserOperation::Delete(Term::from_field_text(fields.id, id)));
        ops.push(UserOperation::Delete(Term::from_field_text(fields.field_names, &nested_parent_term(id))));
    }
    ops.extend(doc.nested.into_iter().map(UserOperation::Add));
    ops.push(UserOperation::Add(doc.root));
    writer.run(ops)?;
    Ok(())
}

/// Deletes the document `id` (and its nested documents).
pub(crate) fn delete_block(writer: &mut tantivy::IndexWriter, fields: &IndexFields, id: &str, has_nested: bool) {
    writer.delete_term(Term::from_field_text(fields.id, id));
    if has_nested {
        writer.delete_term(Term::from_field_text(fields.field_names, &nested_parent_term(id)));
    }
}

/// Batches at least this large are parsed on several threads.
const PARALLEL_PREPARE_MIN_OPS: usize = 512;
/// Ops one preparation task takes at a time (amortises the pool's scheduling).
const PREPARE_CHUNK_OPS: usize = 128;

/// The node's document-preparation pool: one thread per core (at most 4), shared by every
/// write. Long-lived threads matter here: a document is a few dozen small allocations, and
/// threads spawned per request start with cold allocator caches (measured: most of the
/// preparation time went to `malloc` on them).
fn prepare_pool() -> &'static rayon::ThreadPool {
    static POOL: std::sync::OnceLock<rayon::ThreadPool> = std::sync::OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).min(4);
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("quidditch-prepare-{i}"))
            .build()
            .expect("document preparation thread pool")
    })
}

impl Index {
    /// Parses and builds the documents of a batch, on the preparation pool's threads for
    /// large batches (a single `_bulk` client should not be limited to one core).
    fn prepare_all(&self, ops: Vec<(WriteOp, Option<String>)>, mapping: &Mapping) -> EngineResult<Vec<Prepared>> {
        use rayon::prelude::*;
        if ops.len() < PARALLEL_PREPARE_MIN_OPS || prepare_pool().current_num_threads() < 2 {
            return Ok(ops.into_iter().map(|(op, routing)| self.prepare_outside_lock(op, routing, mapping)).collect());
        }
        let prepare = || {
            ops.into_par_iter()
                .with_min_len(PREPARE_CHUNK_OPS)
                .map(|(op, routing)| self.prepare_outside_lock(op, routing, mapping))
                .collect::<Vec<_>>()
        };
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| prepare_pool().install(prepare)))
            .map_err(|_| EngineError::internal("document preparation thread panicked"))
    }

    fn prepare_outside_lock(&self, op: WriteOp, routing: Option<String>, mapping: &Mapping) -> Prepared {
        let WriteOp::Index { id, source, .. } = &op else { return Prepared { op, routing, built: None } };
        let (id, generated) = match id {
            Some(id) => (id.clone(), false),
            None => (generate_id(), true),
        };
        let source: Arc<[u8]> = source.as_slice().into();
        let doc = validate_id(&id).and_then(|_| {
            let (doc, updated) = build_doc(mapping, &self.fields, &id, &source)?;
            Ok(if updated.is_some() { None } else { Some(doc) })
        });
        Prepared { op, routing, built: Some((id, generated, source, doc)) }
    }

    /// Applies a batch of writes, each routed by its id. The outer error is for the whole
    /// request (index deleted, WAL failure); inner results are per op, in order.
    pub fn write(&self, ops: Vec<WriteOp>, refresh: Refresh) -> EngineResult<Vec<EngineResult<WriteResult>>> {
        self.write_routed(ops.into_iter().map(|op| (op, None)).collect(), refresh)
    }

    /// [`Index::write`] with a `routing` value per op (`None`: the id routes). Ops go to
    /// their shards in groups, one write-lock section per shard; a shard whose WAL fails
    /// fails its own ops only.
    pub fn write_routed(
        &self,
        ops: Vec<(WriteOp, Option<String>)>,
        refresh: Refresh,
    ) -> EngineResult<Vec<EngineResult<WriteResult>>> {
        self.ensure_open()?;
        self.ensure_not_closed()?;
        let n = ops.len();
        let mut results: Vec<Option<EngineResult<WriteResult>>> = (0..n).map(|_| None).collect();
        // `_routing.required`: an op without routing fails alone (a `_bulk` item, or the request).
        let routing_required = self.mapping().routing_required();
        let mut kept_positions = Vec::with_capacity(n);
        let mut kept = Vec::with_capacity(n);
        for (pos, (op, routing)) in ops.into_iter().enumerate() {
            if routing_required && routing.is_none() {
                let id = op_id(&op).unwrap_or("_na_").to_string();
                results[pos] = Some(Err(EngineError::RoutingMissing { index: self.name.clone(), id }));
            } else {
                kept_positions.push(pos);
                kept.push((op, routing));
            }
        }
        let snapshot = self.mapping();
        let prepared = self.prepare_all(kept, &snapshot)?;
        if self.shards.len() == 1 && kept_positions.len() == n {
            return self.write_shard(&self.shards[0], &snapshot, prepared, refresh);
        }
        let mut groups: Vec<(Vec<usize>, Vec<Prepared>)> = (0..self.shards.len()).map(|_| (Vec::new(), Vec::new())).collect();
        for (pos, p) in kept_positions.into_iter().zip(prepared) {
            let shard = self.routing.shard_for(p.routing_value()) as usize;
            groups[shard].0.push(pos);
            groups[shard].1.push(p);
        }
        for (shard, (positions, group)) in self.shards.iter().zip(groups) {
            if group.is_empty() {
                continue;
            }
            match self.write_shard(shard, &snapshot, group, refresh) {
                Ok(rs) => {
                    for (pos, r) in positions.into_iter().zip(rs) {
                        results[pos] = Some(r);
                    }
                }
                // The index is gone: the whole request fails, as on one shard.
                Err(e @ EngineError::IndexNotFound { .. }) => return Err(e),
                // No index writer to be had (node busy): this shard's ops are rejected (429).
                Err(EngineError::Rejected(reason)) => {
                    for pos in positions {
                        results[pos] = Some(Err(EngineError::Rejected(reason.clone())));
                    }
                }
                Err(e) => {
                    let reason = e.to_string();
                    for pos in positions {
                        results[pos] = Some(Err(EngineError::internal(reason.clone())));
                    }
                }
            }
        }
        Ok(results.into_iter().map(|r| r.unwrap_or_else(|| Err(EngineError::internal("op was not applied")))).collect())
    }

    /// Applies ops that all belong to `shard`, under its write lock.
    fn write_shard(
        &self,
        shard: &Shard,
        snapshot: &Arc<Mapping>,
        prepared: Vec<Prepared>,
        refresh: Refresh,
    ) -> EngineResult<Vec<EngineResult<WriteResult>>> {
        let mut st = shard.write.lock();
        self.ensure_open()?;
        self.ensure_primary(shard)?;
        // Before anything is logged: a write that cannot get a writer is rejected whole.
        shard.ensure_writer(&mut st, &self.me)?;
        let mapping = self.mapping();
        // The mapping changed while we were parsing (another request added fields): the
        // prebuilt documents may miss fields that are mapped now. Rebuild them.
        let stale = !Arc::ptr_eq(snapshot, &mapping);
        let base = mapping.clone();
        let mut batch = Batch {
            index: self,
            shard,
            limits: self.settings.read().mapping_limits(),
            mapping,
            mapping_changed: false,
            overlay: HashMap::with_capacity(prepared.len()),
            wal: Vec::with_capacity(prepared.len()),
            pending: Vec::with_capacity(prepared.len()),
        };
        let mut results: Vec<EngineResult<WriteResult>> = Vec::with_capacity(prepared.len());
        for p in prepared {
            results.push(batch.prepare(&mut st, p, stale));
        }
        let Batch { mapping, mapping_changed, overlay, wal, pending, .. } = batch;

        if mapping_changed {
            if let Err(e) = self.commit_mapping_growth(&mapping) {
                // Nothing of this batch is logged: the ops that were to apply fail with it.
                for r in results.iter_mut() {
                    if r.is_ok() {
                        *r = Err(e.same_again());
                    }
                }
                return Ok(results);
            }
            self.grow_mapping(&base, &mapping)?;
        }
        if let Err(e) = st.wal.write(&wal) {
            // Nothing of this batch is acknowledged; sequence numbers just have a gap.
            return Err(EngineError::internal(format!("write-ahead log append failed: {e}")));
        }
        let n = pending.len();
        let has_nested = mapping.has_nested();
        let WriteState { writer, wal: log, uncommitted, .. } = &mut *st;
        let writer = writer.as_mut().ok_or_else(|| EngineError::IndexNotFound { index: self.name.clone() })?;
        let log: &crate::wal::Wal = log;
        // The fsync runs while the documents go to tantivy's indexing threads (a large batch
        // would otherwise leave them idle for the whole fsync). Nothing is acknowledged, and
        // the realtime map is not updated, unless the fsync succeeds; documents of a batch
        // whose fsync failed may still become visible at the next commit (not acknowledged
        // is not the same as absent).
        let (synced, added) = if n >= 64 {
            std::thread::scope(|s| {
                let sync = s.spawn(|| log.sync());
                let added = add_pending(writer, &self.fields, pending, has_nested);
                let synced = sync.join().unwrap_or_else(|_| Err(std::io::Error::other("fsync thread panicked")));
                (synced, added)
            })
        } else {
            let synced = log.sync();
            let added = if synced.is_ok() { add_pending(writer, &self.fields, pending, has_nested) } else { Ok(()) };
            (synced, added)
        };
        *uncommitted += n;
        if n > 0 {
            shard.dirty.store(true, std::sync::atomic::Ordering::Release);
        }
        if let Err(e) = synced {
            return Err(EngineError::internal(format!("write-ahead log fsync failed: {e}")));
        }
        added?;
        shard.live.write().extend(overlay);
        if refresh != Refresh::False {
            let mapping = self.mapping();
            shard.commit_locked(&mut st, &self.commit_context(&mapping))?;
            if refresh == Refresh::True {
                for r in results.iter_mut().flatten() {
                    r.forced_refresh = true;
                }
            }
        }
        // Durable here; acknowledged only once the shard's other in-sync copies have it too.
        // Sent in write order (the order lock is taken before the write lock is released)
        // but without the write lock: a mapping change, which takes every shard's write
        // lock, must never wait for another node.
        let order = shard.replication_order.lock();
        drop(st);
        let copies = 1 + self.replicate_batch(shard, &wal)?;
        drop(order);
        for r in results.iter_mut().flatten() {
            r.copies = copies;
        }
        Ok(results)
    }
}

impl Prepared {
    /// The value that picks the shard: `routing`, else the (possibly generated) id.
    fn routing_value(&self) -> &str {
        if let Some(r) = &self.routing {
            return r;
        }
        match (&self.op, &self.built) {
            (_, Some((id, ..))) => id,
            (op, None) => op_id(op).unwrap_or(""),
        }
    }
}

fn op_id(op: &WriteOp) -> Option<&str> {
    match op {
        WriteOp::Index { id, .. } => id.as_deref(),
        WriteOp::Delete { id, .. } | WriteOp::Update { id, .. } => Some(id),
    }
}

impl Batch<'_> {
    fn current(&self, id: &str) -> EngineResult<Option<LiveDoc>> {
        if let Some(d) = self.overlay.get(id) {
            return Ok(Some(d.clone()));
        }
        self.shard.current(&self.index.fields, id)
    }

    fn check_cas(
        &self,
        id: &str,
        current: Option<&LiveDoc>,
        if_seq_no: Option<i64>,
        if_primary_term: Option<i64>,
    ) -> EngineResult<()> {
        if if_seq_no.is_none() && if_primary_term.is_none() {
            return Ok(());
        }
        let (Some(seq), Some(term)) = (if_seq_no, if_primary_term) else {
            return Err(EngineError::Validation(
                "ifSeqNo is set, but primary term is [0]".into(),
            ));
        };
        let conflict = |reason: String| EngineError::VersionConflict {
            index: self.index.name.clone(),
            id: id.to_string(),
            reason,
        };
        match current.filter(|c| c.source.is_some()) {
            None => Err(conflict(format!(
                "required seqNo [{seq}], primary term [{term}] but no document was found"
            ))),
            Some(c) if c.meta.seq_no != seq || c.meta.primary_term != term => Err(conflict(format!(
                "required seqNo [{seq}], primary term [{term}]. current document has seqNo [{}] and primary term [{}]",
                c.meta.seq_no, c.meta.primary_term
            ))),
            Some(_) => Ok(()),
        }
    }

    fn prepare(&mut self, st: &mut WriteState, prepared: Prepared, stale: bool) -> EngineResult<WriteResult> {
        let Prepared { op, built, routing } = prepared;
        match op {
            WriteOp::Index { op_type, if_seq_no, if_primary_term, version, .. } => {
                let Some((id, generated, source, doc)) = built else {
                    return Err(EngineError::internal("index op was not prepared"));
                };
                let doc = doc?;
                let doc = if stale { None } else { doc };
                if op_type == OpType::Create && (if_seq_no.is_some() || if_primary_term.is_some()) {
                    return Err(EngineError::Validation(
                        "create operations do not support compare and set. use index instead".into(),
                    ));
                }
                // Generated ids are fresh: skip the lookup (the common _bulk case).
                let current = if generated { None } else { self.current(&id)? };
                if op_type == OpType::Create {
                    if let Some(c) = current.as_ref().filter(|c| c.source.is_some()) {
                        return Err(EngineError::VersionConflict {
                            index: self.index.name.clone(),
                            id: id.clone(),
                            reason: format!("document already exists (current version [{}])", c.meta.version),
                        });
                    }
                }
                self.check_cas(&id, current.as_ref(), if_seq_no, if_primary_term)?;
                self.check_external(&id, current.as_ref(), version)?;
                self.index_source(st, id, source, routing, current, doc, version.map(|v| v.version))
            }
            WriteOp::Delete { id, if_seq_no, if_primary_term, version } => {
                validate_id(&id)?;
                let current = self.current(&id)?;
                self.check_cas(&id, current.as_ref(), if_seq_no, if_primary_term)?;
                self.check_external(&id, current.as_ref(), version)?;
                let Some(cur) = current.filter(|c| c.source.is_some()) else {
                    // A missing document's delete reports the version it would have set.
                    let version = version.map_or(1, |v| v.version);
                    return Ok(WriteResult {
                        id,
                        meta: DocMeta { seq_no: st.next_seq_no - 1, version, primary_term: self.shard.primary_term() },
                        outcome: WriteOutcome::NotFound,
                        source: None,
                        forced_refresh: false,
                        copies: 1,
                    });
                };
                let version = version.map_or(cur.meta.version + 1, |v| v.version);
                let meta = DocMeta { seq_no: st.next_seq_no, version, primary_term: self.shard.primary_term() };
                st.next_seq_no += 1;
                self.wal.push(WalOp::Delete {
                    seq_no: meta.seq_no,
                    version: meta.version,
                    primary_term: meta.primary_term,
                    id: id.clone(),
                });
                self.pending.push(Pending::Delete { id: id.clone() });
                self.overlay.insert(id.clone(), LiveDoc { meta, source: None, routing, deleted_at: Some(std::time::Instant::now()) });
                Ok(WriteResult { id, meta, outcome: WriteOutcome::Deleted, source: None, forced_refresh: false, copies: 1 })
            }
            WriteOp::Update { id, request, if_seq_no, if_primary_term } => {
                validate_id(&id)?;
                let current = self.current(&id)?;
                // A missing document without an upsert is missing (404) before any CAS check,
                // as OpenSearch reads the document first.
                let exists = current.as_ref().is_some_and(|c| c.source.is_some());
                if !exists && request.upsert.is_none() && !request.doc_as_upsert {
                    return Err(EngineError::DocumentMissing { index: self.index.name.clone(), id });
                }
                self.check_cas(&id, current.as_ref(), if_seq_no, if_primary_term)?;
                match current.as_ref().and_then(|c| c.source.clone().map(|s| (c.meta, s))) {
                    Some((meta, source)) => {
                        let Some(doc) = &request.doc else {
                            return Err(EngineError::Validation("script or doc is missing".into()));
                        };
                        let mut merged: Value = serde_json::from_slice(&source).unwrap_or(Value::Null);
                        let changed = merge_json(&mut merged, doc);
                        if !changed && request.detect_noop {
                            return Ok(WriteResult {
                                id,
                                meta,
                                outcome: WriteOutcome::Noop,
                                source: Some(source),
                                forced_refresh: false,
                                copies: 1,
                            });
                        }
                        let bytes = serde_json::to_vec(&merged).map_err(EngineError::internal)?;
                        self.index_source(st, id, bytes.into(), routing, current, None, None)
                    }
                    None => {
                        let upsert = if request.doc_as_upsert { request.doc.as_ref() } else { request.upsert.as_ref() };
                        let Some(upsert) = upsert else {
                            return Err(EngineError::DocumentMissing { index: self.index.name.clone(), id });
                        };
                        let bytes = serde_json::to_vec(upsert).map_err(EngineError::internal)?;
                        self.index_source(st, id, bytes.into(), routing, current, None, None)
                    }
                }
            }
        }
    }

    /// `version_type=external[_gte]`: 409 unless the op's version is above (at least) the
    /// current one, a deleted document's included.
    fn check_external(&self, id: &str, current: Option<&LiveDoc>, version: Option<ExternalVersion>) -> EngineResult<()> {
        let Some(reason) = version.and_then(|v| v.conflict(current.map(|c| c.meta.version))) else { return Ok(()) };
        Err(EngineError::VersionConflict { index: self.index.name.clone(), id: id.to_string(), reason })
    }

    /// Validates and stages an index op for `id` whose latest state is `current`. `prebuilt`
    /// is the document built outside the lock, if still valid; `external_version` the version
    /// to set instead of the next internal one.
    #[allow(clippy::too_many_arguments)]
    fn index_source(
        &mut self,
        st: &mut WriteState,
        id: String,
        source: Arc<[u8]>,
        routing: Option<String>,
        current: Option<LiveDoc>,
        prebuilt: Option<DocBlock>,
        external_version: Option<i64>,
    ) -> EngineResult<WriteResult> {
        let version = external_version.unwrap_or_else(|| current.as_ref().map_or(1, |c| c.meta.version + 1));
        let existed = current.as_ref().is_some_and(|c| c.source.is_some());
        let meta = DocMeta { seq_no: st.next_seq_no, version, primary_term: self.shard.primary_term() };
        let mut doc = match prebuilt {
            Some(doc) => doc,
            None => {
                let (doc, updated) = build_doc(&self.mapping, &self.index.fields, &id, &source)?;
                if let Some(m) = updated {
                    self.limits.check(&m)?;
                    self.mapping = Arc::new(m);
                    self.mapping_changed = true;
                }
                doc
            }
        };
        let nested_limit = self.limits.nested_objects;
        if doc.nested.len() as u64 > nested_limit {
            return Err(EngineError::MapperParsing(format!(
                "The number of nested documents has exceeded the allowed limit of [{nested_limit}]. This limit can be set by changing the [index.mapping.nested_objects.limit] index level setting."
            )));
        }
        add_meta(&mut doc.root, &self.index.fields, meta);
        if let (Some(field), Some(routing)) = (self.index.fields.routing, &routing) {
            doc.root.add_text(field, routing);
        }
        st.next_seq_no += 1;
        self.wal.push(WalOp::Index {
            seq_no: meta.seq_no,
            version: meta.version,
            primary_term: meta.primary_term,
            id: id.clone(),
            source: source.clone(),
            routing: routing.clone(),
        });
        self.pending.push(Pending::Add { id: id.clone(), doc, replace: current.is_some() });
        self.overlay.insert(id.clone(), LiveDoc { meta, source: Some(source.clone()), routing, deleted_at: None });
        Ok(WriteResult {
            id,
            meta,
            outcome: if existed { WriteOutcome::Updated } else { WriteOutcome::Created },
            source: Some(source),
            forced_refresh: false,
            copies: 1,
        })
    }
}
