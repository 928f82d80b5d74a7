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
            // Most values are ASCII: their word boundaries need no Unicode tables (the same
            // segments as unicode-segmentation's, checked by `ascii_words_match_uax29`).
            Tokenizer::Standard { max_token_length } if text.is_ascii() => {
                for (start, word) in ascii_word_bound_indices(text) {
                    let Some(kind) = ascii_standard_type(word) else { continue };
                    push_split(&mut out, start, word, *max_token_length, kind);
                }
            }
            Tokenizer::Standard { max_token_length } => uax29_standard_tokens(&mut out, text, *max_token_length),
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

/// The `standard` tokenizer through unicode-segmentation's word boundaries (any text).
fn uax29_standard_tokens(out: &mut Vec<Token>, text: &str, max_token_length: usize) {
    for (start, word) in text.split_word_bound_indices() {
        let Some(kind) = standard_type(word) else { continue };
        push_split(out, start, word, max_token_length, kind);
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
    // At most `len` characters: nothing to split.
    if word.len() <= max_chars {
        out.push(Token::new(word.to_string(), start, start + word.len(), kind));
        return;
    }
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

/// The UAX #29 `Word_Break` property of an ASCII byte (the classes the ASCII range has).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AsciiWordBreak {
    Letter,
    Numeric,
    /// `:`
    MidLetter,
    /// `.` (MidNumLet) and `'` (Single_Quote): both join letters and digits alike.
    MidNumLetQ,
    /// `,` `;`
    MidNum,
    /// `_`
    ExtendNumLet,
    /// ` `
    WSegSpace,
    Cr,
    Lf,
    /// Vertical tab, form feed.
    Newline,
    Other,
}

fn ascii_word_break(b: u8) -> AsciiWordBreak {
    use AsciiWordBreak::*;
    match b {
        b'a'..=b'z' | b'A'..=b'Z' => Letter,
        b'0'..=b'9' => Numeric,
        b':' => MidLetter,
        b'.' | b'\'' => MidNumLetQ,
        b',' | b';' => MidNum,
        b'_' => ExtendNumLet,
        b' ' => WSegSpace,
        b'\r' => Cr,
        b'\n' => Lf,
        0x0B | 0x0C => Newline,
        _ => Other,
    }
}

/// Whether UAX #29 puts a word boundary before `bytes[i]` (ASCII text, `0 < i < len`):
/// rules WB3–WB13b restricted to the classes ASCII has (no Extend/Format/ZWJ, Hebrew,
/// Katakana or regional indicators, so WB4 and the rules about them never apply).
fn ascii_breaks_before(bytes: &[u8], i: usize) -> bool {
    use AsciiWordBreak::*;
    let prev = ascii_word_break(bytes[i - 1]);
    let cur = ascii_word_break(bytes[i]);
    let next = || bytes.get(i + 1).map(|&b| ascii_word_break(b));
    let before_prev = || i.checked_sub(2).map(|j| ascii_word_break(bytes[j]));
    match (prev, cur) {
        (Cr, Lf) => false,                                             // WB3
        (Cr | Lf | Newline, _) | (_, Cr | Lf | Newline) => true,        // WB3a, WB3b
        (WSegSpace, WSegSpace) => false,                               // WB3d
        (Letter | Numeric, Letter | Numeric) => false,                 // WB5, WB8, WB9, WB10
        (Letter, MidLetter | MidNumLetQ) => next() != Some(Letter),    // WB6
        (MidLetter | MidNumLetQ, Letter) => before_prev() != Some(Letter), // WB7
        (Numeric, MidNum | MidNumLetQ) => next() != Some(Numeric),     // WB12
        (MidNum | MidNumLetQ, Numeric) => before_prev() != Some(Numeric), // WB11
        (Letter | Numeric | ExtendNumLet, ExtendNumLet) => false,      // WB13a
        (ExtendNumLet, Letter | Numeric) => false,                     // WB13b
        _ => true,                                                     // WB999
    }
}

/// UAX #29 word segments of ASCII `text` with their byte start: what
/// `text.split_word_bound_indices()` returns, without the Unicode property lookups.
pub(super) fn ascii_word_bound_indices(text: &str) -> AsciiWordBounds<'_> {
    debug_assert!(text.is_ascii());
    AsciiWordBounds { text, start: 0 }
}

