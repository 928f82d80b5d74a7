//! Search execution: request parsing ([`request`]), the plan resolved against the mappings
//! (`plan`), the per-shard query phase ([`query_phase`]), the coordinator's reduce (`reduce`),
//! the fetch of the page's documents (`fetch`) and the one OpenSearch response renderer
//! (`response`); [`search`] runs them in that order for `_search`, `_count` and `_msearch`;
//! [`scroll`] keeps a search's snapshot and ranking open across pages.
//! Everything here is synchronous: the HTTP layer calls it on a blocking thread.

pub mod aggregations;
pub mod collapse;
mod composite_agg;
mod collector;
mod dfs;
mod execute;
mod fetch;
pub mod field_api;
pub mod fields;
pub mod explain;
mod filter_aggs;
mod geo_aggs;
pub mod highlight;
pub mod limits;
mod pipeline_aggs;
mod plan;
pub mod profile;
pub mod rescore;
pub mod pit;
pub mod query_phase;
mod reduce;
pub mod remote;
pub mod request;
mod response;
pub mod scroll;
pub mod sort;
pub mod source_filter;
mod top_hits_agg;

pub use execute::{SearchTarget, search, search_pit, search_targets, search_targets_with};
pub use limits::SearchLimits;
pub use pit::{PitInfo, PitRegistry};
pub use geo_aggs::GeoAggState;
pub use query_phase::{AggState, ShardHit, ShardQueryResult};
pub use request::{PitRef, SearchRequest, Slice, TrackTotalHits};
pub use scroll::{DocCursor, ScrollRegistry};

use crate::error::EngineError;
use crate::mapping::{FieldType, JsonTarget, Mapping};
use crate::query_ast::{self, FieldKind, FieldResolver, QueryError, TargetField};

/// The query-side view of a mapped field type.
pub(crate) fn field_kind(ty: FieldType) -> Option<FieldKind> {
    Some(match ty {
        FieldType::Text | FieldType::MatchOnlyText => FieldKind::Text,
        FieldType::Keyword => FieldKind::Keyword,
        FieldType::Ip => FieldKind::Ip,
        FieldType::Long | FieldType::Integer | FieldType::Short | FieldType::Byte => FieldKind::Long,
        FieldType::Double | FieldType::Float | FieldType::HalfFloat | FieldType::ScaledFloat => {
            FieldKind::Double
        }
        FieldType::Boolean => FieldKind::Boolean,
        FieldType::Date | FieldType::DateNanos => FieldKind::Date,
        // Source-only types resolve like unmapped fields for queries (`exists` still works).
        FieldType::Object | FieldType::Nested | FieldType::Binary | FieldType::GeoPoint => return None,
    })
}

impl FieldResolver for Mapping {
    fn is_nested(&self, path: &str) -> Option<bool> {
        Mapping::resolve(self, path).map(|f| f.ty == FieldType::Nested)
    }

    fn geo_point_path(&self, field: &str) -> Option<Result<String, String>> {
        let f = Mapping::resolve(self, field)?;
        Some(if f.ty == FieldType::GeoPoint { Ok(f.json_path.clone()) } else { Err(f.ty.name().to_string()) })
    }

    fn resolve(&self, field: &str) -> Option<query_ast::ResolvedField> {
        let f = Mapping::resolve(self, field)?;
        let kind = field_kind(f.ty)?;
        let target = match f.target? {
            JsonTarget::Text => TargetField::Text,
            JsonTarget::Kw => TargetField::Kw,
        };
        Some(query_ast::ResolvedField {
            name: f.path.clone(),
            kind,
            target,
            path: f.json_path.clone(),
            analyzer: f.analyzer.clone(),
            search_analyzer: f.search_analyzer.clone(),
            normalizer: f.normalizer.clone(),
            similarity: f.similarity.clone(),
            text_slot: f.text_slot,
            date_format: f.format.clone(),
        })
    }

    fn field_names(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .paths()
            .filter(|f| !f.ty.is_object_like())
            .map(|f| f.path.clone())
            .collect();
        names.sort();
        names
    }
}

impl From<QueryError> for EngineError {
    fn from(e: QueryError) -> Self {
        if e.status >= 500 {
            EngineError::Internal(anyhow::anyhow!(e.reason))
        } else if let Some(kind) = e.udf_rejection {
            EngineError::UdfRejected { kind, reason: e.reason }
        } else {
            EngineError::BadRequest { error_type: e.error_type, reason: e.reason }
        }
    }
}
