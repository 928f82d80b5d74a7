//! HTTP routes: the `_cat` APIs about the node rather than the indices' contents —
//! `_cat/cluster_manager` (and its deprecated name `_cat/master`), `_cat/count`,
//! `_cat/allocation`, `_cat/segments`, `_cat/plugins`, `_cat/pending_tasks` (and its JSON
//! form `_cluster/pending_tasks`, which shares its one rule). Every table goes
//! through the one renderer, [`super::cluster::CatTable`] (`v`, `h`, `s`, `help`,
//! `format=json`); sizes follow `bytes=` and times `time=`.

use std::collections::HashMap;
use std::sync::Arc;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use quidditch_engine::Index;

use super::cluster::{CatTable, human_size};
use super::indices::Params;
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, add_deprecation_warning};

/// `local`/`master_timeout`: one node answers from its own state at once.
const CAT_NODE: ApiParams =
    ApiParams::new(&["h", "s", "v", "help", "local", "master_timeout", "cluster_manager_timeout"]);
const CAT_COUNT: ApiParams = ApiParams::new(&["h", "s", "v", "help"]);
const CAT_SIZED: ApiParams =
    ApiParams::new(&["h", "s", "v", "help", "bytes", "local", "master_timeout", "cluster_manager_timeout"]);
const PENDING: ApiParams = ApiParams::new(&["local", "master_timeout", "cluster_manager_timeout"]);
const CAT_PENDING: ApiParams =
    ApiParams::new(&["h", "s", "v", "help", "time", "local", "master_timeout", "cluster_manager_timeout"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_cat/cluster_manager", get(cat_cluster_manager), &CAT_NODE)
        .route("/_cat/master", get(cat_master), &CAT_NODE)
        .route("/_cat/count", get(cat_count), &CAT_COUNT)
        .route("/_cat/count/{index}", get(cat_count_for), &CAT_COUNT)
        .route("/_cat/allocation", get(cat_allocation), &CAT_SIZED)
        .route("/_cat/allocation/{node_id}", get(cat_allocation_for), &CAT_SIZED)
        .route("/_cat/segments", get(cat_segments), &CAT_SIZED)
        .route("/_cat/segments/{index}", get(cat_segments_for), &CAT_SIZED)
        .route("/_cat/plugins", get(cat_plugins), &CAT_NODE)
        .route("/_cat/pending_tasks", get(cat_pending_tasks), &CAT_PENDING)
        .route("/_cluster/pending_tasks", get(cluster_pending_tasks), &PENDING)
}

type Row = HashMap<&'static str, String>;

/// A node as the `_cat` tables show it.
struct NodeRow {
    id: String,
    name: String,
    ip: String,
}

fn local_node(state: &AppState) -> NodeRow {
    NodeRow { id: state.node.id.clone(), name: state.node.name.clone(), ip: state.node.ip() }
}

/// The elected cluster manager: this node when single; in cluster mode the view's manager
/// (none while no node holds the election).
fn manager_node(state: &AppState) -> Option<NodeRow> {
    match &state.node.cluster {
        None => Some(local_node(state)),
        Some(cluster) => {
            let view = cluster.view();
            let manager = view.manager_node()?;
            Some(NodeRow { id: manager.id.clone(), name: manager.name.clone(), ip: host_of(&manager.http_url) })
        }
    }
}

/// `http://10.0.0.2:9200` → `10.0.0.2`.
fn host_of(url: &str) -> String {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let authority = rest.split('/').next().unwrap_or(rest);
    match authority.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host.trim_matches(['[', ']']).to_string(),
        _ => authority.to_string(),
    }
}

const MANAGER_COLUMNS: &[(&str, &[&str], bool)] =
    &[("id", &[], false), ("host", &["h"], false), ("ip", &[], false), ("node", &["n"], false)];

fn manager_table(state: &AppState) -> CatTable {
    let rows = manager_node(state)
        .map(|n| {
            let mut r = Row::new();
            r.insert("id", n.id);
            r.insert("host", n.ip.clone());
            r.insert("ip", n.ip);
            r.insert("node", n.name);
            vec![r]
        })
        .unwrap_or_default();
    CatTable { columns: MANAGER_COLUMNS, default: &["id", "host", "ip", "node"], rows }
}

async fn cat_cluster_manager(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    manager_table(&state).render(&params)
}

async fn cat_master(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let mut resp = manager_table(&state).render(&params)?;
    add_deprecation_warning(&mut resp, "[GET /_cat/master] is deprecated! Use [GET /_cat/cluster_manager] instead.");
    Ok(resp)
}

const COUNT_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("epoch", &["t", "time"], true),
    ("timestamp", &["ts", "hms", "hhmmss"], false),
    ("count", &["dc", "docs.count", "docsCount"], true),
];

