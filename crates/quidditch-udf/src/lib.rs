//! Sandboxed WebAssembly UDF runtime: registry, limits, permissions, signatures, audit, stats.
//!
//! # The interface the engine uses
//!
//! ```no_run
//! # use std::time::{Duration, Instant};
//! # use quidditch_udf::*;
//! # fn demo(dir: &std::path::Path) -> anyhow::Result<()> {
//! let registry = UdfRegistry::open(dir, UdfConfig::default())?;
//! // At query lowering: unknown UDFs and bad parameters fail before any document is read.
//! let udf = registry.resolve("price_filter", None)?; // highest semver; or Some("1.2.0"), or "name@1.2.0"
//! let params = udf.bind_params(&serde_json::Map::new())?; // defaults applied, types checked (400)
//! // Per evaluation context (query × shard): a fresh instance with its own Store.
//! let mut inst = udf.instantiate(params, Instant::now() + Duration::from_secs(1))?; // 429 after the deadline
//! // Per segment: documents; fields are resolved once to a slot, then read per doc.
//! inst.set_documents(Box::new(JsonDocument::new("1", serde_json::json!({"price": 10}))));
//! let keep = inst.filter(0, 1.0)?;
//! let (logs, truncated) = inst.take_logs();
//! # let _ = (keep, logs, truncated); Ok(()) }
//! ```
//!
//! Core modules (ABI v1, `docs/udf-abi.md`) and components (`wit/quidditch-udf.wit`) are
//! detected from the binary and run behind the same [`UdfInstance`] interface.

mod abi;
pub mod audit;
mod component;
pub mod config;
mod defaults;
pub mod document;
mod driver;
mod engine;
pub mod error;
mod host;
pub mod inline;
mod instance;
mod limits;
pub mod metadata;
pub mod params;
pub mod permissions;
mod python_runtime;
mod registry;
pub mod signature;
pub mod stats;

pub use audit::{AuditEntry, AuditQuery};
pub use config::{LimitOverrides, PythonConfig, UdfConfig, UdfLimits};
pub use document::{DocumentAccess, FieldSlot, FieldValue, JsonDocument};
pub use engine::detect_kind;
pub use error::{UdfError, UdfErrorKind};
pub use host::{LogEntry, LogLevel};
pub use inline::{InlineCompiler, InlineScript, ScriptSource};
pub use instance::{LoadedUdf, UdfInstance};
pub use metadata::{BinaryKind, Language, ParamDecl, ParamType, Permission, UdfMetadata};
pub use params::{BoundParams, ParamValue};
pub use python_runtime::{ModuleLoadError, RuntimeBuilder, SharedPythonRuntime};
pub use registry::{DefaultChange, RegisterRequest, UdfRegistry, UploadSource, VersionChoice};

/// Compiles WAT text (a `wat` upload) to a binary; the error carries line and column.
pub fn compile_wat(text: &str) -> Result<Vec<u8>, String> {
    wat::parse_str(text).map_err(|e| e.to_string())
}

// The engine moves instances to the threads that evaluate segments and shares versions.
const _: () = {
    const fn send<T: Send>() {}
    const fn send_sync<T: Send + Sync>() {}
    send::<UdfInstance>();
    send_sync::<LoadedUdf>();
    send_sync::<UdfRegistry>();
};
