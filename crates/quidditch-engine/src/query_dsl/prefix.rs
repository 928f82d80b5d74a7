//! `prefix`: `{"prefix": {"user": "ki"}}` or `{"prefix": {"user": {"value": "ki"}}}`.

use serde_json::Value;

use super::pattern_term;
use crate::query_ast::{PrefixQuery, QueryAst, QueryError};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let q = pattern_term::parse("prefix", value)?;
    Ok(QueryAst::Prefix(PrefixQuery {
        field: q.field,
        value: q.value,
        case_insensitive: q.case_insensitive,
        boost: q.boost,
    }))
}
