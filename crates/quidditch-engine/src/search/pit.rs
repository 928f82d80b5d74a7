//! Point in time (`POST /{index}/_search/point_in_time?keep_alive=`): the targeted shards'
//! searchers pinned under an id, so any number of later searches (`"pit": {"id": …}` in the
//! body, typically paging with `search_after`) see one unchanging snapshot of the data while
//! writes go on. Unlike a scroll, a PIT holds no query and no ranked list: only searchers.
//! Each use may extend the keep-alive (it never shrinks) and restarts its clock; expired contexts are dropped lazily. At most
//! [`PitRegistry::max_open`] are open at once (`search.max_open_pit_context`, 300 in
//! OpenSearch); keep-alives above `point_in_time.max_keep_alive` (24 h) are refused.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;
use serde_json::{Value, json};
use tantivy::Searcher;

use super::execute::SearchTarget;
use super::query_phase::ShardSnapshot;
use crate::error::{EngineError, EngineResult};
use crate::index::Index;
use crate::query_ast::QueryAst;
use crate::udf_exec::UdfRun;

/// OpenSearch's default `search.max_open_pit_context`.
pub const DEFAULT_MAX_OPEN_PIT_CONTEXTS: usize = 300;
/// OpenSearch's default `point_in_time.max_keep_alive`.
pub const MAX_PIT_KEEP_ALIVE: Duration = Duration::from_secs(24 * 3600);

/// One pinned shard of a PIT: what a search needs to build its shard snapshot.
#[derive(Clone)]
pub(crate) struct PinnedShard {
    index: Arc<Index>,
    shard: u32,
    searcher: Searcher,
    alias_filter: Option<QueryAst>,
}

impl PinnedShard {
    pub(crate) fn snapshot(&self, run: Option<&Arc<UdfRun>>) -> ShardSnapshot {
        ShardSnapshot::new(&self.index, self.shard, self.searcher.clone(), run, self.alias_filter.clone())
    }

    pub(crate) fn index(&self) -> &Arc<Index> {
        &self.index
    }
}

struct PitContext {
    shards: Vec<PinnedShard>,
    keep_alive: Duration,
    expires: Instant,
    /// Milliseconds since the epoch, as OpenSearch reports `creation_time`.
    created_ms: u64,
}

/// A PIT as listed by `GET /_search/point_in_time/_all`.
#[derive(Debug, Clone, PartialEq)]
pub struct PitInfo {
    pub pit_id: String,
    pub creation_time: u64,
    pub keep_alive_ms: u64,
}

/// The node's open PITs, by id.
pub struct PitRegistry {
    contexts: Mutex<HashMap<String, PitContext>>,
    max_open: usize,
}

impl Default for PitRegistry {
    fn default() -> Self {
        PitRegistry::new(DEFAULT_MAX_OPEN_PIT_CONTEXTS)
    }
}

impl PitRegistry {
    pub fn new(max_open: usize) -> Self {
        PitRegistry { contexts: Mutex::new(HashMap::new()), max_open }
    }

    fn sweep(contexts: &mut HashMap<String, PitContext>) {
        let now = Instant::now();
        contexts.retain(|_, ctx| ctx.expires > now);
    }

    /// Pins every shard of `targets` (only those `routing` points to, when given) and returns
    /// the `create_pit` response body.
    pub fn create(&self, targets: &[SearchTarget], routing: Option<&[String]>, keep_alive: Duration) -> EngineResult<Value> {
        check_keep_alive(keep_alive)?;
        let mut shards = Vec::new();
        for target in targets {
            let index = &target.index;
            let wanted: Option<Vec<u32>> = routing.map(|values| values.iter().map(|r| index.shard_for(r)).collect());
            for (number, searcher) in index.shard_searchers().into_iter().enumerate() {
                let number = number as u32;
                if wanted.as_ref().is_some_and(|w| !w.contains(&number)) {
                    continue;
                }
                shards.push(PinnedShard { index: index.clone(), shard: number, searcher, alias_filter: target.filter.clone() });
            }
        }
        let total = shards.len();
        let created_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let mut contexts = self.contexts.lock();
        Self::sweep(&mut contexts);
        if contexts.len() >= self.max_open {
            return Err(EngineError::TooManyPitContexts { max: self.max_open });
        }
        contexts.insert(id.clone(), PitContext { shards, keep_alive, expires: Instant::now() + keep_alive, created_ms });
        Ok(json!({
            "pit_id": pit_id_text(&id),
            "_shards": {"total": total, "successful": total, "skipped": 0, "failed": 0},
            "creation_time": created_ms,
        }))
    }

