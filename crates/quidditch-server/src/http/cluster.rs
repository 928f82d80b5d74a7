//! HTTP routes: cluster info (`GET /`), `_cluster/health`, and the `_cat` APIs
//! (`_cat/indices`, `_cat/health`, `_cat/shards`, …). Node counts come from the cluster view
//! in cluster mode (one node otherwise); the node APIs are in `nodes.rs`.

use std::collections::HashMap;

use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use quidditch_engine::Index;
use serde_json::{Map, Value, json};

use quidditch_engine::names::ExpandWildcards;

use super::indices::{Params, expand_wildcards, flag};
use super::params::{ApiParams, ApiRoutes};
use super::placement::{CopyState, ShardPlacement, placements};
use super::{ApiError, AppState, json_response};
use crate::node::LocalNode;

/// The OpenSearch version we answer as (opensearch-py and friends check `version.number`).
pub const OPENSEARCH_VERSION: &str = "2.11.0";

/// One node never relocates or initializes shards and has no queue of cluster-state tasks:
/// those waits are met at once.
const HEALTH: ApiParams = ApiParams::new(&[
    "level", "wait_for_status", "wait_for_active_shards", "wait_for_nodes", "wait_for_events", "timeout",
    "master_timeout", "cluster_manager_timeout", "local", "wait_for_no_initializing_shards",
    "wait_for_no_relocating_shards", "expand_wildcards",
]);
const CAT_INDICES: ApiParams =
    ApiParams::new(&[
        "h", "s", "v", "help", "bytes", "health", "local", "master_timeout", "cluster_manager_timeout", "expand_wildcards",
    ])
    .not_implemented(&["include_unloaded_segments", "pri", "time"]);
const CAT_HEALTH: ApiParams = ApiParams::new(&["h", "s", "v", "help", "ts"]).not_implemented(&["time"]);
const CAT_SHARDS: ApiParams =
    ApiParams::new(&["h", "s", "v", "help", "bytes", "local", "master_timeout", "cluster_manager_timeout"])
        .not_implemented(&["time"]);
const CAT_ALIASES: ApiParams = ApiParams::new(&["h", "s", "v", "help", "local"]).not_implemented(&["expand_wildcards"]);
const CAT_TEMPLATES: ApiParams =
    ApiParams::new(&["h", "s", "v", "help", "local", "master_timeout", "cluster_manager_timeout"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/", get(info).head(|| async { StatusCode::OK }), &ApiParams::NONE)
        .route("/_cluster/health", get(health), &HEALTH)
        .route("/_cluster/health/{index}", get(health_for), &HEALTH)
        .route("/_cat/indices", get(cat_indices), &CAT_INDICES)
        .route("/_cat/indices/{index}", get(cat_indices_for), &CAT_INDICES)
        .route("/_cat/health", get(cat_health), &CAT_HEALTH)
        .route("/_cat/shards", get(cat_shards), &CAT_SHARDS)
        .route("/_cat/shards/{index}", get(cat_shards_for), &CAT_SHARDS)
        .route("/_cat/aliases", get(cat_aliases), &CAT_ALIASES)
        .route("/_cat/aliases/{name}", get(cat_aliases_for), &CAT_ALIASES)
        .route("/_cat/templates", get(cat_templates), &CAT_TEMPLATES)
        .route("/_cat/templates/{name}", get(cat_templates_for), &CAT_TEMPLATES)
}

async fn info(State(state): State<AppState>) -> Response {
    json_response(
        200,
        json!({
            "name": state.node.name,
            "cluster_name": state.node.cluster_name,
            "cluster_uuid": cluster_uuid(),
            "version": {
                "distribution": "opensearch",
                "number": OPENSEARCH_VERSION,
                "build_type": "quidditch",
                "build_hash": env!("CARGO_PKG_VERSION"),
                "build_date": "2024-01-01T00:00:00.000000Z",
                "build_snapshot": false,
                "lucene_version": "9.7.0",
                "minimum_wire_compatibility_version": "7.10.0",
                "minimum_index_compatibility_version": "7.0.0",
            },
            "tagline": "The OpenSearch Project: https://opensearch.org/",
        }),
    )
}

/// The cluster's health status (`green`, `yellow`, `red`) as `_cluster/health` reports it.
pub(super) fn cluster_status(state: &AppState) -> Result<String, ApiError> {
    let (_, body) = health_body(&state.engine.list(), &state.engine.unavailable(), &HashMap::new(), &state.node, &membership(state))?;
    Ok(body["status"].as_str().unwrap_or("red").to_string())
}

/// Stable for the process lifetime; a single node has no persistent cluster state to keep it in.
pub(super) fn cluster_uuid() -> &'static str {
    static UUID: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    UUID.get_or_init(|| uuid::Uuid::new_v4().simple().to_string())
}

