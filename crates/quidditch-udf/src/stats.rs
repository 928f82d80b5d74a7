//! Per-version call statistics (in memory; reset when the server restarts) and their
//! Prometheus text form.

use std::fmt::Write as _;

use parking_lot::Mutex;
use serde_json::{Value, json};

use crate::error::{UdfError, UdfErrorKind};

/// Latency histogram: 4 buckets per power of two (≤19% relative error), 1 ns … ~2^47 ns.
pub const BUCKETS: usize = 192;

#[inline]
pub fn bucket_of(ns: u64) -> usize {
    if ns < 4 {
        return ns as usize;
    }
    let log = 63 - ns.leading_zeros() as usize;
    let sub = ((ns >> (log - 2)) & 3) as usize;
    (log * 4 + sub).min(BUCKETS - 1)
}

/// Lower bound of a bucket, in ns.
pub fn bucket_floor(b: usize) -> u64 {
    if b < 4 {
        return b as u64;
    }
    let log = b / 4;
    let sub = (b % 4) as u64;
    (1u64 << log) + (sub << (log - 2))
}

/// Counts gathered by one instance and merged once when it is dropped, so the per-document
/// path touches no shared state.
#[derive(Clone)]
pub struct LocalStats {
    pub calls: u64,
    pub timed_calls: u64,
    pub timed_ns: u64,
    pub min_ns: u64,
    pub max_ns: u64,
    pub hist: [u32; BUCKETS],
}

impl Default for LocalStats {
    fn default() -> Self {
        LocalStats { calls: 0, timed_calls: 0, timed_ns: 0, min_ns: u64::MAX, max_ns: 0, hist: [0; BUCKETS] }
    }
}

impl LocalStats {
    /// Records `docs` calls that took `ns` together (a batch is timed as a whole).
    #[inline]
    pub fn record(&mut self, docs: u64, ns: u64) {
        let per = ns / docs.max(1);
        self.timed_calls += docs;
        self.timed_ns += ns;
        self.min_ns = self.min_ns.min(per);
        self.max_ns = self.max_ns.max(per);
        self.hist[bucket_of(per)] += docs.min(u32::MAX as u64) as u32;
    }
}

#[derive(Default)]
struct Inner {
    calls: u64,
    errors: u64,
    timeouts: u64,
    memory_limit_hits: u64,
    stack_overflows: u64,
    instance_limit_hits: u64,
    instantiations: u64,
    timed_calls: u64,
    timed_ns: u64,
    min_ns: Option<u64>,
    max_ns: u64,
    hist: Vec<u64>,
    last_error: Option<(String, String)>,
}

/// Statistics of one UDF version.
#[derive(Default)]
pub struct VersionStats {
    inner: Mutex<Inner>,
}

impl VersionStats {
    pub fn merge(&self, local: &LocalStats) {
        let mut s = self.inner.lock();
        s.calls += local.calls;
        if local.timed_calls > 0 {
            s.timed_calls += local.timed_calls;
            s.timed_ns += local.timed_ns;
            s.min_ns = Some(s.min_ns.map_or(local.min_ns, |m| m.min(local.min_ns)));
            s.max_ns = s.max_ns.max(local.max_ns);
            if s.hist.is_empty() {
                s.hist = vec![0; BUCKETS];
            }
            for (a, b) in s.hist.iter_mut().zip(local.hist.iter()) {
                *a += *b as u64;
            }
        }
    }

    pub fn instantiated(&self) {
        self.inner.lock().instantiations += 1;
    }

    pub fn error(&self, e: &UdfError) {
        let mut s = self.inner.lock();
        s.errors += 1;
        match e.kind {
            UdfErrorKind::Timeout => s.timeouts += 1,
            UdfErrorKind::MemoryLimit => s.memory_limit_hits += 1,
            UdfErrorKind::StackOverflow => s.stack_overflows += 1,
            UdfErrorKind::InstanceLimit => s.instance_limit_hits += 1,
            _ => {}
        }
        s.last_error = Some((crate::audit::now_rfc3339(), e.to_string()));
    }

