//! Parsers of the term-level and compound queries beyond the basic set: `fuzzy`, `regexp`,
//! `dis_max`, `boosting`, `terms_set`, and the prefix forms of `match`
//! (`match_phrase_prefix`, `match_bool_prefix`).

use serde_json::Value;

use super::match_query::{FuzzyParams, parse_operator};
use super::{
    expect_object, expect_scalar, parse_bool, parse_f32, parse_query, parse_query_list, parse_string, parse_u32,
    single_field, unknown_param,
};
use crate::query_ast::{
    BoostingQuery, DisMaxQuery, Fuzziness, FuzzyQuery, MatchBoolPrefixQuery, MatchPhrasePrefixQuery,
    MinimumShouldMatch, Operator, QueryAst, QueryError, RegexpFlags, RegexpQuery, TermsSetQuery,
};

pub fn parse_fuzzy(value: &Value) -> Result<QueryAst, QueryError> {
    const Q: &str = "fuzzy";
    let (field, body, boost) = single_field(Q, value)?;
    let mut q = FuzzyQuery {
        field: field.to_string(),
        value: Value::Null,
        fuzziness: Fuzziness::default(),
        prefix_length: 0,
        transpositions: true,
        boost,
    };
    match body {
        Value::Object(opts) => {
            for (k, v) in opts {
                match k.as_str() {
                    "value" => q.value = expect_scalar(Q, v)?,
                    "fuzziness" => q.fuzziness = Fuzziness::parse(v)?,
                    "prefix_length" => q.prefix_length = parse_u32(Q, k, v)? as usize,
                    "transpositions" => q.transpositions = parse_bool(Q, k, v)?,
                    "boost" => q.boost = Some(parse_f32(Q, k, v)?),
                    "max_expansions" | "rewrite" | "_name" => {}
                    _ => return Err(unknown_param(Q, k)),
                }
            }
        }
        other => q.value = expect_scalar(Q, other)?,
    }
    if q.value.is_null() {
        return Err(QueryError::parsing("[fuzzy] query requires a value"));
    }
    Ok(QueryAst::Fuzzy(q))
}

pub fn parse_regexp(value: &Value) -> Result<QueryAst, QueryError> {
    const Q: &str = "regexp";
    let (field, body, boost) = single_field(Q, value)?;
    let mut q = RegexpQuery {
        field: field.to_string(),
        pattern: String::new(),
        flags: RegexpFlags::default(),
        case_insensitive: false,
        boost,
    };
    let mut found = false;
    match body {
        Value::Object(opts) => {
            for (k, v) in opts {
                match k.as_str() {
                    "value" => {
                        q.pattern = parse_string(Q, k, v)?;
                        found = true;
                    }
                    "flags" => q.flags = RegexpFlags::parse(&parse_string(Q, k, v)?)?,
                    "case_insensitive" => q.case_insensitive = parse_bool(Q, k, v)?,
                    "boost" => q.boost = Some(parse_f32(Q, k, v)?),
                    "flags_value" | "max_determinized_states" | "rewrite" | "_name" => {}
                    _ => return Err(unknown_param(Q, k)),
                }
            }
        }
        other => {
            q.pattern = parse_string(Q, "value", other)?;
            found = true;
        }
    }
    if !found {
        return Err(QueryError::parsing("[regexp] query requires a value"));
    }
    Ok(QueryAst::Regexp(q))
}

pub fn parse_dis_max(value: &Value) -> Result<QueryAst, QueryError> {
    const Q: &str = "dis_max";
    let mut q = DisMaxQuery { queries: Vec::new(), tie_breaker: 0.0, boost: None };
    let mut found = false;
    for (k, v) in expect_object(Q, value)? {
        match k.as_str() {
            "queries" => {
                q.queries = parse_query_list(Q, v)?;
                found = true;
            }
            "tie_breaker" => q.tie_breaker = parse_f32(Q, k, v)?,
            "boost" => q.boost = Some(parse_f32(Q, k, v)?),
            "_name" => {}
            _ => return Err(unknown_param(Q, k)),
        }
    }
    if !found {
        return Err(QueryError::parsing("[dis_max] requires 'queries' field with at least one clause"));
    }
    Ok(QueryAst::DisMax(q))
}

pub fn parse_boosting(value: &Value) -> Result<QueryAst, QueryError> {
    const Q: &str = "boosting";
    let (mut positive, mut negative, mut negative_boost, mut boost) = (None, None, None, None);
    for (k, v) in expect_object(Q, value)? {
        match k.as_str() {
            "positive" => positive = Some(parse_query(v)?),
            "negative" => negative = Some(parse_query(v)?),
            "negative_boost" => negative_boost = Some(parse_f32(Q, k, v)?),
            "boost" => boost = Some(parse_f32(Q, k, v)?),
            "_name" => {}
            _ => return Err(unknown_param(Q, k)),
        }
    }
    let positive = positive.ok_or_else(|| QueryError::parsing("[boosting] query requires 'positive' query"))?;
    let negative = negative.ok_or_else(|| QueryError::parsing("[boosting] query requires 'negative' query"))?;
    let negative_boost =
        negative_boost.ok_or_else(|| QueryError::parsing("[boosting] query requires 'negative_boost' to be set to be a positive value'"))?;
    if negative_boost < 0.0 {
        return Err(QueryError::illegal_argument("[boosting] negativeBoost must not be negative"));
    }
    Ok(QueryAst::Boosting(BoostingQuery { positive: Box::new(positive), negative: Box::new(negative), negative_boost, boost }))
}

