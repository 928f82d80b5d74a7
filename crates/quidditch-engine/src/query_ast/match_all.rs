//! `match_all` and `match_none`.

use tantivy::query::{AllQuery, EmptyQuery, Query};

use super::{LoweringContext, QueryError, boosted};

#[derive(Debug, Clone, PartialEq)]
pub struct MatchAllQuery {
    pub boost: Option<f32>,
}

impl MatchAllQuery {
    pub fn lower(&self, _ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        Ok(boosted(Box::new(AllQuery), self.boost))
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct MatchNoneQuery;

impl MatchNoneQuery {
    pub fn lower(&self, _ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        Ok(Box::new(EmptyQuery))
    }
}
