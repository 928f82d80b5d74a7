//! Host functions of module `env` (ABI v1).

use wasmtime::{Caller, Linker};

use super::memory as m;
use crate::document::FieldValue;
use crate::host::{GuestException, HostCtx, LogLevel, as_bool, as_f64, as_i64, rc, trap};
use crate::params::ParamValue;

/// The guest memory and the host state, borrowed together.
#[inline]
fn split<'a>(caller: &'a mut Caller<'_, HostCtx>, import: &'static str) -> wasmtime::Result<(&'a mut [u8], &'a mut HostCtx)> {
    let memory = caller.data().memory.ok_or_else(|| trap(import, "the UDF exports no memory"))?;
    Ok(memory.data_and_store_mut(caller))
}

pub fn add_to_linker(linker: &mut Linker<HostCtx>) -> wasmtime::Result<()> {
    // ---- parameters ----
    linker.func_wrap("env", "get_param_string", |mut c: Caller<'_, HostCtx>, np: i32, nl: i32, vp: i32, vlp: i32| {
        const F: &str = "get_param_string";
        let (mem, host) = split(&mut c, F)?;
        m::check_string_out(F, mem, vp, vlp)?;
        let params = host.params.clone();
        let value = match params.get(m::bytes(F, mem, np, nl)?) {
            None => return Ok(rc::NOT_FOUND),
            Some(ParamValue::String(s)) => s.as_bytes(),
            Some(_) => return Ok(rc::TYPE_MISMATCH),
        };
        m::write_string(F, mem, vp, vlp, value)
    })?;
    linker.func_wrap("env", "get_param_i64", |mut c: Caller<'_, HostCtx>, np: i32, nl: i32, out: i32| {
        const F: &str = "get_param_i64";
        let (mem, host) = split(&mut c, F)?;
        m::range(F, mem.len(), out, 8)?;
        let v = match host.params.get(m::bytes(F, mem, np, nl)?) {
            None => return Ok(rc::NOT_FOUND),
            Some(ParamValue::I64(i)) => *i,
            Some(ParamValue::F64(f)) if f.fract() == 0.0 && f.abs() < 9.2e18 => *f as i64,
            Some(_) => return Ok(rc::TYPE_MISMATCH),
        };
        m::write(F, mem, out, &v.to_le_bytes())?;
        Ok(rc::OK)
    })?;
    linker.func_wrap("env", "get_param_f64", |mut c: Caller<'_, HostCtx>, np: i32, nl: i32, out: i32| {
        const F: &str = "get_param_f64";
        let (mem, host) = split(&mut c, F)?;
        m::range(F, mem.len(), out, 8)?;
        let v = match host.params.get(m::bytes(F, mem, np, nl)?) {
            None => return Ok(rc::NOT_FOUND),
            Some(ParamValue::F64(f)) => *f,
            Some(ParamValue::I64(i)) => *i as f64,
            Some(_) => return Ok(rc::TYPE_MISMATCH),
        };
        m::write(F, mem, out, &v.to_le_bytes())?;
        Ok(rc::OK)
    })?;
    linker.func_wrap("env", "get_param_bool", |mut c: Caller<'_, HostCtx>, np: i32, nl: i32, out: i32| {
        const F: &str = "get_param_bool";
        let (mem, host) = split(&mut c, F)?;
        m::range(F, mem.len(), out, 4)?;
        let v = match host.params.get(m::bytes(F, mem, np, nl)?) {
            None => return Ok(rc::NOT_FOUND),
            Some(ParamValue::Bool(b)) => *b as i32,
            Some(_) => return Ok(rc::TYPE_MISMATCH),
        };
        m::write(F, mem, out, &v.to_le_bytes())?;
        Ok(rc::OK)
    })?;

    // ---- document ----
    linker.func_wrap(
        "env",
        "get_field_string",
        |mut c: Caller<'_, HostCtx>, ctx: i64, np: i32, nl: i32, vp: i32, vlp: i32| {
            const F: &str = "get_field_string";
            let (mem, host) = split(&mut c, F)?;
            m::check_string_out(F, mem, vp, vlp)?;
            let (_, doc) = host.doc_of(F, ctx)?;
            let slot = host.slot(m::bytes(F, mem, np, nl)?);
            match host.read(slot, doc) {
                FieldValue::Str(s) | FieldValue::Json(s) => m::write_string(F, mem, vp, vlp, s.as_bytes()),
                FieldValue::Missing => Ok(rc::NOT_FOUND),
                _ => Ok(rc::TYPE_MISMATCH),
            }
        },
    )?;
    linker.func_wrap("env", "get_field_i64", |mut c: Caller<'_, HostCtx>, ctx: i64, np: i32, nl: i32, out: i32| {
        const F: &str = "get_field_i64";
        let (mem, host) = split(&mut c, F)?;
        m::range(F, mem.len(), out, 8)?;
        let (_, doc) = host.doc_of(F, ctx)?;
        let slot = host.slot(m::bytes(F, mem, np, nl)?);
        match as_i64(&host.read(slot, doc)) {
            Ok(v) => {
                m::write(F, mem, out, &v.to_le_bytes())?;
                Ok(rc::OK)
            }
            Err(code) => Ok(code),
        }
    })?;
    linker.func_wrap("env", "get_field_f64", |mut c: Caller<'_, HostCtx>, ctx: i64, np: i32, nl: i32, out: i32| {
        const F: &str = "get_field_f64";
        let (mem, host) = split(&mut c, F)?;
        m::range(F, mem.len(), out, 8)?;
        let (_, doc) = host.doc_of(F, ctx)?;
        let slot = host.slot(m::bytes(F, mem, np, nl)?);
        match as_f64(&host.read(slot, doc)) {
            Ok(v) => {
                m::write(F, mem, out, &v.to_le_bytes())?;
                Ok(rc::OK)
            }
            Err(code) => Ok(code),
        }
    })?;
    linker.func_wrap("env", "get_field_bool", |mut c: Caller<'_, HostCtx>, ctx: i64, np: i32, nl: i32, out: i32| {
        const F: &str = "get_field_bool";
        let (mem, host) = split(&mut c, F)?;
        m::range(F, mem.len(), out, 4)?;
        let (_, doc) = host.doc_of(F, ctx)?;
        let slot = host.slot(m::bytes(F, mem, np, nl)?);
        match as_bool(&host.read(slot, doc)) {
            Ok(b) => {
                m::write(F, mem, out, &(b as i32).to_le_bytes())?;
                Ok(rc::OK)
            }
            Err(code) => Ok(code),
        }
    })?;
    linker.func_wrap("env", "has_field", |mut c: Caller<'_, HostCtx>, ctx: i64, np: i32, nl: i32| {
        const F: &str = "has_field";
        let (mem, host) = split(&mut c, F)?;
        let (_, doc) = host.doc_of(F, ctx)?;
        let slot = host.slot(m::bytes(F, mem, np, nl)?);
        Ok(!matches!(host.read(slot, doc), FieldValue::Missing) as i32)
    })?;
    linker.func_wrap("env", "get_document_id", |mut c: Caller<'_, HostCtx>, ctx: i64, vp: i32, vlp: i32| {
        const F: &str = "get_document_id";
        let (mem, host) = split(&mut c, F)?;
        m::check_string_out(F, mem, vp, vlp)?;
        let (_, doc) = host.doc_of(F, ctx)?;
        match host.docs.as_mut().and_then(|d| d.document_id(doc)) {
            Some(id) => m::write_string(F, mem, vp, vlp, id.as_bytes()),
            None => Ok(rc::NOT_FOUND),
        }
    })?;
    linker.func_wrap("env", "get_score", |c: Caller<'_, HostCtx>, ctx: i64| {
        let (pos, _) = c.data().doc_of("get_score", ctx)?;
        Ok(c.data().batch_scores.get(pos).copied().unwrap_or(0.0) as f64)
    })?;
    linker.func_wrap(
        "env",
        "get_field_i64_batch",
        |mut c: Caller<'_, HostCtx>, cp: i32, n: i32, np: i32, nl: i32, out: i32, status: i32| {
            field_batch(&mut c, "get_field_i64_batch", cp, n, np, nl, out, status, |v| as_i64(v).map(i64::to_le_bytes))
        },
    )?;
    linker.func_wrap(
        "env",
        "get_field_f64_batch",
        |mut c: Caller<'_, HostCtx>, cp: i32, n: i32, np: i32, nl: i32, out: i32, status: i32| {
            field_batch(&mut c, "get_field_f64_batch", cp, n, np, nl, out, status, |v| as_f64(v).map(f64::to_le_bytes))
        },
    )?;

    // ---- compiled Python (docs/udf-abi.md "Typed reads and exceptions") ----
    linker.func_wrap("env", "get_field_value", |mut c: Caller<'_, HostCtx>, ctx: i64, np: i32, nl: i32, out: i32| {
        const F: &str = "get_field_value";
        let (mem, host) = split(&mut c, F)?;
        m::range(F, mem.len(), out, 8)?;
        let (_, doc) = host.doc_of(F, ctx)?;
        let slot = host.slot(m::bytes(F, mem, np, nl)?);
        let (kind, payload) = value_kind(&host.read(slot, doc));
        m::write(F, mem, out, &payload.to_le_bytes())?;
        Ok(kind)
    })?;
    linker.func_wrap("env", "get_param_value", |mut c: Caller<'_, HostCtx>, np: i32, nl: i32, out: i32| {
        const F: &str = "get_param_value";
        let (mem, host) = split(&mut c, F)?;
        m::range(F, mem.len(), out, 8)?;
        let params = host.params.clone();
        let (kind, payload) = match params.get(m::bytes(F, mem, np, nl)?) {
            None => (value_kind::MISSING, 0),
            Some(ParamValue::Bool(b)) => (value_kind::BOOL, *b as i64),
            Some(ParamValue::I64(i)) => (value_kind::INT, *i),
            Some(ParamValue::F64(f)) => (value_kind::FLOAT, f.to_bits() as i64),
            Some(ParamValue::String(s)) => (value_kind::STR, s.len() as i64),
        };
        m::write(F, mem, out, &payload.to_le_bytes())?;
        Ok(kind)
    })?;
    linker.func_wrap("env", "raise_error", |mut c: Caller<'_, HostCtx>, p: i32, l: i32| -> wasmtime::Result<()> {
        const F: &str = "raise_error";
        let (mem, _) = split(&mut c, F)?;
        let message = String::from_utf8_lossy(m::bytes(F, mem, p, l)?).into_owned();
        Err(wasmtime::Error::new(GuestException(message)))
    })?;
    linker.func_wrap("env", "math_f64", |op: i32, x: f64, y: f64| -> wasmtime::Result<f64> {
        math_f64(op, x, y).ok_or_else(|| trap("math_f64", format!("unknown operation {op}")))
    })?;

    // ---- log ----
    linker.func_wrap("env", "log", |mut c: Caller<'_, HostCtx>, level: i32, p: i32, l: i32| {
        const F: &str = "log";
        let (mem, host) = split(&mut c, F)?;
        let bytes = m::bytes(F, mem, p, l)?;
        host.log.push(LogLevel::from_i32(level), bytes);
        Ok(())
    })?;

    super::wasi_p1::add_to_linker(linker)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
