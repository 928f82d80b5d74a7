//! The HTTP layer: thin handlers that parse requests, call the engine or the UDF registry,
//! and shape OpenSearch-compatible responses. One module per API area.

pub mod error;

mod aliases;
mod analysis;
pub mod params;
mod placement;

mod by_query;
mod cat;
mod cluster;
mod cluster_settings;
mod cluster_state;
mod cluster_sync;
mod documents;
mod explain;
mod forwarding;
mod field_api;
mod indices;
mod nodes;
mod pit;
mod scripts;
mod search;
pub mod security;
mod settings_view;
mod tasks;
mod cat_recovery;
mod shard_copies;
mod shard_phases;
mod templates;
mod transport;
mod udfs;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::DefaultBodyLimit;
use axum::http::{Request, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use serde_json::Value;

pub use error::ApiError;

use crate::config::ServerConfig;

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub engine: Arc<quidditch_engine::Engine>,
    pub udfs: Arc<quidditch_udf::UdfRegistry>,
    pub config: Arc<ServerConfig>,
    /// This process as a node (single, or a cluster member).
    pub node: Arc<crate::node::LocalNode>,
    /// `_cluster/settings` (persistent and transient layers).
    pub cluster_settings: Arc<crate::cluster_settings::ClusterSettings>,
    /// Running requests and background by-query runs (`_tasks`).
    pub tasks: Arc<crate::tasks::TaskManager>,
    /// Authentication and authorization, when security is enabled.
    pub security: Option<Arc<crate::security::Security>>,
}

/// Every module's routes (each declares its URL parameters, `params::ApiRoutes`).
fn all_routes() -> Vec<params::ApiRoutes> {
    vec![
        cluster::routes(),
        cluster_settings::routes(),
        cat::routes(),
        tasks::routes(),
        cluster_state::routes(),
        nodes::routes(),
        indices::routes(),
        analysis::routes(),
        aliases::routes(),
        templates::routes(),
        documents::routes(),
        search::routes(),
        pit::routes(),
        by_query::routes(),
        explain::routes(),
        field_api::routes(),
        udfs::routes(),
        scripts::routes(),
        security::routes(),
        shard_phases::routes(),
        shard_copies::routes(),
        cat_recovery::routes(),
    ]
}

/// The route templates of the router (`/{index}/_search`, …), for the permission table test.
#[cfg(test)]
pub fn route_templates() -> Vec<String> {
    all_routes().iter().flat_map(|r| r.paths().to_vec()).collect()
}

pub fn router(state: AppState) -> Router {
    let max_body = state.config.max_body_bytes;
    udfs::inline::InlineUploads::install(&state.udfs, state.config.clone());
    let barrier_state = state.clone();
    let tasks_state = state.clone();
    let routes = all_routes();
    let templates: Vec<String> = routes.iter().flat_map(|r| r.paths().to_vec()).collect();
    let gate = state.security.clone().map(|sec| Arc::new(security::Gate::new(&state, sec, &templates)));
    let mut router = Router::new();
    for r in routes {
        router = router.merge(r.into_router());
    }
    let router = router
        .fallback(no_handler)
        // Innermost: writes and GETs by id go to the shard's node once the metadata is current.
        .layer(middleware::from_fn_with_state(barrier_state.clone(), forwarding::route_to_shards))
        .layer(middleware::from_fn_with_state(barrier_state.clone(), cluster_sync::udf_registry_barrier))
        .layer(middleware::from_fn_with_state(tasks_state, tasks::track_requests))
        .layer(middleware::from_fn_with_state(barrier_state, forwarding::node_to_node_auth))
        .with_state(state)
        .layer(DefaultBodyLimit::max(max_body))
        .layer(middleware::from_fn(move |req, next| refuse_oversized_body(max_body, req, next)))
        .layer(middleware::from_fn(opensearch_errors));
    // In front of routing (`Router::layer` runs after it: the router is wrapped as the
    // fallback of an empty one), so a wildcard can be narrowed to the indices the caller may
    // read by rewriting the URI before the inner router matches it.
    let router = match gate {
        Some(gate) => Router::new()
            .fallback_service(router)
            .layer(middleware::from_fn(move |req, next| security::enforce(gate.clone(), req, next))),
        None => router,
    };
    // Outermost: handlers and the error shaping above see inflated bodies and plain JSON.
    router.layer(middleware::from_fn(move |req, next| transport::transport(max_body, req, next)))
}

