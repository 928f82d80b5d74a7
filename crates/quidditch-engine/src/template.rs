//! Index templates: settings, mappings and aliases a new index gets when its name matches.
//!
//! Three kinds, as in OpenSearch 2.x: composable index templates (`_index_template`: index
//! patterns, a priority, their own `template` and the `composed_of` component templates),
//! component templates (`_component_template`: a reusable `template` block), and legacy
//! templates (`_template`: patterns and an `order`). At index creation the matching
//! composable template of highest priority applies (its components in order, then its own
//! block); only when none matches do the matching legacy templates apply, lowest `order`
//! first. The request's own settings, mappings and aliases go on top.
//!
//! Every definition is checked when it is stored (a template with a bad mapping is a 400, and
//! no index is ever created from it). All templates live in `templates.json` in the data
//! directory, rewritten atomically on each change.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::alias::AliasMetadata;
use crate::error::{EngineError, EngineResult};
use crate::index::IndexSettings;
use crate::index::meta::write_durably;
use crate::mapping::Mapping;
use crate::names;

/// The `template` block: what an index gets (JSON as given, checked when stored).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateBlock {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settings: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mappings: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aliases: Option<Map<String, Value>>,
}

impl TemplateBlock {
    /// As GET shows it: settings normalised to `{"index": {…}}` with string values.
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        if let Some(s) = &self.settings {
            m.insert("settings".into(), IndexSettings::parse(s).map(|s| s.given_json()).unwrap_or_else(|_| s.clone()));
        }
        if let Some(mappings) = &self.mappings {
            m.insert("mappings".into(), mappings.clone());
        }
        if let Some(aliases) = &self.aliases {
            m.insert("aliases".into(), Value::Object(aliases.clone()));
        }
        Value::Object(m)
    }
}

/// `value` serialised, with its `template` block shown as [`TemplateBlock::to_json`].
fn shown<T: Serialize>(value: &T, block: &TemplateBlock) -> Value {
    let mut v = serde_json::to_value(value).unwrap_or_else(|_| json!({}));
    v["template"] = block.to_json();
    v
}

/// A composable index template (`PUT /_index_template/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IndexTemplate {
    pub index_patterns: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub priority: Option<i64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub composed_of: Vec<String>,
    #[serde(default)]
    pub template: TemplateBlock,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

impl IndexTemplate {
    pub fn to_json(&self) -> Value {
        shown(self, &self.template)
    }
}

/// A component template (`PUT /_component_template/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ComponentTemplate {
    pub template: TemplateBlock,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    #[serde(default, rename = "_meta", skip_serializing_if = "Option::is_none")]
    pub meta: Option<Value>,
}

impl ComponentTemplate {
    pub fn to_json(&self) -> Value {
        shown(self, &self.template)
    }
}

/// A legacy template (`PUT /_template/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LegacyTemplate {
    pub index_patterns: Vec<String>,
    #[serde(default)]
    pub order: i64,
    #[serde(flatten)]
    pub block: TemplateBlock,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
}

impl LegacyTemplate {
    /// As `GET /_template` shows it (every section present).
    pub fn to_json(&self) -> Value {
        let block = self.block.to_json();
        let mut v = json!({
            "order": self.order,
            "index_patterns": self.index_patterns,
            "settings": block.get("settings").cloned().unwrap_or_else(|| json!({})),
            "mappings": block.get("mappings").cloned().unwrap_or_else(|| json!({})),
            "aliases": block.get("aliases").cloned().unwrap_or_else(|| json!({})),
        });
        if let Some(version) = self.version {
            v["version"] = json!(version);
        }
        v
    }
}

/// What templates give one new index, already parsed.
#[derive(Debug, Clone, Default)]
pub struct ResolvedTemplate {
    pub settings: IndexSettings,
    pub mapping: Mapping,
    pub aliases: Vec<(String, AliasMetadata)>,
    /// The composable template that applied (or the legacy ones, lowest order first).
    pub applied: Vec<String>,
}

