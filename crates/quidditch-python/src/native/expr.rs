//! Expressions: each leaves one tagged value (tag i32, payload i64) on the WebAssembly
//! stack. Operators call the runtime (`runtime.wat`); `doc[...]`, `doc.get`, `"f" in doc`,
//! `doc.score`, `params[...]` are host reads; calls go to helpers, a few builtins and `math`.

use rustpython_parser::ast::{self, BoolOp, CmpOp, Constant, Expr, Operator, UnaryOp};

use super::errors::{Result, unsupported};
use super::function::FnBuilder;
use super::scope::{Literal, constant};

/// `math` members: (name, how to compile). Negative op codes are WebAssembly instructions.
enum MathFn {
    /// `$rt_math1` with the host operation (or -1: `f64.sqrt`) and whether it may overflow.
    One(i32, bool),
    /// A runtime function of one argument.
    Runtime(&'static str),
    Atan2,
}

fn math_fn(name: &str) -> Option<MathFn> {
    Some(match name {
        "sqrt" => MathFn::One(-1, false),
        "exp" => MathFn::One(0, true),
        "log" => MathFn::One(1, false),
        "sin" => MathFn::One(2, false),
        "cos" => MathFn::One(3, false),
        "tan" => MathFn::One(4, false),
        "asin" => MathFn::One(7, false),
        "acos" => MathFn::One(8, false),
        "atan" => MathFn::One(9, false),
        "log10" => MathFn::One(10, false),
        "log2" => MathFn::One(11, false),
        "atan2" => MathFn::Atan2,
        "floor" => MathFn::Runtime("$rt_floor"),
        "ceil" => MathFn::Runtime("$rt_ceil"),
        "isnan" => MathFn::Runtime("$rt_isnan"),
        "isinf" => MathFn::Runtime("$rt_isinf"),
        "fabs" => MathFn::Runtime("$rt_fabs"),
        "radians" => MathFn::Runtime("$rt_radians"),
        "degrees" => MathFn::Runtime("$rt_degrees"),
        _ => return None,
    })
}

fn math_constant(name: &str) -> Option<Literal> {
    Some(Literal::Float(match name {
        "pi" => std::f64::consts::PI,
        "e" => std::f64::consts::E,
        "tau" => std::f64::consts::TAU,
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => return None,
    }))
}

/// Python's `repr` of a str, for `KeyError` messages.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') { '"' } else { '\'' };
    let mut out = String::new();
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

pub fn binop_runtime(op: Operator) -> Option<&'static str> {
    Some(match op {
        Operator::Add => "$rt_add",
        Operator::Sub => "$rt_sub",
        Operator::Mult => "$rt_mul",
        Operator::Div => "$rt_truediv",
        Operator::FloorDiv => "$rt_floordiv",
        Operator::Mod => "$rt_mod",
        Operator::Pow => "$rt_pow",
        _ => return None,
    })
}

pub fn operator_name(op: Operator) -> &'static str {
    match op {
        Operator::Add => "+",
        Operator::Sub => "-",
        Operator::Mult => "*",
        Operator::MatMult => "@",
        Operator::Div => "/",
        Operator::Mod => "%",
        Operator::Pow => "**",
        Operator::LShift => "<<",
        Operator::RShift => ">>",
        Operator::BitOr => "|",
        Operator::BitXor => "^",
        Operator::BitAnd => "&",
        Operator::FloorDiv => "//",
    }
}

/// A constant string argument (field and parameter names).
fn const_str(e: &Expr) -> Option<&str> {
    match e {
        Expr::Constant(ast::ExprConstant { value: Constant::Str(s), .. }) => Some(s.as_str()),
        _ => None,
    }
}

impl FnBuilder<'_, '_> {
    fn is_name(&self, e: &Expr, name: Option<&str>) -> bool {
        matches!((e, name), (Expr::Name(n), Some(want)) if n.id.as_str() == want && self.local(want).is_none())
    }

