//! ABI v1 host functions and return codes, through the probe fixture.

mod common;

use common::*;
use quidditch_udf::*;
use serde_json::json;
use tempfile::TempDir;

struct Probe {
    _dir: TempDir,
    _reg: std::sync::Arc<UdfRegistry>,
    udf: std::sync::Arc<LoadedUdf>,
}

fn probe() -> Probe {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let udf = register(&reg, meta("probe", "1.0.0", probe_params()), fixture("probe.wat")).unwrap();
    Probe { _dir: dir, _reg: reg, udf }
}

fn doc() -> serde_json::Value {
    json!({
        "n": 42, "x": 2.5, "whole": 3.0, "flag": true, "title": "hello world",
        "user": {"address": {"city": "Oslo", "zip": 150}},
        "tags": ["red", "green"], "obj": {"k": [1, 2]}, "nothing": null
    })
}

fn run(p: &Probe, op: i64, name: &str) -> (f64, Vec<LogEntry>) {
    let (r, logs) = score_once(&p.udf, doc(), json!({"op": op, "name": name}));
    (r.unwrap_or_else(|e| panic!("op {op} {name}: {e}")), logs)
}

fn run_cap(p: &Probe, op: i64, name: &str, cap: i64) -> (f64, Vec<LogEntry>) {
    let (r, logs) = score_once(&p.udf, doc(), json!({"op": op, "name": name, "cap": cap}));
    (r.unwrap(), logs)
}

#[test]
fn get_field_i64_codes_and_values() {
    let p = probe();
    assert_eq!(run(&p, 1, "n").0, 0.0);
    assert_eq!(run(&p, 2, "n").0, 42.0);
    assert_eq!(run(&p, 1, "missing").0, 1.0, "not found");
    assert_eq!(run(&p, 1, "nothing").0, 1.0, "null is not found");
    assert_eq!(run(&p, 1, "title").0, 2.0, "type mismatch");
    assert_eq!(run(&p, 1, "x").0, 2.0, "2.5 is not an i64");
    assert_eq!(run(&p, 2, "whole").0, 3.0, "3.0 is an exact i64");
    assert_eq!(run(&p, 2, "user.address.zip").0, 150.0, "dotted path");
}

#[test]
fn get_field_f64_and_bool() {
    let p = probe();
    assert_eq!(run(&p, 3, "x").0, 0.0);
    assert_eq!(run(&p, 4, "x").0, 2.5);
    assert_eq!(run(&p, 4, "n").0, 42.0, "i64 reads as f64");
    assert_eq!(run(&p, 3, "flag").0, 2.0);
    assert_eq!(run(&p, 3, "nope").0, 1.0);
    assert_eq!(run(&p, 5, "flag").0, 0.0);
    assert_eq!(run(&p, 6, "flag").0, 1.0);
    assert_eq!(run(&p, 5, "n").0, 2.0);
    assert_eq!(run(&p, 5, "nope").0, 1.0);
}

