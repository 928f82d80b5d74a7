//! `meta.json`: an index's uuid, creation date, settings and mappings. Written atomically
//! (tmp file, fsync, rename, fsync dir) before any write that depends on it is acknowledged.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{EngineError, EngineResult};
use crate::mapping::MappingLimits;

#[derive(Debug, Clone)]
pub struct IndexMeta {
    pub uuid: String,
    /// Creation time, epoch milliseconds.
    pub creation_date: i64,
    pub settings: IndexSettings,
    /// The mapping in OpenSearch's (nested) JSON form.
    pub mappings: Value,
    /// Closed (`POST /{index}/_close`): kept on disk, no reads or writes until reopened.
    pub closed: bool,
    /// Text path → typed text field slot (`Mapping::text_slots`); empty in indices created
    /// before the pool existed.
    pub text_slots: BTreeMap<String, u32>,
}

/// The `meta.json` document. The mapping is stored *flat* — one `[path, definition]` entry
/// per field, parents first, each definition without its `properties` — so the file's nesting
/// does not grow with the mapping's depth: a mapping of any depth the limits allow reads back
/// (the nested form nests two JSON levels per object level and a deep mapping once made the
/// file unreadable for serde_json's default recursion limit). Opaque user values (analysis
/// settings, field parameters) keep their shape; they are no deeper than the request that
/// carried them plus this envelope, and the reader has no recursion limit, so they read back
/// too. Files written before the flat form (`mappings`) are still read.
#[derive(Serialize, Deserialize)]
struct StoredMeta {
    uuid: String,
    creation_date: i64,
    settings: IndexSettings,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    closed: bool,
    /// Legacy nested mapping (read only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mappings: Option<Value>,
    /// Top-level mapping keys other than `properties` (`dynamic`, `_meta`, …).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mapping_root: Option<Map<String, Value>>,
    /// `[path segments, definition without properties]`, parents before children.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    mapping_fields: Option<Vec<(Vec<String>, Map<String, Value>)>>,
    /// Text path → typed text field slot; absent in indices created before the pool existed.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    text_slots: BTreeMap<String, u32>,
}

impl IndexMeta {
    pub fn load(path: &Path) -> anyhow::Result<IndexMeta> {
        let text = fs::read(path)?;
        let mut de = serde_json::Deserializer::from_slice(&text);
        de.disable_recursion_limit();
        let stored = StoredMeta::deserialize(&mut de)?;
        de.end()?;
        let mappings = match (stored.mappings, stored.mapping_root, stored.mapping_fields) {
            (_, Some(root), Some(fields)) => unflatten_mapping(root, fields)?,
            (Some(nested), _, _) => nested,
            _ => Value::Object(Map::new()),
        };
        Ok(IndexMeta {
            uuid: stored.uuid,
            creation_date: stored.creation_date,
            settings: stored.settings,
            mappings,
            closed: stored.closed,
            text_slots: stored.text_slots,
        })
    }

    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        let (root, fields) = flatten_mapping(&self.mappings);
        let stored = StoredMeta {
            uuid: self.uuid.clone(),
            creation_date: self.creation_date,
            settings: self.settings.clone(),
            closed: self.closed,
            mappings: None,
            mapping_root: Some(root),
            mapping_fields: Some(fields),
            text_slots: self.text_slots.clone(),
        };
        write_durably(path, &serde_json::to_vec_pretty(&stored).map_err(std::io::Error::other)?)
    }
}

