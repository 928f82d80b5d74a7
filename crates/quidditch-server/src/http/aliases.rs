//! HTTP routes: alias APIs — `PUT|POST|DELETE /{index}/_alias/{name}` (and the `_aliases`
//! spellings), `GET|HEAD /_alias[/{name}]`, `GET|HEAD /{index}/_alias[/{name}]`, and the
//! atomic `POST /_aliases`. Thin: the rules live in `quidditch_engine::alias`.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use quidditch_engine::alias::AliasAction;
use serde_json::{Map, Value, json};

use super::indices::blocking;
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};

/// Alias changes apply at once on one node: the timeouts never wait.
const WRITE: ApiParams = ApiParams::new(&["timeout", "master_timeout", "cluster_manager_timeout"]);
const READ: ApiParams = ApiParams::new(&["local"]).not_implemented(&["allow_no_indices", "expand_wildcards", "ignore_unavailable"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_aliases", get(get_all), &READ)
        .route("/_aliases", post(update_aliases), &WRITE)
        .route("/_alias", get(get_all), &READ)
        .route("/_alias", put(put_body_only), &WRITE)
        .route("/_alias/{name}", get(get_by_name).head(exists_by_name), &READ)
        .route("/_alias/{name}", put(put_name_only).post(put_name_only), &WRITE)
        .route("/_aliases/{name}", put(put_name_only).post(put_name_only), &WRITE)
        .route("/{index}/_alias", get(get_of_index), &READ)
        .route("/{index}/_alias", put(put_index_only), &WRITE)
        .route("/{index}/_aliases", get(get_of_index), &READ)
        .route("/{index}/_aliases", put(put_index_only), &WRITE)
        .route("/{index}/_alias/{name}", get(get_of_index_by_name).head(exists_of_index_by_name), &READ)
        .route("/{index}/_alias/{name}", put(put_alias).post(put_alias).delete(delete_alias), &WRITE)
        .route("/{index}/_aliases/{name}", get(get_of_index_by_name), &READ)
        .route("/{index}/_aliases/{name}", put(put_alias).post(put_alias).delete(delete_alias), &WRITE)
}

fn acknowledged() -> Response {
    json_response(200, json!({ "acknowledged": true }))
}

async fn apply(state: &AppState, actions: Vec<AliasAction>) -> Result<Response, ApiError> {
    let engine = state.engine.clone();
    blocking(move || Ok(engine.update_aliases(&actions)?)).await?;
    Ok(acknowledged())
}

async fn put_request(state: AppState, index: Option<String>, name: Option<String>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?;
    let action = AliasAction::parse_put(index.as_deref(), name.as_deref(), body.as_ref())?;
    apply(&state, vec![action]).await
}

async fn put_alias(State(state): State<AppState>, Path((index, name)): Path<(String, String)>, body: Bytes) -> Result<Response, ApiError> {
    put_request(state, Some(index), Some(name), body).await
}

async fn put_name_only(State(state): State<AppState>, Path(name): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    put_request(state, None, Some(name), body).await
}

async fn put_index_only(State(state): State<AppState>, Path(index): Path<String>, body: Bytes) -> Result<Response, ApiError> {
    put_request(state, Some(index), None, body).await
}

async fn put_body_only(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    put_request(state, None, None, body).await
}

async fn update_aliases(State(state): State<AppState>, body: Bytes) -> Result<Response, ApiError> {
    let body = parse_json_body(&body)?
        .ok_or_else(|| ApiError::bad_request("action_request_validation_exception", "Validation Failed: 1: No action specified;"))?;
    let actions = AliasAction::parse_actions(&body)?;
    apply(&state, actions).await
}

async fn delete_alias(State(state): State<AppState>, Path((index, names)): Path<(String, String)>) -> Result<Response, ApiError> {
    let aliases: Vec<String> = names.split(',').map(str::trim).filter(|n| !n.is_empty()).map(str::to_string).collect();
    apply(&state, vec![AliasAction::Remove { indices: vec![index], aliases, must_exist: None }]).await
}

/// `GET` alias listings: `{index: {"aliases": {name: definition}}}`. Concrete names that
/// matched nothing make it a 404 whose body still lists what was found, as OpenSearch does.
fn listing(state: &AppState, index_expr: &str, names: Option<&str>) -> Result<(StatusCode, Value), ApiError> {
    let indices: Vec<String> =
        state.engine.resolve_indices(index_expr)?.iter().map(|i| i.name().to_string()).collect();
    let (found, missing) = state.engine.aliases().select(&indices, names);
    let mut body: Map<String, Value> =
        found.into_iter().map(|(index, aliases)| (index, json!({ "aliases": aliases }))).collect();
    // A name given but nothing at all selected is missing too, wildcards included.
    let nothing = names.is_some() && body.is_empty();
    if missing.is_empty() && !nothing {
        return Ok((StatusCode::OK, Value::Object(body)));
    }
    let missing = if missing.is_empty() { vec![names.unwrap_or_default().to_string()] } else { missing };
    let error = match missing.as_slice() {
        [one] => format!("alias [{one}] missing"),
        many => format!("aliases [{}] missing", many.join(",")),
    };
    body.insert("error".into(), json!(error));
    body.insert("status".into(), json!(404));
    Ok((StatusCode::NOT_FOUND, Value::Object(body)))
}

fn listing_response(state: &AppState, index_expr: &str, names: Option<&str>) -> Result<Response, ApiError> {
    let (status, body) = listing(state, index_expr, names)?;
    Ok(json_response(status.as_u16(), body))
}

fn exists_response(state: &AppState, index_expr: &str, names: &str) -> Response {
    match listing(state, index_expr, Some(names)) {
        Ok((StatusCode::OK, _)) => StatusCode::OK.into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

async fn get_all(State(state): State<AppState>) -> Result<Response, ApiError> {
    listing_response(&state, "", None)
}

async fn get_by_name(State(state): State<AppState>, Path(name): Path<String>) -> Result<Response, ApiError> {
    listing_response(&state, "", Some(&name))
}

async fn get_of_index(State(state): State<AppState>, Path(index): Path<String>) -> Result<Response, ApiError> {
    listing_response(&state, &index, None)
}

async fn get_of_index_by_name(
    State(state): State<AppState>,
    Path((index, name)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    listing_response(&state, &index, Some(&name))
}

async fn exists_by_name(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    exists_response(&state, "", &name)
}

async fn exists_of_index_by_name(State(state): State<AppState>, Path((index, name)): Path<(String, String)>) -> Response {
    exists_response(&state, &index, &name)
}
