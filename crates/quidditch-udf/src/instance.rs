//! A compiled UDF version ([`LoadedUdf`]) and a per-evaluation-context instance of it
//! ([`UdfInstance`]): own `Store`, own memory, limits armed per call.

use std::sync::Arc;
use std::time::Instant;

use serde_json::{Map, Value};
use wasmtime::{Extern, ExternType, Global, Instance, InstancePre, Linker, Memory, Module, Ref, Store, Table, Trap, TypedFunc, Val};

use crate::audit::{AuditEntry, AuditLog, now_rfc3339};
use crate::component::python_world::PythonRuntime;
use crate::component::{ComponentHost, UdfPre};
use crate::config::UdfLimits;
use crate::driver::{SERVED, ServedReads};
use crate::document::DocumentAccess;
use crate::engine::WasmEngine;
use crate::error::{UdfError, UdfErrorKind};
use crate::host::{BlockWatch, GuestException, HostCtx, HostTrap, LogEntry};
use crate::limits::{InstanceGate, MemoryLimitExceeded, MemoryLimiter};
use crate::metadata::{Permission, UdfMetadata};
use crate::params::BoundParams;
use crate::python_runtime::{ModuleLoadError, SharedPythonRuntime};
use crate::stats::{LocalStats, VersionStats};

/// Per-document calls are timed 1 in this many (batches always): two clock reads would
/// otherwise cost as much as the call itself.
const TIMING_SAMPLE: u32 = 32;

/// Table elements an instance may grow to (componentize-py needs ~200k).
pub(crate) const MAX_TABLE_ELEMENTS: usize = 1 << 20;

/// The compiled form of one version, ready to instantiate.
pub(crate) enum Runtime {
    Core(CoreUdf),
    Component(UdfPre<ComponentHost>),
    /// A Python UDF stored as source: instances of the shared runtime load it at start.
    PythonModule { source: Arc<str>, runtime: Arc<SharedPythonRuntime> },
}

pub(crate) struct CoreUdf {
    pub pre: InstancePre<HostCtx>,
    /// The host functions, for linking a module whose field reads the driver serves.
    pub linker: Arc<Linker<HostCtx>>,
    pub filter: Option<String>,
    pub score: Option<String>,
    pub batch: bool,
    pub initialize: bool,
    /// The batch driver for the per-document exports that have no batched twin.
    pub driver: Option<DriverModule>,
}

/// A compiled batch driver and which per-document exports it imports.
pub(crate) struct DriverModule {
    pub module: wasmtime::Module,
    pub filter: bool,
    pub score: bool,
    /// How it serves the module's field reads; `None`: the host functions answer them.
    pub served: Option<ServedPlan>,
}

/// How the batch driver serves a module's field reads ([`crate::driver`]): which of the
/// module's imports the reads module provides, and which the linker.
pub(crate) struct ServedPlan {
    /// The module's imports in order: (module, name, `Some(k)` for [`SERVED`]`[k]`).
    imports: Vec<(String, String, Option<usize>)>,
    /// The served imports the module has (slots of the reads table).
    served: Vec<usize>,
    /// Whether `get_score` is among them.
    scores: bool,
    /// The compiled reads module ([`crate::driver::READS_WAT`]).
    pub reads: Option<Module>,
}

impl ServedPlan {
    /// `None` when there is nothing to serve (no import of [`SERVED`]) or no memory the
    /// driver can import (the module must export a 32-bit, unshared `memory`).
    pub fn for_module(module: &Module) -> Option<ServedPlan> {
        let plain_memory = matches!(module.get_export("memory"), Some(ExternType::Memory(m)) if !m.is_64() && !m.is_shared());
        if !plain_memory {
            return None;
        }
        let mut imports = Vec::new();
        let mut served = Vec::new();
        for import in module.imports() {
            let k = if import.module() == "env" { SERVED.iter().position(|n| *n == import.name()) } else { None };
            if let Some(k) = k
                && !served.contains(&k)
            {
                served.push(k);
            }
            imports.push((import.module().to_string(), import.name().to_string(), k));
        }
        if served.is_empty() {
            return None;
        }
        let scores = served.iter().any(|&k| SERVED[k] == "get_score");
        Some(ServedPlan { imports, served, scores, reads: None })
    }
}

/// One registered, compiled UDF version. Cheap to share (`Arc`); instances are created
/// from it per evaluation context.
pub struct LoadedUdf {
    pub metadata: UdfMetadata,
    pub version: semver::Version,
    pub limits: UdfLimits,
    /// Whether the compiled artifact came from the disk cache (no recompilation).
    pub loaded_from_cache: bool,
    pub(crate) runtime: Runtime,
    pub(crate) engine: Arc<WasmEngine>,
    pub(crate) gate: InstanceGate,
    pub(crate) stats: Arc<VersionStats>,
    pub(crate) audit: Arc<AuditLog>,
}

impl std::fmt::Debug for LoadedUdf {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "LoadedUdf({}@{})", self.metadata.name, self.metadata.version)
    }
}

impl LoadedUdf {
    pub fn name(&self) -> &str {
        &self.metadata.name
    }

    pub fn version_str(&self) -> &str {
        &self.metadata.version
    }

    /// Implements `filter` (per document or batched).
    pub fn has_filter(&self) -> bool {
        self.metadata.exports.iter().any(|e| e == "filter" || e == "filter_batch")
    }

    /// Implements `score` (per document or batched).
    pub fn has_score(&self) -> bool {
        self.metadata.exports.iter().any(|e| e == "score" || e == "score_batch")
    }

    pub fn error(&self, kind: UdfErrorKind, message: impl Into<String>) -> UdfError {
        UdfError::new(&self.metadata.name, Some(self.metadata.version.clone()), kind, message)
    }

