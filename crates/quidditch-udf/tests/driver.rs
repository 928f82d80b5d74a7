//! Per-document UDFs run batched through the batch driver: the same decisions as one call per
//! document, field reads served from the driver's memory answer as the host functions do, a
//! trap (in the UDF or in a served read) names the document of the block it happened in, the
//! per-call time limit still stops an infinite loop. Also: default-version pins, the next-patch version picked
//! under the registry's lock, and the checks an upload passes before anything is compiled.

mod common;

use std::sync::Arc;

use common::*;
use quidditch_udf::*;
use serde_json::{Value, json};
use tempfile::TempDir;

/// Documents with a price from 0 to 49.5 (every 7th without one).
fn prices() -> Vec<Value> {
    (0..200).map(|i| if i % 7 == 0 { json!({"sku": i}) } else { json!({"price": (i * 13 % 100) as f64 / 2.0}) }).collect()
}

fn docs(list: &[Value]) -> Box<dyn DocumentAccess> {
    Box::new(JsonDocument::many(list.iter().enumerate().map(|(i, d)| (i.to_string(), d.clone())).collect()))
}

#[test]
fn driver_batches_give_the_per_document_decisions() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let udf = register(&reg, meta("price", "1.0.0", json!([{"name": "min_price", "type": "f64", "default": 10}])), fixture("price_filter.wat")).unwrap();
    let list = prices();
    let params = udf.bind_params(json!({"min_price": 20.5}).as_object().unwrap()).unwrap();
    let mut inst = udf.instantiate(params.clone(), deadline()).unwrap();
    assert!(inst.has_batch(), "a per-document module runs batched through the driver");
    inst.set_documents(docs(&list));
    let ids: Vec<u32> = (0..list.len() as u32).collect();
    let mut batched = Vec::new();
    inst.filter_batch(&ids, &vec![1.0; ids.len()], &mut batched).unwrap();
    let expected: Vec<bool> = list.iter().map(|d| d.get("price").and_then(Value::as_f64).is_some_and(|p| p >= 20.5)).collect();
    assert_eq!(batched, expected);
    // One document at a time, in a fresh instance: the same.
    let mut one = udf.instantiate(params, deadline()).unwrap();
    one.set_documents(docs(&list));
    let per_doc: Vec<bool> = ids.iter().map(|&d| one.filter(d, 1.0).unwrap()).collect();
    assert_eq!(per_doc, expected);
    // A block larger than the driver's own block, in an unusual order.
    let many: Vec<u32> = (0..10_000u32).map(|i| (i * 7919) % list.len() as u32).collect();
    let mut out = Vec::new();
    inst.filter_batch(&many, &vec![0.0; many.len()], &mut out).unwrap();
    assert_eq!(out, many.iter().map(|&d| expected[d as usize]).collect::<Vec<_>>());
}

/// `filter` that traps (unreachable) on the document whose `qty` is 13.
const TRAP_ON_13: &str = r#"(module
  (import "env" "get_field_i64" (func $get (param i64 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "qty")
  (func (export "filter") (param $ctx i64) (result i32)
    (drop (call $get (local.get $ctx) (i32.const 0) (i32.const 3) (i32.const 64)))
    (if (i64.eq (i64.load (i32.const 64)) (i64.const 13)) (then unreachable))
    (i32.const 1)))"#;

#[test]
fn a_trap_in_a_driver_block_names_the_document() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let udf = register(&reg, meta("trapper", "1.0.0", json!([])), compile_wat(TRAP_ON_13).unwrap()).unwrap();
    let list: Vec<Value> = (0..40).map(|i| json!({"qty": i})).collect();
    let mut inst = udf.instantiate(udf.bind_params(&Default::default()).unwrap(), deadline()).unwrap();
    inst.set_documents(docs(&list));
    // Block positions 0..: doc ids 20..39, so qty 13 is never reached; then 5..25: 13 is position 8.
    let mut out = Vec::new();
    inst.filter_batch(&(20..40).collect::<Vec<_>>(), &[1.0; 20], &mut out).unwrap();
    assert_eq!(out, vec![true; 20]);
    let e = inst.filter_batch(&(5..25).collect::<Vec<_>>(), &[1.0; 20], &mut out).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::Trap);
    assert!(e.message.contains("document 8 of the block") && e.message.contains("segment doc 13"), "{e}");
    assert_eq!(out, vec![true; 8], "the decisions before the trap are kept");
}

