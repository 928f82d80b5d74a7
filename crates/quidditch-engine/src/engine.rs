//! The engine: the set of open indices, their lifecycle, and the background committer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Weak};
use std::time::Duration;

use parking_lot::{Condvar, Mutex, RwLock};
use serde_json::Value;

use crate::EngineConfig;
use crate::alias::{AliasAction, AliasMetadata, AliasTable, IndexLookup};
use crate::error::{EngineError, EngineResult};
use crate::index::{Index, IndexIdentity, IndexSettings, MappingGrowth, WriteReplication, WriterSlots};
use crate::mapping::Mapping;
use crate::names::{self, ExpandWildcards, Reached};
use crate::query_ast::{BoolQuery, QueryAst};
use crate::query_dsl;
use crate::search::SearchTarget;
use crate::template::{ResolvedTemplate, TemplateStore};

/// All indices of one node.
pub struct Engine {
    dir: PathBuf,
    config: EngineConfig,
    udfs: Arc<quidditch_udf::UdfRegistry>,
    indices: RwLock<BTreeMap<String, Arc<Index>>>,
    /// Indices whose files exist but failed to open at start-up (name → reason). Their
    /// names stay reserved (nothing overwrites their files); the API reports them `red`
    /// with the reason, and deleting them is allowed.
    broken: RwLock<BTreeMap<String, String>>,
    /// Every alias (`aliases.json`); changed only under `admin`.
    aliases: RwLock<AliasTable>,
    /// Every index template (`templates.json`); changed only under `admin`.
    templates: RwLock<TemplateStore>,
    /// Serialises create/delete and alias changes so a name is never half-created.
    admin: Mutex<()>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    committer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Open scroll contexts (each pins its shards' searchers).
    scrolls: crate::search::ScrollRegistry,
    /// The node's budget of open index writers (`max_open_writers`).
    writer_slots: Arc<WriterSlots>,
    pits: crate::search::PitRegistry,
    /// The cluster-level search limits (`_cluster/settings`).
    search_limits: crate::search::SearchLimits,
    /// Cluster mode: given to every index, open and future (see [`MappingGrowth`]).
    mapping_growth: RwLock<Option<Arc<dyn MappingGrowth>>>,
    /// Cluster mode: given to every index, open and future (see [`WriteReplication`]).
    write_replication: RwLock<Option<Arc<dyn WriteReplication>>>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine").field("dir", &self.dir).finish()
    }
}

impl Engine {
    /// Opens every index under `dir` (replaying their WALs) and starts the background
    /// committer.
    /// Cluster mode: mappings grown by dynamic fields, in every index, are committed through
    /// `growth` before the writes that grew them are logged.
    pub fn set_mapping_growth(&self, growth: Arc<dyn MappingGrowth>) {
        for index in self.indices.read().values() {
            index.set_mapping_growth(growth.clone());
        }
        *self.mapping_growth.write() = Some(growth);
    }

    /// Cluster mode: the write batches of every index, open and future, are sent to their
    /// shards' other copies through `replication` before they are acknowledged.
    pub fn set_write_replication(&self, replication: Arc<dyn WriteReplication>) {
        for index in self.indices.read().values() {
            index.set_write_replication(replication.clone());
        }
        *self.write_replication.write() = Some(replication);
    }

