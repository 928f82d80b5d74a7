//! `sort`: parsing sort specs, resolving them against an index, and computing and comparing
//! per-document sort keys (also used for `search_after`).

use std::cmp::Ordering;

use serde_json::{Value, json};
use tantivy::columnar::StrColumn;
use tantivy::{DocId, SegmentReader};

use crate::geo::{DistanceType, DistanceUnit, GeoPoint};
use crate::mapping::{FieldType, Mapping};
use crate::query_ast::{FieldResolver, FieldKind, NumericColumn, QueryError, parse_date_millis, DateFormat};

#[derive(Debug, Clone, PartialEq)]
pub enum SortTarget {
    Score,
    Doc,
    Field(String),
    /// `_geo_distance`: by the distance of a `geo_point` field's points to origins.
    GeoDistance(Box<GeoDistanceSort>),
}

/// A `_geo_distance` sort: `{"_geo_distance": {"<field>": <point or points>, "unit": "km",
/// "distance_type": "arc", "mode": "min", "order": "asc", "ignore_unmapped": false}}`.
#[derive(Debug, Clone, PartialEq)]
pub struct GeoDistanceSort {
    pub field: String,
    pub origins: Vec<GeoPoint>,
    pub unit: DistanceUnit,
    pub distance_type: DistanceType,
    /// An unmapped field sorts every document as missing instead of failing.
    pub ignore_unmapped: bool,
}

impl GeoDistanceSort {
    /// The options object of `_geo_distance` into `spec`.
    fn parse(spec: &mut SortSpec, opts: &Value) -> Result<GeoDistanceSort, QueryError> {
        let obj = opts.as_object().ok_or_else(|| QueryError::parsing(format!("[_geo_distance] malformed sort: [{opts}]")))?;
        let mut field = None;
        let mut unit = DistanceUnit::METERS;
        let mut distance_type = DistanceType::Arc;
        let mut ignore_unmapped = false;
        for (k, v) in obj {
            match k.as_str() {
                "order" => spec.desc = parse_order(v.as_str().unwrap_or_default())?,
                "unit" => unit = DistanceUnit::from_json(v).map_err(QueryError::illegal_argument)?,
                "distance_type" => distance_type = DistanceType::from_json(v).map_err(QueryError::illegal_argument)?,
                "mode" => {
                    spec.mode = Some(match parse_mode(v)? {
                        SortMode::Sum => {
                            return Err(QueryError::illegal_argument("sort_mode [sum] isn't supported for sorting by geo distance"));
                        }
                        mode => mode,
                    })
                }
                "ignore_unmapped" => ignore_unmapped = v.as_bool().ok_or_else(|| QueryError::parsing("[_geo_distance] [ignore_unmapped] must be a boolean"))?,
                "validation_method" | "_name" => {}
                "nested" | "nested_path" | "nested_filter" => {
                    return Err(QueryError::illegal_argument("[_geo_distance] sorting on nested fields is not supported"));
                }
                name => {
                    if let Some((first, _)) = &field {
                        return Err(QueryError::parsing(format!(
                            "[_geo_distance] sort doesn't support multiple fields, found [{first}] and [{name}]"
                        )));
                    }
                    field = Some((name.to_string(), v));
                }
            }
        }
        let (field, origins) = field.ok_or_else(|| QueryError::parsing("[_geo_distance] sort requires a geo_point field and its origin"))?;
        let point = |v: &Value| GeoPoint::parse(v).map_err(|why| QueryError::parsing(format!("[_geo_distance] failed to parse origin [{v}]: {why}")));
        let origins = match origins {
            // `[lon, lat]` is one origin; any other array is a list of them.
            Value::Array(items) if !items.iter().all(Value::is_number) => items.iter().map(point).collect::<Result<Vec<_>, _>>()?,
            one => vec![point(one)?],
        };
        if origins.is_empty() {
            return Err(QueryError::parsing("[_geo_distance] sort requires at least one origin"));
        }
        Ok(GeoDistanceSort { field, origins, unit, distance_type, ignore_unmapped })
    }