/// Per-index health: `red` while a primary is unassigned, else `yellow` while a replica is
/// not started (unassigned, or still recovering), else `green`.
struct IndexHealth {
    status: &'static str,
    shards: u64,
    active_primaries: u64,
    /// Started copies, primaries and replicas.
    active: u64,
    initializing: u64,
    unassigned: u64,
    placements: Vec<ShardPlacement>,
}

fn index_health(index: &Index, node: &LocalNode) -> IndexHealth {
    let placements = placements(node, index);
    let shards = placements.len() as u64;
    let active_primaries = placements.iter().filter(|p| p.started()).count() as u64;
    let (mut active, mut initializing, mut unassigned) = (active_primaries, 0, shards - active_primaries);
    for p in &placements {
        let (started, init, missing) = p.replica_counts();
        active += started;
        initializing += init;
        unassigned += missing;
    }
    let status = if active_primaries < shards {
        "red"
    } else if unassigned + initializing > 0 {
        "yellow"
    } else {
        "green"
    };
    IndexHealth { status, shards, active_primaries, active, initializing, unassigned, placements }
}

/// `wait_for_nodes`: `N`, `>=N`, `<=N`, `>N`, `<N`, `ge(N)`, `le(N)`, `gt(N)`, `lt(N)`, held
/// against the number of nodes in the cluster.
fn node_count_matches(spec: &str, nodes: u64) -> Result<bool, ApiError> {
    let spec = spec.trim();
    let bad = || ApiError::illegal_argument(format!("failed to parse [wait_for_nodes] value [{spec}]"));
    let (op, n) = if let Some(inner) = spec.strip_suffix(')') {
        let (op, n) = inner.split_once('(').ok_or_else(bad)?;
        (op, n)
    } else {
        let at = spec.find(|c: char| c.is_ascii_digit()).ok_or_else(bad)?;
        spec.split_at(at)
    };
    let n: u64 = n.trim().parse().map_err(|_| bad())?;
    Ok(match op {
        "" => nodes == n,
        ">=" | "ge" => nodes >= n,
        "<=" | "le" => nodes <= n,
        ">" | "gt" => nodes > n,
        "<" | "lt" => nodes < n,
        _ => return Err(bad()),
    })
}

/// The membership numbers health reports: the cluster view's in cluster mode, one node else.
pub(super) struct Membership {
    pub nodes: u64,
    pub manager_known: bool,
}

pub(super) fn membership(state: &AppState) -> Membership {
    match &state.node.cluster {
        None => Membership { nodes: 1, manager_known: true },
        Some(cluster) => {
            let view = cluster.view();
            Membership { nodes: view.nodes.len() as u64, manager_known: view.manager.is_some() }
        }
    }
}

fn rank(status: &str) -> u8 {
    match status {
        "green" => 0,
        "yellow" => 1,
        _ => 2,
    }
}

