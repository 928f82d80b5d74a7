//! Aggregations: the OpenSearch request is rewritten for tantivy's aggregation module (field
//! names → `_kw.<path>`, dates → epoch millis, calendar intervals → fixed ones) and the result
//! is rewritten back where the shapes differ (integer keys, date `key_as_string`, boolean
//! keys, `typed_keys`).

use std::sync::Arc;

use serde_json::{Map, Value, json};
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::{
    IntermediateAggregationResult, IntermediateAggregationResults, IntermediateBucketResult, PruneMode,
};
use tantivy::aggregation::{AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector};
use tantivy::tokenizer::TokenizerManager;

use super::pipeline_aggs::{PIPELINE_TYPES, PipelineAgg};
use super::request::SearchRequest;
use super::top_hits_agg::TopHitsSpec;
use crate::error::EngineResult;
use crate::query_ast::QueryAst;
use super::sort::text_field_error;
use crate::mapping::Mapping;
use crate::query_ast::format_millis_iso;
use crate::query_ast::{DateFormat, FieldKind, QueryError, calendar_bucket_start, parse_date_millis};

/// OpenSearch's `search.max_buckets` default: the most buckets one response may hold.
pub const MAX_BUCKETS: u32 = 65_535;

/// Aggregation types Quidditch accepts (what tantivy implements, OpenSearch names).
const BUCKET_TYPES: &[&str] = &["terms", "rare_terms", "range", "date_range", "histogram", "date_histogram", "composite"];
const METRIC_TYPES: &[&str] = &[
    "avg", "min", "max", "sum", "stats", "extended_stats", "value_count", "cardinality", "percentiles",
];

/// What the response rewriting needs to know about one aggregation.
#[derive(Debug, Clone)]
struct AggMeta {
    agg_type: String,
    kind: Option<FieldKind>,
    children: Vec<(String, AggMeta)>,
    /// The request's `meta` object, echoed in the response.
    meta: Option<Value>,
    /// `date_histogram` with a month/quarter/year `calendar_interval`: tantivy computes day
    /// buckets, merged here into calendar buckets (unit, `min_doc_count`).
    calendar: Option<(char, u64)>,
    /// Numeric `range`: the requested (from, to) bounds. tantivy adds buckets covering the
    /// gaps between ranges, which OpenSearch does not return; they are dropped here.
    requested_ranges: Option<Vec<(Option<f64>, Option<f64>)>>,
    /// `terms`: how many buckets each shard hands to the reduce.
    terms_cut: Option<TermsShardCut>,
    /// `rare_terms`: its `max_doc_count` (the buckets kept after the reduce).
    rare_max_doc_count: Option<u64>,
    /// Pipeline aggregations declared among this aggregation's sub-aggregations.
    pipelines: Vec<PipelineAgg>,
    /// `composite`: its sources, for showing keys and `after_key`.
    composite: Option<super::composite_agg::CompositeMeta>,
    /// `top_hits` aggregations among this aggregation's sub-aggregations.
    top_hits: Vec<TopHitsSpec>,
    /// The aggregation's OpenSearch request body (what a bucket's documents are, for
    /// `top_hits` below it).
    request_body: Map<String, Value>,
}

impl AggMeta {
    fn has_top_hits(&self) -> bool {
        !self.top_hits.is_empty() || self.children.iter().any(|(_, c)| c.has_top_hits())
    }
}

/// OpenSearch's shard side of a `terms` aggregation: each shard counts its terms exactly, then
/// returns only its top `shard_size` buckets (default `size × 1.5 + 10`, or `size` when ordered
/// by key), and the reduce bounds the count error this cut can cause.
#[derive(Debug, Clone, Copy)]
struct TermsShardCut {
    shard_size: u32,
    order: TermsOrder,
}

/// The primary order of a `terms` aggregation, as far as the doc count error is concerned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TermsOrder {
    /// `_count: desc` (the default): a cut shard's error is its smallest returned count.
    CountDesc,
    /// `_key`: the top keys of every shard are the global top keys; no error.
    Key,
    /// Anything else (`_count: asc`, a sub-aggregation): the error of a cut shard is unbounded.
    Other,
}

impl TermsShardCut {
    /// From the request body of a `terms` aggregation (before it is rewritten for tantivy).
    fn of(name: &str, body: &Map<String, Value>) -> Result<TermsShardCut, QueryError> {
        let positive = |key: &str| -> Result<Option<u64>, QueryError> {
            match body.get(key) {
                None => Ok(None),
                Some(v) => match v.as_u64() {
                    Some(n) if n > 0 => Ok(Some(n)),
                    _ => Err(QueryError::illegal_argument(format!(
                        "[{key}] must be greater than 0. Found [{v}] in [{name}]"
                    ))),
                },
            }
        };
        let size = positive("size")?.unwrap_or(10);
        let first_order = match body.get("order") {
            Some(Value::Array(orders)) => orders.first().and_then(Value::as_object),
            Some(Value::Object(order)) => Some(order),
            _ => None,
        };
        let order = match first_order.and_then(|o| o.iter().next()) {
            None => TermsOrder::CountDesc,
            Some((key, _)) if key == "_key" || key == "_term" => TermsOrder::Key,
            Some((key, dir)) if key == "_count" && dir.as_str().is_none_or(|d| d.eq_ignore_ascii_case("desc")) => {
                TermsOrder::CountDesc
            }
            Some(_) => TermsOrder::Other,
        };
        let default = if order == TermsOrder::Key { size } else { (size as f64 * 1.5 + 10.0) as u64 };
        let shard_size = positive("shard_size")?.unwrap_or(default).max(size).min(u32::MAX as u64) as u32;
        Ok(TermsShardCut { shard_size, order })
    }

    /// This shard's doc count error for the aggregation, given its exact bucket counts before
    /// the cut (OpenSearch's rule: 0 unless the shard had at least `shard_size` terms).
    fn shard_error(&self, mut counts: Vec<u64>) -> i64 {
        let cut = self.shard_size as usize;
        if counts.is_empty() || counts.len() < cut || self.order == TermsOrder::Key {
            return 0;
        }
        if self.order == TermsOrder::Other {
            return -1;
        }
        counts.select_nth_unstable_by(cut - 1, |a, b| b.cmp(a));
        counts[cut - 1] as i64
    }
}

