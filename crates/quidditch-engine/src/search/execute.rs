//! The one entry point of search: plan → shard query phase (shards in parallel on a bounded
//! pool) → reduce → fetch → render. `_search`, `_count` and every `_msearch` item go
//! through [`search`].

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use rayon::prelude::*;
use serde_json::{Value, json};

use super::fetch::fetch;
use super::pit::PitRegistry;
use super::plan::SearchPlan;
use super::dfs::GlobalStatistics;
use super::remote::RemoteShards;
use super::query_phase::{ShardQueryResult, ShardSnapshot, query_shard};
use super::reduce::reduce;
use super::request::SearchRequest;
use super::response::{Rendered, ShardsSummary};
use crate::error::{EngineError, EngineResult};
use crate::index::Index;
use crate::mapping::Mapping;
use crate::query_ast::QueryAst;
use crate::udf_exec::UdfRun;

/// The node's shard-search pool: one thread per core, shared by all searches, so a
/// multi-shard search uses every core and many concurrent searches cannot multiply threads.
pub(super) fn search_pool() -> &'static rayon::ThreadPool {
    static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
    POOL.get_or_init(|| {
        let threads = std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1);
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("quidditch-search-{i}"))
            .build()
            .expect("search thread pool")
    })
}

/// One index a search reads, as its index expression resolved it: through an alias it
/// carries the alias's filter (applied to every query of the search on this index) and
/// search routing.
#[derive(Debug, Clone)]
pub struct SearchTarget {
    pub index: Arc<Index>,
    pub filter: Option<QueryAst>,
    /// The alias's routing values; intersected with the request's `routing`.
    pub routing: Option<Vec<String>>,
    /// `indices_boost`: this index's scores are multiplied by it (1: no boost).
    pub boost: f32,
}

impl SearchTarget {
    /// The index itself, unfiltered.
    pub fn whole(index: &Arc<Index>) -> SearchTarget {
        SearchTarget { index: index.clone(), filter: None, routing: None, boost: 1.0 }
    }
}

/// The shards a request targets: every shard of each index, or those its `routing` values
/// (and the alias's) point to.
pub(super) fn target_shards(targets: &[SearchTarget], req: &SearchRequest, run: Option<&Arc<UdfRun>>) -> Vec<ShardSnapshot> {
    let mut shards = Vec::new();
    for target in targets {
        let index = &target.index;
        let searchers = index.shard_searchers();
        let shards_of = |values: &Vec<String>| values.iter().map(|r| index.shard_for(r)).collect::<Vec<u32>>();
        let wanted: Option<Vec<u32>> = match (req.routing.as_ref().map(shards_of), target.routing.as_ref().map(shards_of)) {
            (Some(a), Some(b)) => Some(a.into_iter().filter(|s| b.contains(s)).collect()),
            (a, b) => a.or(b),
        };
        for (number, searcher) in searchers.into_iter().enumerate() {
            let number = number as u32;
            if wanted.as_ref().is_some_and(|w| !w.contains(&number)) {
                continue;
            }
            let mut snapshot = ShardSnapshot::new(index, number, searcher, run, target.filter.clone());
            snapshot.boost = target.boost;
            shards.push(snapshot);
        }
    }
    shards
}

/// Runs `req` over the targeted shards of `indices` and returns the OpenSearch response body
/// (the `_count` body when `req.count_only`). `udfs` serves `wasm_udf`/`script_score`
/// clauses: a UDF failure fails the search (or is counted in `udf_failures` under
/// `on_error: exclude`); UDF time is bounded by the request's `timeout`.
pub fn search(
    indices: &[Arc<Index>],
    req: &SearchRequest,
    udfs: Option<&Arc<quidditch_udf::UdfRegistry>>,
) -> EngineResult<Value> {
    let targets: Vec<SearchTarget> = indices.iter().map(SearchTarget::whole).collect();
    search_targets(&targets, req, udfs)
}

/// [`search`] over resolved targets (indices reached through aliases carry their filter and
/// routing).
pub fn search_targets(
    targets: &[SearchTarget],
    req: &SearchRequest,
    udfs: Option<&Arc<quidditch_udf::UdfRegistry>>,
) -> EngineResult<Value> {
    search_targets_with(targets, req, udfs, None)
}

/// [`search_targets`] when some shards may be held by other nodes (cluster mode): `remote`
/// says which, and runs their query phase and reads their page's documents on their nodes;
/// every other step (plan, reduce, render) is the one above, here.
pub fn search_targets_with(
    targets: &[SearchTarget],
    req: &SearchRequest,
    udfs: Option<&Arc<quidditch_udf::UdfRegistry>>,
    remote: Option<&dyn RemoteShards>,
) -> EngineResult<Value> {
    let start = Instant::now();
    let deadline = req.timeout.map(|t| start + t);
    let udf_run = udfs.map(|r| UdfRun::new(r.clone(), deadline));
    let mut shards = target_shards(targets, req, udf_run.as_ref());
    let mappings: Vec<Arc<Mapping>> = targets.iter().map(|t| t.index.mapping()).collect();
    let remote = remote.filter(|r| {
        let mut any = false;
        for shard in shards.iter_mut() {
            shard.held_elsewhere = r.is_remote(&shard.index, shard.shard);
            any |= shard.held_elsewhere;
        }
        any
    });
    if let Some(remote) = remote {
        super::remote::check_supported(&shards, req)?;
        return search_shards(&shards, &mappings, req, udf_run, start, Some(remote));
    }
    search_shards(&shards, &mappings, req, udf_run, start, None)
}