    /// The document's distances (in the sort's unit), one per point and origin.
    fn distances(&self, points: impl Iterator<Item = GeoPoint>) -> Vec<f64> {
        let mut out = Vec::new();
        for p in points {
            out.extend(self.origins.iter().map(|o| self.distance_type.distance(*o, p) / self.unit.meters));
        }
        out
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Missing {
    First,
    Last,
    Value(Value),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortMode {
    Min,
    Max,
    Sum,
    Avg,
    Median,
}

#[derive(Debug, Clone, PartialEq)]
pub struct SortSpec {
    pub target: SortTarget,
    pub desc: bool,
    pub missing: Missing,
    /// How a multi-valued field is reduced to one sort value (default: min ascending,
    /// max descending).
    pub mode: Option<SortMode>,
    pub unmapped_type: Option<String>,
}

impl SortSpec {
    fn new(name: &str) -> SortSpec {
        let target = match name {
            "_score" => SortTarget::Score,
            "_doc" => SortTarget::Doc,
            field => SortTarget::Field(field.to_string()),
        };
        let desc = target == SortTarget::Score;
        SortSpec { target, desc, missing: Missing::Last, mode: None, unmapped_type: None }
    }

    pub fn is_score(&self) -> bool {
        self.target == SortTarget::Score
    }

    /// The body's `sort`: a string, an object, or an array of them.
    pub fn parse_list(value: &Value) -> Result<Vec<SortSpec>, QueryError> {
        match value {
            Value::Array(items) => {
                let mut out = Vec::new();
                for item in items {
                    out.extend(Self::parse_one(item)?);
                }
                Ok(out)
            }
            other => Self::parse_one(other),
        }
    }

    fn parse_one(value: &Value) -> Result<Vec<SortSpec>, QueryError> {
        match value {
            Value::String(name) => Ok(vec![SortSpec::new(name)]),
            Value::Object(obj) => {
                let mut out = Vec::new();
                for (name, opts) in obj {
                    let mut spec = SortSpec::new(name);
                    if name == "_geo_distance" || name == "_geoDistance" {
                        spec.target = SortTarget::GeoDistance(Box::new(GeoDistanceSort::parse(&mut spec, opts)?));
                        out.push(spec);
                        continue;
                    }
                    match opts {
                        Value::String(order) => spec.desc = parse_order(order)?,
                        Value::Object(o) => {
                            for (k, v) in o {
                                match k.as_str() {
                                    "order" => {
                                        spec.desc = parse_order(v.as_str().unwrap_or_default())?
                                    }
                                    "missing" => {
                                        spec.missing = match v {
                                            Value::String(s) if s == "_last" => Missing::Last,
                                            Value::String(s) if s == "_first" => Missing::First,
                                            other => Missing::Value(other.clone()),
                                        }
                                    }
                                    "mode" => spec.mode = Some(parse_mode(v)?),
                                    "unmapped_type" => {
                                        spec.unmapped_type = v.as_str().map(String::from)
                                    }
                                    "format" | "numeric_type" => {}
                                    other => {
                                        return Err(QueryError::parsing(format!(
                                            "[field_sort] unknown field [{other}]"
                                        )));
                                    }
                                }
                            }
                        }
                        other => {
                            return Err(QueryError::parsing(format!(
                                "[sort] malformed sort option for [{name}]: [{other}]"
                            )));
                        }
                    }
                    out.push(spec);
                }
                Ok(out)
            }
            other => Err(QueryError::parsing(format!("[sort] malformed sort: [{other}]"))),
        }
    }

    /// The `sort` URL parameter: `field`, `field:desc`, comma separated.
    pub fn parse_param(s: &str) -> Result<Vec<SortSpec>, QueryError> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (name, order) = match p.rsplit_once(':') {
                    Some((n, o)) => (n, Some(o)),
                    None => (p, None),
                };
                let mut spec = SortSpec::new(name);
                if let Some(o) = order {
                    spec.desc = parse_order(o)?;
                }
                Ok(spec)
            })
            .collect()
    }
}

