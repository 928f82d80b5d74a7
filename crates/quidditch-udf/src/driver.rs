//! The batch driver: runs a core module that exports only the per-document `filter`/`score`
//! over a block of documents from inside WebAssembly, and serves its field reads from
//! WebAssembly memory.
//!
//! Entering wasm from the host costs far more than a wasm-to-wasm call, so a per-document UDF
//! called once per document spends most of its time in transitions. The driver is a small
//! generated module, instantiated in the UDF instance's own `Store`, that imports the user's
//! per-document exports and loops over the block: the host writes the block's `ctx` values
//! into the driver's memory, makes one call, and reads the results back. The guest sees the
//! same `ctx` values (`position << 32 | doc`) and host functions as with per-document calls,
//! so results are the same; the per-call time limit covers the block, as for the batched ABI.
//!
//! # Served field reads
//!
//! A per-document UDF's field reads (`get_field_f64`, `get_field_i64`, `get_field_bool`,
//! `has_field`, `get_score`) would still be one wasm→host call per document and field, about
//! half of what a driven document costs. So the module's imports of those five are linked to
//! a tiny generated *reads* module instantiated before it ([`READS_WAT`]): each function is a
//! `call_indirect` through its table, whose slots first hold the host functions and, once the
//! driver exists, the driver's own implementations. The driver imports the UDF's memory and
//! keeps, per field path and read kind it has seen, the values of every document of the block
//! in its memory: before each block the host reads those fields for the whole block
//! ([`ServedReads::prefill`]) and the guest's reads become two wasm-to-wasm calls, a name
//! compare and a load. Anything unusual goes to the host function with the same arguments,
//! which answers (or traps) exactly as without the driver: a ctx not of this block, a pointer
//! or length outside the UDF's memory, no block running, a path the documents cannot read
//! cheaply for a whole block (`_source`, keyword strings: [`DocumentAccess::prefetchable`]),
//! more paths than the cache holds. The first read of a new path in a block asks the host to
//! add it (`learn`); the values then come from the same conversions the host functions use
//! ([`encode`]), so the answers are the same.
//!
//! The driver's memory layout (block of [`BLOCK`] documents): `ctx[i]` (i64) at `i * 8`,
//! results from [`OUT`] on (i32 per document for `filter`, f64 for `score`), scores (f64) at
//! [`SCORES`], the cache of field reads from [`ENTRIES`] (entry count, then per entry: name
//! offset, name length, kind, served), names at [`NAMES`], and per entry the block's values
//! (8 bytes per document) followed by their return codes (1 byte per document) from
//! [`VALUES`]. The exported global `pos` is the position being evaluated, so a trap names the
//! document it happened in.
//!
//! [`DocumentAccess::prefetchable`]: crate::document::DocumentAccess::prefetchable
//!
//! Components are not driven. A component's `filter`/`score` are lifted functions of the
//! component model: the host calls them through the canonical ABI, and no core module can
//! import them (a component instance exposes no core exports; wasmtime's core `Linker` links
//! core instances only). Driving them from inside WebAssembly would take a generated driver
//! *component* composed with the user's at upload (wasm-compose/WAC: a new dependency and a
//! composition plus recompilation per upload), and its calls would still be cross-component
//! canonical-ABI calls lowering `result<bool, string>` per document — cheaper than a host
//! entry, not the plain wasm-to-wasm call this driver makes. The WIT world instead lets a
//! component export `filter-batch`/`score-batch` (declared in `capabilities()`), and Python
//! UDFs, the components most users write, run on the shared runtime, whose packed
//! `filter-block`/`score-block` exports already take a block per call. A component with only
//! per-document exports therefore runs one host call per document (`docs/udf-abi.md`).

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use wasmtime::{Caller, Linker, Memory, Store};

use crate::document::{FieldSlot, FieldValue};
use crate::engine::WasmEngine;
use crate::host::{HostCtx, as_bool, as_f64, as_i64, rc};

/// Documents per driver call (the engine's block size).
pub(crate) const BLOCK: usize = 512;

/// Where results start in the driver's memory.
pub(crate) const OUT: usize = BLOCK * 8;

/// Where the block's scores (f64) start.
pub(crate) const SCORES: usize = BLOCK * 16;

