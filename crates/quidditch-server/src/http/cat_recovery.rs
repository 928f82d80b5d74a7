//! `_cat/recovery`: the recoveries of replica copies (cluster mode, see `crate::shard_copies`),
//! every node's: each node lists those of its own copies (`GET /_quidditch/copies/_recoveries`),
//! the node that took the request asks every live member. Recovery is operation based, so
//! the `translog_ops*` columns count the documents copied; `files*` and `bytes*` stay 0.

use std::collections::HashMap;

use axum::Json;
use axum::extract::{Query, State};
use axum::response::Response;
use axum::routing::get;
use serde::{Deserialize, Serialize};

use super::cluster::CatTable;
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState};

const CAT_RECOVERY: ApiParams = ApiParams::new(&["h", "s", "v", "help", "active_only"]).not_implemented(&["detailed", "bytes", "time"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_cat/recovery", get(cat_recovery), &CAT_RECOVERY)
        .route("/_quidditch/copies/_recoveries", get(local_recoveries), &ApiParams::NONE)
}

/// One recovery of one copy, as a node reports it.
#[derive(Debug, Serialize, Deserialize)]
struct RecoveryRow {
    index: String,
    shard: u32,
    source: String,
    target: String,
    docs: u64,
    millis: u64,
    done: bool,
}

fn local_rows(state: &AppState) -> Vec<RecoveryRow> {
    let Some(copies) = &state.node.shard_copies else { return Vec::new() };
    copies
        .recoveries()
        .into_iter()
        .map(|r| RecoveryRow {
            index: r.index,
            shard: r.shard,
            source: r.source,
            target: state.node.name.clone(),
            docs: r.docs,
            millis: r.finished.unwrap_or_else(std::time::Instant::now).duration_since(r.started).as_millis() as u64,
            done: r.finished.is_some(),
        })
        .collect()
}

async fn local_recoveries(State(state): State<AppState>) -> Json<Vec<RecoveryRow>> {
    Json(local_rows(&state))
}

const COLUMNS: &[(&str, &[&str], bool)] = &[
    ("index", &["i", "idx"], false),
    ("shard", &["s", "sh"], true),
    ("time", &["t", "ti"], true),
    ("type", &["ty"], false),
    ("stage", &["st"], false),
    ("source_node", &["snode"], false),
    ("target_node", &["tnode"], false),
    ("files", &["f"], true),
    ("files_percent", &["fp"], true),
    ("bytes", &["b"], true),
    ("bytes_percent", &["bp"], true),
    ("translog_ops", &["to"], true),
    ("translog_ops_recovered", &["tor"], true),
    ("translog_ops_percent", &["top"], true),
];

async fn cat_recovery(State(state): State<AppState>, Query(params): Query<HashMap<String, String>>) -> Result<Response, ApiError> {
    let active_only = super::indices::flag(&params, "active_only")?.unwrap_or(false);
    let mut all = local_rows(&state);
    if let Some(cluster) = &state.node.cluster {
        let me = cluster.local().name.clone();
        for node in cluster.view().nodes.into_values().filter(|n| n.name != me) {
            let answer = cluster.peers().get_json(&node, "/_quidditch/copies/_recoveries").await?;
            all.extend(serde_json::from_value::<Vec<RecoveryRow>>(answer).map_err(|e| ApiError::internal(e.to_string()))?);
        }
    }
    let rows = all
        .into_iter()
        .filter(|r| !active_only || !r.done)
        .map(|r| {
            let mut row = HashMap::new();
            row.insert("index", r.index);
            row.insert("shard", r.shard.to_string());
            row.insert("time", format!("{}ms", r.millis));
            row.insert("type", "peer".to_string());
            row.insert("stage", if r.done { "done" } else { "translog" }.to_string());
            row.insert("source_node", r.source);
            row.insert("target_node", r.target);
            for key in ["files", "bytes"] {
                row.insert(key, "0".to_string());
            }
            for key in ["files_percent", "bytes_percent"] {
                row.insert(key, "100.0%".to_string());
            }
            row.insert("translog_ops", r.docs.to_string());
            row.insert("translog_ops_recovered", r.docs.to_string());
            row.insert("translog_ops_percent", if r.done { "100.0%" } else { "-1.0%" }.to_string());
            row
        })
        .collect();
    CatTable {
        columns: COLUMNS,
        default: &["index", "shard", "time", "type", "stage", "source_node", "target_node", "translog_ops_recovered", "translog_ops_percent"],
        rows,
    }
    .render(&params)
}
