//! The UDF registry: uploads are validated (metadata, size, signature, binary, permissions,
//! a trial instantiation), stored under `udfs/registry/<name>/<version>/`, compiled once
//! (artifact cached under `udfs/cache/`) and served to the engine by name and version.
//! Python UDFs uploaded as source store the source as their binary and run on the shared
//! Python runtime (`python_runtime.rs`): nothing to compile per UDF.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Instant;

use anyhow::Context;
use parking_lot::{Mutex, RwLock};
use serde_json::{Value, json};
use tracing::{info, warn};
use wasmtime::{ExternType, ValType};

use crate::audit::{AuditEntry, AuditLog, AuditQuery, now_rfc3339};
use crate::component::{ComponentHost, UdfPre};
use crate::config::{UdfConfig, UdfLimits};
use crate::defaults::DefaultPins;
use crate::engine::{Compiled, WasmEngine, detect_kind};
use crate::error::{UdfError, UdfErrorKind};
use crate::host::HostCtx;
use crate::inline::{InlineCache, InlineCompiler, InlineScript};
use crate::instance::{CoreUdf, DriverModule, LoadedUdf, Runtime, ServedPlan};
use crate::limits::InstanceGate;
use crate::metadata::{BinaryKind, Language, UdfMetadata, echo, parse_version};
use crate::params::BoundParams;
use crate::permissions::{check_component_imports, check_core_imports};
use crate::python_runtime::SharedPythonRuntime;
use crate::signature::{SignatureProblem, TrustedKeys, sha256_bytes};
use crate::stats::VersionStats;

/// An upload: declared metadata, the binary, an optional signature and who sent it.
/// Source compilers (WAT, Python) produce the binary and set `metadata.source`.
pub struct RegisterRequest {
    pub metadata: UdfMetadata,
    pub binary: Vec<u8>,
    /// Ed25519 signature over sha256(binary), hex or base64.
    pub signature: Option<String>,
    /// For the audit log.
    pub actor: String,
}

/// What an upload carries: a binary, or source the server compiles to one. The upload paths
/// (`/api/v1/udfs` in JSON, raw and multipart form, and `/_scripts`) all build this, and
/// [`UdfRegistry::precheck`] runs on it before anything is compiled.
#[derive(Debug, Clone, PartialEq)]
pub enum UploadSource {
    /// A core module or component, as uploaded.
    Binary(Vec<u8>),
    /// WAT text (compiled in-process, in milliseconds).
    Wat(String),
    /// Python source (compiled with componentize-py: seconds of CPU in a build sandbox).
    Python(String),
}

impl UploadSource {
    fn len(&self) -> usize {
        match self {
            UploadSource::Binary(b) => b.len(),
            UploadSource::Wat(s) | UploadSource::Python(s) => s.len(),
        }
    }

    fn what(&self) -> &'static str {
        match self {
            UploadSource::Binary(_) => "binary",
            UploadSource::Wat(_) => "WAT source",
            UploadSource::Python(_) => "Python source",
        }
    }
}

/// Which version a registration gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionChoice {
    /// `metadata.version`, as uploaded.
    Declared,
    /// The next patch version after the highest one registered (`1.0.0` for the first),
    /// picked under the registry's write lock so concurrent uploads never pick the same one
    /// (stored scripts: every `put_script` is a new version).
    NextPatch,
}

/// The registry of all UDF versions of this node.
pub struct UdfRegistry {
    config: UdfConfig,
    engine: Arc<WasmEngine>,
    core_linker: Arc<wasmtime::Linker<HostCtx>>,
    component_linker: wasmtime::component::Linker<ComponentHost>,
    trusted: TrustedKeys,
    registry_dir: PathBuf,
    audit: Arc<AuditLog>,
    python: Arc<SharedPythonRuntime>,
    udfs: RwLock<BTreeMap<String, BTreeMap<semver::Version, Arc<LoadedUdf>>>>,
    /// Serializes registrations and deletions (the duplicate check and the disk layout).
    write_lock: Mutex<()>,
    /// Pinned default versions (taken after `udfs` when both are held).
    pins: RwLock<DefaultPins>,
    /// Compiles inline scripts (installed by the server: its upload path).
    inline_compiler: RwLock<Option<Arc<dyn InlineCompiler>>>,
    /// Compiled inline scripts by content key.
    inline: Mutex<InlineCache>,
}

/// A default-version change (`_default`, `_rollback`), as the API reports it.
#[derive(Debug, Clone, serde::Serialize)]
pub struct DefaultChange {
    pub name: String,
    /// What queries without a version now run: the pin, else the highest version.
    pub default_version: String,
    /// The pinned version, `None` when nothing is pinned.
    pub pinned: Option<String>,
    /// The pin before this change.
    pub previous: Option<String>,
    pub latest_version: String,
}

impl std::fmt::Debug for UdfRegistry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let udfs = self.udfs.read();
        f.debug_struct("UdfRegistry")
            .field("dir", &self.registry_dir)
            .field("udfs", &udfs.len())
            .field("versions", &udfs.values().map(|v| v.len()).sum::<usize>())
            .finish()
    }
}

