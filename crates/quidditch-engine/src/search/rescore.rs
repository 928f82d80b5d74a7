//! `rescore`: each shard re-scores its top `window_size` hits with a second query, as
//! OpenSearch's query rescorer does. A windowed hit that matches the rescore query scores
//! `score_mode(query_weight × score, rescore_query_weight × rescore_score)`; one that does not
//! keeps `query_weight × score`. The window is re-sorted by the new scores and stays ahead of
//! the shard's other hits (which keep their scores); several rescorers apply in order, each
//! to the previous one's result. The reduce then merges shards by score as usual.

use serde_json::Value;
use tantivy::query::EnableScoring;
use tantivy::{DocSet, TERMINATED};

use super::query_phase::{ShardHit, ShardSnapshot, tantivy_error};
use super::request::MAX_RESULT_WINDOW;
use super::sort::SortValue;
use crate::error::EngineResult;
use crate::query_ast::{QueryAst, QueryError};
use crate::query_dsl::parse_query;

/// OpenSearch's default `window_size`.
const DEFAULT_WINDOW_SIZE: usize = 10;

/// How a windowed hit's two scores combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RescoreMode {
    Total,
    Multiply,
    Avg,
    Max,
    Min,
}

impl RescoreMode {
    fn combine(self, primary: f32, secondary: f32) -> f32 {
        match self {
            RescoreMode::Total => primary + secondary,
            RescoreMode::Multiply => primary * secondary,
            RescoreMode::Avg => (primary + secondary) / 2.0,
            RescoreMode::Max => primary.max(secondary),
            RescoreMode::Min => primary.min(secondary),
        }
    }
}

/// One rescorer of the `rescore` section.
#[derive(Debug, Clone)]
pub struct RescoreSpec {
    pub window_size: usize,
    pub query: QueryAst,
    pub query_weight: f32,
    pub rescore_query_weight: f32,
    pub score_mode: RescoreMode,
}

impl RescoreSpec {
    /// `rescore`: one rescorer object or an array of them.
    pub fn parse_list(v: &Value) -> Result<Vec<RescoreSpec>, QueryError> {
        match v {
            Value::Array(items) => items.iter().map(RescoreSpec::parse).collect(),
            other => Ok(vec![RescoreSpec::parse(other)?]),
        }
    }

    fn parse(v: &Value) -> Result<RescoreSpec, QueryError> {
        let obj = v.as_object().ok_or_else(|| QueryError::parsing("[rescore] must be an object"))?;
        let mut window_size = DEFAULT_WINDOW_SIZE;
        let mut query = None;
        for (k, v) in obj {
            match k.as_str() {
                "window_size" => {
                    window_size = match v.as_i64() {
                        Some(n) if n >= 0 => n as usize,
                        _ => return Err(QueryError::illegal_argument(format!("[window_size] must be greater than or equal to 0, got [{v}]"))),
                    }
                }
                "query" => query = Some(v),
                other => return Err(QueryError::parsing(format!("rescore doesn't support rescorer with name [{other}]"))),
            }
        }
        let query = query
            .and_then(Value::as_object)
            .ok_or_else(|| QueryError::illegal_argument("[rescore] needs a [query] rescorer"))?;
        let mut spec = RescoreSpec {
            window_size,
            query: QueryAst::match_all(),
            query_weight: 1.0,
            rescore_query_weight: 1.0,
            score_mode: RescoreMode::Total,
        };
        let mut rescore_query = None;
        let weight = |k: &str, v: &Value| {
            v.as_f64().map(|f| f as f32).ok_or_else(|| QueryError::parsing(format!("[query] [{k}] must be a number, got [{v}]")))
        };
        for (k, v) in query {
            match k.as_str() {
                "rescore_query" => rescore_query = Some(parse_query(v)?),
                "query_weight" => spec.query_weight = weight(k, v)?,
                "rescore_query_weight" => spec.rescore_query_weight = weight(k, v)?,
                "score_mode" => {
                    spec.score_mode = match v.as_str().unwrap_or_default() {
                        "total" => RescoreMode::Total,
                        "multiply" => RescoreMode::Multiply,
                        "avg" => RescoreMode::Avg,
                        "max" => RescoreMode::Max,
                        "min" => RescoreMode::Min,
                        _ => return Err(QueryError::illegal_argument(format!("illegal score_mode [{v}]"))),
                    }
                }
                other => return Err(QueryError::parsing(format!("[query] unknown field [{other}]"))),
            }
        }
        spec.query = rescore_query.ok_or_else(|| QueryError::illegal_argument("rescore_query cannot be null"))?;
        if spec.window_size > MAX_RESULT_WINDOW {
            return Err(QueryError::illegal_argument(format!(
                "Rescore window [{}] is too large. It must be less than [{MAX_RESULT_WINDOW}]. This prevents allocating massive heaps for storing the results to be rescored. This limit can be set by changing the [index.max_rescore_window] index level setting.",
                spec.window_size
            )));
        }
        Ok(spec)
    }
}

/// Applies the rescorers in order to one shard's hits (ranked by score).
pub(crate) fn rescore_hits(
    snap: &ShardSnapshot,
    statistics: &dyn tantivy::query::Bm25StatisticsProvider,
    rescorers: &[RescoreSpec],
    mut hits: Vec<ShardHit>,
) -> EngineResult<Vec<ShardHit>> {
    for spec in rescorers {
        let window = spec.window_size.min(hits.len());
        let scores = secondary_scores(snap, statistics, &spec.query, &hits[..window])?;
        for (hit, secondary) in hits[..window].iter_mut().zip(scores) {
            let primary = spec.query_weight * hit.score;
            hit.score = match secondary {
                Some(s) => spec.score_mode.combine(primary, spec.rescore_query_weight * s),
                None => primary,
            };
            hit.key = vec![SortValue::Num(hit.score as f64)];
        }
        // Stable: hits with equal new scores keep their first-pass order.
        hits[..window].sort_by(|a, b| b.score.total_cmp(&a.score));
    }
    Ok(hits)
}

/// The rescore query's score of each hit (`None`: the hit does not match it).
fn secondary_scores(
    snap: &ShardSnapshot,
    statistics: &dyn tantivy::query::Bm25StatisticsProvider,
    query: &QueryAst,
    hits: &[ShardHit],
) -> EngineResult<Vec<Option<f32>>> {
    let lowered = snap.lower(query)?;
    let weight = lowered
        .weight(EnableScoring::enabled_from_statistics_provider(statistics, &snap.searcher))
        .map_err(tantivy_error)?;
    let mut order: Vec<usize> = (0..hits.len()).collect();
    order.sort_by_key(|&i| (hits[i].segment_ord, hits[i].doc));
    let mut scores = vec![None; hits.len()];
    let mut current: Option<(u32, Box<dyn tantivy::query::Scorer>)> = None;
    for i in order {
        let hit = &hits[i];
        if current.as_ref().is_none_or(|(seg, _)| *seg != hit.segment_ord) {
            let reader = snap.searcher.segment_reader(hit.segment_ord);
            current = Some((hit.segment_ord, weight.scorer(reader, 1.0).map_err(tantivy_error)?));
        }
        let Some((_, scorer)) = current.as_mut() else { continue };
        let doc = if scorer.doc() < hit.doc { scorer.seek(hit.doc) } else { scorer.doc() };
        if doc != TERMINATED && doc == hit.doc {
            scores[i] = Some(scorer.score());
        }
    }
    Ok(scores)
}
