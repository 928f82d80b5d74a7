//! Turns a JSON `_source` into what gets indexed: values coerced to their mapped type and
//! placed at their path in `_text` / `_kw`, plus the dynamic mapping updates the document
//! introduces. Coercion follows OpenSearch: numeric strings are accepted for numbers, floats
//! are truncated for integer types, numbers and booleans are accepted as keyword/text, and
//! anything else that does not fit is a 400 `mapper_parsing_exception`.

use std::collections::BTreeSet;
use std::sync::Arc;

use serde_json::Value;
use tantivy::schema::OwnedValue;
use tantivy::{DateTime, TantivyDocument};

use crate::analysis::Analyzer;
use crate::date::DateFormat;
use crate::error::{EngineError, EngineResult};
use crate::index::schema::IndexFields;
use crate::mapping::{Dynamic, FieldMapping, FieldType, MAX_DEPTH_LIMIT, Mapping, infer_field, join};

/// Versioning metadata stored with every document.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DocMeta {
    pub seq_no: i64,
    pub version: i64,
    pub primary_term: i64,
}

/// The indexable form of one document.
#[derive(Debug, Default)]
pub struct ParsedDocument {
    /// Text entries: path → values.
    pub text: Vec<(String, Vec<OwnedValue>)>,
    /// For each entry of `text` (same order): its typed text field slot and analyzer, when
    /// the mapping gave the path a slot (used if the index's schema has the pool).
    pub text_analysis: Vec<Option<(u32, Arc<Analyzer>)>>,
    /// `_kw` entries: path → values.
    pub kw: Vec<(String, Vec<OwnedValue>)>,
    /// Every mapped path present (leaves, their parents, multi-fields).
    pub field_names: BTreeSet<String>,
    /// The `nested` objects of a root document, each its own document, in block order:
    /// an object's own nested objects come before it (see [`DocBlock`]).
    pub nested: Vec<NestedObject>,
}

/// One `nested` object of a document: its path (`comments`, `comments.replies`) and fields.
#[derive(Debug, Default)]
pub struct NestedObject {
    pub path: String,
    pub doc: ParsedDocument,
}

/// `_field_names` term of every hidden nested document (top-level searches exclude them).
pub const NESTED_DOC_TERM: &str = "\u{1}nested";

/// `_field_names` term of the hidden documents of the nested objects at `path`.
pub fn nested_path_term(path: &str) -> String {
    format!("\u{1}nested:{path}")
}

/// `_field_names` term of the hidden documents of the root document `id` (deleted with it).
pub fn nested_parent_term(id: &str) -> String {
    format!("\u{1}parent:{id}")
}

/// What one source is indexed as: the hidden documents of its nested objects followed by
/// the root document, added to tantivy as one contiguous block in one segment (tantivy's
/// `IndexWriter::run` keeps a group's documents together and in order; merges keep the
/// order), the layout Lucene's block join uses: the parent of a nested document is the
/// first document after it one level up.
#[derive(Debug)]
pub struct DocBlock {
    pub nested: Vec<TantivyDocument>,
    pub root: TantivyDocument,
}

/// Parses `source` against `mapping`. Returns the parsed document and, when the document
/// introduced new fields (dynamic mapping), the updated mapping.
pub fn parse_document(
    mapping: &Mapping,
    source: &Value,
    id: &str,
) -> EngineResult<(ParsedDocument, Option<Mapping>)> {
    let obj = source.as_object().ok_or_else(|| {
        EngineError::MapperParsing(format!(
            "failed to parse, document is empty or not an object (id '{id}')"
        ))
    })?;
    let mut parser =
        Parser { mapping: None, base: mapping, id, doc: ParsedDocument::default(), ancestors: Vec::new(), nested: Vec::new() };
    for (key, value) in obj {
        parser.field("", key, value, mapping.dynamic)?;
    }
    let Parser { mapping: updated, mut doc, nested, .. } = parser;
    let updated = updated.map(|mut m| {
        m.rebuild();
        m
    });
    let fin = updated.as_ref().unwrap_or(mapping);
    doc.text_analysis = doc.text.iter().map(|(path, _)| fin.text_slot_analyzer(path)).collect();
    doc.nested = nested;
    for object in &mut doc.nested {
        object.doc.text_analysis = object.doc.text.iter().map(|(path, _)| fin.text_slot_analyzer(path)).collect();
    }
    Ok((doc, updated))
}