    pub fn open(
        dir: &Path,
        config: EngineConfig,
        udfs: Arc<quidditch_udf::UdfRegistry>,
    ) -> anyhow::Result<Arc<Engine>> {
        std::fs::create_dir_all(dir)?;
        let writer_slots = WriterSlots::new(config.max_open_writers());
        let mut indices = BTreeMap::new();
        let mut broken = BTreeMap::new();
        for entry in std::fs::read_dir(dir)? {
            let entry = entry?;
            if !entry.file_type()?.is_dir() {
                continue;
            }
            let Some(name) = entry.file_name().to_str().map(str::to_string) else { continue };
            let path = entry.path();
            if !path.join("meta.json").exists() {
                tracing::warn!(index = %name, "removing aborted index creation (no meta.json)");
                let _ = std::fs::remove_dir_all(&path);
                continue;
            }
            match Index::open(&path, &name, &config, &writer_slots) {
                Ok(index) => {
                    indices.insert(name, index);
                }
                Err(e) => {
                    // One damaged index must not keep the node (and every other index) down.
                    // Its files stay untouched; the name is reserved so nothing overwrites them.
                    tracing::error!(index = %name, "cannot open index, leaving it unavailable: {e:#}");
                    broken.insert(name, format!("{e:#}"));
                }
            }
        }
        let aliases = AliasTable::load(dir, |index| indices.contains_key(index) || broken.contains_key(index))?;
        let templates = TemplateStore::load(dir)?;
        tracing::info!(indices = indices.len(), "engine opened");
        let engine = Arc::new(Engine {
            dir: dir.to_path_buf(),
            config,
            udfs,
            indices: RwLock::new(indices),
            broken: RwLock::new(broken),
            aliases: RwLock::new(aliases),
            templates: RwLock::new(templates),
            admin: Mutex::new(()),
            stop: Arc::new((Mutex::new(false), Condvar::new())),
            committer: Mutex::new(None),
            scrolls: crate::search::ScrollRegistry::default(),
            writer_slots,
            pits: crate::search::PitRegistry::default(),
            search_limits: crate::search::SearchLimits::default(),
            mapping_growth: RwLock::new(None),
            write_replication: RwLock::new(None),
        });
        let handle = spawn_committer(Arc::downgrade(&engine), engine.stop.clone(), engine.config.refresh_interval());
        *engine.committer.lock() = Some(handle);
        Ok(engine)
    }

    /// Offline recovery of an index whose write-ahead log is corrupted (it failed to open and
    /// is `red`): rewrites `indices_dir/<name>/wal` keeping every intact record (see
    /// [`crate::wal::salvage`]). Run while the server is stopped, or restart it afterwards: the
    /// index opens at the next start, with every record that survived.
    /// Returns one report per shard log (`shards/<n>/wal`, or `wal` of a pre-shards index).
    pub fn salvage_wal(indices_dir: &Path, name: &str) -> anyhow::Result<Vec<(PathBuf, crate::wal::SalvageReport)>> {
        names::validate_index_name(name)?;
        let dir = indices_dir.join(name);
        anyhow::ensure!(dir.join("meta.json").exists(), "no index [{name}] under {}", indices_dir.display());
        let mut logs = vec![dir.join("wal")];
        if let Ok(shards) = std::fs::read_dir(dir.join("shards")) {
            for shard in shards.flatten() {
                logs.push(shard.path().join("wal"));
            }
        }
        logs.retain(|wal| wal.is_dir());
        logs.sort();
        let mut reports = Vec::new();
        for wal in logs {
            let report = crate::wal::salvage(&wal)?;
            reports.push((wal, report));
        }
        Ok(reports)
    }

    /// Stops the committer and commits every index (clean shutdown: no WAL replay needed at
    /// the next start).
    pub fn shutdown(&self) -> anyhow::Result<()> {
        {
            let (lock, cv) = &*self.stop;
            *lock.lock() = true;
            cv.notify_all();
        }
        if let Some(h) = self.committer.lock().take() {
            let _ = h.join();
        }
        for index in self.list() {
            index.shutdown().map_err(|e| anyhow::anyhow!("commit of [{}] failed: {e}", index.name()))?;
        }
        Ok(())
    }

    /// Open scroll contexts.
    pub fn scrolls(&self) -> &crate::search::ScrollRegistry {
        &self.scrolls
    }

    /// The node's open points in time.
    pub fn pits(&self) -> &crate::search::PitRegistry {
        &self.pits
    }

    /// The cluster-level search limits every search reads (`_cluster/settings` sets them).
    pub fn search_limits(&self) -> &crate::search::SearchLimits {
        &self.search_limits
    }

