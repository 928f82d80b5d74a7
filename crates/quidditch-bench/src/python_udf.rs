//! `bench python-udf`: what a Python UDF costs, beside the same filter as a core-wasm UDF and
//! as native Rust, in one run.
//!
//! The filter keeps documents whose i64 field `n` is even (the predicate of
//! `tests/fixtures/wat/field_filter.wat` and `batch_filter.wat`). Rows: native Rust; core
//! module per document and batched; the Python filter per document and batched (block sizes
//! 256/1024/4096, each field fetched once per block with `get-field-batch`); a trivial Python
//! `score` (returns 1.0, reads nothing) for the interpreter's call floor; building the shared
//! Python runtime (componentize-py + wasmtime, once), uploads on it (p50/p99 over 20 distinct
//! UDFs: metadata + trial load + store), disk bytes per UDF, restart and instance start
//! (instantiating the runtime and loading the UDF's module).
//!
//! Reproduce: `. scripts/env.sh && cargo run --release -p quidditch-server --bin bench -- python-udf`
//! (componentize-py from `$QUIDDITCH_COMPONENTIZE_PY`, the project's `.venv`, or PATH).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use quidditch_python::PythonCompiler;
use quidditch_udf::{
    Language, LimitOverrides, LoadedUdf, RegisterRequest, UdfConfig, UdfMetadata, UdfRegistry,
};

use super::common::{Row, instantiation, native_filter, new_instance, per_item, register};

const FIELD: &str = include_str!("../../../tests/fixtures/wat/field_filter.wat");
const BATCH: &str = include_str!("../../../tests/fixtures/wat/batch_filter.wat");

const PYTHON_SOURCE: &str = r#""""Keeps documents whose field `n` is even (benchmark)."""


def filter(doc, params) -> bool:
    return doc.get("n", 1) % 2 == 0


def score(doc, params) -> float:
    return 1.0
"#;

/// The `i`-th upload of the series: a distinct small UDF (own name, own constant).
fn upload_source(i: usize) -> String {
    format!(
        "\"\"\"Keeps documents whose `n` is at least {i} (upload benchmark).\"\"\"\nimport math\n\nLIMIT = {i}\n\n\ndef filter(doc, params, scale: float = 1.0) -> bool:\n    return doc.get(\"n\", 0) * scale >= LIMIT + math.floor(0.5)\n"
    )
}

fn python_upload(registry: &UdfRegistry, compiler: &PythonCompiler, name: &str, source: &str) -> anyhow::Result<()> {
    let python = compiler.compile(source)?;
    let mut meta = UdfMetadata::new(name, "1.0.0");
    meta.language = Language::Python;
    meta.source = Some(source.to_string());
    meta.limits = LimitOverrides { memory_bytes: Some(64 << 20), call_timeout_ms: Some(5_000), ..Default::default() };
    registry.register(RegisterRequest { metadata: meta, binary: python.wasm, signature: None, actor: "bench".into() })?;
    Ok(())
}

