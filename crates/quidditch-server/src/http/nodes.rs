//! HTTP routes: the node APIs, `GET /_nodes[/{nodes}]`, `GET /_nodes[/{nodes}]/stats` (basic
//! process and OS numbers) and `_cat/nodes`.
//!
//! A single node answers about itself. In cluster mode the node list is the cluster view, and
//! each node's stats are asked of that node (`/_nodes/_local/stats`); a node that does not
//! answer is counted in `_nodes.failed` and named in `_nodes.failures`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use quidditch_cluster::NodeInfo;
use serde_json::{Map, Value, json};

use super::cluster::{CatTable, OPENSEARCH_VERSION, cluster_status, cluster_uuid, human_size};
use super::indices::Params;
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response};
use crate::node::SystemStats;

const NODES_INFO: ApiParams = ApiParams::new(&["timeout", "flat_settings"]);
const NODES_STATS: ApiParams = ApiParams::new(&["timeout"])
    .not_implemented(&["completion_fields", "fielddata_fields", "fields", "groups", "level", "types", "include_segment_file_sizes"]);
const CAT_NODES: ApiParams = ApiParams::new(&[
    "h", "s", "v", "help", "bytes", "full_id", "local", "master_timeout", "cluster_manager_timeout",
])
.not_implemented(&["time"]);

const CLUSTER_STATS: ApiParams = ApiParams::new(&["timeout", "flat_settings"]);

/// The `node_id` part of `/_nodes/{x}` may instead name info metrics (`/_nodes/http`).
const INFO_METRICS: &[&str] = &[
    "_all", "settings", "os", "process", "jvm", "thread_pool", "transport", "http", "plugins", "ingest",
    "aggregations", "indices", "search_pipelines",
];

/// Roles as OpenSearch sorts them in `_nodes`.
const ROLES: &[&str] = &["cluster_manager", "data", "ingest", "remote_cluster_client"];

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_nodes", get(nodes_info), &NODES_INFO)
        .route("/_nodes/stats", get(nodes_stats), &NODES_STATS)
        .route("/_nodes/stats/{metric}", get(nodes_stats_metric), &NODES_STATS)
        .route("/_nodes/{nodes}", get(nodes_info_for), &NODES_INFO)
        .route("/_nodes/{nodes}/stats", get(nodes_stats_for), &NODES_STATS)
        .route("/_nodes/{nodes}/stats/{metric}", get(nodes_stats_for_metric), &NODES_STATS)
        .route("/_nodes/{nodes}/{metric}", get(nodes_info_for_metric), &NODES_INFO)
        .route("/_cat/nodes", get(cat_nodes), &CAT_NODES)
        .route("/_cluster/stats", get(cluster_stats), &CLUSTER_STATS)
        .route("/_cluster/stats/nodes/{nodes}", get(cluster_stats_for), &CLUSTER_STATS)
}

/// The members: the cluster view, or this process alone.
pub(super) fn members(state: &AppState) -> Vec<NodeInfo> {
    match &state.node.cluster {
        Some(cluster) => cluster.view().nodes.into_values().collect(),
        None => vec![local_info(state)],
    }
}

fn local_info(state: &AppState) -> NodeInfo {
    match &state.node.cluster {
        Some(cluster) => cluster.local().clone(),
        None => NodeInfo {
            name: state.node.name.clone(),
            id: state.node.id.clone(),
            http_url: state.node.http_url.clone(),
            version: env!("CARGO_PKG_VERSION").to_string(),
            roles: vec!["cluster_manager".into(), "data".into(), "ingest".into()],
            started_at_ms: state.node.started_at_ms,
        },
    }
}

/// `_local`, `_all`, `*`, node ids and names (comma-separated, `*` wildcards in names).
fn select<'a>(state: &AppState, nodes: &'a [NodeInfo], filter: &str) -> Vec<&'a NodeInfo> {
    let parts: Vec<&str> = filter.split(',').map(str::trim).filter(|p| !p.is_empty()).collect();
    let manager = state.node.manager_name();
    nodes
        .iter()
        .filter(|n| {
            parts.iter().any(|p| match *p {
                "_all" | "*" => true,
                "_local" => n.id == state.node.id,
                "_master" | "_cluster_manager" => manager.as_deref() == Some(n.name.as_str()),
                p => n.id == p || n.name == p || wildcard_match(p, &n.name),
            })
        })
        .collect()
}

