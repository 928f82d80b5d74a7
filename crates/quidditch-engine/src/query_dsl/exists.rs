//! `exists`: `{"exists": {"field": "user"}}`.

use serde_json::Value;

use super::{expect_object, parse_f32, parse_string, unknown_param};
use crate::query_ast::{ExistsQuery, QueryAst, QueryError};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut field = None;
    let mut boost = None;
    for (k, v) in expect_object("exists", value)? {
        match k.as_str() {
            "field" => field = Some(parse_string("exists", k, v)?),
            "boost" => boost = Some(parse_f32("exists", k, v)?),
            "_name" => {}
            _ => return Err(unknown_param("exists", k)),
        }
    }
    let field = field.ok_or_else(|| QueryError::parsing("[exists] must be provided with a [field]"))?;
    Ok(QueryAst::Exists(ExistsQuery { field, boost }))
}