/// Sums per-shard doc count errors as OpenSearch's reduce does (-1, unbounded, is sticky).
pub(crate) fn add_doc_count_error(total: &mut i64, shard: i64) {
    *total = if *total == -1 || shard == -1 { -1 } else { *total + shard };
}

/// A validated, rewritten aggregation request.
pub struct PreparedAggs {
    request: Aggregations,
    /// `request` with each `terms` cut at its OpenSearch `shard_size`: applied to every
    /// shard's state before it goes to the reduce.
    shard_cut: Aggregations,
    meta: Vec<(String, AggMeta)>,
    /// Pipeline aggregations of this level, run after the reduce (`pipeline_aggs`).
    pipelines: Vec<PipelineAgg>,
    /// `top_hits` aggregations of this level, run after the reduce (`top_hits_agg`).
    top_hits: Vec<TopHitsSpec>,
    /// Top-level `filter`/`filters` aggregations, run as extra passes (see `filter_aggs`).
    pub(crate) filters: Vec<super::filter_aggs::FilterAggPlan>,
    /// Top-level geo aggregations collected by their own pass (see `geo_aggs`).
    pub(crate) geo: Vec<super::geo_aggs::GeoAggPlan>,
    /// `search.max_buckets` for this request (`SearchRequest::max_buckets`).
    pub(crate) max_buckets: u32,
}

fn bad(reason: impl Into<String>) -> QueryError {
    QueryError::parsing(reason)
}

fn field_kind_of(mappings: &[Arc<Mapping>], field: &str) -> Result<(Option<FieldKind>, String), QueryError> {
    for m in mappings {
        if let Some(f) = m.resolve(field) {
            if f.ty.is_text() {
                return Err(text_field_error(field));
            }
            if f.ty.is_source_only() || f.ty.needs_dedicated_access() {
                return Err(QueryError::illegal_argument(format!(
                    "Field [{field}] of type [{}] is not searchable or aggregatable",
                    f.ty
                )));
            }
            return Ok((super::field_kind(f.ty), format!("_kw.{}", f.json_path)));
        }
    }
    Ok((None, format!("_kw.{field}")))
}

impl PreparedAggs {
    pub fn prepare(aggs: &Value, mappings: &[Arc<Mapping>]) -> Result<PreparedAggs, QueryError> {
        let (rest, geo, rings) = super::geo_aggs::split(aggs, mappings)?;
        let (rest, mut filters) = super::filter_aggs::split(&rest, mappings)?;
        filters.extend(rings);
        let mut prepared = Self::prepare_level(&rest, mappings, None)?;
        prepared.filters = filters;
        prepared.geo = geo;
        Ok(prepared)
    }

    /// Aggregations below the top level: `filter`/`filters` are not supported there.
    pub(crate) fn prepare_nested(aggs: &Value, mappings: &[Arc<Mapping>]) -> Result<PreparedAggs, QueryError> {
        Self::prepare_level(aggs, mappings, Some("filter"))
    }

    /// One level of aggregations; `parent` is the enclosing aggregation's type (`None` at
    /// the top), which decides where parent pipelines may be declared.
    fn prepare_level(aggs: &Value, mappings: &[Arc<Mapping>], parent: Option<&str>) -> Result<PreparedAggs, QueryError> {
        let Level { tantivy: rewritten, metas: meta, pipelines, top_hits } = rewrite_level(aggs, mappings, parent)?;
        let mut cut = rewritten.clone();
        set_shard_sizes(&mut cut, &meta);
        let parse = |v: Value| -> Result<Aggregations, QueryError> {
            serde_json::from_value(v).map_err(|e| bad(format!("failed to parse aggregations: {e}")))
        };
        Ok(PreparedAggs { request: parse(rewritten)?, shard_cut: parse(cut)?, meta, pipelines, top_hits, filters: Vec::new(), geo: Vec::new(), max_buckets: MAX_BUCKETS })
    }

    /// The shard side of OpenSearch's `terms`: cuts every `terms` aggregation of one shard's
    /// (exact) state to its top `shard_size` buckets, the rest counted in
    /// `sum_other_doc_count`. Returns each top-level `terms` aggregation's doc count error on
    /// this shard, for the reduce.
    pub(crate) fn cut_for_shard(&self, state: &mut IntermediateAggregationResults) -> tantivy::Result<Vec<(String, i64)>> {
        let mut errors = Vec::new();
        for (name, meta) in &self.meta {
            let Some(cut) = meta.terms_cut else { continue };
            let counts = match state.get(name) {
                Some(IntermediateAggregationResult::Bucket(IntermediateBucketResult::Terms { buckets })) => {
                    buckets.entries().iter().map(|(_, entry)| entry.doc_count).collect()
                }
                _ => Vec::new(),
            };
            errors.push((name.clone(), cut.shard_error(counts)));
        }
        state.prune_intermediate_results(&self.shard_cut, PruneMode::Intermediate)?;
        Ok(errors)
    }

    /// For `profile`: the top-level aggregations' names and their type (OpenSearch's
    /// `MultiBucketCollector` when there are several: they are collected together).
    pub(crate) fn profile_names(&self) -> (String, String) {
        let mut names: Vec<&str> = self.meta.iter().map(|(n, _)| n.as_str()).collect();
        names.extend(self.filters.iter().map(|f| f.name.as_str()));
        let agg_type = match (self.meta.as_slice(), self.filters.as_slice()) {
            ([(_, meta)], []) => meta.agg_type.clone(),
            ([], [_]) => "filter".to_string(),
            _ => "MultiBucketCollector".to_string(),
        };
        (names.join(", "), agg_type)
    }

    /// Runs the pipeline aggregations of every level over the reduced `out` (this level's
    /// `aggregations` object), deepest first.
    pub(crate) fn apply_pipelines(&self, out: &mut Value, typed_keys: bool) -> Result<(), QueryError> {
        let Value::Object(level) = out else { return Ok(()) };
        apply_level_pipelines(level, &self.meta, &self.pipelines, typed_keys)
    }

