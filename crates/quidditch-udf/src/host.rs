//! Host-side state of one instance (`Store` data) shared by the core-module ABI and the
//! component host: bound parameters, the current documents, the field-slot cache, the
//! per-batch ctx table, the captured log and the memory limiter.

use std::sync::Arc;

use serde::Serialize;

use crate::document::{DocumentAccess, FieldSlot, FieldValue};
use crate::limits::MemoryLimiter;
use crate::params::BoundParams;

/// A trap raised by a host function (bad pointer, invalid ctx, `proc_exit`, …).
#[derive(Debug)]
pub struct HostTrap {
    pub import: &'static str,
    pub message: String,
}

impl std::fmt::Display for HostTrap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "host function `{}`: {}", self.import, self.message)
    }
}

impl std::error::Error for HostTrap {}

/// An exception a compiled Python UDF raised (`raise_error`): the message is the Python
/// exception's `Type: text`, reported as the call's trap like the CPython engine's errors.
#[derive(Debug)]
pub struct GuestException(pub String);

impl std::fmt::Display for GuestException {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for GuestException {}

pub fn trap(import: &'static str, message: impl Into<String>) -> wasmtime::Error {
    wasmtime::Error::new(HostTrap { import, message: message.into() })
}

/// Log levels of `log(level, …)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum LogLevel {
    Debug,
    Info,
    Warn,
    Error,
}

impl LogLevel {
    pub fn from_i32(level: i32) -> LogLevel {
        match level {
            i32::MIN..=0 => LogLevel::Debug,
            1 => LogLevel::Info,
            2 => LogLevel::Warn,
            _ => LogLevel::Error,
        }
    }
}

/// One captured log line.
#[derive(Debug, Clone, Serialize)]
pub struct LogEntry {
    pub level: LogLevel,
    pub message: String,
}

/// Logs captured by an instance; each call may add at most `per_call_cap` bytes, and the
/// instance keeps at most `4 × per_call_cap` until [`take`](Self::take).
#[derive(Debug, Default)]
pub struct LogBuffer {
    pub entries: Vec<LogEntry>,
    pub truncated: bool,
    per_call_cap: usize,
    call_bytes: usize,
    kept_bytes: usize,
}

impl LogBuffer {
    pub fn new(per_call_cap: usize) -> Self {
        LogBuffer { per_call_cap, ..Default::default() }
    }

    #[inline]
    pub fn begin_call(&mut self) {
        self.call_bytes = 0;
    }

    pub fn push(&mut self, level: LogLevel, bytes: &[u8]) {
        let room = self
            .per_call_cap
            .saturating_sub(self.call_bytes)
            .min((self.per_call_cap * 4).saturating_sub(self.kept_bytes));
        let take = bytes.len().min(room);
        if take < bytes.len() {
            self.truncated = true;
        }
        if take == 0 && !bytes.is_empty() {
            return;
        }
        let message = String::from_utf8_lossy(&bytes[..take]).into_owned();
        self.call_bytes += take;
        self.kept_bytes += take;
        self.entries.push(LogEntry { level, message });
    }

    pub fn take(&mut self) -> (Vec<LogEntry>, bool) {
        self.kept_bytes = 0;
        let truncated = std::mem::take(&mut self.truncated);
        (std::mem::take(&mut self.entries), truncated)
    }
}

/// Store data of a UDF instance.
pub struct HostCtx {
    pub params: Arc<BoundParams>,
    pub docs: Option<Box<dyn DocumentAccess>>,
    /// Guest path bytes → slot, for the current `docs`. A linear scan with a byte compare:
    /// UDFs read a handful of fields, and this keeps per-document reads allocation-free.
    slots: Vec<(Box<[u8]>, FieldSlot)>,
    /// Doc ids of the current call (one for `filter`, `n` for a batch); ctx = pos << 32 | doc.
    pub batch_docs: Vec<u32>,
    pub batch_scores: Vec<f32>,
    pub log: LogBuffer,
    pub limiter: MemoryLimiter,
    pub read_document: bool,
    pub write_log: bool,
    /// The guest's exported memory (core modules), cached so host functions skip the export lookup.
    pub memory: Option<wasmtime::Memory>,
    /// Set while the batch driver runs a block (see [`BlockWatch`]).
    pub block_watch: Option<BlockWatch>,
    /// The batch driver's served field reads ([`crate::driver`]), when it serves them.
    pub(crate) served: Option<crate::driver::ServedReads>,
}

/// The per-document time limit inside a batch-driver call. The epoch deadline is one tick
/// ahead while a block runs; at each tick the store's deadline callback looks at the driver's
/// position: a document that has run for `call_ticks` ticks, or the query's time running
/// out, interrupts the call — the limits of one call per document, without a host call per
/// document.
#[derive(Debug, Clone, Copy)]
pub struct BlockWatch {
    /// The driver's `pos` global: the block position being evaluated.
    pub pos: wasmtime::Global,
    pub last_pos: i32,
    /// Ticks seen while at `last_pos`.
    pub doc_ticks: u64,
    pub call_ticks: u64,
    pub query_ticks_left: u64,
}