    /// The error of a query whose UDF time ran past `query_timeout_ms`.
    pub fn query_budget_exceeded(&self) -> UdfError {
        self.error(
            UdfErrorKind::Timeout,
            format!("timeout: the query's UDF time exceeded limit [query_timeout_ms] = {} ms", self.limits.query_timeout_ms),
        )
    }

    /// Validates call parameters against the declaration: defaults applied, types checked;
    /// the error (`BadParams`, 400) names the parameter.
    pub fn bind_params(&self, given: &Map<String, Value>) -> Result<Arc<BoundParams>, UdfError> {
        BoundParams::bind(&self.metadata.parameters, given)
            .map(Arc::new)
            .map_err(|m| self.error(UdfErrorKind::BadParams, m))
    }

    /// Live instances right now.
    pub fn live_instances(&self) -> u32 {
        self.gate.live()
    }

    /// A fresh instance for one evaluation context (one query on one segment set).
    ///
    /// Waits for a free slot while `max_instances` are live, up to `deadline` (capped by
    /// the UDF's `instance_wait_ms`), then fails with `InstanceLimit` (429). The query
    /// wall-time limit starts now.
    pub fn instantiate(self: &Arc<Self>, params: Arc<BoundParams>, deadline: Instant) -> Result<UdfInstance, UdfError> {
        let wait_cap = Instant::now() + std::time::Duration::from_millis(self.limits.instance_wait_ms);
        if !self.gate.acquire(self.limits.max_instances, deadline.min(wait_cap)) {
            let e = self.error(
                UdfErrorKind::InstanceLimit,
                format!(
                    "too many instances: limit [max_instances] = {} reached and none was freed within the wait time",
                    self.limits.max_instances
                ),
            );
            self.stats.error(&e);
            self.audit_failure("query", &e);
            return Err(e);
        }
        // From here the slot is released by UdfInstance::drop, or below on failure.
        match self.create_instance(params) {
            Ok(inner) => {
                let engine = &self.engine;
                Ok(UdfInstance {
                    call_ticks: engine.ticks_for_ms(self.limits.call_timeout_ms),
                    query_deadline_tick: engine.now_tick() + engine.ticks_for_ms(self.limits.query_timeout_ms),
                    udf: self.clone(),
                    inner,
                    local: LocalStats::default(),
                    failed: None,
                    sample: 0,
                    search_deadline: false,
                    failed_at: None,
                })
            }
            Err(e) => {
                self.gate.release();
                self.stats.error(&e);
                self.audit_failure("query", &e);
                Err(e)
            }
        }
    }

    /// Instantiates once outside the instance gate (upload validation); for a component,
    /// returns what `capabilities()` reports, as export names.
    pub(crate) fn trial(&self, params: Arc<BoundParams>) -> Result<Option<Vec<String>>, UdfError> {
        match self.create_instance(params)? {
            Inner::Core(_) => Ok(None),
            Inner::Python(p) => Ok(Some(p.exports)),
            Inner::Component(mut c) => {
                c.store.set_epoch_deadline(self.engine.ticks_for_ms(self.limits.call_timeout_ms));
                let caps = c
                    .udf
                    .call_capabilities(&mut c.store)
                    .map_err(|e| self.classify(e, &c.store.data().ctx.limiter, false))?;
                let exports = exports_of(caps);
                if !exports.iter().any(|e| e == "filter" || e == "score") {
                    return Err(self.error(
                        UdfErrorKind::InvalidBinary,
                        "the component's capabilities() lists neither \"filter\" nor \"score\"",
                    ));
                }
                Ok(Some(exports))
            }
        }
    }

    fn host_ctx(&self, params: Arc<BoundParams>) -> HostCtx {
        HostCtx::new(
            params,
            MemoryLimiter::new(self.limits.memory_bytes as usize, MAX_TABLE_ELEMENTS),
            self.limits.log_bytes,
            self.metadata.has_permission(Permission::ReadDocument),
            self.metadata.has_permission(Permission::WriteLog),
        )
    }

