//! `prefix`: terms starting with a literal prefix (keyword values, or tokens of text fields).

use tantivy::query::{ConstScoreQuery, EmptyQuery, Query};

use super::automaton::TermPrefixQuery;
use super::field::FieldTarget;
use super::{FieldKind, LoweringContext, QueryError};

#[derive(Debug, Clone, PartialEq)]
pub struct PrefixQuery {
    pub field: String,
    pub value: String,
    pub case_insensitive: bool,
    pub boost: Option<f32>,
}

impl PrefixQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let Some(target) = FieldTarget::resolve(ctx, &self.field)? else {
            return Ok(Box::new(EmptyQuery));
        };
        if !matches!(target.kind(), FieldKind::Text | FieldKind::Keyword) {
            return Err(QueryError::query_shard(format!(
                "Can only use prefix queries on keyword and text fields - not on [{}] which is of type [{}]",
                self.field,
                target.kind().name()
            )));
        }
        let query: Box<dyn Query> = if self.case_insensitive {
            let wanted = self.value.to_lowercase();
            let matcher = std::sync::Arc::new(move |suffix: &[u8]| {
                String::from_utf8_lossy(suffix).to_lowercase().starts_with(&wanted)
            });
            Box::new(TermPrefixQuery::new(&target.str_term(""), Some(matcher)))
        } else {
            Box::new(TermPrefixQuery::new(&target.str_term(&self.value), None))
        };
        Ok(Box::new(ConstScoreQuery::new(query, self.boost.unwrap_or(1.0))))
    }
}
