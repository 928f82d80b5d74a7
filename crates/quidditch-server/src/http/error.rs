//! OpenSearch-style error bodies: `{"error":{"root_cause":[…],"type":…,"reason":…},"status":N}`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

/// Every handler returns `Result<_, ApiError>`; crate errors convert into it with `From`
/// impls that live next to the routes that use them.
#[derive(Debug, Clone)]
pub struct ApiError {
    pub status: StatusCode,
    pub error_type: String,
    pub reason: String,
    /// Extra fields merged into the `error` object (e.g. `index`, `index_uuid`).
    pub extra: Map<String, Value>,
}

impl ApiError {
    pub fn new(status: u16, error_type: impl Into<String>, reason: impl Into<String>) -> Self {
        ApiError {
            status: StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
            error_type: error_type.into(),
            reason: reason.into(),
            extra: Map::new(),
        }
    }

    pub fn bad_request(error_type: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(400, error_type, reason)
    }

    pub fn illegal_argument(reason: impl Into<String>) -> Self {
        Self::new(400, "illegal_argument_exception", reason)
    }

    pub fn not_found(error_type: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::new(404, error_type, reason)
    }

    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(500, "exception", reason)
    }

    pub fn with(mut self, key: &str, value: impl Into<Value>) -> Self {
        self.extra.insert(key.to_string(), value.into());
        self
    }

    /// The JSON body, also used for per-item errors in `_bulk`/`_mget`/`_msearch`.
    pub fn error_object(&self) -> Value {
        let mut cause = Map::new();
        cause.insert("type".into(), Value::String(self.error_type.clone()));
        cause.insert("reason".into(), Value::String(self.reason.clone()));
        for (k, v) in &self.extra {
            cause.insert(k.clone(), v.clone());
        }
        let mut error = cause.clone();
        error.insert("root_cause".into(), Value::Array(vec![Value::Object(cause)]));
        Value::Object(error)
    }

    pub fn body(&self) -> Value {
        json!({ "error": self.error_object(), "status": self.status.as_u16() })
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} ({}): {}", self.error_type, self.status, self.reason)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, axum::Json(self.body())).into_response()
    }
}

impl From<serde_json::Error> for ApiError {
    fn from(e: serde_json::Error) -> Self {
        ApiError::bad_request("parse_exception", format!("failed to parse request body: {e}"))
    }
}