/// `unavailable`: indices that failed to open (`(name, reason)`): `red`, their primary
/// unassigned.
fn health_body(
    indices: &[std::sync::Arc<Index>],
    unavailable: &[(String, String)],
    params: &HashMap<String, String>,
    node: &LocalNode,
    members: &Membership,
) -> Result<(u16, Value), ApiError> {
    let cluster_name = node.cluster_name.as_str();
    let mut status = if unavailable.is_empty() { "green" } else { "red" };
    let mut primaries = 0;
    let mut active = 0;
    let mut initializing = 0;
    let mut unassigned = unavailable.len() as u64;
    let mut per_index = Map::new();
    let level = params.get("level").map(String::as_str).unwrap_or("cluster");
    for (name, _) in unavailable {
        per_index.insert(
            name.clone(),
            json!({ "status": "red", "number_of_shards": 1, "number_of_replicas": 0, "active_primary_shards": 0,
                    "active_shards": 0, "relocating_shards": 0, "initializing_shards": 0, "unassigned_shards": 1 }),
        );
    }
    for index in indices {
        let health = index_health(index, node);
        if rank(health.status) > rank(status) {
            status = health.status;
        }
        primaries += health.active_primaries;
        active += health.active;
        initializing += health.initializing;
        unassigned += health.unassigned;
        let replicas = index.settings().number_of_replicas();
        let mut entry = json!({
            "status": health.status,
            "number_of_shards": health.shards,
            "number_of_replicas": replicas,
            "active_primary_shards": health.active_primaries,
            "active_shards": health.active,
            "relocating_shards": 0,
            "initializing_shards": health.initializing,
            "unassigned_shards": health.unassigned,
        });
        if level == "shards" {
            let mut shard_map = Map::new();
            for p in &health.placements {
                let (started, init, missing) = p.replica_counts();
                let shard_status = if !p.started() { "red" } else if init + missing > 0 { "yellow" } else { "green" };
                shard_map.insert(
                    p.shard.to_string(),
                    json!({ "status": shard_status, "primary_active": p.started(),
                            "active_shards": u64::from(p.started()) + started,
                            "relocating_shards": 0, "initializing_shards": init,
                            "unassigned_shards": missing + u64::from(!p.started()) }),
                );
            }
            entry["shards"] = Value::Object(shard_map);
        }
        per_index.insert(index.name().to_string(), entry);
    }
    let total = active + initializing + unassigned;
    let percent = if total == 0 { 100.0 } else { active as f64 * 100.0 / total as f64 };
    // A single node never changes shard allocation: an unmet wait_for_status would time out.
    let status_unmet = match params.get("wait_for_status").map(String::as_str) {
        None => false,
        Some(want @ ("green" | "yellow" | "red")) => rank(status) > rank(want),
        Some(other) => {
            return Err(ApiError::illegal_argument(format!("unknown cluster health status [{other}]")));
        }
    };
    let active_shards_unmet = match params.get("wait_for_active_shards").map(String::as_str) {
        None => false,
        Some("all") => unassigned + initializing > 0,
        Some(n) => {
            let wanted: u64 = n.parse().map_err(|_| {
                ApiError::illegal_argument(format!("failed to parse [wait_for_active_shards] value [{n}]"))
            })?;
            wanted > active
        }
    };
    let nodes_unmet = match params.get("wait_for_nodes") {
        None => false,
        Some(spec) => !node_count_matches(spec, members.nodes)?,
    };
    let timed_out = status_unmet || active_shards_unmet || nodes_unmet;
    let mut body = json!({
        "cluster_name": cluster_name,
        "status": status,
        "timed_out": timed_out,
        "number_of_nodes": members.nodes,
        "number_of_data_nodes": members.nodes,
        "discovered_master": members.manager_known,
        "discovered_cluster_manager": members.manager_known,
        "active_primary_shards": primaries,
        "active_shards": active,
        "relocating_shards": 0,
        "initializing_shards": initializing,
        "unassigned_shards": unassigned,
        "delayed_unassigned_shards": 0,
        "number_of_pending_tasks": 0,
        "number_of_in_flight_fetch": 0,
        "task_max_waiting_in_queue_millis": 0,
        "active_shards_percent_as_number": percent,
    });
    if level == "indices" || level == "shards" {
        body["indices"] = Value::Object(per_index);
    }
    Ok((if timed_out { 408 } else { 200 }, body))
}

async fn health(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    wait_for_health(&state, &params, || Ok((state.engine.list(), state.engine.unavailable()))).await
}

