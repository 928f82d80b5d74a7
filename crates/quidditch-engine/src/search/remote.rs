//! Shards held by other nodes (cluster mode).
//!
//! The coordinating node runs a search as a single node does (plan, reduce, render in
//! `execute`), except that the query phase of a shard held by another node runs on that node
//! and the page's documents of that shard are read there. [`RemoteShards`] is how the engine
//! asks (the server implements it over the node-to-node API); the holding node answers with
//! [`query_held_shards`] — the same `query_shard` a single node runs, its
//! [`ShardQueryResult`]s being plain serializable data — and [`fetch_held`], which reads the
//! documents from the very searchers the query phase ranked (kept for [`HELD_FOR`] under a
//! context id, as a scroll keeps its snapshot).

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rayon::prelude::*;
use tantivy::{DocAddress, Searcher};

use super::execute::search_pool;
use super::fetch::Prefetched;
use super::plan::SearchPlan;
use super::query_phase::{ShardQueryResult, ShardSnapshot, query_shard};
use super::reduce::PageHit;
use super::request::SearchRequest;
use crate::error::{EngineError, EngineResult};
use crate::index::{Index, StoredDoc};
use crate::udf_exec::UdfRun;

/// How long a holding node keeps a query phase's searchers for the fetch that follows.
pub const HELD_FOR: Duration = Duration::from_secs(60);

/// The other nodes, as the coordinator of one search sees them.
pub trait RemoteShards: Sync {
    /// Whether shard `shard` of `index` is held by another node.
    fn is_remote(&self, index: &Index, shard: u32) -> bool;
    /// The query phase of `shards` of `index` on the node(s) holding them, for the search
    /// being coordinated; one outcome per shard, in order (a node that does not answer fails
    /// each of its shards).
    fn query(&self, index: &Arc<Index>, shards: &[u32], boost: f32) -> Vec<EngineResult<ShardQueryResult>>;
    /// The stored documents at `docs` (segment, doc) of `shard`, from the searcher its query
    /// phase ranked, in order.
    fn fetch(&self, index: &Arc<Index>, shard: u32, docs: &[(u32, u32)]) -> EngineResult<Vec<StoredDoc>>;
}

/// What a search over shards of several nodes cannot do yet: each needs more than one query
/// and one fetch per shard (or the alias filter, which only the coordinator resolved).
pub(super) fn check_supported(shards: &[ShardSnapshot], req: &SearchRequest) -> EngineResult<()> {
    let refuse = |what: &str| {
        Err(EngineError::bad_request(
            "illegal_argument_exception",
            format!("{what} is not supported yet on indices whose shards are held by several nodes"),
        ))
    };
    if req.dfs {
        return refuse("[dfs_query_then_fetch]");
    }
    if req.explain {
        return refuse("[explain]");
    }
    if req.collapse.as_ref().is_some_and(|c| !c.inner_hits.is_empty()) {
        return refuse("[collapse] with [inner_hits]");
    }
    if req.aggs.as_ref().is_some_and(|a| a.to_string().contains("\"top_hits\"")) {
        return refuse("a [top_hits] aggregation");
    }
    if shards.iter().any(|s| s.held_elsewhere && s.has_alias_filter()) {
        return refuse("a search through a filtered alias");
    }
    Ok(())
}

/// The query phase of every shard: local ones on the search pool, remote ones (one call per
/// index) on their nodes meanwhile.
pub(super) fn query_phase(shards: &[ShardSnapshot], plan: &SearchPlan, remote: &dyn RemoteShards) -> Vec<EngineResult<ShardQueryResult>> {
    // Remote shards grouped per index (by position in `shards`).
    let mut groups: Vec<(Arc<Index>, f32, Vec<usize>)> = Vec::new();
    for (pos, shard) in shards.iter().enumerate().filter(|(_, s)| s.held_elsewhere) {
        match groups.iter_mut().find(|(index, _, _)| Arc::ptr_eq(index, &shard.index)) {
            Some((_, _, positions)) => positions.push(pos),
            None => groups.push((shard.index.clone(), shard.boost, vec![pos])),
        }
    }
    let mut outcomes: Vec<Option<EngineResult<ShardQueryResult>>> = (0..shards.len()).map(|_| None).collect();
    std::thread::scope(|scope| {
        let calls: Vec<_> = groups
            .iter()
            .map(|(index, boost, positions)| {
                let numbers: Vec<u32> = positions.iter().map(|p| shards[*p].shard).collect();
                scope.spawn(move || remote.query(index, &numbers, *boost))
            })
            .collect();
        let local: Vec<(usize, EngineResult<ShardQueryResult>)> = search_pool().install(|| {
            shards
                .par_iter()
                .enumerate()
                .filter(|(_, s)| !s.held_elsewhere)
                .map(|(pos, s)| (pos, query_shard(s, plan)))
                .collect()
        });
        for (pos, outcome) in local {
            outcomes[pos] = Some(outcome);
        }
        for ((_, _, positions), call) in groups.iter().zip(calls) {
            let results = call.join().unwrap_or_else(|_| Vec::new());
            let mut results = results.into_iter();
            for pos in positions {
                outcomes[*pos] =
                    Some(results.next().unwrap_or_else(|| Err(EngineError::internal("a remote query phase gave no result for a shard"))));
            }
        }
    });
    outcomes.into_iter().map(|o| o.unwrap_or_else(|| Err(EngineError::internal("shard not searched")))).collect()
}

