//! UDF scoring: the `script_score` query, and the `script` object shared with the
//! `function_score` `script_score` function. `"lang": "wasm"`; the script's `source` (or a
//! stored script's `id`) names the UDF, `name[@version]`, or is inline code: base64
//! WebAssembly or WAT text (`"lang": "wasm"` or `"wat"`), Python source (`"lang": "python"`),
//! compiled once per distinct code through the upload path (`quidditch_udf::inline`).

use std::sync::Arc;

pub use quidditch_udf::ScriptSource;
use serde_json::{Map, Value};
use tantivy::query::Query;

use super::udf::BoundUdfScore;
use super::wasm_udf::udf_resolver;
use super::{LoweringContext, OnError, QueryAst, QueryError};

/// A `script` object: which UDF scores, with which parameters.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptRef {
    /// A stored UDF (`name` or `name@version`, from `source` or a stored script's `id`) or
    /// inline code (base64 WebAssembly, WAT or Python `source`).
    pub source: ScriptSource,
    pub params: Map<String, Value>,
    pub on_error: OnError,
}

impl ScriptRef {
    /// A stored UDF's name, or the inline script's `inline-<key>`, as errors name the script.
    pub fn label(&self) -> String {
        match &self.source {
            ScriptSource::Named(name) => name.clone(),
            ScriptSource::Inline(inline) => inline.name(),
        }
    }

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
