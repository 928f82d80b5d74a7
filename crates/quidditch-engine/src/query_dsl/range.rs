//! `range`: `{"range": {"price": {"gte": 10, "lt": 20}}}`, also `from`/`to` with
//! `include_lower`/`include_upper`, and `format` for dates.

use serde_json::Value;

use super::{expect_scalar, parse_bool, parse_f32, parse_string, single_field, unknown_param};
use crate::query_ast::{QueryAst, QueryError, RangeBound, RangeQuery};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let (field, body, outer_boost) = single_field("range", value)?;
    let Value::Object(opts) = body else {
        return Err(QueryError::parsing(format!(
            "[range] query malformed, expected an object for field [{field}]"
        )));
    };
    let mut q = RangeQuery {
        field: field.to_string(),
        lower: None,
        upper: None,
        format: None,
        boost: outer_boost,
    };
    let (mut from, mut to) = (None, None);
    let (mut include_lower, mut include_upper) = (true, true);
    let bound = |v: &Value, inclusive| -> Result<Option<RangeBound>, QueryError> {
        if v.is_null() {
            return Ok(None);
        }
        Ok(Some(RangeBound { value: expect_scalar("range", v)?, inclusive }))
    };
    for (k, v) in opts {
        match k.as_str() {
            "gte" => q.lower = bound(v, true)?,
            "gt" => q.lower = bound(v, false)?,
            "lte" => q.upper = bound(v, true)?,
            "lt" => q.upper = bound(v, false)?,
            "from" => from = Some(v),
            "to" => to = Some(v),
            "include_lower" => include_lower = parse_bool("range", k, v)?,
            "include_upper" => include_upper = parse_bool("range", k, v)?,
            "format" => q.format = Some(parse_string("range", k, v)?),
            "boost" => q.boost = Some(parse_f32("range", k, v)?),
            "time_zone" | "relation" | "_name" => {}
            _ => return Err(unknown_param("range", k)),
        }
    }
    if let Some(v) = from {
        q.lower = bound(v, include_lower)?;
    }
    if let Some(v) = to {
        q.upper = bound(v, include_upper)?;
    }
    Ok(QueryAst::Range(q))
}