async fn health_for(
    State(state): State<AppState>,
    Path(expr): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    // Health looks at every state by default (OpenSearch's `lenientExpandHidden`).
    let expand = expand_wildcards(&params, ExpandWildcards::ALL)?;
    wait_for_health(&state, &params, || {
        let unavailable = state.engine.resolve_unavailable(&expr);
        let indices = if unavailable.is_empty() {
            state.engine.resolve_indices_expanding(&expr, expand)?
        } else {
            state.engine.resolve_indices_lenient(&expr)
        };
        Ok((indices, unavailable))
    })
    .await
}

/// Health, waiting (up to `timeout`, 30s by default) for the `wait_for_*` conditions while the
/// cluster's membership can still change. A single node never changes, so it answers at once.
async fn wait_for_health(
    state: &AppState,
    params: &HashMap<String, String>,
    read: impl Fn() -> Result<(Vec<std::sync::Arc<Index>>, Vec<(String, String)>), ApiError>,
) -> Result<Response, ApiError> {
    let timeout = match params.get("timeout") {
        None => Some(std::time::Duration::from_secs(30)),
        Some(v) => quidditch_engine::search::request::parse_time_value(v)
            .map_err(|e| ApiError::from(quidditch_engine::EngineError::from(e)))?,
    };
    let deadline = std::time::Instant::now() + timeout.unwrap_or_default();
    let mut changes = state.node.cluster.as_ref().map(|c| c.subscribe());
    loop {
        let (indices, unavailable) = read()?;
        let (status, body) = health_body(&indices, &unavailable, params, &state.node, &membership(state))?;
        let remaining = deadline.saturating_duration_since(std::time::Instant::now());
        match changes.as_mut() {
            Some(changes) if status != 200 && !remaining.is_zero() => {
                // Woken by a membership change, re-checked at least every 250 ms.
                let _ = tokio::time::timeout(remaining.min(std::time::Duration::from_millis(250)), changes.changed()).await;
            }
            _ => return Ok(json_response(status, body)),
        }
    }
}

/// A `_cat` table: column names (with aliases) and rows.
pub(super) struct CatTable {
    /// (name, aliases, right-aligned)
    pub columns: &'static [(&'static str, &'static [&'static str], bool)],
    /// Columns shown when `h` is not given.
    pub default: &'static [&'static str],
    pub rows: Vec<HashMap<&'static str, String>>,
}

