//! Parsing the OpenSearch query DSL (JSON) into the [`QueryAst`]. One module per query type,
//! like Quickwit's `elastic_query_dsl`; each exposes `parse(&Value) -> Result<QueryAst>`.
//! To add a query type: add a module here, a line in [`parse_query`], and an AST node.

mod bool_query;
mod constant_score;
mod distance_feature;
mod exists;
mod extra_queries;
mod function_score;
mod geo;
mod ids;
mod lucene_syntax;
mod match_all;
mod match_phrase;
mod match_query;
mod multi_match;
mod nested;
mod pattern_term;
mod prefix;
mod query_string;
mod range;
mod script_score;
mod simple_syntax;
mod term;
mod terms;
mod uri_query;
mod wasm_udf;
mod wildcard;

use serde_json::{Map, Value};

pub use lucene_syntax::parse_classic;
pub use uri_query::{URI_QUERY_PARAMS, parse_uri_query};

use crate::query_ast::{QueryAst, QueryError};

/// Parses one query object such as `{"match": {"title": "rust"}}`.
pub fn parse_query(value: &Value) -> Result<QueryAst, QueryError> {
    let obj = value.as_object().ok_or_else(|| {
        QueryError::parsing(format!("query malformed, expected an object but found [{value}]"))
    })?;
    let mut entries = obj.iter();
    let (name, body) = match (entries.next(), entries.next()) {
        (Some(entry), None) => entry,
        (None, _) => {
            return Err(QueryError::parsing("query malformed, empty clause found"));
        }
        (Some((first, _)), Some((second, _))) => {
            return Err(QueryError::parsing(format!(
                "[{first}] malformed query, expected [END_OBJECT] but found [FIELD_NAME] ([{second}])"
            )));
        }
    };
    match name.as_str() {
        "match_all" => match_all::parse_match_all(body),
        "match_none" => match_all::parse_match_none(body),
        "match" => match_query::parse(body),
        "match_phrase" => match_phrase::parse(body),
        "multi_match" => multi_match::parse(body),
        "term" => term::parse(body),
        "terms" => terms::parse(body),
        "range" => range::parse(body),
        "bool" => bool_query::parse(body),
        "exists" => exists::parse(body),
        "prefix" => prefix::parse(body),
        "wildcard" => wildcard::parse(body),
        "ids" => ids::parse(body),
        "constant_score" => constant_score::parse(body),
        "function_score" => function_score::parse(body),
        "wasm_udf" => wasm_udf::parse(body),
        "script_score" => script_score::parse(body),
        "query_string" => query_string::parse(body),
        "fuzzy" => extra_queries::parse_fuzzy(body),
        "regexp" => extra_queries::parse_regexp(body),
        "dis_max" => extra_queries::parse_dis_max(body),
        "boosting" => extra_queries::parse_boosting(body),
        "terms_set" => extra_queries::parse_terms_set(body),
        "match_phrase_prefix" => extra_queries::parse_match_phrase_prefix(body),
        "match_bool_prefix" => extra_queries::parse_match_bool_prefix(body),
        "simple_query_string" => query_string::parse_simple_query_string(body),
        "nested" => nested::parse(body),
        "geo_distance" => geo::distance::parse(body),
        "geo_bounding_box" => geo::bounding_box::parse(body),
        "geo_polygon" => geo::polygon::parse(body),
        "geo_shape" => geo::shape::parse(body),
        "distance_feature" => distance_feature::parse(body),
        other => Err(QueryError::unknown_query(other)),
    }
}

/// A `geo_bounding_box` box (the grid aggregations' `bounds`), coordinates checked.
pub(crate) fn parse_bounding_box(context: &str, value: &Value) -> Result<crate::query_ast::GeoShape, QueryError> {
    geo::bounding_box::parse_box(context, value, Default::default())
}