/// The cache of field reads: the entry count (i32), then [`MAX_ENTRIES`] records of
/// [`ENTRY_RECORD`] bytes.
pub(crate) const ENTRIES: usize = BLOCK * 24;

/// Distinct (path, kind) pairs served from memory per segment; further ones go to the host.
pub(crate) const MAX_ENTRIES: usize = 16;

/// name offset, name length, kind, served (i32 each).
const ENTRY_RECORD: usize = 16;

/// Where the cached paths' bytes are ([`MAX_NAME`] bytes per entry).
pub(crate) const NAMES: usize = ENTRIES + 16 + MAX_ENTRIES * ENTRY_RECORD;

/// Longest path served from memory.
pub(crate) const MAX_NAME: usize = 64;

/// Where the entries' values start, [`ENTRY_BYTES`] per entry.
pub(crate) const VALUES: usize = NAMES + MAX_ENTRIES * MAX_NAME;

/// Values (8 bytes per document), then return codes (1 byte per document).
pub(crate) const ENTRY_BYTES: usize = BLOCK * 9;

/// The driver's linear memory, granted on top of the UDF's own memory limit.
pub(crate) const MEMORY_BYTES: usize = 2 * 65536;

const _: () = assert!(VALUES + MAX_ENTRIES * ENTRY_BYTES <= MEMORY_BYTES);

/// How a served import reads a field: the kind is part of the cache key, as each converts
/// the value its own way.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ReadKind {
    F64 = 0,
    I64 = 1,
    Bool = 2,
    Has = 3,
}

impl ReadKind {
    fn from_i32(k: i32) -> Option<ReadKind> {
        match k {
            0 => Some(ReadKind::F64),
            1 => Some(ReadKind::I64),
            2 => Some(ReadKind::Bool),
            3 => Some(ReadKind::Has),
            _ => None,
        }
    }
}

/// The imports of module `env` the driver can serve, in the order of the reads module's table.
pub(crate) const SERVED: [&str; 5] = ["get_field_f64", "get_field_i64", "get_field_bool", "has_field", "get_score"];

/// The reads module: the UDF's served imports, each a `call_indirect` through slot `k` of
/// the exported table `reads` (the host function until the driver takes over).
pub(crate) const READS_WAT: &str = r#"(module
  (type $field (func (param i64 i32 i32 i32) (result i32)))
  (type $has (func (param i64 i32 i32) (result i32)))
  (type $score (func (param i64) (result f64)))
  (table (export "reads") 5 5 funcref)
  (func (export "get_field_f64") (type $field)
    (call_indirect (type $field) (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 0)))
  (func (export "get_field_i64") (type $field)
    (call_indirect (type $field) (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 1)))
  (func (export "get_field_bool") (type $field)
    (call_indirect (type $field) (local.get 0) (local.get 1) (local.get 2) (local.get 3) (i32.const 2)))
  (func (export "has_field") (type $has)
    (call_indirect (type $has) (local.get 0) (local.get 1) (local.get 2) (i32.const 3)))
  (func (export "get_score") (type $score)
    (call_indirect (type $score) (local.get 0) (i32.const 4))))
"#;

