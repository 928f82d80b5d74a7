//! The URL form of a query: `?q=` with `df`, `default_operator`, `analyzer`,
//! `analyze_wildcard` and `lenient`, as `_search`, `_count`, `_explain`, `_validate/query`
//! and the by-query APIs take them. It is a `query_string` query (same parser, same
//! expansion) built from URL parameters.

use std::collections::HashMap;

use super::lucene_syntax::parse_classic;
use crate::query_ast::{Operator, QueryAst, QueryError, QueryStringQuery};

/// The URL parameters that make up a URI query.
pub const URI_QUERY_PARAMS: &[&str] = &["q", "df", "default_operator", "analyzer", "analyze_wildcard", "lenient"];

/// The query of `?q=…` (with its companion parameters), or `None` without `q`.
pub fn parse_uri_query(params: &HashMap<String, String>) -> Result<Option<QueryAst>, QueryError> {
    let Some(text) = params.get("q") else { return Ok(None) };
    let text = text.trim();
    if text.is_empty() {
        return Ok(Some(QueryAst::match_all()));
    }
    let default_operator = match params.get("default_operator").map(|s| s.to_ascii_uppercase()).as_deref() {
        None | Some("OR") => Operator::Or,
        Some("AND") => Operator::And,
        Some(_) => {
            return Err(QueryError::illegal_argument(format!(
                "operator needs to be either [and] or [or], but was [{}]",
                params["default_operator"]
            )));
        }
    };
    let mut q = QueryStringQuery::new(text, parse_classic(text, default_operator == Operator::And)?);
    q.default_operator = default_operator;
    if let Some(df) = params.get("df") {
        q.fields = vec![(df.clone(), None)];
    }
    q.analyzer = params.get("analyzer").cloned();
    q.analyze_wildcard = bool_param(params, "analyze_wildcard")?;
    q.lenient = bool_param(params, "lenient")?;
    Ok(Some(QueryAst::QueryString(q)))
}

fn bool_param(params: &HashMap<String, String>, name: &str) -> Result<bool, QueryError> {
    match params.get(name).map(String::as_str) {
        None | Some("false") => Ok(false),
        Some("true") | Some("") => Ok(true),
        Some(other) => Err(QueryError::illegal_argument(format!(
            "Failed to parse value [{other}] as only [true] or [false] are allowed."
        ))),
    }
}
