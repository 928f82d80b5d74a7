//! Text analysis as OpenSearch does it: tokenizers and token filters composed into analyzers
//! (built-in ones like `standard`, `english`, and custom ones from an index's `analysis`
//! settings), normalizers for keyword fields, and the `_analyze` API.
//!
//! The engine runs analysis itself (documents reach tantivy as pre-tokenized text), so the
//! same `Analyzer` value produces index-time and query-time tokens, positions and offsets.

mod filter;
mod registry;
mod tokenizer;

pub use filter::{ENGLISH_STOP_WORDS, Filter, SynonymMap};
pub use registry::{AnalysisRegistry, analyze_global, analyze_in_index, analyze_request};
pub use tokenizer::{DEFAULT_MAX_TOKEN_LENGTH, TokenChars, Tokenizer};

/// One token: its text, byte offsets into the analysed value, position and Lucene type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Token {
    pub text: String,
    pub start: usize,
    pub end: usize,
    pub position: u32,
    /// Positions the token spans (multi-word synonyms, shingles).
    pub position_length: u32,
    /// `<ALPHANUM>`, `<NUM>`, `word`, `SYNONYM`, `shingle`, ….
    pub kind: &'static str,
}

impl Token {
    pub fn new(text: String, start: usize, end: usize, kind: &'static str) -> Token {
        Token { text, start, end, position: 0, position_length: 1, kind }
    }
}

/// A tokenizer followed by token filters.
#[derive(Debug, Clone)]
pub struct Analyzer {
    pub tokenizer: Tokenizer,
    pub filters: Vec<Filter>,
}

impl Analyzer {
    pub fn new(tokenizer: Tokenizer, filters: Vec<Filter>) -> Analyzer {
        Analyzer { tokenizer, filters }
    }

    /// A tantivy token stream over `text` with the tokens of [`Analyzer::analyze`]: streamed
    /// without a token list for ASCII text through the `standard` tokenizer alone or with
    /// `lowercase` (the default analyzer, the bulk of indexed text), collected otherwise.
    pub(crate) fn token_stream<'a>(&self, text: &'a str) -> EngineTokenStream<'a> {
        if let Tokenizer::Standard { max_token_length } = self.tokenizer {
            let lowercase = match self.filters.as_slice() {
                [] => Some(false),
                [Filter::Lowercase] => Some(true),
                _ => None,
            };
            if let Some(lowercase) = lowercase.filter(|_| text.is_ascii()) {
                return EngineTokenStream::Ascii(tokenizer::AsciiStandardStream::new(text, max_token_length, lowercase));
            }
        }
        EngineTokenStream::Tokens { tokens: self.pre_tokenized(text).tokens, next: 0 }
    }

    pub fn analyze(&self, text: &str) -> Vec<Token> {
        let mut tokens = self.tokenizer.tokenize(text);
        for f in &self.filters {
            if tokens.is_empty() {
                break;
            }
            tokens = f.apply(tokens);
        }
        tokens
    }

    /// Just the token texts.
    pub fn terms(&self, text: &str) -> Vec<String> {
        self.analyze(text).into_iter().map(|t| t.text).collect()
    }

    /// The value as tantivy's pre-tokenized text (the index-time form).
    pub fn pre_tokenized(&self, text: &str) -> tantivy::tokenizer::PreTokenizedString {
        let tokens = self
            .analyze(text)
            .into_iter()
            .map(|t| tantivy::tokenizer::Token {
                offset_from: t.start,
                offset_to: t.end,
                position: t.position as usize,
                text: t.text,
                position_length: t.position_length as usize,
            })
            .collect();
        tantivy::tokenizer::PreTokenizedString { text: String::new(), tokens }
    }
}

/// An analyzer as a tantivy tokenizer (for the `_text` JSON field, which tantivy tokenizes).
pub fn tantivy_analyzer(analyzer: std::sync::Arc<Analyzer>) -> tantivy::tokenizer::TextAnalyzer {
    tantivy::tokenizer::TextAnalyzer::from(EngineTokenizer { analyzer })
}

/// The analyzer of each slot of an index's typed text field pool (`_t{n}`), as its current
/// mapping says, shared by the slots' tantivy tokenizers ([`slot_tokenizer`]). The engine
/// adds pool values as plain text and tantivy analyses them while indexing: a
/// `PreTokenizedString` would be serialized to JSON inside tantivy's document and parsed
/// back to be indexed (measured: most of the `_bulk` slowdown of the typed pool).
#[derive(Debug, Default)]
pub struct SlotAnalyzers(parking_lot::RwLock<Vec<Option<std::sync::Arc<Analyzer>>>>);

