//! The project's own query AST and its lowering to tantivy queries.
//!
//! `query_dsl` parses OpenSearch JSON into a [`QueryAst`]; [`QueryAst::lower`] turns it into a
//! `Box<dyn tantivy::query::Query>` against one index's mapping. Adding a query type is one
//! more file here (the node and its lowering), one enum variant, and one parser file in
//! `query_dsl`. Nodes whose lowering needs something besides the mapping (the UDF clauses
//! `wasm_udf` and `script_score`) get it through [`LoweringContext::extensions`].

mod automaton;
mod bool_query;
mod boosting;
mod constant_score;
mod date;
mod dis_max;
mod distance_feature;
mod error;
mod exists;
mod fast_value;
mod field;
mod function_score;
mod fuzzy;
mod geo;
mod ids;
mod match_all;
mod match_bool_prefix;
mod match_phrase;
mod match_phrase_prefix;
mod match_query;
mod multi_match;
mod nested;
mod prefix;
mod query_string;
mod range;
mod regexp;
mod routing;
mod script_score;
pub mod scoring;
mod term;
mod terms;
mod terms_set;
mod udf;
mod wasm_udf;
mod wildcard;

use tantivy::query::Query;
use tantivy::schema::Schema;

pub use bool_query::BoolQuery;
pub use boosting::BoostingQuery;
pub use constant_score::ConstantScoreQuery;
pub use date::{DateFormat, calendar_bucket_start, format_millis_iso, parse_date_millis};
pub use dis_max::DisMaxQuery;
pub use distance_feature::DistanceFeatureQuery;
pub use error::QueryError;
pub use exists::ExistsQuery;
pub use fast_value::NumericColumn;
pub use field::{FieldKind, FieldResolver, ResolvedField, TargetField};
pub(crate) use field::FieldTarget;
pub(crate) use fuzzy::within_distance;
pub(crate) use regexp::translate as regexp_translate;
pub use function_score::{
    BoostMode, FieldValueFactor, FieldValueModifier, FunctionScoreQuery, ScoreFunction, ScoreMode,
};
pub use fuzzy::{Fuzziness, FuzzyOptions, FuzzyQuery};
pub use geo::{GeoQuery, GeoRelation, GeoShape};
pub(crate) use geo::{GeoColumn, open_geo_column};
pub use ids::IdsQuery;
pub use match_all::{MatchAllQuery, MatchNoneQuery};
pub use match_bool_prefix::MatchBoolPrefixQuery;
pub use match_phrase::MatchPhraseQuery;
pub use match_phrase_prefix::MatchPhrasePrefixQuery;
pub use match_query::{MatchQuery, MinimumShouldMatch, Operator};
pub use multi_match::{MultiMatchQuery, MultiMatchType};
pub use nested::{NestedQuery, NestedScoreMode, nested_children_of, nested_documents, root_documents};
pub use prefix::PrefixQuery;
pub use query_string::{
    FieldCombination, QsNode, QsOccur, QsValue, QueryStringQuery, unescape as unescape_query_text,
};
pub use range::{RangeBound, RangeQuery};
pub use regexp::{RegexpFlags, RegexpQuery};
pub use term::TermQuery;
pub use terms::TermsQuery;
pub use terms_set::TermsSetQuery;
pub use script_score::{ScriptRef, ScriptScoreQuery, ScriptSource};
pub use udf::{BoundUdfFilter, BoundUdfScore, SegmentUdfScore, UdfResolver};
pub use wasm_udf::{OnError, WasmUdfQuery};
pub use wildcard::{WildcardQuery, glob_match as wildcard_glob_match};

/// A parsed query, independent of any index.
#[derive(Debug, Clone, PartialEq)]
pub enum QueryAst {
    MatchAll(MatchAllQuery),
    MatchNone(MatchNoneQuery),
    Match(MatchQuery),
    MatchPhrase(MatchPhraseQuery),
    MultiMatch(MultiMatchQuery),
    Term(TermQuery),
    Terms(TermsQuery),
    Range(RangeQuery),
    Bool(BoolQuery),
    Exists(ExistsQuery),
    Prefix(PrefixQuery),
    Wildcard(WildcardQuery),
    Ids(IdsQuery),
    ConstantScore(ConstantScoreQuery),
    FunctionScore(FunctionScoreQuery),
    WasmUdf(WasmUdfQuery),
    ScriptScore(ScriptScoreQuery),
    DisMax(DisMaxQuery),
    Fuzzy(FuzzyQuery),
    Regexp(RegexpQuery),
    /// `query_string`, `simple_query_string` and `?q=`.
    QueryString(QueryStringQuery),
    MatchPhrasePrefix(MatchPhrasePrefixQuery),
    MatchBoolPrefix(MatchBoolPrefixQuery),
    Boosting(BoostingQuery),
    TermsSet(TermsSetQuery),
    Nested(NestedQuery),
    /// `geo_distance`, `geo_bounding_box`, `geo_polygon`, `geo_shape` on a `geo_point`.
    Geo(GeoQuery),
    DistanceFeature(DistanceFeatureQuery),
}

