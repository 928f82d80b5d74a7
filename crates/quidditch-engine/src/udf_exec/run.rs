//! State shared by every UDF evaluation of one search request: the deadline, the first fatal
//! failure (which stops every other UDF scorer of the request), and the count of evaluations
//! dropped under `"on_error": "exclude"`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use quidditch_udf::{UdfError, UdfRegistry};
use serde_json::{Value, json};

use crate::error::EngineError;

/// A UDF failure that fails the whole search.
#[derive(Debug, Clone)]
pub struct UdfFailure {
    pub error: UdfError,
    pub index: String,
    /// The `_id` of the document being evaluated, when known.
    pub doc_id: Option<String>,
}

#[derive(Debug, Default)]
struct Excluded {
    count: u64,
    last_error: String,
    last_doc: Option<String>,
}

/// Per-request UDF state. Cheap to share (`Arc`); every method takes `&self`.
pub struct UdfRun {
    pub registry: Arc<UdfRegistry>,
    /// The search `timeout`, as an instant.
    pub deadline: Option<Instant>,
    stopped: AtomicBool,
    timed_out: AtomicBool,
    failure: Mutex<Option<UdfFailure>>,
    /// `name@version` → evaluations dropped by `on_error: exclude`.
    excluded: Mutex<BTreeMap<(String, String), Excluded>>,
}

impl std::fmt::Debug for UdfRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdfRun").field("deadline", &self.deadline).field("stopped", &self.should_stop()).finish()
    }
}

impl UdfRun {
    pub fn new(registry: Arc<UdfRegistry>, deadline: Option<Instant>) -> Arc<UdfRun> {
        Arc::new(UdfRun {
            registry,
            deadline,
            stopped: AtomicBool::new(false),
            timed_out: AtomicBool::new(false),
            failure: Mutex::new(None),
            excluded: Mutex::new(BTreeMap::new()),
        })
    }

    /// Whether UDF scorers should stop producing documents (a fatal failure or the deadline).
    #[inline]
    pub fn should_stop(&self) -> bool {
        self.stopped.load(Ordering::Relaxed)
    }

    pub fn deadline_passed(&self) -> bool {
        self.deadline.is_some_and(|d| Instant::now() >= d)
    }

    /// The search deadline passed during UDF evaluation: partial results, `timed_out: true`.
    pub fn time_out(&self) {
        self.timed_out.store(true, Ordering::Relaxed);
        self.stopped.store(true, Ordering::Relaxed);
    }

    pub fn timed_out(&self) -> bool {
        self.timed_out.load(Ordering::Relaxed)
    }

    /// Records a fatal failure (the first one wins) and stops every UDF scorer of the request.
    pub fn fail(&self, failure: UdfFailure) {
        let mut slot = self.failure.lock();
        if slot.is_none() {
            *slot = Some(failure);
        }
        self.stopped.store(true, Ordering::Relaxed);
    }

    /// Counts one evaluation dropped under `on_error: exclude`.
    pub fn exclude(&self, error: &UdfError, doc_id: Option<String>) {
        let key = (error.udf.clone(), error.version.clone().unwrap_or_default());
        let mut map = self.excluded.lock();
        let e = map.entry(key).or_default();
        e.count += 1;
        e.last_error = error.message.clone();
        e.last_doc = doc_id;
    }

    /// The fatal failure as the search's error: OpenSearch-style, naming the UDF, its
    /// version, the document and the cause.
    pub fn check(&self) -> Result<(), EngineError> {
        let Some(f) = self.failure.lock().clone() else { return Ok(()) };
        let doc = f.doc_id.as_deref().map(|d| format!(" on document [{d}]")).unwrap_or_default();
        let reason = format!(
            "UDF [{}] version [{}] failed{doc} in index [{}]: {}",
            f.error.udf,
            f.error.version.as_deref().unwrap_or("?"),
            f.index,
            f.error.message
        );
        Err(EngineError::UdfFailed {
            kind: f.error.kind,
            reason,
            udf: f.error.udf.clone(),
            version: f.error.version.clone(),
            doc_id: f.doc_id.clone(),
        })
    }

    /// The `udf_failures` response section, when some evaluations were excluded.
    pub fn failures_json(&self) -> Option<Value> {
        let map = self.excluded.lock();
        if map.is_empty() {
            return None;
        }
        let total: u64 = map.values().map(|e| e.count).sum();
        let udfs: Vec<Value> = map
            .iter()
            .map(|((name, version), e)| {
                json!({"udf": name, "version": version, "count": e.count,
                       "last_error": e.last_error, "last_document": e.last_doc})
            })
            .collect();
        Some(json!({"total": total, "udfs": udfs}))
    }
}
