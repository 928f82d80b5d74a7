//! HTTP routes: document APIs — index, create, get, exists, delete, `_source`, `_update`,
//! `_mget` — and `_bulk` (in `documents/bulk.rs`).

mod bulk;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::Extension;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use quidditch_engine::search::source_filter::SourceFilter;
use quidditch_engine::{
    ExternalVersion, Index, OpType, Refresh, StoredDoc, UpdateRequest, VersionType, VersionedWrite, WriteOp, WriteResult,
};
use serde_json::{Map, Value, json};

use super::indices::{Params, blocking, flag, shards_json};
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};

/// Writes on one node: `timeout` and `wait_for_active_shards` never wait (primaries are always
/// active, replicas never allocated).
const INDEX: ApiParams = ApiParams::new(&[
    "require_alias", "op_type", "if_seq_no", "if_primary_term", "refresh", "routing", "timeout", "wait_for_active_shards",
    "version", "version_type",
])
.not_implemented(&["pipeline"]);

const CREATE: ApiParams = ApiParams::new(&["refresh", "routing", "timeout", "wait_for_active_shards", "version", "version_type"])
    .not_implemented(&["pipeline"]);

const DELETE: ApiParams = ApiParams::new(&[
    "if_seq_no", "if_primary_term", "refresh", "routing", "timeout", "wait_for_active_shards", "version", "version_type",
]);

const GET: ApiParams = ApiParams::new(&[
    "_source", "_source_includes", "_source_include", "_source_excludes", "_source_exclude",
    "refresh", "routing", "stored_fields", "version", "version_type", "realtime",
])
.not_implemented(&["preference"]);

const GET_SOURCE: ApiParams = ApiParams::new(&[
    "_source", "_source_includes", "_source_include", "_source_excludes", "_source_exclude",
    "refresh", "routing", "realtime",
])
.not_implemented(&["preference", "version", "version_type"]);

const UPDATE: ApiParams = ApiParams::new(&[
    "require_alias", "_source", "if_seq_no", "if_primary_term", "refresh", "retry_on_conflict", "routing", "timeout",
    "wait_for_active_shards",
])
.not_implemented(&["_source_excludes", "_source_includes", "lang"]);

const MGET: ApiParams = ApiParams::new(&[
    "_source", "_source_includes", "_source_include", "_source_excludes", "_source_exclude",
    "refresh", "routing", "stored_fields", "realtime",
])
.not_implemented(&["preference"]);

