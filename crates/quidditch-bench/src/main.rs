//! `bench`: benchmarks, one subcommand per area; results go to BENCHMARKS.md.

mod common;
mod search_engine;
mod shards;
mod python_udf;
mod udf_runtime;
mod udf_http;
mod udf_search;
mod udf_sdk;
mod wal_append;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let result = match args.get(1).map(String::as_str) {
        Some("search-engine") => search_engine::run(&args[2..]),
        Some("udf-runtime") => udf_runtime::run(&args[2..]),
        Some("python-udf") => python_udf::run(&args[2..]),
        Some("udf-search") => udf_search::run(&args[2..]),
        Some("shards") => shards::run(&args[2..]),
        Some("udf-http") => udf_http::run(&args[2..]),
        Some("udf-sdk") => udf_sdk::run(&args[2..]),
        Some("wal-append") => wal_append::run(&args[2..]),
        _ => {
            eprintln!("usage: bench <subcommand> [args]\n\nsubcommands:\n  search-engine _bulk and _search against raw tantivy in-process\n  udf-runtime   UDF call and instantiation cost beside native Rust\n  python-udf    Python UDF per-document/batched cost, upload and instantiation, beside core wasm and native Rust\n  udf-search    wasm_udf filters and UDF scoring inside search vs native queries and a Rust closure\n  shards        1 vs 2 vs 5 shards: search latency and throughput, reduce overhead\n  udf-sdk       the Rust SDK and the C header vs hand-written WAT, per document and batched\n  wal-append    write-ahead log append throughput (one fsync per append)");
            std::process::exit(2);
        }
    };
    if let Err(e) = result {
        eprintln!("error: {e:#}");
        std::process::exit(1);
    }
}
