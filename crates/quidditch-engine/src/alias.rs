//! Index aliases: a second name for one or more indices, with an optional filter applied to
//! every search through it, routing values, and a write index that receives writes sent to
//! the alias.
//!
//! The whole table lives in one file, `aliases.json` in the data directory, rewritten
//! atomically on every change (see [`crate::index::meta::write_durably`]): an `_aliases`
//! request with several actions over several indices is applied all at once or not at all,
//! also across a crash. Entries of indices that no longer exist (a crash between an index's
//! deletion and the table's rewrite) are dropped when the table is loaded.
//!
//! Parsing of the three request shapes that carry alias definitions (`PUT /{index}/_alias/{name}`
//! bodies, `_aliases` actions, `aliases` at index creation) is here too, with OpenSearch's
//! messages, so the HTTP layer only passes JSON through.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use crate::error::{EngineError, EngineResult};
use crate::index::meta::write_durably;
use crate::names::{self, AliasTargets};
use crate::query_dsl;

/// What an alias says about one of its indices (OpenSearch's `AliasMetadata`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AliasMetadata {
    /// A query; searches through the alias only see the documents it matches.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub filter: Option<Value>,
    /// Routing for writes through the alias (when the write has none).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub index_routing: Option<String>,
    /// Routing values (comma-separated) limiting which shards searches through the alias visit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub search_routing: Option<String>,
    /// `true`: this index receives writes sent to the alias; `false`: it never does.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_write_index: Option<bool>,
    /// Hidden aliases are not matched by wildcards of alias listings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_hidden: Option<bool>,
}

impl AliasMetadata {
    /// The alias as `GET /_alias` shows it (only the keys that are set).
    pub fn to_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or_else(|_| json!({}))
    }

    /// Reads one alias-definition key; `false` if `key` is not one.
    fn read_key(&mut self, key: &str, value: &Value) -> EngineResult<bool> {
        match key {
            "filter" => {
                if !value.is_null() {
                    query_dsl::parse_query(value).map_err(EngineError::from)?;
                    self.filter = Some(value.clone());
                }
            }
            "routing" => {
                let r = routing_value(key, value)?;
                self.index_routing.get_or_insert_with(|| r.clone());
                self.search_routing.get_or_insert(r);
            }
            "index_routing" | "indexRouting" | "index-routing" => self.index_routing = Some(routing_value(key, value)?),
            "search_routing" | "searchRouting" | "search-routing" => self.search_routing = Some(routing_value(key, value)?),
            "is_write_index" => self.is_write_index = Some(bool_value(key, value)?),
            "is_hidden" => self.is_hidden = Some(bool_value(key, value)?),
            _ => return Ok(false),
        }
        Ok(true)
    }

    /// An alias definition as given at index creation (`"aliases": {"name": {…}}`).
    pub fn parse(value: &Value) -> EngineResult<AliasMetadata> {
        let mut meta = AliasMetadata::default();
        let Some(obj) = value.as_object() else {
            return Err(EngineError::Parse(format!("alias definition must be an object, found [{value}]")));
        };
        // `routing` is the default of the two specific ones, whatever the key order.
        for (key, v) in obj.iter().filter(|(k, _)| k.as_str() != "routing") {
            if !meta.read_key(key, v)? {
                return Err(unknown_field(key));
            }
        }
        if let Some(v) = obj.get("routing") {
            meta.read_key("routing", v)?;
        }
        Ok(meta)
    }
}

fn unknown_field(key: &str) -> EngineError {
    EngineError::IllegalArgument(format!("[aliases] unknown field [{key}]"))
}

fn routing_value(key: &str, value: &Value) -> EngineResult<String> {
    match value {
        Value::String(s) => Ok(s.clone()),
        Value::Number(n) => Ok(n.to_string()),
        other => Err(EngineError::IllegalArgument(format!("[{key}] must be a string, found [{other}]"))),
    }
}

fn bool_value(key: &str, value: &Value) -> EngineResult<bool> {
    match value {
        Value::Bool(b) => Ok(*b),
        Value::String(s) if s == "true" || s == "false" => Ok(s == "true"),
        other => Err(EngineError::IllegalArgument(format!("[{key}] must be a boolean, found [{other}]"))),
    }
}

