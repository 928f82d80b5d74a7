//! HTTP routes: index APIs (create, get, exists, delete, mappings, settings, refresh, flush,
//! stats), and small helpers the other engine routes share.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, head, post, put};
use quidditch_engine::index::IndexSettings;
use quidditch_engine::{EngineError, Index, Mapping};
use serde_json::{Map, Value, json};

use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};

/// Cluster-manager timeouts are no-ops on one node: metadata changes apply at once.
const CREATE_INDEX: ApiParams =
    ApiParams::new(&["timeout", "master_timeout", "cluster_manager_timeout", "wait_for_active_shards"]);
const GET_INDEX: ApiParams = ApiParams::new(&["ignore_unavailable", "allow_no_indices", "local", "master_timeout", "cluster_manager_timeout"])
    .not_implemented(&["expand_wildcards", "flat_settings", "include_defaults"]);
const INDEX_EXISTS: ApiParams = ApiParams::new(&["local"])
    .not_implemented(&["allow_no_indices", "expand_wildcards", "flat_settings", "ignore_unavailable", "include_defaults"]);
const DELETE_INDEX: ApiParams = ApiParams::new(&["timeout", "master_timeout", "cluster_manager_timeout"])
    .not_implemented(&["allow_no_indices", "expand_wildcards", "ignore_unavailable"]);
const GET_MAPPING: ApiParams = ApiParams::new(&["ignore_unavailable", "allow_no_indices", "local", "master_timeout", "cluster_manager_timeout"])
    .not_implemented(&["expand_wildcards", "include_type_name"]);
const PUT_MAPPING: ApiParams = ApiParams::new(&[
    "ignore_unavailable", "allow_no_indices", "timeout", "master_timeout", "cluster_manager_timeout",
])
.not_implemented(&["expand_wildcards", "write_index_only"]);
const GET_SETTINGS: ApiParams = ApiParams::new(&["ignore_unavailable", "allow_no_indices", "local", "master_timeout", "cluster_manager_timeout"])
    .not_implemented(&["expand_wildcards", "flat_settings", "include_defaults"]);
const PUT_SETTINGS: ApiParams = ApiParams::new(&["timeout", "master_timeout", "cluster_manager_timeout"])
    .not_implemented(&["allow_no_indices", "expand_wildcards", "flat_settings", "ignore_unavailable", "preserve_existing"]);
const REFRESH: ApiParams =
    ApiParams::new(&["ignore_unavailable", "allow_no_indices"]).not_implemented(&["expand_wildcards"]);
/// A flush is a refresh-with-commit here; there is never an ongoing flush to wait for.
const FLUSH: ApiParams = ApiParams::new(&["ignore_unavailable", "allow_no_indices", "force", "wait_if_ongoing"])
    .not_implemented(&["expand_wildcards"]);
const GET_FIELD_MAPPING: ApiParams = ApiParams::new(&["include_defaults", "ignore_unavailable", "allow_no_indices", "local"])
    .not_implemented(&["expand_wildcards"]);
/// Closing and opening apply at once on one node: the waits are met when the call returns.
const CLOSE_OPEN: ApiParams = ApiParams::new(&["timeout", "master_timeout", "cluster_manager_timeout", "wait_for_active_shards"])
    .not_implemented(&["allow_no_indices", "expand_wildcards", "ignore_unavailable"]);
