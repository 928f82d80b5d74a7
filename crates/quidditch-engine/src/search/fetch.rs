//! The fetch phase: loads stored documents for the page's hits only, from the searcher each
//! shard was ranked with.

use super::query_phase::ShardSnapshot;
use super::reduce::PageHit;
use crate::error::EngineResult;
use crate::index::StoredDoc;

/// A page hit with its stored document.
pub(crate) struct FetchedHit<'a> {
    pub shard: &'a ShardSnapshot,
    pub hit: PageHit,
    pub doc: StoredDoc,
}

/// Loads the documents of `page` (hits refer to `shards` by position).
pub(crate) fn fetch(shards: &[ShardSnapshot], page: Vec<PageHit>) -> EngineResult<Vec<FetchedHit<'_>>> {
    page.into_iter()
        .map(|hit| {
            let shard = &shards[hit.shard_pos];
            let doc = shard.index.read_stored(&shard.searcher, hit.hit.address())?;
            Ok(FetchedHit { shard, hit, doc })
        })
        .collect()
}
