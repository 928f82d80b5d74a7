//! `bench search-engine`: Quidditch's `_bulk` and `_search` against raw tantivy in-process.
//!
//! Both sides get the same N deterministic documents (text, keyword, numeric, date, boolean)
//! and the same match+filter queries. The raw side is what an expert would write with
//! tantivy directly: a typed schema (no JSON fields), one `IndexWriter` with the same memory
//! budget and thread count as the server, the `_source` stored next to the indexed fields,
//! and queries built as `BooleanQuery`s. Both compute the total hit count and fetch the
//! stored source of the top 10, as an OpenSearch search response requires.
//!
//! The server side is a real `quidditch serve` process on a temporary data directory,
//! driven over HTTP with keep-alive: `_bulk` bodies are serialized before the clock starts,
//! and a final `_refresh` is inside the measured time.
//!
//! Reproduce: `cargo build --release -p quidditch-server && target/release/bench search-engine`
//! (`--docs 200000 --queries 1000` are the defaults).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use clap::Parser;
use serde_json::{Value, json};
use tantivy::collector::{Count, TopDocs};
use tantivy::query::{BooleanQuery, Occur, Query, RangeQuery, TermQuery};
use tantivy::schema::{
    FAST, INDEXED, IndexRecordOption, STORED, STRING, Schema, TEXT, TextFieldIndexing, TextOptions,
};
use tantivy::{DateTime, Index, IndexWriter, TantivyDocument, Term, doc};

#[derive(Debug, Parser)]
#[command(name = "bench search-engine", about = "Quidditch _bulk/_search vs raw tantivy")]
struct Args {
    /// Number of documents indexed on each side.
    #[arg(long, default_value_t = 200_000)]
    docs: usize,
    /// Number of measured queries on each side (after a warm-up of 100).
    #[arg(long, default_value_t = 1_000)]
    queries: usize,
    /// Documents per `_bulk` request.
    #[arg(long, default_value_t = 5_000)]
    bulk_size: usize,
    /// Concurrent `_bulk` clients.
    #[arg(long, default_value_t = 2)]
    clients: usize,
    /// tantivy indexing memory budget for the raw side, MB (the server's default is 128).
    #[arg(long, default_value_t = 128)]
    writer_memory_mb: usize,
    /// Seconds to wait after indexing before querying (lets background merges settle).
    #[arg(long, default_value_t = 0)]
    settle_secs: u64,
    /// The `quidditch` binary (default: next to this `bench` binary).
    #[arg(long)]
    server_bin: Option<PathBuf>,
    /// Only the `quidditch serve` side (comparing two server builds: `--server-bin`).
    #[arg(long)]
    server_only: bool,
    /// Where the in-process write path spends its time: CPU per document of each phase
    /// (JSON parse, mapping, tantivy document, tantivy indexing of the engine's layout) beside
    /// raw tantivy, instead of the comparison.
    #[arg(long)]
    write_profile: bool,
}

/// A tiny deterministic PRNG (SplitMix64), so both sides and every run see the same data.
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
    /// Skewed towards small values (word frequencies roughly like text).
    fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b).min(self.below(n))
    }
}

const VOCABULARY: usize = 5_000;
const CATEGORIES: u64 = 20;

fn word(i: u64) -> String {
    const SYLLABLES: [&str; 16] =
        ["ka", "lo", "mi", "ne", "ru", "ta", "vo", "zi", "be", "do", "fu", "ga", "hi", "jo", "pe", "su"];
    let mut w = String::new();
    let mut x = i + 16;
    while x > 0 {
        w.push_str(SYLLABLES[(x % 16) as usize]);
        x /= 16;
    }
    w
}

struct BenchDoc {
    id: String,
    title: String,
    category: String,
    price: f64,
    stock: i64,
    created_millis: i64,
    in_stock: bool,
    source: Value,
}

