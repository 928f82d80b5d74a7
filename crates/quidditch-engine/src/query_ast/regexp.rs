//! `regexp`: terms matching a Lucene regular expression (always anchored at both ends). The
//! pattern is translated to the `regex` crate's syntax: Lucene has no anchors (`^`, `$` are
//! literals), `@` is any string and `#` the empty language (with the default flags), and
//! `<n-m>` is a numeric interval. Complement (`~`) and intersection (`&`) have no
//! equivalent there and are refused.

use std::sync::Arc;

use tantivy::query::{ConstScoreQuery, EmptyQuery, Query};

use super::automaton::TermPrefixQuery;
use super::field::FieldTarget;
use super::{FieldKind, LoweringContext, QueryError};

#[derive(Debug, Clone, PartialEq)]
pub struct RegexpQuery {
    pub field: String,
    pub pattern: String,
    /// The optional operators enabled by `flags` (`@`, `#`, `<n-m>`; `ALL` by default).
    pub flags: RegexpFlags,
    pub case_insensitive: bool,
    pub boost: Option<f32>,
}

/// `flags`: which optional Lucene operators the pattern may use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegexpFlags {
    pub anystring: bool,
    pub empty: bool,
    pub interval: bool,
    pub complement: bool,
    pub intersection: bool,
}

impl Default for RegexpFlags {
    fn default() -> Self {
        RegexpFlags { anystring: true, empty: true, interval: true, complement: true, intersection: true }
    }
}

impl RegexpFlags {
    /// `"ALL"`, `"NONE"` or `|`-separated names (`INTERSECTION|COMPLEMENT|EMPTY|ANYSTRING|INTERVAL`).
    pub fn parse(s: &str) -> Result<RegexpFlags, QueryError> {
        let mut flags = RegexpFlags { anystring: false, empty: false, interval: false, complement: false, intersection: false };
        for name in s.split('|').map(str::trim).filter(|n| !n.is_empty()) {
            match name.to_ascii_uppercase().as_str() {
                "ALL" => flags = RegexpFlags::default(),
                "NONE" => {}
                "ANYSTRING" => flags.anystring = true,
                "EMPTY" => flags.empty = true,
                "INTERVAL" => flags.interval = true,
                "COMPLEMENT" => flags.complement = true,
                "INTERSECTION" => flags.intersection = true,
                other => {
                    return Err(QueryError::illegal_argument(format!("Unknown regexp flag [{other}]")));
                }
            }
        }
        Ok(flags)
    }
}

impl RegexpQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let Some(target) = FieldTarget::resolve(ctx, &self.field)? else {
            return Ok(Box::new(EmptyQuery));
        };
        if !matches!(target.kind(), FieldKind::Text | FieldKind::Keyword) {
            return Err(QueryError::query_shard(format!(
                "Can only use regexp queries on keyword and text fields - not on [{}] which is of type [{}]",
                self.field,
                target.kind().name()
            )));
        }
        let translated = translate(&self.pattern, self.flags)?;
        let source = format!("^(?s{}:{translated})$", if self.case_insensitive { "i" } else { "" });
        let regex = regex::RegexBuilder::new(&source)
            .size_limit(10 << 20)
            .build()
            .map_err(|e| QueryError::query_shard(format!("failed to create query: invalid regular expression [{}]: {e}", self.pattern)))?;
        let matcher = Arc::new(move |suffix: &[u8]| std::str::from_utf8(suffix).is_ok_and(|s| regex.is_match(s)));
        let query = TermPrefixQuery::new(&target.str_term(""), Some(matcher));
        Ok(Box::new(ConstScoreQuery::new(Box::new(query), self.boost.unwrap_or(1.0))))
    }
}

