//! The `top_hits` aggregation: the top documents of each bucket, as a sorted search.
//!
//! After the reduce, every bucket holding a `top_hits` runs one more search over the same
//! shards: the search's query restricted to the bucket (the conjunction of the bucket keys of
//! it and its ancestors, as [`bucket_filter`] turns them into queries) with the aggregation's
//! `from`, `size`, `sort` and `_source`. Its hits are what OpenSearch's `top_hits` returns for
//! that bucket, on any number of shards.

use serde_json::{Map, Value, json};

use super::request::{SearchRequest, TrackTotalHits};
use super::sort::SortSpec;
use super::source_filter::SourceFilter;
use crate::error::EngineResult;
use crate::query_ast::{BoolQuery, QueryAst, QueryError, calendar_bucket_start};
use crate::query_dsl::parse_query;

/// OpenSearch's default `top_hits` size.
const DEFAULT_SIZE: usize = 3;
const DAY_MS: i64 = 86_400_000;

/// One `top_hits` aggregation of the request.
#[derive(Debug, Clone)]
pub(crate) struct TopHitsSpec {
    pub name: String,
    from: usize,
    size: usize,
    sort: Vec<SortSpec>,
    source: SourceFilter,
    version: bool,
    seq_no_primary_term: bool,
    meta: Option<Value>,
}

impl TopHitsSpec {
    pub fn parse(name: &str, body: &Map<String, Value>, meta: Option<Value>) -> Result<TopHitsSpec, QueryError> {
        let mut spec = TopHitsSpec {
            name: name.to_string(),
            from: 0,
            size: DEFAULT_SIZE,
            sort: Vec::new(),
            source: SourceFilter::default(),
            version: false,
            seq_no_primary_term: false,
            meta,
        };
        for (k, v) in body {
            let count = || {
                v.as_u64()
                    .map(|n| n as usize)
                    .ok_or_else(|| QueryError::illegal_argument(format!("[top_hits] [{k}] must be a non-negative integer, got [{v}]")))
            };
            match k.as_str() {
                "from" => spec.from = count()?,
                "size" => spec.size = count()?,
                "sort" => spec.sort = SortSpec::parse_list(v)?,
                "_source" => spec.source = SourceFilter::parse(v)?,
                "version" => spec.version = v.as_bool().unwrap_or(false),
                "seq_no_primary_term" => spec.seq_no_primary_term = v.as_bool().unwrap_or(false),
                "track_scores" | "explain" if v == &json!(false) => {}
                other => return Err(QueryError::parsing(format!("[top_hits] unknown field [{other}]"))),
            }
        }
        if spec.from + spec.size > 100 {
            return Err(QueryError::illegal_argument(format!(
                "Top hits result window is too large, the top hits aggregator [{name}]'s from + size must be less than or equal to: [100] but was [{}]. This limit can be set by changing the [index.max_inner_result_window] index level setting.",
                spec.from + spec.size
            )));
        }
        Ok(spec)
    }

    /// The result of this aggregation for a bucket restricted by `filters` (DSL queries).
    pub fn run(
        &self,
        req: &SearchRequest,
        query: &QueryAst,
        filters: &[Value],
        typed_keys: bool,
        search: &mut dyn FnMut(&SearchRequest) -> EngineResult<Value>,
    ) -> EngineResult<(String, Value)> {
        let filter = filters.iter().map(parse_query).collect::<Result<Vec<_>, _>>()?;
        let sub = SearchRequest {
            query: QueryAst::Bool(BoolQuery { must: vec![query.clone()], filter, ..BoolQuery::default() }),
            from: self.from,
            size: self.size,
            sort: self.sort.clone(),
            source: self.source.clone(),
            version: self.version,
            seq_no_primary_term: self.seq_no_primary_term,
            track_total_hits: TrackTotalHits::Exact,
            rest_total_hits_as_int: req.rest_total_hits_as_int,
            routing: req.routing.clone(),
            timeout: req.timeout,
            ..SearchRequest::default()
        };
        let body = search(&sub)?;
        let mut out = json!({"hits": body.get("hits").cloned().unwrap_or(Value::Null)});
        if let Some(meta) = &self.meta {
            out["meta"] = meta.clone();
        }
        let key = if typed_keys { format!("top_hits#{}", self.name) } else { self.name.clone() };
        Ok((key, out))
    }
}