impl UdfRegistry {
    /// Opens (or creates) the registry under `dir` (`<data>/udfs`) and loads every stored
    /// version, from the precompiled cache when possible. A version that fails to load is
    /// logged and skipped, never fatal.
    pub fn open(dir: &Path, config: UdfConfig) -> anyhow::Result<Arc<UdfRegistry>> {
        let registry_dir = dir.join("registry");
        std::fs::create_dir_all(&registry_dir).with_context(|| format!("creating {}", registry_dir.display()))?;
        let trusted = TrustedKeys::parse(&config.trusted_keys)?;
        let engine = WasmEngine::new(&config, &dir.join("cache"))?;
        let mut core_linker = wasmtime::Linker::new(&engine.engine);
        crate::abi::add_to_linker(&mut core_linker).map_err(anyhow::Error::from)?;
        crate::driver::add_to_linker(&mut core_linker).map_err(anyhow::Error::from)?;
        let core_linker = Arc::new(core_linker);
        let component_linker = crate::component::linker(&engine.engine).map_err(anyhow::Error::from)?;
        let audit = Arc::new(AuditLog::open(&dir.join("audit"), config.audit_max_bytes, config.audit_max_files)?);
        let python_dir = config.python.runtime_dir.clone().unwrap_or_else(|| dir.join("python-runtime"));
        let python = Arc::new(SharedPythonRuntime::new(engine.clone(), component_linker.clone(), &python_dir));
        let registry = Arc::new(UdfRegistry {
            config,
            engine,
            core_linker,
            component_linker,
            trusted,
            registry_dir,
            audit,
            python,
            udfs: RwLock::new(BTreeMap::new()),
            write_lock: Mutex::new(()),
            pins: RwLock::new(DefaultPins::open(&dir.join("defaults.json"))),
            inline_compiler: RwLock::new(None),
            inline: Mutex::new(InlineCache::default()),
        });
        registry.load_all();
        Ok(registry)
    }

