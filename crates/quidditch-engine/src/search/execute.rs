//! Running a search over a set of indices and shaping the OpenSearch response.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::Instant;

use serde_json::{Map, Value, json};
use tantivy::collector::{Collector, Count, TopDocs};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query};
use tantivy::{DocAddress, Searcher};

use super::aggregations::PreparedAggs;
use super::collector::{DeadlineCollector, SortedCollector, SortedHit};
use super::request::{SearchRequest, TrackTotalHits};
use super::sort::{ResolvedSort, SortSpec, SortTarget, SortValue, compare_keys};
use crate::error::{EngineError, EngineResult};
use crate::index::Index;
use crate::mapping::Mapping;
use crate::query_ast::{
    BoostMode, FunctionScoreQuery, LoweringContext, QueryAst, QueryError, QueryExtensions, ScoreMode,
};
use crate::udf_exec::{UdfLowering, UdfRun};

/// One index, pinned to a searcher and mapping snapshot for the whole request.
struct IndexSnapshot {
    index: Arc<Index>,
    searcher: Searcher,
    mapping: Arc<Mapping>,
    /// UDF clauses' view of this index (`None` when the caller gave no UDF registry).
    udf: Option<UdfLowering>,
}

impl IndexSnapshot {
    fn new(index: &Arc<Index>, run: Option<&Arc<UdfRun>>) -> IndexSnapshot {
        let mapping = index.mapping();
        let udf = run.map(|run| UdfLowering {
            run: run.clone(),
            fields: mapping.clone(),
            index: index.name().to_string(),
        });
        IndexSnapshot { index: index.clone(), searcher: index.searcher(), mapping, udf }
    }

    fn lower(&self, ast: &QueryAst) -> Result<Box<dyn Query>, QueryError> {
        let ctx = LoweringContext {
            schema: self.searcher.schema(),
            fields: self.mapping.as_ref(),
            tokenizers: self.index.tantivy_index().tokenizers(),
            extensions: self.udf.as_ref().map(|u| u as &dyn QueryExtensions),
        };
        ast.lower(&ctx)
    }

    /// Global doc number of each segment's first doc (for `_doc` sort values).
    fn doc_bases(&self) -> Vec<u64> {
        let mut base = 0u64;
        self.searcher
            .segment_readers()
            .iter()
            .map(|r| {
                let b = base;
                base += r.max_doc() as u64;
                b
            })
            .collect()
    }
}

/// Runs `collector` over `query`, stopping early at the deadline.
fn run<C: Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    collector: C,
    deadline: Option<Instant>,
    timed_out: &Arc<AtomicBool>,
) -> tantivy::Result<C::Fruit> {
    match deadline {
        None => searcher.search(query, &collector),
        Some(deadline) => searcher.search(
            query,
            &DeadlineCollector { inner: collector, deadline, timed_out: timed_out.clone() },
        ),
    }
}

fn internal(e: tantivy::TantivyError) -> EngineError {
    match e {
        tantivy::TantivyError::InvalidArgument(reason) => {
            EngineError::BadRequest { error_type: "illegal_argument_exception", reason }
        }
        tantivy::TantivyError::AggregationError(err) => EngineError::BadRequest {
            error_type: "illegal_argument_exception",
            reason: err.to_string(),
        },
        other => EngineError::Internal(anyhow::anyhow!("search failed: {other}")),
    }
}

/// `GET /{index}/_count`: number of documents matching `query` over `indices`.
pub fn count(indices: &[Arc<Index>], query: &QueryAst) -> EngineResult<u64> {
    count_with_udfs(indices, query, None)
}

/// [`count`] with the UDF registry for `wasm_udf`/`script_score` clauses.
pub fn count_with_udfs(
    indices: &[Arc<Index>],
    query: &QueryAst,
    udfs: Option<&Arc<quidditch_udf::UdfRegistry>>,
) -> EngineResult<u64> {
    let run = udfs.map(|r| UdfRun::new(r.clone(), None));
    let mut total = 0u64;
    for index in indices {
        let snap = IndexSnapshot::new(index, run.as_ref());
        let q = snap.lower(query)?;
        total += snap.searcher.search(q.as_ref(), &Count).map_err(internal)? as u64;
    }
    if let Some(run) = &run {
        run.check()?;
    }
    Ok(total)
}

/// A hit from one index before its document is fetched.
struct Candidate {
    index_ord: usize,
    hit: SortedHit,
}

/// Runs a search request over `indices` and returns the OpenSearch response body.
pub fn search(indices: &[Arc<Index>], req: &SearchRequest) -> EngineResult<Value> {
    search_with_udfs(indices, req, None)
}

