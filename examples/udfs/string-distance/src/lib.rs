//! Keeps documents whose `field` (default `"name"`) is within `max_distance` (default 2)
//! Levenshtein edits of `target`. Distances count Unicode scalar values, not bytes.

use quidditch_udf_sdk::{Doc, Params, filter};

#[filter]
fn within_distance(doc: &Doc, params: &Params) -> bool {
    let Some(target) = params.get_str("target") else {
        return false;
    };
    let field = params.get_str("field").unwrap_or_else(|| "name".to_string());
    let max_distance = params.get_i64("max_distance").unwrap_or(2);
    if max_distance < 0 {
        return false;
    }
    match doc.get_str(&field) {
        Some(value) => levenshtein_within(&value, &target, max_distance as usize),
        None => false,
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
    use quidditch_udf_sdk::testing::{TestDoc, TestParams, run_filter};

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
}
