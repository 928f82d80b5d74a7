//! `match`: full-text query, analyzed with the field's analyzer. On keyword, numeric,
//! boolean and date fields it is an exact-value query, like in OpenSearch.

use serde_json::Value;
use tantivy::query::{BooleanQuery, EmptyQuery, Occur, Query};

use super::field::{FieldTarget, scalar_to_string};
use super::fuzzy::{FuzzyOptions, fuzzy_term_query};
use super::{FieldKind, LoweringContext, QueryError, TermQuery, boosted};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Operator {
    #[default]
    Or,
    And,
}

/// `minimum_should_match`: an absolute count or a percentage, negative meaning "all but".
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum MinimumShouldMatch {
    Count(i64),
    Percent(f64),
}

impl MinimumShouldMatch {
    pub fn parse(value: &Value) -> Result<MinimumShouldMatch, QueryError> {
        let bad = || {
            QueryError::parsing(format!("[minimum_should_match] has an unsupported value: {value}"))
        };
        match value {
            Value::Number(n) => n.as_i64().map(MinimumShouldMatch::Count).ok_or_else(bad),
            Value::String(s) => {
                let s = s.trim();
                if let Some(p) = s.strip_suffix('%') {
                    p.trim().parse::<f64>().map(MinimumShouldMatch::Percent).map_err(|_| bad())
                } else {
                    s.parse::<i64>().map(MinimumShouldMatch::Count).map_err(|_| bad())
                }
            }
            _ => Err(bad()),
        }
    }

    /// How many of `n` optional clauses must match (Lucene's rounding: towards zero).
    pub fn resolve(self, n: usize) -> usize {
        let n_i = n as i64;
        let required = match self {
            MinimumShouldMatch::Count(c) if c < 0 => n_i + c,
            MinimumShouldMatch::Count(c) => c,
            MinimumShouldMatch::Percent(p) if p < 0.0 => n_i - ((n as f64) * -p / 100.0) as i64,
            MinimumShouldMatch::Percent(p) => ((n as f64) * p / 100.0) as i64,
        };
        required.clamp(0, n_i) as usize
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatchQuery {
    pub field: String,
    pub query: Value,
    pub operator: Operator,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    /// Overrides the field's analyzer.
    pub analyzer: Option<String>,
    /// `zero_terms_query: all` matches everything when analysis removes every token.
    pub zero_terms_all: bool,
    /// `fuzziness`: each token matches terms within that many edits.
    pub fuzzy: Option<FuzzyOptions>,
    pub boost: Option<f32>,
}

/// A full-text query's value, analyzed for its field, or the query when that already decides it.
pub(super) enum AnalyzedText<'a> {
    /// An unmapped field (matches nothing), or a non-text field (the exact-value term query).
    Lowered(Box<dyn Query>),
    /// A text field (its analyzer overridden by the query's, if any) and the value's tokens
    /// with their positions.
    Tokens(FieldTarget<'a>, Vec<(usize, String)>),
}

/// What `match` and `match_phrase` share: resolve `field`; on keyword, numeric, boolean and
/// date fields the whole value is one term, like in OpenSearch; on text fields analyze it.
pub(super) fn analyze_text<'a>(
    ctx: &LoweringContext<'a>,
    field: &str,
    query: &Value,
    analyzer: Option<&str>,
    boost: Option<f32>,
) -> Result<AnalyzedText<'a>, QueryError> {
    let Some(mut target) = FieldTarget::resolve(ctx, field)? else {
        return Ok(AnalyzedText::Lowered(Box::new(EmptyQuery)));
    };
    if target.kind() != FieldKind::Text {
        let term = TermQuery { field: field.to_string(), value: query.clone(), boost, case_insensitive: false };
        return Ok(AnalyzedText::Lowered(term.lower(ctx)?));
    }
    if let Some(analyzer) = analyzer {
        // The query's `analyzer` wins over the mapping's `search_analyzer` and `analyzer`.
        target.resolved.search_analyzer = Some(analyzer.to_string());
    }
    let text = scalar_to_string(query, field)?;
    let tokens = target.analyze(&text)?;
    Ok(AnalyzedText::Tokens(target, tokens))
}

impl MatchQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let (target, tokens) =
            match analyze_text(ctx, &self.field, &self.query, self.analyzer.as_deref(), self.boost)? {
                AnalyzedText::Lowered(query) => return Ok(query),
                AnalyzedText::Tokens(target, tokens) => (target, tokens),
            };
        let mut tokens: Vec<String> = tokens.into_iter().map(|(_, t)| t).collect();
        tokens.dedup();
        if tokens.is_empty() {
            return Ok(if self.zero_terms_all {
                Box::new(tantivy::query::AllQuery)
            } else {
                Box::new(EmptyQuery)
            });
        }
        let mut clauses: Vec<Box<dyn Query>> = tokens
            .iter()
            .map(|t| match self.fuzzy {
                Some(f) => fuzzy_term_query(&target, t, f.fuzziness, f.prefix_length, f.transpositions, None),
                None => target.text_term_query(t),
            })
            .collect();
        let query: Box<dyn Query> = if clauses.len() == 1 {
            clauses.pop().expect("one clause")
        } else {
            let n = clauses.len();
            let required = match (self.operator, self.minimum_should_match) {
                (Operator::And, _) => n,
                (Operator::Or, Some(msm)) => msm.resolve(n).max(1),
                (Operator::Or, None) => 1,
            };
            if required >= n {
                Box::new(BooleanQuery::new(clauses.into_iter().map(|c| (Occur::Must, c)).collect()))
            } else {
                Box::new(BooleanQuery::union_with_minimum_required_clauses(clauses, required))
            }
        };
        Ok(boosted(target.scored(query), self.boost))
    }
}

#[cfg(test)]
mod tests {
    use super::MinimumShouldMatch;

    #[test]
    fn minimum_should_match_rounding() {
        assert_eq!(MinimumShouldMatch::Count(2).resolve(3), 2);
        assert_eq!(MinimumShouldMatch::Count(-1).resolve(3), 2);
        assert_eq!(MinimumShouldMatch::Percent(75.0).resolve(3), 2);
        assert_eq!(MinimumShouldMatch::Percent(-25.0).resolve(4), 3);
        assert_eq!(MinimumShouldMatch::Count(7).resolve(3), 3);
    }
}