    /// Whether some `top_hits` aggregation needs its per-bucket searches.
    pub(crate) fn has_top_hits(&self) -> bool {
        !self.top_hits.is_empty() || self.meta.iter().any(|(_, m)| m.has_top_hits())
    }

    /// Fills every `top_hits` aggregation of the reduced `out` with one search per bucket
    /// (`search` runs a request over the search's shards; `query` is the search's query).
    pub(crate) fn fill_top_hits(
        &self,
        out: &mut Value,
        req: &SearchRequest,
        query: &QueryAst,
        search: &mut dyn FnMut(&SearchRequest) -> EngineResult<Value>,
    ) -> EngineResult<()> {
        let Value::Object(level) = out else { return Ok(()) };
        fill_level_top_hits(level, &self.meta, &self.top_hits, &mut Vec::new(), req, query, search)
    }

    /// Whether tantivy has aggregations to collect in the main pass.
    pub fn has_main(&self) -> bool {
        !self.meta.is_empty()
    }

    pub fn collector(&self, tokenizers: &TokenizerManager) -> DistributedAggregationCollector {
        DistributedAggregationCollector::from_aggs(self.request.clone(), context(tokenizers))
    }

    /// Merged intermediate results → the OpenSearch `aggregations` object.
    /// `doc_count_errors`: the reduced doc count error of each top-level `terms` aggregation
    /// (absent: 0).
    pub fn finish(
        &self,
        results: IntermediateAggregationResults,
        typed_keys: bool,
        doc_count_errors: &[(String, i64)],
    ) -> Result<Value, QueryError> {
        let limits = AggregationLimitsGuard::new(None, Some(self.max_buckets));
        let final_result = results.into_final_result(self.request.clone(), limits).map_err(|e| match e {
            tantivy::TantivyError::AggregationError(tantivy::aggregation::AggregationError::BucketLimitExceeded { limit, current }) => {
                QueryError::new(
                    400,
                    "too_many_buckets_exception",
                    format!("Trying to create too many buckets. Must be less than or equal to: [{limit}] but was [{current}]. This limit can be set by changing the [search.max_buckets] cluster level setting."),
                )
            }
            e => QueryError::illegal_argument(format!("aggregation failed: {}", super::query_phase::without_debug_output(&e.to_string()))),
        })?;
        let value = serde_json::to_value(final_result)
            .map_err(|e| QueryError::internal(format!("aggregation result: {e}")))?;
        Ok(rewrite_result(value, &self.meta, typed_keys, doc_count_errors))
    }
}

fn context(tokenizers: &TokenizerManager) -> AggContextParams {
    AggContextParams::new(AggregationLimitsGuard::default(), tokenizers.clone())
}

/// Pipelines of `level` and of every aggregation below it, over the final JSON.
fn apply_level_pipelines(
    level: &mut Map<String, Value>,
    metas: &[(String, AggMeta)],
    pipelines: &[PipelineAgg],
    typed_keys: bool,
) -> Result<(), QueryError> {
    for (name, meta) in metas {
        let key = if typed_keys { format!("{}#{name}", typed_prefix(meta)) } else { name.clone() };
        let Some(Value::Object(agg)) = level.get_mut(&key) else { continue };
        if !meta.children.is_empty() || !meta.pipelines.is_empty() {
            match agg.get_mut("buckets") {
                Some(Value::Array(buckets)) => {
                    for b in buckets {
                        if let Value::Object(b) = b {
                            apply_level_pipelines(b, &meta.children, &meta.pipelines, typed_keys)?;
                        }
                    }
                }
                Some(Value::Object(keyed)) => {
                    for b in keyed.values_mut() {
                        if let Value::Object(b) = b {
                            apply_level_pipelines(b, &meta.children, &meta.pipelines, typed_keys)?;
                        }
                    }
                }
                _ => {}
            }
        }
        super::pipeline_aggs::apply_parents(agg, &meta.pipelines, typed_keys)?;
    }
    super::pipeline_aggs::apply_siblings(level, pipelines, typed_keys)
}

/// `top_hits` of one level (`filters`: the enclosing buckets' restrictions), then of every
/// bucket below.
fn fill_level_top_hits(
    level: &mut Map<String, Value>,
    metas: &[(String, AggMeta)],
    top_hits: &[TopHitsSpec],
    filters: &mut Vec<Value>,
    req: &SearchRequest,
    query: &QueryAst,
    search: &mut dyn FnMut(&SearchRequest) -> EngineResult<Value>,
) -> EngineResult<()> {
    for spec in top_hits {
        let (key, value) = spec.run(req, query, filters, req.typed_keys, search)?;
        level.insert(key, value);
    }
    for (name, meta) in metas.iter().filter(|(_, m)| m.has_top_hits()) {
        let key = if req.typed_keys { format!("{}#{name}", typed_prefix(meta)) } else { name.clone() };
        let Some(Value::Object(agg)) = level.get_mut(&key) else { continue };
        let buckets: Vec<&mut Value> = match agg.get_mut("buckets") {
            Some(Value::Array(buckets)) => buckets.iter_mut().collect(),
            Some(Value::Object(keyed)) => keyed.values_mut().collect(),
            _ => Vec::new(),
        };
        for bucket in buckets {
            filters.push(super::top_hits_agg::bucket_filter(&meta.agg_type, &meta.request_body, bucket)?);
            if let Value::Object(b) = bucket {
                fill_level_top_hits(b, &meta.children, &meta.top_hits, filters, req, query, search)?;
            }
            filters.pop();
        }
    }
    Ok(())
}

/// One level of the request rewritten for tantivy, with what runs after the reduce.
struct Level {
    tantivy: Value,
    metas: Vec<(String, AggMeta)>,
    pipelines: Vec<PipelineAgg>,
    top_hits: Vec<TopHitsSpec>,
}

