//! `bool`: `{"bool": {"must": […], "filter": […], "should": […], "must_not": […]}}`.

use serde_json::Value;

use super::{expect_object, parse_f32, parse_query_list, unknown_param};
use crate::query_ast::{BoolQuery, MinimumShouldMatch, QueryAst, QueryError};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut q = BoolQuery::default();
    for (k, v) in expect_object("bool", value)? {
        match k.as_str() {
            "must" => q.must = parse_query_list("bool", v)?,
            "filter" => q.filter = parse_query_list("bool", v)?,
            "should" => q.should = parse_query_list("bool", v)?,
            "must_not" | "mustNot" => q.must_not = parse_query_list("bool", v)?,
            "minimum_should_match" => q.minimum_should_match = Some(MinimumShouldMatch::parse(v)?),
            "boost" => q.boost = Some(parse_f32("bool", k, v)?),
            "adjust_pure_negative" | "_name" => {}
            _ => return Err(unknown_param("bool", k)),
        }
    }
    Ok(QueryAst::Bool(q))
}
