//! Cluster mode: writes and GETs by id reach the node holding the document's shard.
//!
//! Any node accepts them. A middleware routes each one as the engine would (the shard of the
//! id, or of `routing`) and looks up the shard's node in the manager's allocation: a shard
//! held here is served here; one held elsewhere is forwarded to that node over the
//! node-to-node API (the same HTTP request, marked with [`FORWARDED_HEADER`] so the holder
//! serves it itself) and its answer is returned as it is. `POST /{index}/_doc` gets its id
//! here first, so its shard is known. `_bulk` is split per node: each node gets one `_bulk`
//! with its items (auto ids given here), the answers are merged back into the original order.
//! `_mget` is split likewise (`mget.rs`); the by-query APIs run on every node holding some
//! shard (`by_query.rs`). A holder that is not a live member, or does not
//! answer, fails its requests (its bulk items, its docs) with 503 naming it: nothing is
//! dropped silently.
//!
//! Requests for indices this node does not know, or before the manager allocated an index,
//! are served here as on one node.

mod by_query;
mod mget;

use std::collections::BTreeMap;

use axum::body::{Body, Bytes, to_bytes};
use axum::extract::State;
use axum::http::{HeaderValue, Method, Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use quidditch_cluster::{Cluster, FORWARDED_HEADER, NodeInfo, SECRET_HEADER};
use quidditch_engine::index::generate_id;
use serde_json::{Map, Value, json};

use super::{ApiError, AppState, json_response};

/// Where a request for one shard goes.
enum Holder {
    Here,
    Node(NodeInfo),
    /// The shard's node is not a live member (or the shard was never allocated).
    Down { index: String, shard: u32, node: Option<String> },
}

impl Holder {
    fn down_error(index: &str, shard: u32, node: &Option<String>) -> ApiError {
        let reason = match node {
            Some(n) => format!("[{index}][{shard}] primary shard is not active: its node [{n}] is not a member of the cluster"),
            None => format!("[{index}][{shard}] primary shard is not allocated to any node"),
        };
        let error = ApiError::new(503, "unavailable_shards_exception", reason).with("index", index).with("shard", shard.to_string());
        match node {
            Some(n) => error.with("node", n.clone()),
            None => error,
        }
    }
}

/// The node holding the shard `routing` (or `id`) of `index` points to; `None` when this node
/// serves the request as a single node would (unknown index, no allocation yet).
fn holder(state: &AppState, cluster: &Cluster, index: &str, key: &str) -> Option<Holder> {
    let index = state.engine.index(index).ok()?;
    let allocation = cluster.allocation(index.name()).filter(|a| a.uuid == index.uuid())?;
    let shard = index.shard_for(key);
    let node = allocation.node_of(shard).map(str::to_string);
    if node.as_deref() == Some(cluster.local().name.as_str()) {
        return Some(Holder::Here);
    }
    match node.as_ref().and_then(|n| cluster.view().nodes.get(n).cloned()) {
        Some(member) => Some(Holder::Node(member)),
        None => Some(Holder::Down { index: index.name().to_string(), shard, node }),
    }
}

/// Node-to-node calls must carry the cluster secret when one is configured.
pub async fn node_to_node_auth(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    if let Some(cluster) = &state.node.cluster {
        let internal = req.uri().path().starts_with(super::shard_phases::INTERNAL_PREFIX);
        let forwarded = req.headers().contains_key(FORWARDED_HEADER);
        let presented = req.headers().get(SECRET_HEADER).and_then(|v| v.to_str().ok());
        if (internal || forwarded) && !cluster.peers().accepts(presented) {
            return ApiError::new(401, "security_exception", "node-to-node call without the cluster secret").into_response();
        }
    }
    next.run(req).await
}

/// The middleware: routes single-document requests and `_bulk` to the shards' nodes.
pub async fn route_to_shards(State(state): State<AppState>, req: Request<Body>, next: Next) -> Response {
    let Some(cluster) = state.node.cluster.clone() else { return next.run(req).await };
    if req.headers().contains_key(FORWARDED_HEADER) {
        return next.run(req).await;
    }
    let segments: Vec<String> = req.uri().path().trim_matches('/').split('/').map(decode).collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    if writes_documents(req.method(), &segs)
        && let Err(e) = cluster.ensure_etcd().await
    {
        return ApiError::from(e).into_response();
    }
    match (req.method().clone(), segs.as_slice()) {
        (_, [index, "_doc" | "_create" | "_update" | "_source" | "_explain" | "_termvectors", id]) if !index.starts_with('_') => {
            let key = query_param(&req, "routing").unwrap_or_else(|| id.to_string());
            match holder(&state, &cluster, index, &key) {
                None | Some(Holder::Here) => next.run(req).await,
                Some(Holder::Down { index, shard, node }) => Holder::down_error(&index, shard, &node).into_response(),
                Some(Holder::Node(node)) => forward(&cluster, &node, req).await,
            }
        }
        (Method::POST, [index, "_doc"]) if !index.starts_with('_') => {
            // The id is given here, so the document's shard (and node) is known.
            let id = generate_id();
            let key = query_param(&req, "routing").unwrap_or_else(|| id.clone());
            match holder(&state, &cluster, index, &key) {
                None => next.run(req).await,
                Some(Holder::Here) => {
                    // This layer runs after routing: the auto-id handler takes the id from
                    // the request instead of making its own.
                    let mut req = req;
                    req.extensions_mut().insert(AssignedId(id));
                    next.run(req).await
                }
                Some(Holder::Down { index, shard, node }) => Holder::down_error(&index, shard, &node).into_response(),
                Some(Holder::Node(node)) => {
                    // The holder routes it itself: as `PUT …/_doc/{id}?op_type=create`.
                    let query = req.uri().query().map(|q| format!("{q}&op_type=create")).unwrap_or_else(|| "op_type=create".into());
                    let path = format!("{}/{}?{query}", req.uri().path().trim_end_matches('/'), id);
                    let (mut parts, body) = req.into_parts();
                    parts.method = Method::PUT;
                    parts.uri = match path.parse() {
                        Ok(uri) => uri,
                        Err(_) => return ApiError::internal("cannot build the document's URI").into_response(),
                    };
                    forward(&cluster, &node, Request::from_parts(parts, body)).await
                }
            }
        }
        (Method::POST | Method::PUT, ["_bulk"]) => bulk(&state, &cluster, None, req, next).await,
        (Method::POST | Method::PUT, [index, "_bulk"]) if !index.starts_with('_') => {
            let index = index.to_string();
            bulk(&state, &cluster, Some(index), req, next).await
        }
        // Every node holds some shards: a refresh or flush is every node's.
        (Method::POST | Method::GET, ["_refresh" | "_flush"]) | (Method::POST | Method::GET, [_, "_refresh" | "_flush"]) => {
            broadcast(&cluster, req, next).await
        }
        (Method::GET | Method::POST, ["_mget"]) => mget::mget(&state, &cluster, None, req, next).await,
        (Method::GET | Method::POST, [index, "_mget"]) if !index.starts_with('_') => {
            let index = index.to_string();
            mget::mget(&state, &cluster, Some(index), req, next).await
        }
        (Method::POST, [index, what @ ("_delete_by_query" | "_update_by_query")]) if spans_nodes(&state, &cluster, index) => {
            let (index, what) = (index.to_string(), what.to_string());
            by_query::by_query(&state, &cluster, &index, &what, req, next).await
        }
        // Reads of many documents that are not distributed yet: refused rather than answered
        // from this node's shards only.
        (_, [index, what @ ("_termvectors" | "_mtermvectors")])
            if spans_nodes(&state, &cluster, index) =>
        {
            not_distributed(&format!("[{what}]"))
        }
        (_, [index, "_search", "point_in_time"]) if spans_nodes(&state, &cluster, index) => not_distributed("[point_in_time]"),
        _ => next.run(req).await,
    }
}

/// Document writes: refused while etcd is out of reach (the shard allocation may have changed
/// meanwhile, and a dynamic field could not be committed).
fn writes_documents(method: &Method, segs: &[&str]) -> bool {
    if matches!(*method, Method::GET | Method::HEAD) {
        return false;
    }
    match segs {
        [index, "_doc" | "_create" | "_update", _] | [index, "_doc"] => !index.starts_with('_'),
        [.., "_bulk" | "_delete_by_query" | "_update_by_query"] => true,
        _ => false,
    }
}

/// Runs `req` here and on every other live node; the answer is this node's, unless another
/// node failed (then that node's error, naming it).
async fn broadcast(cluster: &Cluster, req: Request<Body>, next: Next) -> Response {
    let path = path_and_query(req.uri());
    let method = req.method().as_str().to_string();
    let local = next.run(req).await;
    if !local.status().is_success() {
        return local;
    }
    let me = cluster.local().name.clone();
    for node in cluster.view().nodes.into_values().filter(|n| n.name != me) {
        match cluster.peers().send(&node, &method, &path, None).await {
            Ok(answer) if (200..300).contains(&answer.status) => {}
            Ok(answer) => return raw_json(answer.status, answer.body.into()),
            Err(e) => return ApiError::from(e).into_response(),
        }
    }
    local
}

fn not_distributed(what: &str) -> Response {
    super::search::not_across_nodes(what).into_response()
}

/// Whether some index `expr` names has shards on other nodes.
fn spans_nodes(state: &AppState, cluster: &Cluster, expr: &str) -> bool {
    let local = cluster.local().name.as_str();
    state.engine.resolve_indices_lenient(expr).iter().any(|index| {
        cluster
            .allocation(index.name())
            .filter(|a| a.uuid == index.uuid())
            .is_some_and(|a| a.shards.iter().any(|n| n.as_deref() != Some(local)))
    })
}

/// A percent-encoded URL part, decoded (`+` stays: path segments keep it).
fn decode(part: &str) -> String {
    let bytes = part.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| (b as char).to_digit(16);
        match (bytes[i], bytes.get(i + 1).copied().and_then(hex), bytes.get(i + 2).copied().and_then(hex)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b, _, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A query-string parameter, decoded; `None` when absent or empty.
fn param_of(query: Option<&str>, name: &str) -> Option<String> {
    query?
        .split('&')
        .filter_map(|pair| pair.split_once('=').or(Some((pair, ""))))
        .find(|(k, _)| decode(k) == name)
        .map(|(_, v)| decode(&v.replace('+', " ")))
        .filter(|v| !v.is_empty())
}

fn query_param(req: &Request<Body>, name: &str) -> Option<String> {
    param_of(req.uri().query(), name)
}

/// The id this node gave a `POST /{index}/_doc` whose shard it holds (a request extension the
/// auto-id handler reads).
#[derive(Debug, Clone)]
pub(super) struct AssignedId(pub String);

/// A request's path and query, as sent on to another node.
fn path_and_query(uri: &axum::http::Uri) -> String {
    uri.path_and_query().map_or_else(|| uri.path().to_string(), |p| p.as_str().to_string())
}

/// The whole body of a request this layer splits or sends on; a 400 when it cannot be read.
async fn read_body(body: Body) -> Result<Bytes, Response> {
    to_bytes(body, usize::MAX)
        .await
        .map_err(|e| ApiError::bad_request("parse_exception", format!("cannot read the request body: {e}")).into_response())
}

/// Runs the request `parts` here with another body (this node's part of a split request);
/// its status and body.
async fn run_here(parts: &axum::http::request::Parts, body: Vec<u8>, next: Next) -> (u16, Bytes) {
    let mut parts = parts.clone();
    parts.headers.remove(header::CONTENT_LENGTH);
    let response = next.run(Request::from_parts(parts, Body::from(body))).await;
    let status = response.status().as_u16();
    (status, to_bytes(response.into_body(), usize::MAX).await.unwrap_or_default())
}

/// Sends `req` to `node` as it is and answers with the node's answer.
async fn forward(cluster: &Cluster, node: &NodeInfo, req: Request<Body>) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let path = path_and_query(&parts.uri);
    let content_type =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
    let body = (!bytes.is_empty() || parts.method == Method::PUT || parts.method == Method::POST).then(|| (content_type, bytes.to_vec()));
    match cluster.peers().send(node, parts.method.as_str(), &path, body).await {
        Ok(answer) => {
            let mut response = Response::new(Body::from(answer.body));
            *response.status_mut() = axum::http::StatusCode::from_u16(answer.status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
            if let Some(ct) = answer.content_type.and_then(|c| HeaderValue::from_str(&c).ok()) {
                response.headers_mut().insert(header::CONTENT_TYPE, ct);
            }
            response
        }
        Err(e) => ApiError::from(e).into_response(),
    }
}

/// One `_bulk` item: its action line (with an id given here when it had none), its source
/// line (none for `delete`), and where it goes.
struct BulkItem {
    action: String,
    index: Option<String>,
    id: Option<String>,
    routing: Option<String>,
    lines: Vec<Bytes>,
}

/// Splits a `_bulk` body into items; `None` when it is not well formed (the local handler
/// then answers with the proper error).
fn split_bulk(body: &Bytes, default_index: Option<&str>) -> Option<Vec<BulkItem>> {
    let mut lines = body.split(|b| *b == b'\n').filter(|l| !l.iter().all(u8::is_ascii_whitespace));
    let mut items = Vec::new();
    while let Some(line) = lines.next() {
        let mut action: Map<String, Value> = serde_json::from_slice(line).ok()?;
        if action.len() != 1 {
            return None;
        }
        let (op, meta) = action.iter_mut().next()?;
        let op = op.clone();
        let meta = meta.as_object_mut()?;
        let index = meta.get("_index").and_then(Value::as_str).map(str::to_string).or(default_index.map(str::to_string));
        let mut id = meta.get("_id").and_then(Value::as_str).map(str::to_string);
        if id.is_none() && matches!(op.as_str(), "index" | "create") {
            let given = generate_id();
            meta.insert("_id".into(), json!(given));
            id = Some(given);
        }
        let routing = meta.get("routing").or_else(|| meta.get("_routing")).and_then(Value::as_str).map(str::to_string);
        let mut item_lines = vec![Bytes::from(serde_json::to_vec(&action).ok()?)];
        if op != "delete" {
            item_lines.push(Bytes::copy_from_slice(lines.next()?));
        }
        items.push(BulkItem { action: op, index, id, routing, lines: item_lines });
    }
    Some(items)
}

/// `_bulk` in cluster mode: one `_bulk` per node holding some item's shard, answers merged in
/// the original order.
async fn bulk(state: &AppState, cluster: &Cluster, default_index: Option<String>, req: Request<Body>, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let default_routing = param_of(parts.uri.query(), "routing");
    let Some(items) = split_bulk(&bytes, default_index.as_deref()) else {
        return next.run(Request::from_parts(parts, Body::from(bytes))).await;
    };
    // Per destination (None: here), the positions of its items.
    let mut groups: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    let mut nodes: BTreeMap<String, NodeInfo> = BTreeMap::new();
    let mut failed: Vec<(usize, ApiError)> = Vec::new();
    for (pos, item) in items.iter().enumerate() {
        let key = item.routing.clone().or_else(|| default_routing.clone()).or_else(|| item.id.clone());
        let target = match (&item.index, key) {
            (Some(index), Some(key)) => holder(state, cluster, index, &key),
            _ => None,
        };
        match target {
            None | Some(Holder::Here) => groups.entry(None).or_default().push(pos),
            Some(Holder::Node(node)) => {
                groups.entry(Some(node.name.clone())).or_default().push(pos);
                nodes.insert(node.name.clone(), node);
            }
            Some(Holder::Down { index, shard, node }) => failed.push((pos, Holder::down_error(&index, shard, &node))),
        }
    }
    let body_of = |positions: &[usize]| {
        let mut out = Vec::new();
        for pos in positions {
            for line in &items[*pos].lines {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
        out
    };
    let path = path_and_query(&parts.uri);
    let mut answers: Vec<Option<Value>> = vec![None; items.len()];
    let mut took = 0u64;
    // Other nodes' groups in parallel, this node's through the local handler meanwhile.
    let remote: Vec<_> = groups
        .iter()
        .filter_map(|(dest, positions)| {
            let node = nodes.get(dest.as_ref()?)?.clone();
            let (body, path, peers, positions) = (body_of(positions), path.clone(), cluster.peers().clone(), positions.clone());
            Some(tokio::spawn(async move {
                let outcome = peers.send(&node, "POST", &path, Some(("application/x-ndjson".into(), body))).await;
                (positions, node.name, outcome)
            }))
        })
        .collect();
    let local = match groups.get(&None) {
        None => None,
        Some(positions) => {
            let (status, body) = run_here(&parts, body_of(positions), next).await;
            Some((positions.clone(), status, body))
        }
    };
    if let Some((positions, status, body)) = local {
        if status != 200 {
            // The whole request failed here (a bad parameter, say): that is the answer.
            return raw_json(status, body);
        }
        took = took.max(place(&mut answers, &positions, &body));
    }
    for task in remote {
        let Ok((positions, node, outcome)) = task.await else { continue };
        match outcome {
            Ok(answer) if answer.status == 200 => took = took.max(place(&mut answers, &positions, &answer.body.into())),
            Ok(answer) => return raw_json(answer.status, answer.body.into()),
            Err(e) => {
                let error = ApiError::from(e);
                for pos in positions {
                    answers[pos] = Some(item_error(&items[pos], &error));
                }
                tracing::warn!(node = %node, "a bulk request to the node holding its shards failed");
            }
        }
    }
    for (pos, error) in failed {
        answers[pos] = Some(item_error(&items[pos], &error));
    }
    let mut errors = false;
    let items: Vec<Value> = answers
        .into_iter()
        .map(|a| {
            let a = a.unwrap_or_else(|| json!({"index": {"status": 500, "error": {"type": "exception", "reason": "no answer for the item"}}}));
            errors |= a.as_object().and_then(|o| o.values().next()).is_some_and(|v| v.get("error").is_some());
            a
        })
        .collect();
    json_response(200, json!({ "took": took, "errors": errors, "items": items }))
}

/// Puts the items of one node's `_bulk` answer at their positions; returns its `took`.
fn place(answers: &mut [Option<Value>], positions: &[usize], body: &Bytes) -> u64 {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let items = parsed.get("items").and_then(Value::as_array).cloned().unwrap_or_default();
    for (pos, item) in positions.iter().zip(items) {
        answers[*pos] = Some(item);
    }
    parsed.get("took").and_then(Value::as_u64).unwrap_or(0)
}

fn item_error(item: &BulkItem, error: &ApiError) -> Value {
    let mut entry = Map::new();
    if let Some(index) = &item.index {
        entry.insert("_index".into(), json!(index));
    }
    if let Some(id) = &item.id {
        entry.insert("_id".into(), json!(id));
    }
    entry.insert("status".into(), json!(error.status.as_u16()));
    entry.insert("error".into(), error.error_object());
    json!({ item.action.clone(): Value::Object(entry) })
}

fn raw_json(status: u16, body: Bytes) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = axum::http::StatusCode::from_u16(status).unwrap_or(axum::http::StatusCode::BAD_GATEWAY);
    response.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/json"));
    response
}
