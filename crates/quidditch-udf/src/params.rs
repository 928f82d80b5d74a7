//! Call parameters bound to a UDF's declared parameters: defaults applied, types checked,
//! stored in a form the host functions read without allocating.

use serde_json::{Map, Value};

use crate::metadata::{ParamDecl, ParamType};

/// A parameter value after coercion to its declared type.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    String(String),
    I64(i64),
    F64(f64),
    Bool(bool),
}

/// Parameters of one evaluation context, validated against the UDF's declaration.
/// Lookup is a linear scan over a handful of names: no hashing on the call path.
#[derive(Debug, Clone, Default)]
pub struct BoundParams {
    values: Vec<(String, ParamValue)>,
}

impl BoundParams {
    pub fn get(&self, name: &[u8]) -> Option<&ParamValue> {
        self.values.iter().find(|(n, _)| n.as_bytes() == name).map(|(_, v)| v)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&str, &ParamValue)> {
        self.values.iter().map(|(n, v)| (n.as_str(), v))
    }

    /// Binds `given` to `decls`; the error message names the parameter. A UDF that declares
    /// no parameters takes any (as Painless scripts do), each typed from its JSON value
    /// ([`ParamType::of_json`]); nulls are left out, so reading one says "not found".
    pub fn bind(decls: &[ParamDecl], given: &Map<String, Value>) -> Result<BoundParams, String> {
        if decls.is_empty() {
            return Self::bind_undeclared(given);
        }
        for name in given.keys() {
            if !decls.iter().any(|d| &d.name == name) {
                let declared: Vec<&str> = decls.iter().map(|d| d.name.as_str()).collect();
                return Err(format!("unknown parameter [{name}]; declared parameters: {declared:?}"));
            }
        }
        let mut values = Vec::with_capacity(decls.len());
        for d in decls {
            let raw = match given.get(&d.name) {
                Some(Value::Null) | None => d.default.as_ref(),
                Some(v) => Some(v),
            };
            match raw {
                Some(v) => {
                    let value = coerce(d.param_type, v).map_err(|why| {
                        format!("parameter [{}] must be of type {}: {why}", d.name, d.param_type.as_str())
                    })?;
                    values.push((d.name.clone(), value));
                }
                None if d.required => return Err(format!("missing required parameter [{}]", d.name)),
                None => {}
            }
        }
        Ok(BoundParams { values })
    }

    fn bind_undeclared(given: &Map<String, Value>) -> Result<BoundParams, String> {
        let mut values = Vec::with_capacity(given.len());
        for (name, v) in given {
            if v.is_null() {
                continue;
            }
            let ty = ParamType::of_json(v).ok_or_else(|| {
                format!(
                    "parameter [{}] must be a string, number or boolean (the UDF declares no parameters, so the type \
                     comes from the value); got {}",
                    crate::metadata::echo(name),
                    json_type_name(v)
                )
            })?;
            values.push((name.clone(), coerce(ty, v)?));
        }
        Ok(BoundParams { values })
    }

    /// Parameters as JSON (for the test endpoint and logs).
    pub fn to_json(&self) -> Value {
        let mut m = Map::new();
        for (n, v) in &self.values {
            let j = match v {
                ParamValue::String(s) => Value::String(s.clone()),
                ParamValue::I64(i) => Value::from(*i),
                ParamValue::F64(f) => Value::from(*f),
                ParamValue::Bool(b) => Value::Bool(*b),
            };
            m.insert(n.clone(), j);
        }
        Value::Object(m)
    }
}

/// Converts a JSON value to the declared type. Integers given as JSON numbers (`3`, `3.0`)
/// are valid i64; numbers are valid f64; nothing else is converted implicitly.
pub fn coerce(ty: ParamType, v: &Value) -> Result<ParamValue, String> {
    match (ty, v) {
        (ParamType::String, Value::String(s)) => Ok(ParamValue::String(s.clone())),
        (ParamType::Bool, Value::Bool(b)) => Ok(ParamValue::Bool(*b)),
        (ParamType::F64, Value::Number(n)) => {
            n.as_f64().map(ParamValue::F64).ok_or_else(|| format!("{n} is not a finite number"))
        }
        (ParamType::I64, Value::Number(n)) => {
            if let Some(i) = n.as_i64() {
                Ok(ParamValue::I64(i))
            } else if let Some(f) = n.as_f64()
                && f.fract() == 0.0
                && f >= i64::MIN as f64
                && f < i64::MAX as f64
            {
                Ok(ParamValue::I64(f as i64))
            } else {
                Err(format!("{n} is not an integer in the i64 range"))
            }
        }
        (_, other) => Err(format!("got {}", json_type_name(other))),
    }
}

/// `a string`, `an array`… for error messages.
pub fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn undeclared_parameters_are_typed_from_json() {
        let given = json!({"s": "x", "i": 3, "f": 2.5, "b": true, "n": null});
        let bound = BoundParams::bind(&[], given.as_object().unwrap()).unwrap();
        assert_eq!(bound.get(b"s"), Some(&ParamValue::String("x".into())));
        assert_eq!(bound.get(b"i"), Some(&ParamValue::I64(3)));
        assert_eq!(bound.get(b"f"), Some(&ParamValue::F64(2.5)));
        assert_eq!(bound.get(b"b"), Some(&ParamValue::Bool(true)));
        assert_eq!(bound.get(b"n"), None);
        assert_eq!(bound.get(b"absent"), None);
        let e = BoundParams::bind(&[], json!({"a": [1]}).as_object().unwrap()).unwrap_err();
        assert!(e.contains("[a]") && e.contains("an array"), "{e}");
    }

    #[test]
    fn declared_parameters_keep_their_checks() {
        let decls = [ParamDecl { name: "x".into(), param_type: ParamType::I64, required: true, default: None, description: String::new() }];
        assert!(BoundParams::bind(&decls, json!({"y": 1}).as_object().unwrap()).unwrap_err().contains("unknown parameter [y]"));
        assert!(BoundParams::bind(&decls, &Map::new()).unwrap_err().contains("missing required parameter [x]"));
    }
}
