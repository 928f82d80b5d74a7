//! Hostile modules and limits: each fails its own call with an error naming the UDF, the
//! version and the limit, and the runtime keeps working for other UDFs.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::*;
use quidditch_udf::*;
use serde_json::json;
use tempfile::TempDir;

fn setup() -> (TempDir, Arc<UdfRegistry>, Arc<LoadedUdf>) {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    let healthy = register(&reg, meta("price", "1.0.0", json!([{"name": "min_price", "type": "f64", "default": 10}])), fixture("price_filter.wat")).unwrap();
    (dir, reg, healthy)
}

fn filter_once(udf: &Arc<LoadedUdf>) -> Result<bool, UdfError> {
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline())?;
    inst.set_documents(Box::new(JsonDocument::new("1", json!({"price": 12}))));
    inst.filter(0, 1.0)
}

fn assert_healthy(healthy: &Arc<LoadedUdf>) {
    assert!(filter_once(healthy).unwrap(), "other UDFs keep working");
}

#[test]
fn infinite_loop_hits_call_timeout() {
    let (_d, reg, healthy) = setup();
    let udf = register(&reg, meta("looper", "1.0.0", json!([])), fixture("hostile_infinite_loop.wat")).unwrap();
    // The loop never ends by itself: an error at all means the call limit interrupted it.
    let e = filter_once(&udf).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::Timeout);
    assert_eq!(e.status(), 422);
    assert!(e.to_string().contains("looper@1.0.0") && e.message.contains("call_timeout_ms"), "{e}");
    assert_healthy(&healthy);
    let stats = reg.stats_json("looper").unwrap();
    assert_eq!(stats["versions"]["1.0.0"]["timeouts"], 1);
}

#[test]
fn per_udf_time_override_within_ceiling() {
    let (_d, reg, _) = setup();
    let mut m = meta("looper", "1.0.0", json!([]));
    m.limits.call_timeout_ms = Some(20);
    let udf = register(&reg, m, fixture("hostile_infinite_loop.wat")).unwrap();
    let e = filter_once(&udf).unwrap_err();
    assert!(e.message.contains("= 20 ms"), "{e}");
    let mut m = meta("looper", "2.0.0", json!([]));
    m.limits.call_timeout_ms = Some(1_000_000);
    let e = register(&reg, m, fixture("hostile_infinite_loop.wat")).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::InvalidMetadata);
    assert!(e.message.contains("call_timeout_ms") && e.message.contains("ceiling"), "{e}");
}

#[test]
fn query_time_limit_spans_calls() {
    let (_d, reg, _) = setup();
    let mut m = meta("looper", "1.0.0", json!([]));
    m.limits.call_timeout_ms = Some(30);
    m.limits.query_timeout_ms = Some(50);
    let udf = register(&reg, m, fixture("hostile_infinite_loop.wat")).unwrap();
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    let first = inst.filter(0, 0.0).unwrap_err();
    assert_eq!(first.kind, UdfErrorKind::Timeout);
    // The instance is unusable after a failure: later calls fail fast with the same error.
    let again = inst.filter(0, 0.0).unwrap_err();
    assert_eq!(again.kind, UdfErrorKind::Timeout);
}

#[test]
fn memory_bomb_hits_memory_limit() {
    let (_d, reg, healthy) = setup();
    let udf = register(&reg, meta("bomb", "1.0.0", json!([])), fixture("hostile_memory_bomb.wat")).unwrap();
    let e = filter_once(&udf).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::MemoryLimit, "{e}");
    assert!(e.message.contains("memory_bytes") && e.message.contains(&(16 * 1024 * 1024).to_string()), "{e}");
    assert_healthy(&healthy);
    let stats = reg.stats_json("bomb").unwrap();
    assert_eq!(stats["versions"]["1.0.0"]["memory_limit_hits"], 1);
}

#[test]
fn initial_memory_above_limit_is_rejected_at_upload() {
    let (_d, reg, _) = setup();
    // 512 pages = 32 MiB initial memory, above the 16 MiB default.
    let wasm = compile_wat(r#"(module (memory (export "memory") 512) (func (export "filter") (param i64) (result i32) (i32.const 1)))"#).unwrap();
    let e = register(&reg, meta("big", "1.0.0", json!([])), wasm).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::InvalidBinary);
    assert!(e.message.contains("memory"), "{e}");
}

