//! `GET /_cluster/state[/{metric}[/{index}]]`: the subset of OpenSearch's cluster state that
//! clients read — `cluster_name`, `cluster_uuid`, the elected manager (`master_node`,
//! `cluster_manager_node`), `nodes`, `metadata.indices` (state, settings, mappings, aliases)
//! and `routing_table` / `routing_nodes` (each index's primaries and the node holding them,
//! from the shard allocation in cluster mode; see `placement.rs`).

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use quidditch_engine::Index;
use quidditch_engine::index::meta::insert_dotted;
use serde_json::{Map, Value, json};

use super::cluster::cluster_uuid;
use super::indices::Params;
use super::nodes::members;
use super::params::{ApiParams, ApiRoutes};
use super::placement::placements;
use super::{ApiError, AppState, json_response};

const CLUSTER_STATE: ApiParams = ApiParams::new(&[
    "local", "master_timeout", "cluster_manager_timeout", "flat_settings", "human", "ignore_unavailable",
    "allow_no_indices", "expand_wildcards",
])
.not_implemented(&["wait_for_metadata_version", "wait_for_timeout"]);

/// The metrics `{metric}` may name (`_all` is every one).
const METRICS: &[&str] =
    &["blocks", "metadata", "nodes", "routing_table", "routing_nodes", "master_node", "cluster_manager_node", "version"];

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_cluster/state", get(state_all), &CLUSTER_STATE)
        .route("/_cluster/state/{metric}", get(state_metric), &CLUSTER_STATE)
        .route("/_cluster/state/{metric}/{index}", get(state_metric_index), &CLUSTER_STATE)
}

async fn state_all(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    render(&state, "_all", None, &params)
}

async fn state_metric(
    State(state): State<AppState>,
    Path(metric): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    render(&state, &metric, None, &params)
}

async fn state_metric_index(
    State(state): State<AppState>,
    Path((metric, index)): Path<(String, String)>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    render(&state, &metric, Some(&index), &params)
}

fn render(state: &AppState, metric: &str, index: Option<&str>, params: &HashMap<String, String>) -> Result<Response, ApiError> {
    let mut wanted: Vec<&str> = Vec::new();
    for m in metric.split(',').map(str::trim).filter(|m| !m.is_empty()) {
        if m == "_all" {
            wanted.extend(METRICS);
        } else if METRICS.contains(&m) {
            wanted.push(m);
        } else {
            return Err(ApiError::illegal_argument(format!("request [/_cluster/state/{metric}] contains unrecognized metric: [{m}]")));
        }
    }
    let indices = match index {
        None | Some("_all") | Some("*") => state.engine.list(),
        Some(expr) => state.engine.resolve_indices(expr)?,
    };
    let flat = super::indices::flag(params, "flat_settings")?.unwrap_or(false);
    let nodes = members(state);
    let manager_id = state.node.manager_name().and_then(|m| nodes.iter().find(|n| n.name == m)).map(|n| n.id.clone());
    let mut body = Map::new();
    body.insert("cluster_name".into(), json!(state.node.cluster_name));
    body.insert("cluster_uuid".into(), json!(cluster_uuid()));
    let version = state.node.cluster.as_ref().map_or(1, |c| c.view().revision.max(1));
    if wanted.contains(&"version") {
        body.insert("version".into(), json!(version));
        body.insert("state_uuid".into(), json!(format!("{}-{version}", cluster_uuid())));
    }
    if wanted.contains(&"master_node") || wanted.contains(&"cluster_manager_node") {
        body.insert("master_node".into(), json!(manager_id));
        body.insert("cluster_manager_node".into(), json!(manager_id));
    }
    if wanted.contains(&"blocks") {
        body.insert("blocks".into(), json!({}));
    }
    if wanted.contains(&"nodes") {
        let entries: Map<String, Value> = nodes
            .iter()
            .map(|n| {
                (n.id.clone(), json!({ "name": n.name, "ephemeral_id": n.id, "transport_address": n.address(), "attributes": {} }))
            })
            .collect();
        body.insert("nodes".into(), Value::Object(entries));
    }
    if wanted.contains(&"metadata") {
        let entries: Map<String, Value> = indices.iter().map(|i| (i.name().to_string(), index_metadata(i, flat))).collect();
        body.insert(
            "metadata".into(),
            json!({ "cluster_uuid": cluster_uuid(), "cluster_uuid_committed": true, "templates": {}, "indices": entries }),
        );
    }
    let routing: Vec<(String, Vec<Value>)> = indices.iter().map(|i| (i.name().to_string(), shard_routings(state, i))).collect();
    if wanted.contains(&"routing_table") {
        let entries: Map<String, Value> = routing
            .iter()
            .map(|(name, shards)| {
                let mut by_number: Map<String, Value> = Map::new();
                for s in shards {
                    let copies = by_number.entry(s["shard"].to_string()).or_insert_with(|| json!([]));
                    if let Some(list) = copies.as_array_mut() {
                        list.push(s.clone());
                    }
                }
                (name.clone(), json!({ "shards": by_number }))
            })
            .collect();
        body.insert("routing_table".into(), json!({ "indices": entries }));
    }
    if wanted.contains(&"routing_nodes") {
        let mut by_node: Map<String, Value> = nodes.iter().map(|n| (n.id.clone(), json!([]))).collect();
        let mut unassigned = Vec::new();
        for shard in routing.iter().flat_map(|(_, s)| s) {
            match shard["node"].as_str().and_then(|id| by_node.get_mut(id)) {
                Some(Value::Array(list)) => list.push(shard.clone()),
                _ => unassigned.push(shard.clone()),
            }
        }
        body.insert("routing_nodes".into(), json!({ "unassigned": unassigned, "nodes": by_node }));
    }
    Ok(json_response(200, Value::Object(body)))
}

/// An index's entry under `metadata.indices`.
fn index_metadata(index: &Index, flat: bool) -> Value {
    let mut settings = Map::new();
    {
        for (key, value) in index.settings().values.clone() {
            let value = match value {
                Value::String(s) => Value::String(s),
                Value::Object(_) | Value::Array(_) => value,
                other => Value::String(other.to_string()),
            };
            settings.insert(format!("index.{key}"), value);
        }
    }
    settings.insert("index.uuid".into(), json!(index.uuid()));
    settings.insert("index.creation_date".into(), json!(index.creation_date().to_string()));
    let settings = if flat {
        Value::Object(settings)
    } else {
        let mut nested = Map::new();
        for (key, value) in settings {
            insert_dotted(&mut nested, &key, value);
        }
        Value::Object(nested)
    };
    json!({
        "state": if index.is_closed() { "close" } else { "open" },
        "settings": settings,
        "mappings": index.mapping().to_json(),
        "aliases": [],
    })
}

/// An index's shard copies as `routing_table` lists them.
fn shard_routings(state: &AppState, index: &Index) -> Vec<Value> {
    let routing = |shard: u32, primary: bool, node: Option<&str>, state: &str| {
        json!({
            "state": state,
            "primary": primary,
            "node": node,
            "relocating_node": null,
            "shard": shard,
            "index": index.name(),
        })
    };
    placements(&state.node, index)
        .into_iter()
        .flat_map(|p| {
            let primary = routing(p.shard, true, p.node.as_ref().map(|n| n.id.as_str()), if p.started() { "STARTED" } else { "UNASSIGNED" });
            let replicas: Vec<Value> =
                p.replicas.iter().map(|r| routing(p.shard, false, r.node.as_ref().map(|n| n.id.as_str()), r.state.as_str())).collect();
            std::iter::once(primary).chain(replicas)
        })
        .collect()
}