fn parse_mode(v: &Value) -> Result<SortMode, QueryError> {
    Ok(match v.as_str() {
        Some("max") => SortMode::Max,
        Some("min") => SortMode::Min,
        Some("sum") => SortMode::Sum,
        Some("avg") => SortMode::Avg,
        Some("median") => SortMode::Median,
        _ => return Err(QueryError::illegal_argument(format!("Unknown SortMode [{v}]"))),
    })
}

fn parse_order(s: &str) -> Result<bool, QueryError> {
    match s.to_ascii_lowercase().as_str() {
        "asc" => Ok(false),
        "desc" => Ok(true),
        other => Err(QueryError::illegal_argument(format!(
            "Unknown SortOrder [{other}]"
        ))),
    }
}

/// One sort key value.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub enum SortValue {
    Missing,
    /// Exact integers: long and date fields (epoch millis), `_doc`.
    Int(i64),
    Num(f64),
    Str(String),
}

fn natural(a: &SortValue, b: &SortValue) -> Ordering {
    match (a, b) {
        (SortValue::Int(x), SortValue::Int(y)) => x.cmp(y),
        (SortValue::Int(x), SortValue::Num(y)) => (*x as f64).partial_cmp(y).unwrap_or(Ordering::Equal),
        (SortValue::Num(x), SortValue::Int(y)) => x.partial_cmp(&(*y as f64)).unwrap_or(Ordering::Equal),
        (SortValue::Int(_), SortValue::Str(_)) => Ordering::Less,
        (SortValue::Str(_), SortValue::Int(_)) => Ordering::Greater,
        (SortValue::Num(x), SortValue::Num(y)) => x.partial_cmp(y).unwrap_or(Ordering::Equal),
        (SortValue::Str(x), SortValue::Str(y)) => x.cmp(y),
        (SortValue::Num(_), SortValue::Str(_)) => Ordering::Less,
        (SortValue::Str(_), SortValue::Num(_)) => Ordering::Greater,
        _ => Ordering::Equal,
    }
}

/// How a sort key is read and shown, once resolved against the indices' mappings.
#[derive(Debug, Clone)]
pub struct ResolvedSort {
    pub spec: SortSpec,
    /// Field kind (`None` for `_score`/`_doc`, or unmapped everywhere with `unmapped_type`).
    pub kind: Option<FieldKind>,
    /// Replacement for missing values (`missing: <value>`).
    pub missing_value: Option<SortValue>,
}

