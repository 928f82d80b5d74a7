//! The component host: the WIT worlds `quidditch:udf/udf` (uploaded components) and
//! `quidditch:udf/python-runtime` (the shared Python runtime: `udf` plus the packed `block`
//! import and `load-module`/`filter-block`/`score-block` exports), in `wit/quidditch-udf.wit`,
//! plus WASI preview 2 with a capability-less context (no preopens, no network, empty
//! environment, stdout/stderr captured into the UDF log; fixed clocks and random unless granted).

use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use parking_lot::Mutex;
use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamResult};
use wasmtime_wasi::{WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::document::FieldValue;
use crate::host::{HostCtx, LogLevel, trap};
use crate::params::ParamValue;

wasmtime::component::bindgen!({
    world: "udf",
    path: "../../wit/quidditch-udf.wit",
    imports: { default: trappable },
});

pub use self::quidditch::udf::types::{LogLevel as WitLogLevel, Value as WitValue};

/// Bindings of the shared Python runtime's world; its `types` and `host` interfaces are the
/// ones above, so one `ComponentHost` implementation serves both worlds.
pub mod python_world {
    wasmtime::component::bindgen!({
        world: "python-runtime",
        path: "../../wit/quidditch-udf.wit",
        imports: { default: trappable },
        with: {
            "quidditch:udf/types": crate::component::quidditch::udf::types,
            "quidditch:udf/host": crate::component::quidditch::udf::host,
        },
    });
}

use self::python_world::quidditch::udf::block::{Column, Packed};

/// Store data of a component instance.
pub struct ComponentHost {
    pub ctx: HostCtx,
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: Option<LogPipe>,
    stderr: Option<LogPipe>,
}

/// stdout/stderr of a component: bytes go to a buffer drained into the UDF log after each
/// call. Beyond the per-call capacity they are dropped (the log is marked truncated) but the
/// guest's write still succeeds, so a chatty `print` never fails a UDF.
#[derive(Clone)]
struct LogPipe {
    buf: Arc<Mutex<Vec<u8>>>,
    dropped: Arc<Mutex<bool>>,
    /// Anything written since the last `take` (checked without locking after every call).
    dirty: Arc<std::sync::atomic::AtomicBool>,
    cap: usize,
}

impl LogPipe {
    fn new(cap: usize) -> Self {
        LogPipe {
            buf: Arc::new(Mutex::new(Vec::new())),
            dropped: Arc::new(Mutex::new(false)),
            dirty: Arc::new(std::sync::atomic::AtomicBool::new(false)),
            cap,
        }
    }

    fn accept(&self, bytes: &[u8]) {
        self.dirty.store(true, std::sync::atomic::Ordering::Release);
        let mut buf = self.buf.lock();
        let room = self.cap.saturating_sub(buf.len());
        if bytes.len() > room {
            *self.dropped.lock() = true;
        }
        buf.extend_from_slice(&bytes[..bytes.len().min(room)]);
    }

    fn take(&self) -> (Vec<u8>, bool) {
        if !self.dirty.swap(false, std::sync::atomic::Ordering::Acquire) {
            return (Vec::new(), false);
        }
        (std::mem::take(&mut *self.buf.lock()), std::mem::take(&mut *self.dropped.lock()))
    }
}

impl IsTerminal for LogPipe {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for LogPipe {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn tokio::io::AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[wasmtime_wasi::async_trait]
impl Pollable for LogPipe {
    async fn ready(&mut self) {}
}

#[wasmtime_wasi::async_trait]
impl OutputStream for LogPipe {
    fn write(&mut self, bytes: bytes::Bytes) -> StreamResult<()> {
        self.accept(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> StreamResult<()> {
        Ok(())
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        Ok(64 * 1024)
    }
}

impl tokio::io::AsyncWrite for LogPipe {
    fn poll_write(self: Pin<&mut Self>, _cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        self.accept(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

impl WasiView for ComponentHost {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

struct FrozenWallClock;
impl wasmtime_wasi::HostWallClock for FrozenWallClock {
    fn resolution(&self) -> Duration {
        Duration::from_secs(1)
    }
    fn now(&self) -> Duration {
        Duration::ZERO
    }
}

struct FrozenMonotonicClock;
impl wasmtime_wasi::HostMonotonicClock for FrozenMonotonicClock {
    fn resolution(&self) -> u64 {
        1_000_000_000
    }
    fn now(&self) -> u64 {
        0
    }
}

impl ComponentHost {
    pub fn new(ctx: HostCtx, clocks: bool, random: bool, log_cap: usize) -> Self {
        let mut b = WasiCtxBuilder::new();
        b.allow_tcp(false).allow_udp(false).allow_ip_name_lookup(false);
        let (stdout, stderr) = if ctx.write_log {
            let out = LogPipe::new(log_cap);
            let err = LogPipe::new(log_cap);
            b.stdout(out.clone()).stderr(err.clone());
            (Some(out), Some(err))
        } else {
            (None, None)
        };
        if !clocks {
            b.wall_clock(FrozenWallClock).monotonic_clock(FrozenMonotonicClock);
        }
        if !random {
            b.secure_random(wasmtime_wasi::random::Deterministic::new(vec![0x51, 0x75, 0x69, 0x64]));
            b.insecure_random(wasmtime_wasi::random::Deterministic::new(vec![0x64, 0x69, 0x75, 0x51]));
            b.insecure_random_seed(0x5175_6964_6469_7463);
        }
        ComponentHost { ctx, wasi: b.build(), table: ResourceTable::new(), stdout, stderr }
    }

    /// Moves what the guest wrote to stdout/stderr during the last call into the log.
    pub fn drain_stdio(&mut self) {
        for (pipe, level) in [(&self.stdout, LogLevel::Info), (&self.stderr, LogLevel::Error)] {
            let Some(pipe) = pipe else { continue };
            let (bytes, dropped) = pipe.take();
            if dropped {
                self.ctx.log.truncated = true;
            }
            if bytes.is_empty() {
                continue;
            }
            let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
            for line in text.split(|b| *b == b'\n') {
                self.ctx.log.push(level, line);
            }
        }
    }
}

fn to_wit(v: FieldValue<'_>) -> Option<WitValue> {
    Some(match v {
        FieldValue::Missing => return None,
        FieldValue::Bool(b) => WitValue::Boolean(b),
        FieldValue::I64(i) => WitValue::Int(i),
        FieldValue::F64(f) => WitValue::Float(f),
        FieldValue::Str(s) => WitValue::Text(s.into_owned()),
        FieldValue::Json(s) => WitValue::Json(s.into_owned()),
    })
}

impl quidditch::udf::types::Host for ComponentHost {}

impl quidditch::udf::host::Host for ComponentHost {
    fn get_param(&mut self, name: String) -> wasmtime::Result<Option<WitValue>> {
        Ok(self.ctx.params.get(name.as_bytes()).map(|v| match v {
            ParamValue::String(s) => WitValue::Text(s.clone()),
            ParamValue::I64(i) => WitValue::Int(*i),
            ParamValue::F64(f) => WitValue::Float(*f),
            ParamValue::Bool(b) => WitValue::Boolean(*b),
        }))
    }

    fn get_field(&mut self, ctx: u64, path: String) -> wasmtime::Result<Option<WitValue>> {
        self.require_documents("get-field")?;
        let (_, doc) = self.ctx.doc_of("get-field", ctx as i64)?;
        let slot = self.ctx.slot(path.as_bytes());
        Ok(to_wit(self.ctx.read(slot, doc)))
    }

    fn get_field_batch(&mut self, ctxs: Vec<u64>, path: String) -> wasmtime::Result<Vec<Option<WitValue>>> {
        self.require_documents("get-field-batch")?;
        let slot = self.ctx.slot(path.as_bytes());
        let mut out = Vec::with_capacity(ctxs.len());
        for ctx in ctxs {
            let (_, doc) = self.ctx.doc_of("get-field-batch", ctx as i64)?;
            out.push(to_wit(self.ctx.read(slot, doc)));
        }
        Ok(out)
    }

    fn has_field(&mut self, ctx: u64, path: String) -> wasmtime::Result<bool> {
        self.require_documents("has-field")?;
        let (_, doc) = self.ctx.doc_of("has-field", ctx as i64)?;
        let slot = self.ctx.slot(path.as_bytes());
        Ok(!matches!(self.ctx.read(slot, doc), FieldValue::Missing))
    }

    fn document_id(&mut self, ctx: u64) -> wasmtime::Result<String> {
        self.require_documents("document-id")?;
        let (_, doc) = self.ctx.doc_of("document-id", ctx as i64)?;
        Ok(self.ctx.docs.as_mut().and_then(|d| d.document_id(doc)).map(|s| s.into_owned()).unwrap_or_default())
    }

    fn get_score(&mut self, ctx: u64) -> wasmtime::Result<f64> {
        let (pos, _) = self.ctx.doc_of("get-score", ctx as i64)?;
        Ok(self.ctx.batch_scores.get(pos).copied().unwrap_or(0.0) as f64)
    }

    fn log(&mut self, level: WitLogLevel, message: String) -> wasmtime::Result<()> {
        if self.ctx.write_log {
            let level = match level {
                WitLogLevel::Debug => LogLevel::Debug,
                WitLogLevel::Info => LogLevel::Info,
                WitLogLevel::Warn => LogLevel::Warn,
                WitLogLevel::Error => LogLevel::Error,
            };
            self.ctx.log.push(level, message.as_bytes());
        }
        Ok(())
    }
}

/// Builds a `block` column in one pass: packed while every present value has one numeric or
/// boolean kind, per-document values (rebuilt from what was packed so far) once kinds mix or
/// a text/JSON value appears.
struct ColumnBuilder {
    kind: PackedKind,
    data: Vec<u8>,
    present: Vec<u8>,
    missing: u32,
    values: Option<Vec<Option<WitValue>>>,
    len: usize,
}

#[derive(Clone, Copy, PartialEq)]
enum PackedKind {
    Undecided,
    Ints,
    Floats,
    Bools,
}

impl PackedKind {
    fn width(self) -> usize {
        match self {
            PackedKind::Bools => 1,
            _ => 8,
        }
    }
}

impl ColumnBuilder {
    fn new(n: usize) -> Self {
        ColumnBuilder {
            kind: PackedKind::Undecided,
            data: Vec::new(),
            present: vec![0; n.div_ceil(8)],
            missing: 0,
            values: None,
            len: 0,
        }
    }

    fn push(&mut self, v: FieldValue<'_>) {
        let i = self.len;
        self.len += 1;
        if let Some(values) = &mut self.values {
            values.push(to_wit(v));
            return;
        }
        let (kind, bytes): (PackedKind, [u8; 8]) = match v {
            FieldValue::Missing => {
                self.missing += 1;
                if self.kind != PackedKind::Undecided {
                    self.data.resize(self.data.len() + self.kind.width(), 0);
                }
                return;
            }
            FieldValue::I64(x) => (PackedKind::Ints, x.to_le_bytes()),
            FieldValue::F64(x) => (PackedKind::Floats, x.to_le_bytes()),
            FieldValue::Bool(b) => (PackedKind::Bools, [b as u8, 0, 0, 0, 0, 0, 0, 0]),
            other => {
                let mut values = self.unpacked();
                values.push(to_wit(other));
                self.values = Some(values);
                return;
            }
        };
        if self.kind == PackedKind::Undecided {
            self.kind = kind;
            self.data.resize(i * kind.width(), 0);
        } else if self.kind != kind {
            let mut values = self.unpacked();
            values.push(to_wit(match kind {
                PackedKind::Ints => FieldValue::I64(i64::from_le_bytes(bytes)),
                PackedKind::Floats => FieldValue::F64(f64::from_le_bytes(bytes)),
                _ => FieldValue::Bool(bytes[0] != 0),
            }));
            self.values = Some(values);
            return;
        }
        self.data.extend_from_slice(&bytes[..kind.width()]);
        self.present[i >> 3] |= 1 << (i & 7);
    }

    /// What was packed so far (documents `0..len-1`), as per-document values.
    fn unpacked(&self) -> Vec<Option<WitValue>> {
        let done = self.len - 1;
        let mut out = Vec::with_capacity(self.present.len() * 8);
        for i in 0..done {
            if self.present[i >> 3] & (1 << (i & 7)) == 0 {
                out.push(None);
                continue;
            }
            let w = self.kind.width();
            let b = &self.data[i * w..(i + 1) * w];
            out.push(Some(match self.kind {
                PackedKind::Ints => WitValue::Int(i64::from_le_bytes(b.try_into().expect("8 bytes"))),
                PackedKind::Floats => WitValue::Float(f64::from_le_bytes(b.try_into().expect("8 bytes"))),
                _ => WitValue::Boolean(b[0] != 0),
            }));
        }
        out
    }

    fn finish(self) -> Column {
        if let Some(values) = self.values {
            return Column::Values(values);
        }
        let kind = self.kind;
        let mut data = self.data;
        // A column no document has: zeros, as ints.
        data.resize(self.len * kind.width(), 0);
        let packed = Packed { data, present: self.present, missing: self.missing };
        match kind {
            PackedKind::Floats => Column::Floats(packed),
            PackedKind::Bools => Column::Bools(packed),
            PackedKind::Ints | PackedKind::Undecided => Column::Ints(packed),
        }
    }
}

impl python_world::quidditch::udf::block::Host for ComponentHost {
    fn get_field_block(&mut self, path: String) -> wasmtime::Result<Column> {
        self.require_documents("get-field-block")?;
        let slot = self.ctx.slot(path.as_bytes());
        let n = self.ctx.batch_docs.len();
        let mut column = ColumnBuilder::new(n);
        for i in 0..n {
            let doc = self.ctx.batch_docs[i];
            column.push(self.ctx.read(slot, doc));
        }
        Ok(column.finish())
    }
}

impl ComponentHost {
    fn require_documents(&self, import: &'static str) -> wasmtime::Result<()> {
        if self.ctx.read_document {
            Ok(())
        } else {
            Err(trap(import, "the UDF lacks the [read_document] permission"))
        }
    }
}

/// The linker every component is instantiated with.
pub fn linker(engine: &wasmtime::Engine) -> wasmtime::Result<Linker<ComponentHost>> {
    let mut linker = Linker::new(engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker)?;
    Udf::add_to_linker::<ComponentHost, HasSelf<ComponentHost>>(&mut linker, |h| h)?;
    // Only the shared Python runtime imports `block`; other components ignore it.
    python_world::quidditch::udf::block::add_to_linker::<ComponentHost, HasSelf<ComponentHost>>(&mut linker, |h| h)?;
    Ok(linker)
}
