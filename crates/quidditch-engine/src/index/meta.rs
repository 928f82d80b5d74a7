//! `meta.json`: an index's uuid, creation date, settings and mappings. Written atomically
//! (tmp file, fsync, rename, fsync dir) before any write that depends on it is acknowledged.

use std::collections::BTreeMap;
use std::fs::{self, File};
use std::io::Write;
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{EngineError, EngineResult};

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IndexMeta {
    pub uuid: String,
    /// Creation time, epoch milliseconds.
    pub creation_date: i64,
    pub settings: IndexSettings,
    pub mappings: Value,
}

impl IndexMeta {
    pub fn load(path: &Path) -> anyhow::Result<IndexMeta> {
        let text = fs::read(path)?;
        Ok(serde_json::from_slice(&text)?)
    }

    pub fn store(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension("json.tmp");
        {
            let mut f = File::create(&tmp)?;
            f.write_all(&serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)?;
            f.sync_all()?;
        }
        fs::rename(&tmp, path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
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
        Ok(settings)
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
        for (k, v) in &self.values {
            let s = match v {
                Value::String(s) => json!(s),
                Value::Object(_) | Value::Array(_) => v.clone(),
                other => json!(other.to_string()),
            };
            insert_dotted(&mut index, k, s);
        }
        index.insert("uuid".into(), json!(uuid));
        index.insert("creation_date".into(), json!(creation_date.to_string()));
        index.insert("provided_name".into(), json!(name));
        index.insert("version".into(), json!({"created": "136327827"}));
        json!({ "index": index })
    }
}

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

fn insert_dotted(obj: &mut Map<String, Value>, key: &str, v: Value) {
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