fn rewrite_level(aggs: &Value, mappings: &[Arc<Mapping>], parent: Option<&str>) -> Result<Level, QueryError> {
    let obj = aggs.as_object().ok_or_else(|| bad("[aggs] must be an object"))?;
    let mut out = Map::new();
    let mut metas = Vec::new();
    let mut pipelines = Vec::new();
    let mut top_hits = Vec::new();
    for (name, def) in obj {
        let def = def
            .as_object()
            .ok_or_else(|| bad(format!("Expected [START_OBJECT] under [{name}], but got a different token")))?;
        let mut agg_type = None;
        let mut body = None;
        let mut sub = None;
        let mut meta = None;
        for (k, v) in def {
            match k.as_str() {
                "aggs" | "aggregations" => sub = Some(v),
                "meta" => {
                    if !v.is_object() {
                        return Err(bad(format!("[meta] of aggregation [{name}] must be an object")));
                    }
                    meta = Some(v.clone());
                }
                t => {
                    if agg_type.is_some() {
                        return Err(bad(format!(
                            "Found two aggregation type definitions in [{name}]: [{}] and [{t}]",
                            agg_type.unwrap_or_default()
                        )));
                    }
                    agg_type = Some(t.to_string());
                    body = Some(v);
                }
            }
        }
        let agg_type =
            agg_type.ok_or_else(|| bad(format!("Missing definition for aggregation [{name}]")))?;
        let body = body.and_then(Value::as_object).cloned().unwrap_or_default();
        if PIPELINE_TYPES.contains(&agg_type.as_str()) {
            if sub.is_some() {
                return Err(bad(format!("Aggregator [{name}] of type [{agg_type}] cannot accept sub-aggregations")));
            }
            let pipeline = PipelineAgg::parse(name, &agg_type, &body, meta)?;
            pipeline.check_parent(parent)?;
            pipelines.push(pipeline);
            continue;
        }
        if agg_type == "top_hits" {
            if sub.is_some() {
                return Err(bad(format!("Aggregator [{name}] of type [{agg_type}] cannot accept sub-aggregations")));
            }
            if parent == Some("filter") {
                return Err(QueryError::illegal_argument(format!(
                    "[{name}]: [top_hits] is not supported under a [filter] or [filters] aggregation yet"
                )));
            }
            top_hits.push(TopHitsSpec::parse(name, &body, meta)?);
            continue;
        }
        let request_body = body.clone();
        if super::geo_aggs::GEO_TYPES.contains(&agg_type.as_str()) {
            return Err(QueryError::illegal_argument(format!(
                "[{name}]: [{agg_type}] aggregations are supported at the top level only"
            )));
        }
        if agg_type == "filter" || agg_type == "filters" {
            return Err(QueryError::illegal_argument(format!(
                "[{name}]: [{agg_type}] aggregations are supported at the top level only"
            )));
        }
        if !BUCKET_TYPES.contains(&agg_type.as_str()) && !METRIC_TYPES.contains(&agg_type.as_str()) {
            return Err(QueryError::new(
                400,
                "unknown_named_object_exception",
                format!("Unknown aggregation type [{agg_type}] (supported: {})", [BUCKET_TYPES, METRIC_TYPES].concat().join(", ")),
            ));
        }
        let terms_cut = (agg_type == "terms").then(|| TermsShardCut::of(name, &body)).transpose()?;
        let (body, rare_max_doc_count) = if agg_type == "rare_terms" {
            let (body, max) = rare_terms_as_terms(name, body)?;
            (body, Some(max))
        } else {
            (body, None)
        };
        let mut composite = None;
        let (body, kind, tantivy_type, calendar) = if agg_type == "composite" {
            let (body, meta) = super::composite_agg::rewrite(name, &body, mappings, field_kind_of)?;
            composite = Some(meta);
            (body, None, agg_type.clone(), None)
        } else {
            rewrite_body(name, &agg_type, body, mappings)?
        };
        if tantivy_type == "range" {
            check_disjoint_ranges(name, &body)?;
        }
        let requested_ranges = (agg_type == "range" && kind != Some(FieldKind::Date))
            .then(|| body.get("ranges").and_then(Value::as_array).map(|ranges| {
                ranges
                    .iter()
                    .map(|r| {
                        let bound = |k: &str| r.get(k).and_then(Value::as_f64);
                        (bound("from"), bound("to"))
                    })
                    .collect::<Vec<_>>()
            }))
            .flatten();
        if calendar.is_some() && sub.is_some() {
            return Err(QueryError::illegal_argument(format!(
                "[{name}]: month, quarter and year calendar intervals do not support sub-aggregations yet; use a fixed_interval"
            )));
        }
        let mut def_out = Map::new();
        def_out.insert(tantivy_type, Value::Object(body));
        let mut children = Vec::new();
        let mut child_pipelines = Vec::new();
        let mut child_top_hits = Vec::new();
        if let Some(sub) = sub {
            if METRIC_TYPES.contains(&agg_type.as_str()) {
                return Err(bad(format!(
                    "Aggregator [{name}] of type [{agg_type}] cannot accept sub-aggregations"
                )));
            }
            let level = rewrite_level(sub, mappings, Some(&agg_type))?;
            if !level.metas.is_empty() {
                def_out.insert("aggs".into(), level.tantivy);
            }
            children = level.metas;
            child_pipelines = level.pipelines;
            child_top_hits = level.top_hits;
        }
        out.insert(name.clone(), Value::Object(def_out));
        metas.push((
            name.clone(),
            AggMeta { agg_type, kind, children, meta, calendar, requested_ranges, terms_cut, rare_max_doc_count, pipelines: child_pipelines, composite,
                      top_hits: child_top_hits, request_body },
        ));
    }
    Ok(Level { tantivy: Value::Object(out), metas, pipelines, top_hits })
}

/// OpenSearch's bound on `rare_terms`' `max_doc_count`.
const MAX_RARE_DOC_COUNT: u64 = 100;

