//! `query_string` and `simple_query_string`: the JSON options around a query text, parsed
//! with [`super::lucene_syntax`] or [`super::simple_syntax`] into a [`QueryStringQuery`].

use serde_json::Value;

use super::lucene_syntax::parse_classic;
use super::match_query::parse_operator;
use super::multi_match::parse_field_spec;
use super::simple_syntax::{SimpleFlags, parse_simple};
use super::{expect_object, parse_bool, parse_f32, parse_string, parse_u32, unknown_param};
use crate::query_ast::{
    FieldCombination, Fuzziness, MinimumShouldMatch, Operator, QueryAst, QueryError, QueryStringQuery, QsNode,
};

/// `fields`: a string or a list of `name^boost` specs.
fn parse_fields(query: &str, v: &Value) -> Result<Vec<(String, Option<f32>)>, QueryError> {
    let specs: Vec<String> = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(items) => items.iter().map(|i| parse_string(query, "fields", i)).collect::<Result<_, _>>()?,
        _ => return Err(QueryError::parsing(format!("[{query}] [fields] must be a string or an array of strings"))),
    };
    specs.iter().map(|s| parse_field_spec(s)).collect()
}

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    const Q: &str = "query_string";
    let mut text = None;
    let mut q = QueryStringQuery::new("", QsNode::MatchAll);
    let mut default_field = None;
    for (k, v) in expect_object(Q, value)? {
        match k.as_str() {
            "query" => text = Some(parse_string(Q, k, v)?),
            "default_field" => default_field = Some(parse_string(Q, k, v)?),
            "fields" => q.fields = parse_fields(Q, v)?,
            "default_operator" => q.default_operator = parse_operator(Q, v)?,
            "analyzer" => q.analyzer = Some(parse_string(Q, k, v)?),
            "quote_analyzer" => q.quote_analyzer = Some(parse_string(Q, k, v)?),
            "analyze_wildcard" => q.analyze_wildcard = parse_bool(Q, k, v)?,
            "lenient" => q.lenient = parse_bool(Q, k, v)?,
            "phrase_slop" => q.phrase_slop = parse_u32(Q, k, v)?,
            "fuzziness" => q.fuzziness = Fuzziness::parse(v)?,
            "fuzzy_prefix_length" => q.fuzzy_prefix_length = parse_u32(Q, k, v)? as usize,
            "fuzzy_transpositions" => q.fuzzy_transpositions = parse_bool(Q, k, v)?,
            "tie_breaker" => q.tie_breaker = parse_f32(Q, k, v)?,
            "minimum_should_match" => q.minimum_should_match = Some(MinimumShouldMatch::parse(v)?),
            "allow_leading_wildcard" => q.allow_leading_wildcard = parse_bool(Q, k, v)?,
            "boost" => q.boost = Some(parse_f32(Q, k, v)?),
            "type" => {
                q.combination = match parse_string(Q, k, v)?.as_str() {
                    "best_fields" => FieldCombination::BestFields,
                    "most_fields" => FieldCombination::MostFields,
                    other => {
                        return Err(QueryError::parsing(format!("[{Q}] query does not support type [{other}]")));
                    }
                }
            }
            // Accepted; no effect here (no synonyms graph, no rewrite choice, no positions
            // switch, the expansion cap is the engine's own).
            "fuzzy_max_expansions" | "max_determinized_states" | "enable_position_increments"
            | "auto_generate_synonyms_phrase_query" | "rewrite" | "fuzzy_rewrite" | "time_zone"
            | "quote_field_suffix" | "escape" | "_name" => {}
            _ => return Err(unknown_param(Q, k)),
        }
    }
    let text = text.ok_or_else(|| QueryError::parsing(format!("[{Q}] must be provided with a [query]")))?;
    if let Some(df) = default_field {
        if !q.fields.is_empty() {
            return Err(QueryError::parsing(format!("[{Q}] cannot use [fields] parameter in conjunction with [default_field]")));
        }
        q.fields = vec![(df, None)];
    }
    q.parsed = parse_classic(&text, q.default_operator == Operator::And)?;
    q.query = text;
    Ok(QueryAst::QueryString(q))
}

pub fn parse_simple_query_string(value: &Value) -> Result<QueryAst, QueryError> {
    const Q: &str = "simple_query_string";
    let mut text = None;
    let mut flags = SimpleFlags::ALL;
    let mut q = QueryStringQuery::new("", QsNode::MatchAll);
    // Lucene's SimpleQueryParser combines the fields of a term with a dis_max, tie 1.0.
    q.tie_breaker = 1.0;
    for (k, v) in expect_object(Q, value)? {
        match k.as_str() {
            "query" => text = Some(parse_string(Q, k, v)?),
            "fields" => q.fields = parse_fields(Q, v)?,
            "default_operator" => q.default_operator = parse_operator(Q, v)?,
            "analyzer" => q.analyzer = Some(parse_string(Q, k, v)?),
            "analyze_wildcard" => q.analyze_wildcard = parse_bool(Q, k, v)?,
            "lenient" => q.lenient = parse_bool(Q, k, v)?,
            "flags" => {
                flags = match v {
                    Value::Number(n) => SimpleFlags::from_bits(n.as_i64().unwrap_or(-1)),
                    other => SimpleFlags::parse(&parse_string(Q, k, other)?)?,
                }
            }
            "fuzzy_prefix_length" => q.fuzzy_prefix_length = parse_u32(Q, k, v)? as usize,
            "fuzzy_transpositions" => q.fuzzy_transpositions = parse_bool(Q, k, v)?,
            "minimum_should_match" => q.minimum_should_match = Some(MinimumShouldMatch::parse(v)?),
            "boost" => q.boost = Some(parse_f32(Q, k, v)?),
            "fuzzy_max_expansions" | "auto_generate_synonyms_phrase_query" | "quote_field_suffix" | "_name" => {}
            _ => return Err(unknown_param(Q, k)),
        }
    }
    let text = text.ok_or_else(|| QueryError::parsing(format!("[{Q}] query text missing")))?;
    q.parsed = parse_simple(&text, flags, q.default_operator == Operator::And);
    q.query = text;
    Ok(QueryAst::QueryString(q))
}