/// [`search`] over the shards pinned by the point in time `req.pit` (see [`super::pit`]):
/// the same phases on the PIT's snapshot; the response carries the `pit_id`.
pub fn search_pit(
    pits: &PitRegistry,
    req: &SearchRequest,
    udfs: Option<&Arc<quidditch_udf::UdfRegistry>>,
) -> EngineResult<Value> {
    let start = Instant::now();
    let pit = req.pit.as_ref().ok_or_else(|| EngineError::internal("PIT search without a pit"))?;
    let pinned = pits.pinned(&pit.id, pit.keep_alive)?;
    let deadline = req.timeout.map(|t| start + t);
    let udf_run = udfs.map(|r| UdfRun::new(r.clone(), deadline));
    let shards: Vec<ShardSnapshot> = pinned.iter().map(|p| p.snapshot(udf_run.as_ref())).collect();
    let mut indices: Vec<&Arc<Index>> = Vec::new();
    for p in &pinned {
        if !indices.iter().any(|i| Arc::ptr_eq(i, p.index())) {
            indices.push(p.index());
        }
    }
    let mappings: Vec<Arc<Mapping>> = indices.iter().map(|i| i.mapping()).collect();
    let mut body = search_shards(&shards, &mappings, req, udf_run, start, None)?;
    body["pit_id"] = json!(pit.id);
    Ok(body)
}

/// The phases of one search over snapshots of its shards.
fn search_shards(
    shards: &[ShardSnapshot],
    mappings: &[Arc<Mapping>],
    req: &SearchRequest,
    udf_run: Option<Arc<UdfRun>>,
    start: Instant,
    remote: Option<&dyn RemoteShards>,
) -> EngineResult<Value> {
    let mut plan = SearchPlan::new(req, mappings, start)?;
    if req.dfs && shards.len() > 1 {
        plan.statistics = Some(Arc::new(GlobalStatistics::new(shards.iter().map(|s| s.searcher.clone()).collect())));
    }

    let outcomes: Vec<EngineResult<ShardQueryResult>> = if let Some(remote) = remote {
        super::remote::query_phase(shards, &plan, remote)
    } else if shards.len() > 1 {
        let plan = &plan;
        search_pool().install(|| shards.par_iter().map(|shard| query_shard(shard, plan)).collect())
    } else {
        shards.iter().map(|shard| query_shard(shard, &plan)).collect()
    };
    let mut udf_timed_out = false;
    if let Some(run) = &udf_run {
        run.check()?;
        udf_timed_out = run.timed_out();
    }
    let (results, summary) = collect_outcomes(shards, outcomes, req)?;
    let mut reduced = reduce(&mut plan, req, results)?;
    reduced.timed_out |= udf_timed_out;
    if let (Some(aggs), Some(out)) = (plan.aggs.as_ref().filter(|a| a.has_top_hits()), reduced.aggregations.as_mut()) {
        aggs.fill_top_hits(out, req, &plan.query, &mut |bucket_req| {
            search_shards(shards, mappings, bucket_req, udf_run.clone(), Instant::now(), remote)
        })?;
    }
    let page = std::mem::take(&mut reduced.page);
    let statistics = plan.statistics.as_deref().map(|s| s as &dyn tantivy::query::Bm25StatisticsProvider);
    let prefetched = match remote {
        Some(remote) => super::remote::fetch_held_elsewhere(shards, &page, remote)?,
        None => Default::default(),
    };
    let mut hits = fetch(shards, page, req.explain.then_some(&plan.query), req.highlight.as_ref().map(|h| (h, &req.query)), statistics, prefetched)?;
    if let Some(collapse) = &plan.collapse {
        super::collapse::add_inner_hits(&mut hits, collapse, req, |group_req| {
            search_shards(shards, mappings, group_req, udf_run.clone(), Instant::now(), remote)
        })?;
    }
    Ok(Rendered {
        req,
        plan: &plan,
        reduced,
        hits,
        shards: summary,
        took_ms: start.elapsed().as_millis() as u64,
        udf_failures: if req.count_only { None } else { udf_run.as_ref().and_then(|r| r.failures_json()) },
        shard_names: if req.profile { shards.iter().map(ShardSnapshot::profile_id).collect() } else { Vec::new() },
    }
    .to_json())
}

/// Splits shard outcomes into results (a failed shard contributes an empty one, so shard
/// positions stay aligned) and the `_shards` summary. Every shard failing, or any failing
/// with `allow_partial_search_results=false`, fails the search with the first error.
pub(super) fn collect_outcomes(
    shards: &[ShardSnapshot],
    outcomes: Vec<EngineResult<ShardQueryResult>>,
    req: &SearchRequest,
) -> EngineResult<(Vec<ShardQueryResult>, ShardsSummary)> {
    let total = outcomes.len();
    let failed = outcomes.iter().filter(|o| o.is_err()).count();
    if failed > 0 && (failed == total || !req.allow_partial_search_results) {
        let first = outcomes.into_iter().find_map(Result::err);
        return Err(first.unwrap_or_else(|| EngineError::internal("all shards failed")));
    }
    let mut summary = ShardsSummary { total, successful: total - failed, ..Default::default() };
    let mut results = Vec::with_capacity(total);
    for (shard, outcome) in shards.iter().zip(outcomes) {
        match outcome {
            Ok(r) => results.push(r),
            Err(e) => {
                summary.failures.push(json!({
                    "shard": shard.shard,
                    "index": shard.index.name(),
                    "reason": {"type": e.error_type(), "reason": e.to_string()},
                }));
                results.push(ShardQueryResult::default());
            }
        }
    }
    Ok((results, summary))
}