impl SlotAnalyzers {
    pub fn new(analyzers: Vec<Option<std::sync::Arc<Analyzer>>>) -> SlotAnalyzers {
        SlotAnalyzers(parking_lot::RwLock::new(analyzers))
    }

    /// Installs the analyzers of a new mapping (before the mapping itself is installed, so
    /// no document built against it is indexed with an older table).
    pub fn set(&self, analyzers: Vec<Option<std::sync::Arc<Analyzer>>>) {
        *self.0.write() = analyzers;
    }

    fn get(&self, slot: u32) -> Option<std::sync::Arc<Analyzer>> {
        self.0.read().get(slot as usize).cloned().flatten()
    }
}

/// The tantivy tokenizer of pool slot `slot`: the analyzer `analyzers` has for it
/// (`fallback`, the index default, for a slot no path holds: nothing is indexed there).
pub fn slot_tokenizer(
    slot: u32,
    analyzers: std::sync::Arc<SlotAnalyzers>,
    fallback: std::sync::Arc<Analyzer>,
) -> tantivy::tokenizer::TextAnalyzer {
    tantivy::tokenizer::TextAnalyzer::from(SlotTokenizer { slot, analyzers, fallback })
}

#[derive(Clone)]
struct EngineTokenizer {
    analyzer: std::sync::Arc<Analyzer>,
}

#[derive(Clone)]
struct SlotTokenizer {
    slot: u32,
    analyzers: std::sync::Arc<SlotAnalyzers>,
    fallback: std::sync::Arc<Analyzer>,
}

impl tantivy::tokenizer::Tokenizer for SlotTokenizer {
    type TokenStream<'a> = EngineTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> EngineTokenStream<'a> {
        match self.analyzers.get(self.slot) {
            Some(analyzer) => analyzer.token_stream(text),
            None => self.fallback.token_stream(text),
        }
    }
}

/// The tokens of an engine analyzer as a tantivy token stream ([`Analyzer::token_stream`]).
pub(crate) enum EngineTokenStream<'a> {
    Ascii(tokenizer::AsciiStandardStream<'a>),
    Tokens { tokens: Vec<tantivy::tokenizer::Token>, next: usize },
}

impl tantivy::tokenizer::Tokenizer for EngineTokenizer {
    type TokenStream<'a> = EngineTokenStream<'a>;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> EngineTokenStream<'a> {
        self.analyzer.token_stream(text)
    }
}

impl tantivy::tokenizer::TokenStream for EngineTokenStream<'_> {
    fn advance(&mut self) -> bool {
        match self {
            EngineTokenStream::Ascii(s) => s.advance(),
            EngineTokenStream::Tokens { tokens, next } => {
                *next += 1;
                *next <= tokens.len()
            }
        }
    }

    fn token(&self) -> &tantivy::tokenizer::Token {
        match self {
            EngineTokenStream::Ascii(s) => s.token(),
            EngineTokenStream::Tokens { tokens, next } => &tokens[*next - 1],
        }
    }

    fn token_mut(&mut self) -> &mut tantivy::tokenizer::Token {
        match self {
            EngineTokenStream::Ascii(s) => s.token_mut(),
            EngineTokenStream::Tokens { tokens, next } => &mut tokens[*next - 1],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn streamed(analyzer: &Analyzer, text: &str) -> Vec<tantivy::tokenizer::Token> {
        use tantivy::tokenizer::TokenStream as _;
        let mut stream = analyzer.token_stream(text);
        let mut out = Vec::new();
        while stream.advance() {
            out.push(stream.token().clone());
        }
        out
    }

    /// The streamed ASCII path gives exactly the analyzer's token list (texts, offsets,
    /// positions), on the Debian package index and on edge cases.
    #[test]
    fn token_stream_equals_analyze() {
        let mut corpus = std::fs::read_to_string("/var/lib/dpkg/status").unwrap_or_default();
        corpus.push_str("\n\nU.S.A. e.g. x86_64 3.11 Python's package.json _a_ __ a..b 1,000.5 C++ \r\n tab\tsep");
        corpus.push_str(&format!("\n\n{} {}", "Ab".repeat(300), "9".repeat(7)));
        for max in [3, DEFAULT_MAX_TOKEN_LENGTH] {
            for filters in [vec![], vec![Filter::Lowercase]] {
                let analyzer = Analyzer::new(Tokenizer::Standard { max_token_length: max }, filters);
                for text in corpus.split("\n\n") {
                    assert_eq!(streamed(&analyzer, text), analyzer.pre_tokenized(text).tokens, "{text:?}");
                }
            }
        }
    }
}
