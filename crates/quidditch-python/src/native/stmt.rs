//! Statements: assignment to names, `if`/`elif`/`else`, `while`, `for … in range(…)`,
//! `break`/`continue`, `return`, `pass`, expression statements.

use rustpython_parser::ast::{self, Constant, Expr, Stmt};

use super::errors::{Result, unsupported};
use super::function::FnBuilder;

impl FnBuilder<'_, '_> {
    pub fn block(&mut self, body: &[Stmt]) -> Result<()> {
        for stmt in body {
            self.stmt(stmt)?;
        }
        Ok(())
    }

    fn assign_to(&mut self, target: &Expr) -> Result<()> {
        let Expr::Name(n) = target else {
            return unsupported(self.source(), target, "assignment to something other than a name");
        };
        let i = self.local(n.id.as_str()).expect("assigned names are declared locals");
        self.set_local(i);
        Ok(())
    }

    fn stmt(&mut self, stmt: &Stmt) -> Result<()> {
        let source = self.source();
        match stmt {
            Stmt::Assign(a) => {
                if a.targets.len() != 1 {
                    return unsupported(source, stmt, "chained assignment (`a = b = …`)");
                }
                self.expr(&a.value)?;
                self.assign_to(&a.targets[0])?;
            }
            Stmt::AnnAssign(a) => {
                if let Some(value) = &a.value {
                    self.expr(value)?;
                    self.assign_to(&a.target)?;
                }
            }
            Stmt::AugAssign(a) => {
                let Expr::Name(n) = a.target.as_ref() else {
                    return unsupported(source, stmt, "augmented assignment to something other than a name");
                };
                let Some(f) = super::expr::binop_runtime(a.op) else {
                    return unsupported(source, stmt, format!("operator `{}=`", super::expr::operator_name(a.op)));
                };
                let i = self.local(n.id.as_str()).expect("assigned names are declared locals");
                self.get_local(i, n.id.as_str());
                self.expr(&a.value)?;
                self.emit(&format!("call {f}"));
                self.set_local(i);
            }
            Stmt::Return(r) => {
                match &r.value {
                    Some(v) => self.expr(v)?,
                    None => {
                        self.emit("i32.const 0");
                        self.emit("i64.const 0");
                    }
                }
                self.emit("return");
            }
            Stmt::If(i) => {
                self.truth(&i.test)?;
                self.emit("if");
                self.block(&i.body)?;
                if !i.orelse.is_empty() {
                    self.emit("else");
                    self.block(&i.orelse)?;
                }
                self.emit("end");
            }
            Stmt::While(w) => {
                if !w.orelse.is_empty() {
                    return unsupported(source, stmt, "`else` of a `while` loop");
                }
                let (brk, top, cont) = (self.label("break"), self.label("loop"), self.label("continue"));
                self.emit(&format!("block {brk}"));
                self.emit(&format!("loop {top}"));
                self.truth(&w.test)?;
                self.emit("i32.eqz");
                self.emit(&format!("br_if {brk}"));
                self.emit(&format!("block {cont}"));
                self.loops.push((brk.clone(), cont));
                self.block(&w.body)?;
                self.loops.pop();
                self.emit("end");
                self.emit(&format!("br {top}"));
                self.emit("end");
                self.emit("end");
            }
            Stmt::For(f) => self.for_range(f)?,
            Stmt::Break(_) | Stmt::Continue(_) => {
                let Some((brk, cont)) = self.loops.last().cloned() else {
                    return unsupported(source, stmt, "`break`/`continue` outside a loop");
                };
                let label = if matches!(stmt, Stmt::Break(_)) { brk } else { cont };
                self.emit(&format!("br {label}"));
            }
            Stmt::Pass(_) => {}
            Stmt::Expr(e) => {
                if matches!(e.value.as_ref(), Expr::Constant(c) if matches!(c.value, Constant::Str(_))) {
                    return Ok(()); // a docstring
                }
                self.expr(&e.value)?;
                self.emit("drop");
                self.emit("drop");
            }
            other => return unsupported(source, other, describe(other)),
        }
        Ok(())
    }