    /// The UDF registry, for UDF query clauses.
    pub fn udfs(&self) -> &Arc<quidditch_udf::UdfRegistry> {
        &self.udfs
    }

    /// Engine settings.
    pub fn config(&self) -> &EngineConfig {
        &self.config
    }

    /// The open index with this exact name; 503 `IndexUnavailable` if it failed to open,
    /// else 404 `index_not_found_exception`.
    pub fn index(&self, name: &str) -> Result<Arc<Index>, EngineError> {
        if let Some(index) = self.indices.read().get(name) {
            return Ok(index.clone());
        }
        Err(self.missing(name))
    }

    /// The error for a concrete name that is not open.
    fn missing(&self, name: &str) -> EngineError {
        match self.broken.read().get(name) {
            Some(reason) => EngineError::IndexUnavailable { index: name.to_string(), reason: reason.clone() },
            None => EngineError::IndexNotFound { index: name.to_string() },
        }
    }

    /// Indices that exist on disk but failed to open: `(name, reason)`, sorted by name.
    pub fn unavailable(&self) -> Vec<(String, String)> {
        self.broken.read().iter().map(|(n, r)| (n.clone(), r.clone())).collect()
    }

    /// The unavailable indices an expression names (concrete names, wildcards, `_all`).
    pub fn resolve_unavailable(&self, expr: &str) -> Vec<(String, String)> {
        let broken = self.broken.read();
        let names = expr.trim();
        broken
            .iter()
            .filter(|(n, _)| {
                names.is_empty()
                    || names.split(',').map(str::trim).any(|p| p == "_all" || p == n.as_str() || (names::is_pattern(p) && names::matches(p, n)))
            })
            .map(|(n, r)| (n.clone(), r.clone()))
            .collect()
    }

    /// Resolves an index expression: comma lists, `*`/`?` wildcards, `_all` (or empty) for
    /// every index, `-name` exclusions after a wildcard. A missing concrete name is a 404; a
    /// wildcard that matches nothing contributes nothing. Sorted by name for `_all`/wildcards,
    /// request order otherwise.
    /// Alias names stand for their indices.
    pub fn resolve_indices(&self, expr: &str) -> Result<Vec<Arc<Index>>, EngineError> {
        Ok(self.resolve_reached(expr)?.into_iter().map(|(index, _)| index).collect())
    }

    /// [`Engine::resolve_indices`] with how each index was reached (directly or through
    /// which aliases).
    fn resolve_reached(&self, expr: &str) -> Result<Vec<(Arc<Index>, Reached)>, EngineError> {
        self.resolve_reached_expanding(expr, ExpandWildcards::OPEN_CLOSED)
    }

    /// [`Engine::resolve_indices`] with `expand_wildcards`: what wildcards and `_all` reach.
    /// (The default of the other resolvers is open and closed indices, not hidden ones.)
    pub fn resolve_indices_expanding(&self, expr: &str, expand: ExpandWildcards) -> Result<Vec<Arc<Index>>, EngineError> {
        Ok(self.resolve_reached_expanding(expr, expand)?.into_iter().map(|(index, _)| index).collect())
    }

    fn resolve_reached_expanding(&self, expr: &str, expand: ExpandWildcards) -> Result<Vec<(Arc<Index>, Reached)>, EngineError> {
        let map = self.indices.read();
        let existing: Vec<&str> = map.keys().map(String::as_str).collect();
        let alias_table = self.aliases.read();
        let targets = alias_table.targets();
        let index_state = |name: &str| map.get(name).map_or((false, false), |i| (i.is_closed(), i.is_hidden()));
        let alias_hidden = |name: &str| alias_table.is_hidden(name);
        let filter = names::WildcardFilter { expand, index_state: &index_state, alias_hidden: &alias_hidden };
        let reached = names::resolve_expanding(expr, &existing, &targets, &filter).map_err(|e| match e {
            EngineError::IndexNotFound { index } => self.missing(&index),
            other => other,
        })?;
        Ok(reached.into_iter().filter_map(|(n, how)| map.get(&n).map(|i| (i.clone(), how))).collect())
    }

