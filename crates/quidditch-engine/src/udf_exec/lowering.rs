//! The execution side of lowering UDF clauses: resolves a clause's UDF in the registry, binds
//! its parameters, and builds the UDF queries ([`UdfFilterQuery`], [`UdfScoreQuery`],
//! [`SegmentScoreScript`]) behind the AST's traits (`query_ast::UdfResolver` and friends).

use std::sync::Arc;

use quidditch_udf::LoadedUdf;
use tantivy::SegmentReader;
use tantivy::query::Query;

use super::{SegmentScoreScript, UdfBinding, UdfFilterQuery, UdfLowering, UdfScoreQuery};
use crate::query_ast::{
    BoundUdfFilter, BoundUdfScore, QueryError, ScriptRef, ScriptSource, SegmentUdfScore, UdfResolver, WasmUdfQuery,
};

/// A 400 naming the clause and its UDF.
fn clause_error(clause: &str, label: &str, error_type: &'static str, message: &str) -> QueryError {
    QueryError::new(400, error_type, format!("[{clause}] clause for UDF [{label}]: {message}"))
}

/// A UDF that does not export what the clause calls.
fn missing_export(clause: &str, label: &str, udf: &LoadedUdf, wanted: &str, belongs: &str) -> QueryError {
    clause_error(
        clause,
        label,
        "illegal_argument_exception",
        &format!(
            "UDF [{}@{}] does not export `{wanted}` (exports: {:?}); {belongs}",
            udf.name(),
            udf.version_str(),
            udf.metadata.exports
        ),
    )
}

impl UdfResolver for UdfLowering {
    fn bind_filter(&self, clause: &WasmUdfQuery) -> Result<Box<dyn BoundUdfFilter>, QueryError> {
        let (name, label) = ("wasm_udf", clause.label());
        let udf = self
            .run
            .registry
            .resolve(&clause.name, clause.version.as_deref())
            .map_err(|e| clause_error(name, &label, e.error_type(), &e.message))?;
        if !udf.metadata.exports.iter().any(|e| e == "filter" || e == "filter_batch") {
            return Err(missing_export(name, &label, &udf, "filter", "a score-only UDF belongs in `script_score`"));
        }
        let params = udf.bind_params(&clause.params).map_err(|e| clause_error(name, &label, e.error_type(), &e.message))?;
        Ok(Box::new(UdfBinding::new(udf, params, clause.on_error, self)))
    }

    fn bind_score(&self, script: &ScriptRef, clause: &str) -> Result<Arc<dyn BoundUdfScore>, QueryError> {
        let label = script.label();
        let registry = &self.run.registry;
        let udf = match &script.source {
            ScriptSource::Named(name) => {
                registry.resolve(name, None).map_err(|e| clause_error(clause, &label, e.error_type(), &e.message))?
            }
            // Refusals keep their status (403 unsigned code, 413 too large), as for an upload.
            ScriptSource::Inline(inline) => registry.inline(inline, None).map_err(|e| {
                let mut error = clause_error(clause, &label, e.error_type(), &e.message);
                if matches!(e.status(), 403 | 413) {
                    error.status = e.status();
                    error.udf_rejection = Some(e.kind);
                }
                error
            })?,
        };
        if !udf.metadata.exports.iter().any(|e| e == "score" || e == "score_batch") {
            return Err(missing_export(clause, &label, &udf, "score", "a filter UDF belongs in `wasm_udf`"));
        }
        let params = udf.bind_params(&script.params).map_err(|e| clause_error(clause, &label, e.error_type(), &e.message))?;
        Ok(Arc::new(UdfBinding::new(udf, params, script.on_error, self)))
    }
}

impl BoundUdfFilter for UdfBinding {
    fn filter(self: Box<Self>, candidates: Box<dyn Query>, negate: bool) -> Box<dyn Query> {
        Box::new(UdfFilterQuery::new(candidates, *self, negate))
    }
}

impl BoundUdfScore for UdfBinding {
    fn score_query(&self, query: Box<dyn Query>, min_score: Option<f32>, boost: f32) -> Box<dyn Query> {
        Box::new(UdfScoreQuery::new(query, self.clone(), min_score, boost))
    }

    fn for_segment(&self, reader: &SegmentReader) -> Box<dyn SegmentUdfScore> {
        Box::new(SegmentScoreScript::new(self, reader))
    }
}

impl SegmentUdfScore for SegmentScoreScript {
    fn score(&mut self, doc: tantivy::DocId, query_score: tantivy::Score) -> Option<f64> {
        SegmentScoreScript::score(self, doc, query_score)
    }
}
