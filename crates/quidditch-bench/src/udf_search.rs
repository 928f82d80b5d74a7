//! `bench udf-search`: UDFs inside search on N generated documents (in-process engine).
//!
//! The same numeric-range predicate (`min <= price <= max`, ~30 % selective) as
//! (a) a native `range` query, (b) a Rust closure over the `price` fast field inside a tantivy
//! scorer (the same wrapping a UDF filter gets; a raw loop over the column is printed too),
//! (c) a core-wasm UDF called per document, (c') the same per-document UDF run a block at a
//! time by the batch driver, (d) the same UDF with the batched ABI; and a
//! score UDF (`script_score`, `_score + price * factor`) against `function_score`
//! `field_value_factor`. Every variant counts matches over all N documents (`_count`), the
//! score variants fetch the top 10; times are per document of the index.
//!
//! Reproduce: `cargo build --release -p quidditch-server && target/release/bench udf-search`
//! (`--docs 1000000 --runs 5` are the defaults).

use std::collections::HashMap;
use std::path::Path;
use std::time::Instant;

use quidditch_engine::index::{OpType, Refresh, WriteOp};
use quidditch_engine::query_dsl::parse_query;
use quidditch_engine::search::{self, SearchRequest};
use quidditch_engine::{Engine, EngineConfig};
use quidditch_udf::{ParamDecl, ParamType, RegisterRequest, UdfConfig, UdfMetadata, UdfRegistry};
use serde_json::{Value, json};
use tantivy::columnar::ColumnType;
use tantivy::query::{AllQuery, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

const MIN: f64 = 200.0;
const MAX: f64 = 500.0;

pub fn run(args: &[String]) -> anyhow::Result<()> {
    let mut docs: usize = 1_000_000;
    let mut runs: usize = 5;
    let mut profile = false;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--docs" => docs = it.next().and_then(|v| v.parse().ok()).ok_or_else(|| anyhow::anyhow!("--docs N"))?,
            "--runs" => runs = it.next().and_then(|v| v.parse().ok()).ok_or_else(|| anyhow::anyhow!("--runs N"))?,
            // Only the per-document UDF, `runs` times (for `perf record`).
            "--profile-per-doc" => profile = true,
            other => anyhow::bail!("unknown argument {other}; usage: bench udf-search [--docs N] [--runs N] [--profile-per-doc]"),
        }
    }
    let dir = std::env::temp_dir().join(format!("quidditch-bench-udf-search-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let result = bench(&dir, docs, runs, profile);
    let _ = std::fs::remove_dir_all(&dir);
    result
}

fn bench(dir: &Path, docs: usize, runs: usize, profile: bool) -> anyhow::Result<()> {
    let registry = UdfRegistry::open(&dir.join("udfs"), UdfConfig::default())?;
    let engine = Engine::open(&dir.join("indices"), EngineConfig::default(), registry.clone())?;
    let fixtures = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/wat/search");
    let f64_param = |name: &str| ParamDecl {
        name: name.into(),
        param_type: ParamType::F64,
        required: false,
        default: Some(json!(1.0)),
        description: String::new(),
    };
    for (name, file, params) in [
        ("price_between", "price_between.wat", vec![f64_param("min"), f64_param("max")]),
        ("price_between_batched", "price_between_batched.wat", vec![f64_param("min"), f64_param("max")]),
        ("score_price", "score_price.wat", vec![f64_param("factor")]),
    ] {
        let text = std::fs::read_to_string(fixtures.join(file))?;
        let binary = quidditch_udf::compile_wat(&text).map_err(|e| anyhow::anyhow!("{file}: {e}"))?;
        let mut metadata = UdfMetadata::new(name, "1.0.0");
        metadata.parameters = params;
        registry.register(RegisterRequest { metadata, binary, signature: None, actor: "bench".into() })?;
    }

    // Index N documents: price uniform in [0, 1000) (two decimals), qty, a keyword.
    let started = Instant::now();
    let index = engine.create_index(
        "bench",
        Some(&json!({"mappings": {"properties": {
            "price": {"type": "double"}, "qty": {"type": "long"}, "category": {"type": "keyword"}}}})),
    )?;
    let mut rng = 0x2545_F491_4F6C_DD1Du64;
    let mut next = move || {
        rng ^= rng << 13;
        rng ^= rng >> 7;
        rng ^= rng << 17;
        rng
    };
    let batch = 20_000;
    for start in (0..docs).step_by(batch) {
        let ops: Vec<WriteOp> = (start..(start + batch).min(docs))
            .map(|i| {
                let price = (next() % 100_000) as f64 / 100.0;
                let source = json!({"price": price, "qty": next() % 100, "category": format!("c{}", next() % 20)});
                WriteOp::Index {
                    id: Some(i.to_string()),
                    source: serde_json::to_vec(&source).unwrap_or_default(),
                    op_type: OpType::Index,
                    if_seq_no: None,
                    if_primary_term: None,
                    version: None,
                }
            })
            .collect();
        for r in index.write(ops, Refresh::False)? {
            r?;
        }
    }
    index.refresh()?;
    let segments = index.searcher().segment_readers().len();
    println!("indexed {docs} documents in {:.1} s ({segments} segments)\n", started.elapsed().as_secs_f64());
    let indices = vec![index.clone()];

    let count = |query: Value| -> anyhow::Result<u64> {
        let req = SearchRequest { query: parse_query(&query)?, ..Default::default() }.into_count();
        let resp = search::search(&indices, &req, Some(&registry))?;
        Ok(resp["count"].as_u64().unwrap_or(0))
    };
    let top10 = |query: Value| -> anyhow::Result<Value> {
        let req = SearchRequest::parse(Some(&json!({"query": query, "size": 10})), &HashMap::new())?;
        Ok(search::search(&indices, &req, Some(&registry))?)
    };
    // Best of `runs` (after one warm-up), in ns per document of the index.
    let measure = |f: &mut dyn FnMut() -> anyhow::Result<u64>| -> anyhow::Result<(f64, u64)> {
        let result = f()?;
        let mut best = f64::MAX;
        for _ in 0..runs {
            let t = Instant::now();
            let r = f()?;
            best = best.min(t.elapsed().as_nanos() as f64 / docs as f64);
            anyhow::ensure!(r == result, "result changed between runs");
        }
        Ok((best, result))
    };

    let range = json!({"range": {"price": {"gte": MIN, "lte": MAX}}});
    let udf = |name: &str| json!({"wasm_udf": {"name": name, "params": {"min": MIN, "max": MAX}}});
    let searcher = index.searcher();
    if profile {
        let (ns, n) = measure(&mut || count(udf("price_between")))?;
        println!("per-document UDF: {ns:.2} ns/doc ({n} matches)");
        return Ok(());
    }
    let (raw, n_raw) = measure(&mut || {
        let mut n = 0u64;
        for reader in searcher.segment_readers() {
            let (column, ty) = price_column(reader)?;
            let alive = reader.alive_bitset();
            for doc in 0..reader.max_doc() {
                if alive.is_some_and(|a| !a.is_alive(doc)) {
                    continue;
                }
                if let Some(p) = column.first(doc).map(|raw| decode(raw, ty))
                    && (MIN..=MAX).contains(&p)
                {
                    n += 1;
                }
            }
        }
        Ok(n)
    })?;
    let (native, n_native) = measure(&mut || count(range.clone()))?;
    let closure_query = ClosureFilter;
    let (closure, n_closure) =
        measure(&mut || Ok(searcher.search(&closure_query, &tantivy::collector::Count)? as u64))?;
    // The per-document UDF twice: one host→wasm call per document (driver off), and a
    // block at a time through the batch driver (the default).
    registry.set_batch_driver(false);
    let (per_doc, n_per_doc) = measure(&mut || count(udf("price_between")))?;
    registry.set_batch_driver(true);
    let (driven, n_driven) = measure(&mut || count(udf("price_between")))?;
    let (batched, n_batched) = measure(&mut || count(udf("price_between_batched")))?;
    for (name, n) in [
        ("raw loop", n_raw),
        ("closure", n_closure),
        ("per-doc UDF", n_per_doc),
        ("driver-batched UDF", n_driven),
        ("batched UDF", n_batched),
    ] {
        anyhow::ensure!(n == n_native, "{name} counted {n}, the native range query {n_native}");
    }

    let factor = 0.01;
    let fvf = json!({"function_score": {"query": {"match_all": {}},
        "field_value_factor": {"field": "price", "factor": factor, "missing": 0}, "boost_mode": "sum"}});
    let script = json!({"script_score": {"query": {"match_all": {}},
        "script": {"lang": "wasm", "source": "score_price", "params": {"factor": factor}}}});
    let top_ids = |v: &Value| -> Vec<Value> {
        v["hits"]["hits"].as_array().map(|h| h.iter().map(|h| h["_score"].clone()).collect()).unwrap_or_default()
    };
    let a = top10(fvf.clone())?;
    let b = top10(script.clone())?;
    anyhow::ensure!(top_ids(&a) == top_ids(&b), "score UDF and field_value_factor disagree: {:?} vs {:?}", top_ids(&a), top_ids(&b));
    let (fvf_ns, _) = measure(&mut || top10(fvf.clone()).map(|_| 0))?;
    let (score_ns, _) = measure(&mut || top10(script.clone()).map(|_| 0))?;

    println!("filter: {MIN} <= price <= {MAX} over {docs} documents, {n_native} match; best of {runs} runs");
    println!("{:<44} {:>9} {:>12}", "variant", "ns/doc", "vs closure");
    let line = |name: &str, ns: f64| println!("{name:<44} {ns:>9.2} {:>11.2}x", ns / closure);
    line("(a) native range query (_count)", native);
    line("(b) Rust closure over the fast field (scorer)", closure);
    line("    raw loop over the fast field (no scorer)", raw);
    line("(c) wasm_udf, per-document ABI, 1 call/doc", per_doc);
    line("(c') per-document ABI through the batch driver", driven);
    line("(d) wasm_udf, batched ABI (512 docs/call)", batched);
    println!("(c') / (a) native: {:.2}x   (c') / (d) batched: {:.2}x", driven / native, driven / batched);
    println!("\nscore: _score + price * {factor}, top 10 of {docs}");
    println!("{:<44} {:>9} {:>12}", "variant", "ns/doc", "vs fvf");
    println!("{:<44} {:>9.2} {:>11.2}x", "function_score field_value_factor", fvf_ns, 1.0);
    println!("{:<44} {:>9.2} {:>11.2}x", "script_score wasm UDF (batched score_batch)", score_ns, score_ns / fvf_ns);
    engine.shutdown()?;
    Ok(())
}

fn price_column(reader: &SegmentReader) -> tantivy::Result<(tantivy::columnar::Column<u64>, ColumnType)> {
    let types = [ColumnType::F64, ColumnType::I64, ColumnType::U64];
    reader
        .fast_fields()
        .u64_lenient_for_type(Some(&types), "_kw.price")?
        .ok_or_else(|| tantivy::TantivyError::InvalidArgument("no price column".into()))
}

fn decode(raw: u64, ty: ColumnType) -> f64 {
    match ty {
        ColumnType::F64 => tantivy::u64_to_f64(raw),
        ColumnType::I64 => tantivy::u64_to_i64(raw) as f64,
        _ => raw as f64,
    }
}

/// (b): the range predicate as a Rust closure over the fast field, wrapped around the
/// all-documents scorer exactly like a `wasm_udf` filter wraps its candidates.
#[derive(Debug, Clone)]
struct ClosureFilter;

impl Query for ClosureFilter {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(ClosureWeight(AllQuery.weight(enable_scoring)?)))
    }
}