fn generate(n: usize) -> Vec<BenchDoc> {
    let mut rng = Rng(42);
    let base = 1_704_067_200_000i64; // 2024-01-01T00:00:00Z
    (0..n)
        .map(|i| {
            let words = 6 + rng.below(10);
            let title = (0..words).map(|_| word(rng.skewed(VOCABULARY as u64))).collect::<Vec<_>>().join(" ");
            let category = format!("cat{}", rng.below(CATEGORIES));
            let price = (rng.below(100_000) as f64) / 100.0;
            let stock = rng.below(1_000) as i64;
            let created_millis = base + (rng.below(365 * 24 * 3600) as i64) * 1000;
            let in_stock = rng.below(4) != 0;
            let created = quidditch_engine::query_ast::format_millis_iso(created_millis);
            let source = json!({
                "title": title, "category": category, "price": price, "stock": stock,
                "created": created, "in_stock": in_stock,
            });
            BenchDoc { id: i.to_string(), title, category, price, stock, created_millis, in_stock, source }
        })
        .collect()
}

/// One match+filter query: 1–2 title words, a category term and a price range.
struct BenchQuery {
    words: Vec<String>,
    category: String,
    price_from: f64,
    price_to: f64,
}

fn generate_queries(n: usize) -> Vec<BenchQuery> {
    let mut rng = Rng(7);
    (0..n)
        .map(|_| {
            let k = 1 + rng.below(2);
            let words = (0..k).map(|_| word(rng.skewed(200))).collect();
            let price_from = rng.below(800) as f64;
            BenchQuery {
                words,
                category: format!("cat{}", rng.below(CATEGORIES)),
                price_from,
                price_to: price_from + 200.0,
            }
        })
        .collect()
}

/// The OpenSearch request body for a query (both server and in-process engine use it).
fn query_body(q: &BenchQuery) -> Value {
    json!({
        "size": 10,
        "query": {"bool": {
            "must": {"match": {"title": q.words.join(" ")}},
            "filter": [
                {"term": {"category": q.category}},
                {"range": {"price": {"gte": q.price_from, "lte": q.price_to}}},
            ],
        }},
    })
}

fn mapping() -> Value {
    json!({"mappings": {"properties": {
        "title": {"type": "text"},
        "category": {"type": "keyword"},
        "price": {"type": "double"},
        "stock": {"type": "long"},
        "created": {"type": "date"},
        "in_stock": {"type": "boolean"},
    }}})
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let idx = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[idx.min(sorted.len() - 1)]
}

struct SideResult {
    index_secs: f64,
    /// CPU seconds the server process spent indexing (server side only; less sensitive to
    /// other load on the machine than the wall clock).
    index_cpu_secs: Option<f64>,
    docs_per_sec: f64,
    p50: Duration,
    p99: Duration,
    total_hits: u64,
}

