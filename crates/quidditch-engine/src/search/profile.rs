//! `profile: true`: where each shard's time went, measured while the search runs and rendered
//! in OpenSearch's `profile.shards[]` shape.
//!
//! The query is wrapped in [`ProfiledQuery`], whose weight and scorers time tantivy's calls
//! (`create_weight`, `build_scorer`, `next_doc` = `advance`, `advance` = `seek`, `score`)
//! the way Lucene's profiler times Lucene's; collectors are wrapped in [`Timed`], which
//! times their `collect` calls. Timing every call costs time, so only a profiled search
//! pays it ([`Timed`] without a clock is one branch per document). The wrapped weight uses
//! tantivy's generic iteration, so a profiled search skips block-max pruning, as Lucene's
//! profiler also changes what it measures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentOrdinal, SegmentReader};

/// Nanoseconds and call counts of one timed operation, shared by the scorers of all
/// segments.
#[derive(Debug, Default)]
struct Timer {
    nanos: AtomicU64,
    count: AtomicU64,
}

impl Timer {
    fn time<T>(&self, f: impl FnOnce() -> T) -> T {
        let start = Instant::now();
        let out = f();
        self.nanos.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
        out
    }

    fn read(&self) -> (u64, u64) {
        (self.nanos.load(Ordering::Relaxed), self.count.load(Ordering::Relaxed))
    }
}

/// The timers of one profiled query (Lucene's `QueryProfileBreakdown`).
#[derive(Debug, Default)]
pub(crate) struct QueryTimings {
    create_weight: Timer,
    build_scorer: Timer,
    next_doc: Timer,
    advance: Timer,
    score: Timer,
}

impl QueryTimings {
    /// The breakdown in OpenSearch's keys (`<op>` nanoseconds, `<op>_count` calls); the
    /// operations tantivy has no counterpart of (`match`, `shallow_advance`,
    /// `compute_max_score`, `set_min_competitive_score`) are never called, so 0.
    fn breakdown(&self) -> QueryBreakdown {
        QueryBreakdown {
            create_weight: self.create_weight.read(),
            build_scorer: self.build_scorer.read(),
            next_doc: self.next_doc.read(),
            advance: self.advance.read(),
            score: self.score.read(),
        }
    }
}

/// A query whose weight and scorers report to `timings`.
#[derive(Debug)]
pub(crate) struct ProfiledQuery {
    pub inner: Box<dyn Query>,
    pub timings: Arc<QueryTimings>,
}

impl Clone for ProfiledQuery {
    fn clone(&self) -> Self {
        ProfiledQuery { inner: self.inner.box_clone(), timings: self.timings.clone() }
    }
}

impl Query for ProfiledQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let inner = self.timings.create_weight.time(|| self.inner.weight(enable_scoring))?;
        Ok(Box::new(ProfiledWeight { inner, timings: self.timings.clone() }))
    }
}

struct ProfiledWeight {
    inner: Box<dyn Weight>,
    timings: Arc<QueryTimings>,
}

impl Weight for ProfiledWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let inner = self.timings.build_scorer.time(|| self.inner.scorer(reader, boost))?;
        Ok(Box::new(ProfiledScorer { inner, timings: self.timings.clone() }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        self.inner.explain(reader, doc)
    }
}

struct ProfiledScorer {
    inner: Box<dyn Scorer>,
    timings: Arc<QueryTimings>,
}

