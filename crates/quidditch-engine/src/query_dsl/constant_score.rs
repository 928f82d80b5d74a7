//! `constant_score`: `{"constant_score": {"filter": {…}, "boost": 1.2}}`.

use serde_json::Value;

use super::{expect_object, parse_f32, parse_query, unknown_param};
use crate::query_ast::{ConstantScoreQuery, QueryAst, QueryError};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut filter = None;
    let mut boost = None;
    for (k, v) in expect_object("constant_score", value)? {
        match k.as_str() {
            "filter" => filter = Some(parse_query(v)?),
            "boost" => boost = Some(parse_f32("constant_score", k, v)?),
            "_name" => {}
            _ => return Err(unknown_param("constant_score", k)),
        }
    }
    let filter = filter
        .ok_or_else(|| QueryError::parsing("[constant_score] requires a 'filter' element"))?;
    Ok(QueryAst::ConstantScore(ConstantScoreQuery { filter: Box::new(filter), boost }))
}