    fn is_doc(&self, e: &Expr) -> bool {
        let doc = self.entry.as_ref().map(|e| e.doc.clone());
        self.is_name(e, doc.as_deref())
    }

    fn is_params(&self, e: &Expr) -> bool {
        let params = self.entry.as_ref().and_then(|e| e.params.clone());
        self.is_name(e, params.as_deref())
    }

    fn is_math_module(&self, e: &Expr) -> bool {
        matches!(e, Expr::Name(n) if self.local(n.id.as_str()).is_none() && self.scope.math_modules.iter().any(|m| m == n.id.as_str()))
    }

    /// Compiles `e`, leaving its tagged value on the stack.
    pub fn expr(&mut self, e: &Expr) -> Result<()> {
        let source = self.source();
        match e {
            Expr::Constant(c) => {
                let v = constant(source, e, &c.value)?;
                self.literal(v);
            }
            Expr::Name(n) => {
                let name = n.id.as_str();
                if let Some(i) = self.local(name) {
                    self.get_local(i, name);
                } else if let Some(v) = self.scope.constants.get(name) {
                    self.literal(*v);
                } else if self.is_doc(e) || self.is_params(e) {
                    return unsupported(source, e, format!("`{name}` used other than as doc[\"f\"], doc.get, \"f\" in doc, doc.score or params[\"p\"]"));
                } else {
                    return unsupported(source, e, format!("name `{name}` (not a local, a constant or a supported builtin)"));
                }
            }
            Expr::BinOp(b) => {
                let Some(f) = binop_runtime(b.op) else {
                    return unsupported(source, e, format!("operator `{}`", operator_name(b.op)));
                };
                self.expr(&b.left)?;
                self.expr(&b.right)?;
                self.emit(&format!("call {f}"));
            }
            Expr::UnaryOp(u) => {
                self.expr(&u.operand)?;
                match u.op {
                    UnaryOp::Not => self.emit("call $rt_not"),
                    UnaryOp::USub => self.emit("call $rt_neg"),
                    UnaryOp::UAdd => self.emit("call $rt_pos"),
                    UnaryOp::Invert => return unsupported(source, e, "operator `~`"),
                }
            }
            Expr::BoolOp(b) => self.bool_op(b.op, &b.values)?,
            Expr::IfExp(i) => {
                self.truth(&i.test)?;
                self.emit("if (result i32 i64)");
                self.expr(&i.body)?;
                self.emit("else");
                self.expr(&i.orelse)?;
                self.emit("end");
            }
            Expr::Compare(c) => {
                self.compare(c)?;
                self.emit("call $rt_boolv");
            }
            Expr::Call(c) => self.call(c)?,
            Expr::Attribute(a) => {
                if self.is_doc(&a.value) {
                    match a.attr.as_str() {
                        "score" => {
                            self.data.reads_document = true;
                            self.data.reads_score = true;
                            self.emit("i32.const 3");
                            self.emit("local.get $ctx");
                            self.emit("call $get_score");
                            self.emit("i64.reinterpret_f64");
                        }
                        other => return unsupported(source, e, format!("doc.{other}")),
                    }
                } else if self.is_math_module(&a.value) {
                    match math_constant(a.attr.as_str()) {
                        Some(v) => self.literal(v),
                        None => return unsupported(source, e, format!("math.{} as a value", a.attr)),
                    }
                } else {
                    return unsupported(source, e, format!("attribute `.{}`", a.attr));
                }
            }
            Expr::Subscript(s) => {
                let key = const_str(&s.slice);
                if self.is_doc(&s.value) && key.is_some() {
                    self.field(key.unwrap_or_default(), None)?;
                } else if self.is_params(&s.value) && key.is_some() {
                    self.param(key.unwrap_or_default(), None)?;
                } else {
                    return unsupported(source, e, "subscript (indexing) other than doc[\"field\"] or params[\"name\"]");
                }
            }
            other => return unsupported(source, other, describe(other)),
        }
        Ok(())
    }

    /// Compiles `e` and leaves its truth value (i32).
    pub fn truth(&mut self, e: &Expr) -> Result<()> {
        self.expr(e)?;
        self.emit("call $rt_truth");
        Ok(())
    }

