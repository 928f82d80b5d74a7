//! `quidditch udf push`: build (if needed), assemble the metadata, sign, upload.

use std::path::{Path, PathBuf};

use base64::Engine as _;
use clap::Args;
use serde_json::{Map, Value, json};

use super::build::{self, BuildOptions, Language};
use super::client::Client;
use super::output::Output;
use super::progress::Progress;
use super::{CliResult, keygen, read_file, usage};

/// The metadata file `push` reads from a UDF's directory when `--metadata` is not given.
pub const METADATA_FILE: &str = "udf.json";

#[derive(Debug, Args)]
pub struct PushArgs {
    /// A .wasm, .wat or .py file, or a UDF directory (built first, see `udf build`).
    pub path: PathBuf,
    /// UDF name (default: `name` in the metadata file).
    #[arg(long)]
    pub name: Option<String>,
    /// Semantic version, e.g. 1.0.0 (default: `version` in the metadata file).
    #[arg(long)]
    pub version: Option<String>,
    /// Metadata JSON (name, version, description, parameters, returns, permissions, limits…);
    /// default: `udf.json` next to the UDF when present. Flags override its fields.
    #[arg(long)]
    pub metadata: Option<PathBuf>,
    /// Declare a parameter: `NAME:TYPE`, `NAME:TYPE=DEFAULT` or `NAME:TYPE!` (required).
    /// TYPE is string, i64, f64 or bool; DEFAULT is JSON (`2`, `true`, `"x"`) or a bare string.
    /// Repeatable; replaces the metadata file's parameter of the same name.
    #[arg(long = "param", alias = "param-spec", value_name = "SPEC")]
    pub params: Vec<String>,
    /// One-line description, shown by `udf list`.
    #[arg(long)]
    pub description: Option<String>,
    /// What the UDF returns: bool (a filter) or f64 (a score).
    #[arg(long)]
    pub returns: Option<String>,
    /// Permissions to grant (read_document, write_log, clocks, random, env). Repeatable;
    /// replaces the metadata file's list.
    #[arg(long = "permission", value_name = "PERMISSION")]
    pub permissions: Vec<String>,
    /// Sign the binary with this Ed25519 private key file (from `quidditch keygen`).
    #[arg(long, value_name = "KEY_FILE")]
    pub sign: Option<PathBuf>,
    #[command(flatten)]
    pub build: BuildOptions,
}

pub fn run(out: &Output, client: &Client, args: PushArgs) -> CliResult<()> {
    let artifact = build::build(&args.path, &args.build)?;
    let mut meta = load_metadata(args.metadata.as_deref(), &artifact.dir, args.path.is_dir())?;

    if let Some(n) = &args.name {
        meta.insert("name".into(), json!(n));
    }
    if let Some(v) = &args.version {
        meta.insert("version".into(), json!(v));
    }
    if let Some(d) = &args.description {
        meta.insert("description".into(), json!(d));
    }
    if let Some(r) = &args.returns {
        meta.insert("returns".into(), json!(r));
    }
    if !args.permissions.is_empty() {
        meta.insert("permissions".into(), json!(args.permissions));
    }
    if !args.params.is_empty() {
        merge_params(&mut meta, &args.params)?;
    }
    // A Python UDF may name itself (`# @udf: name=…, version=…`); the server reads those too.
    if let Some(py) = &artifact.python {
        for (key, value) in [("name", &py.metadata.name), ("version", &py.metadata.version)] {
            if let Some(v) = value {
                meta.entry(key).or_insert_with(|| json!(v));
            }
        }
    }
    if !meta.contains_key("name") {
        return Err(usage(format!(
            "no UDF name: pass --name or put \"name\" in {METADATA_FILE} (e.g. --name {})",
            artifact.name_hint
        )));
    }
    if !meta.contains_key("version") {
        return Err(usage(format!("no version: pass --version (e.g. 1.0.0) or put \"version\" in {METADATA_FILE}")));
    }
    meta.entry("language").or_insert_with(|| json!(artifact.language.as_str()));

    let name = meta["name"].as_str().unwrap_or_default().to_string();
    let version = meta["version"].as_str().unwrap_or_default().to_string();
    let (payload, size, what) = match (&artifact.wasm, &artifact.python) {
        (Some((_, wasm)), _) => {
            meta.insert("wasm_base64".into(), json!(base64::engine::general_purpose::STANDARD.encode(wasm)));
            (wasm.as_slice(), wasm.len(), "")
        }
        (None, Some(py)) => {
            meta.insert("source".into(), json!(py.text));
            (py.text.as_bytes(), py.text.len(), ", Python source: the server compiles it")
        }
        (None, None) => return Err(usage("nothing to upload")),
    };
    if let Some(key_file) = &args.sign {
        if artifact.language == Language::Python {
            return Err(usage(
                "--sign signs a binary; a Python UDF is compiled by the server. Build it to a .wasm component and push that to sign it",
            ));
        }
        let key = keygen::load_signing_key(key_file)?;
        meta.insert("signature".into(), json!(keygen::sign_binary(&key, payload)));
    }

    let progress = Progress::start(format!("uploading {name}@{version} ({}{what})", human_bytes(size)));
    let result = client.post_json("/api/v1/udfs", &Value::Object(meta));
    progress.finish(result.is_ok());
    out.pushed(&name, &version, &result?);
    Ok(())
}

