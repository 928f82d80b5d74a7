//! The `q=` URI parameter: a small subset of the Lucene query syntax: `*` / `*:*`, bare words
//! (searched in every field), `field:value`, `field:"a phrase"`, and `+`/`-` prefixes.

use serde_json::Value;

use crate::query_ast::{
    BoolQuery, MatchPhraseQuery, MatchQuery, MultiMatchQuery, MultiMatchType, Operator, QueryAst,
    QueryError,
};

/// `default_field` is `df` (all fields when `None`); `default_and` is `default_operator=AND`.
pub fn parse_uri_query(
    q: &str,
    default_field: Option<&str>,
    default_and: bool,
) -> Result<QueryAst, QueryError> {
    let q = q.trim();
    if q.is_empty() || q == "*" || q == "*:*" {
        return Ok(QueryAst::match_all());
    }
    let mut bool_q = BoolQuery::default();
    for token in tokenize(q)? {
        let (occur, rest) = match token.as_bytes()[0] {
            b'+' => (Some(true), &token[1..]),
            b'-' => (Some(false), &token[1..]),
            _ => (None, token.as_str()),
        };
        let (field, value) = match rest.split_once(':') {
            Some((f, v)) if !f.is_empty() && !f.starts_with('"') => (Some(f), v),
            _ => (default_field, rest),
        };
        let clause = clause_for(field, value);
        match occur {
            Some(true) => bool_q.must.push(clause),
            Some(false) => bool_q.must_not.push(clause),
            None if default_and => bool_q.must.push(clause),
            None => bool_q.should.push(clause),
        }
    }
    Ok(QueryAst::Bool(bool_q))
}

fn clause_for(field: Option<&str>, value: &str) -> QueryAst {
    let phrase = value.len() >= 2 && value.starts_with('"') && value.ends_with('"');
    let text = if phrase { &value[1..value.len() - 1] } else { value };
    match field {
        Some(f) if phrase => QueryAst::MatchPhrase(MatchPhraseQuery {
            field: f.to_string(),
            query: Value::String(text.to_string()),
            slop: 0,
            analyzer: None,
            boost: None,
        }),
        Some(f) => QueryAst::Match(MatchQuery {
            field: f.to_string(),
            query: Value::String(text.to_string()),
            operator: Operator::Or,
            minimum_should_match: None,
            analyzer: None,
            zero_terms_all: false,
            boost: None,
        }),
        None => QueryAst::MultiMatch(MultiMatchQuery {
            fields: vec![("*".to_string(), None)],
            query: Value::String(text.to_string()),
            match_type: if phrase { MultiMatchType::Phrase } else { MultiMatchType::BestFields },
            operator: Operator::Or,
            minimum_should_match: None,
            tie_breaker: None,
            analyzer: None,
            slop: 0,
            lenient: true,
            boost: None,
        }),
    }
}

/// Splits on whitespace outside double quotes.
fn tokenize(q: &str) -> Result<Vec<String>, QueryError> {
    let mut tokens = Vec::new();
    let mut current = String::new();
    let mut in_quotes = false;
    for c in q.chars() {
        match c {
            '"' => {
                in_quotes = !in_quotes;
                current.push(c);
            }
            c if c.is_whitespace() && !in_quotes => {
                if !current.is_empty() {
                    tokens.push(std::mem::take(&mut current));
                }
            }
            c => current.push(c),
        }
    }
    if in_quotes {
        return Err(QueryError::new(
            400,
            "query_shard_exception",
            format!("Failed to parse query [{q}]: unbalanced quotes"),
        ));
    }
    if !current.is_empty() {
        tokens.push(current);
    }
    tokens.retain(|t| t != "+" && t != "-");
    Ok(tokens)
}
