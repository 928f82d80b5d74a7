//! `nested`: `{"nested": {"path": "comments", "query": {…}, "score_mode": "avg",
//! "ignore_unmapped": false, "boost": 1.0}}`.

use serde_json::Value;

use super::{expect_object, parse_bool, parse_f32, parse_query, parse_string, unknown_param};
use crate::query_ast::{NestedQuery, NestedScoreMode, QueryAst, QueryError};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut path = None;
    let mut query = None;
    let mut score_mode = NestedScoreMode::default();
    let mut ignore_unmapped = false;
    let mut boost = None;
    for (k, v) in expect_object("nested", value)? {
        match k.as_str() {
            "path" => path = Some(parse_string("nested", k, v)?),
            "query" => query = Some(parse_query(v)?),
            "score_mode" => {
                let mode = parse_string("nested", k, v)?;
                score_mode = NestedScoreMode::parse(&mode)
                    .ok_or_else(|| QueryError::illegal_argument(format!("No ScoreMode found for value [{mode}]")))?;
            }
            "ignore_unmapped" => ignore_unmapped = parse_bool("nested", k, v)?,
            "boost" => boost = Some(parse_f32("nested", k, v)?),
            "inner_hits" => {
                return Err(QueryError::illegal_argument(
                    "[nested] [inner_hits] is not supported yet: the nested objects that matched are not returned",
                ));
            }
            "_name" => {}
            _ => return Err(unknown_param("nested", k)),
        }
    }
    let path = path.ok_or_else(|| QueryError::parsing("[nested] requires 'path' field"))?;
    let query = query.ok_or_else(|| QueryError::parsing("[nested] requires 'query' field"))?;
    Ok(QueryAst::Nested(NestedQuery { path, query: Box::new(query), score_mode, ignore_unmapped, boost }))
}
