//! The raw ABI v1 host functions (module `env`, see `docs/udf-abi.md`).
//!
//! On `wasm32` these are the host's imports. Anywhere else they are answered by the in-process
//! mock host in [`crate::testing`], with the same return codes, so UDF logic can be unit-tested
//! with a plain `cargo test`.
//!
//! Pointers are `*const u8`/`*mut _` and lengths `usize`: on `wasm32` both lower to the ABI's
//! `i32`, natively they are real pointers into the test's memory.

#![allow(clippy::missing_safety_doc)]

/// Return code: success.
pub const OK: i32 = 0;
/// Return code: no such field or parameter.
pub const NOT_FOUND: i32 = 1;
/// Return code: the value has another type.
pub const TYPE_MISMATCH: i32 = 2;
/// Return code: the buffer is too small; the required length was written back.
pub const BUFFER_TOO_SMALL: i32 = 3;

#[cfg(target_arch = "wasm32")]
#[link(wasm_import_module = "env")]
unsafe extern "C" {
    pub fn get_param_string(name_ptr: *const u8, name_len: usize, value_ptr: *mut u8, value_len_ptr: *mut u32) -> i32;
    pub fn get_param_i64(name_ptr: *const u8, name_len: usize, out_ptr: *mut i64) -> i32;
    pub fn get_param_f64(name_ptr: *const u8, name_len: usize, out_ptr: *mut f64) -> i32;
    pub fn get_param_bool(name_ptr: *const u8, name_len: usize, out_ptr: *mut i32) -> i32;
    pub fn get_field_string(ctx: i64, name_ptr: *const u8, name_len: usize, value_ptr: *mut u8, value_len_ptr: *mut u32) -> i32;
    pub fn get_field_i64(ctx: i64, name_ptr: *const u8, name_len: usize, out_ptr: *mut i64) -> i32;
    pub fn get_field_f64(ctx: i64, name_ptr: *const u8, name_len: usize, out_ptr: *mut f64) -> i32;
    pub fn get_field_bool(ctx: i64, name_ptr: *const u8, name_len: usize, out_ptr: *mut i32) -> i32;
    pub fn has_field(ctx: i64, name_ptr: *const u8, name_len: usize) -> i32;
    pub fn get_document_id(ctx: i64, value_ptr: *mut u8, value_len_ptr: *mut u32) -> i32;
    pub fn get_score(ctx: i64) -> f64;
    pub fn log(level: i32, ptr: *const u8, len: usize);
    pub fn get_field_i64_batch(ctxs_ptr: *const i64, n: usize, name_ptr: *const u8, name_len: usize, out_ptr: *mut i64, status_ptr: *mut u8) -> i32;
    pub fn get_field_f64_batch(ctxs_ptr: *const i64, n: usize, name_ptr: *const u8, name_len: usize, out_ptr: *mut f64, status_ptr: *mut u8) -> i32;
}

#[cfg(not(target_arch = "wasm32"))]
pub use crate::testing::host::*;
