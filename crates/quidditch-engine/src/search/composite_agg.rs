//! The `composite` aggregation, on tantivy's composite aggregation: the OpenSearch request
//! (sources `terms` / `histogram` / `date_histogram`, `size`, `after`) is rewritten for it
//! (field names → `_kw.<path>`, `after` values → tantivy's typed after keys, calendar
//! intervals → tantivy's), and its buckets' keys and `after_key` are shown as OpenSearch
//! shows them. Shards hand their smallest keys to the reduce, which keeps the global
//! smallest `size`: pages are the same on any number of shards.

use std::sync::Arc;

use serde_json::{Map, Value, json};

use crate::mapping::Mapping;
use crate::query_ast::{DateFormat, FieldKind, QueryError, parse_date_millis};

/// What the response rewriting needs to know about one source.
#[derive(Debug, Clone)]
pub(crate) struct CompositeSource {
    name: String,
    source_type: String,
    kind: Option<FieldKind>,
    /// `format` of a date source: keys and `after_key` printed with it, `after` parsed with it.
    format: Option<DateFormat>,
}

/// The sources of one `composite` aggregation, in order.
#[derive(Debug, Clone)]
pub(crate) struct CompositeMeta {
    sources: Vec<CompositeSource>,
}

fn bad(reason: impl Into<String>) -> QueryError {
    QueryError::parsing(reason)
}

/// Rewrites a `composite` body for tantivy. `resolve` maps a field to its kind and column.
pub(crate) fn rewrite(
    name: &str,
    body: &Map<String, Value>,
    mappings: &[Arc<Mapping>],
    resolve: impl Fn(&[Arc<Mapping>], &str) -> Result<(Option<FieldKind>, String), QueryError>,
) -> Result<(Map<String, Value>, CompositeMeta), QueryError> {
    let mut sources_out = Vec::new();
    let mut meta = CompositeMeta { sources: Vec::new() };
    let mut size = 10u64;
    let mut after = None;
    for (k, v) in body {
        match k.as_str() {
            "size" => {
                size = v.as_u64().filter(|n| *n > 0).ok_or_else(|| {
                    QueryError::illegal_argument(format!("[size] must be greater than 0. Found [{v}] in [{name}]"))
                })?
            }
            "after" => after = Some(v.as_object().ok_or_else(|| bad("[after] must be an object"))?),
            "sources" => {
                let list = v.as_array().ok_or_else(|| bad("[sources] must be an array"))?;
                for entry in list {
                    let (source_name, def) = match entry.as_object() {
                        Some(o) if o.len() == 1 => o.iter().next().unwrap_or_else(|| unreachable!()),
                        _ => return Err(bad(format!("[{name}] each composite source must have exactly one named entry"))),
                    };
                    let (source_type, def) = match def.as_object() {
                        Some(o) if o.len() == 1 => o.iter().next().unwrap_or_else(|| unreachable!()),
                        _ => return Err(bad(format!("[{source_name}] a composite source must have one type"))),
                    };
                    let (out, kind, format) = rewrite_source(source_name, source_type, def, mappings, &resolve)?;
                    sources_out.push(json!({source_name.clone(): {source_type.clone(): out}}));
                    meta.sources.push(CompositeSource { name: source_name.clone(), source_type: source_type.clone(), kind, format });
                }
            }
            other => return Err(bad(format!("[composite] unknown field [{other}]"))),
        }
    }
    if meta.sources.is_empty() {
        return Err(QueryError::illegal_argument(format!("Composite [sources] cannot be null or empty in [{name}]")));
    }
    let mut out = Map::new();
    out.insert("sources".into(), Value::Array(sources_out));
    out.insert("size".into(), json!(size));
    if let Some(after) = after {
        let mut keys = Map::new();
        for source in &meta.sources {
            let value = after.get(&source.name).ok_or_else(|| {
                QueryError::illegal_argument(format!("[after] has no value for source [{}] of [{name}]", source.name))
            })?;
            keys.insert(source.name.clone(), Value::String(source.after_key(value)?));
        }
        if after.len() != meta.sources.len() {
            return Err(QueryError::illegal_argument(format!("[after] has {} value(s) but [{name}] has {} source(s)", after.len(), meta.sources.len())));
        }
        out.insert("after".into(), Value::Object(keys));
    }
    Ok((out, meta))
}

