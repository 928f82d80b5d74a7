//! `range`: numbers, dates (with `format` and date math) and keywords, via fast fields.

use std::ops::Bound;

use serde_json::Value;
use tantivy::Term;
use tantivy::columnar::NumericalValue;
use tantivy::query::{EmptyQuery, Query, RangeQuery as TantivyRangeQuery, TermSetQuery};

use super::field::{FieldTarget, coerce_bool};
use super::{ExistsQuery, FieldKind, LoweringContext, QueryError, boosted};

#[derive(Debug, Clone, PartialEq)]
pub struct RangeBound {
    pub value: Value,
    pub inclusive: bool,
}

#[derive(Debug, Clone, PartialEq)]
pub struct RangeQuery {
    pub field: String,
    pub lower: Option<RangeBound>,
    pub upper: Option<RangeBound>,
    /// Date format for the bounds (overrides the mapping's).
    pub format: Option<String>,
    pub boost: Option<f32>,
}

impl RangeQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let Some(target) = FieldTarget::resolve(ctx, &self.field)? else {
            return Ok(Box::new(EmptyQuery));
        };
        if self.lower.is_none() && self.upper.is_none() {
            return ExistsQuery { field: self.field.clone(), boost: self.boost }.lower(ctx);
        }
        let query: Box<dyn Query> = match target.kind() {
            FieldKind::Text => {
                return Err(QueryError::illegal_argument(format!(
                    "range queries on text field [{}] are not supported; use its keyword sub-field",
                    self.field
                )));
            }
            FieldKind::Ip => {
                return Err(QueryError::illegal_argument(format!(
                    "range queries on ip field [{}] are not supported",
                    self.field
                )));
            }
            FieldKind::Boolean => self.lower_bool(&target)?,
            FieldKind::Long | FieldKind::Double => self.lower_numeric(&target)?,
            _ => {
                let lower = self.bound(&target, self.lower.as_ref())?;
                let upper = self.bound(&target, self.upper.as_ref())?;
                Box::new(TantivyRangeQuery::new(lower, upper))
            }
        };
        Ok(boosted(query, self.boost))
    }

    fn bound(
        &self,
        target: &FieldTarget<'_>,
        bound: Option<&RangeBound>,
    ) -> Result<Bound<Term>, QueryError> {
        let Some(bound) = bound else {
            return Ok(Bound::Unbounded);
        };
        let mut term = target.path_term();
        match target.kind() {
            FieldKind::Long | FieldKind::Double => match target.coerce_number(&bound.value)? {
                NumericalValue::I64(i) => term.append_type_and_fast_value(i),
                NumericalValue::U64(u) => term.append_type_and_fast_value(u),
                NumericalValue::F64(f) => term.append_type_and_fast_value(f),
            },
            FieldKind::Date => {
                let millis = target.date_millis(&bound.value, self.format.as_deref())?;
                term.append_type_and_fast_value(tantivy::DateTime::from_timestamp_millis(millis));
            }
            FieldKind::Keyword | FieldKind::Text => {
                term = target.value_term(&bound.value)?;
            }
            FieldKind::Boolean | FieldKind::Ip => unreachable!("handled in lower"),
        }
        Ok(if bound.inclusive { Bound::Included(term) } else { Bound::Excluded(term) })
    }

    /// tantivy reads both numeric bounds with the type of the first one, so they must share
    /// a type: f64 if either is fractional, i64 otherwise.
    fn lower_numeric(&self, target: &FieldTarget<'_>) -> Result<Box<dyn Query>, QueryError> {
        let lo = self.lower.as_ref().map(|b| target.coerce_number(&b.value)).transpose()?;
        let hi = self.upper.as_ref().map(|b| target.coerce_number(&b.value)).transpose()?;
        let as_f64 = |v: NumericalValue| match v {
            NumericalValue::I64(i) => i as f64,
            NumericalValue::U64(u) => u as f64,
            NumericalValue::F64(f) => f,
        };
        let all_i64 = [lo, hi].iter().flatten().all(|v| match v {
            NumericalValue::I64(_) => true,
            NumericalValue::U64(u) => *u <= i64::MAX as u64,
            NumericalValue::F64(_) => false,
        });
        let make = |v: Option<NumericalValue>, b: Option<&RangeBound>| -> Bound<Term> {
            let (Some(v), Some(b)) = (v, b) else { return Bound::Unbounded };
            let mut term = target.path_term();
            if all_i64 {
                let i = match v {
                    NumericalValue::I64(i) => i,
                    NumericalValue::U64(u) => u as i64,
                    NumericalValue::F64(f) => f as i64,
                };
                term.append_type_and_fast_value(i);
            } else {
                term.append_type_and_fast_value(as_f64(v));
            }
            if b.inclusive { Bound::Included(term) } else { Bound::Excluded(term) }
        };
        Ok(Box::new(TantivyRangeQuery::new(make(lo, self.lower.as_ref()), make(hi, self.upper.as_ref()))))
    }

    /// Booleans order false < true; the range selects a subset of the two values.
    fn lower_bool(&self, target: &FieldTarget<'_>) -> Result<Box<dyn Query>, QueryError> {
        let inside = |v: bool| -> Result<bool, QueryError> {
            if let Some(b) = &self.lower {
                let lo = coerce_bool(&b.value, &self.field)?;
                if v < lo || (v == lo && !b.inclusive) {
                    return Ok(false);
                }
            }
            if let Some(b) = &self.upper {
                let hi = coerce_bool(&b.value, &self.field)?;
                if v > hi || (v == hi && !b.inclusive) {
                    return Ok(false);
                }
            }
            Ok(true)
        };
        let mut terms = Vec::new();
        for v in [false, true] {
            if inside(v)? {
                terms.push(target.value_term(&Value::Bool(v))?);
            }
        }
        Ok(Box::new(TermSetQuery::new(terms)))
    }
}