/// A `rare_terms` body → the `terms` body that collects it (every term, exactly: shards are
/// not cut, so a term's reduced count is its true count), and its `max_doc_count`.
/// OpenSearch approximates with a cuckoo filter (`precision`); counting exactly gives the
/// same buckets without its false positives.
fn rare_terms_as_terms(name: &str, body: Map<String, Value>) -> Result<(Map<String, Value>, u64), QueryError> {
    let mut terms = Map::new();
    let mut max_doc_count = 1;
    for (k, v) in body {
        match k.as_str() {
            "field" | "include" | "exclude" | "missing" | "value_type" => {
                terms.insert(k, v);
            }
            "max_doc_count" => {
                max_doc_count = match v.as_u64() {
                    Some(n) if (1..=MAX_RARE_DOC_COUNT).contains(&n) => n,
                    Some(n) if n > MAX_RARE_DOC_COUNT => {
                        return Err(QueryError::illegal_argument(format!(
                            "[max_doc_count] must be smaller than or equal to [{MAX_RARE_DOC_COUNT}] in [{name}]"
                        )));
                    }
                    _ => return Err(QueryError::illegal_argument(format!("[max_doc_count] must be greater than 0. Found [{v}] in [{name}]"))),
                }
            }
            "precision" => {
                if v.as_f64().is_none_or(|p| p < 0.00001) {
                    return Err(QueryError::illegal_argument(format!("[precision] must be greater than 0.00001. Found [{v}] in [{name}]")));
                }
            }
            other => return Err(bad(format!("[rare_terms] unknown field [{other}]"))),
        }
    }
    terms.insert("size".into(), json!(MAX_BUCKETS));
    terms.insert("order".into(), json!({"_key": "asc"}));
    Ok((terms, max_doc_count))
}

/// The reduced buckets of a `rare_terms` aggregation: those with at most `max_doc_count`
/// documents, rarest first then by key (OpenSearch's order).
fn keep_rare_buckets(obj: &mut Map<String, Value>, max_doc_count: u64) {
    obj.remove("doc_count_error_upper_bound");
    obj.remove("sum_other_doc_count");
    let Some(Value::Array(buckets)) = obj.get_mut("buckets") else { return };
    let count = |b: &Value| b.get("doc_count").and_then(Value::as_u64).unwrap_or(0);
    buckets.retain(|b| count(b) <= max_doc_count);
    // Stable: buckets come ordered by key.
    buckets.sort_by_key(count);
}

/// tantivy's range aggregation rejects overlapping ranges (OpenSearch counts a document in
/// each range it falls in); say so in OpenSearch's terms instead of tantivy's debug output.
fn check_disjoint_ranges(name: &str, body: &Map<String, Value>) -> Result<(), QueryError> {
    let Some(Value::Array(ranges)) = body.get("ranges") else { return Ok(()) };
    let mut bounds: Vec<(f64, f64, String)> = ranges
        .iter()
        .map(|r| {
            let bound = |k: &str, open: f64| r.get(k).and_then(Value::as_f64).unwrap_or(open);
            let key = r.get("key").and_then(Value::as_str).map(|k| format!(" [{k}]")).unwrap_or_default();
            (bound("from", f64::NEG_INFINITY), bound("to", f64::INFINITY), key)
        })
        .collect();
    bounds.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.total_cmp(&b.1)));
    for pair in bounds.windows(2) {
        let ((f1, t1, k1), (f2, t2, k2)) = (&pair[0], &pair[1]);
        if t1 > f2 {
            return Err(QueryError::illegal_argument(format!(
                "[{name}]: overlapping ranges are not supported: range{k1} from [{f1}] to [{t1}] overlaps range{k2} from [{f2}] to [{t2}]"
            )));
        }
    }
    Ok(())
}

fn date_value_to_millis(v: &Value, format: Option<&str>) -> Result<Value, QueryError> {
    if v.is_null() {
        return Ok(Value::Null);
    }
    let fmt = DateFormat::parse(format.unwrap_or(DateFormat::DEFAULT)).map_err(|e| bad(format!("failed to parse date format: {e}")))?;
    parse_date_millis(v, &fmt).map(|m| json!(m as f64)).map_err(|e| bad(format!("failed to parse date [{v}]: {e}")))
}

/// Calendar units that have a fixed length (OpenSearch `calendar_interval`).
fn calendar_to_fixed(unit: &str) -> Option<&'static str> {
    Some(match unit {
        "minute" | "1m" => "1m",
        "hour" | "1h" => "1h",
        "day" | "1d" => "1d",
        "week" | "1w" => "7d",
        "second" | "1s" => "1s",
        _ => return None,
    })
}

/// `include`/`exclude` on an ip field: exact addresses only (normalised like indexed values);
/// regular expressions only apply to string fields, as in OpenSearch.
fn normalize_ip_include_exclude(name: &str, body: &mut Map<String, Value>) -> Result<(), QueryError> {
    for key in ["include", "exclude"] {
        match body.get_mut(key) {
            None => {}
            Some(Value::Array(items)) => {
                for item in items.iter_mut() {
                    let s = item.as_str().ok_or_else(|| bad(format!("[{key}] values must be strings")))?;
                    let ip = crate::ip::normalize_ip(s).map_err(QueryError::illegal_argument)?;
                    *item = Value::String(ip);
                }
            }
            Some(_) => {
                // OpenSearch raises an `AggregationExecutionException` here: a 500.
                return Err(QueryError::new(
                    500,
                    "aggregation_execution_exception",
                    format!("Aggregation [{name}] cannot support regular expression style include/exclude settings as they can only be applied to string fields. Use an array of values for include/exclude clauses"),
                ));
            }
        }
    }
    Ok(())
}

fn rename_deprecated_order_keys(order: &mut Map<String, Value>) {
    for old in ["_term", "_time"] {
        if let Some(direction) = order.remove(old) {
            order.insert("_key".into(), direction);
        }
    }
}

/// Per-segment bucket bound for `terms` when collecting a shard: a shard's counts are exact for
/// fields with up to this many distinct values per segment (OpenSearch counts a shard exactly;
/// its `shard_size` cut comes after, see [`TermsShardCut`]).
const EXACT_TERMS_SEGMENT_SIZE: u64 = 65_536;

