//! Geo math for `geo_point`: parsing the OpenSearch point forms, the indexed encoding,
//! distances (arc and plane) and their units, geohash and geotile cells.
//!
//! A point is indexed as one i64 in `_kw.<path>`: latitude and longitude quantized to 32 bits
//! each as Lucene's `GeoEncodingUtils` does (so decoded values are the ones OpenSearch shows
//! in `geo_bounds` / `geo_centroid`), latitude in the high half. Packing keeps the points of a
//! multi-valued field paired, and a latitude band is one contiguous range of the column, which
//! the geo queries use to find candidates before the exact test.

use serde_json::Value;

/// Earth's mean radius in meters (OpenSearch's `GeoUtils.EARTH_MEAN_RADIUS`).
pub const EARTH_MEAN_RADIUS: f64 = 6_371_008.7714;

const LAT_SCALE: f64 = (1u64 << 32) as f64 / 180.0;
const LON_SCALE: f64 = (1u64 << 32) as f64 / 360.0;

/// A latitude/longitude pair in degrees.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct GeoPoint {
    pub lat: f64,
    pub lon: f64,
}

impl GeoPoint {
    pub fn new(lat: f64, lon: f64) -> GeoPoint {
        GeoPoint { lat, lon }
    }

    /// Parses one point in any OpenSearch form: `{"lat", "lon"}`, GeoJSON
    /// `{"type": "Point", "coordinates": [lon, lat]}`, `"lat,lon"`, a geohash, WKT
    /// `"POINT (lon lat)"`, or `[lon, lat]` (an optional third value, z, is ignored).
    /// Latitude and longitude are range-checked.
    pub fn parse(value: &Value) -> Result<GeoPoint, String> {
        Self::parse_unchecked(value)?.checked()
    }

    /// [`GeoPoint::parse`] without the latitude/longitude range check (queries decide what
    /// an out-of-range point means through `validation_method`).
    pub fn parse_unchecked(value: &Value) -> Result<GeoPoint, String> {
        let point = match value {
            Value::Array(items) => lon_lat_array(items)?,
            Value::Object(o) => {
                if let Some(hash) = o.get("geohash") {
                    let hash = hash.as_str().ok_or("[geohash] must be a string")?;
                    return geohash_decode(hash);
                }
                if o.contains_key("coordinates") || o.contains_key("type") {
                    let ty = o.get("type").and_then(Value::as_str).unwrap_or_default();
                    if !ty.eq_ignore_ascii_case("point") {
                        return Err(format!("[type] must be [Point] for a geo_point, found [{ty}]"));
                    }
                    let coords = o.get("coordinates").and_then(Value::as_array).ok_or("[coordinates] must be an array")?;
                    lon_lat_array(coords)?
                } else {
                    for key in o.keys() {
                        if !matches!(key.as_str(), "lat" | "lon" | "z") {
                            return Err(format!("field must be either [lat], [lon] or [geohash], found [{key}]"));
                        }
                    }
                    let lat = o.get("lat").and_then(number).ok_or("field [lat] missing or not a number")?;
                    let lon = o.get("lon").and_then(number).ok_or("field [lon] missing or not a number")?;
                    GeoPoint { lat, lon }
                }
            }
            Value::String(s) => parse_str(s.trim())?,
            _ => return Err("geo_point expected".into()),
        };
        if !point.lat.is_finite() || !point.lon.is_finite() {
            return Err("latitude and longitude must be finite numbers".into());
        }
        Ok(point)
    }

    /// `Err` names the coordinate out of range.
    pub fn checked(self) -> Result<GeoPoint, String> {
        if !self.lat.is_finite() || !(-90.0..=90.0).contains(&self.lat) {
            return Err(format!("illegal latitude value [{}]", java_double(self.lat)));
        }
        if !self.lon.is_finite() || !(-180.0..=180.0).contains(&self.lon) {
            return Err(format!("illegal longitude value [{}]", java_double(self.lon)));
        }
        Ok(self)
    }