    fn load_all(&self) {
        let Ok(names) = std::fs::read_dir(&self.registry_dir) else { return };
        let (mut loaded, mut from_cache) = (0, 0);
        for name_dir in names.flatten() {
            let Ok(versions) = std::fs::read_dir(name_dir.path()) else { continue };
            for vdir in versions.flatten() {
                let path = vdir.path();
                if path.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with('.')) {
                    let _ = std::fs::remove_dir_all(&path); // an interrupted write or delete
                    continue;
                }
                match self.load_stored(&path) {
                    Ok(udf) => {
                        loaded += 1;
                        if matches!(udf.runtime, Runtime::PythonModule { .. }) {
                            info!(udf = %udf.metadata.name, version = %udf.metadata.version,
                                "loaded Python UDF (source on the shared Python runtime, nothing to compile)");
                        } else if udf.loaded_from_cache {
                            from_cache += 1;
                            info!(udf = %udf.metadata.name, version = %udf.metadata.version,
                                "loaded UDF from the precompiled cache (no recompilation)");
                        } else {
                            info!(udf = %udf.metadata.name, version = %udf.metadata.version, "compiled UDF");
                        }
                        self.udfs
                            .write()
                            .entry(udf.metadata.name.clone())
                            .or_default()
                            .insert(udf.version.clone(), udf);
                    }
                    Err(e) => warn!(path = %path.display(), "skipping a stored UDF that does not load: {e:#}"),
                }
            }
        }
        info!(loaded, from_cache, "UDF registry opened");
    }

    fn load_stored(&self, dir: &Path) -> anyhow::Result<Arc<LoadedUdf>> {
        let metadata: UdfMetadata = serde_json::from_slice(&std::fs::read(dir.join("metadata.json"))?)?;
        let binary = std::fs::read(dir.join("udf.wasm"))?;
        let version = semver::Version::parse(&metadata.version)?;
        let limits = self.limits_for(&metadata).map_err(|m| anyhow::anyhow!(m))?;
        if let Some(source) = python_source(&metadata, &binary) {
            let runtime = Runtime::PythonModule { source: source.into(), runtime: self.python.clone() };
            return Ok(Arc::new(self.make_loaded(metadata, version, limits, runtime, true)));
        }
        let (compiled, cached) = self.engine.load(metadata.kind, &metadata.sha256, &binary)?;
        let runtime = self.runtime_for(&metadata, &compiled).map_err(|e| anyhow::anyhow!(e.message))?;
        Ok(Arc::new(self.make_loaded(metadata, version, limits, runtime, cached)))
    }

    fn limits_for(&self, m: &UdfMetadata) -> Result<UdfLimits, String> {
        m.limits.apply(&self.config.limits, &self.config.max_limits)
    }

    fn make_loaded(&self, metadata: UdfMetadata, version: semver::Version, limits: UdfLimits, runtime: Runtime, cached: bool) -> LoadedUdf {
        LoadedUdf {
            metadata,
            version,
            limits,
            loaded_from_cache: cached,
            runtime,
            engine: self.engine.clone(),
            gate: InstanceGate::default(),
            stats: Arc::new(VersionStats::default()),
            audit: self.audit.clone(),
        }
    }

    /// The shared Python runtime (quidditch-python sets its builder and checks uploads with it).
    pub fn python_runtime(&self) -> &Arc<SharedPythonRuntime> {
        &self.python
    }

    /// Switches the batch driver for instances created from now on (benchmarks compare both).
    pub fn set_batch_driver(&self, on: bool) {
        self.engine.batch_driver.store(on, Ordering::Relaxed);
    }

    pub fn config(&self) -> &UdfConfig {
        &self.config
    }

    pub fn audit_log(&self) -> &AuditLog {
        &self.audit
    }

    /// A UDF version: `version` exact, or when `None` the pinned default, else the highest
    /// semver. `name` may also be `name@version`.
    pub fn resolve(&self, name: &str, version: Option<&str>) -> Result<Arc<LoadedUdf>, UdfError> {
        let (name, version) = match (name.split_once('@'), version) {
            (Some((n, v)), None) => (n, Some(v)),
            _ => (name, version),
        };
        let udfs = self.udfs.read();
        let Some(versions) = udfs.get(name) else {
            return Err(UdfError::new(name, version.map(str::to_string), UdfErrorKind::NotFound, format!("no UDF named [{}]", echo(name))));
        };
        match version {
            None => {
                let pinned = self.pins.read().get(name).and_then(|v| semver::Version::parse(v).ok());
                pinned.and_then(|v| versions.get(&v)).or_else(|| versions.values().next_back()).cloned().ok_or_else(|| {
                    UdfError::new(name, None, UdfErrorKind::NotFound, format!("no UDF named [{}]", echo(name)))
                })
            }
            Some(v) => {
                let parsed = parse_version(v).map_err(|m| UdfError::new(name, Some(v.to_string()), UdfErrorKind::NotFound, m))?;
                versions.get(&parsed).cloned().ok_or_else(|| {
                    UdfError::new(name, Some(v.to_string()), UdfErrorKind::NotFound, format!("UDF [{}] has no version [{}]", echo(name), echo(v)))
                })
            }
        }
    }

    /// Installs what compiles inline scripts (the server's upload path).
    pub fn set_inline_compiler(&self, compiler: Arc<dyn InlineCompiler>) {
        *self.inline_compiler.write() = Some(compiler);
    }

    /// The compiled UDF of an inline script: from the cache by content key, else compiled
    /// through the installed [`InlineCompiler`] and cached. `actor` is who an authorized
    /// endpoint authenticated (`None` for searches); the compiler decides who may.
    pub fn inline(&self, script: &InlineScript, actor: Option<&str>) -> Result<Arc<LoadedUdf>, UdfError> {
        let Some(compiler) = self.inline_compiler.read().clone() else {
            return Err(UdfError::new(
                script.name(),
                None,
                UdfErrorKind::InvalidRequest,
                "inline scripts are not available here: store the UDF and reference it by name",
            ));
        };
        compiler.admit(actor)?;
        if let Some(udf) = self.inline.lock().get(script.key()) {
            return Ok(udf);
        }
        // Concurrent first uses may both compile; the cache keeps one.
        let udf = compiler.compile(script, actor.unwrap_or("search"))?;
        self.inline.lock().insert(*script.key(), udf.clone());
        Ok(udf)
    }

    /// Checks and compiles an inline script's upload like [`register`](Self::register) —
    /// metadata, size, signature, binary, permissions, a trial instantiation — without storing
    /// or listing it (the caller caches it). Audited as `compile_inline`.
    pub fn register_inline(&self, req: RegisterRequest) -> Result<Arc<LoadedUdf>, UdfError> {
        let started = Instant::now();
        let op = "compile_inline";
        let version = req.metadata.validate().map_err(|m| self.reject(&req, op, UdfErrorKind::InvalidMetadata, m, started))?;
        let limits = self.limits_for(&req.metadata).map_err(|m| self.reject(&req, op, UdfErrorKind::InvalidMetadata, m, started))?;
        let (udf, _compiled) = self.prepare(&req, op, version, limits, started)?;
        self.audit_success(op, udf.name(), Some(udf.version_str()), &req.actor, started);
        Ok(Arc::new(udf))
    }

    pub fn pinned_version(&self, name: &str) -> Option<String> {
        self.pins.read().get(name).map(str::to_string)
    }

    /// Pins `version` as what queries without a version run (a newer upload then changes
    /// nothing until promoted). Audited as `promote`.
    pub fn set_default(&self, name: &str, version: &str, actor: &str) -> Result<DefaultChange, UdfError> {
        let started = Instant::now();
        let _write = self.write_lock.lock();
        let udf = self.resolve(name, Some(version))?;
        let previous = self
            .pins
            .write()
            .set(udf.name(), Some(udf.metadata.version.clone()))
            .map_err(|e| udf.error(UdfErrorKind::Internal, format!("cannot store the default version: {e}")))?;
        self.audit_success("promote", udf.name(), Some(udf.version_str()), actor, started);
        self.default_change(udf.name(), previous)
    }

    /// Goes back to the default before the last `set_default` (or rollback's). Audited as
    /// `rollback`.
    pub fn roll_back_default(&self, name: &str, actor: &str) -> Result<DefaultChange, UdfError> {
        let started = Instant::now();
        let _write = self.write_lock.lock();
        let latest = self.resolve(name, None)?;
        let before = self.pinned_version(name);
        let restored = self
            .pins
            .write()
            .roll_back(latest.name())
            .map_err(|e| latest.error(UdfErrorKind::Internal, format!("cannot store the default version: {e}")))?;
        if restored.is_none() {
            return Err(UdfError::new(
                name,
                None,
                UdfErrorKind::InvalidRequest,
                format!("UDF [{}] has no earlier default version to roll back to", echo(name)),
            ));
        }
        let change = self.default_change(latest.name(), before)?;
        self.audit_success("rollback", latest.name(), Some(&change.default_version), actor, started);
        Ok(change)
    }

    fn default_change(&self, name: &str, previous: Option<String>) -> Result<DefaultChange, UdfError> {
        let default = self.resolve(name, None)?;
        let latest = self.versions(name)?.last().map(|u| u.metadata.version.clone()).unwrap_or_default();
        Ok(DefaultChange {
            name: name.to_string(),
            default_version: default.metadata.version.clone(),
            pinned: self.pinned_version(name),
            previous,
            latest_version: latest,
        })
    }

    fn audit_success(&self, operation: &str, name: &str, version: Option<&str>, actor: &str, started: Instant) {
        self.audit.record(AuditEntry {
            time: now_rfc3339(),
            actor: actor.to_string(),
            operation: operation.into(),
            udf: name.to_string(),
            version: version.map(str::to_string),
            outcome: "success".into(),
            error: None,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            request: None,
        });
    }

    /// All versions of a UDF, oldest first.
    pub fn versions(&self, name: &str) -> Result<Vec<Arc<LoadedUdf>>, UdfError> {
        self.udfs
            .read()
            .get(name)
            .map(|v| v.values().cloned().collect())
            .ok_or_else(|| UdfError::new(name, None, UdfErrorKind::NotFound, format!("no UDF named [{}]", echo(name))))
    }

    /// The latest version of every UDF, by name.
    pub fn list(&self) -> Vec<(Arc<LoadedUdf>, Vec<String>)> {
        self.udfs
            .read()
            .values()
            .filter_map(|versions| {
                let latest = versions.values().next_back()?.clone();
                Some((latest, versions.keys().map(|v| v.to_string()).collect()))
            })
            .collect()
    }

    fn reject(&self, req: &RegisterRequest, operation: &str, kind: UdfErrorKind, message: String, started: Instant) -> UdfError {
        self.reject_upload(&req.metadata, &req.actor, operation, kind, message, started)
    }

    /// An upload refused: the error, also recorded in the audit log (name and version cut to
    /// what [`echo`] keeps).
    fn reject_upload(&self, metadata: &UdfMetadata, actor: &str, operation: &str, kind: UdfErrorKind, message: String, started: Instant) -> UdfError {
        let e = UdfError::new(&metadata.name, Some(metadata.version.clone()), kind, message);
        self.audit.record(AuditEntry {
            time: now_rfc3339(),
            actor: actor.to_string(),
            operation: operation.into(),
            udf: e.udf.clone(),
            version: e.version.clone(),
            outcome: "failure".into(),
            error: Some(e.to_string()),
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            request: None,
        });
        e
    }

    /// The checks an upload passes before anything is compiled or written (so a refused
    /// upload costs no compiler run): the API caller is already authorized; here the metadata
    /// (name and version limits, every declared field), the size limit, and the signature
    /// policy — with `require_signed`, an upload without a signature, or Python source (which
    /// cannot be signed: the signature covers the binary the server would build), is refused
    /// (403). A binary's signature is verified here too; WAT is signed over its compiled
    /// binary, verified by [`register`](Self::register). Refusals are audited.
    pub fn precheck(&self, metadata: &UdfMetadata, source: &UploadSource, signature: Option<&str>, actor: &str, choice: VersionChoice) -> Result<(), UdfError> {
        let started = Instant::now();
        let reject = |op: &str, kind, m| self.reject_upload(metadata, actor, op, kind, m, started);
        let checked = match choice {
            VersionChoice::Declared => metadata.validate().map(drop),
            // The version is picked at registration; check everything else.
            VersionChoice::NextPatch => UdfMetadata { version: "1.0.0".into(), ..metadata.clone() }.validate().map(drop),
        };
        checked.map_err(|m| reject("register", UdfErrorKind::InvalidMetadata, m))?;
        self.limits_for(metadata).map_err(|m| reject("register", UdfErrorKind::InvalidMetadata, m))?;
        if source.len() > self.config.max_module_bytes {
            let m = format!(
                "the {} is {} bytes, above the limit [max_module_bytes] = {} bytes",
                source.what(),
                source.len(),
                self.config.max_module_bytes
            );
            return Err(reject("register", UdfErrorKind::TooLarge, m));
        }
        let signature = signature.map(str::trim).filter(|s| !s.is_empty());
        match source {
            UploadSource::Python(_) if self.config.require_signed => Err(reject(
                "signature_rejected",
                UdfErrorKind::SignatureRejected,
                "the server requires signed UDFs and Python source cannot be signed (the signature covers the binary \
                 the server would build): build the component yourself and upload it signed"
                    .into(),
            )),
            UploadSource::Binary(binary) => self.verify_signature(metadata, actor, &sha256_bytes(binary), signature, started).map(drop),
            _ if signature.is_none() && self.config.require_signed => Err(reject(
                "signature_rejected",
                UdfErrorKind::SignatureRejected,
                "the server requires signed UDFs and the upload has no signature".into(),
            )),
            _ => Ok(()),
        }
    }

    /// Validates, stores and compiles a new version with the declared version. Returns the
    /// stored metadata.
    pub fn register(&self, req: RegisterRequest) -> Result<Arc<LoadedUdf>, UdfError> {
        self.register_as(req, VersionChoice::Declared)
    }

    /// Validates, stores and compiles a new version, its version picked by `choice`.
    pub fn register_as(&self, mut req: RegisterRequest, choice: VersionChoice) -> Result<Arc<LoadedUdf>, UdfError> {
        let started = Instant::now();
        let op = "register";
        let _write = self.write_lock.lock();
        if choice == VersionChoice::NextPatch {
            let next = match self.udfs.read().get(&req.metadata.name).and_then(|v| v.keys().next_back()) {
                Some(v) => semver::Version::new(v.major, v.minor, v.patch + 1),
                None => semver::Version::new(1, 0, 0),
            };
            req.metadata.version = next.to_string();
        }
        let version = req
            .metadata
            .validate()
            .map_err(|m| self.reject(&req, op, UdfErrorKind::InvalidMetadata, m, started))?;
        let limits = self
            .limits_for(&req.metadata)
            .map_err(|m| self.reject(&req, op, UdfErrorKind::InvalidMetadata, m, started))?;
        if self.resolve(&req.metadata.name, Some(&req.metadata.version)).is_ok() {
            let m = format!("UDF [{}] version [{}] already exists", req.metadata.name, req.metadata.version);
            return Err(self.reject(&req, op, UdfErrorKind::AlreadyExists, m, started));
        }
        let (udf, compiled) = self.prepare(&req, op, version.clone(), limits, started)?;
        self.store(&udf.metadata, &req.binary)
            .map_err(|e| self.reject(&req, op, UdfErrorKind::Internal, format!("cannot store the UDF: {e:#}"), started))?;
        // Cache the compiled artifact so a restart does not recompile.
        if let Some(compiled) = &compiled {
            self.engine.cache_artifact(&udf.metadata.sha256, compiled);
        }
        let udf = self.publish(udf, version, &req.actor, op, started);
        info!(udf = %udf.metadata.name, version = %udf.metadata.version, kind = ?udf.metadata.kind, "registered UDF");
        Ok(udf)
    }

    /// Everything a registration checks and builds short of storing it: the size limit, the
    /// signature, the binary and its permissions, the runtime and a trial instantiation. The
    /// compiled module or component comes back for the artifact cache (`None` for Python
    /// source on the shared runtime).
    fn prepare(
        &self,
        req: &RegisterRequest,
        op: &str,
        version: semver::Version,
        limits: UdfLimits,
        started: Instant,
    ) -> Result<(LoadedUdf, Option<Compiled>), UdfError> {
        if req.binary.len() > self.config.max_module_bytes {
            let m = format!(
                "the binary is {} bytes, above the limit [max_module_bytes] = {} bytes",
                req.binary.len(),
                self.config.max_module_bytes
            );
            return Err(self.reject(req, op, UdfErrorKind::TooLarge, m, started));
        }
        if let Some(source) = python_source(&req.metadata, &req.binary) {
            let signed_by = self.check_signature(req, &sha256_bytes(&req.binary), started)?;
            return Ok((self.prepare_python_module(req, op, source, version, limits, signed_by, started)?, None));
        }
        let kind = detect_kind(&req.binary).ok_or_else(|| {
            self.reject(req, op, UdfErrorKind::InvalidBinary,
                "the binary is not a WebAssembly module or component (bad magic number or version)".into(), started)
        })?;
        let digest = sha256_bytes(&req.binary);
        let signed_by = self.check_signature(req, &digest, started)?;

        let compiled = self
            .engine
            .compile(kind, &req.binary)
            .map_err(|e| self.reject(req, op, UdfErrorKind::InvalidBinary, format!("invalid WebAssembly: {e:#}"), started))?;
        let offending = match &compiled {
            Compiled::Core(m) => check_core_imports(m.imports().map(|i| (i.module(), i.name())), &req.metadata.permissions),
            Compiled::Component(c) => {
                let ty = c.component_type();
                let names: Vec<String> = ty.imports(&self.engine.engine).map(|(n, _)| n.to_string()).collect();
                check_component_imports(names.iter().map(String::as_str))
            }
        };
        if !offending.is_empty() {
            let m = format!(
                "the UDF imports functions its permissions {:?} do not cover: {}",
                req.metadata.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
                offending.join(", ")
            );
            return Err(self.reject(req, "permission_denied", UdfErrorKind::PermissionDenied, m, started));
        }

        let mut metadata = req.metadata.clone();
        metadata.sha256 = hex::encode(digest);
        metadata.size_bytes = req.binary.len() as u64;
        metadata.kind = kind;
        metadata.signed = signed_by.is_some();
        metadata.signed_by = signed_by;
        metadata.created_at = now_rfc3339();
        metadata.exports = match &compiled {
            Compiled::Core(m) => core_exports(m, metadata.function_name.as_deref())
                .map_err(|msg| self.reject(req, op, UdfErrorKind::InvalidBinary, msg, started))?,
            Compiled::Component(_) => Vec::new(), // filled by the trial instantiation below
        };
        let runtime = self
            .runtime_for(&metadata, &compiled)
            .map_err(|e| self.reject(req, op, e.kind, e.message, started))?;
        let mut udf = self.make_loaded(metadata, version, limits, runtime, false);

        // Trial instantiation: catches start functions that loop or trap, initial memory
        // above the limit, and asks components what they implement.
        let exports = self.trial(&udf).map_err(|e| {
            self.reject(req, op, UdfErrorKind::InvalidBinary, format!("the UDF fails to instantiate: {}", e.message), started)
        })?;
        if let Some(exports) = exports {
            udf.metadata.exports = exports;
        }
        Ok((udf, Some(compiled)))
    }

    /// A Python UDF given as source: run on the shared Python runtime; the trial load runs the
    /// module's top-level code in a fresh runtime instance.
    #[allow(clippy::too_many_arguments)]
    fn prepare_python_module(
        &self,
        req: &RegisterRequest,
        op: &str,
        source: &str,
        version: semver::Version,
        limits: UdfLimits,
        signed_by: Option<String>,
        started: Instant,
    ) -> Result<LoadedUdf, UdfError> {
        let mut metadata = req.metadata.clone();
        metadata.sha256 = hex::encode(sha256_bytes(&req.binary));
        metadata.size_bytes = req.binary.len() as u64;
        metadata.kind = BinaryKind::Component;
        metadata.signed = signed_by.is_some();
        metadata.signed_by = signed_by;
        metadata.created_at = now_rfc3339();
        let runtime = Runtime::PythonModule { source: source.into(), runtime: self.python.clone() };
        let mut udf = self.make_loaded(metadata, version, limits, runtime, false);
        let exports = self.trial(&udf).map_err(|e| {
            self.reject(req, op, UdfErrorKind::InvalidBinary, format!("the UDF fails to instantiate: {}", e.message), started)
        })?;
        let exports = exports.unwrap_or_default();
        if !exports.iter().any(|e| e == "filter" || e == "score") {
            let m = "the module defines neither `filter` nor `score`".to_string();
            return Err(self.reject(req, op, UdfErrorKind::InvalidBinary, m, started));
        }
        udf.metadata.exports = exports;
        Ok(udf)
    }

    /// Makes a stored, trial-loaded version visible to lookups and audits its registration.
    fn publish(&self, udf: LoadedUdf, version: semver::Version, actor: &str, op: &str, started: Instant) -> Arc<LoadedUdf> {
        let udf = Arc::new(udf);
        self.udfs.write().entry(udf.metadata.name.clone()).or_default().insert(version, udf.clone());
        self.audit.record(AuditEntry {
            time: now_rfc3339(),
            actor: actor.to_string(),
            operation: op.into(),
            udf: udf.metadata.name.clone(),
            version: Some(udf.metadata.version.clone()),
            outcome: "success".into(),
            error: None,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            request: None,
        });
        udf
    }

    fn check_signature(&self, req: &RegisterRequest, digest: &[u8; 32], started: Instant) -> Result<Option<String>, UdfError> {
        let signature = req.signature.as_deref().map(str::trim).filter(|s| !s.is_empty());
        self.verify_signature(&req.metadata, &req.actor, digest, signature, started)
    }

    /// The trusted key that signed `digest`, `None` for an accepted unsigned upload.
    fn verify_signature(&self, metadata: &UdfMetadata, actor: &str, digest: &[u8; 32], signature: Option<&str>, started: Instant) -> Result<Option<String>, UdfError> {
        let problem = match signature {
            None if self.config.require_signed => "the server requires signed UDFs and the upload has no signature".to_string(),
            None => return Ok(None),
            Some(sig) => match self.trusted.verify(digest, sig) {
                Ok(key) => return Ok(Some(key)),
                Err(SignatureProblem::Malformed(m)) => format!("invalid signature: {m}"),
                Err(SignatureProblem::Untrusted) if self.trusted.is_empty() => {
                    "the upload is signed but the server trusts no keys (udf.trusted_keys is empty)".to_string()
                }
                Err(SignatureProblem::Untrusted) => {
                    "the signature does not verify with any trusted key (signed with an untrusted key, or over a different binary)".to_string()
                }
            },
        };
        Err(self.reject_upload(metadata, actor, "signature_rejected", UdfErrorKind::SignatureRejected, problem, started))
    }

    fn runtime_for(&self, metadata: &UdfMetadata, compiled: &Compiled) -> Result<Runtime, UdfError> {
        let err = |m: String| UdfError::new(&metadata.name, Some(metadata.version.clone()), UdfErrorKind::InvalidBinary, m);
        match compiled {
            Compiled::Core(module) => {
                let pre = self.core_linker.instantiate_pre(module).map_err(|e| err(format!("cannot link the module: {e:#}")))?;
                let (filter, score) = core_roles(module, metadata.function_name.as_deref());
                let has = |n: &str| module.get_export(n).is_some();
                let batch = has("udf_buffer") && (has("filter_batch") || has("score_batch"));
                // Per-document exports without a batched twin run batched through the driver.
                let drive_filter = filter.is_some() && !(batch && has("filter_batch"));
                let drive_score = score.is_some() && !(batch && has("score_batch"));
                let driver = if drive_filter || drive_score {
                    let served = ServedPlan::for_module(module)
                        .map(|mut plan| {
                            plan.reads = Some(self.engine.reads_module()?);
                            anyhow::Ok(plan)
                        })
                        .transpose()
                        .map_err(|e| err(format!("{e:#}")))?;
                    let module =
                        self.engine.driver(drive_filter, drive_score, served.is_some()).map_err(|e| err(format!("{e:#}")))?;
                    Some(DriverModule { module, filter: drive_filter, score: drive_score, served })
                } else {
                    None
                };
                Ok(Runtime::Core(CoreUdf {
                    pre,
                    linker: self.core_linker.clone(),
                    filter,
                    score,
                    batch,
                    initialize: has("_initialize"),
                    driver,
                }))
            }
            Compiled::Component(component) => {
                let pre = self
                    .component_linker
                    .instantiate_pre(component)
                    .map_err(|e| err(format!("cannot link the component: {e:#}")))?;
                let pre = UdfPre::new(pre)
                    .map_err(|e| err(format!("the component does not implement the world quidditch:udf/udf@1.0.0: {e:#}")))?;
                Ok(Runtime::Component(pre))
            }
        }
    }

    /// Instantiates once; for components returns the exports from `capabilities()`.
    fn trial(&self, udf: &LoadedUdf) -> Result<Option<Vec<String>>, UdfError> {
        let params = BoundParams::bind(&udf.metadata.parameters, &Default::default()).unwrap_or_default();
        udf.trial(Arc::new(params))
    }

    fn store(&self, metadata: &UdfMetadata, binary: &[u8]) -> anyhow::Result<()> {
        let name_dir = self.registry_dir.join(&metadata.name);
        std::fs::create_dir_all(&name_dir)?;
        let tmp = name_dir.join(format!(".tmp-{}", metadata.version));
        let _ = std::fs::remove_dir_all(&tmp);
        std::fs::create_dir_all(&tmp)?;
        std::fs::write(tmp.join("udf.wasm"), binary)?;
        std::fs::write(tmp.join("metadata.json"), serde_json::to_vec_pretty(metadata)?)?;
        for f in ["udf.wasm", "metadata.json"] {
            std::fs::File::open(tmp.join(f))?.sync_all()?;
        }
        std::fs::rename(&tmp, name_dir.join(&metadata.version))?;
        if let Ok(d) = std::fs::File::open(&name_dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }

    /// Deletes one version. Running instances finish; new lookups no longer find it.
    pub fn delete(&self, name: &str, version: &str, actor: &str) -> Result<Arc<LoadedUdf>, UdfError> {
        let started = Instant::now();
        let _write = self.write_lock.lock();
        let udf = self.resolve(name, Some(version))?;
        let dir = self.registry_dir.join(name).join(&udf.metadata.version);
        let trash = self.registry_dir.join(name).join(format!(".deleted-{}", udf.metadata.version));
        let removed = std::fs::rename(&dir, &trash).and_then(|_| std::fs::remove_dir_all(&trash));
        if let Err(e) = removed {
            let e = UdfError::new(name, Some(version.to_string()), UdfErrorKind::Internal, format!("cannot delete: {e}"));
            return Err(e);
        }
        {
            let mut udfs = self.udfs.write();
            if let Some(versions) = udfs.get_mut(name) {
                versions.remove(&udf.version);
                if versions.is_empty() {
                    udfs.remove(name);
                    let _ = std::fs::remove_dir(self.registry_dir.join(name));
                }
            }
            let still_used = udfs.values().flat_map(|v| v.values()).any(|u| u.metadata.sha256 == udf.metadata.sha256);
            if !still_used {
                self.engine.evict(&udf.metadata.sha256);
            }
            // A deleted version is never the default again; the last one takes the pin along.
            let mut pins = self.pins.write();
            let unpinned = if udfs.contains_key(name) {
                pins.forget_version(name, &udf.metadata.version)
            } else {
                pins.remove(name).map(|_| false)
            };
            match unpinned {
                Ok(true) => info!(udf = name, version = %udf.metadata.version, "the deleted version was the pinned default; unpinned"),
                Ok(false) => {}
                Err(e) => warn!(udf = name, "cannot update the default-version pins: {e}"),
            }
        }
        self.audit.record(AuditEntry {
            time: now_rfc3339(),
            actor: actor.to_string(),
            operation: "delete".into(),
            udf: name.to_string(),
            version: Some(udf.metadata.version.clone()),
            outcome: "success".into(),
            error: None,
            duration_ms: started.elapsed().as_secs_f64() * 1000.0,
            request: None,
        });
        Ok(udf)
    }

    /// Audit entries, newest first.
    pub fn audit(&self, q: &AuditQuery) -> Vec<AuditEntry> {
        self.audit.query(q)
    }

    /// Records an audit entry (the HTTP layer records test calls and auth failures).
    pub fn record_audit(&self, entry: AuditEntry) {
        self.audit.record(entry)
    }

    /// `GET /api/v1/udfs/{name}/stats`.
    pub fn stats_json(&self, name: &str) -> Result<Value, UdfError> {
        let versions = self.versions(name)?;
        let mut per = serde_json::Map::new();
        for v in versions {
            per.insert(v.metadata.version.clone(), v.stats.to_json(v.live_instances()));
        }
        Ok(json!({
            "name": name,
            "stats_reset": "stats are kept in memory and start from zero when the server starts",
            "versions": per,
        }))
    }

    /// Runtime-wide counters (compilations vs. cache hits shows whether restarts recompile).
    pub fn runtime_json(&self) -> Value {
        let c = &self.engine.counters;
        json!({
            "compilations": c.compilations.load(Ordering::Relaxed),
            "cache_hits": c.cache_hits.load(Ordering::Relaxed),
            "driver_blocks": c.driver_blocks.load(Ordering::Relaxed),
            "driver_served_fields": c.driver_served_fields.load(Ordering::Relaxed),
            "udfs": self.udfs.read().len(),
            "versions": self.udfs.read().values().map(|v| v.len()).sum::<usize>(),
            "python_runtime": self.python.stats_json(),
            "inline_scripts": self.inline_json(),
        })
    }

    /// The inline-script cache: entries kept, compilations (cache misses), cache hits.
    fn inline_json(&self) -> Value {
        let cache = self.inline.lock();
        json!({"cached": cache.len(), "compilations": cache.compilations, "hits": cache.hits})
    }

    /// Prometheus text exposition of every version's stats and the runtime counters.
    pub fn prometheus(&self) -> String {
        let mut out = String::new();
        let c = &self.engine.counters;
        out.push_str("# TYPE quidditch_udf_compilations_total counter\n");
        out.push_str(&format!("quidditch_udf_compilations_total {}\n", c.compilations.load(Ordering::Relaxed)));
        out.push_str("# TYPE quidditch_udf_cache_hits_total counter\n");
        out.push_str(&format!("quidditch_udf_cache_hits_total {}\n", c.cache_hits.load(Ordering::Relaxed)));
        out.push_str("# TYPE quidditch_udf_calls_total counter\n# TYPE quidditch_udf_errors_total counter\n");
        out.push_str("# TYPE quidditch_udf_timeouts_total counter\n# TYPE quidditch_udf_memory_limit_hits_total counter\n");
        out.push_str("# TYPE quidditch_udf_instance_limit_hits_total counter\n# TYPE quidditch_udf_instantiations_total counter\n");
        out.push_str("# TYPE quidditch_udf_live_instances gauge\n# TYPE quidditch_udf_call_seconds summary\n");
        for versions in self.udfs.read().values() {
            for v in versions.values() {
                v.stats.prometheus(&mut out, &v.metadata.name, &v.metadata.version, v.live_instances());
            }
        }
        out
    }
}

