//! Python source → a UDF on the shared Python runtime.
//!
//! The runtime (`quidditch-udf`'s `SharedPythonRuntime`) is ONE component: CPython, the adapter
//! (`adapter/quidditch_adapter.py`) and the standard library modules UDFs use, built by
//! `componentize-py -d <wit> -w python-runtime componentize quidditch_adapter` once per machine
//! and engine version ([`RuntimeToolchain`]). A UDF is its source: [`PythonCompiler::compile`]
//! extracts the metadata (Rust parser) and loads the module into a fresh runtime instance, so
//! syntax errors are CPython's and module-level code runs before the upload is accepted.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use quidditch_udf::{ModuleLoadError, RuntimeBuilder, SharedPythonRuntime, UdfLimits};

use crate::error::PythonUdfError;
use crate::metadata::{PythonMetadata, extract_metadata};

/// The componentize-py version the adapter is written and tested against
/// (pinned in tests/python/requirements.txt, installed by scripts/setup.sh).
pub const COMPONENTIZE_PY_VERSION: &str = "0.25.1";
/// Environment variable naming the componentize-py executable (default: found on PATH).
pub const TOOL_ENV: &str = "QUIDDITCH_COMPONENTIZE_PY";
const DEFAULT_TOOL: &str = "componentize-py";

/// The adapter module shipped in the binary.
pub const ADAPTER_SOURCE: &str = include_str!("../adapter/quidditch_adapter.py");
/// The component world (`quidditch:udf@1.0.0`, world `udf`).
pub const WIT_SOURCE: &str = include_str!("../../../wit/quidditch-udf.wit");
const ADAPTER_MODULE: &str = "quidditch_adapter";
/// The module name (`__name__`) a UDF's source runs under.
pub const USER_MODULE: &str = "quidditch_user_udf";
const WORLD: &str = "python-runtime";

/// Linear memory a Python UDF gets unless its upload says otherwise: the interpreter alone
/// takes ~12.5 MiB (199 wasm pages) before any UDF code runs.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// Per-call time a Python UDF gets unless its upload says otherwise: interpreted Python
/// evaluates a block of documents per call at ~1-2 µs per document and field.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 1_000;

/// A Python UDF ready to register.
#[derive(Debug, Clone)]
pub struct PythonComponent {
    /// What the registry stores as the UDF's binary: the module source (UTF-8), which the
    /// shared runtime loads into every instance.
    pub wasm: Vec<u8>,
    pub metadata: PythonMetadata,
    /// Wall time of the check (metadata + trial load in a fresh runtime instance; the first
    /// upload also builds or loads the runtime).
    pub compile_time: Duration,
    /// The toolchain the runtime is built with, e.g. `componentize-py 0.25.1`.
    pub tool_version: String,
}

static GLOBAL: std::sync::OnceLock<PythonCompiler> = std::sync::OnceLock::new();

/// How [`PythonCompiler::discover`] found componentize-py.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ToolSource {
    /// The config key, the serve flag or `$QUIDDITCH_COMPONENTIZE_PY`.
    Configured,
    /// The project's `.venv` above the executable or the current directory.
    Venv,
    /// Looked up on PATH when used.
    Path,
}

impl ToolSource {
    pub fn as_str(self) -> &'static str {
        match self {
            ToolSource::Configured => "configured",
            ToolSource::Venv => "venv",
            ToolSource::Path => "path",
        }
    }
}

/// Checks Python UDF uploads against a shared runtime, whose builder it provides.
pub struct PythonCompiler {
    toolchain: Arc<RuntimeToolchain>,
    source: ToolSource,
    runtime: Option<Arc<SharedPythonRuntime>>,
}

impl Default for PythonCompiler {
    fn default() -> Self {
        Self::from_env()
    }
}

/// Limits of the upload check (the registry's trial load then uses the upload's own limits).
const CHECK_LIMITS: UdfLimits = UdfLimits {
    memory_bytes: DEFAULT_MEMORY_BYTES,
    call_timeout_ms: DEFAULT_CALL_TIMEOUT_MS,
    query_timeout_ms: DEFAULT_CALL_TIMEOUT_MS,
    max_instances: 1,
    instance_wait_ms: 0,
    log_bytes: 0,
};

