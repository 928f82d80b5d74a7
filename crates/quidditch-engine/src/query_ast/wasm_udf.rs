//! `wasm_udf`: a filter evaluated by a WebAssembly UDF over every candidate document.
//!
//! Lowering resolves the UDF (highest semver unless a version is given) and binds its
//! parameters, so an unknown UDF or bad parameters fail with 400 before a document is read.
//! Inside a `bool`, UDF clauses wrap the conjunction of the bool's other clauses: the UDF only
//! sees documents that passed the cheap ones (see [`lower_bool_with_udfs`]).

use serde_json::{Map, Value};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query};

use super::udf::UdfResolver;
use super::{BoolQuery, LoweringContext, MinimumShouldMatch, QueryAst, QueryError, boosted};

/// What to do when a UDF fails on a document.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum OnError {
    /// The search fails (500) naming the UDF, version, document and cause.
    #[default]
    Fail,
    /// The document is dropped; the response counts the failures in `udf_failures`.
    Exclude,
}

#[derive(Debug, Clone, PartialEq)]
pub struct WasmUdfQuery {
    /// `name` or `name@version`.
    pub name: String,
    pub version: Option<String>,
    pub params: Map<String, Value>,
    pub on_error: OnError,
}

impl WasmUdfQuery {
    /// `name` or `name@version`, as errors name the clause's UDF.
    pub fn label(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{v}", self.name),
            None => self.name.clone(),
        }
    }

    /// On its own (top level, `constant_score.filter`, `function_score.query`): every
    /// document is a candidate, each kept one scores 1.
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let bound = udf_resolver(ctx, "wasm_udf")?.bind_filter(self)?;
        Ok(bound.filter(Box::new(tantivy::query::AllQuery), false))
    }
}

/// The UDF side of the lowering context, or a 400 when this search path has no registry.
pub(crate) fn udf_resolver<'a>(ctx: &LoweringContext<'a>, clause: &str) -> Result<&'a dyn UdfResolver, QueryError> {
    ctx.extensions.and_then(|e| e.udf()).ok_or_else(|| {
        QueryError::illegal_argument(format!("[{clause}] is not available here: this search has no UDF registry"))
    })
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
    let resolver = udf_resolver(ctx, "wasm_udf")?;
    let bind_all = |list: &[&WasmUdfQuery]| list.iter().map(|u| resolver.bind_filter(u)).collect::<Result<Vec<_>, _>>();
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
            let udf = binding.filter(required_native.box_clone(), false);
            clauses.push((Occur::Should, Box::new(ConstScoreQuery::new(udf, 0.0))));
        }
        Box::new(BooleanQuery::with_minimum_required_clauses(clauses, should_required))
    };
    for binding in required {
        core = binding.filter(core, false);
    }
    for binding in negated {
        core = binding.filter(core, true);
    }
    Ok(boosted(core, q.boost))
}
