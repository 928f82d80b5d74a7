//! Field collapsing (`collapse`): the hits are the best document of each distinct value of a
//! keyword or numeric field, in the search's order.
//!
//! Each shard keeps the best hit of every group it sees ([`CollapsingCollector`]) and returns
//! its top `from + size` groups; the reduce keeps the first hit of each group in global order
//! (a group's best document on the node is the best of its shards' best ones), then pages.
//! `inner_hits` are one more search per returned group: the query restricted to the group's
//! value, with the inner hit's own `from`, `size` and `sort` ([`inner_hits_request`]).

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocAddress, DocId, Score, SegmentOrdinal, SegmentReader};

use super::collector::{SortedCollector, SortedHit};
use super::fields::{FieldRequest, parse_field_requests};
use super::request::{SearchRequest, TrackTotalHits};
use super::sort::{Missing, ResolvedSort, SegmentKeyReader, SortSpec, SortTarget, SortValue, compare_keys};
use super::source_filter::SourceFilter;
use super::fetch::FetchedHit;
use crate::error::EngineResult;
use crate::mapping::{FieldType, Mapping};
use crate::query_ast::{BoolQuery, QueryAst, QueryError};
use crate::query_dsl::parse_query;

/// OpenSearch's default `inner_hits` size.
const DEFAULT_INNER_HITS_SIZE: usize = 3;

/// The `collapse` section of a search body.
#[derive(Debug, Clone, PartialEq)]
pub struct CollapseSpec {
    pub field: String,
    pub inner_hits: Vec<InnerHitsSpec>,
    /// Accepted for compatibility: group searches run one after the other here, which keeps
    /// within any limit.
    pub max_concurrent_group_searches: Option<u32>,
}

/// One `inner_hits` of a collapse: the top documents of each group.
#[derive(Debug, Clone, PartialEq)]
pub struct InnerHitsSpec {
    pub name: String,
    pub from: usize,
    pub size: usize,
    pub sort: Vec<SortSpec>,
    pub source: SourceFilter,
    pub version: bool,
    pub seq_no_primary_term: bool,
    pub fields: Vec<FieldRequest>,
}

impl CollapseSpec {
    pub fn parse(v: &Value) -> Result<CollapseSpec, QueryError> {
        let obj = v.as_object().ok_or_else(|| QueryError::parsing("[collapse] must be an object"))?;
        let mut field = None;
        let mut inner_hits = Vec::new();
        let mut max_concurrent_group_searches = None;
        for (k, v) in obj {
            match k.as_str() {
                "field" => field = Some(v.as_str().ok_or_else(|| QueryError::parsing("[collapse] [field] must be a string"))?.to_string()),
                "inner_hits" => match v {
                    Value::Array(items) => {
                        for item in items {
                            inner_hits.push(InnerHitsSpec::parse(item)?);
                        }
                    }
                    other => inner_hits.push(InnerHitsSpec::parse(other)?),
                },
                "max_concurrent_group_searches" => match v.as_i64() {
                    Some(n) if n > 0 && n <= u32::MAX as i64 => max_concurrent_group_searches = Some(n as u32),
                    _ => {
                        return Err(QueryError::illegal_argument(format!(
                            "maxConcurrentGroupRequests must be positive, got [{v}]"
                        )));
                    }
                },
                other => return Err(QueryError::parsing(format!("[collapse] unknown field [{other}]"))),
            }
        }
        let field = field.ok_or_else(|| QueryError::parsing("[collapse] requires [field]"))?;
        for spec in &mut inner_hits {
            if spec.name.is_empty() {
                spec.name = field.clone();
            }
        }
        let mut names: Vec<&str> = inner_hits.iter().map(|i| i.name.as_str()).collect();
        names.sort_unstable();
        if let Some(pair) = names.windows(2).find(|p| p[0] == p[1]) {
            return Err(QueryError::illegal_argument(format!("[inner_hits] already contains an entry for key [{}]", pair[0])));
        }
        Ok(CollapseSpec { field, inner_hits, max_concurrent_group_searches })
    }

    /// What OpenSearch refuses together with `collapse`.
    pub(crate) fn check_request(req: &SearchRequest) -> Result<(), QueryError> {
        if req.collapse.is_none() {
            return Ok(());
        }
        if req.scroll.is_some() {
            return Err(QueryError::new(
                400,
                "action_request_validation_exception",
                "Validation Failed: 1: cannot use `collapse` in a scroll context;",
            ));
        }
        if req.search_after.is_some() {
            return Err(QueryError::illegal_argument("cannot use `collapse` in conjunction with `search_after`"));
        }
        if !req.rescore.is_empty() {
            return Err(QueryError::illegal_argument("cannot use `collapse` in conjunction with `rescore`"));
        }
        Ok(())
    }
}

