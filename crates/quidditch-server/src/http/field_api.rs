//! HTTP routes: `_field_caps` and `_validate/query` (engine side:
//! `quidditch_engine::search::field_api`).

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::get;
use quidditch_engine::search::field_api;
use serde_json::{Value, json};

use super::indices::{Params, blocking, flag};
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};

/// The index-expression options are no-ops: unknown concrete indices are a 404 anyway.
const FIELD_CAPS: ApiParams = ApiParams::new(&["fields", "allow_no_indices", "expand_wildcards", "ignore_unavailable"])
    .not_implemented(&["include_unmapped"]);

const VALIDATE: ApiParams = ApiParams::new(&[
    "explain", "rewrite", "all_shards", "q", "df", "default_operator", "analyzer", "analyze_wildcard", "lenient",
    "allow_no_indices", "expand_wildcards", "ignore_unavailable",
]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_field_caps", get(field_caps_all).post(field_caps_all), &FIELD_CAPS)
        .route("/{index}/_field_caps", get(field_caps_index).post(field_caps_index), &FIELD_CAPS)
        .route("/_validate/query", get(validate_all).post(validate_all), &VALIDATE)
        .route("/{index}/_validate/query", get(validate_index).post(validate_index), &VALIDATE)
}

async fn field_caps_all(state: State<AppState>, params: Params, body: Bytes) -> Result<Response, ApiError> {
    field_caps(state, String::new(), params, body).await
}

async fn field_caps_index(state: State<AppState>, Path(index): Path<String>, params: Params, body: Bytes) -> Result<Response, ApiError> {
    field_caps(state, index, params, body).await
}

async fn field_caps(State(state): State<AppState>, expr: String, axum::extract::Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    let mut fields: Vec<String> = params
        .get("fields")
        .map(|f| f.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect())
        .unwrap_or_default();
    if let Some(body) = parse_json_body(&body)? {
        let obj = body.as_object().ok_or_else(|| ApiError::bad_request("parse_exception", "request body must be an object"))?;
        for (k, v) in obj {
            match (k.as_str(), v) {
                ("fields", Value::Array(items)) => fields.extend(items.iter().filter_map(Value::as_str).map(str::to_string)),
                ("fields", Value::String(s)) => fields.extend(s.split(',').map(str::to_string)),
                ("index_filter", _) => {
                    return Err(ApiError::illegal_argument("[index_filter] of _field_caps is not implemented by Quidditch"));
                }
                (other, _) => return Err(ApiError::bad_request("parsing_exception", format!("request does not support [{other}]"))),
            }
        }
    }
    if fields.is_empty() {
        return Err(ApiError::bad_request(
            "action_request_validation_exception",
            "Validation Failed: 1: specified fields can't be null or empty;",
        ));
    }
    let engine = state.engine.clone();
    let out = blocking(move || {
        let targets = engine.resolve_search(&expr).map_err(ApiError::from)?;
        Ok(field_api::field_caps(&targets, &fields))
    })
    .await?;
    Ok(json_response(200, out))
}

async fn validate_all(state: State<AppState>, params: Params, body: Bytes) -> Result<Response, ApiError> {
    validate(state, String::new(), params, body).await
}

async fn validate_index(state: State<AppState>, Path(index): Path<String>, params: Params, body: Bytes) -> Result<Response, ApiError> {
    validate(state, index, params, body).await
}

/// `valid: false` (never an HTTP error) for a query that does not parse or fit a mapping;
/// with `explain` (or `rewrite`) the reason or the parsed query is shown per index.
async fn validate(State(state): State<AppState>, expr: String, axum::extract::Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    let explain = flag(&params, "explain")?.unwrap_or(false) || flag(&params, "rewrite")?.unwrap_or(false);
    let body = parse_json_body(&body)?;
    let engine = state.engine.clone();
    let out = blocking(move || {
        let targets = engine.resolve_search(&expr).map_err(ApiError::from)?;
        let names: Vec<String> = targets.iter().map(|t| t.index.name().to_string()).collect();
        let parsed = parse_validated(body.as_ref(), &params);
        let outcome = parsed.and_then(|q| field_api::validate_query(&targets, &q).map(|_| q));
        let shards = json!({"total": names.len(), "successful": names.len(), "failed": 0});
        let mut out = json!({"_shards": shards, "valid": outcome.is_ok()});
        if explain {
            let index_list = names.join(",");
            match &outcome {
                Ok(q) => {
                    out["explanations"] = Value::Array(
                        names.iter().map(|n| json!({"index": n, "valid": true, "explanation": format!("{q:?}")})).collect(),
                    );
                }
                Err(e) => {
                    out["error"] = json!(format!("{}: {} (index [{index_list}])", e.error_type, e.reason));
                }
            }
        }
        Ok(out)
    })
    .await?;
    Ok(json_response(200, out))
}

/// The query of a validate request: `q=` or the body's `query` (only `query` is allowed).
fn parse_validated(
    body: Option<&Value>,
    params: &HashMap<String, String>,
) -> Result<quidditch_engine::query_ast::QueryAst, quidditch_engine::query_ast::QueryError> {
    use quidditch_engine::query_ast::{QueryAst, QueryError};
    if let Some(q) = quidditch_engine::query_dsl::parse_uri_query(params)? {
        return Ok(q);
    }
    let Some(body) = body else { return Ok(QueryAst::match_all()) };
    let obj = body.as_object().ok_or_else(|| QueryError::parsing("request body must be an object"))?;
    for k in obj.keys() {
        if k != "query" {
            return Err(QueryError::parsing(format!("request does not support [{k}]")));
        }
    }
    match obj.get("query") {
        Some(q) => quidditch_engine::query_dsl::parse_query(q),
        None => Ok(QueryAst::match_all()),
    }
}