/// [`search`] with the UDF registry for `wasm_udf`/`script_score` clauses. A UDF failure
/// fails the search (or is counted in `udf_failures` under `on_error: exclude`); the UDF
/// time is bounded by the request's `timeout`.
pub fn search_with_udfs(
    indices: &[Arc<Index>],
    req: &SearchRequest,
    udfs: Option<&Arc<quidditch_udf::UdfRegistry>>,
) -> EngineResult<Value> {
    let start = Instant::now();
    let deadline = req.timeout.map(|t| start + t);
    let timed_out = Arc::new(AtomicBool::new(false));
    let udf_run = udfs.map(|r| UdfRun::new(r.clone(), deadline));
    let snapshots: Vec<IndexSnapshot> = indices.iter().map(|i| IndexSnapshot::new(i, udf_run.as_ref())).collect();
    let mappings: Vec<Arc<Mapping>> = snapshots.iter().map(|s| s.mapping.clone()).collect();

    let mut aggs = match &req.aggs {
        Some(a) => Some(PreparedAggs::prepare(a, &mappings)?),
        None => None,
    };
    // `min_score` filters on the final score: a function_score wrapper with no functions.
    let query_ast = match req.min_score {
        Some(min) => QueryAst::FunctionScore(FunctionScoreQuery {
            query: Box::new(req.query.clone()),
            functions: Vec::new(),
            score_mode: ScoreMode::Multiply,
            boost_mode: BoostMode::Multiply,
            max_boost: None,
            min_score: Some(min),
            boost: None,
        }),
        None => req.query.clone(),
    };
    let relevance_only = req.search_after.is_none()
        && req.sort.iter().all(|s| s.target == SortTarget::Score && s.desc);
    let specs: Vec<SortSpec> = if req.sort.is_empty() {
        SortSpec::parse_list(&json!("_score"))?
    } else {
        req.sort.clone()
    };
    let sorts: Vec<ResolvedSort> =
        specs.iter().map(|s| ResolvedSort::resolve(s, &mappings)).collect::<Result<_, _>>()?;
    let sorts = Arc::new(sorts);
    let after = match &req.search_after {
        Some(values) => Some(Arc::new(
            values
                .iter()
                .zip(sorts.iter())
                .map(|(v, s)| s.parse_value(v))
                .collect::<Result<Vec<SortValue>, _>>()?,
        )),
        None => None,
    };
    let scoring = relevance_only || req.track_scores || sorts.iter().any(|s| s.spec.is_score());
    let k = req.from + req.size;
    let count_hits = req.track_total_hits != TrackTotalHits::Disabled;

    let mut total: u64 = 0;
    let mut candidates: Vec<Candidate> = Vec::new();
    let mut agg_fruits = Vec::new();
    for (index_ord, snap) in snapshots.iter().enumerate() {
        if deadline.is_some_and(|d| Instant::now() >= d) {
            timed_out.store(true, AtomicOrdering::Relaxed);
            break;
        }
        let query = snap.lower(&query_ast)?;
        let hits_query: Box<dyn Query> = match &req.post_filter {
            Some(pf) => Box::new(BooleanQuery::new(vec![
                (Occur::Must, query.box_clone()),
                (Occur::Must, Box::new(ConstScoreQuery::new(snap.lower(pf)?, 0.0))),
            ])),
            None => query.box_clone(),
        };
        let agg_collector = aggs
            .as_ref()
            .filter(|a| a.has_main())
            .map(|a| a.collector(snap.index.tantivy_index().tokenizers()));
        // With a post_filter, aggregations see the unfiltered query: a separate pass.
        let (agg_in_main, agg_separate) = if req.post_filter.is_some() {
            (None, agg_collector)
        } else {
            (agg_collector, None)
        };
        let count = count_hits.then_some(Count);
        let hits: Vec<SortedHit>;
        if relevance_only {
            let top = (k > 0).then(|| TopDocs::with_limit(k).order_by_score());
            let (top_fruit, count_fruit, agg_fruit) = run(
                &snap.searcher,
                hits_query.as_ref(),
                (top, count, agg_in_main),
                deadline,
                &timed_out,
            )
            .map_err(internal)?;
            hits = top_fruit
                .unwrap_or_default()
                .into_iter()
                .map(|(score, address)| SortedHit { key: vec![SortValue::Num(score as f64)], score, address })
                .collect();
            total += count_fruit.unwrap_or(0) as u64;
            if let Some(f) = agg_fruit {
                agg_fruits.push(f);
            }
        } else {
            let sorted = (k > 0).then(|| SortedCollector {
                sorts: sorts.clone(),
                mapping: snap.mapping.clone(),
                k,
                after: after.clone(),
                min_score: None,
                needs_score: scoring,
                doc_bases: snap.doc_bases(),
            });
            let (sorted_fruit, count_fruit, agg_fruit) = run(
                &snap.searcher,
                hits_query.as_ref(),
                (sorted, count, agg_in_main),
                deadline,
                &timed_out,
            )
            .map_err(internal)?;
            hits = sorted_fruit.unwrap_or_default();
            total += count_fruit.unwrap_or(0) as u64;
            if let Some(f) = agg_fruit {
                agg_fruits.push(f);
            }
        }
        if let Some(collector) = agg_separate {
            agg_fruits.push(
                run(&snap.searcher, query.as_ref(), collector, deadline, &timed_out).map_err(internal)?,
            );
        }
        // Top-level `filter`/`filters` aggregations: one counted pass per filter.
        if let Some(a) = aggs.as_mut() {
            let tokenizers = snap.index.tantivy_index().tokenizers();
            for plan in a.filters.iter_mut() {
                for slot in 0..plan.filters.len() {
                    let q = snap.lower(&super::filter_aggs::filtered(&query_ast, &plan.filters[slot].1))?;
                    let sub = plan.sub.as_ref().map(|s| s.collector(tokenizers));
                    let (count, fruit) =
                        run(&snap.searcher, q.as_ref(), (Count, sub), deadline, &timed_out).map_err(internal)?;
                    plan.add(slot, count as u64, fruit).map_err(internal)?;
                }
            }
        }
        candidates.extend(hits.into_iter().map(|hit| Candidate { index_ord, hit }));
    }

    if let Some(run) = &udf_run {
        run.check()?;
        if run.timed_out() {
            timed_out.store(true, AtomicOrdering::Relaxed);
        }
    }

    candidates.sort_by(|a, b| {
        compare_keys(&sorts, &a.hit.key, &b.hit.key)
            .then(a.index_ord.cmp(&b.index_ord))
            .then(a.hit.address.cmp(&b.hit.address))
    });
    let page: Vec<&Candidate> = candidates.iter().skip(req.from).take(req.size).collect();

    let mut hits_json = Vec::with_capacity(page.len());
    let mut max_score: Option<f32> = None;
    for c in &page {
        let snap = &snapshots[c.index_ord];
        hits_json.push(hit_json(snap, c.hit.address, &c.hit, req, &sorts, relevance_only, scoring)?);
    }
    if scoring {
        max_score = candidates.iter().map(|c| c.hit.score).fold(None, |m, s| Some(m.map_or(s, |m: f32| m.max(s))));
    }

    let mut hits_obj = Map::new();
    if count_hits {
        let (value, relation) = match req.track_total_hits {
            TrackTotalHits::UpTo(limit) if total > limit => (limit, "gte"),
            _ => (total, "eq"),
        };
        hits_obj.insert(
            "total".into(),
            if req.rest_total_hits_as_int { json!(value) } else { json!({"value": value, "relation": relation}) },
        );
    }
    hits_obj.insert("max_score".into(), max_score.map_or(Value::Null, |s| json!(s)));
    hits_obj.insert("hits".into(), Value::Array(hits_json));

    let mut body = Map::new();
    body.insert("took".into(), json!(start.elapsed().as_millis() as u64));
    body.insert("timed_out".into(), json!(timed_out.load(AtomicOrdering::Relaxed)));
    let n = snapshots.len();
    body.insert("_shards".into(), json!({"total": n, "successful": n, "skipped": 0, "failed": 0}));
    body.insert("hits".into(), Value::Object(hits_obj));
    if let Some(failures) = udf_run.as_ref().and_then(|r| r.failures_json()) {
        body.insert("udf_failures".into(), failures);
    }
    if let Some(aggs) = &mut aggs {
        let mut merged = None;
        for fruit in agg_fruits {
            merged = Some(match merged {
                None => fruit,
                Some(mut acc) => {
                    tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults::merge_fruits(&mut acc, fruit)
                        .map_err(internal)?;
                    acc
                }
            });
        }
        let merged = merged.unwrap_or_default();
        let mut out = aggs.finish(merged, req.typed_keys)?;
        for plan in std::mem::take(&mut aggs.filters) {
            let (key, value) = plan.finish(req.typed_keys)?;
            if let Value::Object(o) = &mut out {
                o.insert(key, value);
            }
        }
        body.insert("aggregations".into(), out);
    }
    Ok(Value::Object(body))
}

fn hit_json(
    snap: &IndexSnapshot,
    address: DocAddress,
    hit: &SortedHit,
    req: &SearchRequest,
    sorts: &[ResolvedSort],
    relevance_only: bool,
    scoring: bool,
) -> EngineResult<Value> {
    let stored = snap.index.read_stored(&snap.searcher, address)?;
    let mut h = Map::new();
    h.insert("_index".into(), json!(snap.index.name()));
    h.insert("_id".into(), json!(stored.id));
    if req.version {
        h.insert("_version".into(), json!(stored.meta.version));
    }
    if req.seq_no_primary_term {
        h.insert("_seq_no".into(), json!(stored.meta.seq_no));
        h.insert("_primary_term".into(), json!(stored.meta.primary_term));
    }
    h.insert("_score".into(), if scoring { json!(hit.score) } else { Value::Null });
    if let Some(source) = req.source.apply(stored.source_json()) {
        h.insert("_source".into(), source);
    }
    if !relevance_only || !req.sort.is_empty() {
        let values: Vec<Value> = sorts.iter().zip(&hit.key).map(|(s, v)| s.to_json(v)).collect();
        h.insert("sort".into(), Value::Array(values));
    }
    Ok(Value::Object(h))
}
