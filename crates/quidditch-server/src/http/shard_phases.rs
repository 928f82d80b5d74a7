//! Cluster mode: the search phases of shards held by other nodes, over the node-to-node API.
//!
//! The coordinating node (any node a search reaches) gives the engine a [`ClusterShards`]:
//! for every shard the manager allocated to another node, the engine's query phase becomes
//! `POST /_quidditch/shards/{index}/_query` on that node (the search's own body and URL
//! parameters, the shard numbers; the answer is each shard's `ShardQueryResult`, the same
//! data the engine's reduce takes from a local shard), and the fetch of that shard's page
//! hits becomes `POST /_quidditch/shards/{index}/_fetch` (the documents read from the
//! searcher the query phase ranked). Calls are JSON; answers are postcard. The holding node runs the engine's own shard phases
//! (`quidditch_engine::search::remote`). A node that does not answer fails its shards with
//! 503 `node_not_connected_exception` naming it; the search then has partial results or
//! fails as on a single node (`allow_partial_search_results`).

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use quidditch_cluster::{Cluster, NodeInfo, Revisions};
use quidditch_engine::search::remote::{RemoteShards, fetch_held, query_held_shards};
use quidditch_engine::search::{SearchRequest, ShardQueryResult};
use quidditch_engine::{DocMeta, EngineError, EngineResult, Index, StoredDoc};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState};

/// Every node-to-node route starts with it (and is refused without the cluster secret when
/// one is configured: `forwarding::node_to_node_auth`).
pub const INTERNAL_PREFIX: &str = "/_quidditch/";

const INTERNAL: ApiParams = ApiParams::NONE;

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_quidditch/shards/{index}/_query", post(query), &INTERNAL)
        .route("/_quidditch/shards/{index}/_fetch", post(fetch), &INTERNAL)
}

/// A query phase asked of the holding node.
#[derive(Debug, Serialize, Deserialize)]
struct QueryCall {
    /// The index's uuid on the coordinator: a recreated index of the same name is not it.
    uuid: String,
    shards: Vec<u32>,
    boost: f32,
    /// The search as the client sent it (body and URL parameters): planned here the same way.
    body: Option<Value>,
    params: HashMap<String, String>,
    count: bool,
}

/// A shard's failure on the holding node.
#[derive(Debug, Serialize, Deserialize)]
struct WireError {
    status: u16,
    #[serde(rename = "type")]
    error_type: String,
    reason: String,
}

#[derive(Debug, Serialize, Deserialize)]
enum WireOutcome {
    Ok(ShardQueryResult),
    Err(WireError),
}

#[derive(Debug, Serialize, Deserialize)]
struct QueryAnswer {
    context: String,
    results: Vec<WireOutcome>,
}

#[derive(Debug, Serialize, Deserialize)]
struct FetchCall {
    context: String,
    shard: u32,
    docs: Vec<(u32, u32)>,
}

#[derive(Debug, Serialize, Deserialize)]
struct WireDoc {
    id: String,
    seq_no: i64,
    version: i64,
    primary_term: i64,
    routing: Option<String>,
    /// `_source` as stored (JSON text).
    source: String,
}

/// The local index `name` if it is the one of `uuid` (a recreated index of the same name is not).
pub(super) fn held_index(state: &AppState, name: &str, uuid: &str) -> Result<Arc<Index>, ApiError> {
    let index = state.engine.index(name)?;
    if index.uuid() != uuid {
        return Err(EngineError::IndexNotFound { index: format!("{name}/{uuid}") }.into());
    }
    Ok(index)
}

