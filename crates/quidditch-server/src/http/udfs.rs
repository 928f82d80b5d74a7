//! HTTP routes of the UDF management API (`/api/v1/udfs…`) and the Prometheus metrics.
//! Thin: parsing and response shaping here, everything else in `quidditch-udf`.

pub(super) mod inline;
pub(super) mod python;
pub(super) mod upload;

use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use base64::Engine as _;
use quidditch_udf::{AuditQuery, JsonDocument, LoadedUdf, UdfError, UdfMetadata};
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::params::{ApiParams, ApiRoutes};
use super::{AppState, ApiError, json_response, parse_json_body};

/// The fields of `ListQuery`, `VersionQuery` and `AuditParams`.
const LIST: ApiParams = ApiParams::new(&["category", "author", "tag", "language"]);
const VERSION: ApiParams = ApiParams::new(&["version"]);
/// `local`: this node's numbers only (what a cluster's nodes ask each other for).
const STATS: ApiParams = ApiParams::new(&["local"]);
const AUDIT: ApiParams = ApiParams::new(&["udf", "operation", "outcome", "since", "size"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/api/v1/udfs", get(list), &LIST)
        .route("/api/v1/udfs", axum::routing::post(upload::register), &ApiParams::HANDLER_VALIDATES)
        .route("/api/v1/udfs/_audit", get(audit), &AUDIT)
        .route("/api/v1/udfs/_runtime", get(runtime), &ApiParams::NONE)
        .route("/api/v1/udfs/{name}", get(get_udf), &VERSION)
        .route("/api/v1/udfs/{name}/versions", get(versions), &ApiParams::NONE)
        .route("/api/v1/udfs/{name}/stats", get(stats), &STATS)
        .route("/api/v1/udfs/{name}/test", axum::routing::post(test), &ApiParams::NONE)
        .route("/api/v1/udfs/{name}/_default", axum::routing::post(set_default), &ApiParams::NONE)
        .route("/api/v1/udfs/{name}/_rollback", axum::routing::post(roll_back_default), &ApiParams::NONE)
        .route("/api/v1/udfs/{name}/{version}", get(get_version).delete(delete), &ApiParams::NONE)
        .route("/_prometheus/metrics", get(metrics), &ApiParams::NONE)
        .route("/metrics", get(metrics), &ApiParams::NONE)
}

impl From<UdfError> for ApiError {
    fn from(e: UdfError) -> Self {
        let mut api = ApiError::new(e.status(), e.error_type(), e.to_string()).with("udf", e.udf.clone());
        if let Some(v) = &e.version {
            api = api.with("version", v.clone());
        }
        api.with("kind", serde_json::to_value(e.kind).unwrap_or(Value::Null))
    }
}

/// Who is calling, for the audit log; enforces the API key on write endpoints when one is set.
pub(crate) fn authorize(state: &AppState, headers: &HeaderMap, write: bool) -> Result<String, ApiError> {
    let auth = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).unwrap_or("");
    let presented = if let Some(k) = auth.strip_prefix("ApiKey ") {
        Some(("api_key".to_string(), k.trim().to_string()))
    } else if let Some(b) = auth.strip_prefix("Basic ") {
        base64::engine::general_purpose::STANDARD
            .decode(b.trim())
            .ok()
            .and_then(|d| String::from_utf8(d).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_string(), p.to_string())))
    } else {
        None
    };
    match (&state.config.api_key, presented) {
        (None, Some((who, _))) => Ok(who),
        (None, None) => Ok("anonymous".into()),
        (Some(_), _) if !write => Ok("anonymous".into()),
        (Some(key), Some((who, given))) if crate::security::constant_time_eq(key.as_bytes(), given.as_bytes()) => Ok(who),
        (Some(_), _) => Err(ApiError::new(
            401,
            "security_exception",
            "missing or wrong API key for a UDF write endpoint (send `Authorization: ApiKey <key>` or basic auth with the key as password)",
        )),
    }
}

