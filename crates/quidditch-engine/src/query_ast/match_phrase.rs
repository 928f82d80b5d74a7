//! `match_phrase`: analyzed tokens in order (with `slop`).

use serde_json::Value;
use tantivy::query::{EmptyQuery, PhraseQuery, Query, TermQuery as TantivyTermQuery};
use tantivy::schema::IndexRecordOption;

use super::field::{FieldTarget, scalar_to_string};
use super::{FieldKind, LoweringContext, QueryError, TermQuery, boosted};

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
        let Some(mut target) = FieldTarget::resolve(ctx, &self.field)? else {
            return Ok(Box::new(EmptyQuery));
        };
        if target.kind() != FieldKind::Text {
            let term = TermQuery {
                field: self.field.clone(),
                value: self.query.clone(),
                boost: self.boost,
                case_insensitive: false,
            };
            return term.lower(ctx);
        }
        if let Some(analyzer) = &self.analyzer {
            target.resolved.analyzer = Some(analyzer.clone());
        }
        let text = scalar_to_string(&self.query, &self.field)?;
        let tokens = target.analyze(&text)?;
        let query: Box<dyn Query> = match tokens.len() {
            0 => Box::new(EmptyQuery),
            1 => Box::new(TantivyTermQuery::new(
                target.str_term(&tokens[0].1),
                IndexRecordOption::WithFreqs,
            )),
            _ => {
                let terms =
                    tokens.iter().map(|(pos, t)| (*pos, target.str_term(t))).collect::<Vec<_>>();
                let mut phrase = PhraseQuery::new_with_offset_and_slop(terms, self.slop);
                phrase.set_slop(self.slop);
                Box::new(phrase)
            }
        };
        Ok(boosted(query, self.boost))
    }
}
