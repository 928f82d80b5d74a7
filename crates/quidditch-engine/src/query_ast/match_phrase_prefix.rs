//! `match_phrase_prefix`: a phrase whose last analysed token is a prefix (up to
//! `max_expansions` completions), as search-as-you-type uses it.

use serde_json::Value;
use tantivy::query::{ConstScoreQuery, EmptyQuery, PhrasePrefixQuery, Query};

use super::automaton::TermPrefixQuery;
use super::match_query::{AnalyzedText, analyze_text};
use super::{LoweringContext, QueryError, boosted};

#[derive(Debug, Clone, PartialEq)]
pub struct MatchPhrasePrefixQuery {
    pub field: String,
    pub query: Value,
    pub analyzer: Option<String>,
    pub max_expansions: u32,
    /// `zero_terms_query: all`.
    pub zero_terms_all: bool,
    pub boost: Option<f32>,
}

impl MatchPhrasePrefixQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let (target, tokens) =
            match analyze_text(ctx, &self.field, &self.query, self.analyzer.as_deref(), self.boost)? {
                AnalyzedText::Lowered(query) => return Ok(query),
                AnalyzedText::Tokens(target, tokens) => (target, tokens),
            };
        let query: Box<dyn Query> = match tokens.len() {
            0 if self.zero_terms_all => Box::new(tantivy::query::AllQuery),
            0 => Box::new(EmptyQuery),
            // One token: every term it starts (constant score, like Lucene's prefix rewrite).
            1 => Box::new(ConstScoreQuery::new(Box::new(TermPrefixQuery::new(&target.str_term(&tokens[0].1), None)), 1.0)),
            _ => {
                let terms = tokens.iter().map(|(pos, t)| (*pos, target.str_term(t))).collect::<Vec<_>>();
                let mut phrase = PhrasePrefixQuery::new_with_offset(terms);
                phrase.set_max_expansions(self.max_expansions);
                target.scored(Box::new(phrase))
            }
        };
        Ok(boosted(query, self.boost))
    }
}
