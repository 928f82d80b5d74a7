//! The server config's `udf` section: default limits, the ceiling for per-UDF overrides,
//! the signature policy, the size of the instance pool and the audit log.

use serde::{Deserialize, Serialize};

/// Runtime limits, permissions and signature policy (server config `udf` section).
///
/// Every field has a default, so `{}` is a valid section.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UdfConfig {
    /// Limits applied to every UDF that does not override them.
    pub limits: UdfLimits,
    /// The highest value a UDF's own `limits` may ask for (an upload asking for more is
    /// rejected with 400 naming the limit).
    pub max_limits: UdfLimits,
    /// Largest accepted UDF binary (413 above it). Python components are ~18 MB.
    pub max_module_bytes: usize,
    /// Reject unsigned uploads and uploads signed with a key not in `trusted_keys` (403).
    pub require_signed: bool,
    /// Trusted Ed25519 public keys: 32 raw bytes as hex or base64, or an SPKI PEM.
    pub trusted_keys: Vec<String>,
    /// Engine-wide wasm stack limit in bytes (wasmtime's `max_wasm_stack`).
    pub max_wasm_stack_bytes: usize,
    /// Instance slots in the pooling allocator shared by all UDFs (component instances
    /// count their core instances separately).
    pub pool_instances: u32,
    /// Elements per table in the pool; componentize-py components need ~200k.
    pub pool_table_elements: usize,
    /// Epoch tick for wall-time limits, in milliseconds (the timer's resolution).
    pub epoch_tick_ms: u64,
    /// Rotate the audit log when the current file exceeds this size.
    pub audit_max_bytes: u64,
    /// Rotated audit files kept (oldest dropped).
    pub audit_max_files: u32,
    /// Python UDFs: the toolchain and where the shared Python runtime is kept.
    pub python: PythonConfig,
    /// Run core modules that export only the per-document `filter`/`score` a block at a time
    /// through the batch driver (same results and limits, far fewer host→wasm calls). Off:
    /// one call per document (for comparisons; see BENCHMARKS.md).
    pub batch_driver: bool,
}

/// The server config's `udf.python` section.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PythonConfig {
    /// componentize-py, needed to build the shared Python runtime (once per machine and engine
    /// version). Unset: `$QUIDDITCH_COMPONENTIZE_PY`, the project's `.venv`, then PATH.
    pub componentize_py: Option<std::path::PathBuf>,
    /// Where the shared Python runtime (component + precompiled form) is kept; default
    /// `<data>/udfs/python-runtime`. Servers pointing at one directory build it once.
    pub runtime_dir: Option<std::path::PathBuf>,
}

impl Default for UdfConfig {
    fn default() -> Self {
        UdfConfig {
            limits: UdfLimits::default(),
            max_limits: UdfLimits::ceiling(),
            max_module_bytes: 64 * 1024 * 1024,
            require_signed: false,
            trusted_keys: Vec::new(),
            max_wasm_stack_bytes: 512 * 1024,
            pool_instances: 1000,
            pool_table_elements: 262_144,
            epoch_tick_ms: 1,
            audit_max_bytes: 8 * 1024 * 1024,
            audit_max_files: 4,
            python: PythonConfig::default(),
            batch_driver: true,
        }
    }
}

/// The per-instance limits. All are enforced by the runtime, not advisory.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct UdfLimits {
    /// Linear memory per instance (all memories together), enforced by a `ResourceLimiter`.
    pub memory_bytes: u64,
    /// Wall time of one call into the guest (one `filter`/`score` or one batch).
    pub call_timeout_ms: u64,
    /// Wall time of all calls of one evaluation context (one query on one shard).
    pub query_timeout_ms: u64,
    /// Concurrent live instances of one UDF version; more wait up to `instance_wait_ms`.
    pub max_instances: u32,
    /// How long an evaluation context waits for a free instance before failing (429).
    pub instance_wait_ms: u64,
    /// Log bytes captured per call; the rest is dropped and the log marked truncated.
    pub log_bytes: usize,
}

impl Default for UdfLimits {
    fn default() -> Self {
        UdfLimits {
            memory_bytes: 16 * 1024 * 1024,
            call_timeout_ms: 100,
            query_timeout_ms: 10_000,
            max_instances: 64,
            instance_wait_ms: 1_000,
            log_bytes: 16 * 1024,
        }
    }
}

impl UdfLimits {
    /// The default ceiling for per-UDF overrides.
    pub fn ceiling() -> Self {
        UdfLimits {
            memory_bytes: 256 * 1024 * 1024,
            call_timeout_ms: 5_000,
            query_timeout_ms: 120_000,
            max_instances: 256,
            instance_wait_ms: 30_000,
            log_bytes: 1024 * 1024,
        }
    }
}

/// A UDF's own limits (metadata `limits`); unset fields use the server defaults.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LimitOverrides {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_bytes: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub call_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub query_timeout_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_instances: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub instance_wait_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log_bytes: Option<usize>,
}

impl LimitOverrides {
    pub fn is_empty(&self) -> bool {
        *self == LimitOverrides::default()
    }

    /// The effective limits, or the name of the first override above the ceiling.
    pub fn apply(&self, defaults: &UdfLimits, ceiling: &UdfLimits) -> Result<UdfLimits, String> {
        fn pick<T: PartialOrd + Copy + std::fmt::Display>(
            name: &str,
            over: Option<T>,
            default: T,
            max: T,
        ) -> Result<T, String> {
            match over {
                None => Ok(default),
                Some(v) if v > max => {
                    Err(format!("limit [{name}] = {v} is above the server's ceiling of {max}"))
                }
                Some(v) => Ok(v),
            }
        }
        let limits = UdfLimits {
            memory_bytes: pick("memory_bytes", self.memory_bytes, defaults.memory_bytes, ceiling.memory_bytes)?,
            call_timeout_ms: pick("call_timeout_ms", self.call_timeout_ms, defaults.call_timeout_ms, ceiling.call_timeout_ms)?,
            query_timeout_ms: pick("query_timeout_ms", self.query_timeout_ms, defaults.query_timeout_ms, ceiling.query_timeout_ms)?,
            max_instances: pick("max_instances", self.max_instances, defaults.max_instances, ceiling.max_instances)?,
            instance_wait_ms: pick("instance_wait_ms", self.instance_wait_ms, defaults.instance_wait_ms, ceiling.instance_wait_ms)?,
            log_bytes: pick("log_bytes", self.log_bytes, defaults.log_bytes, ceiling.log_bytes)?,
        };
        if limits.max_instances == 0 {
            return Err("limit [max_instances] must be at least 1".into());
        }
        if limits.call_timeout_ms == 0 || limits.query_timeout_ms == 0 {
            return Err("time limits must be at least 1 ms".into());
        }
        Ok(limits)
    }
}
