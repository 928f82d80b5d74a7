//! HTTP routes: index templates — composable (`_index_template`), component
//! (`_component_template`) and legacy (`_template`): PUT/POST, GET, HEAD, DELETE, and
//! `POST /_index_template/_simulate_index/{name}`. Thin: the rules live in
//! `quidditch_engine::template`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post, put};
use quidditch_engine::template::{self, TemplateKind, TemplateStore};
use serde_json::{Map, Value, json};

use super::indices::{Params, blocking, flag};
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};

/// Template changes apply at once on one node: the timeouts never wait.
const PUT: ApiParams = ApiParams::new(&["create", "timeout", "master_timeout", "cluster_manager_timeout"])
    .not_implemented(&["cause", "order"]);
const DELETE: ApiParams = ApiParams::new(&["timeout", "master_timeout", "cluster_manager_timeout"]);
const GET: ApiParams = ApiParams::new(&["local", "flat_settings", "master_timeout", "cluster_manager_timeout"]);
const SIMULATE: ApiParams = ApiParams::new(&["master_timeout", "cluster_manager_timeout"]).not_implemented(&["cause", "create"]);

pub fn routes() -> ApiRoutes {
    let mut routes = ApiRoutes::new().route("/_index_template/_simulate_index/{name}", post(simulate_index), &SIMULATE);
    for (base, kind) in [
        ("/_index_template", TemplateKind::Index),
        ("/_component_template", TemplateKind::Component),
        ("/_template", TemplateKind::Legacy),
    ] {
        let one = format!("{base}/{{name}}");
        routes = routes
            .route(base, get(move |s, q| list(s, kind, None, q)), &GET)
            .route(
                &one,
                get(move |s, Path(n): Path<String>, q| list(s, kind, Some(n), q))
                    .head(move |s, Path(n): Path<String>| exists(s, kind, n)),
                &GET,
            )
            .route(
                &one,
                put(move |s, Path(n): Path<String>, q, b| put_template(s, kind, n, q, b))
                    .post(move |s, Path(n): Path<String>, q, b| put_template(s, kind, n, q, b)),
                &PUT,
            )
            .route(&one, delete(move |s, Path(n): Path<String>| delete_template(s, kind, n)), &DELETE);
    }
    routes
}

async fn put_template(
    State(state): State<AppState>,
    kind: TemplateKind,
    name: String,
    Query(params): Query<HashMap<String, String>>,
    body: Bytes,
) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?
        .ok_or_else(|| ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: template is missing;"))?;
    let create = flag(&params, "create")?.unwrap_or(false);
    let engine = state.engine.clone();
    blocking(move || {
        Ok(engine.update_templates(|store| match kind {
            TemplateKind::Index => store.with_index_template(&name, &body, create),
            TemplateKind::Component => store.with_component_template(&name, &body, create),
            TemplateKind::Legacy => store.with_legacy_template(&name, &body, create),
        })?)
    })
    .await?;
    Ok(json_response(200, json!({ "acknowledged": true })))
}

async fn delete_template(State(state): State<AppState>, kind: TemplateKind, name: String) -> Result<Response, ApiError> {
    let engine = state.engine.clone();
    blocking(move || Ok(engine.update_templates(|store| store.without(kind, &name))?)).await?;
    Ok(json_response(200, json!({ "acknowledged": true })))
}

/// The templates of one kind an expression selects, as their GET shows them; `None` when a
/// concrete name matched nothing.
fn selected(store: &TemplateStore, kind: TemplateKind, expr: Option<&str>) -> Option<Value> {
    let (body, missing) = match kind {
        TemplateKind::Index => {
            let (found, missing) = template::select(&store.index_templates, expr);
            let list: Vec<Value> = found.iter().map(|(n, t)| json!({ "name": n, "index_template": t.to_json() })).collect();
            (json!({ "index_templates": list }), missing.len() + usize::from(list.is_empty() && expr.is_some()))
        }
        TemplateKind::Component => {
            let (found, missing) = template::select(&store.component_templates, expr);
            let list: Vec<Value> =
                found.iter().map(|(n, t)| json!({ "name": n, "component_template": t.to_json() })).collect();
            (json!({ "component_templates": list }), missing.len() + usize::from(list.is_empty() && expr.is_some()))
        }
        TemplateKind::Legacy => {
            let (found, missing) = template::select(&store.legacy_templates, expr);
            let map: Map<String, Value> = found.iter().map(|(n, t)| (n.to_string(), t.to_json())).collect();
            let none = map.is_empty() && expr.is_some();
            (Value::Object(map), missing.len() + usize::from(none))
        }
    };
    (missing == 0).then_some(body)
}

async fn list(State(state): State<AppState>, kind: TemplateKind, name: Option<String>, Query(_): Params) -> Result<Response, ApiError> {
    match selected(&state.engine.templates(), kind, name.as_deref()) {
        Some(body) => Ok(json_response(200, body)),
        // Legacy templates answer a miss with an empty object, as OpenSearch does.
        None if kind == TemplateKind::Legacy => Ok(json_response(404, json!({}))),
        None => Err(kind.not_found(name.as_deref().unwrap_or_default()).into()),
    }
}

async fn exists(State(state): State<AppState>, kind: TemplateKind, name: String) -> Response {
    match selected(&state.engine.templates(), kind, Some(&name)) {
        Some(_) => StatusCode::OK.into_response(),
        None => StatusCode::NOT_FOUND.into_response(),
    }
}

/// `POST /_index_template/_simulate_index/{name}`: what an index of that name would get.
async fn simulate_index(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    let (resolved, overlapping) = state.engine.simulate_index(&name)?;
    let mut body = json!({ "template": resolved.to_json() });
    if !overlapping.is_empty() {
        body["overlapping"] = json!(overlapping);
    }
    Ok(json_response(200, body))
}
