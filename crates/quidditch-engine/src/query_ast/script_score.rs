//! UDF scoring: the `script_score` query, and the `script` object shared with the
//! `function_score` `script_score` function. `"lang": "wasm"`; the script's `source` (or a
//! stored script's `id`) names the UDF, `name[@version]`.

use serde_json::{Map, Value};
use tantivy::query::Query;

use super::wasm_udf::{clause_error, udf_lowering};
use super::{LoweringContext, QueryAst, QueryError};
use crate::udf_exec::{OnError, UdfBinding, UdfScoreQuery};

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
    pub(crate) fn bind(&self, ctx: &LoweringContext<'_>, clause: &str) -> Result<UdfBinding, QueryError> {
        let lowering = udf_lowering(ctx, clause)?;
        let udf = lowering
            .run
            .registry
            .resolve(&self.name, None)
            .map_err(|e| clause_error(clause, &self.name, e.error_type(), &e.message))?;
        if !udf.metadata.exports.iter().any(|e| e == "score" || e == "score_batch") {
            return Err(clause_error(
                clause,
                &self.name,
                "illegal_argument_exception",
                &format!(
                    "UDF [{}@{}] does not export `score` (exports: {:?}); a filter UDF belongs in `wasm_udf`",
                    udf.name(),
                    udf.version_str(),
                    udf.metadata.exports
                ),
            ));
        }
        let params =
            udf.bind_params(&self.params).map_err(|e| clause_error(clause, &self.name, e.error_type(), &e.message))?;
        Ok(UdfBinding::new(udf, params, self.on_error, lowering))
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
        let binding = self.script.bind(ctx, "script_score")?;
        let query = self.query.lower(ctx)?;
        Ok(Box::new(UdfScoreQuery::new(query, binding, self.min_score, self.boost.unwrap_or(1.0))))
    }
}
