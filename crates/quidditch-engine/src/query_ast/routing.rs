//! Queries on the `_routing` metadata field (`term`, `terms`, `exists`), as OpenSearch allows:
//! the custom routing a document was written with is indexed as one untokenized term.
//! Documents written without a routing have no `_routing` (they do not match `exists`).

use tantivy::Term;
use tantivy::query::{ConstScoreQuery, EmptyQuery, Query, RegexQuery, TermSetQuery};
use tantivy::schema::Field;

use super::{LoweringContext, QueryError};

/// The metadata field's name.
pub const ROUTING_FIELD: &str = "_routing";

/// The `_routing` field of this index (`None` on indices created before routing existed).
fn routing_field(ctx: &LoweringContext<'_>) -> Option<Field> {
    ctx.schema.get_field(ROUTING_FIELD).ok()
}

/// `term`/`terms` on `_routing`: any of `values` (strings; numbers and booleans as their text,
/// like `_id`). Scores like a filter.
pub(crate) fn routing_terms(
    ctx: &LoweringContext<'_>,
    values: &[serde_json::Value],
    boost: Option<f32>,
) -> Result<Box<dyn Query>, QueryError> {
    let values = super::IdsQuery::from_values(values, boost)
        .map_err(|_| QueryError::parsing("[_routing] values must be strings"))?
        .values;
    let Some(field) = routing_field(ctx).filter(|_| !values.is_empty()) else {
        return Ok(Box::new(EmptyQuery));
    };
    let terms = values.iter().map(|v| Term::from_field_text(field, v));
    Ok(Box::new(ConstScoreQuery::new(Box::new(TermSetQuery::new(terms)), boost.unwrap_or(1.0))))
}

/// `exists` on `_routing`: documents written with a custom routing.
pub(crate) fn routing_exists(ctx: &LoweringContext<'_>, boost: Option<f32>) -> Result<Box<dyn Query>, QueryError> {
    let Some(field) = routing_field(ctx) else { return Ok(Box::new(EmptyQuery)) };
    let any_term = RegexQuery::from_pattern(".*", field)
        .map_err(|e| QueryError::internal(format!("building the [_routing] exists query: {e}")))?;
    Ok(Box::new(ConstScoreQuery::new(Box::new(any_term), boost.unwrap_or(1.0))))
}
