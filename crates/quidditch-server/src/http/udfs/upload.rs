//! The one upload path of UDFs. `POST /api/v1/udfs` takes JSON (`wasm_base64`, or
//! `wat_source`/`source` compiled on the server), raw `application/wasm` with metadata as
//! query parameters, or `multipart/form-data` (a `metadata` JSON part, a `wasm` file part,
//! optional `signature`); `/_scripts` builds the same [`UploadRequest`] from a `script`
//! object, and inline scripts (`script.source` as code) go through it as well, kept in the
//! registry's inline cache instead of stored. [`upload_blocking`] checks it before anything
//! is compiled (signature policy, name, version and size limits), compiles source, and
//! registers.

use std::sync::Arc;
use std::time::Instant;

use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Multipart, State};
use axum::http::{HeaderMap, Request, header};
use axum::response::Response;
use base64::Engine as _;
use quidditch_udf::{Language, LoadedUdf, RegisterRequest, UdfMetadata, UdfRegistry, UploadSource, VersionChoice};
use serde_json::{Map, Value};

use super::{authorize, metadata_json, python};
use crate::config::ServerConfig;
use crate::http::{AppState, ApiError, json_response};

/// An upload as every upload endpoint builds it: the declared metadata fields (JSON, typed
/// once Python source has completed them), what to compile, the signature, who sent it and
/// where it goes.
pub(crate) struct UploadRequest {
    pub fields: Map<String, Value>,
    pub source: UploadSource,
    pub signature: Option<String>,
    pub actor: String,
    pub destination: Destination,
}

/// Where a checked and compiled upload goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Destination {
    /// Stored and listed, its version picked by the choice.
    Registry(VersionChoice),
    /// An inline script: not stored nor listed (the registry's inline cache keeps it).
    Inline,
}

/// A registered upload, with the compiler's report for Python source.
pub(crate) struct Uploaded {
    pub udf: Arc<LoadedUdf>,
    pub python: Option<python::PythonBuild>,
    pub register_time: std::time::Duration,
    /// What the cluster commits to etcd (stored uploads in cluster mode only).
    replica: Option<Replica>,
}

/// A registered version's binary, signature and uploader, as replicated to the other nodes.
struct Replica {
    binary: Vec<u8>,
    signature: Option<String>,
    actor: String,
}

/// Checks, compiles and registers an upload, on a blocking thread (see [`upload_blocking`]);
/// in cluster mode a stored version is then committed to etcd before the caller answers.
pub(crate) async fn upload(state: &AppState, req: UploadRequest) -> Result<Uploaded, ApiError> {
    let (udfs, config) = (state.udfs.clone(), state.config.clone());
    let in_cluster = state.node.cluster.is_some();
    let mut uploaded = tokio::task::spawn_blocking(move || upload_blocking(&udfs, &config, req, in_cluster))
        .await
        .map_err(|e| ApiError::internal(format!("upload task failed: {e}")))??;
    if let (Some(cluster), Some(replica)) = (&state.node.cluster, uploaded.replica.take()) {
        let Replica { binary, signature, actor } = replica;
        crate::udf_replication::publish(cluster, &state.udfs, &uploaded.udf, &binary, signature, &actor).await?;
    }
    Ok(uploaded)
}

