//! Collectors for field-sorted hits (with `search_after` and `min_score`), and a wrapper that
//! stops collecting once the request's `timeout` has passed or `terminate_after` documents
//! were collected.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering as AtomicOrdering};
use std::time::Instant;

use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use super::sort::{ResolvedSort, SegmentKeyReader, SortValue, compare_keys};
use crate::mapping::Mapping;

/// A hit with its sort key, before documents are fetched.
#[derive(Debug, Clone)]
pub struct SortedHit {
    pub key: Vec<SortValue>,
    pub score: Score,
    pub address: DocAddress,
}

/// Top `k` documents by a list of sort keys.
pub struct SortedCollector {
    pub sorts: Arc<Vec<ResolvedSort>>,
    pub mapping: Arc<Mapping>,
    pub k: usize,
    pub after: Option<Arc<Vec<SortValue>>>,
    pub min_score: Option<f32>,
    pub needs_score: bool,
    /// First global doc number of each segment (for `_doc` sort values).
    pub doc_bases: Vec<u64>,
}

fn order(sorts: &[ResolvedSort], a: &SortedHit, b: &SortedHit) -> std::cmp::Ordering {
    compare_keys(sorts, &a.key, &b.key).then_with(|| a.address.cmp(&b.address))
}

fn truncate(sorts: &[ResolvedSort], hits: &mut Vec<SortedHit>, k: usize) {
    if hits.len() > k {
        if k > 0 {
            hits.select_nth_unstable_by(k - 1, |a, b| order(sorts, a, b));
        }
        hits.truncate(k);
    }
}

pub struct SortedSegmentCollector {
    sorts: Arc<Vec<ResolvedSort>>,
    readers: Vec<SegmentKeyReader>,
    k: usize,
    after: Option<Arc<Vec<SortValue>>>,
    min_score: Option<f32>,
    segment_ord: SegmentOrdinal,
    hits: Vec<SortedHit>,
}

impl Collector for SortedCollector {
    type Fruit = Vec<SortedHit>;
    type Child = SortedSegmentCollector;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<SortedSegmentCollector> {
        let base = self.doc_bases.get(segment_ord as usize).copied().unwrap_or(0);
        let readers = self
            .sorts
            .iter()
            .map(|s| SegmentKeyReader::open(s, &self.mapping, reader, base))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(SortedSegmentCollector {
            sorts: self.sorts.clone(),
            readers,
            k: self.k,
            after: self.after.clone(),
            min_score: self.min_score,
            segment_ord,
            hits: Vec::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.needs_score
    }

    fn merge_fruits(&self, fruits: Vec<Vec<SortedHit>>) -> tantivy::Result<Vec<SortedHit>> {
        let mut all: Vec<SortedHit> = fruits.into_iter().flatten().collect();
        truncate(&self.sorts, &mut all, self.k);
        all.sort_by(|a, b| order(&self.sorts, a, b));
        Ok(all)
    }
}

impl SegmentCollector for SortedSegmentCollector {
    type Fruit = Vec<SortedHit>;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.min_score.is_some_and(|min| score < min) {
            return;
        }
        let key: Vec<SortValue> = self.readers.iter().map(|r| r.value(doc, score)).collect();
        if let Some(after) = &self.after {
            if compare_keys(&self.sorts, &key, after) != std::cmp::Ordering::Greater {
                return;
            }
        }
        self.hits.push(SortedHit { key, score, address: DocAddress::new(self.segment_ord, doc) });
        if self.hits.len() >= (2 * self.k).max(256) {
            truncate(&self.sorts, &mut self.hits, self.k);
        }
    }

    fn harvest(mut self) -> Vec<SortedHit> {
        truncate(&self.sorts, &mut self.hits, self.k);
        self.hits
    }
}

/// Wraps a collector with the limits of one shard's pass: once `deadline` passes, further
/// documents are ignored and `timed_out` is set, so the search returns what it has
/// (`"timed_out": true`); after `terminate_after` documents (counted over all segments of
/// the shard) the rest are ignored and `terminated` is set (`"terminated_early": true`).
pub struct LimitedCollector<C> {
    pub inner: C,
    pub deadline: Option<Instant>,
    pub timed_out: Arc<AtomicBool>,
    pub terminate_after: Option<usize>,
    pub terminated: Arc<AtomicBool>,
    /// Documents collected so far on this shard (for `terminate_after`).
    pub collected: Arc<AtomicUsize>,
}

pub struct LimitedSegmentCollector<S> {
    inner: S,
    deadline: Option<Instant>,
    timed_out: Arc<AtomicBool>,
    terminate_after: Option<usize>,
    terminated: Arc<AtomicBool>,
    collected: Arc<AtomicUsize>,
    countdown: u32,
    stopped: bool,
}

impl<C: Collector> Collector for LimitedCollector<C> {
    type Fruit = C::Fruit;
    type Child = LimitedSegmentCollector<C::Child>;

    fn for_segment(
        &self,
        segment_ord: SegmentOrdinal,
        reader: &SegmentReader,
    ) -> tantivy::Result<Self::Child> {
        let timed_out = self.deadline.is_some_and(|d| Instant::now() >= d);
        if timed_out {
            self.timed_out.store(true, AtomicOrdering::Relaxed);
        }
        Ok(LimitedSegmentCollector {
            inner: self.inner.for_segment(segment_ord, reader)?,
            deadline: self.deadline,
            timed_out: self.timed_out.clone(),
            terminate_after: self.terminate_after,
            terminated: self.terminated.clone(),
            collected: self.collected.clone(),
            countdown: 0,
            stopped: timed_out,
        })
    }

    fn requires_scoring(&self) -> bool {
        self.inner.requires_scoring()
    }

    fn merge_fruits(
        &self,
        fruits: Vec<<Self::Child as SegmentCollector>::Fruit>,
    ) -> tantivy::Result<C::Fruit> {
        self.inner.merge_fruits(fruits)
    }
}

impl<S: SegmentCollector> SegmentCollector for LimitedSegmentCollector<S> {
    type Fruit = S::Fruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        if self.stopped {
            return;
        }
        if let Some(limit) = self.terminate_after {
            if self.collected.fetch_add(1, AtomicOrdering::Relaxed) >= limit {
                self.stopped = true;
                self.terminated.store(true, AtomicOrdering::Relaxed);
                return;
            }
        }
        if let Some(deadline) = self.deadline {
            if self.countdown == 0 {
                self.countdown = 1024;
                if Instant::now() >= deadline {
                    self.stopped = true;
                    self.timed_out.store(true, AtomicOrdering::Relaxed);
                    return;
                }
            }
            self.countdown -= 1;
        }
        self.inner.collect(doc, score);
    }

    fn harvest(self) -> S::Fruit {
        self.inner.harvest()
    }
}