/// The query (OpenSearch DSL) selecting the documents of `bucket`, a bucket of the
/// aggregation of `agg_type` whose request body is `body`.
pub(crate) fn bucket_filter(agg_type: &str, body: &Map<String, Value>, bucket: &Value) -> Result<Value, QueryError> {
    let field = body.get("field").and_then(Value::as_str).unwrap_or_default();
    let key = bucket.get("key").cloned().unwrap_or(Value::Null);
    let unsupported = || QueryError::illegal_argument(format!("[top_hits] is not supported under a [{agg_type}] aggregation"));
    Ok(match agg_type {
        "terms" | "rare_terms" => term_filter(field, bucket),
        "histogram" => {
            let interval = body.get("interval").and_then(Value::as_f64).ok_or_else(unsupported)?;
            let from = key.as_f64().ok_or_else(unsupported)?;
            json!({"range": {field: {"gte": from, "lt": from + interval}}})
        }
        "date_histogram" => {
            let from = key.as_i64().ok_or_else(unsupported)?;
            let interval = ["fixed_interval", "calendar_interval", "interval"]
                .iter()
                .find_map(|k| body.get(*k).and_then(Value::as_str))
                .ok_or_else(unsupported)?;
            json!({"range": {field: {"gte": from, "lt": date_bucket_end(from, interval).ok_or_else(unsupported)?, "format": "epoch_millis"}}})
        }
        "range" | "date_range" => {
            let mut bounds = Map::new();
            if let Some(from) = bucket.get("from").filter(|v| !v.is_null()) {
                bounds.insert("gte".into(), from.clone());
            }
            if let Some(to) = bucket.get("to").filter(|v| !v.is_null()) {
                bounds.insert("lt".into(), to.clone());
            }
            if agg_type == "date_range" || bucket.get("from_as_string").is_some() || bucket.get("to_as_string").is_some() {
                bounds.insert("format".into(), json!("epoch_millis"));
            }
            json!({"range": {field: bounds}})
        }
        "composite" => {
            let sources = body.get("sources").and_then(Value::as_array).ok_or_else(unsupported)?;
            let mut filters = Vec::new();
            for source in sources {
                let Some((name, def)) = source.as_object().and_then(|o| o.iter().next()) else { continue };
                let Some((source_type, def)) = def.as_object().and_then(|o| o.iter().next()) else { continue };
                let def = def.as_object().cloned().unwrap_or_default();
                let value = key.get(name).cloned().unwrap_or(Value::Null);
                filters.push(bucket_filter(source_type, &def, &json!({"key": value}))?);
            }
            json!({"bool": {"filter": filters}})
        }
        _ => return Err(unsupported()),
    })
}

fn term_filter(field: &str, bucket: &Value) -> Value {
    match bucket.get("key") {
        None | Some(Value::Null) => json!({"bool": {"must_not": {"exists": {"field": field}}}}),
        Some(key) => {
            // Boolean terms are keyed 0/1 with the value in `key_as_string`.
            let value = match (key, bucket.get("key_as_string")) {
                (Value::Number(_), Some(Value::String(s))) if s == "true" || s == "false" => json!(s == "true"),
                (Value::Number(n), Some(Value::String(_))) => json!(n),
                _ => key.clone(),
            };
            json!({"term": {field: value}})
        }
    }
}

/// The end (exclusive, epoch millis) of the date histogram bucket starting at `from`.
fn date_bucket_end(from: i64, interval: &str) -> Option<i64> {
    let calendar = match interval {
        "month" | "1M" => Some(('M', 32)),
        "quarter" | "1q" => Some(('q', 93)),
        "year" | "1y" => Some(('y', 367)),
        _ => None,
    };
    if let Some((unit, days)) = calendar {
        return Some(calendar_bucket_start(from + days * DAY_MS, unit));
    }
    let named = match interval {
        "minute" => "1m",
        "hour" => "1h",
        "day" => "1d",
        "week" => "1w",
        "second" => "1s",
        other => other,
    };
    let digits = named.trim_end_matches(|c: char| c.is_ascii_alphabetic());
    let n: i64 = digits.parse().ok()?;
    let unit_ms = match &named[digits.len()..] {
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => DAY_MS,
        "w" => 7 * DAY_MS,
        _ => return None,
    };
    Some(from + n * unit_ms)
}
