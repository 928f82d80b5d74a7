//! The geo queries on `geo_point` fields (`geo_distance`, `geo_bounding_box`, `geo_polygon`,
//! `geo_shape`): one node, [`GeoQuery`], holding the [`GeoShape`] a point must fall in.
//!
//! Lowering reads the field's packed column (`crate::geo`): the shape's latitude band is one
//! value range of it, so tantivy's column range scan yields the candidates, and each
//! candidate's points are then tested exactly. Matches score a constant, like OpenSearch's
//! geo queries.

use std::sync::Arc;

use tantivy::columnar::{Column, ColumnType};
use tantivy::query::{
    AllQuery, BitSetDocSet, BooleanQuery, ConstScorer, EmptyScorer, EnableScoring, Explanation, Occur, Query, Scorer, Weight,
};
use tantivy::{DocId, DocSet, Score, SegmentReader};

use super::{ExistsQuery, LoweringContext, MatchNoneQuery, QueryError, boosted};
use crate::geo::{DistanceType, GeoPoint, band_end, band_start};

/// The region a point must fall in.
#[derive(Debug, Clone, PartialEq)]
pub enum GeoShape {
    /// Within `max` meters of `center` (inclusive unless `max_exclusive`), and at least `min`
    /// meters away when set (the rings of the `geo_distance` aggregation).
    Distance { center: GeoPoint, min: Option<f64>, max: f64, max_exclusive: bool, distance_type: DistanceType },
    /// `left > right` crosses the antimeridian.
    BoundingBox { top: f64, bottom: f64, left: f64, right: f64 },
    /// A ring of at least three vertices (closing it is implied).
    Polygon(Vec<GeoPoint>),
}

impl GeoShape {
    pub fn contains(&self, p: GeoPoint) -> bool {
        match self {
            GeoShape::Distance { center, min, max, max_exclusive, distance_type } => {
                let d = distance_type.distance(*center, p);
                let below_max = if *max_exclusive { d < *max } else { d <= *max };
                below_max && min.is_none_or(|m| d >= m)
            }
            GeoShape::BoundingBox { top, bottom, left, right } => {
                let lon_inside = if left <= right { *left <= p.lon && p.lon <= *right } else { p.lon >= *left || p.lon <= *right };
                *bottom <= p.lat && p.lat <= *top && lon_inside
            }
            GeoShape::Polygon(ring) => polygon_contains(ring, p),
        }
    }

    /// Latitudes outside `(low, high)` cannot match (a bound for the candidate scan).
    fn lat_band(&self) -> (f64, f64) {
        // Quantization moves an indexed point by under 1e-7 degrees.
        const SLACK: f64 = 1e-6;
        match self {
            GeoShape::Distance { center, max, .. } => {
                // Both distance types grow at least as fast as the latitude difference.
                let reach = (max / crate::geo::EARTH_MEAN_RADIUS).to_degrees();
                (center.lat - reach - SLACK, center.lat + reach + SLACK)
            }
            GeoShape::BoundingBox { top, bottom, .. } => (bottom - SLACK, top + SLACK),
            GeoShape::Polygon(ring) => {
                let lats = ring.iter().map(|p| p.lat);
                (lats.clone().fold(f64::INFINITY, f64::min) - SLACK, lats.fold(f64::NEG_INFINITY, f64::max) + SLACK)
            }
        }
    }
}

impl GeoShape {
    /// For a distance shape: (center longitude, degrees) such that a point farther in
    /// longitude than that cannot match — a cheap test before the distance. `None` when the
    /// circle reaches a pole (every longitude can match) or for other shapes.
    fn lon_reach(&self) -> Option<(f64, f64)> {
        let GeoShape::Distance { center, max, .. } = self else { return None };
        let r = max / crate::geo::EARTH_MEAN_RADIUS;
        let (_, high) = self.lat_band();
        let far_lat = (high.abs().max(self.lat_band().0.abs())).min(90.0).to_radians();
        // Arc: the circle's widest longitude offset; plane: the offset where the
        // cos(mean latitude) factor is smallest within the band.
        let arc = r.sin() / center.lat.to_radians().cos();
        let plane = r / far_lat.cos();
        if !(arc < 1.0) || !plane.is_finite() || r >= std::f64::consts::FRAC_PI_2 {
            return None;
        }
        let reach = arc.asin().max(plane).to_degrees() + 1e-6;
        (reach < 180.0).then_some((center.lon, reach))
    }
}

/// Even-odd rule; the ring is in degrees, treated as planar (as Lucene's polygon for points
/// not near the poles).
fn polygon_contains(ring: &[GeoPoint], p: GeoPoint) -> bool {
    let mut inside = false;
    let mut j = ring.len() - 1;
    for i in 0..ring.len() {
        let (a, b) = (ring[i], ring[j]);
        if (a.lat > p.lat) != (b.lat > p.lat) && p.lon < (b.lon - a.lon) * (p.lat - a.lat) / (b.lat - a.lat) + a.lon {
            inside = !inside;
        }
        j = i;
    }
    inside
}

/// How a `geo_shape` query relates the indexed points to its shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum GeoRelation {
    /// Some point of the document is inside (for points, `within` is the same).
    #[default]
    Intersects,
    /// The document has points and none is inside.
    Disjoint,
}

#[derive(Debug, Clone, PartialEq)]
pub struct GeoQuery {
    /// The query's OpenSearch name, for messages.
    pub query_name: &'static str,
    pub field: String,
    pub shape: GeoShape,
    pub relation: GeoRelation,
    /// An unmapped field matches nothing instead of failing.
    pub ignore_unmapped: bool,
    pub boost: Option<f32>,
}