impl ResolvedSort {
    pub fn resolve(spec: &SortSpec, mappings: &[std::sync::Arc<Mapping>]) -> Result<ResolvedSort, QueryError> {
        if let SortTarget::GeoDistance(geo) = &spec.target {
            let mut mapped = false;
            for m in mappings {
                match FieldResolver::geo_point_path(m.as_ref(), &geo.field) {
                    Some(Ok(_)) => mapped = true,
                    Some(Err(ty)) => {
                        return Err(QueryError::illegal_argument(format!(
                            "field [{}] of type [{ty}] is not supported for geo distance based sort",
                            geo.field
                        )));
                    }
                    None => {}
                }
            }
            if !mapped && !geo.ignore_unmapped {
                return Err(QueryError::query_shard(format!(
                    "failed to find mapper for [{}] for geo distance based sort",
                    geo.field
                )));
            }
            return Ok(ResolvedSort { spec: spec.clone(), kind: Some(FieldKind::Double), missing_value: None });
        }
        let SortTarget::Field(name) = &spec.target else {
            return Ok(ResolvedSort { spec: spec.clone(), kind: None, missing_value: None });
        };
        let mut kind = None;
        for m in mappings {
            if let Some(f) = m.resolve(name) {
                if f.ty.is_text() {
                    return Err(text_field_error(name));
                }
                if f.ty.needs_dedicated_access() {
                    return Err(QueryError::illegal_argument(format!(
                        "can't sort on {} field without using specific sorting feature, like geo_distance",
                        f.ty
                    )));
                }
                if f.ty == FieldType::Ip || f.ty.is_source_only() {
                    // ips are indexed as strings, whose order is not address order.
                    return Err(QueryError::illegal_argument(format!(
                        "sorting on [{}] field [{name}] is not supported",
                        f.ty
                    )));
                }
                if f.ty.is_object_like() {
                    return Err(QueryError::illegal_argument(format!(
                        "can't sort on object field [{name}]"
                    )));
                }
                kind = FieldResolver::resolve(m.as_ref(), name).map(|r| r.kind);
                break;
            }
        }
        if kind.is_none() {
            match spec.unmapped_type.as_deref() {
                Some(t) => kind = FieldType::parse(t).and_then(super::field_kind),
                None => {
                    return Err(QueryError::query_shard(format!(
                        "No mapping found for [{name}] in order to sort on"
                    )));
                }
            }
        }
        let mut resolved = ResolvedSort { spec: spec.clone(), kind, missing_value: None };
        if let Missing::Value(v) = &spec.missing {
            resolved.missing_value = Some(resolved.parse_value(v)?);
        }
        Ok(resolved)
    }

    /// A `search_after` / `missing` value as a sort value of this key.
    pub fn parse_value(&self, v: &Value) -> Result<SortValue, QueryError> {
        if v.is_null() {
            return Ok(SortValue::Missing);
        }
        let bad = || {
            QueryError::illegal_argument(format!(
                "Failed to parse value [{v}] for sort field [{}] (search_after or missing)",
                self.name()
            ))
        };
        match (&self.spec.target, self.kind) {
            (SortTarget::Field(_), Some(FieldKind::Keyword | FieldKind::Text)) => match v {
                Value::String(s) => Ok(SortValue::Str(s.clone())),
                Value::Number(n) => Ok(SortValue::Str(n.to_string())),
                _ => Err(bad()),
            },
            (SortTarget::Field(_), Some(FieldKind::Date)) => {
                parse_date_millis(v, &DateFormat::default_format())
                    .map(SortValue::Int)
                    .map_err(|_| bad())
            }
            (SortTarget::Doc, _) | (SortTarget::Field(_), Some(FieldKind::Long)) => match v {
                Value::Number(n) => match n.as_i64() {
                    Some(i) => Ok(SortValue::Int(i)),
                    None => n.as_f64().map(SortValue::Num).ok_or_else(bad),
                },
                Value::String(s) => s.trim().parse::<i64>().map(SortValue::Int).map_err(|_| bad()),
                _ => Err(bad()),
            },
            (SortTarget::Field(_), Some(FieldKind::Boolean)) => match v {
                Value::Bool(b) => Ok(SortValue::Num(if *b { 1.0 } else { 0.0 })),
                Value::Number(n) => n.as_f64().map(SortValue::Num).ok_or_else(bad),
                Value::String(s) if s == "true" => Ok(SortValue::Num(1.0)),
                Value::String(s) if s == "false" => Ok(SortValue::Num(0.0)),
                _ => Err(bad()),
            },
            _ => match v {
                Value::Number(n) => n.as_f64().map(SortValue::Num).ok_or_else(bad),
                Value::String(s) => s.parse::<f64>().map(SortValue::Num).map_err(|_| bad()),
                _ => Err(bad()),
            },
        }
    }

    pub fn name(&self) -> &str {
        match &self.spec.target {
            SortTarget::Score => "_score",
            SortTarget::Doc => "_doc",
            SortTarget::Field(f) => f,
            SortTarget::GeoDistance(_) => "_geo_distance",
        }
    }