/// The `shard_cut` request: every `terms` (at any depth) cut at its `shard_size`.
fn set_shard_sizes(level: &mut Value, metas: &[(String, AggMeta)]) {
    for (name, meta) in metas {
        let Some(def) = level.get_mut(name) else { continue };
        if let Some(cut) = meta.terms_cut {
            if let Some(body) = def.get_mut("terms").and_then(Value::as_object_mut) {
                body.remove("split_size");
                body.insert("segment_size".into(), json!(cut.shard_size));
            }
        }
        if let Some(sub) = def.get_mut("aggs") {
            set_shard_sizes(sub, &meta.children);
        }
    }
}

fn rewrite_body(
    name: &str,
    agg_type: &str,
    mut body: Map<String, Value>,
    mappings: &[Arc<Mapping>],
) -> Result<(Map<String, Value>, Option<FieldKind>, String, Option<(char, u64)>), QueryError> {
    // `rare_terms` collects as a `terms` aggregation over every term (`rare_terms_as_terms`).
    let agg_type = if agg_type == "rare_terms" { "terms" } else { agg_type };
    let mut kind;
    let mut calendar = None;
    let value_type = match body.remove("value_type") {
        None => None,
        Some(v) => {
            let hint = v.as_str().unwrap_or_default();
            Some(super::composite_agg::value_type_kind(hint).ok_or_else(|| {
                QueryError::illegal_argument(format!("Unknown value type [{hint}] in aggregation [{name}]"))
            })?)
        }
    };
    if let Some(field) = body.get("field").and_then(Value::as_str).map(String::from) {
        let (k, column) = field_kind_of(mappings, &field)?;
        // As OpenSearch's `ValuesSourceConfig`: `value_type` is a hint for an unmapped field
        // only; a mapped field keeps its own type.
        kind = k.or(value_type);
        body.insert("field".into(), Value::String(column));
    } else if body.contains_key("script") {
        return Err(QueryError::illegal_argument("scripts in aggregations are not supported"));
    } else {
        return Err(QueryError::illegal_argument(format!(
            "Required one of fields [field, script], but none were specified (aggregation [{name}] of type [{agg_type}])"
        )));
    }
    if kind == Some(FieldKind::Ip) {
        normalize_ip_include_exclude(name, &mut body)?;
    }
    // OpenSearch counts a shard's terms exactly and then cuts at `shard_size`. tantivy cuts
    // each *segment's* buckets at `segment_size` (default 10 × size) before merging, which
    // would make a shard's counts approximate and dependent on its segment layout: collect
    // with a generous per-segment bound instead (the `shard_size` cut is `shard_cut`).
    if agg_type == "terms" {
        let shard_size = body.remove("shard_size").and_then(|v| v.as_u64()).unwrap_or(0);
        if !body.contains_key("segment_size") && !body.contains_key("split_size") {
            body.insert("segment_size".into(), json!(EXACT_TERMS_SEGMENT_SIZE.max(shard_size)));
        }
        // tantivy's own error sums its cut-offs, which is not OpenSearch's bound: the reduce
        // reports OpenSearch's (top-level `terms`), others report 0.
        body.entry("show_term_doc_count_error").or_insert(json!(false));
    }
    // `_term` (terms) and `_time` (histograms) are the deprecated names of `_key`.
    match body.get_mut("order") {
        Some(Value::Object(order)) => rename_deprecated_order_keys(order),
        Some(Value::Array(orders)) => orders
            .iter_mut()
            .filter_map(Value::as_object_mut)
            .for_each(rename_deprecated_order_keys),
        _ => {}
    }

    let numeric_only = matches!(
        agg_type,
        "avg" | "min" | "max" | "sum" | "stats" | "extended_stats" | "percentiles" | "histogram" | "range"
    );
    if numeric_only && matches!(kind, Some(FieldKind::Keyword | FieldKind::Ip)) {
        return Err(QueryError::illegal_argument(format!(
            "Field [{}] of type [{}] is not supported for aggregation [{agg_type}]",
            body.get("field").and_then(Value::as_str).unwrap_or_default().trim_start_matches("_kw."),
            kind.map_or("keyword", FieldKind::name)
        )));
    }
    // `missing` for dates is given as a date.
    let format = body.get("format").and_then(Value::as_str).map(String::from);
    let mut tantivy_type = agg_type.to_string();
    match agg_type {
        "date_histogram" => {
            for key in ["interval", "calendar_interval"] {
                if let Some(v) = body.remove(key) {
                    let unit = v.as_str().unwrap_or_default().to_string();
                    let calendar_unit = match unit.as_str() {
                        "month" | "1M" => Some('M'),
                        "quarter" | "1q" => Some('q'),
                        "year" | "1y" => Some('y'),
                        _ => None,
                    };
                    if let Some(c) = calendar_unit {
                        let min_doc_count =
                            body.remove("min_doc_count").and_then(|v| v.as_u64()).unwrap_or(0);
                        calendar = Some((c, min_doc_count));
                        body.insert("fixed_interval".into(), json!("1d"));
                        continue;
                    }
                    let fixed = calendar_to_fixed(&unit)
                        .map(String::from)
                        .or_else(|| (key == "interval" && parse_fixed_ok(&unit)).then(|| unit.clone()))
                        .ok_or_else(|| {
                            QueryError::illegal_argument(format!(
                                "unknown calendar interval [{unit}] (minute, hour, day, week, month, quarter, year)"
                            ))
                        })?;
                    if unit == "week" || unit == "1w" {
                        // Calendar weeks start on Monday; 1970-01-01 was a Thursday.
                        body.entry("offset").or_insert(json!("-3d"));
                    }
                    body.insert("fixed_interval".into(), Value::String(fixed));
                }
            }
            body.remove("time_zone");
            body.remove("format");
            for key in ["extended_bounds", "hard_bounds"] {
                if let Some(Value::Object(b)) = body.get(key).cloned() {
                    let mut nb = Map::new();
                    for (bk, bv) in b {
                        nb.insert(bk, date_value_to_millis(&bv, format.as_deref())?);
                    }
                    body.insert(key.into(), Value::Object(nb));
                }
            }
        }
        "date_range" | "range" => {
            if agg_type == "date_range" || kind == Some(FieldKind::Date) {
                if let Some(Value::Array(ranges)) = body.get("ranges").cloned() {
                    let mut out = Vec::new();
                    for r in ranges {
                        let mut r = r.as_object().cloned().unwrap_or_default();
                        for bk in ["from", "to"] {
                            if let Some(v) = r.get(bk).cloned() {
                                // Range bounds on date columns are in the column's unit: nanos.
                                let ms = date_value_to_millis(&v, format.as_deref())?;
                                let nanos = ms.as_f64().map(|m| json!(m * 1e6)).unwrap_or(Value::Null);
                                r.insert(bk.into(), nanos);
                            }
                        }
                        out.push(Value::Object(r));
                    }
                    body.insert("ranges".into(), Value::Array(out));
                }
                body.remove("format");
                body.remove("time_zone");
            }
            tantivy_type = "range".into();
        }
        "percentiles" => {
            if let Some(c) = body.remove("tdigest").and_then(|t| t.get("compression").and_then(Value::as_f64)) {
                if c < 0.0 {
                    return Err(QueryError::illegal_argument(format!(
                        "[compression] must be greater than or equal to 0. Found [{c:?}] in [{name}]"
                    )));
                }
            }
            match body.get("percents") {
                None => {}
                Some(Value::Array(p)) if !p.is_empty() => {}
                Some(_) => {
                    return Err(QueryError::illegal_argument(format!(
                        "[percents] must not be empty or null in [{name}]"
                    )));
                }
            }
        }
        "cardinality" => {
            if let Some(p) = body.remove("precision_threshold") {
                if p.as_f64().is_some_and(|p| p < 0.0) {
                    return Err(QueryError::illegal_argument(format!(
                        "[precisionThreshold] must be greater than or equal to 0. Found [{p}] in [{name}]"
                    )));
                }
            }
            body.remove("execution_hint");
        }
        _ => {}
    }
    if kind == Some(FieldKind::Date) {
        if let Some(m) = body.get("missing").cloned() {
            if m.is_string() {
                body.insert("missing".into(), date_value_to_millis(&m, format.as_deref())?);
            }
        }
    }
    // Boolean columns hold 0/1; tantivy's `missing` takes a number or a string.
    if let Some(Value::Bool(b)) = body.get("missing").cloned() {
        body.insert("missing".into(), json!(i64::from(b)));
        kind = kind.or(Some(FieldKind::Boolean));
    }
    Ok((body, kind, tantivy_type, calendar))
}

