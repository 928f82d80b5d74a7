//! The geo aggregations over `geo_point` fields (top level):
//!
//! - `geohash_grid`, `geotile_grid`, `geo_bounds`, `geo_centroid`: a collector per shard
//!   ([`GeoAggPlan::collector`]) whose partial state ([`GeoAggState`]: cell counts cut to
//!   `shard_size`, bounds, coordinate sums) travels in the shard's query result and is merged
//!   by the reduce, as OpenSearch's `InternalGeoGrid` / `InternalGeoBounds` /
//!   `InternalGeoCentroid` do;
//! - `geo_distance`: a range aggregation on the distance to `origin`, run as one
//!   `filter_aggs` pass per ring (a `geo_distance` annulus query), so its sub-aggregations
//!   work as those of `filters` do.

use std::collections::HashMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};
use tantivy::collector::{Collector, SegmentCollector};
use tantivy::{DocId, Score, SegmentReader};

use super::aggregations::PreparedAggs;
use super::filter_aggs::FilterAggPlan;
use crate::geo::{DistanceType, DistanceUnit, GeoPoint, MAX_ZOOM, geohash_bits, geohash_string, geotile, java_double};
use crate::mapping::{FieldType, Mapping};
use crate::query_ast::{GeoColumn, GeoQuery, GeoRelation, GeoShape, QueryAst, QueryError, open_geo_column};

/// The geo aggregation types, all handled here (top level only).
pub(crate) const GEO_TYPES: &[&str] = &["geohash_grid", "geotile_grid", "geo_bounds", "geo_centroid", "geo_distance"];

/// OpenSearch's default `size` of the grid aggregations.
const DEFAULT_GRID_SIZE: usize = 10_000;

/// Which cells a grid aggregation counts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GridKind {
    Geohash,
    Geotile,
}

impl GridKind {
    /// The cell of a point as a key that orders like OpenSearch's long cell ids.
    fn cell(self, p: GeoPoint, precision: u8) -> u64 {
        match self {
            GridKind::Geohash => geohash_bits(p, precision),
            GridKind::Geotile => {
                let (x, y) = geotile(p, precision);
                (x as u64) << 32 | y as u64
            }
        }
    }

    fn key(self, cell: u64, precision: u8) -> String {
        match self {
            GridKind::Geohash => geohash_string(cell, precision),
            GridKind::Geotile => format!("{precision}/{}/{}", cell >> 32, cell & 0xFFFF_FFFF),
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) enum GeoAggKind {
    Grid { kind: GridKind, precision: u8, size: usize, shard_size: usize, bounds: Option<GeoShape> },
    Bounds { wrap_longitude: bool },
    Centroid,
}

/// One top-level `geohash_grid` / `geotile_grid` / `geo_bounds` / `geo_centroid`.
pub(crate) struct GeoAggPlan {
    pub name: String,
    agg_type: &'static str,
    field: String,
    kind: Arc<GeoAggKind>,
    meta: Option<Value>,
    /// The shards' states merged so far.
    merged: Option<GeoAggState>,
}

/// A shard's partial result of one geo aggregation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub enum GeoAggState {
    /// (cell, documents with a point in it), cut to the shard's `shard_size` largest.
    Grid(Vec<(u64, u64)>),
    Bounds(BoundsState),
    Centroid { lat_sum: f64, lon_sum: f64, count: u64 },
}

/// OpenSearch's `InternalGeoBounds` state: longitudes split by sign, so the reduce can pick
/// the narrower of the box across the antimeridian and the one that is not.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct BoundsState {
    top: f64,
    bottom: f64,
    pos_left: f64,
    pos_right: f64,
    neg_left: f64,
    neg_right: f64,
}

impl Default for BoundsState {
    fn default() -> Self {
        BoundsState {
            top: f64::NEG_INFINITY,
            bottom: f64::INFINITY,
            pos_left: f64::INFINITY,
            pos_right: f64::NEG_INFINITY,
            neg_left: f64::INFINITY,
            neg_right: f64::NEG_INFINITY,
        }
    }
}

