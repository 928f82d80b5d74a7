//! Write Quidditch UDFs in Rust without touching the raw ABI.
//!
//! ```no_run
//! use quidditch_udf_sdk::{filter, Doc, Params};
//!
//! /// Keeps products cheaper than `max_price` (default 100).
//! #[filter]
//! fn cheap(doc: &Doc, params: &Params) -> bool {
//!     let max = params.get_f64("max_price").unwrap_or(100.0);
//!     doc.get_f64("price").is_some_and(|p| p < max)
//! }
//! ```
//!
//! Build it as a `cdylib` with `cargo build --release --target wasm32-wasip1` and upload the
//! `.wasm` with `quidditch udf push`. See `docs/udf-guide.md`.
//!
//! * [`Doc`] reads the current document's fields, id and `_score`.
//! * [`Params`] reads the query's parameters (declared defaults applied by the host).
//! * [`filter`], [`score`], [`filter_batch`], [`score_batch`] turn a function into an export.
//! * [`log!`] writes to the server's log (rate-limited by the host).
//! * [`testing`] (native builds only) runs a UDF against in-memory documents in `cargo test`.
//!
//! The crate builds for `wasm32-wasip1` (where the functions in [`sys`] are the host's `env`
//! imports) and natively (where a mock host answers them).

mod batch;
mod read;
pub mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;

pub use batch::Batch;
pub use quidditch_udf_sdk_macros::{filter, filter_batch, score, score_batch};
pub use read::ReadError;

use read::{read_scalar, read_string};

// The Rust snippets of the guide compile as doctests of this crate.
#[cfg(doctest)]
#[doc = include_str!("../../../docs/udf-guide.md")]
pub struct UdfGuideSnippets;

/// The document being evaluated. Field names are paths: `user.name`, `tags[0]`.
///
/// The `get_*` methods return `None` both when the field is missing and when it has another
/// type; use the `try_get_*` forms to tell the two apart.
#[derive(Debug, Clone, Copy)]
pub struct Doc {
    ctx: i64,
}

impl Doc {
    #[doc(hidden)]
    pub fn from_ctx(ctx: i64) -> Doc {
        Doc { ctx }
    }

    pub fn get_f64(&self, name: &str) -> Option<f64> {
        self.try_get_f64(name).ok()
    }
    pub fn get_i64(&self, name: &str) -> Option<i64> {
        self.try_get_i64(name).ok()
    }
    /// A string field; arrays and objects come back as JSON text.
    pub fn get_str(&self, name: &str) -> Option<String> {
        self.try_get_str(name).ok()
    }
    pub fn get_bool(&self, name: &str) -> Option<bool> {
        self.try_get_bool(name).ok()
    }

    pub fn try_get_f64(&self, name: &str) -> Result<f64, ReadError> {
        // SAFETY: `name` is a live slice and `out` a live, aligned f64 for the whole call.
        read_scalar(0.0, |out| unsafe { sys::get_field_f64(self.ctx, name.as_ptr(), name.len(), out) })
    }
    pub fn try_get_i64(&self, name: &str) -> Result<i64, ReadError> {
        // SAFETY: as above.
        read_scalar(0, |out| unsafe { sys::get_field_i64(self.ctx, name.as_ptr(), name.len(), out) })
    }
    pub fn try_get_str(&self, name: &str) -> Result<String, ReadError> {
        // SAFETY: `read_string` passes a buffer of exactly the capacity it writes at `len`.
        read_string(|buf, len| unsafe { sys::get_field_string(self.ctx, name.as_ptr(), name.len(), buf, len) })
    }
    pub fn try_get_bool(&self, name: &str) -> Result<bool, ReadError> {
        // SAFETY: as above.
        read_scalar(0i32, |out| unsafe { sys::get_field_bool(self.ctx, name.as_ptr(), name.len(), out) })
            .map(|v| v != 0)
    }

    /// Whether the document has the field (with any type).
    pub fn has(&self, name: &str) -> bool {
        // SAFETY: `name` is a live slice.
        unsafe { sys::has_field(self.ctx, name.as_ptr(), name.len()) == 1 }
    }