impl CatTable {
    pub fn render(&self, params: &HashMap<String, String>) -> Result<Response, ApiError> {
        if flag(params, "help")?.unwrap_or(false) {
            return Ok(self.help());
        }
        let wanted: Vec<&'static str> = match params.get("h") {
            Some(h) => h
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(|h| {
                    self.columns
                        .iter()
                        .find(|(name, aliases, _)| *name == h || aliases.contains(&h))
                        .map(|(name, _, _)| *name)
                        .ok_or_else(|| ApiError::illegal_argument(format!("unknown header [{h}]")))
                })
                .collect::<Result<_, _>>()?,
            None => self.default.to_vec(),
        };
        let mut rows = self.rows.clone();
        if let Some(sort) = params.get("s") {
            for key in sort.split(',').rev() {
                let (key, desc) = match key.split_once(':') {
                    Some((k, dir)) => (k, dir == "desc"),
                    None => (key, false),
                };
                let col = self
                    .columns
                    .iter()
                    .find(|(name, aliases, _)| *name == key || aliases.contains(&key))
                    .map(|(name, _, _)| *name);
                if let Some(col) = col {
                    rows.sort_by(|a, b| {
                        let (x, y) = (a.get(col).cloned().unwrap_or_default(), b.get(col).cloned().unwrap_or_default());
                        let ord = match (x.parse::<f64>(), y.parse::<f64>()) {
                            (Ok(p), Ok(q)) => p.partial_cmp(&q).unwrap_or(std::cmp::Ordering::Equal),
                            _ => x.cmp(&y),
                        };
                        if desc { ord.reverse() } else { ord }
                    });
                }
            }
        }
        if params.get("format").map(String::as_str) == Some("json") {
            let arr: Vec<Value> = rows
                .iter()
                .map(|r| {
                    Value::Object(
                        wanted.iter().map(|c| (c.to_string(), json!(r.get(c).cloned().unwrap_or_default()))).collect(),
                    )
                })
                .collect();
            return Ok(json_response(200, Value::Array(arr)));
        }
        let verbose = flag(params, "v")?.unwrap_or(false);
        let mut table: Vec<Vec<String>> = Vec::new();
        if verbose {
            table.push(wanted.iter().map(|c| c.to_string()).collect());
        }
        for r in &rows {
            table.push(wanted.iter().map(|c| r.get(c).cloned().unwrap_or_default()).collect());
        }
        let widths: Vec<usize> =
            (0..wanted.len()).map(|i| table.iter().map(|row| row[i].chars().count()).max().unwrap_or(0)).collect();
        let mut out = String::new();
        for row in &table {
            let mut line = String::new();
            for (i, cell) in row.iter().enumerate() {
                let right = self.columns.iter().find(|(n, _, _)| *n == wanted[i]).is_some_and(|c| c.2);
                let pad = widths[i] - cell.chars().count();
                if i > 0 {
                    line.push(' ');
                }
                if right {
                    line.push_str(&" ".repeat(pad));
                    line.push_str(cell);
                } else {
                    line.push_str(cell);
                    if i + 1 < row.len() {
                        line.push_str(&" ".repeat(pad));
                    }
                }
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        Ok(([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], out).into_response())
    }
}

impl CatTable {
    /// `?help`: one line per column, its name and short names.
    fn help(&self) -> Response {
        let width = self.columns.iter().map(|(n, _, _)| n.len()).max().unwrap_or(0);
        let mut out = String::new();
        for (name, aliases, _) in self.columns {
            out.push_str(&format!("{name:<width$} | {} |\n", aliases.join(",")));
        }
        ([(header::CONTENT_TYPE, "text/plain; charset=UTF-8")], out).into_response()
    }
}

/// Human-readable size like OpenSearch's `_cat` (`208b`, `4.5kb`, `1.2mb`), or raw with `bytes=b`.
pub(super) fn human_size(bytes: u64, unit: Option<&str>) -> String {
    match unit {
        Some("b") => return bytes.to_string(),
        Some("kb") => return (bytes / 1024).to_string(),
        Some("mb") => return (bytes / (1024 * 1024)).to_string(),
        _ => {}
    }
    let units = ["b", "kb", "mb", "gb", "tb"];
    let mut v = bytes as f64;
    let mut i = 0;
    while v >= 1024.0 && i + 1 < units.len() {
        v /= 1024.0;
        i += 1;
    }
    if i == 0 {
        format!("{bytes}b")
    } else {
        let s = format!("{v:.1}");
        format!("{}{}", s.strip_suffix(".0").unwrap_or(&s), units[i])
    }
}

const INDEX_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("health", &["h"], false),
    ("status", &["s"], false),
    ("index", &["i", "idx"], false),
    ("uuid", &["id", "uuid"], false),
    ("pri", &["p", "shards.primary", "shardsPrimary"], true),
    ("rep", &["r", "shards.replica", "shardsReplica"], true),
    ("docs.count", &["dc", "docsCount"], true),
    ("docs.deleted", &["dd", "docsDeleted"], true),
    ("creation.date", &["cd"], true),
    ("creation.date.string", &["cds"], false),
    ("store.size", &["ss", "storeSize"], true),
    ("pri.store.size", &[], true),
];