/// One action of `POST /_aliases` (a single `PUT /{index}/_alias/{name}` is an `Add`).
#[derive(Debug, Clone, PartialEq)]
pub enum AliasAction {
    /// Points each alias at each index (index expressions: names, wildcards, `_all`).
    Add { indices: Vec<String>, aliases: Vec<String>, meta: AliasMetadata },
    /// Removes the aliases (names or wildcards) from the indices. `must_exist`: `true` fails
    /// when any named alias is missing, unset fails only when all of them are, `false` never.
    Remove { indices: Vec<String>, aliases: Vec<String>, must_exist: Option<bool> },
    /// Deletes the indices (concrete names) in the same atomic step.
    RemoveIndex { indices: Vec<String> },
}

/// `"x"` or `["x", "y"]`.
fn string_list(key: &str, value: &Value) -> EngineResult<Vec<String>> {
    match value {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|v| v.as_str().map(str::to_string).ok_or_else(|| EngineError::IllegalArgument(format!("[{key}] must be a list of strings"))))
            .collect(),
        other => Err(EngineError::IllegalArgument(format!("[{key}] must be a string or a list of strings, found [{other}]"))),
    }
}

impl AliasAction {
    /// The body of `POST /_aliases`: `{"actions": [{"add": {…}}, {"remove": {…}}, …]}`.
    pub fn parse_actions(body: &Value) -> EngineResult<Vec<AliasAction>> {
        let obj = body.as_object().ok_or_else(|| EngineError::Parse("request body must be an object".into()))?;
        if let Some(k) = obj.keys().find(|k| k.as_str() != "actions") {
            return Err(EngineError::IllegalArgument(format!("[aliases] unknown field [{k}]")));
        }
        let actions = match obj.get("actions") {
            Some(Value::Array(a)) => a,
            Some(single @ Value::Object(_)) => std::slice::from_ref(single),
            _ => return Err(EngineError::Validation("no actions specified".into())),
        };
        if actions.is_empty() {
            return Err(EngineError::Validation("no actions specified".into()));
        }
        actions.iter().map(AliasAction::parse_one).collect()
    }

    fn parse_one(action: &Value) -> EngineResult<AliasAction> {
        let obj = action.as_object().filter(|o| o.len() == 1).ok_or_else(|| {
            EngineError::IllegalArgument(format!("an alias action must be an object with one of [add, remove, remove_index], found [{action}]"))
        })?;
        let (kind, body) = obj.iter().next().expect("one entry");
        let body = body
            .as_object()
            .ok_or_else(|| EngineError::IllegalArgument(format!("[{kind}] must be an object")))?;
        let mut indices = Vec::new();
        let mut aliases = Vec::new();
        let mut must_exist = None;
        let mut meta = AliasMetadata::default();
        for (key, v) in body.iter().filter(|(k, _)| k.as_str() != "routing") {
            match key.as_str() {
                "index" | "indices" => indices.extend(string_list(key, v)?),
                "alias" | "aliases" if kind != "remove_index" => {
                    let list = string_list(key, v)?;
                    if key == "aliases" && list.is_empty() {
                        return Err(EngineError::Validation("[aliases] can't be empty".into()));
                    }
                    aliases.extend(list);
                }
                "must_exist" if kind != "add" => must_exist = Some(bool_value(key, v)?),
                _ if kind == "add" && meta.read_key(key, v)? => {}
                _ => return Err(EngineError::IllegalArgument(format!("[{kind}] unknown field [{key}]"))),
            }
        }
        if let Some(v) = body.get("routing") {
            if kind != "add" {
                return Err(EngineError::IllegalArgument(format!("[{kind}] unknown field [routing]")));
            }
            meta.read_key("routing", v)?;
        }
        if indices.is_empty() {
            return Err(EngineError::Validation("One of [index/indices] is required".into()));
        }
        match kind.as_str() {
            "add" | "remove" if aliases.is_empty() => Err(EngineError::Validation("One of [alias/aliases] is required".into())),
            "add" => Ok(AliasAction::Add { indices, aliases, meta }),
            "remove" => Ok(AliasAction::Remove { indices, aliases, must_exist }),
            "remove_index" => Ok(AliasAction::RemoveIndex { indices }),
            other => Err(EngineError::IllegalArgument(format!("Unsupported action [{other}]"))),
        }
    }

