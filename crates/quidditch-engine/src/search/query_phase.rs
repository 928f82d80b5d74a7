//! The shard query phase: one shard, pinned to a searcher, runs the planned query and returns
//! its top `from + size` sort keys, its hit count and its partial aggregation state — never a
//! document. [`ShardQueryResult`] is plain serializable data (aggregation state as tantivy's
//! `IntermediateAggregationResults`, postcard-encoded), so the same result can come from a
//! shard on another node.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::collector::{Collector, Count, TopDocs};
use tantivy::query::{BooleanQuery, ConstScoreQuery, Occur, Query};
use tantivy::{DocAddress, Searcher};

use super::collector::{DeadlineCollector, SortedCollector, SortedHit};
use super::plan::SearchPlan;
use super::sort::SortValue;
use crate::error::{EngineError, EngineResult};
use crate::index::Index;
use crate::mapping::Mapping;
use crate::query_ast::{BoolQuery, LoweringContext, QueryAst, QueryError, QueryExtensions};
use crate::udf_exec::{UdfLowering, UdfRun};

/// One shard of one index, pinned to a searcher and mapping snapshot for the whole request
/// (the fetch phase reads documents from the same searcher the query phase ranked).
pub(crate) struct ShardSnapshot {
    pub index: Arc<Index>,
    /// Shard number within its index.
    pub shard: u32,
    pub searcher: Searcher,
    pub mapping: Arc<Mapping>,
    /// UDF clauses' view of this index (`None` when the caller gave no UDF registry).
    udf: Option<UdfLowering>,
    /// The filter of the alias the search reached this index through.
    alias_filter: Option<QueryAst>,
}

impl ShardSnapshot {
    pub fn new(
        index: &Arc<Index>,
        shard: u32,
        searcher: Searcher,
        run: Option<&Arc<UdfRun>>,
        alias_filter: Option<QueryAst>,
    ) -> ShardSnapshot {
        let mapping = index.mapping();
        let udf = run.map(|run| UdfLowering {
            run: run.clone(),
            fields: mapping.clone(),
            index: index.name().to_string(),
        });
        ShardSnapshot { index: index.clone(), shard, searcher, mapping, udf, alias_filter }
    }

    /// The search's query on this shard: with the alias filter as a non-scoring clause.
    fn matching(&self, query: &QueryAst) -> QueryAst {
        match &self.alias_filter {
            None => query.clone(),
            Some(filter) => QueryAst::Bool(BoolQuery {
                must: vec![query.clone()],
                filter: vec![filter.clone()],
                ..BoolQuery::default()
            }),
        }
    }

    pub(crate) fn lower(&self, ast: &QueryAst) -> Result<Box<dyn Query>, QueryError> {
        self.with_lowering(|ctx| ast.lower(ctx))
    }

