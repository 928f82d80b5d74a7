//! `term`: `{"term": {"status": "active"}}` or `{"term": {"status": {"value": "active"}}}`.

use serde_json::Value;

use super::{expect_scalar, parse_bool, parse_f32, single_field, unknown_param};
use crate::query_ast::{QueryAst, QueryError, TermQuery};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let (field, body, outer_boost) = single_field("term", value)?;
    let mut q = TermQuery {
        field: field.to_string(),
        value: Value::Null,
        boost: outer_boost,
        case_insensitive: false,
    };
    match body {
        Value::Object(opts) => {
            for (k, v) in opts {
                match k.as_str() {
                    "value" => q.value = expect_scalar("term", v)?,
                    "boost" => q.boost = Some(parse_f32("term", k, v)?),
                    "case_insensitive" => q.case_insensitive = parse_bool("term", k, v)?,
                    "_name" => {}
                    _ => return Err(unknown_param("term", k)),
                }
            }
            if q.value.is_null() {
                return Err(QueryError::parsing("[term] query requires a value"));
            }
        }
        other => q.value = expect_scalar("term", other)?,
    }
    Ok(QueryAst::Term(q))
}
