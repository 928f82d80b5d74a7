//! HTTP route: `_explain` (GET|POST `/{index}/_explain/{id}`): the score breakdown of one
//! document for a query (`quidditch_engine::search::explain`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;

use quidditch_engine::EngineError;

use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};

/// `routing` and `preference` pick a shard: the document's shard is found by its id anyway.
const EXPLAIN: ApiParams = ApiParams::new(&["routing", "preference"]).not_implemented(&[
    "analyze_wildcard", "analyzer", "default_operator", "df", "lenient", "q", "stored_fields",
    "_source", "_source_includes", "_source_excludes",
]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new().route("/{index}/_explain/{id}", get(explain).post(explain), &EXPLAIN)
}

async fn explain(
    State(state): State<AppState>,
    Path((index, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?;
    let engine = state.engine.clone();
    let out = tokio::task::spawn_blocking(move || {
        let targets = engine.resolve_search(&index)?;
        let [target] = targets.as_slice() else {
            return Err(EngineError::IllegalArgument(format!(
                "[{index}] must resolve to exactly one index for _explain, it resolves to {}",
                targets.len()
            )));
        };
        quidditch_engine::search::explain::explain(target, &id, body.as_ref())
    })
    .await
    .map_err(|e| ApiError::new(500, "exception", format!("explain task failed: {e}")))??;
    let status = if out.get("matched").is_some_and(|m| m == true) || out.get("explanation").is_some() { 200 } else { 404 };
    Ok(json_response(status, out))
}