#[test]
fn recursion_hits_stack_limit() {
    let (_d, reg, healthy) = setup();
    let udf = register(&reg, meta("deep", "1.0.0", json!([])), fixture("hostile_recursion.wat")).unwrap();
    let e = filter_once(&udf).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::StackOverflow, "{e}");
    assert!(e.message.contains("stack"), "{e}");
    assert_healthy(&healthy);
}

#[test]
fn out_of_bounds_pointer_traps_naming_the_import() {
    let (_d, reg, healthy) = setup();
    let udf = register(&reg, meta("oob", "1.0.0", json!([])), fixture("hostile_oob_pointer.wat")).unwrap();
    let e = filter_once(&udf).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::Trap);
    assert!(e.message.contains("get_field_string") && e.message.contains("outside"), "{e}");
    assert_healthy(&healthy);
}

#[test]
fn forbidden_imports_rejected_with_the_list() {
    let (_d, reg, _) = setup();
    let e = register(&reg, meta("fs", "1.0.0", json!([])), fixture("hostile_forbidden_import.wat")).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::PermissionDenied);
    assert!(e.message.contains("wasi_snapshot_preview1.path_open"), "{e}");
    assert!(e.message.contains("wasi_snapshot_preview1.fd_read"), "{e}");
    // clock/random need explicit permissions
    let clock = compile_wat(r#"(module (import "wasi_snapshot_preview1" "clock_time_get" (func (param i32 i64 i32) (result i32)))
        (memory (export "memory") 1) (func (export "filter") (param i64) (result i32) (i32.const 1)))"#).unwrap();
    let e = register(&reg, meta("clock", "1.0.0", json!([])), clock.clone()).unwrap_err();
    assert!(e.message.contains("clock_time_get (needs permission [clocks])"), "{e}");
    let mut m = meta("clock", "1.0.0", json!([]));
    m.permissions.push(Permission::Clocks);
    register(&reg, m, clock).unwrap();
    // log without write_log
    let log = fixture("hostile_log_flood.wat");
    let mut m = meta("nolog", "1.0.0", json!([]));
    m.permissions = vec![Permission::ReadDocument];
    let e = register(&reg, m, log).unwrap_err();
    assert!(e.message.contains("env.log (needs permission [write_log])"), "{e}");
    let audit = reg.audit(&AuditQuery { operation: Some("permission_denied".into()), ..Default::default() });
    assert!(audit.len() >= 3);
}

#[test]
fn malformed_binaries_rejected_with_wasmtime_message() {
    let (_d, reg, _) = setup();
    let e = register(&reg, meta("junk", "1.0.0", json!([])), b"definitely not wasm".to_vec()).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::InvalidBinary);
    let mut truncated = fixture("price_filter.wat");
    truncated.truncate(truncated.len() - 7);
    let e = register(&reg, meta("junk", "1.0.0", json!([])), truncated).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::InvalidBinary);
    assert!(e.message.contains("invalid WebAssembly"), "{e}");
    let no_exports = compile_wat(r#"(module (memory (export "memory") 1))"#).unwrap();
    let e = register(&reg, meta("junk", "1.0.0", json!([])), no_exports).unwrap_err();
    assert!(e.message.contains("neither `filter`"), "{e}");
    let wrong_sig = compile_wat(r#"(module (memory (export "memory") 1) (func (export "filter") (param i32) (result i32) (i32.const 1)))"#).unwrap();
    let e = register(&reg, meta("junk", "1.0.0", json!([])), wrong_sig).unwrap_err();
    assert!(e.message.contains("(i64) -> i32"), "{e}");
}

#[test]
fn start_function_loop_is_stopped_at_upload() {
    let (_d, reg, healthy) = setup();
    // The start function never returns: registering returns only because the limit stopped it.
    let e = register(&reg, meta("starter", "1.0.0", json!([])), fixture("hostile_start_loop.wat")).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::InvalidBinary);
    assert!(e.message.contains("timeout"), "{e}");
    assert_healthy(&healthy);
}

