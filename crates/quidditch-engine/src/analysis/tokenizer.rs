//! Tokenizers: text → tokens with byte offsets, positions and a token type, as Lucene's
//! tokenizers produce them (`standard` follows UAX #29 word boundaries like Lucene's
//! `StandardTokenizer`).

use unicode_segmentation::UnicodeSegmentation;

use super::Token;

/// Lucene's `StandardTokenizer` default `max_token_length`.
pub const DEFAULT_MAX_TOKEN_LENGTH: usize = 255;

/// Which characters an `ngram` / `edge_ngram` tokenizer keeps in a token (`token_chars`).
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenChars {
    pub letter: bool,
    pub digit: bool,
    pub whitespace: bool,
    pub punctuation: bool,
    pub symbol: bool,
}

impl TokenChars {
    /// Empty `token_chars` keeps every character (OpenSearch's default).
    fn keeps_all(&self) -> bool {
        !(self.letter || self.digit || self.whitespace || self.punctuation || self.symbol)
    }

    fn keeps(&self, c: char) -> bool {
        if self.keeps_all() {
            return true;
        }
        (self.letter && c.is_alphabetic())
            || (self.digit && c.is_numeric())
            || (self.whitespace && c.is_whitespace())
            || (self.punctuation && c.is_ascii_punctuation())
            || (self.symbol && !c.is_alphanumeric() && !c.is_whitespace() && !c.is_ascii_punctuation())
    }
}

/// A configured tokenizer.
#[derive(Debug, Clone)]
pub enum Tokenizer {
    /// UAX #29 word boundaries; segments without letters or digits are dropped.
    Standard { max_token_length: usize },
    /// Splits on whitespace.
    Whitespace { max_token_length: usize },
    /// The whole input as one token.
    Keyword,
    /// Maximal runs of letters.
    Letter,
    /// `letter` + lowercase (the `simple` analyzer's tokenizer).
    Lowercase,
    /// Every n-gram of every run of kept characters.
    NGram { min: usize, max: usize, token_chars: TokenChars },
    /// Prefixes (min..=max characters) of every run of kept characters.
    EdgeNGram { min: usize, max: usize, token_chars: TokenChars },
    /// Splits on a regex (`group: -1`) or emits a capture group's matches.
    Pattern { regex: regex::Regex, group: i64, lowercase: bool },
}

impl Tokenizer {
    pub fn tokenize(&self, text: &str) -> Vec<Token> {
        let mut out = Vec::new();
        match self {
            Tokenizer::Standard { max_token_length } => {
                for (start, word) in text.split_word_bound_indices() {
                    let Some(kind) = standard_type(word) else { continue };
                    push_split(&mut out, start, word, *max_token_length, kind);
                }
            }
            Tokenizer::Whitespace { max_token_length } => {
                for (start, run) in runs(text, |c| !is_java_whitespace(c)) {
                    push_split(&mut out, start, run, *max_token_length, "word");
                }
            }
            Tokenizer::Keyword => {
                if !text.is_empty() {
                    out.push(Token::new(text.to_string(), 0, text.len(), "word"));
                }
            }
            Tokenizer::Letter => {
                for (start, run) in runs(text, char::is_alphabetic) {
                    push_split(&mut out, start, run, DEFAULT_MAX_TOKEN_LENGTH, "word");
                }
            }
            Tokenizer::Lowercase => {
                for (start, run) in runs(text, char::is_alphabetic) {
                    out.push(Token::new(run.to_lowercase(), start, start + run.len(), "word"));
                }
            }
            Tokenizer::NGram { min, max, token_chars } => {
                for (start, run) in runs(text, |c| token_chars.keeps(c)) {
                    let chars: Vec<(usize, char)> = run.char_indices().collect();
                    for i in 0..chars.len() {
                        for n in *min..=*max {
                            if i + n > chars.len() {
                                break;
                            }
                            let b = chars[i].0;
                            let e = chars.get(i + n).map(|c| c.0).unwrap_or(run.len());
                            out.push(Token::new(run[b..e].to_string(), start + b, start + e, "word"));
                        }
                    }
                }
            }
            Tokenizer::EdgeNGram { min, max, token_chars } => {
                for (start, run) in runs(text, |c| token_chars.keeps(c)) {
                    let ends: Vec<usize> =
                        run.char_indices().map(|(i, _)| i).skip(1).chain(std::iter::once(run.len())).collect();
                    for n in *min..=*max {
                        let Some(&e) = ends.get(n - 1) else { break };
                        out.push(Token::new(run[..e].to_string(), start, start + e, "word"));
                    }
                }
            }
            Tokenizer::Pattern { regex, group, lowercase } => {
                if *group < 0 {
                    let mut last = 0;
                    for m in regex.find_iter(text) {
                        if m.start() > last {
                            out.push(Token::new(text[last..m.start()].to_string(), last, m.start(), "word"));
                        }
                        last = m.end();
                    }
                    if last < text.len() {
                        out.push(Token::new(text[last..].to_string(), last, text.len(), "word"));
                    }
                } else {
                    for caps in regex.captures_iter(text) {
                        if let Some(m) = caps.get(*group as usize) {
                            if !m.as_str().is_empty() {
                                out.push(Token::new(m.as_str().to_string(), m.start(), m.end(), "word"));
                            }
                        }
                    }
                }
                if *lowercase {
                    for t in &mut out {
                        t.text = t.text.to_lowercase();
                    }
                }
            }
        }
        for (i, t) in out.iter_mut().enumerate() {
            t.position = i as u32;
        }
        out
    }
}