/// Merges day buckets (key = epoch millis) into calendar month/quarter/year buckets.
fn merge_calendar_buckets(buckets: Vec<Value>, unit: char, min_doc_count: u64) -> Vec<Value> {
    let mut merged: Vec<(i64, u64)> = Vec::new();
    for b in buckets {
        let (Some(key), Some(count)) = (b.get("key").and_then(Value::as_f64), b.get("doc_count").and_then(Value::as_u64)) else {
            continue;
        };
        let start = calendar_bucket_start(key as i64, unit);
        match merged.last_mut() {
            Some((k, c)) if *k == start => *c += count,
            _ => merged.push((start, count)),
        }
    }
    merged
        .into_iter()
        .filter(|(_, c)| *c >= min_doc_count)
        .map(|(k, c)| json!({"key_as_string": format_millis_iso(k), "key": k, "doc_count": c}))
        .collect()
}

fn parse_fixed_ok(unit: &str) -> bool {
    let digits = unit.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
}

/// The `typed_keys` prefix OpenSearch uses for each aggregation type.
fn typed_prefix(meta: &AggMeta) -> &'static str {
    match (meta.agg_type.as_str(), meta.kind) {
        ("terms", Some(FieldKind::Long | FieldKind::Date | FieldKind::Boolean)) => "lterms",
        ("terms", Some(FieldKind::Double)) => "dterms",
        ("terms", _) => "sterms",
        ("rare_terms", Some(FieldKind::Long | FieldKind::Date | FieldKind::Boolean)) => "lrareterms",
        ("rare_terms", _) => "srareterms",
        ("range", Some(FieldKind::Date)) | ("date_range", _) => "date_range",
        ("range", _) => "range",
        ("histogram", _) => "histogram",
        ("date_histogram", _) => "date_histogram",
        ("avg", _) => "avg",
        ("min", _) => "min",
        ("max", _) => "max",
        ("sum", _) => "sum",
        ("stats", _) => "stats",
        ("extended_stats", _) => "extended_stats",
        ("value_count", _) => "value_count",
        ("cardinality", _) => "cardinality",
        ("percentiles", _) => "tdigest_percentiles",
        ("composite", _) => "composite",
        _ => "agg",
    }
}

fn rewrite_result(value: Value, metas: &[(String, AggMeta)], typed_keys: bool, doc_count_errors: &[(String, i64)]) -> Value {
    let Value::Object(mut obj) = value else { return value };
    let mut out = Map::new();
    for (name, meta) in metas {
        let Some(v) = obj.remove(name) else { continue };
        let mut v = rewrite_one(v, meta, typed_keys);
        if let (Some((_, error)), Value::Object(o)) = (doc_count_errors.iter().find(|(n, _)| n == name), &mut v) {
            o.insert("doc_count_error_upper_bound".into(), json!(error));
        }
        let key = if typed_keys { format!("{}#{name}", typed_prefix(meta)) } else { name.clone() };
        out.insert(key, v);
    }
    Value::Object(out)
}

fn as_int_if_integral(v: &Value) -> Value {
    match v.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 9.0e15 => json!(f as i64),
        _ => v.clone(),
    }
}