#[test]
fn log_flood_is_capped() {
    let (_d, reg, _) = setup();
    let udf = register(&reg, meta("flood", "1.0.0", json!([])), fixture("hostile_log_flood.wat")).unwrap();
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    assert!(inst.filter(0, 0.0).unwrap());
    let (logs, truncated) = inst.take_logs();
    assert!(truncated);
    let bytes: usize = logs.iter().map(|l| l.message.len()).sum();
    assert_eq!(bytes, UdfLimits::default().log_bytes);
}

#[test]
fn module_over_size_cap_is_too_large() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig { max_module_bytes: 100, ..Default::default() });
    let e = register(&reg, meta("p", "1.0.0", json!([])), fixture("price_filter.wat")).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::TooLarge);
    assert_eq!(e.status(), 413);
}

#[test]
fn signatures() {
    use ed25519_dalek::{Signer, SigningKey};
    let trusted = SigningKey::from_bytes(&[1u8; 32]);
    let untrusted = SigningKey::from_bytes(&[2u8; 32]);
    let dir = TempDir::new().unwrap();
    let config = UdfConfig {
        require_signed: true,
        trusted_keys: vec![hex::encode(trusted.verifying_key().as_bytes())],
        ..Default::default()
    };
    let reg = open(dir.path(), config);
    let wasm = fixture("price_filter.wat");
    let digest = signature::sha256_bytes(&wasm);
    let req = |sig: Option<String>, v: &str| RegisterRequest {
        metadata: meta("signed", v, json!([])),
        binary: wasm.clone(),
        signature: sig,
        actor: "t".into(),
    };
    let e = reg.register(req(None, "1.0.0")).unwrap_err();
    assert_eq!(e.status(), 403);
    let e = reg.register(req(Some(hex::encode(untrusted.sign(&digest).to_bytes())), "1.0.0")).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::SignatureRejected);
    assert!(e.message.contains("untrusted"), "{e}");
    let ok = reg.register(req(Some(hex::encode(trusted.sign(&digest).to_bytes())), "1.0.0")).unwrap();
    assert!(ok.metadata.signed);
    assert_eq!(ok.metadata.signed_by.as_deref(), Some(hex::encode(trusted.verifying_key().as_bytes()).as_str()));
    assert_eq!(ok.metadata.sha256, hex::encode(digest));
}

#[test]
fn instance_cap_waits_then_fails() {
    let (_d, reg, _) = setup();
    let mut m = meta("capped", "1.0.0", json!([]));
    m.limits.max_instances = Some(2);
    m.limits.instance_wait_ms = Some(50);
    let udf = register(&reg, m, fixture("trivial_filter.wat")).unwrap();
    let p = udf.bind_params(&Default::default()).unwrap();
    let a = udf.instantiate(p.clone(), deadline()).unwrap();
    let _b = udf.instantiate(p.clone(), deadline()).unwrap();
    assert_eq!(udf.live_instances(), 2);
    let e = udf.instantiate(p.clone(), deadline()).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::InstanceLimit);
    assert_eq!(e.status(), 429);
    assert!(e.message.contains("max_instances"), "{e}");
    drop(a);
    udf.instantiate(p, deadline()).unwrap();
}

#[test]
fn concurrent_calls_respect_the_instance_cap() {
    let (_d, reg, _) = setup();
    let mut m = meta("busy", "1.0.0", json!([{"name": "min_price", "type": "f64", "default": 10}]));
    m.limits.max_instances = Some(3);
    m.limits.instance_wait_ms = Some(20_000);
    let udf = register(&reg, m, fixture("price_filter.wat")).unwrap();
    let peak = Arc::new(AtomicU32::new(0));
    let threads: Vec<_> = (0..12)
        .map(|t| {
            let udf = udf.clone();
            let peak = peak.clone();
            std::thread::spawn(move || {
                let mut kept = 0;
                for i in 0..50 {
                    let p = udf.bind_params(&Default::default()).unwrap();
                    let mut inst = udf.instantiate(p, Instant::now() + Duration::from_secs(20)).unwrap();
                    peak.fetch_max(udf.live_instances(), Ordering::SeqCst);
                    inst.set_documents(Box::new(JsonDocument::new("x", json!({"price": (t * 50 + i) % 20}))));
                    for _ in 0..20 {
                        if inst.filter(0, 0.0).unwrap() {
                            kept += 1;
                        }
                    }
                }
                kept
            })
        })
        .collect();
    let kept: u32 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    assert!(peak.load(Ordering::SeqCst) <= 3, "peak {}", peak.load(Ordering::SeqCst));
    assert_eq!(udf.live_instances(), 0);
    assert_eq!(kept, 12 * 50 * 20 / 2);
    let stats = reg.stats_json("busy").unwrap();
    assert_eq!(stats["versions"]["1.0.0"]["calls"], 12 * 50 * 20);
    assert_eq!(stats["versions"]["1.0.0"]["errors"], 0);
}