    fn create_instance(&self, params: Arc<BoundParams>) -> Result<Inner, UdfError> {
        self.stats.instantiated();
        let call_ticks = self.engine.ticks_for_ms(self.limits.call_timeout_ms);
        match &self.runtime {
            Runtime::Core(core) => {
                let mut store = Store::new(&self.engine.engine, self.host_ctx(params));
                store.limiter(|h| &mut h.limiter);
                // The start function and `_initialize` run under the per-call time limit.
                store.set_epoch_deadline(call_ticks);
                let driven = core.driver.as_ref().filter(|_| self.engine.batch_driver.load(std::sync::atomic::Ordering::Relaxed));
                let (instance, reads) = match driven.and_then(|d| d.served.as_ref()) {
                    Some(plan) => {
                        let (instance, reads) = self.link_served(&mut store, core, plan)?;
                        (instance, Some(reads))
                    }
                    None => (core.pre.instantiate(&mut store).map_err(|e| self.classify(e, &store.data().limiter, false))?, None),
                };
                let memory: Option<Memory> = instance.get_memory(&mut store, "memory");
                store.data_mut().memory = memory;
                let typed = |store: &mut Store<HostCtx>, name: &Option<String>| {
                    name.as_ref().and_then(|n| instance.get_typed_func::<i64, i32>(&mut *store, n).ok())
                };
                let filter = typed(&mut store, &core.filter);
                let score = core.score.as_ref().and_then(|n| instance.get_typed_func::<i64, f64>(&mut store, n).ok());
                let (filter_batch, score_batch, udf_buffer) = if core.batch {
                    (
                        instance.get_typed_func::<(i32, i32, i32), i32>(&mut store, "filter_batch").ok(),
                        instance.get_typed_func::<(i32, i32, i32), i32>(&mut store, "score_batch").ok(),
                        instance.get_typed_func::<i32, i32>(&mut store, "udf_buffer").ok(),
                    )
                } else {
                    (None, None, None)
                };
                if core.initialize
                    && let Ok(init) = instance.get_typed_func::<(), ()>(&mut store, "_initialize")
                {
                    init.call(&mut store, ()).map_err(|e| self.classify(e, &store.data().limiter, false))?;
                }
                let driver = match driven {
                    Some(d) => Some(self.instantiate_driver(&mut store, &instance, core, d, reads)?),
                    None => None,
                };
                Ok(Inner::Core(CoreInstance { store, filter, score, filter_batch, score_batch, udf_buffer, buffer: None, driver }))
            }
            Runtime::Component(pre) => {
                let host = ComponentHost::new(
                    self.host_ctx(params),
                    self.metadata.has_permission(Permission::Clocks),
                    self.metadata.has_permission(Permission::Random),
                    self.limits.log_bytes,
                );
                let mut store = Store::new(&self.engine.engine, host);
                store.limiter(|h| &mut h.ctx.limiter);
                store.set_epoch_deadline(call_ticks);
                let udf = pre.instantiate(&mut store).map_err(|e| self.classify(e, &store.data().ctx.limiter, false))?;
                Ok(Inner::Component(ComponentInstance { store, udf }))
            }
            Runtime::PythonModule { source, runtime } => {
                let loaded = runtime.load().map_err(|e| self.error(UdfErrorKind::Internal, e.to_string()))?;
                let code = runtime.prepared(source, &self.limits).map_err(|e| self.error(UdfErrorKind::Trap, e.to_string()))?;
                let host = ComponentHost::new(
                    self.host_ctx(params),
                    self.metadata.has_permission(Permission::Clocks),
                    self.metadata.has_permission(Permission::Random),
                    self.limits.log_bytes,
                );
                let mut store = Store::new(&self.engine.engine, host);
                store.limiter(|h| &mut h.ctx.limiter);
                // Instantiation and the module's top-level code run under the per-call limit.
                store.set_epoch_deadline(call_ticks);
                let udf = loaded.pre.instantiate(&mut store).map_err(|e| self.classify(e, &store.data().ctx.limiter, false))?;
                let caps = crate::python_runtime::load_prepared(&udf, &mut store, &code, source)
                    .map_err(|e| self.classify(e, &store.data().ctx.limiter, false))?
                    .map_err(|e| self.error(UdfErrorKind::Trap, ModuleLoadError::from(e).to_string()))?;
                // Output of the module's top-level code is not part of any call's log.
                store.data_mut().drain_stdio();
                store.data_mut().ctx.log.take();
                Ok(Inner::Python(PythonInstance { store, udf, exports: exports_of(caps) }))
            }
        }
    }

    /// Instantiates a module whose field reads the driver will serve: the reads module
    /// first (its table pointing at the host functions until the driver exists), then the
    /// module with the reads module's functions for its [`SERVED`] imports.
    fn link_served(&self, store: &mut Store<HostCtx>, core: &CoreUdf, plan: &ServedPlan) -> Result<(Instance, Table), UdfError> {
        let internal = |what: String| self.error(UdfErrorKind::Internal, what);
        let failed = |e: wasmtime::Error, store: &Store<HostCtx>| self.classify(e, &store.data().limiter, false);
        let reads_module = plan.reads.as_ref().ok_or_else(|| internal("the reads module is not compiled".into()))?;
        let reads = Instance::new(&mut *store, reads_module, &[]).map_err(|e| failed(e, store))?;
        let table = reads.get_table(&mut *store, "reads").ok_or_else(|| internal("the reads module lacks its table".into()))?;
        for &k in &plan.served {
            let host = core.linker.get(&mut *store, "env", SERVED[k]).map_err(|e| failed(e, store))?;
            let func = host.into_func().ok_or_else(|| internal(format!("`env.{}` is not a function", SERVED[k])))?;
            table.set(&mut *store, k as u64, Ref::Func(Some(func))).map_err(|e| failed(e, store))?;
        }
        let mut imports: Vec<Extern> = Vec::with_capacity(plan.imports.len());
        for (module, name, served) in &plan.imports {
            let import = match served {
                Some(_) => reads.get_export(&mut *store, name).ok_or_else(|| internal(format!("the reads module lacks `{name}`")))?,
                None => core.linker.get(&mut *store, module, name).map_err(|e| failed(e, store))?,
            };
            imports.push(import);
        }
        let instance = Instance::new(&mut *store, core.pre.module(), &imports).map_err(|e| failed(e, store))?;
        Ok((instance, table))
    }

