//! Value checks for the type Quidditch keeps in `_source` only (`binary`; `geo_point` values
//! are parsed by `crate::geo`), and
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
    }
}