#[test]
fn get_field_string_paths_arrays_objects() {
    let p = probe();
    let (rc, logs) = run(&p, 7, "title");
    assert_eq!(rc, 0.0);
    assert_eq!(logs[0].message, "hello world");
    assert_eq!(run(&p, 8, "title").0, 11.0, "length written back");
    let (_, logs) = run(&p, 7, "user.address.city");
    assert_eq!(logs[0].message, "Oslo");
    let (_, logs) = run(&p, 7, "tags[1]");
    assert_eq!(logs[0].message, "green");
    let (_, logs) = run(&p, 7, "tags");
    assert_eq!(logs[0].message, r#"["red","green"]"#, "arrays as JSON text");
    let (_, logs) = run(&p, 7, "obj");
    assert_eq!(logs[0].message, r#"{"k":[1,2]}"#, "objects as JSON text");
    assert_eq!(run(&p, 7, "n").0, 2.0, "number through get_field_string is a type mismatch");
    assert_eq!(run(&p, 7, "tags[5]").0, 1.0);
    assert_eq!(run(&p, 7, "a..b").0, 1.0, "malformed path is not found");
}

#[test]
fn buffer_too_small_reports_required_length_and_writes_nothing_past_capacity() {
    let p = probe();
    let (rc, logs) = run_cap(&p, 7, "title", 4);
    assert_eq!(rc, 3.0);
    assert!(logs.is_empty());
    assert_eq!(run_cap(&p, 8, "title", 4).0, 11.0, "required length written back");
    assert_eq!(run_cap(&p, 23, "title", 4).0, 1.0, "byte at capacity untouched");
    assert_eq!(run_cap(&p, 23, "title", 0).0, 1.0);
    // Exactly enough room succeeds.
    assert_eq!(run_cap(&p, 7, "title", 11).0, 0.0);
    assert_eq!(run_cap(&p, 23, "title", 11).0, 1.0);
    // Document id and string params follow the same convention.
    assert_eq!(run_cap(&p, 11, "", 2).0, 3.0);
    assert_eq!(run_cap(&p, 12, "", 2).0, 5.0);
    assert_eq!(run_cap(&p, 19, "p_str", 2).0, 3.0);
}

#[test]
fn has_field_document_id_and_score() {
    let p = probe();
    assert_eq!(run(&p, 9, "n").0, 1.0);
    assert_eq!(run(&p, 9, "user.address").0, 1.0);
    assert_eq!(run(&p, 9, "missing").0, 0.0);
    assert_eq!(run(&p, 9, "nothing").0, 0.0);
    let (rc, logs) = run(&p, 11, "");
    assert_eq!(rc, 0.0);
    assert_eq!(logs[0].message, "doc-1");
    assert_eq!(run(&p, 10, "").0, 1.5, "get_score returns the score passed to the call");
}

#[test]
fn params_defaults_types_and_codes() {
    let p = probe();
    assert_eq!(run(&p, 13, "p_i64").0, 0.0);
    assert_eq!(run(&p, 14, "p_i64").0, 7.0, "declared default visible");
    assert_eq!(run(&p, 16, "p_f64").0, 2.5);
    assert_eq!(run(&p, 16, "p_i64").0, 7.0, "i64 param readable as f64");
    assert_eq!(run(&p, 18, "p_bool").0, 1.0);
    assert_eq!(run(&p, 13, "p_str").0, 2.0, "type mismatch");
    assert_eq!(run(&p, 17, "p_i64").0, 2.0);
    assert_eq!(run(&p, 13, "undeclared").0, 1.0, "not found");
    let (rc, logs) = run(&p, 19, "p_str");
    assert_eq!(rc, 0.0);
    assert_eq!(logs[0].message, "hello");
    assert_eq!(run(&p, 20, "p_str").0, 5.0);
    // Given values override defaults; integers passed as JSON numbers (3.0) are i64.
    let (r, _) = score_once(&p.udf, doc(), json!({"op": 14, "name": "p_i64", "p_i64": 3.0}));
    assert_eq!(r.unwrap(), 3.0);
}

#[test]
fn log_levels() {
    let p = probe();
    let (_, logs) = run(&p, 24, "");
    let levels: Vec<LogLevel> = logs.iter().map(|l| l.level).collect();
    assert_eq!(levels, vec![LogLevel::Debug, LogLevel::Info, LogLevel::Warn, LogLevel::Error]);
    assert!(logs.iter().all(|l| l.message == "name"));
}

#[test]
fn bad_params_name_the_parameter() {
    let p = probe();
    let e = p.udf.bind_params(json!({"op": "seven"}).as_object().unwrap()).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::BadParams);
    assert_eq!(e.status(), 400);
    assert!(e.message.contains("[op]"), "{e}");
    let e = p.udf.bind_params(json!({}).as_object().unwrap()).unwrap_err();
    assert!(e.message.contains("missing required parameter [op]"), "{e}");
    let e = p.udf.bind_params(json!({"op": 1, "bogus": 1}).as_object().unwrap()).unwrap_err();
    assert!(e.message.contains("[bogus]"), "{e}");
    let e = p.udf.bind_params(json!({"op": 1.5}).as_object().unwrap()).unwrap_err();
    assert!(e.message.contains("[op]"), "{e}");
    assert_eq!(e.udf, "probe");
    assert_eq!(e.version.as_deref(), Some("1.0.0"));
}

#[test]
fn batch_and_single_agree_and_ctx_is_position_and_doc() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let batch = register(&reg, meta("even_batch", "1.0.0", json!([])), fixture("batch_filter.wat")).unwrap();
    let single = register(&reg, meta("even", "1.0.0", json!([])), fixture("field_filter.wat")).unwrap();
    assert!(batch.metadata.exports.contains(&"filter_batch".to_string()));
    let docs: Vec<(String, serde_json::Value)> = (0..100)
        .map(|i| (format!("d{i}"), if i % 7 == 0 { json!({}) } else { json!({"n": i}) }))
        .collect();
    let ids: Vec<u32> = (0..100).rev().collect();
    let scores = vec![1.0f32; 100];
    let mut results = Vec::new();
    for udf in [&batch, &single] {
        let p = udf.bind_params(&Default::default()).unwrap();
        let mut inst = udf.instantiate(p, deadline()).unwrap();
        inst.set_documents(Box::new(JsonDocument::many(docs.clone())));
        let mut out = Vec::new();
        inst.filter_batch(&ids, &scores, &mut out).unwrap();
        // The per-document module runs batched too, through the batch driver.
        assert!(inst.has_batch(), "{}", udf.metadata.name);
        results.push(out);
    }
    assert_eq!(results[0], results[1]);
    let expected: Vec<bool> = ids.iter().map(|&i| i % 7 != 0 && i % 2 == 0).collect();
    assert_eq!(results[0], expected);
}

#[test]
fn wasi_preview1_stdout_is_captured_and_proc_exit_traps() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let udf = register(&reg, meta("wasi", "1.0.0", json!([])), fixture("wasi_stdout.wat")).unwrap();
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    inst.set_documents(Box::new(JsonDocument::new("1", json!({}))));
    assert!(inst.filter(0, 0.0).unwrap(), "environment is empty");
    let (logs, _) = inst.take_logs();
    assert_eq!(logs[0].message, "hello from stdout");
    let e = inst.score(0, 0.0).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::Trap);
    assert!(e.message.contains("proc_exit") && e.message.contains("code 3"), "{e}");
}