    /// The batch driver in the UDF's store, importing its per-document exports (and, when
    /// it serves field reads, the UDF's memory and the host functions it falls back on; the
    /// reads table is then pointed at the driver's implementations).
    fn instantiate_driver(
        &self,
        store: &mut Store<HostCtx>,
        udf: &Instance,
        core: &CoreUdf,
        d: &DriverModule,
        reads: Option<Table>,
    ) -> Result<Driver, UdfError> {
        let missing = |what: &str| self.error(UdfErrorKind::InvalidBinary, format!("the batch driver cannot import `{what}`"));
        let mut imports: Vec<Extern> = Vec::with_capacity(10);
        for import in d.module.imports() {
            let export = match (import.module(), import.name()) {
                ("udf", "filter") => core.filter.as_deref(),
                ("udf", "score") => core.score.as_deref(),
                ("udf", other) => Some(other),
                (module, name) => {
                    let host = core.linker.get(&mut *store, module, name).map_err(|_| missing(name))?;
                    imports.push(host);
                    continue;
                }
            };
            let export = export.ok_or_else(|| missing(import.name()))?;
            imports.push(udf.get_export(&mut *store, export).ok_or_else(|| missing(export))?);
        }
        store.data_mut().limiter.reserve_for_host(crate::driver::MEMORY_BYTES);
        store.epoch_deadline_callback(crate::host::BlockWatch::on_deadline);
        let instance = Instance::new(&mut *store, &d.module, &imports).map_err(|e| self.classify(e, &store.data().limiter, false))?;
        let internal = |what: &str| self.error(UdfErrorKind::Internal, format!("the batch driver lacks `{what}`"));
        let memory = instance.get_memory(&mut *store, "memory").ok_or_else(|| internal("memory"))?;
        if let (Some(table), Some(plan)) = (reads, &d.served) {
            for &k in &plan.served {
                let func = instance.get_func(&mut *store, SERVED[k]).ok_or_else(|| internal(SERVED[k]))?;
                table.set(&mut *store, k as u64, Ref::Func(Some(func))).map_err(|e| self.classify(e, &store.data().limiter, false))?;
            }
            store.data_mut().served = Some(ServedReads::new(memory, plan.scores, self.engine.clone()));
        }
        let pos = instance.get_global(&mut *store, "pos").ok_or_else(|| internal("pos"))?;
        let block = |store: &mut Store<HostCtx>, wanted: bool, name: &str| -> Result<Option<TypedFunc<(i32, i32), i32>>, UdfError> {
            if !wanted {
                return Ok(None);
            }
            instance.get_typed_func::<(i32, i32), i32>(&mut *store, name).map(Some).map_err(|_| internal(name))
        };
        let filter_block = block(store, d.filter, "filter_block")?;
        let score_block = block(store, d.score, "score_block")?;
        Ok(Driver { memory, pos, filter_block, score_block })
    }

    /// Turns a wasmtime error into a `UdfError` naming the limit that was hit.
    fn classify(&self, e: wasmtime::Error, limiter: &MemoryLimiter, query_expired: bool) -> UdfError {
        if let Some(m) = e.downcast_ref::<MemoryLimitExceeded>() {
            return self.error(UdfErrorKind::MemoryLimit, format!("{m} (limit [memory_bytes])"));
        }
        if let Some(p) = e.downcast_ref::<wasmtime::PoolConcurrencyLimitError>() {
            return self.error(
                UdfErrorKind::InstanceLimit,
                format!("too many instances: the server-wide instance pool is exhausted ({p}; config [udf.pool_instances])"),
            );
        }
        if let Some(g) = e.downcast_ref::<GuestException>() {
            return self.error(UdfErrorKind::Trap, format!("trap: {g}"));
        }
        if let Some(h) = e.downcast_ref::<HostTrap>() {
            return self.error(UdfErrorKind::Trap, format!("trap: {h}"));
        }
        match e.downcast_ref::<Trap>() {
            Some(Trap::Interrupt) if query_expired => self.query_budget_exceeded(),
            Some(Trap::Interrupt) => self.error(
                UdfErrorKind::Timeout,
                format!("timeout: a call exceeded limit [call_timeout_ms] = {} ms", self.limits.call_timeout_ms),
            ),
            Some(Trap::StackOverflow) => self.error(
                UdfErrorKind::StackOverflow,
                format!(
                    "stack overflow: the UDF exhausted the wasm stack (limit [max_wasm_stack_bytes] = {} bytes)",
                    self.engine.max_wasm_stack
                ),
            ),
            Some(t) if limiter.hit => self.error(
                UdfErrorKind::MemoryLimit,
                format!("memory limit of {} bytes exceeded (limit [memory_bytes]), then: {t}", self.limits.memory_bytes),
            ),
            Some(t) => self.error(UdfErrorKind::Trap, format!("trap: {t}")),
            None if limiter.hit => self.error(
                UdfErrorKind::MemoryLimit,
                format!("memory limit of {} bytes exceeded (limit [memory_bytes]): {e:#}", self.limits.memory_bytes),
            ),
            None => self.error(UdfErrorKind::Trap, format!("{e:#}")),
        }
    }

    pub(crate) fn audit_failure(&self, actor: &str, e: &UdfError) {
        self.audit.record(AuditEntry {
            time: now_rfc3339(),
            actor: actor.to_string(),
            operation: if e.kind.is_limit() { "limit_hit".into() } else { "call_failed".into() },
            udf: self.metadata.name.clone(),
            version: Some(self.metadata.version.clone()),
            outcome: "failure".into(),
            error: Some(e.to_string()),
            duration_ms: 0.0,
            request: None,
        });
    }
}

pub(crate) enum Inner {
    Core(CoreInstance),
    Component(ComponentInstance),
    Python(PythonInstance),
}

/// `capabilities()` as export names (`filter-batch` → `filter_batch`), known ones only.
fn exports_of(caps: Vec<String>) -> Vec<String> {
    let mut exports = Vec::new();
    for cap in caps {
        let cap = cap.replace('-', "_");
        match cap.as_str() {
            "filter" | "score" | "filter_batch" | "score_batch" if !exports.contains(&cap) => exports.push(cap),
            _ => {}
        }
    }
    exports
}

/// An instance of the shared Python runtime with one UDF's module loaded.
pub(crate) struct PythonInstance {
    store: Store<ComponentHost>,
    udf: PythonRuntime,
    /// What the module implements (from `load-module`).
    exports: Vec<String>,
}

