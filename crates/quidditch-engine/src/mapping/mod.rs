//! Index mappings: the user-visible schema (OpenSearch `mappings` JSON), its merge rules
//! (`PUT _mapping`, dynamic mapping) and the lookup from a user field path to where the field
//! lives in tantivy.

mod dynamic;
mod field_type;
mod limits;
pub(crate) mod source_only;

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use serde_json::{Map, Value, json};

pub use dynamic::infer_field;
pub use field_type::{FieldType, JsonTarget};
pub use limits::{MAX_DEPTH_LIMIT, MappingLimits};

use crate::analysis::AnalysisRegistry;
use crate::error::{EngineError, EngineResult};

/// What happens to fields that are not in the mapping (`dynamic`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dynamic {
    /// Add them to the mapping (default).
    True,
    /// Keep them in `_source` only.
    False,
    /// Reject the document.
    Strict,
}

impl Dynamic {
    fn parse(v: &Value, path: &str) -> EngineResult<Dynamic> {
        match v {
            Value::Bool(true) => Ok(Dynamic::True),
            Value::Bool(false) => Ok(Dynamic::False),
            Value::String(s) if s == "true" || s == "runtime" => Ok(Dynamic::True),
            Value::String(s) if s == "false" => Ok(Dynamic::False),
            Value::String(s) if s == "strict" => Ok(Dynamic::Strict),
            other => Err(EngineError::MapperParsing(format!(
                "Could not convert [{path}dynamic] to boolean or [strict]: [{other}]"
            ))),
        }
    }

    fn to_json(self) -> Value {
        match self {
            Dynamic::True => json!("true"),
            Dynamic::False => json!("false"),
            Dynamic::Strict => json!("strict"),
        }
    }
}

/// One field in the mapping tree.
#[derive(Debug, Clone, PartialEq)]
pub struct FieldMapping {
    pub ty: FieldType,
    /// Children of an `object` field.
    pub properties: BTreeMap<String, FieldMapping>,
    /// Multi-fields (`fields`), e.g. a text field's `keyword` sub-field.
    pub fields: BTreeMap<String, FieldMapping>,
    /// `dynamic` override on an object (inherits from the parent when `None`).
    pub dynamic: Option<Dynamic>,
    /// keyword: strings longer than this are kept in `_source` but not indexed.
    pub ignore_above: Option<usize>,
    /// date: accepted formats (`strict_date_optional_time||epoch_millis` by default).
    pub format: Option<String>,
    /// Other parameters (analyzer, index, doc_values, …), kept so GET _mapping round-trips.
    pub params: Map<String, Value>,
}

impl FieldMapping {
    /// A leaf or object field with no parameters.
    pub fn new(ty: FieldType) -> FieldMapping {
        FieldMapping {
            ty,
            properties: BTreeMap::new(),
            fields: BTreeMap::new(),
            dynamic: None,
            ignore_above: None,
            format: None,
            params: Map::new(),
        }
    }

