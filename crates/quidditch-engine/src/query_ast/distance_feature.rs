//! `distance_feature` on a `geo_point` field: every document with a point scores
//! `boost × pivot / (pivot + distance)`, its distance the nearest of its points to `origin`
//! (OpenSearch's formula). Date fields are not supported yet (400).

use tantivy::query::{EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

use super::{LoweringContext, MatchNoneQuery, QueryError, open_geo_column};
use crate::geo::{GeoPoint, arc_distance};

#[derive(Debug, Clone, PartialEq)]
pub struct DistanceFeatureQuery {
    pub field: String,
    pub origin: serde_json::Value,
    pub pivot: serde_json::Value,
    pub boost: Option<f32>,
}

impl DistanceFeatureQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let path = match ctx.fields.geo_point_path(&self.field) {
            None => return MatchNoneQuery.lower(ctx),
            Some(Err(ty)) => {
                return Err(QueryError::illegal_argument(format!(
                    "[distance_feature] on field [{}] of type [{ty}] is not supported (geo_point fields only)",
                    self.field
                )));
            }
            Some(Ok(path)) => path,
        };
        let origin = GeoPoint::parse(&self.origin)
            .map_err(|why| QueryError::parsing(format!("[distance_feature] failed to parse [origin]: {why}")))?;
        let pivot = crate::geo::DistanceUnit::parse_distance(&self.pivot, crate::geo::DistanceUnit::METERS)
            .map_err(QueryError::illegal_argument)?;
        if pivot <= 0.0 {
            return Err(QueryError::illegal_argument("[distance_feature] [pivot] must be greater than 0"));
        }
        Ok(Box::new(DistanceFeature { column: format!("_kw.{path}"), origin, pivot, boost: self.boost.unwrap_or(1.0) }))
    }
}

#[derive(Debug, Clone)]
struct DistanceFeature {
    column: String,
    origin: GeoPoint,
    pivot: f64,
    boost: f32,
}

impl Query for DistanceFeature {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for DistanceFeature {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let Some(column) = open_geo_column(reader, &self.column)? else {
            return Ok(Box::new(EmptyScorer));
        };
        let mut hits = Vec::new();
        for doc in 0..reader.max_doc() {
            let nearest = column.points(doc).map(|p| arc_distance(self.origin, p)).fold(f64::INFINITY, f64::min);
            if nearest.is_finite() {
                hits.push((doc, boost * self.boost * (self.pivot / (self.pivot + nearest)) as f32));
            }
        }
        Ok(Box::new(ScoredDocs { hits, pos: 0 }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!("document #{doc} does not match")));
        }
        Ok(Explanation::new("distance_feature: boost * pivot / (pivot + distance)", scorer.score()))
    }
}

/// Precomputed (doc, score) pairs of one segment, in doc order.
struct ScoredDocs {
    hits: Vec<(DocId, Score)>,
    pos: usize,
}

impl DocSet for ScoredDocs {
    fn advance(&mut self) -> DocId {
        if self.pos < self.hits.len() {
            self.pos += 1;
        }
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.hits.get(self.pos).map_or(TERMINATED, |h| h.0)
    }

    fn size_hint(&self) -> u32 {
        self.hits.len() as u32
    }
}

impl Scorer for ScoredDocs {
    fn score(&mut self) -> Score {
        self.hits.get(self.pos).map_or(0.0, |h| h.1)
    }
}