fn rewrite_source(
    source_name: &str,
    source_type: &str,
    def: &Value,
    mappings: &[Arc<Mapping>],
    resolve: &impl Fn(&[Arc<Mapping>], &str) -> Result<(Option<FieldKind>, String), QueryError>,
) -> Result<(Map<String, Value>, Option<FieldKind>, Option<DateFormat>), QueryError> {
    let def = def.as_object().ok_or_else(|| bad(format!("[{source_name}] must be an object")))?;
    if !matches!(source_type, "terms" | "histogram" | "date_histogram") {
        return Err(QueryError::illegal_argument(format!(
            "[{source_name}]: composite source type [{source_type}] is not supported (terms, histogram, date_histogram)"
        )));
    }
    let mut out = Map::new();
    let mut kind = None;
    let mut mapped = false;
    let mut format = None;
    let mut value_type = None;
    for (k, v) in def {
        match k.as_str() {
            "field" => {
                let field = v.as_str().ok_or_else(|| bad(format!("[{source_name}] [field] must be a string")))?;
                let (field_kind, column) = resolve(mappings, field)?;
                mapped = field_kind.is_some();
                kind = field_kind;
                out.insert("field".into(), Value::String(column));
            }
            "order" => match v.as_str() {
                Some(o @ ("asc" | "desc")) => {
                    out.insert("order".into(), json!(o));
                }
                _ => return Err(QueryError::illegal_argument(format!("Unknown order [{v}] in [{source_name}]"))),
            },
            "missing_bucket" => {
                out.insert("missing_bucket".into(), json!(v.as_bool().unwrap_or(false)));
            }
            "missing_order" => {
                out.insert("missing_order".into(), v.clone());
            }
            "interval" if source_type == "histogram" => {
                if v.as_f64().is_none_or(|i| i <= 0.0) {
                    return Err(QueryError::illegal_argument(format!("[interval] must be greater than 0 for [{source_name}]")));
                }
                out.insert("interval".into(), v.clone());
            }
            "fixed_interval" if source_type == "date_histogram" => {
                out.insert("fixed_interval".into(), v.clone());
            }
            "calendar_interval" | "interval" if source_type == "date_histogram" => {
                let unit = v.as_str().unwrap_or_default();
                match unit {
                    "year" | "1y" => out.insert("calendar_interval".into(), json!("year")),
                    "month" | "1M" => out.insert("calendar_interval".into(), json!("month")),
                    "week" | "1w" => out.insert("calendar_interval".into(), json!("week")),
                    "day" | "1d" => out.insert("fixed_interval".into(), json!("1d")),
                    "hour" | "1h" => out.insert("fixed_interval".into(), json!("1h")),
                    "minute" | "1m" => out.insert("fixed_interval".into(), json!("1m")),
                    other => {
                        return Err(QueryError::illegal_argument(format!(
                            "The supplied interval [{other}] could not be parsed as a calendar interval."
                        )));
                    }
                };
            }
            "time_zone" if v.as_str().is_some_and(|z| matches!(z, "UTC" | "Z" | "+00:00" | "Etc/UTC")) => {}
            "format" => {
                let spec = v.as_str().ok_or_else(|| bad(format!("[{source_name}] [format] must be a string")))?;
                format = Some(spec.to_string());
            }
            "value_type" => {
                let name = v.as_str().ok_or_else(|| bad(format!("[{source_name}] [value_type] must be a string")))?;
                value_type = Some(value_type_kind(name).ok_or_else(|| {
                    QueryError::illegal_argument(format!("Unknown value type [{name}] in composite source [{source_name}]"))
                })?);
            }
            other => return Err(bad(format!("[{source_type}] unknown field [{other}] in composite source [{source_name}]"))),
        }
    }
    if !out.contains_key("field") {
        return Err(QueryError::illegal_argument(format!("Required [field] in composite source [{source_name}]")));
    }
    if source_type == "histogram" && !out.contains_key("interval") {
        return Err(QueryError::illegal_argument(format!("[interval] must be set for histogram source [{source_name}]")));
    }
    if source_type == "date_histogram" && !out.contains_key("fixed_interval") && !out.contains_key("calendar_interval") {
        return Err(QueryError::illegal_argument(format!("Invalid interval specified, must be non-null and non-empty in [{source_name}]")));
    }
    // As OpenSearch's `ValuesSourceConfig`: `value_type` is a hint for an unmapped field only;
    // a mapped field keeps its own type.
    if !mapped && value_type.is_some() {
        kind = value_type;
    }
    if source_type != "terms" && matches!(kind, Some(FieldKind::Keyword | FieldKind::Ip | FieldKind::Text)) {
        return Err(QueryError::illegal_argument(format!(
            "Field of type [keyword] is not supported for composite source [{source_name}] of type [{source_type}]"
        )));
    }
    let format = match format {
        None => None,
        Some(spec) if source_type == "date_histogram" || kind == Some(FieldKind::Date) => Some(
            DateFormat::parse(&spec)
                .map_err(|e| QueryError::illegal_argument(format!("Invalid format [{spec}] in composite source [{source_name}]: {e}")))?,
        ),
        Some(spec) => {
            return Err(QueryError::illegal_argument(format!(
                "[format] [{spec}] of composite source [{source_name}] is only supported on date values (a date_histogram source or a date field); numeric formats are not implemented"
            )));
        }
    };
    Ok((out, kind, format))
}