/// A declared `Content-Length` over the limit is refused before the body is read: with
/// `Expect: 100-continue` the client then never sends it (hyper only answers `100 Continue`
/// once a handler starts reading). Bodies without a length are still cut off at the limit
/// by `DefaultBodyLimit`.
async fn refuse_oversized_body(max_body: usize, req: Request<Body>, next: Next) -> Response {
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if declared.is_some_and(|n| n > max_body as u64) {
        return body_too_large().into_response();
    }
    next.run(req).await
}

pub(crate) fn body_too_large() -> ApiError {
    ApiError::new(413, "content_too_long_exception", "request body is larger than the configured limit (http.max_content_length)")
}

/// OpenSearch answers unknown endpoints with 400 `no handler found for uri`.
async fn no_handler(req: Request<Body>) -> ApiError {
    ApiError::illegal_argument(format!(
        "no handler found for uri [{}] and method [{}]",
        req.uri(),
        req.method()
    ))
}

/// axum's own rejections (body too large, wrong method, …) are plain text; turn them into
/// OpenSearch error bodies so clients always get the same shape.
async fn opensearch_errors(req: Request<Body>, next: Next) -> Response {
    let method = req.method().clone();
    let uri = req.uri().clone();
    let resp = next.run(req).await;
    let status = resp.status();
    if status.is_success() || is_json(&resp) || method == axum::http::Method::HEAD {
        return resp;
    }
    let err = match status {
        StatusCode::PAYLOAD_TOO_LARGE => body_too_large(),
        StatusCode::METHOD_NOT_ALLOWED => ApiError::new(
            405,
            "method_not_allowed_exception",
            format!("Incorrect HTTP method for uri [{uri}] and method [{method}]"),
        ),
        s if s.is_client_error() || s.is_server_error() => {
            let reason = String::from_utf8_lossy(
                &axum::body::to_bytes(resp.into_body(), 64 * 1024).await.unwrap_or_default(),
            )
            .to_string();
            let kind = if s.is_client_error() { "illegal_argument_exception" } else { "exception" };
            ApiError::new(s.as_u16(), kind, reason)
        }
        _ => return resp,
    };
    err.into_response()
}

fn is_json(resp: &Response) -> bool {
    resp.headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"))
}

/// Parses a JSON request body; an empty body is `None`. Handlers take `Bytes` rather than
/// axum's `Json` so malformed input gets an OpenSearch error, not axum's text rejection.
pub fn parse_json_body(body: &Bytes) -> Result<Option<Value>, ApiError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Ok(None);
    }
    serde_json::from_slice(body).map(Some).map_err(|e| {
        ApiError::bad_request("parse_exception", format!("failed to parse request body: {e}"))
    })
}

/// Adds an OpenSearch deprecation warning to a response: a `Warning` header
/// `299 OpenSearch-<version>-unknown "<text>"`, in the form OpenSearch's `HeaderWarning` writes
/// and parses (the build part is a git hash or `unknown`), which clients and the YAML REST tests'
/// `warnings` read.
pub fn add_deprecation_warning(resp: &mut Response, text: &str) {
    let escaped = text.replace('\\', "\\\\").replace('"', "\\\"");
    let value = format!("299 OpenSearch-{}-unknown \"{escaped}\"", cluster::OPENSEARCH_VERSION);
    if let Ok(v) = header::HeaderValue::from_str(&value) {
        resp.headers_mut().append(header::WARNING, v);
    }
}

/// A JSON response with a status code.
pub fn json_response(status: u16, body: Value) -> Response {
    (StatusCode::from_u16(status).unwrap_or(StatusCode::OK), axum::Json(body)).into_response()
}