    /// Compares two values of this key in result order.
    pub fn compare(&self, a: &SortValue, b: &SortValue) -> Ordering {
        let missing_first = matches!(self.spec.missing, Missing::First);
        match (a, b) {
            (SortValue::Missing, SortValue::Missing) => Ordering::Equal,
            (SortValue::Missing, _) => {
                if missing_first { Ordering::Less } else { Ordering::Greater }
            }
            (_, SortValue::Missing) => {
                if missing_first { Ordering::Greater } else { Ordering::Less }
            }
            (x, y) => {
                let o = natural(x, y);
                if self.spec.desc { o.reverse() } else { o }
            }
        }
    }

    /// The value shown in a hit's `sort` array.
    pub fn to_json(&self, v: &SortValue) -> Value {
        match v {
            SortValue::Missing => Value::Null,
            SortValue::Int(i) => json!(*i),
            SortValue::Str(s) => Value::String(s.clone()),
            SortValue::Num(n) => match (&self.spec.target, self.kind) {
                (SortTarget::Doc, _)
                | (SortTarget::Field(_), Some(FieldKind::Long | FieldKind::Date | FieldKind::Boolean)) => {
                    json!(*n as i64)
                }
                _ => json!(*n),
            },
        }
    }
}

pub(crate) fn text_field_error(name: &str) -> QueryError {
    QueryError::illegal_argument(format!(
        "Text fields are not optimised for operations that require per-document field data like aggregations and sorting, so these operations are disabled by default. Please use a keyword field instead. Alternatively, set fielddata=true on [{name}] in order to load field data by uninverting the inverted index. Note that this can use significant memory."
    ))
}

/// Compares full keys, key by key.
pub fn compare_keys(sorts: &[ResolvedSort], a: &[SortValue], b: &[SortValue]) -> Ordering {
    for (i, s) in sorts.iter().enumerate() {
        let (Some(x), Some(y)) = (a.get(i), b.get(i)) else { break };
        let o = s.compare(x, y);
        if o != Ordering::Equal {
            return o;
        }
    }
    Ordering::Equal
}

/// Reads one key's values in one segment.
pub(crate) enum SegmentKeyReader {
    Score,
    /// Global doc number: `base + doc`.
    Doc(u64),
    Numeric { column: Option<NumericColumn>, mode: SortMode, missing: Option<SortValue> },
    Str { column: Option<StrColumn>, missing: Option<SortValue> },
    GeoDistance { column: Option<crate::query_ast::GeoColumn>, sort: Box<GeoDistanceSort>, mode: SortMode },
}

impl SegmentKeyReader {
    pub fn open(
        sort: &ResolvedSort,
        mapping: &Mapping,
        reader: &SegmentReader,
        doc_base: u64,
    ) -> tantivy::Result<SegmentKeyReader> {
        let name = match &sort.spec.target {
            SortTarget::Score => return Ok(SegmentKeyReader::Score),
            SortTarget::Doc => return Ok(SegmentKeyReader::Doc(doc_base)),
            SortTarget::Field(name) => name,
            SortTarget::GeoDistance(geo) => {
                let column = match mapping.resolve(&geo.field).filter(|f| f.ty == FieldType::GeoPoint) {
                    Some(f) => crate::query_ast::open_geo_column(reader, &format!("_kw.{}", f.json_path))?,
                    None => None,
                };
                let mode = sort.spec.mode.unwrap_or(if sort.spec.desc { SortMode::Max } else { SortMode::Min });
                return Ok(SegmentKeyReader::GeoDistance { column, sort: geo.clone(), mode });
            }
        };
        let column_name = mapping.resolve(name).map(|f| format!("_kw.{}", f.json_path));
        let missing = sort.missing_value.clone();
        let is_str = matches!(sort.kind, Some(FieldKind::Keyword | FieldKind::Text));
        if is_str {
            let column = match &column_name {
                Some(c) => reader.fast_fields().str(c)?,
                None => None,
            };
            Ok(SegmentKeyReader::Str { column, missing })
        } else {
            let column = match &column_name {
                Some(c) => NumericColumn::open(reader, c)?,
                None => None,
            };
            let mode = sort.spec.mode.unwrap_or(if sort.spec.desc { SortMode::Max } else { SortMode::Min });
            Ok(SegmentKeyReader::Numeric { column, mode, missing })
        }
    }

