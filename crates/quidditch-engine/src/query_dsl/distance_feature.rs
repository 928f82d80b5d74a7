//! `distance_feature`: `{"distance_feature": {"field": "location", "origin": [lon, lat],
//! "pivot": "1km", "boost": 1.0}}`.

use serde_json::Value;

use super::{expect_object, parse_f32, parse_string, unknown_param};
use crate::query_ast::{DistanceFeatureQuery, QueryAst, QueryError};

pub fn parse(value: &Value) -> Result<QueryAst, QueryError> {
    let (mut field, mut origin, mut pivot, mut boost) = (None, None, None, None);
    for (k, v) in expect_object("distance_feature", value)? {
        match k.as_str() {
            "field" => field = Some(parse_string("distance_feature", k, v)?),
            "origin" => origin = Some(v.clone()),
            "pivot" => pivot = Some(v.clone()),
            "boost" => boost = Some(parse_f32("distance_feature", k, v)?),
            "_name" => {}
            _ => return Err(unknown_param("distance_feature", k)),
        }
    }
    let missing = |what: &str| QueryError::parsing(format!("[distance_feature] requires [{what}]"));
    Ok(QueryAst::DistanceFeature(DistanceFeatureQuery {
        field: field.ok_or_else(|| missing("field"))?,
        origin: origin.ok_or_else(|| missing("origin"))?,
        pivot: pivot.ok_or_else(|| missing("pivot"))?,
        boost,
    }))
}