#[test]
fn exhausted_instance_pool_is_an_instance_limit_error() {
    let dir = TempDir::new().unwrap();
    // A per-document module's instance takes two pool slots: the module and its batch driver.
    let reg = open(dir.path(), UdfConfig { pool_instances: 4, ..Default::default() });
    let udf = register(&reg, meta("pooled", "1.0.0", json!([])), fixture("trivial_filter.wat")).unwrap();
    let p = udf.bind_params(&Default::default()).unwrap();
    let _a = udf.instantiate(p.clone(), deadline()).unwrap();
    let _b = udf.instantiate(p.clone(), deadline()).unwrap();
    let e = udf.instantiate(p, deadline()).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::InstanceLimit, "{e}");
    assert_eq!(e.status(), 429);
    assert!(e.message.contains("pool"), "{e}");
    assert_eq!(udf.live_instances(), 2, "the failed attempt released its slot");
}

#[test]
fn search_deadline_caps_udf_time() {
    let (_d, reg, _) = setup();
    let mut m = meta("looper", "1.0.0", json!([]));
    m.limits.call_timeout_ms = Some(5_000);
    let udf = register(&reg, m, fixture("hostile_infinite_loop.wat")).unwrap();
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    inst.limit_deadline(Instant::now() + Duration::from_millis(30));
    let e = inst.filter(0, 0.0).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::Timeout);
    // Stopped by the search deadline, not the 5 s call limit: the error names which one.
    assert!(e.message.contains("search request's deadline") && !e.message.contains("call_timeout_ms"), "{e}");
    // A later deadline does not extend the UDF's own limits.
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    inst.limit_deadline(Instant::now() + Duration::from_secs(3600));
    let e = inst.filter(0, 0.0).unwrap_err();
    assert!(e.message.contains("call_timeout_ms"), "{e}");
}

#[test]
fn batch_only_module_answers_single_calls() {
    let (_d, reg, _) = setup();
    let wasm = compile_wat(r#"(module
        (memory (export "memory") 2)
        (func (export "udf_buffer") (param i32) (result i32) (i32.const 65536))
        (func (export "score_batch") (param $ctxs i32) (param $n i32) (param $out i32) (result i32)
          (local $i i32)
          (block $done (loop $next
            (br_if $done (i32.ge_u (local.get $i) (local.get $n)))
            ;; score = doc id (low 32 bits of the ctx) + 0.5
            (f64.store (i32.add (local.get $out) (i32.mul (local.get $i) (i32.const 8)))
              (f64.add (f64.convert_i64_u (i64.and (i64.load (i32.add (local.get $ctxs) (i32.mul (local.get $i) (i32.const 8))))
                                                   (i64.const 0xffffffff)))
                       (f64.const 0.5)))
            (local.set $i (i32.add (local.get $i) (i32.const 1)))
            (br $next)))
          (i32.const 0)))"#).unwrap();
    let udf = register(&reg, meta("batchonly", "1.0.0", json!([])), wasm).unwrap();
    assert_eq!(udf.metadata.exports, vec!["score_batch"]);
    assert!(udf.has_score() && !udf.has_filter());
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    assert_eq!(inst.score(41, 0.0).unwrap(), 41.5);
    let mut out = Vec::new();
    inst.score_batch(&[1, 2, 3], &[0.0; 3], &mut out).unwrap();
    assert_eq!(out, vec![1.5, 2.5, 3.5]);
}
