//! Two read-only APIs about fields and queries: `_field_caps` (each field's type per index,
//! whether it is searchable and aggregatable) and `_validate/query` (does the query parse and
//! fit every target index's mapping).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::execute::SearchTarget;
use super::query_phase::ShardSnapshot;
use crate::mapping::FieldType;
use crate::query_ast::{QueryAst, QueryError, wildcard_glob_match};

/// Metadata fields `_field_caps` reports for `*`, as OpenSearch does.
const METADATA: &[(&str, &str, bool, bool)] = &[
    ("_id", "_id", true, true),
    ("_index", "_index", true, true),
    ("_routing", "_routing", true, false),
    ("_source", "_source", false, false),
    ("_seq_no", "_seq_no", true, true),
    ("_version", "_version", false, false),
    ("_field_names", "_field_names", true, false),
    ("_ignored", "_ignored", true, false),
];

fn caps_of(ty: FieldType) -> (bool, bool) {
    match ty {
        FieldType::Text | FieldType::MatchOnlyText => (true, false),
        FieldType::Object | FieldType::Nested => (false, false),
        FieldType::Binary => (false, false),
        FieldType::GeoPoint => (true, true),
        _ => (true, true),
    }
}

/// `_field_caps` over `targets` for the `fields` patterns (`*` wildcards).
pub fn field_caps(targets: &[SearchTarget], patterns: &[String]) -> Value {
    let wanted = |name: &str| patterns.iter().any(|p| p == name || wildcard_glob_match(p, name));
    // field → type → (indices, searchable per index, aggregatable per index)
    let mut caps: BTreeMap<String, BTreeMap<String, Vec<(String, bool, bool)>>> = BTreeMap::new();
    let mut indices: Vec<String> = Vec::new();
    for target in targets {
        let index = target.index.name().to_string();
        if indices.contains(&index) {
            continue;
        }
        indices.push(index.clone());
        let mapping = target.index.mapping();
        for f in mapping.paths() {
            if !wanted(&f.path) {
                continue;
            }
            let (searchable, aggregatable) = caps_of(f.ty);
            caps.entry(f.path.clone()).or_default().entry(f.ty.name().to_string()).or_default().push((
                index.clone(),
                searchable,
                aggregatable,
            ));
        }
        for (name, ty, searchable, aggregatable) in METADATA {
            if wanted(name) {
                caps.entry(name.to_string()).or_default().entry(ty.to_string()).or_default().push((
                    index.clone(),
                    *searchable,
                    *aggregatable,
                ));
            }
        }
    }
    let mut fields = Map::new();
    for (name, by_type) in caps {
        let several_types = by_type.len() > 1;
        let mut types = Map::new();
        for (ty, per_index) in by_type {
            let searchable = per_index.iter().all(|p| p.1);
            let aggregatable = per_index.iter().all(|p| p.2);
            let mut entry = Map::new();
            entry.insert("type".into(), json!(ty));
            entry.insert("searchable".into(), json!(searchable));
            entry.insert("aggregatable".into(), json!(aggregatable));
            if several_types {
                entry.insert("indices".into(), json!(per_index.iter().map(|p| &p.0).collect::<Vec<_>>()));
            }
            let non = |pick: fn(&(String, bool, bool)) -> bool| -> Vec<&String> {
                per_index.iter().filter(|p| !pick(p)).map(|p| &p.0).collect()
            };
            if !searchable && per_index.iter().any(|p| p.1) {
                entry.insert("non_searchable_indices".into(), json!(non(|p| p.1)));
            }
            if !aggregatable && per_index.iter().any(|p| p.2) {
                entry.insert("non_aggregatable_indices".into(), json!(non(|p| p.2)));
            }
            types.insert(ty, Value::Object(entry));
        }
        fields.insert(name, Value::Object(types));
    }
    json!({"indices": indices, "fields": fields})
}

/// `_validate/query`: `Ok` when `query` lowers on every shard of every target, else the
/// first error.
pub fn validate_query(targets: &[SearchTarget], query: &QueryAst) -> Result<(), QueryError> {
    for target in targets {
        let Some(searcher) = target.index.shard_searchers().into_iter().next() else { continue };
        let shard = ShardSnapshot::new(&target.index, 0, searcher, None, target.filter.clone());
        shard.lower(query)?;
    }
    Ok(())
}