impl BlockWatch {
    /// The store's epoch-deadline callback: outside a driver block, the deadline is the call's
    /// own (interrupt); inside, see [`BlockWatch`].
    pub fn on_deadline(mut ctx: wasmtime::StoreContextMut<'_, HostCtx>) -> wasmtime::Result<wasmtime::UpdateDeadline> {
        let Some(mut w) = ctx.data().block_watch else { return Ok(wasmtime::UpdateDeadline::Interrupt) };
        let pos = match w.pos.get(&mut ctx) {
            wasmtime::Val::I32(p) => p,
            _ => -1,
        };
        if pos != w.last_pos {
            w.last_pos = pos;
            w.doc_ticks = 0;
        }
        w.doc_ticks += 1;
        w.query_ticks_left = w.query_ticks_left.saturating_sub(1);
        let over = w.doc_ticks >= w.call_ticks || w.query_ticks_left == 0;
        ctx.data_mut().block_watch = Some(w);
        Ok(if over { wasmtime::UpdateDeadline::Interrupt } else { wasmtime::UpdateDeadline::Continue(1) })
    }
}

const MAX_CACHED_SLOTS: usize = 256;

impl HostCtx {
    pub fn new(params: Arc<BoundParams>, limiter: MemoryLimiter, log_cap: usize, read_document: bool, write_log: bool) -> Self {
        HostCtx {
            params,
            docs: None,
            slots: Vec::new(),
            batch_docs: vec![0],
            batch_scores: vec![0.0],
            log: LogBuffer::new(log_cap),
            limiter,
            read_document,
            write_log,
            memory: None,
            block_watch: None,
            served: None,
        }
    }

    pub fn set_documents(&mut self, docs: Box<dyn DocumentAccess>) {
        self.docs = Some(docs);
        self.slots.clear();
        if let Some(served) = self.served.as_mut() {
            served.forget();
        }
    }

    /// The doc id a ctx refers to, checking it belongs to the current call.
    #[inline]
    pub fn doc_of(&self, import: &'static str, ctx: i64) -> wasmtime::Result<(usize, u32)> {
        let pos = ((ctx as u64) >> 32) as usize;
        let doc = ctx as u32;
        match self.batch_docs.get(pos) {
            Some(&d) if d == doc => Ok((pos, doc)),
            _ => Err(trap(import, format!("invalid ctx {ctx}: pass the ctx the host gave you unchanged"))),
        }
    }

    /// The slot for a guest path (cached per documents).
    #[inline]
    pub fn slot(&mut self, path: &[u8]) -> FieldSlot {
        for (p, s) in &self.slots {
            if **p == *path {
                return *s;
            }
        }
        let Some(docs) = self.docs.as_mut() else { return FieldSlot::MISSING };
        let slot = match std::str::from_utf8(path) {
            Ok(p) => docs.resolve(p),
            Err(_) => FieldSlot::MISSING,
        };
        if self.slots.len() < MAX_CACHED_SLOTS {
            self.slots.push((path.into(), slot));
        }
        slot
    }

    /// Reads a field; `Missing` without documents.
    #[inline]
    pub fn read(&mut self, slot: FieldSlot, doc: u32) -> FieldValue<'_> {
        match self.docs.as_mut() {
            Some(d) if slot != FieldSlot::MISSING => d.read(slot, doc),
            _ => FieldValue::Missing,
        }
    }
}

/// Return codes of the ABI's `get_*` functions.
pub mod rc {
    pub const OK: i32 = 0;
    pub const NOT_FOUND: i32 = 1;
    pub const TYPE_MISMATCH: i32 = 2;
    pub const BUFFER_TOO_SMALL: i32 = 3;
}

/// Field value as i64 (exact conversions only).
#[inline]
pub fn as_i64(v: &FieldValue<'_>) -> Result<i64, i32> {
    match v {
        FieldValue::I64(i) => Ok(*i),
        FieldValue::F64(f) if f.fract() == 0.0 && *f >= i64::MIN as f64 && *f < i64::MAX as f64 => Ok(*f as i64),
        FieldValue::Missing => Err(rc::NOT_FOUND),
        _ => Err(rc::TYPE_MISMATCH),
    }
}

/// Field value as bool (no conversions).
#[inline]
pub fn as_bool(v: &FieldValue<'_>) -> Result<bool, i32> {
    match v {
        FieldValue::Bool(b) => Ok(*b),
        FieldValue::Missing => Err(rc::NOT_FOUND),
        _ => Err(rc::TYPE_MISMATCH),
    }
}

/// Field value as f64 (integers up to 2^53 exactly).
#[inline]
pub fn as_f64(v: &FieldValue<'_>) -> Result<f64, i32> {
    match v {
        FieldValue::F64(f) => Ok(*f),
        FieldValue::I64(i) if i.unsigned_abs() <= (1u64 << 53) => Ok(*i as f64),
        FieldValue::Missing => Err(rc::NOT_FOUND),
        _ => Err(rc::TYPE_MISMATCH),
    }
}
