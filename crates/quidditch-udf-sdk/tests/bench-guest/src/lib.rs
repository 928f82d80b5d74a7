//! Keeps documents whose i64 field `n` is even, per document and batched: the same predicate
//! as the hand-written `tests/fixtures/wat/{field,batch}_filter.wat`, to measure what the SDK
//! costs over raw WAT (`bench udf-sdk`).

use quidditch_udf_sdk::{Batch, Doc, Params, filter, filter_batch};

#[filter]
fn even(doc: &Doc, _params: &Params) -> bool {
    doc.get_i64("n").is_some_and(|n| n % 2 == 0)
}

#[filter_batch]
fn even_batch(batch: &Batch, _params: &Params, keep: &mut [bool]) {
    for (k, n) in keep.iter_mut().zip(batch.get_i64("n")) {
        *k = n.is_some_and(|n| n % 2 == 0);
    }
}