fn dir_bytes(dir: &Path) -> u64 {
    let Ok(entries) = std::fs::read_dir(dir) else { return 0 };
    entries
        .flatten()
        .map(|e| match e.metadata() {
            Ok(m) if m.is_dir() => dir_bytes(&e.path()),
            Ok(m) => m.len(),
            Err(_) => 0,
        })
        .sum()
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    sorted[((sorted.len() as f64 - 1.0) * p).round() as usize]
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut docs: usize = 200_000;
    let mut per_doc_docs: usize = 20_000;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        let mut number = |flag: &str| {
            it.next().and_then(|v| v.parse().ok()).ok_or_else(|| anyhow::anyhow!("{flag} N"))
        };
        match a.as_str() {
            "--docs" => docs = number("--docs")?,
            "--per-doc-docs" => per_doc_docs = number("--per-doc-docs")?,
            other => anyhow::bail!("unknown argument {other}; usage: bench python-udf [--docs N] [--per-doc-docs N]"),
        }
    }
    let per_doc_docs = per_doc_docs.min(docs);

    let dir = std::env::temp_dir().join(format!("quidditch-bench-python-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut rows = Vec::new();

    // The first upload builds the shared runtime (componentize-py, then wasmtime compiles it
    // and stores the precompiled form); every later upload only checks and stores the source.
    let registry = UdfRegistry::open(&dir, UdfConfig::default())?;
    let compiler = PythonCompiler::from_env().attach(registry.python_runtime());
    let started = Instant::now();
    python_upload(&registry, &compiler, "py_even", PYTHON_SOURCE)?;
    rows.push(Row::new(
        "first upload: build the shared Python runtime (componentize-py + wasmtime compile, once per machine) + upload",
        started.elapsed().as_secs_f64() * 1e3,
        "ms",
        format!("{}", registry.python_runtime().stats_json()),
    ));
    let mut times = Vec::new();
    for i in 0..20 {
        let started = Instant::now();
        python_upload(&registry, &compiler, &format!("py_upload_{i}"), &upload_source(i))?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    rows.push(Row::new("upload on the shared runtime, p50 of 20 distinct UDFs", percentile(&times, 0.5), "ms", "metadata + CPython check + trial load + store"));
    rows.push(Row::new("upload on the shared runtime, p99 of 20 distinct UDFs", percentile(&times, 0.99), "ms", ""));
    let per_udf = dir_bytes(&dir.join("registry").join("py_upload_0"));
    let runtime_bytes = dir_bytes(&dir.join("python-runtime"));
    rows.push(Row::new(
        "disk bytes per Python UDF (beyond the shared runtime)",
        per_udf as f64,
        "bytes",
        format!("shared runtime: {:.1} MB once (component + precompiled)", runtime_bytes as f64 / 1e6),
    ));
    let wat = |t: &str| quidditch_udf::compile_wat(t).map_err(|e| anyhow::anyhow!(e));
    for (name, text) in [("core_even", FIELD), ("core_even_batch", BATCH)] {
        register(&registry, name, wat(text)?)?;
    }
    drop(registry);

    // Restart: the registry loads the precompiled artifacts instead of compiling.
    let started = Instant::now();
    let registry = UdfRegistry::open(&dir, UdfConfig::default())?;
    let _compiler = PythonCompiler::from_env().attach(registry.python_runtime());
    rows.push(Row::new(
        "restart: open the registry (23 UDFs incl. 21 Python ones; nothing compiled)",
        started.elapsed().as_secs_f64() * 1e3,
        "ms",
        format!("{}", registry.runtime_json()),
    ));
    // The first instance of a Python UDF after a restart loads the precompiled runtime.
    let started = Instant::now();
    let py = registry.resolve("py_even", None)?;
    drop(new_instance(&py, &Arc::new(Vec::new()))?);
    rows.push(Row::new(
        "restart: first Python instance (loads the precompiled shared runtime)",
        started.elapsed().as_secs_f64() * 1e3,
        "ms",
        format!("{}", registry.python_runtime().stats_json()),
    ));
    let core = registry.resolve("core_even", None)?;
    let core_batch = registry.resolve("core_even_batch", None)?;

    let column = Arc::new((0..docs as i64).map(|i| i * 7 + 3).collect::<Vec<_>>());
    let ids: Vec<u32> = (0..docs as u32).collect();

    let ns = native_filter(&column, &ids);
    rows.push(Row::new("native Rust filter (one i64 read via DocumentAccess)", ns, "ns/doc", ""));
    let core_ns = per_doc(&core, &column, &ids, Export::Filter)?;
    rows.push(Row::new("core-wasm filter, per-document call", core_ns, "ns/doc", ""));
    let ns = batched(&core_batch, &column, &ids, 1024, Export::Filter)?;
    rows.push(Row::new("core-wasm filter_batch, 1024 docs/call", ns, "ns/doc", ""));

    let py_per_doc = per_doc(&py, &column, &ids[..per_doc_docs], Export::Filter)?;
    rows.push(Row::new("Python filter, per-document call (`filter`)", py_per_doc, "ns/doc", format!("{per_doc_docs} docs")));
    for block in [256, 1024, 4096] {
        let ns = batched(&py, &column, &ids, block, Export::Filter)?;
        rows.push(Row::new(
            format!("Python filter, batched (`filter-block`), {block} docs/call"),
            ns,
            "ns/doc",
            format!("{:.1}× per-document (packed `filter-block`)", py_per_doc / ns),
        ));
    }
    let ns = per_doc(&py, &column, &ids[..per_doc_docs], Export::Score)?;
    rows.push(Row::new("Python score returning 1.0 (no field read), per-document call", ns, "ns/doc", "call floor"));
    let ns = batched(&py, &column, &ids, 1024, Export::Score)?;
    rows.push(Row::new("Python score returning 1.0 (no field read), batched 1024 docs/call", ns, "ns/doc", "interpreter floor"));

    let us = instantiation(&py, 200)?;
    rows.push(Row::new(
        "instance start per evaluation context (Python: runtime instance + load-module)",
        us,
        "µs",
        "pooling allocator, incl. drop",
    ));
    let us = instantiation(&core, 20_000)?;
    rows.push(Row::new("instantiation per evaluation context (core module)", us, "µs", "for comparison"));

    println!("| benchmark | result | unit | note |\n|---|---:|---|---|");
    for r in rows {
        println!("| {} | {:.1} | {} | {} |", r.name, r.value, r.unit, r.note);
    }
    println!(
        "\ndocuments: {docs} ({per_doc_docs} for per-document Python calls); cpus: {}",
        std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1)
    );
    drop(registry);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

#[derive(Clone, Copy)]
enum Export {
    Filter,
    Score,
}

fn per_doc(udf: &Arc<LoadedUdf>, column: &Arc<Vec<i64>>, ids: &[u32], export: Export) -> anyhow::Result<f64> {
    let mut error = None;
    let ns = per_item(ids.len(), || {
        // A fresh instance per run, as per query; its cost is amortized over the documents.
        let mut inst = match new_instance(udf, column) {
            Ok(i) => i,
            Err(e) => return error = Some(e),
        };
        let mut acc = 0f64;
        for &d in ids {
            let r = match export {
                Export::Filter => inst.filter(d, 0.0).map(|k| k as u8 as f64),
                Export::Score => inst.score(d, 0.0),
            };
            match r {
                Ok(v) => acc += v,
                Err(e) => return error = Some(e.into()),
            }
        }
        black_box(acc);
    });
    error.map_or(Ok(ns), Err)
}

fn batched(udf: &Arc<LoadedUdf>, column: &Arc<Vec<i64>>, ids: &[u32], batch: usize, export: Export) -> anyhow::Result<f64> {
    let scores = vec![0.0f32; batch];
    let mut error = None;
    let ns = per_item(ids.len(), || {
        let mut inst = match new_instance(udf, column) {
            Ok(i) => i,
            Err(e) => return error = Some(e),
        };
        let mut kept = Vec::with_capacity(batch);
        let mut scored = Vec::with_capacity(batch);
        let mut acc = 0usize;
        for chunk in ids.chunks(batch) {
            let r = match export {
                Export::Filter => inst.filter_batch(chunk, &scores[..chunk.len()], &mut kept).map(|_| kept.len()),
                Export::Score => inst.score_batch(chunk, &scores[..chunk.len()], &mut scored).map(|_| scored.len()),
            };
            match r {
                Ok(n) => acc += n,
                Err(e) => return error = Some(e.into()),
            }
        }
        black_box(acc);
    });
    error.map_or(Ok(ns), Err)
}