    /// Wraps an out-of-range point onto the globe (`validation_method: COERCE`).
    pub fn normalized(self) -> GeoPoint {
        let mut lat = (self.lat + 180.0).rem_euclid(360.0) - 180.0;
        let mut lon = self.lon;
        if lat > 90.0 {
            lat = 180.0 - lat;
            lon += 180.0;
        } else if lat < -90.0 {
            lat = -180.0 - lat;
            lon += 180.0;
        }
        if !(-180.0..=180.0).contains(&lon) {
            lon = (lon + 180.0).rem_euclid(360.0) - 180.0;
        }
        GeoPoint { lat, lon }
    }

    /// The indexed form (see the module docs).
    pub fn encode(self) -> i64 {
        (encode_lat(self.lat) as i64) << 32 | (encode_lon(self.lon) as u32 as i64)
    }

    /// The point an indexed value stands for (quantized coordinates).
    pub fn decode(packed: i64) -> GeoPoint {
        let lat = (packed >> 32) as i32;
        let lon = packed as i32;
        GeoPoint { lat: lat as f64 / LAT_SCALE, lon: lon as f64 / LON_SCALE }
    }

    /// The point as OpenSearch renders one: `{"lat": …, "lon": …}`.
    pub fn to_json(self) -> Value {
        serde_json::json!({"lat": self.lat, "lon": self.lon})
    }
}

/// The smallest packed value with latitude ≥ `lat` and the largest with latitude ≤ `lat`:
/// the column range of a latitude band is `band_start(lo)..=band_end(hi)`.
pub fn band_start(lat: f64) -> i64 {
    (encode_lat(lat.clamp(-90.0, 90.0)) as i64) << 32
}

pub fn band_end(lat: f64) -> i64 {
    (encode_lat(lat.clamp(-90.0, 90.0)) as i64) << 32 | 0xFFFF_FFFF
}

fn encode_lat(lat: f64) -> i32 {
    if lat >= 90.0 { i32::MAX } else { (lat * LAT_SCALE).floor() as i32 }
}

fn encode_lon(lon: f64) -> i32 {
    if lon >= 180.0 { i32::MAX } else { (lon * LON_SCALE).floor() as i32 }
}

fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

fn lon_lat_array(items: &[Value]) -> Result<GeoPoint, String> {
    if items.len() < 2 || items.len() > 3 {
        return Err("geo_point array must be [lon, lat] (or [lon, lat, z])".into());
    }
    let lon = number(&items[0]).ok_or("longitude must be a number")?;
    let lat = number(&items[1]).ok_or("latitude must be a number")?;
    Ok(GeoPoint { lat, lon })
}

fn parse_str(s: &str) -> Result<GeoPoint, String> {
    let upper = s.to_ascii_uppercase();
    if let Some(rest) = upper.strip_prefix("POINT") {
        let inner = rest.trim().strip_prefix('(').and_then(|r| r.strip_suffix(')')).ok_or_else(|| format!("malformed WKT point [{s}]"))?;
        let coords: Vec<&str> = inner.split_whitespace().collect();
        if coords.len() < 2 || coords.len() > 3 {
            return Err(format!("malformed WKT point [{s}]"));
        }
        let parse = |c: &str| c.parse::<f64>().map_err(|_| format!("malformed WKT point [{s}]"));
        return Ok(GeoPoint { lon: parse(coords[0])?, lat: parse(coords[1])? });
    }
    match s.split(',').collect::<Vec<_>>().as_slice() {
        [lat, lon] | [lat, lon, _] => {
            let lat = lat.trim().parse::<f64>().map_err(|_| format!("latitude must be a number, found [{}]", lat.trim()))?;
            let lon = lon.trim().parse::<f64>().map_err(|_| format!("longitude must be a number, found [{}]", lon.trim()))?;
            Ok(GeoPoint { lat, lon })
        }
        [_] => geohash_decode(s),
        _ => Err(format!("[{s}] is neither \"lat,lon\", a geohash nor a WKT point")),
    }
}

const GEOHASH_ALPHABET: &[u8; 32] = b"0123456789bcdefghjkmnpqrstuvwxyz";

/// The south-west corner of a geohash cell (where OpenSearch places a geohash point).
pub fn geohash_decode(hash: &str) -> Result<GeoPoint, String> {
    let (bottom, _, left, _) = geohash_cell(hash)?;
    Ok(GeoPoint { lat: bottom, lon: left })
}

