//! `filter`, `filters` and `nested` aggregations (top level). tantivy's filter aggregation
//! takes a tantivy query string or a typetag-serialized builder, neither of which carries an
//! index mapping; so Quidditch runs each filter as its own pass: `query AND filter`, counted,
//! with the sub-aggregations collected by tantivy over that document set. A `nested`
//! aggregation is one such pass over the hidden documents of its path whose root document
//! matches the query (`query_ast::nested_children_of`).

use serde_json::{Map, Value, json};
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;

use super::aggregations::PreparedAggs;
use crate::query_ast::{BoolQuery, QueryAst, QueryError};
use crate::query_dsl::parse_query;

/// One top-level `filter`/`filters` aggregation.
pub(crate) struct FilterAggPlan {
    pub name: String,
    /// `None` key: a single `filter`; otherwise the `filters` bucket names (or positions).
    pub filters: Vec<(Option<String>, QueryAst)>,
    /// `filters` given as an array: buckets are returned as an array.
    pub anonymous: bool,
    /// A `nested` aggregation over this path's nested objects (one bucket, no filter).
    pub nested_path: Option<String>,
    pub sub: Option<Box<PreparedAggs>>,
    pub meta: Option<Value>,
    /// Per filter: matching documents and sub-aggregation results, summed over indices.
    pub counts: Vec<u64>,
    pub sub_results: Vec<Option<IntermediateAggregationResults>>,
    /// Per filter: fields shown in its bucket before `doc_count` (a `geo_distance` ring's
    /// `key`, `from`, `to`); empty for `filter`/`filters`.
    pub bucket_fields: Vec<Map<String, Value>>,
    /// The type shown under `typed_keys` when it is not `filter`/`filters`/`nested`.
    pub typed_name: Option<&'static str>,
}

fn bad(reason: impl Into<String>) -> QueryError {
    QueryError::parsing(reason)
}

/// Takes the top-level `filter`/`filters` aggregations out of `aggs`; returns the rest.
pub(crate) fn split(
    aggs: &Value,
    mappings: &[std::sync::Arc<crate::mapping::Mapping>],
) -> Result<(Value, Vec<FilterAggPlan>), QueryError> {
    let Some(obj) = aggs.as_object() else {
        return Err(bad("[aggs] must be an object"));
    };
    let mut rest = Map::new();
    let mut plans = Vec::new();
    for (name, def) in obj {
        let Some(d) = def.as_object() else {
            rest.insert(name.clone(), def.clone());
            continue;
        };
        let (single, multi) = (d.get("filter"), d.get("filters"));
        if let Some(nested) = d.get("nested") {
            plans.push(nested_plan(name, d, nested, mappings)?);
            continue;
        }
        if single.is_none() && multi.is_none() {
            rest.insert(name.clone(), def.clone());
            continue;
        }
        let mut filters = Vec::new();
        let mut anonymous = false;
        if let Some(f) = single {
            filters.push((None, parse_query(f)?));
        }
        if let Some(f) = multi {
            let spec = f.get("filters").unwrap_or(f);
            match spec {
                Value::Object(named) => {
                    for (k, q) in named {
                        filters.push((Some(k.clone()), parse_query(q)?));
                    }
                }
                Value::Array(list) => {
                    anonymous = true;
                    for (i, q) in list.iter().enumerate() {
                        filters.push((Some(i.to_string()), parse_query(q)?));
                    }
                }
                _ => return Err(bad(format!("[filters] of aggregation [{name}] must be an object or an array"))),
            }
        }
        if single.is_some() && multi.is_some() {
            return Err(bad(format!("Found two aggregation type definitions in [{name}]: [filter] and [filters]")));
        }
        let sub = match d.get("aggs").or_else(|| d.get("aggregations")) {
            Some(s) => Some(Box::new(PreparedAggs::prepare_nested(s, mappings)?)),
            None => None,
        };
        plans.push(FilterAggPlan::new(name, filters, anonymous, sub, d.get("meta").cloned()));
    }
    Ok((Value::Object(rest), plans))
}

