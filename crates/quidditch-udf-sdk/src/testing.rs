//! Run a UDF natively against in-memory documents, in a plain `cargo test` (not on `wasm32`).
//!
//! ```
//! use quidditch_udf_sdk::{Doc, Params, filter};
//! use quidditch_udf_sdk::testing::{TestDoc, TestParams, run_filter};
//!
//! #[filter]
//! fn cheap(doc: &Doc, params: &Params) -> bool {
//!     doc.get_f64("price").is_some_and(|p| p < params.get_f64("max").unwrap_or(100.0))
//! }
//!
//! let params = TestParams::new().with("max", 50.0);
//! assert!(run_filter(cheap, &TestDoc::new("1").with("price", 20), &params));
//! assert!(!run_filter(cheap, &TestDoc::new("2").with("price", 80.5), &params));
//! assert!(!run_filter(cheap, &TestDoc::new("3"), &params));
//! ```
//!
//! The mock host follows ABI v1's rules (return codes, buffer-too-small, integer/float
//! conversion) but looks fields up by their exact name: give it `"user.name"` as the key to
//! test a path.

use std::cell::RefCell;

use crate::{Batch, Doc, Level, Params};

/// A field or parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(String),
    I64(i64),
    F64(f64),
    Bool(bool),
}

impl From<&str> for Value {
    fn from(v: &str) -> Self {
        Value::Str(v.to_string())
    }
}
impl From<String> for Value {
    fn from(v: String) -> Self {
        Value::Str(v)
    }
}
impl From<i64> for Value {
    fn from(v: i64) -> Self {
        Value::I64(v)
    }
}
impl From<i32> for Value {
    fn from(v: i32) -> Self {
        Value::I64(v.into())
    }
}
impl From<f64> for Value {
    fn from(v: f64) -> Self {
        Value::F64(v)
    }
}
impl From<bool> for Value {
    fn from(v: bool) -> Self {
        Value::Bool(v)
    }
}

/// An in-memory document.
#[derive(Debug, Clone)]
pub struct TestDoc {
    id: String,
    score: f64,
    fields: Vec<(String, Value)>,
}

impl TestDoc {
    pub fn new(id: &str) -> TestDoc {
        TestDoc { id: id.to_string(), score: 1.0, fields: Vec::new() }
    }
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> TestDoc {
        self.fields.push((name.to_string(), value.into()));
        self
    }
    /// The `_score` the UDF sees (default 1.0).
    pub fn with_score(mut self, score: f64) -> TestDoc {
        self.score = score;
        self
    }
}

/// Query parameters, defaults included (the real host applies declared defaults itself).
#[derive(Debug, Clone, Default)]
pub struct TestParams {
    values: Vec<(String, Value)>,
}

impl TestParams {
    pub fn new() -> TestParams {
        TestParams::default()
    }
    pub fn with(mut self, name: &str, value: impl Into<Value>) -> TestParams {
        self.values.push((name.to_string(), value.into()));
        self
    }
}

#[derive(Default)]
struct MockHost {
    docs: Vec<TestDoc>,
    params: Vec<(String, Value)>,
    logs: Vec<(Level, String)>,
}

thread_local! {
    static HOST: RefCell<MockHost> = RefCell::new(MockHost::default());
}

/// Loads documents and parameters into the mock host: ctx `i` is `docs[i]`. The `run_*`
/// helpers do this for you; call it directly to drive the exported shims yourself.
pub fn install(docs: &[TestDoc], params: &TestParams) {
    HOST.with(|h| {
        let mut h = h.borrow_mut();
        h.docs = docs.to_vec();
        h.params = params.values.clone();
    });
}

/// Runs a `#[filter]` function on one document.
pub fn run_filter(udf: fn(&Doc, &Params) -> bool, doc: &TestDoc, params: &TestParams) -> bool {
    install(std::slice::from_ref(doc), params);
    crate::__private::call_filter(0, udf) != 0
}

/// Runs a `#[score]` function on one document.
pub fn run_score(udf: fn(&Doc, &Params) -> f64, doc: &TestDoc, params: &TestParams) -> f64 {
    install(std::slice::from_ref(doc), params);
    crate::__private::call_score(0, udf)
}

