//! `wasm_udf`: `{"wasm_udf": {"name": "price_between", "version": "1.0.0",
//! "parameters": {"min": 10, "max": 20}, "on_error": "exclude"}}`.

use serde_json::{Map, Value};

use super::{expect_object, parse_string, unknown_param};
use crate::query_ast::{QueryAst, QueryError, WasmUdfQuery};
use crate::udf_exec::OnError;

const NAME: &str = "wasm_udf";

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut q = WasmUdfQuery { name: String::new(), version: None, params: Map::new(), on_error: OnError::Fail };
    for (k, v) in expect_object(NAME, value)? {
        match k.as_str() {
            "name" => q.name = parse_string(NAME, k, v)?,
            "version" => q.version = Some(parse_string(NAME, k, v)?),
            "parameters" | "params" => match v {
                Value::Object(m) => q.params.extend(m.clone()),
                Value::Null => {}
                _ => return Err(QueryError::parsing(format!("[{NAME}] [{k}] must be an object, got [{v}]"))),
            },
            "on_error" => q.on_error = parse_on_error(NAME, v)?,
            "_name" => {}
            _ => return Err(unknown_param(NAME, k)),
        }
    }
    if q.name.trim().is_empty() {
        return Err(QueryError::parsing(format!("[{NAME}] requires a non-empty [name]")));
    }
    Ok(QueryAst::WasmUdf(q))
}

pub(crate) fn parse_on_error(query: &str, v: &Value) -> Result<OnError, QueryError> {
    match v.as_str() {
        Some("fail") => Ok(OnError::Fail),
        Some("exclude") => Ok(OnError::Exclude),
        _ => Err(QueryError::parsing(format!("[{query}] [on_error] must be [fail] or [exclude], got [{v}]"))),
    }
}