impl ResolvedTemplate {
    /// Puts one block on top of what is resolved so far.
    fn overlay(&mut self, block: &TemplateBlock) -> EngineResult<()> {
        if let Some(s) = &block.settings {
            self.settings = self.settings.overlaid(&IndexSettings::parse(s)?);
        }
        if let Some(m) = &block.mappings {
            self.mapping = self.mapping.merged(&Mapping::parse(m)?)?;
        }
        for (name, def) in block.aliases.iter().flatten() {
            let meta = AliasMetadata::parse(def)?;
            self.aliases.retain(|(n, _)| n != name);
            self.aliases.push((name.clone(), meta));
        }
        Ok(())
    }

    /// `_simulate_index`'s `template` object.
    pub fn to_json(&self) -> Value {
        let aliases: Map<String, Value> = self.aliases.iter().map(|(n, m)| (n.clone(), m.to_json())).collect();
        json!({ "settings": self.settings.given_json(), "mappings": self.mapping.to_json(), "aliases": aliases })
    }
}

/// Reads a JSON body into `T`, with OpenSearch's message for unknown keys.
fn from_body<T: serde::de::DeserializeOwned>(what: &str, body: &Value, known: &[&str]) -> EngineResult<T> {
    let obj = body.as_object().ok_or_else(|| EngineError::Parse(format!("[{what}] must be an object")))?;
    if let Some(k) = obj.keys().find(|k| !known.contains(&k.as_str())) {
        return Err(EngineError::bad_request("x_content_parse_exception", format!("[{what}] unknown field [{k}]")));
    }
    if let Some(Value::Object(t)) = obj.get("template") {
        if let Some(k) = t.keys().find(|k| !matches!(k.as_str(), "settings" | "mappings" | "aliases")) {
            return Err(EngineError::bad_request("x_content_parse_exception", format!("[template] unknown field [{k}]")));
        }
    }
    serde_json::from_value(body.clone()).map_err(|e| EngineError::bad_request("x_content_parse_exception", format!("[{what}] {e}")))
}

/// `"index_patterns": "x"` is accepted for `["x"]`.
fn with_pattern_list(body: &Value) -> Value {
    let mut body = body.clone();
    if let Some(p @ Value::String(_)) = body.get_mut("index_patterns") {
        *p = json!([p.clone()]);
    }
    body
}

fn invalid_template(name: &str, reason: impl std::fmt::Display) -> EngineError {
    EngineError::bad_request("invalid_index_template_exception", format!("index_template [{name}] invalid, cause [{reason}]"))
}

fn check_patterns(name: &str, patterns: &[String]) -> EngineResult<()> {
    if patterns.is_empty() {
        return Err(EngineError::Validation("index patterns are missing".into()));
    }
    for p in patterns {
        if p.contains([' ', ',', '\\', '/', '"', '<', '>', '|', '#', ':']) || p.starts_with(['_', '-']) {
            return Err(invalid_template(name, format!("index_pattern [{p}] must not contain a space, comma or any of [\\, /, \", <, >, |, #, :] or start with '_' or '-'")));
        }
    }
    Ok(())
}

/// Whether an index name matches any of the patterns.
fn matches_any(patterns: &[String], index: &str) -> bool {
    patterns.iter().any(|p| p == index || names::matches(p, index))
}

/// All templates of the node.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct TemplateStore {
    #[serde(default)]
    pub index_templates: BTreeMap<String, IndexTemplate>,
    #[serde(default)]
    pub component_templates: BTreeMap<String, ComponentTemplate>,
    #[serde(default)]
    pub legacy_templates: BTreeMap<String, LegacyTemplate>,
}