#[inline]
fn field_batch(
    c: &mut Caller<'_, HostCtx>,
    f: &'static str,
    ctxs_ptr: i32,
    n: i32,
    np: i32,
    nl: i32,
    out: i32,
    status: i32,
    convert: impl Fn(&FieldValue<'_>) -> Result<[u8; 8], i32>,
) -> wasmtime::Result<i32> {
    let (mem, host) = split(c, f)?;
    if n < 0 {
        return Err(trap(f, format!("negative count {n}")));
    }
    let n = n as usize;
    let ctxs = m::range(f, mem.len(), ctxs_ptr, n * 8)?;
    let outs = m::range(f, mem.len(), out, n * 8)?;
    let stats = m::range(f, mem.len(), status, n)?;
    let slot = host.slot(m::bytes(f, mem, np, nl)?);
    for i in 0..n {
        let at = ctxs.start + i * 8;
        let mut b = [0u8; 8];
        b.copy_from_slice(&mem[at..at + 8]);
        let (_, doc) = host.doc_of(f, i64::from_le_bytes(b))?;
        let (bytes, code) = match convert(&host.read(slot, doc)) {
            Ok(bytes) => (bytes, rc::OK),
            Err(code) => ([0u8; 8], code),
        };
        let o = outs.start + i * 8;
        mem[o..o + 8].copy_from_slice(&bytes);
        mem[stats.start + i] = code as u8;
    }
    Ok(rc::OK)
}

/// The kinds `get_field_value`/`get_param_value` return, as the Python engine's value tags.
pub mod value_kind {
    pub const MISSING: i32 = 0;
    pub const BOOL: i32 = 1;
    pub const INT: i32 = 2;
    pub const FLOAT: i32 = 3;
    pub const STR: i32 = 4;
    pub const JSON: i32 = 5;
}

/// A field value's kind and payload (the value itself for numbers and booleans, the byte
/// length for strings and JSON text), so a guest learns its dynamic type in one call.
fn value_kind(v: &FieldValue<'_>) -> (i32, i64) {
    match v {
        FieldValue::Missing => (value_kind::MISSING, 0),
        FieldValue::Bool(b) => (value_kind::BOOL, *b as i64),
        FieldValue::I64(i) => (value_kind::INT, *i),
        FieldValue::F64(f) => (value_kind::FLOAT, f.to_bits() as i64),
        FieldValue::Str(s) => (value_kind::STR, s.len() as i64),
        FieldValue::Json(s) => (value_kind::JSON, s.len() as i64),
    }
}

/// `math_f64` operations: the platform's libm, which compiled Python calls for what
/// WebAssembly has no instruction for.
fn math_f64(op: i32, x: f64, y: f64) -> Option<f64> {
    Some(match op {
        0 => x.exp(),
        1 => x.ln(),
        2 => x.sin(),
        3 => x.cos(),
        4 => x.tan(),
        5 => x.atan2(y),
        6 => x.powf(y),
        7 => x.asin(),
        8 => x.acos(),
        9 => x.atan(),
        10 => x.log10(),
        11 => x.log2(),
        _ => return None,
    })
}