/// OpenSearch's `ValueType` names → the kind of values an unmapped field is treated as.
pub(super) fn value_type_kind(name: &str) -> Option<FieldKind> {
    Some(match name {
        "string" => FieldKind::Keyword,
        "long" | "integer" | "short" | "byte" => FieldKind::Long,
        "double" | "float" | "number" | "numeric" => FieldKind::Double,
        "date" => FieldKind::Date,
        "ip" => FieldKind::Ip,
        "boolean" => FieldKind::Boolean,
        _ => return None,
    })
}

impl CompositeSource {
    fn is_date(&self) -> bool {
        self.source_type == "date_histogram" || self.kind == Some(FieldKind::Date)
    }

    /// An OpenSearch `after` value as tantivy's typed after key (`<type>:<value>`).
    fn after_key(&self, value: &Value) -> Result<String, QueryError> {
        let bad_value = || QueryError::illegal_argument(format!("invalid value [{value}] in [after] for source [{}]", self.name));
        if value.is_null() {
            return Ok("null:".to_string());
        }
        if self.is_date() {
            let ms = match &self.format {
                Some(f) => parse_date_millis(value, f).or_else(|_| parse_date_millis(value, &DateFormat::default_format())),
                None => parse_date_millis(value, &DateFormat::default_format()),
            }
            .map_err(|_| bad_value())?;
            return Ok(format!("dt:{}", ms.saturating_mul(1_000_000)));
        }
        Ok(match (self.kind, value) {
            (Some(FieldKind::Boolean), Value::Bool(b)) => format!("bool:{b}"),
            (Some(FieldKind::Boolean), Value::String(s)) if s == "true" || s == "false" => format!("bool:{s}"),
            (Some(FieldKind::Long | FieldKind::Double), Value::Number(n)) => match (self.source_type.as_str(), n.as_i64()) {
                ("terms", Some(i)) if self.kind == Some(FieldKind::Long) => format!("i64:{i}"),
                _ => format!("f64:{}", n.as_f64().ok_or_else(bad_value)?),
            },
            (Some(FieldKind::Long | FieldKind::Double), Value::String(s)) => {
                format!("f64:{}", s.parse::<f64>().map_err(|_| bad_value())?)
            }
            (_, Value::String(s)) => format!("str:{s}"),
            (_, Value::Number(n)) => format!("str:{n}"),
            _ => return Err(bad_value()),
        })
    }