/// Names of `map` an expression selects (comma list, wildcards, `_all`/`*`; `None`: all).
/// A concrete name that matches nothing is returned as missing.
pub fn select<'a, T>(map: &'a BTreeMap<String, T>, expr: Option<&str>) -> (Vec<(&'a String, &'a T)>, Vec<String>) {
    let parts: Vec<&str> = expr.map(|e| e.split(',').map(str::trim).filter(|p| !p.is_empty()).collect()).unwrap_or_default();
    let hit = |name: &str| parts.is_empty() || parts.iter().any(|p| *p == "_all" || *p == name || (names::is_pattern(p) && names::matches(p, name)));
    let found: Vec<(&String, &T)> = map.iter().filter(|(n, _)| hit(n)).collect();
    let missing = parts
        .iter()
        .filter(|p| !names::is_pattern(p) && **p != "_all" && !map.contains_key(**p))
        .map(|p| p.to_string())
        .collect();
    (found, missing)
}

impl TemplateStore {
    fn file(dir: &Path) -> PathBuf {
        dir.join("templates.json")
    }

    pub(crate) fn load(dir: &Path) -> anyhow::Result<TemplateStore> {
        let path = Self::file(dir);
        match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is not a valid template store: {e}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(TemplateStore::default()),
            Err(e) => Err(e.into()),
        }
    }

    pub(crate) fn store(&self, dir: &Path) -> std::io::Result<()> {
        write_durably(&Self::file(dir), &serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)
    }

    /// A copy with the composable template `name` set from `body`, checked: known keys,
    /// patterns, existing components, a valid composed result, no other template of the
    /// same priority with overlapping patterns. `create`: the name must be new.
    pub fn with_index_template(&self, name: &str, body: &Value, create: bool) -> EngineResult<TemplateStore> {
        let known = ["index_patterns", "priority", "composed_of", "template", "version", "_meta", "data_stream"];
        let body = with_pattern_list(body);
        if body.get("data_stream").is_some() {
            return Err(EngineError::IllegalArgument("data streams are not supported".into()));
        }
        let template: IndexTemplate = from_body("index_template", &body, &known)?;
        if create && self.index_templates.contains_key(name) {
            return Err(EngineError::IllegalArgument(format!("index template [{name}] already exists")));
        }
        check_patterns(name, &template.index_patterns)?;
        let missing: Vec<&str> =
            template.composed_of.iter().filter(|c| !self.component_templates.contains_key(*c)).map(String::as_str).collect();
        if !missing.is_empty() {
            return Err(invalid_template(name, format!("index template [{name}] specifies component templates {missing:?} that do not exist")));
        }
        self.compose(&template)?;
        let priority = template.priority.unwrap_or(0);
        for (other, t) in &self.index_templates {
            if other != name
                && t.priority.unwrap_or(0) == priority
                && t.index_patterns.iter().any(|p| template.index_patterns.iter().any(|q| patterns_overlap(p, q)))
            {
                return Err(EngineError::IllegalArgument(format!(
                    "index template [{name}] has index patterns {:?} matching patterns from existing templates [{other}] with \
                     patterns ({other} => {:?}) that have the same priority [{priority}], multiple index templates may not \
                     match during index creation, please use a different priority",
                    template.index_patterns, t.index_patterns
                )));
            }
        }
        let mut next = self.clone();
        next.index_templates.insert(name.to_string(), template);
        Ok(next)
    }

    /// A copy with the component template `name` set; every index template using it must
    /// still compose.
    pub fn with_component_template(&self, name: &str, body: &Value, create: bool) -> EngineResult<TemplateStore> {
        let component: ComponentTemplate = from_body("component_template", body, &["template", "version", "_meta"])?;
        if create && self.component_templates.contains_key(name) {
            return Err(EngineError::IllegalArgument(format!("component template [{name}] already exists")));
        }
        ResolvedTemplate::default().overlay(&component.template)?;
        let mut next = self.clone();
        next.component_templates.insert(name.to_string(), component);
        for (user, t) in next.index_templates.iter().filter(|(_, t)| t.composed_of.iter().any(|c| c == name)) {
            next.compose(t).map_err(|e| invalid_template(user, e))?;
        }
        Ok(next)
    }

    /// A copy with the legacy template `name` set from `body`.
    pub fn with_legacy_template(&self, name: &str, body: &Value, create: bool) -> EngineResult<TemplateStore> {
        let known = ["index_patterns", "order", "settings", "mappings", "aliases", "version"];
        let template: LegacyTemplate = from_body("template", &with_pattern_list(body), &known)?;
        if create && self.legacy_templates.contains_key(name) {
            return Err(EngineError::IllegalArgument(format!("index_template [{name}] already exists")));
        }
        check_patterns(name, &template.index_patterns)?;
        ResolvedTemplate::default().overlay(&template.block)?;
        let mut next = self.clone();
        next.legacy_templates.insert(name.to_string(), template);
        Ok(next)
    }

    /// A copy without the templates an expression names (404 when it names none); a
    /// component template still used by an index template cannot go.
    pub fn without(&self, kind: TemplateKind, expr: &str) -> EngineResult<TemplateStore> {
        let mut next = self.clone();
        let names: Vec<String> = match kind {
            TemplateKind::Index => select(&self.index_templates, Some(expr)).0.into_iter().map(|(n, _)| n.clone()).collect(),
            TemplateKind::Component => select(&self.component_templates, Some(expr)).0.into_iter().map(|(n, _)| n.clone()).collect(),
            TemplateKind::Legacy => select(&self.legacy_templates, Some(expr)).0.into_iter().map(|(n, _)| n.clone()).collect(),
        };
        if names.is_empty() {
            return Err(kind.not_found(expr));
        }
        for name in &names {
            match kind {
                TemplateKind::Index => {
                    next.index_templates.remove(name);
                }
                TemplateKind::Component => {
                    let users: Vec<&String> =
                        self.index_templates.iter().filter(|(_, t)| t.composed_of.contains(name)).map(|(n, _)| n).collect();
                    if !users.is_empty() {
                        return Err(EngineError::IllegalArgument(format!(
                            "component templates [{name}] cannot be removed as they are still in use by index templates {users:?}"
                        )));
                    }
                    next.component_templates.remove(name);
                }
                TemplateKind::Legacy => {
                    next.legacy_templates.remove(name);
                }
            }
        }
        Ok(next)
    }

    /// A composable template's components in order, then its own block.
    fn compose(&self, template: &IndexTemplate) -> EngineResult<ResolvedTemplate> {
        let mut out = ResolvedTemplate::default();
        for c in &template.composed_of {
            if let Some(component) = self.component_templates.get(c) {
                out.overlay(&component.template)?;
            }
        }
        out.overlay(&template.template)?;
        Ok(out)
    }

    /// The composable template that applies to a new index of this name, if any.
    fn matching_index_template(&self, index: &str) -> Option<(&String, &IndexTemplate)> {
        self.index_templates
            .iter()
            .filter(|(_, t)| matches_any(&t.index_patterns, index))
            .max_by_key(|(_, t)| t.priority.unwrap_or(0))
    }

    /// What a new index called `index` gets from the templates.
    pub fn resolve(&self, index: &str) -> EngineResult<ResolvedTemplate> {
        if let Some((name, template)) = self.matching_index_template(index) {
            let mut out = self.compose(template)?;
            out.applied.push(name.clone());
            return Ok(out);
        }
        let mut legacy: Vec<(&String, &LegacyTemplate)> =
            self.legacy_templates.iter().filter(|(_, t)| matches_any(&t.index_patterns, index)).collect();
        legacy.sort_by_key(|(_, t)| t.order);
        let mut out = ResolvedTemplate::default();
        for (name, t) in legacy {
            out.overlay(&t.block)?;
            out.applied.push(name.clone());
        }
        Ok(out)
    }

    /// `_simulate_index`'s `overlapping`: the other composable templates that match.
    pub fn overlapping(&self, index: &str) -> Vec<Value> {
        let chosen = self.matching_index_template(index).map(|(n, _)| n.clone());
        self.index_templates
            .iter()
            .filter(|(n, t)| Some(*n) != chosen.as_ref() && matches_any(&t.index_patterns, index))
            .map(|(n, t)| json!({ "name": n, "index_patterns": t.index_patterns }))
            .collect()
    }
}

