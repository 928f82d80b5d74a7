//! `wasm_udf`: a filter evaluated by a WebAssembly UDF over every candidate document.
//!
//! Lowering resolves the UDF (highest semver unless a version is given) and binds its
//! parameters, so an unknown UDF or bad parameters fail with 400 before a document is read.
//! Inside a `bool`, UDF clauses wrap the conjunction of the bool's other clauses: the UDF only
//! sees documents that passed the cheap ones (see [`lower_bool_with_udfs`]).

use serde_json::{Map, Value};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query};

use super::{BoolQuery, LoweringContext, MinimumShouldMatch, QueryAst, QueryError, boosted};
use crate::udf_exec::{OnError, UdfBinding, UdfFilterQuery, UdfLowering};

#[derive(Debug, Clone, PartialEq)]
pub struct WasmUdfQuery {
    /// `name` or `name@version`.
    pub name: String,
    pub version: Option<String>,
    pub params: Map<String, Value>,
    pub on_error: OnError,
}

impl WasmUdfQuery {
    fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{v}", self.name),
            None => self.name.clone(),
        }
    }

    /// Resolves the UDF and binds the parameters (400 naming the clause on failure).
    pub(crate) fn bind(&self, ctx: &LoweringContext<'_>) -> Result<UdfBinding, QueryError> {
        let clause = "wasm_udf";
        let label = self.label();
        let lowering = udf_lowering(ctx, clause)?;
        let udf = lowering
            .run
            .registry
            .resolve(&self.name, self.version.as_deref())
            .map_err(|e| clause_error(clause, &label, e.error_type(), &e.message))?;
        if !udf.metadata.exports.iter().any(|e| e == "filter" || e == "filter_batch") {
            return Err(clause_error(
                clause,
                &label,
                "illegal_argument_exception",
                &format!(
                    "UDF [{}@{}] does not export `filter` (exports: {:?}); a score-only UDF belongs in `script_score`",
                    udf.name(),
                    udf.version_str(),
                    udf.metadata.exports
                ),
            ));
        }
        let params = udf.bind_params(&self.params).map_err(|e| clause_error(clause, &label, e.error_type(), &e.message))?;
        Ok(UdfBinding::new(udf, params, self.on_error, lowering))
    }

    /// On its own (top level, `constant_score.filter`, `function_score.query`): every
    /// document is a candidate, each kept one scores 1.
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let binding = self.bind(ctx)?;
        Ok(Box::new(UdfFilterQuery::new(Box::new(tantivy::query::AllQuery), binding, false)))
    }
}

/// The UDF side of the lowering context, or a 400 when this search path has no registry.
pub(crate) fn udf_lowering<'a>(ctx: &LoweringContext<'a>, clause: &str) -> Result<&'a UdfLowering, QueryError> {
    ctx.extensions.and_then(|e| e.udf()).ok_or_else(|| {
        QueryError::illegal_argument(format!("[{clause}] is not available here: this search has no UDF registry"))
    })
}

pub(crate) fn clause_error(clause: &str, label: &str, error_type: &'static str, message: &str) -> QueryError {
    QueryError::new(400, error_type, format!("[{clause}] clause for UDF [{label}]: {message}"))
}

impl BoolQuery {
    /// Whether any direct clause is a `wasm_udf` (nested bools handle their own).
    pub(crate) fn has_udf_clauses(&self) -> bool {
        [&self.must, &self.filter, &self.should, &self.must_not]
            .iter()
            .any(|list| list.iter().any(|q| matches!(q, QueryAst::WasmUdf(_))))
    }
}

fn split(list: &[QueryAst]) -> (Vec<QueryAst>, Vec<&WasmUdfQuery>) {
    let mut native = Vec::new();
    let mut udfs = Vec::new();
    for q in list {
        match q {
            QueryAst::WasmUdf(u) => udfs.push(u),
            other => native.push(other.clone()),
        }
    }
    (native, udfs)
}

/// Lowers a `bool` with UDF clauses so that cheap clauses run first:
///
/// - `must`/`filter` UDFs wrap the conjunction of every native clause (must, filter,
///   must_not, and the should part with its `minimum_should_match`), one after the other;
/// - `must_not` UDFs wrap it the same way, negated;
/// - `should` UDFs wrap the native required part and count towards `minimum_should_match`
///   like any should clause (they add nothing to the score).
///
/// UDF clauses never change the score: a must/filter UDF acts like a filter.
pub(crate) fn lower_bool_with_udfs(q: &BoolQuery, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
    let (mut must, must_u) = split(&q.must);
    let (mut filter, filter_u) = split(&q.filter);
    let (should, should_u) = split(&q.should);
    let (must_not, must_not_u) = split(&q.must_not);

    let has_required = !q.must.is_empty() || !q.filter.is_empty();
    let should_required = match q.minimum_should_match {
        Some(msm) => msm.resolve(q.should.len()),
        None if has_required => 0,
        None => usize::from(!q.should.is_empty()),
    };
    // With no native required clause, every document is a candidate; it scores like the
    // clause it stands for (must: 1, filter: 0; a bool of only must_not: 1).
    if must.is_empty() && filter.is_empty() {
        if !must_u.is_empty() || (filter_u.is_empty() && q.should.is_empty()) {
            must.push(QueryAst::match_all());
        } else {
            filter.push(QueryAst::match_all());
        }
    }

    // Bind every UDF before building anything: all 400s come out of lowering.
    let bind_all = |list: &[&WasmUdfQuery]| list.iter().map(|u| u.bind(ctx)).collect::<Result<Vec<_>, _>>();
    let required = bind_all(&must_u.iter().chain(&filter_u).copied().collect::<Vec<_>>())?;
    let negated = bind_all(&must_not_u)?;
    let optional = bind_all(&should_u)?;

    let mut core: Box<dyn Query> = if optional.is_empty() {
        let native = BoolQuery {
            must,
            filter,
            should,
            must_not,
            minimum_should_match: Some(MinimumShouldMatch::Count(should_required as i64)),
            boost: None,
        };
        native.lower_native(ctx)?
    } else {
        let required_native = BoolQuery { must, filter, should: Vec::new(), must_not, minimum_should_match: None, boost: None }
            .lower_native(ctx)?;
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = vec![(Occur::Must, required_native.box_clone())];
        for s in &should {
            clauses.push((Occur::Should, s.lower(ctx)?));
        }
        for binding in optional {
            let udf = UdfFilterQuery::new(required_native.box_clone(), binding, false);
            clauses.push((Occur::Should, Box::new(ConstScoreQuery::new(Box::new(udf), 0.0))));
        }
        Box::new(BooleanQuery::with_minimum_required_clauses(clauses, should_required))
    };
    for binding in required {
        core = Box::new(UdfFilterQuery::new(core, binding, false));
    }
    for binding in negated {
        core = Box::new(UdfFilterQuery::new(core, binding, true));
    }
    Ok(boosted(core, q.boost))
}