async fn query(State(state): State<AppState>, Path(name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let call: QueryCall = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("parse_exception", e.to_string()))?;
    let index = held_index(&state, &name, &call.uuid)?;
    let udfs = state.udfs.clone();
    let answer = tokio::task::spawn_blocking(move || -> Result<QueryAnswer, ApiError> {
        let mut req = SearchRequest::parse(call.body.as_ref(), &call.params).map_err(EngineError::from)?;
        if call.count {
            req = req.into_count();
        }
        let (context, results) = query_held_shards(&index, &call.shards, call.boost, &req, Some(&udfs))?;
        let results = results
            .into_iter()
            .map(|r| match r {
                Ok(result) => WireOutcome::Ok(result),
                Err(e) => {
                    let api = ApiError::from(e);
                    WireOutcome::Err(WireError { status: api.status.as_u16(), error_type: api.error_type, reason: api.reason })
                }
            })
            .collect();
        Ok(QueryAnswer { context, results })
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))??;
    postcard_response(&answer)
}

async fn fetch(State(_state): State<AppState>, Path(_name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let call: FetchCall = serde_json::from_slice(&body).map_err(|e| ApiError::bad_request("parse_exception", e.to_string()))?;
    let docs = tokio::task::spawn_blocking(move || fetch_held(&call.context, call.shard, &call.docs))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    let wire: Vec<WireDoc> = docs
        .into_iter()
        .map(|d| WireDoc {
            id: d.id,
            seq_no: d.meta.seq_no,
            version: d.meta.version,
            primary_term: d.meta.primary_term,
            routing: d.routing,
            source: String::from_utf8_lossy(&d.source).into_owned(),
        })
        .collect();
    postcard_response(&wire)
}

/// A shard phase's answer: postcard, not JSON (the aggregation states inside are postcard
/// bytes already, which JSON would spell as arrays of numbers). Errors stay OpenSearch JSON.
fn postcard_response<T: serde::Serialize>(answer: &T) -> Result<Response, ApiError> {
    let bytes = postcard::to_allocvec(answer).map_err(|e| ApiError::internal(format!("encoding a shard phase answer: {e}")))?;
    Ok(([(axum::http::header::CONTENT_TYPE, POSTCARD)], bytes).into_response())
}

/// The media type of the shard phases' answers.
const POSTCARD: &str = "application/x-postcard";

fn add_to(groups: &mut Vec<(NodeInfo, Vec<usize>)>, node: NodeInfo, pos: usize) {
    match groups.iter_mut().find(|(n, _)| n.name == node.name) {
        Some((_, list)) => list.push(pos),
        None => groups.push((node, vec![pos])),
    }
}

/// The coordinator's view of the other nodes for one search.
pub struct ClusterShards<'a> {
    pub cluster: &'a Arc<Cluster>,
    pub body: Option<&'a Value>,
    pub params: &'a HashMap<String, String>,
    pub count: bool,
    /// The query phase's context on each node (for the fetch of that node's shards).
    contexts: parking_lot::Mutex<HashMap<(String, u32), (NodeInfo, String)>>,
    /// What this node's request barrier waited for: the shard phases' nodes wait for the same.
    revisions: Option<Revisions>,
}

impl<'a> ClusterShards<'a> {
    pub fn new(cluster: &'a Arc<Cluster>, body: Option<&'a Value>, params: &'a HashMap<String, String>, count: bool) -> Self {
        // Built on the request's task (inside `block_in_place`), where the barrier's
        // revisions are current.
        ClusterShards { cluster, body, params, count, contexts: Default::default(), revisions: Revisions::current() }
    }

    /// The live node serving shard `shard` of `index`, if another node does: its primary, or
    /// while the primary's node is not a live member an in-sync replica (the shard fails
    /// over for reads before the manager promotes one). `Err` names the primary's node when
    /// no copy is live; `None` when this node serves it.
    fn holder(&self, index: &Index, shard: u32) -> Option<Result<NodeInfo, String>> {
        let allocation = self.cluster.allocation(index.name()).filter(|a| a.uuid == index.uuid())?;
        let primary = allocation.node_of(shard)?;
        let me = self.cluster.local().name.as_str();
        let view = self.cluster.view();
        let copies = std::iter::once(primary).chain(allocation.in_sync_of(shard).iter().map(String::as_str));
        for node in copies {
            if node == me {
                return None;
            }
            if let Some(member) = view.nodes.get(node) {
                return Some(Ok(member.clone()));
            }
        }
        Some(Err(primary.to_string()))
    }