/// A geohash cell's bounds: (bottom, top, left, right).
pub fn geohash_cell(hash: &str) -> Result<(f64, f64, f64, f64), String> {
    if hash.is_empty() || hash.len() > 12 {
        return Err(format!("unsupported geohash [{hash}]: must be 1 to 12 characters"));
    }
    let (mut lat, mut lon) = ((-90.0f64, 90.0f64), (-180.0f64, 180.0f64));
    let mut even = true;
    for c in hash.bytes() {
        let v = GEOHASH_ALPHABET
            .iter()
            .position(|&a| a == c.to_ascii_lowercase())
            .ok_or_else(|| format!("unsupported symbol [{}] in geohash [{hash}]", c as char))?;
        for bit in (0..5).rev() {
            let range = if even { &mut lon } else { &mut lat };
            let mid = (range.0 + range.1) / 2.0;
            if v >> bit & 1 == 1 { range.0 = mid } else { range.1 = mid }
            even = !even;
        }
    }
    Ok((lat.0, lat.1, lon.0, lon.1))
}

/// The geohash of length `precision` (1..=12) of the cell holding a point.
pub fn geohash_encode(p: GeoPoint, precision: u8) -> String {
    geohash_string(geohash_bits(p, precision), precision)
}

/// A geohash as its 5 × `precision` bits: ordered as the geohash strings of that length.
pub fn geohash_bits(p: GeoPoint, precision: u8) -> u64 {
    let (mut lat, mut lon) = ((-90.0f64, 90.0f64), (-180.0f64, 180.0f64));
    let mut bits = 0u64;
    for i in 0..5 * precision as u32 {
        let (range, x) = if i % 2 == 0 { (&mut lon, p.lon) } else { (&mut lat, p.lat) };
        let mid = (range.0 + range.1) / 2.0;
        bits <<= 1;
        if x >= mid {
            bits |= 1;
            range.0 = mid;
        } else {
            range.1 = mid;
        }
    }
    bits
}

/// The geohash string of [`geohash_bits`].
pub fn geohash_string(bits: u64, precision: u8) -> String {
    (0..precision as u32).rev().map(|i| GEOHASH_ALPHABET[(bits >> (5 * i) & 31) as usize] as char).collect()
}

/// The most zoom levels of `geotile_grid` (OpenSearch's `GeoTileUtils.MAX_ZOOM`).
pub const MAX_ZOOM: u8 = 29;

/// The (x, y) map tile of a point at `zoom` (Web Mercator, as OpenSearch's `GeoTileUtils`).
pub fn geotile(p: GeoPoint, zoom: u8) -> (u32, u32) {
    let tiles = 1u64 << zoom;
    let clip = |t: f64| -> u32 { if t < 0.0 { 0 } else if t >= tiles as f64 { (tiles - 1) as u32 } else { t as u32 } };
    let x = clip(((p.lon + 180.0) / 360.0 * tiles as f64).floor());
    let sin = p.lat.to_radians().sin();
    let y = clip(((0.5 - ((1.0 + sin) / (1.0 - sin)).ln() / (4.0 * std::f64::consts::PI)) * tiles as f64).floor());
    (x, y)
}

/// Great-circle distance in meters (haversine on the mean radius: OpenSearch's `arc`).
pub fn arc_distance(a: GeoPoint, b: GeoPoint) -> f64 {
    let (lat1, lat2) = (a.lat.to_radians(), b.lat.to_radians());
    let dlat = lat2 - lat1;
    let dlon = (b.lon - a.lon).to_radians();
    let h = (dlat / 2.0).sin().powi(2) + lat1.cos() * lat2.cos() * (dlon / 2.0).sin().powi(2);
    2.0 * EARTH_MEAN_RADIUS * h.sqrt().min(1.0).asin()
}

/// The flat-earth approximation OpenSearch's `plane` distance type uses, in meters.
pub fn plane_distance(a: GeoPoint, b: GeoPoint) -> f64 {
    let x = (b.lon - a.lon).to_radians() * ((a.lat + b.lat) / 2.0).to_radians().cos();
    let y = (b.lat - a.lat).to_radians();
    (x * x + y * y).sqrt() * EARTH_MEAN_RADIUS
}

/// `distance_type`: how distances are computed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DistanceType {
    #[default]
    Arc,
    Plane,
}

