//! `match_phrase`: `{"match_phrase": {"title": {"query": "quick fox", "slop": 1}}}`.

use serde_json::Value;

use super::{expect_scalar, parse_f32, parse_string, parse_u32, single_field, unknown_param};
use crate::query_ast::{MatchPhraseQuery, QueryAst, QueryError};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let (field, body, outer_boost) = single_field("match_phrase", value)?;
    let mut q = MatchPhraseQuery {
        field: field.to_string(),
        query: Value::Null,
        slop: 0,
        analyzer: None,
        boost: outer_boost,
    };
    match body {
        Value::Object(opts) => {
            for (k, v) in opts {
                match k.as_str() {
                    "query" => q.query = expect_scalar("match_phrase", v)?,
                    "slop" => q.slop = parse_u32("match_phrase", k, v)?,
                    "analyzer" => q.analyzer = Some(parse_string("match_phrase", k, v)?),
                    "boost" => q.boost = Some(parse_f32("match_phrase", k, v)?),
                    "zero_terms_query" | "_name" => {}
                    _ => return Err(unknown_param("match_phrase", k)),
                }
            }
            if q.query.is_null() {
                return Err(QueryError::parsing("[match_phrase] requires query value"));
            }
        }
        other => q.query = expect_scalar("match_phrase", other)?,
    }
    Ok(QueryAst::MatchPhrase(q))
}
