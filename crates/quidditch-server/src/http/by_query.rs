//! HTTP routes: `POST /{index}/_delete_by_query`, `POST /{index}/_update_by_query` and
//! `POST /_reindex`. Thin: parse the body and parameters into a search request plus
//! [`quidditch_engine::by_query`] options, run it on a blocking thread, render the counts.
//! A run completes before the response, or with `wait_for_completion=false` runs as a
//! background task (`crate::tasks`): the answer is its id, its result `GET _tasks/{id}`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::post;
use quidditch_engine::OpType;
use quidditch_engine::by_query::{self, ByQueryAction, ByQueryOptions};
use quidditch_engine::search::SearchRequest;
use serde_json::{Map, Value};

use super::indices::{blocking, flag};
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};

/// `scroll` is the keep-alive of the internal snapshot (held for the run anyway); `slices`
/// may be `1` or `auto` (one slice); the timeouts never wait on one node.
const BY_QUERY: ApiParams = ApiParams::new(&[
    "conflicts", "max_docs", "refresh", "wait_for_completion", "q", "df", "default_operator", "analyzer",
    "analyze_wildcard", "lenient", "routing",
    "scroll_size", "scroll", "slices", "timeout", "wait_for_active_shards", "_source", "_source_includes",
    "_source_excludes",
])
.not_implemented(&[
    "allow_no_indices", "expand_wildcards", "from", "ignore_unavailable",
    "pipeline", "preference", "request_cache", "requests_per_second", "search_timeout", "search_type", "size", "sort",
    "stats", "terminate_after", "version", "version_type",
]);
const REINDEX: ApiParams = ApiParams::new(&["refresh", "wait_for_completion", "slices", "scroll", "timeout", "wait_for_active_shards", "max_docs"])
    .not_implemented(&["requests_per_second", "require_alias"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/{index}/_delete_by_query", post(delete_by_query), &BY_QUERY)
        .route("/{index}/_update_by_query", post(update_by_query), &BY_QUERY)
        .route("/_reindex", post(reindex), &REINDEX)
}

type Params = Query<HashMap<String, String>>;

async fn delete_by_query(State(state): State<AppState>, Path(index): Path<String>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    by_query(state, index, params, body, ByQueryAction::Delete).await
}

async fn update_by_query(State(state): State<AppState>, Path(index): Path<String>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    by_query(state, index, params, body, ByQueryAction::Reindex).await
}

/// The options every run takes from the URL (`body` may set `conflicts` and `max_docs` too).
fn options(params: &HashMap<String, String>, body: &mut Map<String, Value>) -> Result<ByQueryOptions, ApiError> {
    if let Some(slices) = params.get("slices").filter(|s| !matches!(s.as_str(), "1" | "auto")) {
        return Err(ApiError::illegal_argument(format!("[slices={slices}] is not implemented by Quidditch; use 1 or auto")));
    }
    let mut options = ByQueryOptions { refresh: flag(params, "refresh")?.unwrap_or(false), ..Default::default() };
    let conflicts = match body.remove("conflicts") {
        Some(Value::String(s)) => Some(s),
        Some(_) => return Err(ApiError::bad_request("parsing_exception", "[conflicts] must be a string")),
        None => params.get("conflicts").cloned(),
    };
    options.proceed_on_conflicts = match conflicts.as_deref() {
        None | Some("abort") => false,
        Some("proceed") => true,
        Some(other) => {
            return Err(ApiError::illegal_argument(format!("conflicts may only be \"proceed\" or \"abort\" but was [{other}]")));
        }
    };
    let max_docs = match body.remove("max_docs") {
        Some(v) => Some(v.as_i64().ok_or_else(|| ApiError::bad_request("parsing_exception", "[max_docs] must be a number"))?),
        None => params.get("max_docs").map(|v| v.parse::<i64>().map_err(|_| ApiError::illegal_argument(format!("[max_docs] must be a number, got [{v}]")))).transpose()?,
    };
    if let Some(n) = max_docs {
        if n <= 0 {
            return Err(ApiError::bad_request(
                "action_request_validation_exception",
                format!("Validation Failed: 1: maxDocs should be greater than 0 if the request is limited to some number of documents or -1 if it isn't but it was [{n}];"),
            ));
        }
        options.max_docs = Some(n as u64);
    }
    if let Some(size) = params.get("scroll_size") {
        options.batch_size = size
            .parse::<usize>()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| ApiError::illegal_argument(format!("[scroll_size] must be a positive number, got [{size}]")))?;
    }
    Ok(options)
}

