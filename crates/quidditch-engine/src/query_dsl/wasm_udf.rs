//! `wasm_udf`: `{"wasm_udf": {"name": "price_between", "version": "1.0.0",
//! "parameters": {"min": 10, "max": 20}, "on_error": "exclude"}}`.

use serde_json::{Map, Value};

use super::{expect_object, parse_string, unknown_param};
use crate::query_ast::{QueryAst, QueryError, WasmUdfQuery};
use crate::query_ast::OnError;

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

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::query_ast::{QueryAst, ScriptRef, ScriptSource};
    use crate::query_dsl::parse_query;
    use crate::query_ast::OnError;

    #[test]
    fn parses_wasm_udf() {
        let q = parse_query(&json!({"wasm_udf": {"name": "f", "version": "1.2.0", "parameters": {"a": 1},
                                                  "on_error": "exclude"}}))
        .unwrap();
        let QueryAst::WasmUdf(u) = q else { panic!("{q:?}") };
        assert_eq!((u.name.as_str(), u.version.as_deref(), u.on_error), ("f", Some("1.2.0"), OnError::Exclude));
        assert_eq!(u.params.get("a"), Some(&json!(1)));
        let q = parse_query(&json!({"wasm_udf": {"name": "f@2.0.0", "params": {"b": "x"}}})).unwrap();
        let QueryAst::WasmUdf(u) = q else { panic!() };
        assert_eq!((u.name.as_str(), u.on_error), ("f@2.0.0", OnError::Fail));
    }

    #[test]
    fn rejects_bad_wasm_udf() {
        for bad in [
            json!({"wasm_udf": {}}),
            json!({"wasm_udf": {"name": ""}}),
            json!({"wasm_udf": {"name": "f", "params": [1]}}),
            json!({"wasm_udf": {"name": "f", "on_error": "ignore"}}),
            json!({"wasm_udf": {"name": "f", "colour": 1}}),
            json!({"wasm_udf": "f"}),
        ] {
            let e = parse_query(&bad).unwrap_err();
            assert_eq!(e.status, 400, "{bad}: {e}");
        }
    }

    #[test]
    fn parses_script_score_and_scripts() {
        let q = parse_query(&json!({"script_score": {"query": {"match_all": {}},
            "script": {"lang": "wasm", "source": "s@1.0.0", "params": {"k": 2}}, "min_score": 1.5}}))
        .unwrap();
        let QueryAst::ScriptScore(s) = q else { panic!() };
        assert_eq!(s.script.source, ScriptSource::Named("s@1.0.0".into()));
        assert_eq!(s.min_score, Some(1.5));
        let q = parse_query(&json!({"function_score": {"functions": [{"script_score": {"script": {"id": "stored"}}}]}}))
            .unwrap();
        let QueryAst::FunctionScore(f) = q else { panic!() };
        assert_eq!(
            f.functions[0].script_score,
            Some(ScriptRef { source: ScriptSource::Named("stored".into()), params: Default::default(), on_error: OnError::Fail })
        );
        for bad in [
            json!({"script_score": {"query": {"match_all": {}}, "script": {"source": "s"}}}),
            json!({"script_score": {"query": {"match_all": {}}, "script": {"lang": "painless", "source": "s"}}}),
            json!({"script_score": {"query": {"match_all": {}}, "script": {"lang": "wasm", "source": "s", "id": "t"}}}),
            json!({"script_score": {"script": {"lang": "wasm", "source": "s"}}}),
            json!({"script_score": {"query": {"match_all": {}}}}),
        ] {
            assert!(parse_query(&bad).is_err(), "{bad}");
        }
    }
}
