//! What lowering the UDF clauses (`wasm_udf`, `script_score`, the `function_score`
//! `script_score` function) needs from execution, as traits in AST terms. `udf_exec`
//! implements them for searches that have a UDF registry; the AST never names an execution
//! type, so the dependency points from execution to the AST only.

use std::sync::Arc;

use tantivy::query::Query;
use tantivy::{DocId, Score, SegmentReader};

use super::{QueryError, ScriptRef, WasmUdfQuery};

/// The UDF side of one index of a search, reached through
/// [`QueryExtensions::udf`](super::QueryExtensions::udf).
pub trait UdfResolver: Send + Sync {
    /// Resolves a `wasm_udf` clause's UDF and binds its parameters: an unknown UDF, a
    /// score-only UDF or bad parameters are a 400 naming the clause, before a document is read.
    fn bind_filter(&self, clause: &WasmUdfQuery) -> Result<Box<dyn BoundUdfFilter>, QueryError>;
    /// Resolves a `script` object's UDF and binds its parameters; `clause` names where the
    /// script appears (`script_score`, `function_score.script_score`) for errors.
    fn bind_score(&self, script: &ScriptRef, clause: &str) -> Result<Arc<dyn BoundUdfScore>, QueryError>;
}

/// A `wasm_udf` clause bound at lowering.
pub trait BoundUdfFilter {
    /// The documents of `candidates` the UDF keeps (or, `negate`d, drops), scored like
    /// `candidates`.
    fn filter(self: Box<Self>, candidates: Box<dyn Query>, negate: bool) -> Box<dyn Query>;
}

/// A scoring UDF bound at lowering.
pub trait BoundUdfScore: Send + Sync + std::fmt::Debug {
    /// `script_score`: `query`'s matches, scored by the UDF (`min_score` drops, `boost` multiplies).
    fn score_query(&self, query: Box<dyn Query>, min_score: Option<f32>, boost: f32) -> Box<dyn Query>;
    /// The UDF's evaluator for one segment (a `function_score` function).
    fn for_segment(&self, reader: &SegmentReader) -> Box<dyn SegmentUdfScore>;
}

/// A scoring UDF on one segment.
pub trait SegmentUdfScore: Send {
    /// The UDF's score for `doc` given the query's score; `None` when the UDF failed (the
    /// failure is recorded by execution and fails or trims the search).
    fn score(&mut self, doc: DocId, query_score: Score) -> Option<f64>;
}