    /// Runs `f` with this shard's lowering context (mapping, analysis, schema, UDFs).
    pub(crate) fn with_lowering<T>(&self, f: impl FnOnce(&LoweringContext<'_>) -> T) -> T {
        let ctx = LoweringContext {
            schema: self.searcher.schema(),
            fields: self.mapping.as_ref(),
            analysis: self.mapping.analysis(),
            tokenizers: self.index.tantivy_index().tokenizers(),
            extensions: self.udf.as_ref().map(|u| u as &dyn QueryExtensions),
        };
        f(&ctx)
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

/// A ranked hit of one shard: its sort key and where the document is.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShardHit {
    pub key: Vec<SortValue>,
    pub score: f32,
    pub segment_ord: u32,
    pub doc: u32,
}

impl ShardHit {
    pub fn address(&self) -> DocAddress {
        DocAddress::new(self.segment_ord, self.doc)
    }

    fn from_sorted(hit: SortedHit) -> ShardHit {
        ShardHit { key: hit.key, score: hit.score, segment_ord: hit.address.segment_ord, doc: hit.address.doc_id }
    }
}

/// tantivy's partial aggregation state, postcard-encoded: what a shard hands to the reduce.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AggState(Vec<u8>);

impl AggState {
    pub fn encode(results: &IntermediateAggregationResults) -> EngineResult<AggState> {
        postcard::to_allocvec(results)
            .map(AggState)
            .map_err(|e| EngineError::internal(format!("encoding aggregation state: {e}")))
    }

    pub fn decode(&self) -> EngineResult<IntermediateAggregationResults> {
        postcard::from_bytes(&self.0).map_err(|e| EngineError::internal(format!("decoding aggregation state: {e}")))
    }
}

/// One bucket of a top-level `filter`/`filters` aggregation on one shard.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FilterBucketState {
    pub doc_count: u64,
    pub sub: Option<AggState>,
}

/// What one shard's query phase returns.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShardQueryResult {
    /// Top `from + size` hits in sort order.
    pub hits: Vec<ShardHit>,
    /// Matching documents (0 when the request does not track totals).
    pub total: u64,
    pub aggs: Option<AggState>,
    /// Per top-level `filter`/`filters` aggregation, per bucket.
    pub filter_aggs: Vec<Vec<FilterBucketState>>,
    /// This shard's doc count error of each top-level `terms` aggregation (-1: unbounded),
    /// from its `shard_size` cut.
    #[serde(default)]
    pub terms_doc_count_errors: Vec<(String, i64)>,
    /// The deadline passed before or while this shard was searched: partial (or no) results.
    pub timed_out: bool,
}

/// Runs `collector` over `query`, stopping early at the deadline, scoring with the plan's
/// global statistics under `dfs_query_then_fetch` (else the shard's own).
fn run<C: Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    collector: C,
    plan: &SearchPlan,
    timed_out: &Arc<AtomicBool>,
) -> tantivy::Result<C::Fruit> {
    let stats: &dyn tantivy::query::Bm25StatisticsProvider = match &plan.statistics {
        Some(global) => global.as_ref(),
        None => searcher,
    };
    match plan.deadline {
        None => searcher.search_with_statistics_provider(query, &collector, stats),
        Some(deadline) => searcher.search_with_statistics_provider(
            query,
            &DeadlineCollector { inner: collector, deadline, timed_out: timed_out.clone() },
            stats,
        ),
    }
}

pub(crate) fn tantivy_error(e: tantivy::TantivyError) -> EngineError {
    match e {
        tantivy::TantivyError::InvalidArgument(reason) => {
            EngineError::BadRequest { error_type: "illegal_argument_exception", reason: without_debug_output(&reason) }
        }
        tantivy::TantivyError::AggregationError(err) => EngineError::BadRequest {
            error_type: "illegal_argument_exception",
            reason: without_debug_output(&err.to_string()),
        },
        other => EngineError::Internal(anyhow::anyhow!("search failed: {other}")),
    }
}

/// A tantivy message for a client, cut before any Rust `Debug` rendering of a struct
/// (`Name { field: … }`) some of them embed: internals are not a reason a client can act on.
pub(crate) fn without_debug_output(reason: &str) -> String {
    let bytes = reason.as_bytes();
    let mut word_start = None;
    for (i, &b) in bytes.iter().enumerate() {
        match b {
            b'A'..=b'Z' if word_start.is_none() && (i == 0 || !bytes[i - 1].is_ascii_alphanumeric()) => word_start = Some(i),
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' | b'_' => {}
            b' ' if word_start.is_some() && bytes.get(i + 1) == Some(&b'{') => {
                let cut = reason[..word_start.unwrap_or(i)].trim_end();
                return format!("{cut} (details omitted)");
            }
            _ => word_start = None,
        }
    }
    reason.to_string()
}

