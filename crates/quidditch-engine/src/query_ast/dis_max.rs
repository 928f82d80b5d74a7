//! `dis_max`: the best-scoring clause's score plus `tie_breaker` × the others'.

use tantivy::query::{DisjunctionMaxQuery, EmptyQuery, Query};

use super::{LoweringContext, QueryAst, QueryError, boosted};

#[derive(Debug, Clone, PartialEq)]
pub struct DisMaxQuery {
    pub queries: Vec<QueryAst>,
    pub tie_breaker: f32,
    pub boost: Option<f32>,
}

impl DisMaxQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let mut lowered = self.queries.iter().map(|q| q.lower(ctx)).collect::<Result<Vec<_>, _>>()?;
        let query: Box<dyn Query> = match lowered.len() {
            0 => Box::new(EmptyQuery),
            1 => lowered.pop().expect("one clause"),
            _ => Box::new(DisjunctionMaxQuery::with_tie_breaker(lowered, self.tie_breaker)),
        };
        Ok(boosted(query, self.boost))
    }
}