/// Runs a `#[filter_batch]` function on a block of documents.
pub fn run_filter_batch(udf: fn(&Batch, &Params, &mut [bool]), docs: &[TestDoc], params: &TestParams) -> Vec<bool> {
    install(docs, params);
    let ctxs: Vec<i64> = (0..docs.len() as i64).collect();
    let mut out = vec![false; docs.len()];
    udf(&Batch::from_ctxs(&ctxs), &Params::new(), &mut out);
    out
}

/// Runs a `#[score_batch]` function on a block of documents.
pub fn run_score_batch(udf: fn(&Batch, &Params, &mut [f64]), docs: &[TestDoc], params: &TestParams) -> Vec<f64> {
    install(docs, params);
    let ctxs: Vec<i64> = (0..docs.len() as i64).collect();
    let mut out = vec![0.0; docs.len()];
    udf(&Batch::from_ctxs(&ctxs), &Params::new(), &mut out);
    out
}

/// The messages logged so far on this thread (and forgets them).
pub fn take_logs() -> Vec<(Level, String)> {
    HOST.with(|h| std::mem::take(&mut h.borrow_mut().logs))
}

/// The mock implementations of the `env` imports; `crate::sys` re-exports them natively.
#[allow(clippy::missing_safety_doc)]
pub mod host {
    use super::{HOST, Value};
    use crate::Level;
    use crate::sys::{BUFFER_TOO_SMALL, NOT_FOUND, OK, TYPE_MISMATCH};

    unsafe fn name<'a>(ptr: *const u8, len: usize) -> &'a str {
        // SAFETY: the SDK passes a live `&str`.
        unsafe { std::str::from_utf8_unchecked(std::slice::from_raw_parts(ptr, len)) }
    }

    fn field(ctx: i64, name: &str) -> Option<Value> {
        HOST.with(|h| {
            let h = h.borrow();
            let doc = h.docs.get(usize::try_from(ctx).ok()?)?;
            doc.fields.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
        })
    }