    /// The pinned shards of PIT `pit_id`, renewing its keep-alive when `keep_alive` is given.
    pub(crate) fn pinned(&self, pit_id: &str, keep_alive: Option<Duration>) -> EngineResult<Vec<PinnedShard>> {
        let id = parse_pit_id(pit_id)?;
        let mut contexts = self.contexts.lock();
        Self::sweep(&mut contexts);
        let ctx = contexts.get_mut(&id).ok_or_else(|| EngineError::ScrollMissing { id: pit_id.to_string() })?;
        if let Some(keep_alive) = keep_alive {
            check_keep_alive(keep_alive)?;
            // As OpenSearch's reader contexts: the keep-alive only grows, and the expiry is
            // counted from this use.
            ctx.keep_alive = ctx.keep_alive.max(keep_alive);
            ctx.expires = Instant::now() + ctx.keep_alive;
        }
        Ok(ctx.shards.clone())
    }

    /// Every open PIT, oldest first.
    pub fn list(&self) -> Vec<PitInfo> {
        let mut contexts = self.contexts.lock();
        Self::sweep(&mut contexts);
        let mut out: Vec<PitInfo> = contexts
            .iter()
            .map(|(id, ctx)| PitInfo {
                pit_id: pit_id_text(id),
                creation_time: ctx.created_ms,
                keep_alive_ms: ctx.keep_alive.as_millis() as u64,
            })
            .collect();
        out.sort_by(|a, b| (a.creation_time, &a.pit_id).cmp(&(b.creation_time, &b.pit_id)));
        out
    }

    /// Frees the named PITs: `(id, freed)` per id, in order (an unknown or expired id is not
    /// freed; an id that does not parse is an error).
    pub fn delete(&self, pit_ids: &[String]) -> EngineResult<Vec<(String, bool)>> {
        let keys = pit_ids.iter().map(|id| parse_pit_id(id)).collect::<EngineResult<Vec<_>>>()?;
        let mut contexts = self.contexts.lock();
        Self::sweep(&mut contexts);
        Ok(pit_ids.iter().zip(keys).map(|(id, key)| (id.clone(), contexts.remove(&key).is_some())).collect())
    }

    /// Frees the PITs that pin a shard of `index`, which is being deleted (OpenSearch frees
    /// the reader contexts of a removed index the same way).
    pub fn forget_index(&self, index: &Arc<Index>) {
        self.contexts.lock().retain(|_, ctx| !ctx.shards.iter().any(|s| Arc::ptr_eq(&s.index, index)));
    }

    /// Frees every PIT; returns their ids.
    pub fn delete_all(&self) -> Vec<String> {
        let mut contexts = self.contexts.lock();
        Self::sweep(&mut contexts);
        contexts.drain().map(|(id, _)| pit_id_text(&id)).collect()
    }
}

fn check_keep_alive(keep_alive: Duration) -> EngineResult<()> {
    if keep_alive > MAX_PIT_KEEP_ALIVE {
        return Err(EngineError::IllegalArgument(format!(
            "Keep alive for request ({}ms) is too large. It must be less than ({}ms). This limit can be set by changing the [point_in_time.max_keep_alive] cluster level setting.",
            keep_alive.as_millis(),
            MAX_PIT_KEEP_ALIVE.as_millis()
        )));
    }
    Ok(())
}

/// PIT ids are opaque to clients; ours is the context key, base64-wrapped like OpenSearch's.
fn pit_id_text(id: &str) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(format!("quidditch-pit:{id}"))
}

fn parse_pit_id(text: &str) -> EngineResult<String> {
    use base64::Engine as _;
    let invalid = || EngineError::IllegalArgument(format!("invalid id: [{text}]"));
    let decoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| invalid())?;
    let decoded = String::from_utf8(decoded).map_err(|_| invalid())?;
    decoded.strip_prefix("quidditch-pit:").map(str::to_string).ok_or_else(invalid)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pit_ids_round_trip_and_foreign_ids_are_rejected() {
        let text = pit_id_text("abc123");
        assert_eq!(parse_pit_id(&text).unwrap(), "abc123");
        assert!(parse_pit_id("not-base64!").is_err());
        // A scroll id is not a PIT id.
        use base64::Engine as _;
        let scroll = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("quidditch-scroll:abc");
        assert!(parse_pit_id(&scroll).is_err());
    }

    #[test]
    fn keep_alive_above_the_maximum_is_refused() {
        assert!(check_keep_alive(MAX_PIT_KEEP_ALIVE).is_ok());
        assert!(check_keep_alive(MAX_PIT_KEEP_ALIVE + Duration::from_millis(1)).is_err());
    }

    #[test]
    fn unknown_ids_are_reported_not_freed() {
        let registry = PitRegistry::new(2);
        let id = pit_id_text("missing");
        assert_eq!(registry.delete(std::slice::from_ref(&id)).unwrap(), vec![(id.clone(), false)]);
        assert!(matches!(registry.pinned(&id, None), Err(EngineError::ScrollMissing { .. })));
        assert!(registry.list().is_empty());
        assert!(registry.delete_all().is_empty());
    }
}