impl SideResult {
    /// From the indexing time of `docs` documents and the sorted query `latencies`.
    fn new(index_secs: f64, docs: usize, latencies: &[Duration], total_hits: u64) -> SideResult {
        SideResult {
            index_secs,
            index_cpu_secs: None,
            docs_per_sec: docs as f64 / index_secs,
            p50: percentile(latencies, 0.5),
            p99: percentile(latencies, 0.99),
            total_hits,
        }
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let args = Args::try_parse_from(std::iter::once("search-engine".to_string()).chain(args.iter().cloned()))
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    eprintln!("generating {} documents and {} queries…", args.docs, args.queries);
    let docs = generate(args.docs);
    let queries = generate_queries(args.queries + 100);

    if args.write_profile {
        return write_profile(&args, &docs);
    }
    if args.server_only {
        eprintln!("quidditch server {}…", args.server_bin.as_deref().map(|p| p.display().to_string()).unwrap_or_default());
        let server = run_server(&args, &docs, &queries)?;
        println!("search-engine benchmark, server only: {} docs, {} queries", args.docs, args.queries);
        println!("{:<14} {:>12} {:>14} {:>10} {:>10} {:>14}", "side", "index s", "docs/s", "p50 ms", "p99 ms", "index CPU s");
        println!(
            "{:<14} {:>12.2} {:>14.0} {:>10.3} {:>10.3} {:>14.2}",
            "quidditch", server.index_secs, server.docs_per_sec, ms(server.p50), ms(server.p99),
            server.index_cpu_secs.unwrap_or(f64::NAN)
        );
        println!("total hits over all measured queries: {}", server.total_hits);
        return Ok(());
    }
    eprintln!("raw tantivy…");
    let raw = run_raw(&args, &docs, &queries)?;
    eprintln!("quidditch engine in-process…");
    let engine = run_engine(&args, &docs, &queries)?;
    eprintln!("quidditch server…");
    let server = run_server(&args, &docs, &queries)?;
    if raw.total_hits != server.total_hits {
        eprintln!(
            "warning: total hits differ over all queries (raw {} vs server {})",
            raw.total_hits, server.total_hits
        );
    }

    println!("search-engine benchmark: {} docs, {} queries (top 10, match + term + range filter)", args.docs, args.queries);
    println!("{:<14} {:>12} {:>14} {:>10} {:>10}", "side", "index s", "docs/s", "p50 ms", "p99 ms");
    for (name, r) in [("raw tantivy", &raw), ("engine (no HTTP)", &engine), ("quidditch", &server)] {
        println!(
            "{:<14} {:>12.2} {:>14.0} {:>10.3} {:>10.3}",
            name, r.index_secs, r.docs_per_sec, ms(r.p50), ms(r.p99)
        );
    }
    let index_ratio = server.docs_per_sec / raw.docs_per_sec;
    let p50_ratio = ms(server.p50) / ms(raw.p50);
    let p99_ratio = ms(server.p99) / ms(raw.p99);
    println!("ratios: _bulk/raw indexing {index_ratio:.2}x (goal >= 0.6x), search p50 {p50_ratio:.2}x (goal <= 1.3x), p99 {p99_ratio:.2}x");
    println!(
        "engine in-process (same code, no HTTP/JSON transport): indexing {:.2}x, p50 {:.2}x",
        engine.docs_per_sec / raw.docs_per_sec,
        ms(engine.p50) / ms(raw.p50)
    );
    println!("total hits over all measured queries: raw {} / server {}", raw.total_hits, server.total_hits);
    Ok(())
}

// ------------------------------------------------------------------------------------ raw

/// The raw side's typed schema and its field handles.
struct RawFields {
    id: tantivy::schema::Field,
    title: tantivy::schema::Field,
    category: tantivy::schema::Field,
    price: tantivy::schema::Field,
    stock: tantivy::schema::Field,
    created: tantivy::schema::Field,
    in_stock: tantivy::schema::Field,
    source: tantivy::schema::Field,
}

fn raw_schema() -> (Schema, RawFields) {
    let mut b = Schema::builder();
    let id = b.add_text_field("id", STRING | STORED);
    let title = b.add_text_field(
        "title",
        TextOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("default")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let category = b.add_text_field("category", STRING | FAST);
    let price = b.add_f64_field("price", INDEXED | FAST);
    let stock = b.add_i64_field("stock", INDEXED | FAST);
    let created = b.add_date_field("created", INDEXED | FAST);
    let in_stock = b.add_bool_field("in_stock", INDEXED | FAST);
    let source = b.add_bytes_field("source", STORED);
    let _ = TEXT;
    (b.build(), RawFields { id, title, category, price, stock, created, in_stock, source })
}

/// Indexes `docs` the raw way (one writer, the server's threads and memory) and commits;
/// returns the writer, whose background merges may still run.
fn index_raw(args: &Args, index: &Index, docs: &[BenchDoc]) -> anyhow::Result<IndexWriter> {
    let (_, f) = raw_schema();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4);
    let mut writer: IndexWriter = index.writer_with_num_threads(threads, args.writer_memory_mb * 1_000_000)?;
    for d in docs {
        let src = serde_json::to_vec(&d.source)?;
        writer.add_document(doc!(
            f.id => d.id.clone(),
            f.title => d.title.clone(),
            f.category => d.category.clone(),
            f.price => d.price,
            f.stock => d.stock,
            f.created => DateTime::from_timestamp_millis(d.created_millis),
            f.in_stock => d.in_stock,
            f.source => src,
        ))?;
    }
    writer.commit()?;
    Ok(writer)
}

/// Raw indexing alone, on a scratch directory.
fn run_raw_indexing(args: &Args, docs: &[BenchDoc]) -> anyhow::Result<()> {
    let dir = scratch_dir("raw")?;
    let index = Index::create_in_dir(&dir, raw_schema().0)?;
    index_raw(args, &index, docs)?.wait_merging_threads()?;
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

fn run_raw(args: &Args, docs: &[BenchDoc], queries: &[BenchQuery]) -> anyhow::Result<SideResult> {
    let (schema, RawFields { title, category, price, source, .. }) = raw_schema();

    let dir = scratch_dir("raw")?;
    let index = Index::create_in_dir(&dir, schema)?;
    let start = Instant::now();
    let writer = index_raw(args, &index, docs)?;
    let index_secs = start.elapsed().as_secs_f64();
    writer.wait_merging_threads()?;

    std::thread::sleep(Duration::from_secs(args.settle_secs));
    let reader = index.reader()?;
    let searcher = reader.searcher();
    eprintln!("raw tantivy: {} segments", searcher.segment_readers().len());
    let tokenizers = index.tokenizers().clone();
    let build = |q: &BenchQuery| -> Box<dyn Query> {
        let mut analyzer = tokenizers.get("default").expect("default tokenizer");
        let mut text_clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for w in &q.words {
            let mut stream = analyzer.token_stream(w);
            while stream.advance() {
                let term = Term::from_field_text(title, &stream.token().text);
                text_clauses.push((Occur::Should, Box::new(TermQuery::new(term, IndexRecordOption::WithFreqs))));
            }
        }
        Box::new(BooleanQuery::new(vec![
            (Occur::Must, Box::new(BooleanQuery::new(text_clauses))),
            (Occur::Must, Box::new(tantivy::query::ConstScoreQuery::new(
                Box::new(TermQuery::new(Term::from_field_text(category, &q.category), IndexRecordOption::Basic)),
                0.0,
            ))),
            (Occur::Must, Box::new(tantivy::query::ConstScoreQuery::new(
                Box::new(RangeQuery::new(
                    std::ops::Bound::Included(Term::from_field_f64(price, q.price_from)),
                    std::ops::Bound::Included(Term::from_field_f64(price, q.price_to)),
                )),
                0.0,
            ))),
        ]))
    };
    let mut latencies = Vec::with_capacity(queries.len());
    let mut total_hits = 0u64;
    for (i, q) in queries.iter().enumerate() {
        let t = Instant::now();
        let query = build(q);
        let (top, count) = searcher.search(query.as_ref(), &(TopDocs::with_limit(10).order_by_score(), Count))?;
        let mut fetched = 0usize;
        for (_score, addr) in top {
            let doc: TantivyDocument = searcher.doc(addr)?;
            use tantivy::schema::Value as _;
            let bytes = doc.get_first(source).and_then(|v| v.as_bytes()).unwrap_or_default();
            let parsed: Value = serde_json::from_slice(bytes)?;
            fetched += usize::from(parsed.is_object());
        }
        std::hint::black_box(fetched);
        if i >= 100 {
            latencies.push(t.elapsed());
            total_hits += count as u64;
        }
    }
    latencies.sort();
    let _ = std::fs::remove_dir_all(&dir);
    Ok(SideResult::new(index_secs, docs.len(), &latencies, total_hits))
}

// ---------------------------------------------------------------------------- write profile

/// CPU time of the whole process (every thread, user + system), from `/proc/self/stat`:
/// unlike wall time it does not count what the other tenants of a shared machine run.
fn process_cpu() -> Duration {
    cpu_of("self")
}

/// [`process_cpu`] of process `pid` (`"self"` for this one).
fn cpu_of(pid: &str) -> Duration {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or_default();
    let field = |i: usize| rest.split_whitespace().nth(i).and_then(|x| x.parse::<u64>().ok()).unwrap_or(0);
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10) // USER_HZ is 100 on Linux
}

/// CPU time of the calling thread (`/proc/thread-self/schedstat`, nanoseconds on CPU).
fn thread_cpu() -> Duration {
    let s = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    Duration::from_nanos(s.split_whitespace().next().and_then(|x| x.parse().ok()).unwrap_or(0))
}

/// Times `f` on the process's CPU clock and the wall clock.
fn cpu_and_wall<T>(f: impl FnOnce() -> anyhow::Result<T>) -> anyhow::Result<(T, Duration, Duration)> {
    let (cpu, wall) = (process_cpu(), Instant::now());
    let out = f()?;
    Ok((out, process_cpu().saturating_sub(cpu), wall.elapsed()))
}

fn write_profile(args: &Args, docs: &[BenchDoc]) -> anyhow::Result<()> {
    use quidditch_engine::document::{DocMeta, add_meta, parse_document, to_tantivy};
    use quidditch_engine::{Engine, EngineConfig, OpType, Refresh, WriteOp};

    let n = docs.len();
    let per_doc = |d: Duration| d.as_secs_f64() * 1e6 / n as f64;
    let sources: Vec<Vec<u8>> = docs.iter().map(|d| d.source.to_string().into_bytes()).collect();
    println!("write profile: {n} docs, CPU microseconds per document (process CPU: all threads)");

    let (_, raw_cpu, raw_wall) = cpu_and_wall(|| run_raw_indexing(args, docs))?;
    println!("{:<44} {:>8.2} us/doc cpu  {:>8.0} docs/s wall", "raw tantivy: index + commit", per_doc(raw_cpu), n as f64 / raw_wall.as_secs_f64());

    // The engine's phases one by one, on this thread, against a real index's mapping.
    let dir = scratch_dir("profile")?;
    let udfs = quidditch_udf::UdfRegistry::open(&dir.join("udfs"), Default::default())?;
    let engine = Engine::open(&dir.join("indices"), EngineConfig::default(), udfs)?;
    let index = engine.create_index("bench", Some(&mapping())).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mapping = index.mapping();
    let fields = *index.fields();
    let t = thread_cpu();
    let values: Vec<Value> = sources.iter().map(|s| serde_json::from_slice(s)).collect::<Result<_, _>>()?;
    let parse = thread_cpu() - t;
    let t = thread_cpu();
    let parsed: Vec<_> = values
        .iter()
        .zip(docs)
        .map(|(v, d)| parse_document(&mapping, v, &d.id).map(|(p, _)| p))
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    let map = thread_cpu() - t;
    let t = thread_cpu();
    let built: Vec<tantivy::TantivyDocument> = parsed
        .into_iter()
        .zip(docs.iter().zip(&sources))
        .enumerate()
        .map(|(i, (p, (d, src)))| {
            let mut doc = to_tantivy(&fields, &d.id, src, p).root;
            add_meta(&mut doc, &fields, DocMeta { seq_no: i as i64, version: 1, primary_term: 1 });
            doc
        })
        .collect();
    let build = thread_cpu() - t;
    println!("{:<44} {:>8.2} us/doc cpu", "engine: JSON parse (serde_json Value)", per_doc(parse));
    println!("{:<44} {:>8.2} us/doc cpu", "engine: mapping (parse_document)", per_doc(map));
    println!("{:<44} {:>8.2} us/doc cpu", "engine: tantivy document (to_tantivy)", per_doc(build));

    // tantivy indexing of the engine's documents (its schema and tokenizers), nothing else.
    let tantivy_index = index.tantivy_index();
    let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1).clamp(1, 4);
    let copy_dir = scratch_dir("profile-tantivy")?;
    let mut copy = tantivy::Index::create_in_dir(&copy_dir, tantivy_index.schema())?;
    copy.set_tokenizers(tantivy_index.tokenizers().clone());
    let (_, idx_cpu, idx_wall) = cpu_and_wall(|| {
        let mut writer: IndexWriter = copy.writer_with_num_threads(threads, args.writer_memory_mb * 1_000_000)?;
        for doc in built {
            writer.add_document(doc)?;
        }
        writer.commit()?;
        writer.wait_merging_threads()?;
        Ok(())
    })?;
    println!("{:<44} {:>8.2} us/doc cpu  {:>8.0} docs/s wall", "engine layout: tantivy index + commit", per_doc(idx_cpu), n as f64 / idx_wall.as_secs_f64());
    drop(copy);
    let _ = std::fs::remove_dir_all(&copy_dir);