    /// Parses one field definition (`{"type": "text", "fields": {...}}`) at `path`.
    fn parse(path: &str, v: &Value) -> EngineResult<FieldMapping> {
        let obj = v.as_object().ok_or_else(|| {
            EngineError::MapperParsing(format!(
                "Expected map for property [fields] on field [{path}] but got a {}",
                json_kind(v)
            ))
        })?;
        let ty = match obj.get("type") {
            None => {
                // OpenSearch: a definition without `type` but with `properties` is an object.
                FieldType::Object
            }
            Some(Value::String(t)) => FieldType::parse(t).ok_or_else(|| {
                EngineError::MapperParsing(format!(
                    "No handler for type [{t}] declared on field [{path}]"
                ))
            })?,
            Some(other) => {
                return Err(EngineError::MapperParsing(format!(
                    "No handler for type [{other}] declared on field [{path}]"
                )));
            }
        };
        let mut field = FieldMapping::new(ty);
        for (key, value) in obj {
            match key.as_str() {
                "type" => {}
                "properties" => {
                    if !ty.is_object_like() {
                        return Err(EngineError::MapperParsing(format!(
                            "unknown parameter [properties] on mapper [{path}] of type [{ty}]"
                        )));
                    }
                    field.properties = parse_properties(path, value)?;
                }
                "dynamic" if ty.is_object_like() => {
                    field.dynamic = Some(Dynamic::parse(value, &format!("{path}."))?);
                }
                "fields" => {
                    if ty.is_object_like() {
                        return Err(EngineError::MapperParsing(format!(
                            "unknown parameter [fields] on mapper [{path}] of type [{ty}]"
                        )));
                    }
                    let subs = value.as_object().ok_or_else(|| {
                        EngineError::MapperParsing(format!(
                            "Expected map for property [fields] on field [{path}] but got a {}",
                            json_kind(value)
                        ))
                    })?;
                    for (name, def) in subs {
                        let sub_path = format!("{path}.{name}");
                        validate_field_name(name, &sub_path)?;
                        let sub = FieldMapping::parse(&sub_path, def)?;
                        if sub.ty.is_object_like() {
                            return Err(EngineError::MapperParsing(format!(
                                "Type [{}] cannot be used in multi field [{sub_path}]",
                                sub.ty
                            )));
                        }
                        field.fields.insert(name.clone(), sub);
                    }
                }
                "ignore_above" if ty == FieldType::Keyword => {
                    let n = value
                        .as_u64()
                        .or_else(|| value.as_str().and_then(|s| s.parse().ok()))
                        .ok_or_else(|| {
                            EngineError::MapperParsing(format!(
                                "Failed to parse mapping: [ignore_above] on [{path}] must be a non-negative integer"
                            ))
                        })?;
                    field.ignore_above = Some(n as usize);
                }
                "format" if matches!(ty, FieldType::Date | FieldType::DateNanos) => {
                    let f = value.as_str().ok_or_else(|| {
                        EngineError::MapperParsing(format!(
                            "Failed to parse mapping: [format] on [{path}] must be a string"
                        ))
                    })?;
                    crate::date::DateFormat::parse(f).map_err(|e| {
                        EngineError::MapperParsing(format!(
                            "Failed to parse mapping: Invalid format: [{f}] on field [{path}]: {e}"
                        ))
                    })?;
                    field.format = Some(f.to_string());
                }
                _ => {
                    field.params.insert(key.clone(), value.clone());
                }
            }
        }
        if ty == FieldType::ScaledFloat {
            match field.params.get("scaling_factor") {
                None => {
                    return Err(EngineError::MapperParsing(format!(
                        "Failed to parse mapping: Field [scaling_factor] is required (on [{path}])"
                    )));
                }
                Some(_) if source_only::scaling_factor(&field).is_none() => {
                    return Err(EngineError::MapperParsing(format!(
                        "Failed to parse mapping: [scaling_factor] must be a positive number (on [{path}])"
                    )));
                }
                Some(_) => {}
            }
        }
        Ok(field)
    }

    /// The OpenSearch JSON for this field (as in GET _mapping).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if self.ty != FieldType::Object {
            m.insert("type".into(), json!(self.ty.name()));
        }
        if let Some(d) = self.dynamic {
            m.insert("dynamic".into(), d.to_json());
        }
        if let Some(n) = self.ignore_above {
            m.insert("ignore_above".into(), json!(n));
        }
        if let Some(f) = &self.format {
            m.insert("format".into(), json!(f));
        }
        for (k, v) in &self.params {
            m.insert(k.clone(), v.clone());
        }
        if !self.fields.is_empty() {
            let subs: Map<String, Value> =
                self.fields.iter().map(|(k, v)| (k.clone(), v.to_json())).collect();
            m.insert("fields".into(), Value::Object(subs));
        }
        if !self.properties.is_empty() {
            m.insert("properties".into(), properties_to_json(&self.properties));
        }
        if self.ty == FieldType::Object && self.properties.is_empty() && m.is_empty() {
            m.insert("type".into(), json!("object"));
        }
        Value::Object(m)
    }

    /// Merges `other` into `self` (PUT _mapping / dynamic updates). Type changes are rejected.
    fn merge(&mut self, path: &str, other: &FieldMapping) -> EngineResult<()> {
        if self.ty != other.ty {
            return Err(EngineError::IllegalArgument(format!(
                "mapper [{path}] cannot be changed from type [{}] to [{}]",
                self.ty, other.ty
            )));
        }
        if other.dynamic.is_some() {
            self.dynamic = other.dynamic;
        }
        if other.ignore_above.is_some() {
            self.ignore_above = other.ignore_above;
        }
        if other.format.is_some() && other.format != self.format {
            if self.format.is_some() {
                return Err(parameter_conflict(
                    path,
                    "format",
                    self.format.as_deref().unwrap_or_default(),
                    other.format.as_deref().unwrap_or_default(),
                ));
            }
            self.format = other.format.clone();
        }
        for (k, v) in &other.params {
            self.params.insert(k.clone(), v.clone());
        }
        for (name, sub) in &other.fields {
            let sub_path = format!("{path}.{name}");
            match self.fields.get_mut(name) {
                Some(existing) => existing.merge(&sub_path, sub)?,
                None => {
                    self.fields.insert(name.clone(), sub.clone());
                }
            }
        }
        merge_properties(path, &mut self.properties, &other.properties)
    }
}

