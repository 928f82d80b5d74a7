//! `constant_score`: a filter whose matches all score `boost`.

use tantivy::query::{ConstScoreQuery, Query};

use super::{LoweringContext, QueryAst, QueryError};

#[derive(Debug, Clone, PartialEq)]
pub struct ConstantScoreQuery {
    pub filter: Box<QueryAst>,
    pub boost: Option<f32>,
}

impl ConstantScoreQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let inner = self.filter.lower(ctx)?;
        Ok(Box::new(ConstScoreQuery::new(inner, self.boost.unwrap_or(1.0))))
    }
}