/// Which of the three template collections an API acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TemplateKind {
    Index,
    Component,
    Legacy,
}

impl TemplateKind {
    /// The 404 for a name that matches no template of this kind.
    pub fn not_found(self, expr: &str) -> EngineError {
        let reason = match self {
            TemplateKind::Index => format!("index template matching [{expr}] not found"),
            TemplateKind::Component => format!("component template matching [{expr}] not found"),
            TemplateKind::Legacy => format!("index_template [{expr}] missing"),
        };
        EngineError::ResourceNotFound(reason)
    }
}

/// Whether two index patterns can match a common name (conservative: literal prefixes
/// before the first wildcard are compatible).
fn patterns_overlap(a: &str, b: &str) -> bool {
    let prefix = |p: &str| p.split(['*', '?']).next().unwrap_or_default().to_string();
    let (pa, pb) = (prefix(a), prefix(b));
    match (names::is_pattern(a), names::is_pattern(b)) {
        (false, false) => a == b,
        (true, false) => names::matches(a, b),
        (false, true) => names::matches(b, a),
        (true, true) => pa.starts_with(&pb) || pb.starts_with(&pa),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn composable_beats_legacy_and_priority_picks_one() {
        let store = TemplateStore::default()
            .with_component_template("shards", &json!({"template": {"settings": {"number_of_shards": 3}}}), false)
            .unwrap()
            .with_index_template("low", &json!({"index_patterns": ["logs-*"], "priority": 1,
                "template": {"settings": {"number_of_replicas": 0}}}), false)
            .unwrap()
            .with_index_template("high", &json!({"index_patterns": ["logs-*"], "priority": 5, "composed_of": ["shards"],
                "template": {"mappings": {"properties": {"m": {"type": "keyword"}}}, "aliases": {"all-logs": {}}}}), false)
            .unwrap()
            .with_legacy_template("old", &json!({"index_patterns": ["*"], "settings": {"number_of_shards": 7}}), false)
            .unwrap();
        let r = store.resolve("logs-1").unwrap();
        assert_eq!(r.applied, vec!["high"]);
        assert_eq!(r.settings.number_of_shards(), 3);
        assert!(r.mapping.resolve("m").is_some());
        assert_eq!(r.aliases.len(), 1);
        // Only the legacy template matches other names.
        assert_eq!(store.resolve("other").unwrap().settings.number_of_shards(), 7);
    }

    #[test]
    fn bad_definitions_are_refused() {
        let s = TemplateStore::default();
        let bad_mapping = json!({"index_patterns": ["x*"], "template": {"mappings": {"properties": {"f": {"type": "nope"}}}}});
        assert!(matches!(s.with_index_template("t", &bad_mapping, false), Err(EngineError::MapperParsing(_))));
        assert!(s.with_index_template("t", &json!({"index_patterns": ["x*"], "composed_of": ["none"]}), false).is_err());
        assert!(s.with_index_template("t", &json!({"index_patterns": []}), false).is_err());
        assert!(s.with_index_template("t", &json!({"index_patterns": ["x*"], "bogus": 1}), false).is_err());
        let s = s.with_index_template("a", &json!({"index_patterns": ["x*"]}), false).unwrap();
        assert!(s.with_index_template("b", &json!({"index_patterns": ["xy*"]}), false).is_err());
        assert!(s.with_index_template("b", &json!({"index_patterns": ["xy*"], "priority": 2}), false).is_ok());
    }
}
