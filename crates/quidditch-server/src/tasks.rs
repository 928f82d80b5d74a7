//! The node's tasks (`_tasks`, `_cat/tasks`): every request of the APIs listed in
//! [`action_of`] is a task while it runs (under OpenSearch's action name), and a
//! `wait_for_completion=false` by-query or reindex run is a task that outlives its request:
//! its result is kept (in memory, the last [`KEPT_RESULTS`]) for `GET _tasks/{id}`, where
//! OpenSearch writes it to its `.tasks` index.
//!
//! Task ids are `node_id:number`, numbers counting up from 1 per process. Only background
//! runs are cancellable: a cancelled run stops before its next batch.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use parking_lot::Mutex;
use serde_json::{Value, json};

/// Completed background tasks whose results are kept.
pub const KEPT_RESULTS: usize = 1000;

/// One task.
pub struct Task {
    pub number: u64,
    pub action: &'static str,
    pub description: String,
    pub start_ms: u64,
    started: Instant,
    pub cancellable: bool,
    /// Set by `_cancel`; the run checks it between batches.
    pub cancelled: Arc<AtomicBool>,
    /// `X-Opaque-Id` of the request that started it.
    pub opaque_id: Option<String>,
    /// A background task's result: `(completed response or error, error?)`.
    outcome: Mutex<Option<(Value, bool)>>,
    done: tokio::sync::Notify,
}

impl Task {
    pub fn running_nanos(&self) -> u128 {
        self.started.elapsed().as_nanos()
    }

    pub fn is_completed(&self) -> bool {
        self.outcome.lock().is_some()
    }

    /// Records a background task's response (or error body) and wakes its waiters.
    pub fn complete(&self, body: Value, is_error: bool) {
        *self.outcome.lock() = Some((body, is_error));
        self.done.notify_waiters();
    }

    /// Waits until the task completes or `timeout` passes.
    pub async fn wait(&self, timeout: std::time::Duration) {
        let notified = self.done.notified();
        if self.is_completed() {
            return;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
    }

    /// OpenSearch's task info object.
    pub fn info(&self, node_id: &str, detailed: bool) -> Value {
        let mut info = json!({
            "node": node_id,
            "id": self.number,
            "type": "transport",
            "action": self.action,
            "start_time_in_millis": self.start_ms,
            "running_time_in_nanos": self.running_nanos() as u64,
            "cancellable": self.cancellable,
            "cancelled": self.cancelled.load(Ordering::Relaxed),
            "headers": self.opaque_id.as_ref().map_or_else(|| json!({}), |id| json!({"X-Opaque-Id": id})),
        });
        if detailed {
            info["description"] = json!(self.description);
        }
        info
    }

    /// `GET _tasks/{id}`'s body: `completed`, the task, and a finished task's `response` or
    /// `error`.
    pub fn result_body(&self, node_id: &str) -> Value {
        let mut body = json!({ "completed": self.is_completed(), "task": self.info(node_id, true) });
        if let Some((outcome, is_error)) = self.outcome.lock().clone() {
            body[if is_error { "error" } else { "response" }] = outcome;
        }
        body
    }
}

/// The node's running tasks and the kept results of finished background ones.
pub struct TaskManager {
    pub node_id: String,
    next: AtomicU64,
    running: Mutex<BTreeMap<u64, Arc<Task>>>,
    finished: Mutex<BTreeMap<u64, Arc<Task>>>,
}

/// Unregisters a request's task when the request ends.
pub struct TaskGuard {
    manager: Arc<TaskManager>,
    pub task: Arc<Task>,
}

impl Drop for TaskGuard {
    fn drop(&mut self) {
        let mut running = self.manager.running.lock();
        running.remove(&self.task.number);
        if self.task.is_completed() {
            let mut finished = self.manager.finished.lock();
            finished.insert(self.task.number, self.task.clone());
            while finished.len() > KEPT_RESULTS {
                finished.pop_first();
            }
        }
    }
}

impl TaskManager {
    pub fn new(node_id: String) -> Arc<Self> {
        Arc::new(TaskManager { node_id, next: AtomicU64::new(1), running: Mutex::default(), finished: Mutex::default() })
    }

