//! The fetch phase: loads stored documents for the page's hits only, from the searcher each
//! shard was ranked with, and — for `"explain": true` — each hit's score explanation from
//! that same searcher (so the explanation's statistics are the ones the hit was scored with),
//! and the `highlight` fragments of each hit's `_source`.

use std::collections::HashMap;

use serde_json::Value;
use tantivy::query::Query;

use super::explain::explain_doc;
use super::highlight::{HighlightSpec, highlight_hit};
use super::query_phase::ShardSnapshot;
use super::reduce::PageHit;
use crate::error::EngineResult;
use crate::index::StoredDoc;
use crate::query_ast::QueryAst;

/// A page hit with its stored document.
pub(crate) struct FetchedHit<'a> {
    pub shard: &'a ShardSnapshot,
    pub hit: PageHit,
    pub doc: StoredDoc,
    /// `_explanation` (only with `explain: true`).
    pub explanation: Option<Value>,
    /// `highlight` (only when requested and some field has fragments).
    pub highlight: Option<Value>,
    /// Time spent fetching this hit (for `profile`).
    pub nanos: u64,
    /// `collapse` with `inner_hits`: each inner hits' result for the hit's group.
    pub inner_hits: Option<Value>,
}

/// Documents of the page already read from other nodes, by (shard position, segment, doc).
pub(crate) type Prefetched = HashMap<(usize, u32, u32), StoredDoc>;

/// Loads the documents of `page` (hits refer to `shards` by position; `prefetched` has those
/// of shards held by other nodes); with `explain`, explains
/// each hit's score under the plan's query, lowered once per shard (with the plan's global
/// `statistics` under `dfs_query_then_fetch`).
pub(crate) fn fetch<'a>(
    shards: &'a [ShardSnapshot],
    page: Vec<PageHit>,
    explain: Option<&QueryAst>,
    highlight: Option<(&HighlightSpec, &QueryAst)>,
    statistics: Option<&dyn tantivy::query::Bm25StatisticsProvider>,
    mut prefetched: Prefetched,
) -> EngineResult<Vec<FetchedHit<'a>>> {
    let mut lowered: HashMap<usize, Box<dyn Query>> = HashMap::new();
    page.into_iter()
        .map(|hit| {
            let start = std::time::Instant::now();
            let shard = &shards[hit.shard_pos];
            let doc = match prefetched.remove(&(hit.shard_pos, hit.hit.segment_ord, hit.hit.doc)) {
                Some(doc) => doc,
                None => shard.index.read_stored(&shard.searcher, hit.hit.address())?,
            };
            let explanation = if let Some(explained) = explain {
                let query = match lowered.entry(hit.shard_pos) {
                    std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
                    std::collections::hash_map::Entry::Vacant(e) => e.insert(shard.lower(explained)?),
                };
                explain_doc(&shard.searcher, query.as_ref(), hit.hit.address(), statistics)?
            } else {
                None
            };
            let highlight = match highlight {
                Some((spec, query)) => shard.with_lowering(|ctx| highlight_hit(spec, query, ctx, &shard.mapping, &doc.source_json())),
                None => None,
            };
            Ok(FetchedHit { shard, hit, doc, explanation, highlight, nanos: start.elapsed().as_nanos() as u64, inner_hits: None })
        })
        .collect()
}