impl QueryAst {
    pub fn match_all() -> QueryAst {
        QueryAst::MatchAll(MatchAllQuery { boost: None })
    }

    /// Builds the tantivy query for one index.
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        match self {
            QueryAst::MatchAll(q) => q.lower(ctx),
            QueryAst::MatchNone(q) => q.lower(ctx),
            QueryAst::Match(q) => q.lower(ctx),
            QueryAst::MatchPhrase(q) => q.lower(ctx),
            QueryAst::MultiMatch(q) => q.lower(ctx),
            QueryAst::Term(q) => q.lower(ctx),
            QueryAst::Terms(q) => q.lower(ctx),
            QueryAst::Range(q) => q.lower(ctx),
            QueryAst::Bool(q) => q.lower(ctx),
            QueryAst::Exists(q) => q.lower(ctx),
            QueryAst::Prefix(q) => q.lower(ctx),
            QueryAst::Wildcard(q) => q.lower(ctx),
            QueryAst::Ids(q) => q.lower(ctx),
            QueryAst::ConstantScore(q) => q.lower(ctx),
            QueryAst::FunctionScore(q) => q.lower(ctx),
            QueryAst::WasmUdf(q) => q.lower(ctx),
            QueryAst::ScriptScore(q) => q.lower(ctx),
            QueryAst::DisMax(q) => q.lower(ctx),
            QueryAst::Fuzzy(q) => q.lower(ctx),
            QueryAst::Regexp(q) => q.lower(ctx),
            QueryAst::QueryString(q) => q.lower(ctx),
            QueryAst::MatchPhrasePrefix(q) => q.lower(ctx),
            QueryAst::MatchBoolPrefix(q) => q.lower(ctx),
            QueryAst::Boosting(q) => q.lower(ctx),
            QueryAst::TermsSet(q) => q.lower(ctx),
            QueryAst::Nested(q) => q.lower(ctx),
            QueryAst::Geo(q) => q.lower(ctx),
            QueryAst::DistanceFeature(q) => q.lower(ctx),
        }
    }
}

/// Hook for AST nodes whose lowering needs more than the mapping: the UDF registry for
/// `wasm_udf`/`script_score`. Search paths without a registry pass `None`, and those clauses
/// are then a 400.
pub trait QueryExtensions: Send + Sync {
    /// The UDF registry and per-request UDF state (`wasm_udf`, `script_score`).
    fn udf(&self) -> Option<&dyn UdfResolver> {
        None
    }
}

/// Everything lowering needs to know about the target index.
pub struct LoweringContext<'a> {
    /// The index's fixed tantivy schema (`_id`, `_text`, `_kw`, `_field_names`, …).
    pub schema: &'a Schema,
    /// User field name → where it lives in tantivy and its mapped type.
    pub fields: &'a dyn FieldResolver,
    /// The index's analyzers: `match` query text is analysed with the field's analyzer.
    pub analysis: &'a crate::analysis::AnalysisRegistry,
    /// tantivy's tokenizers: query text on the JSON `_text` field of an index created before
    /// the engine analysed text itself is tokenized with the tokenizer that field declares.
    pub tokenizers: &'a tantivy::tokenizer::TokenizerManager,
    /// Resolvers for extension nodes (UDFs); `None` when unavailable.
    pub extensions: Option<&'a dyn QueryExtensions>,
    /// Inside a `nested` query: its path (the level whose hidden documents the clause runs
    /// on). `None` at the top level.
    pub nested_path: Option<&'a str>,
}

/// Applies an optional `boost` the way OpenSearch does (a multiplier on the clause score).
pub(crate) fn boosted(query: Box<dyn Query>, boost: Option<f32>) -> Box<dyn Query> {
    match boost {
        Some(b) if (b - 1.0).abs() > f32::EPSILON => {
            Box::new(tantivy::query::BoostQuery::new(query, b))
        }
        _ => query,
    }
}
