//! How settings are shown: `GET /{index}/_settings/{name}` and `GET /_cluster/settings`
//! answer with the same view — settings filtered by name patterns (`index.number_of_*`,
//! comma lists, `_all`), nested or flat (`?flat_settings=true`: `"index.number_of_shards"`
//! as one key), with `?include_defaults=true` adding a `defaults` section of the settings
//! that were not given.

use std::collections::{BTreeMap, HashMap};

use quidditch_engine::index::meta::insert_dotted;
use quidditch_engine::query_ast::wildcard_glob_match;
use serde_json::{Map, Value};

use super::ApiError;
use super::indices::flag;

/// The view a request asks for.
pub(super) struct SettingsView {
    flat: bool,
    include_defaults: bool,
    /// Name patterns; `None` shows every setting.
    names: Option<Vec<String>>,
}

impl SettingsView {
    /// From the `flat_settings` and `include_defaults` parameters and the `{name}` path part.
    pub fn from_request(params: &HashMap<String, String>, names: Option<&str>) -> Result<SettingsView, ApiError> {
        let names = names
            .map(|n| n.split(',').map(str::trim).filter(|s| !s.is_empty()).map(str::to_string).collect::<Vec<_>>())
            .filter(|n| !n.iter().any(|p| p == "_all" || p == "*"));
        Ok(SettingsView {
            flat: flag(params, "flat_settings")?.unwrap_or(false),
            include_defaults: flag(params, "include_defaults")?.unwrap_or(false),
            names,
        })
    }

    /// Whether a name filter is given (indices whose filtered settings are empty are then left
    /// out of the answer, as OpenSearch does).
    pub fn filters(&self) -> bool {
        self.names.is_some()
    }

    pub fn include_defaults(&self) -> bool {
        self.include_defaults
    }

    /// `settings` (nested JSON as stored) shown through the view.
    pub fn show(&self, settings: &Value) -> Value {
        self.render(self.select(flatten(settings)))
    }

    /// The defaults section: `defaults` minus every key `given` already has.
    pub fn show_defaults(&self, defaults: &Value, given: &Value) -> Value {
        let given = flatten(given);
        let mut rest = flatten(defaults);
        rest.retain(|k, _| !given.contains_key(k));
        self.render(self.select(rest))
    }

    fn select(&self, mut flat: BTreeMap<String, Value>) -> BTreeMap<String, Value> {
        if let Some(names) = &self.names {
            flat.retain(|key, _| names.iter().any(|p| p == key || wildcard_glob_match(p, key)));
        }
        flat
    }

    fn render(&self, flat: BTreeMap<String, Value>) -> Value {
        if self.flat {
            return Value::Object(flat.into_iter().collect());
        }
        let mut root = Map::new();
        for (key, value) in flat {
            insert_dotted(&mut root, &key, value);
        }
        Value::Object(root)
    }
}

/// `{"index": {"number_of_shards": "1"}}` → `{"index.number_of_shards": "1"}`; arrays and
/// scalars are leaves.
pub(super) fn flatten(settings: &Value) -> BTreeMap<String, Value> {
    fn walk(prefix: &str, value: &Value, out: &mut BTreeMap<String, Value>) {
        match value {
            Value::Object(obj) if !obj.is_empty() || prefix.is_empty() => {
                for (k, v) in obj {
                    let key = if prefix.is_empty() { k.clone() } else { format!("{prefix}.{k}") };
                    walk(&key, v, out);
                }
            }
            leaf => {
                out.insert(prefix.to_string(), leaf.clone());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk("", settings, &mut out);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn view(params: &[(&str, &str)], names: Option<&str>) -> SettingsView {
        let params = params.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        SettingsView::from_request(&params, names).unwrap()
    }

    #[test]
    fn names_filter_and_flat_form() {
        let settings = json!({"index": {"number_of_shards": "5", "number_of_replicas": "1", "uuid": "u"}});
        assert_eq!(
            view(&[], Some("index.number_of_s*")).show(&settings),
            json!({"index": {"number_of_shards": "5"}})
        );
        assert_eq!(
            view(&[("flat_settings", "true")], Some("index.number_of_shards,index.uuid")).show(&settings),
            json!({"index.number_of_shards": "5", "index.uuid": "u"})
        );
        assert_eq!(view(&[], Some("_all")).show(&settings), settings);
        assert!(!view(&[], Some("*")).filters());
    }

    #[test]
    fn defaults_leave_out_given_keys() {
        let given = json!({"index": {"number_of_shards": "5"}});
        let defaults = json!({"index": {"number_of_shards": "1", "refresh_interval": "1s"}});
        assert_eq!(
            view(&[("include_defaults", "true"), ("flat_settings", "true")], None).show_defaults(&defaults, &given),
            json!({"index.refresh_interval": "1s"})
        );
    }
}
