//! Python source uploads (`"language": "python"`, `"source"`): compile with quidditch-python
//! (componentize-py + the shipped adapter) and fill the upload's metadata from the source.
//! The component is then registered like any other binary (the registry caches its
//! precompiled form, so a restart does not recompile).
//!
//! Engines: the native compiler (`quidditch_python::compile_native`, a core module without
//! CPython) is tried first; a module outside its subset runs on CPython, and the metadata
//! says which (`engine`) and why (`native_fallback`). `"python_engine"` in the upload forces
//! one: `"cpython"`, or `"native"` (a 400 naming the construct when it cannot compile).

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use quidditch_python::{PythonCompiler, PythonMetadata, PythonUdfError};
use serde_json::{Map, Value, json};

use quidditch_udf::UdfConfig;

use crate::http::ApiError;

/// Version used when neither the JSON nor a `# @udf: version=` directive gives one.
const DEFAULT_VERSION: &str = "1.0.0";

/// A compiled Python upload.
pub struct PythonBuild {
    pub binary: Vec<u8>,
    pub component_bytes: usize,
    pub compile_time: Duration,
    pub compiler: String,
    pub engine: &'static str,
}

impl PythonBuild {
    /// What the upload response reports about compilation.
    pub fn report(&self, register_time: Duration, total: Duration) -> Value {
        json!({
            "engine": self.engine,
            "compiler": self.compiler,
            "component_bytes": self.component_bytes,
            "compile_ms": ms(self.compile_time),
            "register_ms": ms(register_time),
            "total_ms": ms(total),
        })
    }
}

fn ms(d: Duration) -> f64 {
    (d.as_secs_f64() * 1e6).round() / 1e3
}

/// componentize-py runs started by this process (`/api/v1/udfs/_runtime`
/// `python_compilations`): shows that a refused upload cost no compilation.
pub static COMPILATIONS: AtomicU64 = AtomicU64::new(0);

/// Which engine an upload asks for (`"python_engine"`, taken out of the fields).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EngineRequest {
    Auto,
    Native,
    Cpython,
}

const ENGINE_FIELD: &str = "python_engine";

pub fn take_engine_request(fields: &mut Map<String, Value>) -> Result<EngineRequest, ApiError> {
    match fields.remove(ENGINE_FIELD) {
        None | Some(Value::Null) => Ok(EngineRequest::Auto),
        Some(Value::String(s)) if s == "auto" => Ok(EngineRequest::Auto),
        Some(Value::String(s)) if s == "native" => Ok(EngineRequest::Native),
        Some(Value::String(s)) if s == "cpython" => Ok(EngineRequest::Cpython),
        Some(other) => Err(ApiError::bad_request(
            "udf_invalid_metadata_exception",
            format!("[{ENGINE_FIELD}] must be one of \"auto\", \"native\", \"cpython\"; got {other}"),
        )),
    }
}

/// The engine chosen for a Python upload.
pub enum Engine {
    Native(quidditch_python::NativeModule),
    /// CPython, with the native compiler's reason when it was tried.
    Cpython(Option<quidditch_python::Unsupported>),
}

impl Engine {
    pub fn name(&self) -> &'static str {
        match self {
            Engine::Native(_) => "native",
            Engine::Cpython(_) => "cpython",
        }
    }

    /// Records the choice in the metadata (`engine`, `native_fallback`).
    pub fn annotate(&self, metadata: &mut quidditch_udf::UdfMetadata) {
        metadata.engine = Some(self.name().to_string());
        metadata.native_fallback = match self {
            Engine::Cpython(Some(why)) => Some(json!({"construct": why.construct, "line": why.line})),
            _ => None,
        };
    }
}

/// Tries the native compiler unless CPython is asked for (a pure in-process translation of
/// the source: no process, no files, no wasmtime). `fields`' permissions decide whether the
/// module may read the document natively.
pub fn choose_engine(source: &str, request: EngineRequest, fields: &Map<String, Value>) -> Result<Engine, ApiError> {
    if request == EngineRequest::Cpython {
        return Ok(Engine::Cpython(None));
    }
    let read_document = match fields.get("permissions") {
        None | Some(Value::Null) => true,
        Some(Value::Array(items)) => items.iter().any(|p| p.as_str() == Some("read_document")),
        Some(_) => false,
    };
    match quidditch_python::compile_native(source, read_document) {
        Ok(module) => Ok(Engine::Native(module)),
        Err(why) if request == EngineRequest::Native => Err(ApiError::bad_request(
            "python_native_unsupported_exception",
            format!("the Python UDF cannot run on the native engine: {why}"),
        )
        .with("construct", why.construct.clone())
        .with("line", why.line)),
        Err(why) => Ok(Engine::Cpython(Some(why))),
    }
}

