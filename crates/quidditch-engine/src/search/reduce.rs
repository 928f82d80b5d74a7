//! The reduce phase: the coordinator merges the shards' query-phase results into one ranked
//! page (global sort order; ties broken by shard position, then by document, as OpenSearch
//! does), sums the totals and merges the partial aggregation states.

use serde_json::Value;

use super::plan::SearchPlan;
use super::query_phase::{ShardHit, ShardQueryResult, tantivy_error};
use super::request::SearchRequest;
use super::sort::compare_keys;
use crate::error::EngineResult;

/// A hit chosen for the page: which shard (position in the request's shard list) and where.
pub(crate) struct PageHit {
    pub shard_pos: usize,
    pub hit: ShardHit,
}

/// The merged result, before any document is fetched.
pub(crate) struct Reduced {
    pub page: Vec<PageHit>,
    pub total: u64,
    pub max_score: Option<f32>,
    pub aggregations: Option<Value>,
    pub timed_out: bool,
    /// Some shard stopped at `terminate_after`.
    pub terminated_early: bool,
    /// `profile`: each shard's measured profile, by shard position.
    pub profiles: Vec<(usize, super::profile::ShardProfile)>,
}

/// Merges `results` (indexed by shard position) under `plan`; consumes the plan's
/// aggregation accumulators.
pub(crate) fn reduce(
    plan: &mut SearchPlan,
    req: &SearchRequest,
    results: Vec<ShardQueryResult>,
) -> EngineResult<Reduced> {
    let mut total = 0u64;
    let mut timed_out = false;
    let mut terminated_early = false;
    let mut profiles = Vec::new();
    let mut candidates: Vec<PageHit> = Vec::new();
    let mut merged_aggs = None;
    let mut filter_states = Vec::new();
    let mut geo_states = Vec::new();
    // Per top-level `terms`: the shards' doc count errors summed, as OpenSearch's reduce.
    let mut doc_count_errors: Vec<(String, i64)> = Vec::new();
    let mut agg_shards = 0usize;
    for (shard_pos, result) in results.into_iter().enumerate() {
        total += result.total;
        timed_out |= result.timed_out;
        terminated_early |= result.terminated_early;
        if let Some(profile) = result.profile {
            profiles.push((shard_pos, profile));
        }
        candidates.extend(result.hits.into_iter().map(|hit| PageHit { shard_pos, hit }));
        if let Some(state) = result.aggs {
            agg_shards += 1;
            for (name, error) in result.terms_doc_count_errors {
                match doc_count_errors.iter_mut().find(|(n, _)| *n == name) {
                    Some((_, total)) => super::aggregations::add_doc_count_error(total, error),
                    None => doc_count_errors.push((name, error)),
                }
            }
            let fruit = state.decode()?;
            match &mut merged_aggs {
                None => merged_aggs = Some(fruit),
                Some(acc) => {
                    tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults::merge_fruits(
                        acc, fruit,
                    )
                    .map_err(tantivy_error)?;
                }
            }
        }
        filter_states.push(result.filter_aggs);
        geo_states.push(result.geo_aggs);
    }
    let sorts = plan.sorts.clone();
    if plan.rescore.is_empty() {
        candidates.sort_by(|a, b| {
            compare_keys(&sorts, &a.hit.key, &b.hit.key)
                .then(a.shard_pos.cmp(&b.shard_pos))
                .then(a.hit.address().cmp(&b.hit.address()))
        });
    } else {
        candidates = merge_heads(&sorts, candidates);
    }
    if plan.collapse.is_some() {
        // The first hit of each group in global order is the group's best.
        let mut seen = std::collections::HashSet::new();
        candidates.retain(|c| seen.insert(c.hit.collapse_key.as_ref().map(super::collapse::GroupKey::of)));
    }
    let max_score = if plan.scoring {
        candidates.iter().map(|c| c.hit.score).fold(None, |m: Option<f32>, s| Some(m.map_or(s, |m| m.max(s))))
    } else {
        None
    };
    let page: Vec<PageHit> = candidates.into_iter().skip(req.from).take(req.size).collect();

    let aggregations = match plan.aggs.as_mut() {
        None => None,
        Some(aggs) => {
            for shard in filter_states {
                for (filter_plan, buckets) in aggs.filters.iter_mut().zip(shard) {
                    for (slot, bucket) in buckets.into_iter().enumerate() {
                        let sub = bucket.sub.as_ref().map(|s| s.decode()).transpose()?;
                        filter_plan.add(slot, bucket.doc_count, sub).map_err(tantivy_error)?;
                    }
                }
            }
            // One shard's counts are exact: OpenSearch reports no error then.
            if agg_shards <= 1 {
                doc_count_errors.clear();
            }
            let mut out = aggs.finish(merged_aggs.unwrap_or_default(), req.typed_keys, &doc_count_errors)?;
            for filter_plan in std::mem::take(&mut aggs.filters) {
                let (key, value) = filter_plan.finish(req.typed_keys)?;
                if let Value::Object(o) = &mut out {
                    o.insert(key, value);
                }
            }
            for shard in geo_states {
                for (geo_plan, state) in aggs.geo.iter_mut().zip(shard) {
                    geo_plan.add(state);
                }
            }
            for geo_plan in &mut aggs.geo {
                let (key, value) = geo_plan.finish(req.typed_keys);
                if let Value::Object(o) = &mut out {
                    o.insert(key, value);
                }
            }
            aggs.apply_pipelines(&mut out, req.typed_keys)?;
            Some(out)
        }
    };
    Ok(Reduced { page, total, max_score, aggregations, timed_out, terminated_early, profiles })
}

/// Merges the shards' lists (`candidates` grouped by shard, each in its shard's order) by
/// repeatedly taking the best head, ties to the lower shard, as OpenSearch's coordinator
/// merges shard top docs. A rescored shard list is not sorted (its window stays ahead of its
/// other hits), so this is not the same as sorting everything.
fn merge_heads(sorts: &[super::sort::ResolvedSort], candidates: Vec<PageHit>) -> Vec<PageHit> {
    let mut lists: Vec<std::collections::VecDeque<PageHit>> = Vec::new();
    for hit in candidates {
        match lists.last_mut() {
            Some(list) if list.back().is_some_and(|h| h.shard_pos == hit.shard_pos) => list.push_back(hit),
            _ => lists.push(std::collections::VecDeque::from([hit])),
        }
    }
    let mut merged = Vec::new();
    loop {
        let mut best: Option<usize> = None;
        for (i, list) in lists.iter().enumerate() {
            let Some(head) = list.front() else { continue };
            let better = match best.and_then(|b| lists[b].front()) {
                None => true,
                Some(current) => compare_keys(sorts, &head.hit.key, &current.hit.key) == std::cmp::Ordering::Less,
            };
            if better {
                best = Some(i);
            }
        }
        match best.and_then(|b| lists[b].pop_front()) {
            Some(hit) => merged.push(hit),
            None => return merged,
        }
    }
}
