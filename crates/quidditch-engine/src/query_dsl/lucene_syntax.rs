//! Lucene's classic query syntax (`query_string`, `?q=`) → [`QsNode`].
//!
//! `a AND b`, `a OR b`, `NOT a`, `&&`, `||`, `!`, `+a`, `-a`, `(groups)`, `field:value`,
//! `field:(a b)`, `"phrases"~slop`, `wild*c?rds`, `term~fuzzy`, `/regexp/`, `[a TO b]`,
//! `{a TO *}`, `>=10`, `^boost`, `_exists_:field`, `*:*`, `\` escapes. Clauses combine like
//! Lucene's `QueryParserBase.addClause`: there is no operator precedence; `AND` makes both
//! neighbours required, `OR` (under `default_operator: AND`) makes the previous one optional.

use crate::query_ast::{Fuzziness, QsNode, QsOccur, QsValue, QueryError};

/// Parses `text`; `default_and` is `default_operator: AND` (how clauses without an operator
/// combine).
pub fn parse_classic(text: &str, default_and: bool) -> Result<QsNode, QueryError> {
    let mut p = Parser { src: text, chars: text.chars().collect(), pos: 0, default_and };
    let node = p.query(false, None)?;
    Ok(node)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Conj {
    None,
    And,
    Or,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Modifier {
    None,
    Required,
    Not,
}

struct Parser<'a> {
    src: &'a str,
    chars: Vec<char>,
    pos: usize,
    default_and: bool,
}

/// Characters that end a bare term.
fn is_term_end(c: char) -> bool {
    c.is_whitespace() || matches!(c, '(' | ')' | '[' | ']' | '{' | '}' | '^' | '"' | '~' | ':')
}

impl Parser<'_> {
    fn error(&self, why: &str) -> QueryError {
        QueryError::query_shard(format!("Failed to parse query [{}]: {why}", self.src))
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).copied()
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(char::is_whitespace) {
            self.pos += 1;
        }
    }

    /// Whether the keyword `word` (`AND`, `OR`, `NOT`) starts here as a whole token.
    fn at_keyword(&self, word: &str) -> bool {
        let n = word.chars().count();
        let matches = word.chars().enumerate().all(|(i, c)| self.chars.get(self.pos + i) == Some(&c));
        matches && self.chars.get(self.pos + n).is_none_or(|c| c.is_whitespace() || matches!(c, '(' | '"'))
    }

    fn at_str(&self, s: &str) -> bool {
        s.chars().enumerate().all(|(i, c)| self.chars.get(self.pos + i) == Some(&c))
    }

    fn conjunction(&mut self) -> Conj {
        for (word, conj, len) in [("AND", Conj::And, 3), ("OR", Conj::Or, 2)] {
            if self.at_keyword(word) {
                self.pos += len;
                return conj;
            }
        }
        if self.at_str("&&") {
            self.pos += 2;
            return Conj::And;
        }
        if self.at_str("||") {
            self.pos += 2;
            return Conj::Or;
        }
        Conj::None
    }

    fn modifier(&mut self) -> Modifier {
        match self.peek() {
            Some('+') => {
                self.pos += 1;
                Modifier::Required
            }
            Some('-') | Some('!') => {
                self.pos += 1;
                Modifier::Not
            }
            _ if self.at_keyword("NOT") => {
                self.pos += 3;
                Modifier::Not
            }
            _ => Modifier::None,
        }
    }

    /// A sequence of clauses up to the end (or the closing parenthesis of a group).
    fn query(&mut self, nested: bool, field: Option<&str>) -> Result<QsNode, QueryError> {
        let mut clauses: Vec<(QsOccur, QsNode)> = Vec::new();
        let mut first = true;
        loop {
            self.skip_ws();
            match self.peek() {
                None if nested => return Err(self.error("missing closing parenthesis")),
                None => break,
                Some(')') if nested => break,
                Some(')') => return Err(self.error("unexpected ')'")),
                _ => {}
            }
            let conj = if first { Conj::None } else { self.conjunction() };
            self.skip_ws();
            let modifier = self.modifier();
            self.skip_ws();
            if self.peek().is_none() || self.peek() == Some(')') {
                return Err(self.error("expected a term after an operator"));
            }
            let node = self.clause(field)?;
            self.add_clause(&mut clauses, conj, modifier, node);
            first = false;
        }
        Ok(match clauses.len() {
            1 if clauses[0].0 != QsOccur::MustNot => clauses.pop().expect("one clause").1,
            _ => QsNode::Bool(clauses),
        })
    }

    /// Lucene's `QueryParserBase.addClause`.
    fn add_clause(&self, clauses: &mut Vec<(QsOccur, QsNode)>, conj: Conj, modifier: Modifier, node: QsNode) {
        if let Some(last) = clauses.last_mut() {
            if conj == Conj::And && last.0 != QsOccur::MustNot {
                last.0 = QsOccur::Must;
            }
            if self.default_and && conj == Conj::Or && last.0 != QsOccur::MustNot {
                last.0 = QsOccur::Should;
            }
        }
        let prohibited = modifier == Modifier::Not;
        let required = if self.default_and {
            !prohibited && conj != Conj::Or
        } else {
            modifier == Modifier::Required || (conj == Conj::And && !prohibited)
        };
        let occur = if prohibited {
            QsOccur::MustNot
        } else if required {
            QsOccur::Must
        } else {
            QsOccur::Should
        };
        clauses.push((occur, node));
    }

    /// `(group)`, `field:…`, or a value.
    fn clause(&mut self, field: Option<&str>) -> Result<QsNode, QueryError> {
        if self.peek() == Some('(') {
            return self.group(field);
        }
        let start = self.pos;
        let token = self.raw_term();
        if !token.is_empty() && self.peek() == Some(':') {
            self.pos += 1;
            self.skip_ws();
            let name = crate::query_ast::unescape_query_text(&token);
            if name == "*" && self.at_str("*") && self.chars.get(self.pos + 1).is_none_or(|c| is_term_end(*c)) {
                self.pos += 1;
                let boost = self.boost_suffix()?;
                return Ok(boosted(QsNode::MatchAll, boost));
            }
            if self.peek() == Some('(') {
                return self.group(Some(&name));
            }
            if name == "_exists_" {
                let value = crate::query_ast::unescape_query_text(&self.raw_term());
                if value.is_empty() {
                    return Err(self.error("_exists_ needs a field name"));
                }
                let boost = self.boost_suffix()?;
                return Ok(QsNode::Leaf { field: Some(value), value: QsValue::Exists, boost });
            }
            return self.value(Some(&name));
        }
        self.pos = start;
        self.value(field)
    }

    fn group(&mut self, field: Option<&str>) -> Result<QsNode, QueryError> {
        self.pos += 1;
        let inner = self.query(true, field)?;
        if self.peek() != Some(')') {
            return Err(self.error("missing closing parenthesis"));
        }
        self.pos += 1;
        let boost = self.boost_suffix()?;
        Ok(boosted(inner, boost))
    }

    /// Characters up to the end of a bare term, escapes kept.
    fn raw_term(&mut self) -> String {
        let mut out = String::new();
        while let Some(c) = self.peek() {
            if c == '\\' {
                out.push(c);
                self.pos += 1;
                if let Some(n) = self.peek() {
                    out.push(n);
                    self.pos += 1;
                }
                continue;
            }
            if is_term_end(c) {
                break;
            }
            out.push(c);
            self.pos += 1;
        }
        out
    }

    fn value(&mut self, field: Option<&str>) -> Result<QsNode, QueryError> {
        let field = field.map(str::to_string);
        match self.peek() {
            Some('"') => {
                let text = self.delimited('"', false, "missing closing quote")?;
                let mut slop = None;
                let mut boost = None;
                for _ in 0..2 {
                    match self.peek() {
                        Some('~') => {
                            self.pos += 1;
                            slop = Some(self.number().map_or(0, |n| n as u32));
                        }
                        Some('^') => boost = self.boost_suffix()?,
                        _ => {}
                    }
                }
                Ok(QsNode::Leaf { field, value: QsValue::Phrase { text, slop }, boost })
            }
            Some('/') => {
                let pattern = self.delimited('/', true, "missing closing '/' of a regular expression")?;
                let boost = self.boost_suffix()?;
                Ok(QsNode::Leaf { field, value: QsValue::Regexp(pattern), boost })
            }
            Some(open @ ('[' | '{')) => {
                self.pos += 1;
                let value = self.range(open == '[')?;
                let boost = self.boost_suffix()?;
                Ok(QsNode::Leaf { field, value, boost })
            }
            _ => {
                let raw = self.raw_term();
                if raw.is_empty() {
                    let found = self.peek().map_or("end of input".to_string(), |c| format!("'{c}'"));
                    return Err(self.error(&format!("unexpected {found}")));
                }
                let mut fuzzy = None;
                let mut boost = None;
                for _ in 0..2 {
                    match self.peek() {
                        Some('~') => {
                            self.pos += 1;
                            fuzzy = Some(self.number().map(Fuzziness::from_number).unwrap_or(None));
                        }
                        Some('^') => boost = self.boost_suffix()?,
                        _ => {}
                    }
                }
                if raw == "*" && field.is_none() {
                    return Ok(boosted(QsNode::MatchAll, boost));
                }
                let value = match fuzzy {
                    Some(fuzziness) => QsValue::Fuzzy { text: crate::query_ast::unescape_query_text(&raw), fuzziness },
                    None if has_wildcard(&raw) => QsValue::Wildcard(raw),
                    None => QsValue::Term(crate::query_ast::unescape_query_text(&raw)),
                };
                Ok(QsNode::Leaf { field, value, boost })
            }
        }
    }

    /// The content up to the closing `close` (the cursor is on the opening one). Escapes are
    /// removed, or kept (`keep_escapes`, for regular expressions) except before `close`.
    fn delimited(&mut self, close: char, keep_escapes: bool, missing: &str) -> Result<String, QueryError> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return Err(self.error(missing)),
                Some('\\') => {
                    self.pos += 1;
                    if let Some(n) = self.peek() {
                        if keep_escapes && n != close {
                            out.push('\\');
                        }
                        out.push(n);
                        self.pos += 1;
                    }
                }
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `a TO b]` / `a TO b}` after the opening bracket.
    fn range(&mut self, include_lower: bool) -> Result<QsValue, QueryError> {
        let bound = |p: &mut Self| -> Result<Option<String>, QueryError> {
            p.skip_ws();
            let v = if p.peek() == Some('"') {
                p.delimited('"', false, "missing closing quote")?
            } else {
                let mut out = String::new();
                while let Some(c) = p.peek() {
                    if c.is_whitespace() || c == ']' || c == '}' {
                        break;
                    }
                    if c == '\\' {
                        p.pos += 1;
                    }
                    if let Some(c) = p.peek() {
                        out.push(c);
                        p.pos += 1;
                    }
                }
                if out == "*" {
                    return Ok(None);
                }
                out
            };
            if v.is_empty() {
                return Err(p.error("a range needs two bounds"));
            }
            Ok(Some(v))
        };
        let lower = bound(self)?;
        self.skip_ws();
        if !self.at_keyword("TO") {
            return Err(self.error("expected TO in a range"));
        }
        self.pos += 2;
        let upper = bound(self)?;
        self.skip_ws();
        let include_upper = match self.peek() {
            Some(']') => true,
            Some('}') => false,
            _ => return Err(self.error("missing closing bracket of a range")),
        };
        self.pos += 1;
        Ok(QsValue::Range { lower, upper, include_lower, include_upper })
    }

    /// Digits and dots (a boost, a slop or a fuzziness).
    fn number(&mut self) -> Option<f64> {
        let start = self.pos;
        while self.peek().is_some_and(|c| c.is_ascii_digit() || c == '.') {
            self.pos += 1;
        }
        let s: String = self.chars[start..self.pos].iter().collect();
        s.parse().ok()
    }

    fn boost_suffix(&mut self) -> Result<Option<f32>, QueryError> {
        if self.peek() != Some('^') {
            return Ok(None);
        }
        self.pos += 1;
        match self.number() {
            Some(n) => Ok(Some(n as f32)),
            None => Err(self.error("a boost (^) needs a number")),
        }
    }
}