    fn param(name: &str) -> Option<Value> {
        HOST.with(|h| h.borrow().params.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()))
    }

    unsafe fn write_string(value: Option<Value>, ptr: *mut u8, len_ptr: *mut u32) -> i32 {
        let s = match value {
            None => return NOT_FOUND,
            Some(Value::Str(s)) => s,
            Some(_) => return TYPE_MISMATCH,
        };
        // SAFETY: the SDK passes a live u32 holding the buffer's capacity.
        unsafe {
            let capacity = *len_ptr as usize;
            *len_ptr = s.len() as u32;
            if s.len() > capacity {
                return BUFFER_TOO_SMALL;
            }
            std::ptr::copy_nonoverlapping(s.as_ptr(), ptr, s.len());
        }
        OK
    }

    fn as_i64(value: Option<Value>) -> Result<i64, i32> {
        match value {
            None => Err(NOT_FOUND),
            Some(Value::I64(v)) => Ok(v),
            Some(Value::F64(v)) if v.fract() == 0.0 && v.abs() < 9.0e15 => Ok(v as i64),
            Some(_) => Err(TYPE_MISMATCH),
        }
    }

    fn as_f64(value: Option<Value>) -> Result<f64, i32> {
        match value {
            None => Err(NOT_FOUND),
            Some(Value::F64(v)) => Ok(v),
            Some(Value::I64(v)) => Ok(v as f64),
            Some(_) => Err(TYPE_MISMATCH),
        }
    }

    fn as_bool(value: Option<Value>) -> Result<i32, i32> {
        match value {
            None => Err(NOT_FOUND),
            Some(Value::Bool(v)) => Ok(v as i32),
            Some(_) => Err(TYPE_MISMATCH),
        }
    }

    unsafe fn store<T>(result: Result<T, i32>, out: *mut T) -> i32 {
        match result {
            // SAFETY: the SDK passes a live, aligned `T`.
            Ok(v) => unsafe {
                out.write(v);
                OK
            },
            Err(code) => code,
        }
    }

    pub unsafe fn get_param_string(name_ptr: *const u8, name_len: usize, value_ptr: *mut u8, value_len_ptr: *mut u32) -> i32 {
        unsafe { write_string(param(name(name_ptr, name_len)), value_ptr, value_len_ptr) }
    }
    pub unsafe fn get_param_i64(name_ptr: *const u8, name_len: usize, out_ptr: *mut i64) -> i32 {
        unsafe { store(as_i64(param(name(name_ptr, name_len))), out_ptr) }
    }
    pub unsafe fn get_param_f64(name_ptr: *const u8, name_len: usize, out_ptr: *mut f64) -> i32 {
        unsafe { store(as_f64(param(name(name_ptr, name_len))), out_ptr) }
    }
    pub unsafe fn get_param_bool(name_ptr: *const u8, name_len: usize, out_ptr: *mut i32) -> i32 {
        unsafe { store(as_bool(param(name(name_ptr, name_len))), out_ptr) }
    }
    pub unsafe fn get_field_string(ctx: i64, name_ptr: *const u8, name_len: usize, value_ptr: *mut u8, value_len_ptr: *mut u32) -> i32 {
        unsafe { write_string(field(ctx, name(name_ptr, name_len)), value_ptr, value_len_ptr) }
    }
    pub unsafe fn get_field_i64(ctx: i64, name_ptr: *const u8, name_len: usize, out_ptr: *mut i64) -> i32 {
        unsafe { store(as_i64(field(ctx, name(name_ptr, name_len))), out_ptr) }
    }
    pub unsafe fn get_field_f64(ctx: i64, name_ptr: *const u8, name_len: usize, out_ptr: *mut f64) -> i32 {
        unsafe { store(as_f64(field(ctx, name(name_ptr, name_len))), out_ptr) }
    }
    pub unsafe fn get_field_bool(ctx: i64, name_ptr: *const u8, name_len: usize, out_ptr: *mut i32) -> i32 {
        unsafe { store(as_bool(field(ctx, name(name_ptr, name_len))), out_ptr) }
    }
    pub unsafe fn has_field(ctx: i64, name_ptr: *const u8, name_len: usize) -> i32 {
        unsafe { field(ctx, name(name_ptr, name_len)).is_some() as i32 }
    }
    pub unsafe fn get_document_id(ctx: i64, value_ptr: *mut u8, value_len_ptr: *mut u32) -> i32 {
        let id = HOST.with(|h| {
            let h = h.borrow();
            usize::try_from(ctx).ok().and_then(|i| h.docs.get(i)).map(|d| Value::Str(d.id.clone()))
        });
        unsafe { write_string(id, value_ptr, value_len_ptr) }
    }
    pub unsafe fn get_score(ctx: i64) -> f64 {
        HOST.with(|h| {
            let h = h.borrow();
            usize::try_from(ctx).ok().and_then(|i| h.docs.get(i)).map_or(0.0, |d| d.score)
        })
    }
    pub unsafe fn log(level: i32, ptr: *const u8, len: usize) {
        let level = match level {
            0 => Level::Debug,
            1 => Level::Info,
            2 => Level::Warn,
            _ => Level::Error,
        };
        let message = unsafe { name(ptr, len) }.to_string();
        HOST.with(|h| h.borrow_mut().logs.push((level, message)));
    }
    pub unsafe fn get_field_i64_batch(ctxs_ptr: *const i64, n: usize, name_ptr: *const u8, name_len: usize, out_ptr: *mut i64, status_ptr: *mut u8) -> i32 {
        unsafe {
            let field_name = name(name_ptr, name_len);
            for i in 0..n {
                let code = store(as_i64(field(*ctxs_ptr.add(i), field_name)), out_ptr.add(i));
                *status_ptr.add(i) = code as u8;
            }
        }
        OK
    }
    pub unsafe fn get_field_f64_batch(ctxs_ptr: *const i64, n: usize, name_ptr: *const u8, name_len: usize, out_ptr: *mut f64, status_ptr: *mut u8) -> i32 {
        unsafe {
            let field_name = name(name_ptr, name_len);
            for i in 0..n {
                let code = store(as_f64(field(*ctxs_ptr.add(i), field_name)), out_ptr.add(i));
                *status_ptr.add(i) = code as u8;
            }
        }
        OK
    }
}
