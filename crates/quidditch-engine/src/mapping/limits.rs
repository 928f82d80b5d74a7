//! Mapping limits (`index.mapping.*.limit`): how deep, how wide and how long-named a mapping
//! may grow, checked at the door — when an index is created, on `PUT _mapping`, and when a
//! document would add fields dynamically — with OpenSearch's settings, defaults and messages.
//!
//! Besides keeping mappings small, the depth limit bounds every recursive walk of the
//! mapping tree (parsing, merging, serialising): `MAX_DEPTH_LIMIT` caps the setting so a
//! mapping can never be deep enough to exhaust a thread's stack.

use serde_json::Value;

use super::{FieldMapping, FieldType, Mapping};
use crate::error::{EngineError, EngineResult};

/// The highest `index.mapping.depth.limit` accepted. OpenSearch has no upper bound; here the
/// mapping tree is walked recursively, so the depth must stay far from the stack's reach.
pub const MAX_DEPTH_LIMIT: u64 = 256;

/// The limits in force for one index (from its settings, OpenSearch's defaults otherwise).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MappingLimits {
    /// `index.mapping.total_fields.limit`: object fields + leaf fields + multi-fields.
    pub total_fields: u64,
    /// `index.mapping.depth.limit`: the root is depth 1, an object at the root depth 2, …
    pub depth: u64,
    /// `index.mapping.nested_fields.limit`: how many `nested` fields the mapping may have.
    pub nested_fields: u64,
    /// `index.mapping.nested_objects.limit`: how many nested objects one document may have
    /// (all `nested` fields together; checked when the document is written).
    pub nested_objects: u64,
    /// `index.mapping.field_name_length.limit`: the longest field name (one path segment),
    /// in UTF-16 code units like Java's `String.length()`.
    pub field_name_length: u64,
}

impl Default for MappingLimits {
    fn default() -> Self {
        MappingLimits { total_fields: 1000, depth: 20, nested_fields: 50, nested_objects: 10_000, field_name_length: i64::MAX as u64 }
    }
}

/// A limit setting: its key (without `index.`), lowest accepted value and highest.
struct LimitSetting {
    key: &'static str,
    min: u64,
    max: u64,
}

const SETTINGS: [LimitSetting; 5] = [
    LimitSetting { key: "mapping.total_fields.limit", min: 0, max: i64::MAX as u64 },
    LimitSetting { key: "mapping.depth.limit", min: 1, max: MAX_DEPTH_LIMIT },
    LimitSetting { key: "mapping.nested_fields.limit", min: 0, max: i64::MAX as u64 },
    LimitSetting { key: "mapping.nested_objects.limit", min: 0, max: i64::MAX as u64 },
    LimitSetting { key: "mapping.field_name_length.limit", min: 1, max: i64::MAX as u64 },
];

impl MappingLimits {
    /// Reads the limits from flattened index settings (keys without the `index.` prefix),
    /// validating each present value like OpenSearch's `Setting.longSetting`.
    pub fn from_settings<'a>(lookup: impl Fn(&str) -> Option<&'a Value>) -> EngineResult<MappingLimits> {
        let mut limits = MappingLimits::default();
        for setting in &SETTINGS {
            let Some(raw) = lookup(setting.key) else { continue };
            let value = parse_limit(setting, raw)?;
            let slot = match setting.key {
                "mapping.total_fields.limit" => &mut limits.total_fields,
                "mapping.depth.limit" => &mut limits.depth,
                "mapping.nested_fields.limit" => &mut limits.nested_fields,
                "mapping.nested_objects.limit" => &mut limits.nested_objects,
                _ => &mut limits.field_name_length,
            };
            *slot = value;
        }
        Ok(limits)
    }

    /// Checks a whole mapping against the limits, with OpenSearch's messages
    /// (`MappingLookup.checkLimits`): 400 `illegal_argument_exception`.
    pub fn check(&self, mapping: &Mapping) -> EngineResult<()> {
        let total = mapping.paths().count() as u64;
        if total > self.total_fields {
            return Err(EngineError::IllegalArgument(format!(
                "Limit of total fields [{}] has been exceeded",
                self.total_fields
            )));
        }
        let nested = mapping.paths().filter(|f| f.ty == FieldType::Nested).count() as u64;
        if nested > self.nested_fields {
            return Err(EngineError::IllegalArgument(format!(
                "Limit of nested fields [{}] has been exceeded",
                self.nested_fields
            )));
        }
        // Iterative walk: the check must not itself recurse as deep as the input.
        let mut stack: Vec<(String, u64, &FieldMapping)> =
            mapping.properties.iter().map(|(name, f)| (name.clone(), 2, f)).collect();
        while let Some((path, depth, field)) = stack.pop() {
            let name = path.rsplit('.').next().unwrap_or(&path);
            self.check_name(name)?;
            for sub in field.fields.keys() {
                self.check_name(sub)?;
            }
            if !field.ty.is_object_like() {
                continue;
            }
            if depth > self.depth {
                return Err(EngineError::IllegalArgument(format!(
                    "Limit of mapping depth [{}] has been exceeded due to object field [{path}]",
                    self.depth
                )));
            }
            for (name, child) in &field.properties {
                stack.push((format!("{path}.{name}"), depth + 1, child));
            }
        }
        Ok(())
    }

    fn check_name(&self, name: &str) -> EngineResult<()> {
        let len = name.encode_utf16().count() as u64;
        if len > self.field_name_length {
            return Err(EngineError::IllegalArgument(format!(
                "Field name [{name}] is longer than the limit of [{}] characters",
                self.field_name_length
            )));
        }
        Ok(())
    }
}