    // The whole in-process write path (`Index::write` batches + the final refresh).
    let batches: Vec<Vec<WriteOp>> = docs
        .chunks(args.bulk_size.max(1))
        .zip(sources.chunks(args.bulk_size.max(1)))
        .map(|(chunk, srcs)| {
            chunk
                .iter()
                .zip(srcs)
                .map(|(d, s)| WriteOp::Index {
                    id: Some(d.id.clone()),
                    source: s.clone(),
                    op_type: OpType::Index,
                    if_seq_no: None,
                    if_primary_term: None,
                    version: None,
                })
                .collect()
        })
        .collect();
    let (_, all_cpu, all_wall) = cpu_and_wall(|| {
        for batch in batches {
            for r in index.write(batch, Refresh::False).map_err(|e| anyhow::anyhow!("{e}"))? {
                r.map_err(|e| anyhow::anyhow!("{e}"))?;
            }
        }
        index.refresh().map_err(|e| anyhow::anyhow!("{e}"))?;
        Ok(())
    })?;
    println!("{:<44} {:>8.2} us/doc cpu  {:>8.0} docs/s wall", "engine: Index::write + refresh (1 client)", per_doc(all_cpu), n as f64 / all_wall.as_secs_f64());
    engine.shutdown()?;
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

// ------------------------------------------------------------------------------ in-process

/// The engine crate without the HTTP layer: same write path (`Index::write` with the JSON
/// bytes a `_bulk` line carries) and same search code, called directly.
fn run_engine(args: &Args, docs: &[BenchDoc], queries: &[BenchQuery]) -> anyhow::Result<SideResult> {
    use quidditch_engine::{Engine, EngineConfig, OpType, Refresh, WriteOp};
    use quidditch_engine::search::{SearchRequest, search};

    let dir = scratch_dir("engine")?;
    let udfs = quidditch_udf::UdfRegistry::open(&dir.join("udfs"), Default::default())?;
    let engine = Engine::open(&dir.join("indices"), EngineConfig::default(), udfs)?;
    let index = engine.create_index("bench", Some(&mapping())).map_err(|e| anyhow::anyhow!("{e}"))?;
    let batches: Vec<Vec<WriteOp>> = docs
        .chunks(args.bulk_size.max(1))
        .map(|chunk| {
            chunk
                .iter()
                .map(|d| WriteOp::Index {
                    id: Some(d.id.clone()),
                    source: d.source.to_string().into_bytes(),
                    op_type: OpType::Index,
                    if_seq_no: None,
                    if_primary_term: None,
                    version: None,
                })
                .collect()
        })
        .collect();
    let start = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let batches = std::sync::Mutex::new(batches.into_iter().map(Some).collect::<Vec<_>>());
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..args.clients.max(1))
            .map(|_| {
                let (index, next, batches) = (&index, &next, &batches);
                s.spawn(move || -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let batch = {
                            let mut guard = batches.lock().map_err(|_| anyhow::anyhow!("poisoned"))?;
                            match guard.get_mut(i) {
                                Some(b) => b.take(),
                                None => return Ok(()),
                            }
                        };
                        let Some(batch) = batch else { return Ok(()) };
                        for r in index.write(batch, Refresh::False).map_err(|e| anyhow::anyhow!("{e}"))? {
                            r.map_err(|e| anyhow::anyhow!("{e}"))?;
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("writer panicked"))??;
        }
        Ok(())
    })?;
    index.refresh().map_err(|e| anyhow::anyhow!("{e}"))?;
    let index_secs = start.elapsed().as_secs_f64();
    std::thread::sleep(Duration::from_secs(args.settle_secs));
    eprintln!("engine: {} segments", index.searcher().segment_readers().len());

