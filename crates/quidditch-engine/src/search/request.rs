//! A search request: the JSON body merged with URL parameters (which win, like OpenSearch).

use std::collections::HashMap;
use std::time::Duration;

use serde_json::Value;

use super::sort::SortSpec;
use super::source_filter::{SourceFilter, split_list};
use crate::query_ast::{QueryAst, QueryError};
use crate::query_dsl::{parse_query, parse_uri_query};

/// OpenSearch's `index.max_result_window` default.
pub const MAX_RESULT_WINDOW: usize = 10_000;
/// Default `track_total_hits`: accurate up to 10,000.
pub const DEFAULT_TRACK_TOTAL_HITS: u64 = 10_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TrackTotalHits {
    /// `false`: no `hits.total` in the response.
    Disabled,
    /// `true`: always exact.
    Exact,
    /// A number: exact up to it, then `{"value": n, "relation": "gte"}`.
    UpTo(u64),
}

#[derive(Debug, Clone)]
pub struct SearchRequest {
    pub query: QueryAst,
    /// Applied to hits only, after aggregations.
    pub post_filter: Option<QueryAst>,
    pub from: usize,
    pub size: usize,
    pub sort: Vec<SortSpec>,
    pub source: SourceFilter,
    pub track_total_hits: TrackTotalHits,
    pub track_scores: bool,
    pub search_after: Option<Vec<Value>>,
    pub timeout: Option<Duration>,
    /// The raw `aggs`/`aggregations` object.
    pub aggs: Option<Value>,
    pub min_score: Option<f32>,
    pub version: bool,
    pub seq_no_primary_term: bool,
    /// URL flags that change the response shape.
    pub rest_total_hits_as_int: bool,
    pub typed_keys: bool,
    /// `_count`: only the number of matches is computed and rendered.
    pub count_only: bool,
    /// `?routing=a,b`: only the shards these routing values point to are searched.
    pub routing: Option<Vec<String>>,
    /// `allow_partial_search_results` (default true, as OpenSearch): a failed shard is
    /// reported in `_shards.failures` instead of failing the whole search.
    pub allow_partial_search_results: bool,
    /// `explain`: each hit carries its score explanation (`_explanation`).
    pub explain: bool,
    /// `search_type=dfs_query_then_fetch`: score with the statistics of every searched shard
    /// (`search::dfs`) instead of each shard's own (`query_then_fetch`, the default).
    pub dfs: bool,
    /// `?scroll=1m`: open a scroll context kept alive this long (see `search::scroll`).
    pub scroll: Option<Duration>,
    /// `slice: {id, max}` of a sliced scroll: this request sees one of `max` disjoint parts.
    pub slice: Option<Slice>,
    /// `highlight`: fragments of the hits' fields with the query terms tagged.
    pub highlight: Option<super::highlight::HighlightSpec>,
    /// `fields` and `docvalue_fields`: values shown under `hits.hits[].fields`.
    pub fields: Vec<super::fields::FieldRequest>,
    /// `pit: {id, keep_alive}`: search the point in time's pinned shards (see `search::pit`).
    pub pit: Option<PitRef>,
    /// `terminate_after`: each shard stops collecting after this many matching documents
    /// (the response then says `terminated_early`).
    pub terminate_after: Option<usize>,
    /// `indices_boost`: score multipliers by index name, alias or pattern, first match wins
    /// (resolved to the searched indices by the caller into `SearchTarget::boost`).
    pub indices_boost: Vec<(String, f32)>,
    /// `profile: true`: each shard reports where its time went (`search::profile`).
    pub profile: bool,
    /// `stats`: the statistics groups the search is counted in. OpenSearch only uses them in
    /// the `_stats` API's search section, which Quidditch does not report; validated only.
    pub stats_groups: Vec<String>,
    /// `collapse`: one hit per value of a field (see `search::collapse`).
    pub collapse: Option<super::collapse::CollapseSpec>,
    /// `rescore`: rescorers applied in order to each shard's top hits (`search::rescore`).
    pub rescore: Vec<super::rescore::RescoreSpec>,
    /// `search.max_buckets`, a cluster setting rather than a request key: the HTTP layer
    /// copies the node's current limit (`search::SearchLimits`) in.
    pub max_buckets: u32,
}

