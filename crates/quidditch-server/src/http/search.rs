//! HTTP routes: `_search`, `_count`, `_msearch`. Thin: parse the request, run the engine's
//! search on a blocking thread (searches run concurrently with indexing), errors map through `ApiError: From<EngineError>`.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use quidditch_engine::search::remote::RemoteShards;
use quidditch_engine::search::{self, SearchRequest};
use quidditch_engine::Engine;
use serde_json::{Value, json};

use super::params::{ApiParams, ApiRoutes};
use super::shard_phases::ClusterShards;
use super::{ApiError, AppState, json_response, parse_json_body};

/// What `SearchRequest::parse` reads, and the shard-level knobs that are no-ops on one node
/// with one copy of each shard (no remote clusters, no request cache).
const SEARCH: ApiParams = ApiParams::new(&[
    "q", "df", "default_operator", "analyzer", "analyze_wildcard", "lenient", "from", "size", "sort", "_source", "_source_includes",
    "_source_include", "_source_excludes", "_source_exclude", "track_total_hits", "timeout",
    "track_scores", "version", "seq_no_primary_term", "typed_keys", "routing",
    "allow_partial_search_results", "rest_total_hits_as_int", "request_cache",
    "batched_reduce_size", "max_concurrent_shard_requests", "pre_filter_shard_size",
    "ccs_minimize_roundtrips", "scroll", "docvalue_fields", "search_type", "terminate_after", "stats",
])
.not_implemented(&[
    "allow_no_indices", "expand_wildcards",
    "explain", "ignore_throttled", "ignore_unavailable", "include_named_queries_score",
    "preference", "search_pipeline", "shard_info",
    "stored_fields", "suggest_field", "suggest_mode", "suggest_size", "suggest_text",
]);

const COUNT: ApiParams = ApiParams::new(&[
    "q", "df", "default_operator", "analyzer", "analyze_wildcard", "lenient", "routing", "terminate_after",
])
.not_implemented(&[
    "allow_no_indices", "expand_wildcards", "ignore_throttled",
    "ignore_unavailable", "min_score", "preference",
]);

const MSEARCH: ApiParams = ApiParams::new(&[
    "rest_total_hits_as_int", "typed_keys", "ccs_minimize_roundtrips", "max_concurrent_searches",
    "max_concurrent_shard_requests", "pre_filter_shard_size",
])
.not_implemented(&["search_type"]);

const SCROLL: ApiParams = ApiParams::new(&["scroll", "scroll_id", "rest_total_hits_as_int"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_search/scroll", get(scroll_next).post(scroll_next).delete(scroll_clear), &SCROLL)
        .route("/_search/scroll/{scroll_id}", get(scroll_next).post(scroll_next).delete(scroll_clear), &SCROLL)
        .route("/_search", get(search_all).post(search_all), &SEARCH)
        .route("/{index}/_search", get(search_index).post(search_index), &SEARCH)
        .route("/_count", get(count_all).post(count_all), &COUNT)
        .route("/{index}/_count", get(count_index).post(count_index), &COUNT)
        .route("/_msearch", get(msearch_all).post(msearch_all), &MSEARCH)
        .route("/{index}/_msearch", get(msearch_index).post(msearch_index), &MSEARCH)
}

type Params = Query<HashMap<String, String>>;

/// Runs engine work as blocking code: `block_in_place` turns this worker into a blocking
/// thread and hands its other tasks to a replacement worker, so searches never stall the
/// runtime (or indexing) yet skip the thread hand-off of `spawn_blocking` (measured ~0.08 ms
/// per search on the benchmark machine, see BENCHMARKS.md). A panic becomes a 500.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, ApiError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::block_in_place(|| std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)))
        .unwrap_or_else(|panic| {
            let what = panic
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| panic.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".to_string());
            Err(ApiError::internal(format!("search failed: {what}")))
        })
}

