//! OpenSearch-style error bodies: `{"error":{"root_cause":[…],"type":…,"reason":…},"status":N}`,
//! and the one place where an engine error gets its HTTP status and OpenSearch `type`.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use quidditch_engine::EngineError;
use quidditch_cluster::ClusterError;
use quidditch_udf::UdfErrorKind;
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

/// Every engine error becomes an HTTP error here, whichever route it comes from: the status of
/// each domain error (exhaustive, so a new variant must be given one), its OpenSearch `type`, the fields OpenSearch adds (`index`, `index_uuid`,
/// `resource.*`, `shard`; for a failed UDF which one, its version and the document), and a log
/// line for internal errors (their cause is a bug or the machine, never the request).
impl From<EngineError> for ApiError {
    fn from(e: EngineError) -> Self {
        let status = match &e {
            EngineError::IndexNotFound { .. }
            | EngineError::DocumentMissing { .. }
            | EngineError::AliasesNotFound { .. }
            | EngineError::AliasRequired { .. }
            | EngineError::ResourceNotFound(_)
            | EngineError::ScrollMissing { .. } => 404,
            EngineError::TooManyScrollContexts { .. } | EngineError::TooManyPitContexts { .. } | EngineError::Rejected(_) => 429,
            EngineError::VersionConflict { .. } => 409,
            // The index exists but failed to open (e.g. a corrupted write-ahead log): no shard
            // can serve it.
            EngineError::IndexUnavailable { .. } | EngineError::MetadataBlocked(_) | EngineError::ShardUnavailable { .. } => 503,
            // A UDF that failed inside a search fails the search (500); a full instance pool
            // is back-pressure (429), as for the UDF API.
            EngineError::UdfFailed { kind: UdfErrorKind::InstanceLimit, .. } => 429,
            EngineError::UdfFailed { .. } => 500,
            EngineError::UdfRejected { kind, .. } => kind.status(),
            EngineError::OnNode { status, .. } => *status,
            EngineError::Internal(inner) => {
                tracing::error!("internal engine error: {inner:#}");
                500
            }
            EngineError::IndexAlreadyExists { .. }
            | EngineError::RoutingMissing { .. }
            | EngineError::InvalidIndexName { .. }
            | EngineError::InvalidAliasName { .. }
            | EngineError::IndexClosed { .. }
            | EngineError::MapperParsing(_)
            | EngineError::StrictDynamicMapping(_)
            | EngineError::IllegalArgument(_)
            | EngineError::Parse(_)
            | EngineError::Validation(_)
            | EngineError::BadRequest { .. } => 400,
        };
        let mut api = ApiError::new(status, e.error_type(), e.to_string());
        if let Some(index) = e.index() {
            api = api.with("index", index);
        }
        match &e {
            EngineError::IndexNotFound { index } => {
                api = api.with("resource.type", "index_or_alias").with("resource.id", index.clone()).with("index_uuid", "_na_");
            }
            EngineError::UdfFailed { udf, version, doc_id, .. } => {
                api = api.with("udf", udf.clone());
                if let Some(v) = version {
                    api = api.with("version", v.clone());
                }
                if let Some(d) = doc_id {
                    api = api.with("document_id", d.clone());
                }
            }
            _ if e.index().is_some() => api = api.with("shard", "0"),
            _ => {}
        }
        api
    }
}

/// Query parse errors are engine errors (`parsing_exception`, `query_shard_exception`, …).
impl From<quidditch_engine::query_ast::QueryError> for ApiError {
    fn from(e: quidditch_engine::query_ast::QueryError) -> Self {
        EngineError::from(e).into()
    }
}

/// Cluster failures: what needs etcd is blocked while it is unreachable (OpenSearch's
/// `cluster_block_exception`), a node that does not answer is named.
impl From<ClusterError> for ApiError {
    fn from(e: ClusterError) -> Self {
        match &e {
            ClusterError::EtcdUnreachable { .. } | ClusterError::Etcd { .. } => ApiError::new(
                503,
                "cluster_block_exception",
                format!("blocked by: [SERVICE_UNAVAILABLE/2/no cluster state: etcd is unreachable]; {e}"),
            ),
            ClusterError::UdfRegistryBehind { .. } | ClusterError::MetadataBehind { .. } => {
                ApiError::new(503, "cluster_block_exception", e.to_string())
            }
            ClusterError::NodeUnreachable { node, .. } => {
                ApiError::new(503, "node_not_connected_exception", e.to_string()).with("node", node.clone())
            }
            ClusterError::UdfExists { .. } => ApiError::new(409, "udf_version_conflict_exception", e.to_string()),
            ClusterError::NotPrimary { .. } => ApiError::new(503, "shard_not_in_primary_mode_exception", e.to_string()),
            ClusterError::NodeNameTaken { .. } | ClusterError::MalformedState { .. } | ClusterError::InvalidConfig(_) => {
                ApiError::internal(e.to_string())
            }
        }
    }
}

impl From<crate::udf_replication::PublishError> for ApiError {
    fn from(e: crate::udf_replication::PublishError) -> Self {
        match e {
            crate::udf_replication::PublishError::Udf(e) => e.into(),
            crate::udf_replication::PublishError::Cluster(e) => e.into(),
        }
    }
}