/// The driver's WAT for a module with the per-document `filter` and/or `score` exports;
/// `serve` adds the served field reads (the UDF's memory imported as `udf.memory`).
pub(crate) fn wat(filter: bool, score: bool, serve: bool) -> String {
    let mut w = String::from("(module\n");
    if filter {
        w.push_str("  (import \"udf\" \"filter\" (func $filter (param i64) (result i32)))\n");
    }
    if score {
        w.push_str("  (import \"udf\" \"score\" (func $score (param i64) (result f64)))\n");
    }
    if serve {
        w.push_str(
            "  (import \"udf\" \"memory\" (memory $udf 0))\n\
             \x20 (import \"env\" \"get_field_f64\" (func $host_get_field_f64 (param i64 i32 i32 i32) (result i32)))\n\
             \x20 (import \"env\" \"get_field_i64\" (func $host_get_field_i64 (param i64 i32 i32 i32) (result i32)))\n\
             \x20 (import \"env\" \"get_field_bool\" (func $host_get_field_bool (param i64 i32 i32 i32) (result i32)))\n\
             \x20 (import \"env\" \"has_field\" (func $host_has_field (param i64 i32 i32) (result i32)))\n\
             \x20 (import \"env\" \"get_score\" (func $host_get_score (param i64) (result f64)))\n\
             \x20 (import \"quidditch_driver\" \"learn\" (func $learn (param i32 i32 i32) (result i32)))\n",
        );
    }
    let _ = writeln!(w, "  (memory $blk (export \"memory\") {pages} {pages})", pages = MEMORY_BYTES / 65536);
    w.push_str("  (global $pos (export \"pos\") (mut i32) (i32.const 0))\n");
    // The block being run (documents, and the position of its first one in the host's call);
    // `$n` is 0 outside a block, which sends every served read to the host.
    w.push_str("  (global $n (mut i32) (i32.const 0))\n  (global $base (mut i32) (i32.const 0))\n");
    const CTX: &str = "(i64.load $blk (i32.shl (local.get $i) (i32.const 3)))";
    let block = |export: &str, store: &str, shift: u32, value: &str| {
        format!(
            "  (func (export \"{export}\") (param $n i32) (param $base i32) (result i32)\n\
             \x20   (local $i i32)\n\
             \x20   (global.set $n (local.get $n))\n\
             \x20   (global.set $base (local.get $base))\n\
             \x20   (block $done\n\
             \x20     (loop $next\n\
             \x20       (br_if $done (i32.ge_u (local.get $i) (local.get $n)))\n\
             \x20       (global.set $pos (local.get $i))\n\
             \x20       ({store} $blk offset={OUT} (i32.shl (local.get $i) (i32.const {shift})) {value})\n\
             \x20       (local.set $i (i32.add (local.get $i) (i32.const 1)))\n\
             \x20       (br $next)))\n\
             \x20   (global.set $n (i32.const 0))\n\
             \x20   (i32.const 0))\n"
        )
    };
    if filter {
        // Normalized to 0/1 (the host reads `!= 0` either way).
        w.push_str(&block("filter_block", "i32.store", 2, &format!("(i32.ne (i32.const 0) (call $filter {CTX}))")));
    }
    if score {
        w.push_str(&block("score_block", "f64.store", 3, &format!("(call $score {CTX})")));
    }
    if serve {
        served_functions(&mut w);
    }
    w.push_str(")\n");
    w
}

