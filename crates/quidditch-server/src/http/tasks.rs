//! HTTP routes: `GET /_tasks`, `GET /_tasks/{id}`, `POST /_tasks[/{id}]/_cancel` and
//! `_cat/tasks` over [`crate::tasks`], and the middleware that lists requests as tasks while
//! they run.

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::Request;
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use serde_json::{Map, Value, json};

use super::cluster::CatTable;
use super::indices::{Params, flag};
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response};
use crate::tasks::{Task, TaskId, TaskManager, action_of};

const LIST: ApiParams =
    ApiParams::new(&["nodes", "actions", "detailed", "parent_task_id", "wait_for_completion", "group_by", "timeout"]);
const GET_TASK: ApiParams = ApiParams::new(&["wait_for_completion", "timeout"]);
const CANCEL: ApiParams = ApiParams::new(&["nodes", "actions", "parent_task_id", "wait_for_completion"]);
const CAT_TASKS: ApiParams =
    ApiParams::new(&["h", "s", "v", "help", "time", "detailed", "actions", "nodes", "parent_task_id"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_tasks", get(list), &LIST)
        .route("/_tasks/{task_id}", get(get_task), &GET_TASK)
        .route("/_tasks/_cancel", post(cancel_all), &CANCEL)
        .route("/_tasks/{task_id}/_cancel", post(cancel_one), &CANCEL)
        .route("/_cat/tasks", get(cat_tasks), &CAT_TASKS)
}

/// Lists the request as a task (under its OpenSearch action) until its response is ready.
pub async fn track_requests(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let Some(action) = action_of(req.method(), req.uri().path()) else {
        return next.run(req).await;
    };
    let opaque_id = req.headers().get("x-opaque-id").and_then(|v| v.to_str().ok()).map(str::to_string);
    let description = format!("{} {}", req.method(), req.uri().path());
    let _guard = state.tasks.register(action, description, false, opaque_id);
    next.run(req).await
}

/// The `nodes`/`actions`/`parent_task_id` filters of the list and cancel APIs.
struct Filter {
    actions: Vec<String>,
    node_matches: bool,
    /// Tasks here have no parents: a parent filter other than `-1`/none matches nothing.
    parent_matches: bool,
}

impl Filter {
    fn from(params: &HashMap<String, String>, state: &AppState) -> Filter {
        let actions = params
            .get("actions")
            .map(|a| a.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default();
        let node_matches = params.get("nodes").is_none_or(|nodes| {
            nodes.split(',').any(|n| {
                let n = n.trim();
                n.is_empty() || n == "_all" || n == "_local" || n == "*" || n == state.node.id || n == state.node.name
            })
        });
        let parent_matches = params.get("parent_task_id").is_none_or(|p| p.is_empty() || p == "-1");
        Filter { actions, node_matches, parent_matches }
    }

    fn matches(&self, task: &Task) -> bool {
        self.node_matches
            && self.parent_matches
            && (self.actions.is_empty() || self.actions.iter().any(|p| quidditch_engine::names::matches(p, task.action)))
    }
}

/// A list of tasks in OpenSearch's `group_by` shape (`nodes` by default, `parents`, `none`).
fn list_body(state: &AppState, tasks: &[Arc<Task>], detailed: bool, group_by: &str) -> Result<Value, ApiError> {
    let manager = &state.tasks;
    let infos = || tasks.iter().map(|t| (manager.task_id(t), t.info(&manager.node_id, detailed)));
    Ok(match group_by {
        "nodes" => {
            let mut nodes = Map::new();
            if !tasks.is_empty() {
                let ip = state.node.ip();
                let port = state.node.http_address.port();
                nodes.insert(
                    manager.node_id.clone(),
                    json!({
                        "name": state.node.name,
                        "transport_address": format!("{ip}:{port}"),
                        "host": ip,
                        "ip": format!("{ip}:{port}"),
                        "roles": ["cluster_manager", "data", "ingest"],
                        "attributes": {},
                        "tasks": Value::Object(infos().collect()),
                    }),
                );
            }
            json!({ "nodes": nodes })
        }
        "parents" => json!({ "tasks": Value::Object(infos().collect()) }),
        "none" => json!({ "tasks": infos().map(|(_, info)| info).collect::<Vec<_>>() }),
        other => {
            return Err(ApiError::illegal_argument(format!(
                "unknown group_by value [{other}], expected one of [nodes, parents, none]"
            )));
        }
    })
}

async fn list(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let filter = Filter::from(&params, &state);
    let detailed = flag(&params, "detailed")?.unwrap_or(false);
    let mut tasks: Vec<Arc<Task>> = state.tasks.running().into_iter().filter(|t| filter.matches(t)).collect();
    if flag(&params, "wait_for_completion")?.unwrap_or(false) {
        // Waits for the other matching tasks (this request is one of them).
        let timeout = timeout_of(&params)?;
        let own = tasks.last().map(|t| t.number);
        for task in tasks.iter().filter(|t| Some(t.number) != own) {
            task.wait(timeout).await;
        }
        tasks = state.tasks.running().into_iter().filter(|t| filter.matches(t)).collect();
    }
    let group_by = params.get("group_by").map(String::as_str).unwrap_or("nodes");
    Ok(json_response(200, list_body(&state, &tasks, detailed, group_by)?))
}

fn timeout_of(params: &HashMap<String, String>) -> Result<std::time::Duration, ApiError> {
    match params.get("timeout") {
        None => Ok(std::time::Duration::from_secs(30)),
        Some(v) => Ok(quidditch_engine::search::request::parse_time_value(v)
            .map_err(|e| ApiError::from(quidditch_engine::EngineError::from(e)))?
            .unwrap_or_default()),
    }
}

fn find(manager: &TaskManager, id: &str) -> Result<Arc<Task>, ApiError> {
    let parsed = TaskId::parse(id).map_err(ApiError::illegal_argument)?;
    manager.get(&parsed).ok_or_else(|| {
        ApiError::not_found("resource_not_found_exception", format!("task [{id}] isn't running and hasn't stored its results"))
    })
}

/// `GET _tasks/{id}`: a running task, or a background one's kept result;
/// `wait_for_completion=true` waits (up to `timeout`) for it to finish.
async fn get_task(
    State(state): State<AppState>,
    Path(id): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    let task = find(&state.tasks, &id)?;
    if flag(&params, "wait_for_completion")?.unwrap_or(false) {
        task.wait(timeout_of(&params)?).await;
    }
    Ok(json_response(200, task.result_body(&state.tasks.node_id)))
}

fn cancel(task: &Task, id: &str) -> Result<(), ApiError> {
    if !task.cancellable {
        return Err(ApiError::illegal_argument(format!("task [{id}] doesn't support cancellation")));
    }
    task.cancelled.store(true, std::sync::atomic::Ordering::Relaxed);
    Ok(())
}

async fn cancel_one(
    State(state): State<AppState>,
    Path(id): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    let task = find(&state.tasks, &id)?;
    if task.is_completed() {
        return Err(ApiError::not_found("resource_not_found_exception", format!("task [{id}] is not found")));
    }
    cancel(&task, &id)?;
    if flag(&params, "wait_for_completion")?.unwrap_or(false) {
        task.wait(std::time::Duration::from_secs(30)).await;
    }
    Ok(json_response(200, list_body(&state, &[task], false, "nodes")?))
}

/// `POST _tasks/_cancel`: cancels every matching cancellable task.
async fn cancel_all(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let filter = Filter::from(&params, &state);
    let tasks: Vec<Arc<Task>> =
        state.tasks.running().into_iter().filter(|t| t.cancellable && !t.is_completed() && filter.matches(t)).collect();
    for task in &tasks {
        cancel(task, &state.tasks.task_id(task))?;
    }
    Ok(json_response(200, list_body(&state, &tasks, false, "nodes")?))
}

const TASK_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("id", &[], false),
    ("action", &["ac"], false),
    ("task_id", &["ti"], false),
    ("parent_task_id", &["pti"], false),
    ("type", &["ty"], false),
    ("start_time", &["start"], false),
    ("timestamp", &["ts", "hms", "hhmmss"], false),
    ("running_time_ns", &[], true),
    ("running_time", &["time"], true),
    ("node_id", &["ni"], false),
    ("ip", &["i"], false),
    ("port", &["po"], false),
    ("node", &["n"], false),
    ("version", &["v"], false),
    ("x_opaque_id", &["x"], false),
    ("description", &["desc"], false),
];

/// `running_time` as OpenSearch's `TimeValue` prints it (`1.2ms`, `3.4s`), or in the unit
/// `time=` asks for.
fn running_time(nanos: u128, unit: Option<&str>) -> String {
    let n = nanos as f64;
    let fixed = |div: f64| format!("{}", (n / div) as u64);
    match unit {
        Some("nanos") => return nanos.to_string(),
        Some("micros") => return fixed(1e3),
        Some("ms") => return fixed(1e6),
        Some("s") => return fixed(1e9),
        Some("m") => return fixed(60e9),
        Some("h") => return fixed(3600e9),
        Some("d") => return fixed(86400e9),
        _ => {}
    }
    let (value, suffix) = match nanos {
        0..1_000 => (n, "nanos"),
        1_000..1_000_000 => (n / 1e3, "micros"),
        1_000_000..1_000_000_000 => (n / 1e6, "ms"),
        _ if n < 60e9 => (n / 1e9, "s"),
        _ if n < 3600e9 => (n / 60e9, "m"),
        _ => (n / 3600e9, "h"),
    };
    let text = format!("{value:.1}");
    format!("{}{suffix}", text.strip_suffix(".0").unwrap_or(&text))
}

async fn cat_tasks(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    if let Some(unit) = params.get("time") {
        if !matches!(unit.as_str(), "nanos" | "micros" | "ms" | "s" | "m" | "h" | "d") {
            return Err(ApiError::illegal_argument(format!("unknown time unit [{unit}]")));
        }
    }
    let filter = Filter::from(&params, &state);
    let detailed = flag(&params, "detailed")?.unwrap_or(false);
    let unit = params.get("time").map(String::as_str);
    let manager = &state.tasks;
    let rows = manager
        .running()
        .into_iter()
        .filter(|t| filter.matches(t))
        .map(|t| {
            let mut r = HashMap::new();
            let ts = quidditch_engine::date::format_millis(t.start_ms as i64);
            let nanos = t.running_nanos();
            r.insert("id", t.number.to_string());
            r.insert("action", t.action.to_string());
            r.insert("task_id", manager.task_id(&t));
            r.insert("parent_task_id", "-".to_string());
            r.insert("type", "transport".to_string());
            r.insert("start_time", t.start_ms.to_string());
            r.insert("timestamp", ts.get(11..19).unwrap_or_default().to_string());
            r.insert("running_time_ns", nanos.to_string());
            r.insert("running_time", running_time(nanos, unit));
            r.insert("node_id", manager.node_id.clone());
            r.insert("ip", state.node.ip());
            r.insert("port", state.node.http_address.port().to_string());
            r.insert("node", state.node.name.clone());
            r.insert("version", super::cluster::OPENSEARCH_VERSION.to_string());
            r.insert("x_opaque_id", t.opaque_id.clone().unwrap_or_else(|| "-".to_string()));
            r.insert("description", t.description.clone());
            r
        })
        .collect();
    let default: &'static [&'static str] = if detailed {
        &["action", "task_id", "parent_task_id", "type", "start_time", "timestamp", "running_time", "ip", "node", "description"]
    } else {
        &["action", "task_id", "parent_task_id", "type", "start_time", "timestamp", "running_time", "ip", "node"]
    };
    CatTable { columns: TASK_COLUMNS, default, rows }.render(&params)
}

#[cfg(test)]
mod tests {
    use super::running_time;

    #[test]
    fn running_time_reads_like_time_value() {
        assert_eq!(running_time(1_500_000, None), "1.5ms");
        assert_eq!(running_time(2_000_000_000, None), "2s");
        assert_eq!(running_time(2_000_000_000, Some("ms")), "2000");
    }
}
