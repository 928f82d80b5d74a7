//! HTTP routes: point in time — create (`POST /{index}/_search/point_in_time`), list
//! (`GET /_search/point_in_time/_all`), delete (`DELETE /_search/point_in_time` with
//! `pit_id` in the body, or `/_all`). Searching a PIT is `_search` with `pit` in its body
//! (http/search.rs); the contexts live in the engine (`search::pit`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::{delete, get, post};
use quidditch_engine::search;
use serde_json::{Value, json};

use super::indices::flag;
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};

/// `preference` picks a shard copy: one node has one copy of each shard, so any value is
/// that copy; `allow_partial_pit_creation` cannot change anything when every shard is local.
const CREATE_PIT: ApiParams = ApiParams::new(&["keep_alive", "allow_partial_pit_creation", "preference", "routing"]);
const DELETE_PIT: ApiParams = ApiParams::new(&[]);
const ALL_PITS: ApiParams = ApiParams::new(&[]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/{index}/_search/point_in_time", post(create_pit), &CREATE_PIT)
        .route("/_search/point_in_time", delete(delete_pits), &DELETE_PIT)
        .route("/_search/point_in_time/_all", get(list_pits).delete(delete_all_pits), &ALL_PITS)
}

fn validation(reason: &str) -> ApiError {
    ApiError::bad_request("action_request_validation_exception", format!("Validation Failed: 1: {reason};"))
}

async fn create_pit(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    if parse_json_body(&body)?.is_some() {
        return Err(ApiError::bad_request("parse_exception", "request body is not supported for [create_pit]"));
    }
    flag(&params, "allow_partial_pit_creation")?;
    let keep_alive = params.get("keep_alive").ok_or_else(|| validation("keep alive not specified"))?;
    let keep_alive = search::request::parse_time_value(keep_alive)
        .map_err(|e| ApiError::from(quidditch_engine::EngineError::from(e)))?
        .ok_or_else(|| validation("keep alive not specified"))?;
    let routing: Option<Vec<String>> =
        params.get("routing").filter(|r| !r.is_empty()).map(|r| r.split(',').map(str::to_string).collect());
    let engine = state.engine.clone();
    let targets = engine.resolve_search(&index)?;
    let created = engine.pits().create(&targets, routing.as_deref(), keep_alive)?;
    Ok(json_response(200, created))
}

async fn list_pits(State(state): State<AppState>) -> Result<Response, ApiError> {
    let pits: Vec<Value> = state
        .engine
        .pits()
        .list()
        .into_iter()
        .map(|p| json!({"pit_id": p.pit_id, "creation_time": p.creation_time, "keep_alive": p.keep_alive_ms}))
        .collect();
    Ok(json_response(200, json!({ "pits": pits })))
}

/// The body is `{"pit_id": "…"}` or `{"pit_id": ["…", …]}`.
async fn delete_pits(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?.ok_or_else(|| validation("no pit ids specified"))?;
    let obj = body.as_object().ok_or_else(|| ApiError::bad_request("parse_exception", "request body must be an object"))?;
    let mut ids = Vec::new();
    for (k, v) in obj {
        match (k.as_str(), v) {
            ("pit_id", Value::String(s)) => ids.push(s.clone()),
            ("pit_id", Value::Array(list)) => {
                for id in list {
                    let id = id.as_str().ok_or_else(|| ApiError::illegal_argument("[pit_id] must be a string or an array of strings"))?;
                    ids.push(id.to_string());
                }
            }
            ("pit_id", _) => return Err(ApiError::illegal_argument("[pit_id] must be a string or an array of strings")),
            (other, _) => return Err(ApiError::illegal_argument(format!("Unknown parameter [{other}] in request body"))),
        }
    }
    if ids.is_empty() {
        return Err(validation("no pit ids specified"));
    }
    let freed = state.engine.pits().delete(&ids)?;
    let pits: Vec<Value> = freed.into_iter().map(|(id, ok)| json!({"successful": ok, "pit_id": id})).collect();
    Ok(json_response(200, json!({ "pits": pits })))
}

async fn delete_all_pits(State(state): State<AppState>) -> Result<Response, ApiError> {
    let pits: Vec<Value> =
        state.engine.pits().delete_all().into_iter().map(|id| json!({"successful": true, "pit_id": id})).collect();
    Ok(json_response(200, json!({ "pits": pits })))
}
