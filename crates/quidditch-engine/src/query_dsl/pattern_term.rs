//! The shared shape of the term-pattern queries (`prefix`, `wildcard`):
//! `{"<query>": {"<field>": "<value>"}}` or `{"<query>": {"<field>": {"value": "<value>", …}}}`.

use serde_json::Value;

use super::{parse_bool, parse_f32, parse_string, single_field, unknown_param};
use crate::query_ast::QueryError;

/// What a `prefix` or `wildcard` query body says.
pub(super) struct PatternTerm {
    pub field: String,
    pub value: String,
    pub case_insensitive: bool,
    pub boost: Option<f32>,
}

/// Parses the body of query `query`; the value may also be given under the query's own name
/// (`{"prefix": {"user": {"prefix": "ki"}}}`), as OpenSearch accepts.
pub(super) fn parse(query: &str, value: &Value) -> Result<PatternTerm, QueryError> {
    let (field, body, outer_boost) = single_field(query, value)?;
    let mut q = PatternTerm {
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
                    k if k == "value" || k == query => {
                        q.value = parse_string(query, k, v)?;
                        found = true;
                    }
                    "boost" => q.boost = Some(parse_f32(query, k, v)?),
                    "case_insensitive" => q.case_insensitive = parse_bool(query, k, v)?,
                    "rewrite" | "_name" => {}
                    _ => return Err(unknown_param(query, k)),
                }
            }
            if !found {
                return Err(QueryError::parsing(format!("[{query}] query requires a value")));
            }
        }
        other => q.value = parse_string(query, "value", other)?,
    }
    Ok(q)
}