fn now_ms() -> i64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// `epoch` and `timestamp` (`HH:MM:SS`, UTC) of now, as `_cat/count` and `_cat/health` show.
fn stamp(r: &mut Row) {
    let now = now_ms();
    r.insert("epoch", (now / 1000).to_string());
    let ts = quidditch_engine::date::format_millis(now);
    r.insert("timestamp", ts.get(11..19).unwrap_or_default().to_string());
}

/// `_cat/count[/{index}]`: the documents a search sees (closed indices are not counted,
/// as OpenSearch's count skips them).
fn count_table(indices: &[Arc<Index>]) -> CatTable {
    let count: u64 = indices.iter().filter(|i| !i.is_closed()).map(|i| i.doc_counts().0).sum();
    let mut r = Row::new();
    stamp(&mut r);
    r.insert("count", count.to_string());
    CatTable { columns: COUNT_COLUMNS, default: &["epoch", "timestamp", "count"], rows: vec![r] }
}

async fn cat_count(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let indices = state.engine.list();
    blocking_render(move || Ok(count_table(&indices)), params).await
}

async fn cat_count_for(
    State(state): State<AppState>,
    Path(expr): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    let indices = state.engine.resolve_indices(&expr)?;
    blocking_render(move || Ok(count_table(&indices)), params).await
}

/// Builds a table on a blocking thread (it reads index files), then renders it.
async fn blocking_render(
    build: impl FnOnce() -> Result<CatTable, ApiError> + Send + 'static,
    params: HashMap<String, String>,
) -> Result<Response, ApiError> {
    let table = tokio::task::spawn_blocking(build).await.map_err(|e| ApiError::internal(e.to_string()))??;
    table.render(&params)
}

const ALLOCATION_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("shards", &["s"], true),
    ("disk.indices", &["di", "diskIndices"], true),
    ("disk.used", &["du", "diskUsed"], true),
    ("disk.avail", &["da", "diskAvail"], true),
    ("disk.total", &["dt", "diskTotal"], true),
    ("disk.percent", &["dp", "diskPercent"], true),
    ("host", &["h"], false),
    ("ip", &[], false),
    ("node", &["n"], false),
];

/// `_cat/allocation`: this node's started shards (the primaries) and the bytes its indices
/// take; replicas never allocated on one node are counted on an `UNASSIGNED` row, as
/// OpenSearch shows them. The disk's own used/available/total are left blank, as OpenSearch
/// leaves them when it has no disk usage for the node: Quidditch does not read file-system
/// statistics.
fn allocation_table(state: &AppState, indices: &[Arc<Index>], node_filter: Option<&str>, unit: Option<&str>) -> CatTable {
    let node = local_node(state);
    let mut shards = 0u64;
    let mut unassigned = 0u64;
    let mut bytes = 0u64;
    for index in indices {
        let settings = index.settings();
        let n = settings.number_of_shards() as u64;
        shards += n;
        unassigned += n * settings.number_of_replicas() as u64;
        bytes += index.store_size_bytes();
    }
    let wanted = |what: &str| {
        node_filter.is_none_or(|f| f.split(',').any(|p| p == "_all" || p == "_local" || p == "*" || p == what || p == node.id || p == node.name))
    };
    let mut rows = Vec::new();
    if wanted(&node.name) {
        let mut r = Row::new();
        r.insert("shards", shards.to_string());
        r.insert("disk.indices", human_size(bytes, unit));
        r.insert("host", node.ip.clone());
        r.insert("ip", node.ip.clone());
        r.insert("node", node.name.clone());
        rows.push(r);
    }
    if unassigned > 0 && node_filter.is_none() {
        let mut r = Row::new();
        r.insert("shards", unassigned.to_string());
        r.insert("node", "UNASSIGNED".to_string());
        rows.push(r);
    }
    CatTable {
        columns: ALLOCATION_COLUMNS,
        default: &["shards", "disk.indices", "disk.used", "disk.avail", "disk.total", "disk.percent", "host", "ip", "node"],
        rows,
    }
}

async fn cat_allocation(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let indices = state.engine.list();
    let unit = params.get("bytes").cloned();
    blocking_render(move || Ok(allocation_table(&state, &indices, None, unit.as_deref())), params).await
}

async fn cat_allocation_for(
    State(state): State<AppState>,
    Path(node_id): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    let indices = state.engine.list();
    let unit = params.get("bytes").cloned();
    blocking_render(move || Ok(allocation_table(&state, &indices, Some(&node_id), unit.as_deref())), params).await
}

