//! The `simple_query_string` syntax → [`QsNode`], as Lucene's `SimpleQueryParser` reads it:
//! `+` (AND), `|` (OR), `-` (NOT), `"phrase"~slop`, `prefix*`, `term~edits`, `( )`, `\`
//! escapes; whitespace separates terms. It never fails: a stray operator or an unclosed quote or
//! parenthesis is ignored. There is no precedence: a change of operator wraps everything so
//! far in a new boolean, and a negated clause is `(everything AND NOT clause)`, so under
//! the default operator OR `a -b` matches documents without `b` too, as in OpenSearch.

use crate::query_ast::{Fuzziness, QsNode, QsOccur, QsValue, QueryError};

/// Which operators `flags` enables.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SimpleFlags(u32);

impl SimpleFlags {
    const AND: u32 = 1;
    const NOT: u32 = 1 << 1;
    const OR: u32 = 1 << 2;
    const PREFIX: u32 = 1 << 3;
    const PHRASE: u32 = 1 << 4;
    const PRECEDENCE: u32 = 1 << 5;
    const ESCAPE: u32 = 1 << 6;
    const WHITESPACE: u32 = 1 << 7;
    const FUZZY: u32 = 1 << 8;
    const NEAR: u32 = 1 << 9;
    pub const ALL: SimpleFlags = SimpleFlags(u32::MAX);

    /// `"ALL"`, `"NONE"`, or names joined by `|` (`"AND|PREFIX"`), case-insensitive; `SLOP` is
    /// `NEAR`.
    pub fn parse(s: &str) -> Result<SimpleFlags, QueryError> {
        let mut bits = 0u32;
        for name in s.split('|').map(str::trim).filter(|n| !n.is_empty()) {
            bits |= match name.to_ascii_uppercase().as_str() {
                "ALL" => u32::MAX,
                "NONE" => 0,
                "AND" => Self::AND,
                "NOT" => Self::NOT,
                "OR" => Self::OR,
                "PREFIX" => Self::PREFIX,
                "PHRASE" => Self::PHRASE,
                "PRECEDENCE" => Self::PRECEDENCE,
                "ESCAPE" => Self::ESCAPE,
                "WHITESPACE" => Self::WHITESPACE,
                "FUZZY" => Self::FUZZY,
                "NEAR" | "SLOP" => Self::NEAR,
                other => {
                    return Err(QueryError::illegal_argument(format!(
                        "Unknown simple_query_string flag [{other}]"
                    )));
                }
            };
        }
        Ok(SimpleFlags(bits))
    }

    pub fn from_bits(bits: i64) -> SimpleFlags {
        SimpleFlags(if bits < 0 { u32::MAX } else { bits as u32 })
    }

    fn has(self, flag: u32) -> bool {
        self.0 & flag != 0
    }
}

/// Parses `text`; clauses without an operator combine with the default operator (`Must` for
/// AND).
pub fn parse_simple(text: &str, flags: SimpleFlags, default_and: bool) -> QsNode {
    let chars: Vec<char> = text.chars().collect();
    let default_op = if default_and { QsOccur::Must } else { QsOccur::Should };
    let mut state = State::new(0, chars.len());
    let parser = Parser { chars: &chars, flags, default_op };
    parser.sub_query(&mut state);
    state.top.unwrap_or(QsNode::Bool(Vec::new()))
}

struct State {
    index: usize,
    end: usize,
    top: Option<QsNode>,
    current: Option<QsOccur>,
    previous: Option<QsOccur>,
    not: u32,
}

impl State {
    fn new(index: usize, end: usize) -> State {
        State { index, end, top: None, current: None, previous: None, not: 0 }
    }
}

struct Parser<'a> {
    chars: &'a [char],
    flags: SimpleFlags,
    default_op: QsOccur,
}

