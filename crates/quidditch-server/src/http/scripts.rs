//! Stored scripts (`/_scripts/{id}`), what OpenSearch clients call (`put_script`,
//! `get_script`, `delete_script`), mapped onto the UDF registry: a stored script is a UDF
//! named after the script id, uploaded through the same path as `/api/v1/udfs`. Storing it
//! again registers the next patch version (picked under the registry's lock; queries without
//! a version run the default version), deleting it removes every version. Also OpenSearch's
//! script conventions: `POST /_scripts/wasm/_execute`, `GET /_script_language`,
//! `GET /_script_context`.
//!
//! `{"script": {"lang": "wasm", "source": "<base64 wasm, or WAT text>", "params": {…}}}`, or
//! `"lang": "python"` with Python UDF source (compiled like a Python upload);
//! `params` declares optional parameters (type from the value, the value as default);
//! `parameters` declares them the way the UDF API does. A script that declares none takes
//! any query-time `params`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{get, put};
use base64::Engine as _;
use quidditch_udf::metadata::echo;
use quidditch_udf::{Language, ParamDecl, ParamType, ScriptSource, UdfErrorKind, UploadSource, VersionChoice};
use serde_json::{Map, Value, json};

use super::udfs::{authorize, run_failure, run_on_document};
use super::udfs::upload::{Destination, UploadRequest, upload};
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};

