//! The engine's error type: what went wrong, in domain terms (a missing index, a version
//! conflict, a mapping a value does not fit, a UDF that failed with a kind of failure), named by
//! its OpenSearch exception type. The HTTP status of each is decided in one place, by the server
//! (`impl From<EngineError> for ApiError` in `quidditch-server`'s `http/error.rs`).

/// An error from the engine, carrying enough to build an OpenSearch error body.
#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    /// 404 `index_not_found_exception`.
    #[error("no such index [{index}]")]
    IndexNotFound { index: String },
    /// 429 `rejected_execution_exception`: a node-wide resource (open index writers) is used
    /// up; the client should retry later.
    #[error("{0}")]
    Rejected(String),
    /// 400 `routing_missing_exception`: the mapping requires `_routing` and the request has none.
    #[error("routing is required for [{index}]/[{id}]")]
    RoutingMissing { index: String, id: String },
    /// 400 `resource_already_exists_exception`.
    #[error("index [{index}/{uuid}] already exists")]
    IndexAlreadyExists { index: String, uuid: String },
    /// 400 `invalid_index_name_exception`.
    #[error("Invalid index name [{index}], {reason}")]
    InvalidIndexName { index: String, reason: String },
    /// 404 `index_not_found_exception`: a write with `require_alias=true` to a name that is
    /// not an alias.
    #[error("no such index [{index}] and [require_alias] request flag is [true] and [{index}] is not an alias")]
    AliasRequired { index: String },
    /// 404 `resource_not_found_exception` (a template that does not exist).
    #[error("{0}")]
    ResourceNotFound(String),
    /// 400 `index_closed_exception`: a read or write of a closed index.
    #[error("closed")]
    IndexClosed { index: String },
    /// 400 `invalid_alias_name_exception`: a bad alias name, or one an index already has.
    #[error("Invalid alias name [{alias}]: {reason}")]
    InvalidAliasName { alias: String, reason: String },
    /// 404 `aliases_not_found_exception`: none (or, with `must_exist`, not all) of the named
    /// aliases exist.
    #[error("aliases [{}] missing", aliases.join(","))]
    AliasesNotFound { aliases: Vec<String> },
    /// 400 `mapper_parsing_exception`: a bad mapping definition or a value that does not fit
    /// its field's type.
    #[error("{0}")]
    MapperParsing(String),
    /// 400 `strict_dynamic_mapping_exception`.
    #[error("{0}")]
    StrictDynamicMapping(String),
    /// 400 `illegal_argument_exception`.
    #[error("{0}")]
    IllegalArgument(String),
    /// 400 `parse_exception` (malformed JSON and the like).
    #[error("{0}")]
    Parse(String),
    /// 400 `action_request_validation_exception`.
    #[error("Validation Failed: 1: {0};")]
    Validation(String),
    /// 409 `version_conflict_engine_exception`.
    #[error("[{id}]: version conflict, {reason}")]
    VersionConflict { index: String, id: String, reason: String },
    /// 503 `no_shard_available_action_exception`: the index exists on disk but failed to
    /// open (corrupted write-ahead log, unreadable files); `reason` names the cause. Its health
    /// is `red`.
    #[error("[{index}][0] index failed to open and is unavailable: {reason}")]
    IndexUnavailable { index: String, reason: String },
    /// 404 `document_missing_exception` (update of a missing document).
    #[error("[{id}]: document missing")]
    DocumentMissing { index: String, id: String },
    /// 404 `search_context_missing_exception`: an unknown, expired or cleared scroll id.
    #[error("No search context found for id [{id}]")]
    ScrollMissing { id: String },
    /// 429 `rejected_execution_exception`: `search.max_open_scroll_context` contexts are open.
    #[error("Trying to create too many scroll contexts. Must be less than or equal to: [{max}]. This limit can be set by changing the [search.max_open_scroll_context] setting.")]
    TooManyScrollContexts { max: usize },
    /// 429 `rejected_execution_exception`: `search.max_open_pit_context` PITs are open.
    #[error("Trying to create too many Point In Time contexts. Must be less than or equal to: [{max}]. This limit can be set by changing the [search.max_open_pit_context] setting.")]
    TooManyPitContexts { max: usize },
    /// Any other client error with its own OpenSearch type (e.g. `parsing_exception`,
    /// `query_shard_exception` from the search side). Always status 400.
    #[error("{reason}")]
    BadRequest { error_type: &'static str, reason: String },
    /// A UDF a query refers to was refused before anything ran: inline script code that the
    /// upload checks reject for policy (403, unsigned code) or size (413). `kind` decides the
    /// status, as for the UDF API.
    #[error("{reason}")]
    UdfRejected { kind: quidditch_udf::UdfErrorKind, reason: String },
    /// A UDF failed during a search (trap, limit, …): which kind of failure, and where.
    /// See `udf_exec`.
    #[error("{reason}")]
    UdfFailed {
        kind: quidditch_udf::UdfErrorKind,
        reason: String,
        udf: String,
        version: Option<String>,
        doc_id: Option<String>,
    },
    /// A shard held by another node (cluster mode) failed there with this status and type, or
    /// its node did not answer (503 `node_not_connected_exception`): `node` names it.
    #[error("{reason}")]
    OnNode { node: String, status: u16, error_type: &'static str, reason: String },
    /// 503 `cluster_block_exception`: cluster mode, and the cluster's index metadata cannot be
    /// changed now (etcd unreachable, too many concurrent changes).
    #[error("{0}")]
    MetadataBlocked(String),
    /// 503: cluster mode, a shard copy cannot take the write now — this copy is a replica
    /// (`shard_not_in_primary_mode_exception`), or the write could not reach the shard's
    /// in-sync copies and this primary could not drop them (`unavailable_shards_exception`).
    #[error("{reason}")]
    ShardUnavailable { error_type: &'static str, reason: String },
    /// 500 `exception`: I/O, tantivy, or a bug. Never caused by input alone.
    #[error("{0:#}")]
    Internal(#[from] anyhow::Error),
}

impl EngineError {
    /// This error again, for another op of a batch that failed as a whole (errors are not
    /// `Clone`: any other than these keeps its message only).
    pub(crate) fn same_again(&self) -> EngineError {
        match self {
            EngineError::MapperParsing(r) => EngineError::MapperParsing(r.clone()),
            EngineError::MetadataBlocked(r) => EngineError::MetadataBlocked(r.clone()),
            EngineError::ShardUnavailable { error_type, reason } => EngineError::ShardUnavailable { error_type, reason: reason.clone() },
            EngineError::IllegalArgument(r) => EngineError::IllegalArgument(r.clone()),
            other => EngineError::internal(other.to_string()),
        }
    }

    /// The OpenSearch exception name of this error (its identity in the protocol: shard
    /// failures inside a search response carry it too). The HTTP status is the server's.
    pub fn error_type(&self) -> &'static str {
        match self {
            EngineError::IndexNotFound { .. } | EngineError::AliasRequired { .. } => "index_not_found_exception",
            EngineError::IndexAlreadyExists { .. } => "resource_already_exists_exception",
            EngineError::RoutingMissing { .. } => "routing_missing_exception",
            EngineError::Rejected(_) => "rejected_execution_exception",
            EngineError::InvalidIndexName { .. } => "invalid_index_name_exception",
            EngineError::InvalidAliasName { .. } => "invalid_alias_name_exception",
            EngineError::AliasesNotFound { .. } => "aliases_not_found_exception",
            EngineError::IndexClosed { .. } => "index_closed_exception",
            EngineError::ResourceNotFound(_) => "resource_not_found_exception",
            EngineError::MapperParsing(_) => "mapper_parsing_exception",
            EngineError::MetadataBlocked(_) => "cluster_block_exception",
            EngineError::ShardUnavailable { error_type, .. } => error_type,
            EngineError::StrictDynamicMapping(_) => "strict_dynamic_mapping_exception",
            EngineError::IllegalArgument(_) => "illegal_argument_exception",
            EngineError::Parse(_) => "parse_exception",
            EngineError::Validation(_) => "action_request_validation_exception",
            EngineError::VersionConflict { .. } => "version_conflict_engine_exception",
            EngineError::DocumentMissing { .. } => "document_missing_exception",
            EngineError::IndexUnavailable { .. } => "no_shard_available_action_exception",
            EngineError::ScrollMissing { .. } => "search_context_missing_exception",
            EngineError::TooManyScrollContexts { .. } | EngineError::TooManyPitContexts { .. } => "rejected_execution_exception",
            EngineError::BadRequest { error_type, .. } => error_type,
            EngineError::UdfRejected { kind, .. } => kind.error_type(),
            EngineError::UdfFailed { kind, .. } => kind.error_type(),
            EngineError::OnNode { error_type, .. } => error_type,
            EngineError::Internal(_) => "exception",
        }
    }

    /// The index the error is about, when there is one (OpenSearch puts it in `error.index`).
    pub fn index(&self) -> Option<&str> {
        match self {
            EngineError::IndexNotFound { index }
            | EngineError::AliasRequired { index }
            | EngineError::IndexAlreadyExists { index, .. }
            | EngineError::InvalidIndexName { index, .. }
            | EngineError::VersionConflict { index, .. }
            | EngineError::IndexUnavailable { index, .. }
            | EngineError::DocumentMissing { index, .. }
            | EngineError::IndexClosed { index } => Some(index),
            _ => None,
        }
    }

    /// Shorthand for a 400 with a custom OpenSearch error type.
    pub fn bad_request(error_type: &'static str, reason: impl Into<String>) -> Self {
        EngineError::BadRequest { error_type, reason: reason.into() }
    }

    /// [`EngineError::OnNode`] from another node's answer (its OpenSearch type kept).
    pub fn on_node(node: &str, status: u16, error_type: &str, reason: impl Into<String>) -> Self {
        EngineError::OnNode { node: node.to_string(), status, error_type: intern_error_type(error_type), reason: reason.into() }
    }

    pub(crate) fn internal(e: impl std::fmt::Display) -> Self {
        EngineError::Internal(anyhow::anyhow!("{e}"))
    }
}

impl From<tantivy::TantivyError> for EngineError {
    fn from(e: tantivy::TantivyError) -> Self {
        EngineError::Internal(anyhow::anyhow!("tantivy: {e}"))
    }
}

impl From<std::io::Error> for EngineError {
    fn from(e: std::io::Error) -> Self {
        EngineError::Internal(anyhow::anyhow!("io: {e}"))
    }
}

/// OpenSearch error types are a small closed set: each one received from another node is
/// kept once for the process, so errors can carry it as `&'static str`.
fn intern_error_type(error_type: &str) -> &'static str {
    static TYPES: std::sync::OnceLock<parking_lot::Mutex<std::collections::HashSet<&'static str>>> = std::sync::OnceLock::new();
    let mut types = TYPES.get_or_init(Default::default).lock();
    if let Some(known) = types.get(error_type) {
        return known;
    }
    if types.len() >= 1024 {
        return "exception";
    }
    let kept: &'static str = Box::leak(error_type.to_string().into_boxed_str());
    types.insert(kept);
    kept
}

/// Result alias used throughout the engine.
pub type EngineResult<T> = Result<T, EngineError>;