impl Parser<'_> {
    fn sub_query(&self, state: &mut State) {
        while state.index < state.end {
            let c = self.chars[state.index];
            if c == '(' && self.flags.has(SimpleFlags::PRECEDENCE) {
                self.consume_sub_query(state);
            } else if c == ')' && self.flags.has(SimpleFlags::PRECEDENCE) {
                state.index += 1;
            } else if c == '"' && self.flags.has(SimpleFlags::PHRASE) {
                self.consume_phrase(state);
            } else if c == '+' && self.flags.has(SimpleFlags::AND) {
                if state.current.is_none() && state.top.is_some() {
                    state.current = Some(QsOccur::Must);
                }
                state.index += 1;
            } else if c == '|' && self.flags.has(SimpleFlags::OR) {
                if state.current.is_none() && state.top.is_some() {
                    state.current = Some(QsOccur::Should);
                }
                state.index += 1;
            } else if c == '-' && self.flags.has(SimpleFlags::NOT) {
                state.not += 1;
                state.index += 1;
                continue;
            } else if c.is_whitespace() && self.flags.has(SimpleFlags::WHITESPACE) {
                state.index += 1;
            } else {
                self.consume_token(state);
            }
            state.not = 0;
        }
    }

    fn consume_sub_query(&self, state: &mut State) {
        state.index += 1;
        let start = state.index;
        let mut depth = 1;
        let mut escaped = false;
        while state.index < state.end {
            let c = self.chars[state.index];
            if !escaped {
                if c == '\\' && self.flags.has(SimpleFlags::ESCAPE) {
                    escaped = true;
                    state.index += 1;
                    continue;
                } else if c == '(' {
                    depth += 1;
                } else if c == ')' {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
            }
            escaped = false;
            state.index += 1;
        }
        if state.index == state.end {
            // No closing parenthesis: the opening one is ignored.
            state.index = start;
        } else if state.index == start {
            state.current = None;
            state.index += 1;
        } else {
            let mut sub = State::new(start, state.index);
            self.sub_query(&mut sub);
            if let Some(top) = sub.top {
                self.build_tree(state, top);
            }
            state.index += 1;
        }
    }

    fn consume_phrase(&self, state: &mut State) {
        state.index += 1;
        let start = state.index;
        let mut text = String::new();
        let mut escaped = false;
        while state.index < state.end {
            let c = self.chars[state.index];
            if !escaped {
                if c == '\\' && self.flags.has(SimpleFlags::ESCAPE) {
                    escaped = true;
                    state.index += 1;
                    continue;
                } else if c == '"' {
                    if state.index + 1 < state.end && self.chars[state.index + 1] == '~' && self.flags.has(SimpleFlags::NEAR) {
                        state.index += 1;
                    }
                    break;
                }
            }
            escaped = false;
            text.push(c);
            state.index += 1;
        }
        if state.index == state.end {
            // No closing quote: the opening one is ignored.
            state.index = start;
        } else if state.index == start {
            state.current = None;
            state.index += 1;
        } else {
            let slop = if self.chars[state.index] == '~' { Some(self.fuzziness(state)) } else { None };
            self.build_tree(state, QsNode::Leaf { field: None, value: QsValue::Phrase { text, slop }, boost: None });
            state.index += 1;
        }
    }

    fn token_finished(&self, c: char) -> bool {
        (c == '"' && self.flags.has(SimpleFlags::PHRASE))
            || (c == '|' && self.flags.has(SimpleFlags::OR))
            || (c == '+' && self.flags.has(SimpleFlags::AND))
            || ((c == '(' || c == ')') && self.flags.has(SimpleFlags::PRECEDENCE))
            || (c.is_whitespace() && self.flags.has(SimpleFlags::WHITESPACE))
    }

    fn consume_token(&self, state: &mut State) {
        let mut token = String::new();
        let mut escaped = false;
        let mut prefix = false;
        let mut fuzzy = false;
        while state.index < state.end {
            let c = self.chars[state.index];
            if !escaped {
                if c == '\\' && self.flags.has(SimpleFlags::ESCAPE) {
                    escaped = true;
                    prefix = false;
                    state.index += 1;
                    continue;
                } else if self.token_finished(c) {
                    break;
                } else if !token.is_empty() && c == '~' && self.flags.has(SimpleFlags::FUZZY) {
                    fuzzy = true;
                    break;
                }
                prefix = !token.is_empty() && c == '*' && self.flags.has(SimpleFlags::PREFIX);
            }
            escaped = false;
            token.push(c);
            state.index += 1;
        }
        if token.is_empty() {
            return;
        }
        let value = if fuzzy {
            match self.fuzziness(state).min(2) {
                0 => QsValue::Term(token),
                edits => QsValue::Fuzzy { text: token, fuzziness: Some(Fuzziness::Edits(edits as u8)) },
            }
        } else if prefix {
            token.pop();
            QsValue::Prefix(escape_for_prefix(&token))
        } else {
            QsValue::Term(token)
        };
        self.build_tree(state, QsNode::Leaf { field: None, value, boost: None });
    }

    /// The number after `~` (2 when absent, 0 when not a number).
    fn fuzziness(&self, state: &mut State) -> u32 {
        let mut digits = String::new();
        while state.index < state.end {
            state.index += 1;
            if state.index < state.end {
                let c = self.chars[state.index];
                if self.token_finished(c) {
                    break;
                }
                digits.push(c);
            }
        }
        if digits.is_empty() { 2 } else { digits.parse::<i64>().map_or(0, |n| n.max(0) as u32) }
    }

    /// Lucene's `SimpleQueryParser.buildQueryTree`.
    fn build_tree(&self, state: &mut State, branch: QsNode) {
        let branch = if state.not % 2 == 1 {
            QsNode::Bool(vec![(QsOccur::MustNot, branch), (QsOccur::Should, QsNode::MatchAll)])
        } else {
            branch
        };
        match state.top.take() {
            None => state.top = Some(branch),
            Some(top) => {
                let op = *state.current.get_or_insert(self.default_op);
                let mut top = if state.previous != Some(op) { QsNode::Bool(vec![(op, top)]) } else { top };
                if let QsNode::Bool(clauses) = &mut top {
                    clauses.push((op, branch));
                }
                state.top = Some(top);
                state.previous = Some(op);
            }
        }
        state.current = None;
        state.not = 0;
    }
}

