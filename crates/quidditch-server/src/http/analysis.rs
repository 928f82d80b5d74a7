//! HTTP routes: `_analyze` (GET|POST `/_analyze`, `/{index}/_analyze`). Thin: the request
//! body (or the same keys as URL parameters) goes to `quidditch_engine::analysis`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value};

use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, json_response, parse_json_body, AppState};

/// The request keys that may come as URL parameters instead of in the body.
const ANALYZE: ApiParams = ApiParams::new(&[
    "index", "text", "analyzer", "tokenizer", "field", "normalizer", "explain", "filter",
    "token_filter", "char_filter",
]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_analyze", get(analyze_global).post(analyze_global), &ANALYZE)
        .route("/{index}/_analyze", get(analyze_index).post(analyze_index), &ANALYZE)
}

type Params = Query<HashMap<String, String>>;

/// The body, with URL parameters (`?text=…&analyzer=…`) filled in where the body has none.
fn request(params: &HashMap<String, String>, body: &Bytes) -> Result<Value, ApiError> {
    let mut obj = match parse_json_body(body)? {
        None => Map::new(),
        Some(Value::Object(o)) => o,
        Some(_) => return Err(ApiError::bad_request("parse_exception", "request body must be a JSON object")),
    };
    // Unknown parameters were refused by the route's `ANALYZE` declaration.
    for (k, v) in params {
        match k.as_str() {
            "text" | "analyzer" | "tokenizer" | "field" | "normalizer" | "explain" => {
                obj.entry(k.clone()).or_insert_with(|| Value::String(v.clone()));
            }
            "filter" | "token_filter" | "char_filter" => {
                let items = v.split(',').map(|s| Value::String(s.trim().to_string())).collect();
                obj.entry(k.clone()).or_insert(Value::Array(items));
            }
            _ => {}
        }
    }
    Ok(Value::Object(obj))
}

async fn analyze_global(Query(params): Params, body: Bytes) -> Result<Response, ApiError> {
    let req = request(&params, &body)?;
    let out = quidditch_engine::analysis::analyze_global(&req)?;
    Ok(json_response(200, out))
}

async fn analyze_index(
    State(state): State<AppState>,
    Path(index): Path<String>,
    Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let req = request(&params, &body)?;
    let index = state.engine.index(&index)?;
    let out = quidditch_engine::analysis::analyze_in_index(&index, &req)?;
    Ok(json_response(200, out))
}