/// The query phase on one shard.
pub(crate) fn query_shard(snap: &ShardSnapshot, plan: &SearchPlan) -> EngineResult<ShardQueryResult> {
    let deadline = plan.deadline;
    if deadline.is_some_and(|d| Instant::now() >= d) {
        return Ok(ShardQueryResult { timed_out: true, ..Default::default() });
    }
    let timed_out = Arc::new(AtomicBool::new(false));
    let query = snap.lower(&snap.matching(&plan.query))?;
    let hits_query: Box<dyn Query> = match &plan.post_filter {
        Some(pf) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, query.box_clone()),
            (Occur::Must, Box::new(ConstScoreQuery::new(snap.lower(pf)?, 0.0))),
        ])),
        None => query.box_clone(),
    };
    let tokenizers = snap.index.tantivy_index().tokenizers();
    let agg_collector = plan.aggs.as_ref().filter(|a| a.has_main()).map(|a| a.collector(tokenizers));
    // With a post_filter, aggregations see the unfiltered query: a separate pass.
    let (agg_in_main, agg_separate) =
        if plan.post_filter.is_some() { (None, agg_collector) } else { (agg_collector, None) };
    let count = plan.count_hits.then_some(Count);
    let k = plan.k;
    let (hits, total, mut agg_fruit) = if plan.relevance_only {
        let top = (k > 0).then(|| TopDocs::with_limit(k).order_by_score());
        let (top, total, aggs) =
            run(&snap.searcher, hits_query.as_ref(), (top, count, agg_in_main), plan, &timed_out)
                .map_err(tantivy_error)?;
        let hits = top
            .unwrap_or_default()
            .into_iter()
            .map(|(score, address)| ShardHit {
                key: vec![SortValue::Num(score as f64)],
                score,
                segment_ord: address.segment_ord,
                doc: address.doc_id,
            })
            .collect();
        (hits, total, aggs)
    } else {
        let sorted = (k > 0).then(|| SortedCollector {
            sorts: plan.sorts.clone(),
            mapping: snap.mapping.clone(),
            k,
            after: plan.after.clone(),
            min_score: None,
            needs_score: plan.scoring,
            doc_bases: snap.doc_bases(),
        });
        let (sorted, total, aggs) =
            run(&snap.searcher, hits_query.as_ref(), (sorted, count, agg_in_main), plan, &timed_out)
                .map_err(tantivy_error)?;
        (sorted.unwrap_or_default().into_iter().map(ShardHit::from_sorted).collect(), total, aggs)
    };
    if let Some(collector) = agg_separate {
        agg_fruit =
            Some(run(&snap.searcher, query.as_ref(), collector, plan, &timed_out).map_err(tantivy_error)?);
    }
    let mut terms_doc_count_errors = Vec::new();
    if let (Some(fruit), Some(aggs)) = (agg_fruit.as_mut(), plan.aggs.as_ref()) {
        terms_doc_count_errors = aggs.cut_for_shard(fruit).map_err(tantivy_error)?;
    }
    // Top-level `filter`/`filters` aggregations: one counted pass per filter.
    let mut filter_aggs = Vec::new();
    if let Some(aggs) = &plan.aggs {
        for filter_plan in &aggs.filters {
            let mut buckets = Vec::with_capacity(filter_plan.filters.len());
            for (_, filter) in &filter_plan.filters {
                let q = snap.lower(&snap.matching(&super::filter_aggs::filtered(&plan.query, filter)))?;
                let sub = filter_plan.sub.as_ref().map(|s| s.collector(tokenizers));
                let (doc_count, mut sub) =
                    run(&snap.searcher, q.as_ref(), (Count, sub), plan, &timed_out).map_err(tantivy_error)?;
                if let (Some(fruit), Some(sub_aggs)) = (sub.as_mut(), filter_plan.sub.as_ref()) {
                    sub_aggs.cut_for_shard(fruit).map_err(tantivy_error)?;
                }
                let sub = sub.as_ref().map(AggState::encode).transpose()?;
                buckets.push(FilterBucketState { doc_count: doc_count as u64, sub });
            }
            filter_aggs.push(buckets);
        }
    }
    Ok(ShardQueryResult {
        hits,
        total: total.unwrap_or(0) as u64,
        aggs: agg_fruit.as_ref().map(AggState::encode).transpose()?,
        filter_aggs,
        terms_doc_count_errors,
        timed_out: timed_out.load(AtomicOrdering::Relaxed),
    })
}