    /// Concrete indices only (no aliases): what index deletion and alias actions act on.
    fn resolve_concrete(&self, expr: &str) -> Result<Vec<Arc<Index>>, EngineError> {
        let map = self.indices.read();
        let names = names::resolve(expr, map.keys().map(String::as_str)).map_err(|e| match e {
            EngineError::IndexNotFound { index } if self.aliases.read().is_alias(&index) => EngineError::IllegalArgument(format!(
                "The provided expression [{index}] matches an alias, specify the corresponding concrete indices instead."
            )),
            EngineError::IndexNotFound { index } => self.missing(&index),
            other => other,
        })?;
        Ok(names.iter().filter_map(|n| map.get(n).cloned()).collect())
    }

    /// `indices_boost`: gives each target the boost of the first entry whose index name,
    /// alias or pattern reaches its index. An entry that names no index is
    /// `index_not_found`, as in OpenSearch.
    pub fn apply_indices_boost(&self, targets: &mut [SearchTarget], boosts: &[(String, f32)]) -> EngineResult<()> {
        if boosts.is_empty() {
            return Ok(());
        }
        let mut reached = Vec::with_capacity(boosts.len());
        for (expr, boost) in boosts {
            let names: Vec<String> = self.resolve_reached(expr)?.into_iter().map(|(i, _)| i.name().to_string()).collect();
            reached.push((names, *boost));
        }
        for target in targets {
            if let Some((_, boost)) = reached.iter().find(|(names, _)| names.iter().any(|n| n == target.index.name())) {
                target.boost = *boost;
            }
        }
        Ok(())
    }

    /// What a search over `expr` reads: each index with the filter and routing of the
    /// aliases it was reached through. An index named directly (or reached through any
    /// alias without a filter) is searched unfiltered, as in OpenSearch; several filtered
    /// aliases to one index combine with OR.
    /// A closed index is an error when named (or aliased) by name, skipped when a wildcard
    /// reached it.
    pub fn resolve_search(&self, expr: &str) -> EngineResult<Vec<SearchTarget>> {
        let reached = self.resolve_reached(expr)?;
        let aliases = self.aliases.read();
        let named: Vec<&str> = expr.split(',').map(str::trim).collect();
        let mut out = Vec::with_capacity(reached.len());
        for (index, how) in reached {
            if index.is_closed() {
                let by_name = match &how {
                    Reached::Directly => named.contains(&index.name()),
                    Reached::ThroughAliases(through) => through.iter().any(|a| named.contains(&a.as_str())),
                };
                if by_name {
                    return Err(EngineError::IndexClosed { index: index.name().to_string() });
                }
                continue;
            }
            let Reached::ThroughAliases(through) = how else {
                out.push(SearchTarget { index, filter: None, routing: None, boost: 1.0 });
                continue;
            };
            let metas: Vec<&AliasMetadata> = through.iter().filter_map(|a| aliases.get(index.name(), a)).collect();
            let filter = if metas.iter().all(|m| m.filter.is_some()) {
                let filters = metas
                    .iter()
                    .filter_map(|m| m.filter.as_ref())
                    .map(query_dsl::parse_query)
                    .collect::<Result<Vec<QueryAst>, _>>()?;
                Some(match <[QueryAst; 1]>::try_from(filters) {
                    Ok([one]) => one,
                    Err(filters) => QueryAst::Bool(BoolQuery { should: filters, ..BoolQuery::default() }),
                })
            } else {
                None
            };
            let routing = if metas.iter().all(|m| m.search_routing.is_some()) {
                let mut values: Vec<String> = Vec::new();
                for r in metas.iter().filter_map(|m| m.search_routing.as_deref()) {
                    for v in r.split(',').map(str::trim).filter(|v| !v.is_empty()) {
                        if !values.iter().any(|x| x == v) {
                            values.push(v.to_string());
                        }
                    }
                }
                Some(values)
            } else {
                None
            };
            out.push(SearchTarget { index, filter, routing, boost: 1.0 });
        }
        Ok(out)
    }