fn body_object(body: &Bytes) -> Result<Map<String, Value>, ApiError> {
    match parse_json_body(body)? {
        None => Ok(Map::new()),
        Some(Value::Object(o)) => Ok(o),
        Some(_) => Err(ApiError::bad_request("parse_exception", "request body must be an object")),
    }
}

fn refuse_script(body: &Map<String, Value>, api: &str) -> Result<(), ApiError> {
    if body.contains_key("script") {
        return Err(ApiError::illegal_argument(format!("[script] in {api} is not implemented by Quidditch yet")));
    }
    Ok(())
}

/// The search part of a by-query body (`query`, `sort`, `_source`, `slice`), with the URL's
/// `q`/`df`/`routing`; `size` is the batch size here, never the page.
fn search_request(body: Map<String, Value>, params: &HashMap<String, String>) -> Result<SearchRequest, ApiError> {
    let search_params: HashMap<String, String> = params
        .iter()
        .filter(|(k, _)| {
            quidditch_engine::query_dsl::URI_QUERY_PARAMS.contains(&k.as_str())
                || matches!(k.as_str(), "routing" | "_source" | "_source_includes" | "_source_excludes")
        })
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let mut req = SearchRequest::parse(Some(&Value::Object(body)), &search_params)
        .map_err(|e| ApiError::from(quidditch_engine::EngineError::from(e)))?;
    req.track_total_hits = quidditch_engine::search::TrackTotalHits::Exact;
    Ok(req)
}

async fn by_query(state: AppState, expr: String, params: HashMap<String, String>, body: Bytes, action: ByQueryAction) -> Result<Response, ApiError> {
    let mut body = body_object(&body)?;
    let api = if matches!(action, ByQueryAction::Delete) { "_delete_by_query" } else { "_update_by_query" };
    refuse_script(&body, api)?;
    let options = options(&params, &mut body)?;
    let req = search_request(body, &params)?;
    let engine = state.engine.clone();
    let (task_action, name) = match action {
        ByQueryAction::Delete => ("indices:data/write/delete/byquery", "delete-by-query"),
        _ => ("indices:data/write/update/byquery", "update-by-query"),
    };
    let description = format!("{name} [{expr}]");
    run_or_start(&state, &params, task_action, description, options, move |options| {
        let targets = engine.resolve_search(&expr)?;
        Ok(by_query::run(&targets, &req, Some(engine.udfs()), &action, &options)?)
    })
    .await
}

/// Runs `job` and answers its counts, or with `wait_for_completion=false` starts it as a
/// cancellable background task and answers `{"task": "node:id"}` at once (its result is then
/// kept for `GET _tasks/{id}`).
async fn run_or_start(
    state: &AppState,
    params: &HashMap<String, String>,
    task_action: &'static str,
    description: String,
    mut options: ByQueryOptions,
    job: impl FnOnce(ByQueryOptions) -> Result<by_query::ByQueryOutcome, ApiError> + Send + 'static,
) -> Result<Response, ApiError> {
    if flag(params, "wait_for_completion")? != Some(false) {
        let outcome = blocking(move || job(options)).await?;
        let (status, body) = render(&outcome);
        return Ok(json_response(status, body));
    }
    let guard = state.tasks.register(task_action, description, true, None);
    options.cancelled = Some(guard.task.cancelled.clone());
    let id = state.tasks.task_id(&guard.task);
    tokio::spawn(async move {
        match blocking(move || job(options)).await {
            Ok(outcome) => guard.task.complete(render(&outcome).1, false),
            Err(e) => guard.task.complete(e.error_object(), true),
        }
        drop(guard);
    });
    Ok(json_response(200, serde_json::json!({ "task": id })))
}

