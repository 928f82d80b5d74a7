//! `terms`: `{"terms": {"tags": ["a", "b"], "boost": 2}}`.

use serde_json::Value;

use super::{expect_object, expect_scalar, parse_f32};
use crate::query_ast::{QueryAst, QueryError, TermsQuery};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut field = None;
    let mut boost = None;
    for (k, v) in expect_object("terms", value)? {
        match k.as_str() {
            "boost" => boost = Some(parse_f32("terms", k, v)?),
            "_name" => {}
            _ => {
                if field.is_some() {
                    return Err(QueryError::parsing(
                        "[terms] query does not support multiple fields",
                    ));
                }
                let Value::Array(items) = v else {
                    return Err(QueryError::parsing(format!(
                        "[terms] query does not support [{k}]: expected an array of values"
                    )));
                };
                let values =
                    items.iter().map(|i| expect_scalar("terms", i)).collect::<Result<_, _>>()?;
                field = Some((k.clone(), values));
            }
        }
    }
    let (field, values) = field
        .ok_or_else(|| QueryError::parsing("[terms] query requires a field and values"))?;
    Ok(QueryAst::Terms(TermsQuery { field, values, boost }))
}