    /// `PUT /{index}/_alias/{name}` (path values may be overridden by `index`/`alias` in
    /// the body, as OpenSearch allows).
    pub fn parse_put(index: Option<&str>, alias: Option<&str>, body: Option<&Value>) -> EngineResult<AliasAction> {
        let mut indices: Vec<String> = index.map(|i| vec![i.to_string()]).unwrap_or_default();
        let mut aliases: Vec<String> = alias.map(|a| vec![a.to_string()]).unwrap_or_default();
        let mut meta = AliasMetadata::default();
        if let Some(body) = body {
            let obj = body.as_object().ok_or_else(|| EngineError::Parse("request body must be an object".into()))?;
            for (key, v) in obj.iter().filter(|(k, _)| k.as_str() != "routing") {
                match key.as_str() {
                    "index" | "indices" => indices = string_list(key, v)?,
                    "alias" | "aliases" => aliases = string_list(key, v)?,
                    _ if meta.read_key(key, v)? => {}
                    _ => return Err(unknown_field(key)),
                }
            }
            if let Some(v) = obj.get("routing") {
                meta.read_key("routing", v)?;
            }
        }
        if indices.is_empty() || aliases.is_empty() {
            return Err(EngineError::Validation(
                if indices.is_empty() { "index is missing" } else { "alias is missing" }.into(),
            ));
        }
        Ok(AliasAction::Add { indices, aliases, meta })
    }
}

/// Checks an alias name: the index name rules that make sense for a name (OpenSearch's
/// `validateIndexOrAliasName`), and no index of that name.
pub fn validate_alias_name(alias: &str, is_index: impl Fn(&str) -> bool) -> EngineResult<()> {
    if let Err(EngineError::InvalidIndexName { reason, .. }) = names::validate_index_name(&alias.to_lowercase()) {
        return Err(EngineError::InvalidAliasName { alias: alias.to_string(), reason });
    }
    if is_index(alias) {
        return Err(EngineError::InvalidAliasName {
            alias: alias.to_string(),
            reason: "an index or data stream exists with the same name as the alias".into(),
        });
    }
    Ok(())
}

/// Every alias of every index: index name → alias name → definition.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AliasTable {
    indices: BTreeMap<String, BTreeMap<String, AliasMetadata>>,
}

/// What the engine lends [`AliasTable::apply`]: the indices that exist.
pub(crate) trait IndexLookup {
    /// Concrete index names an expression stands for (no aliases); missing names are a 404.
    fn concrete(&self, expr: &str) -> EngineResult<Vec<String>>;
    fn is_index(&self, name: &str) -> bool;
}

impl AliasTable {
    fn file(dir: &Path) -> PathBuf {
        dir.join("aliases.json")
    }