/// Prefix text is unescaped already; keep it literal for the prefix query.
fn escape_for_prefix(token: &str) -> String {
    token.replace('\\', "\\\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn term(t: &str) -> QsNode {
        QsNode::Leaf { field: None, value: QsValue::Term(t.to_string()), boost: None }
    }

    #[test]
    fn operators_and_negation() {
        use QsOccur::*;
        assert_eq!(parse_simple("a b", SimpleFlags::ALL, false), QsNode::Bool(vec![(Should, term("a")), (Should, term("b"))]));
        assert_eq!(parse_simple("a + b", SimpleFlags::ALL, false), QsNode::Bool(vec![(Must, term("a")), (Must, term("b"))]));
        assert_eq!(
            parse_simple("a -b", SimpleFlags::ALL, true),
            QsNode::Bool(vec![(Must, term("a")), (Must, QsNode::Bool(vec![(MustNot, term("b")), (Should, QsNode::MatchAll)]))])
        );
        // A change of operator wraps what came before.
        assert_eq!(
            parse_simple("a | b + c", SimpleFlags::ALL, false),
            QsNode::Bool(vec![(Must, QsNode::Bool(vec![(Should, term("a")), (Should, term("b"))])), (Must, term("c"))])
        );
    }

    #[test]
    fn values_and_leniency() {
        let leaf = |value| QsNode::Leaf { field: None, value, boost: None };
        assert_eq!(parse_simple("qui*", SimpleFlags::ALL, false), leaf(QsValue::Prefix("qui".into())));
        assert_eq!(parse_simple("\"a b\"~2", SimpleFlags::ALL, false), leaf(QsValue::Phrase { text: "a b".into(), slop: Some(2) }));
        assert_eq!(parse_simple("quikc~1", SimpleFlags::ALL, false), leaf(QsValue::Fuzzy { text: "quikc".into(), fuzziness: Some(Fuzziness::Edits(1)) }));
        // Unbalanced syntax is ignored, never an error.
        assert_eq!(parse_simple("(a", SimpleFlags::ALL, false), term("a"));
        assert_eq!(parse_simple("\"a", SimpleFlags::ALL, false), term("a"));
        assert_eq!(parse_simple("", SimpleFlags::ALL, false), QsNode::Bool(vec![]));
        // Without the PREFIX flag `*` is part of the term.
        assert_eq!(parse_simple("qui*", SimpleFlags::parse("AND|OR").unwrap(), false), term("qui*"));
        assert!(SimpleFlags::parse("BOGUS").is_err());
    }
}