/// `unavailable`: indices that failed to open (`(name, reason)`), listed `red` with their
/// counts blank, as OpenSearch lists an index whose primary is unassigned.
fn cat_indices_table(
    indices: &[std::sync::Arc<Index>],
    unavailable: &[(String, String)],
    params: &HashMap<String, String>,
    node: &LocalNode,
) -> Result<CatTable, ApiError> {
    let unit = params.get("bytes").map(String::as_str);
    let health_filter = params.get("health").map(String::as_str);
    if let Some(h) = health_filter {
        if !matches!(h, "green" | "yellow" | "red") {
            return Err(ApiError::illegal_argument(format!("unknown health status [{h}]")));
        }
    }
    let rows = indices
        .iter()
        .filter(|index| health_filter.is_none_or(|h| index_health(index, node).status == h))
        .map(|index| {
            let IndexHealth { status: health, shards, .. } = index_health(index, node);
            let (docs, deleted) = index.doc_counts();
            let size = human_size(index.store_size_bytes(), unit);
            let mut r = HashMap::new();
            r.insert("health", health.to_string());
            if index.is_closed() {
                // OpenSearch shows a closed index's name and uuid only.
                r.insert("status", "close".to_string());
                r.insert("index", index.name().to_string());
                r.insert("uuid", index.uuid().to_string());
                return r;
            }
            r.insert("status", "open".to_string());
            r.insert("index", index.name().to_string());
            r.insert("uuid", index.uuid().to_string());
            r.insert("pri", shards.to_string());
            r.insert("rep", index.settings().number_of_replicas().to_string());
            r.insert("docs.count", docs.to_string());
            r.insert("docs.deleted", deleted.to_string());
            r.insert("creation.date", index.creation_date().to_string());
            r.insert("creation.date.string", quidditch_engine::date::format_millis(index.creation_date()));
            r.insert("store.size", size.clone());
            r.insert("pri.store.size", size);
            r
        })
        .collect::<Vec<_>>();
    let mut rows = rows;
    if health_filter.is_none_or(|h| h == "red") {
        for (name, _) in unavailable {
            let mut r: HashMap<&'static str, String> =
                INDEX_COLUMNS.iter().map(|(col, _, _)| (*col, String::new())).collect();
            r.insert("health", "red".to_string());
            r.insert("status", "open".to_string());
            r.insert("index", name.clone());
            rows.push(r);
        }
        rows.sort_by(|a, b| a.get("index").cmp(&b.get("index")));
    }
    Ok(CatTable {
        columns: INDEX_COLUMNS,
        default: &["health", "status", "index", "uuid", "pri", "rep", "docs.count", "docs.deleted", "store.size", "pri.store.size"],
        rows,
    })
}

/// `_cat/indices` lists open and closed indices, hidden ones only when asked
/// (OpenSearch's `strictExpand`).
async fn cat_indices(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let expand = expand_wildcards(&params, ExpandWildcards::OPEN_CLOSED)?;
    let indices = state.engine.resolve_indices_expanding("", expand)?;
    let unavailable = state.engine.unavailable();
    let node = state.node.clone();
    let table = tokio::task::spawn_blocking(move || {
        let t = cat_indices_table(&indices, &unavailable, &params, &node);
        (t, params)
    })
    .await
    .map_err(|e| ApiError::internal(e.to_string()))?;
    table.0?.render(&table.1)
}

async fn cat_indices_for(
    State(state): State<AppState>,
    Path(expr): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    let unavailable = state.engine.resolve_unavailable(&expr);
    let expand = expand_wildcards(&params, ExpandWildcards::OPEN_CLOSED)?;
    let indices = if unavailable.is_empty() {
        state.engine.resolve_indices_expanding(&expr, expand)?
    } else {
        state.engine.resolve_indices_lenient(&expr)
    };
    cat_indices_table(&indices, &unavailable, &params, &state.node)?.render(&params)
}

const SHARD_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("index", &["i", "idx"], false),
    ("shard", &["s", "sh"], true),
    ("prirep", &["p", "pr", "primaryOrReplica"], false),
    ("state", &["st"], false),
    ("docs", &["d", "dc"], true),
    ("store", &["sto"], true),
    ("ip", &[], false),
    ("node", &["n"], false),
];

