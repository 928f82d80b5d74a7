//! HTTP route: `_explain` (GET|POST `/{index}/_explain/{id}`): the score breakdown of one
//! document for a query (`quidditch_engine::search::explain`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;

use quidditch_engine::EngineError;
use quidditch_engine::search::explain::ExplainParams;

use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};

/// `routing` and `preference` pick a shard: the document's shard is found by its id anyway.
/// `q`/`df`/`default_operator`/`analyzer`/`analyze_wildcard`/`lenient` are the `_search?q=`
/// query, and the `_source` parameters return the document under `get`. `stored_fields`
/// needs stored fields, which no mapping here has (everything is in `_source`).
const EXPLAIN: ApiParams = ApiParams::new(&[
    "routing", "preference", "q", "df", "default_operator", "analyzer", "analyze_wildcard", "lenient",
    "_source", "_source_includes", "_source_include", "_source_excludes", "_source_exclude",
])
.not_implemented(&["stored_fields"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new().route("/{index}/_explain/{id}", get(explain).post(explain), &EXPLAIN)
}

async fn explain(
    State(state): State<AppState>,
    Path((index, id)): Path<(String, String)>,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?;
    let params = ExplainParams::from_params(&params);
    let engine = state.engine.clone();
    let out = tokio::task::spawn_blocking(move || {
        let targets = engine.resolve_search(&index)?;
        let [target] = targets.as_slice() else {
            return Err(EngineError::IllegalArgument(format!(
                "[{index}] must resolve to exactly one index for _explain, it resolves to {}",
                targets.len()
            )));
        };
        quidditch_engine::search::explain::explain(target, &id, body.as_ref(), &params)
    })
    .await
    .map_err(|e| ApiError::new(500, "exception", format!("explain task failed: {e}")))??;
    let status = if out.get("matched").is_some_and(|m| m == true) || out.get("explanation").is_some() { 200 } else { 404 };
    Ok(json_response(status, out))
}