/// The iterator of [`ascii_word_bound_indices`].
pub(crate) struct AsciiWordBounds<'a> {
    text: &'a str,
    start: usize,
}

impl<'a> Iterator for AsciiWordBounds<'a> {
    type Item = (usize, &'a str);

    fn next(&mut self) -> Option<(usize, &'a str)> {
        let bytes = self.text.as_bytes();
        let start = self.start;
        if start >= bytes.len() {
            return None;
        }
        let mut end = start + 1;
        while end < bytes.len() {
            // Letters and digits always join (WB5, WB8–WB10): the common case, no lookup.
            if bytes[end].is_ascii_alphanumeric() && bytes[end - 1].is_ascii_alphanumeric() {
                end += 1;
                continue;
            }
            if ascii_breaks_before(bytes, end) {
                break;
            }
            end += 1;
        }
        self.start = end;
        Some((start, &self.text[start..end]))
    }
}

/// The `standard` tokenizer (with `max_token_length`) over ASCII text as a tantivy token
/// stream, optionally lowercasing: the tokens [`Tokenizer::tokenize`] (then the `lowercase`
/// filter) gives, produced one at a time into one reused token (no allocation per token).
pub(crate) struct AsciiStandardStream<'a> {
    segments: AsciiWordBounds<'a>,
    /// The rest of a segment longer than `max_token_length`, still to be cut into tokens.
    rest: Option<(usize, &'a str)>,
    max_token_length: usize,
    lowercase: bool,
    token: tantivy::tokenizer::Token,
    count: usize,
}

impl<'a> AsciiStandardStream<'a> {
    pub(crate) fn new(text: &'a str, max_token_length: usize, lowercase: bool) -> AsciiStandardStream<'a> {
        AsciiStandardStream {
            segments: ascii_word_bound_indices(text),
            rest: None,
            max_token_length: max_token_length.max(1),
            lowercase,
            token: tantivy::tokenizer::Token::default(),
            count: 0,
        }
    }
}

impl tantivy::tokenizer::TokenStream for AsciiStandardStream<'_> {
    fn advance(&mut self) -> bool {
        let (start, word) = match self.rest.take() {
            Some(rest) => rest,
            None => loop {
                let Some((start, word)) = self.segments.next() else { return false };
                if ascii_standard_type(word).is_some() {
                    break (start, word);
                }
            },
        };
        // ASCII: characters are bytes, so `push_split`'s chunks are byte chunks.
        let len = word.len().min(self.max_token_length);
        if len < word.len() {
            self.rest = Some((start + len, &word[len..]));
        }
        let piece = &word[..len];
        let token = &mut self.token;
        token.text.clear();
        token.text.push_str(piece);
        if self.lowercase {
            token.text.make_ascii_lowercase();
        }
        token.offset_from = start;
        token.offset_to = start + len;
        token.position = self.count;
        token.position_length = 1;
        self.count += 1;
        true
    }

    fn token(&self) -> &tantivy::tokenizer::Token {
        &self.token
    }

