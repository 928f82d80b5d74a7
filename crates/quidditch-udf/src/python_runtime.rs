//! The shared Python runtime: ONE component (CPython + the adapter + the standard library
//! modules UDFs use, world `quidditch:udf/python-runtime`) that every Python UDF uploaded as
//! source runs on. A UDF's stored "binary" is its source text; each instance is a fresh
//! instance of the runtime into which `load-module(source)` loads the UDF's module.
//!
//! The component is built by a [`RuntimeBuilder`] (quidditch-python, with componentize-py) on
//! first need, kept with its precompiled form in the runtime directory, keyed by the builder's
//! key and the engine's compatibility hash: a restart, and any other server sharing the
//! directory, compiles nothing.
//!
//! A UDF's module is compiled by CPython once (`prepare-module`, at upload or at the first
//! instance after a restart): the marshalled code is kept in memory and in the runtime
//! directory (`prepared/<sha256 of the source>-<runtime key>.bin`), and every instance loads it
//! with `load-prepared`, so starting an instance parses and compiles nothing.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use parking_lot::Mutex;
use serde_json::{Value, json};
use tracing::{info, warn};
use wasmtime::Store;
use wasmtime::component::{Component, Linker};

use crate::component::ComponentHost;
use crate::component::python_world::{ModuleError, PythonRuntime, PythonRuntimePre};
use crate::config::UdfLimits;
use crate::engine::WasmEngine;
use crate::host::HostCtx;
use crate::limits::MemoryLimiter;
use crate::metadata::BinaryKind;
use crate::params::BoundParams;

/// Builds the shared runtime's component (quidditch-python implements it with componentize-py).
pub trait RuntimeBuilder: Send + Sync {
    /// Names one build: the same key means the same component (adapter, WIT world, toolchain).
    fn key(&self) -> String;
    /// Builds the component. Slow (seconds) and blocking.
    fn build(&self) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>>;
}

/// Why a UDF's module did not load into the runtime.
#[derive(Debug)]
pub enum ModuleLoadError {
    /// The runtime cannot be built or loaded (the builder's error, e.g. no componentize-py).
    Unavailable(Box<dyn std::error::Error + Send + Sync>),
    /// CPython's parser rejected the source; `line`/`column` as `SyntaxError.lineno`/`offset`.
    Syntax { line: usize, column: usize, message: String },
    /// The module's top-level code raised; `line` is the last frame in the module (0: none).
    Raised { message: String, line: usize, traceback: String },
    /// The load hit a limit or trapped (time, memory, …).
    Failed(String),
}

impl std::fmt::Display for ModuleLoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ModuleLoadError::Unavailable(e) => write!(f, "the shared Python runtime is unavailable: {e}"),
            ModuleLoadError::Syntax { line, column, message } => {
                write!(f, "Python syntax error at line {line}, column {column}: {message}")
            }
            ModuleLoadError::Raised { message, line: 0, .. } => write!(f, "{message} (while importing the module)"),
            ModuleLoadError::Raised { message, line, .. } => write!(f, "{message} (line {line}, while importing the module)"),
            ModuleLoadError::Failed(m) => write!(f, "{m}"),
        }
    }
}

impl From<ModuleError> for ModuleLoadError {
    fn from(e: ModuleError) -> Self {
        if e.kind == "syntax" {
            ModuleLoadError::Syntax { line: e.line as usize, column: e.column as usize, message: e.message }
        } else {
            ModuleLoadError::Raised { message: e.message, line: e.line as usize, traceback: e.traceback }
        }
    }
}

/// The runtime once loaded: what instances are created from.
pub(crate) struct LoadedRuntime {
    pub pre: PythonRuntimePre<ComponentHost>,
}

/// The registry's shared Python runtime (one per registry), loaded on first need.
pub struct SharedPythonRuntime {
    engine: Arc<WasmEngine>,
    linker: Linker<ComponentHost>,
    dir: PathBuf,
    builder: OnceLock<Arc<dyn RuntimeBuilder>>,
    loaded: Mutex<Option<Arc<LoadedRuntime>>>,
    /// Builder runs (componentize-py) by this process.
    builds: AtomicU64,
    /// wasmtime compilations of the runtime component by this process.
    compilations: AtomicU64,
    /// Loads of the precompiled runtime from the directory.
    cache_loads: AtomicU64,
    /// Modules compiled by the runtime's CPython, by the sha256 of their source.
    prepared: Mutex<HashMap<String, Arc<[u8]>>>,
    /// `prepare-module` runs by this process (uploads, first instances after a restart).
    preparations: AtomicU64,
}

