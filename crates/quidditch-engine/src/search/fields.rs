//! `fields` and `docvalue_fields` of `_search`: per hit, the values of the requested mapped
//! fields (names or patterns), read from `_source` (a multi-field such as `title.raw` shows its
//! parent's value), under `hits.hits[].fields` as arrays. `docvalue_fields` refuses `text`
//! fields (they have no doc values in OpenSearch).

use serde_json::{Map, Value};

use crate::mapping::{FieldType, Mapping};
use crate::query_ast::{QueryError, wildcard_glob_match};

/// One requested field (or pattern).
#[derive(Debug, Clone, PartialEq)]
pub struct FieldRequest {
    pub pattern: String,
    /// Doc-value semantics: no `text` fields.
    pub doc_values: bool,
}

/// Parses `fields` / `docvalue_fields`: a list of names or `{"field": name, "format": …}`.
pub fn parse_field_requests(key: &str, v: &Value, doc_values: bool) -> Result<Vec<FieldRequest>, QueryError> {
    let items: Vec<&Value> = match v {
        Value::Array(items) => items.iter().collect(),
        Value::String(_) | Value::Object(_) => vec![v],
        _ => return Err(QueryError::parsing(format!("[{key}] must be an array of field names or objects"))),
    };
    items
        .into_iter()
        .map(|item| {
            let pattern = match item {
                Value::String(s) => s.clone(),
                Value::Object(o) => {
                    for k in o.keys() {
                        if !matches!(k.as_str(), "field" | "format" | "include_unmapped") {
                            return Err(QueryError::parsing(format!("[{key}] unknown field [{k}]")));
                        }
                    }
                    o.get("field").and_then(Value::as_str).map(str::to_string).ok_or_else(|| {
                        QueryError::parsing(format!("[{key}] objects need a [field]"))
                    })?
                }
                other => return Err(QueryError::parsing(format!("[{key}] entries must be strings or objects, got [{other}]"))),
            };
            Ok(FieldRequest { pattern, doc_values })
        })
        .collect()
}

/// Refuses doc-value requests on `text` fields, as OpenSearch does (checked per index).
pub(crate) fn check_field_requests(requests: &[FieldRequest], mapping: &Mapping) -> Result<(), QueryError> {
    for r in requests.iter().filter(|r| r.doc_values && !r.pattern.contains('*')) {
        if let Some(f) = mapping.resolve(&r.pattern) {
            if matches!(f.ty, FieldType::Text | FieldType::MatchOnlyText) {
                return Err(QueryError::illegal_argument(format!(
                    "Can't load fielddata on [{}] because fielddata is unsupported on fields of type [text]. Use doc values instead.",
                    r.pattern
                )));
            }
        }
    }
    Ok(())
}

/// The `fields` object of one hit (`None` when nothing was found).
pub(crate) fn hit_fields(requests: &[FieldRequest], mapping: &Mapping, source: &Value) -> Option<Value> {
    let names: Vec<String> = mapping.paths().filter(|f| !f.ty.is_object_like()).map(|f| f.path.clone()).collect();
    let mut out = Map::new();
    for r in requests {
        let matched: Vec<&String> = names.iter().filter(|n| *n == &r.pattern || wildcard_glob_match(&r.pattern, n)).collect();
        for name in matched {
            if out.contains_key(name.as_str()) {
                continue;
            }
            let is_text = mapping.resolve(name).is_some_and(|f| matches!(f.ty, FieldType::Text | FieldType::MatchOnlyText));
            if r.doc_values && is_text {
                continue;
            }
            let values = source_values(source, name, mapping);
            if !values.is_empty() {
                out.insert(name.clone(), Value::Array(values));
            }
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// The `_source` value(s) of `field`: its own path, or for a multi-field (`title.raw`) its
/// parent's. Arrays are flattened; objects are skipped.
pub(crate) fn source_values(source: &Value, field: &str, mapping: &Mapping) -> Vec<Value> {
    let mut found = lookup(source, field);
    if found.is_empty() {
        if let Some((parent, _)) = field.rsplit_once('.') {
            if mapping.resolve(parent).is_some_and(|p| !p.ty.is_object_like()) {
                found = lookup(source, parent);
            }
        }
    }
    found
}

fn lookup(source: &Value, path: &str) -> Vec<Value> {
    fn collect(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| collect(i, out)),
            Value::Object(_) | Value::Null => {}
            scalar => out.push(scalar.clone()),
        }
    }
    fn walk(v: &Value, parts: &[&str], out: &mut Vec<Value>) {
        if parts.is_empty() {
            collect(v, out);
            return;
        }
        match v {
            Value::Object(m) => {
                // `a.b` may be a literal dotted key or nested objects.
                for i in (1..=parts.len()).rev() {
                    if let Some(child) = m.get(&parts[..i].join(".")) {
                        walk(child, &parts[i..], out);
                    }
                }
            }
            Value::Array(items) => items.iter().for_each(|i| walk(i, parts, out)),
            _ => {}
        }
    }
    let parts: Vec<&str> = path.split('.').collect();
    let mut out = Vec::new();
    walk(source, &parts, &mut out);
    out
}
