//! `match_all` / `match_none`.

use serde_json::Value;

use super::{expect_object, parse_f32, unknown_param};
use crate::query_ast::{MatchAllQuery, MatchNoneQuery, QueryAst, QueryError};

pub fn parse_match_all(value: &Value) -> Result<QueryAst, QueryError> {
    let mut boost = None;
    for (k, v) in expect_object("match_all", value)? {
        match k.as_str() {
            "boost" => boost = Some(parse_f32("match_all", k, v)?),
            "_name" => {}
            _ => return Err(unknown_param("match_all", k)),
        }
    }
    Ok(QueryAst::MatchAll(MatchAllQuery { boost }))
}

pub fn parse_match_none(value: &Value) -> Result<QueryAst, QueryError> {
    for (k, _) in expect_object("match_none", value)? {
        if k != "boost" && k != "_name" {
            return Err(unknown_param("match_none", k));
        }
    }
    Ok(QueryAst::MatchNone(MatchNoneQuery))
}
