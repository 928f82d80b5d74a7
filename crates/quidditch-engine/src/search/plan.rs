//! The plan of one search: the request resolved once against the mappings of every shard it
//! targets (sort keys, `search_after` values, aggregations, what to score and count). The
//! shard query phase, the reduce and the renderer all read it; nothing in it depends on one
//! shard.

use std::sync::Arc;
use std::time::Instant;

use serde_json::json;

use super::aggregations::PreparedAggs;
use super::request::{SearchRequest, TrackTotalHits};
use super::sort::{ResolvedSort, SortSpec, SortTarget, SortValue};
use crate::error::EngineResult;
use crate::mapping::Mapping;
use crate::query_ast::{BoostMode, FunctionScoreQuery, QueryAst, ScoreMode};

/// A search request resolved against the target mappings.
pub(crate) struct SearchPlan {
    /// The query whose matches are counted and aggregated (`min_score` folded in).
    pub query: QueryAst,
    /// Applied to hits only, after aggregations.
    pub post_filter: Option<QueryAst>,
    pub sorts: Arc<Vec<ResolvedSort>>,
    pub after: Option<Arc<Vec<SortValue>>>,
    /// Sorted by descending score only, no `search_after`: tantivy's top-docs collector
    /// serves it, and hits carry no `sort` values unless the request asked for a sort.
    pub relevance_only: bool,
    /// Whether hits need scores (`_score` sort, `track_scores`, relevance order).
    pub scoring: bool,
    /// How many top hits each shard returns: `from + size`.
    pub k: usize,
    pub count_hits: bool,
    pub aggs: Option<PreparedAggs>,
    pub deadline: Option<Instant>,
    /// `dfs_query_then_fetch` over several shards: every shard scores with these totals.
    pub statistics: Option<Arc<super::dfs::GlobalStatistics>>,
    /// Each shard collects at most this many documents.
    pub terminate_after: Option<usize>,
    /// Shards measure their phases (`search::profile`).
    pub profile: bool,
    /// `collapse`: shards keep the best hit per group; the reduce one per group.
    pub collapse: Option<super::collapse::ResolvedCollapse>,
    /// `rescore`: applied to each shard's top hits after its query phase.
    pub rescore: Vec<super::rescore::RescoreSpec>,
}

impl SearchPlan {
    /// Resolves `req` against the mappings of the targeted shards (one per index is enough:
    /// the shards of an index share its mapping).
    pub fn new(req: &SearchRequest, mappings: &[Arc<Mapping>], start: Instant) -> EngineResult<SearchPlan> {
        for mapping in mappings {
            super::fields::check_field_requests(&req.fields, mapping)?;
        }
        let aggs = match &req.aggs {
            Some(a) => {
                let mut prepared = PreparedAggs::prepare(a, mappings)?;
                prepared.max_buckets = req.max_buckets;
                Some(prepared)
            }
            None => None,
        };
        // `min_score` filters on the final score: a function_score wrapper with no functions.
        let query = match req.min_score {
            Some(min) => QueryAst::FunctionScore(FunctionScoreQuery {
                query: Box::new(req.query.clone()),
                functions: Vec::new(),
                score_mode: ScoreMode::Multiply,
                boost_mode: BoostMode::Multiply,
                max_boost: None,
                min_score: Some(min),
                boost: None,
            }),
            None => req.query.clone(),
        };
        let relevance_only =
            req.search_after.is_none() && req.sort.iter().all(|s| s.target == SortTarget::Score && s.desc);
        let specs: Vec<SortSpec> =
            if req.sort.is_empty() { SortSpec::parse_list(&json!("_score"))? } else { req.sort.clone() };
        let sorts: Vec<ResolvedSort> =
            specs.iter().map(|s| ResolvedSort::resolve(s, mappings)).collect::<Result<_, _>>()?;
        let after = match &req.search_after {
            Some(values) => Some(Arc::new(
                values
                    .iter()
                    .zip(sorts.iter())
                    .map(|(v, s)| s.parse_value(v))
                    .collect::<Result<Vec<SortValue>, _>>()?,
            )),
            None => None,
        };
        let collapse = match &req.collapse {
            Some(spec) => Some(super::collapse::ResolvedCollapse::resolve(spec, mappings)?),
            None => None,
        };
        // Each shard returns enough hits to fill every rescore window.
        let k = req.rescore.iter().map(|r| r.window_size).fold(req.from + req.size, usize::max);
        let scoring = relevance_only || req.track_scores || sorts.iter().any(|s| s.spec.is_score());
        Ok(SearchPlan {
            query,
            post_filter: req.post_filter.clone(),
            sorts: Arc::new(sorts),
            after,
            relevance_only,
            scoring,
            k,
            count_hits: req.track_total_hits != TrackTotalHits::Disabled,
            aggs,
            deadline: req.timeout.map(|t| start + t),
            statistics: None,
            terminate_after: req.terminate_after,
            profile: req.profile,
            collapse,
            rescore: req.rescore.clone(),
        })
    }

    /// Whether hits carry their `sort` values in the response.
    pub fn shows_sort_values(&self, req: &SearchRequest) -> bool {
        !self.relevance_only || !req.sort.is_empty()
    }
}
