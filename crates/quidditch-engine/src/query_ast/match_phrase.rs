//! `match_phrase`: analyzed tokens in order (with `slop`).

use serde_json::Value;
use tantivy::query::{EmptyQuery, PhraseQuery, Query};

use super::match_query::{AnalyzedText, analyze_text};
use super::{LoweringContext, QueryError, boosted};

#[derive(Debug, Clone, PartialEq)]
pub struct MatchPhraseQuery {
    pub field: String,
    pub query: Value,
    pub slop: u32,
    pub analyzer: Option<String>,
    pub boost: Option<f32>,
}

impl MatchPhraseQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let (target, tokens) =
            match analyze_text(ctx, &self.field, &self.query, self.analyzer.as_deref(), self.boost)? {
                AnalyzedText::Lowered(query) => return Ok(query),
                AnalyzedText::Tokens(target, tokens) => (target, tokens),
            };
        let query: Box<dyn Query> = match tokens.len() {
            0 => Box::new(EmptyQuery),
            1 => target.text_term_query(&tokens[0].1),
            _ => {
                let terms =
                    tokens.iter().map(|(pos, t)| (*pos, target.str_term(t))).collect::<Vec<_>>();
                let mut phrase = PhraseQuery::new_with_offset_and_slop(terms, self.slop);
                phrase.set_slop(self.slop);
                Box::new(phrase)
            }
        };
        Ok(boosted(target.scored(query), self.boost))
    }
}