    let indices = [index.clone()];
    let params = std::collections::HashMap::new();
    let mut latencies = Vec::with_capacity(queries.len());
    let mut total_hits = 0u64;
    for (i, q) in queries.iter().enumerate() {
        let body = query_body(q);
        let t = Instant::now();
        let req = SearchRequest::parse(Some(&body), &params)?;
        let resp = search(&indices, &req, None).map_err(|e| anyhow::anyhow!("{e}"))?;
        let text = resp.to_string();
        std::hint::black_box(text);
        if i >= 100 {
            latencies.push(t.elapsed());
            total_hits += resp["hits"]["total"]["value"].as_u64().unwrap_or(0);
        }
    }
    latencies.sort();
    engine.shutdown()?;
    drop(indices);
    drop(index);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(SideResult::new(index_secs, docs.len(), &latencies, total_hits))
}

// --------------------------------------------------------------------------------- server

/// A minimal HTTP/1.1 keep-alive client for the latency loop: each request is one `write`
/// and the response is read by `Content-Length`. (Measured on this machine, general-purpose
/// clients add ≈ 0.1 ms per request with a body — curl and ureq both write headers and body
/// separately — which would be charged to the server otherwise.)
pub(crate) struct RawHttp {
    stream: std::net::TcpStream,
    host: String,
    buf: Vec<u8>,
}

