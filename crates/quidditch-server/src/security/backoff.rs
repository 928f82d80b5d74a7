//! Failed-login backoff: after [`FREE_FAILURES`] failed attempts for one user name or one
//! source address, further attempts are refused for 1 s, doubling with every further failure
//! (capped at [`MAX_BLOCK`]); a success clears the count.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::Mutex;

pub const FREE_FAILURES: u32 = 5;
pub const MAX_BLOCK: Duration = Duration::from_secs(60);

#[derive(Default)]
pub struct Backoff {
    failures: Mutex<HashMap<String, (u32, Instant)>>,
}

impl Backoff {
    /// The remaining block for any of `keys` (user name, address), if one is blocked now.
    pub fn blocked(&self, keys: &[&str]) -> Option<Duration> {
        let now = Instant::now();
        let failures = self.failures.lock();
        keys.iter()
            .filter_map(|k| failures.get(*k))
            .filter_map(|(count, last)| {
                let block = block_after(*count)?;
                (*last + block).checked_duration_since(now)
            })
            .max()
    }

    pub fn record_failure(&self, keys: &[&str]) {
        let mut failures = self.failures.lock();
        if failures.len() > 100_000 {
            // Bounded memory under a spray of names: forget the oldest half.
            let mut by_age: Vec<(String, Instant)> = failures.iter().map(|(k, (_, t))| (k.clone(), *t)).collect();
            by_age.sort_by_key(|(_, t)| *t);
            for (k, _) in by_age.into_iter().take(50_000) {
                failures.remove(&k);
            }
        }
        for k in keys {
            let entry = failures.entry(k.to_string()).or_insert((0, Instant::now()));
            entry.0 = entry.0.saturating_add(1);
            entry.1 = Instant::now();
        }
    }

    pub fn record_success(&self, keys: &[&str]) {
        let mut failures = self.failures.lock();
        for k in keys {
            failures.remove(*k);
        }
    }
}

/// How long `count` consecutive failures block: none up to the free ones, then 1 s doubling.
pub fn block_after(count: u32) -> Option<Duration> {
    let over = count.checked_sub(FREE_FAILURES)?;
    Some(Duration::from_secs(1u64 << over.min(6)).min(MAX_BLOCK))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_start_after_the_free_failures_and_double() {
        assert_eq!(block_after(4), None);
        assert_eq!(block_after(5), Some(Duration::from_secs(1)));
        assert_eq!(block_after(6), Some(Duration::from_secs(2)));
        assert_eq!(block_after(60), Some(MAX_BLOCK));
        let b = Backoff::default();
        for _ in 0..FREE_FAILURES {
            b.record_failure(&["u:alice"]);
        }
        assert!(b.blocked(&["u:alice", "ip:1.2.3.4"]).is_some());
        assert!(b.blocked(&["u:bob"]).is_none());
        b.record_success(&["u:alice"]);
        assert!(b.blocked(&["u:alice"]).is_none());
    }
}