struct Parser<'a> {
    /// Copy-on-write: only cloned when the document adds a field.
    mapping: Option<Mapping>,
    base: &'a Mapping,
    id: &'a str,
    /// The document being filled: the root, or the nested object being parsed.
    doc: ParsedDocument,
    /// The documents suspended while a nested object is parsed (the root first).
    ancestors: Vec<ParsedDocument>,
    /// Finished nested objects, in block order.
    nested: Vec<NestedObject>,
}

impl Parser<'_> {
    fn current(&self) -> &Mapping {
        self.mapping.as_ref().unwrap_or(self.base)
    }

    fn field(&mut self, prefix: &str, key: &str, value: &Value, dynamic: Dynamic) -> EngineResult<()> {
        if key.is_empty() || key.split('.').any(|s| s.trim().is_empty()) {
            return Err(EngineError::MapperParsing(format!(
                "failed to parse: field name cannot be an empty string (object field starting at [{}]) in document with id '{}'",
                if prefix.is_empty() { "_doc" } else { prefix },
                self.id
            )));
        }
        // Every level below recurses; refuse absurd depths before the stack does (a dotted key
        // nests without JSON nesting, so the body parser's own limit does not bound it). The
        // configured `index.mapping.depth.limit` is checked on the mapping update.
        if !prefix.is_empty() && prefix.bytes().filter(|&b| b == b'.').count() as u64 + 2 > MAX_DEPTH_LIMIT {
            return Err(EngineError::MapperParsing(format!(
                "failed to parse: the depth of the field [{}…] has exceeded the allowed limit of [{MAX_DEPTH_LIMIT}] (document with id '{}')",
                prefix.chars().take(100).collect::<String>(),
                self.id
            )));
        }
        // A dotted key is the same as nested objects: {"a.b": 1} == {"a": {"b": 1}}.
        if let Some((head, rest)) = key.split_once('.') {
            let path = join(prefix, head);
            let nested_dynamic = self.ensure_object(&path, dynamic)?;
            let Some(nested_dynamic) = nested_dynamic else { return Ok(()) };
            self.doc.field_names.insert(path.clone());
            return self.field(&path, rest, value, nested_dynamic);
        }
        let path = join(prefix, key);
        // The shared mapping has a prebuilt path index; a copy being grown by this document
        // does not (it is rebuilt at the end), so walk its tree.
        let mapped = match &self.mapping {
            None => self.base.field_shared(&path),
            Some(m) => m.field(&path).cloned().map(std::sync::Arc::new),
        };
        let field = match mapped {
            Some(f) => f,
            None => match dynamic {
                Dynamic::False => return Ok(()),
                Dynamic::Strict => {
                    return Err(EngineError::StrictDynamicMapping(format!(
                        "mapping set to strict, dynamic introduction of [{key}] within [{}] is not allowed",
                        if prefix.is_empty() { "_doc" } else { prefix }
                    )));
                }
                Dynamic::True => {
                    let cur = self.current();
                    let Some(inferred) = infer_field(value, cur.date_detection, cur.numeric_detection) else {
                        return Ok(());
                    };
                    self.mapping.get_or_insert_with(|| self.base.clone()).add_dynamic(&path, inferred.clone())?;
                    std::sync::Arc::new(inferred)
                }
            },
        };
        self.value(&path, &field, value, dynamic)
    }

    /// Makes sure `path` is an object field (adding it dynamically if allowed). Returns the
    /// dynamic setting inside it, or `None` if the subtree must be ignored (dynamic: false).
    fn ensure_object(&mut self, path: &str, dynamic: Dynamic) -> EngineResult<Option<Dynamic>> {
        match self.current().field(path) {
            Some(f) if f.ty == FieldType::Object => Ok(Some(f.dynamic.unwrap_or(dynamic))),
            Some(f) => Err(EngineError::MapperParsing(format!(
                "Could not dynamically add mapping for field [{path}]. Existing mapping for [{path}] must be of type object but found [{}].",
                f.ty
            ))),
            None => match dynamic {
                Dynamic::False => Ok(None),
                Dynamic::Strict => Err(EngineError::StrictDynamicMapping(format!(
                    "mapping set to strict, dynamic introduction of [{path}] within [_doc] is not allowed"
                ))),
                Dynamic::True => {
                    self.mapping
                        .get_or_insert_with(|| self.base.clone())
                        .add_dynamic(path, FieldMapping::new(FieldType::Object))?;
                    Ok(Some(dynamic))
                }
            },
        }
    }

    fn value(&mut self, path: &str, field: &FieldMapping, value: &Value, dynamic: Dynamic) -> EngineResult<()> {
        match value {
            Value::Null => Ok(()),
            // Parsed whole: a geo_point's `[lon, lat]` is one value, not two.
            _ if field.ty == FieldType::GeoPoint => self.geo_points(path, field, value),
            _ if field.ty.is_source_only() => {
                crate::mapping::source_only::validate(field.ty, value).map_err(|why| {
                    EngineError::MapperParsing(format!(
                        "failed to parse field [{path}] of type [{}] in document with id '{}'. Preview of field's value: '{}' ({why})",
                        field.ty,
                        self.id,
                        preview(value)
                    ))
                })?;
                self.record_field_name(path);
                Ok(())
            }
            Value::Array(items) => {
                for item in items {
                    self.value(path, field, item, dynamic)?;
                }
                Ok(())
            }
            Value::Object(obj) if field.ty == FieldType::Nested => self.nested_object(path, field, obj, dynamic),
            Value::Object(obj) if field.ty == FieldType::Object => {
                let inner = field.dynamic.unwrap_or(dynamic);
                self.doc.field_names.insert(path.to_string());
                for (k, v) in obj {
                    self.field(path, k, v, inner)?;
                }
                Ok(())
            }
            _ if field.ty.is_object_like() => Err(EngineError::MapperParsing(format!(
                "object mapping for [{path}] tried to parse field [{path}] as object, but found a concrete value"
            ))),
            _ => {
                self.leaf(path, field, value)?;
                for (sub_name, sub) in &field.fields {
                    let sub_path = format!("{path}.{sub_name}");
                    self.leaf(&sub_path, sub, value)?;
                }
                Ok(())
            }
        }
    }

    /// Parses one element of a `nested` field into its own document. With
    /// `include_in_parent` / `include_in_root` its values are also indexed in the enclosing
    /// document / the root, as OpenSearch does.
    fn nested_object(
        &mut self,
        path: &str,
        field: &FieldMapping,
        obj: &serde_json::Map<String, Value>,
        dynamic: Dynamic,
    ) -> EngineResult<()> {
        let inner = field.dynamic.unwrap_or(dynamic);
        let enclosing = std::mem::take(&mut self.doc);
        self.ancestors.push(enclosing);
        let mut parsed = Ok(());
        self.doc.field_names.insert(path.to_string());
        for (k, v) in obj {
            parsed = self.field(path, k, v, inner);
            if parsed.is_err() {
                break;
            }
        }
        let enclosing = self.ancestors.pop().unwrap_or_default();
        let object = std::mem::replace(&mut self.doc, enclosing);
        parsed?;
        let flag = |name: &str| field.params.get(name).is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
        if flag("include_in_parent") {
            merge_values(&mut self.doc, &object);
        }
        if flag("include_in_root") && !(flag("include_in_parent") && self.ancestors.is_empty()) {
            let root = self.ancestors.first_mut().unwrap_or(&mut self.doc);
            merge_values(root, &object);
        }
        self.nested.push(NestedObject { path: path.to_string(), doc: object });
        Ok(())
    }

    /// Indexes a `geo_point` value (one point or an array of them) as packed i64s in `_kw`
    /// (`geo::GeoPoint::encode`). With `ignore_malformed`, a malformed point is skipped.
    fn geo_points(&mut self, path: &str, field: &FieldMapping, value: &Value) -> EngineResult<()> {
        let items = match value {
            Value::Array(items) if !items.iter().all(Value::is_number) => items.as_slice(),
            one => std::slice::from_ref(one),
        };
        let ignore_malformed = field.params.get("ignore_malformed").is_some_and(|v| v.as_bool() == Some(true) || v.as_str() == Some("true"));
        let mut encoded = Vec::with_capacity(items.len());
        for item in items.iter().filter(|v| !v.is_null()) {
            match crate::geo::GeoPoint::parse(item) {
                Ok(point) => encoded.push(OwnedValue::I64(point.encode())),
                Err(_) if ignore_malformed => {}
                Err(why) => {
                    return Err(EngineError::MapperParsing(format!(
                        "failed to parse field [{path}] of type [geo_point] in document with id '{}'. Preview of field's value: '{}' ({why})",
                        self.id,
                        preview(value)
                    )));
                }
            }
        }
        if encoded.is_empty() {
            return Ok(());
        }
        self.record_field_name(path);
        match self.doc.kw.iter_mut().find(|(p, _)| p == path) {
            Some((_, vals)) => vals.extend(encoded),
            None => self.doc.kw.push((path.to_string(), encoded)),
        }
        Ok(())
    }

    /// Records the path and each parent object in `_field_names` (for `exists`).
    fn record_field_name(&mut self, path: &str) {
        let mut p = path;
        self.doc.field_names.insert(p.to_string());
        while let Some((parent, _)) = p.rsplit_once('.') {
            if !self.doc.field_names.insert(parent.to_string()) {
                break;
            }
            p = parent;
        }
    }

    fn leaf(&mut self, path: &str, field: &FieldMapping, value: &Value) -> EngineResult<()> {
        let Some(v) = coerce(field, value).map_err(|why| {
            EngineError::MapperParsing(format!(
                "failed to parse field [{path}] of type [{}] in document with id '{}'. Preview of field's value: '{}'{}",
                field.ty,
                self.id,
                preview(value),
                if why.is_empty() { String::new() } else { format!(" ({why})") }
            ))
        })?
        else {
            return Ok(());
        };
        let v = match (v, field.params.get("normalizer").and_then(Value::as_str)) {
            (OwnedValue::Str(s), Some(name)) if field.ty == FieldType::Keyword => {
                match self.current().analysis().normalizer(name) {
                    Some(n) => OwnedValue::Str(n.terms(&s).concat()),
                    None => OwnedValue::Str(s),
                }
            }
            (v, _) => v,
        };
        self.record_field_name(path);
        let bucket = if field.ty.is_text() { &mut self.doc.text } else { &mut self.doc.kw };
        match bucket.iter_mut().find(|(p, _)| p == path) {
            Some((_, vals)) => vals.push(v),
            None => bucket.push((path.to_string(), vec![v])),
        }
        Ok(())
    }
}

