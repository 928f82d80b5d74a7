//! Indices, mappings, write-ahead log, documents; query DSL → AST → tantivy (search side).
//!
//! Entry points: [`Engine`] (the set of indices), [`Index`] (one index: mapping, searcher,
//! writes, realtime get), [`Mapping`] (user field path → tantivy location), [`EngineError`]
//! (what went wrong, in domain terms). The tantivy layout is described in
//! `docs/architecture.md`.

pub mod alias;
pub mod by_query;
pub mod analysis;
pub mod date;
pub mod document;
pub mod geo;
mod engine;
pub(crate) mod error;
pub mod index;
pub(crate) mod ip;
pub(crate) mod mapping;
pub mod names;
pub mod template;
pub mod query_ast;
pub mod query_dsl;
pub mod search;
pub(crate) mod udf_exec;
pub mod wal;

use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use document::DocMeta;
pub use engine::Engine;
pub use error::{EngineError, EngineResult};
pub use index::{
    ExternalVersion, Index, IndexFields, IndexIdentity, MappingGrowth, ShardDocuments, WriteReplication, OpType, Refresh, StoredDoc, UpdateRequest, VersionType,
    VersionedWrite, WriteOp, WriteOutcome, WriteResult,
};
pub use mapping::{FieldType, JsonTarget, Mapping, ResolvedField};

/// Engine settings (the `engine` section of the server config file).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EngineConfig {
    /// How often written documents are committed (made searchable, WAL truncated), in
    /// milliseconds — OpenSearch's `refresh_interval`.
    pub refresh_interval_ms: u64,
    /// tantivy indexing memory budget per index, in MB (split among indexing threads).
    pub writer_memory_mb: usize,
    /// tantivy indexing threads per index (0 = min(available cores, 4)).
    pub indexing_threads: usize,
    /// An index without an explicit `refresh_interval` that has not been searched for this
    /// long is *search-idle*: scheduled refreshes are skipped (bulk loads do not pay for
    /// commits nobody looks at) and the next search refreshes first. OpenSearch's
    /// `index.search.idle.after` (30 s).
    pub search_idle_after_ms: u64,
    /// Commit when an index's write-ahead log exceeds this many MB even if no refresh is due
    /// (bounds replay time and the memory of the realtime-GET map).
    pub flush_threshold_mb: u64,
    /// Most tantivy index writers (one per written shard) open at once on this node
    /// (0 = 2 × cores + 4). Writers are opened on a shard's first write and closed once it
    /// is idle; when the budget is used up, the least recently written writer that is not in
    /// the middle of a write is flushed (its documents committed) and closed, and only a write
    /// that finds every writer busy is rejected with 429 (retry later).
    pub max_open_writers: usize,
    /// A shard's writer is flushed and closed after this long without writes (its threads
    /// and indexing memory released); the next write reopens it.
    pub writer_idle_close_ms: u64,
    /// tantivy merge threads per open writer.
    pub merge_threads: usize,
}

impl Default for EngineConfig {
    fn default() -> Self {
        EngineConfig {
            refresh_interval_ms: 1000,
            writer_memory_mb: 128,
            indexing_threads: 0,
            search_idle_after_ms: 30_000,
            flush_threshold_mb: 256,
            max_open_writers: 0,
            writer_idle_close_ms: 10_000,
            merge_threads: 1,
        }
    }
}

impl EngineConfig {
    pub(crate) fn refresh_interval(&self) -> Duration {
        Duration::from_millis(self.refresh_interval_ms.max(10))
    }

    pub(crate) fn max_open_writers(&self) -> usize {
        if self.max_open_writers > 0 {
            return self.max_open_writers;
        }
        2 * std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) + 4
    }

    pub(crate) fn writer_memory_bytes(&self) -> usize {
        self.writer_memory_mb.max(16) * 1_000_000
    }

    pub(crate) fn indexing_threads(&self) -> usize {
        if self.indexing_threads > 0 {
            return self.indexing_threads;
        }
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4)
    }
}
