//! What a UDF declares about itself (uploaded by the user) and what the registry adds
//! (sha256, size, kind, exports, signature, time). Stored as `metadata.json` next to the binary.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::params::json_type_name;

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
    /// A prebuilt binary, as OpenSearch queries name it (`"lang": "wasm"`).
    Wasm,
    #[default]
    Other,
}

impl Language {
    /// Every accepted spelling, for error messages.
    pub const NAMES: [&'static str; 6] = ["rust", "c", "wat", "python", "wasm", "other"];

    pub fn parse(s: &str) -> Option<Language> {
        Some(match s.to_ascii_lowercase().as_str() {
            "rust" => Language::Rust,
            "c" => Language::C,
            "wat" => Language::Wat,
            "python" => Language::Python,
            "wasm" => Language::Wasm,
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
    /// The type a JSON value has as a parameter: string, i64 for integral numbers, f64 for
    /// other numbers, bool; `None` for null, arrays and objects. Undeclared parameters (and
    /// stored scripts' `params`) are typed this way.
    pub fn of_json(value: &Value) -> Option<ParamType> {
        Some(match value {
            Value::Bool(_) => ParamType::Bool,
            Value::Number(n) if n.is_i64() || n.is_u64() => ParamType::I64,
            Value::Number(_) => ParamType::F64,
            Value::String(_) => ParamType::String,
            _ => return None,
        })
    }

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
    /// Python uploads: the engine that runs the source, `native` (compiled to a core module)
    /// or `cpython` (the shared Python runtime).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub engine: Option<String>,
    /// Python uploads on `cpython` by the automatic choice: why the native compiler refused
    /// (`{"construct": …, "line": …}`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub native_fallback: Option<Value>,
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
            engine: None,
            native_fallback: None,
        }
    }

    /// Metadata from an upload's JSON fields. Every shape error names the JSON field and the
    /// expected shape (`[tags] must be an array of strings; got a string`); registry-owned
    /// fields the uploader sends are ignored; `returns` may be given as `{"type": …}`.
    pub fn from_fields(mut fields: Map<String, Value>) -> Result<UdfMetadata, String> {
        for owned in REGISTRY_FIELDS {
            fields.remove(owned);
        }
        for required in ["name", "version"] {
            if !matches!(fields.get(required), Some(Value::String(s)) if !s.is_empty()) {
                return Err(format!("[{required}] is required and must be a non-empty string"));
            }
        }
        for key in ["description", "author", "category", "function_name", "source"] {
            match fields.get(key) {
                None | Some(Value::Null) | Some(Value::String(_)) => {}
                Some(v) => return Err(format!("[{key}] must be a string; got {}", json_type_name(v))),
            }
        }
        if let Some(v) = fields.get("language").filter(|v| !v.is_null()) {
            let parsed = v.as_str().and_then(Language::parse).ok_or_else(|| {
                format!("[language] must be one of {}; got {}", quoted(&Language::NAMES), shown(v))
            })?;
            fields.insert("language".into(), serde_json::to_value(parsed).unwrap_or(Value::Null));
        }
        match fields.get("returns") {
            None | Some(Value::Null) => {}
            Some(v) => {
                let ty = match v {
                    Value::String(s) => Some(s.clone()),
                    Value::Object(o) if o.len() == 1 => o.get("type").and_then(Value::as_str).map(str::to_string),
                    _ => None,
                };
                match ty {
                    Some(t) if RETURNS.contains(&t.as_str()) => {
                        fields.insert("returns".into(), Value::String(t));
                    }
                    _ => {
                        return Err(format!(
                            "[returns] must be one of {} or {{\"type\": …}} with one of them; got {}",
                            quoted(&RETURNS),
                            shown(v)
                        ));
                    }
                }
            }
        }
        if let Some(v) = fields.get("tags").filter(|v| !v.is_null())
            && !v.as_array().is_some_and(|a| a.iter().all(Value::is_string))
        {
            return Err(format!("[tags] must be an array of strings; got {}", shown(v)));
        }
        if let Some(v) = fields.get("permissions").filter(|v| !v.is_null()) {
            let names = ["read_document", "write_log", "clocks", "random", "env"];
            let ok = v.as_array().is_some_and(|a| a.iter().all(|p| p.as_str().and_then(Permission::parse).is_some()));
            if !ok {
                return Err(format!("[permissions] must be an array of {}; got {}", quoted(&names), shown(v)));
            }
        }
        if let Some(v) = fields.get("parameters").filter(|v| !v.is_null()) {
            let Some(params) = v.as_array() else {
                return Err(format!("[parameters] must be an array of {PARAM_SHAPE}; got {}", shown(v)));
            };
            for (i, p) in params.iter().enumerate() {
                check_param(i, p)?;
            }
        }
        if let Some(v) = fields.get("limits").filter(|v| !v.is_null()) {
            let Some(limits) = v.as_object() else {
                return Err(format!("[limits] must be an object of {}; got {}", quoted(&LIMIT_NAMES), shown(v)));
            };
            for (k, l) in limits {
                if !LIMIT_NAMES.contains(&k.as_str()) {
                    return Err(format!("[limits.{}] is not a limit; use {}", echo(k), quoted(&LIMIT_NAMES)));
                }
                if !(l.is_u64() || l.is_null()) {
                    return Err(format!("[limits.{k}] must be a non-negative integer; got {}", shown(l)));
                }
            }
        }
        serde_json::from_value(Value::Object(fields)).map_err(|e| format!("invalid UDF metadata: {e}"))
    }

    pub fn has_permission(&self, p: Permission) -> bool {
        self.permissions.contains(&p)
    }

    /// Checks what the uploader declared; the message names the offending field.
    pub fn validate(&self) -> Result<semver::Version, String> {
        validate_name(&self.name)?;
        let version = parse_version(&self.version)?;
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
        if let Some(r) = &self.returns
            && !RETURNS.contains(&r.as_str())
        {
            return Err(format!("[returns] must be one of {}; got [{}]", quoted(&RETURNS), echo(r)));
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

/// What `returns` may say.
const RETURNS: [&str; 7] = ["bool", "boolean", "f64", "float", "double", "number", "score"];
/// Fields the registry fills in; an uploader's values for them are ignored.
const REGISTRY_FIELDS: [&str; 11] = [
    "sha256",
    "size_bytes",
    "kind",
    "exports",
    "signed",
    "signed_by",
    "created_at",
    "effective_limits",
    "versions",
    "engine",
    "native_fallback",
];
const LIMIT_NAMES: [&str; 6] = ["memory_bytes", "call_timeout_ms", "query_timeout_ms", "max_instances", "instance_wait_ms", "log_bytes"];
const PARAM_SHAPE: &str =
    r#"{"name": string, "type": "string"|"i64"|"f64"|"bool", "required"?: bool, "default"?: value, "description"?: string}"#;

/// `["a", "b"]` as `"a", "b"`.
fn quoted(names: &[&str]) -> String {
    names.iter().map(|n| format!("\"{n}\"")).collect::<Vec<_>>().join(", ")
}

/// A JSON value in an error message: its kind, and the value itself when short.
fn shown(v: &Value) -> String {
    match v {
        Value::String(s) => format!("[{}]", echo(s)),
        Value::Number(n) => format!("[{n}]"),
        Value::Bool(b) => format!("[{b}]"),
        other => json_type_name(other).to_string(),
    }
}

/// One entry of `parameters`, checked field by field (`[parameters[1].type] …`).
fn check_param(i: usize, p: &Value) -> Result<(), String> {
    let Some(o) = p.as_object() else {
        return Err(format!("[parameters[{i}]] must be an object {PARAM_SHAPE}; got {}", shown(p)));
    };
    for key in o.keys() {
        if !["name", "type", "required", "default", "description"].contains(&key.as_str()) {
            return Err(format!("[parameters[{i}].{}] is not a parameter field; expected {PARAM_SHAPE}", echo(key)));
        }
    }
    if !matches!(o.get("name"), Some(Value::String(_))) {
        return Err(format!("[parameters[{i}].name] must be a string; got {}", o.get("name").map_or("nothing".into(), shown)));
    }
    let ty = o.get("type");
    if ty.and_then(|t| serde_json::from_value::<ParamType>(t.clone()).ok()).is_none() {
        return Err(format!(
            "[parameters[{i}].type] must be one of \"string\", \"i64\", \"f64\", \"bool\"; got {}",
            ty.map_or("nothing".into(), shown)
        ));
    }
    if let Some(r) = o.get("required").filter(|r| !r.is_boolean()) {
        return Err(format!("[parameters[{i}].required] must be a boolean; got {}", shown(r)));
    }
    if let Some(d) = o.get("description").filter(|d| !d.is_string()) {
        return Err(format!("[parameters[{i}].description] must be a string; got {}", shown(d)));
    }
    Ok(())
}

/// Longest UDF name, in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// Longest UDF version, in bytes (a version is a directory name on disk).
pub const MAX_VERSION_BYTES: usize = 64;
/// How much of a user-supplied string error messages and the audit log repeat.
pub const ECHO_BYTES: usize = 80;

/// UDF names: 1–64 of `[A-Za-z0-9_.-]`, starting with a letter or digit (so `_audit` and
/// friends stay free for API endpoints, and a name is a safe directory name).
pub fn validate_name(name: &str) -> Result<(), String> {
    let ok = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.as_bytes()[0].is_ascii_alphanumeric()
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'.');
    if ok {
        Ok(())
    } else {
        Err(format!(
            "[name] [{}] is invalid: use 1 to {MAX_NAME_BYTES} letters, digits, '_', '-' or '.', starting with a letter or digit",
            echo(name)
        ))
    }
}

/// UDF versions: a semantic version (`1.2.0`, `2.0.0-beta.1`) of at most 64 bytes.
pub fn parse_version(version: &str) -> Result<semver::Version, String> {
    if version.len() > MAX_VERSION_BYTES {
        return Err(format!(
            "[version] [{}] is too long: {} bytes, the limit is {MAX_VERSION_BYTES}",
            echo(version),
            version.len()
        ));
    }
    semver::Version::parse(version)
        .map_err(|e| format!("[version] [{}] is not a semantic version (e.g. 1.0.0): {e}", echo(version)))
}

/// `s` as error messages repeat user input: at most [`ECHO_BYTES`] bytes (cut at a character
/// boundary), with the full length said when it was cut, so a 100 KB name never ends up in a
/// response or the audit log.
pub fn echo(s: &str) -> std::borrow::Cow<'_, str> {
    if s.len() <= ECHO_BYTES {
        return std::borrow::Cow::Borrowed(s);
    }
    let mut end = ECHO_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    std::borrow::Cow::Owned(format!("{}... ({} bytes)", &s[..end], s.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_versions_and_names_are_refused_and_echoed_truncated() {
        let long = format!("1.0.0-{}", "a".repeat(100_000));
        let e = parse_version(&long).unwrap_err();
        assert!(e.contains("too long"), "{e}");
        assert!(e.len() < 300, "{e}");
        let e = validate_name(&"n".repeat(100_000)).unwrap_err();
        assert!(e.len() < 300, "{e}");
        assert!(parse_version(&format!("1.0.0-{}", "a".repeat(MAX_VERSION_BYTES - 6))).is_ok());
        assert!(validate_name(&"n".repeat(MAX_NAME_BYTES)).is_ok());
    }

    fn fields(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn shape_errors_name_the_field_and_the_expected_shape() {
        let base = serde_json::json!({"name": "u", "version": "1.0.0"});
        let with = |k: &str, v: Value| {
            let mut f = fields(base.clone());
            f.insert(k.into(), v);
            UdfMetadata::from_fields(f).unwrap_err()
        };
        let e = with("returns", serde_json::json!(["bool"]));
        assert!(e.starts_with("[returns] must be one of \"bool\""), "{e}");
        assert!(e.ends_with("got an array"), "{e}");
        assert!(with("tags", serde_json::json!("a")).starts_with("[tags] must be an array of strings"));
        assert!(with("language", serde_json::json!("cobol")).contains("[cobol]"));
        let e = with("parameters", serde_json::json!([{"name": "x", "type": "i64"}, {"name": "y", "type": "list"}]));
        assert!(e.starts_with("[parameters[1].type]"), "{e}");
        assert!(with("limits", serde_json::json!({"memory_bytes": "big"})).starts_with("[limits.memory_bytes]"));
        let mut f = fields(base.clone());
        f.insert("returns".into(), serde_json::json!({"type": "f64"}));
        f.insert("language".into(), serde_json::json!("wasm"));
        let m = UdfMetadata::from_fields(f).unwrap();
        assert_eq!(m.returns.as_deref(), Some("f64"));
        assert_eq!(m.language, Language::Wasm);
    }

    #[test]
    fn echo_cuts_at_a_character_boundary() {
        let s = "é".repeat(100);
        let e = echo(&s);
        assert!(e.len() < s.len());
        assert!(e.ends_with("(200 bytes)"));
    }
}
