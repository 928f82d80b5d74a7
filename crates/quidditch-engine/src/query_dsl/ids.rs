//! `ids`: `{"ids": {"values": ["1", "4"]}}`.

use serde_json::Value;

use super::{expect_object, parse_f32, parse_string, unknown_param};
use crate::query_ast::{IdsQuery, QueryAst, QueryError};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut values = Vec::new();
    let mut boost = None;
    for (k, v) in expect_object("ids", value)? {
        match k.as_str() {
            "values" => {
                let Value::Array(items) = v else {
                    return Err(QueryError::parsing("[ids] [values] must be an array"));
                };
                values =
                    items.iter().map(|i| parse_string("ids", "values", i)).collect::<Result<_, _>>()?;
            }
            "boost" => boost = Some(parse_f32("ids", k, v)?),
            "type" | "_name" => {}
            _ => return Err(unknown_param("ids", k)),
        }
    }
    Ok(QueryAst::Ids(IdsQuery { values, boost }))
}