/// The `pit` object of a search body.
#[derive(Debug, Clone, PartialEq)]
pub struct PitRef {
    pub id: String,
    /// Renews the PIT's keep-alive when given.
    pub keep_alive: Option<Duration>,
}

impl PitRef {
    fn parse(v: &Value) -> Result<PitRef, QueryError> {
        let obj = v.as_object().ok_or_else(|| QueryError::parsing("[pit] must be an object"))?;
        let mut id = None;
        let mut keep_alive = None;
        for (k, v) in obj {
            match (k.as_str(), v) {
                ("id", Value::String(s)) => id = Some(s.clone()),
                ("keep_alive", Value::String(s)) => {
                    keep_alive = Some(parse_time_value(s)?.ok_or_else(|| {
                        QueryError::illegal_argument(format!("[pit] [keep_alive] must be a positive time value, got [{s}]"))
                    })?)
                }
                ("id" | "keep_alive", other) => {
                    return Err(QueryError::parsing(format!("[pit] [{k}] must be a string, got [{other}]")));
                }
                (other, _) => return Err(QueryError::parsing(format!("[pit] unknown field [{other}]"))),
            }
        }
        let id = id.filter(|s| !s.is_empty()).ok_or_else(|| QueryError::parsing("[pit] needs an [id]"))?;
        Ok(PitRef { id, keep_alive })
    }
}

/// One part of a sliced scroll.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Slice {
    pub id: u32,
    pub max: u32,
}

impl Slice {
    fn parse(v: &Value) -> Result<Slice, QueryError> {
        let obj = v.as_object().ok_or_else(|| QueryError::parsing("[slice] must be an object"))?;
        let mut id = None;
        let mut max = None;
        for (k, v) in obj {
            let n = v.as_u64().ok_or_else(|| QueryError::parsing(format!("[slice] [{k}] must be a non-negative integer")))?;
            match k.as_str() {
                "id" => id = Some(n),
                "max" => max = Some(n),
                other => return Err(QueryError::parsing(format!("[slice] unknown field [{other}]"))),
            }
        }
        let (Some(id), Some(max)) = (id, max) else {
            return Err(QueryError::parsing("[slice] needs both [id] and [max]"));
        };
        if max <= 1 {
            return Err(QueryError::illegal_argument("max must be greater than 1"));
        }
        if id >= max {
            return Err(QueryError::illegal_argument("max must be greater than id"));
        }
        Ok(Slice { id: id as u32, max: max as u32 })
    }
}

impl Default for SearchRequest {
    fn default() -> Self {
        SearchRequest {
            query: QueryAst::match_all(),
            post_filter: None,
            from: 0,
            size: 10,
            sort: Vec::new(),
            source: SourceFilter::default(),
            track_total_hits: TrackTotalHits::UpTo(DEFAULT_TRACK_TOTAL_HITS),
            track_scores: false,
            search_after: None,
            timeout: None,
            aggs: None,
            min_score: None,
            version: false,
            seq_no_primary_term: false,
            rest_total_hits_as_int: false,
            typed_keys: false,
            count_only: false,
            routing: None,
            allow_partial_search_results: true,
            scroll: None,
            slice: None,
            explain: false,
            highlight: None,
            fields: Vec::new(),
            dfs: false,
            pit: None,
            terminate_after: None,
            indices_boost: Vec::new(),
            profile: false,
            stats_groups: Vec::new(),
            collapse: None,
            rescore: Vec::new(),
            max_buckets: super::aggregations::MAX_BUCKETS,
        }
    }
}

