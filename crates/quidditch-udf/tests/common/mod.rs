//! Shared helpers for the runtime tests: a registry in a temp dir, WAT fixtures, uploads.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quidditch_udf::*;
use serde_json::{Value, json};

pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/wat").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    compile_wat(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

pub fn open(dir: &std::path::Path, config: UdfConfig) -> Arc<UdfRegistry> {
    UdfRegistry::open(dir, config).expect("open registry")
}

pub fn meta(name: &str, version: &str, params: Value) -> UdfMetadata {
    let mut m = UdfMetadata::new(name, version);
    m.language = Language::Wat;
    m.parameters = serde_json::from_value(params).expect("params");
    m
}

pub fn register(reg: &UdfRegistry, metadata: UdfMetadata, binary: Vec<u8>) -> Result<Arc<LoadedUdf>, UdfError> {
    reg.register(RegisterRequest { metadata, binary, signature: None, actor: "test".into() })
}

pub fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

/// Runs `score` once on a JSON document with the given parameters.
pub fn score_once(udf: &Arc<LoadedUdf>, doc: Value, params: Value) -> (Result<f64, UdfError>, Vec<LogEntry>) {
    let p = udf.bind_params(params.as_object().expect("object")).expect("bind");
    let mut inst = udf.instantiate(p, deadline()).expect("instantiate");
    inst.set_documents(Box::new(JsonDocument::new("doc-1", doc)));
    let r = inst.score(0, 1.5);
    let (logs, _) = inst.take_logs();
    (r, logs)
}

pub fn probe_params() -> Value {
    json!([
        {"name": "op", "type": "i64", "required": true},
        {"name": "name", "type": "string", "default": ""},
        {"name": "cap", "type": "i64", "default": 256},
        {"name": "p_i64", "type": "integer", "default": 7},
        {"name": "p_f64", "type": "double", "default": 2.5},
        {"name": "p_bool", "type": "boolean", "default": true},
        {"name": "p_str", "type": "string", "default": "hello"}
    ])
}

/// Builds tests/fixtures/component-guest (wit-bindgen, wasm32-wasip2) and returns the binary.
pub fn component_guest() -> Vec<u8> {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/component-guest/build.sh");
    let out = std::process::Command::new(&script)
        .env_remove("CARGO_TARGET_DIR")
        .output()
        .unwrap_or_else(|e| panic!("running {}: {e}", script.display()));
    assert!(out.status.success(), "building the component guest failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}
