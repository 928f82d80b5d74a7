//! `quidditch udf build`: detect a UDF's language and compile it to a core module with the
//! usual toolchain (cargo → wasm32-wasip1, clang → wasm32-wasi, the `wat` crate). Python is
//! compiled by the server at upload; here it is only checked.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use clap::Args;
use sha2::{Digest, Sha256};

use super::output::Output;
use super::progress::Progress;
use super::{CliError, CliResult, read_file, usage};

/// `quidditch_udf.h`, embedded so `udf build` works on a C UDF outside this repository.
const C_HEADER: &str = include_str!("../../../../sdk/c/quidditch_udf.h");

const RUST_TARGET: &str = "wasm32-wasip1";

#[derive(Debug, Args)]
pub struct BuildArgs {
    /// The UDF: a directory, or a single .c / .wat / .py file.
    pub path: PathBuf,
    #[command(flatten)]
    pub options: BuildOptions,
}

#[derive(Debug, Clone, Args)]
pub struct BuildOptions {
    /// Where to write the .wasm (default: `<dir>/build/<name>.wasm`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Cargo target directory for Rust UDFs (default: `<dir>/target`).
    #[arg(long, env = "QUIDDITCH_WASM_TARGET_DIR")]
    pub target_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Language {
    Rust,
    C,
    Wat,
    Python,
    /// A prebuilt `.wasm` (only for `push`).
    Wasm,
}

impl Language {
    pub fn as_str(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::C => "c",
            Language::Wat => "wat",
            Language::Python => "python",
            Language::Wasm => "wasm",
        }
    }
}

/// What a build produced: a core module, or Python source for the server to compile.
pub struct Artifact {
    pub language: Language,
    /// A name suggestion (directory or file stem), used when `push` gets no `--name`.
    pub name_hint: String,
    /// The directory the UDF lives in (where `udf.json` is looked up).
    pub dir: PathBuf,
    pub wasm: Option<(PathBuf, Vec<u8>)>,
    pub python: Option<PythonSource>,
}

/// A Python UDF: its source and what the server will read from it.
pub struct PythonSource {
    pub path: PathBuf,
    pub text: String,
    pub metadata: quidditch_python::PythonMetadata,
}

pub fn run(out: &Output, args: BuildArgs) -> CliResult<()> {
    let artifact = build(&args.path, &args.options)?;
    out.built(&artifact);
    Ok(())
}

pub fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// Detects the language of `path` and builds it.
pub fn build(path: &Path, options: &BuildOptions) -> CliResult<Artifact> {
    let (language, dir, sources) = detect(path)?;
    let name_hint = name_hint(path);
    let mut artifact = Artifact { language, name_hint: name_hint.clone(), dir: dir.clone(), wasm: None, python: None };
    let out_path = || options.out.clone().unwrap_or_else(|| dir.join("build").join(format!("{}.wasm", name_hint.replace('-', "_"))));
    match language {
        Language::Wasm => {
            let bytes = read_file(&sources[0])?;
            artifact.wasm = Some((sources[0].clone(), bytes));
        }
        Language::Python => {
            let bytes = read_file(&sources[0])?;
            let text = String::from_utf8(bytes)
                .map_err(|_| usage(format!("{} is not UTF-8 text", sources[0].display())))?;
            // The same AST reading the server does, so mistakes show up before the upload.
            let metadata = quidditch_python::extract_metadata(&text)
                .map_err(|e| CliError::Build(format!("{}: {e}", sources[0].display())))?;
            artifact.python = Some(PythonSource { path: sources[0].clone(), text, metadata });
        }
        Language::Wat => {
            let wasm = wat::parse_file(&sources[0]).map_err(|e| CliError::Build(format!("{e}")))?;
            artifact.wasm = Some(write_output(&out_path(), wasm)?);
        }
        Language::C => {
            let out = out_path();
            build_c(&dir, &sources, &out)?;
            let bytes = read_file(&out)?;
            artifact.wasm = Some((out, bytes));
        }
        Language::Rust => {
            let built = build_rust(&dir, options.target_dir.as_deref())?;
            let bytes = read_file(&built)?;
            artifact.wasm = Some(write_output(&out_path(), bytes)?);
        }
    }
    Ok(artifact)
}

fn name_hint(path: &Path) -> String {
    let base = if path.is_dir() { path.canonicalize().ok().and_then(|p| p.file_name().map(|n| n.to_owned())) } else { path.file_stem().map(|n| n.to_owned()) };
    base.map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "udf".to_string())
}

fn write_output(path: &Path, bytes: Vec<u8>) -> CliResult<(PathBuf, Vec<u8>)> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| usage(format!("cannot create {}: {e}", parent.display())))?;
    }
    std::fs::write(path, &bytes).map_err(|e| usage(format!("cannot write {}: {e}", path.display())))?;
    Ok((path.to_path_buf(), bytes))
}