impl PythonCompiler {
    /// The process-wide compiler (the server installs one attached to its registry's runtime).
    pub fn global() -> &'static PythonCompiler {
        GLOBAL.get_or_init(PythonCompiler::from_env)
    }

    /// Makes `compiler` what [`global`](Self::global) returns (the server does this once at
    /// start). Returns false when the global compiler was already in use.
    pub fn install_global(compiler: PythonCompiler) -> bool {
        GLOBAL.set(compiler).is_ok()
    }

    /// `discover(None)`: `$QUIDDITCH_COMPONENTIZE_PY`, then the project's `.venv`, then PATH.
    pub fn from_env() -> Self {
        Self::discover(None)
    }

    /// Finds componentize-py: `configured` (config key `udf.python.componentize_py` or the
    /// `serve --componentize-py` flag, which also reads `$QUIDDITCH_COMPONENTIZE_PY`), then
    /// `.venv/bin/componentize-py` in a directory above the running executable or the current
    /// directory (a checkout's venv, so `target/release/quidditch serve` works without PATH
    /// tweaks), then `componentize-py` on PATH.
    pub fn discover(configured: Option<&Path>) -> Self {
        let env = std::env::var_os(TOOL_ENV).filter(|v| !v.is_empty()).map(PathBuf::from);
        if let Some(tool) = configured.map(Path::to_path_buf).or(env) {
            return Self::with_tool(tool).found_by(ToolSource::Configured);
        }
        let starts = [std::env::current_exe().ok(), std::env::current_dir().ok()];
        let venv = starts.into_iter().flatten().find_map(|start| {
            start.ancestors().map(|dir| dir.join(".venv/bin").join(DEFAULT_TOOL)).find(|tool| tool.is_file())
        });
        match venv {
            Some(tool) => Self::with_tool(tool).found_by(ToolSource::Venv),
            None => Self::with_tool(DEFAULT_TOOL).found_by(ToolSource::Path),
        }
    }

    pub fn with_tool(tool: impl Into<PathBuf>) -> Self {
        let mut tool = tool.into();
        // A relative path with a directory (`.venv/bin/componentize-py`) must not be resolved
        // against the temporary build directory the tool runs in.
        if tool.is_relative() && tool.components().count() > 1 {
            tool = std::path::absolute(&tool).unwrap_or(tool);
        }
        PythonCompiler {
            toolchain: Arc::new(RuntimeToolchain { tool, timeout: Duration::from_secs(300) }),
            source: ToolSource::Configured,
            runtime: None,
        }
    }

    fn found_by(mut self, source: ToolSource) -> Self {
        self.source = source;
        self
    }

    /// Checks uploads against `runtime` and makes this toolchain the runtime's builder.
    pub fn attach(mut self, runtime: &Arc<SharedPythonRuntime>) -> Self {
        runtime.set_builder(self.toolchain.clone());
        self.runtime = Some(runtime.clone());
        self
    }

    /// Where the tool path came from.
    pub fn tool_source(&self) -> ToolSource {
        self.source
    }

    /// What builds the shared runtime.
    pub fn toolchain(&self) -> &RuntimeToolchain {
        &self.toolchain
    }

    pub fn tool(&self) -> &Path {
        &self.toolchain.tool
    }

    /// `componentize-py --version`, or `ToolMissing`.
    pub fn tool_version(&self) -> Result<String, PythonUdfError> {
        self.toolchain.version()
    }

    /// Extracts the metadata, then loads the module into a fresh instance of the shared runtime
    /// (building the runtime on first need): CPython reports syntax errors and exceptions of
    /// module-level code. Blocking (milliseconds; seconds when the runtime must be built).
    pub fn compile(&self, source: &str) -> Result<PythonComponent, PythonUdfError> {
        let started = Instant::now();
        let metadata = match extract_metadata(source) {
            Ok(m) => m,
            // Positions and messages users see are CPython's; without a runtime, the Rust
            // parser's error still says where the problem is.
            Err(rust @ PythonUdfError::Syntax { .. }) => {
                return Err(match self.load(source) {
                    Err(e @ PythonUdfError::Syntax { .. }) => e,
                    _ => rust,
                });
            }
            Err(e) => return Err(e),
        };
        self.load(source)?;
        Ok(PythonComponent {
            wasm: source.as_bytes().to_vec(),
            metadata,
            compile_time: started.elapsed(),
            tool_version: format!("{DEFAULT_TOOL} {COMPONENTIZE_PY_VERSION}"),
        })
    }

    fn load(&self, source: &str) -> Result<Vec<String>, PythonUdfError> {
        let Some(runtime) = &self.runtime else {
            return Err(self.toolchain.missing("no shared Python runtime is attached to the compiler".into()));
        };
        runtime.check_module(source, &CHECK_LIMITS).map_err(|e| match e {
            ModuleLoadError::Unavailable(e) => match e.downcast::<PythonUdfError>() {
                Ok(e) => *e,
                Err(e) => PythonUdfError::RuntimeUnavailable(e.to_string()),
            },
            ModuleLoadError::Syntax { line, column, message } => PythonUdfError::Syntax { line, column, message },
            e @ ModuleLoadError::Raised { .. } => {
                let message = e.to_string();
                let ModuleLoadError::Raised { traceback, .. } = e else { unreachable!() };
                PythonUdfError::CompileFailed { message, output: traceback }
            }
            ModuleLoadError::Failed(message) => PythonUdfError::CompileFailed { message, output: String::new() },
        })
    }
}

