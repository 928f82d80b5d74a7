//! `POST /api/v1/udfs`: JSON (`wasm_base64`, or `wat_source`/`source` compiled on the server),
//! raw `application/wasm` with metadata as query parameters, or `multipart/form-data`
//! (a `metadata` JSON part, a `wasm` file part, optional `signature`).

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, State};
use axum::http::{HeaderMap, Request, header};
use axum::response::Response;
use base64::Engine as _;
use quidditch_udf::{Language, RegisterRequest, UdfMetadata};
use serde_json::{Map, Value};

use super::{authorize, metadata_json, python};
use crate::http::{AppState, ApiError, json_response};

/// What an upload carries besides the metadata.
#[derive(Default)]
struct Payload {
    binary: Option<Vec<u8>>,
    wat_source: Option<String>,
    source: Option<String>,
    signature: Option<String>,
}

pub async fn register(State(state): State<AppState>, req: Request<Body>) -> Result<Response, ApiError> {
    let started = std::time::Instant::now();
    let actor = authorize(&state, req.headers(), true)?;
    let content_type = content_type(req.headers());
    let (mut fields, mut payload) = if content_type.starts_with("multipart/form-data") {
        let mp = Multipart::from_request(req, &state)
            .await
            .map_err(|e| ApiError::bad_request("parse_exception", format!("invalid multipart body: {e}")))?;
        from_multipart(mp).await?
    } else if content_type.starts_with("application/wasm") || content_type.starts_with("application/octet-stream") {
        let query = req.uri().query().unwrap_or("").to_string();
        let body = read_body(req, state.config.max_body_bytes).await?;
        from_query(&query, body)?
    } else {
        let body = read_body(req, state.config.max_body_bytes).await?;
        from_json(&body)?
    };
    let mut python_build = None;
    if python::is_python_source(&fields, payload.binary.is_some(), payload.source.as_deref()) {
        let source = payload.source.clone().unwrap_or_default();
        let mut build = python::compile(&state, &mut fields, &source).await?;
        payload.binary = Some(std::mem::take(&mut build.binary));
        python_build = Some(build);
    }
    let metadata = parse_metadata(fields)?;
    let binary = binary_of(&metadata, payload.binary, payload.wat_source, payload.source.clone())?;
    let mut metadata = metadata;
    if metadata.source.is_none() {
        metadata.source = payload.source;
    }
    let request = RegisterRequest { metadata, binary, signature: payload.signature, actor };
    let udfs = state.udfs.clone();
    let registering = std::time::Instant::now();
    let udf = tokio::task::spawn_blocking(move || udfs.register(request))
        .await
        .map_err(|e| ApiError::internal(format!("register task failed: {e}")))??;
    let mut body = metadata_json(&udf);
    if let (Some(build), Some(obj)) = (&python_build, body.as_object_mut()) {
        obj.insert("compilation".into(), build.report(registering.elapsed(), started.elapsed()));
    }
    Ok(json_response(201, body))
}

/// The whole body, up to the server's `max_body_bytes` (413 above it, like every other endpoint).
async fn read_body(req: Request<Body>, limit: usize) -> Result<Bytes, ApiError> {
    axum::body::to_bytes(req.into_body(), limit).await.map_err(|e| {
        ApiError::new(
            413,
            "content_too_long_exception",
            format!("request body is larger than the configured limit (http.max_content_length = {limit} bytes): {e}"),
        )
    })
}

fn content_type(headers: &HeaderMap) -> String {
    headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("application/json")
        .to_ascii_lowercase()
}

fn take_string(fields: &mut Map<String, Value>, key: &str) -> Result<Option<String>, ApiError> {
    match fields.remove(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(ApiError::illegal_argument(format!("[{key}] must be a string"))),
    }
}

fn from_json(body: &Bytes) -> Result<(Map<String, Value>, Payload), ApiError> {
    let Some(v) = crate::http::parse_json_body(body)? else {
        return Err(ApiError::illegal_argument("request body is required: UDF metadata and wasm_base64"));
    };
    let Value::Object(mut fields) = v else {
        return Err(ApiError::bad_request("parse_exception", "the upload body must be a JSON object"));
    };
    let mut payload = Payload::default();
    if let Some(b64) = take_string(&mut fields, "wasm_base64")? {
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(b64.trim())
            .map_err(|e| ApiError::illegal_argument(format!("[wasm_base64] is not valid base64: {e}")))?;
        payload.binary = Some(bytes);
    }
    payload.wat_source = take_string(&mut fields, "wat_source")?;
    payload.source = take_string(&mut fields, "source")?;
    payload.signature = take_string(&mut fields, "signature")?;
    Ok((fields, payload))
}

/// Raw binary upload: metadata in the query string (`tags`/`permissions` comma-separated,
/// `parameters`/`limits` as JSON text).
fn from_query(query: &str, body: Bytes) -> Result<(Map<String, Value>, Payload), ApiError> {
    let pairs: Vec<(String, String)> = serde_urlencoded_pairs(query)?;
    let mut fields = Map::new();
    let mut payload = Payload { binary: Some(body.to_vec()), ..Default::default() };
    for (k, v) in pairs {
        set_text_field(&mut fields, &mut payload, &k, v)?;
    }
    Ok((fields, payload))
}

