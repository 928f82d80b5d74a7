//! `fuzzy`: terms within an edit distance of a value (Damerau–Levenshtein when
//! `transpositions`), the first `prefix_length` characters exact. Also the per-token query of
//! `match` with `fuzziness` and of `term~` in `query_string`.

use std::sync::Arc;

use serde_json::Value;
use tantivy::query::{ConstScoreQuery, EmptyQuery, Query};

use super::automaton::TermPrefixQuery;
use super::field::{FieldTarget, scalar_to_string};
use super::{FieldKind, LoweringContext, QueryError, TermQuery};

/// `fuzziness`: a fixed number of edits or `AUTO[:low,high]` (0 edits below `low` characters,
/// 1 below `high`, else 2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fuzziness {
    Edits(u8),
    Auto { low: usize, high: usize },
}

impl Default for Fuzziness {
    fn default() -> Self {
        Fuzziness::Auto { low: 3, high: 6 }
    }
}

impl Fuzziness {
    pub fn parse(value: &Value) -> Result<Fuzziness, QueryError> {
        let bad = || QueryError::parsing(format!("failed to parse [fuzziness] value [{value}]"));
        match value {
            Value::Number(n) => {
                let f = n.as_f64().ok_or_else(bad)?;
                Fuzziness::from_number(f).ok_or_else(bad)
            }
            Value::String(s) => {
                let s = s.trim();
                let upper = s.to_ascii_uppercase();
                if upper == "AUTO" {
                    return Ok(Fuzziness::default());
                }
                if let Some(rest) = upper.strip_prefix("AUTO:") {
                    let (low, high) = rest.split_once(',').ok_or_else(bad)?;
                    let low = low.trim().parse().map_err(|_| bad())?;
                    let high = high.trim().parse().map_err(|_| bad())?;
                    if low > high {
                        return Err(bad());
                    }
                    return Ok(Fuzziness::Auto { low, high });
                }
                let f: f64 = s.parse().map_err(|_| bad())?;
                Fuzziness::from_number(f).ok_or_else(bad)
            }
            _ => Err(bad()),
        }
    }

    /// Edits as a number: `0`, `1`, `2` (more is capped at 2 like Lucene); fractions below 1
    /// are the legacy similarity form, read as AUTO.
    pub fn from_number(f: f64) -> Option<Fuzziness> {
        if !f.is_finite() || f < 0.0 {
            return None;
        }
        if f > 0.0 && f < 1.0 {
            return Some(Fuzziness::default());
        }
        Some(Fuzziness::Edits(f.min(2.0) as u8))
    }