    /// The document's `_id`.
    pub fn id(&self) -> String {
        // SAFETY: see `try_get_str`.
        read_string(|buf, len| unsafe { sys::get_document_id(self.ctx, buf, len) }).unwrap_or_default()
    }

    /// The document's current `_score` (from the query around the UDF).
    pub fn score(&self) -> f64 {
        // SAFETY: takes no pointers.
        unsafe { sys::get_score(self.ctx) }
    }
}

/// The query's parameters, with the defaults declared at upload time applied by the host.
///
/// `get_*` return `None` when the parameter is absent or has another type; integers passed
/// as JSON numbers read as `i64` and as `f64`.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    _private: (),
}

impl Params {
    #[doc(hidden)]
    pub fn new() -> Params {
        Params { _private: () }
    }

    pub fn get_str(&self, name: &str) -> Option<String> {
        self.try_get_str(name).ok()
    }
    pub fn get_i64(&self, name: &str) -> Option<i64> {
        self.try_get_i64(name).ok()
    }
    pub fn get_f64(&self, name: &str) -> Option<f64> {
        self.try_get_f64(name).ok()
    }
    pub fn get_bool(&self, name: &str) -> Option<bool> {
        self.try_get_bool(name).ok()
    }

    pub fn try_get_str(&self, name: &str) -> Result<String, ReadError> {
        // SAFETY: `read_string` passes a buffer of exactly the capacity it writes at `len`.
        read_string(|buf, len| unsafe { sys::get_param_string(name.as_ptr(), name.len(), buf, len) })
    }
    pub fn try_get_i64(&self, name: &str) -> Result<i64, ReadError> {
        // SAFETY: `name` is a live slice and `out` a live, aligned i64.
        read_scalar(0, |out| unsafe { sys::get_param_i64(name.as_ptr(), name.len(), out) })
    }
    pub fn try_get_f64(&self, name: &str) -> Result<f64, ReadError> {
        // SAFETY: as above.
        read_scalar(0.0, |out| unsafe { sys::get_param_f64(name.as_ptr(), name.len(), out) })
    }
    pub fn try_get_bool(&self, name: &str) -> Result<bool, ReadError> {
        // SAFETY: as above.
        read_scalar(0i32, |out| unsafe { sys::get_param_bool(name.as_ptr(), name.len(), out) }).map(|v| v != 0)
    }
}

/// Log levels of the host's `log` import.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Level {
    Debug = 0,
    Info = 1,
    Warn = 2,
    Error = 3,
}

/// Writes one message to the server's log, tagged with the UDF's name and version.
pub fn log(level: Level, message: &str) {
    // SAFETY: `message` is a live slice.
    unsafe { sys::log(level as i32, message.as_ptr(), message.len()) }
}

/// `log!("fmt", args…)` logs at info; `log!(debug|info|warn|error, "fmt", args…)` picks the level.
#[macro_export]
macro_rules! log {
    (debug, $($arg:tt)+) => { $crate::log($crate::Level::Debug, &::std::format!($($arg)+)) };
    (info, $($arg:tt)+) => { $crate::log($crate::Level::Info, &::std::format!($($arg)+)) };
    (warn, $($arg:tt)+) => { $crate::log($crate::Level::Warn, &::std::format!($($arg)+)) };
    (error, $($arg:tt)+) => { $crate::log($crate::Level::Error, &::std::format!($($arg)+)) };
    ($($arg:tt)+) => { $crate::log($crate::Level::Info, &::std::format!($($arg)+)) };
}

/// What the `#[filter]`-style attributes expand to call. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::batch::{batch_buffer, call_filter_batch, call_score_batch};
    use crate::{Doc, Params};

    pub fn call_filter(ctx: i64, udf: fn(&Doc, &Params) -> bool) -> i32 {
        udf(&Doc::from_ctx(ctx), &Params::new()) as i32
    }

    pub fn call_score(ctx: i64, udf: fn(&Doc, &Params) -> f64) -> f64 {
        udf(&Doc::from_ctx(ctx), &Params::new())
    }
}