impl InnerHitsSpec {
    fn parse(v: &Value) -> Result<InnerHitsSpec, QueryError> {
        let obj = v.as_object().ok_or_else(|| QueryError::parsing("[inner_hits] must be an object"))?;
        let mut spec = InnerHitsSpec {
            name: String::new(),
            from: 0,
            size: DEFAULT_INNER_HITS_SIZE,
            sort: Vec::new(),
            source: SourceFilter::default(),
            version: false,
            seq_no_primary_term: false,
            fields: Vec::new(),
        };
        let count = |k: &str, v: &Value| -> Result<usize, QueryError> {
            v.as_u64()
                .map(|n| n as usize)
                .ok_or_else(|| QueryError::illegal_argument(format!("[inner_hits] [{k}] must be a non-negative integer, got [{v}]")))
        };
        for (k, v) in obj {
            match k.as_str() {
                "name" => spec.name = v.as_str().ok_or_else(|| QueryError::parsing("[inner_hits] [name] must be a string"))?.to_string(),
                "from" => spec.from = count(k, v)?,
                "size" => spec.size = count(k, v)?,
                "sort" => spec.sort = SortSpec::parse_list(v)?,
                "_source" => spec.source = SourceFilter::parse(v)?,
                "version" => spec.version = v.as_bool().unwrap_or(false),
                "seq_no_primary_term" => spec.seq_no_primary_term = v.as_bool().unwrap_or(false),
                "fields" => spec.fields.extend(parse_field_requests(k, v, false)?),
                "docvalue_fields" => spec.fields.extend(parse_field_requests(k, v, true)?),
                other => return Err(QueryError::parsing(format!("[inner_hits] unknown field [{other}]"))),
            }
        }
        Ok(spec)
    }
}

/// The collapse field resolved against the searched mappings: how to read its value.
#[derive(Debug, Clone)]
pub(crate) struct ResolvedCollapse {
    pub field: String,
    /// Reads the group value like an ascending sort key (missing values: one `null` group).
    pub key: ResolvedSort,
}

impl ResolvedCollapse {
    pub fn resolve(spec: &CollapseSpec, mappings: &[Arc<Mapping>]) -> Result<ResolvedCollapse, QueryError> {
        let field = &spec.field;
        let mut mapped = false;
        for m in mappings {
            let Some(f) = m.resolve(field) else { continue };
            mapped = true;
            if f.ty.is_text() {
                return Err(QueryError::illegal_argument(format!("cannot collapse on field `{field}` without `doc_values`")));
            }
            let numeric = f.ty.is_numeric() && !matches!(f.ty, FieldType::Date | FieldType::DateNanos);
            if f.ty != FieldType::Keyword && !numeric {
                return Err(QueryError::illegal_argument(format!(
                    "unknown type for collapse field `{field}`, only keywords and numbers are accepted"
                )));
            }
        }
        if !mapped {
            return Err(QueryError::illegal_argument(format!("no mapping found for `{field}` in order to collapse on")));
        }
        let spec = SortSpec {
            target: SortTarget::Field(field.clone()),
            desc: false,
            missing: Missing::Last,
            mode: None,
            unmapped_type: None,
        };
        Ok(ResolvedCollapse { field: field.clone(), key: ResolvedSort::resolve(&spec, mappings)? })
    }

    /// The group value as shown in a hit's `fields` and used in the group's query.
    pub fn value_json(&self, value: &SortValue) -> Value {
        self.key.to_json(value)
    }

    /// The search of one group's inner hits: the search's query restricted to the group.
    pub fn inner_hits_request(&self, req: &SearchRequest, spec: &InnerHitsSpec, group: &SortValue) -> Result<SearchRequest, QueryError> {
        let restriction = match group {
            SortValue::Missing => parse_query(&json!({"bool": {"must_not": {"exists": {"field": self.field}}}}))?,
            value => parse_query(&json!({"term": {self.field.clone(): self.value_json(value)}}))?,
        };
        Ok(SearchRequest {
            query: QueryAst::Bool(BoolQuery { must: vec![req.query.clone()], filter: vec![restriction], ..BoolQuery::default() }),
            post_filter: req.post_filter.clone(),
            min_score: req.min_score,
            from: spec.from,
            size: spec.size,
            sort: spec.sort.clone(),
            source: spec.source.clone(),
            version: spec.version,
            seq_no_primary_term: spec.seq_no_primary_term,
            fields: spec.fields.clone(),
            track_total_hits: TrackTotalHits::Exact,
            rest_total_hits_as_int: req.rest_total_hits_as_int,
            routing: req.routing.clone(),
            timeout: req.timeout,
            ..SearchRequest::default()
        })
    }
}

/// A shard's top `k` groups: per group its best hit under the search's sort.
pub(crate) struct CollapsingCollector {
    pub sorted: SortedCollector,
    pub group: ResolvedSort,
}