/// Builds the shared runtime with componentize-py.
pub struct RuntimeToolchain {
    tool: PathBuf,
    /// Upper bound on one build.
    timeout: Duration,
}

impl RuntimeToolchain {
    fn missing(&self, reason: String) -> PythonUdfError {
        PythonUdfError::ToolMissing {
            tool: self.tool.display().to_string(),
            reason,
            expected_version: COMPONENTIZE_PY_VERSION,
        }
    }

    fn version(&self) -> Result<String, PythonUdfError> {
        let output = Command::new(&self.tool)
            .arg("--version")
            .stdin(Stdio::null())
            .output()
            .map_err(|e| self.missing(e.to_string()))?;
        if !output.status.success() {
            return Err(self.missing(format!("`--version` exited with {}", output.status)));
        }
        let version = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if !version.ends_with(COMPONENTIZE_PY_VERSION) {
            tracing::warn!(
                found = %version,
                expected = COMPONENTIZE_PY_VERSION,
                "componentize-py version differs from the pinned one"
            );
        }
        Ok(version)
    }

    /// The runtime component: CPython + the adapter + pre-imported standard library modules.
    pub fn build_runtime(&self) -> Result<Vec<u8>, PythonUdfError> {
        self.version()?;
        let dir = tempfile::Builder::new().prefix("quidditch-python-runtime-").tempdir()?;
        let wit_dir = dir.path().join("wit");
        std::fs::create_dir(&wit_dir)?;
        std::fs::write(wit_dir.join("quidditch-udf.wit"), WIT_SOURCE)?;
        std::fs::write(dir.path().join(format!("{ADAPTER_MODULE}.py")), ADAPTER_SOURCE)?;
        let out = dir.path().join("runtime.wasm");
        let started = Instant::now();
        let child = Command::new(&self.tool)
            .current_dir(dir.path())
            .arg("-q")
            .arg("-d")
            .arg(&wit_dir)
            .arg("-w")
            .arg(WORLD)
            .arg("componentize")
            .arg(ADAPTER_MODULE)
            .arg("-p")
            .arg(dir.path())
            .arg("-o")
            .arg(&out)
            // Only the adapter (and the stdlib) is importable: no packages from whatever
            // virtualenv the server happens to run in.
            .env_remove("VIRTUAL_ENV")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.missing(e.to_string()))?;
        let (status, output) = wait_with_timeout(child, self.timeout)?;
        let Some(status) = status else {
            return Err(PythonUdfError::CompileTimeout(self.timeout));
        };
        if !status.success() {
            return Err(PythonUdfError::RuntimeUnavailable(format!(
                "componentize-py failed to build the shared Python runtime: {}",
                output.trim()
            )));
        }
        let wasm = std::fs::read(&out)?;
        tracing::info!(
            bytes = wasm.len(),
            ms = started.elapsed().as_millis() as u64,
            "built the shared Python runtime with componentize-py"
        );
        Ok(wasm)
    }
}

impl RuntimeBuilder for RuntimeToolchain {
    fn key(&self) -> String {
        runtime_key()
    }

    fn build(&self) -> Result<Vec<u8>, Box<dyn std::error::Error + Send + Sync>> {
        self.build_runtime().map_err(|e| Box::new(e) as Box<dyn std::error::Error + Send + Sync>)
    }
}

/// Names one runtime build: the adapter, the WIT world and the pinned toolchain version.
pub fn runtime_key() -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for part in [ADAPTER_SOURCE, WIT_SOURCE, COMPONENTIZE_PY_VERSION] {
        h.update((part.len() as u64).to_le_bytes());
        h.update(part.as_bytes());
    }
    hex::encode(&h.finalize()[..8])
}

/// Waits for the child, killing it after `timeout` (status `None`). Output is drained on
/// threads so a chatty child cannot block on a full pipe.
fn wait_with_timeout(
    mut child: Child,
    timeout: Duration,
) -> Result<(Option<std::process::ExitStatus>, String), PythonUdfError> {
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = Vec::new();
            if let Some(mut p) = pipe {
                let _ = p.read_to_end(&mut text);
            }
            String::from_utf8_lossy(&text).into_owned()
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as Box<dyn Read + Send>));
    let deadline = Instant::now() + timeout;
    let status = loop {
        if let Some(status) = child.try_wait()? {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut output = stderr.join().unwrap_or_default();
    let out = stdout.join().unwrap_or_default();
    if !out.trim().is_empty() {
        output.push_str(&out);
    }
    Ok((status, output))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tool_is_a_503_naming_the_tool() {
        let compiler = PythonCompiler::with_tool("/nonexistent/componentize-py");
        let err = compiler.toolchain.build_runtime().unwrap_err();
        assert_eq!(err.status(), 503);
        assert!(err.to_string().contains("componentize-py"), "{err}");
    }
}