/// OpenSearch's refusal of a mapping update that changes a parameter which cannot change.
fn parameter_conflict(path: &str, parameter: &str, from: &str, to: &str) -> EngineError {
    EngineError::IllegalArgument(format!(
        "Mapper for [{path}] conflicts with existing mapper:\n\tCannot update parameter [{parameter}] from [{from}] to [{to}]"
    ))
}

/// Refuses what `PUT _mapping` may not change in existing fields beyond what
/// [`FieldMapping::merge`] checks: a text field's index-time `analyzer` (its indexed tokens
/// were made by the old one; `default` when unset, as OpenSearch names it). `search_analyzer`
/// may change. Index templates compose without this check (a later template may redefine).
fn check_updatable(
    path: &str,
    existing: &BTreeMap<String, FieldMapping>,
    update: &BTreeMap<String, FieldMapping>,
) -> EngineResult<()> {
    for (name, new) in update {
        let Some(old) = existing.get(name) else { continue };
        let field_path = join(path, name);
        if old.ty.is_text() && new.ty == old.ty {
            let analyzer = |f: &FieldMapping| f.params.get("analyzer").and_then(Value::as_str).unwrap_or("default").to_string();
            let (from, to) = (analyzer(old), analyzer(new));
            if from != to {
                return Err(parameter_conflict(&field_path, "analyzer", &from, &to));
            }
        }
        check_updatable(&field_path, &old.properties, &new.properties)?;
        check_updatable(&field_path, &old.fields, &new.fields)?;
    }
    Ok(())
}

/// The JSON type name of a value, for error messages.
pub(crate) fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    }
}

fn validate_field_name(name: &str, path: &str) -> EngineResult<()> {
    if name.trim().is_empty() {
        return Err(EngineError::IllegalArgument(format!(
            "field name cannot be an empty string (at [{path}])"
        )));
    }
    Ok(())
}

/// Parses a `properties` object. Dotted names (`"user.name": {...}`) are expanded into object
/// fields, as OpenSearch does.
fn parse_properties(parent: &str, v: &Value) -> EngineResult<BTreeMap<String, FieldMapping>> {
    let obj = v.as_object().ok_or_else(|| {
        EngineError::MapperParsing(format!(
            "Expected map for property [properties] on field [{}] but got a {}",
            if parent.is_empty() { "_doc" } else { parent },
            json_kind(v)
        ))
    })?;
    let mut out: BTreeMap<String, FieldMapping> = BTreeMap::new();
    for (name, def) in obj {
        let path = join(parent, name);
        validate_field_name(name, &path)?;
        let mut field = FieldMapping::parse(&path, def)?;
        // `a.b.c` → a: object { b: object { c } }
        let segments: Vec<&str> = name.split('.').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(EngineError::MapperParsing(format!(
                "field name [{path}] cannot contain empty path segments"
            )));
        }
        let mut child_name = segments[segments.len() - 1].to_string();
        for seg in segments[..segments.len() - 1].iter().rev() {
            let mut obj = FieldMapping::new(FieldType::Object);
            obj.properties.insert(child_name, field);
            field = obj;
            child_name = seg.to_string();
        }
        let mut single = BTreeMap::new();
        single.insert(child_name, field);
        merge_properties(parent, &mut out, &single)?;
    }
    Ok(out)
}

fn merge_properties(
    parent: &str,
    into: &mut BTreeMap<String, FieldMapping>,
    from: &BTreeMap<String, FieldMapping>,
) -> EngineResult<()> {
    for (name, field) in from {
        let path = join(parent, name);
        match into.get_mut(name) {
            Some(existing) => existing.merge(&path, field)?,
            None => {
                into.insert(name.clone(), field.clone());
            }
        }
    }
    Ok(())
}

