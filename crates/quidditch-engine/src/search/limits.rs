//! The cluster-level search limits `_cluster/settings` changes at run time
//! (`search.max_buckets`, `search.default_keep_alive`, `search.max_keep_alive`): one home for
//! their current values, read by every search. The server validates and stores the settings
//! and pushes their effective values here.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::error::{EngineError, EngineResult};

/// OpenSearch's `search.max_buckets` default: the most buckets one response may hold.
pub const DEFAULT_MAX_BUCKETS: u32 = super::aggregations::MAX_BUCKETS;
/// OpenSearch's `search.default_keep_alive` (5m).
pub const DEFAULT_KEEP_ALIVE: Duration = Duration::from_secs(5 * 60);
/// OpenSearch's `search.max_keep_alive` (24h).
pub const DEFAULT_MAX_KEEP_ALIVE: Duration = Duration::from_secs(24 * 3600);

/// The node's current search limits.
#[derive(Debug)]
pub struct SearchLimits {
    max_buckets: AtomicU32,
    default_keep_alive_ms: AtomicU64,
    max_keep_alive_ms: AtomicU64,
}

impl Default for SearchLimits {
    fn default() -> Self {
        SearchLimits {
            max_buckets: AtomicU32::new(DEFAULT_MAX_BUCKETS),
            default_keep_alive_ms: AtomicU64::new(DEFAULT_KEEP_ALIVE.as_millis() as u64),
            max_keep_alive_ms: AtomicU64::new(DEFAULT_MAX_KEEP_ALIVE.as_millis() as u64),
        }
    }
}

impl SearchLimits {
    /// `search.max_buckets`.
    pub fn max_buckets(&self) -> u32 {
        self.max_buckets.load(Ordering::Relaxed)
    }

    pub fn set_max_buckets(&self, max: u32) {
        self.max_buckets.store(max, Ordering::Relaxed);
    }

    /// `search.default_keep_alive`: how long a search context lives when the request names no
    /// keep-alive (on one node only a search's own phases use such contexts).
    pub fn default_keep_alive(&self) -> Duration {
        Duration::from_millis(self.default_keep_alive_ms.load(Ordering::Relaxed))
    }

    /// `search.max_keep_alive`: the longest keep-alive a scroll may ask for.
    pub fn max_keep_alive(&self) -> Duration {
        Duration::from_millis(self.max_keep_alive_ms.load(Ordering::Relaxed))
    }

    /// Sets both keep-alives; OpenSearch refuses a default above the maximum.
    pub fn set_keep_alives(&self, default: Duration, max: Duration) -> EngineResult<()> {
        check_keep_alives(default, max)?;
        self.default_keep_alive_ms.store(default.as_millis() as u64, Ordering::Relaxed);
        self.max_keep_alive_ms.store(max.as_millis() as u64, Ordering::Relaxed);
        Ok(())
    }

    /// A scroll's keep-alive must not exceed `search.max_keep_alive` (OpenSearch's message).
    pub fn check_scroll_keep_alive(&self, keep_alive: Duration) -> EngineResult<()> {
        let max = self.max_keep_alive();
        if keep_alive > max {
            return Err(EngineError::IllegalArgument(format!(
                "Keep alive for request ({}) is too large. It must be less than ({}). This limit can be set by changing the [search.max_keep_alive] cluster level setting.",
                time_value(keep_alive),
                time_value(max)
            )));
        }
        Ok(())
    }
}

/// The rule `set_keep_alives` holds, for validating a settings update before it is stored.
pub fn check_keep_alives(default: Duration, max: Duration) -> EngineResult<()> {
    if default > max {
        return Err(EngineError::IllegalArgument(format!(
            "Default keep alive setting for request [search.default_keep_alive] should be smaller than max keep alive [search.max_keep_alive], was ({} > {})",
            time_value(default),
            time_value(max)
        )));
    }
    Ok(())
}

/// OpenSearch's `TimeValue` text: the largest unit that divides the duration (`1m`, `90s`).
fn time_value(d: Duration) -> String {
    let ms = d.as_millis() as u64;
    for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1000)] {
        if ms >= size && ms % size == 0 {
            return format!("{}{unit}", ms / size);
        }
    }
    format!("{ms}ms")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scroll_keep_alive_over_the_maximum_is_refused() {
        let limits = SearchLimits::default();
        limits.set_keep_alives(Duration::from_secs(60), Duration::from_secs(60)).unwrap();
        assert!(limits.check_scroll_keep_alive(Duration::from_secs(60)).is_ok());
        let err = limits.check_scroll_keep_alive(Duration::from_secs(120)).unwrap_err().to_string();
        assert!(err.contains("Keep alive for request (2m) is too large. It must be less than (1m)"), "{err}");
    }

    #[test]
    fn default_keep_alive_above_the_maximum_is_refused() {
        let limits = SearchLimits::default();
        assert!(limits.set_keep_alives(Duration::from_secs(120), Duration::from_secs(60)).is_err());
        assert_eq!(limits.max_keep_alive(), DEFAULT_MAX_KEEP_ALIVE);
    }
}
