//! The native Python engine: a compiler from a subset of Python (the AST of
//! rustpython-parser) to a core WebAssembly module of the UDF ABI v1 (`docs/udf-abi.md`),
//! emitted as WAT text and assembled with the `wat` crate — no toolchain, no CPython in the
//! instance.
//!
//! Values keep Python's dynamic types: every value is a pair (tag, payload) — None, bool,
//! int (i64), float (f64); str and list/dict only as opaque document fields or parameters —
//! and the operators are the runtime functions of `runtime.wat`, which follow CPython's
//! `floatobject.c`/`longobject.c`/`mathmodule.c` branch for branch (floor division and
//! modulo toward −∞, `/` always a float, banker's `round`, exact int/float comparisons,
//! the same exception type names). What the compiler cannot make exactly equal it refuses
//! ([`Unsupported`], with the construct and its line) and the server runs CPython instead;
//! what only shows at run time (an int beyond 64 bits, a negative number to a fractional
//! power, comparing two strings) stops the call with an exception naming the CPython
//! engine, never with a different answer.
//!
//! ```
//! let source = "def filter(doc, min_price: float = 10.0) -> bool:\n    return doc.get('price', 0) >= min_price\n";
//! let module = quidditch_python::compile_native(source, true).unwrap();
//! assert!(module.wasm.starts_with(b"\0asm"));
//! ```
//!
//! Files: `scope.rs` reads the module level (constants, helper functions, `import math`),
//! `function.rs` holds one function's compilation state, `expr.rs` and `stmt.rs` compile
//! expressions and statements, `emit.rs` assembles the module, `errors.rs` says why not.

mod emit;
mod errors;
mod expr;
mod function;
mod scope;
mod stmt;

#[cfg(test)]
mod tests;

use std::time::{Duration, Instant};

use rustpython_parser::{Parse, ast};

pub use errors::Unsupported;

/// A natively compiled Python UDF.
#[derive(Debug, Clone)]
pub struct NativeModule {
    /// The core WebAssembly module.
    pub wasm: Vec<u8>,
    /// Its WAT text (for debugging and tests).
    pub wat: String,
    pub compile_time: Duration,
}

/// Compiles `source` natively, or says which construct keeps it on CPython. `read_document`:
/// whether the UDF has the `read_document` permission (without it a module that reads the
/// document stays on CPython, whose reads fail at call time as the permission says).
pub fn compile_native(source: &str, read_document: bool) -> Result<NativeModule, Unsupported> {
    let started = Instant::now();
    let suite = ast::Suite::parse(source, "<udf>")
        .map_err(|e| Unsupported { construct: format!("syntax error: {}", e.error), line: 1 })?;
    let scope = scope::Scope::read(source, &suite)?;
    let mut data = emit::Data::default();
    let mut functions = Vec::new();
    for helper in scope.helpers.values() {
        functions.push(function::compile_helper(&scope, &mut data, helper)?);
    }
    let mut exports = Vec::new();
    for (export, def) in &scope.entries {
        functions.push(function::compile_entry(&scope, &mut data, *export, def)?);
        exports.push(*export);
    }
    if data.reads_document && !read_document {
        let def = scope.entries.first().map(|(_, d)| *d);
        let line = def.map_or(1, |d| crate::metadata::line_column(source, ast::Ranged::start(d)).0);
        return Err(Unsupported {
            construct: "reading the document without the read_document permission".into(),
            line,
        });
    }
    let wat = emit::module(&mut data, &functions, &exports);
    let wasm = quidditch_udf::compile_wat(&wat)
        .map_err(|e| Unsupported { construct: format!("internal error of the native compiler: {e}"), line: 1 })?;
    Ok(NativeModule { wasm, wat, compile_time: started.elapsed() })
}