impl RawHttp {
    pub(crate) fn connect(url: &str) -> anyhow::Result<RawHttp> {
        let host = url.trim_start_matches("http://").trim_end_matches('/').to_string();
        let stream = std::net::TcpStream::connect(&host)?;
        stream.set_nodelay(true)?;
        Ok(RawHttp { stream, host, buf: Vec::with_capacity(64 * 1024) })
    }

    fn get(&mut self, path: &str) -> anyhow::Result<Vec<u8>> {
        let req = format!("GET {path} HTTP/1.1\r\nHost: {}\r\n\r\n", self.host);
        self.round_trip(req.as_bytes(), 200)
    }

    pub(crate) fn post(&mut self, path: &str, body: &str) -> anyhow::Result<Vec<u8>> {
        self.send("POST", path, body, 200)
    }

    /// A request with a JSON body; any other status than `status` is an error.
    pub(crate) fn send(&mut self, method: &str, path: &str, body: &str, status: u16) -> anyhow::Result<Vec<u8>> {
        let req = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            self.host,
            body.len()
        );
        self.round_trip(req.as_bytes(), status)
    }

    fn round_trip(&mut self, request: &[u8], status: u16) -> anyhow::Result<Vec<u8>> {
        use std::io::{Read, Write};
        self.stream.write_all(request)?;
        self.buf.clear();
        let mut chunk = [0u8; 16 * 1024];
        let header_end = loop {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                bail!("connection closed");
            }
            self.buf.extend_from_slice(&chunk[..n]);
            if let Some(pos) = self.buf.windows(4).position(|w| w == b"\r\n\r\n") {
                break pos + 4;
            }
        };
        let head = std::str::from_utf8(&self.buf[..header_end])?.to_ascii_lowercase();
        if !head.starts_with(&format!("http/1.1 {status}")) {
            bail!("unexpected response: {}", head.lines().next().unwrap_or_default());
        }
        let len: usize = head
            .lines()
            .find_map(|l| l.strip_prefix("content-length:"))
            .and_then(|v| v.trim().parse().ok())
            .context("response without content-length")?;
        while self.buf.len() < header_end + len {
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                bail!("connection closed");
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
        Ok(self.buf[header_end..header_end + len].to_vec())
    }
}