    /// A bucket key (tantivy's final key) as OpenSearch shows it.
    fn show(&self, key: &Value) -> Value {
        let shown = self.show_unformatted(key);
        match (&self.format, shown.as_i64()) {
            (Some(format), Some(ms)) => json!(format.format_millis(ms)),
            _ => shown,
        }
    }

    fn show_unformatted(&self, key: &Value) -> Value {
        match (key, self.kind) {
            (Value::Number(n), Some(FieldKind::Long | FieldKind::Date)) if self.source_type == "terms" => {
                n.as_f64().map(|f| json!(f as i64)).unwrap_or_else(|| key.clone())
            }
            (Value::Number(n), Some(FieldKind::Boolean)) => json!(n.as_f64().is_some_and(|f| f != 0.0)),
            (Value::Number(n), _) if self.source_type == "date_histogram" => {
                n.as_f64().map(|f| json!(f as i64)).unwrap_or_else(|| key.clone())
            }
            (Value::Number(n), _) if self.source_type == "histogram" => n.as_f64().map(|f| json!(f)).unwrap_or_else(|| key.clone()),
            (Value::String(s), Some(FieldKind::Date)) => DateFormat::default_format()
                .parse_value(&json!(s))
                .map(|ms| json!(ms))
                .unwrap_or_else(|_| key.clone()),
            _ => key.clone(),
        }
    }

    /// tantivy's after key (`<type>:<value>`) as an OpenSearch `after_key` value.
    fn show_after(&self, encoded: &Value) -> Value {
        let Some((ty, raw)) = encoded.as_str().and_then(|s| s.split_once(':')) else { return encoded.clone() };
        let value = match ty {
            "null" => Value::Null,
            "str" | "ip" => json!(raw),
            "bool" => json!(raw == "true"),
            "i64" | "u64" => raw.parse::<i64>().map(|i| json!(i)).unwrap_or_else(|_| json!(raw)),
            "f64" => raw.parse::<f64>().map(|f| json!(f)).unwrap_or_else(|_| json!(raw)),
            "dt" => raw.parse::<i64>().map(|ns| json!(ns / 1_000_000)).unwrap_or_else(|_| json!(raw)),
            _ => json!(raw),
        };
        self.show(&value)
    }
}

impl CompositeMeta {
    /// Rewrites tantivy's composite result in place into OpenSearch's shape.
    pub(crate) fn rewrite_result(&self, obj: &mut Map<String, Value>) {
        if let Some(Value::Array(buckets)) = obj.get_mut("buckets") {
            for b in buckets {
                if let Some(Value::Object(key)) = b.get_mut("key") {
                    for source in &self.sources {
                        if let Some(v) = key.get_mut(&source.name) {
                            *v = source.show(v);
                        }
                    }
                }
            }
        }
        if let Some(Value::Object(after)) = obj.get_mut("after_key") {
            for source in &self.sources {
                if let Some(v) = after.get_mut(&source.name) {
                    *v = source.show_after(v);
                }
            }
        }
        // Keys in source order, as OpenSearch renders them.
        if let Some(Value::Array(buckets)) = obj.get_mut("buckets") {
            for b in buckets {
                if let Some(Value::Object(key)) = b.get_mut("key") {
                    let mut ordered = Map::new();
                    for source in &self.sources {
                        ordered.insert(source.name.clone(), key.remove(&source.name).unwrap_or(Value::Null));
                    }
                    *key = ordered;
                }
            }
        }
        if let Some(Value::Object(after)) = obj.get_mut("after_key") {
            let mut ordered = Map::new();
            for source in &self.sources {
                ordered.insert(source.name.clone(), after.remove(&source.name).unwrap_or(Value::Null));
            }
            *after = ordered;
        }
    }
}