    /// Runs the query phase of the shards at `by_node`'s positions on their nodes, into `out`;
    /// positions whose node did not answer go to `failed_nodes` too.
    fn query_round(
        &self,
        index: &Arc<Index>,
        shards: &[u32],
        boost: f32,
        by_node: Vec<(NodeInfo, Vec<usize>)>,
        out: &mut [Option<EngineResult<ShardQueryResult>>],
        failed_nodes: &mut Vec<(usize, String)>,
    ) {
        let answers: Vec<(NodeInfo, Vec<usize>, EngineResult<QueryAnswer>)> = std::thread::scope(|scope| {
            let calls: Vec<_> = by_node
                .into_iter()
                .map(|(node, positions)| {
                    let call = QueryCall {
                        uuid: index.uuid().to_string(),
                        shards: positions.iter().map(|p| shards[*p]).collect(),
                        boost,
                        body: self.body.cloned(),
                        params: self.params.clone(),
                        count: self.count,
                    };
                    let path = path_of(index, "_query");
                    scope.spawn(move || {
                        let body = serde_json::to_vec(&call).unwrap_or_default();
                        let answer = call_node::<QueryAnswer>(self.cluster, &node, &path, body, self.revisions);
                        (node, positions, answer)
                    })
                })
                .collect();
            calls.into_iter().filter_map(|c| c.join().ok()).collect()
        });
        for (node, positions, answer) in answers {
            match answer {
                Ok(answer) => {
                    let mut results = answer.results.into_iter();
                    for pos in positions {
                        self.contexts.lock().insert((index.uuid().to_string(), shards[pos]), (node.clone(), answer.context.clone()));
                        out[pos] = Some(match results.next() {
                            Some(WireOutcome::Ok(r)) => Ok(r),
                            Some(WireOutcome::Err(e)) => Err(EngineError::on_node(&node.name, e.status, &e.error_type, e.reason)),
                            None => Err(unreachable(&node, "fewer results than shards")),
                        });
                    }
                }
                Err(e) => {
                    let status = match &e {
                        EngineError::OnNode { status, .. } => *status,
                        _ => 503,
                    };
                    let unanswered = e.error_type() == "node_not_connected_exception";
                    for pos in positions {
                        if unanswered {
                            failed_nodes.push((pos, node.name.clone()));
                        }
                        out[pos] = Some(Err(EngineError::on_node(&node.name, status, e.error_type(), e.to_string())));
                    }
                }
            }
        }
    }

    /// A live copy of shard `shard` other than the one on `failed` that may serve reads
    /// (primary or in-sync replica), this node's own included.
    fn other_copy(&self, index: &Index, shard: u32, failed: &str) -> Option<NodeInfo> {
        let allocation = self.cluster.allocation(index.name()).filter(|a| a.uuid == index.uuid())?;
        let view = self.cluster.view();
        let me = self.cluster.local();
        allocation
            .node_of(shard)
            .into_iter()
            .chain(allocation.in_sync_of(shard).iter().map(String::as_str))
            .filter(|n| *n != failed)
            .find_map(|n| if n == me.name { Some(me.clone()) } else { view.nodes.get(n).cloned() })
    }

    /// Whether any shard of `indices` is held by another node.
    pub fn spans_nodes(&self, indices: &[&Index]) -> bool {
        indices.iter().any(|i| (0..i.settings().number_of_shards() as u32).any(|s| self.holder(i, s).is_some()))
    }
}

fn node_down(index: &Index, shard: u32, node: &str) -> EngineError {
    EngineError::on_node(
        node,
        503,
        "unavailable_shards_exception",
        format!("[{}][{shard}] primary shard is not active: its node [{node}] is not a member of the cluster", index.name()),
    )
}

fn unreachable(node: &NodeInfo, reason: impl std::fmt::Display) -> EngineError {
    EngineError::on_node(&node.name, 503, "node_not_connected_exception", format!("[{}][{}] did not answer: {reason}", node.name, node.http_url))
}

