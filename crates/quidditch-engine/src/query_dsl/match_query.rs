//! `match`: `{"match": {"title": "quick fox"}}` or
//! `{"match": {"title": {"query": "quick fox", "operator": "and"}}}`.

use serde_json::Value;

use super::{expect_scalar, parse_bool, parse_f32, parse_string, parse_u32, single_field, unknown_param};
use crate::query_ast::{Fuzziness, FuzzyOptions, MatchQuery, MinimumShouldMatch, Operator, QueryAst, QueryError};

pub(crate) fn parse_operator(query: &str, value: &Value) -> Result<Operator, QueryError> {
    match value.as_str().map(str::to_ascii_lowercase).as_deref() {
        Some("or") => Ok(Operator::Or),
        Some("and") => Ok(Operator::And),
        _ => Err(QueryError::parsing(format!(
            "[{query}] query: operator must be [and] or [or], got [{value}]"
        ))),
    }
}

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let (field, body, outer_boost) = single_field("match", value)?;
    let mut q = MatchQuery {
        field: field.to_string(),
        query: Value::Null,
        operator: Operator::Or,
        minimum_should_match: None,
        analyzer: None,
        zero_terms_all: false,
        fuzzy: None,
        boost: outer_boost,
    };
    let mut fuzzy = FuzzyParams::default();
    match body {
        Value::Object(opts) => {
            for (k, v) in opts {
                match k.as_str() {
                    "query" => q.query = expect_scalar("match", v)?,
                    "operator" => q.operator = parse_operator("match", v)?,
                    "minimum_should_match" => {
                        q.minimum_should_match = Some(MinimumShouldMatch::parse(v)?)
                    }
                    "analyzer" => q.analyzer = Some(parse_string("match", k, v)?),
                    "boost" => q.boost = Some(parse_f32("match", k, v)?),
                    "zero_terms_query" => {
                        q.zero_terms_all = parse_string("match", k, v)?.eq_ignore_ascii_case("all")
                    }
                    "fuzziness" | "prefix_length" | "fuzzy_transpositions" => fuzzy.read("match", k, v)?,
                    // Accepted for compatibility; they do not change results here.
                    "max_expansions" | "fuzzy_rewrite" | "lenient" | "auto_generate_synonyms_phrase_query"
                    | "_name" => {}
                    _ => return Err(unknown_param("match", k)),
                }
            }
            if q.query.is_null() {
                return Err(QueryError::parsing("[match] requires query value"));
            }
        }
        other => q.query = expect_scalar("match", other)?,
    }
    q.fuzzy = fuzzy.options();
    Ok(QueryAst::Match(q))
}

/// `fuzziness`, `prefix_length` and `fuzzy_transpositions` of the full-text queries.
#[derive(Default)]
pub(crate) struct FuzzyParams {
    fuzziness: Option<Fuzziness>,
    prefix_length: usize,
    transpositions: Option<bool>,
}

impl FuzzyParams {
    pub fn read(&mut self, query: &str, key: &str, v: &Value) -> Result<(), QueryError> {
        match key {
            "fuzziness" => self.fuzziness = Some(Fuzziness::parse(v)?),
            "prefix_length" => self.prefix_length = parse_u32(query, key, v)? as usize,
            _ => self.transpositions = Some(parse_bool(query, key, v)?),
        }
        Ok(())
    }

    /// `None` without `fuzziness` (or with 0 edits): plain term matching.
    pub fn options(&self) -> Option<FuzzyOptions> {
        let fuzziness = self.fuzziness.filter(|f| *f != Fuzziness::Edits(0))?;
        Some(FuzzyOptions { fuzziness, prefix_length: self.prefix_length, transpositions: self.transpositions.unwrap_or(true) })
    }
}
