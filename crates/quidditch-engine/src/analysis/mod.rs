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

#[derive(Clone)]
struct EngineTokenizer {
    analyzer: std::sync::Arc<Analyzer>,
}

struct EngineTokenStream {
    tokens: Vec<tantivy::tokenizer::Token>,
    next: usize,
}

impl tantivy::tokenizer::Tokenizer for EngineTokenizer {
    type TokenStream<'a> = EngineTokenStream;

    fn token_stream<'a>(&'a mut self, text: &'a str) -> EngineTokenStream {
        EngineTokenStream { tokens: self.analyzer.pre_tokenized(text).tokens, next: 0 }
    }
}

impl tantivy::tokenizer::TokenStream for EngineTokenStream {
    fn advance(&mut self) -> bool {
        self.next += 1;
        self.next <= self.tokens.len()
    }

    fn token(&self) -> &tantivy::tokenizer::Token {
        &self.tokens[self.next - 1]
    }

    fn token_mut(&mut self) -> &mut tantivy::tokenizer::Token {
        &mut self.tokens[self.next - 1]
    }
}
