//! `_source` filtering (`_source_includes` / `_source_excludes`, `"_source": ["a.*"]`):
//! keeps or drops paths of a JSON document, with `*` wildcards, like OpenSearch.

use serde_json::{Map, Value};

/// Returns `source` keeping only paths matching an include pattern (all when `includes` is
/// empty) and dropping paths matching an exclude pattern. A pattern matches a path or any of
/// its parents (`user` includes `user.name`).
pub fn filter_source(source: &Value, includes: &[String], excludes: &[String]) -> Value {
    if includes.is_empty() && excludes.is_empty() {
        return source.clone();
    }
    match source {
        Value::Object(obj) => Value::Object(filter_object("", obj, includes, excludes)),
        other => other.clone(),
    }
}

fn filter_object(prefix: &str, obj: &Map<String, Value>, includes: &[String], excludes: &[String]) -> Map<String, Value> {
    let mut out = Map::new();
    for (k, v) in obj {
        let path = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        if excludes.iter().any(|p| matches(p, &path)) {
            continue;
        }
        let fully_included = includes.is_empty() || includes.iter().any(|p| matches(p, &path));
        match v {
            Value::Object(inner) => {
                if fully_included {
                    let filtered = filter_object(&path, inner, &[], excludes);
                    out.insert(k.clone(), Value::Object(filtered));
                } else if includes.iter().any(|p| could_match_below(p, &path)) {
                    let filtered = filter_object(&path, inner, includes, excludes);
                    if !filtered.is_empty() {
                        out.insert(k.clone(), Value::Object(filtered));
                    }
                }
            }
            Value::Array(items) if !fully_included && items.iter().any(Value::is_object) => {
                let kept: Vec<Value> = items
                    .iter()
                    .filter_map(|item| match item {
                        Value::Object(inner) => {
                            let f = filter_object(&path, inner, includes, excludes);
                            (!f.is_empty()).then_some(Value::Object(f))
                        }
                        _ => None,
                    })
                    .collect();
                if !kept.is_empty() {
                    out.insert(k.clone(), Value::Array(kept));
                }
            }
            Value::Array(items) if fully_included && !excludes.is_empty() => {
                let kept: Vec<Value> = items
                    .iter()
                    .map(|item| match item {
                        Value::Object(inner) => Value::Object(filter_object(&path, inner, &[], excludes)),
                        other => other.clone(),
                    })
                    .collect();
                out.insert(k.clone(), Value::Array(kept));
            }
            _ if fully_included => {
                out.insert(k.clone(), v.clone());
            }
            _ => {}
        }
    }
    out
}

/// Whether `pattern` matches `path` or one of its parents.
fn matches(pattern: &str, path: &str) -> bool {
    if wildcard(pattern, path) {
        return true;
    }
    let mut p = path;
    while let Some((parent, _)) = p.rsplit_once('.') {
        if wildcard(pattern, parent) {
            return true;
        }
        p = parent;
    }
    false
}

/// Whether `pattern` could match something below `path`.
fn could_match_below(pattern: &str, path: &str) -> bool {
    let prefix = format!("{path}.");
    pattern.starts_with(&prefix) || pattern.starts_with('*') || {
        // `a.*.c` style: compare the literal prefix before the first wildcard.
        let lit = pattern.split('*').next().unwrap_or("");
        prefix.starts_with(lit) || lit.starts_with(&prefix)
    }
}

/// `*` matches any run of characters (including dots).
fn wildcard(pattern: &str, s: &str) -> bool {
    if !pattern.contains('*') {
        return pattern == s;
    }
    let parts: Vec<&str> = pattern.split('*').collect();
    let mut rest = s;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            match rest.strip_prefix(part) {
                Some(r) => rest = r,
                None => return false,
            }
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            match rest.find(part) {
                Some(pos) => rest = &rest[pos + part.len()..],
                None => return false,
            }
        }
    }
    rest.is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn v(a: &[&str]) -> Vec<String> {
        a.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn includes_and_excludes() {
        let doc = json!({"include": {"field1": "v1", "field2": "v2"}, "count": 1});
        assert_eq!(filter_source(&doc, &v(&["include.field1"]), &[]), json!({"include": {"field1": "v1"}}));
        assert_eq!(filter_source(&doc, &v(&["include"]), &v(&["*.field2"])), json!({"include": {"field1": "v1"}}));
        assert_eq!(filter_source(&doc, &[], &v(&["count"])), json!({"include": {"field1": "v1", "field2": "v2"}}));
        assert_eq!(filter_source(&doc, &v(&["*1"]), &[]), json!({"include": {"field1": "v1"}}));
        assert_eq!(filter_source(&doc, &v(&["count"]), &[]), json!({"count": 1}));
    }
}