/// `{"nested": {"path": "comments"}, "aggs": {…}}`: the path must be a `nested` field of
/// every index searched that maps it.
fn nested_plan(
    name: &str,
    def: &Map<String, Value>,
    nested: &Value,
    mappings: &[std::sync::Arc<crate::mapping::Mapping>],
) -> Result<FilterAggPlan, QueryError> {
    let mut path = None;
    for (k, v) in nested.as_object().ok_or_else(|| bad(format!("[nested] of aggregation [{name}] must be an object")))? {
        match k.as_str() {
            "path" => path = Some(v.as_str().ok_or_else(|| bad("[nested] [path] must be a string"))?.to_string()),
            other => return Err(bad(format!("Unexpected token in [nested] aggregation [{name}]: [{other}]"))),
        }
    }
    let path = path.ok_or_else(|| bad(format!("Missing [path] field for nested aggregation [{name}]")))?;
    for m in mappings {
        if let Some(f) = m.resolve(&path)
            && f.ty != crate::mapping::FieldType::Nested
        {
            return Err(QueryError::illegal_argument(format!("[nested] nested path [{path}] is not nested")));
        }
    }
    for k in def.keys() {
        if !matches!(k.as_str(), "nested" | "aggs" | "aggregations" | "meta") {
            return Err(bad(format!("Found two aggregation type definitions in [{name}]: [nested] and [{k}]")));
        }
    }
    let sub = match def.get("aggs").or_else(|| def.get("aggregations")) {
        Some(s) => Some(Box::new(PreparedAggs::prepare_nested(s, mappings)?)),
        None => None,
    };
    let mut plan = FilterAggPlan::new(name, vec![(None, QueryAst::match_all())], false, sub, def.get("meta").cloned());
    plan.nested_path = Some(path);
    Ok(plan)
}

/// `query AND filter`, the filter unscored.
pub(crate) fn filtered(query: &QueryAst, filter: &QueryAst) -> QueryAst {
    QueryAst::Bool(BoolQuery {
        must: vec![query.clone()],
        filter: vec![filter.clone()],
        ..Default::default()
    })
}

impl FilterAggPlan {
    pub fn new(
        name: &str,
        filters: Vec<(Option<String>, QueryAst)>,
        anonymous: bool,
        sub: Option<Box<PreparedAggs>>,
        meta: Option<Value>,
    ) -> FilterAggPlan {
        let n = filters.len();
        FilterAggPlan {
            name: name.to_string(),
            filters,
            anonymous,
            nested_path: None,
            sub,
            meta,
            counts: vec![0; n],
            sub_results: (0..n).map(|_| None).collect(),
            bucket_fields: Vec::new(),
            typed_name: None,
        }
    }

    pub fn add(&mut self, slot: usize, count: u64, sub: Option<IntermediateAggregationResults>) -> tantivy::Result<()> {
        self.counts[slot] += count;
        if let Some(fruit) = sub {
            match &mut self.sub_results[slot] {
                Some(acc) => acc.merge_fruits(fruit)?,
                empty => *empty = Some(fruit),
            }
        }
        Ok(())
    }

    fn bucket(&mut self, slot: usize, typed_keys: bool) -> Result<Value, QueryError> {
        let mut b = self.bucket_fields.get(slot).cloned().unwrap_or_default();
        b.insert("doc_count".into(), json!(self.counts[slot]));
        if let Some(sub) = &self.sub {
            let results = self.sub_results[slot].take().unwrap_or_default();
            let mut finished = sub.finish(results, typed_keys, &[])?;
            sub.apply_pipelines(&mut finished, typed_keys)?;
            if let Value::Object(m) = finished {
                b.extend(m);
            }
        }
        Ok(Value::Object(b))
    }

    /// The aggregation's response entry: (key, value).
    pub fn finish(mut self, typed_keys: bool) -> Result<(String, Value), QueryError> {
        let single = self.filters.len() == 1 && self.filters[0].0.is_none();
        let mut value = if single {
            self.bucket(0, typed_keys)?
        } else if self.anonymous {
            let mut buckets = Vec::new();
            for slot in 0..self.filters.len() {
                buckets.push(self.bucket(slot, typed_keys)?);
            }
            json!({"buckets": buckets})
        } else {
            let mut buckets = Map::new();
            for slot in 0..self.filters.len() {
                let key = self.filters[slot].0.clone().unwrap_or_default();
                buckets.insert(key, self.bucket(slot, typed_keys)?);
            }
            json!({"buckets": buckets})
        };
        if let (Some(m), Value::Object(o)) = (&self.meta, &mut value) {
            o.insert("meta".into(), m.clone());
        }
        let key = match (typed_keys, single) {
            (true, _) if self.typed_name.is_some() => format!("{}#{}", self.typed_name.unwrap_or_default(), self.name),
            (true, _) if self.nested_path.is_some() => format!("nested#{}", self.name),
            (true, true) => format!("filter#{}", self.name),
            (true, false) => format!("filters#{}", self.name),
            (false, _) => self.name.clone(),
        };
        Ok((key, value))
    }
}