const BULK: ApiParams = ApiParams::new(&["require_alias", "refresh", "routing", "timeout", "wait_for_active_shards"])
    .not_implemented(&["_source", "_source_excludes", "_source_includes", "pipeline", "type"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/{index}/_doc", post(index_auto_id), &INDEX)
        .route("/{index}/_doc/{id}", put(index_with_id).post(index_with_id), &INDEX)
        .route("/{index}/_doc/{id}", get(get_doc).head(head_doc), &GET)
        .route("/{index}/_doc/{id}", delete(delete_doc), &DELETE)
        .route("/{index}/_create/{id}", put(create_doc).post(create_doc), &CREATE)
        .route("/{index}/_source/{id}", get(get_source).head(head_source), &GET_SOURCE)
        .route("/{index}/_update/{id}", post(update_doc), &UPDATE)
        .route("/_mget", get(mget_all).post(mget_all), &MGET)
        .route("/{index}/_mget", get(mget_index).post(mget_index), &MGET)
        .route("/_bulk", post(bulk::bulk_all).put(bulk::bulk_all), &BULK)
        .route("/{index}/_bulk", post(bulk::bulk_index).put(bulk::bulk_index), &BULK)
}

/// Parses `if_seq_no` / `if_primary_term`.
fn cas_params(params: &HashMap<String, String>) -> Result<(Option<i64>, Option<i64>), ApiError> {
    let num = |key: &str| -> Result<Option<i64>, ApiError> {
        params
            .get(key)
            .map(|v| {
                v.parse::<i64>()
                    .map_err(|_| ApiError::illegal_argument(format!("Failed to parse [{key}] with value [{v}] as a number")))
            })
            .transpose()
    };
    Ok((num("if_seq_no")?, num("if_primary_term")?))
}

/// `?version=` / `?version_type=` of a write, validated for that kind of write.
fn version_params(
    params: &HashMap<String, String>,
    write: VersionedWrite,
    compare_and_set: bool,
) -> Result<Option<ExternalVersion>, ApiError> {
    let version = params
        .get("version")
        .map(|v| {
            v.parse::<i64>()
                .map_err(|_| ApiError::illegal_argument(format!("Failed to parse long parameter [version] with value [{v}]")))
        })
        .transpose()?;
    let version_type = params.get("version_type").map(|t| VersionType::parse(t)).transpose()?;
    Ok(ExternalVersion::for_write(write, version, version_type, compare_and_set)?)
}

/// `?retry_on_conflict=N` is validated as OpenSearch does, and needs no retry loop here: an
/// update reads and writes its document under the shard's write lock, so no concurrent write
/// can slip between the two and cause the conflict the retries exist for.
fn check_retry_on_conflict(params: &HashMap<String, String>, if_seq_no: Option<i64>) -> Result<(), ApiError> {
    let Some(v) = params.get("retry_on_conflict") else { return Ok(()) };
    let retries = v
        .parse::<i32>()
        .map_err(|_| ApiError::illegal_argument(format!("Failed to parse [retry_on_conflict] with value [{v}] as a number")))?;
    if retries < 0 {
        return Err(validation("retry_on_conflict must be >= 0"));
    }
    if retries > 0 && if_seq_no.is_some() {
        return Err(validation("compare and write operations can not be retried"));
    }
    Ok(())
}

/// `?routing=`: the value that picks the document's shard instead of its id.
fn routing_param(params: &HashMap<String, String>) -> Option<String> {
    params.get("routing").filter(|r| !r.is_empty()).cloned()
}

pub(super) fn refresh_param(params: &HashMap<String, String>) -> Result<Refresh, ApiError> {
    Ok(Refresh::parse(params.get("refresh").map(String::as_str))?)
}

/// The body of a write response (also a `_bulk` item).
pub(super) fn write_result_json(index: &Index, r: &WriteResult) -> Value {
    let mut body = json!({
        "_index": index.name(),
        "_id": r.id,
        "_version": r.meta.version,
        "result": r.outcome.as_str(),
    });
    if r.forced_refresh {
        body["forced_refresh"] = json!(true);
    }
    body["_shards"] = shards_json(index, r.copies);
    body["_seq_no"] = json!(r.meta.seq_no);
    body["_primary_term"] = json!(r.meta.primary_term);
    body
}

/// Runs one write op against `index_name`: an index (auto-created for index/create/update)
/// or an alias (its write index, with its index routing when the request has none).
/// `?require_alias=true` makes a name that is not an alias an error.
async fn write_one(state: &AppState, index_name: String, op: WriteOp, params: &HashMap<String, String>, refresh: Refresh) -> Result<(Arc<Index>, WriteResult), ApiError> {
    let engine = state.engine.clone();
    let require_alias = flag(params, "require_alias")?.unwrap_or(false);
    let routing = routing_param(params);
    blocking(move || {
        let (index, routing) = match op {
            WriteOp::Delete { .. } => (engine.single_index(&index_name)?, routing),
            _ => {
                let (index, alias_routing) = engine.write_target(&index_name, require_alias)?;
                (index, routing.or(alias_routing))
            }
        };
        let mut results = index.write_routed(vec![(op, routing)], refresh)?;
        let result = results.pop().ok_or_else(|| ApiError::internal("write returned no result"))??;
        Ok((index, result))
    })
    .await
}

fn body_bytes(body: &Bytes) -> Result<Vec<u8>, ApiError> {
    // Validate here so malformed JSON is a 400 before anything else happens.
    match parse_json_body(body)? {
        Some(Value::Object(_)) => Ok(body.to_vec()),
        Some(_) => Err(ApiError::bad_request("mapper_parsing_exception", "failed to parse, document is not an object")),
        None => Err(ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: source is missing;")),
    }
}

async fn index_op(state: AppState, index: String, id: Option<String>, params: HashMap<String, String>, body: Bytes, force_create: bool) -> Result<Response, ApiError> {
    let source = body_bytes(&body)?;
    let op_type = match params.get("op_type").map(String::as_str) {
        _ if force_create => OpType::Create,
        // `POST /{index}/_doc` creates unless told otherwise (as OpenSearch's REST layer).
        None if id.is_none() => OpType::Create,
        None | Some("index") => OpType::Index,
        Some("create") => OpType::Create,
        Some(other) => return Err(ApiError::illegal_argument(format!("opType must be 'create' or 'index', found: [{other}]"))),
    };
    let (if_seq_no, if_primary_term) = cas_params(&params)?;
    let write = if op_type == OpType::Create { VersionedWrite::Create } else { VersionedWrite::Index { has_id: id.is_some() } };
    let version = version_params(&params, write, if_seq_no.is_some())?;
    let refresh = refresh_param(&params)?;
    let op = WriteOp::Index { id, source, op_type, if_seq_no, if_primary_term, version };
    let (index, r) = write_one(&state, index, op, &params, refresh).await?;
    Ok(json_response(r.outcome.status(), write_result_json(&index, &r)))
}

async fn index_with_id(State(state): State<AppState>, Path((index, id)): Path<(String, String)>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    index_op(state, index, Some(id), params, body, false).await
}

async fn index_auto_id(
    State(state): State<AppState>,
    Path(index): Path<String>,
    assigned: Option<Extension<super::forwarding::AssignedId>>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    match assigned {
        // Cluster mode: the id the shard was chosen by; created, never overwriting, as an
        // auto id.
        Some(Extension(super::forwarding::AssignedId(id))) => index_op(state, index, Some(id), params, body, true).await,
        None => index_op(state, index, None, params, body, false).await,
    }
}

async fn create_doc(State(state): State<AppState>, Path((index, id)): Path<(String, String)>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    index_op(state, index, Some(id), params, body, true).await
}

async fn delete_doc(State(state): State<AppState>, Path((index, id)): Path<(String, String)>, Query(params): Params) -> Result<Response, ApiError> {
    let (if_seq_no, if_primary_term) = cas_params(&params)?;
    let version = version_params(&params, VersionedWrite::Delete, if_seq_no.is_some())?;
    let refresh = refresh_param(&params)?;
    let op = WriteOp::Delete { id, if_seq_no, if_primary_term, version };
    let (index, r) = write_one(&state, index, op, &params, refresh).await?;
    Ok(json_response(r.outcome.status(), write_result_json(&index, &r)))
}

/// The `_source` filter of a GET / `_mget` / `_source` request from its URL parameters
/// (`_source`, `_source_includes`, `_source_excludes` and their singular aliases). Filtering
/// itself is the engine's, shared with `_search`.
fn source_filter_from_params(params: &HashMap<String, String>) -> SourceFilter {
    let list = |k: &str| -> Vec<String> {
        params
            .get(k)
            .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
            .unwrap_or_default()
    };
    let mut f = match params.get("_source").map(String::as_str) {
        None | Some("") => SourceFilter::default(),
        Some(value) => SourceFilter::parse_param(value),
    };
    f.includes.extend(list("_source_includes"));
    f.includes.extend(list("_source_include"));
    f.excludes.extend(list("_source_excludes"));
    f.excludes.extend(list("_source_exclude"));
    f
}

/// The filter of an `_mget` doc's or an update's `_source` (bool, `"true"`/`"false"`, a pattern
/// string or list, `{includes, excludes}`); `default` when absent.
fn source_filter_from_json(value: Option<&Value>, default: &SourceFilter) -> Result<SourceFilter, ApiError> {
    match value {
        None => Ok(default.clone()),
        Some(Value::String(s)) => Ok(SourceFilter::parse_param(s)),
        Some(v) => SourceFilter::parse(v).map_err(ApiError::from),
    }
}

/// `source_filter_from_params`, with `stored_fields`: a list without `_source` replaces the
/// source unless `_source` is asked for explicitly (get and mget).
fn source_filter_from_get_params(params: &HashMap<String, String>) -> SourceFilter {
    let mut filter = source_filter_from_params(params);
    if let Some(names) = params.get("stored_fields") {
        filter.enabled = names.split(',').any(|n| n.trim() == "_source") || params.contains_key("_source");
    }
    filter
}

fn filtered_source(filter: &SourceFilter, doc: &StoredDoc) -> Option<Value> {
    filter.apply(doc.source_json())
}

/// The GET response for a document (found or not).
pub(super) fn get_result_json(index_name: &str, id: &str, doc: Option<&StoredDoc>, filter: &SourceFilter) -> Value {
    match doc {
        None => json!({ "_index": index_name, "_id": id, "found": false }),
        Some(d) => {
            let mut body = json!({
                "_index": index_name,
                "_id": id,
                "_version": d.meta.version,
                "_seq_no": d.meta.seq_no,
                "_primary_term": d.meta.primary_term,
            });
            if let Some(routing) = &d.routing {
                body["_routing"] = json!(routing);
            }
            body["found"] = json!(true);
            if let Some(src) = filtered_source(filter, d) {
                body["_source"] = src;
            }
            body
        }
    }
}

async fn fetch(state: &AppState, index: &str, id: String, params: &HashMap<String, String>) -> Result<(Arc<Index>, Option<StoredDoc>), ApiError> {
    let index = state.engine.single_index(index)?;
    let refresh = flag(params, "refresh")?.unwrap_or(false);
    let realtime = flag(params, "realtime")?.unwrap_or(true);
    let routing = routing_param(params);
    blocking(move || {
        if refresh {
            index.refresh()?;
        }
        let doc = index.get_routed(&id, routing.as_deref(), realtime)?;
        Ok((index, doc))
    })
    .await
}

async fn get_doc(State(state): State<AppState>, Path((index, id)): Path<(String, String)>, Query(params): Params) -> Result<Response, ApiError> {
    let (index, doc) = fetch(&state, &index, id.clone(), &params).await?;
    let filter = source_filter_from_get_params(&params);
    let stored: Option<Vec<String>> = params
        .get("stored_fields")
        .map(|v| v.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect());
    // Reads compare versions for equality whatever the version type.
    if let Some(t) = params.get("version_type") {
        VersionType::parse(t)?;
    }
    if let (Some(want), Some(d)) = (params.get("version"), &doc) {
        let want: i64 = want
            .parse()
            .map_err(|_| ApiError::illegal_argument(format!("Failed to parse [version] with value [{want}] as a number")))?;
        if want != d.meta.version {
            return Err(ApiError::new(
                409,
                "version_conflict_engine_exception",
                format!("[{id}]: version conflict, current version [{}] is different than the one provided [{want}]", d.meta.version),
            )
            .with("index", index.name())
            .with("shard", "0"));
        }
    }
    let status = if doc.is_some() { 200 } else { 404 };
    let mut body = get_result_json(index.name(), &id, doc.as_ref(), &filter);
    if let (Some(names), Some(d)) = (stored, &doc) {
        let source = d.source_json();
        let mut fields = Map::new();
        for name in names.iter().filter(|n| *n != "_source") {
            let mut values = Vec::new();
            collect_path(&source, name, &mut values);
            if !values.is_empty() {
                fields.insert(name.clone(), Value::Array(values));
            }
        }
        if !fields.is_empty() {
            body["fields"] = Value::Object(fields);
        }
    }
    Ok(json_response(status, body))
}

/// Leaf values at a dotted path of a JSON document (arrays flattened).
fn collect_path(v: &Value, path: &str, out: &mut Vec<Value>) {
    match v {
        Value::Array(items) => items.iter().for_each(|i| collect_path(i, path, out)),
        Value::Object(obj) => {
            if let Some(x) = obj.get(path) {
                collect_path(x, "", out);
                return;
            }
            if let Some((head, rest)) = path.split_once('.') {
                if let Some(x) = obj.get(head) {
                    collect_path(x, rest, out);
                }
            }
        }
        Value::Null => {}
        leaf if path.is_empty() => out.push(leaf.clone()),
        _ => {}
    }
}

async fn head_doc(State(state): State<AppState>, Path((index, id)): Path<(String, String)>, Query(params): Params) -> Response {
    match fetch(&state, &index, id, &params).await {
        Ok((_, Some(_))) => StatusCode::OK.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn get_source(State(state): State<AppState>, Path((index, id)): Path<(String, String)>, Query(params): Params) -> Result<Response, ApiError> {
    let (index, doc) = fetch(&state, &index, id.clone(), &params).await?;
    // `_source=false` cannot hide the body of a `_source` request: only includes/excludes apply.
    let filter = SourceFilter { enabled: true, ..source_filter_from_params(&params) };
    match doc {
        Some(d) => Ok(json_response(200, filtered_source(&filter, &d).unwrap_or_default())),
        None => Err(ApiError::not_found(
            "resource_not_found_exception",
            format!("Document not found [{}]/[_doc]/[{id}]", index.name()),
        )),
    }
}

async fn head_source(State(state): State<AppState>, Path((index, id)): Path<(String, String)>, Query(params): Params) -> Response {
    head_doc(State(state), Path((index, id)), Query(params)).await
}

/// Parses an `_update` body into an engine request.
pub(super) fn parse_update(body: &Value) -> Result<UpdateRequest, ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: script or doc is missing;"))?;
    if obj.contains_key("script") {
        return Err(ApiError::illegal_argument(
            "scripted updates are not supported by Quidditch; use a partial [doc]",
        ));
    }
    for key in obj.keys() {
        if !matches!(key.as_str(), "doc" | "upsert" | "doc_as_upsert" | "detect_noop" | "_source" | "scripted_upsert") {
            return Err(ApiError::bad_request("x_content_parse_exception", format!("[UpdateRequest] unknown field [{key}]")));
        }
    }
    let doc = obj.get("doc").cloned();
    if let Some(d) = &doc {
        if !d.is_object() {
            return Err(ApiError::bad_request("x_content_parse_exception", "[UpdateRequest] failed to parse field [doc]"));
        }
    }
    let upsert = obj.get("upsert").cloned();
    if doc.is_none() && upsert.is_none() {
        return Err(ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: script or doc is missing;"));
    }
    let bool_of = |k: &str, default: bool| obj.get(k).and_then(Value::as_bool).unwrap_or(default);
    Ok(UpdateRequest {
        doc,
        upsert,
        doc_as_upsert: bool_of("doc_as_upsert", false),
        detect_noop: bool_of("detect_noop", true),
    })
}

async fn update_doc(State(state): State<AppState>, Path((index, id)): Path<(String, String)>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?
        .ok_or_else(|| ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: script or doc is missing;"))?;
    let request = parse_update(&body)?;
    let (if_seq_no, if_primary_term) = cas_params(&params)?;
    check_retry_on_conflict(&params, if_seq_no)?;
    let refresh = refresh_param(&params)?;
    let source_filter = body.get("_source").cloned().or_else(|| params.get("_source").map(|s| json!(s)));
    let op = WriteOp::Update { id, request, if_seq_no, if_primary_term };
    let (index, r) = write_one(&state, index, op, &params, refresh).await?;
    let mut out = write_result_json(&index, &r);
    if let (Some(f), Some(src)) = (source_filter, &r.source) {
        let filter = source_filter_from_json(Some(&f), &SourceFilter::default())?;
        let doc = StoredDoc { id: r.id.clone(), meta: r.meta, source: src.clone(), routing: None };
        if let Some(v) = filtered_source(&filter, &doc) {
            out["get"] = json!({ "_seq_no": r.meta.seq_no, "_primary_term": r.meta.primary_term, "found": true, "_source": v });
        }
    }
    Ok(json_response(r.outcome.status(), out))
}

fn validation(reason: &str) -> ApiError {
    ApiError::bad_request("action_request_validation_exception", format!("Validation Failed: 1: {reason};"))
}

/// The keys of an `_mget` `docs` entry (OpenSearch 2 dropped `_routing` and `_version`).
const MGET_DOC_KEYS: &[&str] = &["_index", "_id", "routing", "_source", "stored_fields"];

async fn mget(state: AppState, default_index: Option<String>, params: HashMap<String, String>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?.unwrap_or_else(|| json!({}));
    let default_filter = source_filter_from_get_params(&params);
    // (index, id, routing, filter)
    let mut requests: Vec<(String, String, Option<String>, SourceFilter)> = Vec::new();
    let default_routing = routing_param(&params);
    let id_str = |v: &Value| match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    };
    if let Some(docs) = body.get("docs") {
        let docs = docs.as_array().ok_or_else(|| ApiError::bad_request("parsing_exception", "[docs] must be an array"))?;
        for d in docs {
            if let Some(key) = d.as_object().and_then(|o| o.keys().find(|k| !MGET_DOC_KEYS.contains(&k.as_str()))) {
                return Err(ApiError::bad_request("parse_exception", format!("failed to parse multi get request. unknown field [{key}]")));
            }
            let index = d.get("_index").and_then(Value::as_str).map(str::to_string).or_else(|| default_index.clone());
            let Some(index) = index else { return Err(validation("index is missing for doc 0")) };
            let Some(id) = d.get("_id").and_then(id_str) else { return Err(validation("id is missing for doc 0")) };
            let routing = d.get("routing").and_then(id_str).or_else(|| default_routing.clone());
            requests.push((index, id, routing, source_filter_from_json(d.get("_source"), &default_filter)?));
        }
    } else if let Some(ids) = body.get("ids") {
        let ids = ids.as_array().ok_or_else(|| ApiError::bad_request("parsing_exception", "[ids] must be an array"))?;
        let Some(index) = default_index.clone() else { return Err(validation("index is missing for doc 0")) };
        for id in ids {
            let Some(id) = id_str(id) else { return Err(validation("id is missing for doc 0")) };
            requests.push((index.clone(), id, default_routing.clone(), default_filter.clone()));
        }
    }
    if requests.is_empty() {
        return Err(validation("no documents to get"));
    }
    let engine = state.engine.clone();
    let refresh = flag(&params, "refresh")?.unwrap_or(false);
    let realtime = flag(&params, "realtime")?.unwrap_or(true);
    let docs = blocking(move || {
        let mut out = Vec::with_capacity(requests.len());
        for (index_name, id, routing, filter) in requests {
            let item = match engine.single_index(&index_name) {
                Err(e) => {
                    let err: ApiError = e.into();
                    json!({ "_index": index_name, "_id": id, "found": false, "error": err.error_object() })
                }
                Ok(index) => {
                    if refresh {
                        index.refresh()?;
                    }
                    match index.get_routed(&id, routing.as_deref(), realtime) {
                        Ok(doc) => get_result_json(index.name(), &id, doc.as_ref(), &filter),
                        Err(e) => {
                            let err: ApiError = e.into();
                            json!({ "_index": index_name, "_id": id, "error": err.error_object() })
                        }
                    }
                }
            };
            out.push(item);
        }
        Ok(out)
    })
    .await?;
    Ok(json_response(200, json!({ "docs": docs })))
}

async fn mget_all(State(state): State<AppState>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    mget(state, None, params, body).await
}

async fn mget_index(State(state): State<AppState>, Path(index): Path<String>, Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    mget(state, Some(index), params, body).await
}

/// Used by `bulk.rs` to describe an item error with the index it concerns.
pub(super) fn item_error(index: &str, id: Option<&str>, err: &ApiError) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("_index".into(), json!(index));
    if let Some(id) = id {
        m.insert("_id".into(), json!(id));
    }
    m.insert("status".into(), json!(err.status.as_u16()));
    m.insert("error".into(), err.error_object());
    m
}
