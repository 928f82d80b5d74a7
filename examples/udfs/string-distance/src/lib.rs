//! Keeps documents whose `field` (default `"name"`) is within `max_distance` (default 2)
//! Levenshtein edits of `target`. Distances count Unicode scalar values, not bytes.

use quidditch_udf_sdk::{Batch, Doc, Params, filter, filter_batch};

/// The parameters, read once per call (or once per block in the batched form).
struct Query {
    target: String,
    field: String,
    max_distance: usize,
}

impl Query {
    /// `None` when `target` is missing or `max_distance` is negative: nothing matches.
    fn from_params(params: &Params) -> Option<Query> {
        let target = params.get_str("target")?;
        let field = params.get_str("field").unwrap_or_else(|| "name".to_string());
        let max_distance = usize::try_from(params.get_i64("max_distance").unwrap_or(2)).ok()?;
        Some(Query { target, field, max_distance })
    }

    fn keeps(&self, doc: &Doc) -> bool {
        doc.get_str(&self.field)
            .is_some_and(|value| levenshtein_within(&value, &self.target, self.max_distance))
    }
}

/// One document per call: what `quidditch udf test` runs.
#[filter]
fn within_distance(doc: &Doc, params: &Params) -> bool {
    Query::from_params(params).is_some_and(|q| q.keeps(doc))
}

/// A block of documents per call, which the server prefers inside a search: one guest call and
/// one parameter read per block instead of per document. Same answers as `within_distance`.
#[filter_batch]
fn within_distance_batch(batch: &Batch, params: &Params, keep: &mut [bool]) {
    let Some(query) = Query::from_params(params) else { return };
    for (k, doc) in keep.iter_mut().zip(batch.docs()) {
        *k = query.keeps(&doc);
    }
}

/// Levenshtein distance with two rows of the DP table.
pub fn levenshtein(a: &str, b: &str) -> usize {
    let a: Vec<char> = a.chars().collect();
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    let mut cur = vec![0; b.len() + 1];
    for (i, ca) in a.iter().enumerate() {
        cur[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = prev[j] + usize::from(ca != cb);
            cur[j + 1] = substitution.min(prev[j + 1] + 1).min(cur[j] + 1);
        }
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()]
}

/// `levenshtein(a, b) <= max`, skipping the table when the lengths alone rule it out.
pub fn levenshtein_within(a: &str, b: &str, max: usize) -> bool {
    let (la, lb) = (a.chars().count(), b.chars().count());
    la.abs_diff(lb) <= max && levenshtein(a, b) <= max
}

#[cfg(test)]
mod tests {
    use super::*;
    use quidditch_udf_sdk::testing::{TestDoc, TestParams, run_filter, run_filter_batch};

    #[test]
    fn distances() {
        assert_eq!(levenshtein("kitten", "sitting"), 3);
        assert_eq!(levenshtein("", "abc"), 3);
        assert_eq!(levenshtein("flaw", "lawn"), 2);
        assert_eq!(levenshtein("café", "cafe"), 1);
    }

    #[test]
    fn filter_defaults_and_params() {
        let p = TestParams::new().with("target", "quidditch");
        assert!(run_filter(within_distance, &TestDoc::new("1").with("name", "quiditch"), &p));
        assert!(!run_filter(within_distance, &TestDoc::new("2").with("name", "cricket"), &p));
        assert!(!run_filter(within_distance, &TestDoc::new("3"), &p));
        let p = p.with("field", "title").with("max_distance", 0);
        assert!(run_filter(within_distance, &TestDoc::new("4").with("title", "quidditch"), &p));
        assert!(!run_filter(within_distance, &TestDoc::new("5").with("title", "quiditch"), &p));
    }

    #[test]
    fn batch_agrees_with_single() {
        let docs: Vec<TestDoc> = ["quidditch", "quiditch", "kwidditch", "cricket", ""]
            .iter()
            .enumerate()
            .map(|(i, n)| TestDoc::new(&i.to_string()).with("name", *n))
            .chain([TestDoc::new("no-name")])
            .collect();
        for max in [0, 1, 2, 5] {
            let p = TestParams::new().with("target", "quidditch").with("max_distance", max);
            let single: Vec<bool> = docs.iter().map(|d| run_filter(within_distance, d, &p)).collect();
            assert_eq!(run_filter_batch(within_distance_batch, &docs, &p), single);
        }
        let no_target = TestParams::new();
        assert_eq!(run_filter_batch(within_distance_batch, &docs, &no_target), vec![false; docs.len()]);
    }
}
