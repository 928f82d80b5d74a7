//! The component host: the WIT world `quidditch:udf/udf` (`wit/quidditch-udf.wit`) plus WASI
//! preview 2 with a capability-less context (no preopens, no network, empty environment,
//! stdout/stderr captured into the UDF log; fixed clocks and random unless granted).

use std::time::Duration;

use wasmtime::component::{HasSelf, Linker, ResourceTable};
use wasmtime_wasi::p2::pipe::MemoryOutputPipe;
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

/// Store data of a component instance.
pub struct ComponentHost {
    pub ctx: HostCtx,
    wasi: WasiCtx,
    table: ResourceTable,
    stdout: Option<(MemoryOutputPipe, usize)>,
    stderr: Option<(MemoryOutputPipe, usize)>,
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
            let out = MemoryOutputPipe::new(log_cap * 4);
            let err = MemoryOutputPipe::new(log_cap * 4);
            b.stdout(out.clone()).stderr(err.clone());
            (Some((out, 0)), Some((err, 0)))
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

    /// Moves what the guest wrote to stdout/stderr since the last call into the log.
    pub fn drain_stdio(&mut self) {
        for (pipe, level) in [(&mut self.stdout, LogLevel::Info), (&mut self.stderr, LogLevel::Error)] {
            if let Some((p, taken)) = pipe.as_mut() {
                let all = p.contents();
                if all.len() > *taken {
                    let new = &all[*taken..];
                    *taken = all.len();
                    let text = new.strip_suffix(b"\n").unwrap_or(new);
                    for line in text.split(|b| *b == b'\n') {
                        self.ctx.log.push(level, line);
                    }
                }
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
    Ok(linker)
}