const STATS: ApiParams = ApiParams::new(&["level", "ignore_unavailable", "allow_no_indices"]).not_implemented(&[
    "completion_fields", "expand_wildcards", "fielddata_fields", "fields", "forbid_closed_indices", "groups",
    "include_field_level_segment_file_sizes", "include_segment_file_sizes", "include_unloaded_segments",
]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/{index}", get(get_index), &GET_INDEX)
        .route("/{index}", put(create_index), &CREATE_INDEX)
        .route("/{index}", delete(delete_index), &DELETE_INDEX)
        .route("/{index}", head(index_exists), &INDEX_EXISTS)
        .route("/{index}/_mapping", get(get_mapping), &GET_MAPPING)
        .route("/{index}/_mapping", put(put_mapping).post(put_mapping), &PUT_MAPPING)
        .route("/_mapping", get(get_all_mappings), &GET_MAPPING)
        .route("/_mapping/field/{fields}", get(get_all_field_mappings), &GET_FIELD_MAPPING)
        .route("/{index}/_mapping/field/{fields}", get(get_field_mapping), &GET_FIELD_MAPPING)
        .route("/{index}/_settings", get(get_settings), &GET_SETTINGS)
        .route("/{index}/_settings", put(put_settings), &PUT_SETTINGS)
        .route("/_settings", get(get_all_settings), &GET_SETTINGS)
        .route("/{index}/_refresh", post(refresh).get(refresh), &REFRESH)
        .route("/_refresh", post(refresh_all).get(refresh_all), &REFRESH)
        .route("/{index}/_flush", post(refresh).get(refresh), &FLUSH)
        .route("/_flush", post(refresh_all).get(refresh_all), &FLUSH)
        .route("/{index}/_close", post(close_index), &CLOSE_OPEN)
        .route("/{index}/_open", post(open_index), &CLOSE_OPEN)
        .route("/{index}/_stats", get(stats), &STATS)
        .route("/_stats", get(stats_all), &STATS)
}

/// Runs blocking engine work (fsync, commits, tantivy reads) off the async runtime.
pub(super) async fn blocking<T, F>(f: F) -> Result<T, ApiError>
where
    F: FnOnce() -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| ApiError::internal(format!("engine task failed: {e}")))?
}

/// `_shards` header of write/refresh responses: one primary (+ unassigned replicas).
pub(super) fn shards_json(index: &Index) -> Value {
    let total = 1 + index.settings().number_of_replicas();
    json!({ "total": total, "successful": 1, "failed": 0 })
}

pub(super) type Params = Query<HashMap<String, String>>;

/// A boolean query parameter (`?x`, `?x=true`, `?x=false`).
pub(super) fn flag(params: &HashMap<String, String>, key: &str) -> Result<Option<bool>, ApiError> {
    match params.get(key).map(String::as_str) {
        None => Ok(None),
        Some("") | Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(other) => Err(ApiError::illegal_argument(format!(
            "Failed to parse value [{other}] as only [true] or [false] are allowed."
        ))),
    }
}

