//! `bench wal-append`: write-ahead log append throughput (`Wal::append`: encode, write, one
//! fdatasync per call), for single-document requests and `_bulk`-sized batches, in a directory
//! on the file system under test (`--dir`, default a temporary directory).

use std::sync::Arc;
use std::time::Instant;

use quidditch_engine::wal::{Wal, WalOp};

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut dir: Option<std::path::PathBuf> = None;
    let mut seconds = 5.0f64;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--dir" => dir = it.next().map(Into::into),
            "--seconds" => seconds = it.next().and_then(|s| s.parse().ok()).unwrap_or(seconds),
            other => anyhow::bail!("unknown argument {other} (expected --dir D, --seconds S)"),
        }
    }
    let root = dir.unwrap_or_else(std::env::temp_dir).join(format!("quidditch-wal-bench-{}", std::process::id()));
    std::fs::create_dir_all(&root)?;
    // A typical small document (≈ 200 bytes of JSON).
    let source: Arc<[u8]> = serde_json::to_vec(&serde_json::json!({
        "title": "a quick brown fox jumps over the lazy dog", "category": "books", "price": 12.5,
        "stock": 17, "created": "2024-03-01T10:00:00Z", "in_stock": true, "tags": ["a", "b", "c"]
    }))?
    .into();
    println!("| records per append | appends/s | records/s | MB/s |");
    println!("|---:|---:|---:|---:|");
    for batch in [1usize, 100, 1000] {
        let (mut wal, _) = Wal::open(&root.join(format!("b{batch}")))?;
        let mut seq = 0i64;
        let mut appends = 0u64;
        let mut bytes = 0u64;
        let start = Instant::now();
        while start.elapsed().as_secs_f64() < seconds {
            let ops: Vec<WalOp> = (0..batch)
                .map(|_| {
                    seq += 1;
                    WalOp::Index { seq_no: seq, version: 1, primary_term: 1, id: format!("doc-{seq}"), source: source.clone(), routing: None }
                })
                .collect();
            let before = wal.size_bytes();
            wal.append(&ops)?;
            bytes += wal.size_bytes() - before;
            appends += 1;
        }
        let secs = start.elapsed().as_secs_f64();
        println!(
            "| {batch} | {:.0} | {:.0} | {:.1} |",
            appends as f64 / secs,
            (appends as usize * batch) as f64 / secs,
            bytes as f64 / secs / 1e6
        );
    }
    std::fs::remove_dir_all(&root)?;
    Ok(())
}