/// Lucene regexp syntax → `regex` crate syntax.
pub(crate) fn translate(pattern: &str, flags: RegexpFlags) -> Result<String, QueryError> {
    let unsupported = |what: &str| {
        QueryError::illegal_argument(format!("regexp [{pattern}]: the {what} operator is not supported by Quidditch"))
    };
    let mut out = String::with_capacity(pattern.len() + 8);
    let mut chars = pattern.chars().peekable();
    let mut in_class = false;
    while let Some(c) = chars.next() {
        if in_class {
            match c {
                ']' => {
                    in_class = false;
                    out.push(']');
                }
                '\\' => {
                    let next = chars.next().unwrap_or('\\');
                    push_literal(&mut out, next);
                }
                '[' | '&' | '~' => push_literal(&mut out, c),
                c => out.push(c),
            }
            continue;
        }
        match c {
            '\\' => push_literal(&mut out, chars.next().unwrap_or('\\')),
            '[' => {
                in_class = true;
                out.push('[');
                if chars.peek() == Some(&'^') {
                    chars.next();
                    out.push('^');
                }
            }
            '"' => {
                // A quoted literal string.
                for l in chars.by_ref() {
                    if l == '"' {
                        break;
                    }
                    push_literal(&mut out, l);
                }
            }
            '@' if flags.anystring => out.push_str(".*"),
            '#' if flags.empty => out.push_str("[^\\s\\S]"),
            '~' if flags.complement => return Err(unsupported("complement (~)")),
            '&' if flags.intersection => return Err(unsupported("intersection (&)")),
            '<' if flags.interval => {
                let mut body = String::new();
                for l in chars.by_ref() {
                    if l == '>' {
                        break;
                    }
                    body.push(l);
                }
                out.push_str(&interval(&body).ok_or_else(|| {
                    QueryError::illegal_argument(format!("regexp [{pattern}]: bad interval <{body}>"))
                })?);
            }
            '.' | '?' | '+' | '*' | '|' | '(' | ')' | '{' | '}' => out.push(c),
            c => push_literal(&mut out, c),
        }
    }
    if in_class {
        return Err(QueryError::illegal_argument(format!("regexp [{pattern}]: expected ']' at end of character class")));
    }
    Ok(out)
}

fn push_literal(out: &mut String, c: char) {
    if c.is_ascii_punctuation() || c == ' ' {
        out.push('\\');
    }
    out.push(c);
}

/// `<n-m>`: the integers from n to m (leading zeros allowed, as Lucene), as an alternation.
fn interval(body: &str) -> Option<String> {
    let (lo_s, hi_s) = body.split_once('-')?;
    let (lo_s, hi_s) = (lo_s.trim(), hi_s.trim());
    let (lo, hi): (u64, u64) = (lo_s.parse().ok()?, hi_s.parse().ok()?);
    let (lo, hi) = (lo.min(hi), lo.max(hi));
    if hi - lo > 10_000 {
        return None;
    }
    // Bounds of the same width make a fixed-width interval (zero-padded), as in Lucene;
    // otherwise any number of leading zeros is allowed.
    let width = if lo_s.len() == hi_s.len() { lo_s.len() } else { 0 };
    let alternatives: Vec<String> = (lo..=hi).map(|n| format!("{n:0width$}")).collect();
    let zeros = if width == 0 { "0*" } else { "" };
    Some(format!("(?:{zeros}(?:{}))", alternatives.join("|")))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matches(pattern: &str, text: &str) -> bool {
        let t = translate(pattern, RegexpFlags::default()).unwrap();
        regex::Regex::new(&format!("^(?s:{t})$")).unwrap().is_match(text)
    }

    #[test]
    fn lucene_syntax() {
        assert!(matches("ki.*y", "kimchy"));
        assert!(!matches("ki.*y", "kimchyz"));
        assert!(matches("a^b$", "a^b$"));
        assert!(matches("ab@", "abcdef"));
        assert!(matches("foo<1-100>", "foo42"));
        assert!(!matches("foo<1-100>", "foo142"));
        assert!(matches("[a-c]+x", "abcx"));
        assert!(matches("\"a.b\"c", "a.bc"));
        assert!(!matches("#", ""));
        assert!(translate("a~b", RegexpFlags::default()).is_err());
        let none = translate("a~b&c", RegexpFlags::parse("NONE").unwrap()).unwrap();
        assert!(regex::Regex::new(&format!("^(?:{none})$")).unwrap().is_match("a~b&c"));
    }
}
