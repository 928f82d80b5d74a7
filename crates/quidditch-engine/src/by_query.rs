//! Delete-by-query, update-by-query and reindex: walk the documents a search matches over
//! one pinned snapshot ([`DocCursor`], the scroll machinery) in batches and write each batch.
//!
//! Deletes and in-place updates carry the snapshot's `seq_no`/`primary_term`, so a document
//! changed since the snapshot is a version conflict, not a lost write: counted and skipped
//! with `conflicts: proceed`, else the run stops there (what was written stays written, as
//! in OpenSearch). Update-by-query without a script re-indexes each source as it is (picking
//! up mapping changes). Reindex writes into its destination (created on first write like
//! any index write) with `op_type` `index` or `create`.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use serde_json::{Value, json};

use crate::error::{EngineError, EngineResult};
use crate::index::{Index, OpType, Refresh, StoredDoc, WriteOp, WriteOutcome};
use crate::search::{DocCursor, SearchRequest, SearchTarget};

/// Documents written per batch (OpenSearch's default scroll size for these APIs).
pub const DEFAULT_BATCH_SIZE: usize = 1000;

/// What to do with each matching document.
#[derive(Debug, Clone)]
pub enum ByQueryAction {
    Delete,
    /// Re-index in place (update-by-query without a script).
    Reindex,
    /// Copy into another index.
    CopyTo { dest: Arc<Index>, dest_routing: Option<String>, op_type: OpType },
}

/// Options shared by the three APIs.
#[derive(Debug, Clone)]
pub struct ByQueryOptions {
    /// `conflicts: proceed`: count version conflicts and go on.
    pub proceed_on_conflicts: bool,
    /// Stop after this many documents.
    pub max_docs: Option<u64>,
    /// Refresh every written index at the end.
    pub refresh: bool,
    pub batch_size: usize,
    /// Set from outside (`POST _tasks/{id}/_cancel`) to stop the run before its next batch.
    pub cancelled: Option<Arc<std::sync::atomic::AtomicBool>>,
}

impl Default for ByQueryOptions {
    fn default() -> Self {
        ByQueryOptions { proceed_on_conflicts: false, max_docs: None, refresh: false, batch_size: DEFAULT_BATCH_SIZE, cancelled: None }
    }
}

/// The counts OpenSearch reports (a failure's HTTP `status` is added by the server) (`BulkByScrollResponse`).
#[derive(Debug, Default, Clone)]
pub struct ByQueryOutcome {
    pub took_ms: u64,
    pub total: u64,
    pub created: u64,
    pub updated: u64,
    pub deleted: u64,
    pub batches: u64,
    pub version_conflicts: u64,
    pub noops: u64,
    pub failures: Vec<Value>,
    /// Why the run stopped early (`by user request` when its task was cancelled).
    pub canceled: Option<String>,
}

impl ByQueryOutcome {
    pub fn to_json(&self) -> Value {
        let mut body = json!({
            "took": self.took_ms,
            "timed_out": false,
            "total": self.total,
            "updated": self.updated,
            "created": self.created,
            "deleted": self.deleted,
            "batches": self.batches,
            "version_conflicts": self.version_conflicts,
            "noops": self.noops,
            "retries": {"bulk": 0, "search": 0},
            "throttled_millis": 0,
            "requests_per_second": -1.0,
            "throttled_until_millis": 0,
            "failures": self.failures,
        });
        if let Some(reason) = &self.canceled {
            body["canceled"] = json!(reason);
        }
        body
    }
}

/// Runs `action` on every document `req` matches in `targets`.
pub fn run(
    targets: &[SearchTarget],
    req: &SearchRequest,
    udfs: Option<&Arc<quidditch_udf::UdfRegistry>>,
    action: &ByQueryAction,
    options: &ByQueryOptions,
) -> EngineResult<ByQueryOutcome> {
    let start = Instant::now();
    let mut cursor = DocCursor::open(targets, req, udfs)?;
    let mut outcome = ByQueryOutcome { total: cursor.total(), ..Default::default() };
    if let Some(max) = options.max_docs {
        outcome.total = outcome.total.min(max);
    }
    let mut written: BTreeMap<String, Arc<Index>> = BTreeMap::new();
    let mut remaining = outcome.total;
    'batches: while remaining > 0 {
        if options.cancelled.as_ref().is_some_and(|c| c.load(std::sync::atomic::Ordering::Relaxed)) {
            outcome.canceled = Some("by user request".to_string());
            break;
        }
        let batch = cursor.next_batch(options.batch_size.min(remaining as usize))?;
        if batch.is_empty() {
            break;
        }
        remaining -= batch.len() as u64;
        outcome.batches += 1;
        // Group by the index each op writes to, keeping the order within an index.
        let mut groups: BTreeMap<String, (Arc<Index>, Vec<(WriteOp, Option<String>)>)> = BTreeMap::new();
        for (index, doc) in batch {
            let (target, op, routing) = op_for(action, index, doc);
            groups.entry(target.name().to_string()).or_insert_with(|| (target.clone(), Vec::new())).1.push((op, routing));
        }
        for (name, (index, ops)) in groups {
            let results = index.write_routed(ops, Refresh::False)?;
            written.insert(name, index.clone());
            for result in results {
                match result {
                    Ok(r) => match r.outcome {
                        WriteOutcome::Created => outcome.created += 1,
                        WriteOutcome::Updated => outcome.updated += 1,
                        WriteOutcome::Deleted => outcome.deleted += 1,
                        WriteOutcome::Noop => outcome.noops += 1,
                        // Deleted since the snapshot: a conflict, as OpenSearch counts it.
                        WriteOutcome::NotFound => outcome.version_conflicts += 1,
                    },
                    Err(e @ EngineError::VersionConflict { .. }) => {
                        outcome.version_conflicts += 1;
                        if !options.proceed_on_conflicts {
                            outcome.failures.push(failure_json(&index, &e));
                            break 'batches;
                        }
                    }
                    Err(e) => {
                        outcome.failures.push(failure_json(&index, &e));
                        break 'batches;
                    }
                }
            }
        }
    }
    if options.refresh {
        for index in written.values() {
            index.refresh()?;
        }
    }
    outcome.took_ms = start.elapsed().as_millis() as u64;
    Ok(outcome)
}

fn op_for(action: &ByQueryAction, index: Arc<Index>, doc: StoredDoc) -> (Arc<Index>, WriteOp, Option<String>) {
    let cas = (Some(doc.meta.seq_no), Some(doc.meta.primary_term));
    match action {
        ByQueryAction::Delete => {
            (index, WriteOp::Delete { id: doc.id, if_seq_no: cas.0, if_primary_term: cas.1, version: None }, doc.routing)
        }
        ByQueryAction::Reindex => (
            index,
            WriteOp::Index { id: Some(doc.id), source: doc.source.to_vec(), op_type: OpType::Index, if_seq_no: cas.0, if_primary_term: cas.1, version: None },
            doc.routing,
        ),
        ByQueryAction::CopyTo { dest, dest_routing, op_type } => (
            dest.clone(),
            WriteOp::Index { id: Some(doc.id), source: doc.source.to_vec(), op_type: *op_type, if_seq_no: None, if_primary_term: None, version: None },
            dest_routing.clone().or(doc.routing),
        ),
    }
}

fn failure_json(index: &Index, e: &EngineError) -> Value {
    json!({
        "index": index.name(),
        "cause": {"type": e.error_type(), "reason": e.to_string(), "index": index.name()},
    })
}