/// Java's `Character.isWhitespace`: Unicode spaces except the non-breaking ones.
fn is_java_whitespace(c: char) -> bool {
    c.is_whitespace() && !matches!(c, '\u{00A0}' | '\u{2007}' | '\u{202F}')
}

/// Maximal runs of characters satisfying `keep`, with their byte start.
fn runs(text: &str, keep: impl Fn(char) -> bool) -> Vec<(usize, &str)> {
    let mut out = Vec::new();
    let mut start = None;
    for (i, c) in text.char_indices() {
        match (keep(c), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) => {
                out.push((s, &text[s..i]));
                start = None;
            }
            _ => {}
        }
    }
    if let Some(s) = start {
        out.push((s, &text[s..]));
    }
    out
}

/// Lucene splits tokens longer than `max_token_length` characters into chunks of that size.
fn push_split(out: &mut Vec<Token>, start: usize, word: &str, max_chars: usize, kind: &'static str) {
    let max_chars = max_chars.max(1);
    let mut chunk_start = 0;
    let mut count = 0;
    for (i, _) in word.char_indices() {
        if count == max_chars {
            out.push(Token::new(word[chunk_start..i].to_string(), start + chunk_start, start + i, kind));
            chunk_start = i;
            count = 0;
        }
        count += 1;
    }
    if chunk_start < word.len() {
        out.push(Token::new(word[chunk_start..].to_string(), start + chunk_start, start + word.len(), kind));
    }
}

/// The Lucene token type of a UAX #29 word segment, `None` for segments that are not
/// tokens (spaces, punctuation).
fn standard_type(word: &str) -> Option<&'static str> {
    let mut has_alpha = false;
    let mut has_alnum = false;
    for c in word.chars() {
        if is_ideographic(c) {
            return Some("<IDEOGRAPHIC>");
        }
        if ('\u{3040}'..='\u{309F}').contains(&c) {
            return Some("<HIRAGANA>");
        }
        if ('\u{30A0}'..='\u{30FF}').contains(&c) || ('\u{31F0}'..='\u{31FF}').contains(&c) {
            return Some("<KATAKANA>");
        }
        if ('\u{AC00}'..='\u{D7AF}').contains(&c) || ('\u{1100}'..='\u{11FF}').contains(&c) {
            return Some("<HANGUL>");
        }
        if c.is_alphabetic() {
            has_alpha = true;
        }
        if c.is_alphanumeric() {
            has_alnum = true;
        }
    }
    match (has_alnum, has_alpha) {
        (false, _) => None,
        (true, true) => Some("<ALPHANUM>"),
        (true, false) => Some("<NUM>"),
    }
}

fn is_ideographic(c: char) -> bool {
    matches!(c,
        '\u{3400}'..='\u{4DBF}' | '\u{4E00}'..='\u{9FFF}' | '\u{F900}'..='\u{FAFF}'
        | '\u{20000}'..='\u{2FFFF}' | '\u{3005}' | '\u{3007}' | '\u{3021}'..='\u{3029}')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(t: &Tokenizer, s: &str) -> Vec<String> {
        t.tokenize(s).into_iter().map(|t| t.text).collect()
    }

    #[test]
    fn standard_follows_word_boundaries() {
        let t = Tokenizer::Standard { max_token_length: 255 };
        assert_eq!(
            texts(&t, "Python's x86_64 3.11 package.json, e.g. U.S.A. 中文"),
            ["Python's", "x86_64", "3.11", "package.json", "e.g", "U.S.A", "中", "文"]
        );
        let toks = t.tokenize("a 42");
        assert_eq!((toks[1].kind, toks[1].position, toks[1].start, toks[1].end), ("<NUM>", 1, 2, 4));
    }

    #[test]
    fn long_tokens_are_split() {
        let t = Tokenizer::Standard { max_token_length: 3 };
        assert_eq!(texts(&t, "abcdefg"), ["abc", "def", "g"]);
    }

    #[test]
    fn ngrams() {
        let t = Tokenizer::NGram { min: 1, max: 2, token_chars: TokenChars::default() };
        assert_eq!(texts(&t, "abc"), ["a", "ab", "b", "bc", "c"]);
        let e = Tokenizer::EdgeNGram { min: 1, max: 3, token_chars: TokenChars { letter: true, ..Default::default() } };
        assert_eq!(texts(&e, "ab cdef"), ["a", "ab", "c", "cd", "cde"]);
    }
}
