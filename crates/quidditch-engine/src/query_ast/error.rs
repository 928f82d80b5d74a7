//! Errors from parsing and lowering queries, carrying the OpenSearch error type they map to.

/// A query that cannot be parsed or lowered. `error_type` is the OpenSearch exception name
/// (`parsing_exception`, `query_shard_exception`, `illegal_argument_exception`, …), `status`
/// the HTTP status the REST layer answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{error_type}: {reason}")]
pub struct QueryError {
    pub status: u16,
    pub error_type: &'static str,
    pub reason: String,
    /// Set when a UDF the query refers to was refused by the upload checks (inline code):
    /// the error keeps the UDF API's kind (403 unsigned, 413 too large).
    pub udf_rejection: Option<quidditch_udf::UdfErrorKind>,
}

impl QueryError {
    pub fn new(status: u16, error_type: &'static str, reason: impl Into<String>) -> Self {
        QueryError { status, error_type, reason: reason.into(), udf_rejection: None }
    }

    /// Malformed query JSON (wrong shape, unknown parameter, unknown query type).
    pub fn parsing(reason: impl Into<String>) -> Self {
        Self::new(400, "parsing_exception", reason)
    }

    pub fn unknown_query(name: &str) -> Self {
        Self::parsing(format!("unknown query [{name}]"))
    }

    /// Well-formed query that does not fit the index (a value of the wrong type for a field).
    pub fn query_shard(reason: impl Into<String>) -> Self {
        Self::new(400, "query_shard_exception", reason)
    }

    pub fn illegal_argument(reason: impl Into<String>) -> Self {
        Self::new(400, "illegal_argument_exception", reason)
    }

    pub fn internal(reason: impl Into<String>) -> Self {
        Self::new(500, "exception", reason)
    }
}

impl From<tantivy::TantivyError> for QueryError {
    fn from(e: tantivy::TantivyError) -> Self {
        QueryError::internal(format!("search failed: {e}"))
    }
}
