//! The batched ABI: `udf_buffer`, `filter_batch`, `score_batch` and the `get_field_*_batch`
//! reads, which cross the host boundary once per block of documents instead of once per
//! document and field.

use std::cell::RefCell;

use crate::read::status;
use crate::{Doc, Params, sys};

/// A block of documents handed to a `#[filter_batch]` / `#[score_batch]` function.
#[derive(Debug)]
pub struct Batch<'a> {
    ctxs: &'a [i64],
}

impl<'a> Batch<'a> {
    #[doc(hidden)]
    pub fn from_ctxs(ctxs: &'a [i64]) -> Batch<'a> {
        Batch { ctxs }
    }

    pub fn len(&self) -> usize {
        self.ctxs.len()
    }

    pub fn is_empty(&self) -> bool {
        self.ctxs.is_empty()
    }

    /// The `i`-th document, for per-document reads (strings, bools, ids). Panics past `len()`.
    pub fn doc(&self, i: usize) -> Doc {
        Doc::from_ctx(self.ctxs[i])
    }

    pub fn docs(&self) -> impl Iterator<Item = Doc> + '_ {
        self.ctxs.iter().map(|&ctx| Doc::from_ctx(ctx))
    }

    /// One numeric field for every document in one host call; `None` where a document lacks
    /// it or has another type.
    pub fn get_f64(&self, name: &str) -> Vec<Option<f64>> {
        let mut values = vec![0f64; self.ctxs.len()];
        let mut codes = vec![0u8; self.ctxs.len()];
        // SAFETY: `values` and `codes` hold exactly `ctxs.len()` elements each.
        let rc = unsafe {
            sys::get_field_f64_batch(
                self.ctxs.as_ptr(),
                self.ctxs.len(),
                name.as_ptr(),
                name.len(),
                values.as_mut_ptr(),
                codes.as_mut_ptr(),
            )
        };
        zip_status(rc, values, &codes)
    }

    /// Like [`Batch::get_f64`] for integers.
    pub fn get_i64(&self, name: &str) -> Vec<Option<i64>> {
        let mut values = vec![0i64; self.ctxs.len()];
        let mut codes = vec![0u8; self.ctxs.len()];
        // SAFETY: as in `get_f64`.
        let rc = unsafe {
            sys::get_field_i64_batch(
                self.ctxs.as_ptr(),
                self.ctxs.len(),
                name.as_ptr(),
                name.len(),
                values.as_mut_ptr(),
                codes.as_mut_ptr(),
            )
        };
        zip_status(rc, values, &codes)
    }
}

fn zip_status<T>(rc: i32, values: Vec<T>, codes: &[u8]) -> Vec<Option<T>> {
    if status(rc).is_err() {
        return values.into_iter().map(|_| None).collect();
    }
    values.into_iter().zip(codes).map(|(v, &c)| (c as i32 == sys::OK).then_some(v)).collect()
}

thread_local! {
    /// The region the host writes ctx arrays into and reads results from. u64 elements keep
    /// it 8-byte aligned. (wasm32-wasip1 is single-threaded: this is one plain static.)
    static BATCH_BUFFER: RefCell<Vec<u64>> = const { RefCell::new(Vec::new()) };
}

/// ABI export `udf_buffer(size) -> ptr`: at least `size` bytes the host may write, or 0.
#[cfg(target_arch = "wasm32")]
#[unsafe(no_mangle)]
pub extern "C" fn udf_buffer(size: i32) -> i32 {
    batch_buffer(size) as i32
}

#[doc(hidden)]
pub fn batch_buffer(size: i32) -> usize {
    let Ok(size) = usize::try_from(size) else { return 0 };
    BATCH_BUFFER.with(|buf| {
        let Ok(mut buf) = buf.try_borrow_mut() else { return 0 };
        let words = size.div_ceil(8);
        if buf.len() < words {
            buf.resize(words, 0);
        }
        buf.as_mut_ptr() as usize
    })
}

/// The ctx array the host wrote: borrowed in place when it is 8-byte aligned (the host writes
/// it at the start of our aligned `udf_buffer` region), else copied.
///
/// SAFETY: `ctxs_ptr` must point to `n` readable i64 values that stay untouched for `'a`.
unsafe fn read_ctxs<'a>(ctxs_ptr: usize, n: usize) -> std::borrow::Cow<'a, [i64]> {
    let base = ctxs_ptr as *const i64;
    if ctxs_ptr.is_multiple_of(std::mem::align_of::<i64>()) {
        // SAFETY: aligned, and valid for `n` reads per the caller.
        return std::borrow::Cow::Borrowed(unsafe { std::slice::from_raw_parts(base, n) });
    }
    // SAFETY: guaranteed by the caller.
    std::borrow::Cow::Owned((0..n).map(|i| unsafe { base.add(i).read_unaligned() }).collect())
}

/// Expansion target of `#[filter_batch]`. Returns 0 on success, 1 on a bad call.
pub fn call_filter_batch(
    ctxs_ptr: usize,
    n: usize,
    out_ptr: usize,
    udf: fn(&Batch, &Params, &mut [bool]),
) -> i32 {
    if ctxs_ptr == 0 || out_ptr == 0 {
        return 1;
    }
    // SAFETY: the host wrote `n` ctx values at `ctxs_ptr` inside the `udf_buffer` region.
    let ctxs = unsafe { read_ctxs(ctxs_ptr, n) };
    let mut keep = vec![false; n];
    udf(&Batch::from_ctxs(&ctxs), &Params::new(), &mut keep);
    let out = out_ptr as *mut i32;
    for (i, k) in keep.into_iter().enumerate() {
        // SAFETY: the host reserved `n` i32 results at `out_ptr`.
        unsafe { out.add(i).write_unaligned(k as i32) };
    }
    0
}

/// Expansion target of `#[score_batch]`. Returns 0 on success, 1 on a bad call.
pub fn call_score_batch(
    ctxs_ptr: usize,
    n: usize,
    out_ptr: usize,
    udf: fn(&Batch, &Params, &mut [f64]),
) -> i32 {
    if ctxs_ptr == 0 || out_ptr == 0 {
        return 1;
    }
    // SAFETY: as in `call_filter_batch`.
    let ctxs = unsafe { read_ctxs(ctxs_ptr, n) };
    let mut scores = vec![0f64; n];
    udf(&Batch::from_ctxs(&ctxs), &Params::new(), &mut scores);
    let out = out_ptr as *mut f64;
    for (i, s) in scores.into_iter().enumerate() {
        // SAFETY: the host reserved `n` f64 results at `out_ptr`.
        unsafe { out.add(i).write_unaligned(s) };
    }
    0
}