fn properties_to_json(props: &BTreeMap<String, FieldMapping>) -> Value {
    Value::Object(props.iter().map(|(k, v)| (k.clone(), v.to_json())).collect())
}

pub(crate) fn join(parent: &str, name: &str) -> String {
    if parent.is_empty() { name.to_string() } else { format!("{parent}.{name}") }
}

/// A mapped path resolved to where it lives in tantivy.
#[derive(Debug, Clone, PartialEq)]
pub struct ResolvedField {
    /// The full user path, e.g. `user.name` or `title.keyword`.
    pub path: String,
    pub ty: FieldType,
    /// `_text` or `_kw`; `None` for objects.
    pub target: Option<JsonTarget>,
    /// Path inside the JSON field (same as `path`; segments separated by `.`, which
    /// `Term::from_field_json_path(field, json_path, true)` understands).
    pub json_path: String,
    /// date fields: the accepted formats.
    pub format: Option<String>,
    /// keyword: values longer than this are not indexed.
    pub ignore_above: Option<usize>,
    /// For a `text` field: the path of a `keyword` sub-field (for sorting/aggs), if any.
    pub keyword_subfield: Option<String>,
    /// text: `analyzer` / `search_analyzer`; keyword: `normalizer` (names, resolved through
    /// the index's analysis registry).
    pub analyzer: Option<String>,
    pub search_analyzer: Option<String>,
    pub normalizer: Option<String>,
    pub similarity: Option<String>,
    /// text: the slot in the index's pool of typed text fields (see `Mapping::text_slots`).
    pub text_slot: Option<u32>,
}

impl ResolvedField {
    fn new(path: String, f: &FieldMapping, keyword_subfield: Option<String>) -> ResolvedField {
        let param = |k: &str| f.params.get(k).and_then(serde_json::Value::as_str).map(str::to_string);
        ResolvedField {
            json_path: path.clone(),
            path,
            ty: f.ty,
            target: f.ty.target(),
            format: f.format.clone(),
            ignore_above: f.ignore_above,
            keyword_subfield,
            analyzer: param("analyzer"),
            search_analyzer: param("search_analyzer"),
            normalizer: param("normalizer"),
            similarity: param("similarity"),
            text_slot: None,
        }
    }
}

/// The mapping of one index. Immutable once built: updates make a new `Mapping` that the
/// index swaps in, so searches hold a consistent snapshot (`Index::mapping()`).
#[derive(Debug, Clone)]
pub struct Mapping {
    pub dynamic: Dynamic,
    /// Detect ISO dates in strings of unmapped fields (`date_detection`, default true).
    pub date_detection: bool,
    /// Detect numbers in strings of unmapped fields (`numeric_detection`, default false).
    pub numeric_detection: bool,
    pub properties: BTreeMap<String, FieldMapping>,
    /// Other top-level keys (`_meta`, `_source`, …), kept for round-trips.
    pub extra: Map<String, Value>,
    flat: HashMap<String, ResolvedField>,
    /// Field definitions by path (object tree only), for the document parser's hot path.
    by_path: HashMap<String, Arc<FieldMapping>>,
    /// Text path → slot in the index's typed text field pool. Assigned once, in the order
    /// fields appear (new paths take the lowest free slot), persisted in `meta.json` beside
    /// the mapping, and never reassigned: a slot's tantivy field holds that path's postings.
    text_slots: BTreeMap<String, u32>,
    /// The index's analyzers and normalizers (built-ins plus its `analysis` settings).
    analysis: Arc<AnalysisRegistry>,
}

impl Default for Mapping {
    fn default() -> Self {
        Mapping {
            dynamic: Dynamic::True,
            date_detection: true,
            numeric_detection: false,
            properties: BTreeMap::new(),
            extra: Map::new(),
            flat: HashMap::new(),
            by_path: HashMap::new(),
            text_slots: BTreeMap::new(),
            analysis: AnalysisRegistry::builtin(),
        }
    }
}