fn call_node<T: serde::de::DeserializeOwned>(
    cluster: &Cluster,
    node: &NodeInfo,
    path: &str,
    body: Vec<u8>,
    revisions: Option<Revisions>,
) -> EngineResult<T> {
    let answer = cluster
        .peers()
        .send_blocking(node, "POST", path, Some(("application/json", &body)), revisions)
        .map_err(|e| unreachable(node, e))?;
    if answer.status != 200 {
        let parsed: Value = serde_json::from_slice(&answer.body).unwrap_or(Value::Null);
        let error = &parsed["error"];
        return Err(EngineError::on_node(
            &node.name,
            answer.status,
            error["type"].as_str().unwrap_or("exception"),
            error["reason"].as_str().unwrap_or("the node failed the shard phase").to_string(),
        ));
    }
    postcard::from_bytes(&answer.body).map_err(|e| unreachable(node, format!("unreadable answer: {e}")))
}

fn path_of(index: &Index, phase: &str) -> String {
    format!("/_quidditch/shards/{}/{phase}", crate::shard_copies::encode(index.name()))
}

impl RemoteShards for ClusterShards<'_> {
    fn is_remote(&self, index: &Index, shard: u32) -> bool {
        self.holder(index, shard).is_some()
    }

    fn query(&self, index: &Arc<Index>, shards: &[u32], boost: f32) -> Vec<EngineResult<ShardQueryResult>> {
        // Per serving node, its shards (by position in `shards`).
        let mut by_node: Vec<(NodeInfo, Vec<usize>)> = Vec::new();
        let mut out: Vec<Option<EngineResult<ShardQueryResult>>> = (0..shards.len()).map(|_| None).collect();
        for (pos, &shard) in shards.iter().enumerate() {
            match self.holder(index, shard) {
                Some(Ok(node)) => add_to(&mut by_node, node, pos),
                Some(Err(name)) => out[pos] = Some(Err(node_down(index, shard, &name))),
                None => out[pos] = Some(Err(EngineError::Internal(anyhow::anyhow!("a local shard was sent to the remote query phase")))),
            }
        }
        let mut failed_nodes: Vec<(usize, String)> = Vec::new();
        self.query_round(index, shards, boost, by_node, &mut out, &mut failed_nodes);
        // A node that did not answer (it may be dying, its lease not expired yet): its
        // shards again on another in-sync copy, this node's own included.
        let mut retry: Vec<(NodeInfo, Vec<usize>)> = Vec::new();
        for (pos, failed) in failed_nodes {
            if let Some(copy) = self.other_copy(index, shards[pos], &failed) {
                add_to(&mut retry, copy, pos);
            }
        }
        if !retry.is_empty() {
            self.query_round(index, shards, boost, retry, &mut out, &mut Vec::new());
        }
        out.into_iter().map(|o| o.unwrap_or_else(|| Err(EngineError::Internal(anyhow::anyhow!("shard not searched"))))).collect()
    }

    fn fetch(&self, index: &Arc<Index>, shard: u32, docs: &[(u32, u32)]) -> EngineResult<Vec<StoredDoc>> {
        let (node, context) = self
            .contexts
            .lock()
            .get(&(index.uuid().to_string(), shard))
            .cloned()
            .ok_or_else(|| EngineError::Internal(anyhow::anyhow!("fetch of a shard whose query phase did not run remotely")))?;
        let call = FetchCall { context, shard, docs: docs.to_vec() };
        let found: Vec<WireDoc> = call_node(self.cluster, &node, &path_of(index, "_fetch"), serde_json::to_vec(&call).unwrap_or_default(), self.revisions)?;
        Ok(found
            .into_iter()
            .map(|d| StoredDoc {
                id: d.id,
                meta: DocMeta { seq_no: d.seq_no, version: d.version, primary_term: d.primary_term },
                source: d.source.into_bytes().into(),
                routing: d.routing,
            })
            .collect())
    }
}
