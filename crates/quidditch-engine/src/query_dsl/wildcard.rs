//! `wildcard`: `{"wildcard": {"user": {"value": "ki*y"}}}`.

use serde_json::Value;

use super::{parse_bool, parse_f32, parse_string, single_field, unknown_param};
use crate::query_ast::{QueryAst, QueryError, WildcardQuery};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let (field, body, outer_boost) = single_field("wildcard", value)?;
    let mut q = WildcardQuery {
        field: field.to_string(),
        pattern: String::new(),
        case_insensitive: false,
        boost: outer_boost,
    };
    match body {
        Value::Object(opts) => {
            let mut found = false;
            for (k, v) in opts {
                match k.as_str() {
                    "value" | "wildcard" => {
                        q.pattern = parse_string("wildcard", k, v)?;
                        found = true;
                    }
                    "boost" => q.boost = Some(parse_f32("wildcard", k, v)?),
                    "case_insensitive" => q.case_insensitive = parse_bool("wildcard", k, v)?,
                    "rewrite" | "_name" => {}
                    _ => return Err(unknown_param("wildcard", k)),
                }
            }
            if !found {
                return Err(QueryError::parsing("[wildcard] query requires a value"));
            }
        }
        other => q.pattern = parse_string("wildcard", "value", other)?,
    }
    Ok(QueryAst::Wildcard(q))
}
