//! One Python function's compilation: its locals (every name it assigns, as in Python's
//! scoping), temporaries, loop labels, and what `doc`/`params` mean in it.
//!
//! A Python local is two WebAssembly locals (`$lN_t` tag, `$lN_v` payload); a local that is
//! not a parameter starts with tag [`UNBOUND`], so reading it before assignment raises
//! `UnboundLocalError` like CPython. Every compiled function returns a tagged value.

use std::collections::HashMap;
use std::fmt::Write as _;

use rustpython_parser::ast::{self, Expr, Stmt};

use super::emit::{Data, Function};
use super::errors::{Result, unsupported};
use super::scope::{Helper, Literal, Scope};
use crate::metadata::Export;

/// The tag of a local not assigned yet.
pub const UNBOUND: i32 = 255;

/// What the entry function's special parameters are called.
pub struct Entry {
    pub doc: String,
    /// The parameter receiving the parameter mapping (`params`), when declared.
    pub params: Option<String>,
}

pub struct FnBuilder<'s, 'a> {
    pub scope: &'s Scope<'a>,
    pub data: &'s mut Data,
    pub code: String,
    pub entry: Option<Entry>,
    locals: HashMap<String, usize>,
    bound: Vec<bool>,
    /// How many leading locals are WebAssembly parameters (a helper's arguments).
    wasm_params: usize,
    temps: usize,
    counters: usize,
    labels: usize,
    /// (break label, continue label) of the enclosing loops, innermost last.
    pub loops: Vec<(String, String)>,
}

impl<'s, 'a> FnBuilder<'s, 'a> {
    fn new(scope: &'s Scope<'a>, data: &'s mut Data, entry: Option<Entry>) -> Self {
        FnBuilder {
            scope,
            data,
            code: String::new(),
            entry,
            locals: HashMap::new(),
            bound: Vec::new(),
            wasm_params: 0,
            temps: 0,
            counters: 0,
            labels: 0,
            loops: Vec::new(),
        }
    }

    pub fn source(&self) -> &'a str {
        self.scope.source
    }

    /// Appends instructions (one or more lines).
    pub fn emit(&mut self, text: &str) {
        self.code.push_str("    ");
        self.code.push_str(text);
        self.code.push('\n');
    }

    pub fn raise(&mut self, message: &str) {
        let text = self.data.raise(message);
        self.emit(&text);
    }

    pub fn local(&self, name: &str) -> Option<usize> {
        self.locals.get(name).copied()
    }

    fn declare(&mut self, name: &str, bound: bool) -> usize {
        if let Some(&i) = self.locals.get(name) {
            return i;
        }
        let i = self.bound.len();
        self.locals.insert(name.to_string(), i);
        self.bound.push(bound);
        i
    }

    /// Pushes local `i` (raising `UnboundLocalError` if it may be unassigned).
    pub fn get_local(&mut self, i: usize, name: &str) {
        if !self.bound[i] {
            self.emit(&format!("local.get $l{i}_t"));
            self.emit(&format!("i32.const {UNBOUND}"));
            self.emit("i32.eq");
            self.emit("if");
            self.raise(&format!(
                "UnboundLocalError: cannot access local variable '{name}' where it is not associated with a value"
            ));
            self.emit("end");
        }
        self.emit(&format!("local.get $l{i}_t"));
        self.emit(&format!("local.get $l{i}_v"));
    }

    /// Pops the value on the stack into local `i`.
    pub fn set_local(&mut self, i: usize) {
        self.emit(&format!("local.set $l{i}_v"));
        self.emit(&format!("local.set $l{i}_t"));
    }

    /// A fresh temporary (tag, payload) pair.
    pub fn temp(&mut self) -> usize {
        self.temps += 1;
        self.temps - 1
    }

    pub fn set_temp(&mut self, t: usize) {
        self.emit(&format!("local.set $t{t}_v"));
        self.emit(&format!("local.set $t{t}_t"));
    }

    pub fn get_temp(&mut self, t: usize) {
        self.emit(&format!("local.get $t{t}_t"));
        self.emit(&format!("local.get $t{t}_v"));
    }

    /// A fresh i64 scratch local (range counters).
    pub fn counter(&mut self) -> String {
        self.counters += 1;
        format!("$c{}", self.counters - 1)
    }

    pub fn label(&mut self, what: &str) -> String {
        self.labels += 1;
        format!("${what}{}", self.labels)
    }

    pub fn literal(&mut self, value: Literal) {
        let (tag, payload) = match value {
            Literal::None => (0, 0),
            Literal::Bool(b) => (1, b as i64),
            Literal::Int(i) => (2, i),
            Literal::Float(f) => (3, f.to_bits() as i64),
        };
        self.emit(&format!("i32.const {tag}"));
        self.emit(&format!("i64.const {payload}"));
    }

    /// The locals and body as a WAT function.
    fn finish(self, header: &str) -> Function {
        let mut text = String::new();
        let _ = writeln!(text, "  {header}");
        let params = self.wasm_params;
        for i in params..self.bound.len() {
            let _ = writeln!(text, "    (local $l{i}_t i32) (local $l{i}_v i64)");
        }
        for t in 0..self.temps {
            let _ = writeln!(text, "    (local $t{t}_t i32) (local $t{t}_v i64)");
        }
        for c in 0..self.counters {
            let _ = writeln!(text, "    (local $c{c} i64)");
        }
        text.push_str("    (local $k i32)\n");
        for i in (params..self.bound.len()).filter(|&i| !self.bound[i]) {
            let _ = writeln!(text, "    i32.const {UNBOUND}\n    local.set $l{i}_t");
        }
        text.push_str(&self.code);
        // Falling off the end returns None.
        text.push_str("    i32.const 0\n    i64.const 0)\n");
        Function { text }
    }
}