impl SharedPythonRuntime {
    pub(crate) fn new(engine: Arc<WasmEngine>, linker: Linker<ComponentHost>, dir: &Path) -> Self {
        SharedPythonRuntime {
            engine,
            linker,
            dir: dir.to_path_buf(),
            builder: OnceLock::new(),
            loaded: Mutex::new(None),
            builds: AtomicU64::new(0),
            compilations: AtomicU64::new(0),
            cache_loads: AtomicU64::new(0),
            prepared: Mutex::new(HashMap::new()),
            preparations: AtomicU64::new(0),
        }
    }

    /// Sets how the runtime is built (once; later calls are ignored and return false).
    pub fn set_builder(&self, builder: Arc<dyn RuntimeBuilder>) -> bool {
        self.builder.set(builder).is_ok()
    }

    /// The runtime, loading (or building) it on first use. Blocking: seconds when it must be built.
    pub(crate) fn load(&self) -> Result<Arc<LoadedRuntime>, ModuleLoadError> {
        let mut slot = self.loaded.lock();
        if let Some(rt) = &*slot {
            return Ok(rt.clone());
        }
        let builder = self.builder.get().ok_or_else(|| {
            ModuleLoadError::Unavailable("no builder for the shared Python runtime is configured".into())
        })?;
        let component = self.component(builder.as_ref())?;
        let pre = self
            .linker
            .instantiate_pre(&component)
            .and_then(PythonRuntimePre::new)
            .map_err(|e| ModuleLoadError::Unavailable(format!("cannot link the shared Python runtime: {e:#}").into()))?;
        let rt = Arc::new(LoadedRuntime { pre });
        *slot = Some(rt.clone());
        Ok(rt)
    }

    fn component(&self, builder: &dyn RuntimeBuilder) -> Result<Component, ModuleLoadError> {
        let unavailable = |what: &str, e: &dyn std::fmt::Display| {
            ModuleLoadError::Unavailable(format!("{what} the shared Python runtime: {e}").into())
        };
        std::fs::create_dir_all(&self.dir).map_err(|e| unavailable("cannot create the directory of", &e))?;
        let key = builder.key();
        let wasm_path = self.dir.join(format!("python-runtime-{key}.wasm"));
        let artifact = self.dir.join(format!("python-runtime-{key}-{}.cwasm", self.engine.compat_hash()));
        if artifact.exists() {
            // SAFETY: written below by `serialize` of an engine with the same compatibility
            // hash (part of the name), via tmp + rename; wasmtime checks the header too.
            match unsafe { Component::deserialize_file(&self.engine.engine, &artifact) } {
                Ok(c) => {
                    self.cache_loads.fetch_add(1, Ordering::Relaxed);
                    info!(path = %artifact.display(), "loaded the shared Python runtime (precompiled, nothing to compile)");
                    return Ok(c);
                }
                Err(e) => warn!(path = %artifact.display(), "ignoring an unusable precompiled Python runtime: {e}"),
            }
        }
        let wasm = match std::fs::read(&wasm_path) {
            Ok(w) => w,
            Err(_) => {
                let started = std::time::Instant::now();
                let wasm = builder.build().map_err(ModuleLoadError::Unavailable)?;
                self.builds.fetch_add(1, Ordering::Relaxed);
                info!(bytes = wasm.len(), ms = started.elapsed().as_millis() as u64, "built the shared Python runtime");
                write_atomically(&wasm_path, &wasm).map_err(|e| unavailable("cannot store", &e))?;
                wasm
            }
        };
        let compiled = self
            .engine
            .compile(BinaryKind::Component, &wasm)
            .map_err(|e| unavailable("cannot compile", &format!("{e:#}")))?;
        self.compilations.fetch_add(1, Ordering::Relaxed);
        let crate::engine::Compiled::Component(component) = compiled else {
            return Err(unavailable("the builder did not produce a component for", &"a core module"));
        };
        match component.serialize() {
            Ok(bytes) => {
                if let Err(e) = write_atomically(&artifact, &bytes) {
                    warn!(path = %artifact.display(), "cannot store the precompiled Python runtime: {e}");
                }
            }
            Err(e) => warn!("cannot serialize the Python runtime: {e}"),
        }
        Ok(component)
    }

    /// Loads `source` into a fresh runtime instance with `limits` and no documents (upload
    /// validation): the capabilities the module reports, or why it does not load. The compiled
    /// module is kept for [`prepared`](Self::prepared).
    pub fn check_module(&self, source: &str, limits: &UdfLimits) -> Result<Vec<String>, ModuleLoadError> {
        let (code, caps) = self.prepare(source, limits)?;
        self.keep_prepared(source, code);
        Ok(caps)
    }

