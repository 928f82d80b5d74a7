//! Scaffolding shared by the UDF benchmarks (`udf-runtime`, `python-udf`, `udf-sdk`): the
//! document column UDFs read, result rows, timing and instantiation.

use std::borrow::Cow;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, Instant};

use quidditch_udf::{
    DocumentAccess, FieldSlot, FieldValue, LoadedUdf, RegisterRequest, UdfInstance, UdfMetadata, UdfRegistry,
};

/// One i64 column `n`, like a fast-field column resolved once per segment.
pub struct Column {
    pub n: Arc<Vec<i64>>,
}

impl DocumentAccess for Column {
    fn resolve(&mut self, path: &str) -> FieldSlot {
        if path == "n" { FieldSlot(0) } else { FieldSlot::MISSING }
    }

    #[inline]
    fn read(&mut self, slot: FieldSlot, doc: u32) -> FieldValue<'_> {
        match (slot, self.n.get(doc as usize)) {
            (FieldSlot(0), Some(v)) => FieldValue::I64(*v),
            _ => FieldValue::Missing,
        }
    }

    fn document_id(&mut self, doc: u32) -> Option<Cow<'_, str>> {
        Some(Cow::Owned(doc.to_string()))
    }
}

/// One line of a benchmark's result table.
pub struct Row {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    pub note: String,
}

impl Row {
    pub fn new(name: impl Into<String>, value: f64, unit: &'static str, note: impl Into<String>) -> Row {
        Row { name: name.into(), value, unit, note: note.into() }
    }
}

/// Best of 5 runs of `f` over `items` items, in ns per item.
pub fn per_item(items: usize, mut f: impl FnMut()) -> f64 {
    f(); // warm-up
    (0..5)
        .map(|_| {
            let t = Instant::now();
            f();
            t.elapsed().as_nanos() as f64 / items as f64
        })
        .fold(f64::INFINITY, f64::min)
}

/// The benchmarks' predicate (`n` is even) in native Rust over the same column, through the
/// same `DocumentAccess` trait object the UDFs read from, in ns per document.
pub fn native_filter(column: &Arc<Vec<i64>>, ids: &[u32]) -> f64 {
    let mut native_docs: Box<dyn DocumentAccess> = Box::new(Column { n: column.clone() });
    let slot = native_docs.resolve("n");
    per_item(ids.len(), || {
        let mut kept = 0u64;
        for &d in ids {
            if let FieldValue::I64(v) = native_docs.read(black_box(slot), black_box(d))
                && v % 2 == 0
            {
                kept += 1;
            }
        }
        black_box(kept);
    })
}

/// Registers `binary` as version 1.0.0 of `name`, unsigned.
pub fn register(registry: &UdfRegistry, name: &str, binary: Vec<u8>) -> anyhow::Result<Arc<LoadedUdf>> {
    Ok(registry.register(RegisterRequest {
        metadata: UdfMetadata::new(name, "1.0.0"),
        binary,
        signature: None,
        actor: "bench".into(),
    })?)
}

/// A fresh instance of `udf` (default parameters) reading documents from `column`.
pub fn new_instance(udf: &Arc<LoadedUdf>, column: &Arc<Vec<i64>>) -> anyhow::Result<UdfInstance> {
    let params = udf.bind_params(&Default::default())?;
    let mut inst = udf.instantiate(params, Instant::now() + Duration::from_secs(5))?;
    inst.set_documents(Box::new(Column { n: column.clone() }));
    Ok(inst)
}

/// Instantiation cost (incl. drop), in µs per instance, best of 5 runs of `n` instances.
pub fn instantiation(udf: &Arc<LoadedUdf>, n: usize) -> anyhow::Result<f64> {
    let params = udf.bind_params(&Default::default())?;
    let mut error = None;
    let ns = per_item(n, || {
        for _ in 0..n {
            match udf.instantiate(params.clone(), Instant::now() + Duration::from_secs(5)) {
                Ok(i) => drop(black_box(i)),
                Err(e) => return error = Some(e),
            }
        }
    });
    error.map_or(Ok(ns / 1000.0), |e| Err(e.into()))
}
