//! Python source → WebAssembly component, with componentize-py and the shipped adapter.
//!
//! The user's module, the adapter (`adapter/quidditch_adapter.py`, which implements the WIT
//! exports on top of the user's `filter`/`score`) and the WIT world are written to a temporary
//! directory, then `componentize-py -d <wit> -w udf componentize quidditch_adapter` builds a
//! component embedding CPython with the interpreter state pre-initialised (module-level code
//! has already run when the component is instantiated).

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

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
/// The module name the user's source is saved under.
pub const USER_MODULE: &str = "quidditch_user_udf";
const WORLD: &str = "udf";

/// Linear memory a Python UDF gets unless its upload says otherwise: the interpreter alone
/// takes ~12.5 MiB (199 wasm pages) before any UDF code runs.
pub const DEFAULT_MEMORY_BYTES: u64 = 64 * 1024 * 1024;
/// Per-call time a Python UDF gets unless its upload says otherwise: interpreted Python
/// evaluates a block of documents per call at ~1-2 µs per document and field.
pub const DEFAULT_CALL_TIMEOUT_MS: u64 = 1_000;

/// A compiled Python UDF.
#[derive(Debug, Clone)]
pub struct PythonComponent {
    /// The component binary (≈18 MB: it embeds CPython and the standard library it uses).
    pub wasm: Vec<u8>,
    pub metadata: PythonMetadata,
    /// Wall time of componentize-py.
    pub compile_time: Duration,
    /// `componentize-py --version` output, e.g. `componentize-py 0.25.1`.
    pub tool_version: String,
}

/// Runs componentize-py. Cheap to create; share one per process so the concurrency limit holds.
pub struct PythonCompiler {
    tool: PathBuf,
    timeout: Duration,
    /// Compilations running at once. Each takes a core and a few hundred MB for seconds.
    running: Mutex<usize>,
    slot_freed: Condvar,
    max_concurrent: usize,
}

impl Default for PythonCompiler {
    fn default() -> Self {
        Self::from_env()
    }
}

impl PythonCompiler {
    /// The process-wide compiler (`from_env`), so every caller shares its concurrency limit.
    pub fn global() -> &'static PythonCompiler {
        static GLOBAL: std::sync::OnceLock<PythonCompiler> = std::sync::OnceLock::new();
        GLOBAL.get_or_init(PythonCompiler::from_env)
    }

    /// Uses `$QUIDDITCH_COMPONENTIZE_PY` or `componentize-py` from PATH.
    pub fn from_env() -> Self {
        let tool = std::env::var_os(TOOL_ENV)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(DEFAULT_TOOL));
        Self::with_tool(tool)
    }

    pub fn with_tool(tool: impl Into<PathBuf>) -> Self {
        let mut tool = tool.into();
        // A relative path with a directory (`.venv/bin/componentize-py`) must not be resolved
        // against the temporary build directory the tool runs in.
        if tool.is_relative() && tool.components().count() > 1 {
            tool = std::path::absolute(&tool).unwrap_or(tool);
        }
        PythonCompiler {
            tool,
            timeout: Duration::from_secs(120),
            running: Mutex::new(0),
            slot_freed: Condvar::new(),
            max_concurrent: 1,
        }
    }

    /// Upper bound on one compilation (module-level code runs at build time and could loop).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    pub fn max_concurrent(mut self, n: usize) -> Self {
        self.max_concurrent = n.max(1);
        self
    }

    pub fn tool(&self) -> &Path {
        &self.tool
    }

    /// `componentize-py --version`, or `ToolMissing`.
    pub fn tool_version(&self) -> Result<String, PythonUdfError> {
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

    fn missing(&self, reason: String) -> PythonUdfError {
        PythonUdfError::ToolMissing {
            tool: self.tool.display().to_string(),
            reason,
            expected_version: COMPONENTIZE_PY_VERSION,
        }
    }

    /// Extracts the metadata (failing fast on syntax errors, before any process starts), then
    /// compiles. Blocking: seconds. Call it from a blocking thread.
    pub fn compile(&self, source: &str) -> Result<PythonComponent, PythonUdfError> {
        let metadata = extract_metadata(source)?;
        let tool_version = self.tool_version()?;
        let _slot = self.acquire_slot();
        let dir = tempfile::Builder::new().prefix("quidditch-python-").tempdir()?;
        let wit_dir = dir.path().join("wit");
        std::fs::create_dir(&wit_dir)?;
        std::fs::write(wit_dir.join("quidditch-udf.wit"), WIT_SOURCE)?;
        std::fs::write(dir.path().join(format!("{ADAPTER_MODULE}.py")), ADAPTER_SOURCE)?;
        std::fs::write(dir.path().join(format!("{USER_MODULE}.py")), source)?;
        let out = dir.path().join("udf.wasm");

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
            // Only the user's directory (and the stdlib) is importable: no packages from
            // whatever virtualenv the server happens to run in.
            .env_remove("VIRTUAL_ENV")
            .env("RUST_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| self.missing(e.to_string()))?;
        let (status, output) = wait_with_timeout(child, self.timeout)?;
        let compile_time = started.elapsed();
        let Some(status) = status else {
            return Err(PythonUdfError::CompileTimeout(self.timeout));
        };
        if !status.success() {
            return Err(compile_failure(&output));
        }
        let wasm = std::fs::read(&out)?;
        tracing::info!(
            bytes = wasm.len(),
            ms = compile_time.as_millis() as u64,
            "compiled a Python UDF with componentize-py"
        );
        Ok(PythonComponent { wasm, metadata, compile_time, tool_version })
    }

    fn acquire_slot(&self) -> SlotGuard<'_> {
        // A poisoned lock only means another compilation panicked; the counter is still valid.
        let mut running = self.running.lock().unwrap_or_else(|e| e.into_inner());
        while *running >= self.max_concurrent {
            running = self.slot_freed.wait(running).unwrap_or_else(|e| e.into_inner());
        }
        *running += 1;
        SlotGuard(self)
    }
}

