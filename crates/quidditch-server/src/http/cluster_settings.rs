//! HTTP routes: `GET|PUT /_cluster/settings` over [`crate::cluster_settings`] (the settings
//! Quidditch knows, their layers and their store live there).

use axum::body::Bytes;
use axum::extract::State;
use axum::response::Response;
use axum::routing::get;
use serde_json::{Map, Value, json};

use super::indices::{Params, flag};
use super::params::{ApiParams, ApiRoutes};
use super::{ApiError, AppState, json_response, parse_json_body};
use crate::cluster_settings::{FlatSettings, SettingsError, nest};

/// `master_timeout`/`timeout`: one node applies an update at once, nothing to wait for.
const GET_SETTINGS: ApiParams =
    ApiParams::new(&["flat_settings", "include_defaults", "master_timeout", "cluster_manager_timeout", "timeout", "local"]);
const PUT_SETTINGS: ApiParams = ApiParams::new(&["flat_settings", "master_timeout", "cluster_manager_timeout", "timeout"]);

pub fn routes() -> ApiRoutes {
    ApiRoutes::new()
        .route("/_cluster/settings", get(get_settings), &GET_SETTINGS)
        .route("/_cluster/settings", axum::routing::put(put_settings), &PUT_SETTINGS)
}

impl From<SettingsError> for ApiError {
    fn from(e: SettingsError) -> Self {
        match &e {
            SettingsError::NotRecognized { .. } | SettingsError::InvalidValue(_) => ApiError::illegal_argument(e.to_string()),
            SettingsError::Validation(_) => ApiError::bad_request("action_request_validation_exception", e.to_string()),
            SettingsError::Storage(_) => {
                tracing::error!("{e}");
                ApiError::internal(e.to_string())
            }
        }
    }
}

fn render(flat: &FlatSettings, flat_settings: bool) -> Value {
    if flat_settings {
        Value::Object(flat.iter().map(|(k, v)| (k.clone(), json!(v))).collect())
    } else {
        nest(flat)
    }
}

async fn get_settings(State(state): State<AppState>, axum::extract::Query(params): Params) -> Result<Response, ApiError> {
    let flat = flag(&params, "flat_settings")?.unwrap_or(false);
    let settings = &state.cluster_settings;
    let mut body = json!({
        "persistent": render(&settings.persistent(), flat),
        "transient": render(&settings.transient(), flat),
    });
    if flag(&params, "include_defaults")?.unwrap_or(false) {
        body["defaults"] = render(&settings.defaults(), flat);
    }
    Ok(json_response(200, body))
}

/// The body is `{"persistent": {…}, "transient": {…}}` (either may be absent); the answer
/// echoes what each layer got.
async fn put_settings(
    State(state): State<AppState>,
    axum::extract::Query(params): Params,
    body: Bytes,
) -> Result<Response, ApiError> {
    let flat = flag(&params, "flat_settings")?.unwrap_or(false);
    let body = parse_json_body(&body)?.unwrap_or_else(|| json!({}));
    let (persistent, transient) = layers_of(&body)?;
    let settings = state.cluster_settings.clone();
    let applied = tokio::task::spawn_blocking(move || settings.update(&persistent, &transient))
        .await
        .map_err(|e| ApiError::internal(e.to_string()))??;
    Ok(json_response(
        200,
        json!({
            "acknowledged": true,
            "persistent": render(&applied.persistent, flat),
            "transient": render(&applied.transient, flat),
        }),
    ))
}

fn layers_of(body: &Value) -> Result<(Map<String, Value>, Map<String, Value>), ApiError> {
    let obj = body
        .as_object()
        .ok_or_else(|| ApiError::bad_request("parse_exception", "request body must be an object"))?;
    let mut persistent = Map::new();
    let mut transient = Map::new();
    for (key, value) in obj {
        let target = match key.as_str() {
            "persistent" => &mut persistent,
            "transient" => &mut transient,
            other => {
                return Err(ApiError::bad_request(
                    "x_content_parse_exception",
                    format!("[cluster_update_settings_request] unknown field [{other}]"),
                ));
            }
        };
        match value {
            Value::Object(layer) => *target = layer.clone(),
            Value::Null => {}
            _ => {
                return Err(ApiError::bad_request(
                    "x_content_parse_exception",
                    format!("[cluster_update_settings_request] failed to parse field [{key}]: it must be an object"),
                ));
            }
        }
    }
    Ok((persistent, transient))
}
