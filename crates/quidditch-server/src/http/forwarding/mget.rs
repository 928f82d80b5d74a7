//! `_mget` in cluster mode: each document is read on the node holding its shard. The docs are
//! grouped by node; each other node gets one `_mget` with its docs (every doc naming its
//! index), this node answers its own through the local handler meanwhile, and the answers are
//! merged back into the request's order. A doc whose shard's node is down is an error entry
//! naming it, as OpenSearch answers a doc whose shard failed.

use std::collections::BTreeMap;

use axum::body::{Body, Bytes};
use axum::http::Request;
use axum::middleware::Next;
use axum::response::Response;
use quidditch_cluster::{Cluster, NodeInfo};
use serde_json::{Value, json};

use super::{Holder, holder, path_and_query, raw_json, read_body, run_here};
use crate::http::{ApiError, AppState, json_response};

/// The docs of an `_mget` body, each with its `_index`; `None` when the body is not one the
/// local handler would accept (it then answers with its own error).
fn docs_of(body: &Bytes, path_index: Option<&str>) -> Option<Vec<Value>> {
    let parsed: Value = serde_json::from_slice(body).ok()?;
    let object = parsed.as_object()?;
    let docs: Vec<Value> = match (object.get("docs"), object.get("ids")) {
        (Some(Value::Array(docs)), None) => docs.clone(),
        (None, Some(Value::Array(ids))) => {
            ids.iter().map(|id| id.as_str().map(|id| json!({ "_id": id }))).collect::<Option<Vec<_>>>()?
        }
        _ => return None,
    };
    docs.into_iter()
        .map(|mut doc| {
            let entry = doc.as_object_mut()?;
            if !entry.contains_key("_index") {
                entry.insert("_index".into(), json!(path_index?));
            }
            entry.get("_id")?.as_str()?;
            Some(doc)
        })
        .collect()
}

pub(super) async fn mget(state: &AppState, cluster: &Cluster, path_index: Option<String>, req: Request<Body>, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let Some(docs) = docs_of(&bytes, path_index.as_deref()) else {
        return next.run(Request::from_parts(parts, Body::from(bytes))).await;
    };
    let routing = super::param_of(parts.uri.query(), "routing");
    let mut groups: BTreeMap<Option<String>, Vec<usize>> = BTreeMap::new();
    let mut nodes: BTreeMap<String, NodeInfo> = BTreeMap::new();
    let mut answers: Vec<Option<Value>> = vec![None; docs.len()];
    for (pos, doc) in docs.iter().enumerate() {
        let (index, id) = (doc["_index"].as_str().unwrap_or_default(), doc["_id"].as_str().unwrap_or_default());
        let key = doc.get("routing").and_then(Value::as_str).map(str::to_string).or_else(|| routing.clone()).unwrap_or_else(|| id.to_string());
        match holder(state, cluster, index, &key) {
            None | Some(Holder::Here) => groups.entry(None).or_default().push(pos),
            Some(Holder::Node(node)) => {
                groups.entry(Some(node.name.clone())).or_default().push(pos);
                nodes.insert(node.name.clone(), node);
            }
            Some(Holder::Down { index, shard, node }) => {
                let error = Holder::down_error(&index, shard, &node);
                answers[pos] = Some(json!({ "_index": index, "_id": id, "error": error.error_object() }));
            }
        }
    }
    let body_of = |positions: &[usize]| serde_json::to_vec(&json!({ "docs": positions.iter().map(|p| &docs[*p]).collect::<Vec<_>>() })).unwrap_or_default();
    let path = path_and_query(&parts.uri);
    let remote: Vec<_> = groups
        .iter()
        .filter_map(|(dest, positions)| {
            let node = nodes.get(dest.as_ref()?)?.clone();
            let (body, path, peers, positions) = (body_of(positions), path.clone(), cluster.peers().clone(), positions.clone());
            Some(tokio::spawn(async move { (positions, node.name.clone(), peers.send(&node, "POST", &path, Some(("application/json".into(), body))).await) }))
        })
        .collect();
    if let Some(positions) = groups.get(&None) {
        let (status, body) = run_here(&parts, body_of(positions), next).await;
        if status != 200 {
            // The whole request failed here (a bad parameter, say): that is the answer.
            return raw_json(status, body);
        }
        place(&mut answers, positions, &body);
    }
    for task in remote {
        let Ok((positions, node, outcome)) = task.await else { continue };
        match outcome {
            Ok(answer) if answer.status == 200 => place(&mut answers, &positions, &answer.body.into()),
            Ok(answer) => return raw_json(answer.status, answer.body.into()),
            Err(e) => {
                let error = ApiError::from(e).error_object();
                for pos in positions {
                    answers[pos] = Some(json!({ "_index": docs[pos]["_index"], "_id": docs[pos]["_id"], "error": error }));
                }
                tracing::warn!(node = %node, "an _mget to the node holding its shards failed");
            }
        }
    }
    let docs: Vec<Value> = answers
        .into_iter()
        .zip(&docs)
        .map(|(answer, doc)| {
            answer.unwrap_or_else(|| json!({ "_index": doc["_index"], "_id": doc["_id"], "error": {"type": "exception", "reason": "no answer for the document"} }))
        })
        .collect();
    json_response(200, json!({ "docs": docs }))
}

/// Puts the docs of one node's `_mget` answer at their positions.
fn place(answers: &mut [Option<Value>], positions: &[usize], body: &Bytes) {
    let parsed: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
    let docs = parsed.get("docs").and_then(Value::as_array).cloned().unwrap_or_default();
    for (pos, doc) in positions.iter().zip(docs) {
        answers[*pos] = Some(doc);
    }
}