impl BoundsState {
    fn add(&mut self, p: GeoPoint) {
        self.top = self.top.max(p.lat);
        self.bottom = self.bottom.min(p.lat);
        if p.lon >= 0.0 {
            self.pos_left = self.pos_left.min(p.lon);
            self.pos_right = self.pos_right.max(p.lon);
        } else {
            self.neg_left = self.neg_left.min(p.lon);
            self.neg_right = self.neg_right.max(p.lon);
        }
    }

    fn merge(&mut self, o: &BoundsState) {
        self.top = self.top.max(o.top);
        self.bottom = self.bottom.min(o.bottom);
        self.pos_left = self.pos_left.min(o.pos_left);
        self.pos_right = self.pos_right.max(o.pos_right);
        self.neg_left = self.neg_left.min(o.neg_left);
        self.neg_right = self.neg_right.max(o.neg_right);
    }

    /// (top_left, bottom_right), `None` without points.
    fn corners(&self, wrap_longitude: bool) -> Option<(GeoPoint, GeoPoint)> {
        if self.top.is_infinite() {
            return None;
        }
        let (left, right) = if self.pos_left.is_infinite() {
            (self.neg_left, self.neg_right)
        } else if self.neg_left.is_infinite() {
            (self.pos_left, self.pos_right)
        } else if wrap_longitude {
            let unwrapped = self.pos_right - self.neg_left;
            let wrapped = (180.0 - self.pos_left) - (-180.0 - self.neg_right);
            if unwrapped <= wrapped { (self.neg_left, self.pos_right) } else { (self.pos_left, self.neg_right) }
        } else {
            (self.neg_left, self.pos_right)
        };
        Some((GeoPoint::new(self.top, left), GeoPoint::new(self.bottom, right)))
    }
}

impl GeoAggState {
    fn empty(kind: &GeoAggKind) -> GeoAggState {
        match kind {
            GeoAggKind::Grid { .. } => GeoAggState::Grid(Vec::new()),
            GeoAggKind::Bounds { .. } => GeoAggState::Bounds(BoundsState::default()),
            GeoAggKind::Centroid => GeoAggState::Centroid { lat_sum: 0.0, lon_sum: 0.0, count: 0 },
        }
    }

    fn merge(&mut self, other: GeoAggState) {
        match (self, other) {
            (GeoAggState::Grid(a), GeoAggState::Grid(b)) => {
                let mut counts: HashMap<u64, u64> = a.drain(..).collect();
                for (cell, n) in b {
                    *counts.entry(cell).or_default() += n;
                }
                *a = counts.into_iter().collect();
            }
            (GeoAggState::Bounds(a), GeoAggState::Bounds(b)) => a.merge(&b),
            (
                GeoAggState::Centroid { lat_sum, lon_sum, count },
                GeoAggState::Centroid { lat_sum: l2, lon_sum: o2, count: c2 },
            ) => {
                *lat_sum += l2;
                *lon_sum += o2;
                *count += c2;
            }
            // Every shard runs the same plan: the kinds always agree.
            _ => {}
        }
    }
}

/// Grid cells by OpenSearch's order: most documents first, then by cell id.
fn sort_cells(cells: &mut [(u64, u64)]) {
    cells.sort_unstable_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
}

fn bad(reason: impl Into<String>) -> QueryError {
    QueryError::parsing(reason)
}

/// Checks that `field` is a `geo_point` wherever it is mapped (unmapped: no values).
fn check_field(name: &str, agg_type: &str, field: &str, mappings: &[Arc<Mapping>]) -> Result<(), QueryError> {
    for m in mappings {
        if let Some(f) = m.resolve(field)
            && f.ty != FieldType::GeoPoint
        {
            return Err(QueryError::illegal_argument(format!(
                "Field [{field}] of type [{}] is not supported for aggregation [{agg_type}] (aggregation [{name}])",
                f.ty
            )));
        }
    }
    Ok(())
}

