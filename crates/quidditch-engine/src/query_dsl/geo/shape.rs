//! `geo_shape` on a `geo_point` field: `{"geo_shape": {"location": {"shape": {"type":
//! "envelope", "coordinates": [[minLon, maxLat], [maxLon, minLat]]}, "relation":
//! "intersects"}}}`. Shapes: `envelope`, `polygon` (outer ring), `point`; relations
//! `intersects` / `within` (the same for points) and `disjoint`. Indexed shapes are not
//! supported.

use serde_json::Value;

use crate::geo::{DistanceType, GeoPoint};
use crate::query_ast::{GeoQuery, GeoRelation, GeoShape, QueryAst, QueryError};

const NAME: &str = "geo_shape";

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let (field, body, common) = super::split(NAME, value, &[], |_, _| Ok(()))?;
    let mut shape = None;
    let mut relation = GeoRelation::Intersects;
    for (k, v) in body.as_object().ok_or_else(|| QueryError::parsing(format!("[{NAME}] field must be an object with [shape]")))? {
        match k.as_str() {
            "shape" => shape = Some(parse_shape(v)?),
            "relation" => {
                relation = match v.as_str().map(str::to_ascii_lowercase).as_deref() {
                    Some("intersects" | "within") => GeoRelation::Intersects,
                    Some("disjoint") => GeoRelation::Disjoint,
                    Some("contains") => {
                        return Err(QueryError::query_shard(format!("[{NAME}] [contains] is not supported on geo_point field [{field}]")));
                    }
                    _ => return Err(QueryError::illegal_argument(format!("Unknown ShapeRelation type [{v}]"))),
                }
            }
            "indexed_shape" => return Err(QueryError::illegal_argument(format!("[{NAME}] [indexed_shape] is not supported"))),
            other => return Err(QueryError::parsing(format!("[{NAME}] query does not support [{other}]"))),
        }
    }
    let shape = shape.ok_or_else(|| QueryError::illegal_argument(format!("[{NAME}] requires either [shape] or [indexed_shape]")))?;
    Ok(QueryAst::Geo(GeoQuery { query_name: NAME, field: field.to_string(), shape, relation, ignore_unmapped: common.ignore_unmapped, boost: common.boost }))
}

fn lon_lat(v: &Value) -> Result<GeoPoint, QueryError> {
    GeoPoint::parse(v).map_err(|why| QueryError::parsing(format!("[{NAME}] failed to parse coordinates [{v}]: {why}")))
}

fn parse_shape(v: &Value) -> Result<GeoShape, QueryError> {
    let ty = v.get("type").and_then(Value::as_str).unwrap_or_default().to_ascii_lowercase();
    let coords = v.get("coordinates").ok_or_else(|| QueryError::parsing(format!("[{NAME}] shape requires [coordinates]")))?;
    let bad = || QueryError::parsing(format!("[{NAME}] malformed [{ty}] coordinates [{coords}]"));
    match ty.as_str() {
        "envelope" => {
            let corners = coords.as_array().filter(|c| c.len() == 2).ok_or_else(bad)?;
            let (a, b) = (lon_lat(&corners[0])?, lon_lat(&corners[1])?);
            Ok(GeoShape::BoundingBox { top: a.lat.max(b.lat), bottom: a.lat.min(b.lat), left: a.lon, right: b.lon })
        }
        "polygon" => {
            let outer = coords.as_array().and_then(|rings| rings.first()).and_then(Value::as_array).ok_or_else(bad)?;
            let mut ring = outer.iter().map(lon_lat).collect::<Result<Vec<_>, _>>()?;
            if ring.len() > 1 && ring.first() == ring.last() {
                ring.pop();
            }
            if ring.len() < 3 {
                return Err(bad());
            }
            Ok(GeoShape::Polygon(ring))
        }
        "point" => {
            let p = lon_lat(coords)?;
            // Indexed points are quantized to under a centimeter.
            Ok(GeoShape::Distance { center: p, min: None, max: 0.01, max_exclusive: false, distance_type: DistanceType::Arc })
        }
        other => Err(QueryError::illegal_argument(format!("[{NAME}] shape type [{other}] is not supported on geo_point fields"))),
    }
}
