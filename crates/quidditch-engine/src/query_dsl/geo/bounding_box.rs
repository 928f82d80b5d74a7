//! `geo_bounding_box`: `{"geo_bounding_box": {"pin.location": {"top_left": <point>,
//! "bottom_right": <point>}}}`; the corners may also be `top_right`/`bottom_left`, the four
//! edges `top`/`left`/`bottom`/`right`, or `"wkt": "BBOX (left, right, top, bottom)"`.

use serde_json::Value;

use super::ValidationMethod;
use crate::query_ast::{GeoQuery, GeoRelation, GeoShape, QueryAst, QueryError};

const NAME: &str = "geo_bounding_box";

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let (field, corners, common) = super::split(NAME, value, &[], |_, _| Ok(()))?;
    let shape = parse_box(NAME, corners, common.validation)?;
    Ok(QueryAst::Geo(GeoQuery {
        query_name: NAME,
        field: field.to_string(),
        shape,
        relation: GeoRelation::Intersects,
        ignore_unmapped: common.ignore_unmapped,
        boost: common.boost,
    }))
}

/// The box of a `geo_bounding_box` field entry (also the `bounds` of the grid aggregations).
pub(crate) fn parse_box(query: &str, value: &Value, validation: ValidationMethod) -> Result<GeoShape, QueryError> {
    let obj = value
        .as_object()
        .ok_or_else(|| QueryError::parsing(format!("[{query}] field must be an object with the box corners, got [{value}]")))?;
    let (mut top, mut bottom, mut left, mut right) = (None, None, None, None);
    let edge = |k: &str, v: &Value| -> Result<f64, QueryError> {
        super::super::parse_f64(query, k, v)
    };
    for (k, v) in obj {
        match k.as_str() {
            "top_left" | "bottom_right" | "top_right" | "bottom_left" => {
                let p = validation.point(query, v)?;
                if k.starts_with("top") { top = Some(p.lat) } else { bottom = Some(p.lat) }
                if k.ends_with("left") { left = Some(p.lon) } else { right = Some(p.lon) }
            }
            "top" => top = Some(edge(k, v)?),
            "bottom" => bottom = Some(edge(k, v)?),
            "left" => left = Some(edge(k, v)?),
            "right" => right = Some(edge(k, v)?),
            "wkt" => {
                let [l, r, t, b] = parse_wkt_bbox(query, v)?;
                (left, right, top, bottom) = (Some(l), Some(r), Some(t), Some(b));
            }
            other => return Err(QueryError::parsing(format!("[{query}] failed to parse bounding box. unexpected field [{other}]"))),
        }
    }
    let (Some(top), Some(bottom), Some(left), Some(right)) = (top, bottom, left, right) else {
        return Err(QueryError::parsing(format!(
            "[{query}] failed to parse bounding box: top, bottom, left and right (or two opposite corners) are required"
        )));
    };
    if validation == ValidationMethod::Strict {
        for (lat, lon) in [(top, left), (bottom, right)] {
            crate::geo::GeoPoint::new(lat, lon)
                .checked()
                .map_err(|why| QueryError::query_shard(format!("{why} for [{query}]")))?;
        }
        if top < bottom {
            return Err(QueryError::query_shard(format!(
                "top is below bottom corner: {} vs. {}",
                crate::geo::java_double(top),
                crate::geo::java_double(bottom)
            )));
        }
    }
    Ok(GeoShape::BoundingBox { top, bottom, left, right })
}

/// `BBOX (minLon, maxLon, maxLat, minLat)` → [left, right, top, bottom].
fn parse_wkt_bbox(query: &str, value: &Value) -> Result<[f64; 4], QueryError> {
    let bad = || QueryError::parsing(format!("[{query}] failed to parse WKT bounding box [{value}]: expected BBOX (left, right, top, bottom)"));
    let s = value.as_str().ok_or_else(bad)?.trim();
    let upper = s.to_ascii_uppercase();
    let inner = upper
        .strip_prefix("BBOX")
        .or_else(|| upper.strip_prefix("ENVELOPE"))
        .and_then(|r| r.trim().strip_prefix('('))
        .and_then(|r| r.strip_suffix(')'))
        .ok_or_else(bad)?;
    let values: Vec<f64> = inner.split(',').map(|p| p.trim().parse::<f64>()).collect::<Result<_, _>>().map_err(|_| bad())?;
    <[f64; 4]>::try_from(values).map_err(|_| bad())
}