impl DistanceType {
    pub fn parse(s: &str) -> Result<DistanceType, String> {
        match s.to_ascii_lowercase().as_str() {
            "arc" => Ok(DistanceType::Arc),
            "plane" => Ok(DistanceType::Plane),
            other => Err(format!("No geo distance for [{other}]")),
        }
    }

    /// A request's `distance_type` value.
    pub fn from_json(value: &Value) -> Result<DistanceType, String> {
        Self::parse(value.as_str().unwrap_or_default())
    }

    /// Meters between two points.
    pub fn distance(self, a: GeoPoint, b: GeoPoint) -> f64 {
        match self {
            DistanceType::Arc => arc_distance(a, b),
            DistanceType::Plane => plane_distance(a, b),
        }
    }
}

/// A distance unit: its OpenSearch names and its length in meters.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct DistanceUnit {
    pub meters: f64,
}

/// OpenSearch's `DistanceUnit` names, longest first so `"nmi"` is not read as `"mi"`.
const UNITS: &[(&str, f64)] = &[
    ("nauticalmiles", 1852.0),
    ("kilometers", 1000.0),
    ("centimeters", 0.01),
    ("millimeters", 0.001),
    ("meters", 1.0),
    ("miles", 1609.344),
    ("yards", 0.9144),
    ("inches", 0.0254),
    ("feet", 0.3048),
    ("inch", 0.0254),
    ("nmi", 1852.0),
    ("km", 1000.0),
    ("cm", 0.01),
    ("mm", 0.001),
    ("mi", 1609.344),
    ("yd", 0.9144),
    ("ft", 0.3048),
    ("in", 0.0254),
    ("NM", 1852.0),
    ("m", 1.0),
];

impl DistanceUnit {
    pub const METERS: DistanceUnit = DistanceUnit { meters: 1.0 };

    /// A unit name (`km`, `miles`, …).
    pub fn parse(name: &str) -> Result<DistanceUnit, String> {
        UNITS
            .iter()
            .find(|(n, _)| *n == name)
            .map(|&(_, meters)| DistanceUnit { meters })
            .ok_or_else(|| format!("No distance unit match [{name}]"))
    }

    /// A request's `unit` value.
    pub fn from_json(value: &Value) -> Result<DistanceUnit, String> {
        Self::parse(value.as_str().unwrap_or_default())
    }

    /// A distance such as `"12km"`, `"1.5 mi"` or a plain number (in `default`), in meters.
    pub fn parse_distance(value: &Value, default: DistanceUnit) -> Result<f64, String> {
        let meters = match value {
            Value::Number(n) => n.as_f64().map(|v| v * default.meters),
            Value::String(s) => {
                let s = s.trim();
                let unit = UNITS.iter().find(|(n, _)| s.ends_with(n) && s.len() > n.len());
                match unit {
                    Some((n, meters)) => s[..s.len() - n.len()].trim().parse::<f64>().ok().map(|v| v * meters),
                    None => s.parse::<f64>().ok().map(|v| v * default.meters),
                }
            }
            _ => None,
        };
        match meters {
            Some(m) if m.is_finite() => Ok(m),
            _ => Err(format!("failed to parse distance [{}]", value.as_str().map_or_else(|| value.to_string(), str::to_string))),
        }
    }
}