fn parse_limit(setting: &LimitSetting, raw: &Value) -> EngineResult<u64> {
    let key = setting.key;
    let parsed = match raw {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse::<i64>().ok(),
        _ => None,
    };
    let Some(n) = parsed else {
        return Err(EngineError::IllegalArgument(format!("Failed to parse value [{}] for setting [index.{key}]", display(raw))));
    };
    if n < setting.min as i64 {
        return Err(EngineError::IllegalArgument(format!(
            "Failed to parse value [{n}] for setting [index.{key}] must be >= {}",
            setting.min
        )));
    }
    if n as u64 > setting.max {
        return Err(EngineError::IllegalArgument(format!(
            "Failed to parse value [{n}] for setting [index.{key}] must be <= {}",
            setting.max
        )));
    }
    Ok(n as u64)
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.chars().take(100).collect(),
        other => other.to_string().chars().take(100).collect(),
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn nested(depth: usize) -> Value {
        let mut v = json!({"type": "keyword"});
        for _ in 0..depth {
            v = json!({"properties": {"o": v}});
        }
        v
    }

    fn limits(settings: Value) -> EngineResult<MappingLimits> {
        MappingLimits::from_settings(|k| settings.get(k))
    }

    #[test]
    fn depth_counts_like_opensearch() {
        // 19 nested objects (the deepest at depth 20) plus a leaf: allowed by the default 20.
        let m = Mapping::parse(&json!({"properties": {"o": nested(19)}})).unwrap();
        MappingLimits::default().check(&m).unwrap();
        let m = Mapping::parse(&json!({"properties": {"o": nested(20)}})).unwrap();
        let e = MappingLimits::default().check(&m).unwrap_err();
        let path = vec!["o"; 20].join(".");
        assert_eq!(e.to_string(), format!("Limit of mapping depth [20] has been exceeded due to object field [{path}]"));
    }

    #[test]
    fn total_fields_and_name_length() {
        let m = Mapping::parse(&json!({"properties": {"a": {"type": "text", "fields": {"k": {"type": "keyword"}}}, "o": {"properties": {"b": {"type": "long"}}}}})).unwrap();
        // a, a.k, o, o.b
        let l = limits(json!({"mapping.total_fields.limit": 4})).unwrap();
        l.check(&m).unwrap();
        let l = limits(json!({"mapping.total_fields.limit": "3"})).unwrap();
        assert_eq!(l.check(&m).unwrap_err().to_string(), "Limit of total fields [3] has been exceeded");
        let l = limits(json!({"mapping.field_name_length.limit": 1})).unwrap();
        l.check(&m).unwrap();
        let m = Mapping::parse(&json!({"properties": {"ab": {"type": "long"}}})).unwrap();
        assert_eq!(l.check(&m).unwrap_err().to_string(), "Field name [ab] is longer than the limit of [1] characters");
    }

    #[test]
    fn setting_values_are_validated() {
        assert_eq!(limits(json!({})).unwrap(), MappingLimits::default());
        assert_eq!(limits(json!({"mapping.depth.limit": "5"})).unwrap().depth, 5);
        for (settings, message) in [
            (json!({"mapping.depth.limit": 0}), "Failed to parse value [0] for setting [index.mapping.depth.limit] must be >= 1"),
            (json!({"mapping.total_fields.limit": "x"}), "Failed to parse value [x] for setting [index.mapping.total_fields.limit]"),
            (json!({"mapping.depth.limit": 257}), "Failed to parse value [257] for setting [index.mapping.depth.limit] must be <= 256"),
        ] {
            assert_eq!(limits(settings).unwrap_err().to_string(), message);
        }
    }
}
