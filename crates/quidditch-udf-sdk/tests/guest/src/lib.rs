//! Reports what the SDK reads through `log!`, so `tests/real_host.rs` can compare it with the
//! documents it gave the real host.

use quidditch_udf_sdk::{Batch, Doc, Params, ReadError, filter, filter_batch, log, score, score_batch};

#[filter]
fn probe(doc: &Doc, params: &Params) -> bool {
    log!("id={}", doc.id());
    log!("score={}", doc.score());
    log!("long_chars={}", doc.get_str("long").map(|s| s.chars().count()).unwrap_or(0));
    log!("long_param_chars={}", params.get_str("long_param").map(|s| s.chars().count()).unwrap_or(0));
    log!("nested={:?}", doc.get_str("user.name"));
    log!("tag1={:?}", doc.get_str("tags[1]"));
    log!("tags={:?}", doc.get_str("tags"));
    log!("price={:?}", doc.get_f64("price"));
    log!("count={:?}", doc.get_i64("count"));
    log!("count_f64={:?}", doc.get_f64("count"));
    log!("price_i64={}", doc.try_get_i64("price") == Err(ReadError::TypeMismatch));
    log!("missing={}", doc.try_get_f64("missing") == Err(ReadError::NotFound));
    log!("active={:?}", doc.get_bool("active"));
    log!("has_price={} has_missing={}", doc.has("price"), doc.has("missing"));
    log!(warn, "k={:?}", params.get_i64("k"));
    params.get_bool("flag").unwrap_or(false)
}

#[score]
fn boosted(doc: &Doc, params: &Params) -> f64 {
    doc.score() * params.get_f64("boost").unwrap_or(1.0) + doc.get_f64("price").unwrap_or(0.0)
}

#[filter_batch]
fn cheap(batch: &Batch, params: &Params, keep: &mut [bool]) {
    let max = params.get_f64("max_price").unwrap_or(10.0);
    for (k, price) in keep.iter_mut().zip(batch.get_f64("price")) {
        *k = price.is_some_and(|p| p <= max);
    }
}

#[score_batch]
fn by_count(batch: &Batch, _params: &Params, scores: &mut [f64]) {
    for ((s, count), doc) in scores.iter_mut().zip(batch.get_i64("count")).zip(batch.docs()) {
        *s = count.unwrap_or(-1) as f64 + doc.score();
    }
}