/// `*` wildcards only (node names have no other pattern syntax).
fn wildcard_match(pattern: &str, name: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == name;
    }
    let (first, last) = (parts[0], parts[parts.len() - 1]);
    if !name.starts_with(first) || name.len() < first.len() + last.len() || !name.ends_with(last) {
        return false;
    }
    let mut rest = &name[first.len()..name.len() - last.len()];
    for part in &parts[1..parts.len() - 1] {
        match rest.find(part) {
            Some(at) => rest = &rest[at + part.len()..],
            None => return false,
        }
    }
    true
}

fn info_entry(state: &AppState, node: &NodeInfo) -> Value {
    let mut roles: Vec<&str> = ROLES.to_vec();
    roles.sort_unstable();
    json!({
        "name": node.name,
        "transport_address": node.address(),
        "host": node.host(),
        "ip": node.host(),
        "version": OPENSEARCH_VERSION,
        "build_type": "quidditch",
        "build_hash": node.version,
        "roles": roles,
        "attributes": {},
        "http": {
            "bound_address": [node.address()],
            "publish_address": node.address(),
            "max_content_length_in_bytes": state.config.max_body_bytes,
        },
    })
}

fn info_response(state: &AppState, filter: &str) -> Response {
    let all = members(state);
    let chosen = select(state, &all, filter);
    let nodes: Map<String, Value> = chosen.iter().map(|n| (n.id.clone(), info_entry(state, n))).collect();
    json_response(
        200,
        json!({
            "_nodes": { "total": nodes.len(), "successful": nodes.len(), "failed": 0 },
            "cluster_name": state.node.cluster_name,
            "nodes": nodes,
        }),
    )
}

async fn nodes_info(State(state): State<AppState>) -> Response {
    info_response(&state, "_all")
}

async fn nodes_info_for(State(state): State<AppState>, Path(nodes): Path<String>) -> Response {
    if nodes.split(',').all(|p| INFO_METRICS.contains(&p.trim())) {
        return info_response(&state, "_all");
    }
    info_response(&state, &nodes)
}

async fn nodes_info_for_metric(State(state): State<AppState>, Path((nodes, _metric)): Path<(String, String)>) -> Response {
    info_response(&state, &nodes)
}

/// This node's stats entry, read now.
fn local_stats(state: &AppState) -> Value {
    let node = local_info(state);
    let sys = SystemStats::read();
    let docs: u64 = state.engine.list().iter().flat_map(|i| i.shard_stats()).map(|s| s.docs).sum();
    let mut entry = info_entry(state, &node);
    let entry_map = entry.as_object_mut().expect("info entry is an object");
    entry_map.remove("http");
    entry_map.remove("version");
    entry_map.remove("build_type");
    entry_map.remove("build_hash");
    entry_map.insert("timestamp".into(), json!(crate::node::now_ms()));
    entry_map.insert("indices".into(), json!({ "docs": { "count": docs } }));
    entry_map.insert(
        "os".into(),
        json!({
            "timestamp": crate::node::now_ms(),
            "cpu": { "load_average": { "1m": sys.load_average[0], "5m": sys.load_average[1], "15m": sys.load_average[2] } },
            "mem": {
                "total_in_bytes": sys.total_memory_bytes,
                "free_in_bytes": sys.free_memory_bytes,
                "used_in_bytes": sys.total_memory_bytes.saturating_sub(sys.free_memory_bytes),
                "used_percent": sys.used_memory_percent(),
            },
        }),
    );
    entry_map.insert(
        "process".into(),
        json!({
            "timestamp": crate::node::now_ms(),
            "open_file_descriptors": sys.open_file_descriptors,
            "max_file_descriptors": sys.max_file_descriptors,
            "mem": { "resident_in_bytes": sys.resident_bytes },
        }),
    );
    // No JVM: the process's resident memory stands in for the heap.
    entry_map.insert(
        "jvm".into(),
        json!({
            "uptime_in_millis": crate::node::now_ms().saturating_sub(state.node.started_at_ms),
            "mem": {
                "heap_used_in_bytes": sys.resident_bytes,
                "heap_max_in_bytes": sys.total_memory_bytes,
                "heap_used_percent": sys.resident_percent(),
            },
        }),
    );
    entry
}

