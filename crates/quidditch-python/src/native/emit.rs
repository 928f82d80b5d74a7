//! Assembles the WAT module: imports (only what the code uses, so permissions stay exact),
//! memory, the interned strings (field and parameter names, exception messages), the
//! runtime (`runtime.wat`), the compiled functions and the ABI exports (`filter`/`score`,
//! `filter_batch`/`score_batch`, `udf_buffer`).
//!
//! Memory: bytes 0..8 receive the host's answers, strings live from [`DATA_START`], the
//! batched exports' buffer from the second page on.

use std::collections::HashMap;
use std::fmt::Write as _;

use crate::metadata::Export;

const RUNTIME: &str = include_str!("runtime.wat");
const DATA_START: u32 = 1024;

/// Interned bytes and what the code uses.
#[derive(Default)]
pub struct Data {
    bytes: Vec<u8>,
    offsets: HashMap<String, (u32, u32)>,
    /// A field or `doc.score` is read (needs `read_document`).
    pub reads_document: bool,
    pub reads_score: bool,
}

impl Data {
    /// (pointer, length) of `text` in memory.
    pub fn intern(&mut self, text: &str) -> (u32, u32) {
        if let Some(&at) = self.offsets.get(text) {
            return at;
        }
        let at = (DATA_START + self.bytes.len() as u32, text.len() as u32);
        self.bytes.extend_from_slice(text.as_bytes());
        self.offsets.insert(text.to_string(), at);
        at
    }

    /// The instructions that raise the Python exception `message` (`Type: text`).
    pub fn raise(&mut self, message: &str) -> String {
        let (p, l) = self.intern(message);
        format!("(call $raise_error (i32.const {p}) (i32.const {l})) unreachable")
    }
}

/// `{RAISE:…}` of the runtime text replaced by [`Data::raise`].
fn expand_raises(data: &mut Data, text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(at) = rest.find("{RAISE:") {
        out.push_str(&rest[..at]);
        let after = &rest[at + 7..];
        let end = after.find('}').unwrap_or(after.len());
        out.push_str(&data.raise(&after[..end]));
        rest = after.get(end + 1..).unwrap_or("");
    }
    out.push_str(rest);
    out
}

/// A compiled function's WAT text.
pub struct Function {
    pub text: String,
}

fn wat_bytes(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 3);
    for b in bytes {
        match b {
            b' '..=b'~' if *b != b'"' && *b != b'\\' => s.push(*b as char),
            _ => {
                let _ = write!(s, "\\{b:02x}");
            }
        }
    }
    s
}

pub fn module(data: &mut Data, functions: &[Function], exports: &[Export]) -> String {
    let runtime = expand_raises(data, RUNTIME);
    let mut w = String::new();
    w.push_str("(module\n");
    w.push_str("  (import \"env\" \"raise_error\" (func $raise_error (param i32 i32)))\n");
    w.push_str("  (import \"env\" \"math_f64\" (func $math_f64 (param i32 f64 f64) (result f64)))\n");
    w.push_str("  (import \"env\" \"get_param_value\" (func $get_param_value (param i32 i32 i32) (result i32)))\n");
    if data.reads_document {
        w.push_str("  (import \"env\" \"get_field_value\" (func $get_field_value (param i64 i32 i32 i32) (result i32)))\n");
    }
    if data.reads_score {
        w.push_str("  (import \"env\" \"get_score\" (func $get_score (param i64) (result f64)))\n");
    }
    w.push_str("  (memory (export \"memory\") 2)\n");
    w.push_str(&runtime);
    for f in functions {
        w.push_str(&f.text);
    }
    for export in exports {
        w.push_str(&export_functions(*export));
    }
    let _ = writeln!(w, "  (data (i32.const {DATA_START}) \"{}\")", wat_bytes(&data.bytes));
    w.push_str(")\n");
    w
}

/// The ABI exports of `filter` or `score`: per document and batched.
fn export_functions(export: Export) -> String {
    let (name, convert, width_shift, store) = match export {
        Export::Filter => ("filter", "call $rt_truth", 2, "i32.store"),
        Export::Score => ("score", "call $rt_score_result", 3, "f64.store"),
    };
    let result = if export == Export::Filter { "i32" } else { "f64" };
    format!(
        r#"  (func (export "{name}") (param $ctx i64) (result {result})
    local.get $ctx
    call $py_{name}
    {convert})
  (func (export "{name}_batch") (param $ctxs i32) (param $n i32) (param $out i32) (result i32)
    (local $i i32)
    block $done
      loop $next
        local.get $i
        local.get $n
        i32.ge_u
        br_if $done
        local.get $out
        local.get $i
        i32.const {width_shift}
        i32.shl
        i32.add
        local.get $ctxs
        local.get $i
        i32.const 3
        i32.shl
        i32.add
        i64.load
        call $py_{name}
        {convert}
        {store}
        local.get $i
        i32.const 1
        i32.add
        local.set $i
        br $next
      end
    end
    i32.const 0)
"#
    )
}