async fn create_index(State(state): State<AppState>, Path(name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?;
    let warning = soft_deletes_disabled(body.as_ref()).then(|| {
        format!(
            "Creating indices with soft-deletes disabled is deprecated and will be removed in future OpenSearch \
             versions. Please do not specify value for setting [index.soft_deletes.enabled] of index [{name}]."
        )
    });
    let index = match &state.node.cluster {
        Some(cluster) => crate::index_replication::create(cluster, &state.engine, name, body).await?,
        None => {
            let engine = state.engine.clone();
            blocking(move || Ok(engine.create_index(&name, body.as_ref())?)).await?
        }
    };
    let mut resp = json_response(200, json!({ "acknowledged": true, "shards_acknowledged": true, "index": index.name() }));
    if let Some(text) = warning {
        super::add_deprecation_warning(&mut resp, &text);
    }
    Ok(resp)
}

/// Whether a create-index body sets `index.soft_deletes.enabled` to false (nested or dotted,
/// with or without the `index.` prefix): accepted, with OpenSearch's deprecation warning.
fn soft_deletes_disabled(body: Option<&Value>) -> bool {
    fn find(v: &Value, path: &str) -> Option<Value> {
        let obj = v.as_object()?;
        for (k, child) in obj {
            let key = if path.is_empty() { k.clone() } else { format!("{path}.{k}") };
            let key = key.strip_prefix("index.").unwrap_or(&key).to_string();
            if key == "soft_deletes.enabled" {
                return Some(child.clone());
            }
            if let Some(found) = find(child, &key) {
                return Some(found);
            }
        }
        None
    }
    let Some(settings) = body.and_then(|b| b.get("settings")) else { return false };
    match find(settings, "") {
        Some(Value::Bool(enabled)) => !enabled,
        Some(Value::String(s)) => s == "false",
        _ => false,
    }
}

fn resolve(state: &AppState, expr: &str) -> Result<Vec<std::sync::Arc<Index>>, ApiError> {
    Ok(state.engine.resolve_indices(expr)?)
}

/// Resolves with `?ignore_unavailable=true` support.
fn resolve_with(state: &AppState, expr: &str, params: &HashMap<String, String>) -> Result<Vec<std::sync::Arc<Index>>, ApiError> {
    if flag(params, "ignore_unavailable")?.unwrap_or(false) {
        let found = state.engine.resolve_indices_lenient(expr);
        if found.is_empty() && flag(params, "allow_no_indices")? == Some(false) {
            return Err(EngineError::IndexNotFound { index: expr.to_string() }.into());
        }
        return Ok(found);
    }
    resolve(state, expr)
}

fn settings_json(index: &Index) -> Value {
    index.settings().to_json(index.name(), index.uuid(), index.creation_date())
}

async fn get_index(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    let mut out = Map::new();
    let aliases = state.engine.aliases();
    for index in resolve_with(&state, &expr, &params)? {
        let index_aliases: Map<String, Value> =
            aliases.of_index(index.name()).into_iter().map(|(name, meta)| (name, meta.to_json())).collect();
        out.insert(
            index.name().to_string(),
            json!({ "aliases": index_aliases, "mappings": index.mapping().to_json(), "settings": settings_json(&index) }),
        );
    }
    Ok(json_response(200, Value::Object(out)))
}

async fn index_exists(State(state): State<AppState>, Path(expr): Path<String>) -> Response {
    match state.engine.resolve_indices(&expr) {
        Ok(v) if !v.is_empty() => StatusCode::OK.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn delete_index(State(state): State<AppState>, Path(expr): Path<String>) -> Result<Response, ApiError> {
    match &state.node.cluster {
        Some(cluster) => {
            crate::index_replication::delete(cluster, &state.engine, expr).await?;
        }
        None => {
            let engine = state.engine.clone();
            blocking(move || Ok(engine.delete_indices(&expr)?)).await?;
        }
    }
    Ok(json_response(200, json!({ "acknowledged": true })))
}

async fn close_index(State(state): State<AppState>, Path(expr): Path<String>) -> Result<Response, ApiError> {
    let engine = state.engine.clone();
    let closed = blocking(move || Ok(engine.set_closed(&expr, true)?)).await?;
    let indices: Map<String, Value> = closed.into_iter().map(|n| (n, json!({ "closed": true }))).collect();
    Ok(json_response(200, json!({ "acknowledged": true, "shards_acknowledged": true, "indices": indices })))
}

async fn open_index(State(state): State<AppState>, Path(expr): Path<String>) -> Result<Response, ApiError> {
    let engine = state.engine.clone();
    blocking(move || Ok(engine.set_closed(&expr, false)?)).await?;
    Ok(json_response(200, json!({ "acknowledged": true, "shards_acknowledged": true })))
}

fn mappings_of(indices: &[std::sync::Arc<Index>]) -> Value {
    let mut out = Map::new();
    for index in indices {
        out.insert(index.name().to_string(), json!({ "mappings": index.mapping().to_json() }));
    }
    Value::Object(out)
}

async fn get_mapping(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    Ok(json_response(200, mappings_of(&resolve_with(&state, &expr, &params)?)))
}

async fn get_all_mappings(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(json_response(200, mappings_of(&state.engine.list())))
}

/// `{index: {"mappings": {path: {"full_name": path, "mapping": {leaf: definition}}}}}`; an
/// index without a matching field is listed with empty `mappings`.
fn field_mappings_of(indices: &[std::sync::Arc<Index>], fields: &str, params: &HashMap<String, String>) -> Result<Value, ApiError> {
    let patterns: Vec<&str> = fields.split(',').map(str::trim).filter(|f| !f.is_empty()).collect();
    let include_defaults = flag(params, "include_defaults")?.unwrap_or(false);
    let mut out = Map::new();
    for index in indices {
        let found: Map<String, Value> = index
            .mapping()
            .field_mappings(&patterns, include_defaults)
            .into_iter()
            .map(|(path, mapping)| (path.clone(), json!({ "full_name": path, "mapping": mapping })))
            .collect();
        out.insert(index.name().to_string(), json!({ "mappings": found }));
    }
    Ok(Value::Object(out))
}

async fn get_field_mapping(
    State(state): State<AppState>,
    Path((expr, fields)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    Ok(json_response(200, field_mappings_of(&resolve_with(&state, &expr, &params)?, &fields, &params)?))
}

async fn get_all_field_mappings(State(state): State<AppState>, Path(fields): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    Ok(json_response(200, field_mappings_of(&state.engine.list(), &fields, &params)?))
}

async fn put_mapping(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?
        .ok_or_else(|| ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: mapping source is empty;"))?;
    // OpenSearch reads the body as a map (`null`, arrays and scalars fail there).
    if !body.is_object() {
        return Err(ApiError::bad_request("parse_exception", "Failed to parse content to map"));
    }
    if body.get("_doc").is_some() {
        return Err(ApiError::illegal_argument("Types cannot be provided in put mapping requests"));
    }
    let update = Mapping::parse(&body)?;
    let indices = resolve_with(&state, &expr, &params)?;
    if let Some(cluster) = &state.node.cluster {
        crate::index_replication::put_mapping(cluster, indices, update).await?;
        return Ok(json_response(200, json!({ "acknowledged": true })));
    }
    blocking(move || {
        for index in indices {
            index.put_mapping(&update)?;
        }
        Ok(())
    })
    .await?;
    Ok(json_response(200, json!({ "acknowledged": true })))
}

fn settings_of(indices: &[std::sync::Arc<Index>]) -> Value {
    let mut out = Map::new();
    for index in indices {
        out.insert(index.name().to_string(), json!({ "settings": settings_json(index) }));
    }
    Value::Object(out)
}

async fn get_settings(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    Ok(json_response(200, settings_of(&resolve_with(&state, &expr, &params)?)))
}

async fn get_all_settings(State(state): State<AppState>) -> Result<Response, ApiError> {
    Ok(json_response(200, settings_of(&state.engine.list())))
}

async fn put_settings(State(state): State<AppState>, Path(expr): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?
        .filter(|b| b.as_object().is_some_and(|o| !o.is_empty()))
        .ok_or_else(|| ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: no settings to update;"))?;
    // Both `{"index": {...}}` and `{"settings": {"index": {...}}}` are accepted.
    let body = body.get("settings").cloned().unwrap_or(body);
    let update = IndexSettings::parse(&body)?;
    let indices = resolve(&state, &expr)?;
    blocking(move || {
        for index in indices {
            index.put_settings(&update)?;
        }
        Ok(())
    })
    .await?;
    Ok(json_response(200, json!({ "acknowledged": true })))
}

async fn refresh_indices(indices: Vec<std::sync::Arc<Index>>) -> Result<Response, ApiError> {
    // Shard counts as OpenSearch reports them: every primary succeeds, replicas are never
    // allocated on one node.
    let primaries: u64 = indices.iter().map(|i| i.settings().number_of_shards()).sum();
    let total: u64 = indices
        .iter()
        .map(|i| i.settings().number_of_shards() * (1 + i.settings().number_of_replicas()))
        .sum();
    blocking(move || {
        for index in indices {
            index.refresh()?;
        }
        Ok(())
    })
    .await?;
    Ok(json_response(200, json!({ "_shards": { "total": total, "successful": primaries, "failed": 0 } })))
}

async fn refresh(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    refresh_indices(resolve_with(&state, &expr, &params)?).await
}

async fn refresh_all(State(state): State<AppState>) -> Result<Response, ApiError> {
    refresh_indices(state.engine.list()).await
}

fn index_stats(index: &Index) -> Value {
    let (docs, deleted) = index.doc_counts();
    let size = index.store_size_bytes();
    json!({
        "docs": { "count": docs, "deleted": deleted },
        "store": { "size_in_bytes": size, "reserved_in_bytes": 0 },
        "indexing": { "index_total": index.max_seq_no() + 1 },
    })
}

fn sum_stats(values: &[Value]) -> Value {
    let sum = |ptr: &str| values.iter().filter_map(|v| v.pointer(ptr).and_then(Value::as_i64)).sum::<i64>();
    json!({
        "docs": { "count": sum("/docs/count"), "deleted": sum("/docs/deleted") },
        "store": { "size_in_bytes": sum("/store/size_in_bytes"), "reserved_in_bytes": 0 },
        "indexing": { "index_total": sum("/indexing/index_total") },
    })
}

/// `level=shards`: each primary's own numbers, keyed by shard number (replicas are never
/// allocated on one node, so each list has one entry).
fn shard_level_stats(index: &Index, node: &str) -> Value {
    let mut out = Map::new();
    for s in index.shard_stats() {
        out.insert(
            s.shard.to_string(),
            json!([{
                "routing": { "state": "STARTED", "primary": true, "node": node },
                "docs": { "count": s.docs, "deleted": s.deleted },
                "store": { "size_in_bytes": s.store_bytes, "reserved_in_bytes": 0 },
                "indexing": { "index_total": s.max_seq_no + 1 },
            }]),
        );
    }
    Value::Object(out)
}

async fn stats_for(
    indices: Vec<std::sync::Arc<Index>>,
    params: HashMap<String, String>,
    node: String,
) -> Result<Response, ApiError> {
    let level = params.get("level").map(String::as_str).unwrap_or("indices");
    if !matches!(level, "cluster" | "indices" | "shards") {
        return Err(ApiError::illegal_argument(format!(
            "level parameter must be one of [cluster] or [indices] or [shards] but was [{level}]"
        )));
    }
    let level = level.to_string();
    let body = blocking(move || {
        let mut per_index = Map::new();
        let mut all = Vec::new();
        let mut shards = 0u64;
        let mut primaries = 0u64;
        for index in &indices {
            let s = index_stats(index);
            let settings = index.settings();
            shards += settings.number_of_shards() * (1 + settings.number_of_replicas());
            primaries += settings.number_of_shards();
            let mut entry = json!({ "uuid": index.uuid(), "primaries": s, "total": s });
            if level == "shards" {
                entry["shards"] = shard_level_stats(index, &node);
            }
            per_index.insert(index.name().to_string(), entry);
            all.push(s);
        }
        let total = sum_stats(&all);
        if level == "cluster" {
            return Ok(json!({
                "_shards": { "total": shards, "successful": primaries, "failed": 0 },
                "_all": { "primaries": total, "total": total },
            }));
        }
        Ok(json!({
            "_shards": { "total": shards, "successful": primaries, "failed": 0 },
            "_all": { "primaries": total, "total": total },
            "indices": per_index,
        }))
    })
    .await?;
    Ok(json_response(200, body))
}

async fn stats(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    let indices = resolve_with(&state, &expr, &params)?;
    stats_for(indices, params, state.node.name.clone()).await
}

async fn stats_all(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    stats_for(state.engine.list(), params, state.node.name.clone()).await
}