/// A double as Java prints it (`100.0`, `1.0E7`): OpenSearch's range bucket keys and messages.
pub fn java_double(v: f64) -> String {
    if v == v.trunc() && v.abs() < 1e7 {
        format!("{v:.1}")
    } else if v.abs() >= 1e7 || (v != 0.0 && v.abs() < 1e-3) {
        let s = format!("{v:E}");
        match s.split_once('E') {
            Some((m, e)) if !m.contains('.') => format!("{m}.0E{e}"),
            _ => s,
        }
    } else {
        format!("{v}")
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn parses_every_point_form() {
        let expect = GeoPoint::new(41.12, -71.34);
        for v in [
            json!({"lat": 41.12, "lon": -71.34}),
            json!({"lat": "41.12", "lon": "-71.34"}),
            json!("41.12,-71.34"),
            json!("41.12, -71.34, 10"),
            json!([-71.34, 41.12]),
            json!("POINT (-71.34 41.12)"),
            json!({"type": "Point", "coordinates": [-71.34, 41.12]}),
        ] {
            assert_eq!(GeoPoint::parse(&v).unwrap(), expect, "{v}");
        }
        let hashed = GeoPoint::parse(&json!("drm3btev3e86")).unwrap();
        assert!((hashed.lat - 41.12).abs() < 1e-3 && (hashed.lon + 71.34).abs() < 1e-3, "{hashed:?}");
        assert!(GeoPoint::parse(&json!({"lat": 91, "lon": 0})).is_err());
        assert!(GeoPoint::parse(&json!([181, 0])).is_err());
        assert!(GeoPoint::parse(&json!("POINT (1)")).is_err());
        assert!(GeoPoint::parse(&json!("not a hash!")).is_err());
        assert!(GeoPoint::parse(&json!(true)).is_err());
        let wrapped = GeoPoint::new(95.0, 190.0).normalized();
        assert!((wrapped.lat - 85.0).abs() < 1e-9 && (wrapped.lon - 10.0).abs() < 1e-9, "{wrapped:?}");
    }

    #[test]
    fn encoding_round_trips_within_a_centimeter_and_orders_by_latitude() {
        for (lat, lon) in [(0.0, 0.0), (52.37, 4.89), (-33.86, 151.2), (90.0, 180.0), (-90.0, -180.0)] {
            let p = GeoPoint::decode(GeoPoint::new(lat, lon).encode());
            assert!((p.lat - lat).abs() < 1e-7 && (p.lon - lon).abs() < 1e-7, "{lat},{lon} -> {p:?}");
        }
        let low = GeoPoint::new(10.0, 179.0).encode();
        let high = GeoPoint::new(10.1, -179.0).encode();
        assert!(low < high);
        assert!(band_start(10.0) <= low && low <= band_end(10.0));
    }

    #[test]
    fn distances_match_known_values() {
        // Amsterdam to Berlin: about 577 km.
        let d = arc_distance(GeoPoint::new(52.3676, 4.9041), GeoPoint::new(52.52, 13.405));
        assert!((d - 577_000.0).abs() < 2_000.0, "{d}");
        let p = plane_distance(GeoPoint::new(52.3676, 4.9041), GeoPoint::new(52.52, 13.405));
        assert!((p - d).abs() / d < 0.01, "{p} vs {d}");
        assert_eq!(arc_distance(GeoPoint::new(1.0, 2.0), GeoPoint::new(1.0, 2.0)), 0.0);
    }

    #[test]
    fn parses_distances_and_units() {
        assert_eq!(DistanceUnit::parse_distance(&json!("12km"), DistanceUnit::METERS).unwrap(), 12_000.0);
        assert_eq!(DistanceUnit::parse_distance(&json!("2 nmi"), DistanceUnit::METERS).unwrap(), 3704.0);
        assert_eq!(DistanceUnit::parse_distance(&json!("1mi"), DistanceUnit::METERS).unwrap(), 1609.344);
        assert_eq!(DistanceUnit::parse_distance(&json!(5), DistanceUnit::parse("km").unwrap()).unwrap(), 5000.0);
        assert_eq!(DistanceUnit::parse_distance(&json!("7"), DistanceUnit::METERS).unwrap(), 7.0);
        assert!(DistanceUnit::parse_distance(&json!("12parsecs"), DistanceUnit::METERS).is_err());
        assert!(DistanceUnit::parse("lightyears").is_err());
    }

    #[test]
    fn geohash_and_geotile_cells() {
        let p = GeoPoint::new(52.374081, 4.912350);
        assert_eq!(geohash_encode(p, 5), "u173z");
        let (bottom, top, left, right) = geohash_cell("u173z").unwrap();
        assert!(bottom <= p.lat && p.lat < top && left <= p.lon && p.lon < right);
        assert_eq!(geotile(p, 0), (0, 0));
        // Amsterdam at zoom 8 is tile 131/84 (slippy map numbering).
        assert_eq!(geotile(p, 8), (131, 84));
        assert_eq!(geotile(GeoPoint::new(90.0, 180.0), 3), (7, 0));
    }

    #[test]
    fn java_doubles() {
        assert_eq!(java_double(100.0), "100.0");
        assert_eq!(java_double(1.5), "1.5");
        assert_eq!(java_double(1e7), "1.0E7");
    }
}
