//! `bench udf-sdk`: what the guest SDKs cost over hand-written WAT. The same predicate (keep
//! documents whose i64 field `n` is even) as a raw WAT module, with the Rust SDK and with the C
//! header, per document and batched, in the real runtime; plus each module's size.
//!
//! The Rust and C guests are built from source here (`crates/quidditch-udf-sdk/tests/bench-guest`):
//! cargo for wasm32-wasip1 (target dir `$QUIDDITCH_WASM_TARGET_DIR` when set, else a temp dir)
//! and Debian's clang.
//!
//! Reproduce: `cargo run --release -p quidditch-server --bin bench -- udf-sdk [--docs N]`

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context as _;
use quidditch_udf::{LoadedUdf, UdfConfig, UdfRegistry};

use super::common::{new_instance, register};

const WAT_FIELD: &str = include_str!("../../../tests/fixtures/wat/field_filter.wat");
const WAT_BATCH: &str = include_str!("../../../tests/fixtures/wat/batch_filter.wat");
const BATCH: usize = 1024;

fn guest_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../quidditch-udf-sdk/tests/bench-guest")
}

fn build_rust_guest() -> anyhow::Result<Vec<u8>> {
    let target_dir = std::env::var_os("QUIDDITCH_WASM_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join("quidditch-bench-wasm"));
    let status = Command::new("cargo")
        .args(["build", "--release", "--target", "wasm32-wasip1", "--quiet"])
        .arg("--manifest-path")
        .arg(guest_dir().join("Cargo.toml"))
        .arg("--target-dir")
        .arg(&target_dir)
        .env_remove("CARGO_TARGET_DIR")
        .status()
        .context("running cargo for the Rust SDK guest")?;
    anyhow::ensure!(status.success(), "building the Rust SDK guest failed");
    Ok(std::fs::read(target_dir.join("wasm32-wasip1/release/sdk_bench_guest.wasm"))?)
}

fn build_c_guest() -> anyhow::Result<Vec<u8>> {
    let out = std::env::temp_dir().join(format!("quidditch-bench-even-{}.wasm", std::process::id()));
    let status = Command::new("clang")
        .args(["--target=wasm32-wasi", "-O2", "-nostartfiles", "-Wl,--no-entry", "-Wl,--strip-all"])
        .arg("-I")
        .arg(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/c"))
        .arg("-o")
        .arg(&out)
        .arg(guest_dir().join("even.c"))
        .status()
        .context("running clang for the C guest (scripts/setup.sh installs it)")?;
    anyhow::ensure!(status.success(), "building the C guest failed");
    let bytes = std::fs::read(&out)?;
    let _ = std::fs::remove_file(out);
    Ok(bytes)
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut docs: usize = 1_000_000;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--docs" => docs = it.next().and_then(|v| v.parse().ok()).ok_or_else(|| anyhow::anyhow!("--docs N"))?,
            other => anyhow::bail!("unknown argument {other}; usage: bench udf-sdk [--docs N]"),
        }
    }
    let wat = |t: &str| quidditch_udf::compile_wat(t).map_err(|e| anyhow::anyhow!(e));
    let guests: Vec<(&str, Vec<u8>, Vec<u8>)> = vec![
        ("hand-written WAT", wat(WAT_FIELD)?, wat(WAT_BATCH)?),
        ("Rust SDK (#[filter] / #[filter_batch])", build_rust_guest()?, Vec::new()),
        ("C header (quidditch_udf.h)", build_c_guest()?, Vec::new()),
    ];

    let dir = std::env::temp_dir().join(format!("quidditch-bench-udf-sdk-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let registry = UdfRegistry::open(&dir, UdfConfig::default())?;
    let column = Arc::new((0..docs as i64).map(|i| i * 7 + 3).collect::<Vec<_>>());
    let ids: Vec<u32> = (0..docs as u32).collect();
    let expected_kept = column.iter().filter(|n| *n % 2 == 0).count() as u64;

    println!("| guest | per-document `filter` | `filter_batch` ({BATCH} docs/batch) | module size |");
    println!("|---|---:|---:|---:|");
    for (i, (label, per_doc, batch_only)) in guests.into_iter().enumerate() {
        let size = per_doc.len();
        let per_doc_udf = register(&registry, &format!("g{i}"), per_doc)?;
        // The WAT baseline keeps its batched form in a second module; SDK guests have both.
        let batch_udf = if batch_only.is_empty() { per_doc_udf.clone() } else { register(&registry, &format!("g{i}b"), batch_only)? };
        let single = per_doc_calls(&per_doc_udf, &column, &ids, expected_kept)?;
        let batched = batched_calls(&batch_udf, &column, &ids, expected_kept)?;
        println!("| {label} | {single:.1} ns/doc | {batched:.1} ns/doc | {size} bytes |");
    }
    println!("\ndocuments: {docs}; best of 5 runs after a warm-up, a fresh instance per run");
    drop(registry);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// Best of 5 runs (after a warm-up) of `run`, in ns per document; every run must keep
/// `expected` documents, so a wrong guest cannot look fast.
fn best_of_5(docs: usize, expected: u64, mut run: impl FnMut() -> anyhow::Result<u64>) -> anyhow::Result<f64> {
    anyhow::ensure!(run()? == expected, "guest kept the wrong documents");
    let mut best = f64::INFINITY;
    for _ in 0..5 {
        let t = Instant::now();
        let kept = run()?;
        best = best.min(t.elapsed().as_nanos() as f64 / docs as f64);
        anyhow::ensure!(kept == expected, "guest kept {kept} documents, expected {expected}");
    }
    Ok(best)
}

fn per_doc_calls(udf: &Arc<LoadedUdf>, column: &Arc<Vec<i64>>, ids: &[u32], expected: u64) -> anyhow::Result<f64> {
    best_of_5(ids.len(), expected, || {
        let mut inst = new_instance(udf, column)?;
        let mut kept = 0u64;
        for &d in ids {
            kept += inst.filter(black_box(d), 0.0)? as u64;
        }
        Ok(kept)
    })
}

fn batched_calls(udf: &Arc<LoadedUdf>, column: &Arc<Vec<i64>>, ids: &[u32], expected: u64) -> anyhow::Result<f64> {
    let scores = vec![0.0f32; BATCH];
    best_of_5(ids.len(), expected, || {
        let mut inst = new_instance(udf, column)?;
        let mut out = Vec::with_capacity(BATCH);
        let mut kept = 0u64;
        for chunk in ids.chunks(BATCH) {
            inst.filter_batch(chunk, &scores[..chunk.len()], &mut out)?;
            kept += out.iter().filter(|k| **k).count() as u64;
        }
        Ok(kept)
    })
}