    /// Reads `aliases.json` from the data directory (empty when there is none), keeping only
    /// the indices `keep` accepts.
    pub(crate) fn load(dir: &Path, keep: impl Fn(&str) -> bool) -> anyhow::Result<AliasTable> {
        let path = Self::file(dir);
        let mut table: AliasTable = match std::fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| anyhow::anyhow!("{} is not a valid alias table: {e}", path.display()))?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => AliasTable::default(),
            Err(e) => return Err(e.into()),
        };
        table.indices.retain(|index, aliases| keep(index) && !aliases.is_empty());
        Ok(table)
    }

    pub(crate) fn store(&self, dir: &Path) -> std::io::Result<()> {
        write_durably(&Self::file(dir), &serde_json::to_vec_pretty(self).map_err(std::io::Error::other)?)
    }

    /// The aliases of one index (empty when it has none).
    pub fn of_index(&self, index: &str) -> BTreeMap<String, AliasMetadata> {
        self.indices.get(index).cloned().unwrap_or_default()
    }

    /// One alias's definition on one index.
    pub fn get(&self, index: &str, alias: &str) -> Option<&AliasMetadata> {
        self.indices.get(index)?.get(alias)
    }

    /// An alias is hidden when its definitions say `is_hidden: true` (OpenSearch requires
    /// every index of a hidden alias to agree).
    pub fn is_hidden(&self, name: &str) -> bool {
        let mut metas = self.indices.values().filter_map(|aliases| aliases.get(name)).peekable();
        metas.peek().is_some() && metas.all(|m| m.is_hidden == Some(true))
    }

    /// Whether any index has this alias.
    pub fn is_alias(&self, name: &str) -> bool {
        self.indices.values().any(|a| a.contains_key(name))
    }

    /// Alias name → its indices (sorted), for index expressions.
    pub fn targets(&self) -> AliasTargets {
        let mut out = AliasTargets::new();
        for (index, aliases) in &self.indices {
            for alias in aliases.keys() {
                out.entry(alias.clone()).or_default().push(index.clone());
            }
        }
        out
    }

    /// Every `(alias, index, definition)`, sorted by alias then index.
    pub fn entries(&self) -> Vec<(String, String, AliasMetadata)> {
        let mut out: Vec<(String, String, AliasMetadata)> = self
            .indices
            .iter()
            .flat_map(|(index, aliases)| aliases.iter().map(move |(a, m)| (a.clone(), index.clone(), m.clone())))
            .collect();
        out.sort_by(|a, b| (&a.0, &a.1).cmp(&(&b.0, &b.1)));
        out
    }

    /// The index writes through `alias` go to, and the alias's routing for them: its write
    /// index, or its only index unless that one has `is_write_index: false`.
    pub fn write_index(&self, alias: &str) -> EngineResult<(String, Option<String>)> {
        let mut members: Vec<(&String, &AliasMetadata)> =
            self.indices.iter().filter_map(|(index, aliases)| aliases.get(alias).map(|m| (index, m))).collect();
        let chosen = match members.iter().position(|(_, m)| m.is_write_index == Some(true)) {
            Some(i) => Some(members.swap_remove(i)),
            None if members.len() == 1 && members[0].1.is_write_index != Some(false) => members.pop(),
            None => None,
        };
        chosen.map(|(index, m)| (index.clone(), m.index_routing.clone())).ok_or_else(|| {
            EngineError::IllegalArgument(format!(
                "no write index is defined for alias [{alias}]. The write index may be explicitly disabled using \
                 is_write_index=false or the alias points to multiple indices without one being designated as a write index"
            ))
        })
    }

    /// Drops every alias of a deleted index.
    pub(crate) fn remove_index(&mut self, index: &str) -> bool {
        self.indices.remove(index).is_some()
    }

    /// Applies the actions in order to a copy of the table and returns it with the indices
    /// `remove_index` deletes; `self` is unchanged, so a failing action changes nothing.
    pub(crate) fn apply(&self, actions: &[AliasAction], lookup: &dyn IndexLookup) -> EngineResult<(AliasTable, Vec<String>)> {
        let mut next = self.clone();
        let mut removed_indices = Vec::new();
        for action in actions {
            match action {
                AliasAction::Add { indices, aliases, meta } => {
                    let targets = lookup.concrete(&indices.join(","))?;
                    if targets.is_empty() {
                        return Err(EngineError::IndexNotFound { index: indices.join(",") });
                    }
                    for alias in aliases {
                        validate_alias_name(alias, |n| lookup.is_index(n))?;
                        for index in &targets {
                            next.indices.entry(index.clone()).or_default().insert(alias.clone(), meta.clone());
                        }
                    }
                }
                AliasAction::Remove { indices, aliases, must_exist } => {
                    let targets = lookup.concrete(&indices.join(","))?;
                    let mut missing = Vec::new();
                    for pattern in aliases {
                        let mut found = false;
                        for index in &targets {
                            if let Some(map) = next.indices.get_mut(index) {
                                let before = map.len();
                                map.retain(|a, _| !alias_matches(pattern, a));
                                found |= map.len() < before;
                            }
                        }
                        if !found {
                            missing.push(pattern.clone());
                        }
                    }
                    let fail = match must_exist {
                        Some(true) => !missing.is_empty(),
                        None => missing.len() == aliases.len(),
                        Some(false) => false,
                    };
                    if fail {
                        return Err(EngineError::AliasesNotFound { aliases: missing });
                    }
                }
                AliasAction::RemoveIndex { indices } => {
                    for expr in indices {
                        if names::is_pattern(expr) || expr == "_all" {
                            return Err(EngineError::IllegalArgument(format!(
                                "remove_index only accepts concrete index names, found [{expr}]"
                            )));
                        }
                    }
                    for index in lookup.concrete(&indices.join(","))? {
                        next.indices.remove(&index);
                        removed_indices.push(index);
                    }
                }
            }
        }
        next.indices.retain(|_, aliases| !aliases.is_empty());
        next.check_write_indices()?;
        Ok((next, removed_indices))
    }

    /// At most one write index per alias.
    fn check_write_indices(&self) -> EngineResult<()> {
        let mut writers: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for (index, aliases) in &self.indices {
            for (alias, meta) in aliases {
                if meta.is_write_index == Some(true) {
                    writers.entry(alias).or_default().push(index);
                }
            }
        }
        match writers.into_iter().find(|(_, indices)| indices.len() > 1) {
            Some((alias, indices)) => Err(EngineError::IllegalArgument(format!(
                "alias [{alias}] has more than one write index [{}]",
                indices.join(",")
            ))),
            None => Ok(()),
        }
    }

    /// `GET /_alias[/{names}]` over `indices`: each index with the aliases `names` (comma
    /// list of names/wildcards, `_all`; `None`: every alias) selects, and the concrete names
    /// that matched nothing. Without `names`, indices without aliases are listed too.
    pub fn select(&self, indices: &[String], names: Option<&str>) -> (BTreeMap<String, Map<String, Value>>, Vec<String>) {
        let patterns: Option<Vec<&str>> = names.map(|n| n.split(',').map(str::trim).filter(|p| !p.is_empty()).collect());
        let mut out = BTreeMap::new();
        let mut seen: Vec<&str> = Vec::new();
        for index in indices {
            let mut selected = Map::new();
            for (alias, meta) in self.indices.get(index).into_iter().flatten() {
                let hit = match &patterns {
                    None => true,
                    Some(ps) => ps.iter().any(|p| {
                        let hit = alias_matches(p, alias) && !(meta.is_hidden == Some(true) && names::is_pattern(p));
                        if hit && !seen.contains(p) {
                            seen.push(p);
                        }
                        hit
                    }),
                };
                if hit {
                    selected.insert(alias.clone(), meta.to_json());
                }
            }
            if patterns.is_none() || !selected.is_empty() {
                out.insert(index.clone(), selected);
            }
        }
        let missing = patterns
            .unwrap_or_default()
            .into_iter()
            .filter(|p| !names::is_pattern(p) && *p != "_all" && !seen.contains(p))
            .map(str::to_string)
            .collect();
        (out, missing)
    }
}

