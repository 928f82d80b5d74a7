//! Cluster settings (`_cluster/settings`): the dynamic settings Quidditch knows, their
//! validation, the two layers (`persistent`, kept across restarts, and `transient`, which
//! override them until the process stops) and where the persistent layer is kept.
//!
//! Values are kept as OpenSearch keeps them: flat dotted keys with string values
//! (`"search.max_buckets": "3"`). A setting is known only if it is in [`KNOWN`]; each entry
//! says what it does here. Settings that change behaviour are pushed into the engine
//! (`quidditch_engine::search::SearchLimits`) whenever a layer changes.
//!
//! Where the persistent layer lives is a [`PersistentSettingsStore`]: a JSON file in the data
//! dir on a single node ([`FileSettingsStore`]). In cluster mode (`--etcd`) cluster settings
//! belong to the cluster: the cluster module supplies an etcd-backed store and calls
//! [`ClusterSettings::replace_persistent`] when another node changes them.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use parking_lot::Mutex;
use serde_json::{Map, Value};

/// One flat layer: `setting name → value text`.
pub type FlatSettings = BTreeMap<String, String>;

/// Which layer an update goes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Layer {
    Persistent,
    Transient,
}

impl Layer {
    pub fn name(self) -> &'static str {
        match self {
            Layer::Persistent => "persistent",
            Layer::Transient => "transient",
        }
    }
}

/// What a setting's value must be.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An integer `>= min`.
    Int { min: i64 },
    /// A time value (`30s`, `5m`, `1h`).
    Time,
    /// One of the listed words.
    OneOf(&'static [&'static str]),
}

/// A cluster setting Quidditch knows.
#[derive(Debug)]
pub struct SettingDef {
    pub name: &'static str,
    pub default: &'static str,
    kind: Kind,
}

/// Every cluster setting Quidditch accepts, with what it does on this server:
/// - `search.max_buckets`: the most aggregation buckets one response may hold (enforced).
/// - `search.max_keep_alive`: the longest scroll keep-alive (enforced).
/// - `search.default_keep_alive`: a search context's keep-alive when the request names none;
///   only a search's own phases use such contexts here, so it is validated (it may not exceed
///   the maximum, as OpenSearch checks) and stored, with no other visible effect.
/// - `cluster.routing.allocation.enable`: stored only. On one node replicas are never
///   allocated whatever the value; Quidditch still starts the primaries of indices created
///   while it is `none`/`new_primaries`, where OpenSearch would leave them unassigned.
/// - `search_backpressure.mode`: stored only; Quidditch has no search backpressure (the
///   default `monitor_only` only observes in OpenSearch).
pub const KNOWN: &[SettingDef] = &[
    SettingDef { name: "cluster.routing.allocation.enable", default: "all", kind: Kind::OneOf(&["all", "primaries", "new_primaries", "none"]) },
    SettingDef { name: "search.default_keep_alive", default: "5m", kind: Kind::Time },
    SettingDef { name: "search.max_buckets", default: "65535", kind: Kind::Int { min: 0 } },
    SettingDef { name: "search.max_keep_alive", default: "24h", kind: Kind::Time },
    SettingDef { name: "search_backpressure.mode", default: "monitor_only", kind: Kind::OneOf(&["monitor_only", "enforced", "disabled"]) },
];

fn definition(name: &str) -> Option<&'static SettingDef> {
    KNOWN.iter().find(|d| d.name == name)
}

/// Why an update was refused.
#[derive(Debug, thiserror::Error)]
pub enum SettingsError {
    /// 400 `illegal_argument_exception` "persistent setting [x], not recognized".
    #[error("{layer} setting [{name}], not recognized", layer = .layer.name())]
    NotRecognized { layer: Layer, name: String },
    /// 400 `illegal_argument_exception`: a value the setting does not take.
    #[error("{0}")]
    InvalidValue(String),
    /// 400 `action_request_validation_exception`.
    #[error("Validation Failed: 1: {0};")]
    Validation(String),
    /// 500: the persistent layer could not be written (nothing changed).
    #[error("failed to store the persistent cluster settings: {0}")]
    Storage(String),
}