    /// Registers a task; it is listed until the guard drops.
    pub fn register(
        self: &Arc<Self>,
        action: &'static str,
        description: String,
        cancellable: bool,
        opaque_id: Option<String>,
    ) -> TaskGuard {
        let number = self.next.fetch_add(1, Ordering::Relaxed);
        let start_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        let task = Arc::new(Task {
            number,
            action,
            description,
            start_ms,
            started: Instant::now(),
            cancellable,
            cancelled: Arc::new(AtomicBool::new(false)),
            opaque_id,
            outcome: Mutex::new(None),
            done: tokio::sync::Notify::new(),
        });
        self.running.lock().insert(number, task.clone());
        TaskGuard { manager: self.clone(), task }
    }

    /// `node_id:number` of a task of this node.
    pub fn task_id(&self, task: &Task) -> String {
        format!("{}:{}", self.node_id, task.number)
    }

    /// Running tasks, oldest first.
    pub fn running(&self) -> Vec<Arc<Task>> {
        self.running.lock().values().cloned().collect()
    }

    /// A running task, or a finished background one, by `node:number`.
    pub fn get(&self, id: &TaskId) -> Option<Arc<Task>> {
        if id.node != self.node_id {
            return None;
        }
        let running = self.running.lock().get(&id.number).cloned();
        running.or_else(|| self.finished.lock().get(&id.number).cloned())
    }
}

/// A parsed `node:number` task id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskId {
    pub node: String,
    pub number: u64,
}

impl TaskId {
    /// OpenSearch's messages: "malformed task id x" for a missing `:` or a bad number.
    pub fn parse(s: &str) -> Result<TaskId, String> {
        let (node, number) = s.rsplit_once(':').ok_or_else(|| format!("malformed task id {s}"))?;
        let number = number.parse().map_err(|_| format!("malformed task id {s}"))?;
        Ok(TaskId { node: node.to_string(), number })
    }
}

/// The OpenSearch action of a request, for the APIs tracked as tasks: searches, writes,
/// by-query runs and the task APIs themselves (what `_tasks` users look for). Others are not
/// listed.
pub fn action_of(method: &axum::http::Method, path: &str) -> Option<&'static str> {
    use axum::http::Method;
    let last = path.trim_end_matches('/').rsplit('/').next().unwrap_or_default();
    let reads = *method == Method::GET || *method == Method::POST;
    Some(match last {
        "_tasks" if *method == Method::GET => "cluster:monitor/tasks/lists",
        "tasks" if path.starts_with("/_cat/tasks") => "cluster:monitor/tasks/lists",
        "_search" if reads => "indices:data/read/search",
        "_msearch" if reads => "indices:data/read/msearch",
        "_count" if reads => "indices:data/read/search",
        "scroll" if path.starts_with("/_search/scroll") && reads => "indices:data/read/scroll",
        "_bulk" => "indices:data/write/bulk",
        "_delete_by_query" => "indices:data/write/delete/byquery",
        "_update_by_query" => "indices:data/write/update/byquery",
        "_reindex" => "indices:data/write/reindex",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_ids_parse() {
        assert_eq!(TaskId::parse("abc:12"), Ok(TaskId { node: "abc".into(), number: 12 }));
        assert_eq!(TaskId::parse("abc"), Err("malformed task id abc".into()));
        assert!(TaskId::parse("abc:x").is_err());
    }

    #[test]
    fn a_request_task_is_listed_while_it_runs() {
        let manager = TaskManager::new("n1".into());
        let guard = manager.register("indices:data/read/search", String::new(), false, None);
        let id = TaskId::parse(&manager.task_id(&guard.task)).unwrap();
        assert!(manager.get(&id).is_some());
        drop(guard);
        assert!(manager.get(&id).is_none());
    }

    #[test]
    fn a_finished_background_task_keeps_its_result() {
        let manager = TaskManager::new("n1".into());
        let guard = manager.register("indices:data/write/reindex", String::new(), true, None);
        let id = TaskId::parse(&manager.task_id(&guard.task)).unwrap();
        guard.task.complete(json!({"total": 3}), false);
        drop(guard);
        let body = manager.get(&id).expect("kept").result_body("n1");
        assert_eq!(body["completed"], true);
        assert_eq!(body["response"]["total"], 3);
    }

    #[test]
    fn actions_by_path() {
        use axum::http::Method;
        assert_eq!(action_of(&Method::GET, "/_tasks"), Some("cluster:monitor/tasks/lists"));
        assert_eq!(action_of(&Method::POST, "/i/_search"), Some("indices:data/read/search"));
        assert_eq!(action_of(&Method::PUT, "/i"), None);
    }
}