pub(crate) struct CollapsingSegmentCollector {
    sorts: Arc<Vec<ResolvedSort>>,
    readers: Vec<SegmentKeyReader>,
    group: SegmentKeyReader,
    segment_ord: SegmentOrdinal,
    best: HashMap<GroupKey, SortedHit>,
}

/// A group value usable as a map key (doubles by their bits).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) enum GroupKey {
    Missing,
    Int(i64),
    Num(u64),
    Str(String),
}

impl GroupKey {
    pub fn of(v: &SortValue) -> GroupKey {
        match v {
            SortValue::Missing => GroupKey::Missing,
            SortValue::Int(i) => GroupKey::Int(*i),
            SortValue::Num(f) => GroupKey::Num(f.to_bits()),
            SortValue::Str(s) => GroupKey::Str(s.clone()),
        }
    }

    fn value(self) -> SortValue {
        match self {
            GroupKey::Missing => SortValue::Missing,
            GroupKey::Int(i) => SortValue::Int(i),
            GroupKey::Num(bits) => SortValue::Num(f64::from_bits(bits)),
            GroupKey::Str(s) => SortValue::Str(s),
        }
    }
}

fn better(sorts: &[ResolvedSort], a: &SortedHit, b: &SortedHit) -> bool {
    compare_keys(sorts, &a.key, &b.key).then_with(|| a.address.cmp(&b.address)) == std::cmp::Ordering::Less
}

impl Collector for CollapsingCollector {
    type Fruit = Vec<(SortedHit, SortValue)>;
    type Child = CollapsingSegmentCollector;

    fn for_segment(&self, segment_ord: SegmentOrdinal, reader: &SegmentReader) -> tantivy::Result<Self::Child> {
        let s = &self.sorted;
        let base = s.doc_bases.get(segment_ord as usize).copied().unwrap_or(0);
        let readers = s
            .sorts
            .iter()
            .map(|sort| SegmentKeyReader::open(sort, &s.mapping, reader, base))
            .collect::<tantivy::Result<Vec<_>>>()?;
        Ok(CollapsingSegmentCollector {
            sorts: s.sorts.clone(),
            readers,
            group: SegmentKeyReader::open(&self.group, &s.mapping, reader, base)?,
            segment_ord,
            best: HashMap::new(),
        })
    }

    fn requires_scoring(&self) -> bool {
        self.sorted.needs_score
    }

    fn merge_fruits(&self, fruits: Vec<Vec<(GroupKey, SortedHit)>>) -> tantivy::Result<Self::Fruit> {
        let sorts = &self.sorted.sorts;
        let mut best: HashMap<GroupKey, SortedHit> = HashMap::new();
        for (key, hit) in fruits.into_iter().flatten() {
            match best.get(&key) {
                Some(current) if !better(sorts, &hit, current) => {}
                _ => {
                    best.insert(key, hit);
                }
            }
        }
        let mut groups: Vec<(SortedHit, SortValue)> = best.into_iter().map(|(k, hit)| (hit, k.value())).collect();
        groups.sort_by(|a, b| compare_keys(sorts, &a.0.key, &b.0.key).then_with(|| a.0.address.cmp(&b.0.address)));
        groups.truncate(self.sorted.k);
        Ok(groups)
    }
}

impl SegmentCollector for CollapsingSegmentCollector {
    type Fruit = Vec<(GroupKey, SortedHit)>;

    fn collect(&mut self, doc: DocId, score: Score) {
        let key: Vec<SortValue> = self.readers.iter().map(|r| r.value(doc, score)).collect();
        let hit = SortedHit { key, score, address: DocAddress::new(self.segment_ord, doc) };
        let group = GroupKey::of(&self.group.value(doc, score));
        match self.best.get(&group) {
            Some(current) if !better(&self.sorts, &hit, current) => {}
            _ => {
                self.best.insert(group, hit);
            }
        }
    }

    fn harvest(self) -> Self::Fruit {
        self.best.into_iter().collect()
    }
}

/// Runs each `inner_hits` of the request's collapse for every fetched hit's group (`search`
/// runs one request over the same shards) and attaches the results as the hit's
/// `inner_hits`.
pub(crate) fn add_inner_hits(
    hits: &mut [FetchedHit<'_>],
    collapse: &ResolvedCollapse,
    req: &SearchRequest,
    mut search: impl FnMut(&SearchRequest) -> EngineResult<Value>,
) -> EngineResult<()> {
    let Some(spec) = &req.collapse else { return Ok(()) };
    if spec.inner_hits.is_empty() {
        return Ok(());
    }
    for hit in hits {
        let Some(group) = &hit.hit.hit.collapse_key else { continue };
        let mut out = Map::new();
        for inner in &spec.inner_hits {
            let body = search(&collapse.inner_hits_request(req, inner, group)?)?;
            out.insert(inner.name.clone(), json!({"hits": body.get("hits").cloned().unwrap_or(Value::Null)}));
        }
        hit.inner_hits = Some(Value::Object(out));
    }
    Ok(())
}
