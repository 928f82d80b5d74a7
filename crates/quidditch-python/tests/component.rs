//! Builds the shared Python runtime with the real componentize-py and runs UDF modules on it in
//! wasmtime against a minimal in-test host of the `quidditch:udf/python-runtime` world, to check
//! the adapter's behaviour (module loading, document/params access, packed blocks, logging,
//! errors, limits) independently of the server.
//!
//! Needs componentize-py: `$QUIDDITCH_COMPONENTIZE_PY`, the repository's `.venv/bin`, or PATH
//! (scripts/setup.sh installs it). The runtime is built once per test binary.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::OnceLock;
use std::time::Instant;

use quidditch_python::PythonCompiler;
use serde_json::{Value as Json, json};
use wasmtime::component::{Component, HasSelf, Linker, ResourceTable};
use wasmtime::{Config, Engine, Store, StoreLimits, StoreLimitsBuilder};
use wasmtime_wasi::{WasiCtx, WasiCtxView, WasiView};

wasmtime::component::bindgen!({
    path: "../../wit/quidditch-udf.wit",
    world: "python-runtime",
});

use quidditch::udf::block::{Column, Packed};
use quidditch::udf::types::{LogLevel, Value};

const SOURCE: &str = r#"
"""Adapter test UDF."""
# @udf: name=adapter_test
import json
import math
import re

def filter(doc, params, min_price: int = 10, word: str = "") -> bool:
    if doc.get("boom"):
        raise ValueError("boom " + doc.id)
    if doc.get("exit"):
        import sys
        sys.exit(3)
    if doc.get("spin"):
        while True:
            pass
    if doc.get("hog"):
        hog = []
        while True:
            hog.append(bytearray(1 << 20))
    if "hidden" in doc:
        return False
    print("checking", doc.id)
    if doc.id == "0":
        log("warned", level="warn")
    ok = doc.get("price", 0) >= min_price
    if word:
        ok = ok and word in doc["tags"]
    return ok

def score(doc, params):
    return doc.score * params.get("factor", 2.0) + len(doc.get("title", "")) + math.sqrt(4)
"#;

fn compiler() -> PythonCompiler {
    if std::env::var_os(quidditch_python::TOOL_ENV).is_some() {
        return PythonCompiler::from_env();
    }
    let venv = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/componentize-py");
    if venv.exists() { PythonCompiler::with_tool(venv) } else { PythonCompiler::from_env() }
}

struct Compiled {
    engine: Engine,
    component: Component,
}

fn compiled() -> &'static Compiled {
    static COMPILED: OnceLock<Compiled> = OnceLock::new();
    COMPILED.get_or_init(|| {
        let started = Instant::now();
        let wasm = compiler().toolchain().build_runtime().unwrap_or_else(|e| panic!("{e}"));
        eprintln!("componentize-py: runtime of {} bytes in {:?}", wasm.len(), started.elapsed());
        let mut config = Config::new();
        config.epoch_interruption(true);
        let engine = Engine::new(&config).expect("engine");
        let started = Instant::now();
        let component = Component::new(&engine, &wasm).expect("valid component");
        eprintln!("wasmtime compile: {:?}", started.elapsed());
        Compiled { engine, component }
    })
}

struct Host {
    docs: Vec<Json>,
    /// Doc ids of the current block call (what the real host keeps for `get-field-block`).
    block: Vec<u32>,
    params: HashMap<String, Json>,
    logs: Vec<(LogLevel, String)>,
    field_calls: usize,
    batch_calls: usize,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl Host {
    fn new(docs: Vec<Json>, params: Json) -> Self {
        let params = params.as_object().cloned().unwrap_or_default().into_iter().collect();
        Host {
            docs,
            block: Vec::new(),
            params,
            logs: Vec::new(),
            field_calls: 0,
            batch_calls: 0,
            wasi: WasiCtx::builder().build(),
            table: ResourceTable::new(),
            limits: StoreLimitsBuilder::new().memory_size(256 << 20).build(),
        }
    }

    /// `ctx` is `position << 32 | doc id`; the doc id indexes `docs`.
    fn field(&self, ctx: u64, path: &str) -> Option<Value> {
        to_value(self.docs.get(ctx as u32 as usize)?.get(path)?)
    }
}

fn to_value(v: &Json) -> Option<Value> {
    Some(match v {
        Json::Null => return None,
        Json::Bool(b) => Value::Boolean(*b),
        Json::Number(n) => match n.as_i64() {
            Some(i) => Value::Int(i),
            None => Value::Float(n.as_f64()?),
        },
        Json::String(s) => Value::Text(s.clone()),
        other => Value::Json(other.to_string()),
    })
}

impl WasiView for Host {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView { ctx: &mut self.wasi, table: &mut self.table }
    }
}