/// Replaces `path` with `bytes` atomically and durably: a tmp file beside it, fsync, rename,
/// fsync of the directory. A crash leaves the old file or the new one, never a mix.
pub(crate) fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("json.tmp");
    {
        let mut f = File::create(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    fs::rename(&tmp, path)?;
    if let Some(dir) = path.parent() {
        File::open(dir)?.sync_all()?;
    }
    Ok(())
}

type FlatFields = Vec<(Vec<String>, Map<String, Value>)>;

/// Nested mapping JSON → (root keys, flat field list). Iterative: no recursion on depth.
fn flatten_mapping(mappings: &Value) -> (Map<String, Value>, FlatFields) {
    let mut root = mappings.as_object().cloned().unwrap_or_default();
    let mut fields = Vec::new();
    let mut stack: Vec<(Vec<String>, Value)> = Vec::new();
    if let Some(Value::Object(props)) = root.remove("properties") {
        stack.extend(props.into_iter().rev().map(|(name, def)| (vec![name], def)));
    }
    while let Some((path, def)) = stack.pop() {
        let mut def = match def {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        let children = def.remove("properties");
        fields.push((path.clone(), def));
        if let Some(Value::Object(props)) = children {
            for (name, child) in props.into_iter().rev() {
                let mut child_path = path.clone();
                child_path.push(name);
                stack.push((child_path, child));
            }
        }
    }
    (root, fields)
}

/// The inverse of [`flatten_mapping`].
fn unflatten_mapping(mut root: Map<String, Value>, fields: FlatFields) -> anyhow::Result<Value> {
    for (path, def) in fields {
        let Some((leaf, parents)) = path.split_last() else { anyhow::bail!("meta.json: empty field path") };
        let mut props = root.entry("properties").or_insert_with(|| Value::Object(Map::new()));
        for seg in parents {
            props = props
                .get_mut(seg)
                .ok_or_else(|| anyhow::anyhow!("meta.json: field [{}] listed before its parent", path.join(".")))?
                .as_object_mut()
                .ok_or_else(|| anyhow::anyhow!("meta.json: parent of [{}] is not an object", path.join(".")))?
                .entry("properties")
                .or_insert_with(|| Value::Object(Map::new()));
        }
        props
            .as_object_mut()
            .ok_or_else(|| anyhow::anyhow!("meta.json: properties of [{}] is not an object", path.join(".")))?
            .insert(leaf.clone(), Value::Object(def));
    }
    Ok(Value::Object(root))
}

/// Index settings, flattened without the `index.` prefix (`number_of_shards`, …).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct IndexSettings {
    pub values: BTreeMap<String, Value>,
}

impl IndexSettings {
    /// Parses the `settings` of a create-index body. Accepts `{"index": {...}}`,
    /// `{"index.x": …}` and `{"x": …}` forms, like OpenSearch.
    pub fn parse(v: &Value) -> EngineResult<IndexSettings> {
        let mut values = BTreeMap::new();
        match v {
            Value::Null => {}
            Value::Object(obj) => flatten("", obj, &mut values),
            other => {
                return Err(EngineError::Parse(format!("failed to parse settings: expected an object, got {other}")));
            }
        }
        let mut settings = IndexSettings { values: BTreeMap::new() };
        for (k, v) in values {
            let key = k.strip_prefix("index.").unwrap_or(&k).to_string();
            settings.values.insert(key, v);
        }
        for key in ["number_of_shards", "number_of_replicas"] {
            if let Some(v) = settings.values.get(key) {
                let n = as_u64(v).ok_or_else(|| {
                    EngineError::IllegalArgument(format!("Failed to parse value [{v}] for setting [index.{key}]"))
                })?;
                let min = if key == "number_of_shards" { 1 } else { 0 };
                if n < min || n > 1024 {
                    return Err(EngineError::IllegalArgument(format!(
                        "Failed to parse value [{n}] for setting [index.{key}] must be >= {min}"
                    )));
                }
            }
        }
        settings.shard_routing()?;
        MappingLimits::from_settings(|key| settings.values.get(key))?;
        Ok(settings)
    }

    /// The `index.mapping.*.limit` values in force (validated when the settings were parsed).
    pub fn mapping_limits(&self) -> MappingLimits {
        MappingLimits::from_settings(|key| self.values.get(key)).unwrap_or_default()
    }

    /// The shard count and routing shard count, validated like OpenSearch
    /// (`number_of_routing_shards` a multiple of `number_of_shards`, default as in 2.x).
    pub fn shard_routing(&self) -> EngineResult<super::ShardRouting> {
        let shards = self.number_of_shards() as u32;
        let routing_num_shards = match self.values.get("number_of_routing_shards") {
            None => super::routing::default_routing_num_shards(shards),
            Some(v) => {
                let n = as_u64(v).filter(|n| *n >= 1 && *n <= 1_048_576).ok_or_else(|| {
                    EngineError::IllegalArgument(format!(
                        "Failed to parse value [{v}] for setting [index.number_of_routing_shards]"
                    ))
                })? as u32;
                if n < shards || n % shards != 0 {
                    return Err(EngineError::IllegalArgument(format!(
                        "the number of source shards [{shards}] must be a factor of [{n}]"
                    )));
                }
                n
            }
        };
        Ok(super::ShardRouting { number_of_shards: shards, routing_num_shards })
    }

    pub fn number_of_shards(&self) -> u64 {
        self.values.get("number_of_shards").and_then(as_u64).unwrap_or(1)
    }

    /// Default 1, like OpenSearch — which makes a single node `yellow` unless set to 0.
    pub fn number_of_replicas(&self) -> u64 {
        self.values.get("number_of_replicas").and_then(as_u64).unwrap_or(1)
    }

    /// `index.hidden`: wildcards reach the index only when `expand_wildcards` includes
    /// `hidden` (or a dot pattern names a dot-prefixed index).
    pub fn is_hidden(&self) -> bool {
        matches!(self.values.get("hidden"), Some(Value::Bool(true))) || self.values.get("hidden").and_then(Value::as_str) == Some("true")
    }

    /// The `analysis` settings tree (given nested or as dotted `analysis.*` keys).
    pub fn analysis(&self) -> Option<Value> {
        self.tree("analysis")
    }

    /// The `similarity` settings tree (`index.similarity.<name>.type` …).
    pub fn similarity(&self) -> Option<Value> {
        self.tree("similarity")
    }

    fn tree(&self, section: &str) -> Option<Value> {
        let mut tree = match self.values.get(section) {
            Some(Value::Object(o)) => o.clone(),
            _ => Map::new(),
        };
        let prefix = format!("{section}.");
        for (k, v) in &self.values {
            if let Some(rest) = k.strip_prefix(&prefix) {
                insert_dotted(&mut tree, rest, v.clone());
            }
        }
        (!tree.is_empty()).then_some(Value::Object(tree))
    }

    /// `index.analyze.max_token_count` (OpenSearch's default 10,000).
    pub fn analyze_max_token_count(&self) -> usize {
        self.values.get("analyze.max_token_count").and_then(as_u64).map(|n| n as usize).unwrap_or(ANALYZE_MAX_TOKEN_COUNT)
    }

    /// Updates dynamic settings (`PUT /{index}/_settings`).
    pub fn update(&mut self, other: &IndexSettings) -> EngineResult<()> {
        for key in ["number_of_shards", "number_of_routing_shards"] {
            if other.values.contains_key(key) {
                return Err(EngineError::IllegalArgument(format!("final index setting [index.{key}], not updateable")));
            }
        }
        for (k, v) in &other.values {
            self.values.insert(k.clone(), v.clone());
        }
        Ok(())
    }

    /// The `settings` object of GET /{index}/_settings (values as strings, like OpenSearch).
    pub fn to_json(&self, name: &str, uuid: &str, creation_date: i64) -> Value {
        let mut index = Map::new();
        index.insert("number_of_shards".into(), json!(self.number_of_shards().to_string()));
        index.insert("number_of_replicas".into(), json!(self.number_of_replicas().to_string()));
        let Value::Object(given) = self.given_json() else { unreachable!("given_json is an object") };
        index.extend(given.get("index").and_then(Value::as_object).cloned().unwrap_or_default());
        index.insert("uuid".into(), json!(uuid));
        index.insert("creation_date".into(), json!(creation_date.to_string()));
        index.insert("provided_name".into(), json!(name));
        index.insert("version".into(), json!({"created": "136327827"}));
        json!({ "index": index })
    }

    /// The settings this engine applies when an index does not give them, as
    /// `{"index": {…}}` with string values (`GET /{index}/_settings?include_defaults`).
    /// `refresh_interval_ms` and `search_idle_after_ms` are the node's configuration.
    pub fn defaults_json(refresh_interval_ms: u64, search_idle_after_ms: u64) -> Value {
        let limits = crate::mapping::MappingLimits::default();
        let mut index = Map::new();
        let mut put = |key: &str, value: String| insert_dotted(&mut index, key, Value::String(value));
        put("number_of_shards", "1".into());
        put("number_of_replicas", "1".into());
        put("refresh_interval", format!("{refresh_interval_ms}ms"));
        put("search.idle.after", format!("{search_idle_after_ms}ms"));
        put("max_result_window", crate::search::request::MAX_RESULT_WINDOW.to_string());
        put("analyze.max_token_count", ANALYZE_MAX_TOKEN_COUNT.to_string());
        put("mapping.total_fields.limit", limits.total_fields.to_string());
        put("mapping.depth.limit", limits.depth.to_string());
        put("mapping.nested_fields.limit", limits.nested_fields.to_string());
        put("mapping.nested_objects.limit", limits.nested_objects.to_string());
        put("mapping.field_name_length.limit", limits.field_name_length.to_string());
        json!({ "index": index })
    }

    /// Only the settings that were given, as `{"index": {…}}` with string values (how
    /// templates show their settings).
    pub fn given_json(&self) -> Value {
        let mut index = Map::new();
        for (k, v) in &self.values {
            let s = match v {
                Value::String(s) => json!(s),
                Value::Object(_) | Value::Array(_) => v.clone(),
                other => json!(other.to_string()),
            };
            insert_dotted(&mut index, k, s);
        }
        if index.is_empty() { json!({}) } else { json!({ "index": index }) }
    }

    /// These settings with `over`'s values replacing theirs (a template under the request).
    pub fn overlaid(&self, over: &IndexSettings) -> IndexSettings {
        let mut values = self.values.clone();
        values.extend(over.values.iter().map(|(k, v)| (k.clone(), v.clone())));
        IndexSettings { values }
    }
}

/// OpenSearch's default `index.analyze.max_token_count`.
const ANALYZE_MAX_TOKEN_COUNT: usize = 10_000;

fn as_u64(v: &Value) -> Option<u64> {
    v.as_u64().or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
}

fn flatten(prefix: &str, obj: &Map<String, Value>, out: &mut BTreeMap<String, Value>) {
    for (k, v) in obj {
        let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
        match v {
            // `analysis` stays a tree: its keys are names, not setting paths.
            Value::Object(inner) if key != "analysis" && key != "index.analysis" => flatten(&key, inner, out),
            _ => {
                out.insert(key, v.clone());
            }
        }
    }
}

/// Sets `a.b.c` in a JSON tree, creating the objects on the way (a scalar in the way is
/// replaced by an object).
pub fn insert_dotted(obj: &mut Map<String, Value>, key: &str, v: Value) {
    match key.split_once('.') {
        None => {
            obj.insert(key.to_string(), v);
        }
        Some((head, rest)) => {
            let entry = obj.entry(head.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            if let Value::Object(inner) = entry {
                insert_dotted(inner, rest, v);
            }
        }
    }
}