fn required_field(name: &str, agg_type: &str, body: &Map<String, Value>) -> Result<String, QueryError> {
    match body.get("field") {
        Some(Value::String(f)) => Ok(f.clone()),
        Some(other) => Err(bad(format!("[{agg_type}] [field] must be a string, got [{other}]"))),
        None => Err(QueryError::illegal_argument(format!(
            "Required one of fields [field, script], but none were specified (aggregation [{name}] of type [{agg_type}])"
        ))),
    }
}

fn positive_int(agg_type: &str, key: &str, v: &Value) -> Result<usize, QueryError> {
    match v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())) {
        Some(n) if n > 0 => Ok(n as usize),
        _ => Err(QueryError::illegal_argument(format!("[{key}] must be greater than 0. Found [{v}] in [{agg_type}]"))),
    }
}

/// Takes the top-level geo aggregations out of `aggs`: the collected ones, and the
/// `geo_distance` ones as filter passes. Returns the rest.
pub(crate) fn split(
    aggs: &Value,
    mappings: &[Arc<Mapping>],
) -> Result<(Value, Vec<GeoAggPlan>, Vec<FilterAggPlan>), QueryError> {
    let Some(obj) = aggs.as_object() else { return Ok((aggs.clone(), Vec::new(), Vec::new())) };
    let mut rest = Map::new();
    let mut collected = Vec::new();
    let mut rings = Vec::new();
    for (name, def) in obj {
        let Some(d) = def.as_object() else {
            rest.insert(name.clone(), def.clone());
            continue;
        };
        let Some((agg_type, body)) = d.iter().find(|(k, _)| GEO_TYPES.contains(&k.as_str())) else {
            rest.insert(name.clone(), def.clone());
            continue;
        };
        let agg_type: &'static str = GEO_TYPES.iter().find(|t| **t == agg_type.as_str()).copied().unwrap_or_default();
        let sub = d.get("aggs").or_else(|| d.get("aggregations"));
        for k in d.keys() {
            if !matches!(k.as_str(), "aggs" | "aggregations" | "meta") && k.as_str() != agg_type {
                return Err(bad(format!("Found two aggregation type definitions in [{name}]: [{agg_type}] and [{k}]")));
            }
        }
        let body = body.as_object().ok_or_else(|| bad(format!("[{agg_type}] of aggregation [{name}] must be an object")))?;
        let meta = d.get("meta").cloned();
        if agg_type == "geo_distance" {
            rings.push(distance_plan(name, body, sub, meta, mappings)?);
            continue;
        }
        if sub.is_some() {
            return Err(QueryError::illegal_argument(format!(
                "[{name}]: sub-aggregations of [{agg_type}] are not supported yet"
            )));
        }
        let field = required_field(name, agg_type, body)?;
        check_field(name, agg_type, &field, mappings)?;
        let kind = match agg_type {
            "geohash_grid" | "geotile_grid" => grid_kind(name, agg_type, body)?,
            "geo_bounds" => {
                let mut wrap_longitude = true;
                for (k, v) in body {
                    match k.as_str() {
                        "field" => {}
                        "wrap_longitude" => wrap_longitude = v.as_bool().ok_or_else(|| bad("[wrap_longitude] must be a boolean"))?,
                        other => return Err(bad(format!("[geo_bounds] unknown field [{other}]"))),
                    }
                }
                GeoAggKind::Bounds { wrap_longitude }
            }
            _ => {
                if let Some(other) = body.keys().find(|k| *k != "field") {
                    return Err(bad(format!("[geo_centroid] unknown field [{other}]")));
                }
                GeoAggKind::Centroid
            }
        };
        collected.push(GeoAggPlan { name: name.clone(), agg_type, field, kind: Arc::new(kind), meta, merged: None });
    }
    Ok((Value::Object(rest), collected, rings))
}

