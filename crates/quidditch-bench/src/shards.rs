//! `bench shards`: the same documents in indices of 1, 2 and 5 shards, searched in-process
//! through the engine's one search entry point (plan → shard query phase on the shard pool →
//! reduce → fetch → render), with 1 and 2 concurrent clients.
//!
//! Reports per index and client count the query latency p50/p99 and the throughput, for a
//! match+filter query (top 10 by score) and the same with a terms aggregation; the 5-shard
//! index against the 1-shard one shows the reduce overhead.
//!
//! Reproduce: `cargo build --release -p quidditch-server && target/release/bench shards`
//! (`--docs 1000000 --queries 400` are the defaults).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use quidditch_engine::search::{SearchRequest, search};
use quidditch_engine::{Engine, EngineConfig, Index, OpType, Refresh, WriteOp};
use serde_json::{Value, json};

#[derive(Debug, Parser)]
#[command(name = "bench shards", about = "1 vs 2 vs 5 shards: query latency and throughput")]
struct Args {
    /// Documents in each index.
    #[arg(long, default_value_t = 1_000_000)]
    docs: usize,
    /// Measured queries per client (after a warm-up of 50).
    #[arg(long, default_value_t = 400)]
    queries: usize,
    /// Shard counts to compare.
    #[arg(long, value_delimiter = ',', default_value = "1,2,5")]
    shards: Vec<u32>,
}

/// SplitMix64: every run and every index sees the same data.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

fn word(i: u64) -> String {
    const SYLLABLES: [&str; 8] = ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi"];
    let mut w = String::new();
    let mut x = i + 8;
    while x > 0 {
        w.push_str(SYLLABLES[(x % 8) as usize]);
        x /= 8;
    }
    w
}

fn document(rng: &mut Rng) -> Value {
    // Skewed word choice (min of two draws): frequent and rare words, like text.
    let title: Vec<String> = (0..8).map(|_| word(rng.below(2_000).min(rng.below(2_000)))).collect();
    json!({
        "title": title.join(" "),
        "category": format!("cat{}", rng.below(20)),
        "price": rng.below(100_000) as f64 / 100.0,
    })
}

fn mapping() -> Value {
    json!({"mappings": {"properties": {
        "title": {"type": "text"}, "category": {"type": "keyword"}, "price": {"type": "double"}
    }}})
}

fn load(engine: &Engine, name: &str, shards: u32, docs: usize) -> anyhow::Result<Arc<Index>> {
    let mut body = mapping();
    body["settings"] = json!({"number_of_shards": shards, "refresh_interval": "-1"});
    let index = engine.create_index(name, Some(&body)).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut rng = Rng(42);
    let mut next_id = 0usize;
    while next_id < docs {
        let n = (docs - next_id).min(10_000);
        let ops = (0..n)
            .map(|i| WriteOp::Index {
                id: Some((next_id + i).to_string()),
                source: document(&mut rng).to_string().into_bytes(),
                op_type: OpType::Index,
                if_seq_no: None,
                if_primary_term: None,
                version: None,
            })
            .collect();
        for r in index.write(ops, Refresh::False).map_err(|e| anyhow::anyhow!("{e}"))? {
            r.map_err(|e| anyhow::anyhow!("{e}"))?;
        }
        next_id += n;
    }
    index.refresh().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(index)
}

fn queries(n: usize, with_aggs: bool) -> Vec<SearchRequest> {
    let mut rng = Rng(7);
    (0..n)
        .map(|_| {
            let words = format!("{} {}", word(rng.below(300)), word(rng.below(300)));
            let from = rng.below(900) as f64;
            let mut body = json!({
                "query": {"bool": {
                    "must": [{"match": {"title": words}}],
                    "filter": [{"range": {"price": {"gte": from, "lt": from + 200.0}}}]
                }},
                "size": 10
            });
            if with_aggs {
                body["aggs"] = json!({"cats": {"terms": {"field": "category", "size": 10}}});
            }
            SearchRequest::parse(Some(&body), &HashMap::new()).expect("benchmark query parses")
        })
        .collect()
}

struct Measured {
    p50: Duration,
    p99: Duration,
    qps: f64,
}

fn measure(index: &Arc<Index>, requests: &[SearchRequest], clients: usize) -> anyhow::Result<Measured> {
    let indices = [index.clone()];
    for req in requests.iter().take(50) {
        search(&indices, req, None).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    let started = Instant::now();
    let mut latencies: Vec<Duration> = std::thread::scope(|s| -> anyhow::Result<Vec<Duration>> {
        let handles: Vec<_> = (0..clients)
            .map(|c| {
                let indices = &indices;
                s.spawn(move || -> anyhow::Result<Vec<Duration>> {
                    let mut out = Vec::with_capacity(requests.len());
                    // Each client walks the queries from its own offset.
                    for i in 0..requests.len() {
                        let req = &requests[(i + c * 97) % requests.len()];
                        let t = Instant::now();
                        let resp = search(indices, req, None).map_err(|e| anyhow::anyhow!("{e}"))?;
                        std::hint::black_box(resp.to_string());
                        out.push(t.elapsed());
                    }
                    Ok(out)
                })
            })
            .collect();
        let mut all = Vec::new();
        for h in handles {
            all.extend(h.join().map_err(|_| anyhow::anyhow!("client panicked"))??);
        }
        Ok(all)
    })?;
    let wall = started.elapsed();
    latencies.sort();
    let pct = |p: f64| latencies[((latencies.len() as f64 * p) as usize).min(latencies.len() - 1)];
    Ok(Measured { p50: pct(0.50), p99: pct(0.99), qps: latencies.len() as f64 / wall.as_secs_f64() })
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let args = Args::parse_from(std::iter::once("bench shards".to_string()).chain(args.iter().cloned()));
    let dir = std::env::temp_dir().join(format!("quidditch-bench-shards-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let udfs = quidditch_udf::UdfRegistry::open(&dir.join("udfs"), Default::default())?;
    let engine = Engine::open(&dir.join("indices"), EngineConfig::default(), udfs)?;
    let cores = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
    println!("{} documents per index, {} queries per client, {cores} cores\n", args.docs, args.queries);
    let plain = queries(args.queries, false);
    let with_aggs = queries(args.queries, true);
    println!("| shards | query | clients | p50 ms | p99 ms | QPS |");
    println!("|---|---|---|---|---|---|");
    for &shards in &args.shards {
        let t = Instant::now();
        let index = load(&engine, &format!("bench-{shards}"), shards, args.docs)?;
        eprintln!("indexed {} docs into {shards} shard(s) in {:.1} s", args.docs, t.elapsed().as_secs_f64());
        for (label, requests) in [("match+filter", &plain), ("match+filter+terms", &with_aggs)] {
            for clients in [1, 2] {
                let m = measure(&index, requests, clients)?;
                println!(
                    "| {shards} | {label} | {clients} | {:.2} | {:.2} | {:.0} |",
                    m.p50.as_secs_f64() * 1e3,
                    m.p99.as_secs_f64() * 1e3,
                    m.qps
                );
            }
        }
        engine.delete_indices(index.name()).map_err(|e| anyhow::anyhow!("{e}"))?;
    }
    engine.shutdown()?;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}