fn rewrite_bucket(mut bucket: Map<String, Value>, meta: &AggMeta, typed_keys: bool) -> Map<String, Value> {
    let is_date = meta.kind == Some(FieldKind::Date);
    match meta.agg_type.as_str() {
        "terms" | "rare_terms" | "histogram" | "date_histogram" => {
            if let Some(key) = bucket.get("key").cloned() {
                match meta.kind {
                    Some(FieldKind::Long) => {
                        bucket.insert("key".into(), as_int_if_integral(&key));
                    }
                    Some(FieldKind::Date) => {
                        // tantivy's terms aggregation keys dates as RFC 3339 strings.
                        let ms = key.as_f64().map(|f| f as i64).or_else(|| {
                            crate::date::DateFormat::default_format().parse_value(&key).ok()
                        });
                        if let Some(ms) = ms {
                            bucket.insert("key".into(), json!(ms));
                            bucket.insert("key_as_string".into(), json!(format_millis_iso(ms)));
                        }
                    }
                    Some(FieldKind::Boolean) => {
                        let truthy = key.as_f64().map(|f| f != 0.0).or(key.as_bool()).unwrap_or(false);
                        bucket.insert("key".into(), json!(i64::from(truthy)));
                        bucket.insert("key_as_string".into(), json!(truthy.to_string()));
                    }
                    _ => {}
                }
            }
        }
        "range" if !is_date => {
            // OpenSearch prints generated numeric range keys as doubles (`*-50.0`); tantivy
            // prints `*-50`. Only rewrite keys tantivy generated, not user-given ones.
            let bound = |k: &str| bucket.get(k).and_then(Value::as_f64);
            let (from, to) = (bound("from"), bound("to"));
            let show = |b: Option<f64>, debug: bool| match b {
                Some(f) if debug => format!("{f:?}"),
                Some(f) => f.to_string(),
                None => "*".to_string(),
            };
            let generated = format!("{}-{}", show(from, false), show(to, false));
            if bucket.get("key").and_then(Value::as_str) == Some(generated.as_str()) {
                bucket.insert("key".into(), json!(format!("{}-{}", show(from, true), show(to, true))));
            }
        }
        "range" | "date_range" if is_date => {
            let mut key_parts = Vec::new();
            for (k, ks) in [("from", "from_as_string"), ("to", "to_as_string")] {
                match bucket.get(k).and_then(Value::as_f64) {
                    Some(nanos) => {
                        let ms = (nanos / 1e6) as i64;
                        bucket.insert(k.into(), json!(ms as f64));
                        let s = format_millis_iso(ms);
                        key_parts.push(s.clone());
                        bucket.insert(ks.into(), json!(s));
                    }
                    None => key_parts.push("*".to_string()),
                }
            }
            if bucket.get("key").is_some_and(Value::is_string) {
                bucket.insert("key".into(), json!(key_parts.join("-")));
            }
        }
        _ => {}
    }
    // Sub-aggregations live next to `key`/`doc_count`.
    for (child_name, child_meta) in &meta.children {
        if let Some(v) = bucket.remove(child_name) {
            let key = if typed_keys {
                format!("{}#{child_name}", typed_prefix(child_meta))
            } else {
                child_name.clone()
            };
            bucket.insert(key, rewrite_one(v, child_meta, typed_keys));
        }
    }
    bucket
}

/// False for a gap-filling bucket tantivy added to a numeric `range` aggregation.
fn is_requested_range(bucket: &Value, meta: &AggMeta) -> bool {
    let Some(ranges) = &meta.requested_ranges else { return true };
    let bound = |k: &str| bucket.get(k).and_then(Value::as_f64);
    let (from, to) = (bound("from"), bound("to"));
    let same = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (None, None) => true,
        (Some(x), Some(y)) => x == y,
        _ => false,
    };
    ranges.iter().any(|(f, t)| same(*f, from) && same(*t, to))
}

fn rewrite_one(value: Value, meta: &AggMeta, typed_keys: bool) -> Value {
    let Value::Object(mut obj) = value else { return value };
    match obj.remove("buckets") {
        Some(Value::Array(buckets)) if meta.calendar.is_some() => {
            let (unit, min_doc_count) = meta.calendar.unwrap_or(('M', 0));
            obj.insert("buckets".into(), Value::Array(merge_calendar_buckets(buckets, unit, min_doc_count)));
        }
        Some(Value::Array(buckets)) => {
            let rewritten = buckets
                .into_iter()
                .filter(|b| is_requested_range(b, meta))
                .map(|b| match b {
                    Value::Object(m) => Value::Object(rewrite_bucket(m, meta, typed_keys)),
                    other => other,
                })
                .collect();
            obj.insert("buckets".into(), Value::Array(rewritten));
        }
        Some(Value::Object(keyed)) => {
            let rewritten = keyed
                .into_iter()
                .filter(|(_, b)| is_requested_range(b, meta))
                .map(|(k, b)| match b {
                    Value::Object(m) => (k, Value::Object(rewrite_bucket(m, meta, typed_keys))),
                    other => (k, other),
                })
                .collect();
            obj.insert("buckets".into(), Value::Object(rewritten));
        }
        Some(other) => {
            obj.insert("buckets".into(), other);
        }
        None => {}
    }
    if meta.kind == Some(FieldKind::Date) && matches!(meta.agg_type.as_str(), "min" | "max" | "avg") {
        // tantivy reports date metrics in the column's unit (nanoseconds); OpenSearch in millis.
        if let Some(nanos) = obj.get("value").and_then(Value::as_f64) {
            let ms = nanos / 1e6;
            obj.insert("value".into(), json!(ms));
            obj.insert("value_as_string".into(), json!(format_millis_iso(ms as i64)));
        }
    }
    if meta.agg_type == "value_count" || meta.agg_type == "cardinality" {
        if let Some(v) = obj.get("value").cloned() {
            obj.insert("value".into(), as_int_if_integral(&v));
        }
    }
    if let Some(composite) = &meta.composite {
        composite.rewrite_result(&mut obj);
    }
    if meta.agg_type == "terms" {
        obj.entry("doc_count_error_upper_bound").or_insert(json!(0));
        obj.entry("sum_other_doc_count").or_insert(json!(0));
    }
    if let Some(max_doc_count) = meta.rare_max_doc_count {
        keep_rare_buckets(&mut obj, max_doc_count);
    }
    if let Some(m) = &meta.meta {
        obj.insert("meta".into(), m.clone());
    }
    Value::Object(obj)
}
