//! `wildcard`: `{"wildcard": {"user": {"value": "ki*y"}}}`.

use serde_json::Value;

use super::pattern_term;
use crate::query_ast::{QueryAst, QueryError, WildcardQuery};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let q = pattern_term::parse("wildcard", value)?;
    Ok(QueryAst::Wildcard(WildcardQuery {
        field: q.field,
        pattern: q.value,
        case_insensitive: q.case_insensitive,
        boost: q.boost,
    }))
}
