//! HTTP routes: index APIs (create, get, exists, delete, mappings, settings, refresh, flush,
//! stats), and small helpers the other engine routes share.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, head, post, put};
use quidditch_engine::index::IndexSettings;
use quidditch_engine::names::ExpandWildcards;
use quidditch_engine::{EngineError, Index, Mapping};
use serde_json::{Map, Value, json};

use super::params::{ApiParams, ApiRoutes};
use super::settings_view::SettingsView;
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
const GET_SETTINGS: ApiParams = ApiParams::new(&[
    "ignore_unavailable", "allow_no_indices", "local", "master_timeout", "cluster_manager_timeout", "flat_settings",
    "include_defaults",
])
.not_implemented(&["expand_wildcards"]);
const PUT_SETTINGS: ApiParams = ApiParams::new(&["timeout", "master_timeout", "cluster_manager_timeout"])
    .not_implemented(&["allow_no_indices", "expand_wildcards", "flat_settings", "ignore_unavailable", "preserve_existing"]);
const REFRESH: ApiParams =
    ApiParams::new(&["ignore_unavailable", "allow_no_indices"]).not_implemented(&["expand_wildcards"]);
/// A flush is a refresh-with-commit here; there is never an ongoing flush to wait for.
const FLUSH: ApiParams = ApiParams::new(&["ignore_unavailable", "allow_no_indices", "force", "wait_if_ongoing"])
    .not_implemented(&["expand_wildcards"]);
/// The merge result is committed by tantivy itself, so `flush` (after the merge) always
/// holds; every copy is a primary on one node, so `primary_only` changes nothing but the
/// `_shards` count.
const FORCE_MERGE: ApiParams = ApiParams::new(&[
    "ignore_unavailable", "allow_no_indices", "flush", "max_num_segments", "only_expunge_deletes", "primary_only",
])
.not_implemented(&["expand_wildcards", "wait_for_completion"]);
const GET_FIELD_MAPPING: ApiParams = ApiParams::new(&["include_defaults", "ignore_unavailable", "allow_no_indices", "local"])
    .not_implemented(&["expand_wildcards"]);
/// Closing and opening apply at once on one node: the waits are met when the call returns.
const CLOSE_OPEN: ApiParams = ApiParams::new(&["timeout", "master_timeout", "cluster_manager_timeout", "wait_for_active_shards"])
    .not_implemented(&["allow_no_indices", "expand_wildcards", "ignore_unavailable"]);