impl quidditch::udf::types::Host for Host {}

impl quidditch::udf::host::Host for Host {
    fn get_param(&mut self, name: String) -> Option<Value> {
        to_value(self.params.get(&name)?)
    }
    fn get_field(&mut self, ctx: u64, path: String) -> Option<Value> {
        self.field_calls += 1;
        self.field(ctx, &path)
    }
    fn get_field_batch(&mut self, ctxs: Vec<u64>, path: String) -> Vec<Option<Value>> {
        self.batch_calls += 1;
        ctxs.iter().map(|&c| self.field(c, &path)).collect()
    }
    fn has_field(&mut self, ctx: u64, path: String) -> bool {
        self.field(ctx, &path).is_some()
    }
    fn document_id(&mut self, ctx: u64) -> String {
        (ctx as u32).to_string()
    }
    fn get_score(&mut self, ctx: u64) -> f64 {
        (ctx as u32) as f64 + 0.5
    }
    fn log(&mut self, level: LogLevel, message: String) {
        self.logs.push((level, message));
    }
}

impl quidditch::udf::block::Host for Host {
    /// Packed like the server: ints/floats/bools when every present value has that kind.
    fn get_field_block(&mut self, path: String) -> Column {
        self.batch_calls += 1;
        let values: Vec<Option<Value>> = self.block.iter().map(|&d| self.field(d as u64, &path)).collect();
        let kind = |v: &Value| match v {
            Value::Int(_) => 0,
            Value::Float(_) => 1,
            Value::Boolean(_) => 2,
            _ => 3,
        };
        let kinds: Vec<u8> = values.iter().flatten().map(kind).collect();
        let k = kinds.first().copied().unwrap_or(0);
        if k == 3 || kinds.iter().any(|&x| x != k) {
            return Column::Values(values);
        }
        let mut present = vec![0u8; values.len().div_ceil(8)];
        let mut data = Vec::new();
        for (i, v) in values.iter().enumerate() {
            match v {
                None if k == 2 => data.push(0),
                None => data.extend([0u8; 8]),
                Some(Value::Int(x)) => data.extend(x.to_le_bytes()),
                Some(Value::Float(x)) => data.extend(x.to_le_bytes()),
                Some(Value::Boolean(b)) => data.push(*b as u8),
                Some(_) => unreachable!(),
            }
            if v.is_some() {
                present[i >> 3] |= 1 << (i & 7);
            }
        }
        let missing = values.iter().filter(|v| v.is_none()).count() as u32;
        let packed = Packed { data, present, missing };
        match k {
            1 => Column::Floats(packed),
            2 => Column::Bools(packed),
            _ => Column::Ints(packed),
        }
    }
}