/// The driver's implementations of [`SERVED`] (see the module docs), exported under the
/// same names.
fn served_functions(w: &mut String) {
    let status = BLOCK * 8;
    let count = ENTRIES;
    let records = ENTRIES + 16;
    // $find: the entry index of (path, kind) if it is served, else -1; a path not cached yet
    // is learnt from the host.
    let _ = write!(
        w,
        "  (func $find (param $np i32) (param $nl i32) (param $kind i32) (result i32)\n\
         \x20   (local $e i32) (local $rec i32) (local $j i32) (local $off i32)\n\
         \x20   (block $miss\n\
         \x20     (loop $entry\n\
         \x20       (br_if $miss (i32.ge_u (local.get $e) (i32.load $blk (i32.const {count}))))\n\
         \x20       (local.set $rec (i32.add (i32.const {records}) (i32.shl (local.get $e) (i32.const 4))))\n\
         \x20       (if (i32.and (i32.eq (i32.load $blk offset=8 (local.get $rec)) (local.get $kind))\n\
         \x20                    (i32.eq (i32.load $blk offset=4 (local.get $rec)) (local.get $nl)))\n\
         \x20         (then\n\
         \x20           (local.set $off (i32.load $blk (local.get $rec)))\n\
         \x20           (local.set $j (i32.const 0))\n\
         \x20           (block $differ\n\
         \x20             ;; 1 to 8 bytes with 8 readable at $np: one masked 8-byte compare.\n\
         \x20             (if (i32.and (i32.le_u (i32.sub (local.get $nl) (i32.const 1)) (i32.const 7))\n\
         \x20                          (i64.le_u (i64.add (i64.extend_i32_u (local.get $np)) (i64.const 8))\n\
         \x20                                    (i64.shl (i64.extend_i32_u (memory.size $udf)) (i64.const 16))))\n\
         \x20               (then\n\
         \x20                 (br_if $differ (i64.ne (i64.const 0)\n\
         \x20                   (i64.and (i64.xor (i64.load $udf (local.get $np)) (i64.load $blk (local.get $off)))\n\
         \x20                            (i64.shr_u (i64.const -1)\n\
         \x20                                       (i64.extend_i32_u (i32.sub (i32.const 64) (i32.shl (local.get $nl) (i32.const 3))))))))\n\
         \x20                 (return (select (local.get $e) (i32.const -1) (i32.load $blk offset=12 (local.get $rec))))))\n\
         \x20             (loop $byte\n\
         \x20               (if (i32.ge_u (local.get $j) (local.get $nl))\n\
         \x20                 (then (return (select (local.get $e) (i32.const -1) (i32.load $blk offset=12 (local.get $rec))))))\n\
         \x20               (br_if $differ (i32.ne (i32.load8_u $udf (i32.add (local.get $np) (local.get $j)))\n\
         \x20                                      (i32.load8_u $blk (i32.add (local.get $off) (local.get $j)))))\n\
         \x20               (local.set $j (i32.add (local.get $j) (i32.const 1)))\n\
         \x20               (br $byte)))))\n\
         \x20       (local.set $e (i32.add (local.get $e) (i32.const 1)))\n\
         \x20       (br $entry)))\n\
         \x20   (call $learn (local.get $kind) (local.get $np) (local.get $nl)))\n"
    );
    // The chunk position of `ctx`, or a jump to $host when it is not a ctx of this block.
    let position = "      (local.set $i (i32.sub (i32.wrap_i64 (i64.shr_u (local.get $ctx) (i64.const 32))) (global.get $base)))\n\
                    \x20     (br_if $host (i32.ge_u (local.get $i) (global.get $n)))\n\
                    \x20     (br_if $host (i64.ne (i64.load $blk (i32.shl (local.get $i) (i32.const 3))) (local.get $ctx)))\n";
    // `[ptr, ptr + len)` inside the UDF's memory (64-bit sums: no wrap-around).
    let fits = |ptr: &str, len: &str| {
        format!(
            "      (br_if $host (i64.gt_u (i64.add (i64.extend_i32_u {ptr}) (i64.extend_i32_u {len}))\n\
             \x20                            (i64.shl (i64.extend_i32_u (memory.size $udf)) (i64.const 16))))\n"
        )
    };
    let name = format!("      (br_if $host (i32.lt_s (local.get $nl) (i32.const 0)))\n{}", fits("(local.get $np)", "(local.get $nl)"));
    let find = |kind: ReadKind| {
        format!(
            "      (local.set $at (call $find (local.get $np) (local.get $nl) (i32.const {})))\n\
             \x20     (br_if $host (i32.lt_s (local.get $at) (i32.const 0)))\n\
             \x20     (local.set $at (i32.add (i32.const {VALUES}) (i32.mul (local.get $at) (i32.const {ENTRY_BYTES}))))\n\
             \x20     (local.set $rc (i32.load8_u $blk offset={status} (i32.add (local.get $at) (local.get $i))))\n",
            kind as i32
        )
    };
    for (import, kind, width, store) in
        [("get_field_f64", ReadKind::F64, 8, "i64"), ("get_field_i64", ReadKind::I64, 8, "i64"), ("get_field_bool", ReadKind::Bool, 4, "i32")]
    {
        let _ = write!(
            w,
            "  (func (export \"{import}\") (param $ctx i64) (param $np i32) (param $nl i32) (param $out i32) (result i32)\n\
             \x20   (local $i i32) (local $at i32) (local $rc i32)\n\
             \x20   (block $host\n\
             {position}{out}{name}{find}\
             \x20     (if (i32.eqz (local.get $rc))\n\
             \x20       (then ({store}.store $udf (local.get $out)\n\
             \x20               ({store}.load $blk (i32.add (local.get $at) (i32.shl (local.get $i) (i32.const 3)))))))\n\
             \x20     (return (local.get $rc)))\n\
             \x20   (call $host_{import} (local.get $ctx) (local.get $np) (local.get $nl) (local.get $out)))\n",
            out = fits("(local.get $out)", &format!("(i32.const {width})")),
            find = find(kind),
        );
    }
    let _ = write!(
        w,
        "  (func (export \"has_field\") (param $ctx i64) (param $np i32) (param $nl i32) (result i32)\n\
         \x20   (local $i i32) (local $at i32) (local $rc i32)\n\
         \x20   (block $host\n\
         {position}{name}{find}\
         \x20     (return (i32.eqz (local.get $rc))))\n\
         \x20   (call $host_has_field (local.get $ctx) (local.get $np) (local.get $nl)))\n\
         \x20 (func (export \"get_score\") (param $ctx i64) (result f64)\n\
         \x20   (local $i i32)\n\
         \x20   (block $host\n\
         {position}\
         \x20     (return (f64.load $blk offset={SCORES} (i32.shl (local.get $i) (i32.const 3)))))\n\
         \x20   (call $host_get_score (local.get $ctx)))\n",
        find = find(ReadKind::Has),
    );
}