const STATS: ApiParams = ApiParams::new(&[
    "level", "ignore_unavailable", "allow_no_indices", "expand_wildcards", "forbid_closed_indices", "include_unloaded_segments",
])
.not_implemented(&[
    "completion_fields", "fielddata_fields", "fields", "groups", "include_field_level_segment_file_sizes",
    "include_segment_file_sizes",
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
        .route("/{index}/_settings/{name}", get(get_named_settings), &GET_SETTINGS)
        .route("/_settings", get(get_all_settings), &GET_SETTINGS)
        .route("/_settings", put(put_all_settings), &PUT_SETTINGS)
        .route("/_settings/{name}", get(get_all_named_settings), &GET_SETTINGS)
        .route("/{index}/_refresh", post(refresh).get(refresh), &REFRESH)
        .route("/_refresh", post(refresh_all).get(refresh_all), &REFRESH)
        .route("/{index}/_flush", post(flush).get(flush), &FLUSH)
        .route("/_flush", post(flush_all).get(flush_all), &FLUSH)
        .route("/{index}/_forcemerge", post(force_merge), &FORCE_MERGE)
        .route("/_forcemerge", post(force_merge_all), &FORCE_MERGE)
        .route("/{index}/_close", post(close_index), &CLOSE_OPEN)
        .route("/{index}/_open", post(open_index), &CLOSE_OPEN)
        .route("/{index}/_stats", get(stats), &STATS)
        .route("/{index}/_stats/{metric}", get(stats_metric), &STATS)
        .route("/_stats", get(stats_all), &STATS)
        .route("/_stats/{metric}", get(stats_all_metric), &STATS)
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
/// A write's `_shards`: the copies asked for, and the `successful` ones that have it.
pub(super) fn shards_json(index: &Index, successful: u32) -> Value {
    let total = 1 + index.settings().number_of_replicas();
    json!({ "total": total, "successful": successful, "failed": 0 })
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

/// `?expand_wildcards=` (`open`, `closed`, `hidden`, `none`, `all`, comma-separated), or the
/// API's default.
pub(super) fn expand_wildcards(
    params: &HashMap<String, String>,
    default: quidditch_engine::names::ExpandWildcards,
) -> Result<quidditch_engine::names::ExpandWildcards, ApiError> {
    match params.get("expand_wildcards") {
        None => Ok(default),
        Some(v) => Ok(quidditch_engine::names::ExpandWildcards::parse(v)?),
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

/// `GET …/_settings[/{name}]`: each index's settings through the request's view.
fn settings_of(state: &AppState, indices: &[std::sync::Arc<Index>], view: &SettingsView) -> Value {
    let config = state.engine.config();
    let defaults = view
        .include_defaults()
        .then(|| IndexSettings::defaults_json(config.refresh_interval_ms, config.search_idle_after_ms));
    let mut out = Map::new();
    for index in indices {
        let given = settings_json(index);
        let mut entry = Map::new();
        let shown = view.show(&given);
        let shown_defaults = defaults.as_ref().map(|d| view.show_defaults(d, &given));
        let empty = |v: &Value| v.as_object().is_some_and(Map::is_empty);
        if view.filters() && empty(&shown) && shown_defaults.as_ref().is_none_or(empty) {
            continue;
        }
        entry.insert("settings".into(), shown);
        if let Some(d) = shown_defaults {
            entry.insert("defaults".into(), d);
        }
        out.insert(index.name().to_string(), Value::Object(entry));
    }
    Value::Object(out)
}

async fn get_settings(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    let view = SettingsView::from_request(&params, None)?;
    Ok(json_response(200, settings_of(&state, &resolve_with(&state, &expr, &params)?, &view)))
}

async fn get_named_settings(
    State(state): State<AppState>,
    Path((expr, name)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let view = SettingsView::from_request(&params, Some(&name))?;
    Ok(json_response(200, settings_of(&state, &resolve_with(&state, &expr, &params)?, &view)))
}

async fn get_all_settings(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    let view = SettingsView::from_request(&params, None)?;
    Ok(json_response(200, settings_of(&state, &state.engine.list(), &view)))
}

async fn get_all_named_settings(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let view = SettingsView::from_request(&params, Some(&name))?;
    Ok(json_response(200, settings_of(&state, &state.engine.list(), &view)))
}

async fn put_settings(State(state): State<AppState>, Path(expr): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    put_settings_of(&state, &expr, body).await
}

/// `PUT /_settings`: every index.
async fn put_all_settings(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    put_settings_of(&state, "_all", body).await
}

async fn put_settings_of(state: &AppState, expr: &str, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?
        .filter(|b| b.as_object().is_some_and(|o| !o.is_empty()))
        .ok_or_else(|| ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: no settings to update;"))?;
    // Both `{"index": {...}}` and `{"settings": {"index": {...}}}` are accepted.
    let body = body.get("settings").cloned().unwrap_or(body);
    let update = IndexSettings::parse(&body)?;
    let indices = resolve(state, expr)?;
    if let Some(cluster) = &state.node.cluster {
        crate::index_replication::put_settings(cluster, indices, update).await?;
        return Ok(json_response(200, json!({ "acknowledged": true })));
    }
    blocking(move || {
        for index in indices {
            index.put_settings(&update)?;
        }
        Ok(())
    })
    .await?;
    Ok(json_response(200, json!({ "acknowledged": true })))
}

async fn force_merge(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    let indices = resolve_with(&state, &expr, &params)?;
    force_merge_indices(indices, &params).await
}

async fn force_merge_all(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    force_merge_indices(state.engine.list(), &params).await
}

async fn force_merge_indices(indices: Vec<std::sync::Arc<Index>>, params: &HashMap<String, String>) -> Result<Response, ApiError> {
    // `-1` is OpenSearch's "not set".
    let max_segments = match params.get("max_num_segments").map(|v| (v, v.parse::<i64>())) {
        None | Some((_, Ok(-1))) => None,
        Some((_, Ok(n))) if n >= 1 => Some(n as usize),
        Some((v, _)) => {
            return Err(ApiError::illegal_argument(format!(
                "failed to parse [max_num_segments] with value [{v}]: a number >= 1 (or -1) is expected"
            )));
        }
    };
    let only_expunge_deletes = flag(params, "only_expunge_deletes")?.unwrap_or(false);
    flag(params, "flush")?;
    let primary_only = flag(params, "primary_only")?.unwrap_or(false);
    let primaries: u64 = indices.iter().map(|i| i.settings().number_of_shards()).sum();
    let total: u64 = if primary_only {
        primaries
    } else {
        indices.iter().map(|i| i.settings().number_of_shards() * (1 + i.settings().number_of_replicas())).sum()
    };
    blocking(move || {
        for index in indices {
            index.force_merge(max_segments, only_expunge_deletes)?;
        }
        Ok(())
    })
    .await?;
    let mut resp = json_response(200, json!({ "_shards": { "total": total, "successful": primaries, "failed": 0 } }));
    if only_expunge_deletes && max_segments.is_some() {
        super::add_deprecation_warning(
            &mut resp,
            "setting only_expunge_deletes and max_num_segments at the same time is deprecated and will be rejected in a future version",
        );
    }
    Ok(resp)
}

async fn flush(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    check_flush_params(&params)?;
    refresh_indices(resolve_with(&state, &expr, &params)?, true).await
}

async fn flush_all(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    check_flush_params(&params)?;
    refresh_indices(state.engine.list(), true).await
}

/// `force` and `wait_if_ongoing` change nothing (a flush never runs concurrently with another
/// here) but are validated as OpenSearch does.
fn check_flush_params(params: &HashMap<String, String>) -> Result<(), ApiError> {
    let force = flag(params, "force")?.unwrap_or(false);
    if force && flag(params, "wait_if_ongoing")? == Some(false) {
        return Err(EngineError::Validation("wait_if_ongoing must be true for a force flush".into()).into());
    }
    Ok(())
}

async fn refresh_indices(indices: Vec<std::sync::Arc<Index>>, flush: bool) -> Result<Response, ApiError> {
    // Shard counts as OpenSearch reports them: every primary succeeds, replicas are never
    // allocated on one node.
    let primaries: u64 = indices.iter().map(|i| i.settings().number_of_shards()).sum();
    let total: u64 = indices
        .iter()
        .map(|i| i.settings().number_of_shards() * (1 + i.settings().number_of_replicas()))
        .sum();
    blocking(move || {
        for index in indices {
            if flush { index.flush()? } else { index.refresh()? }
        }
        Ok(())
    })
    .await?;
    Ok(json_response(200, json!({ "_shards": { "total": total, "successful": primaries, "failed": 0 } })))
}

async fn refresh(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    refresh_indices(resolve_with(&state, &expr, &params)?, false).await
}

async fn refresh_all(State(state): State<AppState>) -> Result<Response, ApiError> {
    refresh_indices(state.engine.list(), false).await
}

/// The `_stats` metrics Quidditch computes, in OpenSearch's order.
const STATS_METRICS: [&str; 6] = ["docs", "store", "indexing", "flush", "segments", "translog"];
/// Every metric OpenSearch's `_stats` takes (an unknown one gets a "did you mean" from these).
const OPENSEARCH_STATS_METRICS: [&str; 18] = [
    "_all", "completion", "docs", "fielddata", "flush", "get", "indexing", "merge", "query_cache", "recovery",
    "refresh", "request_cache", "search", "segments", "store", "suggest", "translog", "warmer",
];

/// The metrics of `/_stats/{metric}` (comma-separated; none or `_all`: every computed one).
fn stats_metrics(path: &str, metric: Option<&str>) -> Result<Vec<&'static str>, ApiError> {
    let Some(metric) = metric else { return Ok(STATS_METRICS.to_vec()) };
    let asked: Vec<&str> = metric.split(',').map(str::trim).filter(|m| !m.is_empty()).collect();
    if let Some(unknown) = asked.iter().find(|m| !OPENSEARCH_STATS_METRICS.contains(m)) {
        let hint = super::params::did_you_mean(unknown, OPENSEARCH_STATS_METRICS.iter().copied());
        return Err(ApiError::illegal_argument(format!("request [{path}] contains unrecognized metric: {hint}")));
    }
    if asked.contains(&"_all") {
        if asked.len() > 1 {
            return Err(ApiError::illegal_argument(format!(
                "request [{path}] contains _all and individual metrics [{}]",
                asked.join(",")
            )));
        }
        return Ok(STATS_METRICS.to_vec());
    }
    if let Some(missing) = asked.iter().find(|m| !STATS_METRICS.contains(m)) {
        return Err(ApiError::illegal_argument(format!(
            "request [{path}] asks for the [{missing}] metric, which Quidditch does not compute (it computes [{}])",
            STATS_METRICS.join(", ")
        )));
    }
    Ok(STATS_METRICS.iter().copied().filter(|m| asked.contains(m)).collect())
}

/// The indices `_stats` reports on: wildcards reach open indices unless `expand_wildcards`
/// says otherwise, and a closed index is an error unless `forbid_closed_indices=false` (or
/// `ignore_unavailable`, which leaves it out), as OpenSearch's stats options.
fn stats_targets(state: &AppState, expr: &str, params: &HashMap<String, String>) -> Result<Vec<std::sync::Arc<Index>>, ApiError> {
    let expand = expand_wildcards(params, ExpandWildcards::OPEN)?;
    let ignore_unavailable = flag(params, "ignore_unavailable")?.unwrap_or(false);
    let indices = if ignore_unavailable { resolve_with(state, expr, params)? } else { state.engine.resolve_indices_expanding(expr, expand)? };
    if !flag(params, "forbid_closed_indices")?.unwrap_or(true) {
        return Ok(indices);
    }
    if !ignore_unavailable && let Some(closed) = indices.iter().find(|i| i.is_closed()) {
        return Err(EngineError::IndexClosed { index: closed.name().to_string() }.into());
    }
    Ok(indices.into_iter().filter(|i| !i.is_closed()).collect())
}

/// One shard's numbers for the asked metrics.
fn shard_metrics(s: &quidditch_engine::index::ShardStats, metrics: &[&str]) -> Value {
    let mut out = Map::new();
    for metric in metrics {
        let value = match *metric {
            "docs" => json!({ "count": s.docs, "deleted": s.deleted }),
            "store" => json!({ "size_in_bytes": s.store_bytes, "reserved_in_bytes": 0 }),
            "indexing" => json!({ "index_total": s.max_seq_no + 1 }),
            "segments" => json!({ "count": s.segments }),
            // Every flush is asked for: the WAL never forces one.
            "flush" => json!({ "total": s.flushes, "periodic": 0, "total_time_in_millis": 0 }),
            // The WAL is OpenSearch's translog: what it holds is exactly what is not yet
            // committed to tantivy (a commit truncates it).
            _ => json!({
                "operations": s.wal_operations,
                "size_in_bytes": s.wal_bytes,
                "uncommitted_operations": s.wal_operations,
                "uncommitted_size_in_bytes": s.wal_bytes,
            }),
        };
        out.insert(metric.to_string(), value);
    }
    Value::Object(out)
}

/// Adds every number of `v` into the same place of `acc` (shards into an index, indices
/// into `_all`).
fn add_stats(acc: &mut Value, v: &Value) {
    match (acc, v) {
        (Value::Object(a), Value::Object(b)) => {
            for (k, bv) in b {
                match a.get_mut(k) {
                    Some(av) => add_stats(av, bv),
                    None => {
                        a.insert(k.clone(), bv.clone());
                    }
                }
            }
        }
        (a @ Value::Number(_), Value::Number(b)) => {
            *a = json!(a.as_i64().unwrap_or(0) + b.as_i64().unwrap_or(0));
        }
        _ => {}
    }
}

/// `level=shards`: each primary's own numbers, keyed by shard number (replicas are never
/// allocated on one node, so each list has one entry).
fn shard_level_stats(shards: &[(quidditch_engine::index::ShardStats, Value)], node: &str) -> Value {
    let mut out = Map::new();
    for (s, metrics) in shards {
        let mut entry = json!({ "routing": { "state": "STARTED", "primary": true, "node": node } });
        add_stats(&mut entry, metrics);
        out.insert(s.shard.to_string(), json!([entry]));
    }
    Value::Object(out)
}

async fn stats_for(
    indices: Vec<std::sync::Arc<Index>>,
    params: HashMap<String, String>,
    metrics: Vec<&'static str>,
    node: String,
) -> Result<Response, ApiError> {
    let level = params.get("level").map(String::as_str).unwrap_or("indices");
    if !matches!(level, "cluster" | "indices" | "shards") {
        return Err(ApiError::illegal_argument(format!(
            "level parameter must be one of [cluster] or [indices] or [shards] but was [{level}]"
        )));
    }
    let level = level.to_string();
    let include_unloaded_segments = flag(&params, "include_unloaded_segments")?.unwrap_or(false);
    let body = blocking(move || {
        let mut per_index = Map::new();
        let mut all = json!({});
        let mut shards = 0u64;
        let mut primaries = 0u64;
        for index in &indices {
            let per_shard: Vec<_> = index
                .shard_stats()
                .into_iter()
                .map(|mut s| {
                    // A closed index has no segments loaded (OpenSearch's `include_unloaded_segments`).
                    if index.is_closed() && !include_unloaded_segments {
                        s.segments = 0;
                    }
                    let metrics = shard_metrics(&s, &metrics);
                    (s, metrics)
                })
                .collect();
            let mut sum = json!({});
            for (_, m) in &per_shard {
                add_stats(&mut sum, m);
            }
            if metrics.contains(&"store") {
                // The index's own files (meta.json) count too.
                sum["store"]["size_in_bytes"] = json!(index.store_size_bytes());
            }
            let settings = index.settings();
            shards += settings.number_of_shards() * (1 + settings.number_of_replicas());
            primaries += settings.number_of_shards();
            let mut entry = json!({ "uuid": index.uuid(), "primaries": sum, "total": sum });
            if level == "shards" {
                entry["shards"] = shard_level_stats(&per_shard, &node);
            }
            per_index.insert(index.name().to_string(), entry);
            add_stats(&mut all, &sum);
        }
        let mut body = json!({
            "_shards": { "total": shards, "successful": primaries, "failed": 0 },
            "_all": { "primaries": all, "total": all },
        });
        if level != "cluster" {
            body["indices"] = Value::Object(per_index);
        }
        Ok(body)
    })
    .await?;
    Ok(json_response(200, body))
}

async fn stats(State(state): State<AppState>, Path(expr): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    let indices = stats_targets(&state, &expr, &params)?;
    stats_for(indices, params, STATS_METRICS.to_vec(), state.node.name.clone()).await
}

async fn stats_all(State(state): State<AppState>, Query(params): Params) -> Result<Response, ApiError> {
    let indices = stats_targets(&state, "_all", &params)?;
    stats_for(indices, params, STATS_METRICS.to_vec(), state.node.name.clone()).await
}

async fn stats_metric(
    State(state): State<AppState>,
    Path((expr, metric)): Path<(String, String)>,
    Query(params): Params,
) -> Result<Response, ApiError> {
    let metrics = stats_metrics(&format!("/{expr}/_stats/{metric}"), Some(&metric))?;
    let indices = stats_targets(&state, &expr, &params)?;
    stats_for(indices, params, metrics, state.node.name.clone()).await
}

async fn stats_all_metric(State(state): State<AppState>, Path(metric): Path<String>, Query(params): Params) -> Result<Response, ApiError> {
    let metrics = stats_metrics(&format!("/_stats/{metric}"), Some(&metric))?;
    let indices = stats_targets(&state, "_all", &params)?;
    stats_for(indices, params, metrics, state.node.name.clone()).await
}