/// `score` returning every field read it makes, encoded: the return codes of
/// `get_field_f64(price)`, `get_field_i64(qty)`, `get_field_bool(ok)`, `has_field(tag)` and
/// `get_field_string(tag)`, the values read (when ok) and `get_score`.
const EVERY_READ: &str = r#"(module
  (import "env" "get_field_f64" (func $f64 (param i64 i32 i32 i32) (result i32)))
  (import "env" "get_field_i64" (func $i64 (param i64 i32 i32 i32) (result i32)))
  (import "env" "get_field_bool" (func $bool (param i64 i32 i32 i32) (result i32)))
  (import "env" "has_field" (func $has (param i64 i32 i32) (result i32)))
  (import "env" "get_field_string" (func $str (param i64 i32 i32 i32 i32) (result i32)))
  (import "env" "get_score" (func $score (param i64) (result f64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "price") (data (i32.const 16) "qty") (data (i32.const 32) "ok") (data (i32.const 48) "tag")
  (func (export "score") (param $ctx i64) (result f64)
    (local $rc i32) (local $acc f64)
    (local.set $rc (call $f64 (local.get $ctx) (i32.const 0) (i32.const 5) (i32.const 100)))
    (local.set $acc (f64.convert_i32_u (local.get $rc)))
    (if (i32.eqz (local.get $rc))
      (then (local.set $acc (f64.add (local.get $acc) (f64.mul (f64.load (i32.const 100)) (f64.const 4096))))))
    (local.set $rc (call $i64 (local.get $ctx) (i32.const 16) (i32.const 3) (i32.const 108)))
    (local.set $acc (f64.add (local.get $acc) (f64.convert_i32_u (i32.mul (local.get $rc) (i32.const 4)))))
    (if (i32.eqz (local.get $rc))
      (then (local.set $acc (f64.add (local.get $acc) (f64.mul (f64.convert_i64_s (i64.load (i32.const 108))) (f64.const 1e6))))))
    (local.set $rc (call $bool (local.get $ctx) (i32.const 32) (i32.const 2) (i32.const 116)))
    (local.set $acc (f64.add (local.get $acc) (f64.convert_i32_u (i32.mul (local.get $rc) (i32.const 16)))))
    (if (i32.eqz (local.get $rc))
      (then (local.set $acc (f64.add (local.get $acc) (f64.mul (f64.convert_i32_u (i32.load (i32.const 116))) (f64.const 1e9))))))
    (local.set $acc (f64.add (local.get $acc)
      (f64.convert_i32_u (i32.mul (call $has (local.get $ctx) (i32.const 48) (i32.const 3)) (i32.const 64)))))
    (i32.store (i32.const 200) (i32.const 16))
    (local.set $acc (f64.add (local.get $acc)
      (f64.convert_i32_u (i32.mul (call $str (local.get $ctx) (i32.const 48) (i32.const 3) (i32.const 208) (i32.const 200)) (i32.const 128)))))
    (f64.add (local.get $acc) (f64.mul (call $score (local.get $ctx)) (f64.const 1e10)))))"#;

/// Documents covering every answer of the reads: values of the asked type, of a convertible
/// one, of a wrong one, missing and null.
fn mixed(variant: u32) -> Vec<Value> {
    (0..1000u32)
        .map(|i| match (i + variant) % 5 {
            0 => json!({"price": (i % 50) as f64 / 4.0, "qty": i % 90, "ok": i % 3 == 0, "tag": "x"}),
            1 => json!({"price": "cheap", "qty": 2.5, "ok": 1, "tag": 7}),
            2 => json!({}),
            3 => json!({"price": i % 7, "qty": (i % 11) as f64, "ok": false}),
            _ => json!({"price": null, "qty": null, "tag": null}),
        })
        .collect()
}

#[test]
fn served_field_reads_answer_as_the_host_functions() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let udf = register(&reg, meta("reads", "1.0.0", json!([])), compile_wat(EVERY_READ).unwrap()).unwrap();
    // More than one driver block, out of order, with repeats; a score per position.
    let ids: Vec<u32> = (0..1300u32).map(|i| (i * 37) % 1000).collect();
    let scores: Vec<f32> = (0..ids.len()).map(|i| (i % 13) as f32 * 0.5).collect();
    let served = |reg: &UdfRegistry| reg.runtime_json()["driver_served_fields"].as_u64().unwrap();
    let mut driven = udf.instantiate(udf.bind_params(&Default::default()).unwrap(), deadline()).unwrap();
    assert!(driven.has_batch());
    reg.set_batch_driver(false);
    let mut per_call = udf.instantiate(udf.bind_params(&Default::default()).unwrap(), deadline()).unwrap();
    reg.set_batch_driver(true);
    for variant in 0..2 {
        let list = mixed(variant);
        driven.set_documents(docs(&list));
        per_call.set_documents(docs(&list));
        let before = served(&reg);
        let mut got = Vec::new();
        driven.score_batch(&ids, &scores, &mut got).unwrap();
        // price, qty, ok and has(tag) are served; the string read goes to the host.
        assert_eq!(served(&reg) - before, 4, "the driver serves the four numeric/bool/presence reads");
        let expected: Vec<f64> = ids.iter().zip(&scores).map(|(&d, &s)| per_call.score(d, s).unwrap()).collect();
        assert_eq!(got.len(), expected.len());
        for (i, (g, e)) in got.iter().zip(&expected).enumerate() {
            assert_eq!(g.to_bits(), e.to_bits(), "position {i} (doc {}): driver {g} vs one call {e}", ids[i]);
        }
        // And independently of both: the return code of get_field_f64(price) from the JSON.
        for (i, &d) in ids.iter().enumerate() {
            let want = match list[d as usize].get("price") {
                Some(Value::Number(_)) => 0.0,
                None | Some(Value::Null) => 1.0,
                Some(_) => 2.0,
            };
            let rc_price = got[i].rem_euclid(4.0);
            assert_eq!(rc_price, want, "doc {d}: {}", list[d as usize]);
        }
    }
}