pub(crate) struct CoreInstance {
    store: Store<HostCtx>,
    filter: Option<TypedFunc<i64, i32>>,
    score: Option<TypedFunc<i64, f64>>,
    filter_batch: Option<TypedFunc<(i32, i32, i32), i32>>,
    score_batch: Option<TypedFunc<(i32, i32, i32), i32>>,
    udf_buffer: Option<TypedFunc<i32, i32>>,
    /// (ptr, size) of the region `udf_buffer` returned.
    buffer: Option<(u32, u32)>,
    /// Runs per-document exports a block at a time ([`crate::driver`]).
    driver: Option<Driver>,
}

/// A batch driver instance in a UDF instance's store.
struct Driver {
    memory: Memory,
    /// The block position being evaluated (names the document of a trap).
    pos: Global,
    /// `(documents, position of the first in the call)`.
    filter_block: Option<TypedFunc<(i32, i32), i32>>,
    score_block: Option<TypedFunc<(i32, i32), i32>>,
}

pub(crate) struct ComponentInstance {
    store: Store<ComponentHost>,
    udf: crate::component::Udf,
}

/// One evaluation context's instance of a UDF: its own `Store` and memory, never shared
/// between queries. Not `Sync`; move it to the thread that evaluates.
///
/// The `ctx` the guest sees is `batch position << 32 | segment doc id`.
pub struct UdfInstance {
    udf: Arc<LoadedUdf>,
    inner: Inner,
    call_ticks: u64,
    query_deadline_tick: u64,
    local: LocalStats,
    failed: Option<UdfError>,
    sample: u32,
    /// Set when the caller's deadline (not `query_timeout_ms`) bounds the query's UDF time.
    search_deadline: bool,
    /// Where in the block a failed driver call was (position, segment doc id), for the error.
    failed_at: Option<(usize, u32)>,
}

impl std::fmt::Debug for UdfInstance {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UdfInstance({}@{})", self.udf.metadata.name, self.udf.metadata.version)
    }
}

impl UdfInstance {
    pub fn udf(&self) -> &Arc<LoadedUdf> {
        &self.udf
    }

    fn host(&mut self) -> &mut HostCtx {
        match &mut self.inner {
            Inner::Core(c) => c.store.data_mut(),
            Inner::Component(c) => &mut c.store.data_mut().ctx,
            Inner::Python(c) => &mut c.store.data_mut().ctx,
        }
    }

    /// Ends the query's UDF time at `deadline` too (the search request's own deadline), when
    /// that comes before `query_timeout_ms`. A call still running then is interrupted with a
    /// `Timeout` error that says the search deadline passed.
    pub fn limit_deadline(&mut self, deadline: Instant) {
        if self.lower_query_deadline(deadline) {
            self.search_deadline = true;
        }
    }

    /// Ends the query's UDF time at `budget_end` when that comes first: the `query_timeout_ms`
    /// budget of a clause that started before this instance existed (replacement instances
    /// must not renew it). Running out of it still reports `query_timeout_ms`, unlike
    /// [`UdfInstance::limit_deadline`].
    pub fn limit_query_budget(&mut self, budget_end: Instant) {
        self.lower_query_deadline(budget_end);
    }

    /// Moves the query deadline earlier to `deadline` (never later); whether it moved.
    fn lower_query_deadline(&mut self, deadline: Instant) -> bool {
        let engine = &self.udf.engine;
        let ms = deadline.saturating_duration_since(Instant::now()).as_millis() as u64;
        let tick = engine.now_tick() + engine.ticks_for_ms(ms);
        if tick < self.query_deadline_tick {
            self.query_deadline_tick = tick;
            return true;
        }
        false
    }

    /// Documents for the following calls (once per segment). Clears the field-slot cache.
    pub fn set_documents(&mut self, docs: Box<dyn DocumentAccess>) {
        self.host().set_documents(docs);
    }

    /// Whether blocks run with one call into wasm: core `filter_batch`/`score_batch` +
    /// `udf_buffer`, per-document exports through the batch driver, or a component declaring
    /// batched exports in `capabilities`. The batch methods work either way.
    pub fn has_batch(&self) -> bool {
        match &self.inner {
            Inner::Core(c) => {
                let native = c.udf_buffer.is_some() && (c.filter_batch.is_some() || c.score_batch.is_some());
                // Under the search request's own deadline, per-document UDFs keep one call per
                // document: the engine serves the documents decided before the deadline as
                // partial results, which a block interrupted mid-way would not give it.
                native || (c.driver.is_some() && !self.search_deadline)
            }
            Inner::Component(_) => self.udf.metadata.exports.iter().any(|e| e.ends_with("_batch")),
            Inner::Python(p) => p.exports.iter().any(|e| e.ends_with("_batch")),
        }
    }

    /// Logs captured since the last call to `take_logs`, and whether some were dropped.
    pub fn take_logs(&mut self) -> (Vec<LogEntry>, bool) {
        match &mut self.inner {
            Inner::Component(c) => c.store.data_mut().drain_stdio(),
            Inner::Python(c) => c.store.data_mut().drain_stdio(),
            Inner::Core(_) => {}
        }
        self.host().log.take()
    }

    /// Arms the time limits for one call; fails if the query's UDF time is used up.
    #[inline]
    fn begin_call(&mut self) -> Result<bool, UdfError> {
        if let Some(e) = &self.failed {
            return Err(e.clone());
        }
        let now = self.udf.engine.now_tick();
        if now >= self.query_deadline_tick {
            let e = self.query_timeout();
            return Err(self.fail(e));
        }
        let ticks = self.call_ticks.min(self.query_deadline_tick - now);
        match &mut self.inner {
            Inner::Core(c) => {
                c.store.set_epoch_deadline(ticks);
                c.store.data_mut().log.begin_call();
            }
            Inner::Component(c) => {
                c.store.set_epoch_deadline(ticks);
                c.store.data_mut().ctx.log.begin_call();
            }
            Inner::Python(c) => {
                c.store.set_epoch_deadline(ticks);
                c.store.data_mut().ctx.log.begin_call();
            }
        }
        self.sample = self.sample.wrapping_add(1);
        Ok(self.sample % TIMING_SAMPLE == 1)
    }

