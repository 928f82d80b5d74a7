//! `_delete_by_query` and `_update_by_query` in cluster mode: every document lives on the node
//! holding its shard, so the request runs on every node holding some shard of the index
//! (each over the documents it holds) and the answers are added up. Refused with 400, as
//! before, where a sum would not be the answer: `max_docs` (a limit for the whole run) and
//! `wait_for_completion=false` (one task id).

use axum::body::Body;
use axum::http::{Request, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use quidditch_cluster::Cluster;
use serde_json::{Value, json};

use super::{not_distributed, param_of, path_and_query, raw_json, read_body, run_here};
use crate::http::{ApiError, AppState, json_response};

/// Counters added up over the nodes (`retries` is an object of two of them).
const SUMMED: &[&str] = &["total", "deleted", "updated", "created", "batches", "version_conflicts", "noops", "throttled_millis"];

pub(super) async fn by_query(state: &AppState, cluster: &Cluster, index: &str, what: &str, req: Request<Body>, next: Next) -> Response {
    let (parts, body) = req.into_parts();
    let bytes = match read_body(body).await {
        Ok(b) => b,
        Err(refused) => return refused,
    };
    let query = parts.uri.query();
    let in_body = serde_json::from_slice::<Value>(&bytes).ok().and_then(|b| b.get("max_docs").cloned());
    if param_of(query, "max_docs").is_some() || in_body.is_some() || param_of(query, "wait_for_completion").as_deref() == Some("false") {
        return not_distributed(&format!("[{what}] with max_docs or wait_for_completion=false"));
    }
    let me = cluster.local().name.clone();
    let holders: std::collections::BTreeSet<String> = state
        .engine
        .resolve_indices_lenient(index)
        .iter()
        .filter_map(|i| cluster.allocation(i.name()).filter(|a| a.uuid == i.uuid()))
        .flat_map(|a| a.shards.into_iter().flatten())
        .filter(|n| *n != me)
        .collect();
    let view = cluster.view();
    let path = path_and_query(&parts.uri);
    let content_type =
        parts.headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("application/json").to_string();
    let mut remote = Vec::new();
    for name in holders {
        let Some(node) = view.nodes.get(&name).cloned() else {
            let error = ApiError::new(503, "unavailable_shards_exception", format!("[{index}] some shards are on node [{name}], which is not a member of the cluster"))
                .with("node", name);
            return error.into_response();
        };
        let (peers, path, body, content_type) = (cluster.peers().clone(), path.clone(), bytes.to_vec(), content_type.clone());
        remote.push(tokio::spawn(async move { peers.send(&node, "POST", &path, Some((content_type, body))).await }));
    }
    let (status, local) = run_here(&parts, bytes.to_vec(), next).await;
    if status != 200 {
        return raw_json(status, local);
    }
    let mut total: Value = serde_json::from_slice(&local).unwrap_or_else(|_| json!({}));
    for task in remote {
        let answer = match task.await {
            Ok(Ok(answer)) => answer,
            Ok(Err(e)) => return ApiError::from(e).into_response(),
            Err(e) => return ApiError::internal(e.to_string()).into_response(),
        };
        if answer.status != 200 {
            return raw_json(answer.status, answer.body.into());
        }
        add(&mut total, &serde_json::from_slice(&answer.body).unwrap_or_else(|_| json!({})));
    }
    json_response(200, total)
}

/// Adds one node's answer into the sum: counters added, `took` the longest, `timed_out` if
/// any did, failures listed together.
fn add(total: &mut Value, other: &Value) {
    let number = |v: &Value, k: &str| v.get(k).and_then(Value::as_u64).unwrap_or(0);
    for key in SUMMED {
        if total.get(key).is_some() || other.get(key).is_some() {
            total[*key] = json!(number(total, key) + number(other, key));
        }
    }
    for key in ["bulk", "search"] {
        let sum = number(&total["retries"], key) + number(&other["retries"], key);
        if total.get("retries").is_some() {
            total["retries"][key] = json!(sum);
        }
    }
    total["took"] = json!(number(total, "took").max(number(other, "took")));
    let timed_out = total["timed_out"].as_bool().unwrap_or(false) || other["timed_out"].as_bool().unwrap_or(false);
    total["timed_out"] = json!(timed_out);
    if let Some(failures) = other.get("failures").and_then(Value::as_array) {
        match total.get_mut("failures").and_then(Value::as_array_mut) {
            Some(all) => all.extend(failures.iter().cloned()),
            None => total["failures"] = json!(failures),
        }
    }
}