/// A query body must be an object.
pub(crate) fn expect_object<'a>(
    query: &str,
    value: &'a Value,
) -> Result<&'a Map<String, Value>, QueryError> {
    value.as_object().ok_or_else(|| {
        QueryError::parsing(format!("[{query}] query malformed, expected an object but found [{value}]"))
    })
}

/// Queries of the form `{"<query>": {"<field>": <shorthand or options>}}`: returns the field
/// and its value, rejecting zero or several fields.
pub(crate) fn single_field<'a>(
    query: &str,
    value: &'a Value,
) -> Result<(&'a str, &'a Value, Option<f32>), QueryError> {
    let obj = expect_object(query, value)?;
    let mut field = None;
    let mut boost = None;
    for (k, v) in obj {
        if k == "boost" {
            boost = Some(parse_f32(query, "boost", v)?);
            continue;
        }
        if k == "_name" {
            continue;
        }
        if let Some((first, _)) = field {
            return Err(QueryError::parsing(format!(
                "[{query}] query doesn't support multiple fields, found [{first}] and [{k}]"
            )));
        }
        field = Some((k.as_str(), v));
    }
    let (f, v) = field.ok_or_else(|| {
        QueryError::parsing(format!("[{query}] query malformed, no field specified"))
    })?;
    Ok((f, v, boost))
}

pub(crate) fn unknown_param(query: &str, param: &str) -> QueryError {
    QueryError::parsing(format!("[{query}] query does not support [{param}]"))
}

pub(crate) fn parse_f32(query: &str, param: &str, value: &Value) -> Result<f32, QueryError> {
    let n = match value {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse::<f64>().ok(),
        _ => None,
    };
    n.map(|f| f as f32).ok_or_else(|| {
        QueryError::parsing(format!("[{query}] [{param}] must be a number, got [{value}]"))
    })
}

pub(crate) fn parse_f64(query: &str, param: &str, value: &Value) -> Result<f64, QueryError> {
    parse_f32(query, param, value).and_then(|_| {
        match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        }
        .ok_or_else(|| QueryError::parsing(format!("[{query}] [{param}] must be a number")))
    })
}

pub(crate) fn parse_bool(query: &str, param: &str, value: &Value) -> Result<bool, QueryError> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        _ => Err(QueryError::parsing(format!(
            "[{query}] [{param}] must be a boolean, got [{value}]"
        ))),
    }
}

pub(crate) fn parse_string(query: &str, param: &str, value: &Value) -> Result<String, QueryError> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        Value::Bool(b) => Ok(b.to_string()),
        _ => Err(QueryError::parsing(format!(
            "[{query}] [{param}] must be a string, got [{value}]"
        ))),
    }
}

pub(crate) fn parse_u32(query: &str, param: &str, value: &Value) -> Result<u32, QueryError> {
    let n = match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    };
    n.and_then(|n| u32::try_from(n).ok()).ok_or_else(|| {
        QueryError::parsing(format!("[{query}] [{param}] must be a non-negative integer, got [{value}]"))
    })
}

/// A scalar query value (string, number or boolean).
pub(crate) fn expect_scalar(query: &str, value: &Value) -> Result<Value, QueryError> {
    match value {
        Value::String(_) | Value::Number(_) | Value::Bool(_) => Ok(value.clone()),
        Value::Null => Err(QueryError::parsing(format!("[{query}] query value cannot be null"))),
        _ => Err(QueryError::parsing(format!(
            "[{query}] query does not support an array or object as value, got [{value}]"
        ))),
    }
}

/// One or many queries (`"must": {…}` or `"must": [{…}, …]`).
pub(crate) fn parse_query_list(query: &str, value: &Value) -> Result<Vec<QueryAst>, QueryError> {
    match value {
        Value::Array(items) => items.iter().map(parse_query).collect(),
        Value::Object(_) => Ok(vec![parse_query(value)?]),
        _ => Err(QueryError::parsing(format!(
            "[{query}] query malformed, expected an object or array of queries, got [{value}]"
        ))),
    }
}

#[cfg(test)]
mod tests;