/// Adds `from`'s indexed values to `into` (`include_in_parent` / `include_in_root`).
fn merge_values(into: &mut ParsedDocument, from: &ParsedDocument) {
    for (src, dst) in [(&from.text, &mut into.text), (&from.kw, &mut into.kw)] {
        for (path, values) in src {
            match dst.iter_mut().find(|(p, _)| p == path) {
                Some((_, vals)) => vals.extend(values.iter().cloned()),
                None => dst.push((path.clone(), values.clone())),
            }
        }
    }
    into.field_names.extend(from.field_names.iter().cloned());
}

fn preview(v: &Value) -> String {
    let s = match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    };
    s.chars().take(100).collect()
}

/// Coerces one JSON scalar to a field's type. `Ok(None)` means "valid but not indexed"
/// (keyword longer than `ignore_above`). `Err(reason)` is a type mismatch.
pub fn coerce(field: &FieldMapping, value: &Value) -> Result<Option<OwnedValue>, String> {
    let ty = field.ty;
    match ty {
        FieldType::Ip => {
            let s = match value {
                Value::String(s) => s,
                _ => return Err(String::new()),
            };
            Ok(Some(OwnedValue::Str(crate::ip::normalize_ip(s)?)))
        }
        FieldType::Text | FieldType::Keyword | FieldType::MatchOnlyText => {
            let s = match value {
                Value::String(s) => s.clone(),
                Value::Number(n) => n.to_string(),
                Value::Bool(b) => b.to_string(),
                _ => return Err(String::new()),
            };
            if let Some(max) = field.ignore_above {
                if s.chars().count() > max {
                    return Ok(None);
                }
            }
            Ok(Some(OwnedValue::Str(s)))
        }
        FieldType::Long | FieldType::Integer | FieldType::Short | FieldType::Byte => {
            let (min, max) = ty.integer_range().unwrap_or((i64::MIN, i64::MAX));
            let n: i64 = match value {
                Value::Number(n) => {
                    if let Some(i) = n.as_i64() {
                        i
                    } else {
                        float_to_int(n.as_f64().ok_or_else(String::new)?)?
                    }
                }
                Value::String(s) => {
                    let t = s.trim();
                    match t.parse::<i64>() {
                        Ok(i) => i,
                        Err(_) => float_to_int(t.parse::<f64>().map_err(|_| format!("For input string: \"{s}\""))?)?,
                    }
                }
                _ => return Err(String::new()),
            };
            if n < min || n > max {
                return Err(format!("Value [{n}] is out of range for {}", ty.name()));
            }
            Ok(Some(OwnedValue::I64(n)))
        }
        FieldType::Double | FieldType::Float | FieldType::HalfFloat | FieldType::ScaledFloat => {
            let f = match value {
                Value::Number(n) => n.as_f64().ok_or_else(String::new)?,
                Value::String(s) => s.trim().parse::<f64>().map_err(|_| format!("For input string: \"{s}\""))?,
                _ => return Err(String::new()),
            };
            if !f.is_finite() {
                return Err(format!("[{}] supports only finite values", ty.name()));
            }
            if ty == FieldType::ScaledFloat {
                // OpenSearch indexes round(value * scaling_factor); searches and aggregations
                // see the rounded value.
                let factor = crate::mapping::source_only::scaling_factor(field).unwrap_or(1.0);
                return Ok(Some(OwnedValue::F64((f * factor).round() / factor)));
            }
            Ok(Some(OwnedValue::F64(f)))
        }
        FieldType::Boolean => match value {
            Value::Bool(b) => Ok(Some(OwnedValue::Bool(*b))),
            Value::String(s) if s == "true" => Ok(Some(OwnedValue::Bool(true))),
            Value::String(s) if s == "false" || s.is_empty() => Ok(Some(OwnedValue::Bool(false))),
            _ => Err("Failed to parse value, only [true] or [false] are allowed".into()),
        },
        FieldType::Date | FieldType::DateNanos => {
            let fmt = match &field.format {
                Some(f) => DateFormat::parse(f)?,
                None => DateFormat::default_format(),
            };
            let ms = fmt.parse_value(value)?;
            Ok(Some(OwnedValue::Date(DateTime::from_timestamp_millis(ms))))
        }
        FieldType::Object | FieldType::Nested | FieldType::Binary | FieldType::GeoPoint => Err(String::new()),
    }
}

