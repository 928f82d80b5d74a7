//! The HTTP layer on its own: routing and the mapping of errors to OpenSearch error bodies,
//! driven in process through the axum `Router` (tower's `oneshot`) over a temporary data dir —
//! no socket and no server binary (the Python suite covers those).

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt as _;

use super::{AppState, router};
use crate::config::ServerConfig;

struct TestApp {
    router: Router,
    _dir: tempfile::TempDir,
}

fn app_with(config: ServerConfig) -> TestApp {
    let dir = tempfile::tempdir().expect("temp dir");
    let udfs = quidditch_udf::UdfRegistry::open(&dir.path().join("udfs"), config.udf.clone()).expect("registry");
    let engine = quidditch_engine::Engine::open(&dir.path().join("indices"), config.engine.clone(), udfs.clone())
        .expect("engine");
    let node = Arc::new(crate::node::LocalNode::single(config.listen));
    let store = crate::cluster_settings::FileSettingsStore::in_data_dir(dir.path());
    let cluster_settings =
        Arc::new(crate::cluster_settings::ClusterSettings::open(Box::new(store), engine.clone()).expect("cluster settings"));
    let tasks = crate::tasks::TaskManager::new(node.id.clone());
    let state = AppState { engine, udfs, config: Arc::new(config), node, cluster_settings, tasks, security: None };
    TestApp { router: router(state), _dir: dir }
}

fn app() -> TestApp {
    app_with(ServerConfig::default())
}

/// Sends one request; returns the status and the body parsed as JSON (`Null` when empty).
async fn call(app: &TestApp, method: Method, uri: &str, body: Option<&str>) -> (StatusCode, Value) {
    let mut req = Request::builder().method(method).uri(uri);
    if body.is_some() {
        req = req.header(header::CONTENT_TYPE, "application/json");
    }
    let req = req.body(body.map(|b| Body::from(b.to_string())).unwrap_or_else(Body::empty)).expect("request");
    let resp = app.router.clone().oneshot(req).await.expect("infallible router");
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX).await.expect("body");
    let value = if bytes.is_empty() { Value::Null } else { serde_json::from_slice(&bytes).expect("a JSON body") };
    (status, value)
}

/// Checks the OpenSearch error shape: `status` mirrors the HTTP status, `error.type` is the
/// expected one, `root_cause[0]` repeats type and reason.
fn assert_error(status: StatusCode, body: &Value, want_status: u16, want_type: &str) {
    assert_eq!(status.as_u16(), want_status, "{body}");
    assert_eq!(body["status"], want_status, "{body}");
    assert_eq!(body["error"]["type"], want_type, "{body}");
    assert_eq!(body["error"]["root_cause"][0]["type"], want_type, "{body}");
    assert_eq!(body["error"]["root_cause"][0]["reason"], body["error"]["reason"], "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn unknown_endpoint_and_wrong_method_get_opensearch_errors() {
    let app = app();
    // A single segment is `GET /{index}` (as in OpenSearch); deeper unknown paths have no route.
    let (status, body) = call(&app, Method::GET, "/_no_such_api/a/b/c/d", None).await;
    assert_error(status, &body, 400, "illegal_argument_exception");
    assert_eq!(body["error"]["reason"], "no handler found for uri [/_no_such_api/a/b/c/d] and method [GET]");
    let (status, body) = call(&app, Method::DELETE, "/_cluster/health", None).await;
    assert_error(status, &body, 405, "method_not_allowed_exception");
}

#[tokio::test(flavor = "multi_thread")]
async fn index_document_routes_round_trip() {
    let app = app();
    let (status, body) = call(&app, Method::PUT, "/books", Some(r#"{"mappings": {"properties": {"pages": {"type": "integer"}}}}"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body, json!({"acknowledged": true, "shards_acknowledged": true, "index": "books"}));
    let (status, body) = call(&app, Method::PUT, "/books/_doc/1", Some(r#"{"pages": 412}"#)).await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    assert_eq!(body["result"], "created");
    let (status, body) = call(&app, Method::GET, "/books/_doc/1", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!((body["found"].clone(), body["_source"].clone()), (json!(true), json!({"pages": 412})));
    let (status, body) = call(&app, Method::HEAD, "/books", None).await;
    assert_eq!((status, body), (StatusCode::OK, Value::Null));
    let (status, body) = call(&app, Method::HEAD, "/nothing", None).await;
    assert_eq!((status, body), (StatusCode::NOT_FOUND, Value::Null));
    let (status, body) = call(&app, Method::POST, "/books/_search", Some(r#"{"query": {"term": {"pages": 412}}}"#)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(body["hits"]["total"]["value"], 1, "a realtime write is searchable after the search refresh");
}

#[tokio::test(flavor = "multi_thread")]
async fn engine_errors_map_to_status_type_and_fields_the_same_on_every_route() {
    let app = app();
    // A missing index, from the index, document and search routes: one mapping, one shape.
    for (method, uri) in [(Method::GET, "/missing/_mapping"), (Method::GET, "/missing/_doc/1"), (Method::POST, "/missing/_search")] {
        let (status, body) = call(&app, method, uri, Some("{}")).await;
        assert_error(status, &body, 404, "index_not_found_exception");
        assert_eq!(body["error"]["index"], "missing", "{uri}: {body}");
        assert_eq!(body["error"]["resource.id"], "missing", "{uri}: {body}");
        assert_eq!(body["error"]["index_uuid"], "_na_", "{uri}: {body}");
    }
    call(&app, Method::PUT, "/books", None).await;
    let (status, body) = call(&app, Method::PUT, "/books", None).await;
    assert_error(status, &body, 400, "resource_already_exists_exception");
    assert_eq!(body["error"]["index"], "books");
    let (status, body) = call(&app, Method::PUT, "/Books", None).await;
    assert_error(status, &body, 400, "invalid_index_name_exception");
    call(&app, Method::PUT, "/books/_create/1", Some("{}")).await;
    let (status, body) = call(&app, Method::PUT, "/books/_create/1", Some("{}")).await;
    assert_error(status, &body, 409, "version_conflict_engine_exception");
    let (status, body) = call(&app, Method::POST, "/books/_update/nope", Some(r#"{"doc": {"a": 1}}"#)).await;
    assert_error(status, &body, 404, "document_missing_exception");
    let (status, body) = call(&app, Method::POST, "/books/_search", Some(r#"{"query": {"no_such_query": {}}}"#)).await;
    assert_error(status, &body, 400, "parsing_exception");
    assert_eq!(body["error"]["reason"], "unknown query [no_such_query]");
}

#[tokio::test(flavor = "multi_thread")]
async fn request_body_errors() {
    let app = app_with(ServerConfig { max_body_bytes: 64, ..ServerConfig::default() });
    let (status, body) = call(&app, Method::PUT, "/books", Some("{not json")).await;
    assert_error(status, &body, 400, "parse_exception");
    let big = format!(r#"{{"x": "{}"}}"#, "y".repeat(200));
    let (status, body) = call(&app, Method::PUT, "/books/_doc/1", Some(&big)).await;
    assert_error(status, &body, 413, "content_too_long_exception");
}