fn parse_usize_value(name: &str, value: &Value) -> Result<i64, QueryError> {
    match value {
        Value::Number(n) => match n.as_i64() {
            Some(i) if i <= i32::MAX as i64 && i >= i32::MIN as i64 => Ok(i),
            _ => Err(QueryError::new(
                400,
                "input_coercion_exception",
                format!("Numeric value ({n}) out of range of int (-2147483648 - 2147483647)"),
            )),
        },
        Value::String(s) => parse_int_param(name, s),
        other => Err(QueryError::parsing(format!("[{name}] must be a number, got [{other}]"))),
    }
}

fn parse_int_param(name: &str, s: &str) -> Result<i64, QueryError> {
    let i: i64 = s.trim().parse().map_err(|_| {
        QueryError::illegal_argument(format!("Failed to parse int parameter [{name}] with value [{s}]"))
    })?;
    if i > i32::MAX as i64 || i < i32::MIN as i64 {
        return Err(QueryError::new(
            400,
            "input_coercion_exception",
            format!("Numeric value ({i}) out of range of int (-2147483648 - 2147483647)"),
        ));
    }
    Ok(i)
}

fn parse_track_total_hits(value: &Value) -> Result<TrackTotalHits, QueryError> {
    match value {
        Value::Bool(true) => Ok(TrackTotalHits::Exact),
        Value::Bool(false) => Ok(TrackTotalHits::Disabled),
        Value::String(s) if s == "true" => Ok(TrackTotalHits::Exact),
        Value::String(s) if s == "false" => Ok(TrackTotalHits::Disabled),
        other => {
            let n = parse_usize_value("track_total_hits", other)?;
            match n {
                -1 => Ok(TrackTotalHits::Exact),
                n if n < 0 => Err(QueryError::illegal_argument(format!(
                    "[track_total_hits] parameter must be positive or equals to -1, got {n}"
                ))),
                n => Ok(TrackTotalHits::UpTo(n as u64)),
            }
        }
    }
}

/// `1s`, `500ms`, `2m`, `-1` (none).
pub fn parse_time_value(s: &str) -> Result<Option<Duration>, QueryError> {
    let s = s.trim();
    if s == "-1" {
        return Ok(None);
    }
    let bad = || QueryError::parsing(format!("failed to parse setting [timeout] with value [{s}] as a time value: unit is missing or unrecognized"));
    let split = s.find(|c: char| !c.is_ascii_digit() && c != '.').ok_or_else(bad)?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| bad())?;
    let millis = match unit {
        "nanos" => n / 1e6,
        "micros" => n / 1e3,
        "ms" => n,
        "s" => n * 1e3,
        "m" => n * 60e3,
        "h" => n * 3600e3,
        "d" => n * 86400e3,
        _ => return Err(bad()),
    };
    Ok(Some(Duration::from_micros((millis * 1000.0) as u64)))
}

impl SearchRequest {
    /// Builds a request from the body (if any) and URL parameters.
    /// The `_count` form of this request: its query, counted exactly; no hits, no aggregations.
    pub fn into_count(self) -> SearchRequest {
        SearchRequest {
            query: self.query,
            routing: self.routing,
            terminate_after: self.terminate_after,
            count_only: true,
            size: 0,
            track_total_hits: TrackTotalHits::Exact,
            ..Default::default()
        }
    }