const SEGMENT_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("index", &["i", "idx"], false),
    ("shard", &["s", "sh"], true),
    ("prirep", &["p", "pr", "primaryOrReplica"], false),
    ("ip", &[], false),
    ("id", &[], false),
    ("segment", &["seg"], false),
    ("generation", &["g", "gen"], true),
    ("docs.count", &["dc", "docsCount"], true),
    ("docs.deleted", &["dd", "docsDeleted"], true),
    ("size", &["si"], true),
    ("size.memory", &["sm", "sizeMemory"], true),
    ("committed", &["ic", "isCommitted"], false),
    ("searchable", &["is", "isSearchable"], false),
    ("version", &["v", "segmentVersion"], false),
    ("compound", &["ico", "isCompound"], false),
];

/// `_cat/segments[/{index}]`: one row per searchable tantivy segment of each primary.
/// `segment` is tantivy's short segment id and `generation` its position in the shard
/// (tantivy has no Lucene generation numbers); `size.memory` is 0 as in OpenSearch 2.x
/// (segments hold no heap it tracks); `version` names the tantivy that wrote it; tantivy
/// never writes compound files.
fn segments_table(state: &AppState, indices: &[Arc<Index>], unit: Option<&str>) -> CatTable {
    let node = local_node(state);
    // "tantivy v0.27.0, index_format v7, …" → "tantivy-0.27.0".
    let version = tantivy::version_string().split(',').next().unwrap_or_default().replace(" v", "-");
    let mut rows = Vec::new();
    for index in indices.iter().filter(|i| !i.is_closed()) {
        let mut generation = HashMap::new();
        for segment in index.segments() {
            let position = generation.entry(segment.shard).or_insert(0u32);
            let mut r = Row::new();
            r.insert("index", index.name().to_string());
            r.insert("shard", segment.shard.to_string());
            r.insert("prirep", "p".to_string());
            r.insert("ip", node.ip.clone());
            r.insert("id", node.id.clone());
            r.insert("segment", segment.id);
            r.insert("generation", position.to_string());
            r.insert("docs.count", segment.docs.to_string());
            r.insert("docs.deleted", segment.deleted.to_string());
            r.insert("size", human_size(segment.bytes, unit));
            r.insert("size.memory", human_size(0, unit));
            r.insert("committed", segment.committed.to_string());
            r.insert("searchable", "true".to_string());
            r.insert("version", version.clone());
            r.insert("compound", "false".to_string());
            rows.push(r);
            *position += 1;
        }
    }
    CatTable {
        columns: SEGMENT_COLUMNS,
        default: &[
            "index", "shard", "prirep", "ip", "segment", "generation", "docs.count", "docs.deleted", "size", "size.memory",
            "committed", "searchable", "version", "compound",
        ],
        rows,
    }
}

async fn cat_segments(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let indices = state.engine.list();
    let unit = params.get("bytes").cloned();
    blocking_render(move || Ok(segments_table(&state, &indices, unit.as_deref())), params).await
}

async fn cat_segments_for(
    State(state): State<AppState>,
    Path(expr): Path<String>,
    axum::extract::Query(params): Params,
) -> Result<Response, ApiError> {
    let indices = state.engine.resolve_indices(&expr)?;
    let unit = params.get("bytes").cloned();
    blocking_render(move || Ok(segments_table(&state, &indices, unit.as_deref())), params).await
}

const PLUGIN_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("id", &[], false),
    ("name", &["n"], false),
    ("component", &["c"], false),
    ("version", &["v"], false),
    ("description", &["d"], false),
];

/// `_cat/plugins`: Quidditch loads no OpenSearch plugins (its extensions are WASM UDFs,
/// listed by `GET /_udf`), so the table is empty.
async fn cat_plugins(axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    CatTable { columns: PLUGIN_COLUMNS, default: &["name", "component", "version"], rows: Vec::new() }.render(&params)
}

const PENDING_COLUMNS: &[(&str, &[&str], bool)] = &[
    ("insertOrder", &["o"], true),
    ("timeInQueue", &["t"], true),
    ("priority", &["p"], false),
    ("source", &["s"], false),
];

/// Cluster-state changes waiting for the manager. A single node applies each change (index
/// creation, mappings, settings) in the request that makes it, so nothing ever waits.
fn pending_tasks() -> Vec<Row> {
    Vec::new()
}

async fn cat_pending_tasks(axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    CatTable { columns: PENDING_COLUMNS, default: &["insertOrder", "timeInQueue", "priority", "source"], rows: pending_tasks() }
        .render(&params)
}

async fn cluster_pending_tasks() -> Response {
    let tasks: Vec<serde_json::Value> = pending_tasks().into_iter().map(|r| serde_json::json!(r)).collect();
    super::json_response(200, serde_json::json!({ "tasks": tasks }))
}
