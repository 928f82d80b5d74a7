//! The geo queries' shared parsing: the field entry among the options, points under a
//! `validation_method`, and `ignore_unmapped`. One module per query type below.

pub(super) mod bounding_box;
pub(super) mod distance;
pub(super) mod polygon;
pub(super) mod shape;

use serde_json::{Map, Value};

use crate::geo::GeoPoint;
use crate::query_ast::QueryError;

/// `validation_method`: what an out-of-range coordinate in the query means.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) enum ValidationMethod {
    /// An error.
    #[default]
    Strict,
    /// Used as given.
    IgnoreMalformed,
    /// Wrapped onto the globe.
    Coerce,
}

impl ValidationMethod {
    fn parse(query: &str, value: &Value) -> Result<ValidationMethod, QueryError> {
        match value.as_str().map(str::to_ascii_uppercase).as_deref() {
            Some("STRICT") => Ok(ValidationMethod::Strict),
            Some("IGNORE_MALFORMED") => Ok(ValidationMethod::IgnoreMalformed),
            Some("COERCE") => Ok(ValidationMethod::Coerce),
            _ => Err(QueryError::illegal_argument(format!(
                "[{query}] failed to parse [validation_method]: no validation method for [{value}]"
            ))),
        }
    }

    /// A query point, checked or fixed as this method says.
    fn point(self, query: &str, value: &Value) -> Result<GeoPoint, QueryError> {
        let point = GeoPoint::parse_unchecked(value)
            .map_err(|why| QueryError::parsing(format!("[{query}] failed to parse point [{value}]: {why}")))?;
        match self {
            ValidationMethod::Strict => point.checked().map_err(|why| QueryError::query_shard(format!("{why} for [{query}]"))),
            ValidationMethod::IgnoreMalformed => Ok(point),
            ValidationMethod::Coerce => Ok(point.normalized()),
        }
    }
}

/// The options every geo query takes besides its own.
#[derive(Debug, Default)]
pub(super) struct CommonOptions {
    pub validation: ValidationMethod,
    pub ignore_unmapped: bool,
    pub boost: Option<f32>,
}

/// Splits a geo query body into its one field entry and the options (`own`: the query's
/// own option names, handed to `own_option`).
pub(super) fn split<'a>(
    query: &str,
    value: &'a Value,
    own: &[&str],
    mut own_option: impl FnMut(&str, &'a Value) -> Result<(), QueryError>,
) -> Result<(&'a str, &'a Value, CommonOptions), QueryError> {
    let obj: &Map<String, Value> = super::expect_object(query, value)?;
    let mut common = CommonOptions::default();
    let mut field = None;
    for (k, v) in obj {
        match k.as_str() {
            "boost" => common.boost = Some(super::parse_f32(query, k, v)?),
            "_name" => {}
            "ignore_unmapped" => common.ignore_unmapped = super::parse_bool(query, k, v)?,
            "validation_method" => common.validation = ValidationMethod::parse(query, v)?,
            // Accepted and without effect, as in OpenSearch 2.x.
            "type" if query == "geo_bounding_box" => {}
            k if own.contains(&k) => own_option(k, v)?,
            _ => {
                if let Some((first, _)) = field {
                    return Err(QueryError::parsing(format!(
                        "[{query}] query doesn't support multiple fields, found [{first}] and [{k}]"
                    )));
                }
                field = Some((k.as_str(), v));
            }
        }
    }
    let (name, v) = field.ok_or_else(|| QueryError::parsing(format!("[{query}] query malformed, no field specified")))?;
    Ok((name, v, common))
}
