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

use super::collapse::CollapsingCollector;
use super::collector::{LimitedCollector, SortedCollector, SortedHit};
use super::profile::{ProfiledQuery, ShardProfile, Timed};
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
    /// `indices_boost` of this shard's index (1 without one).
    pub boost: f32,
    /// Held by another node (cluster mode): its query and fetch phases run there
    /// (`super::remote`); this snapshot is the local, empty copy.
    pub held_elsewhere: bool,
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
        ShardSnapshot { index: index.clone(), shard, searcher, mapping, udf, alias_filter, boost: 1.0, held_elsewhere: false }
    }

    /// Whether the search reached this shard through an alias with a filter.
    pub(crate) fn has_alias_filter(&self) -> bool {
        self.alias_filter.is_some()
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

    /// Lowers a top-level query: in an index with `nested` fields, restricted to the root
    /// documents (the hidden nested ones are only reached through `nested` queries).
    pub(crate) fn lower(&self, ast: &QueryAst) -> Result<Box<dyn Query>, QueryError> {
        self.with_lowering(|ctx| {
            let query = ast.lower(ctx)?;
            if !self.mapping.has_nested() {
                return Ok(query);
            }
            Ok(Box::new(BooleanQuery::new(vec![(Occur::Must, query), (Occur::MustNot, crate::query_ast::nested_documents(ctx)?)]))
                as Box<dyn Query>)
        })
    }

    /// Runs `f` with this shard's lowering context (mapping, analysis, schema, UDFs).
    pub(crate) fn with_lowering<T>(&self, f: impl FnOnce(&LoweringContext<'_>) -> T) -> T {
        let ctx = LoweringContext {
            schema: self.searcher.schema(),
            fields: self.mapping.as_ref(),
            analysis: self.mapping.analysis(),
            tokenizers: self.index.tantivy_index().tokenizers(),
            extensions: self.udf.as_ref().map(|u| u as &dyn QueryExtensions),
            nested_path: None,
        };
        f(&ctx)
    }

    /// The shard's id in `profile` output: `[node][index][shard]` (one node: `quidditch`).
    pub(crate) fn profile_id(&self) -> String {
        format!("[quidditch][{}][{}]", self.index.name(), self.shard)
    }

    /// The plan's top-`k` field-sorted collector on this shard.
    fn sorted_collector(&self, plan: &SearchPlan) -> SortedCollector {
        SortedCollector {
            sorts: plan.sorts.clone(),
            mapping: self.mapping.clone(),
            k: plan.k,
            after: plan.after.clone(),
            min_score: None,
            needs_score: plan.scoring,
            doc_bases: self.doc_bases(),
        }
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
    /// Under `collapse`: the hit's group (its collapse field value).
    #[serde(default)]
    pub collapse_key: Option<SortValue>,
}

impl ShardHit {
    pub fn address(&self) -> DocAddress {
        DocAddress::new(self.segment_ord, self.doc)
    }

    fn from_sorted(hit: SortedHit) -> ShardHit {
        ShardHit { key: hit.key, score: hit.score, segment_ord: hit.address.segment_ord, doc: hit.address.doc_id, collapse_key: None }
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
    /// `terminate_after` stopped this shard's collection.
    #[serde(default)]
    pub terminated_early: bool,
    /// `profile: true`: what this shard's query phase measured.
    #[serde(default)]
    pub profile: Option<ShardProfile>,
    /// Per top-level geo aggregation (`geo_aggs`), this shard's partial state.
    #[serde(default)]
    pub geo_aggs: Vec<super::geo_aggs::GeoAggState>,
}

/// What the passes of one shard's query phase report besides their fruits.
#[derive(Default)]
struct PassFlags {
    timed_out: Arc<AtomicBool>,
    terminated: Arc<AtomicBool>,
}

/// Runs `collector` over `query`, stopping early at the deadline or after `terminate_after`
/// documents, scoring with the plan's global statistics under `dfs_query_then_fetch` (else
/// the shard's own).
fn run<C: Collector>(
    searcher: &Searcher,
    query: &dyn Query,
    collector: C,
    plan: &SearchPlan,
    flags: &PassFlags,
) -> tantivy::Result<C::Fruit> {
    let stats: &dyn tantivy::query::Bm25StatisticsProvider = match &plan.statistics {
        Some(global) => global.as_ref(),
        None => searcher,
    };
    if plan.deadline.is_none() && plan.terminate_after.is_none() {
        return searcher.search_with_statistics_provider(query, &collector, stats);
    }
    let limited = LimitedCollector {
        inner: collector,
        deadline: plan.deadline,
        timed_out: flags.timed_out.clone(),
        terminate_after: plan.terminate_after,
        terminated: flags.terminated.clone(),
        collected: Default::default(),
    };
    searcher.search_with_statistics_provider(query, &limited, stats)
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
    let flags = PassFlags::default();
    let lowering = Instant::now();
    let mut query = snap.lower(&snap.matching(&plan.query))?;
    if snap.boost != 1.0 {
        // `indices_boost`: every score of this index's documents is multiplied.
        query = Box::new(tantivy::query::BoostQuery::new(query, snap.boost));
    }
    let hits_query: Box<dyn Query> = match &plan.post_filter {
        Some(pf) => Box::new(BooleanQuery::new(vec![
            (Occur::Must, query.box_clone()),
            (Occur::Must, Box::new(ConstScoreQuery::new(snap.lower(pf)?, 0.0))),
        ])),
        None => query.box_clone(),
    };
    let rewrite_nanos = lowering.elapsed().as_nanos() as u64;
    let profiled = plan.profile.then(|| ProfiledQuery { inner: hits_query.box_clone(), timings: Default::default() });
    let hits_query: Box<dyn Query> = match &profiled {
        Some(p) => Box::new(p.clone()),
        None => hits_query,
    };
    let (hits_clock, aggs_clock) = (super::profile::clock(plan.profile), super::profile::clock(plan.profile));
    let tokenizers = snap.index.tantivy_index().tokenizers();
    let agg_collector = plan.aggs.as_ref().filter(|a| a.has_main()).map(|a| a.collector(tokenizers));
    // With a post_filter, aggregations see the unfiltered query: a separate pass.
    let (agg_in_main, agg_separate) =
        if plan.post_filter.is_some() { (None, agg_collector) } else { (agg_collector, None) };
    let agg_in_main = Timed::new(agg_in_main, aggs_clock.as_ref());
    let count = plan.count_hits.then_some(Count);
    let k = plan.k;
    let (mut hits, total, mut agg_fruit) = if plan.relevance_only && plan.collapse.is_none() {
        let top = Timed::new((k > 0).then(|| TopDocs::with_limit(k).order_by_score()), hits_clock.as_ref());
        let (top, total, aggs) =
            run(&snap.searcher, hits_query.as_ref(), (top, count, agg_in_main), plan, &flags)
                .map_err(tantivy_error)?;
        let hits = top
            .unwrap_or_default()
            .into_iter()
            .map(|(score, address)| ShardHit {
                key: vec![SortValue::Num(score as f64)],
                score,
                segment_ord: address.segment_ord,
                doc: address.doc_id,
                collapse_key: None,
            })
            .collect();
        (hits, total, aggs)
    } else if let Some(collapse) = &plan.collapse {
        let collapsing = (k > 0).then(|| CollapsingCollector {
            sorted: snap.sorted_collector(plan),
            group: collapse.key.clone(),
        });
        let collapsing = Timed::new(collapsing, hits_clock.as_ref());
        let (groups, total, aggs) =
            run(&snap.searcher, hits_query.as_ref(), (collapsing, count, agg_in_main), plan, &flags)
                .map_err(tantivy_error)?;
        let hits = groups
            .unwrap_or_default()
            .into_iter()
            .map(|(hit, group)| ShardHit { collapse_key: Some(group), ..ShardHit::from_sorted(hit) })
            .collect();
        (hits, total, aggs)
    } else {
        let sorted = (k > 0).then(|| snap.sorted_collector(plan));
        let sorted = Timed::new(sorted, hits_clock.as_ref());
        let (sorted, total, aggs) =
            run(&snap.searcher, hits_query.as_ref(), (sorted, count, agg_in_main), plan, &flags)
                .map_err(tantivy_error)?;
        (sorted.unwrap_or_default().into_iter().map(ShardHit::from_sorted).collect(), total, aggs)
    };
    if let Some(collector) = agg_separate {
        let collector = Timed::new(collector, aggs_clock.as_ref());
        agg_fruit = Some(run(&snap.searcher, query.as_ref(), collector, plan, &flags).map_err(tantivy_error)?);
    }
    if !plan.rescore.is_empty() {
        let stats: &dyn tantivy::query::Bm25StatisticsProvider = match &plan.statistics {
            Some(global) => global.as_ref(),
            None => &snap.searcher,
        };
        hits = super::rescore::rescore_hits(snap, stats, &plan.rescore, hits)?;
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
                let q = match &filter_plan.nested_path {
                    Some(path) => {
                        let roots = snap.lower(&snap.matching(&plan.query))?;
                        snap.with_lowering(|ctx| crate::query_ast::nested_children_of(ctx, roots, path))?
                    }
                    None => snap.lower(&snap.matching(&super::filter_aggs::filtered(&plan.query, filter)))?,
                };
                let sub = filter_plan.sub.as_ref().map(|s| s.collector(tokenizers));
                let counted = Timed::new((Count, sub), aggs_clock.as_ref());
                let (doc_count, mut sub) =
                    run(&snap.searcher, q.as_ref(), counted, plan, &flags).map_err(tantivy_error)?;
                if let (Some(fruit), Some(sub_aggs)) = (sub.as_mut(), filter_plan.sub.as_ref()) {
                    sub_aggs.cut_for_shard(fruit).map_err(tantivy_error)?;
                }
                let sub = sub.as_ref().map(AggState::encode).transpose()?;
                buckets.push(FilterBucketState { doc_count: doc_count as u64, sub });
            }
            filter_aggs.push(buckets);
        }
    }
    // Top-level geo aggregations: one pass each over the query's documents.
    let mut geo_aggs = Vec::new();
    if let Some(aggs) = &plan.aggs {
        for geo in &aggs.geo {
            let collector = Timed::new(geo.collector(&snap.mapping), aggs_clock.as_ref());
            let state = run(&snap.searcher, query.as_ref(), collector, plan, &flags).map_err(tantivy_error)?;
            geo_aggs.push(geo.cut_for_shard(state));
        }
    }
    let profile = profiled.map(|p| {
        let mut profile = ShardProfile::measured(&p, rewrite_nanos);
        profile.hits_collector = match (k, plan.relevance_only) {
            (0, _) => "TotalHitCountCollector",
            (_, true) => "SimpleTopScoreDocCollector",
            (_, false) => "SimpleFieldCollector",
        }
        .to_string();
        profile.hits_collect_nanos = super::profile::read(&hits_clock);
        profile.aggregations = plan.aggs.as_ref().map(|a| {
            let (names, agg_type) = a.profile_names();
            (names, agg_type, super::profile::read(&aggs_clock))
        });
        profile
    });
    Ok(ShardQueryResult {
        hits,
        total: total.unwrap_or(0) as u64,
        aggs: agg_fruit.as_ref().map(AggState::encode).transpose()?,
        filter_aggs,
        terms_doc_count_errors,
        timed_out: flags.timed_out.load(AtomicOrdering::Relaxed),
        terminated_early: flags.terminated.load(AtomicOrdering::Relaxed),
        profile,
        geo_aggs,
    })
}
