//! `prefix`: `{"prefix": {"user": "ki"}}` or `{"prefix": {"user": {"value": "ki"}}}`.

use serde_json::Value;

use super::{parse_bool, parse_f32, parse_string, single_field, unknown_param};
use crate::query_ast::{PrefixQuery, QueryAst, QueryError};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let (field, body, outer_boost) = single_field("prefix", value)?;
    let mut q = PrefixQuery {
        field: field.to_string(),
        value: String::new(),
        case_insensitive: false,
        boost: outer_boost,
    };
    match body {
        Value::Object(opts) => {
            let mut found = false;
            for (k, v) in opts {
                match k.as_str() {
                    "value" | "prefix" => {
                        q.value = parse_string("prefix", k, v)?;
                        found = true;
                    }
                    "boost" => q.boost = Some(parse_f32("prefix", k, v)?),
                    "case_insensitive" => q.case_insensitive = parse_bool("prefix", k, v)?,
                    "rewrite" | "_name" => {}
                    _ => return Err(unknown_param("prefix", k)),
                }
            }
            if !found {
                return Err(QueryError::parsing("[prefix] query requires a value"));
            }
        }
        other => q.value = parse_string("prefix", "value", other)?,
    }
    Ok(QueryAst::Prefix(q))
}
