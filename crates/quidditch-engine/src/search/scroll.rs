//! Scroll contexts: `?scroll=1m` on a search pins the shards' searchers (a consistent snapshot
//! for the whole scroll, whatever is indexed meanwhile), ranks every match once, and serves
//! the ranked list page by page from `GET /_search/scroll` until it expires or is cleared.
//!
//! The ranked list holds sort keys and document addresses only (no documents): each page
//! fetches its own documents from the pinned searchers. `sort: ["_doc"]` skips scoring, the
//! cheap order for exports. A sliced scroll (`slice: {id, max}`) keeps the matches whose
//! address hashes to its slice, so `max` scrolls over the same snapshot partition the matches.
//! At most [`ScrollRegistry::max_open`] contexts are open at once
//! (`search.max_open_scroll_context`, 500 by default); expired ones are dropped lazily.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use rayon::prelude::*;
use serde_json::{Value, json};

use super::execute::{SearchTarget, collect_outcomes, search_pool, target_shards};
use super::fetch::fetch;
use super::plan::SearchPlan;
use super::query_phase::{ShardQueryResult, ShardSnapshot, query_shard};
use super::reduce::{PageHit, Reduced, reduce};
use super::request::{SearchRequest, Slice};
use super::response::{Rendered, ShardsSummary};
use crate::error::{EngineError, EngineResult};
use crate::mapping::Mapping;
use crate::udf_exec::UdfRun;

/// OpenSearch's default `search.max_open_scroll_context`.
pub const DEFAULT_MAX_OPEN_SCROLL_CONTEXTS: usize = 500;

/// One open scroll.
struct ScrollContext {
    shards: Vec<ShardSnapshot>,
    plan: SearchPlan,
    req: SearchRequest,
    /// The ranked hits not served yet.
    rest: VecDeque<PageHit>,
    total: u64,
    max_score: Option<f32>,
    summary: ShardsSummary,
    expires: Instant,
}

/// The node's open scroll contexts, by id.
pub struct ScrollRegistry {
    contexts: Mutex<HashMap<String, Arc<Mutex<ScrollContext>>>>,
    max_open: usize,
}

impl Default for ScrollRegistry {
    fn default() -> Self {
        ScrollRegistry::new(DEFAULT_MAX_OPEN_SCROLL_CONTEXTS)
    }
}

impl ScrollRegistry {
    pub fn new(max_open: usize) -> Self {
        ScrollRegistry { contexts: Mutex::new(HashMap::new()), max_open }
    }

    pub fn max_open(&self) -> usize {
        self.max_open
    }

    /// How many contexts are open (expired ones not counted).
    pub fn open_count(&self) -> usize {
        self.sweep();
        self.contexts.lock().len()
    }

    fn sweep(&self) {
        let now = Instant::now();
        self.contexts.lock().retain(|_, ctx| ctx.try_lock().is_none_or(|c| c.expires > now));
    }

    /// Runs the first page of a scroll search and keeps the context (`req.scroll` set).
    pub fn open(
        &self,
        targets: &[SearchTarget],
        req: &SearchRequest,
        udfs: Option<&Arc<quidditch_udf::UdfRegistry>>,
    ) -> EngineResult<Value> {
        let keep_alive = req.scroll.ok_or_else(|| EngineError::internal("scroll search without keep-alive"))?;
        if self.open_count() >= self.max_open {
            return Err(EngineError::TooManyScrollContexts { max: self.max_open });
        }
        let start = Instant::now();
        let (mut ctx, aggregations, timed_out) = ScrollContext::rank(targets, req, udfs, start)?;
        ctx.expires = Instant::now() + keep_alive;
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut body = ctx.page(aggregations, timed_out, start, None)?;
        body["_scroll_id"] = json!(scroll_id_text(&id));
        self.contexts.lock().insert(id, Arc::new(Mutex::new(ctx)));
        Ok(body)
    }

    /// The next page of scroll `scroll_id`; `keep_alive` renews the context's expiry.
    /// `rest_total_hits_as_int` is the scroll request's own flag.
    pub fn next(&self, scroll_id: &str, keep_alive: Option<Duration>, rest_total_hits_as_int: bool) -> EngineResult<Value> {
        let start = Instant::now();
        let id = parse_scroll_id(scroll_id)?;
        let ctx = self.contexts.lock().get(&id).cloned();
        let Some(ctx) = ctx else { return Err(EngineError::ScrollMissing { id: scroll_id.to_string() }) };
        let mut ctx = ctx.lock();
        if ctx.expires <= start {
            drop(ctx);
            self.contexts.lock().remove(&id);
            return Err(EngineError::ScrollMissing { id: scroll_id.to_string() });
        }
        if let Some(keep_alive) = keep_alive.or(ctx.req.scroll) {
            ctx.expires = start + keep_alive;
        }
        let mut body = ctx.page(None, false, start, Some(rest_total_hits_as_int))?;
        body["_scroll_id"] = json!(scroll_id);
        Ok(body)
    }

    /// Frees the named contexts; returns how many existed (ids that do not parse count as
    /// missing, as OpenSearch answers them).
    pub fn clear(&self, scroll_ids: &[String]) -> EngineResult<usize> {
        let mut contexts = self.contexts.lock();
        let mut freed = 0;
        for scroll_id in scroll_ids {
            let id = parse_scroll_id(scroll_id)?;
            freed += usize::from(contexts.remove(&id).is_some());
        }
        Ok(freed)
    }

    /// Frees every context; returns how many there were.
    pub fn clear_all(&self) -> usize {
        let mut contexts = self.contexts.lock();
        let n = contexts.len();
        contexts.clear();
        n
    }
}

