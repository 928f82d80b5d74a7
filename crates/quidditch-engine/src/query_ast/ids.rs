//! `ids`: documents by `_id`.

use tantivy::Term;
use tantivy::query::{ConstScoreQuery, EmptyQuery, Query, TermSetQuery};

use super::{LoweringContext, QueryError};

#[derive(Debug, Clone, PartialEq)]
pub struct IdsQuery {
    pub values: Vec<String>,
    pub boost: Option<f32>,
}

impl IdsQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        if self.values.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        let id = ctx
            .schema
            .get_field("_id")
            .map_err(|_| QueryError::internal("index schema has no [_id] field"))?;
        let terms = self.values.iter().map(|v| Term::from_field_text(id, v));
        Ok(Box::new(ConstScoreQuery::new(
            Box::new(TermSetQuery::new(terms)),
            self.boost.unwrap_or(1.0),
        )))
    }
}