    /// The module of `source` compiled by the runtime's CPython, for `load-prepared`: from
    /// memory, the runtime directory, or a `prepare-module` run in a fresh instance.
    pub(crate) fn prepared(&self, source: &str, limits: &UdfLimits) -> Result<Arc<[u8]>, ModuleLoadError> {
        let digest = source_digest(source);
        if let Some(code) = self.prepared.lock().get(&digest) {
            return Ok(code.clone());
        }
        if let Some(path) = self.prepared_path(&digest)
            && let Ok(code) = std::fs::read(&path)
        {
            let code: Arc<[u8]> = code.into();
            self.prepared.lock().insert(digest, code.clone());
            return Ok(code);
        }
        let (code, _) = self.prepare(source, limits)?;
        Ok(self.keep_prepared(source, code))
    }

    fn keep_prepared(&self, source: &str, code: Vec<u8>) -> Arc<[u8]> {
        let digest = source_digest(source);
        let code: Arc<[u8]> = code.into();
        if let Some(path) = self.prepared_path(&digest)
            && !path.exists()
        {
            // A failure only costs one `prepare-module` at the next start.
            let stored = path.parent().map_or(Ok(()), std::fs::create_dir_all).and_then(|_| write_atomically(&path, &code));
            if let Err(e) = stored {
                warn!(path = %path.display(), "cannot store a prepared Python module: {e}");
            }
        }
        self.prepared.lock().insert(digest, code.clone());
        code
    }

    fn prepared_path(&self, digest: &str) -> Option<PathBuf> {
        let key = self.builder.get()?.key();
        Some(self.dir.join("prepared").join(format!("{digest}-{key}.bin")))
    }

    /// Runs `prepare-module(source)` in a fresh instance with `limits` and no documents.
    fn prepare(&self, source: &str, limits: &UdfLimits) -> Result<(Vec<u8>, Vec<String>), ModuleLoadError> {
        let rt = self.load()?;
        let ctx = HostCtx::new(
            Arc::new(BoundParams::default()),
            MemoryLimiter::new(limits.memory_bytes as usize, crate::instance::MAX_TABLE_ELEMENTS),
            limits.log_bytes,
            true,
            false,
        );
        let mut store = Store::new(&self.engine.engine, ComponentHost::new(ctx, false, false, limits.log_bytes));
        store.limiter(|h| &mut h.ctx.limiter);
        store.set_epoch_deadline(self.engine.ticks_for_ms(limits.call_timeout_ms));
        let failed = |e: wasmtime::Error, store: &Store<ComponentHost>| {
            let hit = store.data().ctx.limiter.hit;
            ModuleLoadError::Failed(describe_failure(&e, hit, limits))
        };
        let instance = match rt.pre.instantiate(&mut store) {
            Ok(i) => i,
            Err(e) => return Err(failed(e, &store)),
        };
        self.preparations.fetch_add(1, Ordering::Relaxed);
        match instance.call_prepare_module(&mut store, source) {
            Ok(Ok(prepared)) => Ok((prepared.code, prepared.capabilities)),
            Ok(Err(e)) => Err(e.into()),
            Err(e) => Err(failed(e, &store)),
        }
    }

    /// `/_runtime`'s `python_runtime`: whether it is loaded and how often it was built/compiled.
    pub fn stats_json(&self) -> Value {
        json!({
            "loaded": self.loaded.lock().is_some(),
            "builds": self.builds.load(Ordering::Relaxed),
            "compilations": self.compilations.load(Ordering::Relaxed),
            "precompiled_loads": self.cache_loads.load(Ordering::Relaxed),
            "module_preparations": self.preparations.load(Ordering::Relaxed),
            "key": self.builder.get().map(|b| b.key()),
        })
    }
}

/// Calls `load-prepared` with a module compiled by [`SharedPythonRuntime::prepared`]; whether
/// the UDF may read documents comes from the store's host context.
pub(crate) fn load_prepared(
    instance: &PythonRuntime,
    store: &mut Store<ComponentHost>,
    code: &[u8],
    source: &str,
) -> wasmtime::Result<Result<Vec<String>, ModuleError>> {
    let read_document = store.data().ctx.read_document;
    instance.call_load_prepared(store, code, source, read_document)
}

fn source_digest(source: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(source.as_bytes()))
}

fn describe_failure(e: &wasmtime::Error, limiter_hit: bool, limits: &UdfLimits) -> String {
    use wasmtime::Trap;
    match e.downcast_ref::<Trap>() {
        Some(Trap::Interrupt) => format!(
            "the module's top-level code did not finish within limit [call_timeout_ms] = {} ms",
            limits.call_timeout_ms
        ),
        _ if limiter_hit || e.downcast_ref::<crate::limits::MemoryLimitExceeded>().is_some() => format!(
            "the module's top-level code exceeded limit [memory_bytes] = {} bytes: {e:#}",
            limits.memory_bytes
        ),
        _ => format!("the module failed to load: {e:#}"),
    }
}

fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
    std::fs::write(&tmp, bytes)?;
    std::fs::rename(&tmp, path)
}