    /// Epoch callbacks until the query's deadline tick has surely passed: the ticker bumps
    /// its counter just before the engine's epoch, hence the `+ 1` (so a driver block is
    /// interrupted no earlier than a single call would be).
    fn query_ticks_left(&self) -> u64 {
        self.query_deadline_tick.saturating_sub(self.udf.engine.now_tick()) + 1
    }

    fn fail(&mut self, e: UdfError) -> UdfError {
        self.udf.stats.error(&e);
        self.udf.audit_failure("query", &e);
        self.failed = Some(e.clone());
        e
    }

    fn query_timeout(&self) -> UdfError {
        if self.search_deadline {
            self.udf.error(UdfErrorKind::Timeout, "timeout: the search request's deadline passed during a UDF call")
        } else {
            self.udf.query_budget_exceeded()
        }
    }

    fn call_error(&mut self, e: wasmtime::Error) -> UdfError {
        let expired = self.udf.engine.now_tick() >= self.query_deadline_tick;
        if expired && matches!(e.downcast_ref::<Trap>(), Some(Trap::Interrupt)) {
            let err = self.query_timeout();
            return self.fail(err);
        }
        let limiter_hit = match &self.inner {
            Inner::Core(c) => c.store.data().limiter.hit,
            Inner::Component(c) => c.store.data().ctx.limiter.hit,
            Inner::Python(c) => c.store.data().ctx.limiter.hit,
        };
        let mut probe = MemoryLimiter::new(0, 0);
        probe.hit = limiter_hit;
        let mut err = self.udf.classify(e, &probe, expired);
        if let Some((k, doc)) = self.failed_at.take() {
            err.message = format!("{} (in document {k} of the block, segment doc {doc})", err.message);
        }
        self.fail(err)
    }

    fn guest_error(&mut self, export: &str, message: String) -> UdfError {
        let e = self.udf.error(UdfErrorKind::Trap, format!("`{export}` returned an error: {message}"));
        self.fail(e)
    }

    #[inline]
    fn set_single(&mut self, doc: u32, score: f32) {
        let h = self.host();
        if h.batch_docs.len() == 1 && h.batch_scores.len() == 1 {
            h.batch_docs[0] = doc;
            h.batch_scores[0] = score;
        } else {
            h.batch_docs.clear();
            h.batch_docs.push(doc);
            h.batch_scores.clear();
            h.batch_scores.push(score);
        }
    }

    /// Keeps (`true`) or drops the document.
    #[inline]
    pub fn filter(&mut self, doc: u32, score: f32) -> Result<bool, UdfError> {
        let timed = self.begin_call()?;
        self.set_single(doc, score);
        let started = timed.then(Instant::now);
        let result = match &mut self.inner {
            Inner::Core(c) => match &c.filter {
                Some(f) => f.call(&mut c.store, doc as i64).map(|v| Ok(v != 0)),
                None if c.filter_batch.is_some() => {
                    return self.single_via_batch(doc, score, true).map(|v| v != 0.0);
                }
                None => Ok(Err("the UDF does not export `filter`".to_string())),
            },
            Inner::Component(c) => c.udf.call_filter(&mut c.store, doc as u64),
            Inner::Python(c) => c.udf.call_filter(&mut c.store, doc as u64),
        };
        self.finish(result, started, 1, "filter")
    }

    /// The document's new score.
    #[inline]
    pub fn score(&mut self, doc: u32, score: f32) -> Result<f64, UdfError> {
        let timed = self.begin_call()?;
        self.set_single(doc, score);
        let started = timed.then(Instant::now);
        let result = match &mut self.inner {
            Inner::Core(c) => match &c.score {
                Some(f) => f.call(&mut c.store, doc as i64).map(Ok),
                None if c.score_batch.is_some() => return self.single_via_batch(doc, score, false),
                None => Ok(Err("the UDF does not export `score`".to_string())),
            },
            Inner::Component(c) => c.udf.call_score(&mut c.store, doc as u64),
            Inner::Python(c) => c.udf.call_score(&mut c.store, doc as u64),
        };
        self.finish(result, started, 1, "score")
    }

    /// A module with only the batched export, asked for one document.
    fn single_via_batch(&mut self, doc: u32, score: f32, filter: bool) -> Result<f64, UdfError> {
        if filter {
            let mut out = Vec::with_capacity(1);
            self.filter_batch(&[doc], &[score], &mut out)?;
            Ok(out.first().copied().unwrap_or(false) as u8 as f64)
        } else {
            let mut out = Vec::with_capacity(1);
            self.score_batch(&[doc], &[score], &mut out)?;
            Ok(out.first().copied().unwrap_or(0.0))
        }
    }

    #[inline]
    fn finish<T>(
        &mut self,
        result: wasmtime::Result<Result<T, String>>,
        started: Option<Instant>,
        docs: u64,
        export: &str,
    ) -> Result<T, UdfError> {
        self.local.calls += docs;
        if let Some(s) = started {
            self.local.record(docs, s.elapsed().as_nanos() as u64);
        }
        match &mut self.inner {
            Inner::Component(c) => c.store.data_mut().drain_stdio(),
            Inner::Python(c) => c.store.data_mut().drain_stdio(),
            Inner::Core(_) => {}
        }
        match result {
            Ok(Ok(v)) => Ok(v),
            Ok(Err(msg)) => Err(self.guest_error(export, msg)),
            Err(e) => Err(self.call_error(e)),
        }
    }

