//! The SDK against the real runtime (quidditch-udf on wasmtime), not the mock host: builds
//! `tests/guest` and the string-distance example for wasm32-wasip1, registers them, and checks
//! every wrapper, the buffer-too-small retry, logging and the batched exports.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quidditch_udf::{JsonDocument, LoadedUdf, RegisterRequest, UdfConfig, UdfMetadata, UdfRegistry};
use serde_json::{Value, json};

const TARGET: &str = "wasm32-wasip1";

/// Builds a guest crate; the target dir is `$QUIDDITCH_WASM_TARGET_DIR` when set, else one under
/// cargo's test tmp dir (inside the workspace's target dir).
fn build_guest(manifest_dir: &Path, artifact: &str) -> Vec<u8> {
    let target_dir = std::env::var_os("QUIDDITCH_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("wasm"));
    let installed = Command::new("rustup").args(["target", "list", "--installed"]).output();
    if installed.is_ok_and(|o| !String::from_utf8_lossy(&o.stdout).lines().any(|l| l == TARGET)) {
        let _ = Command::new("rustup").args(["target", "add", TARGET]).status();
    }
    let status = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
        .args(["build", "--release", "--target", TARGET])
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .env_remove("RUSTFLAGS")
        .env_remove("CARGO_ENCODED_RUSTFLAGS")
        .status()
        .expect("run cargo");
    assert!(status.success(), "building {} failed", manifest_dir.display());
    std::fs::read(target_dir.join(TARGET).join("release").join(format!("{artifact}.wasm"))).expect("read the built guest")
}

fn register(dir: &Path, metadata: Value, binary: Vec<u8>) -> Arc<LoadedUdf> {
    let registry = UdfRegistry::open(dir, UdfConfig::default()).expect("open registry");
    let metadata: UdfMetadata = serde_json::from_value(metadata).expect("metadata");
    let name = metadata.name.clone();
    registry
        .register(RegisterRequest { metadata, binary, signature: None, actor: "test".into() })
        .unwrap_or_else(|e| panic!("register {name}: {e}"));
    registry.resolve(&name, None).expect("resolve")
}

fn params(udf: &LoadedUdf, given: Value) -> Arc<quidditch_udf::BoundParams> {
    udf.bind_params(given.as_object().expect("object")).expect("bind params")
}

fn deadline() -> Instant {
    Instant::now() + Duration::from_secs(5)
}

fn probe_udf(dir: &Path) -> Arc<LoadedUdf> {
    let guest = build_guest(&Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guest"), "sdk_probe");
    register(
        dir,
        json!({
            "name": "sdk_probe", "version": "1.0.0", "language": "rust",
            "parameters": [
                {"name": "flag", "type": "bool", "default": false},
                {"name": "k", "type": "i64", "default": 7},
                {"name": "long_param", "type": "string", "default": ""},
                {"name": "boost", "type": "f64", "default": 1.0},
                {"name": "max_price", "type": "f64", "default": 10.0}
            ]
        }),
        guest,
    )
}

#[test]
fn every_wrapper_reads_what_the_host_holds() {
    let dir = tempfile::tempdir().unwrap();
    let udf = probe_udf(dir.path());
    let long: String = "é".repeat(3000); // 6000 bytes: several buffer-too-small retries
    let doc = json!({
        "long": long, "user": {"name": "Ginny"}, "tags": ["a", "b"], "price": 2.5,
        "count": 4, "active": true,
    });
    let p = params(&udf, json!({"flag": true, "long_param": "ü".repeat(700)}));
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    inst.set_documents(Box::new(JsonDocument::new("doc-".to_string() + &"x".repeat(200), doc)));
    assert!(inst.filter(0, 1.5).unwrap());
    let (logs, truncated) = inst.take_logs();
    assert!(!truncated);
    let text: Vec<String> = logs.iter().map(|l| l.message.clone()).collect();
    let expected = [
        format!("id=doc-{}", "x".repeat(200)),
        "score=1.5".to_string(),
        "long_chars=3000".to_string(),
        "long_param_chars=700".to_string(),
        "nested=Some(\"Ginny\")".to_string(),
        "tag1=Some(\"b\")".to_string(),
        "tags=Some(\"[\\\"a\\\",\\\"b\\\"]\")".to_string(),
        "price=Some(2.5)".to_string(),
        "count=Some(4)".to_string(),
        "count_f64=Some(4.0)".to_string(),
        "price_i64=true".to_string(),
        "missing=true".to_string(),
        "active=Some(true)".to_string(),
        "has_price=true has_missing=false".to_string(),
        "k=Some(7)".to_string(),
    ];
    assert_eq!(text, expected);
    assert_eq!(format!("{:?}", logs.last().unwrap().level).to_lowercase(), "warn");

    // Declared default `flag = false`.
    let mut inst = udf.instantiate(params(&udf, json!({})), deadline()).unwrap();
    inst.set_documents(Box::new(JsonDocument::new("1", json!({}))));
    assert!(!inst.filter(0, 1.0).unwrap());
}

#[test]
fn score_and_batched_exports() {
    let dir = tempfile::tempdir().unwrap();
    let udf = probe_udf(dir.path());
    let docs: Vec<(String, Value)> = vec![
        ("a".into(), json!({"price": 5, "count": 1})),
        ("b".into(), json!({"price": 50.0})),
        ("c".into(), json!({"price": "free", "count": 3})),
        ("d".into(), json!({"price": 10.0, "count": 2})),
    ];
    let mut inst = udf.instantiate(params(&udf, json!({"boost": 2.0})), deadline()).unwrap();
    assert!(inst.has_batch());
    inst.set_documents(Box::new(JsonDocument::many(docs.clone())));
    assert_eq!(inst.score(0, 1.5).unwrap(), 1.5 * 2.0 + 5.0);

    let ids: Vec<u32> = (0..docs.len() as u32).collect();
    let scores = [0.5f32, 1.0, 1.5, 2.0];
    let mut keep = Vec::new();
    inst.filter_batch(&ids, &scores, &mut keep).unwrap();
    assert_eq!(keep, [true, false, false, true]);
    let mut out = Vec::new();
    inst.score_batch(&ids, &scores, &mut out).unwrap();
    assert_eq!(out, [1.0 + 0.5, -1.0 + 1.0, 3.0 + 1.5, 2.0 + 2.0]);

    // Many blocks of growing size through one instance: the host reuses or regrows the
    // guest's udf_buffer; every block must see its own documents.
    let many: Vec<(String, Value)> = (0..3000).map(|i| (i.to_string(), json!({"price": i % 20}))).collect();
    inst.set_documents(Box::new(JsonDocument::many(many)));
    for n in [1usize, 7, 64, 1000, 3000, 5] {
        let ids: Vec<u32> = (0..n as u32).collect();
        let mut keep = Vec::new();
        inst.filter_batch(&ids, &vec![1.0; n], &mut keep).unwrap();
        let expected: Vec<bool> = (0..n).map(|i| i % 20 <= 10).collect();
        assert_eq!(keep, expected, "block of {n}");
    }
}

#[test]
fn string_distance_example_single_and_batch_agree() {
    let dir = tempfile::tempdir().unwrap();
    let example = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/udfs/string-distance");
    let metadata: Value = serde_json::from_slice(&std::fs::read(example.join("udf.json")).unwrap()).unwrap();
    let udf = register(dir.path(), metadata, build_guest(&example, "string_distance"));
    let names = ["quidditch", "quiditch", "kwidditch", "cricket", "", "quidditch!!!"];
    let docs: Vec<(String, Value)> = names.iter().enumerate().map(|(i, n)| (i.to_string(), json!({"name": n}))).collect();
    let ids: Vec<u32> = (0..docs.len() as u32).collect();
    for max in [0, 1, 2, 3] {
        let mut inst = udf.instantiate(params(&udf, json!({"target": "quidditch", "max_distance": max})), deadline()).unwrap();
        inst.set_documents(Box::new(JsonDocument::many(docs.clone())));
        let single: Vec<bool> = ids.iter().map(|&i| inst.filter(i, 1.0).unwrap()).collect();
        let mut batch = Vec::new();
        inst.filter_batch(&ids, &vec![1.0; ids.len()], &mut batch).unwrap();
        assert_eq!(single, batch, "max_distance {max}");
        let expected = [true, max >= 1, max >= 2, false, false, max >= 3];
        assert_eq!(single, expected, "max_distance {max}");
    }
}
