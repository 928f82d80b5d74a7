//! Cluster mode: the node-to-node API of shard copies (see `crate::shard_copies`): a
//! primary's write batches to its replicas, and the primary's side of a replica's recovery.
//! Bodies and answers are postcard; errors are OpenSearch JSON.

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde::de::DeserializeOwned;

use super::params::{ApiParams, ApiRoutes};
use super::shard_phases::held_index;
use super::{ApiError, AppState};
use crate::shard_copies::{POSTCARD, RecoveryStart, ReplicaOps, ShardCopies};

const INTERNAL: ApiParams = ApiParams::NONE;

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_quidditch/copies/{index}/_ops", post(ops), &INTERNAL)
        .route("/_quidditch/copies/{index}/_start", post(start), &INTERNAL)
        .route("/_quidditch/copies/{index}/_chunk", post(chunk), &INTERNAL)
        .route("/_quidditch/copies/{index}/_finish", post(finish), &INTERNAL)
}

fn copies(state: &AppState) -> Result<Arc<ShardCopies>, ApiError> {
    state.node.shard_copies.clone().ok_or_else(|| ApiError::bad_request("illegal_argument_exception", "this node is not in a cluster"))
}

fn decode<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    postcard::from_bytes(body).map_err(|e| ApiError::bad_request("parse_exception", format!("unreadable shard copy call: {e}")))
}

fn answer<T: serde::Serialize>(value: &T) -> Result<Response, ApiError> {
    let bytes = postcard::to_allocvec(value).map_err(|e| ApiError::internal(format!("encoding a shard copy answer: {e}")))?;
    Ok(([(axum::http::header::CONTENT_TYPE, POSTCARD)], bytes).into_response())
}

async fn on_blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T, ApiError> + Send + 'static) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(f).await.map_err(|e| ApiError::internal(e.to_string()))?
}

/// A replica applies its primary's write batch.
async fn ops(State(state): State<AppState>, Path(name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let copies = copies(&state)?;
    let call: ReplicaOps = decode(&body)?;
    let index = held_index(&state, &name, &call.uuid)?;
    let applied = on_blocking(move || Ok(copies.apply(&index, call)?)).await?;
    answer(&(applied as u64))
}

/// The primary starts serving a replica's recovery.
async fn start(State(state): State<AppState>, Path(name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let copies = copies(&state)?;
    let call: RecoveryStart = decode(&body)?;
    let index = held_index(&state, &name, &call.uuid)?;
    let id = on_blocking(move || Ok(copies.start_recovery(index, call)?)).await?;
    answer(&id)
}

async fn chunk(State(state): State<AppState>, Path(_name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let copies = copies(&state)?;
    let id: u64 = decode(&body)?;
    let ops = on_blocking(move || Ok(copies.recovery_chunk(id)?)).await?;
    answer(&ops)
}

async fn finish(State(state): State<AppState>, Path(_name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    let copies = copies(&state)?;
    let id: u64 = decode(&body)?;
    copies.finish_recovery(id).await?;
    answer(&())
}