/// A value as the served import returns it: 8 value bytes (little-endian; an i32 for
/// `Bool`) and the return code — the conversions of the host functions themselves.
#[inline]
pub(crate) fn encode(kind: ReadKind, v: &FieldValue<'_>) -> (u64, u8) {
    let (bits, code) = match kind {
        ReadKind::F64 => as_f64(v).map(f64::to_bits),
        ReadKind::I64 => as_i64(v).map(|i| i as u64),
        ReadKind::Bool => as_bool(v).map(|b| b as u64),
        ReadKind::Has => {
            if matches!(v, FieldValue::Missing) {
                Err(rc::NOT_FOUND)
            } else {
                Ok(0)
            }
        }
    }
    .map_or_else(|code| (0, code), |bits| (bits, rc::OK));
    (bits, code as u8)
}

/// One cached (path, kind) of the served reads.
#[derive(Debug, Clone, Copy)]
struct Entry {
    slot: FieldSlot,
    kind: ReadKind,
    served: bool,
}

/// Host-side state of the served reads of one instance (in its `HostCtx`).
pub(crate) struct ServedReads {
    /// The driver's memory.
    pub memory: Memory,
    /// For the `driver_served_fields` counter.
    engine: Arc<WasmEngine>,
    entries: Vec<Entry>,
    /// The block being run: its first position in the host's call and its length.
    block: (usize, usize),
    /// Whether the UDF imports `get_score` (the block's scores are then written).
    scores: bool,
}

impl ServedReads {
    pub fn new(memory: Memory, scores: bool, engine: Arc<WasmEngine>) -> ServedReads {
        ServedReads { memory, engine, entries: Vec::with_capacity(MAX_ENTRIES), block: (0, 0), scores }
    }

    /// New documents: cached slots no longer apply (the next prefill empties the cache).
    pub fn forget(&mut self) {
        self.entries.clear();
    }

    /// Before the driver runs positions `base..base + n` of the call: the values of every
    /// cached path for those documents, and their scores, into the driver's memory.
    pub fn prefill(store: &mut Store<HostCtx>, base: usize, n: usize) {
        let Some(mut served) = store.data_mut().served.take() else { return };
        served.block = (base, n);
        let (mem, host) = served.memory.data_and_store_mut(&mut *store);
        mem[ENTRIES..ENTRIES + 4].copy_from_slice(&(served.entries.len() as u32).to_le_bytes());
        for (k, e) in served.entries.iter().enumerate() {
            if e.served {
                fill(mem, k, *e, host, base, n);
            }
        }
        if served.scores {
            for (i, s) in host.batch_scores[base..base + n].iter().enumerate() {
                let at = SCORES + i * 8;
                mem[at..at + 8].copy_from_slice(&(*s as f64).to_le_bytes());
            }
        }
        host.served = Some(served);
    }

    /// The driver's `learn(kind, name_ptr, name_len)`: caches a path first read in this
    /// block (its values for the block, when the documents can read it cheaply) and returns
    /// its entry index if served, else -1 (the host function answers).
    fn learn(mut caller: Caller<'_, HostCtx>, kind: i32, np: i32, nl: i32) -> i32 {
        let Some(kind) = ReadKind::from_i32(kind) else { return -1 };
        let Some(mut served) = caller.data_mut().served.take() else { return -1 };
        let k = served.add(&mut caller, kind, np, nl);
        caller.data_mut().served = Some(served);
        k
    }

