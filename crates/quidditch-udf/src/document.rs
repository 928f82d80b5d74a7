//! How a UDF instance reads documents: the engine implements [`DocumentAccess`] per segment
//! (fast-field columns, `_source` fallback); [`JsonDocument`] implements it over JSON.

use std::borrow::Cow;

use serde_json::Value;

/// A field path resolved once per evaluation context (per segment). What the number means
/// is up to the [`DocumentAccess`] implementation (a column index, a `_source` path index…).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FieldSlot(pub u32);

impl FieldSlot {
    /// A path the implementation knows is absent from every document of this context.
    pub const MISSING: FieldSlot = FieldSlot(u32::MAX);
}

/// One field value of one document.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    /// The document has no value at this path (or it is `null`).
    Missing,
    Bool(bool),
    I64(i64),
    F64(f64),
    Str(Cow<'a, str>),
    /// An array or object, as JSON text.
    Json(Cow<'a, str>),
}

/// Document access for one evaluation context.
///
/// The host calls [`resolve`](Self::resolve) once per distinct path a UDF asks for (the
/// instance caches guest path bytes → slot, so per-document reads do no hashing and no
/// allocation), then [`read`](Self::read) per document. `doc` is the segment-local doc id
/// the engine passed to `filter`/`score`.
pub trait DocumentAccess: Send {
    fn resolve(&mut self, path: &str) -> FieldSlot;
    fn read(&mut self, slot: FieldSlot, doc: u32) -> FieldValue<'_>;
    /// The document's `_id`.
    fn document_id(&mut self, doc: u32) -> Option<Cow<'_, str>>;
    /// Whether reading `slot` for every document of a block up front costs about what the
    /// reads themselves would (a column lookup: no parsing, no I/O). The batch driver then
    /// reads such a field for the whole block before running it and serves the UDF's reads
    /// from WebAssembly memory; other fields are read by the host on demand.
    fn prefetchable(&self, _slot: FieldSlot) -> bool {
        false
    }
}

/// One step of a dotted path: `a.b[2].c` is `Key(a) Key(b) Index(2) Key(c)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PathStep {
    Key(String),
    Index(usize),
}

/// Parses `a.b.c` and `tags[0]`; `None` when the path is malformed (`a..b`, `x[`, `[a]`).
pub fn parse_path(path: &str) -> Option<Vec<PathStep>> {
    let mut steps = Vec::new();
    if path.is_empty() {
        return None;
    }
    for part in path.split('.') {
        let (key, mut rest) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if key.is_empty() && steps.is_empty() && rest.is_empty() {
            return None;
        }
        if !key.is_empty() {
            steps.push(PathStep::Key(key.to_string()));
        } else if rest.is_empty() {
            return None;
        }
        while !rest.is_empty() {
            let close = rest.find(']')?;
            let idx: usize = rest.get(1..close)?.parse().ok()?;
            steps.push(PathStep::Index(idx));
            rest = &rest[close + 1..];
            if !rest.is_empty() && !rest.starts_with('[') {
                return None;
            }
        }
    }
    Some(steps)
}

/// Walks a parsed path through a JSON value. A key that literally contains dots
/// (`{"a.b": 1}`) is found too, as OpenSearch treats both forms the same.
pub fn walk<'v>(root: &'v Value, steps: &[PathStep]) -> Option<&'v Value> {
    let Some((first, rest)) = steps.split_first() else { return Some(root) };
    match (first, root) {
        (PathStep::Key(k), Value::Object(map)) => {
            if let Some(v) = map.get(k)
                && let Some(found) = walk(v, rest)
            {
                return Some(found);
            }
            // Flattened key: try joining this and the following keys with dots.
            let mut joined = k.clone();
            for (i, step) in rest.iter().enumerate() {
                let PathStep::Key(next) = step else { break };
                joined.push('.');
                joined.push_str(next);
                if let Some(v) = map.get(&joined)
                    && let Some(found) = walk(v, &rest[i + 1..])
                {
                    return Some(found);
                }
            }
            None
        }
        (PathStep::Index(i), Value::Array(items)) => items.get(*i).and_then(|v| walk(v, rest)),
        _ => None,
    }
}