/// The source of a Python UDF stored as source (not a compiled component), if it is one.
fn python_source<'a>(metadata: &UdfMetadata, binary: &'a [u8]) -> Option<&'a str> {
    if metadata.language != Language::Python || detect_kind(binary).is_some() {
        return None;
    }
    std::str::from_utf8(binary).ok()
}

/// Which core exports play `filter` and `score`: `function_name` if given (its signature
/// decides the role), else the exports named `filter`/`score` with the ABI's signatures.
fn core_roles(module: &wasmtime::Module, function_name: Option<&str>) -> (Option<String>, Option<String>) {
    let sig = |name: &str| -> Option<&'static str> {
        let ExternType::Func(f) = module.get_export(name)? else { return None };
        let params: Vec<ValType> = f.params().collect();
        let results: Vec<ValType> = f.results().collect();
        match (params.as_slice(), results.as_slice()) {
            ([ValType::I64], [ValType::I32]) => Some("filter"),
            ([ValType::I64], [ValType::F64]) => Some("score"),
            _ => None,
        }
    };
    let mut filter = (sig("filter") == Some("filter")).then(|| "filter".to_string());
    let mut score = (sig("score") == Some("score")).then(|| "score".to_string());
    if let Some(f) = function_name {
        match sig(f) {
            Some("filter") => filter = Some(f.to_string()),
            Some("score") => score = Some(f.to_string()),
            _ => {}
        }
    }
    (filter, score)
}