/// Every name a function body binds (its locals, by Python's rules); `global`/`nonlocal`
/// and nested scopes are refused.
fn assigned_names<'x>(source: &str, body: &'x [Stmt], out: &mut Vec<&'x str>) -> Result<()> {
    for stmt in body {
        match stmt {
            Stmt::Assign(a) => {
                for t in &a.targets {
                    target_names(source, t, out)?;
                }
            }
            Stmt::AugAssign(a) => target_names(source, &a.target, out)?,
            Stmt::AnnAssign(a) => target_names(source, &a.target, out)?,
            Stmt::For(f) => {
                target_names(source, &f.target, out)?;
                assigned_names(source, &f.body, out)?;
                assigned_names(source, &f.orelse, out)?;
            }
            Stmt::While(w) => {
                assigned_names(source, &w.body, out)?;
                assigned_names(source, &w.orelse, out)?;
            }
            Stmt::If(i) => {
                assigned_names(source, &i.body, out)?;
                assigned_names(source, &i.orelse, out)?;
            }
            Stmt::Global(_) | Stmt::Nonlocal(_) => return unsupported(source, stmt, "`global`/`nonlocal` declaration"),
            Stmt::FunctionDef(_) | Stmt::AsyncFunctionDef(_) | Stmt::ClassDef(_) => {
                return unsupported(source, stmt, super::stmt::describe(stmt));
            }
            _ => {}
        }
    }
    Ok(())
}

fn target_names<'x>(source: &str, target: &'x Expr, out: &mut Vec<&'x str>) -> Result<()> {
    match target {
        Expr::Name(n) => {
            if !out.contains(&n.id.as_str()) {
                out.push(n.id.as_str());
            }
            Ok(())
        }
        Expr::Tuple(_) | Expr::List(_) => unsupported(source, target, "unpacking assignment"),
        _ => unsupported(source, target, "assignment to a subscript or attribute"),
    }
}

fn body_of<'x>(b: &mut FnBuilder<'_, '_>, def: &'x ast::StmtFunctionDef) -> Result<()> {
    let mut names = Vec::new();
    assigned_names(b.source(), &def.body, &mut names)?;
    for name in names {
        if b.local(name).is_none() {
            b.declare(name, false);
        } else if b.entry.as_ref().is_some_and(|e| e.doc == name || e.params.as_deref() == Some(name)) {
            return unsupported(b.source(), def, format!("assignment to `{name}` (the document or parameters)"));
        }
    }
    b.block(&def.body)
}

pub fn compile_helper(scope: &Scope<'_>, data: &mut Data, helper: &Helper<'_>) -> Result<Function> {
    let mut b = FnBuilder::new(scope, data, None);
    let mut header = format!("(func {}", helper.wasm_name);
    for p in &helper.params {
        let i = b.declare(p, true);
        let _ = write!(header, " (param $l{i}_t i32) (param $l{i}_v i64)");
    }
    b.wasm_params = helper.params.len();
    header.push_str(" (result i32 i64)");
    body_of(&mut b, helper.def)?;
    Ok(b.finish(&header))
}

/// `filter`/`score`: `(ctx i64) -> (tag, payload)`; declared parameters read from the host
/// at the start of each call (the host applies declared defaults; the Python default stands
/// for a parameter the query left out without one).
pub fn compile_entry(scope: &Scope<'_>, data: &mut Data, export: Export, def: &ast::StmtFunctionDef) -> Result<Function> {
    let source = scope.source;
    let args = &def.args;
    if args.vararg.is_some() || args.kwarg.is_some() {
        return unsupported(source, def, format!("`{}` takes *args or **kwargs", def.name));
    }
    let positional: Vec<&ast::ArgWithDefault> = args.posonlyargs.iter().chain(&args.args).collect();
    let Some((doc, rest)) = positional.split_first() else {
        return unsupported(source, def, format!("`{}` without the document parameter", def.name));
    };
    let mut entry = Entry { doc: doc.def.arg.to_string(), params: None };
    let mut declared = Vec::new();
    for arg in rest.iter().copied().chain(&args.kwonlyargs) {
        let name = arg.def.arg.as_str();
        if name == crate::metadata::PARAMS_MAPPING {
            entry.params = Some(name.to_string());
            continue;
        }
        let default = match &arg.default {
            Some(d) => Some(super::scope::literal(source, d, &Default::default()).or_else(|_| {
                unsupported(source, d.as_ref(), format!("default of `{name}` that is not a number, bool or None"))
            })?),
            None => None,
        };
        declared.push((name, default));
    }
    let mut b = FnBuilder::new(scope, data, Some(entry));
    for (name, default) in declared {
        let i = b.declare(name, true);
        let (p, l) = b.data.intern(name);
        b.emit(&format!("i32.const {p}"));
        b.emit(&format!("i32.const {l}"));
        b.emit("i32.const 0");
        b.emit("call $get_param_value");
        b.emit("local.tee $k");
        b.emit("i32.eqz");
        b.emit("if (result i32 i64)");
        match default {
            Some(v) => b.literal(v),
            None => {
                let message = format!("TypeError: {}() missing 1 required positional argument: '{name}'", def.name);
                b.raise(&message);
            }
        }
        b.emit("else");
        b.emit("local.get $k");
        b.emit("i32.const 0");
        b.emit("i64.load");
        b.emit("end");
        b.set_local(i);
    }
    body_of(&mut b, def)?;
    let header = format!("(func $py_{} (param $ctx i64) (result i32 i64)", export.as_str());
    Ok(b.finish(&header))
}
