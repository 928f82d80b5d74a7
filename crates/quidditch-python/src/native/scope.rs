//! The module level of a natively compiled UDF: `filter`/`score`, helper functions, constants
//! (`NAME = literal`), `import math` / `from math import …`, docstrings. Anything else at
//! module level (a class, another import, code that runs at import time) is [`Unsupported`].

use std::collections::BTreeMap;

use rustpython_parser::ast::{self, Constant, Expr, Stmt, UnaryOp};

use super::errors::{Result, unsupported};
use crate::metadata::Export;

/// A literal value known at compile time.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Literal {
    None,
    Bool(bool),
    Int(i64),
    Float(f64),
}

/// A function the module defines besides `filter`/`score`.
pub struct Helper<'a> {
    pub def: &'a ast::StmtFunctionDef,
    /// The WAT name of its function.
    pub wasm_name: String,
    pub params: Vec<String>,
    /// Defaults of the trailing parameters, in order.
    pub defaults: Vec<Literal>,
}

pub struct Scope<'a> {
    pub source: &'a str,
    pub constants: BTreeMap<String, Literal>,
    pub helpers: BTreeMap<String, Helper<'a>>,
    pub entries: Vec<(Export, &'a ast::StmtFunctionDef)>,
    /// Names bound to the `math` module (`import math`, `import math as m`).
    pub math_modules: Vec<String>,
    /// Names bound to a `math` member (`from math import sqrt as root` → `root` → `sqrt`).
    pub math_names: BTreeMap<String, String>,
}

impl<'a> Scope<'a> {
    pub fn read(source: &'a str, suite: &'a [Stmt]) -> Result<Scope<'a>> {
        let mut scope = Scope {
            source,
            constants: BTreeMap::new(),
            helpers: BTreeMap::new(),
            entries: Vec::new(),
            math_modules: Vec::new(),
            math_names: BTreeMap::new(),
        };
        let mut bound: Vec<&str> = Vec::new();
        let mut bind = |name: &'a str, node: &Stmt| -> Result<()> {
            if bound.contains(&name) {
                return unsupported(source, node, format!("`{name}` bound twice at module level"));
            }
            bound.push(name);
            Ok(())
        };
        for (i, stmt) in suite.iter().enumerate() {
            match stmt {
                Stmt::Expr(e) if i == 0 && matches!(e.value.as_ref(), Expr::Constant(c) if matches!(c.value, Constant::Str(_))) => {}
                Stmt::Import(import) => {
                    for alias in &import.names {
                        if alias.name.as_str() != "math" {
                            return unsupported(source, stmt, format!("import of `{}`", alias.name));
                        }
                        let name = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                        bind(name, stmt)?;
                        scope.math_modules.push(name.to_string());
                    }
                }
                Stmt::ImportFrom(import) => {
                    let module = import.module.as_ref().map_or("", |m| m.as_str());
                    if module != "math" || import.level.is_some_and(|l| l.to_u32() > 0) {
                        return unsupported(source, stmt, format!("import from `{module}`"));
                    }
                    for alias in &import.names {
                        if alias.name.as_str() == "*" {
                            return unsupported(source, stmt, "`from math import *`");
                        }
                        let name = alias.asname.as_ref().unwrap_or(&alias.name).as_str();
                        bind(name, stmt)?;
                        scope.math_names.insert(name.to_string(), alias.name.to_string());
                    }
                }
                Stmt::FunctionDef(def) => {
                    bind(def.name.as_str(), stmt)?;
                    if !def.decorator_list.is_empty() {
                        return unsupported(source, stmt, "decorated function");
                    }
                    match def.name.as_str() {
                        "filter" => scope.entries.push((Export::Filter, def)),
                        "score" => scope.entries.push((Export::Score, def)),
                        name => {
                            let helper = helper(source, def, scope.helpers.len())?;
                            scope.helpers.insert(name.to_string(), helper);
                        }
                    }
                }
                Stmt::Assign(ast::StmtAssign { targets, value, .. }) if targets.len() == 1 => {
                    let Expr::Name(target) = &targets[0] else {
                        return unsupported(source, stmt, "module-level assignment to something other than a name");
                    };
                    bind(target.id.as_str(), stmt)?;
                    let value = literal(source, value, &scope.constants)?;
                    scope.constants.insert(target.id.to_string(), value);
                }
                Stmt::AnnAssign(ast::StmtAnnAssign { target, value: Some(value), .. }) => {
                    let Expr::Name(target) = target.as_ref() else {
                        return unsupported(source, stmt, "module-level assignment to something other than a name");
                    };
                    bind(target.id.as_str(), stmt)?;
                    let value = literal(source, value, &scope.constants)?;
                    scope.constants.insert(target.id.to_string(), value);
                }
                other => return unsupported(source, other, format!("module-level {}", super::stmt::describe(other))),
            }
        }
        Ok(scope)
    }
}

fn helper<'a>(source: &str, def: &'a ast::StmtFunctionDef, index: usize) -> Result<Helper<'a>> {
    let args = &def.args;
    if args.vararg.is_some() || args.kwarg.is_some() || !args.kwonlyargs.is_empty() {
        return unsupported(source, def, format!("`{}` takes *args, **kwargs or keyword-only parameters", def.name));
    }
    let mut params = Vec::new();
    let mut defaults = Vec::new();
    for arg in args.posonlyargs.iter().chain(&args.args) {
        params.push(arg.def.arg.to_string());
        match &arg.default {
            Some(d) => defaults.push(literal(source, d, &BTreeMap::new())?),
            None if !defaults.is_empty() => return unsupported(source, def, "parameter without default after one with"),
            None => {}
        }
    }
    Ok(Helper { def, wasm_name: format!("$h{index}"), params, defaults })
}

/// A literal, a negated literal or an earlier constant.
pub fn literal(source: &str, expr: &Expr, constants: &BTreeMap<String, Literal>) -> Result<Literal> {
    match expr {
        Expr::Constant(c) => constant(source, expr, &c.value),
        Expr::UnaryOp(ast::ExprUnaryOp { op: UnaryOp::USub, operand, .. }) => match literal(source, operand, constants)? {
            Literal::Int(i) => match i.checked_neg() {
                Some(n) => Ok(Literal::Int(n)),
                None => unsupported(source, expr, "integer literal beyond 64 bits"),
            },
            Literal::Float(f) => Ok(Literal::Float(-f)),
            _ => unsupported(source, expr, "module-level value that is not a number literal"),
        },
        Expr::Name(name) => match constants.get(name.id.as_str()) {
            Some(v) => Ok(*v),
            None => unsupported(source, expr, format!("module-level value `{}`", name.id)),
        },
        _ => unsupported(source, expr, "module-level value that is not a literal"),
    }
}

pub fn constant(source: &str, node: &Expr, value: &Constant) -> Result<Literal> {
    match value {
        Constant::None => Ok(Literal::None),
        Constant::Bool(b) => Ok(Literal::Bool(*b)),
        Constant::Int(i) => match i.to_string().parse::<i64>() {
            Ok(v) => Ok(Literal::Int(v)),
            Err(_) => unsupported(source, node, "integer literal beyond 64 bits"),
        },
        Constant::Float(f) => Ok(Literal::Float(*f)),
        Constant::Str(_) => unsupported(source, node, "str value"),
        Constant::Bytes(_) => unsupported(source, node, "bytes value"),
        Constant::Tuple(_) => unsupported(source, node, "tuple"),
        Constant::Complex { .. } => unsupported(source, node, "complex number"),
        Constant::Ellipsis => unsupported(source, node, "`...`"),
    }
}