    fn bool_op(&mut self, op: BoolOp, values: &[Expr]) -> Result<()> {
        let Some((first, rest)) = values.split_first() else { return Ok(()) };
        self.expr(first)?;
        if rest.is_empty() {
            return Ok(());
        }
        let t = self.temp();
        self.set_temp(t);
        self.get_temp(t);
        self.emit("call $rt_truth");
        self.emit("if (result i32 i64)");
        match op {
            BoolOp::And => {
                self.bool_op(op, rest)?;
                self.emit("else");
                self.get_temp(t);
            }
            BoolOp::Or => {
                self.get_temp(t);
                self.emit("else");
                self.bool_op(op, rest)?;
            }
        }
        self.emit("end");
        Ok(())
    }

    /// A comparison (chained ones evaluate each operand once), as an i32.
    fn compare(&mut self, c: &ast::ExprCompare) -> Result<()> {
        let source = self.source();
        if let ([op @ (CmpOp::In | CmpOp::NotIn)], [right]) = (c.ops.as_slice(), c.comparators.as_slice()) {
            let Some(key) = const_str(&c.left) else {
                return unsupported(source, c, "`in` other than \"field\" in doc or \"name\" in params");
            };
            if self.is_doc(right) {
                self.read_field(key);
            } else if self.is_params(right) {
                self.read_param(key);
            } else {
                return unsupported(source, c, "`in` other than \"field\" in doc or \"name\" in params");
            }
            self.emit("i32.const 0");
            self.emit(if *op == CmpOp::In { "i32.ne" } else { "i32.eq" });
            return Ok(());
        }
        if let ([op @ (CmpOp::Is | CmpOp::IsNot)], [right]) = (c.ops.as_slice(), c.comparators.as_slice()) {
            let none = |e: &Expr| matches!(e, Expr::Constant(ast::ExprConstant { value: Constant::None, .. }));
            let other = if none(right) {
                &c.left
            } else if none(&c.left) {
                right
            } else {
                return unsupported(source, c, "`is` other than `is None`");
            };
            self.expr(other)?;
            self.emit("drop");
            self.emit("i32.const 0");
            self.emit(if *op == CmpOp::Is { "i32.eq" } else { "i32.ne" });
            return Ok(());
        }
        self.expr(&c.left)?;
        let left = self.temp();
        self.set_temp(left);
        self.chain(left, &c.ops, &c.comparators, c)
    }

    fn chain(&mut self, left: usize, ops: &[CmpOp], comparators: &[Expr], node: &ast::ExprCompare) -> Result<()> {
        let source = self.source();
        let (Some((op, rest_ops)), Some((right, rest))) = (ops.split_first(), comparators.split_first()) else {
            return Ok(());
        };
        self.expr(right)?;
        let r = self.temp();
        self.set_temp(r);
        self.get_temp(left);
        self.get_temp(r);
        match op {
            CmpOp::Eq => self.emit("call $rt_eq"),
            CmpOp::NotEq => {
                self.emit("call $rt_eq");
                self.emit("i32.eqz");
            }
            CmpOp::Lt => {
                self.emit("call $rt_cmp");
                self.emit("i32.const -1");
                self.emit("i32.eq");
            }
            CmpOp::LtE => {
                self.emit("call $rt_cmp");
                self.emit("i32.const 1");
                self.emit("i32.add");
                self.emit("i32.const 1");
                self.emit("i32.le_u");
            }
            CmpOp::Gt => {
                self.emit("call $rt_cmp");
                self.emit("i32.const 1");
                self.emit("i32.eq");
            }
            CmpOp::GtE => {
                self.emit("call $rt_cmp");
                self.emit("i32.const 1");
                self.emit("i32.le_u");
            }
            _ => return unsupported(source, node, "`in`/`is` inside a chained comparison"),
        }
        if !rest_ops.is_empty() {
            self.emit("if (result i32)");
            self.chain(r, rest_ops, rest, node)?;
            self.emit("else");
            self.emit("i32.const 0");
            self.emit("end");
        }
        Ok(())
    }

