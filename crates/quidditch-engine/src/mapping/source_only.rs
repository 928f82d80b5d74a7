//! Value checks for the types Quidditch keeps in `_source` only (`binary`, `geo_point`), and
//! the `scaling_factor` of `scaled_float`.

use base64::Engine as _;
use serde_json::Value;

use super::{FieldMapping, FieldType};

/// Checks a source-only value (or an array of them). `Err` says why it is malformed.
pub fn validate(ty: FieldType, value: &Value) -> Result<(), String> {
    match ty {
        FieldType::Binary => match value {
            Value::Array(items) => items.iter().try_for_each(|v| validate(ty, v)),
            Value::String(s) => base64::engine::general_purpose::STANDARD
                .decode(s.trim())
                .map(|_| ())
                .map_err(|e| format!("not valid base64: {e}")),
            _ => Err("binary values must be base64 strings".into()),
        },
        FieldType::GeoPoint => match value {
            // `[lon, lat]` is one point; an array of anything else is several points.
            Value::Array(items) if items.iter().all(Value::is_number) => lon_lat(items),
            Value::Array(items) => items.iter().try_for_each(|v| validate(ty, v)),
            Value::Object(o) => {
                let lat = o.get("lat").and_then(number).ok_or("geo_point object needs numeric [lat]")?;
                let lon = o.get("lon").and_then(number).ok_or("geo_point object needs numeric [lon]")?;
                check_lat_lon(lat, lon)
            }
            Value::String(s) => match s.split_once(',') {
                Some((lat, lon)) => {
                    let lat = lat.trim().parse::<f64>().map_err(|_| format!("invalid latitude [{lat}]"))?;
                    let lon = lon.trim().parse::<f64>().map_err(|_| format!("invalid longitude [{lon}]"))?;
                    check_lat_lon(lat, lon)
                }
                None if is_geohash(s) => Ok(()),
                None => Err(format!("[{s}] is neither \"lat,lon\" nor a geohash")),
            },
            _ => Err("geo_point must be an object, a string or an array".into()),
        },
        _ => Ok(()),
    }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lon_lat(items: &[Value]) -> Result<(), String> {
    if items.len() != 2 && items.len() != 3 {
        return Err("geo_point array must be [lon, lat]".into());
    }
    let lon = items[0].as_f64().ok_or("invalid longitude")?;
    let lat = items[1].as_f64().ok_or("invalid latitude")?;
    check_lat_lon(lat, lon)
}

fn check_lat_lon(lat: f64, lon: f64) -> Result<(), String> {
    if !(-90.0..=90.0).contains(&lat) {
        return Err(format!("illegal latitude value [{lat}]"));
    }
    if !(-180.0..=180.0).contains(&lon) {
        return Err(format!("illegal longitude value [{lon}]"));
    }
    Ok(())
}

fn is_geohash(s: &str) -> bool {
    !s.is_empty() && s.len() <= 12 && s.chars().all(|c| "0123456789bcdefghjkmnpqrstuvwxyz".contains(c))
}

/// A `scaled_float`'s `scaling_factor`, if it is a positive finite number.
pub fn scaling_factor(field: &FieldMapping) -> Option<f64> {
    let f = number(field.params.get("scaling_factor")?)?;
    (f.is_finite() && f > 0.0).then_some(f)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::validate;
    use crate::mapping::FieldType;

    #[test]
    fn validates_source_only_values() {
        assert!(validate(FieldType::Binary, &json!("YWJjZGUxMjM0")).is_ok());
        assert!(validate(FieldType::Binary, &json!("not base64!")).is_err());
        assert!(validate(FieldType::Binary, &json!(12)).is_err());
        assert!(validate(FieldType::GeoPoint, &json!([0.0, 20.0])).is_ok());
        assert!(validate(FieldType::GeoPoint, &json!({"lat": 41.1, "lon": -71.3})).is_ok());
        assert!(validate(FieldType::GeoPoint, &json!("41.1,-71.3")).is_ok());
        assert!(validate(FieldType::GeoPoint, &json!("drm3btev3e86")).is_ok());
        assert!(validate(FieldType::GeoPoint, &json!([[0.0, 20.0], "1,2"])).is_ok());
        assert!(validate(FieldType::GeoPoint, &json!({"lat": 100, "lon": 0})).is_err());
        assert!(validate(FieldType::GeoPoint, &json!(true)).is_err());
    }
}
