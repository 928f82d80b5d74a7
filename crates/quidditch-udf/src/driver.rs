//! The batch driver: runs a core module that exports only the per-document `filter`/`score`
//! over a block of documents from inside WebAssembly.
//!
//! Entering wasm from the host costs far more than a wasm-to-wasm call, so a per-document UDF
//! called once per document spends most of its time in transitions. The driver is a small
//! generated module, instantiated in the UDF instance's own `Store`, that imports the user's
//! per-document exports and loops over the block: the host writes the block's `ctx` values
//! into the driver's memory, makes one call, and reads the results back. The guest sees the
//! same `ctx` values (`position << 32 | doc`) and host functions as with per-document calls,
//! so results are the same; the per-call time limit covers the block, as for the batched ABI.
//!
//! The driver's memory layout: `ctx[i]` (i64) at `i * 8`, results from [`OUT`] on (i32 per
//! document for `filter`, f64 for `score`). The exported global `pos` is the position being
//! evaluated, so a trap names the document it happened in.
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

/// Documents per driver call (the ctx array and the results fill the one 64 KiB page).
pub(crate) const BLOCK: usize = 4096;

/// Where results start in the driver's memory.
pub(crate) const OUT: usize = BLOCK * 8;

/// The driver's linear memory, granted on top of the UDF's own memory limit.
pub(crate) const MEMORY_BYTES: usize = 65536;

/// The driver's WAT for a module with the per-document `filter` and/or `score` exports.
pub(crate) fn wat(filter: bool, score: bool) -> String {
    let mut w = String::from("(module\n");
    if filter {
        w.push_str("  (import \"udf\" \"filter\" (func $filter (param i64) (result i32)))\n");
    }
    if score {
        w.push_str("  (import \"udf\" \"score\" (func $score (param i64) (result f64)))\n");
    }
    w.push_str("  (memory (export \"memory\") 1 1)\n");
    w.push_str("  (global $pos (export \"pos\") (mut i32) (i32.const 0))\n");
    const CTX: &str = "(i64.load (i32.shl (local.get $i) (i32.const 3)))";
    let block = |export: &str, store: &str, shift: u32, value: &str| {
        format!(
            "  (func (export \"{export}\") (param $n i32) (result i32)\n\
             \x20   (local $i i32)\n\
             \x20   (block $done\n\
             \x20     (loop $next\n\
             \x20       (br_if $done (i32.ge_u (local.get $i) (local.get $n)))\n\
             \x20       (global.set $pos (local.get $i))\n\
             \x20       ({store} offset={OUT} (i32.shl (local.get $i) (i32.const {shift})) {value})\n\
             \x20       (local.set $i (i32.add (local.get $i) (i32.const 1)))\n\
             \x20       (br $next)))\n\
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
    w.push_str(")\n");
    w
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_is_valid_wasm() {
        for (f, s) in [(true, false), (false, true), (true, true)] {
            let text = wat(f, s);
            let binary = wat::parse_str(&text).unwrap_or_else(|e| panic!("{e}\n{text}"));
            wasmtime::Module::validate(&wasmtime::Engine::default(), &binary).expect("a valid module");
        }
    }
}