/// Every chosen node's stats: this node's read directly, the others' asked of them.
async fn collect_stats(state: &AppState, filter: &str) -> (Map<String, Value>, Vec<Value>) {
    let all = members(state);
    let chosen: Vec<NodeInfo> = select(state, &all, filter).into_iter().cloned().collect();
    let mut nodes = Map::new();
    let mut failures = Vec::new();
    let calls = chosen.iter().map(|node| {
        let state = state.clone();
        let node = node.clone();
        async move {
            if node.id == state.node.id {
                return (node, Ok(local_stats(&state)));
            }
            let cluster = state.node.cluster.as_ref().expect("other members only exist in cluster mode");
            let answer = cluster
                .peers()
                .get_json(&node, "/_nodes/_local/stats")
                .await
                .and_then(|v| {
                    v.pointer(&format!("/nodes/{}", node.id)).cloned().ok_or_else(|| quidditch_cluster::ClusterError::NodeUnreachable {
                        node: node.name.clone(),
                        url: node.http_url.clone(),
                        reason: "its answer does not describe it".into(),
                    })
                });
            (node, answer)
        }
    });
    for (node, answer) in futures_join_all(calls).await {
        match answer {
            Ok(entry) => {
                nodes.insert(node.id.clone(), entry);
            }
            Err(e) => failures.push(json!({ "type": "failed_node_exception", "reason": e.to_string(), "node_id": node.id })),
        }
    }
    (nodes, failures)
}

/// Runs the calls concurrently (one task each) and returns their results in order.
async fn futures_join_all<F, T>(calls: impl Iterator<Item = F>) -> Vec<T>
where
    F: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let handles: Vec<_> = calls.map(tokio::spawn).collect();
    let mut out = Vec::with_capacity(handles.len());
    for h in handles {
        if let Ok(v) = h.await {
            out.push(v);
        }
    }
    out
}

async fn stats_response(state: &AppState, filter: &str) -> Response {
    let (nodes, failures) = collect_stats(state, filter).await;
    let mut header = json!({ "total": nodes.len() + failures.len(), "successful": nodes.len(), "failed": failures.len() });
    if !failures.is_empty() {
        header["failures"] = Value::Array(failures);
    }
    json_response(200, json!({ "_nodes": header, "cluster_name": state.node.cluster_name, "nodes": nodes }))
}

async fn nodes_stats(State(state): State<AppState>) -> Response {
    stats_response(&state, "_all").await
}

async fn nodes_stats_metric(State(state): State<AppState>, Path(_metric): Path<String>) -> Response {
    stats_response(&state, "_all").await
}

async fn nodes_stats_for(State(state): State<AppState>, Path(nodes): Path<String>) -> Response {
    stats_response(&state, &nodes).await
}

async fn nodes_stats_for_metric(State(state): State<AppState>, Path((nodes, _metric)): Path<(String, String)>) -> Response {
    stats_response(&state, &nodes).await
}

const NODE_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("id", &["nodeId"], false),
    ("pid", &["p"], true),
    ("ip", &["i"], false),
    ("port", &["po"], true),
    ("http_address", &["http"], false),
    ("version", &["v"], false),
    ("heap.current", &["hc", "heapCurrent"], true),
    ("heap.percent", &["hp", "heapPercent"], true),
    ("heap.max", &["hm", "heapMax"], true),
    ("ram.current", &["rc", "ramCurrent"], true),
    ("ram.percent", &["rp", "ramPercent"], true),
    ("ram.max", &["rm", "ramMax"], true),
    ("file_desc.current", &["fdc", "fileDescriptorCurrent"], true),
    ("file_desc.percent", &["fdp", "fileDescriptorPercent"], true),
    ("file_desc.max", &["fdm", "fileDescriptorMax"], true),
    ("cpu", &[], true),
    ("load_1m", &["l"], true),
    ("load_5m", &["l"], true),
    ("load_15m", &["l"], true),
    ("uptime", &["u"], true),
    ("node.role", &["r", "role", "nodeRole"], false),
    ("node.roles", &["rs", "all roles"], false),
    ("cluster_manager", &["cm", "m", "master"], false),
    ("name", &["n"], false),
];

