//! `term`: an exact value, not analyzed.

use serde_json::Value;
use tantivy::query::{EmptyQuery, Query, TermQuery as TantivyTermQuery};
use tantivy::schema::IndexRecordOption;

use super::field::FieldTarget;
use super::{FieldKind, LoweringContext, QueryError, RangeBound, RangeQuery, boosted};

#[derive(Debug, Clone, PartialEq)]
pub struct TermQuery {
    pub field: String,
    pub value: Value,
    pub boost: Option<f32>,
    pub case_insensitive: bool,
}

impl TermQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        if self.field == "_id" {
            return super::IdsQuery::from_values(std::slice::from_ref(&self.value), self.boost)?.lower(ctx);
        }
        if self.field == super::routing::ROUTING_FIELD {
            return super::routing::routing_terms(ctx, std::slice::from_ref(&self.value), self.boost);
        }
        let Some(target) = FieldTarget::resolve(ctx, &self.field)? else {
            return Ok(Box::new(EmptyQuery));
        };
        if target.kind() == FieldKind::Date {
            // Dates are indexed at second precision in the inverted index; the fast field keeps
            // full precision, so an exact date is a closed range on it.
            let bound = Some(RangeBound { value: self.value.clone(), inclusive: true });
            let range = RangeQuery {
                field: self.field.clone(),
                lower: bound.clone(),
                upper: bound,
                format: None,
                boost: self.boost,
            };
            return range.lower(ctx);
        }
        let term = target.value_term(&self.value)?;
        let query: Box<dyn Query> = if target.kind() == FieldKind::Text {
            target.similarity().term_query(term)
        } else {
            Box::new(TantivyTermQuery::new(term, IndexRecordOption::WithFreqs))
        };
        Ok(boosted(target.scored(query), self.boost))
    }
}
