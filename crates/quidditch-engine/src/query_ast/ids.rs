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
    /// `term`/`terms` on `_id`: ids are strings, but OpenSearch accepts `{"term": {"_id": 1}}`.
    pub fn from_values(values: &[serde_json::Value], boost: Option<f32>) -> Result<IdsQuery, QueryError> {
        let values = values
            .iter()
            .map(|v| match v {
                serde_json::Value::String(s) => Ok(s.clone()),
                serde_json::Value::Number(n) => Ok(n.to_string()),
                serde_json::Value::Bool(b) => Ok(b.to_string()),
                other => Err(QueryError::parsing(format!("[_id] values must be strings, got [{other}]"))),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(IdsQuery { values, boost })
    }

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