fn float_to_int(f: f64) -> Result<i64, String> {
    if !f.is_finite() || f >= 9.223_372_036_854_776e18 || f < -9.223_372_036_854_776e18 {
        return Err(format!("Value [{f}] is out of range for a long"));
    }
    Ok(f.trunc() as i64)
}

/// Builds the tantivy documents for a parsed source, without the versioning fields (those
/// are assigned under the index's write lock, see [`add_meta`]).
pub fn to_tantivy(fields: &IndexFields, id: &str, source: &[u8], mut parsed: ParsedDocument) -> DocBlock {
    let nested = std::mem::take(&mut parsed.nested)
        .into_iter()
        .map(|object| {
            let mut doc = TantivyDocument::new();
            doc.add_text(fields.field_names, NESTED_DOC_TERM);
            doc.add_text(fields.field_names, nested_path_term(&object.path));
            doc.add_text(fields.field_names, nested_parent_term(id));
            add_values(&mut doc, fields, object.doc);
            doc
        })
        .collect();
    // The root's buffer holds the source and every indexed value (at most about the source
    // again, plus paths): sized once instead of grown by copies for larger documents.
    let mut root = TantivyDocument::with_capacity(id.len() + 2 * source.len() + 256);
    root.add_text(fields.id, id);
    root.add_bytes(fields.source, source);
    add_values(&mut root, fields, parsed);
    DocBlock { nested, root }
}