/// Stored scripts apply at once on one node: the timeouts never wait.
const STORE: ApiParams = ApiParams::new(&["timeout", "master_timeout", "cluster_manager_timeout"]).not_implemented(&["context"]);
const GET_SCRIPT: ApiParams = ApiParams::new(&["master_timeout", "cluster_manager_timeout"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_scripts/{id}", put(store).post(store).delete(delete_script), &STORE)
        .route("/_scripts/{id}", get(get_script), &GET_SCRIPT)
        .route("/_scripts/{id}/{context}", put(store_in_context).post(store_in_context), &STORE)
        .route("/_script_language", get(script_languages), &ApiParams::NONE)
        .route("/_script_context", get(script_contexts), &ApiParams::NONE)
}

/// The contexts a UDF runs in, with what `execute` returns there.
const CONTEXTS: [(&str, &str); 2] = [("filter", "boolean"), ("score", "double")];

/// `/_scripts/{id}/{context}` stores a script for a context; `POST /_scripts/{lang}/_execute`
/// (the same path shape) runs one.
async fn store_in_context(
    state: State<AppState>,
    headers: HeaderMap,
    Path((id, context)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if context == "_execute" {
        return execute(state, headers, &id, body).await;
    }
    store(state, headers, Path(id), body).await
}

/// `GET /_script_language`: OpenSearch's shape; UDFs are one language, `wasm` (Python and WAT
/// are compiled to it when stored).
async fn script_languages() -> Response {
    let contexts: Vec<&str> = CONTEXTS.iter().map(|(c, _)| *c).collect();
    json_response(
        200,
        json!({
            "types_allowed": ["inline", "stored"],
            "language_contexts": [{"language": "wasm", "contexts": contexts}],
        }),
    )
}

/// `GET /_script_context`: each context with its `execute` method and the host functions a
/// UDF reads its inputs with.
async fn script_contexts() -> Response {
    let contexts: Vec<Value> = CONTEXTS
        .iter()
        .map(|(name, returns)| {
            json!({
                "name": name,
                "methods": [
                    {"name": "execute", "return_type": returns, "params": []},
                    {"name": "getDoc", "return_type": "java.util.Map", "params": []},
                    {"name": "getParams", "return_type": "java.util.Map", "params": []},
                    {"name": "get_score", "return_type": "double", "params": []},
                ],
            })
        })
        .collect();
    json_response(200, json!({ "contexts": contexts }))
}

/// `POST /_scripts/wasm/_execute`, Painless's `_execute` shape: runs a stored UDF (`script.id`,
/// or `script.source` naming it, as queries do) or inline code (`script.source` as base64
/// WebAssembly or WAT with `lang` `wasm`/`wat`, Python source with `lang` `python`) on
/// `context_setup.document` in the `filter` or `score` context and answers `{"result": …}`.
/// Like `/test`, it needs the API key.
async fn execute(State(state): State<AppState>, headers: HeaderMap, path_lang: &str, body: Bytes) -> Result<Response, ApiError> {
    let actor = authorize(&state, &headers, true)?;
    if path_lang != "wasm" {
        return Err(ApiError::illegal_argument(format!(
            "script language [{}] is not supported by _execute; use [wasm]",
            echo(path_lang)
        )));
    }
    let Some(Value::Object(request)) = parse_json_body(&body)? else {
        return Err(ApiError::bad_request("parse_exception", "the _execute body must be a JSON object with a [script]"));
    };
    if let Some(k) = request.keys().find(|k| !["script", "context", "context_setup"].contains(&k.as_str())) {
        return Err(ApiError::bad_request("parse_exception", format!("[execute_script_request] unknown field [{}]", echo(k))));
    }
    let Some(Value::Object(script)) = request.get("script") else {
        return Err(ApiError::bad_request("parse_exception", "[script] is required and must be an object"));
    };
    if let Some(k) = script.keys().find(|k| !["id", "source", "lang", "params"].contains(&k.as_str())) {
        return Err(ApiError::bad_request("parse_exception", format!("[script] unknown field [{}]", echo(k))));
    }
    let lang = match script.get("lang") {
        None | Some(Value::Null) => "wasm",
        Some(Value::String(l)) => l.as_str(),
        Some(l) => return Err(ApiError::illegal_argument(format!("[script.lang] must be a string; got {l}"))),
    };
    let source = match (script.get("id"), script.get("source")) {
        (Some(Value::String(id)), None) if lang == "wasm" => ScriptSource::Named(id.trim().to_string()),
        (Some(Value::String(_)), None) => {
            return Err(ApiError::illegal_argument(format!("[script.lang] of a stored script [id] must be \"wasm\"; got [{}]", echo(lang))));
        }
        (None, Some(Value::String(text))) => quidditch_udf::inline::classify(Some(lang), text).map_err(ApiError::illegal_argument)?,
        (Some(_), Some(_)) => return Err(ApiError::illegal_argument("[script] takes [id] or [source], not both")),
        _ => {
            return Err(ApiError::illegal_argument(
                "[script] needs [id] (or [source] naming a stored UDF), or [source] with inline code (base64 WebAssembly, WAT, or Python with \"lang\": \"python\")",
            ));
        }
    };
    let params = match script.get("params") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(p)) => p.clone(),
        Some(_) => return Err(ApiError::illegal_argument("[script.params] must be an object")),
    };
    let setup = match request.get("context_setup") {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(o)) => o.clone(),
        Some(_) => return Err(ApiError::illegal_argument("[context_setup] must be an object")),
    };
    if let Some(k) = setup.keys().find(|k| !["document", "index", "score"].contains(&k.as_str())) {
        return Err(ApiError::bad_request("parse_exception", format!("[context_setup] unknown field [{}]", echo(k))));
    }
    if let Some(index) = setup.get("index") {
        let Some(index) = index.as_str() else {
            return Err(ApiError::illegal_argument("[context_setup.index] must be a string"));
        };
        state.engine.index(index)?;
    }
    let document = setup.get("document").cloned().unwrap_or_else(|| json!({}));
    if !document.is_object() {
        return Err(ApiError::illegal_argument("[context_setup.document] must be a JSON object"));
    }
    let score = match setup.get("score") {
        None | Some(Value::Null) => 1.0,
        Some(v) => v.as_f64().ok_or_else(|| ApiError::illegal_argument("[context_setup.score] must be a number"))? as f32,
    };
    let udf = match source {
        ScriptSource::Named(name) => state.udfs.resolve(&name, None)?,
        // Compiled through the upload path on first use (on a blocking thread), then cached.
        ScriptSource::Inline(inline) => {
            let udfs = state.udfs.clone();
            tokio::task::spawn_blocking(move || udfs.inline(&inline, Some(&actor)))
                .await
                .map_err(|e| ApiError::internal(format!("inline compile task failed: {e}")))??
        }
    };
    let context = match request.get("context") {
        None | Some(Value::Null) if udf.has_filter() => "filter",
        None | Some(Value::Null) => "score",
        Some(Value::String(c)) if CONTEXTS.iter().any(|(n, _)| *n == c.as_str()) => c.as_str(),
        Some(other) => {
            return Err(ApiError::illegal_argument(format!(
                "[context] must be \"filter\" or \"score\" for a wasm script; got {}",
                match other {
                    Value::String(s) => format!("[{}]", echo(s)),
                    v => quidditch_udf::params::json_type_name(v).to_string(),
                }
            )));
        }
    };
    let exported = if context == "filter" { udf.has_filter() } else { udf.has_score() };
    if !exported {
        return Err(ApiError::illegal_argument(format!(
            "UDF [{}@{}] does not export `{context}` (exports: {:?})",
            udf.name(),
            udf.version_str(),
            udf.metadata.exports
        )));
    }
    let bound = udf.bind_params(&params)?;
    let run = run_on_document(udf, bound, "_execute".into(), document, score, (context == "filter", context == "score")).await?;
    match run.outcome {
        Ok(mut result) => Ok(json_response(200, json!({ "result": result.remove(context).unwrap_or(Value::Null) }))),
        Err(e) => Ok(run_failure(e, run.logs, run.logs_truncated, run.took)),
    }
}

