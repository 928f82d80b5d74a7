//! Inline scripts through the one upload path: the [`InlineCompiler`] the server installs in
//! the registry. An inline script (`script.source` as base64 WebAssembly, WAT or Python
//! source, in queries and `_execute`) is uploaded as `inline-<key>` version `1.0.0` with no
//! declared parameters (so any `params` are accepted) and no permissions, under every check
//! of an upload; the registry caches the result by content key.
//!
//! Who may: `_execute` authorizes with the API key like every UDF write endpoint. A search
//! carries no such check, so on a server with an `api_key` inline code in searches is refused
//! (403): it would be an upload around the key; store the script and reference it by id. With
//! `udf.require_signed`, inline code is refused (403) by the upload checks themselves: an
//! inline script carries no signature.

use std::sync::{Arc, Weak};

use quidditch_udf::{InlineCompiler, InlineScript, LoadedUdf, UdfError, UdfErrorKind, UdfRegistry, UploadSource};
use serde_json::{Map, Value, json};

use super::upload::{Destination, UploadRequest, upload_blocking};
use crate::config::ServerConfig;
use crate::http::ApiError;

/// The server's inline compiler. Holds the registry weakly: the registry holds this.
pub(crate) struct InlineUploads {
    udfs: Weak<UdfRegistry>,
    config: Arc<ServerConfig>,
}

impl InlineUploads {
    pub(crate) fn install(udfs: &Arc<UdfRegistry>, config: Arc<ServerConfig>) {
        udfs.set_inline_compiler(Arc::new(InlineUploads { udfs: Arc::downgrade(udfs), config }));
    }
}

impl InlineCompiler for InlineUploads {
    fn admit(&self, actor: Option<&str>) -> Result<(), UdfError> {
        if actor.is_none() && self.config.api_key.is_some() {
            return Err(UdfError::new(
                "inline",
                None,
                UdfErrorKind::Forbidden,
                "inline script source is refused in searches on a server whose UDF uploads need an API key: \
                 store the script (PUT _scripts/<id>, with the key) and reference it by [id]",
            ));
        }
        Ok(())
    }

    fn compile(&self, script: &InlineScript, actor: &str) -> Result<Arc<LoadedUdf>, UdfError> {
        let name = script.name();
        let Some(udfs) = self.udfs.upgrade() else {
            return Err(UdfError::new(name, None, UdfErrorKind::Internal, "the UDF registry is shutting down"));
        };
        let mut fields = Map::new();
        fields.insert("name".into(), json!(name));
        fields.insert("version".into(), json!("1.0.0"));
        fields.insert("language".into(), serde_json::to_value(script.language()).unwrap_or(Value::Null));
        fields.insert("description".into(), json!("inline script"));
        if let UploadSource::Wat(text) | UploadSource::Python(text) = &script.source {
            fields.insert("source".into(), json!(text));
        }
        let request = UploadRequest {
            fields,
            source: script.source.clone(),
            signature: None,
            actor: actor.to_string(),
            destination: Destination::Inline,
        };
        upload_blocking(&udfs, &self.config, request, false).map(|uploaded| uploaded.udf).map_err(|e| udf_error(&name, e))
    }
}

/// An upload refusal as the registry's error: the kind from the error type (else from the
/// status), the message as the upload path wrote it.
fn udf_error(name: &str, e: ApiError) -> UdfError {
    const KINDS: [UdfErrorKind; 6] = [
        UdfErrorKind::InvalidMetadata,
        UdfErrorKind::InvalidBinary,
        UdfErrorKind::TooLarge,
        UdfErrorKind::PermissionDenied,
        UdfErrorKind::SignatureRejected,
        UdfErrorKind::Forbidden,
    ];
    let kind = KINDS.into_iter().find(|k| k.error_type() == e.error_type).unwrap_or(match e.status.as_u16() {
        403 => UdfErrorKind::Forbidden,
        413 => UdfErrorKind::TooLarge,
        400..=499 => UdfErrorKind::InvalidBinary,
        _ => UdfErrorKind::Internal,
    });
    // Registry refusals already say `UDF [inline-…@1.0.0]: `; the caller names the script.
    let reason = match e.reason.strip_prefix("UDF [").and_then(|r| r.split_once("]: ")) {
        Some((_, rest)) => rest.to_string(),
        None => e.reason,
    };
    UdfError::new(name, Some("1.0.0".into()), kind, format!("inline script: {reason}"))
}