/// Whether an alias name matches one part of an alias expression (`_all`, `*`, wildcards).
pub fn alias_matches(pattern: &str, alias: &str) -> bool {
    pattern == "_all" || pattern == alias || (names::is_pattern(pattern) && names::matches(pattern, alias))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Indices(Vec<&'static str>);

    impl IndexLookup for Indices {
        fn concrete(&self, expr: &str) -> EngineResult<Vec<String>> {
            names::resolve(expr, self.0.iter().copied())
        }
        fn is_index(&self, name: &str) -> bool {
            self.0.contains(&name)
        }
    }

    fn add(index: &str, alias: &str, meta: AliasMetadata) -> AliasAction {
        AliasAction::Add { indices: vec![index.into()], aliases: vec![alias.into()], meta }
    }

    #[test]
    fn routing_defaults_and_overrides() {
        let m = AliasMetadata::parse(&json!({"routing": 5, "search_routing": "s"})).unwrap();
        assert_eq!((m.index_routing.as_deref(), m.search_routing.as_deref()), (Some("5"), Some("s")));
        assert!(AliasMetadata::parse(&json!({"abc": 1})).unwrap_err().to_string().contains("unknown field [abc]"));
    }

    #[test]
    fn actions_are_atomic() {
        let lookup = Indices(vec!["a", "b"]);
        let table = AliasTable::default();
        let (t, _) = table.apply(&[add("a", "x", AliasMetadata::default())], &lookup).unwrap();
        // The second action fails: nothing of the first one is applied.
        let err = t.apply(&[add("b", "y", AliasMetadata::default()), add("a", "b", AliasMetadata::default())], &lookup);
        assert!(matches!(err, Err(EngineError::InvalidAliasName { .. })));
        assert!(t.get("b", "y").is_none());
        assert_eq!(t.targets().get("x"), Some(&vec!["a".to_string()]));
    }

    #[test]
    fn write_index_rules() {
        let lookup = Indices(vec!["a", "b"]);
        let w = AliasMetadata { is_write_index: Some(true), ..Default::default() };
        let (t, _) = AliasTable::default().apply(&[add("a", "x", AliasMetadata::default())], &lookup).unwrap();
        assert_eq!(t.write_index("x").unwrap().0, "a");
        let (t, _) = t.apply(&[add("b", "x", AliasMetadata::default())], &lookup).unwrap();
        assert!(t.write_index("x").is_err());
        let (t, _) = t.apply(&[add("b", "x", w.clone())], &lookup).unwrap();
        assert_eq!(t.write_index("x").unwrap().0, "b");
        assert!(t.apply(&[add("a", "x", w)], &lookup).is_err());
    }

    #[test]
    fn remove_must_exist() {
        let lookup = Indices(vec!["a"]);
        let (t, _) = AliasTable::default().apply(&[add("a", "x", AliasMetadata::default())], &lookup).unwrap();
        let remove = |aliases: &[&str], must_exist| AliasAction::Remove {
            indices: vec!["a".into()],
            aliases: aliases.iter().map(|s| s.to_string()).collect(),
            must_exist,
        };
        assert!(t.apply(&[remove(&["x", "nope"], None)], &lookup).is_ok());
        assert!(t.apply(&[remove(&["x", "nope"], Some(true))], &lookup).is_err());
        assert!(t.apply(&[remove(&["nope"], None)], &lookup).is_err());
        assert!(t.apply(&[remove(&["nope"], Some(false))], &lookup).is_ok());
    }
}
