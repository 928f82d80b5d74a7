//! `_source` filtering — the one implementation, used by `_search` and by the document APIs
//! (GET, `_source`, `_mget`, update's `get`): `true`/`false`, a pattern or list of patterns, or
//! `{"includes": […], "excludes": […]}`; patterns are dotted paths with `*` (any run, dots
//! included), `?` (one character) and `\` (escape). A pattern matching an object keeps or
//! drops everything below it.

use serde_json::{Map, Value};

use crate::query_ast::QueryError;
use crate::query_ast::wildcard_glob_match as glob_match;

#[derive(Debug, Clone, PartialEq)]
pub struct SourceFilter {
    pub enabled: bool,
    pub includes: Vec<String>,
    pub excludes: Vec<String>,
}

impl Default for SourceFilter {
    fn default() -> Self {
        SourceFilter { enabled: true, includes: Vec::new(), excludes: Vec::new() }
    }
}

fn patterns(value: &Value, what: &str) -> Result<Vec<String>, QueryError> {
    match value {
        Value::String(s) => Ok(split_list(s)),
        Value::Array(items) => items
            .iter()
            .map(|i| match i {
                Value::String(s) => Ok(s.clone()),
                other => Err(QueryError::parsing(format!(
                    "[_source] {what} must be strings, got [{other}]"
                ))),
            })
            .collect(),
        Value::Null => Ok(Vec::new()),
        other => Err(QueryError::parsing(format!("[_source] {what} must be strings, got [{other}]"))),
    }
}

pub(crate) fn split_list(s: &str) -> Vec<String> {
    s.split(',').map(str::trim).filter(|p| !p.is_empty()).map(String::from).collect()
}

impl SourceFilter {
    /// Parses the body's `_source` value.
    pub fn parse(value: &Value) -> Result<SourceFilter, QueryError> {
        match value {
            Value::Bool(enabled) => Ok(SourceFilter { enabled: *enabled, ..Default::default() }),
            Value::String(_) | Value::Array(_) => {
                Ok(SourceFilter { includes: patterns(value, "includes")?, ..Default::default() })
            }
            Value::Object(obj) => {
                let mut f = SourceFilter::default();
                for (k, v) in obj {
                    match k.as_str() {
                        "includes" | "include" => f.includes = patterns(v, "includes")?,
                        "excludes" | "exclude" => f.excludes = patterns(v, "excludes")?,
                        other => {
                            return Err(QueryError::parsing(format!(
                                "Unknown key for a VALUE_STRING in [{other}]."
                            )));
                        }
                    }
                }
                Ok(f)
            }
            other => Err(QueryError::parsing(format!("[_source] unsupported value [{other}]"))),
        }
    }

    /// Parses the `_source` URL parameter (`true`, `false` or a comma list of includes).
    pub fn parse_param(s: &str) -> SourceFilter {
        match s {
            "true" => SourceFilter::default(),
            "false" => SourceFilter { enabled: false, ..Default::default() },
            list => SourceFilter { includes: split_list(list), ..Default::default() },
        }
    }

    pub fn is_identity(&self) -> bool {
        self.enabled && self.includes.is_empty() && self.excludes.is_empty()
    }

    /// The filtered source (`None` when `_source` is disabled).
    pub fn apply(&self, source: Value) -> Option<Value> {
        if !self.enabled {
            return None;
        }
        if self.is_identity() {
            return Some(source);
        }
        match source {
            Value::Object(obj) => Some(Value::Object(self.filter_object(obj, "", false))),
            other => Some(other),
        }
    }

    fn filter_object(&self, obj: Map<String, Value>, prefix: &str, included: bool) -> Map<String, Value> {
        let mut out = Map::new();
        for (key, value) in obj {
            let path = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
            if self.excludes.iter().any(|p| glob_match(p, &path)) {
                continue;
            }
            let inc = included || self.includes.is_empty() || self.includes.iter().any(|p| glob_match(p, &path));
            if let Some(v) = self.filter_value(value, &path, inc) {
                out.insert(key, v);
            }
        }
        out
    }

    fn filter_value(&self, value: Value, path: &str, included: bool) -> Option<Value> {
        match value {
            Value::Object(obj) => {
                if !included && !self.may_include_below(path) {
                    return None;
                }
                let filtered = self.filter_object(obj, path, included);
                if filtered.is_empty() && !included {
                    None
                } else {
                    Some(Value::Object(filtered))
                }
            }
            Value::Array(items) => {
                if !included && !self.may_include_below(path) {
                    return None;
                }
                let kept: Vec<Value> =
                    items.into_iter().filter_map(|v| self.filter_value(v, path, included)).collect();
                if kept.is_empty() && !included { None } else { Some(Value::Array(kept)) }
            }
            leaf => included.then_some(leaf),
        }
    }

    /// Whether some include pattern could match a path under `path`.
    fn may_include_below(&self, path: &str) -> bool {
        let below = format!("{path}.");
        self.includes.iter().any(|p| {
            let literal = &p[..p.find('*').unwrap_or(p.len())];
            literal.starts_with(&below) || (p.contains('*') && below.starts_with(literal))
        })
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::SourceFilter;

    fn doc() -> serde_json::Value {
        json!({"include": {"field1": "v1", "field2": "v2"}, "count": 1, "tags": [{"a": 1, "b": 2}]})
    }

    #[test]
    fn includes_excludes() {
        let f = SourceFilter::parse(&json!("include.field1")).unwrap();
        assert_eq!(f.apply(doc()), Some(json!({"include": {"field1": "v1"}})));
        let f = SourceFilter::parse(&json!({"includes": "include", "excludes": "*.field2"})).unwrap();
        assert_eq!(f.apply(doc()), Some(json!({"include": {"field1": "v1"}})));
        let f = SourceFilter::parse(&json!({"excludes": ["count", "tags.b"]})).unwrap();
        assert_eq!(f.apply(doc()), Some(json!({"include": {"field1": "v1", "field2": "v2"}, "tags": [{"a": 1}]})));
        let f = SourceFilter::parse(&json!(["inc*"])).unwrap();
        assert_eq!(f.apply(doc()), Some(json!({"include": {"field1": "v1", "field2": "v2"}})));
        let f = SourceFilter::parse(&json!(false)).unwrap();
        assert_eq!(f.apply(doc()), None);
    }

    #[test]
    fn wildcards_cross_dots_and_single_characters() {
        let f = SourceFilter::parse(&json!(["*1"])).unwrap();
        assert_eq!(f.apply(doc()), Some(json!({"include": {"field1": "v1"}})));
        let f = SourceFilter::parse(&json!(["include.field?"])).unwrap();
        assert_eq!(f.apply(doc()), Some(json!({"include": {"field1": "v1", "field2": "v2"}})));
        let f = SourceFilter::parse(&json!({"includes": "include", "excludes": "*.field2"})).unwrap();
        assert_eq!(f.apply(doc()), Some(json!({"include": {"field1": "v1"}})));
        let f = SourceFilter::parse_param("count");
        assert_eq!(f.apply(doc()), Some(json!({"count": 1})));
        let escaped = json!({"a*b": 1, "axb": 2});
        let f = SourceFilter::parse(&json!(["a\\*b"])).unwrap();
        assert_eq!(f.apply(escaped), Some(json!({"a*b": 1})));
    }
}