    /// `POST /{expr}/_close` and `_open`: closes or reopens the concrete indices the
    /// expression names; returns their names.
    pub fn set_closed(&self, expr: &str, closed: bool) -> EngineResult<Vec<String>> {
        let _admin = self.admin.lock();
        let targets = self.resolve_concrete(expr)?;
        for index in &targets {
            index.set_closed(closed)?;
            tracing::info!(index = index.name(), closed, "index state changed");
        }
        Ok(targets.iter().map(|i| i.name().to_string()).collect())
    }

    /// A snapshot of the alias table.
    pub fn aliases(&self) -> AliasTable {
        self.aliases.read().clone()
    }

    /// Applies `POST /_aliases` actions atomically (all or none, durably); indices named by
    /// `remove_index` are deleted in the same step.
    pub fn update_aliases(&self, actions: &[AliasAction]) -> EngineResult<()> {
        let _admin = self.admin.lock();
        let current = self.aliases.read().clone();
        let (next, removed) = current.apply(actions, &EngineIndices(self))?;
        next.store(&self.dir)?;
        *self.aliases.write() = next;
        for name in removed {
            if let Some(index) = self.indices.write().remove(&name) {
                self.remove_index_files(&index);
            }
        }
        Ok(())
    }

    /// The index single-document operations on `name` use: the index itself, or the only
    /// index of an alias (reads and deletes through an alias need exactly one).
    pub fn single_index(&self, name: &str) -> EngineResult<Arc<Index>> {
        if let Some(index) = self.indices.read().get(name) {
            return Ok(index.clone());
        }
        let targets = self.aliases.read().targets();
        match targets.get(name).map(Vec::as_slice) {
            Some([one]) => self.index(one),
            Some(many) => Err(EngineError::IllegalArgument(format!(
                "alias [{name}] has more than one index associated with it [{}], can't execute a single index op",
                many.join(", ")
            ))),
            None => Err(self.missing(name)),
        }
    }

    /// Where a write to `name` goes: an alias's write index (with the alias's index routing,
    /// used when the write has none), else the index of that name, created on first write.
    /// `require_alias`: `name` must be an alias.
    pub fn write_target(&self, name: &str, require_alias: bool) -> EngineResult<(Arc<Index>, Option<String>)> {
        let aliases = self.aliases.read();
        if aliases.is_alias(name) {
            let (index, routing) = aliases.write_index(name)?;
            drop(aliases);
            return Ok((self.index(&index)?, routing));
        }
        drop(aliases);
        if require_alias {
            return Err(EngineError::AliasRequired { index: name.to_string() });
        }
        Ok((self.index_or_create(name)?, None))
    }

    /// Like [`Engine::resolve_indices`], but a missing concrete name is skipped instead of
    /// failing (`ignore_unavailable=true`).
    pub fn resolve_indices_lenient(&self, expr: &str) -> Vec<Arc<Index>> {
        if let Ok(all) = self.resolve_indices(expr) {
            return all;
        }
        let map = self.indices.read();
        let existing: Vec<&str> = map.keys().map(String::as_str).collect();
        let kept: Vec<&str> = expr
            .split(',')
            .map(str::trim)
            .filter(|p| names::is_pattern(p) || p.starts_with('-') || *p == "_all" || existing.contains(p))
            .collect();
        // Nothing left is nothing, not the empty expression (which means every index).
        if kept.is_empty() {
            return Vec::new();
        }
        let names = names::resolve(&kept.join(","), existing.iter().copied()).unwrap_or_default();
        names.iter().filter_map(|n| map.get(n).cloned()).collect()
    }

