//! The node-wide budget of open tantivy index writers. Each open writer owns threads (its
//! indexing workers, a segment updater and merge threads) and an indexing memory arena, so
//! writers are opened on a shard's first write, closed when the shard goes idle, and capped
//! here. When the budget is used up, the least recently written shard whose writer is not in
//! the middle of a write is *flushed* (tantivy commit, WAL truncated: its documents stay
//! durable, and stay invisible to search until its next refresh, as an OpenSearch flush) and
//! its writer closed to make room. Only when every open writer is busy in an in-flight write
//! for a short while is the write rejected (429): threads are never spawned without bound.
//!
//! One registry per [`crate::Engine`]; entries point back at their index weakly, so a
//! deleted index's entries simply fall out.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use parking_lot::Mutex;

use super::Index;
use crate::error::{EngineError, EngineResult};

/// How long a write waits for a busy writer to finish before it is rejected.
const PATIENCE: Duration = Duration::from_millis(500);
/// Pause between two attempts to make room.
const RETRY_PAUSE: Duration = Duration::from_millis(5);

struct OpenWriter {
    /// Node-wide unique shard id (see [`WriterSlots::next_shard_id`]).
    shard_id: u64,
    index: Weak<Index>,
    shard: u32,
    /// The shard's last write, epoch millis (shared with the shard, updated without a lock).
    last_write: Arc<AtomicU64>,
}

/// The open writers of one node and their budget.
pub(crate) struct WriterSlots {
    max: usize,
    open: Mutex<Vec<OpenWriter>>,
    next_id: AtomicU64,
}

impl std::fmt::Debug for WriterSlots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WriterSlots").field("max", &self.max).field("open", &self.open_count()).finish()
    }
}

/// What a shard tells the registry about itself when it opens its writer.
pub(crate) struct SlotOwner<'a> {
    pub shard_id: u64,
    pub index: &'a Weak<Index>,
    pub shard: u32,
    pub last_write: &'a Arc<AtomicU64>,
}

impl WriterSlots {
    /// A budget of `max` open writers (at least one).
    pub(crate) fn new(max: usize) -> Arc<WriterSlots> {
        Arc::new(WriterSlots { max: max.max(1), open: Mutex::new(Vec::new()), next_id: AtomicU64::new(0) })
    }

    /// A fresh shard id, the key of that shard's slot.
    pub(crate) fn next_shard_id(&self) -> u64 {
        self.next_id.fetch_add(1, Ordering::Relaxed)
    }

    /// Writers open now.
    pub(crate) fn open_count(&self) -> usize {
        self.open.lock().len()
    }

    /// Reserves a slot for the writer `owner` is about to open, flushing and closing the least
    /// recently written idle writer if the budget is used up. The caller holds its shard's
    /// write lock; other shards' locks are only ever `try_lock`ed (a locked shard is busy),
    /// and never under the registry's own lock, so writers making room cannot deadlock.
    pub(crate) fn acquire(&self, owner: SlotOwner<'_>) -> EngineResult<()> {
        let deadline = Instant::now() + PATIENCE;
        loop {
            let mut candidates = {
                let mut open = self.open.lock();
                open.retain(|w| w.index.strong_count() > 0);
                if open.len() < self.max {
                    open.push(OpenWriter {
                        shard_id: owner.shard_id,
                        index: owner.index.clone(),
                        shard: owner.shard,
                        last_write: owner.last_write.clone(),
                    });
                    return Ok(());
                }
                open.iter()
                    .filter(|w| w.shard_id != owner.shard_id)
                    .map(|w| (w.last_write.load(Ordering::Relaxed), w.index.clone(), w.shard))
                    .collect::<Vec<_>>()
            };
            candidates.sort_by_key(|(last_write, ..)| *last_write);
            let made_room = candidates
                .into_iter()
                .any(|(_, index, shard)| index.upgrade().is_some_and(|index| index.evict_writer(shard)));
            if !made_room {
                if Instant::now() >= deadline {
                    return Err(EngineError::Rejected(format!(
                        "rejected execution: all {} index writers of this node are busy with in-flight writes; \
                         retry later (engine.max_open_writers)",
                        self.max
                    )));
                }
                std::thread::sleep(RETRY_PAUSE);
            }
        }
    }

    /// Gives back `shard_id`'s slot (its writer was closed).
    pub(crate) fn release(&self, shard_id: u64) {
        self.open.lock().retain(|w| w.shard_id != shard_id);
    }
}