impl Mapping {
    /// Parses the `mappings` body of `PUT /{index}` or `PUT /{index}/_mapping`.
    pub fn parse(v: &Value) -> EngineResult<Mapping> {
        let mut mapping = Mapping::default();
        let obj = match v {
            Value::Null => return Ok(mapping),
            Value::Object(o) => o,
            other => {
                return Err(EngineError::MapperParsing(format!(
                    "Failed to parse mapping: Expected map for [mappings] but got a {}",
                    json_kind(other)
                )));
            }
        };
        // Typed mappings (`{"_doc": {"properties": …}}`) were removed in OpenSearch 2.0.
        if obj.contains_key("_doc") {
            return Err(EngineError::IllegalArgument(
                "The mapping definition cannot be nested under a type [_doc] unless include_type_name is set to true.".into(),
            ));
        }
        for (key, value) in obj {
            match key.as_str() {
                "properties" => mapping.properties = parse_properties("", value)?,
                "dynamic" => mapping.dynamic = Dynamic::parse(value, "")?,
                "date_detection" => mapping.date_detection = parse_bool(key, value)?,
                "numeric_detection" => mapping.numeric_detection = parse_bool(key, value)?,
                "_source" | "_meta" | "_routing" | "dynamic_templates" | "_field_names"
                | "dynamic_date_formats" => {
                    mapping.extra.insert(key.clone(), value.clone());
                }
                other => {
                    return Err(EngineError::MapperParsing(format!(
                        "Root mapping definition has unsupported parameters:  [{other} : {value}]"
                    )));
                }
            }
        }
        mapping.rebuild();
        Ok(mapping)
    }

    /// `"_routing": {"required": true}`: every write and GET must name its routing.
    pub fn routing_required(&self) -> bool {
        self.extra.get("_routing").and_then(|r| r.get("required")).is_some_and(|v| v == &Value::Bool(true) || v == "true")
    }