fn grid_kind(name: &str, agg_type: &str, body: &Map<String, Value>) -> Result<GeoAggKind, QueryError> {
    let kind = if agg_type == "geohash_grid" { GridKind::Geohash } else { GridKind::Geotile };
    let (default_precision, max_precision) = match kind {
        GridKind::Geohash => (5u64, 12u64),
        GridKind::Geotile => (7, MAX_ZOOM as u64),
    };
    let mut precision = default_precision;
    let mut size = DEFAULT_GRID_SIZE;
    let mut shard_size = None;
    let mut bounds = None;
    for (k, v) in body {
        match k.as_str() {
            "field" => {}
            "precision" => {
                precision = v.as_u64().or_else(|| v.as_str().and_then(|s| s.parse().ok())).filter(|p| *p <= max_precision && (kind == GridKind::Geotile || *p >= 1)).ok_or_else(|| {
                    QueryError::illegal_argument(format!(
                        "Invalid geo{} aggregation precision of {v}. Must be between {} and {max_precision}.",
                        if kind == GridKind::Geohash { "hash" } else { "tile" },
                        if kind == GridKind::Geohash { 1 } else { 0 }
                    ))
                })?;
            }
            "size" => size = positive_int(agg_type, k, v)?,
            "shard_size" => shard_size = Some(positive_int(agg_type, k, v)?),
            "bounds" => {
                bounds = Some(crate::query_dsl::parse_bounding_box(agg_type, v)?);
            }
            other => return Err(bad(format!("[{agg_type}] unknown field [{other}] in [{name}]"))),
        }
    }
    // OpenSearch's default shard size: `size * 1.5 + 10` (never below `size`).
    let shard_size = shard_size.unwrap_or(size + size / 2 + 10).max(size);
    Ok(GeoAggKind::Grid { kind, precision: precision as u8, size, shard_size, bounds })
}

/// A `geo_distance` aggregation as a filter pass per ring.
fn distance_plan(
    name: &str,
    body: &Map<String, Value>,
    sub: Option<&Value>,
    meta: Option<Value>,
    mappings: &[Arc<Mapping>],
) -> Result<FilterAggPlan, QueryError> {
    let field = required_field(name, "geo_distance", body)?;
    check_field(name, "geo_distance", &field, mappings)?;
    let mut origin = None;
    let mut ranges = None;
    let mut unit = DistanceUnit::METERS;
    let mut distance_type = DistanceType::Arc;
    let mut keyed = false;
    for (k, v) in body {
        match k.as_str() {
            "field" => {}
            "origin" | "point" | "center" => {
                origin = Some(GeoPoint::parse(v).map_err(|why| bad(format!("[geo_distance] failed to parse [origin] of [{name}]: {why}")))?)
            }
            "ranges" => ranges = Some(v.as_array().ok_or_else(|| bad("[ranges] must be an array"))?),
            "unit" => unit = DistanceUnit::from_json(v).map_err(QueryError::illegal_argument)?,
            "distance_type" => distance_type = DistanceType::from_json(v).map_err(QueryError::illegal_argument)?,
            "keyed" => keyed = v.as_bool().ok_or_else(|| bad("[keyed] must be a boolean"))?,
            other => return Err(bad(format!("[geo_distance] unknown field [{other}] in [{name}]"))),
        }
    }
    let origin = origin.ok_or_else(|| bad(format!("Missing [origin] in geo_distance aggregator [{name}]")))?;
    let ranges = ranges.filter(|r| !r.is_empty()).ok_or_else(|| {
        QueryError::illegal_argument(format!("No [ranges] specified for the [{name}] aggregation"))
    })?;
    let mut rings = Vec::new();
    for r in ranges {
        let r = r.as_object().ok_or_else(|| bad("[ranges] entries must be objects"))?;
        let bound = |k: &str| -> Result<Option<f64>, QueryError> {
            match r.get(k) {
                None | Some(Value::Null) => Ok(None),
                Some(v) => v.as_f64().map(Some).ok_or_else(|| bad(format!("[{k}] of a range must be a number, got [{v}]"))),
            }
        };
        let (from, to) = (bound("from")?, bound("to")?);
        for k in r.keys() {
            if !matches!(k.as_str(), "from" | "to" | "key") {
                return Err(bad(format!("[ranges] unknown field [{k}]")));
            }
        }
        let key = match r.get("key").and_then(Value::as_str) {
            Some(k) => k.to_string(),
            None => format!(
                "{}-{}",
                from.map_or("*".to_string(), java_double),
                to.map_or("*".to_string(), java_double)
            ),
        };
        rings.push((from.unwrap_or(0.0), to, key));
    }
    // OpenSearch orders range buckets by `from`, then `to`.
    rings.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.unwrap_or(f64::INFINITY).total_cmp(&b.1.unwrap_or(f64::INFINITY))));
    let mut filters = Vec::new();
    let mut bucket_fields = Vec::new();
    for (from, to, key) in rings {
        let shape = GeoShape::Distance {
            center: origin,
            min: (from > 0.0).then_some(from * unit.meters),
            max: to.map_or(f64::INFINITY, |t| t * unit.meters),
            max_exclusive: true,
            distance_type,
        };
        let query = QueryAst::Geo(GeoQuery {
            query_name: "geo_distance",
            field: field.clone(),
            shape,
            relation: GeoRelation::Intersects,
            ignore_unmapped: true,
            boost: None,
        });
        let mut fields = Map::new();
        if !keyed {
            fields.insert("key".into(), json!(key));
        }
        fields.insert("from".into(), json!(from));
        if let Some(t) = to {
            fields.insert("to".into(), json!(t));
        }
        filters.push((Some(key), query));
        bucket_fields.push(fields);
    }
    let sub = match sub {
        Some(s) => Some(Box::new(PreparedAggs::prepare_nested(s, mappings)?)),
        None => None,
    };
    let mut plan = FilterAggPlan::new(name, filters, !keyed, sub, meta);
    plan.bucket_fields = bucket_fields;
    plan.typed_name = Some("geo_distance");
    Ok(plan)
}