    fn add(&mut self, caller: &mut Caller<'_, HostCtx>, kind: ReadKind, np: i32, nl: i32) -> i32 {
        let k = self.entries.len();
        let (base, n) = self.block;
        if k >= MAX_ENTRIES || n == 0 || nl < 0 || nl as usize > MAX_NAME {
            return -1;
        }
        let Some(udf_memory) = caller.data().memory else { return -1 };
        let mut name = [0u8; MAX_NAME];
        let len = nl as usize;
        {
            let bytes = udf_memory.data(&*caller);
            let start = np as u32 as usize;
            let Some(src) = start.checked_add(len).and_then(|end| bytes.get(start..end)) else { return -1 };
            name[..len].copy_from_slice(src);
        }
        let (mem, host) = self.memory.data_and_store_mut(&mut *caller);
        let slot = host.slot(&name[..len]);
        let served = slot == FieldSlot::MISSING || host.docs.as_ref().is_some_and(|d| d.prefetchable(slot));
        let entry = Entry { slot, kind, served };
        let name_at = NAMES + k * MAX_NAME;
        mem[name_at..name_at + len].copy_from_slice(&name[..len]);
        let rec = ENTRIES + 16 + k * ENTRY_RECORD;
        for (i, v) in [name_at as u32, len as u32, kind as u32, served as u32].into_iter().enumerate() {
            mem[rec + i * 4..rec + i * 4 + 4].copy_from_slice(&v.to_le_bytes());
        }
        if served {
            fill(mem, k, entry, host, base, n);
            self.engine.counters.driver_served_fields.fetch_add(1, Ordering::Relaxed);
        }
        self.entries.push(entry);
        mem[ENTRIES..ENTRIES + 4].copy_from_slice(&(self.entries.len() as u32).to_le_bytes());
        if served { k as i32 } else { -1 }
    }
}

/// Entry `k`'s values for positions `base..base + n` of the call.
fn fill(mem: &mut [u8], k: usize, e: Entry, host: &mut HostCtx, base: usize, n: usize) {
    let values = VALUES + k * ENTRY_BYTES;
    let codes = values + BLOCK * 8;
    let docs = &host.batch_docs[base..base + n];
    let access = host.docs.as_mut();
    match access {
        Some(access) if e.slot != FieldSlot::MISSING => {
            for (i, &doc) in docs.iter().enumerate() {
                let (bits, code) = encode(e.kind, &access.read(e.slot, doc));
                mem[values + i * 8..values + i * 8 + 8].copy_from_slice(&bits.to_le_bytes());
                mem[codes + i] = code;
            }
        }
        _ => {
            let (_, code) = encode(e.kind, &FieldValue::Missing);
            mem[codes..codes + n].fill(code);
        }
    }
}

/// The host side of the driver (`quidditch_driver.learn`). Only the driver can import it:
/// uploads importing anything outside `env` and WASI are refused.
pub(crate) fn add_to_linker(linker: &mut Linker<HostCtx>) -> wasmtime::Result<()> {
    linker.func_wrap("quidditch_driver", "learn", ServedReads::learn)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_is_valid_wasm() {
        let engine = wasmtime::Engine::default();
        for (f, s) in [(true, false), (false, true), (true, true)] {
            for serve in [false, true] {
                let text = wat(f, s, serve);
                let binary = wat::parse_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
                wasmtime::Module::validate(&engine, &binary).unwrap_or_else(|e| panic!("{e}\n{text}"));
            }
        }
        let reads = wat::parse_str(READS_WAT).expect("the reads module parses");
        wasmtime::Module::validate(&engine, &reads).expect("a valid reads module");
    }

    #[test]
    fn encode_matches_the_host_conversions() {
        assert_eq!(encode(ReadKind::F64, &FieldValue::I64(3)), (3.0f64.to_bits(), 0));
        assert_eq!(encode(ReadKind::I64, &FieldValue::F64(2.5)), (0, rc::TYPE_MISMATCH as u8));
        assert_eq!(encode(ReadKind::Bool, &FieldValue::Bool(true)), (1, 0));
        assert_eq!(encode(ReadKind::Has, &FieldValue::Missing), (0, rc::NOT_FOUND as u8));
        assert_eq!(encode(ReadKind::Has, &FieldValue::Str("x".into())), (0, 0));
    }
}