    /// The OpenSearch JSON (`{"properties": {...}}`), as in GET _mapping.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if self.dynamic != Dynamic::True {
            m.insert("dynamic".into(), self.dynamic.to_json());
        }
        if !self.date_detection {
            m.insert("date_detection".into(), json!(false));
        }
        if self.numeric_detection {
            m.insert("numeric_detection".into(), json!(true));
        }
        for (k, v) in &self.extra {
            m.insert(k.clone(), v.clone());
        }
        if !self.properties.is_empty() {
            m.insert("properties".into(), properties_to_json(&self.properties));
        }
        Value::Object(m)
    }

    /// Whether `PUT _mapping` may apply `update` to this mapping: a changed `analyzer` of an
    /// existing text field fails with `illegal_argument_exception` like OpenSearch's
    /// "Cannot update parameter [analyzer]" (type changes fail in [`Mapping::merged`]).
    pub fn check_update(&self, update: &Mapping) -> EngineResult<()> {
        check_updatable("", &self.properties, &update.properties)
    }

    /// A new mapping with `update` merged in (PUT _mapping). Conflicting type changes fail
    /// with `illegal_argument_exception`.
    pub fn merged(&self, update: &Mapping) -> EngineResult<Mapping> {
        let mut out = self.clone();
        merge_properties("", &mut out.properties, &update.properties)?;
        if update.dynamic != Dynamic::True {
            out.dynamic = update.dynamic;
        }
        if !update.date_detection {
            out.date_detection = false;
        }
        if update.numeric_detection {
            out.numeric_detection = true;
        }
        for (k, v) in &update.extra {
            out.extra.insert(k.clone(), v.clone());
        }
        out.rebuild();
        Ok(out)
    }

    /// Adds one dynamically inferred field at `path` (parents must already exist or be part
    /// of `field`). Used by the document parser.
    pub(crate) fn add_dynamic(&mut self, path: &str, field: FieldMapping) -> EngineResult<()> {
        let mut segments: Vec<&str> = path.split('.').collect();
        let leaf = segments.pop().unwrap_or_default();
        let mut props = &mut self.properties;
        let mut walked = String::new();
        for seg in segments {
            walked = join(&walked, seg);
            let entry = props
                .entry(seg.to_string())
                .or_insert_with(|| FieldMapping::new(FieldType::Object));
            if !entry.ty.is_object_like() {
                return Err(EngineError::MapperParsing(format!(
                    "Could not dynamically add mapping for field [{path}]. Existing mapping for [{walked}] must be of type object but found [{}].",
                    entry.ty
                )));
            }
            props = &mut entry.properties;
        }
        let mut single = BTreeMap::new();
        single.insert(leaf.to_string(), field);
        merge_properties(&walked, props, &single)?;
        Ok(())
    }

    /// Recomputes the flat path index after a change (and gives new text paths a slot).
    pub(crate) fn rebuild(&mut self) {
        let mut flat = HashMap::new();
        fn walk(prefix: &str, props: &BTreeMap<String, FieldMapping>, flat: &mut HashMap<String, ResolvedField>) {
            for (name, f) in props {
                let path = join(prefix, name);
                let keyword_subfield = f
                    .fields
                    .iter()
                    .find(|(_, sub)| sub.ty == FieldType::Keyword)
                    .map(|(n, _)| format!("{path}.{n}"));
                flat.insert(path.clone(), ResolvedField::new(path.clone(), f, keyword_subfield));
                for (sub_name, sub) in &f.fields {
                    let sub_path = format!("{path}.{sub_name}");
                    flat.insert(sub_path.clone(), ResolvedField::new(sub_path, sub, None));
                }
                if f.ty.is_object_like() {
                    walk(&path, &f.properties, flat);
                }
            }
        }
        walk("", &self.properties, &mut flat);
        let mut new_text: Vec<&String> =
            flat.values().filter(|f| f.ty.is_text() && !self.text_slots.contains_key(&f.path)).map(|f| &f.path).collect();
        new_text.sort();
        let mut used: std::collections::BTreeSet<u32> = self.text_slots.values().copied().collect();
        let mut next = 0u32;
        for path in new_text {
            while used.contains(&next) {
                next += 1;
            }
            if next >= crate::index::schema::TEXT_FIELD_POOL {
                break;
            }
            self.text_slots.insert(path.clone(), next);
            used.insert(next);
        }
        for f in flat.values_mut() {
            f.text_slot = self.text_slots.get(&f.path).copied();
        }
        self.flat = flat;
        let mut by_path = HashMap::new();
        fn index_tree(prefix: &str, props: &BTreeMap<String, FieldMapping>, out: &mut HashMap<String, Arc<FieldMapping>>) {
            for (name, f) in props {
                let path = join(prefix, name);
                if f.ty.is_object_like() {
                    index_tree(&path, &f.properties, out);
                }
                out.insert(path, Arc::new(f.clone()));
            }
        }
        index_tree("", &self.properties, &mut by_path);
        self.by_path = by_path;
    }

    /// The index's analysis registry.
    pub fn analysis(&self) -> &Arc<AnalysisRegistry> {
        &self.analysis
    }

    /// The mapping bound to an index's analysis registry.
    pub fn with_analysis(mut self, analysis: Arc<AnalysisRegistry>) -> Mapping {
        self.analysis = analysis;
        self
    }

    /// Names of analyzers and normalizers the fields use that `analysis` does not define
    /// (the first one, as OpenSearch reports it).
    pub fn check_analyzers(&self, analysis: &AnalysisRegistry) -> EngineResult<()> {
        let mut paths: Vec<&ResolvedField> = self.flat.values().collect();
        paths.sort_by(|a, b| a.path.cmp(&b.path));
        for f in paths {
            for name in [&f.analyzer, &f.search_analyzer].into_iter().flatten() {
                if analysis.analyzer(name).is_none() {
                    return Err(EngineError::MapperParsing(format!(
                        "Failed to parse mapping [_doc]: analyzer [{name}] has not been configured in mappings"
                    )));
                }
            }
            if let Some(name) = &f.similarity {
                if analysis.similarity(name).is_none() {
                    return Err(EngineError::MapperParsing(format!(
                        "Failed to parse mapping [_doc]: Unknown Similarity type [{name}] for field [{}]",
                        f.path
                    )));
                }
            }
            if let Some(name) = &f.normalizer {
                if analysis.normalizer(name).is_none() {
                    return Err(EngineError::MapperParsing(format!(
                        "Failed to parse mapping [_doc]: normalizer [{name}] not found for field [{}]",
                        f.path
                    )));
                }
            }
        }
        Ok(())
    }

    /// Text path → typed text field slot (persisted with the mapping).
    pub fn text_slots(&self) -> &BTreeMap<String, u32> {
        &self.text_slots
    }

    /// The typed text field slot of a text path and the analyzer its values are indexed
    /// with; `None` for paths without a slot (they live in the `_text` JSON field).
    pub fn text_slot_analyzer(&self, path: &str) -> Option<(u32, Arc<crate::analysis::Analyzer>)> {
        let resolved = self.resolve(path)?;
        let slot = resolved.text_slot?;
        let analyzer = match &resolved.analyzer {
            Some(name) => self.analysis.analyzer(name)?,
            None => self.analysis.default_analyzer(),
        };
        Some((slot, analyzer))
    }

    /// [`Mapping::text_slot_analyzer`] by slot (index = slot), for the pool's tokenizers.
    pub fn slot_analyzers(&self) -> Vec<Option<Arc<crate::analysis::Analyzer>>> {
        let mut out = vec![None; crate::index::schema::TEXT_FIELD_POOL as usize];
        for path in self.text_slots.keys() {
            if let Some((slot, analyzer)) = self.text_slot_analyzer(path) {
                if let Some(entry) = out.get_mut(slot as usize) {
                    *entry = Some(analyzer);
                }
            }
        }
        out
    }

    /// The mapping with the slots persisted earlier (new text paths then get free ones).
    pub fn with_text_slots(mut self, slots: BTreeMap<String, u32>) -> Mapping {
        self.text_slots = slots;
        self.rebuild();
        self
    }

    /// The field definition at `path` from the prebuilt index (only valid on a mapping that
    /// was rebuilt after its last change, which every shared `Mapping` is).
    pub(crate) fn field_shared(&self, path: &str) -> Option<Arc<FieldMapping>> {
        self.by_path.get(path).cloned()
    }

    /// Looks up a user field path (`title`, `user.name`, `title.keyword`).
    pub fn resolve(&self, path: &str) -> Option<&ResolvedField> {
        self.flat.get(path)
    }

    /// The innermost `nested` object holding `path` (`path` itself when it is a nested
    /// object), if any: the hidden documents a field's values live in.
    pub fn nested_scope<'p>(&self, path: &'p str) -> Option<&'p str> {
        let mut scope = None;
        for (i, _) in path.match_indices('.').chain(std::iter::once((path.len(), ""))) {
            let prefix = &path[..i];
            if self.resolve(prefix).is_some_and(|f| f.ty == FieldType::Nested) {
                scope = Some(prefix);
            }
        }
        scope
    }

    /// Whether any field is `nested` (the index then has hidden documents to keep out of
    /// top-level searches).
    pub fn has_nested(&self) -> bool {
        self.flat.values().any(|f| f.ty == FieldType::Nested)
    }

    /// Every mapped path (leaves, objects and multi-fields), unordered.
    pub fn paths(&self) -> impl Iterator<Item = &ResolvedField> {
        self.flat.values()
    }

    /// `GET /{index}/_mapping/field/{fields}`: every field (objects, leaves, multi-fields)
    /// whose full path matches one of the patterns (names or `*` wildcards), in path order,
    /// as `(full path, {leaf name: definition})`. `include_defaults` adds the defaults
    /// OpenSearch reports for unset parameters (a text field's `analyzer`).
    pub fn field_mappings(&self, patterns: &[&str], include_defaults: bool) -> Vec<(String, Value)> {
        let mut out = Vec::new();
        let mut stack: Vec<(String, &str, &FieldMapping)> =
            self.properties.iter().rev().map(|(n, f)| (n.clone(), n.as_str(), f)).collect();
        while let Some((path, leaf, field)) = stack.pop() {
            if patterns.iter().any(|p| *p == path || (crate::names::is_pattern(p) && crate::names::matches(p, &path))) {
                let mut def = field.to_json();
                if include_defaults && field.ty == FieldType::Text {
                    def.as_object_mut().map(|d| d.entry("analyzer").or_insert_with(|| json!("default")));
                }
                out.push((path.clone(), json!({ leaf: def })));
            }
            for (name, child) in field.properties.iter().chain(field.fields.iter()).collect::<Vec<_>>().into_iter().rev() {
                stack.push((format!("{path}.{name}"), name, child));
            }
        }
        out
    }

    /// The field definition at a path of the object tree (not multi-fields).
    pub fn field(&self, path: &str) -> Option<&FieldMapping> {
        let mut props = &self.properties;
        let mut segments = path.split('.').peekable();
        while let Some(seg) = segments.next() {
            let f = props.get(seg)?;
            if segments.peek().is_none() {
                return Some(f);
            }
            props = &f.properties;
        }
        None
    }
}

fn parse_bool(key: &str, v: &Value) -> EngineResult<bool> {
    match v {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" => Ok(true),
        Value::String(s) if s == "false" => Ok(false),
        other => Err(EngineError::MapperParsing(format!(
            "Failed to parse value [{other}] as only [true] or [false] are allowed for [{key}]"
        ))),
    }
}

#[cfg(test)]
mod tests;