struct SlotGuard<'a>(&'a PythonCompiler);

impl Drop for SlotGuard<'_> {
    fn drop(&mut self) {
        let mut running = self.0.running.lock().unwrap_or_else(|e| e.into_inner());
        *running = running.saturating_sub(1);
        self.0.slot_freed.notify_one();
    }
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

/// A readable error from componentize-py's output. When the module raised at import time the
/// output holds the Python traceback; the message names the exception and the source line.
fn compile_failure(output: &str) -> PythonUdfError {
    // componentize-py wraps the guest traceback as `AssertionError: Traceback …` followed by
    // `Caused by:` and the exception line.
    let traceback = output
        .split_once("AssertionError: ")
        .map(|(_, rest)| rest.split("\n\nCaused by:").next().unwrap_or(rest))
        .unwrap_or(output)
        .trim();
    let exception = traceback
        .lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('^') && !l.starts_with('~'))
        .unwrap_or("componentize-py failed without output");
    let user_file = format!("{USER_MODULE}.py\", line ");
    let line = traceback.lines().rev().find_map(|l| {
        let rest = &l[l.find(&user_file)? + user_file.len()..];
        rest.split(|c: char| !c.is_ascii_digit()).next()?.parse::<usize>().ok()
    });
    let message = match line {
        Some(line) => format!("{exception} (line {line}, while importing the module)"),
        None => exception.to_string(),
    };
    // Paths of the temporary build directory mean nothing to the user, and the adapter's
    // import frame is noise: keep the header and the frames from the user's module on.
    let output = traceback.replace(&format!("/0/{USER_MODULE}.py"), "<udf>");
    let output = match (output.find("Traceback (most recent call last):"), output.find("  File \"<udf>\"")) {
        (Some(0), Some(user)) => format!("Traceback (most recent call last):\n{}", &output[user..]),
        _ => output,
    };
    PythonUdfError::CompileFailed { message, output }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn import_time_exception_names_type_message_and_line() {
        let output = "Traceback (most recent call last):\n  File \"/x/componentize-py\", line 8, in <module>\n    sys.exit(script())\nAssertionError: Traceback (most recent call last):\n  File \"/0/quidditch_adapter.py\", line 90, in <module>\n    import quidditch_user_udf as _user\n  File \"/0/quidditch_user_udf.py\", line 3, in <module>\n    x = 1/0\n        ~^~\nZeroDivisionError: division by zero\n\n\nCaused by:\n    ZeroDivisionError: division by zero\n";
        let PythonUdfError::CompileFailed { message, output } = compile_failure(output) else {
            panic!("expected CompileFailed")
        };
        assert_eq!(message, "ZeroDivisionError: division by zero (line 3, while importing the module)");
        assert!(output.starts_with("Traceback (most recent call last):\n  File \"<udf>\", line 3"), "{output}");
        assert!(!output.contains("quidditch_adapter"), "{output}");
    }

    #[test]
    fn missing_tool_is_a_503_naming_the_tool() {
        let compiler = PythonCompiler::with_tool("/nonexistent/componentize-py");
        let err = compiler.compile("def filter(doc, params):\n    return True\n").unwrap_err();
        assert_eq!(err.status(), 503);
        assert!(err.to_string().contains("componentize-py"), "{err}");
    }
}