    pub fn parse(body: Option<&Value>, params: &HashMap<String, String>) -> Result<SearchRequest, QueryError> {
        let mut req = SearchRequest::default();
        let mut from: i64 = 0;
        let mut size: i64 = 10;
        if let Some(body) = body {
            let obj = body.as_object().ok_or_else(|| {
                QueryError::parsing("request body must be a JSON object")
            })?;
            for (k, v) in obj {
                match k.as_str() {
                    "query" => req.query = parse_query(v)?,
                    "post_filter" => req.post_filter = Some(parse_query(v)?),
                    "from" => from = parse_usize_value("from", v)?,
                    "size" => size = parse_usize_value("size", v)?,
                    "sort" => req.sort = SortSpec::parse_list(v)?,
                    "_source" => req.source = SourceFilter::parse(v)?,
                    "track_total_hits" => req.track_total_hits = parse_track_total_hits(v)?,
                    "track_scores" => req.track_scores = v.as_bool().unwrap_or(false),
                    "search_after" => match v {
                        Value::Array(values) => req.search_after = Some(values.clone()),
                        _ => return Err(QueryError::parsing("[search_after] must be an array")),
                    },
                    "timeout" => match v {
                        Value::String(s) => req.timeout = parse_time_value(s)?,
                        Value::Number(n) => {
                            req.timeout = n.as_u64().map(Duration::from_millis);
                        }
                        _ => return Err(QueryError::parsing("[timeout] must be a time value")),
                    },
                    "aggs" | "aggregations" => {
                        if !v.is_object() {
                            return Err(QueryError::parsing("[aggs] must be an object"));
                        }
                        req.aggs = Some(v.clone());
                    }
                    "min_score" => {
                        req.min_score = Some(v.as_f64().ok_or_else(|| {
                            QueryError::parsing("[min_score] must be a number")
                        })? as f32)
                    }
                    "version" => req.version = v.as_bool().unwrap_or(false),
                    "seq_no_primary_term" => req.seq_no_primary_term = v.as_bool().unwrap_or(false),
                    "stored_fields" => {
                        // Only `_source` is stored; without it in the list, no source is returned.
                        let wants_source = match v {
                            Value::String(s) => s == "_source" || s == "*",
                            Value::Array(a) => a.iter().any(|x| x == "_source" || x == "*"),
                            _ => false,
                        };
                        if !wants_source {
                            req.source.enabled = false;
                        }
                    }
                    "slice" => req.slice = Some(Slice::parse(v)?),
                    "pit" => req.pit = Some(PitRef::parse(v)?),
                    // Accepted and ignored: they do not change which documents match.
                    "explain" => req.explain = v.as_bool().unwrap_or(false),
                    "highlight" => req.highlight = Some(super::highlight::HighlightSpec::parse(v)?),
                    "fields" => req.fields.extend(super::fields::parse_field_requests(k, v, false)?),
                    "docvalue_fields" => req.fields.extend(super::fields::parse_field_requests(k, v, true)?),
                    "terminate_after" => req.terminate_after = parse_terminate_after(parse_usize_value(k, v)?)?,
                    "indices_boost" => req.indices_boost = parse_indices_boost(v)?,
                    "profile" => match v {
                        Value::Bool(b) => req.profile = *b,
                        other => return Err(QueryError::parsing(format!("[profile] must be a boolean, got [{other}]"))),
                    },
                    "stats" => req.stats_groups = parse_stats_groups(v)?,
                    "ext" => check_search_ext(v)?,
                    "collapse" => req.collapse = Some(super::collapse::CollapseSpec::parse(v)?),
                    "rescore" => req.rescore = super::rescore::RescoreSpec::parse_list(v)?,
                    other => {
                        return Err(QueryError::parsing(format!(
                            "Unknown key for a START_OBJECT in [{other}]."
                        )));
                    }
                }
            }
        }
        let param = |name: &str| params.get(name).map(String::as_str);
        if let Some(query) = parse_uri_query(params)? {
            req.query = query;
        }
        if let Some(v) = param("docvalue_fields") {
            for name in split_list(v) {
                req.fields.push(super::fields::FieldRequest { pattern: name, doc_values: true });
            }
        }
        if let Some(v) = param("from") {
            from = parse_int_param("from", v)?;
        }
        if let Some(v) = param("size") {
            size = parse_int_param("size", v)?;
        }
        if let Some(v) = param("sort") {
            req.sort = SortSpec::parse_param(v)?;
        }
        if let Some(v) = param("_source") {
            req.source = SourceFilter::parse_param(v);
        }
        if let Some(v) = param("_source_includes").or(param("_source_include")) {
            req.source.enabled = true;
            req.source.includes = split_list(v);
        }
        if let Some(v) = param("_source_excludes").or(param("_source_exclude")) {
            req.source.enabled = true;
            req.source.excludes = split_list(v);
        }
        if let Some(v) = param("search_type") {
            req.dfs = match v {
                "query_then_fetch" => false,
                "dfs_query_then_fetch" => true,
                other => return Err(QueryError::illegal_argument(format!("No search type for [{other}]"))),
            };
        }
        if let Some(v) = param("terminate_after") {
            req.terminate_after = parse_terminate_after(parse_int_param("terminate_after", v)?)?;
        }
        if let Some(v) = param("stats") {
            req.stats_groups = split_list(v);
        }
        if let Some(v) = param("track_total_hits") {
            req.track_total_hits = parse_track_total_hits(&Value::String(v.to_string()))?;
        }
        if let Some(v) = param("timeout") {
            req.timeout = parse_time_value(v)?;
        }
        if let Some(v) = param("track_scores") {
            req.track_scores = v == "true";
        }
        if let Some(v) = param("version") {
            req.version = v == "true";
        }
        if let Some(v) = param("seq_no_primary_term") {
            req.seq_no_primary_term = v == "true";
        }
        req.typed_keys = param("typed_keys").is_some_and(|v| v != "false");
        if let Some(v) = param("routing") {
            req.routing = Some(split_list(v)).filter(|r| !r.is_empty());
        }
        if let Some(v) = param("allow_partial_search_results") {
            req.allow_partial_search_results = v != "false";
        }
        req.rest_total_hits_as_int = param("rest_total_hits_as_int").is_some_and(|v| v != "false");
        if req.rest_total_hits_as_int {
            match req.track_total_hits {
                TrackTotalHits::UpTo(n) if n != DEFAULT_TRACK_TOTAL_HITS || body_sets_tth(body) => {
                    return Err(QueryError::illegal_argument(format!(
                        "[rest_total_hits_as_int] cannot be used if the tracking of total hits is not accurate, got {n}"
                    )));
                }
                TrackTotalHits::UpTo(_) => req.track_total_hits = TrackTotalHits::Exact,
                _ => {}
            }
        }
        if let Some(v) = param("scroll") {
            req.scroll = Some(parse_time_value(v)?.ok_or_else(|| {
                QueryError::illegal_argument(format!("[scroll] must be a positive time value, got [{v}]"))
            })?);
        }
        if req.scroll.is_some() && req.pit.is_some() {
            return Err(QueryError::illegal_argument("using [point in time] is not allowed in a scroll context"));
        }
        super::collapse::CollapseSpec::check_request(&req)?;
        if !req.rescore.is_empty() && req.sort.iter().any(|s| !s.is_score()) {
            return Err(QueryError::illegal_argument("Cannot use [sort] option in conjunction with [rescore]."));
        }
        if req.scroll.is_some() {
            check_scroll_request(&req, from, size, param("request_cache"))?;
        } else if req.slice.is_some() {
            return Err(QueryError::illegal_argument("[slice] can only be used with [scroll]"));
        }
        if from < 0 {
            return Err(QueryError::illegal_argument("[from] parameter cannot be negative"));
        }
        if size < 0 {
            return Err(QueryError::illegal_argument(format!(
                "[size] parameter cannot be negative, found [{size}]"
            )));
        }
        let (from, size) = (from as usize, size as usize);
        if req.scroll.is_none() && from + size > MAX_RESULT_WINDOW {
            return Err(QueryError::illegal_argument(format!(
                "Result window is too large, from + size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was [{}]. See the scroll api for a more efficient way to request large data sets. This limit can be set by changing the [index.max_result_window] index level setting.",
                from + size
            )));
        }
        if let Some(after) = &req.search_after {
            if from > 0 {
                return Err(QueryError::illegal_argument(
                    "`from` parameter must be set to 0 when `search_after` is used.",
                ));
            }
            let keys = req.sort.len().max(1);
            if after.len() != keys {
                return Err(QueryError::illegal_argument(format!(
                    "search_after has {} value(s) but sort has {keys}.",
                    after.len()
                )));
            }
        }
        req.from = from;
        req.size = size;
        Ok(req)
    }
}

