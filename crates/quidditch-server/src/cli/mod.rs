//! `quidditch udf …` and `quidditch keygen`: a client of the server's HTTP API.
//!
//! Exit codes (documented in `docs/udf-guide.md`; scripts rely on them):
//! `0` success, `1` the server answered with an error or could not be reached,
//! `2` usage error (bad flags, unreadable files, invalid JSON arguments), `3` build failed.

mod build;
mod client;
mod keygen;
mod output;
mod progress;
mod push;

use clap::{Args, Subcommand};
use serde_json::Value;

pub use keygen::{KeygenArgs, run_keygen};

use client::Client;
use output::Output;

/// Exit code: success.
pub const EXIT_OK: i32 = 0;
/// Exit code: the server answered with an error status, or could not be reached.
pub const EXIT_SERVER: i32 = 1;
/// Exit code: bad command line or local input (unreadable file, invalid JSON argument).
pub const EXIT_USAGE: i32 = 2;
/// Exit code: compiling the UDF failed (compiler output is on stderr).
pub const EXIT_BUILD: i32 = 3;

#[derive(Debug, Subcommand)]
pub enum UdfCommand {
    /// Compile a UDF directory to a .wasm (language detected: Cargo.toml → Rust, *.c → C,
    /// *.wat → WAT, *.py → Python, which the server compiles and is only checked here).
    Build(build::BuildArgs),
    /// Upload a UDF: a .wasm/.wat/.py file, or a directory that is built first.
    Push(push::PushArgs),
    /// Run a UDF on one document on the server and show the result and logs.
    Test(TestArgs),
    /// List registered UDFs.
    List,
    /// Show one UDF's metadata (latest version).
    Show {
        name: String,
    },
    /// List the versions of a UDF.
    Versions {
        name: String,
    },
    /// Show a UDF's execution statistics.
    Stats {
        name: String,
    },
    /// Delete one version of a UDF.
    Rm {
        name: String,
        version: String,
    },
}

#[derive(Debug, Args)]
pub struct TestArgs {
    /// The UDF's name.
    pub name: String,
    /// Version to run (default: the latest).
    #[arg(long)]
    pub version: Option<String>,
    /// The document, as JSON text or `@file.json`.
    #[arg(long, default_value = "{}")]
    pub doc: String,
    /// The parameters, as a JSON object or `@file.json`.
    #[arg(long, default_value = "{}")]
    pub params: String,
    /// The `_score` the document has when the UDF runs (what `get_score` returns).
    #[arg(long)]
    pub score: Option<f64>,
}

/// A failure with the exit code it maps to. Printed once, at the top.
#[derive(Debug)]
pub enum CliError {
    Usage(String),
    Build(String),
    /// The server answered with an error status; `body` is its (OpenSearch-style) error body.
    Server { status: u16, body: Value },
    /// No answer (connection refused, timeout, unreadable response).
    Transport(String),
}

impl CliError {
    pub fn exit_code(&self) -> i32 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            CliError::Build(_) => EXIT_BUILD,
            CliError::Server { .. } | CliError::Transport(_) => EXIT_SERVER,
        }
    }

    fn message(&self) -> String {
        match self {
            CliError::Usage(m) | CliError::Build(m) | CliError::Transport(m) => m.clone(),
            CliError::Server { status, body } => {
                let kind = body.pointer("/error/type").and_then(Value::as_str);
                let reason = body.pointer("/error/reason").and_then(Value::as_str);
                match (kind, reason) {
                    (Some(k), Some(r)) => format!("server answered {status}: {k}: {r}"),
                    _ => format!("server answered {status}: {body}"),
                }
            }
        }
    }

    /// The `--json` form: the server's own error body, or one shaped like it.
    fn to_json(&self) -> Value {
        match self {
            CliError::Server { body, .. } if body.get("error").is_some() => body.clone(),
            CliError::Server { status, body } => serde_json::json!({
                "error": {"type": "exception", "reason": body.to_string()}, "status": status
            }),
            other => {
                let kind = match other {
                    CliError::Usage(_) => "usage_error",
                    CliError::Build(_) => "build_error",
                    _ => "connection_error",
                };
                serde_json::json!({"error": {"type": kind, "reason": other.message()}, "exit_code": other.exit_code()})
            }
        }
    }
}

pub type CliResult<T> = Result<T, CliError>;

pub fn usage(message: impl Into<String>) -> CliError {
    CliError::Usage(message.into())
}

pub fn run_udf(server: &str, json: bool, cmd: UdfCommand) -> anyhow::Result<i32> {
    let out = Output { json };
    let client = Client::new(server);
    let result = match cmd {
        UdfCommand::Build(args) => build::run(&out, args),
        UdfCommand::Push(args) => push::run(&out, &client, args),
        UdfCommand::Test(args) => run_test(&out, &client, args),
        UdfCommand::List => client.get("/api/v1/udfs").map(|v| out.udf_list(&v)),
        UdfCommand::Show { name } => client.get(&format!("/api/v1/udfs/{}", client::segment(&name))).map(|v| out.udf_show(&v)),
        UdfCommand::Versions { name } => client
            .get(&format!("/api/v1/udfs/{}/versions", client::segment(&name)))
            .map(|v| out.udf_versions(&name, &v)),
        UdfCommand::Stats { name } => client
            .get(&format!("/api/v1/udfs/{}/stats", client::segment(&name)))
            .map(|v| out.udf_stats(&name, &v)),
        UdfCommand::Rm { name, version } => client
            .delete(&format!("/api/v1/udfs/{}/{}", client::segment(&name), client::segment(&version)))
            .map(|v| out.deleted(&name, &version, &v)),
    };
    Ok(match result {
        Ok(()) => EXIT_OK,
        Err(e) => {
            eprintln!("error: {}", e.message());
            // A failed `udf test` carries the logs the UDF wrote before failing.
            if let CliError::Server { body, .. } = &e {
                for entry in body.get("logs").and_then(Value::as_array).into_iter().flatten() {
                    let level = entry.get("level").and_then(Value::as_str).unwrap_or("?");
                    let message = entry.get("message").and_then(Value::as_str).unwrap_or_default();
                    eprintln!("  log [{level}] {message}");
                }
            }
            if json {
                println!("{}", e.to_json());
            }
            e.exit_code()
        }
    })
}

fn run_test(out: &Output, client: &Client, args: TestArgs) -> CliResult<()> {
    let document = json_arg("--doc", &args.doc)?;
    let parameters = json_arg("--params", &args.params)?;
    if !parameters.is_object() {
        return Err(usage("--params must be a JSON object"));
    }
    let mut body = serde_json::json!({"document": document, "parameters": parameters});
    if let Some(v) = args.version {
        body["version"] = Value::String(v);
    }
    if let Some(score) = args.score {
        body["score"] = serde_json::json!(score);
    }
    let answer = client.post_json(&format!("/api/v1/udfs/{}/test", client::segment(&args.name)), &body)?;
    out.test_result(&args.name, &answer);
    Ok(())
}

/// A JSON argument given inline or as `@path`.
fn json_arg(flag: &str, text: &str) -> CliResult<Value> {
    let text = match text.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|e| usage(format!("{flag}: cannot read {path}: {e}")))?,
        None => text.to_string(),
    };
    serde_json::from_str(&text).map_err(|e| usage(format!("{flag} is not valid JSON: {e}")))
}

/// Reads a file for the CLI, mapping failures to a usage error naming the path.
fn read_file(path: &std::path::Path) -> CliResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| usage(format!("cannot read {}: {e}", path.display())))
}