/// The one upload path. Nothing is compiled (no Python check, no wasmtime compilation) and
/// nothing is written before the registry's [`precheck`](UdfRegistry::precheck) passed.
/// Blocking: a compilation takes milliseconds to seconds. `keep_replica`: keep a stored
/// version's binary for the cluster's commit.
pub(crate) fn upload_blocking(
    udfs: &UdfRegistry,
    config: &ServerConfig,
    req: UploadRequest,
    keep_replica: bool,
) -> Result<Uploaded, ApiError> {
    let UploadRequest { mut fields, source, signature, actor, destination } = req;
    let mut engine = None;
    if let UploadSource::Python(text) = &source {
        let request = python::take_engine_request(&mut fields)?;
        // Reading the source's metadata parses it without running it (no process, no files).
        let declared = match quidditch_python::extract_metadata(text) {
            Ok(declared) => declared,
            // Users see CPython's own syntax error (line, column, message): the compiler asks
            // the shared runtime; the Rust parser's error stands only when CPython accepts it.
            Err(rust @ quidditch_python::PythonUdfError::Syntax { .. }) => {
                return Err(match python::compile(text) {
                    Err(cpython) => cpython,
                    Ok(_) => python::api_error(rust),
                });
            }
            Err(e) => return Err(python::api_error(e)),
        };
        let chosen = python::choose_engine(text, request, &fields)?;
        python::complete_fields(&config.udf, &mut fields, &declared, matches!(chosen, python::Engine::Cpython(_)))?;
        engine = Some(chosen);
    }
    let mut metadata = parse_metadata(fields)?;
    if let Some(chosen) = &engine {
        chosen.annotate(&mut metadata);
    }
    let choice = match destination {
        Destination::Registry(choice) => choice,
        Destination::Inline => VersionChoice::Declared,
    };
    udfs.precheck(&metadata, &source, signature.as_deref(), &actor, choice)?;
    let (binary, python) = match source {
        UploadSource::Binary(b) => (b, None),
        UploadSource::Wat(text) => (compile_wat(&text)?, None),
        UploadSource::Python(text) => {
            let mut build = match engine {
                Some(python::Engine::Native(module)) => python::native_build(module),
                _ => python::compile(&text)?,
            };
            (std::mem::take(&mut build.binary), Some(build))
        }
    };
    let request = RegisterRequest { metadata, binary, signature, actor };
    // Cluster mode: what is committed to etcd once the version registered here.
    let replica = match destination {
        Destination::Registry(_) if keep_replica => Some(Replica {
            binary: request.binary.clone(),
            signature: request.signature.clone(),
            actor: request.actor.clone(),
        }),
        _ => None,
    };
    let registering = Instant::now();
    let udf = match destination {
        Destination::Registry(choice) => udfs.register_as(request, choice)?,
        Destination::Inline => udfs.register_inline(request)?,
    };
    Ok(Uploaded { udf, python, register_time: registering.elapsed(), replica })
}

/// WAT text to a binary; a syntax error is the upload's fault (400, with line and column).
pub(crate) fn compile_wat(text: &str) -> Result<Vec<u8>, ApiError> {
    quidditch_udf::compile_wat(text).map_err(|e| ApiError::bad_request("udf_invalid_binary_exception", format!("invalid WAT: {e}")))
}

/// What an upload carries besides the metadata.
#[derive(Default)]
struct Payload {
    binary: Option<Vec<u8>>,
    wat_source: Option<String>,
    source: Option<String>,
    signature: Option<String>,
}

pub async fn register(State(state): State<AppState>, req: Request<Body>) -> Result<Response, ApiError> {
    let started = Instant::now();
    let actor = authorize(&state, req.headers(), true)?;
    let content_type = content_type(req.headers());
    let (mut fields, payload) = if content_type.starts_with("multipart/form-data") {
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
    let source = source_of(&fields, payload.binary, payload.wat_source, payload.source.clone())?;
    if let Some(text) = payload.source
        && is_unset(&fields, "source")
    {
        fields.insert("source".into(), Value::String(text));
    }
    let request = UploadRequest {
        fields,
        source,
        signature: payload.signature,
        actor,
        destination: Destination::Registry(VersionChoice::Declared),
    };
    let uploaded = upload(&state, request).await?;
    let mut body = metadata_json(&uploaded.udf);
    if let (Some(build), Some(obj)) = (&uploaded.python, body.as_object_mut()) {
        obj.insert("compilation".into(), build.report(uploaded.register_time, started.elapsed()));
    }
    Ok(json_response(201, body))
}

fn is_unset(fields: &Map<String, Value>, key: &str) -> bool {
    matches!(fields.get(key), None | Some(Value::Null))
}

/// What the upload compiles from: the binary as uploaded, WAT (`wat_source`, or `source`
/// with `language: wat`) or Python (`source` with `language: python`).
fn source_of(
    fields: &Map<String, Value>,
    binary: Option<Vec<u8>>,
    wat_source: Option<String>,
    source: Option<String>,
) -> Result<UploadSource, ApiError> {
    if let Some(b) = binary {
        return Ok(UploadSource::Binary(b));
    }
    if let Some(text) = wat_source {
        return Ok(UploadSource::Wat(text));
    }
    let language = fields.get("language").and_then(Value::as_str).and_then(Language::parse);
    match (language, source) {
        (Some(Language::Wat), Some(text)) => Ok(UploadSource::Wat(text)),
        (Some(Language::Python), Some(text)) => Ok(UploadSource::Python(text)),
        _ => Err(ApiError::bad_request(
            "udf_invalid_metadata_exception",
            "the upload has no binary: send wasm_base64 (or a raw application/wasm body, or a `wasm` multipart part), \
             wat_source for a WAT module, or `source` with `language` wat or python",
        )),
    }
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

/// Metadata from the upload's fields (shape errors name the field).
fn parse_metadata(fields: Map<String, Value>) -> Result<UdfMetadata, ApiError> {
    UdfMetadata::from_fields(fields).map_err(|m| ApiError::bad_request("udf_invalid_metadata_exception", m))
}