    fn set_batch(&mut self, docs: &[u32], scores: &[f32]) {
        let h = self.host();
        h.batch_docs.clear();
        h.batch_docs.extend_from_slice(docs);
        h.batch_scores.clear();
        h.batch_scores.extend_from_slice(scores);
        h.batch_scores.resize(docs.len(), 0.0);
    }

    /// Decides many documents; `out` receives one bool per doc. One call into wasm for the
    /// batch: the guest's batched export, or its per-document `filter` through the batch
    /// driver (components without a batched export: one call per document). When it fails,
    /// `out` holds the decisions made before the failing document (so a search interrupted by
    /// its deadline keeps them).
    pub fn filter_batch(&mut self, docs: &[u32], scores: &[f32], out: &mut Vec<bool>) -> Result<(), UdfError> {
        out.clear();
        if !self.batch_supported("filter_batch") {
            for (i, &d) in docs.iter().enumerate() {
                let keep = self.filter(d, scores.get(i).copied().unwrap_or(0.0))?;
                out.push(keep);
            }
            return Ok(());
        }
        self.begin_call()?;
        self.set_batch(docs, scores);
        let started = Instant::now();
        let budget = (self.call_ticks, self.query_ticks_left());
        if let Inner::Core(c) = &mut self.inner
            && c.filter_batch.is_none()
        {
            self.udf.engine.counters.driver_blocks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            // The decisions go straight into `out` (0/1 per document).
            let r = driver_batch(c, docs, true, budget, &mut self.failed_at, |bytes| {
                out.extend(bytes.chunks_exact(4).map(|b| b[0] != 0));
            });
            return self.finish(r, Some(started), docs.len() as u64, "filter_batch");
        }
        let result = match &mut self.inner {
            Inner::Core(c) => core_batch(c, docs, 4, true).map(|r| {
                r.map(|bytes| bytes.chunks_exact(4).map(|b| i32::from_le_bytes([b[0], b[1], b[2], b[3]]) != 0).collect::<Vec<_>>())
            }),
            Inner::Component(c) => {
                let ctxs: Vec<u64> = ctxs_of(docs).collect();
                c.udf.call_filter_batch(&mut c.store, &ctxs)
            }
            // Packed: doc ids in, one byte per document out.
            Inner::Python(c) => c
                .udf
                .call_filter_block(&mut c.store, &packed_docs(docs))
                .map(|r| r.map(|bytes| bytes.into_iter().map(|b| b != 0).collect::<Vec<_>>())),
        };
        let v = self.finish(result, Some(started), docs.len() as u64, "filter_batch")?;
        if v.len() != docs.len() {
            return Err(self.guest_error("filter_batch", format!("returned {} results for {} documents", v.len(), docs.len())));
        }
        *out = v;
        Ok(())
    }

    /// Scores many documents; see [`filter_batch`](Self::filter_batch).
    pub fn score_batch(&mut self, docs: &[u32], scores: &[f32], out: &mut Vec<f64>) -> Result<(), UdfError> {
        out.clear();
        if !self.batch_supported("score_batch") {
            for (i, &d) in docs.iter().enumerate() {
                let s = self.score(d, scores.get(i).copied().unwrap_or(0.0))?;
                out.push(s);
            }
            return Ok(());
        }
        self.begin_call()?;
        self.set_batch(docs, scores);
        let started = Instant::now();
        let budget = (self.call_ticks, self.query_ticks_left());
        if let Inner::Core(c) = &mut self.inner
            && c.score_batch.is_none()
        {
            self.udf.engine.counters.driver_blocks.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let r = driver_batch(c, docs, false, budget, &mut self.failed_at, |bytes| {
                out.extend(bytes.chunks_exact(8).map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]])));
            });
            return self.finish(r, Some(started), docs.len() as u64, "score_batch");
        }
        let result = match &mut self.inner {
            Inner::Core(c) => core_batch(c, docs, 8, false).map(|r| {
                r.map(|bytes| {
                    bytes
                        .chunks_exact(8)
                        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                        .collect::<Vec<_>>()
                })
            }),
            Inner::Component(c) => {
                let ctxs: Vec<u64> = ctxs_of(docs).collect();
                c.udf.call_score_batch(&mut c.store, &ctxs)
            }
            Inner::Python(c) => c.udf.call_score_block(&mut c.store, &packed_docs(docs)).map(|r| {
                r.and_then(|bytes| {
                    if bytes.len() % 8 != 0 {
                        return Err(format!("returned {} bytes, not a list of f64", bytes.len()));
                    }
                    Ok(bytes
                        .chunks_exact(8)
                        .map(|b| f64::from_le_bytes([b[0], b[1], b[2], b[3], b[4], b[5], b[6], b[7]]))
                        .collect::<Vec<_>>())
                })
            }),
        };
        let v = self.finish(result, Some(started), docs.len() as u64, "score_batch")?;
        if v.len() != docs.len() {
            return Err(self.guest_error("score_batch", format!("returned {} results for {} documents", v.len(), docs.len())));
        }
        *out = v;
        Ok(())
    }

    fn batch_supported(&self, which: &str) -> bool {
        match &self.inner {
            Inner::Core(c) => {
                let filter = which == "filter_batch";
                let native = c.udf_buffer.is_some() && if filter { c.filter_batch.is_some() } else { c.score_batch.is_some() };
                let driven = c.driver.as_ref().is_some_and(|d| if filter { d.filter_block.is_some() } else { d.score_block.is_some() });
                native || driven
            }
            Inner::Component(_) => self.udf.metadata.exports.iter().any(|e| e == which),
            Inner::Python(p) => p.exports.iter().any(|e| e == which),
        }
    }
}

