//! Dynamic mapping: the type OpenSearch infers for a value of an unmapped field.
//!
//! Rules (OpenSearch defaults): string → `date` if `date_detection` and it parses as
//! `strict_date_optional_time` (or `yyyy/MM/dd HH:mm:ss`), → `long`/`float` if
//! `numeric_detection` and it parses as a number, otherwise `text` with a `keyword` sub-field
//! (`ignore_above: 256`); integer → `long`; floating point → `float`; boolean → `boolean`;
//! object → `object`; array → the type of its first non-null element; null → nothing.

use serde_json::Value;

use super::{FieldMapping, FieldType};
use crate::date;

/// The mapping OpenSearch would create for `value`; `None` when nothing can be inferred yet
/// (null, empty array). Objects come back empty: their children are inferred one by one.
pub fn infer_field(value: &Value, date_detection: bool, numeric_detection: bool) -> Option<FieldMapping> {
    match value {
        Value::Null => None,
        Value::Bool(_) => Some(FieldMapping::new(FieldType::Boolean)),
        Value::Number(n) => Some(FieldMapping::new(if n.is_i64() || n.is_u64() {
            FieldType::Long
        } else {
            FieldType::Float
        })),
        Value::String(s) => {
            if date_detection && date::detect_date(s) {
                return Some(FieldMapping::new(FieldType::Date));
            }
            if numeric_detection {
                if s.trim().parse::<i64>().is_ok() {
                    return Some(FieldMapping::new(FieldType::Long));
                }
                if s.trim().parse::<f64>().is_ok_and(|f| f.is_finite()) {
                    return Some(FieldMapping::new(FieldType::Float));
                }
            }
            Some(text_with_keyword())
        }
        Value::Array(items) => items
            .iter()
            .find(|v| !v.is_null())
            .and_then(|v| infer_field(v, date_detection, numeric_detection)),
        Value::Object(_) => Some(FieldMapping::new(FieldType::Object)),
    }
}

/// `{"type":"text","fields":{"keyword":{"type":"keyword","ignore_above":256}}}`
fn text_with_keyword() -> FieldMapping {
    let mut text = FieldMapping::new(FieldType::Text);
    let mut kw = FieldMapping::new(FieldType::Keyword);
    kw.ignore_above = Some(256);
    text.fields.insert("keyword".into(), kw);
    text
}