    pub fn value(&self, doc: DocId, score: f32) -> SortValue {
        match self {
            SegmentKeyReader::Score => SortValue::Num(score as f64),
            SegmentKeyReader::Doc(base) => SortValue::Int((base + doc as u64) as i64),
            SegmentKeyReader::Numeric { column, mode, missing } => {
                match column.as_ref().and_then(|c| reduce(c, doc, *mode)) {
                    Some(v) => v,
                    None => missing.clone().unwrap_or(SortValue::Missing),
                }
            }
            SegmentKeyReader::GeoDistance { column, sort, mode } => {
                let distances = column.as_ref().map(|c| sort.distances(c.points(doc))).unwrap_or_default();
                reduce_f64(distances, *mode).map_or(SortValue::Missing, SortValue::Num)
            }
            SegmentKeyReader::Str { column, missing } => {
                let found = column.as_ref().and_then(|c| {
                    let ord = c.ords().first(doc)?;
                    let mut s = String::new();
                    c.ord_to_str(ord, &mut s).ok()?.then_some(s)
                });
                match found {
                    Some(s) => SortValue::Str(s),
                    None => missing.clone().unwrap_or(SortValue::Missing),
                }
            }
        }
    }
}

/// Reduces a multi-valued numeric document to one sort value, the way OpenSearch does: exact
/// integer min/max/sum (wrapping) for long and date columns, averages and medians as doubles.
fn reduce(column: &NumericColumn, doc: DocId, mode: SortMode) -> Option<SortValue> {
    if let Some(mut v) = column.values_i64(doc) {
        if v.is_empty() {
            return None;
        }
        let n = v.len();
        return Some(match mode {
            SortMode::Min => SortValue::Int(*v.iter().min()?),
            SortMode::Max => SortValue::Int(*v.iter().max()?),
            SortMode::Sum => SortValue::Int(v.iter().fold(0i64, |a, b| a.wrapping_add(*b))),
            SortMode::Avg => {
                let sum = v.iter().fold(0i64, |a, b| a.wrapping_add(*b));
                SortValue::Int((sum as f64 / n as f64).round() as i64)
            }
            SortMode::Median => {
                v.sort_unstable();
                let m = if n % 2 == 1 { v[n / 2] as f64 } else { (v[n / 2 - 1] as f64 + v[n / 2] as f64) / 2.0 };
                SortValue::Int(m.round() as i64)
            }
        });
    }
    reduce_f64(column.values_f64(doc), mode).map(SortValue::Num)
}

/// A multi-valued document's float values reduced by `mode` (`None` without values).
fn reduce_f64(mut v: Vec<f64>, mode: SortMode) -> Option<f64> {
    if v.is_empty() {
        return None;
    }
    let n = v.len();
    Some(match mode {
        SortMode::Min => v.iter().copied().fold(f64::INFINITY, f64::min),
        SortMode::Max => v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
        SortMode::Sum => v.iter().sum(),
        SortMode::Avg => v.iter().sum::<f64>() / n as f64,
        SortMode::Median => {
            v.sort_by(|a, b| a.partial_cmp(b).unwrap_or(Ordering::Equal));
            if n % 2 == 1 { v[n / 2] } else { (v[n / 2 - 1] + v[n / 2]) / 2.0 }
        }
    })
}