/// Checks a core module's exports against ABI v1; returns the list of implemented functions.
fn core_exports(module: &wasmtime::Module, function_name: Option<&str>) -> Result<Vec<String>, String> {
    if !matches!(module.get_export("memory"), Some(ExternType::Memory(_))) {
        return Err("the module must export its linear memory as `memory`".into());
    }
    if let Some(f) = function_name {
        let (fl, sc) = core_roles(module, Some(f));
        if fl.as_deref() != Some(f) && sc.as_deref() != Some(f) {
            return Err(format!(
                "[function_name] [{f}] is not an exported function of type (i64) -> i32 (filter) or (i64) -> f64 (score)"
            ));
        }
    }
    for (name, want) in [("filter", "(i64) -> i32"), ("score", "(i64) -> f64")] {
        if module.get_export(name).is_some() {
            let (fl, sc) = core_roles(module, None);
            let ok = if name == "filter" { fl.is_some() } else { sc.is_some() };
            if !ok {
                return Err(format!("export `{name}` must have type {want}"));
            }
        }
    }
    let (filter, score) = core_roles(module, function_name);
    let mut exports = Vec::new();
    if filter.is_some() {
        exports.push("filter".to_string());
    }
    if score.is_some() {
        exports.push("score".to_string());
    }
    let batch_sig = |name: &str| {
        matches!(module.get_export(name), Some(ExternType::Func(f))
            if f.params().collect::<Vec<_>>().len() == 3 && f.params().all(|p| matches!(p, ValType::I32))
            && matches!(f.results().collect::<Vec<_>>().as_slice(), [ValType::I32]))
    };
    let has_buffer = matches!(module.get_export("udf_buffer"), Some(ExternType::Func(f))
        if matches!(f.params().collect::<Vec<_>>().as_slice(), [ValType::I32])
        && matches!(f.results().collect::<Vec<_>>().as_slice(), [ValType::I32]));
    for b in ["filter_batch", "score_batch"] {
        if module.get_export(b).is_some() {
            if !batch_sig(b) {
                return Err(format!("export `{b}` must have type (i32, i32, i32) -> i32"));
            }
            if !has_buffer {
                return Err(format!("export `{b}` needs an export `udf_buffer` of type (i32) -> i32"));
            }
            exports.push(b.to_string());
        }
    }
    if exports.is_empty() {
        return Err("the module exports neither `filter` (i64) -> i32 nor `score` (i64) -> f64".into());
    }
    Ok(exports)
}

impl BinaryKind {
    pub fn as_str(self) -> &'static str {
        match self {
            BinaryKind::Core => "core",
            BinaryKind::Component => "component",
        }
    }
}
