//! `sdk/c/quidditch_udf.h` against the real runtime: compiles the geo-filter example with
//! Debian's clang (no --sysroot) and checks `filter` and `filter_batch` against a haversine
//! computed here, on the same documents.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use quidditch_udf::{JsonDocument, RegisterRequest, UdfConfig, UdfMetadata, UdfRegistry};
use serde_json::{Value, json};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn compile_geo_filter() -> Vec<u8> {
    let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("geo_filter.wasm");
    let example = repo().join("examples/udfs/geo-filter");
    let status = Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2", "-nostartfiles", "-Wl,--no-entry", "-Wl,--export=filter"])
        .arg("-I")
        .arg(repo().join("sdk/c"))
        .arg("-o")
        .arg(&out)
        .arg(example.join("geo_filter.c"))
        .status()
        .expect("clang (scripts/setup.sh installs clang lld wasi-libc libclang-rt-14-dev-wasm32)");
    assert!(status.success());
    std::fs::read(out).unwrap()
}

fn haversine_km(lat1: f64, lon1: f64, lat2: f64, lon2: f64) -> f64 {
    let (p1, p2) = (lat1.to_radians(), lat2.to_radians());
    let (dp, dl) = ((lat2 - lat1).to_radians(), (lon2 - lon1).to_radians());
    let a = (dp / 2.0).sin().powi(2) + p1.cos() * p2.cos() * (dl / 2.0).sin().powi(2);
    2.0 * 6371.0 * a.min(1.0).sqrt().asin()
}

/// Deterministic pseudo-random coordinates, some out of range, around a centre.
fn points(n: usize) -> Vec<(f64, f64)> {
    let mut state = 0x2545_f491_4f6c_dd1du64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state >> 11) as f64 / (1u64 << 53) as f64
    };
    (0..n).map(|_| (48.85 + (next() - 0.5) * 2.0, 2.35 + (next() - 0.5) * 3.0)).chain([(95.0, 2.35), (48.85, -181.0)]).collect()
}

#[test]
fn geo_filter_single_and_batch_match_the_reference() {
    let dir = tempfile::tempdir().unwrap();
    let registry = UdfRegistry::open(dir.path(), UdfConfig::default()).unwrap();
    let metadata: Value =
        serde_json::from_slice(&std::fs::read(repo().join("examples/udfs/geo-filter/udf.json")).unwrap()).unwrap();
    let metadata: UdfMetadata = serde_json::from_value(metadata).unwrap();
    registry
        .register(RegisterRequest { metadata, binary: compile_geo_filter(), signature: None, actor: "test".into() })
        .unwrap();
    let udf = registry.resolve("geo_filter", None).unwrap();

    let pts = points(2000);
    let mut docs: Vec<(String, Value)> =
        pts.iter().enumerate().map(|(i, (lat, lon))| (i.to_string(), json!({"latitude": lat, "longitude": lon}))).collect();
    docs.push(("no-coords".into(), json!({"name": "x"})));
    docs.push(("text-coords".into(), json!({"latitude": "48.85", "longitude": 2.35})));
    let ids: Vec<u32> = (0..docs.len() as u32).collect();
    let (target_lat, target_lon) = (48.8566, 2.3522);

    for max_km in [None, Some(1.0), Some(25.0), Some(60.0)] {
        let mut given = json!({"target_lat": target_lat, "target_lon": target_lon});
        if let Some(m) = max_km {
            given["max_distance_km"] = json!(m);
        }
        let limit = max_km.unwrap_or(10.0);
        let expected: Vec<bool> = pts
            .iter()
            .map(|&(lat, lon)| {
                (-90.0..=90.0).contains(&lat)
                    && (-180.0..=180.0).contains(&lon)
                    && haversine_km(lat, lon, target_lat, target_lon) <= limit
            })
            .chain([false, false])
            .collect();
        // Points within 1e-9 km of the limit could round either way in C and Rust; none are.
        assert!(pts.iter().all(|&(a, b)| (haversine_km(a, b, target_lat, target_lon) - limit).abs() > 1e-9));

        let params = udf.bind_params(given.as_object().unwrap()).unwrap();
        let mut inst = udf.instantiate(params, Instant::now() + Duration::from_secs(5)).unwrap();
        assert!(inst.has_batch());
        inst.set_documents(Box::new(JsonDocument::many(docs.clone())));
        let single: Vec<bool> = ids.iter().map(|&i| inst.filter(i, 1.0).unwrap()).collect();
        assert_eq!(single, expected, "filter, max {max_km:?}");
        // Blocks of several sizes, as a search hands them over.
        for block in [1usize, 64, 1000, ids.len()] {
            let mut batch = Vec::new();
            for chunk in ids.chunks(block) {
                let mut out = Vec::new();
                inst.filter_batch(chunk, &vec![1.0; chunk.len()], &mut out).unwrap();
                batch.extend(out);
            }
            assert_eq!(batch, expected, "filter_batch in blocks of {block}, max {max_km:?}");
        }
        assert!(expected.iter().filter(|&&k| k).count() > 0 || limit < 2.0);
    }
}