fn instantiate_runtime(docs: Vec<Json>, params: Json) -> (Store<Host>, PythonRuntime) {
    let c = compiled();
    let mut linker = Linker::<Host>::new(&c.engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi");
    PythonRuntime::add_to_linker::<_, HasSelf<_>>(&mut linker, |h| h).expect("host");
    let mut store = Store::new(&c.engine, Host::new(docs, params));
    store.limiter(|h| &mut h.limits);
    store.set_epoch_deadline(1_000_000);
    let started = Instant::now();
    let udf = PythonRuntime::instantiate(&mut store, &c.component, &linker).expect("instantiate");
    eprintln!("instantiate: {:?}", started.elapsed());
    (store, udf)
}

fn instantiate(docs: Vec<Json>, params: Json) -> (Store<Host>, PythonRuntime) {
    let (mut store, udf) = instantiate_runtime(docs, params);
    let started = Instant::now();
    udf.call_load_module(&mut store, SOURCE).expect("no trap").expect("loads");
    eprintln!("load-module: {:?}", started.elapsed());
    (store, udf)
}

/// `filter-block` over doc ids (what the server calls inside a search).
fn filter_block(store: &mut Store<Host>, udf: &PythonRuntime, ids: &[u32]) -> Result<Vec<bool>, String> {
    store.data_mut().block = ids.to_vec();
    let bytes: Vec<u8> = ids.iter().flat_map(|d| d.to_le_bytes()).collect();
    udf.call_filter_block(&mut *store, &bytes).expect("no trap").map(|r| r.into_iter().map(|b| b != 0).collect())
}

fn score_block(store: &mut Store<Host>, udf: &PythonRuntime, ids: &[u32]) -> Result<Vec<f64>, String> {
    store.data_mut().block = ids.to_vec();
    let bytes: Vec<u8> = ids.iter().flat_map(|d| d.to_le_bytes()).collect();
    udf.call_score_block(&mut *store, &bytes)
        .expect("no trap")
        .map(|r| r.chunks_exact(8).map(|b| f64::from_le_bytes(b.try_into().unwrap())).collect())
}

fn docs() -> Vec<Json> {
    vec![
        json!({"price": 5, "title": "a", "tags": ["x", "y"]}),
        json!({"price": 20, "title": "bbb", "tags": ["y"]}),
        json!({"price": 30, "hidden": 1, "tags": []}),
        json!({"title": "no price"}),
        json!({"price": 12.5, "tags": ["x"]}),
    ]
}

#[test]
fn load_module_reports_capabilities() {
    let (mut store, udf) = instantiate_runtime(docs(), json!({}));
    let caps = udf.call_load_module(&mut store, SOURCE).unwrap().unwrap();
    assert_eq!(caps, vec!["filter", "filter-batch", "score", "score-batch"]);
    assert_eq!(udf.call_capabilities(&mut store).unwrap(), caps);
    // One module per instance.
    assert!(udf.call_load_module(&mut store, SOURCE).unwrap().is_err());
    let (mut store, udf) = instantiate_runtime(docs(), json!({}));
    let caps = udf.call_load_module(&mut store, "def score(doc):\n    return 1.0\n").unwrap().unwrap();
    assert_eq!(caps, vec!["score", "score-batch"]);
}

#[test]
fn syntax_errors_are_cpythons() {
    let (mut store, udf) = instantiate_runtime(docs(), json!({}));
    let err = udf.call_load_module(&mut store, "def filter(doc):\n    return (doc[\n").unwrap().unwrap_err();
    assert_eq!(err.kind, "syntax");
    assert_eq!((err.line, err.column), (2, 16));
    assert_eq!(err.message, "'[' was never closed");
}

#[test]
fn exception_at_import_names_the_line_and_keeps_user_frames() {
    let (mut store, udf) = instantiate_runtime(docs(), json!({}));
    let source = "import json\nX = json.loads('{bad')\n\ndef filter(doc):\n    return True\n";
    let err = udf.call_load_module(&mut store, source).unwrap().unwrap_err();
    assert_eq!(err.kind, "exception");
    assert_eq!(err.line, 2);
    assert!(err.message.starts_with("JSONDecodeError: "), "{}", err.message);
    assert!(err.traceback.starts_with("Traceback (most recent call last):\n  File \"<udf>\", line 2"), "{}", err.traceback);
    assert!(!err.traceback.contains("quidditch_adapter"), "{}", err.traceback);
}

#[test]
fn module_globals_start_fresh_in_every_instance() {
    let source = "COUNT = [0]\n\ndef score(doc):\n    COUNT[0] += 1\n    return float(COUNT[0])\n";
    for _ in 0..2 {
        let (mut store, udf) = instantiate_runtime(docs(), json!({}));
        udf.call_load_module(&mut store, source).unwrap().unwrap();
        assert_eq!(udf.call_score(&mut store, 0).unwrap().unwrap(), 1.0);
        assert_eq!(udf.call_score(&mut store, 0).unwrap().unwrap(), 2.0);
    }
}

#[test]
fn per_document_filter_reads_fields_params_and_logs() {
    let (mut store, udf) = instantiate(docs(), json!({"min_price": 10}));
    let kept: Vec<bool> =
        (0..5).map(|ctx| udf.call_filter(&mut store, ctx).unwrap().unwrap()).collect();
    assert_eq!(kept, vec![false, true, false, false, true]);
    let logs = &store.data().logs;
    assert!(logs.iter().any(|(l, m)| matches!(l, LogLevel::Warn) && m == "warned"), "{logs:?}");
    assert!(logs.iter().any(|(l, m)| matches!(l, LogLevel::Info) && m == "checking 1"), "{logs:?}");
    assert_eq!(store.data().batch_calls, 0);
}

#[test]
fn batch_filter_fetches_each_field_once_per_block() {
    let (mut store, udf) = instantiate(docs(), json!({"min_price": 10, "word": "x"}));
    let kept = udf.call_filter_batch(&mut store, &[0, 1, 2, 3, 4]).unwrap().unwrap();
    assert_eq!(kept, vec![false, false, false, false, true]);
    // boom, exit, spin, hog, hidden, price, tags: one batch call each, no per-document reads.
    assert_eq!(store.data().batch_calls, 7);
    assert_eq!(store.data().field_calls, 0);
    // The packed block export agrees, with the same one host call per field.
    let (mut store, udf) = instantiate(docs(), json!({"min_price": 10, "word": "x"}));
    assert_eq!(filter_block(&mut store, &udf, &[0, 1, 2, 3, 4]).unwrap(), kept);
    assert_eq!(store.data().batch_calls, 7);
    assert_eq!(store.data().field_calls, 0);
}

#[test]
fn score_per_document_and_batched_agree() {
    let (mut store, udf) = instantiate(docs(), json!({"factor": 3.0}));
    let single: Vec<f64> =
        (0..5).map(|ctx| udf.call_score(&mut store, ctx).unwrap().unwrap()).collect();
    let batched = udf.call_score_batch(&mut store, &[0, 1, 2, 3, 4]).unwrap().unwrap();
    assert_eq!(single, batched);
    assert_eq!(score_block(&mut store, &udf, &[0, 1, 2, 3, 4]).unwrap(), batched);
    assert_eq!(single[1], 1.5 * 3.0 + 3.0 + 2.0);
}

#[test]
fn exceptions_become_err_with_type_and_message() {
    let mut d = docs();
    d.push(json!({"boom": true}));
    let (mut store, udf) = instantiate(d, json!({}));
    let err = udf.call_filter(&mut store, 5).unwrap().unwrap_err();
    assert_eq!(err, "ValueError: boom 5");
    let err = udf.call_filter_batch(&mut store, &[0, 1, 5]).unwrap().unwrap_err();
    assert_eq!(err, "ValueError: boom 5 (document '5')");
    assert_eq!(filter_block(&mut store, &udf, &[0, 1, 5]).unwrap_err(), "ValueError: boom 5 (document '5')");
    // sys.exit() is not an exit of anything but the call.
    let (mut store, udf) = instantiate(vec![json!({"exit": true})], json!({}));
    assert_eq!(udf.call_filter(&mut store, 0).unwrap().unwrap_err(), "SystemExit: 3");
    // A missing field through doc[...] is a KeyError naming the field.
    let (mut store, udf) = instantiate(vec![json!({"price": 50})], json!({"word": "x"}));
    assert_eq!(udf.call_filter(&mut store, 0).unwrap().unwrap_err(), "KeyError: 'tags'");
    // The instance stays usable after an exception.
    assert!(udf.call_filter(&mut store, 0).is_ok());
}

#[test]
fn infinite_loop_is_interrupted_by_the_epoch() {
    let (mut store, udf) = instantiate(vec![json!({"spin": true})], json!({}));
    store.set_epoch_deadline(1);
    let engine = compiled().engine.clone();
    let ticker = std::thread::spawn(move || {
        for _ in 0..20 {
            std::thread::sleep(std::time::Duration::from_millis(50));
            engine.increment_epoch();
        }
    });
    let trap = udf.call_filter(&mut store, 0).unwrap_err();
    ticker.join().unwrap();
    assert_eq!(trap.downcast_ref::<wasmtime::Trap>(), Some(&wasmtime::Trap::Interrupt), "{trap:?}");
}

#[test]
fn memory_bomb_hits_the_memory_limit() {
    let (mut store, udf) = instantiate(vec![json!({"hog": true})], json!({}));
    let outcome = udf.call_filter(&mut store, 0);
    // CPython sees the failed memory.grow as a failed malloc: MemoryError, or a trap when the
    // interpreter cannot even allocate the exception.
    match outcome {
        Ok(Err(message)) => assert!(message.starts_with("MemoryError"), "{message}"),
        Ok(Ok(v)) => panic!("memory bomb returned {v}"),
        Err(trap) => eprintln!("memory bomb trapped: {trap:?}"),
    }
}

/// What the Python runtime asks of the instance allocator (printed for the runtime's pooling
/// configuration; see docs/python-udfs.md "Limits").
#[test]
fn resources_required_by_a_python_component() {
    let c = compiled();
    let r = c.component.resources_required().expect("no imported resources");
    eprintln!(
        "memories: {}, max initial memory: {:?} bytes, tables: {}, max initial table: {:?} elements",
        r.num_memories, r.max_initial_memory_size, r.num_tables, r.max_initial_table_size
    );
    assert!(r.num_memories >= 1);
    // The WASI preview 2 interfaces CPython imports (all of them, whatever the UDF uses): the
    // host must link them, with a capability-less context.
    let ty = c.component.component_type();
    let imports: Vec<String> = ty.imports(&c.engine).map(|(name, _)| name.to_string()).collect();
    eprintln!("imports: {}", imports.join(" "));
    assert!(imports.iter().any(|i| i.starts_with("quidditch:udf/host")), "{imports:?}");
    assert!(imports.iter().all(|i| i.starts_with("quidditch:udf/") || i.starts_with("wasi:")), "{imports:?}");
}

/// The pooling allocator limits docs/python-udfs.md gives for Python UDFs are enough: one
/// 64 MiB memory, tables of 20 000 elements, 16 core instances per component instance.
#[test]
fn pooling_allocator_with_documented_limits() {
    let c = compiled();
    let mut pool = wasmtime::PoolingAllocationConfig::default();
    pool.max_memory_size(64 << 20)
        .table_elements(20_000)
        .total_component_instances(1)
        .total_core_instances(16)
        .total_memories(1)
        .total_tables(16);
    let mut config = Config::new();
    config.epoch_interruption(true);
    config.allocation_strategy(wasmtime::InstanceAllocationStrategy::Pooling(pool));
    let engine = Engine::new(&config).expect("engine");
    // Same compilation settings: reuse the artifact instead of compiling 18 MB again.
    let bytes = c.component.serialize().expect("serialize");
    let component = unsafe { Component::deserialize(&engine, &bytes) }.expect("deserialize");
    let mut linker = Linker::<Host>::new(&engine);
    wasmtime_wasi::p2::add_to_linker_sync(&mut linker).expect("wasi");
    PythonRuntime::add_to_linker::<_, HasSelf<_>>(&mut linker, |h| h).expect("host");
    let mut store = Store::new(&engine, Host::new(docs(), json!({"min_price": 10})));
    store.set_epoch_deadline(1_000);
    let udf = PythonRuntime::instantiate(&mut store, &component, &linker).expect("instantiate in the pool");
    udf.call_load_module(&mut store, SOURCE).unwrap().unwrap();
    let kept = udf.call_filter_batch(&mut store, &[0, 1, 2, 3, 4]).unwrap().unwrap();
    assert_eq!(kept, vec![false, true, false, false, true]);
}

/// One scorer written three ways: constant field names (its field plan: specialised to the
/// fields' values), constant names with a computed `get` default (plan, plain-dict `doc`),
/// and computed names (no plan: `BlockDocument`). Same logic, so the same results.
const PLANNED: &str = r#"
def score(doc, params) -> float:
    q = doc.get("qty", 1)
    if q == 7:
        raise ValueError("bad qty")
    return doc["price"] * q + (2.0 if doc["flag"] else 0.5) + ("tag" in doc)
"#;
const PLANNED_DICT: &str = r#"
ONE = 1

def score(doc, params) -> float:
    q = doc.get("qty", ONE)
    if q == 7:
        raise ValueError("bad qty")
    return doc["price"] * q + (2.0 if doc["flag"] else 0.5) + ("tag" in doc)
"#;
const COMPUTED: &str = r#"
QTY, PRICE, FLAG, TAG = "q" + "ty", "pri" + "ce", "fl" + "ag", "t" + "ag"

def score(doc, params) -> float:
    q = doc.get(QTY, 1)
    if q == 7:
        raise ValueError("bad qty")
    return doc[PRICE] * q + (2.0 if doc[FLAG] else 0.5) + (TAG in doc)
"#;

fn planned_docs() -> Vec<Json> {
    (0..40)
        .map(|i| {
            let mut d = json!({"price": i as f64 * 1.25, "qty": i % 5 + 1, "flag": i % 3 == 0});
            if i % 4 == 0 || i == 33 {
                d["tag"] = json!("t");
            }
            if i == 33 {
                d["qty"] = json!(7);
            }
            d
        })
        .collect()
}

/// `prepare-module` in one instance, `load-prepared` of its output in a fresh one.
fn instantiate_prepared(source: &str, docs: Vec<Json>, read_document: bool) -> (Store<Host>, PythonRuntime) {
    let (mut store, udf) = instantiate_runtime(vec![], json!({}));
    let prepared = udf.call_prepare_module(&mut store, source).expect("no trap").expect("prepares");
    assert_eq!(prepared.capabilities, vec!["score", "score-batch"]);
    let (mut store, udf) = instantiate_runtime(docs, json!({}));
    let caps = udf.call_load_prepared(&mut store, &prepared.code, source, read_document).expect("no trap").expect("loads");
    assert_eq!(caps, vec!["score", "score-batch"]);
    (store, udf)
}

#[test]
fn field_plans_and_block_document_agree() {
    let docs = planned_docs();
    let expected: Vec<f64> = docs
        .iter()
        .map(|d| {
            let q = d["qty"].as_f64().unwrap();
            d["price"].as_f64().unwrap() * q
                + if d["flag"].as_bool().unwrap() { 2.0 } else { 0.5 }
                + if d.get("tag").is_some() { 1.0 } else { 0.0 }
        })
        .collect();
    // Blocks where every document has every field (the plan's fast paths) and blocks where
    // some lack `tag` or `qty` (BlockDocument for every source).
    let with_tags: Vec<u32> = (0..40).filter(|i| i % 4 == 0).collect();
    let mixed: Vec<u32> = (0..32).collect();
    for source in [PLANNED, PLANNED_DICT, COMPUTED] {
        let (mut store, udf) = instantiate_prepared(source, docs.clone(), true);
        for ids in [&with_tags, &mixed] {
            let got = score_block(&mut store, &udf, ids).unwrap();
            let want: Vec<f64> = ids.iter().map(|&i| expected[i as usize]).collect();
            assert_eq!(got, want, "{source}");
        }
        // A planned field is fetched once per block, like any other.
        let calls = store.data().batch_calls;
        score_block(&mut store, &udf, &with_tags).unwrap();
        assert!(store.data().batch_calls - calls <= 4, "{source}");
        // Failures name the document that raised, whichever path ran (33 has every field).
        for ids in [vec![4, 8, 33, 36], vec![33, 34, 35]] {
            let err = score_block(&mut store, &udf, &ids).unwrap_err();
            assert_eq!(err, "ValueError: bad qty (document '33')", "{source} {ids:?}");
        }
    }
}

#[test]
fn without_read_document_planned_fields_are_fetched_only_when_read() {
    let source = "def filter(doc, params) -> bool:\n    if params.get('look'):\n        return doc['price'] > 1\n    return True\n";
    let docs = vec![json!({"price": 1}), json!({"price": 2})];
    let (mut store, udf) = instantiate_prepared_filter(source, docs.clone(), false, json!({}));
    assert_eq!(filter_block(&mut store, &udf, &[0, 1]).unwrap(), vec![true, true]);
    assert_eq!(store.data().batch_calls, 0);
    // With the permission the plan fetches ahead; the results are the same.
    let (mut store, udf) = instantiate_prepared_filter(source, docs.clone(), true, json!({}));
    assert_eq!(filter_block(&mut store, &udf, &[0, 1]).unwrap(), vec![true, true]);
    let (mut store, udf) = instantiate_prepared_filter(source, docs, false, json!({"look": true}));
    assert_eq!(filter_block(&mut store, &udf, &[0, 1]).unwrap(), vec![false, true]);
    assert_eq!(store.data().batch_calls, 1);
}

fn instantiate_prepared_filter(source: &str, docs: Vec<Json>, read_document: bool, params: Json) -> (Store<Host>, PythonRuntime) {
    let (mut store, udf) = instantiate_runtime(vec![], json!({}));
    let prepared = udf.call_prepare_module(&mut store, source).expect("no trap").expect("prepares");
    let (mut store, udf) = instantiate_runtime(docs, params);
    udf.call_load_prepared(&mut store, &prepared.code, source, read_document).expect("no trap").expect("loads");
    (store, udf)
}