/// `cluster`: in cluster mode, shards held by other nodes are searched there
/// (`shard_phases`); a scroll over them is refused rather than answered from this node's
/// copies only.
fn run_search(
    engine: &Engine,
    cluster: Option<&Arc<quidditch_cluster::Cluster>>,
    expr: &str,
    body: Option<&Value>,
    params: &HashMap<String, String>,
) -> Result<Value, ApiError> {
    let mut request = SearchRequest::parse(body, params).map_err(|e| ApiError::from(quidditch_engine::EngineError::from(e)))?;
    request.max_buckets = engine.search_limits().max_buckets();
    if request.pit.is_some() {
        if !expr.is_empty() {
            return Err(ApiError::bad_request(
                "action_request_validation_exception",
                "Validation Failed: 1: [indices] cannot be used with point in time. Do not specify any index with point in time.;",
            ));
        }
        return search::search_pit(engine.pits(), &request, Some(engine.udfs())).map_err(ApiError::from);
    }
    let mut targets = engine.resolve_search(expr).map_err(ApiError::from)?;
    engine.apply_indices_boost(&mut targets, &request.indices_boost).map_err(ApiError::from)?;
    let remote = cluster.map(|c| ClusterShards::new(c, body, params, false));
    if let Some(keep_alive) = request.scroll {
        if remote.as_ref().is_some_and(|r| r.spans_nodes(&targets.iter().map(|t| t.index.as_ref()).collect::<Vec<_>>())) {
            return Err(not_across_nodes("[scroll]"));
        }
        engine.search_limits().check_scroll_keep_alive(keep_alive)?;
        return engine.scrolls().open(&targets, &request, Some(engine.udfs())).map_err(ApiError::from);
    }
    search::search_targets_with(&targets, &request, Some(engine.udfs()), remote.as_ref().map(|r| r as &dyn RemoteShards))
        .map_err(ApiError::from)
}

/// What a cluster does not do yet over shards of several nodes says so (never answers from
/// this node's shards only).
pub(super) fn not_across_nodes(what: &str) -> ApiError {
    ApiError::illegal_argument(format!("{what} is not supported yet on indices whose shards are held by several nodes"))
}

/// `GET|POST /_search/scroll[/{id}]`: the id and keep-alive from the body or the URL.
async fn scroll_next(
    State(state): State<AppState>,
    path_id: Option<Path<String>>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?;
    let mut scroll_id = path_id.map(|Path(id)| id).or_else(|| params.get("scroll_id").cloned());
    let mut keep_alive = params.get("scroll").cloned();
    if let Some(body) = &body {
        let obj = body.as_object().ok_or_else(|| ApiError::bad_request("parse_exception", "request body must be an object"))?;
        for (k, v) in obj {
            match (k.as_str(), v) {
                ("scroll_id", Value::String(s)) => scroll_id = Some(s.clone()),
                ("scroll", Value::String(s)) => keep_alive = Some(s.clone()),
                (other, _) => {
                    return Err(ApiError::illegal_argument(format!("Unknown parameter [{other}] in request body or parameter is of the wrong type[{}] ", json_kind(v))));
                }
            }
        }
    }
    let scroll_id = scroll_id
        .filter(|s| !s.is_empty())
        .ok_or_else(|| ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: scrollId is missing;"))?;
    let keep_alive = match keep_alive {
        Some(v) => search::request::parse_time_value(&v).map_err(|e| ApiError::from(quidditch_engine::EngineError::from(e)))?,
        None => None,
    };
    if let Some(keep_alive) = keep_alive {
        state.engine.search_limits().check_scroll_keep_alive(keep_alive)?;
    }
    let as_int = params.get("rest_total_hits_as_int").is_some_and(|v| v != "false");
    let engine = state.engine.clone();
    let page = blocking(move || engine.scrolls().next(&scroll_id, keep_alive, as_int).map_err(ApiError::from)).await?;
    Ok(json_response(200, page))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::String(_) => "VALUE_STRING",
        Value::Number(_) => "VALUE_NUMBER",
        Value::Bool(_) => "VALUE_BOOLEAN",
        Value::Array(_) => "START_ARRAY",
        Value::Object(_) => "START_OBJECT",
        Value::Null => "VALUE_NULL",
    }
}

