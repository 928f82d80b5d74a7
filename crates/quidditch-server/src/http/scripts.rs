//! Stored scripts (`/_scripts/{id}`), what OpenSearch clients call (`put_script`,
//! `get_script`, `delete_script`), mapped onto the UDF registry: a stored script is a UDF
//! named after the script id. Storing it again registers the next patch version (queries
//! without a version use the highest), deleting it removes every version.
//!
//! `{"script": {"lang": "wasm", "source": "<base64 wasm, or WAT text>", "params": {…}}}`, or
//! `"lang": "python"` with Python UDF source (compiled like a Python upload);
//! `params` declares optional parameters (type from the value, the value as default);
//! `parameters` declares them the way the UDF API does.

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::put;
use base64::Engine as _;
use quidditch_udf::{Language, ParamDecl, ParamType, RegisterRequest, UdfErrorKind, UdfMetadata};
use serde_json::{Map, Value, json};

use super::udfs::{authorize, python};
use super::{ApiError, AppState, json_response, parse_json_body};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/_scripts/{id}", put(store).post(store).get(get_script).delete(delete_script))
        .route("/_scripts/{id}/{context}", put(store_in_context).post(store_in_context))
}

async fn store_in_context(
    state: State<AppState>,
    headers: HeaderMap,
    Path((id, _context)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    store(state, headers, Path(id), body).await
}

/// What a `script` object compiles to (Python source is compiled later, off the async runtime).
struct StoredScript {
    language: Language,
    binary: Vec<u8>,
    source: String,
    parameters: Vec<ParamDecl>,
}

/// Compiles a Python stored script with quidditch-python, as the UDF API compiles a Python
/// upload (same compiler, errors and default limits); parameters come from the source's
/// signature unless the script object declared them. Blocking (seconds).
fn compile_python(state: &AppState, script: &mut StoredScript, metadata: &mut UdfMetadata) -> Result<(), ApiError> {
    let component = quidditch_python::PythonCompiler::global().compile(&script.source).map_err(python::api_error)?;
    script.binary = component.wasm;
    if script.parameters.is_empty() {
        let declared = serde_json::to_value(&component.metadata.parameters).unwrap_or(Value::Null);
        script.parameters = serde_json::from_value(declared).unwrap_or_default();
    }
    let limits = python::python_limits(state);
    metadata.limits.memory_bytes = Some(limits.memory_bytes);
    metadata.limits.call_timeout_ms = Some(limits.call_timeout_ms);
    Ok(())
}

fn parse_script(id: &str, body: Option<Value>) -> Result<StoredScript, ApiError> {
    let bad = |reason: String| ApiError::bad_request("illegal_argument_exception", reason);
    let Some(Value::Object(mut top)) = body else {
        return Err(bad(format!("stored script [{id}]: the body must be an object with a [script]")));
    };
    let Some(Value::Object(script)) = top.remove("script") else {
        return Err(ApiError::bad_request("parse_exception", "must specify [script] as an object for a stored script"));
    };
    let lang = script.get("lang").and_then(Value::as_str).unwrap_or("");
    let source = match script.get("source") {
        Some(Value::String(s)) if !s.trim().is_empty() => s.clone(),
        _ => return Err(bad("must specify [source] for a stored script".into())),
    };
    let (language, binary) = match lang {
        "wasm" | "wat" if looks_like_wat(&source) => {
            let binary = quidditch_udf::compile_wat(&source)
                .map_err(|e| ApiError::bad_request("udf_invalid_binary_exception", format!("invalid WAT source: {e}")))?;
            (Language::Wat, binary)
        }
        "wasm" => {
            let binary = base64::engine::general_purpose::STANDARD.decode(source.trim()).map_err(|e| {
                bad(format!("[source] of a wasm script must be base64 WebAssembly (or WAT text): {e}"))
            })?;
            (Language::Other, binary)
        }
        "python" => (Language::Python, Vec::new()),
        "" => return Err(bad("must specify [lang] for a stored script: [wasm] or [python]".into())),
        other => {
            return Err(bad(format!(
                "script lang [{other}] is not supported; store a UDF as \"lang\": \"wasm\" (base64 WebAssembly or WAT) \
                 or \"lang\": \"python\" (Python UDF source)"
            )));
        }
    };
    let mut parameters: Vec<ParamDecl> = match script.get("parameters") {
        Some(v) => serde_json::from_value(v.clone()).map_err(|e| bad(format!("[parameters] is malformed: {e}")))?,
        None => Vec::new(),
    };
    if let Some(Value::Object(params)) = script.get("params") {
        for (name, value) in params {
            if parameters.iter().any(|p| &p.name == name) {
                continue;
            }
            parameters.push(ParamDecl {
                name: name.clone(),
                param_type: param_type_of(name, value)?,
                required: false,
                default: Some(value.clone()),
                description: String::new(),
            });
        }
    }
    Ok(StoredScript { language, binary, source, parameters })
}

/// WAT text starts with `(` once leading whitespace and comments are skipped; base64 never
/// contains `(` or `;`.
fn looks_like_wat(source: &str) -> bool {
    source.contains('(') || source.trim_start().starts_with(";;")
}

fn param_type_of(name: &str, value: &Value) -> Result<ParamType, ApiError> {
    Ok(match value {
        Value::Bool(_) => ParamType::Bool,
        Value::Number(n) if n.is_i64() || n.is_u64() => ParamType::I64,
        Value::Number(_) => ParamType::F64,
        Value::String(_) => ParamType::String,
        _ => {
            return Err(ApiError::illegal_argument(format!(
                "stored script param [{name}] must be a string, number or boolean, got [{value}]"
            )));
        }
    })
}

/// The version the next store of `id` gets.
fn next_version(state: &AppState, id: &str) -> String {
    match state.udfs.resolve(id, None) {
        Ok(latest) => {
            let v = &latest.version;
            semver::Version::new(v.major, v.minor, v.patch + 1).to_string()
        }
        Err(_) => "1.0.0".to_string(),
    }
}

async fn store(State(state): State<AppState>, headers: HeaderMap, Path(id): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let actor = authorize(&state, &headers, true)?;
    let mut script = parse_script(&id, parse_json_body(&body)?)?;
    let udfs = state.udfs.clone();
    tokio::task::spawn_blocking(move || {
        let mut metadata = UdfMetadata::new(id.clone(), next_version(&state, &id));
        if script.language == Language::Python {
            compile_python(&state, &mut script, &mut metadata)?;
        }
        metadata.language = script.language;
        metadata.description = format!("stored script [{id}]");
        metadata.parameters = script.parameters;
        metadata.source = Some(script.source);
        udfs.register(RegisterRequest { metadata, binary: script.binary, signature: None, actor })
            .map_err(ApiError::from)
    })
    .await
    .map_err(|e| ApiError::internal(format!("store task failed: {e}")))??;
    Ok(json_response(200, json!({"acknowledged": true})))
}

async fn get_script(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, ApiError> {
    let Ok(udf) = state.udfs.resolve(&id, None) else {
        return Ok(json_response(404, json!({"_id": id, "found": false})));
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
        return Err(ApiError::not_found("resource_not_found_exception", format!("stored script [{id}] does not exist")));
    }
    Ok(json_response(200, json!({"acknowledged": true})))
}