    /// Every index, sorted by name.
    pub fn list(&self) -> Vec<Arc<Index>> {
        self.indices.read().values().cloned().collect()
    }

    /// `PUT /{index}` with an optional body `{"settings": …, "mappings": …, "aliases": …}`,
    /// on top of what the matching templates give.
    pub fn create_index(&self, name: &str, body: Option<&Value>) -> EngineResult<Arc<Index>> {
        names::validate_index_name(name)?;
        let requested = match body {
            None | Some(Value::Null) => ResolvedTemplate::default(),
            Some(Value::Object(obj)) => {
                for key in obj.keys() {
                    if !matches!(key.as_str(), "settings" | "mappings" | "aliases") {
                        return Err(EngineError::Parse(format!(
                            "unknown key [{key}] for create index"
                        )));
                    }
                }
                let mut aliases = Vec::new();
                match obj.get("aliases") {
                    None | Some(Value::Null) => {}
                    Some(Value::Object(defs)) => {
                        for (alias, def) in defs {
                            aliases.push((alias.clone(), AliasMetadata::parse(def)?));
                        }
                    }
                    Some(other) => return Err(EngineError::Parse(format!("[aliases] must be an object, found [{other}]"))),
                }
                ResolvedTemplate {
                    settings: IndexSettings::parse(obj.get("settings").unwrap_or(&Value::Null))?,
                    mapping: Mapping::parse(obj.get("mappings").unwrap_or(&Value::Null))?,
                    aliases,
                    applied: Vec::new(),
                }
            }
            Some(_) => return Err(EngineError::Parse("request body must be a JSON object".into())),
        };
        let (settings, mapping, aliases) = self.with_templates(name, requested)?;
        self.create_with(name, settings, mapping, aliases, None)
    }

    /// Cluster mode: creates the index another node created, as the cluster recorded it
    /// (its uuid and creation date; settings and mappings as resolved there, so templates are
    /// not applied again).
    pub fn create_replicated(
        &self,
        name: &str,
        identity: IndexIdentity,
        settings: IndexSettings,
        mappings: &Value,
    ) -> EngineResult<Arc<Index>> {
        names::validate_index_name(name)?;
        let mapping = Mapping::parse(mappings)?;
        self.create_with(name, settings, mapping, Vec::new(), Some(identity))
    }

    /// The request's settings, mappings and aliases over the templates matching `name`,
    /// checked (mapping limits, alias names) before anything is created.
    fn with_templates(
        &self,
        name: &str,
        requested: ResolvedTemplate,
    ) -> EngineResult<(IndexSettings, Mapping, Vec<(String, AliasMetadata)>)> {
        let base = self.templates.read().resolve(name)?;
        let settings = base.settings.overlaid(&requested.settings);
        let mapping = base.mapping.merged(&requested.mapping)?;
        let mut aliases = base.aliases;
        for (alias, meta) in requested.aliases {
            aliases.retain(|(a, _)| *a != alias);
            aliases.push((alias, meta));
        }
        settings.mapping_limits().check(&mapping)?;
        let analysis = crate::analysis::AnalysisRegistry::from_settings(settings.analysis().as_ref(), settings.similarity().as_ref())?;
        mapping.check_analyzers(&analysis)?;
        for (alias, _) in &aliases {
            crate::alias::validate_alias_name(alias, |n| n == name || self.indices.read().contains_key(n))?;
        }
        Ok((settings, mapping, aliases))
    }

    /// A snapshot of the templates.
    pub fn templates(&self) -> TemplateStore {
        self.templates.read().clone()
    }

    /// Replaces the templates with what `change` makes of them (checked there), durably.
    pub fn update_templates(&self, change: impl FnOnce(&TemplateStore) -> EngineResult<TemplateStore>) -> EngineResult<()> {
        let _admin = self.admin.lock();
        let current = self.templates.read().clone();
        let next = change(&current)?;
        next.store(&self.dir)?;
        *self.templates.write() = next;
        Ok(())
    }

