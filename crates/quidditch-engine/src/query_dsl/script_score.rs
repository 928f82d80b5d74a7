//! `script_score`: `{"script_score": {"query": {…}, "script": {"lang": "wasm", "source":
//! "my_score@1.0.0", "params": {…}}, "min_score": 1.5}}`, and the `script` object of a
//! `function_score` `script_score` function.

use serde_json::{Map, Value};

use super::wasm_udf::parse_on_error;
use super::{expect_object, parse_f32, parse_query, parse_string, unknown_param};
use crate::query_ast::{QueryAst, QueryError, ScriptRef, ScriptScoreQuery, ScriptSource};
use crate::query_ast::OnError;

const NAME: &str = "script_score";

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut query = None;
    let mut script = None;
    let mut min_score = None;
    let mut boost = None;
    for (k, v) in expect_object(NAME, value)? {
        match k.as_str() {
            "query" => query = Some(parse_query(v)?),
            "script" => script = Some(parse_script(v)?),
            "min_score" => min_score = Some(parse_f32(NAME, k, v)?),
            "boost" => boost = Some(parse_f32(NAME, k, v)?),
            "_name" => {}
            _ => return Err(unknown_param(NAME, k)),
        }
    }
    let query = query.ok_or_else(|| QueryError::parsing("[script_score] requires a [query]"))?;
    let script = script.ok_or_else(|| QueryError::parsing("[script_score] requires a [script]"))?;
    Ok(QueryAst::ScriptScore(ScriptScoreQuery { query: Box::new(query), script, min_score, boost }))
}

/// The `function_score` function form: `{"script_score": {"script": {…}}}`.
pub(crate) fn parse_function(value: &Value) -> Result<ScriptRef, QueryError> {
    let mut script = None;
    for (k, v) in expect_object(NAME, value)? {
        match k.as_str() {
            "script" => script = Some(parse_script(v)?),
            _ => return Err(unknown_param(NAME, k)),
        }
    }
    script.ok_or_else(|| QueryError::parsing("[script_score] function requires a [script]"))
}

/// `{"lang": "wasm", "source": "<udf>[@version]" | "id": "<stored script>", "params": {…}}`, or
/// inline code as `source` (see [`quidditch_udf::inline::classify`]).
pub(crate) fn parse_script(value: &Value) -> Result<ScriptRef, QueryError> {
    let obj = expect_object("script", value)?;
    let mut lang = None;
    let mut source = None;
    let mut id = None;
    let mut params = Map::new();
    let mut on_error = OnError::Fail;
    for (k, v) in obj {
        match k.as_str() {
            "lang" => lang = Some(parse_string("script", k, v)?),
            "source" | "inline" => source = Some(parse_string("script", k, v)?),
            "id" => id = Some(parse_string("script", k, v)?),
            "params" => match v {
                Value::Object(m) => params = m.clone(),
                Value::Null => {}
                _ => return Err(QueryError::parsing(format!("[script] [params] must be an object, got [{v}]"))),
            },
            "on_error" => on_error = parse_on_error("script", v)?,
            "options" => {}
            _ => return Err(unknown_param("script", k)),
        }
    }
    let source = match (source, id) {
        (Some(_), Some(_)) => {
            return Err(QueryError::parsing("[script] must have only one of [source] or [id], not both"));
        }
        (None, None) => return Err(QueryError::parsing("[script] must have one of [source] or [id]")),
        (Some(source), None) => quidditch_udf::inline::classify(lang.as_deref(), &source).map_err(QueryError::illegal_argument)?,
        (None, Some(id)) => {
            if let Some(l) = lang.as_deref().filter(|l| !matches!(*l, "wasm" | "python")) {
                return Err(QueryError::illegal_argument(format!("script lang [{l}] is not supported; use [wasm]")));
            }
            ScriptSource::Named(id.trim().to_string())
        }
    };
    if matches!(&source, ScriptSource::Named(name) if name.is_empty()) {
        return Err(QueryError::parsing("[script] names no UDF"));
    }
    Ok(ScriptRef { source, params, on_error })
}