/// A `script` object as an upload: metadata fields and what to compile. The version is
/// picked by the registry ([`VersionChoice::NextPatch`]).
fn parse_script(id: &str, actor: String, body: Option<Value>) -> Result<UploadRequest, ApiError> {
    let bad = |reason: String| ApiError::bad_request("illegal_argument_exception", reason);
    let Some(Value::Object(mut top)) = body else {
        return Err(bad(format!("stored script [{}]: the body must be an object with a [script]", echo(id))));
    };
    let Some(Value::Object(script)) = top.remove("script") else {
        return Err(ApiError::bad_request("parse_exception", "must specify [script] as an object for a stored script"));
    };
    let lang = script.get("lang").and_then(Value::as_str).unwrap_or("");
    let text = match script.get("source") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(bad("must specify [source] for a stored script".into())),
    };
    let (language, source) = match lang {
        "wasm" | "wat" if quidditch_udf::inline::looks_like_wat(&text) => (Language::Wat, UploadSource::Wat(text.clone())),
        "wasm" => {
            let binary = base64::engine::general_purpose::STANDARD.decode(text.trim()).map_err(|e| {
                bad(format!("[source] of a wasm script must be base64 WebAssembly (or WAT text): {e}"))
            })?;
            (Language::Wasm, UploadSource::Binary(binary))
        }
        "python" => (Language::Python, UploadSource::Python(text.clone())),
        "" => return Err(bad("must specify [lang] for a stored script: [wasm] or [python]".into())),
        other => {
            return Err(bad(format!(
                "script lang [{}] is not supported; store a UDF as \"lang\": \"wasm\" (base64 WebAssembly or WAT) \
                 or \"lang\": \"python\" (Python UDF source)",
                echo(other)
            )));
        }
    };
    let mut parameters: Vec<Value> = match script.get("parameters") {
        None | Some(Value::Null) => Vec::new(),
        Some(Value::Array(a)) => a.clone(),
        Some(_) => return Err(bad("[parameters] must be an array of parameter declarations".into())),
    };
    if let Some(Value::Object(params)) = script.get("params") {
        for (name, value) in params {
            if parameters.iter().any(|p| p.get("name").and_then(Value::as_str) == Some(name)) {
                continue;
            }
            let declared = ParamDecl {
                name: name.clone(),
                param_type: param_type_of(name, value)?,
                required: false,
                default: Some(value.clone()),
                description: String::new(),
            };
            parameters.push(serde_json::to_value(declared).map_err(|e| ApiError::internal(e.to_string()))?);
        }
    }
    let mut fields = Map::new();
    fields.insert("name".into(), json!(id));
    fields.insert("version".into(), json!("1.0.0")); // replaced by the registry's pick
    fields.insert("language".into(), serde_json::to_value(language).unwrap_or(Value::Null));
    fields.insert("description".into(), json!(format!("stored script [{id}]")));
    if !parameters.is_empty() {
        fields.insert("parameters".into(), Value::Array(parameters));
    }
    fields.insert("source".into(), json!(text));
    Ok(UploadRequest { fields, source, signature: None, actor, destination: Destination::Registry(VersionChoice::NextPatch) })
}

fn param_type_of(name: &str, value: &Value) -> Result<ParamType, ApiError> {
    ParamType::of_json(value).ok_or_else(|| {
        ApiError::illegal_argument(format!(
            "stored script param [{}] must be a string, number or boolean, got {}",
            echo(name),
            quidditch_udf::params::json_type_name(value)
        ))
    })
}

async fn store(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let actor = authorize(&state, &headers, true)?;
    let request = parse_script(&id, actor, parse_json_body(&body)?)?;
    upload(&state, request).await?;
    Ok(json_response(200, json!({"acknowledged": true})))
}

async fn get_script(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let Ok(udf) = state.udfs.resolve(&id, None) else {
        return Ok(json_response(404, json!({"_id": echo(&id), "found": false})));
    };
    let lang = if udf.metadata.language == Language::Python { "python" } else { "wasm" };
    let mut script = Map::new();
    script.insert("lang".into(), json!(lang));
    script.insert("source".into(), json!(udf.metadata.source.clone().unwrap_or_default()));
    script.insert(
        "options".into(),
        json!({"version": udf.version_str(), "exports": udf.metadata.exports, "sha256": udf.metadata.sha256}),
    );
    Ok(json_response(200, json!({"_id": id, "found": true, "script": script})))
}

async fn delete_script(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>) -> Result<Response, ApiError> {
    let actor = authorize(&state, &headers, true)?;
    let udfs = state.udfs.clone();
    let name = id.clone();
    let deleted = tokio::task::spawn_blocking(move || {
        let versions = match udfs.versions(&name) {
            Ok(v) => v,
            Err(e) if e.kind == UdfErrorKind::NotFound => return Ok(0),
            Err(e) => return Err(e),
        };
        for v in &versions {
            udfs.delete(&name, v.version_str(), &actor)?;
        }
        Ok(versions.len())
    })
    .await
    .map_err(|e| ApiError::internal(format!("delete task failed: {e}")))??;
    if deleted == 0 {
        return Err(ApiError::not_found("resource_not_found_exception", format!("stored script [{}] does not exist", echo(&id))));
    }
    Ok(json_response(200, json!({"acknowledged": true})))
}