impl GeoQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let column = match ctx.fields.geo_point_path(&self.field) {
            None if self.ignore_unmapped => return MatchNoneQuery.lower(ctx),
            None => {
                return Err(QueryError::query_shard(format!("failed to find geo_point field [{}]", self.field)));
            }
            Some(Err(ty)) => {
                return Err(QueryError::query_shard(format!(
                    "Field [{}] is of unsupported type [{ty}] for [{}] query",
                    self.field, self.query_name
                )));
            }
            Some(Ok(path)) => format!("_kw.{path}"),
        };
        let inside: Box<dyn Query> = Box::new(GeoFilter { column, shape: Arc::new(self.shape.clone()) });
        let query: Box<dyn Query> = match self.relation {
            GeoRelation::Intersects => inside,
            GeoRelation::Disjoint => {
                let exists = ExistsQuery { field: self.field.clone(), boost: None }.lower(ctx)?;
                Box::new(BooleanQuery::new(vec![(Occur::Must, exists), (Occur::Must, Box::new(AllQuery)), (Occur::MustNot, inside)]))
            }
        };
        Ok(boosted(query, self.boost))
    }
}

/// Opens a segment's packed geo column (`None`: no point in this segment).
pub(crate) fn open_geo_column(reader: &SegmentReader, column: &str) -> tantivy::Result<Option<GeoColumn>> {
    Ok(reader
        .fast_fields()
        .u64_lenient_for_type(Some(&[ColumnType::I64, ColumnType::U64]), column)?
        .map(|(column, column_type)| GeoColumn { column, column_type }))
}

/// One segment's points of a `geo_point` field.
pub(crate) struct GeoColumn {
    column: Column<u64>,
    column_type: ColumnType,
}

impl GeoColumn {
    fn packed(&self, raw: u64) -> i64 {
        match self.column_type {
            ColumnType::I64 => tantivy::u64_to_i64(raw),
            _ => raw as i64,
        }
    }

    fn raw(&self, packed: i64) -> u64 {
        match self.column_type {
            ColumnType::I64 => tantivy::i64_to_u64(packed),
            _ => packed.max(0) as u64,
        }
    }

    /// A document's points.
    pub fn points(&self, doc: DocId) -> impl Iterator<Item = GeoPoint> + '_ {
        self.column.values_for_doc(doc).map(|raw| GeoPoint::decode(self.packed(raw)))
    }

    /// Documents of `0..max_doc` with a point in the latitude band, in order (repeated
    /// for several points).
    fn band_candidates(&self, (low, high): (f64, f64), max_doc: DocId, out: &mut Vec<DocId>) {
        let range = self.raw(band_start(low))..=self.raw(band_end(high));
        self.column.get_docids_for_value_range(range, 0..max_doc, out);
    }
}

#[derive(Debug, Clone)]
struct GeoFilter {
    column: String,
    shape: Arc<GeoShape>,
}

impl Query for GeoFilter {
    fn weight(&self, _scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

impl Weight for GeoFilter {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let Some(column) = open_geo_column(reader, &self.column)? else {
            return Ok(Box::new(EmptyScorer));
        };
        let max_doc = reader.max_doc();
        let mut candidates = Vec::new();
        column.band_candidates(self.shape.lat_band(), max_doc, &mut candidates);
        let mut matching = tantivy::BitSet::with_max_value(max_doc);
        let lon_reach = self.shape.lon_reach();
        let near_in_lon = |p: &GeoPoint| {
            lon_reach.is_none_or(|(center, reach)| {
                let d = (p.lon - center).abs();
                d.min(360.0 - d) <= reach
            })
        };
        let mut previous = None;
        for doc in candidates {
            if previous == Some(doc) {
                continue;
            }
            previous = Some(doc);
            if column.points(doc).any(|p| near_in_lon(&p) && self.shape.contains(p)) {
                matching.insert(doc);
            }
        }
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(matching), boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument(format!("document #{doc} does not match")));
        }
        Ok(Explanation::new("geo shape contains a point of the field", scorer.score()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shapes_contain_their_points() {
        let boxed = GeoShape::BoundingBox { top: 10.0, bottom: 0.0, left: 170.0, right: -170.0 };
        assert!(boxed.contains(GeoPoint::new(5.0, 175.0)));
        assert!(boxed.contains(GeoPoint::new(5.0, -175.0)));
        assert!(!boxed.contains(GeoPoint::new(5.0, 0.0)));
        let triangle = GeoShape::Polygon(vec![GeoPoint::new(0.0, 0.0), GeoPoint::new(10.0, 0.0), GeoPoint::new(0.0, 10.0)]);
        assert!(triangle.contains(GeoPoint::new(2.0, 2.0)));
        assert!(!triangle.contains(GeoPoint::new(8.0, 8.0)));
        let center = GeoPoint::new(52.0, 5.0);
        let ring = GeoShape::Distance { center, min: Some(1000.0), max: 2000.0, max_exclusive: true, distance_type: DistanceType::Arc };
        assert!(!ring.contains(center));
        assert!(ring.contains(GeoPoint::new(52.0135, 5.0)));
        let (low, high) = ring.lat_band();
        assert!(low < 52.0 && high > 52.0135 && high < 52.1);
        // The longitude window holds the circle's farthest points for both distance types.
        let (lon, reach) = ring.lon_reach().unwrap();
        for distance_type in [DistanceType::Arc, DistanceType::Plane] {
            let edge = GeoPoint::new(52.0, 5.0 + reach);
            assert!(distance_type.distance(center, edge) > 2000.0, "{distance_type:?}");
        }
        assert_eq!(lon, 5.0);
        let polar = GeoShape::Distance { center: GeoPoint::new(89.0, 0.0), min: None, max: 200_000.0, max_exclusive: false, distance_type: DistanceType::Arc };
        assert!(polar.lon_reach().is_none());
    }
}