/// Stored metadata plus the versions list, as every read endpoint shows it.
pub(crate) fn metadata_json(udf: &LoadedUdf) -> Value {
    let mut v = serde_json::to_value(&udf.metadata).unwrap_or(Value::Null);
    if let Some(obj) = v.as_object_mut() {
        obj.insert(
            "effective_limits".into(),
            serde_json::to_value(udf.limits).unwrap_or(Value::Null),
        );
    }
    v
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    category: Option<String>,
    author: Option<String>,
    tag: Option<String>,
    language: Option<String>,
}

async fn list(State(state): State<AppState>, Query(q): Query<ListQuery>) -> Result<Response, ApiError> {
    let matches = |m: &UdfMetadata| {
        q.category.as_ref().is_none_or(|c| &m.category == c)
            && q.author.as_ref().is_none_or(|a| &m.author == a)
            && q.tag.as_ref().is_none_or(|t| m.tags.contains(t))
            && q.language.as_ref().is_none_or(|l| {
                serde_json::to_value(m.language).ok().and_then(|v| v.as_str().map(|s| s.eq_ignore_ascii_case(l))) == Some(true)
            })
    };
    let udfs: Vec<Value> = state
        .udfs
        .list()
        .into_iter()
        .filter(|(latest, _)| matches(&latest.metadata))
        .map(|(latest, versions)| {
            let mut v = metadata_json(&latest);
            if let Some(o) = v.as_object_mut() {
                o.insert("versions".into(), json!(versions));
                insert_defaults(&state, o, latest.name());
            }
            v
        })
        .collect();
    Ok(json_response(200, json!({ "total": udfs.len(), "udfs": udfs })))
}

#[derive(Debug, Deserialize)]
struct VersionQuery {
    version: Option<String>,
}

async fn get_udf(
    State(state): State<AppState>,
    Path(name): Path<String>,
    Query(q): Query<VersionQuery>,
) -> Result<Response, ApiError> {
    let udf = state.udfs.resolve(&name, q.version.as_deref())?;
    let mut v = metadata_json(&udf);
    if let (Some(o), Ok(all)) = (v.as_object_mut(), state.udfs.versions(udf.name())) {
        o.insert("versions".into(), json!(all.iter().map(|u| u.version_str()).collect::<Vec<_>>()));
        insert_defaults(&state, o, udf.name());
    }
    Ok(json_response(200, v))
}

/// `default_version` (what queries without a version run), `pinned_version` and
/// `latest_version` of a UDF.
fn insert_defaults(state: &AppState, o: &mut Map<String, Value>, name: &str) {
    if let Ok(default) = state.udfs.resolve(name, None) {
        o.insert("default_version".into(), json!(default.version_str()));
    }
    o.insert("pinned_version".into(), json!(state.udfs.pinned_version(name)));
    if let Ok(all) = state.udfs.versions(name)
        && let Some(latest) = all.last()
    {
        o.insert("latest_version".into(), json!(latest.version_str()));
    }
}

/// `POST /api/v1/udfs/{name}/_default {"version": "1.2.0"}`: pins the version queries
/// without a version run.
async fn set_default(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let actor = authorize(&state, &headers, true)?;
    let body = parse_json_body(&body)?;
    let version = match &body {
        Some(Value::Object(o)) => {
            if let Some(k) = o.keys().find(|k| k.as_str() != "version") {
                return Err(ApiError::illegal_argument(format!(
                    "unknown field [{}] in a default-version request; expected {{\"version\": \"<semver>\"}}",
                    quidditch_udf::metadata::echo(k)
                )));
            }
            match o.get("version") {
                Some(Value::String(v)) => v.clone(),
                _ => return Err(ApiError::illegal_argument("[version] is required and must be a string, e.g. {\"version\": \"1.2.0\"}")),
            }
        }
        _ => return Err(ApiError::illegal_argument("the body must be {\"version\": \"<semver>\"}")),
    };
    let udfs = state.udfs.clone();
    let change = tokio::task::spawn_blocking(move || udfs.set_default(&name, &version, &actor))
        .await
        .map_err(|e| ApiError::internal(format!("default-version task failed: {e}")))??;
    Ok(json_response(200, json!({"acknowledged": true, "udf": change})))
}