/// `filter` reading `qty`, then `price` with an output pointer past the end of its memory
/// on the document whose `qty` is 13.
const BAD_POINTER_ON_13: &str = r#"(module
  (import "env" "get_field_i64" (func $i64 (param i64 i32 i32 i32) (result i32)))
  (import "env" "get_field_f64" (func $f64 (param i64 i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "qty") (data (i32.const 16) "price")
  (func (export "filter") (param $ctx i64) (result i32)
    (drop (call $i64 (local.get $ctx) (i32.const 0) (i32.const 3) (i32.const 64)))
    (drop (call $f64 (local.get $ctx) (i32.const 16) (i32.const 5)
      (select (i32.const 65532) (i32.const 72) (i64.eq (i64.load (i32.const 64)) (i64.const 13)))))
    (i32.const 1)))"#;

#[test]
fn a_trap_in_a_served_field_read_names_the_document() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let udf = register(&reg, meta("pointer", "1.0.0", json!([])), compile_wat(BAD_POINTER_ON_13).unwrap()).unwrap();
    let list: Vec<Value> = (0..40).map(|i| json!({"qty": i, "price": i as f64 * 1.5})).collect();
    let mut inst = udf.instantiate(udf.bind_params(&Default::default()).unwrap(), deadline()).unwrap();
    inst.set_documents(docs(&list));
    let before = reg.runtime_json()["driver_served_fields"].as_u64().unwrap();
    let mut out = Vec::new();
    inst.filter_batch(&(20..40).collect::<Vec<_>>(), &[1.0; 20], &mut out).unwrap();
    assert_eq!(out, vec![true; 20]);
    assert_eq!(reg.runtime_json()["driver_served_fields"].as_u64().unwrap() - before, 2, "qty and price are served");
    let e = inst.filter_batch(&(5..25).collect::<Vec<_>>(), &[1.0; 20], &mut out).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::Trap);
    assert!(e.message.contains("document 8 of the block") && e.message.contains("segment doc 13"), "{e}");
    assert!(e.message.contains("get_field_f64") && e.message.contains("outside the UDF's memory"), "{e}");
    assert_eq!(out, vec![true; 8], "the decisions before the trap are kept");
}

#[test]
fn the_per_call_limit_stops_an_infinite_loop_in_a_driver_block() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let mut m = meta("looper", "1.0.0", json!([]));
    m.limits.call_timeout_ms = Some(20);
    let udf = register(&reg, m, fixture("hostile_infinite_loop.wat")).unwrap();
    let mut inst = udf.instantiate(udf.bind_params(&Default::default()).unwrap(), deadline()).unwrap();
    inst.set_documents(docs(&[json!({})]));
    let mut out = Vec::new();
    let e = inst.filter_batch(&[0, 0, 0], &[1.0; 3], &mut out).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::Timeout);
    assert!(e.message.contains("call_timeout_ms") && e.message.contains("document 0 of the block"), "{e}");
}

