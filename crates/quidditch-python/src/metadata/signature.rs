//! UDF parameters from a `filter`/`score` signature.
//!
//! The first parameter is the document. A parameter named `params` receives the mapping of all
//! parameters; every other parameter is a declared UDF parameter whose annotation gives its type
//! (`str`, `int`, `float`, `bool`) and whose default makes it optional. Without an annotation
//! the type is inferred from a literal default.

use rustpython_parser::ast::{self, Constant, Expr, Ranged, UnaryOp};
use serde_json::Value;

use super::{ParamSpec, ParamType};
use crate::error::PythonUdfError;

/// The name of the parameter that receives the whole parameter mapping.
pub const PARAMS_MAPPING: &str = "params";

pub fn parameters(
    source: &str,
    function: &str,
    args: &ast::Arguments,
) -> Result<Vec<ParamSpec>, PythonUdfError> {
    let positional: Vec<&ast::ArgWithDefault> = args.posonlyargs.iter().chain(&args.args).collect();
    let Some((doc, rest)) = positional.split_first() else {
        return Err(invalid(format!(
            "`{function}` must take the document as its first parameter: `def {function}(doc, params)`"
        )));
    };
    if doc.default.is_some() {
        return Err(invalid(format!(
            "the first parameter of `{function}` (`{}`) is the document and cannot have a default",
            doc.def.arg
        )));
    }
    let mut out = Vec::new();
    for arg in rest.iter().copied().chain(&args.kwonlyargs) {
        let name = arg.def.arg.as_str();
        if name == PARAMS_MAPPING {
            continue;
        }
        out.push(parameter(source, function, arg)?);
    }
    Ok(out)
}

fn parameter(source: &str, function: &str, arg: &ast::ArgWithDefault) -> Result<ParamSpec, PythonUdfError> {
    let name = arg.def.arg.as_str();
    let annotated = match arg.def.annotation.as_deref() {
        Some(expr) => Some(annotation_type(expr).ok_or_else(|| {
            invalid(format!(
                "parameter `{name}` of `{function}`: unsupported annotation `{}`; use str, int, \
                 float or bool",
                describe(source, expr)
            ))
        })?),
        None => None,
    };
    let default = match arg.default.as_deref() {
        Some(expr) => Some(literal(expr).ok_or_else(|| {
            invalid(format!(
                "parameter `{name}` of `{function}`: the default must be a literal (a string, \
                 number, boolean or None), not `{}`",
                describe(source, expr)
            ))
        })?),
        None => None,
    };
    let ty = match (annotated, &default) {
        (Some(ty), _) => ty,
        (None, Some(value)) => inferred_type(value).ok_or_else(|| {
            invalid(format!(
                "parameter `{name}` of `{function}` needs a type annotation (str, int, float or bool)"
            ))
        })?,
        (None, None) => {
            return Err(invalid(format!(
                "parameter `{name}` of `{function}` needs a type annotation (str, int, float or \
                 bool), e.g. `{name}: str`"
            )));
        }
    };
    let default = match default {
        None | Some(Value::Null) => None,
        Some(value) => Some(coerce_default(function, name, ty, value)?),
    };
    // A parameter with any default (even `None`) can be left out of a query.
    let required = arg.default.is_none();
    Ok(ParamSpec { name: name.to_string(), ty, default, required })
}

/// `str`/`int`/`float`/`bool`, also as string annotations (`"str"`) and `Optional[...]`-free
/// spellings users write naturally.
fn annotation_type(expr: &Expr) -> Option<ParamType> {
    let name = match expr {
        Expr::Name(ast::ExprName { id, .. }) => id.as_str(),
        Expr::Constant(ast::ExprConstant { value: Constant::Str(s), .. }) => s.as_str(),
        _ => return None,
    };
    match name.trim() {
        "str" => Some(ParamType::String),
        "int" => Some(ParamType::I64),
        "float" => Some(ParamType::F64),
        "bool" => Some(ParamType::Bool),
        _ => None,
    }
}

/// A literal default as JSON (negative numbers are a unary minus on a constant).
fn literal(expr: &Expr) -> Option<Value> {
    match expr {
        Expr::Constant(ast::ExprConstant { value, .. }) => constant(value),
        Expr::UnaryOp(ast::ExprUnaryOp { op: UnaryOp::USub, operand, .. }) => {
            match literal(operand)? {
                Value::Number(n) if n.is_i64() => n.as_i64()?.checked_neg().map(Value::from),
                Value::Number(n) => serde_json::Number::from_f64(-n.as_f64()?).map(Value::Number),
                _ => None,
            }
        }
        _ => None,
    }
}

fn constant(value: &Constant) -> Option<Value> {
    match value {
        Constant::None => Some(Value::Null),
        Constant::Bool(b) => Some(Value::Bool(*b)),
        Constant::Str(s) => Some(Value::String(s.clone())),
        Constant::Int(i) => i.to_string().parse::<i64>().ok().map(Value::from),
        Constant::Float(f) => serde_json::Number::from_f64(*f).map(Value::Number),
        _ => None,
    }
}

fn inferred_type(value: &Value) -> Option<ParamType> {
    match value {
        Value::Bool(_) => Some(ParamType::Bool),
        Value::String(_) => Some(ParamType::String),
        Value::Number(n) if n.is_i64() => Some(ParamType::I64),
        Value::Number(_) => Some(ParamType::F64),
        _ => None,
    }
}

/// Checks a default against the declared type (`float` accepts an int literal, as Python does).
fn coerce_default(
    function: &str,
    name: &str,
    ty: ParamType,
    value: Value,
) -> Result<Value, PythonUdfError> {
    let ok = match (ty, &value) {
        (ParamType::String, Value::String(_)) | (ParamType::Bool, Value::Bool(_)) => Some(value.clone()),
        (ParamType::I64, Value::Number(n)) if n.is_i64() => Some(value.clone()),
        (ParamType::F64, Value::Number(n)) => n.as_f64().and_then(serde_json::Number::from_f64).map(Value::Number),
        _ => None,
    };
    ok.ok_or_else(|| {
        invalid(format!(
            "parameter `{name}` of `{function}` is declared {} but its default is {value}",
            python_name(ty)
        ))
    })
}

/// Parameters shared by `filter` and `score` must agree.
pub fn merge(
    into: &mut Vec<ParamSpec>,
    params: Vec<ParamSpec>,
    function: &str,
) -> Result<(), PythonUdfError> {
    for p in params {
        match into.iter().find(|q| q.name == p.name) {
            None => into.push(p),
            Some(q) if q.ty == p.ty => {}
            Some(q) => {
                return Err(invalid(format!(
                    "parameter `{}` is {} in one function but {} in `{function}`",
                    p.name,
                    python_name(q.ty),
                    python_name(p.ty)
                )));
            }
        }
    }
    Ok(())
}

fn python_name(ty: ParamType) -> &'static str {
    match ty {
        ParamType::String => "str",
        ParamType::I64 => "int",
        ParamType::F64 => "float",
        ParamType::Bool => "bool",
    }
}

/// The expression's source text, for error messages.
fn describe(source: &str, expr: &Expr) -> String {
    let range = expr.range();
    let text = source.get(usize::from(range.start())..usize::from(range.end())).unwrap_or("?");
    if text.len() > 80 { format!("{}…", &text[..text.floor_char_boundary(80)]) } else { text.to_string() }
}

fn invalid(message: String) -> PythonUdfError {
    PythonUdfError::InvalidUdf(message)
}