/// (language, the UDF's directory, its source files).
fn detect(path: &Path) -> CliResult<(Language, PathBuf, Vec<PathBuf>)> {
    if !path.exists() {
        return Err(usage(format!("{} does not exist", path.display())));
    }
    if path.is_file() {
        let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(|| PathBuf::from("."));
        let dir = if dir.as_os_str().is_empty() { PathBuf::from(".") } else { dir };
        let lang = match path.extension().and_then(|e| e.to_str()) {
            Some("wasm") => Language::Wasm,
            Some("wat") => Language::Wat,
            Some("c") => Language::C,
            Some("py") => Language::Python,
            Some("toml") if path.file_name().is_some_and(|n| n == "Cargo.toml") => {
                return Ok((Language::Rust, dir, vec![]));
            }
            _ => {
                return Err(usage(format!(
                    "cannot tell the language of {}: expected a directory or a .wasm, .wat, .c or .py file",
                    path.display()
                )));
            }
        };
        return Ok((lang, dir, vec![path.to_path_buf()]));
    }
    let dir = path.to_path_buf();
    if dir.join("Cargo.toml").is_file() {
        return Ok((Language::Rust, dir, vec![]));
    }
    let by_ext = |ext: &str| -> CliResult<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(|e| usage(format!("cannot read {}: {e}", dir.display())))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| p.is_file() && p.extension().is_some_and(|e| e == ext))
            .collect();
        files.sort();
        Ok(files)
    };
    let c = by_ext("c")?;
    if !c.is_empty() {
        return Ok((Language::C, dir, c));
    }
    for (ext, lang) in [("wat", Language::Wat), ("py", Language::Python)] {
        let files = by_ext(ext)?;
        match files.len() {
            0 => continue,
            1 => return Ok((lang, dir, files)),
            _ => {
                return Err(usage(format!(
                    "{} has several .{ext} files; pass the one to build",
                    dir.display()
                )));
            }
        }
    }
    Err(usage(format!(
        "no UDF found in {}: expected Cargo.toml (Rust), *.c (C), *.wat (WAT) or *.py (Python)",
        dir.display()
    )))
}

fn run_tool(cmd: &mut Command, what: &str) -> CliResult<std::process::Output> {
    let progress = Progress::start(what.to_string());
    let result = cmd.stderr(Stdio::inherit()).output();
    let ok = matches!(&result, Ok(o) if o.status.success());
    progress.finish(ok);
    let output = result.map_err(|e| {
        CliError::Build(format!("cannot run {:?}: {e} (is the toolchain installed? see docs/udf-guide.md)", cmd.get_program()))
    })?;
    if !output.status.success() {
        return Err(CliError::Build(format!("{what} failed ({})", output.status)));
    }
    Ok(output)
}

fn build_c(dir: &Path, sources: &[PathBuf], out: &Path) -> CliResult<()> {
    let build_dir = out.parent().unwrap_or(Path::new(".")).to_path_buf();
    let include = build_dir.join("include");
    std::fs::create_dir_all(&include).map_err(|e| usage(format!("cannot create {}: {e}", include.display())))?;
    std::fs::write(include.join("quidditch_udf.h"), C_HEADER)
        .map_err(|e| usage(format!("cannot write {}: {e}", include.display())))?;
    let clang = std::env::var("QUIDDITCH_CLANG").unwrap_or_else(|_| "clang".to_string());
    let mut cmd = Command::new(clang);
    // Debian's clang finds wasi-libc for this target without --sysroot.
    cmd.args(["--target=wasm32-wasi", "-O2", "-nostartfiles", "-Wl,--no-entry", "-Wl,--strip-all"]);
    for export in ["filter", "score", "filter_batch", "score_batch", "udf_buffer"] {
        cmd.arg(format!("-Wl,--export-if-defined={export}"));
    }
    cmd.arg("-I").arg(dir).arg("-I").arg(&include).arg("-o").arg(out).args(sources);
    run_tool(&mut cmd, "compiling C UDF (clang → wasm32-wasi)")?;
    Ok(())
}

fn ensure_rust_target() {
    let Ok(list) = Command::new("rustup").args(["target", "list", "--installed"]).output() else {
        return; // no rustup: cargo reports a missing target itself
    };
    if String::from_utf8_lossy(&list.stdout).lines().any(|l| l.trim() == RUST_TARGET) {
        return;
    }
    eprintln!("installing the Rust target {RUST_TARGET} (rustup target add {RUST_TARGET})");
    let _ = Command::new("rustup").args(["target", "add", RUST_TARGET]).stdout(Stdio::null()).status();
}

/// `cargo build --release --target wasm32-wasip1`; returns the cdylib's path (from cargo's
/// JSON messages, so a renamed `[lib]` or a shared target dir just work).
fn build_rust(dir: &Path, target_dir: Option<&Path>) -> CliResult<PathBuf> {
    ensure_rust_target();
    let mut cmd = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_string()));
    cmd.args(["build", "--release", "--target", RUST_TARGET, "--message-format=json-render-diagnostics"])
        .arg("--manifest-path")
        .arg(dir.join("Cargo.toml"))
        .stdout(Stdio::piped());
    if let Some(t) = target_dir {
        cmd.arg("--target-dir").arg(t);
    }
    let output = run_tool(&mut cmd, "compiling Rust UDF (cargo → wasm32-wasip1)")?;
    let mut wasm = None;
    for line in String::from_utf8_lossy(&output.stdout).lines() {
        let Ok(msg) = serde_json::from_str::<serde_json::Value>(line) else { continue };
        if msg["reason"] != "compiler-artifact" {
            continue;
        }
        let in_this_crate = msg["manifest_path"]
            .as_str()
            .is_some_and(|m| Path::new(m).parent().and_then(|p| p.canonicalize().ok()) == dir.canonicalize().ok());
        if !in_this_crate {
            continue;
        }
        if let Some(files) = msg["filenames"].as_array() {
            for f in files.iter().filter_map(|f| f.as_str()) {
                if f.ends_with(".wasm") {
                    wasm = Some(PathBuf::from(f));
                }
            }
        }
    }
    wasm.ok_or_else(|| {
        CliError::Build(format!(
            "cargo built no .wasm for {}: the crate needs `[lib] crate-type = [\"cdylib\"]`",
            dir.display()
        ))
    })
}