impl ScrollContext {
    /// Pins the targeted shards and ranks every match of `req` (its slice only, when sliced).
    /// Returns the context with the first page's aggregations and `timed_out`.
    fn rank(
        targets: &[SearchTarget],
        req: &SearchRequest,
        udfs: Option<&Arc<quidditch_udf::UdfRegistry>>,
        start: Instant,
    ) -> EngineResult<(ScrollContext, Option<Value>, bool)> {
        let deadline = req.timeout.map(|t| start + t);
        let udf_run = udfs.map(|r| UdfRun::new(r.clone(), deadline));
        let mut shards = target_shards(targets, req, udf_run.as_ref());
        // This node's walk over its own documents (scroll, by-query): its replica copies are
        // walked on their primaries.
        shards.retain(|s| !s.index.is_replica(s.shard));
        let mappings: Vec<Arc<Mapping>> = targets.iter().map(|t| t.index.mapping()).collect();
        // Every match is ranked once: each shard returns all its hits.
        let mut ranked_req = req.clone();
        ranked_req.from = 0;
        ranked_req.size = usize::MAX;
        let mut plan = SearchPlan::new(&ranked_req, &mappings, start)?;
        plan.k = shards.iter().map(|s| s.searcher.num_docs() as usize).max().unwrap_or(0).max(1);
        plan.count_hits = true;
        let outcomes: Vec<EngineResult<ShardQueryResult>> = if shards.len() > 1 {
            let plan = &plan;
            search_pool().install(|| shards.par_iter().map(|shard| query_shard(shard, plan)).collect())
        } else {
            shards.iter().map(|shard| query_shard(shard, &plan)).collect()
        };
        if let Some(run) = &udf_run {
            run.check()?;
        }
        let (results, summary) = collect_outcomes(&shards, outcomes, req)?;
        let mut reduced = reduce(&mut plan, &ranked_req, results)?;
        let mut ranked = std::mem::take(&mut reduced.page);
        if let Some(slice) = req.slice {
            ranked.retain(|hit| slice_of(hit, slice) == slice.id);
            reduced.total = ranked.len() as u64;
        }
        let ctx = ScrollContext {
            shards,
            plan,
            req: req.clone(),
            rest: ranked.into(),
            total: reduced.total,
            max_score: reduced.max_score,
            summary,
            expires: start,
        };
        Ok((ctx, reduced.aggregations.take(), reduced.timed_out))
    }

    /// Serves the next `size` ranked hits (fetched from the pinned searchers).
    fn page(&mut self, aggregations: Option<Value>, timed_out: bool, start: Instant, rest_total_hits_as_int: Option<bool>) -> EngineResult<Value> {
        let take = self.req.size.min(self.rest.len());
        let page: Vec<PageHit> = self.rest.drain(..take).collect();
        let hits = fetch(&self.shards, page, None, self.req.highlight.as_ref().map(|h| (h, &self.req.query)), None, Default::default())?;
        let mut req = self.req.clone();
        if let Some(flag) = rest_total_hits_as_int {
            req.rest_total_hits_as_int = flag;
        }
        Ok(Rendered {
            req: &req,
            plan: &self.plan,
            reduced: Reduced { page: Vec::new(), total: self.total, max_score: self.max_score, aggregations, timed_out, terminated_early: false, profiles: Vec::new() },
            hits,
            shards: self.summary.clone(),
            took_ms: start.elapsed().as_millis() as u64,
            udf_failures: None,
            shard_names: Vec::new(),
        }
        .to_json())
    }
}

/// The documents matching a search, over one pinned snapshot, in batches: what
/// delete/update-by-query and reindex walk (a scroll without a registry entry).
pub struct DocCursor {
    ctx: ScrollContext,
}

impl DocCursor {
    pub fn open(targets: &[SearchTarget], req: &SearchRequest, udfs: Option<&Arc<quidditch_udf::UdfRegistry>>) -> EngineResult<DocCursor> {
        let (ctx, _, _) = ScrollContext::rank(targets, req, udfs, Instant::now())?;
        Ok(DocCursor { ctx })
    }

    /// How many documents matched.
    pub fn total(&self) -> u64 {
        self.ctx.total
    }

    /// The next (up to) `n` documents with the index each is in; empty at the end.
    pub fn next_batch(&mut self, n: usize) -> EngineResult<Vec<(Arc<crate::index::Index>, crate::index::StoredDoc)>> {
        let take = n.min(self.ctx.rest.len());
        let page: Vec<PageHit> = self.ctx.rest.drain(..take).collect();
        Ok(fetch(&self.ctx.shards, page, None, None, None, Default::default())?.into_iter().map(|hit| (hit.shard.index.clone(), hit.doc)).collect())
    }
}

/// Which slice a hit belongs to: a hash of its shard position and document address, stable
/// for one snapshot, so the `max` slices of the same request partition the matches.
fn slice_of(hit: &PageHit, slice: Slice) -> u32 {
    let address = ((hit.shard_pos as u64) << 48) ^ ((hit.hit.segment_ord as u64) << 32) ^ hit.hit.doc as u64;
    let mixed = address.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    ((mixed >> 32) % slice.max as u64) as u32
}

/// Scroll ids are opaque to clients; ours is the context key, base64-wrapped like
/// OpenSearch's (clients only pass it back).
fn scroll_id_text(id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("quidditch-scroll:{id}"))
}

fn parse_scroll_id(text: &str) -> EngineResult<String> {
    use base64::Engine as _;
    let invalid = || EngineError::IllegalArgument(format!("Cannot parse scroll id [{text}]"));
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    decoded.strip_prefix("quidditch-scroll:").map(str::to_string).ok_or_else(invalid)
}