impl GeoAggPlan {
    /// The shard collector, reading the field's column as `mapping` places it.
    pub(crate) fn collector(&self, mapping: &Mapping) -> GeoAggCollector {
        let column = mapping.resolve(&self.field).filter(|f| f.ty == FieldType::GeoPoint).map(|f| format!("_kw.{}", f.json_path));
        GeoAggCollector { column, kind: self.kind.clone() }
    }

    /// A shard's state as it is handed to the reduce (grid cells cut to `shard_size`).
    pub(crate) fn cut_for_shard(&self, mut state: GeoAggState) -> GeoAggState {
        if let (GeoAggState::Grid(cells), GeoAggKind::Grid { shard_size, .. }) = (&mut state, self.kind.as_ref()) {
            sort_cells(cells);
            cells.truncate(*shard_size);
        }
        state
    }

    pub(crate) fn add(&mut self, state: GeoAggState) {
        match &mut self.merged {
            Some(acc) => acc.merge(state),
            empty => *empty = Some(state),
        }
    }

    /// The aggregation's response entry: (key, value).
    pub(crate) fn finish(&mut self, typed_keys: bool) -> (String, Value) {
        let state = self.merged.take().unwrap_or_else(|| GeoAggState::empty(&self.kind));
        let mut value = match (state, self.kind.as_ref()) {
            (GeoAggState::Grid(mut cells), GeoAggKind::Grid { kind, precision, size, .. }) => {
                sort_cells(&mut cells);
                cells.truncate(*size);
                let buckets: Vec<Value> =
                    cells.into_iter().map(|(cell, n)| json!({"key": kind.key(cell, *precision), "doc_count": n})).collect();
                json!({"buckets": buckets})
            }
            (GeoAggState::Bounds(b), GeoAggKind::Bounds { wrap_longitude }) => match b.corners(*wrap_longitude) {
                Some((top_left, bottom_right)) => {
                    json!({"bounds": {"top_left": top_left.to_json(), "bottom_right": bottom_right.to_json()}})
                }
                None => json!({}),
            },
            (GeoAggState::Centroid { lat_sum, lon_sum, count }, _) if count > 0 => {
                json!({"location": GeoPoint::new(lat_sum / count as f64, lon_sum / count as f64).to_json(), "count": count})
            }
            _ => json!({"count": 0}),
        };
        if let (Some(m), Value::Object(o)) = (&self.meta, &mut value) {
            o.insert("meta".into(), m.clone());
        }
        let key = if typed_keys { format!("{}#{}", self.agg_type, self.name) } else { self.name.clone() };
        (key, value)
    }
}

