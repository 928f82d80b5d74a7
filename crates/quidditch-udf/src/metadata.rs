//! What a UDF declares about itself (uploaded by the user) and what the registry adds
//! (sha256, size, kind, exports, signature, time). Stored as `metadata.json` next to the binary.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::config::LimitOverrides;

/// The language the UDF was written in (informational, except `wat`/`python` uploads,
/// which carry source the server compiles).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    C,
    Wat,
    Python,
    #[default]
    Other,
}

impl Language {
    pub fn parse(s: &str) -> Option<Language> {
        Some(match s.to_ascii_lowercase().as_str() {
            "rust" => Language::Rust,
            "c" => Language::C,
            "wat" => Language::Wat,
            "python" => Language::Python,
            "other" => Language::Other,
            _ => return None,
        })
    }
}

/// A capability a UDF may be granted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Document fields, id and score (`get_field_*`, `has_field`, `get_document_id`, `get_score`). Default.
    ReadDocument,
    /// `log` and WASI stdout/stderr, captured into the call's log. Default.
    WriteLog,
    /// WASI clocks (`clock_time_get`, `wasi:clocks`); without it clocks read a fixed time.
    Clocks,
    /// WASI random (`random_get`, `wasi:random`); without it randomness is a fixed sequence.
    Random,
    /// WASI environment (`environ_get`); the environment a UDF sees is always empty.
    Env,
}

impl Permission {
    pub const DEFAULT: [Permission; 2] = [Permission::ReadDocument, Permission::WriteLog];

    pub fn parse(s: &str) -> Option<Permission> {
        Some(match s {
            "read_document" => Permission::ReadDocument,
            "write_log" => Permission::WriteLog,
            "clocks" => Permission::Clocks,
            "random" => Permission::Random,
            "env" => Permission::Env,
            _ => return None,
        })
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Permission::ReadDocument => "read_document",
            Permission::WriteLog => "write_log",
            Permission::Clocks => "clocks",
            Permission::Random => "random",
            Permission::Env => "env",
        }
    }
}

/// The declared type of a parameter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ParamType {
    String,
    #[serde(alias = "integer", alias = "long", alias = "int", alias = "i32")]
    I64,
    #[serde(alias = "float", alias = "double", alias = "number", alias = "f32")]
    F64,
    #[serde(alias = "boolean")]
    Bool,
}

impl ParamType {
    pub fn as_str(self) -> &'static str {
        match self {
            ParamType::String => "string",
            ParamType::I64 => "i64",
            ParamType::F64 => "f64",
            ParamType::Bool => "bool",
        }
    }
}

/// One declared parameter.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamDecl {
    pub name: String,
    #[serde(rename = "type")]
    pub param_type: ParamType,
    #[serde(default)]
    pub required: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default: Option<Value>,
    #[serde(default)]
    pub description: String,
}

/// Core module (ABI v1) or component (WIT world `quidditch:udf/udf`), detected from the binary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum BinaryKind {
    #[default]
    Core,
    Component,
}

/// Metadata of one UDF version. The first block is what the uploader declares; the second
/// is filled in by the registry (any value the uploader sends there is ignored).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct UdfMetadata {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub language: Language,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub function_name: Option<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub author: String,
    #[serde(default)]
    pub category: String,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub parameters: Vec<ParamDecl>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub returns: Option<String>,
    #[serde(default = "default_permissions")]
    pub permissions: Vec<Permission>,
    #[serde(default, skip_serializing_if = "LimitOverrides::is_empty")]
    pub limits: LimitOverrides,

    // ---- filled in by the registry ----
    #[serde(default)]
    pub sha256: String,
    #[serde(default)]
    pub size_bytes: u64,
    #[serde(default)]
    pub kind: BinaryKind,
    /// Functions the UDF implements: `filter`, `score`, and the batched forms.
    #[serde(default)]
    pub exports: Vec<String>,
    #[serde(default)]
    pub signed: bool,
    /// Hex of the trusted public key that verified the signature.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed_by: Option<String>,
    #[serde(default)]
    pub created_at: String,
    /// Source the server compiled the binary from (`wat`, `python` uploads).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
}

fn default_permissions() -> Vec<Permission> {
    Permission::DEFAULT.to_vec()
}

impl UdfMetadata {
    /// Metadata with only a name and version; everything else default.
    pub fn new(name: impl Into<String>, version: impl Into<String>) -> Self {
        UdfMetadata {
            name: name.into(),
            version: version.into(),
            language: Language::Other,
            function_name: None,
            description: String::new(),
            author: String::new(),
            category: String::new(),
            tags: Vec::new(),
            parameters: Vec::new(),
            returns: None,
            permissions: default_permissions(),
            limits: LimitOverrides::default(),
            sha256: String::new(),
            size_bytes: 0,
            kind: BinaryKind::Core,
            exports: Vec::new(),
            signed: false,
            signed_by: None,
            created_at: String::new(),
            source: None,
        }
    }

    pub fn has_permission(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    /// Checks what the uploader declared; the message names the offending field.
    pub fn validate(&self) -> Result<semver::Version, String> {
        validate_name(&self.name)?;
        let version = semver::Version::parse(&self.version)
            .map_err(|e| format!("[version] [{}] is not a semantic version (e.g. 1.0.0): {e}", self.version))?;
        let mut seen = std::collections::HashSet::new();
        for p in &self.parameters {
            if p.name.is_empty() || p.name.len() > 128 {
                return Err("parameter names must be 1 to 128 bytes".into());
            }
            if !seen.insert(p.name.as_str()) {
                return Err(format!("parameter [{}] is declared twice", p.name));
            }
            if let Some(d) = &p.default {
                crate::params::coerce(p.param_type, d).map_err(|why| {
                    format!("default of parameter [{}] is not a valid {}: {why}", p.name, p.param_type.as_str())
                })?;
            }
        }
        if let Some(r) = &self.returns {
            const OK: [&str; 7] = ["bool", "boolean", "f64", "float", "double", "number", "score"];
            if !OK.contains(&r.as_str()) {
                return Err(format!("[returns] must be one of {OK:?}, got [{r}]"));
            }
        }
        if let Some(f) = &self.function_name
            && f.is_empty()
        {
            return Err("[function_name] must not be empty".into());
        }
        for t in &self.tags {
            if t.is_empty() || t.len() > 64 {
                return Err("tags must be 1 to 64 bytes".into());
            }
        }
        Ok(version)
    }
}

/// UDF names: 1–64 of `[A-Za-z0-9_.-]`, starting with a letter or digit (so `_audit` and
/// friends stay free for API endpoints, and a name is a safe directory name).
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "[name] [{name}] is invalid: use 1 to 64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        ))
    }
}
