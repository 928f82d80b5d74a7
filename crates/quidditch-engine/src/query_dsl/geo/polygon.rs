//! `geo_polygon`: `{"geo_polygon": {"person.location": {"points": [<point>, <point>, …]}}}`
//! (deprecated in OpenSearch in favour of `geo_shape`, still accepted).

use serde_json::Value;

use crate::query_ast::{GeoQuery, GeoRelation, GeoShape, QueryAst, QueryError};

const NAME: &str = "geo_polygon";

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let (field, body, common) = super::split(NAME, value, &[], |_, _| Ok(()))?;
    let mut points = None;
    for (k, v) in body.as_object().ok_or_else(|| QueryError::parsing(format!("[{NAME}] field must be an object with [points]")))? {
        match k.as_str() {
            "points" => {
                let list = v.as_array().ok_or_else(|| QueryError::parsing(format!("[{NAME}] [points] must be an array")))?;
                points = Some(list.iter().map(|p| common.validation.point(NAME, p)).collect::<Result<Vec<_>, _>>()?);
            }
            other => return Err(QueryError::parsing(format!("[{NAME}] query does not support [{other}]"))),
        }
    }
    let mut points = points.ok_or_else(|| QueryError::parsing(format!("[{NAME}] requires [points]")))?;
    if points.len() > 1 && points.first() == points.last() {
        points.pop();
    }
    if points.len() < 3 {
        return Err(QueryError::illegal_argument("too few points defined for geo_polygon query"));
    }
    Ok(QueryAst::Geo(GeoQuery {
        query_name: NAME,
        field: field.to_string(),
        shape: GeoShape::Polygon(points),
        relation: GeoRelation::Intersects,
        ignore_unmapped: common.ignore_unmapped,
        boost: common.boost,
    }))
}
