//! The SDK's safe wrappers and attributes against the native mock host.

use quidditch_udf_sdk::testing::{TestDoc, TestParams, run_filter, run_filter_batch, run_score, run_score_batch, take_logs};
use quidditch_udf_sdk::{Batch, Doc, Level, Params, ReadError, filter, filter_batch, log, score, score_batch};

#[filter]
fn in_stock(doc: &Doc, params: &Params) -> bool {
    let min = params.get_i64("min_stock").unwrap_or(1);
    doc.get_i64("stock").is_some_and(|s| s >= min) && doc.get_bool("active") == Some(true)
}

#[score]
fn boosted(doc: &Doc, params: &Params) -> f64 {
    doc.score() * params.get_f64("boost").unwrap_or(1.0)
}

#[filter_batch]
fn cheap_batch(batch: &Batch, params: &Params, keep: &mut [bool]) {
    let max = params.get_f64("max").unwrap_or(10.0);
    for (k, price) in keep.iter_mut().zip(batch.get_f64("price")) {
        *k = price.is_some_and(|p| p <= max);
    }
}

#[score_batch]
fn stock_score(batch: &Batch, _params: &Params, scores: &mut [f64]) {
    for (s, stock) in scores.iter_mut().zip(batch.get_i64("stock")) {
        *s = stock.unwrap_or(0) as f64;
    }
}

// A user function may share the export's name: the shim has its own symbol.
#[filter]
fn filter(doc: &Doc, _params: &Params) -> bool {
    doc.has("x")
}

#[test]
fn filter_reads_typed_fields_and_params() {
    let p = TestParams::new().with("min_stock", 3);
    assert!(run_filter(in_stock, &TestDoc::new("a").with("stock", 5).with("active", true), &p));
    assert!(!run_filter(in_stock, &TestDoc::new("b").with("stock", 2).with("active", true), &p));
    assert!(!run_filter(in_stock, &TestDoc::new("c").with("stock", 5).with("active", "yes"), &p));
    assert!(!run_filter(in_stock, &TestDoc::new("d"), &p));
    assert!(run_filter(filter, &TestDoc::new("e").with("x", 1), &p));
}

#[test]
fn score_reads_current_score() {
    let s = run_score(boosted, &TestDoc::new("a").with_score(2.5), &TestParams::new().with("boost", 3.0));
    assert_eq!(s, 7.5);
    assert_eq!(run_score(boosted, &TestDoc::new("a").with_score(2.5), &TestParams::new()), 2.5);
}

#[test]
fn long_strings_are_read_after_a_buffer_too_small_retry() {
    let long: String = "ü".repeat(5000);
    #[filter]
    fn same_as_param(doc: &Doc, params: &Params) -> bool {
        doc.get_str("text") == params.get_str("text") && doc.id().len() == 300
    }
    let id = "i".repeat(300);
    let doc = TestDoc::new(&id).with("text", long.as_str());
    assert!(run_filter(same_as_param, &doc, &TestParams::new().with("text", long.as_str())));
    assert!(!run_filter(same_as_param, &doc, &TestParams::new().with("text", "short")));
}

#[test]
fn try_get_tells_missing_from_mismatched() {
    #[filter]
    fn check(doc: &Doc, _params: &Params) -> bool {
        doc.try_get_i64("price") == Err(ReadError::TypeMismatch)
            && doc.try_get_i64("nope") == Err(ReadError::NotFound)
            && doc.try_get_f64("count") == Ok(3.0)
            && doc.try_get_i64("whole") == Ok(4)
            && doc.try_get_str("count") == Err(ReadError::TypeMismatch)
            && !doc.has("nope")
            && doc.has("price")
    }
    let doc = TestDoc::new("x").with("price", 2.5).with("count", 3).with("whole", 4.0);
    assert!(run_filter(check, &doc, &TestParams::new()));
}

#[test]
fn batch_reads_one_field_for_all_documents() {
    let docs = [
        TestDoc::new("1").with("price", 5).with("stock", 7),
        TestDoc::new("2").with("price", 50.0),
        TestDoc::new("3").with("price", "free"),
        TestDoc::new("4").with("price", 10.0).with("stock", 1),
    ];
    assert_eq!(run_filter_batch(cheap_batch, &docs, &TestParams::new()), [true, false, false, true]);
    assert_eq!(run_score_batch(stock_score, &docs, &TestParams::new()), [7.0, 0.0, 0.0, 1.0]);
}

#[test]
fn batch_export_reads_ctxs_and_writes_results_through_the_udf_buffer() {
    // What the host does: ask for a region, write ctxs, call the export, read the results.
    let docs = [TestDoc::new("1").with("price", 5), TestDoc::new("2").with("price", 50), TestDoc::new("3").with("price", 1)];
    quidditch_udf_sdk::testing::install(&docs, &TestParams::new());
    let n = docs.len();
    let base = quidditch_udf_sdk::__private::batch_buffer((n * 8 + n * 4) as i32);
    assert_ne!(base, 0);
    let ctxs = base as *mut i64;
    let out = (base + n * 8) as *const i32;
    let results = unsafe {
        for i in 0..n {
            ctxs.add(i).write(i as i64);
        }
        assert_eq!(__quidditch_udf_export_filter_batch_cheap_batch(base, n, base + n * 8), 0);
        (0..n).map(|i| out.add(i).read()).collect::<Vec<_>>()
    };
    assert_eq!(results, [1, 0, 1]);
    assert_eq!(quidditch_udf_sdk::__private::batch_buffer(-1), 0);
}

#[test]
fn log_macro_picks_the_level() {
    take_logs();
    #[filter]
    fn chatty(doc: &Doc, _params: &Params) -> bool {
        log!("seen {}", doc.id());
        log!(warn, "odd value {}", 42);
        true
    }
    assert!(run_filter(chatty, &TestDoc::new("doc-7"), &TestParams::new()));
    assert_eq!(
        take_logs(),
        vec![(Level::Info, "seen doc-7".to_string()), (Level::Warn, "odd value 42".to_string())]
    );
}