/// `_cat/shards`: one row per copy: a primary started on the node holding it (unassigned
/// while its node is not a live member), a replica started, initializing or unassigned (see
/// `placement`); documents and size for the copies this node holds.
fn cat_shards_table(indices: &[std::sync::Arc<Index>], params: &HashMap<String, String>, node: &LocalNode) -> CatTable {
    let unit = params.get("bytes").map(String::as_str);
    let mut rows = Vec::new();
    for index in indices {
        let stats = index.shard_stats();
        for place in placements(node, index) {
            let primary = (place.node.clone(), if place.started() { CopyState::Started } else { CopyState::Unassigned }, place.local);
            let replicas = place.replicas.iter().map(|r| (r.node.clone(), r.state, r.local));
            for (pos, (holder, state, local)) in std::iter::once(primary).chain(replicas).enumerate() {
                let mut r = HashMap::new();
                r.insert("index", index.name().to_string());
                r.insert("shard", place.shard.to_string());
                r.insert("prirep", if pos == 0 { "p" } else { "r" }.to_string());
                r.insert("state", state.as_str().to_string());
                if let Some(s) = stats.iter().find(|s| s.shard == place.shard).filter(|_| local) {
                    r.insert("docs", s.docs.to_string());
                    r.insert("store", human_size(s.store_bytes, unit));
                }
                if let Some(holder) = holder {
                    r.insert("ip", holder.ip.clone());
                    r.insert("node", holder.name.clone());
                }
                rows.push(r);
            }
        }
    }
    CatTable {
        columns: SHARD_COLUMNS,
        default: &["index", "shard", "prirep", "state", "docs", "store", "ip", "node"],
        rows,
    }
}

async fn cat_shards(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let indices = state.engine.list();
    let node = state.node.clone();
    let (table, params) = tokio::task::spawn_blocking(move || (cat_shards_table(&indices, &params, &node), params))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    table.render(&params)
}

async fn cat_shards_for(
    State(state): State<AppState>,
    Path(expr): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    let indices = state.engine.resolve_indices(&expr)?;
    let node = state.node.clone();
    let (table, params) = tokio::task::spawn_blocking(move || (cat_shards_table(&indices, &params, &node), params))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))?;
    table.render(&params)
}

const HEALTH_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("epoch", &["t", "time"], true),
    ("timestamp", &["ts", "hms", "hhmmss"], false),
    ("cluster", &["cl"], false),
    ("status", &["st"], false),
    ("node.total", &["nt", "nodeTotal"], true),
    ("node.data", &["nd", "nodeData"], true),
    ("discovered_cluster_manager", &["dcm"], false),
    ("shards", &["t", "sh", "shards.total"], true),
    ("pri", &["p", "shards.primary"], true),
    ("relo", &["r", "shards.relocating"], true),
    ("init", &["i", "shards.initializing"], true),
    ("unassign", &["u", "shards.unassigned"], true),
    ("pending_tasks", &["pt"], true),
    ("max_task_wait_time", &["mtwt"], true),
    ("active_shards_percent", &["asp"], true),
];

async fn cat_health(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let members = membership(&state);
    let (_, h) = health_body(&state.engine.list(), &state.engine.unavailable(), &HashMap::new(), &state.node, &members)?;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let ts = quidditch_engine::date::format_millis(now_ms);
    let get = |k: &str| h.get(k).map(|v| v.to_string().trim_matches('"').to_string()).unwrap_or_default();
    let mut r = HashMap::new();
    r.insert("epoch", (now_ms / 1000).to_string());
    r.insert("timestamp", ts.get(11..19).unwrap_or_default().to_string());
    r.insert("cluster", get("cluster_name"));
    r.insert("status", get("status"));
    r.insert("node.total", members.nodes.to_string());
    r.insert("node.data", members.nodes.to_string());
    r.insert("discovered_cluster_manager", members.manager_known.to_string());
    r.insert("shards", get("active_shards"));
    r.insert("pri", get("active_primary_shards"));
    r.insert("relo", "0".to_string());
    r.insert("init", "0".to_string());
    r.insert("unassign", get("unassigned_shards"));
    r.insert("pending_tasks", "0".to_string());
    r.insert("max_task_wait_time", "-".to_string());
    r.insert(
        "active_shards_percent",
        format!("{:.1}%", h["active_shards_percent_as_number"].as_f64().unwrap_or(100.0)),
    );
    const WITH_TIME: &[&str] = &[
        "epoch", "timestamp", "cluster", "status", "node.total", "node.data", "discovered_cluster_manager",
        "shards", "pri", "relo", "init", "unassign", "pending_tasks", "max_task_wait_time", "active_shards_percent",
    ];
    // `ts=false` drops the time columns from the default set (OpenSearch's `ts`).
    let default = if flag(&params, "ts")? == Some(false) { &WITH_TIME[2..] } else { WITH_TIME };
    CatTable { columns: HEALTH_COLUMNS, default, rows: vec![r] }.render(&params)
}