    fn token_mut(&mut self) -> &mut tantivy::tokenizer::Token {
        &mut self.token
    }
}

/// [`standard_type`] of an ASCII segment.
fn ascii_standard_type(word: &str) -> Option<&'static str> {
    let bytes = word.as_bytes();
    if bytes.iter().any(u8::is_ascii_alphabetic) {
        Some("<ALPHANUM>")
    } else if bytes.iter().any(u8::is_ascii_digit) {
        Some("<NUM>")
    } else {
        None
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

    fn assert_same_segments(text: &str) {
        let fast: Vec<(usize, &str)> = ascii_word_bound_indices(text).collect();
        let uax29: Vec<(usize, &str)> = text.split_word_bound_indices().collect();
        assert_eq!(fast, uax29, "segments of {text:?}");
    }

    /// The standard tokenizer's tokens (fast path or not) equal unicode-segmentation's.
    fn assert_same_tokens(text: &str, max_token_length: usize) {
        let mut uax29 = Vec::new();
        uax29_standard_tokens(&mut uax29, text, max_token_length);
        for (i, t) in uax29.iter_mut().enumerate() {
            t.position = i as u32;
        }
        assert_eq!(Tokenizer::Standard { max_token_length }.tokenize(text), uax29, "tokens of {text:?}");
    }

    /// Text of the machine's Debian package index (installed packages, then every package
    /// apt knows), the real-world corpus of the relevance tests; empty off Debian.
    fn debian_package_text() -> String {
        let mut text = std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default();
        if let Ok(out) = std::process::Command::new("apt-cache").arg("dumpavail").output() {
            text.push_str(&String::from_utf8_lossy(&out.stdout));
        }
        text
    }

    #[test]
    fn ascii_words_match_uax29_on_debian_records() {
        let corpus = debian_package_text();
        let mut ascii_stanzas = 0;
        for stanza in corpus.split("\n\n") {
            assert_same_tokens(stanza, DEFAULT_MAX_TOKEN_LENGTH);
            if stanza.is_ascii() {
                assert_same_segments(stanza);
                ascii_stanzas += 1;
            } else {
                for line in stanza.lines().filter(|l| l.is_ascii()) {
                    assert_same_segments(line);
                }
            }
        }
        if std::path::Path::new("/var/lib/dpkg/status").exists() {
            assert!(ascii_stanzas > 10, "the package index gave only {ascii_stanzas} ASCII stanzas");
        }
    }

    #[test]
    fn ascii_words_match_uax29_on_every_short_string() {
        // Every string of up to 4 characters over one character of each ASCII word-break
        // class (and some Other ones): every rule and every context of WB6/7/11/12.
        let alphabet: Vec<char> = "aZ09.:,;'_ \t\r\n\u{b}\u{c}-\"!@".chars().collect();
        let mut strings = vec![String::new()];
        for _ in 0..4 {
            let longer: Vec<String> =
                strings.iter().flat_map(|s| alphabet.iter().map(move |c| format!("{s}{c}"))).collect();
            for s in &longer {
                assert_same_segments(s);
                assert_same_tokens(s, 2);
            }
            strings = longer;
        }
    }

    #[test]
    fn ascii_words_match_uax29_on_random_ascii() {
        let mut state = 0x2545_F491_4F6C_DD1Du64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        for _ in 0..20_000 {
            let len = (next() % 24) as usize;
            let s: String = (0..len).map(|_| (next() % 128) as u8 as char).collect();
            assert_same_segments(&s);
            assert_same_tokens(&s, DEFAULT_MAX_TOKEN_LENGTH);
        }
    }

    #[test]
    fn standard_tokens_on_punctuation_and_unicode_edge_cases() {
        let cases = [
            "a.b a..b 1,000.5 x86_64 _a_ __ a'b' 'a' 3:4 a:b a:1 1.a e.g. U.S.A. 1.2.3.4 1,2;3 a;b",
            "http://example.org/a_b?q=1&r=2 foo@bar.com C++ #hash $5.00 -- a-b a--b 'quoted' \"dq\"",
            "\r\n\r\n  a  \t b\u{b}c\u{c}d\u{7f}e\u{0}f",
            "café's naïve.test Straße ǅemal Ωmega 3.14π 中文 日本語のテキスト 한국어 עִבְרִית's",
            "emoji 👍🏽 flags 🇫🇷🇩🇪 zwj 👨\u{200d}👩\u{200d}👧 soft\u{ad}hyphen nb\u{a0}sp a\u{2019}b",
            "combining e\u{301}t\u{301}e\u{301} x\u{300}.y 1\u{2024}2 fullwidth ＡＢＣ１２３",
            &"a".repeat(300),
            &"ab1_".repeat(100),
        ];
        for text in cases {
            for max in [1, 3, DEFAULT_MAX_TOKEN_LENGTH] {
                assert_same_tokens(text, max);
            }
            if text.is_ascii() {
                assert_same_segments(text);
            }
        }
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
