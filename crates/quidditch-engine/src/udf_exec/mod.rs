//! UDFs as first-class parts of query execution.
//!
//! A `wasm_udf` clause lowers to a [`UdfFilterQuery`]: a tantivy `Query` whose `Scorer` wraps
//! the scorer of its candidates (the other required clauses of its `bool`, or all documents)
//! and keeps a candidate only if the UDF says so. Because it is an ordinary scorer inside the
//! search, totals, paging, `search_after`, sorting, `_count` and aggregations all see exactly
//! the filtered set. `script_score` lowers to a [`UdfScoreQuery`] the same way, and a
//! `function_score` `script_score` function uses [`SegmentScoreScript`].
//!
//! Per segment, the scorer takes one instance from the UDF's pool and gives it a
//! [`SegmentDocuments`] (fast-field columns, `_source` fallback). When the UDF exports the
//! batched ABI, candidates are evaluated in blocks of [`BLOCK`] documents with one guest call
//! per block.
//!
//! Failures: a trap or limit fails the search (recorded in the request's [`UdfRun`], which
//! stops every UDF scorer), or with `"on_error": "exclude"` drops the document and counts it.
//! The search `timeout` is passed to the instance as its deadline (epoch interruption), and
//! a timeout past it ends the search with partial results and `timed_out: true`.

pub mod documents;
mod evaluator;
mod filter;
mod lowering;
mod run;
mod scorer;
mod score;

use std::sync::Arc;

use quidditch_udf::{BoundParams, LoadedUdf};

pub use filter::UdfFilterQuery;
pub use run::{UdfFailure, UdfRun};
pub use score::{SegmentScoreScript, UdfScoreQuery};

pub use crate::query_ast::OnError;
use crate::query_ast::{FieldResolver, QueryExtensions, UdfResolver};

/// Candidates per batched guest call.
pub const BLOCK: usize = 512;

/// What lowering needs for UDF clauses on one index of a search request.
pub struct UdfLowering {
    pub run: Arc<UdfRun>,
    pub fields: Arc<dyn FieldResolver>,
    pub index: String,
}

impl QueryExtensions for UdfLowering {
    fn udf(&self) -> Option<&dyn UdfResolver> {
        Some(self)
    }
}

/// A UDF resolved and its parameters bound at lowering, ready to instantiate per segment.
#[derive(Clone)]
pub struct UdfBinding {
    pub udf: Arc<LoadedUdf>,
    pub params: Arc<BoundParams>,
    pub on_error: OnError,
    pub run: Arc<UdfRun>,
    pub fields: Arc<dyn FieldResolver>,
    pub index: Arc<str>,
    /// End of the UDF's `query_timeout_ms` budget, shared by every segment of this index.
    pub budget: Arc<std::sync::OnceLock<std::time::Instant>>,
}

impl std::fmt::Debug for UdfBinding {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UdfBinding({}@{}, {:?})", self.udf.name(), self.udf.version_str(), self.on_error)
    }
}

impl UdfBinding {
    pub fn new(udf: Arc<LoadedUdf>, params: Arc<BoundParams>, on_error: OnError, lowering: &UdfLowering) -> UdfBinding {
        UdfBinding {
            udf,
            params,
            on_error,
            run: lowering.run.clone(),
            fields: lowering.fields.clone(),
            index: Arc::from(lowering.index.as_str()),
            budget: Arc::new(std::sync::OnceLock::new()),
        }
    }
}