/// What OpenSearch refuses in a scroll request.
fn check_scroll_request(req: &SearchRequest, from: i64, size: i64, request_cache: Option<&str>) -> Result<(), QueryError> {
    if size == 0 {
        return Err(QueryError::illegal_argument("[size] cannot be [0] in a scroll context"));
    }
    if size > MAX_RESULT_WINDOW as i64 {
        return Err(QueryError::illegal_argument(format!(
            "Batch size is too large, size must be less than or equal to: [{MAX_RESULT_WINDOW}] but was [{size}]. Scroll batch sizes cost as much memory as result windows so they are controlled by the [index.max_result_window] index level setting."
        )));
    }
    if from > 0 {
        return Err(QueryError::illegal_argument("using [from] is not allowed in a scroll context"));
    }
    if request_cache.is_some_and(|v| v != "false") {
        return Err(QueryError::illegal_argument("[request_cache] cannot be used in a scroll context"));
    }
    if req.search_after.is_some() {
        return Err(QueryError::illegal_argument("`search_after` cannot be used in a scroll context."));
    }
    Ok(())
}

fn body_sets_tth(body: Option<&Value>) -> bool {
    body.and_then(|b| b.get("track_total_hits")).is_some()
}

/// `terminate_after`: 0 means no limit, as in OpenSearch.
fn parse_terminate_after(n: i64) -> Result<Option<usize>, QueryError> {
    match n {
        n if n < 0 => Err(QueryError::illegal_argument("terminateAfter must be > 0")),
        0 => Ok(None),
        n => Ok(Some(n as usize)),
    }
}