/// `_cat/nodes`: one row per member; `*` marks the elected cluster manager.
async fn cat_nodes(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let full_id = super::indices::flag(&params, "full_id")?.unwrap_or(false);
    let unit = params.get("bytes").map(String::as_str);
    let manager = state.node.manager_name();
    let (stats, _) = collect_stats(&state, "_all").await;
    let mut rows = Vec::new();
    for node in members(&state) {
        let s = stats.get(&node.id);
        let num = |ptr: &str| s.and_then(|s| s.pointer(ptr)).and_then(Value::as_u64);
        let float = |ptr: &str| s.and_then(|s| s.pointer(ptr)).and_then(Value::as_f64);
        let size = |ptr: &str| num(ptr).map(|b| human_size(b, unit)).unwrap_or_default();
        let mut r: HashMap<&'static str, String> = HashMap::new();
        r.insert("id", if full_id { node.id.clone() } else { node.id.chars().take(4).collect() });
        r.insert("ip", node.host().to_string());
        r.insert("port", node.address().rsplit_once(':').map(|(_, p)| p.to_string()).unwrap_or_default());
        r.insert("http_address", node.address().to_string());
        r.insert("version", OPENSEARCH_VERSION.to_string());
        r.insert("heap.current", size("/jvm/mem/heap_used_in_bytes"));
        r.insert("heap.percent", num("/jvm/mem/heap_used_percent").map(|v| v.to_string()).unwrap_or_default());
        r.insert("heap.max", size("/jvm/mem/heap_max_in_bytes"));
        r.insert("ram.current", size("/os/mem/used_in_bytes"));
        r.insert("ram.percent", num("/os/mem/used_percent").map(|v| v.to_string()).unwrap_or_default());
        r.insert("ram.max", size("/os/mem/total_in_bytes"));
        let fd = s.and_then(|s| s.pointer("/process/open_file_descriptors")).and_then(Value::as_i64);
        let fd_max = s.and_then(|s| s.pointer("/process/max_file_descriptors")).and_then(Value::as_i64);
        r.insert("file_desc.current", fd.map(|v| v.to_string()).unwrap_or_default());
        r.insert("file_desc.max", fd_max.map(|v| v.to_string()).unwrap_or_default());
        r.insert(
            "file_desc.percent",
            match (fd, fd_max) {
                (Some(c), Some(m)) if m > 0 && c >= 0 => ((c as f64 * 100.0 / m as f64).round() as i64).to_string(),
                _ => "0".to_string(),
            },
        );
        r.insert("cpu", String::new());
        for (col, ptr) in [("load_1m", "/os/cpu/load_average/1m"), ("load_5m", "/os/cpu/load_average/5m"), ("load_15m", "/os/cpu/load_average/15m")] {
            r.insert(col, float(ptr).map(|v| format!("{v:.2}")).unwrap_or_default());
        }
        r.insert("uptime", num("/jvm/uptime_in_millis").map(|ms| format!("{}s", ms / 1000)).unwrap_or_default());
        r.insert("node.role", "dimr".to_string());
        r.insert("node.roles", ROLES.join(","));
        r.insert("cluster_manager", if manager.as_deref() == Some(node.name.as_str()) { "*" } else { "-" }.to_string());
        r.insert("name", node.name.clone());
        if node.id == state.node.id {
            r.insert("pid", std::process::id().to_string());
        }
        rows.push(r);
    }
    CatTable {
        columns: NODE_COLUMNS,
        default: &[
            "ip", "heap.percent", "ram.percent", "cpu", "load_1m", "load_5m", "load_15m", "node.role", "node.roles",
            "cluster_manager", "name",
        ],
        rows,
    }
    .render(&params)
}