struct ClosureWeight(Box<dyn Weight>);

impl Weight for ClosureWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let (column, ty) = price_column(reader)?;
        let keep = move |doc: DocId| column.first(doc).map(|raw| decode(raw, ty)).is_some_and(|p| (MIN..=MAX).contains(&p));
        let mut s = ClosureScorer { inner: self.0.scorer(reader, boost)?, keep: Box::new(keep) };
        s.settle();
        Ok(Box::new(s))
    }

    fn explain(&self, _reader: &SegmentReader, _doc: DocId) -> tantivy::Result<Explanation> {
        Ok(Explanation::new("closure", 1.0))
    }
}

struct ClosureScorer {
    inner: Box<dyn Scorer>,
    keep: Box<dyn Fn(DocId) -> bool + Send + Sync>,
}

impl ClosureScorer {
    fn settle(&mut self) -> DocId {
        let mut d = self.inner.doc();
        while d != TERMINATED && !(self.keep)(d) {
            d = self.inner.advance();
        }
        d
    }
}

impl DocSet for ClosureScorer {
    fn advance(&mut self) -> DocId {
        self.inner.advance();
        self.settle()
    }
    fn doc(&self) -> DocId {
        self.inner.doc()
    }
    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for ClosureScorer {
    fn score(&mut self) -> Score {
        self.inner.score()
    }
}