const ALIAS_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("alias", &["a"], false),
    ("index", &["i", "idx"], false),
    ("filter", &["f", "fi"], false),
    ("routing.index", &["ri", "routingIndex"], false),
    ("routing.search", &["rs", "routingSearch"], false),
    ("is_write_index", &["w", "isWriteIndex"], false),
];

/// `_cat/aliases[/{names}]`: one row per (alias, index), `-` for what is not set and `*` for
/// a filter (as OpenSearch shows it).
fn cat_aliases_table(state: &AppState, names: Option<&str>) -> CatTable {
    let patterns: Vec<&str> = names.map(|n| n.split(',').map(str::trim).filter(|p| !p.is_empty()).collect()).unwrap_or_default();
    let dash = |v: Option<String>| v.unwrap_or_else(|| "-".to_string());
    let rows = state
        .engine
        .aliases()
        .entries()
        .into_iter()
        .filter(|(alias, _, _)| patterns.is_empty() || patterns.iter().any(|p| quidditch_engine::alias::alias_matches(p, alias)))
        .map(|(alias, index, meta)| {
            let mut r = HashMap::new();
            r.insert("alias", alias);
            r.insert("index", index);
            r.insert("filter", dash(meta.filter.map(|_| "*".to_string())));
            r.insert("routing.index", dash(meta.index_routing));
            r.insert("routing.search", dash(meta.search_routing));
            r.insert("is_write_index", dash(meta.is_write_index.map(|w| w.to_string())));
            r
        })
        .collect();
    CatTable {
        columns: ALIAS_COLUMNS,
        default: &["alias", "index", "filter", "routing.index", "routing.search", "is_write_index"],
        rows,
    }
}

async fn cat_aliases(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    cat_aliases_table(&state, None).render(&params)
}

async fn cat_aliases_for(
    State(state): State<AppState>,
    Path(names): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    cat_aliases_table(&state, Some(&names)).render(&params)
}

const TEMPLATE_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("name", &["n"], false),
    ("index_patterns", &["t"], false),
    ("order", &["o", "p"], true),
    ("version", &["v"], true),
    ("composed_of", &["c"], false),
];

/// `_cat/templates[/{name}]`: composable templates (their priority as `order`) and legacy
/// ones, by name.
fn cat_templates_table(state: &AppState, name: Option<&str>) -> CatTable {
    use quidditch_engine::template::select;
    let store = state.engine.templates();
    let list = |v: &[String]| format!("[{}]", v.join(", "));
    let row = |name: &str, patterns: &[String], order: i64, version: Option<i64>, composed_of: String| {
        let mut r = HashMap::new();
        r.insert("name", name.to_string());
        r.insert("index_patterns", list(patterns));
        r.insert("order", order.to_string());
        r.insert("version", version.map(|v| v.to_string()).unwrap_or_default());
        r.insert("composed_of", composed_of);
        r
    };
    let mut rows: Vec<HashMap<&'static str, String>> = select(&store.index_templates, name)
        .0
        .into_iter()
        .map(|(n, t)| row(n, &t.index_patterns, t.priority.unwrap_or(0), t.version, list(&t.composed_of)))
        .collect();
    rows.extend(
        select(&store.legacy_templates, name)
            .0
            .into_iter()
            .map(|(n, t)| row(n, &t.index_patterns, t.order, t.version, String::new())),
    );
    rows.sort_by(|a, b| a.get("name").cmp(&b.get("name")));
    CatTable { columns: TEMPLATE_COLUMNS, default: &["name", "index_patterns", "order", "version", "composed_of"], rows }
}

async fn cat_templates(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    cat_templates_table(&state, None).render(&params)
}

async fn cat_templates_for(
    State(state): State<AppState>,
    Path(name): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    cat_templates_table(&state, Some(&name)).render(&params)
}
