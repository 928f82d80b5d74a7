//! The one wasmtime `Engine` of the process: pooling allocator, epoch interruption driven by a
//! ticker thread, and a disk cache of precompiled artifacts keyed by
//! `sha256(binary)` + the engine's compatibility hash.

use std::hash::{Hash, Hasher};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use anyhow::Context;
use tracing::{info, warn};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, Module, PoolingAllocationConfig};

use crate::config::UdfConfig;
use crate::metadata::BinaryKind;

/// A compiled UDF binary.
#[derive(Clone)]
pub enum Compiled {
    Core(Module),
    Component(wasmtime::component::Component),
}

/// Counters that show whether restarts recompile (they should not).
#[derive(Debug, Default)]
pub struct CompileCounters {
    pub compilations: AtomicU64,
    pub cache_hits: AtomicU64,
    /// Blocks of per-document calls run by the batch driver (shows it is in use).
    pub driver_blocks: AtomicU64,
    /// Field paths (per instance and documents) whose reads the driver serves from memory.
    pub driver_served_fields: AtomicU64,
}

pub struct WasmEngine {
    pub engine: Engine,
    /// Epoch ticks since start; the ticker thread increments it with the engine's epoch,
    /// so a query deadline is "tick N" and checking it is one atomic load.
    ticks: Arc<AtomicU64>,
    tick_ms: u64,
    /// The engine-wide wasm stack limit, for error messages.
    pub max_wasm_stack: usize,
    cache_dir: PathBuf,
    compat_hash: String,
    pub counters: CompileCounters,
    stop: Arc<AtomicBool>,
    /// Whether new instances use the batch driver (`udf.batch_driver`; switchable at run
    /// time for benchmarks).
    pub batch_driver: AtomicBool,
    /// The batch drivers ([`crate::driver`]), compiled on first use, by
    /// `filter | score << 1 | serve << 2`, and the reads module of the served field reads.
    drivers: parking_lot::Mutex<[Option<Module>; 8]>,
    reads: parking_lot::Mutex<Option<Module>>,
}

impl WasmEngine {
    pub fn new(config: &UdfConfig, cache_dir: &Path) -> anyhow::Result<Arc<WasmEngine>> {
        let mut pool = PoolingAllocationConfig::new();
        let ceiling_memory = config.max_limits.memory_bytes.max(config.limits.memory_bytes);
        pool.total_core_instances(config.pool_instances)
            .total_component_instances(config.pool_instances)
            .total_memories(config.pool_instances)
            .total_tables(config.pool_instances.saturating_mul(2))
            .total_stacks(config.pool_instances)
            .max_memory_size(ceiling_memory as usize)
            .table_elements(config.pool_table_elements)
            .max_tables_per_module(2)
            .max_memories_per_module(1)
            // componentize-py components: many core instances, large vmctx.
            .max_core_instances_per_component(64)
            .max_memories_per_component(16)
            .max_tables_per_component(32)
            .max_core_instance_size(4 << 20)
            .max_component_instance_size(4 << 20)
            .max_unused_warm_slots(64);

        let mut wasm = Config::new();
        wasm.epoch_interruption(true)
            .max_wasm_stack(config.max_wasm_stack_bytes)
            .wasm_component_model(true)
            .parallel_compilation(true)
            .allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
        let engine = Engine::new(&wasm).map_err(anyhow::Error::from).context("creating the wasmtime engine")?;

        let mut h = std::collections::hash_map::DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut h);
        let compat_hash = format!("{:016x}", h.finish());
        std::fs::create_dir_all(cache_dir)
            .with_context(|| format!("creating {}", cache_dir.display()))?;

