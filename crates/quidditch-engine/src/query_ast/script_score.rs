//! UDF scoring: the `script_score` query, and the `script` object shared with the
//! `function_score` `script_score` function. `"lang": "wasm"`; the script's `source` (or a
//! stored script's `id`) names the UDF, `name[@version]`.

use std::sync::Arc;

use serde_json::{Map, Value};
use tantivy::query::Query;

use super::udf::BoundUdfScore;
use super::wasm_udf::udf_resolver;
use super::{LoweringContext, OnError, QueryAst, QueryError};

/// A `script` object: which UDF scores, with which parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptRef {
    /// `name` or `name@version` (from `source`, or a stored script's `id`).
    pub name: String,
    pub params: Map<String, Value>,
    pub on_error: OnError,
}

impl ScriptRef {
    /// Resolves the UDF and binds the parameters (400 naming the clause on failure).
    pub(crate) fn bind(&self, ctx: &LoweringContext<'_>, clause: &str) -> Result<Arc<dyn BoundUdfScore>, QueryError> {
        udf_resolver(ctx, clause)?.bind_score(self, clause)
    }
}

/// `{"script_score": {"query": {…}, "script": {"lang": "wasm", "source": "my_score"}, "min_score": 1}}`
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptScoreQuery {
    pub query: Box<QueryAst>,
    pub script: ScriptRef,
    pub min_score: Option<f32>,
    pub boost: Option<f32>,
}

impl ScriptScoreQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let bound = self.script.bind(ctx, "script_score")?;
        let query = self.query.lower(ctx)?;
        Ok(bound.score_query(query, self.min_score, self.boost.unwrap_or(1.0)))
    }
}