impl DocSet for ProfiledScorer {
    fn advance(&mut self) -> DocId {
        let inner = &mut self.inner;
        self.timings.next_doc.time(|| inner.advance())
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let inner = &mut self.inner;
        self.timings.advance.time(|| inner.seek(target))
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for ProfiledScorer {
    fn score(&mut self) -> Score {
        let inner = &mut self.inner;
        self.timings.score.time(|| inner.score())
    }
}

/// A collector whose `collect` calls are timed into `nanos` when it is set.
pub(crate) struct Timed<C> {
    pub inner: C,
    pub nanos: Option<Arc<AtomicU64>>,
}

impl<C> Timed<C> {
    pub fn new(inner: C, nanos: Option<&Arc<AtomicU64>>) -> Timed<C> {
        Timed { inner, nanos: nanos.cloned() }
    }
}

pub(crate) struct TimedSegment<S> {
    inner: S,
    nanos: Option<Arc<AtomicU64>>,
}

impl<C: Collector> Collector for Timed<C> {
    type Fruit = C::Fruit;
    type Child = TimedSegment<C::Child>;

    fn for_segment(&self, segment_ord: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<Self::Child> {
        Ok(TimedSegment { inner: self.inner.for_segment(segment_ord, reader)?, nanos: self.nanos.clone() })
    }

    fn requires_scoring(&self) -> bool {
        self.inner.requires_scoring()
    }

    fn merge_fruits(&self, fruits: Vec<<Self::Child as SegmentCollector>::Fruit>) -> tantivy::Result<C::Fruit> {
        self.inner.merge_fruits(fruits)
    }
}

impl<S: SegmentCollector> SegmentCollector for TimedSegment<S> {
    type Fruit = S::Fruit;

    fn collect(&mut self, doc: DocId, score: Score) {
        match &self.nanos {
            None => self.inner.collect(doc, score),
            Some(nanos) => {
                let start = Instant::now();
                self.inner.collect(doc, score);
                nanos.fetch_add(start.elapsed().as_nanos() as u64, Ordering::Relaxed);
            }
        }
    }

    fn harvest(self) -> S::Fruit {
        self.inner.harvest()
    }
}

/// (nanoseconds, calls) of each timed query operation.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct QueryBreakdown {
    create_weight: (u64, u64),
    build_scorer: (u64, u64),
    next_doc: (u64, u64),
    advance: (u64, u64),
    score: (u64, u64),
}

impl QueryBreakdown {
    fn total(&self) -> u64 {
        [self.create_weight, self.build_scorer, self.next_doc, self.advance, self.score].iter().map(|t| t.0).sum()
    }

    fn to_json(&self) -> Value {
        let mut o = serde_json::Map::new();
        let ops = [
            ("create_weight", self.create_weight),
            ("build_scorer", self.build_scorer),
            ("next_doc", self.next_doc),
            ("advance", self.advance),
            ("score", self.score),
            ("match", (0, 0)),
            ("shallow_advance", (0, 0)),
            ("compute_max_score", (0, 0)),
            ("set_min_competitive_score", (0, 0)),
        ];
        for (name, (nanos, count)) in ops {
            o.insert(name.into(), json!(nanos));
            o.insert(format!("{name}_count"), json!(count));
        }
        Value::Object(o)
    }
}

/// One shard's measured profile: plain data, so it travels with the shard's query result.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ShardProfile {
    /// The lowered query's type and description (tantivy's query name and its debug form).
    pub query_type: String,
    pub query_description: String,
    pub breakdown: QueryBreakdown,
    /// Lowering the query AST to a tantivy query for this shard (OpenSearch's rewrite).
    pub rewrite_nanos: u64,
    /// The hits collector's name (Lucene's, for clients that look for it) and time.
    pub hits_collector: String,
    pub hits_collect_nanos: u64,
    /// The aggregation collector: the top-level aggregations' names and type, and its time.
    pub aggregations: Option<(String, String, u64)>,
}

impl ShardProfile {
    /// The measured profile of a pass that ran `query` with the given timings.
    pub(crate) fn measured(query: &ProfiledQuery, rewrite_nanos: u64) -> ShardProfile {
        let debug = format!("{:?}", query.inner);
        let query_type = debug.split(|c: char| !c.is_alphanumeric() && c != '_').next().unwrap_or("Query").to_string();
        ShardProfile {
            query_type,
            query_description: debug,
            breakdown: query.timings.breakdown(),
            rewrite_nanos,
            ..ShardProfile::default()
        }
    }

    /// The `profile.shards[]` entry of this shard; `fetch_nanos` and `fetched` are the fetch
    /// phase's time and document count on the shard.
    pub(crate) fn to_json(&self, shard_id: String, fetch_nanos: u64, fetched: u64) -> Value {
        let query_nanos = self.breakdown.total();
        let hits = json!({
            "name": self.hits_collector,
            "reason": if self.hits_collector.as_str() == "TotalHitCountCollector" { "search_count" } else { "search_top_hits" },
            "time_in_nanos": self.hits_collect_nanos,
        });
        let (collector, aggregations) = match &self.aggregations {
            None => (hits, json!([])),
            Some((names, agg_type, nanos)) => (
                json!({
                    "name": "MultiCollector",
                    "reason": "search_multi",
                    "time_in_nanos": self.hits_collect_nanos + nanos,
                    "children": [hits, {"name": format!("AggregationCollector: [{names}]"), "reason": "aggregation", "time_in_nanos": nanos}],
                }),
                json!([{
                    "type": agg_type,
                    "description": names,
                    "time_in_nanos": nanos,
                    "breakdown": {"collect": nanos, "initialize": 0, "build_aggregation": 0, "reduce": 0,
                                  "post_collection": 0, "build_leaf_collector": 0},
                }]),
            ),
        };
        json!({
            "id": shard_id,
            "inbound_network_time_in_millis": 0,
            "outbound_network_time_in_millis": 0,
            "searches": [{
                "query": [{
                    "type": self.query_type,
                    "description": self.query_description,
                    "time_in_nanos": query_nanos,
                    "breakdown": self.breakdown.to_json(),
                }],
                "rewrite_time": self.rewrite_nanos,
                "collector": [collector],
            }],
            "aggregations": aggregations,
            "fetch": [{
                "type": "fetch",
                "description": "",
                "time_in_nanos": fetch_nanos,
                "breakdown": {"load_stored_fields": fetch_nanos, "load_stored_fields_count": fetched},
            }],
        })
    }
}

/// A fresh clock for a [`Timed`] collector when the search is profiled.
pub(crate) fn clock(profile: bool) -> Option<Arc<AtomicU64>> {
    profile.then(|| Arc::new(AtomicU64::new(0)))
}

/// What a clock measured (0 without one).
pub(crate) fn read(clock: &Option<Arc<AtomicU64>>) -> u64 {
    clock.as_ref().map_or(0, |c| c.load(Ordering::Relaxed))
}