/// Reads the page's documents of remote shards (one call per shard).
pub(super) fn fetch_held_elsewhere(shards: &[ShardSnapshot], page: &[PageHit], remote: &dyn RemoteShards) -> EngineResult<Prefetched> {
    let mut wanted: HashMap<usize, Vec<(u32, u32)>> = HashMap::new();
    for hit in page.iter().filter(|h| shards[h.shard_pos].held_elsewhere) {
        wanted.entry(hit.shard_pos).or_default().push((hit.hit.segment_ord, hit.hit.doc));
    }
    let fetched: Vec<EngineResult<(usize, Vec<(u32, u32)>, Vec<StoredDoc>)>> = std::thread::scope(|scope| {
        let calls: Vec<_> = wanted
            .into_iter()
            .map(|(pos, docs)| {
                let shard = &shards[pos];
                scope.spawn(move || remote.fetch(&shard.index, shard.shard, &docs).map(|found| (pos, docs, found)))
            })
            .collect();
        calls.into_iter().map(|c| c.join().unwrap_or_else(|_| Err(EngineError::internal("remote fetch panicked")))).collect()
    });
    let mut out = Prefetched::new();
    for result in fetched {
        let (pos, docs, found) = result?;
        if docs.len() != found.len() {
            return Err(EngineError::internal("a remote fetch returned another number of documents"));
        }
        for ((segment, doc), stored) in docs.into_iter().zip(found) {
            out.insert((pos, segment, doc), stored);
        }
    }
    Ok(out)
}

/// Searchers a holding node keeps between a query phase and its fetch.
struct Held {
    until: Instant,
    index: Arc<Index>,
    searchers: HashMap<u32, Searcher>,
}

fn held() -> &'static Mutex<HashMap<String, Held>> {
    static HELD: OnceLock<Mutex<HashMap<String, Held>>> = OnceLock::new();
    HELD.get_or_init(Default::default)
}

/// On the holding node: the query phase of `shards` of `index` for `req` (planned here as on
/// the coordinator), with `boost` (`indices_boost`). Returns the context id to fetch with.
pub fn query_held_shards(
    index: &Arc<Index>,
    shards: &[u32],
    boost: f32,
    req: &SearchRequest,
    udfs: Option<&Arc<quidditch_udf::UdfRegistry>>,
) -> EngineResult<(String, Vec<EngineResult<ShardQueryResult>>)> {
    let start = Instant::now();
    let run = udfs.map(|r| UdfRun::new(r.clone(), req.timeout.map(|t| start + t)));
    let plan = SearchPlan::new(req, &[index.mapping()], start)?;
    let searchers = index.shard_searchers();
    let mut snapshots = Vec::with_capacity(shards.len());
    for &n in shards {
        let searcher = searchers
            .get(n as usize)
            .cloned()
            .ok_or_else(|| EngineError::bad_request("illegal_argument_exception", format!("[{}] has no shard [{n}]", index.name())))?;
        let mut snapshot = ShardSnapshot::new(index, n, searcher, run.as_ref(), None);
        snapshot.boost = boost;
        snapshots.push(snapshot);
    }
    let results: Vec<EngineResult<ShardQueryResult>> =
        search_pool().install(|| snapshots.par_iter().map(|s| query_shard(s, &plan)).collect());
    if let Some(run) = &run {
        run.check()?;
    }
    let context = uuid::Uuid::new_v4().simple().to_string();
    let now = Instant::now();
    let mut contexts = held().lock();
    contexts.retain(|_, h| h.until > now);
    contexts.insert(
        context.clone(),
        Held { until: now + HELD_FOR, index: index.clone(), searchers: snapshots.into_iter().map(|s| (s.shard, s.searcher)).collect() },
    );
    Ok((context, results))
}

/// On the holding node: the stored documents at `docs` of `shard`, from the searcher the
/// query phase of `context` ranked.
pub fn fetch_held(context: &str, shard: u32, docs: &[(u32, u32)]) -> EngineResult<Vec<StoredDoc>> {
    let (index, searcher) = {
        let contexts = held().lock();
        let held = contexts.get(context).filter(|h| h.until > Instant::now()).ok_or_else(|| EngineError::ScrollMissing { id: context.to_string() })?;
        let searcher = held.searchers.get(&shard).cloned().ok_or_else(|| EngineError::ScrollMissing { id: format!("{context}/{shard}") })?;
        (held.index.clone(), searcher)
    };
    docs.iter().map(|(segment, doc)| index.read_stored(&searcher, DocAddress::new(*segment, *doc))).collect()
}