/// `POST /api/v1/udfs/{name}/_rollback`: back to the default before the last change.
async fn roll_back_default(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let actor = authorize(&state, &headers, true)?;
    match parse_json_body(&body)? {
        None => {}
        Some(Value::Object(o)) => {
            if let Some(k) = o.keys().next() {
                let k = quidditch_udf::metadata::echo(k);
                return Err(ApiError::illegal_argument(format!("unknown field [{k}] in a rollback request")));
            }
        }
        Some(_) => return Err(ApiError::illegal_argument("a rollback takes no body (or {})")),
    }
    let udfs = state.udfs.clone();
    let change = tokio::task::spawn_blocking(move || udfs.roll_back_default(&name, &actor))
        .await
        .map_err(|e| ApiError::internal(format!("rollback task failed: {e}")))??;
    Ok(json_response(200, json!({"acknowledged": true, "udf": change})))
}

async fn get_version(State(state): State<AppState>, Path((name, version)): Path<(String, String)>) -> Result<Response, ApiError> {
    let udf = state.udfs.resolve(&name, Some(&version))?;
    Ok(json_response(200, metadata_json(&udf)))
}

async fn versions(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let all = state.udfs.versions(&name)?;
    let list: Vec<Value> = all.iter().rev().map(|u| metadata_json(u)).collect();
    Ok(json_response(200, json!({ "name": name, "versions": list })))
}

