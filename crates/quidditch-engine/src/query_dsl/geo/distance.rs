//! `geo_distance`: `{"geo_distance": {"distance": "12km", "pin.location": <point>,
//! "distance_type": "arc", "unit": "m", "validation_method": "STRICT", "ignore_unmapped": false}}`.

use serde_json::Value;

use crate::geo::{DistanceType, DistanceUnit};
use crate::query_ast::{GeoQuery, GeoRelation, GeoShape, QueryAst, QueryError};

const NAME: &str = "geo_distance";

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let mut distance = None;
    let mut unit = DistanceUnit::METERS;
    let mut distance_type = DistanceType::Arc;
    let (field, point, common) = super::split(NAME, value, &["distance", "unit", "distance_type", "optimize_bbox"], |k, v| {
        match k {
            "distance" => distance = Some(v),
            "unit" => unit = DistanceUnit::from_json(v).map_err(QueryError::illegal_argument)?,
            "distance_type" => distance_type = DistanceType::from_json(v).map_err(QueryError::illegal_argument)?,
            _ => {}
        }
        Ok(())
    })?;
    let distance = distance.ok_or_else(|| QueryError::illegal_argument("geo_distance requires 'distance' to be specified"))?;
    let max = DistanceUnit::parse_distance(distance, unit).map_err(QueryError::illegal_argument)?;
    if max <= 0.0 {
        return Err(QueryError::illegal_argument(format!(
            "Invalid distance [{}]: must be greater than zero",
            crate::geo::java_double(max)
        )));
    }
    let center = common.validation.point(NAME, point)?;
    Ok(QueryAst::Geo(GeoQuery {
        query_name: NAME,
        field: field.to_string(),
        shape: GeoShape::Distance { center, min: None, max, max_exclusive: false, distance_type },
        relation: GeoRelation::Intersects,
        ignore_unmapped: common.ignore_unmapped,
        boost: common.boost,
    }))
}