impl SettingDef {
    fn validate(&self, value: &str) -> Result<(), SettingsError> {
        let bad = |why: String| SettingsError::InvalidValue(format!("Failed to parse value [{value}] for setting [{}]{why}", self.name));
        match self.kind {
            Kind::Int { min } => {
                let n: i64 = value.trim().parse().map_err(|_| bad(String::new()))?;
                if n < min {
                    return Err(bad(format!(" must be >= {min}")));
                }
                if n > i64::from(u32::MAX) {
                    return Err(bad(format!(" must be <= {}", u32::MAX)));
                }
            }
            Kind::Time => {
                parse_time(value).ok_or_else(|| {
                    SettingsError::InvalidValue(format!(
                        "failed to parse setting [{}] with value [{value}] as a time value: unit is missing or unrecognized",
                        self.name
                    ))
                })?;
            }
            Kind::OneOf(words) => {
                if !words.contains(&value) {
                    return Err(SettingsError::InvalidValue(format!(
                        "Illegal value [{value}] for setting [{}], expected one of [{}]",
                        self.name,
                        words.join(", ")
                    )));
                }
            }
        }
        Ok(())
    }
}

fn parse_time(value: &str) -> Option<Duration> {
    quidditch_engine::search::request::parse_time_value(value).ok().flatten()
}

/// Where the persistent layer is kept between restarts.
pub trait PersistentSettingsStore: Send + Sync {
    fn load(&self) -> anyhow::Result<FlatSettings>;
    /// Stores the whole layer; returns only once it is durable.
    fn save(&self, settings: &FlatSettings) -> anyhow::Result<()>;
}

/// The single node's store: `<data dir>/cluster_settings.json`, replaced atomically.
pub struct FileSettingsStore {
    path: PathBuf,
}

impl FileSettingsStore {
    pub fn in_data_dir(data_dir: &std::path::Path) -> Self {
        FileSettingsStore { path: data_dir.join("cluster_settings.json") }
    }
}