    fn quantile(s: &Inner, q: f64) -> Option<u64> {
        if s.timed_calls == 0 {
            return None;
        }
        let target = ((s.timed_calls as f64) * q).ceil().max(1.0) as u64;
        let mut seen = 0;
        for (b, n) in s.hist.iter().enumerate() {
            seen += n;
            if seen >= target {
                // Clamp to the observed range so tiny samples do not report a bucket edge.
                let v = bucket_floor(b);
                return Some(v.max(s.min_ns.unwrap_or(v)).min(s.max_ns.max(v.min(s.max_ns))));
            }
        }
        Some(s.max_ns)
    }

    /// The JSON of `GET /api/v1/udfs/{name}/stats` for this version.
    pub fn to_json(&self, live_instances: u32) -> Value {
        let s = self.inner.lock();
        let avg = (s.timed_calls > 0).then(|| s.timed_ns / s.timed_calls);
        json!({
            "calls": s.calls,
            "errors": s.errors,
            "timeouts": s.timeouts,
            "memory_limit_hits": s.memory_limit_hits,
            "stack_overflows": s.stack_overflows,
            "instance_limit_hits": s.instance_limit_hits,
            "instantiations": s.instantiations,
            "live_instances": live_instances,
            "latency_ns": {
                "timed_calls": s.timed_calls,
                "total": avg.map(|a| a * s.calls.max(s.timed_calls)),
                "avg": avg,
                "min": s.min_ns,
                "max": (s.timed_calls > 0).then_some(s.max_ns),
                "p50": Self::quantile(&s, 0.50),
                "p99": Self::quantile(&s, 0.99),
            },
            "last_error": s.last_error.as_ref().map(|(t, m)| json!({"time": t, "message": m})),
        })
    }

    /// Appends this version's Prometheus samples.
    pub fn prometheus(&self, out: &mut String, name: &str, version: &str, live: u32) {
        let s = self.inner.lock();
        let l = format!("udf=\"{}\",version=\"{}\"", escape(name), escape(version));
        let _ = writeln!(out, "quidditch_udf_calls_total{{{l}}} {}", s.calls);
        let _ = writeln!(out, "quidditch_udf_errors_total{{{l}}} {}", s.errors);
        let _ = writeln!(out, "quidditch_udf_timeouts_total{{{l}}} {}", s.timeouts);
        let _ = writeln!(out, "quidditch_udf_memory_limit_hits_total{{{l}}} {}", s.memory_limit_hits);
        let _ = writeln!(out, "quidditch_udf_instance_limit_hits_total{{{l}}} {}", s.instance_limit_hits);
        let _ = writeln!(out, "quidditch_udf_instantiations_total{{{l}}} {}", s.instantiations);
        let _ = writeln!(out, "quidditch_udf_live_instances{{{l}}} {live}");
        if let Some(p50) = Self::quantile(&s, 0.5) {
            let _ = writeln!(out, "quidditch_udf_call_seconds{{{l},quantile=\"0.5\"}} {}", p50 as f64 / 1e9);
        }
        if let Some(p99) = Self::quantile(&s, 0.99) {
            let _ = writeln!(out, "quidditch_udf_call_seconds{{{l},quantile=\"0.99\"}} {}", p99 as f64 / 1e9);
        }
        let _ = writeln!(out, "quidditch_udf_call_seconds_sum{{{l}}} {}", s.timed_ns as f64 / 1e9);
        let _ = writeln!(out, "quidditch_udf_call_seconds_count{{{l}}} {}", s.timed_calls);
    }
}

fn escape(s: &str) -> String {
    s.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_cover_values() {
        let mut last = 0;
        for ns in [0u64, 1, 3, 4, 5, 7, 8, 100, 1000, 123_456, 10_000_000_000] {
            let b = bucket_of(ns);
            assert!(b >= last);
            last = b;
            assert!(bucket_floor(b) <= ns, "{ns} in bucket {b} floor {}", bucket_floor(b));
        }
    }

    #[test]
    fn quantiles() {
        let st = VersionStats::default();
        let mut l = LocalStats::default();
        for i in 1..=100u64 {
            l.calls += 1;
            l.record(1, i * 1000);
        }
        st.merge(&l);
        let j = st.to_json(0);
        let p50 = j["latency_ns"]["p50"].as_u64().unwrap();
        let p99 = j["latency_ns"]["p99"].as_u64().unwrap();
        assert!((40_000..=50_000).contains(&p50), "{p50}");
        assert!((80_000..=100_000).contains(&p99), "{p99}");
        assert_eq!(j["latency_ns"]["min"], 1000);
        assert_eq!(j["latency_ns"]["max"], 100_000);
    }
}
