//! `multi_match`: `{"multi_match": {"query": "rust", "fields": ["title^2", "body"]}}`.

use serde_json::Value;

use super::match_query::parse_operator;
use super::{
    expect_object, expect_scalar, parse_bool, parse_f32, parse_string, parse_u32, unknown_param,
};
use crate::query_ast::{
    MinimumShouldMatch, MultiMatchQuery, MultiMatchType, Operator, QueryAst, QueryError,
};

/// `title^2` → (`title`, Some(2.0)).
pub(crate) fn parse_field_spec(spec: &str) -> Result<(String, Option<f32>), QueryError> {
    match spec.rsplit_once('^') {
        Some((name, boost)) => {
            let b = boost.parse::<f32>().map_err(|_| {
                QueryError::parsing(format!("[multi_match] invalid field boost in [{spec}]"))
            })?;
            Ok((name.to_string(), Some(b)))
        }
        None => Ok((spec.to_string(), None)),
    }
}

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut q = MultiMatchQuery {
        fields: Vec::new(),
        query: Value::Null,
        match_type: MultiMatchType::BestFields,
        operator: Operator::Or,
        minimum_should_match: None,
        tie_breaker: None,
        analyzer: None,
        slop: 0,
        lenient: false,
        fuzzy: None,
        boost: None,
    };
    let mut fuzzy = super::match_query::FuzzyParams::default();
    for (k, v) in expect_object("multi_match", value)? {
        match k.as_str() {
            "query" => q.query = expect_scalar("multi_match", v)?,
            "fields" => {
                let specs: Vec<String> = match v {
                    Value::String(s) => vec![s.clone()],
                    Value::Array(items) => items
                        .iter()
                        .map(|i| parse_string("multi_match", "fields", i))
                        .collect::<Result<_, _>>()?,
                    _ => {
                        return Err(QueryError::parsing(
                            "[multi_match] [fields] must be a string or an array of strings",
                        ));
                    }
                };
                q.fields = specs.iter().map(|s| parse_field_spec(s)).collect::<Result<_, _>>()?;
            }
            "type" => {
                q.match_type = match parse_string("multi_match", k, v)?.as_str() {
                    "best_fields" => MultiMatchType::BestFields,
                    "most_fields" => MultiMatchType::MostFields,
                    "cross_fields" => MultiMatchType::CrossFields,
                    "phrase" => MultiMatchType::Phrase,
                    "phrase_prefix" => MultiMatchType::PhrasePrefix,
                    "bool_prefix" => MultiMatchType::BoolPrefix,
                    other => {
                        return Err(QueryError::parsing(format!(
                            "[multi_match] query does not support type {other}"
                        )));
                    }
                }
            }
            "operator" => q.operator = parse_operator("multi_match", v)?,
            "minimum_should_match" => q.minimum_should_match = Some(MinimumShouldMatch::parse(v)?),
            "tie_breaker" => q.tie_breaker = Some(parse_f32("multi_match", k, v)?),
            "analyzer" => q.analyzer = Some(parse_string("multi_match", k, v)?),
            "slop" => q.slop = parse_u32("multi_match", k, v)?,
            "lenient" => q.lenient = parse_bool("multi_match", k, v)?,
            "boost" => q.boost = Some(parse_f32("multi_match", k, v)?),
            "fuzziness" | "prefix_length" | "fuzzy_transpositions" => fuzzy.read("multi_match", k, v)?,
            "max_expansions" | "zero_terms_query" | "cutoff_frequency"
            | "auto_generate_synonyms_phrase_query" | "fuzzy_rewrite" | "_name" => {}
            _ => return Err(unknown_param("multi_match", k)),
        }
    }
    if q.query.is_null() {
        return Err(QueryError::parsing("No text specified for multi_match query"));
    }
    if q.match_type == MultiMatchType::BoolPrefix {
        for refused in ["slop", "cutoff_frequency"] {
            if value.get(refused).is_some() {
                return Err(QueryError::parsing(format!("[{refused}] not allowed for type [bool_prefix]")));
            }
        }
    }
    q.fuzzy = fuzzy.options();
    Ok(QueryAst::MultiMatch(q))
}