/// `DELETE /_search/scroll[/{ids}]`: ids from the URL (comma-separated) or the body's
/// `scroll_id` (string or list); `_all` frees every context. Unknown ids: 404, as OpenSearch.
async fn scroll_clear(State(state): State<AppState>, path_ids: Option<Path<String>>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?;
    let mut ids: Vec<String> = path_ids.map(|Path(ids)| ids.split(',').map(str::to_string).collect()).unwrap_or_default();
    if let Some(body) = &body {
        match body.get("scroll_id") {
            Some(Value::String(s)) => ids.push(s.clone()),
            Some(Value::Array(list)) => ids.extend(list.iter().filter_map(Value::as_str).map(str::to_string)),
            Some(_) => return Err(ApiError::illegal_argument("[scroll_id] must be a string or an array of strings")),
            None => {}
        }
    }
    if ids.is_empty() {
        return Err(ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: no scroll ids specified;"));
    }
    let scrolls = state.engine.scrolls();
    let (freed, asked) = if ids.iter().any(|id| id == "_all") {
        (scrolls.clear_all(), None)
    } else {
        (scrolls.clear(&ids).map_err(ApiError::from)?, Some(ids.len()))
    };
    let status = if asked.is_some_and(|n| freed < n) && freed == 0 { 404 } else { 200 };
    Ok(json_response(status, json!({"succeeded": true, "num_freed": freed})))
}

async fn search_all(State(state): State<AppState>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    do_search(state, String::new(), params, body).await
}

async fn search_index(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    do_search(state, index, params, body).await
}

async fn do_search(state: AppState, expr: String, params: HashMap<String, String>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?;
    let engine = state.engine.clone();
    let cluster = state.node.cluster.clone();
    let result = blocking(move || run_search(&engine, cluster.as_ref(), &expr, body.as_ref(), &params)).await?;
    Ok(json_response(200, result))
}

async fn count_all(State(state): State<AppState>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    do_count(state, String::new(), params, body).await
}

async fn count_index(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    do_count(state, index, params, body).await
}

async fn do_count(state: AppState, expr: String, params: HashMap<String, String>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?;
    // `_count` takes only `query` in its body.
    if let Some(Value::Object(obj)) = &body {
        if let Some(k) = obj.keys().find(|k| k.as_str() != "query") {
            return Err(ApiError::bad_request(
                "parsing_exception",
                format!("request does not support [{k}]"),
            ));
        }
    }
    let engine = state.engine.clone();
    let cluster = state.node.cluster.clone();
    let count = blocking(move || {
        let request = SearchRequest::parse(body.as_ref(), &params).map_err(ApiError::from)?.into_count();
        let targets = engine.resolve_search(&expr).map_err(ApiError::from)?;
        let remote = cluster.as_ref().map(|c| ClusterShards::new(c, body.as_ref(), &params, true));
        search::search_targets_with(&targets, &request, Some(engine.udfs()), remote.as_ref().map(|r| r as &dyn RemoteShards))
            .map_err(ApiError::from)
    })
    .await?;
    Ok(json_response(200, count))
}

async fn msearch_all(State(state): State<AppState>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    do_msearch(state, String::new(), params, body).await
}

async fn msearch_index(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    do_msearch(state, index, params, body).await
}

/// One `_msearch` item: the index expression, the body, and per-item URL-like parameters.
struct MsearchItem {
    expr: String,
    body: Value,
    params: HashMap<String, String>,
}

/// Splits the NDJSON body into header/body pairs.
fn parse_msearch(default_expr: &str, params: &HashMap<String, String>, body: &[u8]) -> Result<Vec<MsearchItem>, ApiError> {
    let text = std::str::from_utf8(body)
        .map_err(|_| ApiError::bad_request("parse_exception", "_msearch body is not UTF-8"))?;
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let mut items = Vec::new();
    while let Some(header_line) = lines.next() {
        let header: Value = serde_json::from_str(header_line).map_err(|e| {
            ApiError::bad_request("parse_exception", format!("failed to parse _msearch header line: {e}"))
        })?;
        let Value::Object(header) = header else {
            return Err(ApiError::bad_request("parse_exception", "_msearch header must be an object"));
        };
        let body_line = lines.next().unwrap_or("{}");
        let body: Value = serde_json::from_str(body_line).map_err(|e| {
            ApiError::bad_request("parse_exception", format!("failed to parse _msearch search body: {e}"))
        })?;
        let expr = match header.get("index") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect::<Vec<_>>().join(","),
            _ => default_expr.to_string(),
        };
        let mut item_params = params.clone();
        for key in ["search_type", "preference", "routing", "request_cache", "allow_no_indices",
            "ignore_unavailable", "expand_wildcards", "max_concurrent_searches"] {
            item_params.remove(key);
        }
        items.push(MsearchItem { expr, body, params: item_params });
    }
    Ok(items)
}

async fn do_msearch(state: AppState, expr: String, params: HashMap<String, String>, body: Bytes) -> Result<Response, ApiError> {
    let engine = state.engine.clone();
    let start = Instant::now();
    let items = parse_msearch(&expr, &params, &body)?;
    // OpenSearch rejects the whole request (not one item) for this combination.
    if params.get("rest_total_hits_as_int").is_some_and(|v| v != "false") {
        for item in &items {
            if let Some(n) = item.body.get("track_total_hits").filter(|v| v.is_number()) {
                return Err(ApiError::illegal_argument(format!(
                    "[rest_total_hits_as_int] cannot be used if the tracking of total hits is not accurate, got {n}"
                )));
            }
        }
    }
    let engine: Arc<Engine> = engine;
    let cluster = state.node.cluster.clone();
    let responses = blocking(move || {
        Ok(items
            .into_iter()
            .map(|item| match run_search(&engine, cluster.as_ref(), &item.expr, Some(&item.body), &item.params) {
                Ok(mut v) => {
                    if let Value::Object(o) = &mut v {
                        o.insert("status".into(), json!(200));
                    }
                    v
                }
                Err(e) => json!({"error": e.error_object(), "status": e.status.as_u16()}),
            })
            .collect::<Vec<Value>>())
    })
    .await?;
    Ok(json_response(200, json!({"took": start.elapsed().as_millis() as u64, "responses": responses})))
}