async fn delete(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path((name, version)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let actor = authorize(&state, &headers, true)?;
    if let Some(cluster) = &state.node.cluster {
        return delete_in_cluster(&state, cluster, name, version, actor).await;
    }
    let udfs = state.udfs.clone();
    let deleted = tokio::task::spawn_blocking(move || udfs.delete(&name, &version, &actor))
        .await
        .map_err(|e| ApiError::internal(format!("delete task failed: {e}")))??;
    Ok(json_response(
        200,
        json!({ "acknowledged": true, "name": deleted.name(), "version": deleted.version_str() }),
    ))
}

/// Cluster mode: the deletion is committed in etcd first (every node's registry then drops
/// the version), then done here at once rather than when the watch gets to it.
async fn delete_in_cluster(
    state: &AppState,
    cluster: &quidditch_cluster::Cluster,
    name: String,
    version: String,
    actor: String,
) -> Result<Response, ApiError> {
    let udf = state.udfs.resolve(&name, Some(&version))?;
    let version = udf.version_str().to_string();
    cluster.unpublish_udf(&name, &version).await?;
    let udfs = state.udfs.clone();
    let (n, v) = (name.clone(), version.clone());
    let local = tokio::task::spawn_blocking(move || udfs.delete(&n, &v, &actor))
        .await
        .map_err(|e| ApiError::internal(format!("delete task failed: {e}")))?;
    match local {
        Ok(_) => {}
        // The watch was quicker.
        Err(e) if e.kind == quidditch_udf::UdfErrorKind::NotFound => {}
        Err(e) => return Err(e.into()),
    }
    Ok(json_response(200, json!({ "acknowledged": true, "name": name, "version": version })))
}

#[derive(Debug, Deserialize)]
struct StatsQuery {
    local: Option<String>,
}

async fn stats(State(state): State<AppState>, Path(name): Path<String>, Query(q): Query<StatsQuery>) -> Result<Response, ApiError> {
    let local = state.udfs.stats_json(&name)?;
    let only_local = matches!(q.local.as_deref(), Some("" | "true"));
    match &state.node.cluster {
        Some(cluster) if !only_local => Ok(json_response(200, cluster_stats(&state, cluster, &name, local).await)),
        _ => Ok(json_response(200, local)),
    }
}

/// Cluster mode: every node's stats of the UDF, summed, with each node's own under `nodes`.
async fn cluster_stats(state: &AppState, cluster: &Arc<quidditch_cluster::Cluster>, name: &str, local: Value) -> Value {
    let path = format!("/api/v1/udfs/{name}/stats?local=true");
    let mut per_node = Map::new();
    let mut failures = Vec::new();
    let calls: Vec<_> = cluster
        .view()
        .nodes
        .into_values()
        .filter(|n| n.name != state.node.name)
        .map(|node| {
            let cluster = cluster.clone();
            let path = path.clone();
            tokio::spawn(async move {
                let answer = cluster.peers().get_json(&node, &path).await;
                (node.name, answer)
            })
        })
        .collect();
    per_node.insert(state.node.name.clone(), json!({ "versions": local["versions"].clone() }));
    for call in calls {
        match call.await {
            Ok((node, Ok(stats))) => {
                per_node.insert(node, json!({ "versions": stats["versions"].clone() }));
            }
            Ok((node, Err(e))) => failures.push(json!({ "node": node, "reason": e.to_string() })),
            Err(e) => failures.push(json!({ "reason": e.to_string() })),
        }
    }
    let summed = crate::udf_replication::sum_version_stats(per_node.values().map(|n| &n["versions"]));
    json!({
        "name": name,
        "stats_reset": local["stats_reset"],
        "versions": summed,
        "nodes": per_node,
        "_nodes": { "total": per_node.len() + failures.len(), "successful": per_node.len(), "failed": failures.len(), "failures": failures },
    })
}

async fn runtime(State(state): State<AppState>) -> Result<Response, ApiError> {
    let mut body = state.udfs.runtime_json();
    if let Some(o) = body.as_object_mut() {
        o.insert("python_compilations".into(), json!(python::COMPILATIONS.load(std::sync::atomic::Ordering::Relaxed)));
    }
    Ok(json_response(200, body))
}

#[derive(Debug, Deserialize)]
struct AuditParams {
    udf: Option<String>,
    operation: Option<String>,
    outcome: Option<String>,
    since: Option<String>,
    size: Option<usize>,
}

async fn audit(State(state): State<AppState>, Query(p): Query<AuditParams>) -> Result<Response, ApiError> {
    if let Some(since) = &p.since
        && time::OffsetDateTime::parse(since, &time::format_description::well_known::Rfc3339).is_err()
    {
        return Err(ApiError::illegal_argument(format!(
            "[since] must be an RFC 3339 time such as 2026-01-31T12:00:00Z, got [{since}]"
        )));
    }
    let q = AuditQuery { udf: p.udf, operation: p.operation, outcome: p.outcome, since: p.since, size: p.size };
    let udfs = state.udfs.clone();
    let entries = tokio::task::spawn_blocking(move || udfs.audit(&q))
        .await
        .map_err(|e| ApiError::internal(format!("audit task failed: {e}")))?;
    let mut entries = serde_json::to_value(&entries).unwrap_or(Value::Null);
    // Cluster mode: every node keeps its own log; each entry says which node recorded it.
    if state.node.cluster.is_some()
        && let Some(list) = entries.as_array_mut()
    {
        for entry in list.iter_mut().filter_map(Value::as_object_mut) {
            entry.insert("node".into(), json!(state.node.name));
        }
    }
    let total = entries.as_array().map_or(0, Vec::len);
    Ok(json_response(200, json!({ "total": total, "entries": entries })))
}

async fn metrics(State(state): State<AppState>) -> Response {
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")],
        state.udfs.prometheus(),
    )
        .into_response()
}