/// `GET /_cluster/stats[/nodes/{nodes}]`: the indices of this node's engine, and the chosen
/// nodes' stats (asked of each node as `_nodes/stats` does) summed. Every node has every role.
async fn cluster_stats_response(state: &AppState, filter: &str) -> Result<Response, ApiError> {
    let (nodes, failures) = collect_stats(state, filter).await;
    let indices = state.engine.list();
    let shard_stats: Vec<_> = indices.iter().flat_map(|i| i.shard_stats()).collect();
    let primaries: u64 = indices.iter().map(|i| u64::from(i.number_of_shards())).sum();
    let docs: u64 = shard_stats.iter().map(|s| s.docs).sum();
    let deleted: u64 = shard_stats.iter().map(|s| s.deleted).sum();
    let store: u64 = shard_stats.iter().map(|s| s.store_bytes).sum();
    let segments: u64 = shard_stats.iter().map(|s| s.segments as u64).sum();
    let sum = |pointer: &str| -> u64 { nodes.values().filter_map(|n| n.pointer(pointer).and_then(Value::as_u64)).sum() };
    let (mem_total, mem_free) = (sum("/os/mem/total_in_bytes"), sum("/os/mem/free_in_bytes"));
    let mem_used = mem_total.saturating_sub(mem_free);
    let percent = |part: u64| if mem_total == 0 { 0 } else { (part * 100 + mem_total / 2) / mem_total };
    let count = nodes.len();
    let fds: Vec<i64> = nodes.values().filter_map(|n| n.pointer("/process/open_file_descriptors").and_then(Value::as_i64)).collect();
    let body = json!({
        "_nodes": { "total": count + failures.len(), "successful": count, "failed": failures.len() },
        "cluster_name": state.node.cluster_name,
        "cluster_uuid": cluster_uuid(),
        "timestamp": crate::node::now_ms(),
        "status": cluster_status(state)?,
        "indices": {
            "count": indices.len(),
            "shards": {
                "total": primaries,
                "primaries": primaries,
                "replication": 0.0,
                "index": {
                    "shards": { "min": indices.iter().map(|i| i.number_of_shards()).min().unwrap_or(0), "max": indices.iter().map(|i| i.number_of_shards()).max().unwrap_or(0), "avg": if indices.is_empty() { 0.0 } else { primaries as f64 / indices.len() as f64 } },
                },
            },
            "docs": { "count": docs, "deleted": deleted },
            "store": { "size_in_bytes": store, "reserved_in_bytes": 0 },
            "fielddata": { "memory_size_in_bytes": 0, "evictions": 0 },
            "query_cache": { "memory_size_in_bytes": 0, "total_count": 0, "hit_count": 0, "miss_count": 0, "cache_size": 0, "cache_count": 0, "evictions": 0 },
            "completion": { "size_in_bytes": 0 },
            "segments": { "count": segments },
        },
        "nodes": {
            "count": {
                "total": count, "cluster_manager": count, "master": count, "data": count, "ingest": count,
                "remote_cluster_client": count, "coordinating_only": 0,
            },
            "versions": [OPENSEARCH_VERSION],
            "os": {
                "available_processors": std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1) * count,
                "mem": {
                    "total_in_bytes": mem_total, "free_in_bytes": mem_free, "used_in_bytes": mem_used,
                    "free_percent": percent(mem_free), "used_percent": percent(mem_used),
                },
            },
            "process": {
                "open_file_descriptors": {
                    "min": fds.iter().min().copied().unwrap_or(-1),
                    "max": fds.iter().max().copied().unwrap_or(-1),
                    "avg": if fds.is_empty() { 0 } else { fds.iter().sum::<i64>() / fds.len() as i64 },
                },
            },
            // No JVM: as in `_nodes/stats`, resident memory stands in for the heap.
            "jvm": {
                "max_uptime_in_millis": nodes.values().filter_map(|n| n.pointer("/jvm/uptime_in_millis").and_then(Value::as_u64)).max().unwrap_or(0),
                "mem": { "heap_used_in_bytes": sum("/jvm/mem/heap_used_in_bytes"), "heap_max_in_bytes": sum("/jvm/mem/heap_max_in_bytes") },
                "threads": 0,
            },
            "fs": { "total_in_bytes": 0, "free_in_bytes": 0, "available_in_bytes": 0 },
            "plugins": [],
            "network_types": { "transport_types": { "http": count }, "http_types": { "http": count } },
            "discovery_types": { (if state.node.cluster.is_some() { "etcd" } else { "single-node" }): count },
            "packaging_types": [{ "type": "quidditch", "count": count }],
            "ingest": { "number_of_pipelines": 0, "processor_stats": {} },
        },
    });
    Ok(json_response(200, body))
}

async fn cluster_stats(State(state): State<AppState>) -> Result<Response, ApiError> {
    cluster_stats_response(&state, "_all").await
}

async fn cluster_stats_for(State(state): State<AppState>, Path(nodes): Path<String>) -> Result<Response, ApiError> {
    cluster_stats_response(&state, &nodes).await
}

#[cfg(test)]
mod tests {
    use super::wildcard_match;

    #[test]
    fn node_name_wildcards() {
        assert!(wildcard_match("node-*", "node-1"));
        assert!(wildcard_match("*-1", "node-1"));
        assert!(wildcard_match("n*d*1", "node-1"));
        assert!(!wildcard_match("node-*", "other"));
        assert!(!wildcard_match("a*a", "a"));
        assert!(wildcard_match("node-1", "node-1"));
    }
}
