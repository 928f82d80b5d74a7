//! Enforcement pieces that live in a `Store` or beside a UDF version: the memory limiter and
//! the per-version instance gate (max concurrent instances, wait until a deadline).

use std::time::Instant;

use parking_lot::{Condvar, Mutex};

/// `ResourceLimiter` for one instance: linear memory in bytes (all memories together) and
/// table elements. Exceeding memory traps the call with a "memory limit" error.
pub struct MemoryLimiter {
    pub max_memory: usize,
    pub max_table_elements: usize,
    /// Set when a growth was refused, so the resulting trap is reported as a memory limit hit.
    pub hit: bool,
    current: usize,
    /// Memory of the runtime's own modules in the store (the batch driver), on top of the
    /// UDF's limit and left out of what errors report.
    host_bytes: usize,
}

impl MemoryLimiter {
    pub fn new(max_memory: usize, max_table_elements: usize) -> Self {
        MemoryLimiter { max_memory, max_table_elements, hit: false, current: 0, host_bytes: 0 }
    }

    /// Grants `bytes` more for a module of the runtime's own, instantiated next.
    pub fn reserve_for_host(&mut self, bytes: usize) {
        self.max_memory += bytes;
        self.host_bytes += bytes;
    }
}

/// The error a refused growth traps with; classified as `UdfErrorKind::MemoryLimit`.
#[derive(Debug)]
pub struct MemoryLimitExceeded {
    pub limit: usize,
    pub requested: usize,
}

impl std::fmt::Display for MemoryLimitExceeded {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "memory limit exceeded: the UDF asked for {} bytes of linear memory, the limit is {} bytes",
            self.requested, self.limit
        )
    }
}

impl std::error::Error for MemoryLimitExceeded {}

impl wasmtime::ResourceLimiter for MemoryLimiter {
    fn memory_growing(&mut self, current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        let total = self.current - current.min(self.current) + desired;
        if total > self.max_memory {
            self.hit = true;
            return Err(wasmtime::Error::new(MemoryLimitExceeded {
                limit: self.max_memory - self.host_bytes,
                requested: total.saturating_sub(self.host_bytes),
            }));
        }
        self.current = total;
        Ok(true)
    }

    fn table_growing(&mut self, _current: usize, desired: usize, _maximum: Option<usize>) -> wasmtime::Result<bool> {
        Ok(desired <= self.max_table_elements)
    }

    fn instances(&self) -> usize {
        // Components instantiate many core instances; the pool bounds the total.
        10_000
    }

    fn memories(&self) -> usize {
        10_000
    }

    fn tables(&self) -> usize {
        10_000
    }
}

/// Counts live instances of one UDF version and makes excess callers wait.
pub struct InstanceGate {
    live: Mutex<u32>,
    freed: Condvar,
}

impl Default for InstanceGate {
    fn default() -> Self {
        InstanceGate { live: Mutex::new(0), freed: Condvar::new() }
    }
}

impl InstanceGate {
    /// Takes a slot, waiting until `deadline`; false when none became free in time.
    pub fn acquire(&self, max: u32, deadline: Instant) -> bool {
        let mut live = self.live.lock();
        while *live >= max {
            if self.freed.wait_until(&mut live, deadline).timed_out() && *live >= max {
                return false;
            }
        }
        *live += 1;
        true
    }

    pub fn release(&self) {
        let mut live = self.live.lock();
        *live = live.saturating_sub(1);
        drop(live);
        self.freed.notify_one();
    }

    pub fn live(&self) -> u32 {
        *self.live.lock()
    }
}
