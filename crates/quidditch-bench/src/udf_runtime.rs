//! `bench udf-runtime`: cost of UDF calls and instantiation, beside native Rust.
//!
//! Rows: native Rust filter over a column; core-module filter per document (trivial, and
//! reading one i64 field through `DocumentAccess`); the batched core ABI; instantiation
//! per evaluation context; a Rust wit-bindgen component per document and batched.
//! Documents come from an in-memory column, as the engine's fast-field path provides them.
//!
//! Reproduce: `cargo run --release -p quidditch-server --bin bench -- udf-runtime`
//! (component rows need `tests/fixtures/component-guest/build.sh` first, or `--component <wasm>`).

use std::hint::black_box;
use std::path::PathBuf;
use std::sync::Arc;

use quidditch_udf::{LoadedUdf, UdfConfig, UdfRegistry};

use super::common::{Row, instantiation, native_filter, new_instance, per_item, register};

const TRIVIAL: &str = include_str!("../../../tests/fixtures/wat/trivial_filter.wat");
const FIELD: &str = include_str!("../../../tests/fixtures/wat/field_filter.wat");
const BATCH: &str = include_str!("../../../tests/fixtures/wat/batch_filter.wat");

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut docs: usize = 1_000_000;
    let mut component: Option<PathBuf> = None;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--docs" => docs = it.next().and_then(|v| v.parse().ok()).ok_or_else(|| anyhow::anyhow!("--docs N"))?,
            "--component" => component = it.next().map(PathBuf::from),
            other => anyhow::bail!("unknown argument {other}; usage: bench udf-runtime [--docs N] [--component file.wasm]"),
        }
    }
    // Where tests/fixtures/component-guest/build.sh puts the component.
    let component = component.or_else(|| {
        let wasm = "wasm32-wasip2/release/quidditch_component_guest.wasm";
        std::env::var_os("QUIDDITCH_WASM_TARGET_DIR")
            .map(PathBuf::from)
            .into_iter()
            .chain([PathBuf::from("tests/fixtures/component-guest/target")])
            .map(|dir| dir.join(wasm))
            .find(|p| p.exists())
    });

    let dir = std::env::temp_dir().join(format!("quidditch-bench-udf-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let registry = UdfRegistry::open(&dir, UdfConfig::default())?;
    let wat = |t: &str| quidditch_udf::compile_wat(t).map_err(|e| anyhow::anyhow!(e));
    let trivial = register(&registry, "trivial", wat(TRIVIAL)?)?;
    let field = register(&registry, "field", wat(FIELD)?)?;
    let batch = register(&registry, "batch", wat(BATCH)?)?;

    let column = Arc::new((0..docs as i64).map(|i| i * 7 + 3).collect::<Vec<_>>());
    let ids: Vec<u32> = (0..docs as u32).collect();
    let mut rows = Vec::new();

    // Native Rust: the same predicate over the same column, through the same trait object.
    let ns = native_filter(&column, &ids);
    rows.push(Row { name: "native Rust filter (one i64 read via DocumentAccess)".into(), value: ns, unit: "ns/doc", note: String::new() });

    for (label, udf) in [("core filter, trivial (returns 1)", &trivial), ("core filter, one i64 field read", &field)] {
        let ns = per_doc_calls(udf, &column, &ids)?;
        rows.push(Row { name: format!("{label}, per-document call"), value: ns, unit: "ns/doc", note: String::new() });
    }
    let ns = batched_calls(&batch, &column, &ids, 1024)?;
    rows.push(Row {
        name: "core filter_batch, one i64 field read (get_field_i64_batch), 1024 docs/batch".into(),
        value: ns,
        unit: "ns/doc",
        note: String::new(),
    });
    let us = instantiation(&field, 20_000)?;
    rows.push(Row { name: "instantiation per evaluation context (core)".into(), value: us, unit: "µs", note: "InstancePre + pooling allocator, incl. drop".into() });

    match component {
        Some(path) => {
            let comp = register(&registry, "component", std::fs::read(&path)?)?;
            let n = docs.min(200_000);
            let ns = per_doc_calls(&comp, &column, &ids[..n])?;
            rows.push(Row { name: "component (Rust wit-bindgen) filter, one field read, per-document call".into(), value: ns, unit: "ns/doc", note: String::new() });
            let ns = batched_calls(&comp, &column, &ids, 1024)?;
            rows.push(Row { name: "component filter-batch, one field read, 1024 docs/batch".into(), value: ns, unit: "ns/doc", note: String::new() });
            let us = instantiation(&comp, 5_000)?;
            rows.push(Row { name: "instantiation per evaluation context (component)".into(), value: us, unit: "µs", note: "incl. WASI p2 context".into() });
        }
        None => rows.push(Row {
            name: "component rows".into(),
            value: f64::NAN,
            unit: "",
            note: "skipped: run tests/fixtures/component-guest/build.sh or pass --component".into(),
        }),
    }

    println!("| benchmark | result | unit | note |\n|---|---:|---|---|");
    for r in rows {
        let v = if r.value.is_nan() { "–".to_string() } else { format!("{:.1}", r.value) };
        println!("| {} | {} | {} | {} |", r.name, v, r.unit, r.note);
    }
    println!("\ndocuments: {docs}; cpus: {}", std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
    drop(registry);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn per_doc_calls(udf: &Arc<LoadedUdf>, column: &Arc<Vec<i64>>, ids: &[u32]) -> anyhow::Result<f64> {
    let mut error = None;
    let ns = per_item(ids.len(), || {
        // A fresh instance per run, as per query; its cost is amortized over the documents.
        let mut inst = match new_instance(udf, column) {
            Ok(i) => i,
            Err(e) => return error = Some(e),
        };
        let mut kept = 0u64;
        for &d in ids {
            match inst.filter(d, 0.0) {
                Ok(k) => kept += k as u64,
                Err(e) => return error = Some(e.into()),
            }
        }
        black_box(kept);
    });
    error.map_or(Ok(ns), Err)
}

fn batched_calls(udf: &Arc<LoadedUdf>, column: &Arc<Vec<i64>>, ids: &[u32], batch: usize) -> anyhow::Result<f64> {
    let scores = vec![0.0f32; batch];
    let mut error = None;
    let ns = per_item(ids.len(), || {
        let mut inst = match new_instance(udf, column) {
            Ok(i) => i,
            Err(e) => return error = Some(e),
        };
        let mut out = Vec::with_capacity(batch);
        let mut kept = 0usize;
        for chunk in ids.chunks(batch) {
            if let Err(e) = inst.filter_batch(chunk, &scores[..chunk.len()], &mut out) {
                return error = Some(e.into());
            }
            kept += out.iter().filter(|k| **k).count();
        }
        black_box(kept);
    });
    error.map_or(Ok(ns), Err)
}