pub fn parse_terms_set(value: &Value) -> Result<QueryAst, QueryError> {
    const Q: &str = "terms_set";
    let (field, body, boost) = single_field(Q, value)?;
    let opts = expect_object(Q, body)?;
    let mut q = TermsSetQuery { field: field.to_string(), terms: Vec::new(), minimum_should_match_field: String::new(), boost };
    for (k, v) in opts {
        match k.as_str() {
            "terms" => match v {
                Value::Array(items) => q.terms = items.iter().map(|i| expect_scalar(Q, i)).collect::<Result<_, _>>()?,
                _ => return Err(QueryError::parsing("[terms_set] [terms] must be an array")),
            },
            "minimum_should_match_field" => q.minimum_should_match_field = parse_string(Q, k, v)?,
            "minimum_should_match_script" => {
                return Err(QueryError::illegal_argument(
                    "[terms_set] [minimum_should_match_script] is not implemented by Quidditch; use [minimum_should_match_field]",
                ));
            }
            "boost" => q.boost = Some(parse_f32(Q, k, v)?),
            "_name" => {}
            _ => return Err(unknown_param(Q, k)),
        }
    }
    if q.minimum_should_match_field.is_empty() {
        return Err(QueryError::parsing(
            "[terms_set] either [minimum_should_match_field] or [minimum_should_match_script] must be set",
        ));
    }
    Ok(QueryAst::TermsSet(q))
}

pub fn parse_match_phrase_prefix(value: &Value) -> Result<QueryAst, QueryError> {
    const Q: &str = "match_phrase_prefix";
    let (field, body, boost) = single_field(Q, value)?;
    let mut q = MatchPhrasePrefixQuery {
        field: field.to_string(),
        query: Value::Null,
        analyzer: None,
        max_expansions: 50,
        zero_terms_all: false,
        boost,
    };
    match body {
        Value::Object(opts) => {
            for (k, v) in opts {
                match k.as_str() {
                    "query" => q.query = expect_scalar(Q, v)?,
                    "analyzer" => q.analyzer = Some(parse_string(Q, k, v)?),
                    "max_expansions" => q.max_expansions = parse_u32(Q, k, v)?,
                    "zero_terms_query" => q.zero_terms_all = parse_string(Q, k, v)?.eq_ignore_ascii_case("all"),
                    "boost" => q.boost = Some(parse_f32(Q, k, v)?),
                    // Positions are matched exactly: a slop is accepted but not applied.
                    "slop" | "_name" => {}
                    _ => return Err(unknown_param(Q, k)),
                }
            }
        }
        other => q.query = expect_scalar(Q, other)?,
    }
    if q.query.is_null() {
        return Err(QueryError::parsing("[match_phrase_prefix] requires query value"));
    }
    Ok(QueryAst::MatchPhrasePrefix(q))
}

pub fn parse_match_bool_prefix(value: &Value) -> Result<QueryAst, QueryError> {
    const Q: &str = "match_bool_prefix";
    let (field, body, boost) = single_field(Q, value)?;
    let mut q = MatchBoolPrefixQuery {
        field: field.to_string(),
        query: Value::Null,
        operator: Operator::Or,
        minimum_should_match: None,
        analyzer: None,
        fuzzy: None,
        boost,
    };
    let mut fuzzy = FuzzyParams::default();
    match body {
        Value::Object(opts) => {
            for (k, v) in opts {
                match k.as_str() {
                    "query" => q.query = expect_scalar(Q, v)?,
                    "analyzer" => q.analyzer = Some(parse_string(Q, k, v)?),
                    "operator" => q.operator = parse_operator(Q, v)?,
                    "minimum_should_match" => q.minimum_should_match = Some(MinimumShouldMatch::parse(v)?),
                    "fuzziness" | "prefix_length" | "fuzzy_transpositions" => fuzzy.read(Q, k, v)?,
                    "boost" => q.boost = Some(parse_f32(Q, k, v)?),
                    "max_expansions" | "fuzzy_rewrite" | "_name" => {}
                    _ => return Err(unknown_param(Q, k)),
                }
            }
        }
        other => q.query = expect_scalar(Q, other)?,
    }
    if q.query.is_null() {
        return Err(QueryError::parsing("[match_bool_prefix] requires query value"));
    }
    q.fuzzy = fuzzy.options();
    Ok(QueryAst::MatchBoolPrefix(q))
}