    /// What an index of this name would get (`_simulate_index`): templates only.
    pub fn simulate_index(&self, name: &str) -> EngineResult<(ResolvedTemplate, Vec<Value>)> {
        let templates = self.templates.read();
        Ok((templates.resolve(name)?, templates.overlapping(name)))
    }

    /// Creates the index, then (still under the admin lock) points its aliases at it.
    fn create_with(
        &self,
        name: &str,
        settings: IndexSettings,
        mapping: Mapping,
        aliases: Vec<(String, AliasMetadata)>,
        identity: Option<IndexIdentity>,
    ) -> EngineResult<Arc<Index>> {
        let _admin = self.admin.lock();
        if self.aliases.read().is_alias(name) {
            return Err(EngineError::InvalidIndexName { index: name.to_string(), reason: "already exists as alias".into() });
        }
        if let Some(existing) = self.indices.read().get(name) {
            return Err(EngineError::IndexAlreadyExists {
                index: name.to_string(),
                uuid: existing.uuid().to_string(),
            });
        }
        if let Some(reason) = self.broken.read().get(name) {
            return Err(EngineError::IndexUnavailable { index: name.to_string(), reason: reason.clone() });
        }
        let dir = self.dir.join(name);
        if dir.exists() {
            std::fs::remove_dir_all(&dir)?;
        }
        let index = Index::create_as(&dir, name, settings, mapping, identity, &self.config, &self.writer_slots).map_err(|e| {
            let _ = std::fs::remove_dir_all(&dir);
            EngineError::Internal(e)
        })?;
        if let Some(growth) = self.mapping_growth.read().clone() {
            index.set_mapping_growth(growth);
        }
        if let Some(replication) = self.write_replication.read().clone() {
            index.set_write_replication(replication);
        }
        self.indices.write().insert(name.to_string(), index.clone());
        if !aliases.is_empty() {
            let actions: Vec<AliasAction> = aliases
                .into_iter()
                .map(|(alias, meta)| AliasAction::Add { indices: vec![name.to_string()], aliases: vec![alias], meta })
                .collect();
            let current = self.aliases.read().clone();
            let applied = current.apply(&actions, &EngineIndices(self)).and_then(|(next, _)| {
                next.store(&self.dir)?;
                Ok(next)
            });
            match applied {
                Ok(next) => *self.aliases.write() = next,
                Err(e) => {
                    // The aliases were checked before; if they still fail, no half-made index.
                    if let Some(index) = self.indices.write().remove(name) {
                        self.remove_index_files(&index);
                    }
                    return Err(e);
                }
            }
        }
        tracing::info!(index = name, "created index");
        Ok(index)
    }

    /// The index to write to, created with default settings if it does not exist
    /// (auto-create on first write).
    pub fn index_or_create(&self, name: &str) -> EngineResult<Arc<Index>> {
        if let Some(index) = self.indices.read().get(name) {
            return Ok(index.clone());
        }
        match self.create_with_checked(name) {
            Ok(index) => Ok(index),
            // Lost a race with another creator: use theirs.
            Err(EngineError::IndexAlreadyExists { .. }) => self.index(name),
            Err(e) => Err(e),
        }
    }

    fn create_with_checked(&self, name: &str) -> EngineResult<Arc<Index>> {
        names::validate_index_name(name)?;
        let (settings, mapping, aliases) = self.with_templates(name, ResolvedTemplate::default())?;
        self.create_with(name, settings, mapping, aliases, None)
    }