    /// `for NAME in range(…)`: the arguments are evaluated once (ints, a non-zero step), the
    /// loop variable is set from a hidden counter each round, so assigning it in the body
    /// does not change the iteration; after the loop it keeps the last value.
    fn for_range(&mut self, f: &ast::StmtFor) -> Result<()> {
        let source = self.source();
        if !f.orelse.is_empty() {
            return unsupported(source, f, "`else` of a `for` loop");
        }
        let Expr::Call(call) = f.iter.as_ref() else {
            return unsupported(source, f.iter.as_ref(), "`for` over something other than range(…)");
        };
        let is_range = matches!(call.func.as_ref(), Expr::Name(n) if n.id.as_str() == "range"
            && self.local("range").is_none() && !self.scope.helpers.contains_key("range"));
        if !is_range || !call.keywords.is_empty() || !(1..=3).contains(&call.args.len()) {
            return unsupported(source, f.iter.as_ref(), "`for` over something other than range(…)");
        }
        let (cur, stop, step) = (self.counter(), self.counter(), self.counter());
        let args = &call.args;
        if args.len() == 1 {
            self.emit("i64.const 0");
            self.emit(&format!("local.set {cur}"));
        }
        for (k, a) in args.iter().enumerate() {
            self.expr(a)?;
            let is_step = k == 2;
            self.emit(if is_step { "call $rt_range_step" } else { "call $rt_range_arg" });
            let into = match (args.len(), k) {
                (1, _) => &stop,
                (_, 0) => &cur,
                (_, 1) => &stop,
                _ => &step,
            };
            self.emit(&format!("local.set {into}"));
        }
        if args.len() < 3 {
            self.emit("i64.const 1");
            self.emit(&format!("local.set {step}"));
        }
        let (brk, top, cont) = (self.label("break"), self.label("loop"), self.label("continue"));
        self.emit(&format!("block {brk}"));
        self.emit(&format!("loop {top}"));
        // step > 0 ? cur < stop : cur > stop
        self.emit(&format!("local.get {step}"));
        self.emit("i64.const 0");
        self.emit("i64.gt_s");
        self.emit("if (result i32)");
        self.emit(&format!("local.get {cur}"));
        self.emit(&format!("local.get {stop}"));
        self.emit("i64.lt_s");
        self.emit("else");
        self.emit(&format!("local.get {cur}"));
        self.emit(&format!("local.get {stop}"));
        self.emit("i64.gt_s");
        self.emit("end");
        self.emit("i32.eqz");
        self.emit(&format!("br_if {brk}"));
        self.emit("i32.const 2");
        self.emit(&format!("local.get {cur}"));
        self.assign_to(&f.target)?;
        self.emit(&format!("block {cont}"));
        self.loops.push((brk.clone(), cont));
        self.block(&f.body)?;
        self.loops.pop();
        self.emit("end");
        // cur += step; a sum past the i64 range means the range is exhausted.
        self.emit(&format!("local.get {cur}"));
        self.emit(&format!("local.get {step}"));
        self.emit("i64.add");
        self.emit(&format!("local.get {cur}"));
        self.emit("i64.lt_s");
        self.emit(&format!("local.get {step}"));
        self.emit("i64.const 0");
        self.emit("i64.gt_s");
        self.emit("i32.eq");
        self.emit(&format!("br_if {brk}"));
        self.emit(&format!("local.get {cur}"));
        self.emit(&format!("local.get {step}"));
        self.emit("i64.add");
        self.emit(&format!("local.set {cur}"));
        self.emit(&format!("br {top}"));
        self.emit("end");
        self.emit("end");
        Ok(())
    }
}

/// A statement's name for the fallback reason.
pub fn describe(s: &Stmt) -> String {
    match s {
        Stmt::ClassDef(_) => "class definition",
        Stmt::FunctionDef(_) => "nested function definition",
        Stmt::AsyncFunctionDef(_) => "async function",
        Stmt::Try(_) | Stmt::TryStar(_) => "try statement (exceptions)",
        Stmt::Raise(_) => "raise statement",
        Stmt::With(_) | Stmt::AsyncWith(_) => "with statement",
        Stmt::Import(_) | Stmt::ImportFrom(_) => "import inside a function",
        Stmt::Delete(_) => "del statement",
        Stmt::Assert(_) => "assert statement",
        Stmt::Match(_) => "match statement",
        Stmt::Global(_) | Stmt::Nonlocal(_) => "global/nonlocal declaration",
        Stmt::AsyncFor(_) => "async for",
        Stmt::TypeAlias(_) => "type alias",
        Stmt::For(_) => "for loop",
        Stmt::While(_) => "while loop",
        Stmt::If(_) => "if statement",
        Stmt::Expr(_) => "expression statement",
        Stmt::Assign(_) | Stmt::AugAssign(_) | Stmt::AnnAssign(_) => "assignment",
        _ => "statement",
    }
    .to_string()
}
