//! Components (WIT world quidditch:udf/udf) behind the same interface as core modules.

mod common;

use common::*;
use quidditch_udf::*;
use serde_json::json;
use tempfile::TempDir;

#[test]
fn rust_component_filters_scores_batches_and_logs() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let wasm = component_guest();
    assert_eq!(detect_kind(&wasm), Some(BinaryKind::Component));
    let mut m = meta("even_component", "1.0.0", json!([{"name": "weight", "type": "f64", "default": 2.0}]));
    m.language = Language::Rust;
    let udf = register(&reg, m, wasm).unwrap();
    assert_eq!(udf.metadata.kind, BinaryKind::Component);
    assert_eq!(udf.metadata.exports, vec!["filter", "score", "filter_batch", "score_batch"]);

    let docs: Vec<(String, serde_json::Value)> =
        (0..10).map(|i| (format!("d{i}"), json!({"n": i as i64 - 3}))).collect();
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    inst.set_documents(Box::new(JsonDocument::many(docs.clone())));
    assert!(inst.has_batch());
    assert!(inst.filter(3, 0.0).unwrap()); // n = 0
    assert!(!inst.filter(4, 0.0).unwrap()); // n = 1
    assert_eq!(inst.score(5, 0.5).unwrap(), 2.0 * 2.0 + 0.5);
    let ids: Vec<u32> = (0..10).collect();
    let mut keep = Vec::new();
    inst.filter_batch(&ids, &[0.0; 10], &mut keep).unwrap();
    assert_eq!(keep, (0..10).map(|i| (i as i64 - 3) % 2 == 0).collect::<Vec<_>>());
    let mut scores = Vec::new();
    inst.score_batch(&ids, &[1.0; 10], &mut scores).unwrap();
    assert_eq!(scores[0], -6.0 * 1.0 + 1.0);
    let (logs, _) = inst.take_logs();
    assert!(logs.iter().any(|l| l.level == LogLevel::Warn && l.message == "negative n -3"), "{logs:?}");

    // A guest error names the UDF and the export.
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    inst.set_documents(Box::new(JsonDocument::new("no-n", json!({"title": "x"}))));
    let e = inst.score(0, 0.0).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::Trap);
    assert!(e.to_string().contains("even_component@1.0.0") && e.message.contains("document no-n has no integer n"), "{e}");

    // Restart: the component comes from the precompiled cache.
    drop(inst);
    drop(udf);
    drop(reg);
    let reg = open(dir.path(), UdfConfig::default());
    assert_eq!(reg.runtime_json()["compilations"], 0);
    let udf = reg.resolve("even_component", None).unwrap();
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    inst.set_documents(Box::new(JsonDocument::new("x", json!({"n": 8}))));
    assert!(inst.filter(0, 0.0).unwrap());
}

#[test]
fn component_without_read_document_traps_on_field_access() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let mut m = meta("blind", "1.0.0", json!([]));
    m.permissions = vec![Permission::WriteLog];
    let udf = register(&reg, m, component_guest()).unwrap();
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    inst.set_documents(Box::new(JsonDocument::new("x", json!({"n": 8}))));
    let e = inst.filter(0, 0.0).unwrap_err();
    assert!(e.message.contains("read_document"), "{e}");
}

#[test]
fn component_stdout_is_captured_and_capped_without_failing_the_guest() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let udf = register(&reg, meta("shouty", "1.0.0", json!([{"name": "shout", "type": "i64", "default": 0}])), component_guest()).unwrap();
    let run = |lines: i64| {
        let p = udf.bind_params(json!({"shout": lines}).as_object().unwrap()).unwrap();
        let mut inst = udf.instantiate(p, deadline()).unwrap();
        inst.set_documents(Box::new(JsonDocument::new("x", json!({"n": 2}))));
        let kept = inst.filter(0, 0.0).unwrap();
        let second = inst.filter(0, 0.0).unwrap();
        (kept && second, inst.take_logs())
    };
    let (kept, (logs, truncated)) = run(3);
    assert!(kept);
    assert!(!truncated);
    assert_eq!(logs.len(), 6, "3 lines per call, two calls: {logs:?}");
    assert!(logs.iter().all(|l| l.level == LogLevel::Info && l.message.trim() != "" && l.message.len() == 99));
    // 1000 lines of 100 bytes per call: far above the 16 KiB per-call cap; the guest's
    // writes still succeed and the log is marked truncated.
    let (kept, (logs, truncated)) = run(1000);
    assert!(kept);
    assert!(truncated);
    let bytes: usize = logs.iter().map(|l| l.message.len()).sum();
    assert!(bytes <= 2 * UdfLimits::default().log_bytes, "{bytes}");
}
