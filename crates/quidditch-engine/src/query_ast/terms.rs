//! `terms`: any of several exact values. Scores like a filter (constant), as in OpenSearch.

use serde_json::Value;
use tantivy::query::{BooleanQuery, ConstScoreQuery, EmptyQuery, Occur, Query, TermSetQuery};

use super::field::FieldTarget;
use super::{FieldKind, LoweringContext, QueryError, TermQuery};

#[derive(Debug, Clone, PartialEq)]
pub struct TermsQuery {
    pub field: String,
    pub values: Vec<Value>,
    pub boost: Option<f32>,
}

impl TermsQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        if self.field == "_id" {
            return super::IdsQuery::from_values(&self.values, self.boost)?.lower(ctx);
        }
        if self.field == super::routing::ROUTING_FIELD {
            return super::routing::routing_terms(ctx, &self.values, self.boost);
        }
        let Some(target) = FieldTarget::resolve(ctx, &self.field)? else {
            return Ok(Box::new(EmptyQuery));
        };
        if self.values.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        let inner: Box<dyn Query> = if target.kind() == FieldKind::Date {
            let clauses = self
                .values
                .iter()
                .map(|v| {
                    let q = TermQuery {
                        field: self.field.clone(),
                        value: v.clone(),
                        boost: None,
                        case_insensitive: false,
                    };
                    Ok((Occur::Should, q.lower(ctx)?))
                })
                .collect::<Result<Vec<_>, QueryError>>()?;
            Box::new(BooleanQuery::new(clauses))
        } else {
            let terms =
                self.values.iter().map(|v| target.value_term(v)).collect::<Result<Vec<_>, _>>()?;
            Box::new(TermSetQuery::new(terms))
        };
        Ok(Box::new(ConstScoreQuery::new(inner, self.boost.unwrap_or(1.0))))
    }
}