    /// `DELETE /{expr}`: deletes every index the expression resolves to; returns their names.
    pub fn delete_indices(&self, expr: &str) -> EngineResult<Vec<String>> {
        let _admin = self.admin.lock();
        let mut deleted = Vec::new();
        // Indices that failed to open can be deleted like any other (their files go).
        let unavailable = self.resolve_unavailable(expr);
        for (name, _) in &unavailable {
            let dir = self.dir.join(name);
            let _ = std::fs::remove_file(dir.join("meta.json"));
            if let Err(e) = std::fs::remove_dir_all(&dir) {
                tracing::warn!(index = %name, "removing index directory: {e}");
            }
            self.broken.write().remove(name);
            tracing::info!(index = %name, "deleted unavailable index");
            deleted.push(name.clone());
        }
        // The rest of the expression, without the unavailable names it spelled out.
        let rest: Vec<&str> = expr
            .split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty() && !unavailable.iter().any(|(n, _)| n == p))
            .collect();
        let targets = if rest.is_empty() && !deleted.is_empty() { Vec::new() } else { self.resolve_concrete(&rest.join(","))? };
        if targets.is_empty() && deleted.is_empty() && !names::is_pattern(expr) && expr != "_all" {
            return Err(EngineError::IndexNotFound { index: expr.to_string() });
        }
        for index in targets {
            self.indices.write().remove(index.name());
            self.pits.forget_index(&index);
            self.remove_index_files(&index);
            deleted.push(index.name().to_string());
        }
        // After the files: a crash in between leaves entries of a missing index, which the
        // next start drops; the other order could lose the aliases of an index that stays.
        let mut aliases = self.aliases.read().clone();
        if deleted.iter().fold(false, |changed, name| aliases.remove_index(name) | changed) {
            aliases.store(&self.dir)?;
            *self.aliases.write() = aliases;
        }
        Ok(deleted)
    }

    /// Closes a deleted index (already out of `indices`) and removes its directory.
    fn remove_index_files(&self, index: &Index) {
        index.close_for_delete();
        // meta.json first: a crash mid-delete then looks like an aborted creation and is
        // cleaned up at start-up, instead of a half-deleted index that fails to open.
        let _ = std::fs::remove_file(index.dir().join("meta.json"));
        if let Err(e) = std::fs::remove_dir_all(index.dir()) {
            tracing::warn!(index = index.name(), "removing index directory: {e}");
        }
        tracing::info!(index = index.name(), "deleted index");
    }

    /// Index writers open now (each costs threads and indexing memory; see `max_open_writers`).
    pub fn open_writers(&self) -> usize {
        self.writer_slots.open_count()
    }

    /// Commits every dirty index and closes writers idle for `writer_idle_close_ms`
    /// (background committer tick).
    fn commit_dirty(&self) {
        let idle = Duration::from_millis(self.config.writer_idle_close_ms);
        for index in self.list() {
            if let Err(e) = index.refresh_if_dirty() {
                tracing::error!(index = index.name(), "background commit failed: {e}");
            }
            index.close_idle_writers(idle);
        }
    }
}

/// The engine's indices as alias actions see them.
struct EngineIndices<'a>(&'a Engine);

impl IndexLookup for EngineIndices<'_> {
    fn concrete(&self, expr: &str) -> EngineResult<Vec<String>> {
        Ok(self.0.resolve_concrete(expr)?.iter().map(|i| i.name().to_string()).collect())
    }

    fn is_index(&self, name: &str) -> bool {
        self.0.indices.read().contains_key(name) || self.0.broken.read().contains_key(name)
    }
}

fn spawn_committer(
    engine: Weak<Engine>,
    stop: Arc<(Mutex<bool>, Condvar)>,
    interval: Duration,
) -> std::thread::JoinHandle<()> {
    std::thread::Builder::new()
        .name("quidditch-committer".into())
        .spawn(move || {
            loop {
                {
                    let (lock, cv) = &*stop;
                    let mut stopped = lock.lock();
                    if *stopped {
                        return;
                    }
                    cv.wait_for(&mut stopped, interval);
                    if *stopped {
                        return;
                    }
                }
                let Some(engine) = engine.upgrade() else { return };
                // A panic in one tick (a bug) must not stop future commits.
                let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| engine.commit_dirty()));
                if r.is_err() {
                    tracing::error!("background commit panicked");
                }
            }
        })
        .expect("spawn committer thread")
}