fn set_text_field(fields: &mut Map<String, Value>, payload: &mut Payload, key: &str, v: String) -> Result<(), ApiError> {
    match key {
        "tags" | "permissions" => {
            let items: Vec<Value> = v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(|s| Value::String(s.into())).collect();
            fields.insert(key.into(), Value::Array(items));
        }
        "parameters" | "limits" => {
            let parsed: Value = serde_json::from_str(&v)
                .map_err(|e| ApiError::illegal_argument(format!("[{key}] must be JSON: {e}")))?;
            fields.insert(key.into(), parsed);
        }
        "signature" => payload.signature = Some(v),
        "wat_source" => payload.wat_source = Some(v),
        "source" => payload.source = Some(v),
        _ => {
            fields.insert(key.into(), Value::String(v));
        }
    }
    Ok(())
}

fn serde_urlencoded_pairs(query: &str) -> Result<Vec<(String, String)>, ApiError> {
    let uri = format!("http://x/?{query}");
    let parsed: axum::extract::Query<Vec<(String, String)>> = axum::extract::Query::try_from_uri(
        &uri.parse().map_err(|e| ApiError::illegal_argument(format!("bad query string: {e}")))?,
    )
    .map_err(|e| ApiError::illegal_argument(format!("bad query string: {e}")))?;
    Ok(parsed.0)
}

async fn from_multipart(mut mp: Multipart) -> Result<(Map<String, Value>, Payload), ApiError> {
    let mut fields = Map::new();
    let mut payload = Payload::default();
    let bad = |e: axum::extract::multipart::MultipartError| {
        ApiError::bad_request("parse_exception", format!("invalid multipart body: {e}"))
    };
    while let Some(field) = mp.next_field().await.map_err(bad)? {
        let name = field.name().unwrap_or("").to_string();
        match name.as_str() {
            "wasm" | "file" | "binary" | "module" => payload.binary = Some(field.bytes().await.map_err(bad)?.to_vec()),
            "metadata" => {
                let bytes = field.bytes().await.map_err(bad)?;
                let (meta, p) = from_json(&bytes)?;
                fields.extend(meta);
                payload.binary = payload.binary.or(p.binary);
                payload.wat_source = payload.wat_source.or(p.wat_source);
                payload.source = payload.source.or(p.source);
                payload.signature = payload.signature.or(p.signature);
            }
            _ => {
                let text = field.text().await.map_err(bad)?;
                set_text_field(&mut fields, &mut payload, &name, text)?;
            }
        }
    }
    Ok((fields, payload))
}

/// Metadata from the upload's fields; registry-owned fields are ignored.
fn parse_metadata(mut fields: Map<String, Value>) -> Result<UdfMetadata, ApiError> {
    for owned in ["sha256", "size_bytes", "kind", "exports", "signed", "signed_by", "created_at", "effective_limits", "versions"] {
        fields.remove(owned);
    }
    for required in ["name", "version"] {
        if !matches!(fields.get(required), Some(Value::String(s)) if !s.is_empty()) {
            return Err(ApiError::bad_request(
                "udf_invalid_metadata_exception",
                format!("[{required}] is required and must be a non-empty string"),
            ));
        }
    }
    if let Some(Value::String(l)) = fields.get("language") {
        let parsed = Language::parse(l).ok_or_else(|| {
            ApiError::bad_request(
                "udf_invalid_metadata_exception",
                format!("[language] must be one of rust, c, wat, python, other; got [{l}]"),
            )
        })?;
        fields.insert("language".into(), serde_json::to_value(parsed).unwrap_or(Value::Null));
    }
    serde_json::from_value(Value::Object(fields))
        .map_err(|e| ApiError::bad_request("udf_invalid_metadata_exception", format!("invalid UDF metadata: {e}")))
}

/// The binary: uploaded as is, or compiled from source (`wat`; `python` via quidditch-python).
fn binary_of(
    metadata: &UdfMetadata,
    binary: Option<Vec<u8>>,
    wat_source: Option<String>,
    source: Option<String>,
) -> Result<Vec<u8>, ApiError> {
    if let Some(b) = binary {
        return Ok(b);
    }
    let wat = wat_source.or_else(|| source.clone().filter(|_| metadata.language == Language::Wat));
    if let Some(text) = wat {
        return quidditch_udf::compile_wat(&text)
            .map_err(|e| ApiError::bad_request("udf_invalid_binary_exception", format!("invalid WAT: {e}")));
    }
    if metadata.language == Language::Python && source.is_some() {
        return compile_python_source(metadata, source.as_deref().unwrap_or_default());
    }
    Err(ApiError::bad_request(
        "udf_invalid_metadata_exception",
        "the upload has no binary: send wasm_base64 (or a raw application/wasm body, or a `wasm` multipart part), \
         or wat_source for a WAT module",
    ))
}

/// Hook for Python source uploads (`language: "python"`, `source`): the quidditch-python
/// compiler turns the source into a component that is then registered like any other.
fn compile_python_source(_metadata: &UdfMetadata, _source: &str) -> Result<Vec<u8>, ApiError> {
    Err(ApiError::bad_request(
        "udf_invalid_metadata_exception",
        "Python source uploads are not enabled in this build; upload the compiled component as wasm_base64",
    ))
}