/// Segment doc ids as little-endian u32 bytes (the block exports' argument).
fn packed_docs(docs: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(docs.len() * 4);
    for d in docs {
        out.extend_from_slice(&d.to_le_bytes());
    }
    out
}

fn ctxs_of(docs: &[u32]) -> impl Iterator<Item = u64> + '_ {
    docs.iter().enumerate().map(|(i, &d)| ((i as u64) << 32) | d as u64)
}

/// Runs per-document exports over `docs` through the batch driver, [`driver::BLOCK`]
/// documents per call: ctxs into the driver's memory (and, when it serves field reads, the
/// block's values of the fields read so far: [`ServedReads::prefill`]), one call, then
/// `emit` gets the block's results (i32 per document for `filter`, f64 for `score`).
/// `budget` is (ticks per document, ticks left for the query), enforced by [`BlockWatch`].
/// On a trap, `emit` has had the results of the documents before the failing one, and
/// `failed_at` gets its position in `docs` and its doc id.
///
/// [`driver::BLOCK`]: crate::driver::BLOCK
fn driver_batch(
    c: &mut CoreInstance,
    docs: &[u32],
    filter: bool,
    budget: (u64, u64),
    failed_at: &mut Option<(usize, u32)>,
    mut emit: impl FnMut(&[u8]),
) -> wasmtime::Result<Result<(), String>> {
    use crate::driver::{BLOCK, OUT};
    let Some(d) = &c.driver else { return Ok(Err("no batch driver".into())) };
    let (memory, pos) = (d.memory, d.pos);
    let Some(run) = (if filter { d.filter_block.clone() } else { d.score_block.clone() }) else {
        return Ok(Err("the batch driver does not run this export".into()));
    };
    let width = if filter { 4 } else { 8 };
    let mut query_ticks_left = budget.1;
    for (chunk_no, chunk) in docs.chunks(BLOCK).enumerate() {
        let base = chunk_no * BLOCK;
        {
            let mem = &mut memory.data_mut(&mut c.store)[..BLOCK * 8];
            for (i, (slot, &doc)) in mem.chunks_exact_mut(8).zip(chunk).enumerate() {
                let ctx = (((base + i) as u64) << 32) | doc as u64;
                slot.copy_from_slice(&ctx.to_le_bytes());
            }
        }
        ServedReads::prefill(&mut c.store, base, chunk.len());
        let watch = BlockWatch { pos, last_pos: -1, doc_ticks: 0, call_ticks: budget.0, query_ticks_left };
        c.store.data_mut().block_watch = Some(watch);
        c.store.set_epoch_deadline(1);
        let result = run.call(&mut c.store, (chunk.len() as i32, base as i32));
        query_ticks_left = c.store.data_mut().block_watch.take().map_or(0, |w| w.query_ticks_left);
        let done = match &result {
            Ok(_) => chunk.len(),
            Err(_) => match pos.get(&mut c.store) {
                Val::I32(p) => (p.max(0) as usize).min(chunk.len() - 1),
                _ => 0,
            },
        };
        emit(&memory.data(&c.store)[OUT..OUT + done * width]);
        if let Err(e) = result {
            *failed_at = Some((base + done, docs[base + done]));
            return Err(e);
        }
    }
    Ok(Ok(()))
}

/// Runs a core batched export: ctxs and outputs in the guest's `udf_buffer` region.
fn core_batch(c: &mut CoreInstance, docs: &[u32], out_width: usize, filter: bool) -> wasmtime::Result<Result<Vec<u8>, String>> {
    let n = docs.len();
    let need = n * 8 + n * out_width;
    let need32 = u32::try_from(need).map_err(|_| wasmtime::Error::msg("batch too large"))?;
    let (ptr, _) = match c.buffer {
        Some((p, size)) if size >= need32 => (p, size),
        _ => {
            let f = c.udf_buffer.clone().ok_or_else(|| wasmtime::Error::msg("no udf_buffer export"))?;
            let p = f.call(&mut c.store, need32 as i32)? as u32;
            if p == 0 {
                return Ok(Err(format!("udf_buffer declined a buffer of {need} bytes")));
            }
            c.buffer = Some((p, need32));
            (p, need32)
        }
    };
    let memory = c.store.data().memory.ok_or_else(|| wasmtime::Error::msg("no memory"))?;
    let start = ptr as usize;
    {
        let mem = memory.data_mut(&mut c.store);
        if start.checked_add(need).is_none_or(|end| end > mem.len()) {
            return Ok(Err(format!("udf_buffer returned {ptr:#x}, which does not hold {need} bytes")));
        }
        for (i, ctx) in ctxs_of(docs).enumerate() {
            let at = start + i * 8;
            mem[at..at + 8].copy_from_slice(&ctx.to_le_bytes());
        }
    }
    let out_ptr = (start + n * 8) as i32;
    let f = if filter { c.filter_batch.clone() } else { c.score_batch.clone() }.ok_or_else(|| wasmtime::Error::msg("no batch export"))?;
    let rc = f.call(&mut c.store, (start as i32, n as i32, out_ptr))?;
    if rc != 0 {
        return Ok(Err(format!("returned error code {rc}")));
    }
    let mem = memory.data(&c.store);
    let out_start = out_ptr as usize;
    match mem.get(out_start..out_start + n * out_width) {
        Some(bytes) => Ok(Ok(bytes.to_vec())),
        None => Ok(Err("output outside memory".into())),
    }
}

impl Drop for UdfInstance {
    fn drop(&mut self) {
        self.udf.stats.merge(&self.local);
        self.udf.gate.release();
    }
}