    /// `get_field_value` for `path`: leaves the kind (0 missing); the payload is at 0.
    fn read_field(&mut self, path: &str) {
        self.data.reads_document = true;
        let (p, l) = self.data.intern(path);
        self.emit("local.get $ctx");
        self.emit(&format!("i32.const {p}"));
        self.emit(&format!("i32.const {l}"));
        self.emit("i32.const 0");
        self.emit("call $get_field_value");
    }

    fn read_param(&mut self, name: &str) {
        let (p, l) = self.data.intern(name);
        self.emit(&format!("i32.const {p}"));
        self.emit(&format!("i32.const {l}"));
        self.emit("i32.const 0");
        self.emit("call $get_param_value");
    }

    /// `doc["f"]` (default None: KeyError when missing) or `doc.get("f", default)`, whose
    /// default is evaluated first, as Python evaluates arguments before the call.
    fn field(&mut self, path: &str, default: Option<Option<&Expr>>) -> Result<()> {
        let t = self.default_value(default)?;
        self.read_field(path);
        self.missing_or_value(t, path);
        Ok(())
    }

    fn param(&mut self, name: &str, default: Option<Option<&Expr>>) -> Result<()> {
        let t = self.default_value(default)?;
        self.read_param(name);
        self.missing_or_value(t, name);
        Ok(())
    }

    fn default_value(&mut self, default: Option<Option<&Expr>>) -> Result<Option<usize>> {
        Ok(match default {
            None => None,
            Some(d) => {
                match d {
                    Some(e) => self.expr(e)?,
                    None => self.literal(Literal::None),
                }
                let t = self.temp();
                self.set_temp(t);
                Some(t)
            }
        })
    }

    /// With the kind on the stack: the value, or the default, or `KeyError`.
    fn missing_or_value(&mut self, default: Option<usize>, key: &str) {
        self.emit("local.tee $k");
        self.emit("i32.eqz");
        self.emit("if (result i32 i64)");
        match default {
            Some(t) => self.get_temp(t),
            None => self.raise(&format!("KeyError: {}", py_repr(key))),
        }
        self.emit("else");
        self.emit("local.get $k");
        self.emit("i32.const 0");
        self.emit("i64.load");
        self.emit("end");
    }