#[test]
fn pinned_default_survives_uploads_and_rolls_back() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let binary = fixture("trivial_filter.wat");
    for v in ["1.0.0", "1.1.0"] {
        register(&reg, meta("pinned", v, json!([])), binary.clone()).unwrap();
    }
    assert_eq!(reg.resolve("pinned", None).unwrap().version_str(), "1.1.0");
    let change = reg.set_default("pinned", "1.0.0", "ops").unwrap();
    assert_eq!((change.default_version.as_str(), change.latest_version.as_str()), ("1.0.0", "1.1.0"));
    register(&reg, meta("pinned", "2.0.0", json!([])), binary.clone()).unwrap();
    assert_eq!(reg.resolve("pinned", None).unwrap().version_str(), "1.0.0", "a newer upload does not move the pin");
    reg.set_default("pinned", "2.0.0", "ops").unwrap();
    assert_eq!(reg.resolve("pinned", None).unwrap().version_str(), "2.0.0");
    let back = reg.roll_back_default("pinned", "ops").unwrap();
    assert_eq!(back.default_version, "1.0.0");
    drop(reg);
    let reg = open(dir.path(), UdfConfig::default());
    assert_eq!(reg.resolve("pinned", None).unwrap().version_str(), "1.0.0", "pins survive a restart");
    let ops: Vec<String> = reg.audit(&AuditQuery { udf: Some("pinned".into()), ..Default::default() }).into_iter().map(|e| e.operation).collect();
    assert_eq!(ops.iter().filter(|o| *o == "promote").count(), 2, "{ops:?}");
    assert_eq!(ops.iter().filter(|o| *o == "rollback").count(), 1, "{ops:?}");
    // Back to "nothing pinned": the highest version again; then nothing left to roll back.
    reg.roll_back_default("pinned", "ops").unwrap();
    assert_eq!(reg.resolve("pinned", None).unwrap().version_str(), "2.0.0");
    assert_eq!(reg.roll_back_default("pinned", "ops").unwrap_err().kind, UdfErrorKind::InvalidRequest);
    assert_eq!(reg.set_default("pinned", "9.9.9", "ops").unwrap_err().kind, UdfErrorKind::NotFound);
}

#[test]
fn concurrent_next_patch_registrations_get_distinct_versions() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let binary = fixture("trivial_filter.wat");
    let threads: Vec<_> = (0..8)
        .map(|_| {
            let (reg, binary) = (Arc::clone(&reg), binary.clone());
            std::thread::spawn(move || {
                let req = RegisterRequest { metadata: UdfMetadata::new("script", "0.0.0"), binary, signature: None, actor: "t".into() };
                reg.register_as(req, VersionChoice::NextPatch).map(|u| u.version_str().to_string())
            })
        })
        .collect();
    let mut versions: Vec<String> = threads.into_iter().map(|t| t.join().unwrap().unwrap()).collect();
    versions.sort_by_key(|v| semver::Version::parse(v).unwrap());
    assert_eq!(versions, (0..8).map(|p| format!("1.0.{p}")).collect::<Vec<_>>());
}

#[test]
fn precheck_refuses_before_any_compilation() {
    let dir = TempDir::new().unwrap();
    let config = UdfConfig { require_signed: true, ..UdfConfig::default() };
    let reg = open(dir.path(), config);
    let m = meta("py", "1.0.0", json!([]));
    let before = reg.runtime_json()["compilations"].clone();
    let e = reg.precheck(&m, &UploadSource::Python("def filter(doc):\n    return True\n".into()), Some("ab"), "t", VersionChoice::Declared).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::SignatureRejected);
    assert!(e.message.contains("Python source cannot be signed"), "{e}");
    let e = reg.precheck(&m, &UploadSource::Wat("(module)".into()), None, "t", VersionChoice::Declared).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::SignatureRejected);
    let long = meta("py", &format!("1.0.0-{}", "a".repeat(100_000)), json!([]));
    let e = reg.precheck(&long, &UploadSource::Binary(fixture("trivial_filter.wat")), None, "t", VersionChoice::Declared).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::InvalidMetadata);
    assert!(e.to_string().len() < 600, "user input is echoed truncated: {e}");
    assert_eq!(reg.runtime_json()["compilations"], before, "nothing was compiled");
    let audit = reg.audit(&AuditQuery::default());
    assert!(audit.iter().all(|a| a.version.as_deref().is_none_or(|v| v.len() < 200)), "the audit log keeps truncated input");
}