/// The build of a natively compiled module, reported like a CPython compilation.
pub fn native_build(module: quidditch_python::NativeModule) -> PythonBuild {
    PythonBuild {
        component_bytes: module.wasm.len(),
        binary: module.wasm,
        compile_time: module.compile_time,
        compiler: concat!("quidditch-python native ", env!("CARGO_PKG_VERSION")).to_string(),
        engine: "native",
    }
}

/// Completes an upload's `fields` from what the source declares (values present in the JSON
/// win) and, for CPython, gives it the Python default limits (a native module needs no more
/// than any core module); the name must then be known.
pub fn complete_fields(
    config: &UdfConfig,
    fields: &mut Map<String, Value>,
    declared: &PythonMetadata,
    cpython: bool,
) -> Result<(), ApiError> {
    merge_metadata(fields, declared);
    if cpython {
        apply_python_limits(config, fields);
    }
    if !matches!(fields.get("name"), Some(Value::String(s)) if !s.is_empty()) {
        return Err(ApiError::bad_request(
            "udf_invalid_metadata_exception",
            "[name] is required: send it in the JSON body or write `# @udf: name=<name>` in the source",
        ));
    }
    fields.insert("language".into(), Value::String("python".into()));
    Ok(())
}

/// Checks `source` with the Python compiler (the shared runtime loads it). Blocking:
/// milliseconds, seconds when the runtime must be built first.
pub fn compile(source: &str) -> Result<PythonBuild, ApiError> {
    let started = Instant::now();
    COMPILATIONS.fetch_add(1, Ordering::Relaxed);
    let component = PythonCompiler::global().compile(source).map_err(api_error)?;
    tracing::debug!(ms = started.elapsed().as_millis() as u64, "Python upload compiled");
    Ok(PythonBuild {
        component_bytes: component.wasm.len(),
        binary: component.wasm,
        compile_time: component.compile_time,
        compiler: component.tool_version,
        engine: "cpython",
    })
}

/// A Python compile error as an API error, with its line/column details and, when
/// componentize-py failed, its output as `python_traceback`.
pub fn api_error(e: PythonUdfError) -> ApiError {
    let mut api = ApiError::new(e.status(), e.error_type(), e.to_string());
    for (k, v) in e.details() {
        api = api.with(k, v);
    }
    if let PythonUdfError::CompileFailed { output, .. } = &e {
        api = api.with("python_traceback", output.clone());
    }
    api
}

fn is_unset(fields: &Map<String, Value>, key: &str) -> bool {
    match fields.get(key) {
        None | Some(Value::Null) => true,
        Some(Value::String(s)) => s.is_empty(),
        Some(Value::Array(a)) => a.is_empty(),
        Some(_) => false,
    }
}

/// Fills what the JSON left unset from the source (`# @udf:` directives, docstring, signature).
fn merge_metadata(fields: &mut Map<String, Value>, meta: &PythonMetadata) {
    let mut set = |key: &str, value: Option<Value>| {
        if let Some(v) = value
            && is_unset(fields, key)
        {
            fields.insert(key.to_string(), v);
        }
    };
    set("name", meta.name.clone().map(Value::String));
    set("version", Some(Value::String(meta.version.clone().unwrap_or_else(|| DEFAULT_VERSION.into()))));
    set("author", meta.author.clone().map(Value::String));
    set("category", meta.category.clone().map(Value::String));
    set("description", meta.description.clone().map(Value::String));
    set("tags", (!meta.tags.is_empty()).then(|| json!(meta.tags)));
    set("parameters", (!meta.parameters.is_empty()).then(|| json!(meta.parameters)));
}

/// The memory and per-call time a Python UDF gets unless it sets its own.
struct PythonLimits {
    memory_bytes: u64,
    call_timeout_ms: u64,
}

/// Python UDFs embed CPython (~12.5 MiB of linear memory) and interpret, so they default to
/// quidditch-python's limits, clamped between the server's defaults and its ceiling.
fn python_limits(udf: &UdfConfig) -> PythonLimits {
    PythonLimits {
        memory_bytes: quidditch_python::DEFAULT_MEMORY_BYTES
            .min(udf.max_limits.memory_bytes)
            .max(udf.limits.memory_bytes),
        call_timeout_ms: quidditch_python::DEFAULT_CALL_TIMEOUT_MS
            .min(udf.max_limits.call_timeout_ms)
            .max(udf.limits.call_timeout_ms),
    }
}

/// Python defaults for memory and per-call time (CPython needs more than the server-wide
/// defaults), unless the upload sets them; never above the server's ceiling, never below its
/// defaults.
fn apply_python_limits(config: &UdfConfig, fields: &mut Map<String, Value>) {
    let PythonLimits { memory_bytes: memory, call_timeout_ms: call } = python_limits(config);
    let limits = fields.entry("limits").or_insert(Value::Null);
    if limits.is_null() {
        *limits = Value::Object(Map::new());
    }
    if let Value::Object(limits) = limits {
        limits.entry("memory_bytes").or_insert_with(|| json!(memory));
        limits.entry("call_timeout_ms").or_insert_with(|| json!(call));
    }
}
