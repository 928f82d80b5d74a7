//! `wildcard`: `*` (any run) and `?` (one character) patterns over terms.

use std::sync::Arc;

use tantivy::query::{ConstScoreQuery, EmptyQuery, Query};

use super::automaton::TermPrefixQuery;
use super::field::FieldTarget;
use super::{FieldKind, LoweringContext, QueryError};

#[derive(Debug, Clone, PartialEq)]
pub struct WildcardQuery {
    pub field: String,
    pub pattern: String,
    pub case_insensitive: bool,
    pub boost: Option<f32>,
}

impl WildcardQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let Some(target) = FieldTarget::resolve(ctx, &self.field)? else {
            return Ok(Box::new(EmptyQuery));
        };
        if !matches!(target.kind(), FieldKind::Text | FieldKind::Keyword) {
            return Err(QueryError::query_shard(format!(
                "Can only use wildcard queries on keyword and text fields - not on [{}] which is of type [{}]",
                self.field,
                target.kind().name()
            )));
        }
        let (literal_prefix, rest) = if self.case_insensitive {
            (String::new(), self.pattern.to_lowercase())
        } else {
            let split = self.pattern.find(['*', '?', '\\']).unwrap_or(self.pattern.len());
            (self.pattern[..split].to_string(), self.pattern[split..].to_string())
        };
        let case_insensitive = self.case_insensitive;
        let matcher = Arc::new(move |suffix: &[u8]| {
            let s = String::from_utf8_lossy(suffix);
            if case_insensitive {
                glob_match(&rest, &s.to_lowercase())
            } else {
                glob_match(&rest, &s)
            }
        });
        let query = TermPrefixQuery::new(&target.str_term(&literal_prefix), Some(matcher));
        Ok(Box::new(ConstScoreQuery::new(Box::new(query), self.boost.unwrap_or(1.0))))
    }
}

/// Matches `text` against a pattern with `*`, `?` and `\` escapes (iterative, no backtracking
/// blow-up: the classic two-pointer algorithm).
pub fn glob_match(pattern: &str, text: &str) -> bool {
    #[derive(Clone, Copy, PartialEq)]
    enum Tok {
        Star,
        Any,
        Lit(char),
    }
    let mut toks = Vec::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        toks.push(match c {
            '*' => Tok::Star,
            '?' => Tok::Any,
            '\\' => Tok::Lit(chars.next().unwrap_or('\\')),
            c => Tok::Lit(c),
        });
    }
    let text: Vec<char> = text.chars().collect();
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < toks.len() && (toks[p] == Tok::Any || toks[p] == Tok::Lit(text[t])) {
            p += 1;
            t += 1;
        } else if p < toks.len() && toks[p] == Tok::Star {
            star = Some((p, t));
            p += 1;
        } else if let Some((sp, st)) = star {
            p = sp + 1;
            t = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    while p < toks.len() && toks[p] == Tok::Star {
        p += 1;
    }
    p == toks.len()
}

#[cfg(test)]
mod tests {
    use super::glob_match;

    #[test]
    fn globs() {
        assert!(glob_match("a*c", "abbbc"));
        assert!(glob_match("a?c", "abc"));
        assert!(!glob_match("a?c", "abbc"));
        assert!(glob_match("*", ""));
        assert!(glob_match("ki*y", "kimchy"));
        assert!(glob_match("a\\*", "a*"));
        assert!(!glob_match("a\\*", "ab"));
    }
}