pub fn human_bytes(n: usize) -> String {
    match n {
        n if n >= 1 << 20 => format!("{:.1} MB", n as f64 / (1u64 << 20) as f64),
        n if n >= 1 << 10 => format!("{:.1} KB", n as f64 / 1024.0),
        n => format!("{n} bytes"),
    }
}

fn load_metadata(explicit: Option<&Path>, dir: &Path, from_dir: bool) -> CliResult<Map<String, Value>> {
    let path = match explicit {
        Some(p) => p.to_path_buf(),
        None => {
            let p = dir.join(METADATA_FILE);
            // A metadata file only applies implicitly to its own directory's UDF.
            if !from_dir || !p.is_file() {
                return Ok(Map::new());
            }
            p
        }
    };
    let bytes = read_file(&path)?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err(usage(format!("{} must hold a JSON object", path.display()))),
        Err(e) => Err(usage(format!("{} is not valid JSON: {e}", path.display()))),
    }
}

/// Parses `NAME:TYPE[=DEFAULT]` / `NAME:TYPE!` into a parameter declaration.
pub fn parse_param_spec(spec: &str) -> CliResult<Value> {
    let bad = || usage(format!("--param {spec:?}: expected NAME:TYPE, NAME:TYPE=DEFAULT or NAME:TYPE! (TYPE: string, i64, f64, bool)"));
    let (name, rest) = spec.split_once(':').ok_or_else(bad)?;
    let (ty, default) = match rest.split_once('=') {
        Some((t, d)) => (t, Some(d)),
        None => (rest, None),
    };
    let (ty, required) = match ty.strip_suffix('!') {
        Some(t) => (t, true),
        None => (ty, false),
    };
    if name.is_empty() || !matches!(ty, "string" | "i64" | "f64" | "bool" | "integer" | "long" | "float" | "double" | "boolean") {
        return Err(bad());
    }
    let mut decl = json!({"name": name, "type": ty, "required": required});
    if let Some(d) = default {
        let value = if ty == "string" {
            serde_json::from_str::<Value>(d).ok().filter(Value::is_string).unwrap_or_else(|| json!(d))
        } else {
            serde_json::from_str(d).map_err(|_| usage(format!("--param {spec:?}: default {d:?} is not a {ty}")))?
        };
        decl["default"] = value;
    }
    Ok(decl)
}

fn merge_params(meta: &mut Map<String, Value>, specs: &[String]) -> CliResult<()> {
    let mut params = match meta.remove("parameters") {
        Some(Value::Array(a)) => a,
        _ => Vec::new(),
    };
    for spec in specs {
        let decl = parse_param_spec(spec)?;
        params.retain(|p| p["name"] != decl["name"]);
        params.push(decl);
    }
    meta.insert("parameters".into(), Value::Array(params));
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn param_specs() {
        assert_eq!(
            parse_param_spec("max_distance:i64=2").unwrap(),
            json!({"name": "max_distance", "type": "i64", "required": false, "default": 2})
        );
        assert_eq!(parse_param_spec("target:string!").unwrap(), json!({"name": "target", "type": "string", "required": true}));
        // Strings: JSON or bare; other types must parse as JSON.
        assert_eq!(parse_param_spec("f:string=name").unwrap()["default"], json!("name"));
        assert_eq!(parse_param_spec("f:string=\"a b\"").unwrap()["default"], json!("a b"));
        assert_eq!(parse_param_spec("f:string=12").unwrap()["default"], json!("12"));
        assert_eq!(parse_param_spec("on:bool=true").unwrap()["default"], json!(true));
        for bad in ["nocolon", ":i64", "x:float64", "x:i64=abc", "x:bool=yes"] {
            assert!(matches!(parse_param_spec(bad), Err(crate::cli::CliError::Usage(_))), "{bad}");
        }
    }

    #[test]
    fn params_replace_by_name() {
        let mut meta = Map::new();
        meta.insert("parameters".into(), json!([{"name": "a", "type": "i64", "default": 1}, {"name": "b", "type": "f64"}]));
        merge_params(&mut meta, &["a:i64=5".to_string(), "c:bool".to_string()]).unwrap();
        let names: Vec<&str> = meta["parameters"].as_array().unwrap().iter().map(|p| p["name"].as_str().unwrap()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(meta["parameters"][1]["default"], json!(5));
    }
}