pub(crate) struct ServerProcess {
    child: Child,
    pub(crate) url: String,
    dir: PathBuf,
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn scratch_dir(name: &str) -> anyhow::Result<PathBuf> {
    let dir = std::env::temp_dir().join(format!("quidditch-bench-{}-{name}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir)?;
    Ok(dir)
}

/// A `quidditch serve` on a scratch directory, with `config` as its config file if given.
pub(crate) fn start_server(bin: &Path, config: Option<&Value>) -> anyhow::Result<ServerProcess> {
    let dir = scratch_dir("server")?;
    let mut command = Command::new(bin);
    command.args(["serve", "--listen", "127.0.0.1:0", "--log-level", "warn", "--data-dir"]).arg(dir.join("data"));
    if let Some(config) = config {
        let path = dir.join("config.json");
        std::fs::write(&path, serde_json::to_vec(config)?)?;
        command.arg("--config").arg(path);
    }
    let mut child = command
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let stderr = child.stderr.take().context("no stderr")?;
    let mut lines = BufReader::new(stderr).lines();
    let url = loop {
        let Some(line) = lines.next() else { bail!("server exited before listening") };
        let line = line?;
        if let Some(pos) = line.find("quidditch listening on ") {
            break line[pos + "quidditch listening on ".len()..].trim().to_string();
        }
    };
    // Keep draining stderr so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in lines {});
    Ok(ServerProcess { child, url, dir })
}

fn run_server(args: &Args, docs: &[BenchDoc], queries: &[BenchQuery]) -> anyhow::Result<SideResult> {
    let bin = match &args.server_bin {
        Some(p) => p.clone(),
        None => std::env::current_exe()?.with_file_name("quidditch"),
    };
    let server = start_server(&bin, None)?;
    let agent = ureq::AgentBuilder::new().timeout(Duration::from_secs(600)).build();
    let url = server.url.clone();
    agent
        .put(&format!("{url}/bench"))
        .send_json(mapping())
        .context("creating the index")?;

    let bodies: Vec<String> = docs
        .chunks(args.bulk_size.max(1))
        .map(|chunk| {
            let mut body = String::new();
            for d in chunk {
                body.push_str(&json!({"index": {"_id": d.id}}).to_string());
                body.push('\n');
                body.push_str(&d.source.to_string());
                body.push('\n');
            }
            body
        })
        .collect();
    let server_pid = server.child.id().to_string();
    let cpu_start = cpu_of(&server_pid);
    let start = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    std::thread::scope(|s| -> anyhow::Result<()> {
        let handles: Vec<_> = (0..args.clients.max(1))
            .map(|_| {
                let agent = agent.clone();
                let url = &url;
                let bodies = &bodies;
                let next = &next;
                s.spawn(move || -> anyhow::Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(body) = bodies.get(i) else { return Ok(()) };
                        let resp = agent
                            .post(&format!("{url}/bench/_bulk"))
                            .set("content-type", "application/x-ndjson")
                            .send_string(body)?
                            .into_string()?;
                        // The top-level flag comes first; parsing the 5,000 per-item results
                        // would spend the (shared, 2-core) machine on the client.
                        let head = &resp[..resp.len().min(64)];
                        if !head.contains("\"errors\":false") {
                            bail!("bulk reported errors: {}", &resp[..resp.len().min(500)]);
                        }
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().map_err(|_| anyhow::anyhow!("bulk client panicked"))??;
        }
        Ok(())
    })?;
    agent.post(&format!("{url}/bench/_refresh")).call()?;
    let index_secs = start.elapsed().as_secs_f64();
    let index_cpu_secs = cpu_of(&server_pid).saturating_sub(cpu_start).as_secs_f64();
    let count: Value = agent.get(&format!("{url}/bench/_count")).call()?.into_json()?;
    if count["count"].as_u64() != Some(docs.len() as u64) {
        bail!("server has {} documents, expected {}", count["count"], docs.len());
    }

    std::thread::sleep(Duration::from_secs(args.settle_secs));
    let mut client = RawHttp::connect(&url)?;
    let mut latencies = Vec::with_capacity(queries.len());
    let mut total_hits = 0u64;
    for (i, q) in queries.iter().enumerate() {
        let body = query_body(q).to_string();
        let t = Instant::now();
        let resp: Value = serde_json::from_slice(&client.post("/bench/_search", &body)?)?;
        if i >= 100 {
            latencies.push(t.elapsed());
            total_hits += resp["hits"]["total"]["value"].as_u64().unwrap_or(0);
        }
    }
    latencies.sort();
    // Transport baseline: the same client and connection on `GET /` (no search at all).
    let mut pings = Vec::with_capacity(queries.len());
    for _ in 0..queries.len() {
        let t = Instant::now();
        std::hint::black_box(client.get("/")?);
        pings.push(t.elapsed());
    }
    pings.sort();
    eprintln!("HTTP round trip baseline (GET /): p50 {:.3} ms, p99 {:.3} ms", ms(percentile(&pings, 0.5)), ms(percentile(&pings, 0.99)));
    Ok(SideResult { index_cpu_secs: Some(index_cpu_secs), ..SideResult::new(index_secs, docs.len(), &latencies, total_hits) })
}