    fn call(&mut self, c: &ast::ExprCall) -> Result<()> {
        let source = self.source();
        if !c.keywords.is_empty() {
            return unsupported(source, c, "keyword arguments in a call");
        }
        if c.args.iter().any(|a| matches!(a, Expr::Starred(_))) {
            return unsupported(source, c, "`*args` in a call");
        }
        // doc.get / params.get
        if let Expr::Attribute(a) = c.func.as_ref()
            && a.attr.as_str() == "get"
            && (1..=2).contains(&c.args.len())
            && let Some(key) = const_str(&c.args[0])
        {
            if self.is_doc(&a.value) {
                return self.field(key, Some(c.args.get(1)));
            }
            if self.is_params(&a.value) {
                return self.param(key, Some(c.args.get(1)));
            }
        }
        let math_member = match c.func.as_ref() {
            Expr::Attribute(a) if self.is_math_module(&a.value) => Some(a.attr.to_string()),
            Expr::Name(n) if self.local(n.id.as_str()).is_none() => self.scope.math_names.get(n.id.as_str()).cloned(),
            _ => None,
        };
        if let Some(member) = math_member {
            let Some(f) = math_fn(&member) else {
                return unsupported(source, c, format!("math.{member}"));
            };
            let arity = if matches!(f, MathFn::Atan2) { 2 } else { 1 };
            if c.args.len() != arity {
                return unsupported(source, c, format!("math.{member} with {} arguments", c.args.len()));
            }
            match f {
                MathFn::One(op, can_overflow) => {
                    self.emit(&format!("i32.const {op}"));
                    self.emit(&format!("i32.const {}", can_overflow as i32));
                    self.expr(&c.args[0])?;
                    self.emit("call $rt_math1");
                }
                MathFn::Runtime(name) => {
                    self.expr(&c.args[0])?;
                    self.emit(&format!("call {name}"));
                }
                MathFn::Atan2 => {
                    self.expr(&c.args[0])?;
                    self.expr(&c.args[1])?;
                    self.emit("call $rt_atan2");
                }
            }
            return Ok(());
        }
        let Expr::Name(func) = c.func.as_ref() else {
            return unsupported(source, c, "call of something other than a function name");
        };
        let name = func.id.as_str();
        if self.local(name).is_some() || self.scope.constants.contains_key(name) {
            return unsupported(source, c, format!("call of `{name}`, which is not a function"));
        }
        if let Some(h) = self.scope.helpers.get(name) {
            let (params, defaults, wasm) = (h.params.len(), h.defaults.clone(), h.wasm_name.clone());
            let required = params - defaults.len();
            if c.args.len() < required || c.args.len() > params {
                return unsupported(source, c, format!("call of `{name}` with {} arguments (it takes {params})", c.args.len()));
            }
            for a in &c.args {
                if self.is_doc(a) || self.is_params(a) {
                    return unsupported(source, a, "passing the document or the parameters to a function");
                }
                self.expr(a)?;
            }
            for d in &defaults[c.args.len() - required..] {
                self.literal(*d);
            }
            self.emit(&format!("call {wasm}"));
            return Ok(());
        }
        let one = |b: &mut Self, f: &str| -> Result<()> {
            if c.args.len() != 1 {
                return unsupported(source, c, format!("{name}() with {} arguments", c.args.len()));
            }
            b.expr(&c.args[0])?;
            b.emit(f);
            Ok(())
        };
        match name {
            "abs" => one(self, "call $rt_abs"),
            "int" => one(self, "call $rt_int"),
            "float" => one(self, "call $rt_to_float"),
            "bool" => one(self, "call $rt_bool"),
            "round" => one(self, "call $rt_round"),
            "min" | "max" => {
                if c.args.len() < 2 {
                    return unsupported(source, c, format!("{name}() of an iterable"));
                }
                // min(a, b, …) keeps the first of the smallest: a later item replaces the
                // current one only if it compares strictly smaller (larger for max).
                self.expr(&c.args[0])?;
                let best = self.temp();
                self.set_temp(best);
                for a in &c.args[1..] {
                    self.expr(a)?;
                    let item = self.temp();
                    self.set_temp(item);
                    self.get_temp(item);
                    self.get_temp(best);
                    self.emit("call $rt_cmp");
                    self.emit(if name == "min" { "i32.const -1" } else { "i32.const 1" });
                    self.emit("i32.eq");
                    self.emit("if");
                    self.get_temp(item);
                    self.set_temp(best);
                    self.emit("end");
                }
                self.get_temp(best);
                Ok(())
            }
            "print" | "log" => unsupported(source, c, format!("{name}() (logging)")),
            other => unsupported(source, c, format!("call of `{other}`")),
        }
    }
}

/// A construct's name for the fallback reason.
pub fn describe(e: &Expr) -> String {
    match e {
        Expr::ListComp(_) => "list comprehension",
        Expr::SetComp(_) => "set comprehension",
        Expr::DictComp(_) => "dict comprehension",
        Expr::GeneratorExp(_) => "generator expression",
        Expr::Dict(_) => "dict display",
        Expr::Set(_) => "set display",
        Expr::List(_) => "list display",
        Expr::Tuple(_) => "tuple",
        Expr::Lambda(_) => "lambda",
        Expr::NamedExpr(_) => "assignment expression (`:=`)",
        Expr::Await(_) => "await",
        Expr::Yield(_) | Expr::YieldFrom(_) => "yield",
        Expr::JoinedStr(_) | Expr::FormattedValue(_) => "f-string",
        Expr::Starred(_) => "starred expression",
        Expr::Slice(_) => "slice",
        _ => "expression",
    }
    .to_string()
}