/// Collects one geo aggregation over a shard's matching documents.
pub(crate) struct GeoAggCollector {
    /// `None`: the field is not mapped in this index (no values).
    column: Option<String>,
    kind: Arc<GeoAggKind>,
}

impl Collector for GeoAggCollector {
    type Fruit = GeoAggState;
    type Child = GeoSegmentCollector;

    fn for_segment(&self, _segment: u32, reader: &SegmentReader) -> tantivy::Result<GeoSegmentCollector> {
        let column = match &self.column {
            Some(c) => open_geo_column(reader, c)?,
            None => None,
        };
        Ok(GeoSegmentCollector { column, kind: self.kind.clone(), cells: HashMap::new(), state: GeoAggState::empty(&self.kind), seen: Vec::new() })
    }

    fn requires_scoring(&self) -> bool {
        false
    }

    fn merge_fruits(&self, fruits: Vec<GeoAggState>) -> tantivy::Result<GeoAggState> {
        let mut acc = GeoAggState::empty(&self.kind);
        for f in fruits {
            acc.merge(f);
        }
        Ok(acc)
    }
}

pub(crate) struct GeoSegmentCollector {
    column: Option<GeoColumn>,
    kind: Arc<GeoAggKind>,
    /// Grid: documents per cell in this segment.
    cells: HashMap<u64, u64>,
    state: GeoAggState,
    /// Grid: the current document's cells (a document counts once per cell).
    seen: Vec<u64>,
}

impl SegmentCollector for GeoSegmentCollector {
    type Fruit = GeoAggState;

    fn collect(&mut self, doc: DocId, _score: Score) {
        let Some(column) = &self.column else { return };
        match (self.kind.as_ref(), &mut self.state) {
            (GeoAggKind::Grid { kind, precision, bounds, .. }, _) => {
                self.seen.clear();
                self.seen.extend(
                    column.points(doc).filter(|p| bounds.as_ref().is_none_or(|b| b.contains(*p))).map(|p| kind.cell(p, *precision)),
                );
                self.seen.sort_unstable();
                self.seen.dedup();
                for cell in &self.seen {
                    *self.cells.entry(*cell).or_default() += 1;
                }
            }
            (GeoAggKind::Bounds { .. }, GeoAggState::Bounds(b)) => column.points(doc).for_each(|p| b.add(p)),
            (GeoAggKind::Centroid, GeoAggState::Centroid { lat_sum, lon_sum, count }) => {
                for p in column.points(doc) {
                    *lat_sum += p.lat;
                    *lon_sum += p.lon;
                    *count += 1;
                }
            }
            _ => {}
        }
    }

    fn harvest(self) -> GeoAggState {
        match self.state {
            GeoAggState::Grid(_) => GeoAggState::Grid(self.cells.into_iter().collect()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounds_pick_the_narrower_box_across_the_antimeridian() {
        let mut b = BoundsState::default();
        for lon in [170.0, 175.0, -175.0] {
            b.add(GeoPoint::new(1.0, lon));
        }
        let (tl, br) = b.corners(true).unwrap();
        assert_eq!((tl.lon, br.lon), (170.0, -175.0));
        let (tl, br) = b.corners(false).unwrap();
        assert_eq!((tl.lon, br.lon), (-175.0, 175.0));
        assert!(BoundsState::default().corners(true).is_none());
    }

    #[test]
    fn states_merge_as_a_single_shard_would() {
        let mut a = GeoAggState::Grid(vec![(1, 2), (3, 1)]);
        a.merge(GeoAggState::Grid(vec![(3, 4), (5, 1)]));
        let GeoAggState::Grid(mut cells) = a else { panic!() };
        sort_cells(&mut cells);
        assert_eq!(cells, vec![(3, 5), (1, 2), (5, 1)]);
        let state = GeoAggState::Centroid { lat_sum: 1.5, lon_sum: -2.0, count: 3 };
        let bytes = postcard::to_allocvec(&state).unwrap();
        assert_eq!(postcard::from_bytes::<GeoAggState>(&bytes).unwrap(), state);
    }
}
