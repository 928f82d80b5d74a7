//! Registry persistence: versions, resolve rules, delete, restart without recompilation.

mod common;

use common::*;
use quidditch_udf::*;
use serde_json::json;
use tempfile::TempDir;

#[test]
fn versions_resolve_by_semver_and_duplicates_conflict() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig::default());
    for v in ["1.0.0", "1.10.0", "1.2.0"] {
        register(&reg, meta("f", v, json!([])), fixture("trivial_filter.wat")).unwrap();
    }
    assert_eq!(reg.resolve("f", None).unwrap().version_str(), "1.10.0");
    assert_eq!(reg.resolve("f", Some("1.2.0")).unwrap().version_str(), "1.2.0");
    assert_eq!(reg.resolve("f@1.0.0", None).unwrap().version_str(), "1.0.0");
    assert_eq!(reg.resolve("f", Some("9.9.9")).unwrap_err().status(), 404);
    assert_eq!(reg.resolve("nope", None).unwrap_err().kind, UdfErrorKind::NotFound);
    let e = register(&reg, meta("f", "1.2.0", json!([])), fixture("trivial_filter.wat")).unwrap_err();
    assert_eq!(e.status(), 409);
    let e = register(&reg, meta("f", "one", json!([])), fixture("trivial_filter.wat")).unwrap_err();
    assert_eq!(e.kind, UdfErrorKind::InvalidMetadata);
    let e = register(&reg, meta("_bad", "1.0.0", json!([])), fixture("trivial_filter.wat")).unwrap_err();
    assert!(e.message.contains("[name]"));
    reg.delete("f", "1.10.0", "t").unwrap();
    assert_eq!(reg.resolve("f", None).unwrap().version_str(), "1.2.0");
}

#[test]
fn restart_keeps_udfs_and_audit_and_does_not_recompile() {
    let dir = TempDir::new().unwrap();
    {
        let reg = open(dir.path(), UdfConfig::default());
        register(&reg, meta("price", "1.0.0", json!([{"name": "min_price", "type": "f64", "default": 10}])), fixture("price_filter.wat")).unwrap();
        register(&reg, meta("probe", "1.0.0", probe_params()), fixture("probe.wat")).unwrap();
        assert_eq!(reg.runtime_json()["compilations"], 2);
    }
    let reg = open(dir.path(), UdfConfig::default());
    let rt = reg.runtime_json();
    assert_eq!(rt["compilations"], 0, "{rt}");
    assert_eq!(rt["cache_hits"], 2, "{rt}");
    let udf = reg.resolve("price", None).unwrap();
    assert!(udf.loaded_from_cache);
    let p = udf.bind_params(&Default::default()).unwrap();
    let mut inst = udf.instantiate(p, deadline()).unwrap();
    inst.set_documents(Box::new(JsonDocument::new("1", json!({"price": 11}))));
    assert!(inst.filter(0, 0.0).unwrap());
    let audit = reg.audit(&AuditQuery { operation: Some("register".into()), ..Default::default() });
    assert_eq!(audit.len(), 2);
    assert_eq!(audit[0].udf, "probe", "newest first");
}

#[test]
fn audit_rotation_keeps_size_bounded() {
    let dir = TempDir::new().unwrap();
    let reg = open(dir.path(), UdfConfig { audit_max_bytes: 2048, audit_max_files: 2, ..Default::default() });
    for i in 0..60 {
        let _ = register(&reg, meta("junk", &format!("1.0.{i}"), json!([])), b"not wasm".to_vec());
    }
    let total: u64 = std::fs::read_dir(dir.path().join("audit")).unwrap().flatten().map(|e| e.metadata().unwrap().len()).sum();
    assert!(total <= 3 * 2048, "{total}");
    let recent = reg.audit(&AuditQuery { size: Some(5), ..Default::default() });
    assert_eq!(recent.len(), 5);
    assert_eq!(recent[0].version.as_deref(), Some("1.0.59"));
}