/// The response status is the worst failure's: 409 for a version conflict that aborted.
fn render(outcome: &by_query::ByQueryOutcome) -> (u16, Value) {
    let mut body = outcome.to_json();
    let mut status = 200;
    if let Some(failures) = body["failures"].as_array_mut() {
        for failure in failures {
            let conflict = failure["cause"]["type"] == "version_conflict_engine_exception";
            let failure_status = if conflict { 409 } else { 500 };
            failure["status"] = failure_status.into();
            status = status.max(failure_status);
        }
    }
    (status, body)
}

async fn reindex(State(state): State<AppState>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    let mut body = body_object(&body)?;
    refuse_script(&body, "_reindex")?;
    if let Some(size) = body.remove("size") {
        // The pre-7 spelling of `max_docs`.
        body.entry("max_docs").or_insert(size);
    }
    let mut options = options(&params, &mut body)?;
    let Some(Value::Object(mut source)) = body.remove("source") else {
        return Err(validation("source index is missing"));
    };
    let Some(Value::Object(mut dest)) = body.remove("dest") else {
        return Err(validation("destination index is missing"));
    };
    if let Some(k) = body.keys().next() {
        return Err(ApiError::bad_request("parsing_exception", format!("[reindex] unknown field [{k}]")));
    }
    let source_expr = match source.remove("index") {
        Some(Value::String(s)) => s,
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
        _ => return Err(validation("use _all if you really want to copy from all existing indexes")),
    };
    if let Some(size) = source.remove("size") {
        options.batch_size = size.as_u64().filter(|n| *n > 0).ok_or_else(|| ApiError::illegal_argument("[source.size] must be a positive number"))? as usize;
    }
    for unsupported in ["remote", "pipeline"] {
        if source.contains_key(unsupported) || dest.contains_key(unsupported) {
            return Err(ApiError::illegal_argument(format!("[{unsupported}] in _reindex is not implemented by Quidditch")));
        }
    }
    let Some(Value::String(dest_name)) = dest.remove("index") else { return Err(validation("index must be specified")) };
    let op_type = match dest.remove("op_type").as_ref().and_then(Value::as_str) {
        None | Some("index") => OpType::Index,
        Some("create") => OpType::Create,
        Some(other) => return Err(ApiError::illegal_argument(format!("opType must be 'create' or 'index', found: [{other}]"))),
    };
    let dest_routing = match dest.remove("routing") {
        None => None,
        Some(Value::String(s)) if s == "keep" => None,
        Some(Value::String(s)) if s.starts_with('=') => Some(s[1..].to_string()),
        Some(other) => return Err(ApiError::illegal_argument(format!("[dest.routing] must be keep or =value, got {other}"))),
    };
    if let Some(k) = dest.keys().next() {
        return Err(ApiError::bad_request("parsing_exception", format!("[dest] unknown field [{k}]")));
    }
    let req = search_request(source, &HashMap::new())?;
    let engine = state.engine.clone();
    let description = format!("reindex from [{source_expr}] to [{dest_name}]");
    run_or_start(&state, &params, "indices:data/write/reindex", description, options, move |options| {
        let targets = engine.resolve_search(&source_expr)?;
        if targets.iter().any(|t| t.index.name() == dest_name) {
            return Err(ApiError::bad_request(
                "action_request_validation_exception",
                format!("Validation Failed: 1: reindex cannot write into an index its reading from [{dest_name}];"),
            ));
        }
        let (dest, alias_routing) = engine.write_target(&dest_name, false)?;
        let action = ByQueryAction::CopyTo { dest, dest_routing: dest_routing.or(alias_routing), op_type };
        Ok(by_query::run(&targets, &req, Some(engine.udfs()), &action, &options)?)
    })
    .await
}

fn validation(reason: &str) -> ApiError {
    ApiError::bad_request("action_request_validation_exception", format!("Validation Failed: 1: {reason};"))
}