/// Converts a JSON value to a [`FieldValue`]: arrays/objects as JSON text, `null` as missing.
pub fn json_field_value(v: &Value) -> FieldValue<'_> {
    match v {
        Value::Null => FieldValue::Missing,
        Value::Bool(b) => FieldValue::Bool(*b),
        Value::Number(n) => match n.as_i64() {
            Some(i) => FieldValue::I64(i),
            None => match n.as_f64() {
                Some(f) => FieldValue::F64(f),
                None => FieldValue::Missing,
            },
        },
        Value::String(s) => FieldValue::Str(Cow::Borrowed(s)),
        other => FieldValue::Json(Cow::Owned(other.to_string())),
    }
}

/// [`DocumentAccess`] over JSON documents (doc id = position in the list). Used by the
/// test endpoint, by tests and benchmarks, and reusable by the engine as `_source` fallback.
pub struct JsonDocument {
    docs: Vec<(String, Value)>,
    paths: Vec<Option<Vec<PathStep>>>,
}

impl JsonDocument {
    /// A single document (doc id 0).
    pub fn new(id: impl Into<String>, source: Value) -> Self {
        JsonDocument { docs: vec![(id.into(), source)], paths: Vec::new() }
    }

    /// Several documents; doc id `i` is `docs[i]`.
    pub fn many(docs: Vec<(String, Value)>) -> Self {
        JsonDocument { docs, paths: Vec::new() }
    }
}

impl DocumentAccess for JsonDocument {
    fn resolve(&mut self, path: &str) -> FieldSlot {
        let Some(steps) = parse_path(path) else { return FieldSlot::MISSING };
        if let Some(i) = self.paths.iter().position(|p| p.as_deref() == Some(&steps[..])) {
            return FieldSlot(i as u32);
        }
        self.paths.push(Some(steps));
        FieldSlot((self.paths.len() - 1) as u32)
    }

    fn read(&mut self, slot: FieldSlot, doc: u32) -> FieldValue<'_> {
        let (Some(Some(steps)), Some((_, source))) =
            (self.paths.get(slot.0 as usize), self.docs.get(doc as usize))
        else {
            return FieldValue::Missing;
        };
        match walk(source, steps) {
            Some(v) => json_field_value(v),
            None => FieldValue::Missing,
        }
    }

    fn document_id(&mut self, doc: u32) -> Option<Cow<'_, str>> {
        self.docs.get(doc as usize).map(|(id, _)| Cow::Borrowed(id.as_str()))
    }

    /// In memory already: every path is as cheap to read ahead as on demand.
    fn prefetchable(&self, _slot: FieldSlot) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn paths_parse() {
        assert_eq!(
            parse_path("a.b[2].c"),
            Some(vec![
                PathStep::Key("a".into()),
                PathStep::Key("b".into()),
                PathStep::Index(2),
                PathStep::Key("c".into())
            ])
        );
        assert_eq!(parse_path("tags[0]"), Some(vec![PathStep::Key("tags".into()), PathStep::Index(0)]));
        assert_eq!(parse_path("m[1][0]"), Some(vec![PathStep::Key("m".into()), PathStep::Index(1), PathStep::Index(0)]));
        assert_eq!(parse_path(""), None);
        assert_eq!(parse_path("a..b"), None);
        assert_eq!(parse_path("x["), None);
        assert_eq!(parse_path("x[a]"), None);
    }

    #[test]
    fn json_document_reads() {
        let mut d = JsonDocument::new(
            "d1",
            json!({"a": {"b": {"c": 5}}, "tags": ["x", "y"], "n": 2.5, "o": {"k": [1]}, "f.lat": 1.0, "z": null}),
        );
        let c = d.resolve("a.b.c");
        assert_eq!(d.read(c, 0), FieldValue::I64(5));
        let t = d.resolve("tags[1]");
        assert_eq!(d.read(t, 0), FieldValue::Str("y".into()));
        let o = d.resolve("o");
        assert_eq!(d.read(o, 0), FieldValue::Json(r#"{"k":[1]}"#.into()));
        let flat = d.resolve("f.lat");
        assert_eq!(d.read(flat, 0), FieldValue::F64(1.0));
        let z = d.resolve("z");
        assert_eq!(d.read(z, 0), FieldValue::Missing);
        let missing = d.resolve("tags[9]");
        assert_eq!(d.read(missing, 0), FieldValue::Missing);
        assert_eq!(d.resolve("a.b.c"), c);
        assert_eq!(d.document_id(0).as_deref(), Some("d1"));
    }
}