/// `indices_boost`: `[{"index": boost}, …]`, or the deprecated object form `{"index": boost}`
/// (its entries in body order). Each key is an index name, alias or pattern.
fn parse_indices_boost(v: &Value) -> Result<Vec<(String, f32)>, QueryError> {
    let boost = |name: &str, b: &Value| -> Result<(String, f32), QueryError> {
        match b.as_f64() {
            Some(f) => Ok((name.to_string(), f as f32)),
            None => Err(QueryError::parsing(format!("[indices_boost] the boost of [{name}] must be a number, got [{b}]"))),
        }
    };
    match v {
        Value::Object(o) => o.iter().map(|(k, b)| boost(k, b)).collect(),
        Value::Array(entries) => entries
            .iter()
            .map(|e| match e.as_object() {
                Some(o) if o.len() == 1 => o.iter().map(|(k, b)| boost(k, b)).next().unwrap_or_else(|| unreachable!()),
                _ => Err(QueryError::parsing(format!(
                    "Expected [START_OBJECT] with exactly one index name in [indices_boost] but found [{e}]"
                ))),
            })
            .collect(),
        other => Err(QueryError::parsing(format!(
            "Expected [START_ARRAY] in [indices_boost] but found [{}]",
            if other.is_string() { "VALUE_STRING" } else { "a value" }
        ))),
    }
}

/// `stats`: a list of group names (or one name).
fn parse_stats_groups(v: &Value) -> Result<Vec<String>, QueryError> {
    let name = |g: &Value| {
        g.as_str().map(String::from).ok_or_else(|| QueryError::parsing(format!("[stats] entries must be strings, got [{g}]")))
    };
    match v {
        Value::Array(groups) => groups.iter().map(name).collect(),
        Value::String(_) => Ok(vec![name(v)?]),
        other => Err(QueryError::parsing(format!("[stats] must be an array of group names, got [{other}]"))),
    }
}

/// `ext`: search extensions come from plugins, and Quidditch has none, so any named section
/// is unknown (OpenSearch without the plugin fails the same way); `{}` is accepted.
fn check_search_ext(v: &Value) -> Result<(), QueryError> {
    let obj = v.as_object().ok_or_else(|| QueryError::parsing("[ext] must be an object"))?;
    match obj.keys().next() {
        None => Ok(()),
        Some(name) => Err(QueryError::new(
            400,
            "named_object_not_found_exception",
            format!("unknown search extension [{name}] in [ext]: no search extension is installed"),
        )),
    }
}
