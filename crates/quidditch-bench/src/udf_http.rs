//! `bench udf-http`: the same numeric-range predicate as `bench udf-search`, through a real
//! `quidditch serve` over HTTP: a native `range` query, the per-document UDF
//! (`price_between.wat`) with one host→wasm call per document (`udf.batch_driver: false`) and
//! through the batch driver (the default), and the batched-ABI UDF
//! (`price_between_batched.wat`). Each variant is `_count` over the whole index; times are
//! ns per document of the index, best of the runs after a warm-up, all counts checked equal.
//!
//! Reproduce: `cargo build --release -p quidditch-server --bins && target/release/bench udf-http`
//! (`--docs 200000 --runs 5` are the defaults).

use std::path::Path;
use std::time::Instant;

use anyhow::Context;
use serde_json::{Value, json};

use crate::search_engine::{RawHttp, start_server};

const MIN: f64 = 200.0;
const MAX: f64 = 500.0;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut docs: usize = 200_000;
    let mut runs: usize = 5;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--docs" => docs = it.next().and_then(|v| v.parse().ok()).context("--docs N")?,
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()).context("--runs N")?,
            other => anyhow::bail!("unknown argument {other}; usage: bench udf-http [--docs N] [--runs N]"),
        }
    }
    let bin = std::env::current_exe()?.with_file_name("quidditch");
    let mut rows: Vec<(String, f64, u64)> = Vec::new();
    for driver in [false, true] {
        let server = start_server(&bin, Some(&json!({"udf": {"batch_driver": driver}})))?;
        let mut http = RawHttp::connect(&server.url)?;
        load(&mut http, docs)?;
        let mut measure = |name: &str, query: Value| -> anyhow::Result<()> {
            let body = json!({"query": query}).to_string();
            let count = |http: &mut RawHttp| -> anyhow::Result<u64> {
                let r: Value = serde_json::from_slice(&http.post("/bench/_count", &body)?)?;
                r["count"].as_u64().context("no count in the response")
            };
            let n = count(&mut http)?;
            let mut best = f64::MAX;
            for _ in 0..runs {
                let t = Instant::now();
                anyhow::ensure!(count(&mut http)? == n, "{name}: the count changed between runs");
                best = best.min(t.elapsed().as_nanos() as f64 / docs as f64);
            }
            rows.push((name.to_string(), best, n));
            Ok(())
        };
        let udf = |name: &str| json!({"wasm_udf": {"name": name, "params": {"min": MIN, "max": MAX}}});
        if driver {
            measure("(a) native range query", json!({"range": {"price": {"gte": MIN, "lte": MAX}}}))?;
            measure("(c') per-document UDF, batch driver", udf("price_between"))?;
            measure("(d) batched-ABI UDF", udf("price_between_batched"))?;
        } else {
            measure("(c) per-document UDF, 1 call/doc", udf("price_between"))?;
        }
    }
    let native = rows.iter().find(|r| r.0.starts_with("(a)")).map(|r| (r.1, r.2)).context("no native row")?;
    println!("_count of {MIN} <= price <= {MAX} over {docs} documents through HTTP, {} match; best of {runs} runs", native.1);
    println!("{:<40} {:>9} {:>10}", "variant", "ns/doc", "vs native");
    for (name, ns, n) in &rows {
        anyhow::ensure!(*n == native.1, "{name} counted {n}, the native range query {}", native.1);
        println!("{name:<40} {ns:>9.2} {:>9.2}x", ns / native.0);
    }
    Ok(())
}

/// The index (price uniform in [0, 1000), as `bench udf-search`), in several segments, and
/// the two UDFs.
fn load(http: &mut RawHttp, docs: usize) -> anyhow::Result<()> {
    let mapping = json!({"mappings": {"properties": {"price": {"type": "double"}}}});
    http.send("PUT", "/bench", &mapping.to_string(), 200)?;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let chunk = 20_000;
    for start in (0..docs).step_by(chunk) {
        let mut body = String::new();
        for i in start..(start + chunk).min(docs) {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            body.push_str(&format!("{{\"index\":{{\"_id\":\"{i}\"}}}}\n{{\"price\":{}}}\n", (rng % 100_000) as f64 / 100.0));
        }
        let r: Value = serde_json::from_slice(&http.post("/bench/_bulk?refresh=true", &body)?)?;
        anyhow::ensure!(r["errors"] == json!(false), "bulk failed: {r}");
    }
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/wat/search");
    let params = json!([{"name": "min", "type": "f64", "required": true}, {"name": "max", "type": "f64", "required": true}]);
    for name in ["price_between", "price_between_batched"] {
        let wat = std::fs::read_to_string(fixtures.join(format!("{name}.wat")))?;
        let body = json!({"name": name, "version": "1.0.0", "language": "wat", "parameters": params, "wat_source": wat});
        http.send("POST", "/api/v1/udfs", &body.to_string(), 201)?;
    }
    Ok(())
}