impl PersistentSettingsStore for FileSettingsStore {
    fn load(&self) -> anyhow::Result<FlatSettings> {
        match std::fs::read(&self.path) {
            Ok(bytes) => Ok(serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is not a settings file: {e}", self.path.display()))?),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(FlatSettings::new()),
            Err(e) => Err(anyhow::anyhow!("cannot read {}: {e}", self.path.display())),
        }
    }

    fn save(&self, settings: &FlatSettings) -> anyhow::Result<()> {
        use std::io::Write as _;
        let tmp = self.path.with_extension("json.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&serde_json::to_vec_pretty(settings)?)?;
        file.sync_all()?;
        std::fs::rename(&tmp, &self.path)?;
        if let Some(dir) = self.path.parent() {
            std::fs::File::open(dir)?.sync_all()?;
        }
        Ok(())
    }
}

#[derive(Default)]
struct Layers {
    persistent: FlatSettings,
    transient: FlatSettings,
}

impl Layers {
    /// The value in force: transient over persistent over the default.
    fn effective(&self, name: &str) -> String {
        self.transient
            .get(name)
            .or_else(|| self.persistent.get(name))
            .cloned()
            .or_else(|| definition(name).map(|d| d.default.to_string()))
            .unwrap_or_default()
    }
}

/// The node's cluster settings.
pub struct ClusterSettings {
    layers: Mutex<Layers>,
    store: Box<dyn PersistentSettingsStore>,
    engine: Arc<quidditch_engine::Engine>,
}

/// The changes one update made, per layer (what OpenSearch's response echoes).
#[derive(Debug, Default)]
pub struct Applied {
    pub persistent: FlatSettings,
    pub transient: FlatSettings,
}

impl ClusterSettings {
    /// Loads the persistent layer and applies it. Stored settings this version does not know
    /// (or no longer accepts) are dropped with a warning, as OpenSearch archives them.
    pub fn open(store: Box<dyn PersistentSettingsStore>, engine: Arc<quidditch_engine::Engine>) -> anyhow::Result<Self> {
        let settings = ClusterSettings { layers: Mutex::new(Layers::default()), store, engine };
        let loaded = settings.store.load()?;
        settings.replace_persistent(loaded);
        Ok(settings)
    }

    /// Replaces the persistent layer with `loaded` (already durable in the store): the hook
    /// the cluster module calls when the cluster's settings change on another node.
    pub fn replace_persistent(&self, loaded: FlatSettings) {
        let mut kept = FlatSettings::new();
        for (name, value) in loaded {
            match definition(&name).map(|d| d.validate(&value)) {
                Some(Ok(())) => {
                    kept.insert(name, value);
                }
                _ => tracing::warn!(setting = %name, value = %value, "ignoring a stored cluster setting this version does not accept"),
            }
        }
        let mut layers = self.layers.lock();
        let candidate = Layers { persistent: kept, transient: layers.transient.clone() };
        if let Err(e) = self.apply(&candidate) {
            tracing::warn!(error = %e, "stored cluster settings are inconsistent; keeping the current ones");
            return;
        }
        *layers = candidate;
    }

    pub fn persistent(&self) -> FlatSettings {
        self.layers.lock().persistent.clone()
    }

    pub fn transient(&self) -> FlatSettings {
        self.layers.lock().transient.clone()
    }

    /// The defaults of the known settings set in neither layer (`include_defaults`).
    pub fn defaults(&self) -> FlatSettings {
        let layers = self.layers.lock();
        KNOWN
            .iter()
            .filter(|d| !layers.persistent.contains_key(d.name) && !layers.transient.contains_key(d.name))
            .map(|d| (d.name.to_string(), d.default.to_string()))
            .collect()
    }

    /// Applies a `PUT _cluster/settings` body's two layers (each an object, nested or flat):
    /// all or nothing. `null` resets a setting (a name ending in `*` resets every match).
    pub fn update(&self, persistent: &Map<String, Value>, transient: &Map<String, Value>) -> Result<Applied, SettingsError> {
        let persistent = flatten_update(Layer::Persistent, persistent)?;
        let transient = flatten_update(Layer::Transient, transient)?;
        if persistent.is_empty() && transient.is_empty() {
            return Err(SettingsError::Validation("no settings to update".into()));
        }
        let mut layers = self.layers.lock();
        let mut candidate = Layers { persistent: layers.persistent.clone(), transient: layers.transient.clone() };
        let mut applied = Applied::default();
        apply_layer(&mut candidate.persistent, persistent, &mut applied.persistent);
        apply_layer(&mut candidate.transient, transient, &mut applied.transient);
        self.check(&candidate)?;
        if candidate.persistent != layers.persistent {
            self.store.save(&candidate.persistent).map_err(|e| SettingsError::Storage(e.to_string()))?;
        }
        self.apply(&candidate)?;
        *layers = candidate;
        Ok(applied)
    }

    /// The rules that span settings (checked before anything is stored).
    fn check(&self, layers: &Layers) -> Result<(), SettingsError> {
        let (default, max) = keep_alives(layers);
        quidditch_engine::search::limits::check_keep_alives(default, max)
            .map_err(|e| SettingsError::InvalidValue(e.to_string()))
    }

    /// Pushes the effective values into the engine.
    fn apply(&self, layers: &Layers) -> Result<(), SettingsError> {
        let limits = self.engine.search_limits();
        let (default, max) = keep_alives(layers);
        limits.set_keep_alives(default, max).map_err(|e| SettingsError::InvalidValue(e.to_string()))?;
        let max_buckets = layers.effective("search.max_buckets").parse().unwrap_or(quidditch_engine::search::limits::DEFAULT_MAX_BUCKETS);
        limits.set_max_buckets(max_buckets);
        Ok(())
    }
}

fn keep_alives(layers: &Layers) -> (Duration, Duration) {
    let time = |name: &str, fallback: Duration| parse_time(&layers.effective(name)).unwrap_or(fallback);
    (
        time("search.default_keep_alive", quidditch_engine::search::limits::DEFAULT_KEEP_ALIVE),
        time("search.max_keep_alive", quidditch_engine::search::limits::DEFAULT_MAX_KEEP_ALIVE),
    )
}

/// One layer's update, flattened: `Some(value)` sets, `None` resets.
fn flatten_update(layer: Layer, body: &Map<String, Value>) -> Result<Vec<(String, Option<String>)>, SettingsError> {
    let mut flat = Vec::new();
    flatten_into(body, "", &mut flat);
    let mut out = Vec::new();
    for (name, value) in flat {
        let value = match value {
            Value::Null => None,
            Value::String(s) => Some(s),
            Value::Bool(b) => Some(b.to_string()),
            Value::Number(n) => Some(n.to_string()),
            Value::Array(_) | Value::Object(_) => {
                return Err(SettingsError::InvalidValue(format!("[{name}] must be a single value, not a list")));
            }
        };
        match &value {
            // `search.*: null` resets every matching setting; a pattern cannot be set.
            None if name.ends_with('*') => {}
            _ => {
                let def = definition(&name).ok_or(SettingsError::NotRecognized { layer, name: name.clone() })?;
                if let Some(v) = &value {
                    def.validate(v)?;
                }
            }
        }
        out.push((name, value));
    }
    Ok(out)
}

fn flatten_into(body: &Map<String, Value>, prefix: &str, out: &mut Vec<(String, Value)>) {
    for (key, value) in body {
        let name = if prefix.is_empty() { key.clone() } else { format!("{prefix}.{key}") };
        match value {
            Value::Object(inner) => flatten_into(inner, &name, out),
            other => out.push((name, other.clone())),
        }
    }
}

fn apply_layer(layer: &mut FlatSettings, update: Vec<(String, Option<String>)>, applied: &mut FlatSettings) {
    for (name, value) in update {
        match value {
            Some(v) => {
                layer.insert(name.clone(), v.clone());
                applied.insert(name, v);
            }
            None => match name.strip_suffix('*') {
                Some(prefix) => layer.retain(|k, _| !k.starts_with(prefix)),
                None => {
                    layer.remove(&name);
                }
            },
        }
    }
}

/// `{"a.b": "1"}` → `{"a": {"b": "1"}}` (OpenSearch's default, non-flat rendering).
pub fn nest(flat: &FlatSettings) -> Value {
    let mut root = Map::new();
    for (name, value) in flat {
        let mut node = &mut root;
        let parts: Vec<&str> = name.split('.').collect();
        for part in &parts[..parts.len() - 1] {
            let entry = node.entry(part.to_string()).or_insert_with(|| Value::Object(Map::new()));
            if !entry.is_object() {
                *entry = Value::Object(Map::new());
            }
            node = entry.as_object_mut().expect("just made an object");
        }
        node.insert(parts[parts.len() - 1].to_string(), Value::String(value.clone()));
    }
    Value::Object(root)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn obj(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    #[test]
    fn nested_and_flat_updates_flatten_alike() {
        let a = flatten_update(Layer::Persistent, &obj(json!({"search": {"max_buckets": 3}}))).unwrap();
        let b = flatten_update(Layer::Persistent, &obj(json!({"search.max_buckets": "3"}))).unwrap();
        assert_eq!(a, b);
        assert_eq!(a, vec![("search.max_buckets".to_string(), Some("3".to_string()))]);
    }

    #[test]
    fn unknown_settings_and_bad_values_are_refused() {
        let err = flatten_update(Layer::Transient, &obj(json!({"no.such": 1}))).unwrap_err();
        assert_eq!(err.to_string(), "transient setting [no.such], not recognized");
        let err = flatten_update(Layer::Persistent, &obj(json!({"search.max_buckets": -1}))).unwrap_err();
        assert_eq!(err.to_string(), "Failed to parse value [-1] for setting [search.max_buckets] must be >= 0");
        assert!(flatten_update(Layer::Persistent, &obj(json!({"search_backpressure.mode": "monitor-only"}))).is_err());
    }

    #[test]
    fn null_resets_and_patterns_reset_every_match() {
        let mut layer: FlatSettings =
            [("search.max_buckets", "3"), ("search.max_keep_alive", "1m"), ("cluster.routing.allocation.enable", "none")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
        let update = flatten_update(Layer::Persistent, &obj(json!({"search.*": null}))).unwrap();
        apply_layer(&mut layer, update, &mut FlatSettings::new());
        assert_eq!(layer.keys().collect::<Vec<_>>(), vec!["cluster.routing.allocation.enable"]);
    }

    #[test]
    fn nesting_splits_on_dots() {
        let flat: FlatSettings = [("search.max_buckets".to_string(), "3".to_string())].into_iter().collect();
        assert_eq!(nest(&flat), json!({"search": {"max_buckets": "3"}}));
    }
}
