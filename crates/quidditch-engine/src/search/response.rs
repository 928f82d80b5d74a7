//! The OpenSearch response shape of `_search` and `_count`, in one place.

use serde_json::{Map, Value, json};

use super::fetch::FetchedHit;
use super::plan::SearchPlan;
use super::reduce::Reduced;
use super::request::{SearchRequest, TrackTotalHits};

/// The `_shards` section: how many shards the request went to and how they fared.
#[derive(Debug, Clone, Default)]
pub(crate) struct ShardsSummary {
    pub total: usize,
    pub successful: usize,
    pub skipped: usize,
    /// One OpenSearch shard-failure object per failed shard.
    pub failures: Vec<Value>,
}

impl ShardsSummary {
    fn to_json(&self) -> Value {
        let mut o = Map::new();
        o.insert("total".into(), json!(self.total));
        o.insert("successful".into(), json!(self.successful));
        o.insert("skipped".into(), json!(self.skipped));
        o.insert("failed".into(), json!(self.failures.len()));
        if !self.failures.is_empty() {
            o.insert("failures".into(), Value::Array(self.failures.clone()));
        }
        Value::Object(o)
    }
}

/// Everything the response is made of.
pub(crate) struct Rendered<'a> {
    pub req: &'a SearchRequest,
    pub plan: &'a SearchPlan,
    pub reduced: Reduced,
    pub hits: Vec<FetchedHit<'a>>,
    pub shards: ShardsSummary,
    pub took_ms: u64,
    pub udf_failures: Option<Value>,
    /// `[node][index][shard]` of each shard by position (for `profile`).
    pub shard_names: Vec<String>,
}

impl Rendered<'_> {
    /// The response body: `{"count", "_shards"}` for `_count`, the search response otherwise.
    pub fn to_json(self) -> Value {
        if self.req.count_only {
            let mut body = json!({"count": self.reduced.total, "_shards": self.shards.to_json()});
            if self.req.terminate_after.is_some() {
                body["terminated_early"] = json!(self.reduced.terminated_early);
            }
            return body;
        }
        let req = self.req;
        let mut hits_obj = Map::new();
        if self.plan.count_hits {
            let total = self.reduced.total;
            let (value, relation) = match req.track_total_hits {
                TrackTotalHits::UpTo(limit) if total > limit => (limit, "gte"),
                _ => (total, "eq"),
            };
            hits_obj.insert(
                "total".into(),
                if req.rest_total_hits_as_int { json!(value) } else { json!({"value": value, "relation": relation}) },
            );
        }
        hits_obj.insert("max_score".into(), self.reduced.max_score.map_or(Value::Null, |s| json!(s)));
        let hits: Vec<Value> = self.hits.iter().map(|h| hit_json(h, req, self.plan)).collect();
        hits_obj.insert("hits".into(), Value::Array(hits));

        let mut body = Map::new();
        body.insert("took".into(), json!(self.took_ms));
        body.insert("timed_out".into(), json!(self.reduced.timed_out));
        if req.terminate_after.is_some() {
            body.insert("terminated_early".into(), json!(self.reduced.terminated_early));
        }
        body.insert("_shards".into(), self.shards.to_json());
        body.insert("hits".into(), Value::Object(hits_obj));
        if let Some(failures) = &self.udf_failures {
            body.insert("udf_failures".into(), failures.clone());
        }
        if let Some(aggs) = &self.reduced.aggregations {
            body.insert("aggregations".into(), aggs.clone());
        }
        if req.profile {
            body.insert("profile".into(), json!({"shards": self.profile_shards()}));
        }
        Value::Object(body)
    }

    /// `profile.shards[]`: each shard's measured query phase with its fetch time.
    fn profile_shards(&self) -> Vec<Value> {
        self.reduced
            .profiles
            .iter()
            .map(|(pos, profile)| {
                let fetched: Vec<&FetchedHit<'_>> = self.hits.iter().filter(|h| h.hit.shard_pos == *pos).collect();
                let nanos = fetched.iter().map(|h| h.nanos).sum();
                let id = self.shard_names.get(*pos).cloned().unwrap_or_default();
                profile.to_json(id, nanos, fetched.len() as u64)
            })
            .collect()
    }
}

fn hit_json(fetched: &FetchedHit<'_>, req: &SearchRequest, plan: &SearchPlan) -> Value {
    let (doc, hit) = (&fetched.doc, &fetched.hit.hit);
    let mut h = Map::new();
    h.insert("_index".into(), json!(fetched.shard.index.name()));
    h.insert("_id".into(), json!(doc.id));
    if req.version {
        h.insert("_version".into(), json!(doc.meta.version));
    }
    if req.seq_no_primary_term {
        h.insert("_seq_no".into(), json!(doc.meta.seq_no));
        h.insert("_primary_term".into(), json!(doc.meta.primary_term));
    }
    h.insert("_score".into(), if plan.scoring { json!(hit.score) } else { Value::Null });
    if let Some(routing) = &doc.routing {
        h.insert("_routing".into(), json!(routing));
    }
    if let Some(source) = req.source.apply(doc.source_json()) {
        h.insert("_source".into(), source);
    }
    if !req.fields.is_empty() {
        if let Some(fields) = super::fields::hit_fields(&req.fields, &fetched.shard.mapping, &doc.source_json()) {
            h.insert("fields".into(), fields);
        }
    }
    if let (Some(collapse), Some(group)) = (&plan.collapse, &hit.collapse_key) {
        // Collapsed hits show their group's value, as OpenSearch does.
        let fields = h.entry("fields").or_insert_with(|| json!({}));
        if let Value::Object(fields) = fields {
            fields.insert(collapse.field.clone(), json!([collapse.value_json(group)]));
        }
    }
    if let Some(highlight) = &fetched.highlight {
        h.insert("highlight".into(), highlight.clone());
    }
    if let Some(inner_hits) = &fetched.inner_hits {
        h.insert("inner_hits".into(), inner_hits.clone());
    }
    if plan.shows_sort_values(req) {
        let values: Vec<Value> = plan.sorts.iter().zip(&hit.key).map(|(s, v)| s.to_json(v)).collect();
        h.insert("sort".into(), Value::Array(values));
    }
    if req.explain {
        // OpenSearch names the shard of explained hits (the statistics are that shard's).
        h.insert("_shard".into(), json!(format!("[{}][{}]", fetched.shard.index.name(), fetched.shard.shard)));
        h.insert(
            "_explanation".into(),
            fetched.explanation.clone().unwrap_or_else(|| json!({"value": hit.score, "description": "no explanation", "details": []})),
        );
    }
    Value::Object(h)
}