/// Adds a parsed document's indexed values (`_field_names`, text, `_kw`) to `doc`.
fn add_values(doc: &mut TantivyDocument, fields: &IndexFields, parsed: ParsedDocument) {
    for name in &parsed.field_names {
        doc.add_text(fields.field_names, name);
    }
    // Text paths with a slot go, analysed, to their typed field (real field norms); the
    // rest (indices without the pool, paths beyond it) to the `_text` JSON field.
    let mut json_text = Vec::new();
    let mut analysis = parsed.text_analysis.into_iter();
    for (path, values) in parsed.text {
        match analysis.next().flatten().and_then(|(slot, a)| Some((fields.text_slot(slot)?, a))) {
            Some((field, analyzer)) => {
                for v in values {
                    if let OwnedValue::Str(s) = v {
                        // tantivy runs the slot's analyzer (the same one, `SlotAnalyzers`).
                        if fields.text_pool_analyzed {
                            doc.add_text(field, &s);
                        } else {
                            doc.add_pre_tokenized_text(field, analyzer.pre_tokenized(&s));
                        }
                    }
                }
            }
            None => json_text.push((path, values)),
        }
    }
    if !json_text.is_empty() {
        doc.add_field_value(fields.text, &object(json_text));
    }
    if !parsed.kw.is_empty() {
        doc.add_field_value(fields.kw, &object(parsed.kw));
    }
}

/// Adds `_seq_no`, `_version` and `_primary_term`.
pub fn add_meta(doc: &mut TantivyDocument, fields: &IndexFields, meta: DocMeta) {
    doc.add_i64(fields.seq_no, meta.seq_no);
    doc.add_i64(fields.version, meta.version);
    doc.add_i64(fields.primary_term, meta.primary_term);
}

fn object(entries: Vec<(String, Vec<OwnedValue>)>) -> OwnedValue {
    OwnedValue::Object(
        entries
            .into_iter()
            .map(|(path, mut vals)| {
                let v = if vals.len() == 1 { vals.pop().unwrap_or(OwnedValue::Null) } else { OwnedValue::Array(vals) };
                (path, v)
            })
            .collect(),
    )
}