    /// The edits allowed for a term of `term` (counted in characters).
    pub fn edits_for(self, term: &str) -> u8 {
        match self {
            Fuzziness::Edits(n) => n.min(2),
            Fuzziness::Auto { low, high } => {
                let len = term.chars().count();
                if len < low {
                    0
                } else if len < high {
                    1
                } else {
                    2
                }
            }
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FuzzyQuery {
    pub field: String,
    pub value: Value,
    pub fuzziness: Fuzziness,
    pub prefix_length: usize,
    /// Adjacent swaps count as one edit (default true, like OpenSearch).
    pub transpositions: bool,
    pub boost: Option<f32>,
}

impl FuzzyQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let Some(target) = FieldTarget::resolve(ctx, &self.field)? else {
            return Ok(Box::new(EmptyQuery));
        };
        match target.kind() {
            FieldKind::Text | FieldKind::Keyword => {}
            // On other types fuzziness does not apply: the value is matched exactly.
            _ => {
                return TermQuery { field: self.field.clone(), value: self.value.clone(), boost: self.boost, case_insensitive: false }
                    .lower(ctx);
            }
        }
        let mut value = scalar_to_string(&self.value, &self.field)?;
        if target.kind() == FieldKind::Keyword {
            value = target.normalize(&value);
        }
        Ok(fuzzy_term_query(&target, &value, self.fuzziness, self.prefix_length, self.transpositions, self.boost))
    }
}

/// The query for one (already analysed or normalised) term of a text or keyword field.
pub(crate) fn fuzzy_term_query(
    target: &FieldTarget<'_>,
    value: &str,
    fuzziness: Fuzziness,
    prefix_length: usize,
    transpositions: bool,
    boost: Option<f32>,
) -> Box<dyn Query> {
    let edits = fuzziness.edits_for(value) as usize;
    let split = value.char_indices().nth(prefix_length).map_or(value.len(), |(i, _)| i);
    let (prefix, rest) = value.split_at(split);
    let wanted: Vec<char> = rest.chars().collect();
    let matcher = Arc::new(move |suffix: &[u8]| {
        let Ok(s) = std::str::from_utf8(suffix) else { return false };
        let candidate: Vec<char> = s.chars().collect();
        within_distance(&wanted, &candidate, edits, transpositions)
    });
    let query = TermPrefixQuery::new(&target.str_term(prefix), Some(matcher));
    Box::new(ConstScoreQuery::new(Box::new(query), boost.unwrap_or(1.0)))
}

/// Whether `a` and `b` are at most `max` edits apart (optimal string alignment distance when
/// `transpositions`, plain Levenshtein otherwise).
pub(crate) fn within_distance(a: &[char], b: &[char], max: usize, transpositions: bool) -> bool {
    if a.len().abs_diff(b.len()) > max {
        return false;
    }
    let width = b.len() + 1;
    let mut prev2 = vec![0usize; width];
    let mut prev: Vec<usize> = (0..width).collect();
    let mut cur = vec![0usize; width];
    for i in 1..=a.len() {
        cur[0] = i;
        let mut row_min = cur[0];
        for j in 1..=b.len() {
            let cost = usize::from(a[i - 1] != b[j - 1]);
            let mut d = (prev[j] + 1).min(cur[j - 1] + 1).min(prev[j - 1] + cost);
            if transpositions && i > 1 && j > 1 && a[i - 1] == b[j - 2] && a[i - 2] == b[j - 1] {
                d = d.min(prev2[j - 2] + 1);
            }
            cur[j] = d;
            row_min = row_min.min(d);
        }
        if row_min > max {
            return false;
        }
        std::mem::swap(&mut prev2, &mut prev);
        std::mem::swap(&mut prev, &mut cur);
    }
    prev[b.len()] <= max
}

#[cfg(test)]
mod tests {
    use super::*;

    fn chars(s: &str) -> Vec<char> {
        s.chars().collect()
    }

    #[test]
    fn distances() {
        assert!(within_distance(&chars("xylophone"), &chars("xylophoen"), 1, true));
        assert!(!within_distance(&chars("xylophone"), &chars("xylophoen"), 1, false));
        assert!(within_distance(&chars("dog"), &chars("dob"), 1, true));
        assert!(!within_distance(&chars("dog"), &chars("cat"), 2, true));
        assert!(within_distance(&chars(""), &chars("ab"), 2, true));
    }

    #[test]
    fn auto_fuzziness() {
        let auto = Fuzziness::default();
        assert_eq!((auto.edits_for("ab"), auto.edits_for("abcd"), auto.edits_for("abcdef")), (0, 1, 2));
        assert_eq!(Fuzziness::parse(&serde_json::json!("AUTO:2,4")).unwrap(), Fuzziness::Auto { low: 2, high: 4 });
        assert_eq!(Fuzziness::parse(&serde_json::json!(1)).unwrap(), Fuzziness::Edits(1));
        assert_eq!(Fuzziness::parse(&serde_json::json!("2")).unwrap(), Fuzziness::Edits(2));
        assert!(Fuzziness::parse(&serde_json::json!("lots")).is_err());
    }
}

/// `fuzziness` with its companions, as `match` and `multi_match` take them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct FuzzyOptions {
    pub fuzziness: Fuzziness,
    pub prefix_length: usize,
    pub transpositions: bool,
}
