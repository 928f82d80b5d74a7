//! `UdfError`: every failure names the UDF, its version and what went wrong; `status()` maps
//! it to the HTTP status the API answers with.

use serde::Serialize;

/// What kind of failure; decides the HTTP status and the error `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum UdfErrorKind {
    /// No such UDF or version (404).
    NotFound,
    /// The version is already registered (409).
    AlreadyExists,
    /// Bad metadata in an upload (400).
    InvalidMetadata,
    /// The binary is not a valid module/component or lacks the required exports (400).
    InvalidBinary,
    /// The binary is over `max_module_bytes` (413).
    TooLarge,
    /// The binary imports something its permissions do not cover (400).
    PermissionDenied,
    /// Unsigned / badly signed / untrusted key while signatures are required or checked (403).
    SignatureRejected,
    /// The caller may not do this here, e.g. inline code in a search on a server whose UDF
    /// uploads need an API key (403).
    Forbidden,
    /// Call parameters do not match the declared parameters (400).
    BadParams,
    /// The guest trapped (unreachable, out-of-bounds, bad pointer to a host function, …) (422).
    Trap,
    /// Wall time per call or per query exceeded (422).
    Timeout,
    /// Memory limit exceeded (422).
    MemoryLimit,
    /// Wasm stack exhausted (422).
    StackOverflow,
    /// Too many concurrent instances of this UDF; waited until the deadline (429).
    InstanceLimit,
    /// A request that cannot apply in the UDF's current state, e.g. a rollback with no
    /// earlier default (400).
    InvalidRequest,
    /// A bug or an I/O failure on the host side (500).
    Internal,
}

impl UdfErrorKind {
    pub fn status(self) -> u16 {
        match self {
            UdfErrorKind::NotFound => 404,
            UdfErrorKind::AlreadyExists => 409,
            UdfErrorKind::InvalidMetadata
            | UdfErrorKind::InvalidBinary
            | UdfErrorKind::PermissionDenied
            | UdfErrorKind::BadParams
            | UdfErrorKind::InvalidRequest => 400,
            UdfErrorKind::TooLarge => 413,
            UdfErrorKind::SignatureRejected | UdfErrorKind::Forbidden => 403,
            UdfErrorKind::Trap
            | UdfErrorKind::Timeout
            | UdfErrorKind::MemoryLimit
            | UdfErrorKind::StackOverflow => 422,
            UdfErrorKind::InstanceLimit => 429,
            UdfErrorKind::Internal => 500,
        }
    }

    /// The OpenSearch-style error `type`.
    pub fn error_type(self) -> &'static str {
        match self {
            UdfErrorKind::NotFound => "udf_not_found_exception",
            UdfErrorKind::AlreadyExists => "udf_version_conflict_exception",
            UdfErrorKind::InvalidMetadata => "udf_invalid_metadata_exception",
            UdfErrorKind::InvalidBinary => "udf_invalid_binary_exception",
            UdfErrorKind::TooLarge => "udf_too_large_exception",
            UdfErrorKind::PermissionDenied => "udf_permission_exception",
            UdfErrorKind::SignatureRejected => "udf_signature_exception",
            UdfErrorKind::Forbidden => "security_exception",
            UdfErrorKind::BadParams => "udf_parameter_exception",
            UdfErrorKind::Trap => "udf_trap_exception",
            UdfErrorKind::Timeout => "udf_timeout_exception",
            UdfErrorKind::MemoryLimit => "udf_memory_limit_exception",
            UdfErrorKind::StackOverflow => "udf_stack_overflow_exception",
            UdfErrorKind::InstanceLimit => "udf_instance_limit_exception",
            UdfErrorKind::InvalidRequest => "illegal_argument_exception",
            UdfErrorKind::Internal => "udf_exception",
        }
    }

    /// Limit kinds, counted in stats and recorded in the audit log as `limit_hit`.
    pub fn is_limit(self) -> bool {
        matches!(
            self,
            UdfErrorKind::Timeout
                | UdfErrorKind::MemoryLimit
                | UdfErrorKind::StackOverflow
                | UdfErrorKind::InstanceLimit
        )
    }
}

/// A UDF failure: which UDF (and version, when known), what kind, and a message a user can act on.
#[derive(Debug, Clone, Serialize)]
pub struct UdfError {
    pub udf: String,
    pub version: Option<String>,
    pub kind: UdfErrorKind,
    pub message: String,
}

impl UdfError {
    /// The name and version are kept as given only up to [`ECHO_BYTES`](crate::metadata::ECHO_BYTES):
    /// they are user input, repeated in responses and the audit log.
    pub fn new(udf: impl Into<String>, version: Option<String>, kind: UdfErrorKind, message: impl Into<String>) -> Self {
        let echo = |s: String| match crate::metadata::echo(&s) {
            std::borrow::Cow::Borrowed(_) => s,
            std::borrow::Cow::Owned(cut) => cut,
        };
        UdfError { udf: echo(udf.into()), version: version.map(echo), kind, message: message.into() }
    }

    pub fn status(&self) -> u16 {
        self.kind.status()
    }

    pub fn error_type(&self) -> &'static str {
        self.kind.error_type()
    }

    /// `name@version` (or just `name`).
    pub fn qualified_name(&self) -> String {
        match &self.version {
            Some(v) => format!("{}@{}", self.udf, v),
            None => self.udf.clone(),
        }
    }
}

impl std::fmt::Display for UdfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "UDF [{}]: {}", self.qualified_name(), self.message)
    }
}

impl std::error::Error for UdfError {}