/// `POST /api/v1/udfs/{name}/test`: runs the UDF once on a document.
/// A write endpoint for the API key (it runs the UDF: CPU and instance slots), like upload
/// and delete.
async fn test(State(state): State<AppState>, headers: HeaderMap, Path(name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    authorize(&state, &headers, true)?;
    let body = parse_json_body(&body)?.unwrap_or_else(|| json!({}));
    let Value::Object(body) = body else {
        return Err(ApiError::bad_request("parse_exception", "the test request body must be a JSON object"));
    };
    let version = match body.get("version") {
        None | Some(Value::Null) => None,
        Some(Value::String(s)) => Some(s.clone()),
        Some(other) => Some(other.to_string()),
    };
    let document = body.get("document").cloned().unwrap_or_else(|| json!({}));
    if !document.is_object() {
        return Err(ApiError::illegal_argument("[document] must be a JSON object"));
    }
    let params = match body.get("parameters").or_else(|| body.get("params")) {
        None | Some(Value::Null) => Map::new(),
        Some(Value::Object(m)) => m.clone(),
        Some(_) => return Err(ApiError::illegal_argument("[parameters] must be a JSON object")),
    };
    let score = match body.get("score") {
        None | Some(Value::Null) => 1.0,
        Some(v) => v.as_f64().ok_or_else(|| ApiError::illegal_argument("[score] must be a number"))? as f32,
    };
    let id = body.get("id").and_then(Value::as_str).unwrap_or("test").to_string();

    let udf = state.udfs.resolve(&name, version.as_deref())?;
    let bound = udf.bind_params(&params)?;
    let exports = (udf.has_filter(), udf.has_score());
    let run = run_on_document(udf, bound, id, document, score, exports).await?;
    match run.outcome {
        Ok(result) => Ok(json_response(
            200,
            json!({
                "name": run.udf.name(),
                "version": run.udf.version_str(),
                "result": result,
                "duration_ns": run.took.as_nanos() as u64,
                "logs": run.logs,
                "logs_truncated": run.logs_truncated,
            }),
        )),
        Err(e) => Ok(run_failure(e, run.logs, run.logs_truncated, run.took)),
    }
}

/// One run of a UDF on one document (`/test`, `_scripts/wasm/_execute`).
pub(crate) struct DocumentRun {
    pub udf: Arc<LoadedUdf>,
    /// `{"filter": bool, "score": f64}`, as far as asked for.
    pub outcome: Result<Map<String, Value>, UdfError>,
    pub logs: Value,
    pub logs_truncated: bool,
    pub took: Duration,
}

/// Runs `filter` and/or `score` (`run.0`, `run.1`) once on `document` in a fresh instance,
/// on a blocking thread.
pub(crate) async fn run_on_document(
    udf: Arc<LoadedUdf>,
    bound: Arc<quidditch_udf::BoundParams>,
    id: String,
    document: Value,
    score: f32,
    run: (bool, bool),
) -> Result<DocumentRun, ApiError> {
    tokio::task::spawn_blocking(move || {
        let started = Instant::now();
        let deadline = started + Duration::from_millis(udf.limits.instance_wait_ms);
        let mut inst = match udf.instantiate(bound, deadline) {
            Ok(i) => i,
            Err(e) => {
                return DocumentRun { udf, outcome: Err(e), logs: json!([]), logs_truncated: false, took: started.elapsed() };
            }
        };
        inst.set_documents(Box::new(JsonDocument::new(id, document)));
        let mut result = Map::new();
        let mut outcome = Ok(());
        if run.0 {
            match inst.filter(0, score) {
                Ok(keep) => {
                    result.insert("filter".into(), Value::Bool(keep));
                }
                Err(e) => outcome = Err(e),
            }
        }
        if outcome.is_ok() && run.1 {
            match inst.score(0, score) {
                Ok(s) => {
                    result.insert("score".into(), json!(s));
                }
                Err(e) => outcome = Err(e),
            }
        }
        let (logs, logs_truncated) = inst.take_logs();
        drop(inst);
        let logs = serde_json::to_value(&logs).unwrap_or(Value::Null);
        DocumentRun { udf, outcome: outcome.map(|_| result), logs, logs_truncated, took: started.elapsed() }
    })
    .await
    .map_err(|e| ApiError::internal(format!("test task failed: {e}")))
}

/// A failed run: the UDF's fault, not the request's, so 422 (429 for the instance cap),
/// with the logs the call wrote.
pub(crate) fn run_failure(e: UdfError, logs: Value, truncated: bool, took: Duration) -> Response {
    let status = if e.status() == 429 { 429 } else { 422 };
    let mut api: ApiError = e.into();
    api.status = StatusCode::from_u16(status).unwrap_or(StatusCode::UNPROCESSABLE_ENTITY);
    let mut body = api.body();
    if let Some(o) = body.as_object_mut() {
        o.insert("logs".into(), logs);
        o.insert("logs_truncated".into(), Value::Bool(truncated));
        o.insert("duration_ns".into(), json!(took.as_nanos() as u64));
    }
    json_response(status, body)
}