/// A per-document C filter (only `filter`, no batched twin): `min <= price <= max`.
const PRICE_BETWEEN_C: &str = r#"
#include "quidditch_udf.h"
QUIDDITCH_EXPORT("filter") int32_t filter(int64_t ctx) {
    double price;
    if (qd_field_f64(ctx, "price", &price) != QD_OK) return 0;
    return price >= qd_param_f64_or("min", 0.0) && price <= qd_param_f64_or("max", 0.0);
}
"#;

#[test]
fn per_document_c_filter_runs_through_the_batch_driver_with_the_same_decisions() {
    let dir = tempfile::tempdir().unwrap();
    let tmp = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
    let (src, out) = (tmp.join("price_between.c"), tmp.join("price_between_c.wasm"));
    std::fs::write(&src, PRICE_BETWEEN_C).unwrap();
    let status = Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2", "-nostartfiles", "-Wl,--no-entry"])
        .arg("-I")
        .arg(repo().join("sdk/c"))
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .status()
        .expect("clang (scripts/setup.sh installs clang lld wasi-libc libclang-rt-14-dev-wasm32)");
    assert!(status.success());
    let registry = UdfRegistry::open(dir.path(), UdfConfig::default()).unwrap();
    let metadata: UdfMetadata =
        serde_json::from_value(json!({"name": "c_price_between", "version": "1.0.0", "language": "c"})).unwrap();
    let udf = registry
        .register(RegisterRequest { metadata, binary: std::fs::read(&out).unwrap(), signature: None, actor: "test".into() })
        .unwrap();
    assert_eq!(udf.metadata.exports, vec!["filter".to_string()], "per-document only");
    let docs: Vec<(String, Value)> = (0..3000)
        .map(|i| (i.to_string(), if i % 11 == 0 { json!({}) } else { json!({"price": (i * 37 % 1000) as f64 / 10.0}) }))
        .collect();
    let expected: Vec<bool> = docs
        .iter()
        .map(|(_, d)| d["price"].as_f64().is_some_and(|p| (12.5..=61.0).contains(&p)))
        .collect();
    let ids: Vec<u32> = (0..docs.len() as u32).collect();
    let params = udf.bind_params(json!({"min": 12.5, "max": 61.0}).as_object().unwrap()).unwrap();
    let blocks = |r: &UdfRegistry| r.runtime_json()["driver_blocks"].as_u64().unwrap();
    for driver in [false, true] {
        registry.set_batch_driver(driver);
        let before = blocks(&registry);
        let mut inst = udf.instantiate(params.clone(), Instant::now() + Duration::from_secs(5)).unwrap();
        inst.set_documents(Box::new(JsonDocument::many(docs.clone())));
        for block in [1usize, 512, ids.len()] {
            let mut decided = Vec::new();
            for chunk in ids.chunks(block) {
                let mut part = Vec::new();
                inst.filter_batch(chunk, &vec![1.0; chunk.len()], &mut part).unwrap();
                decided.extend(part);
            }
            assert_eq!(decided, expected, "driver {driver}, blocks of {block}");
        }
        assert_eq!(blocks(&registry) > before, driver, "the driver ran the blocks iff it is on");
    }
}
