//! `match_bool_prefix`: the analysed tokens as a `bool` of term queries (each optionally
//! fuzzy), the last token a prefix query; `operator` and `minimum_should_match` apply to all
//! of them, as in OpenSearch.

use serde_json::Value;
use tantivy::query::{BooleanQuery, ConstScoreQuery, EmptyQuery, Occur, Query};

use super::automaton::TermPrefixQuery;
use super::fuzzy::{FuzzyOptions, fuzzy_term_query};
use super::match_query::{AnalyzedText, analyze_text};
use super::{LoweringContext, MinimumShouldMatch, Operator, QueryError, boosted};

#[derive(Debug, Clone, PartialEq)]
pub struct MatchBoolPrefixQuery {
    pub field: String,
    pub query: Value,
    pub operator: Operator,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    pub analyzer: Option<String>,
    /// Fuzziness of the term queries (never of the final prefix).
    pub fuzzy: Option<FuzzyOptions>,
    pub boost: Option<f32>,
}

impl MatchBoolPrefixQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let (target, tokens) =
            match analyze_text(ctx, &self.field, &self.query, self.analyzer.as_deref(), self.boost)? {
                AnalyzedText::Lowered(query) => return Ok(query),
                AnalyzedText::Tokens(target, tokens) => (target, tokens),
            };
        let Some(((_, last), rest)) = tokens.split_last() else {
            return Ok(Box::new(EmptyQuery));
        };
        let mut clauses: Vec<Box<dyn Query>> = rest
            .iter()
            .map(|(_, t)| match self.fuzzy {
                Some(f) => fuzzy_term_query(&target, t, f.fuzziness, f.prefix_length, f.transpositions, None),
                None => target.scored(target.text_term_query(t)),
            })
            .collect();
        clauses.push(Box::new(ConstScoreQuery::new(Box::new(TermPrefixQuery::new(&target.str_term(last), None)), 1.0)));
        let n = clauses.len();
        let required = match (self.operator, self.minimum_should_match) {
            (Operator::And, _) => n,
            (Operator::Or, Some(msm)) => msm.resolve(n).max(1),
            (Operator::Or, None) => 1,
        };
        let query: Box<dyn Query> = if n == 1 {
            clauses.pop().expect("one clause")
        } else if required >= n {
            Box::new(BooleanQuery::new(clauses.into_iter().map(|c| (Occur::Must, c)).collect()))
        } else {
            Box::new(BooleanQuery::union_with_minimum_required_clauses(clauses, required))
        };
        Ok(boosted(query, self.boost))
    }
}