        let ticks = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let tick_ms = config.epoch_tick_ms.max(1);
        {
            let engine = engine.clone();
            let ticks = ticks.clone();
            let stop = stop.clone();
            std::thread::Builder::new()
                .name("udf-epoch".into())
                .spawn(move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(Duration::from_millis(tick_ms));
                        ticks.fetch_add(1, Ordering::Relaxed);
                        engine.increment_epoch();
                    }
                })
                .context("starting the epoch ticker thread")?;
        }
        Ok(Arc::new(WasmEngine {
            engine,
            ticks,
            tick_ms,
            max_wasm_stack: config.max_wasm_stack_bytes,
            cache_dir: cache_dir.to_path_buf(),
            compat_hash,
            counters: CompileCounters::default(),
            stop,
            batch_driver: AtomicBool::new(config.batch_driver),
            drivers: parking_lot::Mutex::new(Default::default()),
            reads: parking_lot::Mutex::new(None),
        }))
    }

    /// Current tick (monotonic; one per `epoch_tick_ms`).
    #[inline]
    pub fn now_tick(&self) -> u64 {
        self.ticks.load(Ordering::Relaxed)
    }

    /// Ticks covering `ms` milliseconds (at least one, plus one for the partial tick).
    pub fn ticks_for_ms(&self, ms: u64) -> u64 {
        ms.div_ceil(self.tick_ms) + 1
    }

    /// Compiles a binary, or loads its precompiled artifact from the disk cache.
    /// Returns the compiled form and whether the cache was used.
    pub fn load(&self, kind: BinaryKind, sha256: &str, binary: &[u8]) -> anyhow::Result<(Compiled, bool)> {
        let path = self.cache_path(sha256);
        if path.exists() {
            // SAFETY: the artifact was produced by `precompile_*` of an engine with the same
            // compatibility hash (it is part of the file name) and is only written by us
            // (tmp + rename); wasmtime also checks the header and rejects a mismatch.
            let loaded = match kind {
                BinaryKind::Core => unsafe { Module::deserialize_file(&self.engine, &path) }.map(Compiled::Core),
                BinaryKind::Component => {
                    unsafe { wasmtime::component::Component::deserialize_file(&self.engine, &path) }
                        .map(Compiled::Component)
                }
            };
            match loaded {
                Ok(c) => {
                    self.counters.cache_hits.fetch_add(1, Ordering::Relaxed);
                    return Ok((c, true));
                }
                Err(e) => warn!(path = %path.display(), "ignoring unusable precompiled artifact: {e}"),
            }
        }
        let compiled = self.compile(kind, binary)?;
        self.cache_artifact(sha256, &compiled);
        Ok((compiled, false))
    }

    /// Writes the precompiled artifact of `compiled` (the binary with digest `sha256`) to the
    /// disk cache unless it is there: the one writer of the cache, so `load` can trust what
    /// it finds (tmp + rename: never a torn file). A failure only costs a recompilation at the
    /// next start, so it is logged, not returned.
    pub fn cache_artifact(&self, sha256: &str, compiled: &Compiled) {
        let path = self.cache_path(sha256);
        if path.exists() {
            return;
        }
        let artifact = match compiled {
            Compiled::Core(m) => m.serialize(),
            Compiled::Component(c) => c.serialize(),
        };
        match artifact {
            Ok(bytes) => {
                let tmp = path.with_extension("tmp");
                if let Err(e) = std::fs::write(&tmp, &bytes).and_then(|_| std::fs::rename(&tmp, &path)) {
                    warn!(path = %path.display(), "cannot write precompiled artifact: {e}");
                }
            }
            Err(e) => warn!("cannot serialize compiled UDF: {e}"),
        }
    }

    /// Compiles without touching the cache (validation messages come from wasmtime).
    pub fn compile(&self, kind: BinaryKind, binary: &[u8]) -> anyhow::Result<Compiled> {
        self.counters.compilations.fetch_add(1, Ordering::Relaxed);
        let started = std::time::Instant::now();
        let c = match kind {
            BinaryKind::Core => Compiled::Core(Module::new(&self.engine, binary).map_err(anyhow::Error::from)?),
            BinaryKind::Component => Compiled::Component(
                wasmtime::component::Component::new(&self.engine, binary).map_err(anyhow::Error::from)?,
            ),
        };
        info!(bytes = binary.len(), ms = started.elapsed().as_millis() as u64, "compiled UDF binary");
        Ok(c)
    }

    /// The engine's precompilation compatibility hash (hex): part of every artifact's name.
    pub fn compat_hash(&self) -> &str {
        &self.compat_hash
    }

    /// The batch driver for modules with the per-document `filter` and/or `score` exports,
    /// with (`serve`) or without the served field reads. Not counted in `compilations`
    /// (which counts uploaded binaries only).
    pub(crate) fn driver(&self, filter: bool, score: bool, serve: bool) -> anyhow::Result<Module> {
        let slot = filter as usize | (score as usize) << 1 | (serve as usize) << 2;
        let mut drivers = self.drivers.lock();
        if let Some(m) = &drivers[slot] {
            return Ok(m.clone());
        }
        let binary = wat::parse_str(crate::driver::wat(filter, score, serve)).context("generating the batch driver")?;
        let module = Module::new(&self.engine, &binary).map_err(anyhow::Error::from).context("compiling the batch driver")?;
        drivers[slot] = Some(module.clone());
        Ok(module)
    }

    /// The reads module of the driver's served field reads ([`crate::driver::READS_WAT`]).
    pub(crate) fn reads_module(&self) -> anyhow::Result<Module> {
        let mut reads = self.reads.lock();
        if let Some(m) = &*reads {
            return Ok(m.clone());
        }
        let binary = wat::parse_str(crate::driver::READS_WAT).context("generating the reads module")?;
        let module = Module::new(&self.engine, &binary).map_err(anyhow::Error::from).context("compiling the reads module")?;
        *reads = Some(module.clone());
        Ok(module)
    }

    pub fn cache_path(&self, sha256: &str) -> PathBuf {
        self.cache_dir.join(format!("{sha256}-{}.cwasm", self.compat_hash))
    }

    /// Removes a cached artifact (after the last version using it is deleted).
    pub fn evict(&self, sha256: &str) {
        let _ = std::fs::remove_file(self.cache_path(sha256));
    }
}

impl Drop for WasmEngine {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
    }
}

/// Core module or component, from the binary's header (`\0asm` + version/layer).
pub fn detect_kind(binary: &[u8]) -> Option<BinaryKind> {
    if binary.len() < 8 || &binary[0..4] != b"\0asm" {
        return None;
    }
    match binary[4..8] {
        [1, 0, 0, 0] => Some(BinaryKind::Core),
        [_, _, 1, 0] => Some(BinaryKind::Component),
        _ => None,
    }
}