fn boosted(node: QsNode, boost: Option<f32>) -> QsNode {
    match boost {
        Some(b) => QsNode::Boost(Box::new(node), b),
        None => node,
    }
}

/// An unescaped `*` or `?`.
fn has_wildcard(raw: &str) -> bool {
    let mut escaped = false;
    for c in raw.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '*' | '?' => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn leaf(field: Option<&str>, value: QsValue) -> QsNode {
        QsNode::Leaf { field: field.map(str::to_string), value, boost: None }
    }

    fn term(field: Option<&str>, t: &str) -> QsNode {
        leaf(field, QsValue::Term(t.to_string()))
    }

    #[test]
    fn operators_follow_lucene() {
        use QsOccur::*;
        let q = parse_classic("a AND b", false).unwrap();
        assert_eq!(q, QsNode::Bool(vec![(Must, term(None, "a")), (Must, term(None, "b"))]));
        let q = parse_classic("a b", false).unwrap();
        assert_eq!(q, QsNode::Bool(vec![(Should, term(None, "a")), (Should, term(None, "b"))]));
        let q = parse_classic("a b", true).unwrap();
        assert_eq!(q, QsNode::Bool(vec![(Must, term(None, "a")), (Must, term(None, "b"))]));
        let q = parse_classic("a OR b", true).unwrap();
        assert_eq!(q, QsNode::Bool(vec![(Should, term(None, "a")), (Should, term(None, "b"))]));
        let q = parse_classic("+a -b c", false).unwrap();
        assert_eq!(q, QsNode::Bool(vec![(Must, term(None, "a")), (MustNot, term(None, "b")), (Should, term(None, "c"))]));
        let q = parse_classic("a AND NOT b", false).unwrap();
        assert_eq!(q, QsNode::Bool(vec![(Must, term(None, "a")), (MustNot, term(None, "b"))]));
        let q = parse_classic("a && !b || c", false).unwrap();
        assert_eq!(q, QsNode::Bool(vec![(Must, term(None, "a")), (MustNot, term(None, "b")), (Should, term(None, "c"))]));
        let q = parse_classic("NOT a", false).unwrap();
        assert_eq!(q, QsNode::Bool(vec![(MustNot, term(None, "a"))]));
    }

    #[test]
    fn fields_groups_and_values() {
        use QsOccur::*;
        let q = parse_classic("title:(quick OR brown)^2 status:\"in stock\"~3", false).unwrap();
        let QsNode::Bool(clauses) = q else { panic!("{q:?}") };
        assert_eq!(clauses[0].1, QsNode::Boost(Box::new(QsNode::Bool(vec![
            (Should, term(Some("title"), "quick")),
            (Should, term(Some("title"), "brown")),
        ])), 2.0));
        assert_eq!(clauses[1].1, leaf(Some("status"), QsValue::Phrase { text: "in stock".into(), slop: Some(3) }));

        assert_eq!(parse_classic("field:BA*", false).unwrap(), leaf(Some("field"), QsValue::Wildcard("BA*".into())));
        assert_eq!(parse_classic("a\\*b", false).unwrap(), term(None, "a*b"));
        assert_eq!(parse_classic("age:[10 TO *}", false).unwrap(), leaf(Some("age"), QsValue::Range {
            lower: Some("10".into()), upper: None, include_lower: true, include_upper: false }));
        assert_eq!(parse_classic("age:>=10", false).unwrap(), term(Some("age"), ">=10"));
        assert_eq!(parse_classic("_exists_:title", false).unwrap(), leaf(Some("title"), QsValue::Exists));
        assert_eq!(parse_classic("*:*", false).unwrap(), QsNode::MatchAll);
        assert_eq!(parse_classic("name:/joh?n/", false).unwrap(), leaf(Some("name"), QsValue::Regexp("joh?n".into())));
        assert_eq!(parse_classic("quikc~", false).unwrap(), leaf(None, QsValue::Fuzzy { text: "quikc".into(), fuzziness: None }));
        assert_eq!(parse_classic("quikc~1^3", false).unwrap(), QsNode::Leaf {
            field: None, value: QsValue::Fuzzy { text: "quikc".into(), fuzziness: Some(Fuzziness::Edits(1)) }, boost: Some(3.0) });
        assert_eq!(parse_classic("foo-bar", false).unwrap(), term(None, "foo-bar"));
        assert_eq!(parse_classic("user.name:kimchy", false).unwrap(), term(Some("user.name"), "kimchy"));
    }

    #[test]
    fn syntax_errors() {
        for bad in ["a AND", "(a b", "a)", "\"open", "age:[1 TO", "a^", "title:"] {
            let err = parse_classic(bad, false).unwrap_err();
            assert_eq!(err.error_type, "query_shard_exception", "{bad}");
            assert!(err.reason.starts_with(&format!("Failed to parse query [{bad}]")), "{}", err.reason);
        }
    }
}
