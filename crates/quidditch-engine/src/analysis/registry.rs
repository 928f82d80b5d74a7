//! Named analysis components: the built-in analyzers, tokenizers and filters, the custom ones
//! an index defines in its `analysis` settings, and the `_analyze` API on top of them.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::{Map, Value, json};

use super::filter::{ENGLISH_STOP_WORDS, Filter, SynonymMap};
use super::tokenizer::{DEFAULT_MAX_TOKEN_LENGTH, TokenChars, Tokenizer};
use super::{Analyzer, Token};
use crate::error::{EngineError, EngineResult};
use crate::query_ast::scoring::{BM25_B, BM25_K1, Similarity};

/// OpenSearch's `index.analyze.max_token_count` default.
pub const DEFAULT_MAX_TOKEN_COUNT: usize = 10_000;

/// A filter as configured; synonym filters are built when their analyzer is (their rules
/// are analysed with the tokenizer and filters that precede them).
#[derive(Debug, Clone)]
enum FilterSpec {
    Ready(Filter),
    Synonym { rules: Vec<String>, expand: bool },
}

/// An index's analysis components (built-ins plus its `analysis` settings).
#[derive(Debug, Default)]
pub struct AnalysisRegistry {
    analyzers: HashMap<String, Arc<Analyzer>>,
    normalizers: HashMap<String, Arc<Analyzer>>,
    tokenizers: HashMap<String, Tokenizer>,
    filters: HashMap<String, FilterSpec>,
    /// `index.similarity.*`: named scoring models for text fields' `similarity`.
    similarities: HashMap<String, Similarity>,
}

fn illegal(msg: impl Into<String>) -> EngineError {
    EngineError::IllegalArgument(msg.into())
}

impl AnalysisRegistry {
    /// The registry of an index without `analysis` settings.
    pub fn builtin() -> Arc<AnalysisRegistry> {
        static BUILTIN: std::sync::OnceLock<Arc<AnalysisRegistry>> = std::sync::OnceLock::new();
        BUILTIN.get_or_init(|| Arc::new(AnalysisRegistry::default())).clone()
    }

    /// Builds the registry from the `analysis` settings tree
    /// (`{"analyzer": {...}, "tokenizer": {...}, "filter": {...}, "normalizer": {...}}`).
    /// Unknown types and dangling names are 400s naming them.
    pub fn from_settings(analysis: Option<&Value>, similarity: Option<&Value>) -> EngineResult<AnalysisRegistry> {
        let mut reg = AnalysisRegistry::default();
        if let Some(Value::Object(sims)) = similarity {
            for (name, def) in sims {
                reg.similarities.insert(name.clone(), similarity_from_def(name, def)?);
            }
        } else if let Some(other) = similarity {
            return Err(illegal(format!("[index.similarity] must be an object, got {other}")));
        }
        let Some(analysis) = analysis else { return Ok(reg) };
        let section = |name: &str| -> EngineResult<Map<String, Value>> {
            match analysis.get(name) {
                None | Some(Value::Null) => Ok(Map::new()),
                Some(Value::Object(o)) => Ok(o.clone()),
                Some(other) => Err(illegal(format!("[index.analysis.{name}] must be an object, got {other}"))),
            }
        };
        if let Value::Object(top) = analysis {
            for key in top.keys() {
                if !matches!(key.as_str(), "analyzer" | "tokenizer" | "filter" | "normalizer" | "char_filter") {
                    return Err(illegal(format!("unknown setting [index.analysis.{key}]")));
                }
            }
        }
        if !section("char_filter")?.is_empty() {
            return Err(illegal("char_filter is not supported"));
        }
        for (name, def) in section("tokenizer")? {
            let tokenizer = tokenizer_from_def(&name, &def)?;
            reg.tokenizers.insert(name, tokenizer);
        }
        for (name, def) in section("filter")? {
            let spec = filter_from_def(&name, &def)?;
            reg.filters.insert(name, spec);
        }
        for (name, def) in section("analyzer")? {
            let analyzer = reg.analyzer_from_def(&name, &def)?;
            reg.analyzers.insert(name, Arc::new(analyzer));
        }
        for (name, def) in section("normalizer")? {
            let obj = def.as_object().ok_or_else(|| illegal(format!("normalizer [{name}] must be an object")))?;
            if let Some(t) = obj.get("type").and_then(Value::as_str) {
                if t != "custom" {
                    return Err(illegal(format!("Unknown normalizer type [{t}] for [{name}]")));
                }
            }
            let filters = string_list(obj.get("filter"))?;
            let mut built = Vec::new();
            for f in filters {
                match reg.filter_spec(&f).ok_or_else(|| illegal(format!("Custom normalizer [{name}] failed to find filter under name [{f}]")))? {
                    FilterSpec::Ready(filter) => built.push(filter),
                    FilterSpec::Synonym { .. } => {
                        return Err(illegal(format!("Custom normalizer [{name}] may not use filter [{f}]")));
                    }
                }
            }
            reg.normalizers.insert(name, Arc::new(Analyzer::new(Tokenizer::Keyword, built)));
        }
        Ok(reg)
    }

    /// An analyzer by name: the index's own first, then the built-ins.
    pub fn analyzer(&self, name: &str) -> Option<Arc<Analyzer>> {
        if let Some(a) = self.analyzers.get(name) {
            return Some(a.clone());
        }
        // The common case, once per text value indexed: shared, not rebuilt.
        if matches!(name, "standard" | "default") {
            return Some(standard_analyzer());
        }
        builtin_analyzer(name).map(Arc::new)
    }

    /// The index's default analyzer (`analysis.analyzer.default`, else `standard`).
    pub fn default_analyzer(&self) -> Arc<Analyzer> {
        self.analyzer("default").unwrap_or_else(standard_analyzer)
    }

    /// A similarity by name: the index's own, then `BM25` and `boolean`.
    pub fn similarity(&self, name: &str) -> Option<Similarity> {
        if let Some(s) = self.similarities.get(name) {
            return Some(*s);
        }
        match name {
            "BM25" => Some(Similarity::default()),
            "boolean" => Some(Similarity::Boolean),
            _ => None,
        }
    }

    pub fn normalizer(&self, name: &str) -> Option<Arc<Analyzer>> {
        if let Some(n) = self.normalizers.get(name) {
            return Some(n.clone());
        }
        (name == "lowercase").then(|| Arc::new(Analyzer::new(Tokenizer::Keyword, vec![Filter::Lowercase])))
    }

    fn tokenizer(&self, name: &str) -> Option<Tokenizer> {
        self.tokenizers.get(name).cloned().or_else(|| builtin_tokenizer(name))
    }

    fn filter_spec(&self, name: &str) -> Option<FilterSpec> {
        self.filters.get(name).cloned().or_else(|| builtin_filter(name).map(FilterSpec::Ready))
    }

    fn analyzer_from_def(&self, name: &str, def: &Value) -> EngineResult<Analyzer> {
        let obj = def.as_object().ok_or_else(|| illegal(format!("analyzer [{name}] must be an object")))?;
        let ty = obj.get("type").and_then(Value::as_str).unwrap_or(if obj.contains_key("tokenizer") { "custom" } else { "" });
        match ty {
            "custom" => {
                let tok_name = obj
                    .get("tokenizer")
                    .and_then(Value::as_str)
                    .ok_or_else(|| illegal(format!("custom analyzer [{name}] must be configured with a tokenizer")))?;
                let tokenizer = self
                    .tokenizer(tok_name)
                    .ok_or_else(|| illegal(format!("Custom Analyzer [{name}] failed to find tokenizer under name [{tok_name}]")))?;
                if !string_list(obj.get("char_filter"))?.is_empty() {
                    return Err(illegal(format!("Custom Analyzer [{name}]: char_filter is not supported")));
                }
                let mut specs = Vec::new();
                for f in string_list(obj.get("filter"))? {
                    let spec = self
                        .filter_spec(&f)
                        .ok_or_else(|| illegal(format!("Custom Analyzer [{name}] failed to find filter under name [{f}]")))?;
                    specs.push(spec);
                }
                build_chain(tokenizer, specs)
            }
            "standard" => {
                let max = usize_param(obj, "max_token_length", DEFAULT_MAX_TOKEN_LENGTH)?;
                let mut filters = vec![Filter::Lowercase];
                if let Some(words) = stopwords_param(obj.get("stopwords"))? {
                    filters.push(Filter::stop(words, false));
                }
                Ok(Analyzer::new(Tokenizer::Standard { max_token_length: max }, filters))
            }
            "stop" => {
                let words = stopwords_param(obj.get("stopwords"))?.unwrap_or_else(english_stop_words);
                Ok(Analyzer::new(Tokenizer::Lowercase, vec![Filter::stop(words, false)]))
            }
            "pattern" => {
                let pattern = obj.get("pattern").and_then(Value::as_str).unwrap_or(r"\W+");
                let regex = regex::Regex::new(pattern).map_err(|e| illegal(format!("invalid pattern [{pattern}] for analyzer [{name}]: {e}")))?;
                let lowercase = obj.get("lowercase").map(|v| v != &json!(false) && v != "false").unwrap_or(true);
                let mut filters = Vec::new();
                if let Some(words) = stopwords_param(obj.get("stopwords"))? {
                    filters.push(Filter::stop(words, false));
                }
                Ok(Analyzer::new(Tokenizer::Pattern { regex, group: -1, lowercase }, filters))
            }
            other => builtin_analyzer(other).ok_or_else(|| illegal(format!("Unknown analyzer type [{other}] for [{name}]"))),
        }
    }
}

/// `{"type": "BM25", "k1": 1.2, "b": 0.75}` or `{"type": "boolean"}`.
fn similarity_from_def(name: &str, def: &Value) -> EngineResult<Similarity> {
    let obj = def.as_object().ok_or_else(|| illegal(format!("similarity [{name}] must be an object")))?;
    match obj.get("type").and_then(Value::as_str) {
        Some("BM25") => {
            for key in obj.keys() {
                if !matches!(key.as_str(), "type" | "k1" | "b" | "discount_overlaps") {
                    return Err(illegal(format!("Unknown settings for similarity of type [BM25]: [{key}]")));
                }
            }
            let k1 = num_param(obj, "k1")?.unwrap_or(BM25_K1 as f64) as f32;
            let b = num_param(obj, "b")?.unwrap_or(BM25_B as f64) as f32;
            if !(k1.is_finite() && k1 >= 0.0) {
                return Err(illegal(format!("illegal k1 value: {k1}, must be a non-negative finite value")));
            }
            if !(0.0..=1.0).contains(&b) {
                return Err(illegal(format!("illegal b value: {b}, must be between 0 and 1")));
            }
            Ok(Similarity::Bm25 { k1, b })
        }
        Some("boolean") => Ok(Similarity::Boolean),
        Some(other) => Err(illegal(format!("Unknown Similarity type [{other}] for [{name}]"))),
        None => Err(illegal(format!("similarity [{name}] must have a type"))),
    }
}

/// Builds an analyzer, constructing synonym filters from the chain before them.
fn build_chain(tokenizer: Tokenizer, specs: Vec<FilterSpec>) -> EngineResult<Analyzer> {
    let mut analyzer = Analyzer::new(tokenizer, Vec::new());
    for spec in specs {
        let filter = match spec {
            FilterSpec::Ready(f) => f,
            FilterSpec::Synonym { rules, expand } => {
                let prefix = analyzer.clone();
                let map = SynonymMap::parse(&rules, expand, &|s| prefix.terms(s))
                    .map_err(|e| illegal(format!("failed to build synonyms: {e}")))?;
                Filter::Synonym(map)
            }
        };
        analyzer.filters.push(filter);
    }
    Ok(analyzer)
}

fn standard_analyzer() -> Arc<Analyzer> {
    static STANDARD: std::sync::OnceLock<Arc<Analyzer>> = std::sync::OnceLock::new();
    STANDARD
        .get_or_init(|| Arc::new(Analyzer::new(Tokenizer::Standard { max_token_length: DEFAULT_MAX_TOKEN_LENGTH }, vec![Filter::Lowercase])))
        .clone()
}

fn english_stop_words() -> Vec<String> {
    ENGLISH_STOP_WORDS.iter().map(|s| s.to_string()).collect()
}

/// Snowball languages offered as built-in analyzers and `stemmer` languages.
const LANGUAGES: &[(&str, frostem::Algorithm, Option<tantivy::tokenizer::Language>)] = {
    use frostem::Algorithm as A;
    use tantivy::tokenizer::Language as L;
    &[
        ("arabic", A::Arabic, None),
        ("danish", A::Danish, Some(L::Danish)),
        ("dutch", A::Dutch, Some(L::Dutch)),
        ("finnish", A::Finnish, Some(L::Finnish)),
        ("french", A::French, Some(L::French)),
        ("german", A::German, Some(L::German)),
        ("greek", A::Greek, None),
        ("hungarian", A::Hungarian, Some(L::Hungarian)),
        ("italian", A::Italian, Some(L::Italian)),
        ("norwegian", A::Norwegian, Some(L::Norwegian)),
        ("portuguese", A::Portuguese, Some(L::Portuguese)),
        ("romanian", A::Romanian, None),
        ("russian", A::Russian, Some(L::Russian)),
        ("spanish", A::Spanish, Some(L::Spanish)),
        ("swedish", A::Swedish, Some(L::Swedish)),
        ("turkish", A::Turkish, None),
    ]
};

fn porter() -> Filter {
    Filter::Stemmer(frostem::Stemmer::new(frostem::Algorithm::Porter))
}

/// The built-in analyzers (OpenSearch names).
fn builtin_analyzer(name: &str) -> Option<Analyzer> {
    let standard = || Tokenizer::Standard { max_token_length: DEFAULT_MAX_TOKEN_LENGTH };
    Some(match name {
        "standard" | "default" => Analyzer::new(standard(), vec![Filter::Lowercase]),
        "simple" => Analyzer::new(Tokenizer::Lowercase, vec![]),
        "whitespace" => Analyzer::new(Tokenizer::Whitespace { max_token_length: DEFAULT_MAX_TOKEN_LENGTH }, vec![]),
        "keyword" => Analyzer::new(Tokenizer::Keyword, vec![]),
        "stop" => Analyzer::new(Tokenizer::Lowercase, vec![Filter::stop(english_stop_words(), false)]),
        // Lucene's EnglishAnalyzer: possessive, lowercase, stop words, Porter stemmer.
        "english" => Analyzer::new(
            standard(),
            vec![Filter::EnglishPossessive, Filter::Lowercase, Filter::stop(english_stop_words(), false), porter()],
        ),
        _ => {
            let (_, algorithm, stop) = LANGUAGES.iter().find(|(n, _, _)| *n == name)?;
            let mut filters = vec![Filter::Lowercase];
            if let Some(lang) = stop {
                filters.push(Filter::language_stop(*lang));
            }
            filters.push(Filter::Stemmer(frostem::Stemmer::new(*algorithm)));
            Analyzer::new(standard(), filters)
        }
    })
}

fn builtin_tokenizer(name: &str) -> Option<Tokenizer> {
    Some(match name {
        "standard" => Tokenizer::Standard { max_token_length: DEFAULT_MAX_TOKEN_LENGTH },
        "whitespace" => Tokenizer::Whitespace { max_token_length: DEFAULT_MAX_TOKEN_LENGTH },
        "keyword" => Tokenizer::Keyword,
        "letter" => Tokenizer::Letter,
        "lowercase" => Tokenizer::Lowercase,
        "ngram" | "nGram" => Tokenizer::NGram { min: 1, max: 2, token_chars: TokenChars::default() },
        "edge_ngram" | "edgeNGram" => Tokenizer::EdgeNGram { min: 1, max: 2, token_chars: TokenChars::default() },
        "pattern" => Tokenizer::Pattern { regex: regex::Regex::new(r"\W+").ok()?, group: -1, lowercase: false },
        _ => return None,
    })
}

fn builtin_filter(name: &str) -> Option<Filter> {
    Some(match name {
        "lowercase" => Filter::Lowercase,
        "uppercase" => Filter::Uppercase,
        "asciifolding" => Filter::ascii_folding(false),
        "stop" => Filter::stop(english_stop_words(), false),
        "stemmer" | "porter_stem" => porter(),
        "snowball" => Filter::Stemmer(frostem::Stemmer::new(frostem::Algorithm::English)),
        "trim" => Filter::Trim,
        "unique" => Filter::Unique { only_on_same_position: false },
        "length" => Filter::Length { min: 0, max: usize::MAX },
        "shingle" => Filter::Shingle { min: 2, max: 2, output_unigrams: true, separator: " ".into() },
        "ngram" | "nGram" => Filter::NGram { min: 1, max: 2 },
        "edge_ngram" | "edgeNGram" => Filter::EdgeNGram { min: 1, max: 2 },
        _ => return None,
    })
}

/// A `stemmer` filter's language (OpenSearch names; `english` is Lucene's Porter stemmer).
fn stemmer_for(language: &str) -> Option<Filter> {
    let algorithm = match language {
        "english" | "porter" => frostem::Algorithm::Porter,
        "porter2" | "light_english" | "minimal_english" => frostem::Algorithm::English,
        "lovins" => frostem::Algorithm::Lovins,
        other => {
            let base = other.strip_prefix("light_").or_else(|| other.strip_prefix("minimal_")).unwrap_or(other);
            LANGUAGES.iter().find(|(n, _, _)| *n == base)?.1
        }
    };
    Some(Filter::Stemmer(frostem::Stemmer::new(algorithm)))
}

fn num_param(obj: &Map<String, Value>, key: &str) -> EngineResult<Option<f64>> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => Ok(n.as_f64()),
        Some(Value::String(s)) => s.parse().map(Some).map_err(|_| illegal(format!("Failed to parse value [{s}] for [{key}]"))),
        Some(other) => Err(illegal(format!("Failed to parse value [{other}] for [{key}]"))),
    }
}

fn usize_param(obj: &Map<String, Value>, key: &str, default: usize) -> EngineResult<usize> {
    match num_param(obj, key)? {
        None => Ok(default),
        Some(f) if f >= 0.0 && f.fract() == 0.0 => Ok(f as usize),
        Some(f) => Err(illegal(format!("Failed to parse value [{f}] for [{key}]"))),
    }
}

fn bool_param(obj: &Map<String, Value>, key: &str, default: bool) -> EngineResult<bool> {
    match obj.get(key) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s == "true" => Ok(true),
        Some(Value::String(s)) if s == "false" => Ok(false),
        Some(other) => Err(illegal(format!("Failed to parse value [{other}] as only [true] or [false] are allowed for [{key}]"))),
    }
}

fn string_list(v: Option<&Value>) -> EngineResult<Vec<String>> {
    match v {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(s.split(',').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect()),
        Some(Value::Array(items)) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| illegal(format!("expected a string, got {i}"))))
            .collect(),
        Some(other) => Err(illegal(format!("expected a string or an array of strings, got {other}"))),
    }
}

/// `stopwords`: `_english_`, `_none_`, or a list. `None` when absent.
fn stopwords_param(v: Option<&Value>) -> EngineResult<Option<Vec<String>>> {
    let Some(v) = v else { return Ok(None) };
    if let Value::String(s) = v {
        return match s.as_str() {
            "_english_" => Ok(Some(english_stop_words())),
            "_none_" => Ok(Some(Vec::new())),
            other if other.starts_with('_') && other.ends_with('_') => {
                Err(illegal(format!("Unknown stopwords set [{other}] (known: _english_, _none_)")))
            }
            _ => Ok(Some(string_list(Some(v))?)),
        };
    }
    string_list(Some(v)).map(Some)
}

fn token_chars(obj: &Map<String, Value>) -> EngineResult<TokenChars> {
    let mut tc = TokenChars::default();
    for c in string_list(obj.get("token_chars"))? {
        match c.as_str() {
            "letter" => tc.letter = true,
            "digit" => tc.digit = true,
            "whitespace" => tc.whitespace = true,
            "punctuation" => tc.punctuation = true,
            "symbol" => tc.symbol = true,
            other => return Err(illegal(format!("Unknown token type: '{other}', must be one of [symbol, custom, digit, whitespace, letter, punctuation]"))),
        }
    }
    Ok(tc)
}

fn gram_sizes(obj: &Map<String, Value>, name: &str) -> EngineResult<(usize, usize)> {
    let min = usize_param(obj, "min_gram", 1)?;
    let max = usize_param(obj, "max_gram", 2)?;
    if min == 0 || min > max {
        return Err(illegal(format!("[{name}]: min_gram [{min}] must be positive and not larger than max_gram [{max}]")));
    }
    Ok((min, max))
}

fn tokenizer_from_def(name: &str, def: &Value) -> EngineResult<Tokenizer> {
    let obj = def.as_object().ok_or_else(|| illegal(format!("tokenizer [{name}] must be an object")))?;
    let ty = obj.get("type").and_then(Value::as_str).ok_or_else(|| illegal(format!("tokenizer [{name}] must specify either an analyzer type, or a tokenizer")))?;
    Ok(match ty {
        "standard" => Tokenizer::Standard { max_token_length: usize_param(obj, "max_token_length", DEFAULT_MAX_TOKEN_LENGTH)? },
        "whitespace" => Tokenizer::Whitespace { max_token_length: usize_param(obj, "max_token_length", DEFAULT_MAX_TOKEN_LENGTH)? },
        "keyword" => Tokenizer::Keyword,
        "letter" => Tokenizer::Letter,
        "lowercase" => Tokenizer::Lowercase,
        "ngram" | "nGram" => {
            let (min, max) = gram_sizes(obj, name)?;
            Tokenizer::NGram { min, max, token_chars: token_chars(obj)? }
        }
        "edge_ngram" | "edgeNGram" => {
            let (min, max) = gram_sizes(obj, name)?;
            Tokenizer::EdgeNGram { min, max, token_chars: token_chars(obj)? }
        }
        "pattern" => {
            let pattern = obj.get("pattern").and_then(Value::as_str).unwrap_or(r"\W+");
            let flags = obj.get("flags").and_then(Value::as_str).unwrap_or("");
            let source = if flags.contains("CASE_INSENSITIVE") { format!("(?i){pattern}") } else { pattern.to_string() };
            let regex = regex::Regex::new(&source).map_err(|e| illegal(format!("invalid pattern [{pattern}] for tokenizer [{name}]: {e}")))?;
            let group = num_param(obj, "group")?.map(|g| g as i64).unwrap_or(-1);
            Tokenizer::Pattern { regex, group, lowercase: false }
        }
        other => return Err(illegal(format!("Unknown tokenizer type [{other}] for [{name}]"))),
    })
}

fn filter_from_def(name: &str, def: &Value) -> EngineResult<FilterSpec> {
    let obj = def.as_object().ok_or_else(|| illegal(format!("filter [{name}] must be an object")))?;
    let ty = obj.get("type").and_then(Value::as_str).ok_or_else(|| illegal(format!("token filter [{name}] must specify a type")))?;
    Ok(FilterSpec::Ready(match ty {
        "lowercase" => Filter::Lowercase,
        "uppercase" => Filter::Uppercase,
        "trim" => Filter::Trim,
        "asciifolding" => Filter::ascii_folding(bool_param(obj, "preserve_original", false)?),
        "stop" => {
            let words = stopwords_param(obj.get("stopwords"))?.unwrap_or_else(english_stop_words);
            Filter::stop(words, bool_param(obj, "ignore_case", false)?)
        }
        "stemmer" => {
            let language = obj.get("language").or_else(|| obj.get("name")).and_then(Value::as_str).unwrap_or("english");
            stemmer_for(language).ok_or_else(|| illegal(format!("Unknown stemmer language [{language}] for filter [{name}]")))?
        }
        "porter_stem" => porter(),
        "snowball" => {
            let language = obj.get("language").and_then(Value::as_str).unwrap_or("English").to_lowercase();
            let algorithm = frostem::Algorithm::from_name(&language)
                .map_err(|_| illegal(format!("Unknown snowball language [{language}] for filter [{name}]")))?;
            Filter::Stemmer(frostem::Stemmer::new(algorithm))
        }
        "synonym" | "synonym_graph" => {
            if obj.contains_key("synonyms_path") {
                return Err(illegal(format!("filter [{name}]: synonyms_path is not supported, use inline synonyms")));
            }
            let rules = string_list(obj.get("synonyms")).map_err(|_| illegal(format!("filter [{name}]: synonyms must be an array of strings")))?;
            if rules.is_empty() && !obj.contains_key("synonyms") {
                return Err(illegal(format!("synonym requires either `synonyms` or `synonyms_path` to be configured (filter [{name}])")));
            }
            return Ok(FilterSpec::Synonym { rules, expand: bool_param(obj, "expand", true)? });
        }
        "length" => Filter::Length { min: usize_param(obj, "min", 0)?, max: usize_param(obj, "max", i32::MAX as usize)? },
        "unique" => Filter::Unique { only_on_same_position: bool_param(obj, "only_on_same_position", false)? },
        "shingle" => {
            let min = usize_param(obj, "min_shingle_size", 2)?;
            let max = usize_param(obj, "max_shingle_size", 2)?;
            if min < 2 || min > max {
                return Err(illegal(format!("filter [{name}]: min_shingle_size [{min}] must be >= 2 and <= max_shingle_size [{max}]")));
            }
            Filter::Shingle {
                min,
                max,
                output_unigrams: bool_param(obj, "output_unigrams", true)?,
                separator: obj.get("token_separator").and_then(Value::as_str).unwrap_or(" ").to_string(),
            }
        }
        "ngram" | "nGram" => {
            let (min, max) = gram_sizes(obj, name)?;
            Filter::NGram { min, max }
        }
        "edge_ngram" | "edgeNGram" => {
            let (min, max) = gram_sizes(obj, name)?;
            Filter::EdgeNGram { min, max }
        }
        other => return Err(illegal(format!("Unknown filter type [{other}] for [{name}]"))),
    }))
}

/// Resolves an inline-or-named tokenizer of an `_analyze` request.
fn request_tokenizer(reg: &AnalysisRegistry, v: &Value, global: bool) -> EngineResult<Tokenizer> {
    match v {
        Value::String(name) => reg.tokenizer(name).ok_or_else(|| {
            illegal(if global { format!("failed to find global tokenizer under [{name}]") } else { format!("failed to find tokenizer under [{name}]") })
        }),
        Value::Object(_) => tokenizer_from_def("_anonymous_tokenizer", v),
        other => Err(illegal(format!("tokenizer must be a string or an object, got {other}"))),
    }
}

fn request_filters(reg: &AnalysisRegistry, v: Option<&Value>, global: bool) -> EngineResult<Vec<FilterSpec>> {
    let items = match v {
        None | Some(Value::Null) => return Ok(Vec::new()),
        Some(Value::Array(items)) => items.clone(),
        Some(one) => vec![one.clone()],
    };
    items
        .iter()
        .map(|item| match item {
            Value::String(name) => reg.filter_spec(name).ok_or_else(|| {
                illegal(if global {
                    format!("failed to find global token filter under [{name}]")
                } else {
                    format!("failed to find token filter under [{name}]")
                })
            }),
            Value::Object(_) => filter_from_def("_anonymous_tokenfilter", item),
            other => Err(illegal(format!("filter must be a string or an object, got {other}"))),
        })
        .collect()
}

/// Byte offset → UTF-16 offset (OpenSearch reports Java string offsets).
fn utf16_offset(text: &str, byte: usize) -> usize {
    text[..byte.min(text.len())].encode_utf16().count()
}

/// Runs an `_analyze` request body. `registry` is the index's (or the built-ins for
/// `/_analyze`); `field_analyzer` maps a `field` to its analyzer name through the index
/// mapping. `max_token_count` is `index.analyze.max_token_count`.
pub fn analyze_request(
    body: &Value,
    registry: &AnalysisRegistry,
    field_analyzer: &dyn Fn(&str) -> Option<Arc<Analyzer>>,
    global: bool,
    max_token_count: usize,
) -> EngineResult<Value> {
    let obj = match body {
        Value::Object(o) => o.clone(),
        Value::Null => Map::new(),
        other => return Err(EngineError::Parse(format!("request body must be an object, got {other}"))),
    };
    for key in obj.keys() {
        if !matches!(
            key.as_str(),
            "text" | "analyzer" | "tokenizer" | "filter" | "token_filter" | "char_filter" | "field" | "explain" | "attributes" | "normalizer"
        ) {
            return Err(illegal(format!("Unknown parameter [{key}] in request body or parameter is of the wrong type[VALUE_STRING] ")));
        }
    }
    let texts: Vec<String> = match obj.get("text") {
        None | Some(Value::Null) => return Err(EngineError::Validation("text is missing".into())),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Array(items)) => items.iter().map(|v| v.as_str().map(str::to_string).unwrap_or_else(|| v.to_string())).collect(),
        Some(other) => vec![other.to_string()],
    };
    if obj.get("char_filter").is_some_and(|v| v.as_array().is_none_or(|a| !a.is_empty())) {
        return Err(illegal("char_filter is not supported"));
    }
    let explain = obj.get("explain").is_some_and(|v| v == &json!(true) || v == "true");
    let (analyzer, name, custom): (Arc<Analyzer>, String, bool) = if let Some(tok) = obj.get("tokenizer") {
        if obj.contains_key("analyzer") {
            return Err(EngineError::Validation("tokenizer/analyze should be null if analyzer is specified".into()));
        }
        let tokenizer = request_tokenizer(registry, tok, global)?;
        let specs = request_filters(registry, obj.get("filter").or_else(|| obj.get("token_filter")), global)?;
        (Arc::new(build_chain(tokenizer, specs)?), "_custom".into(), true)
    } else if let Some(name) = obj.get("analyzer") {
        let name = name.as_str().ok_or_else(|| illegal("analyzer must be a string"))?;
        let a = registry.analyzer(name).ok_or_else(|| {
            illegal(if global { format!("failed to find global analyzer [{name}]") } else { format!("failed to find analyzer [{name}]") })
        })?;
        (a, name.to_string(), false)
    } else if let Some(name) = obj.get("normalizer") {
        let name = name.as_str().ok_or_else(|| illegal("normalizer must be a string"))?;
        let n = registry.normalizer(name).ok_or_else(|| illegal(format!("failed to find normalizer under [{name}]")))?;
        (n, name.to_string(), false)
    } else if obj.contains_key("filter") || obj.contains_key("token_filter") {
        let specs = request_filters(registry, obj.get("filter").or_else(|| obj.get("token_filter")), global)?;
        (Arc::new(build_chain(Tokenizer::Keyword, specs)?), "_custom".into(), true)
    } else if let Some(field) = obj.get("field").and_then(Value::as_str) {
        (field_analyzer(field).unwrap_or_else(|| registry.default_analyzer()), field.to_string(), false)
    } else {
        (registry.default_analyzer(), "standard".into(), false)
    };
    let gap = if custom { 100 } else { 0 };
    let mut out = Vec::new();
    let mut position_base = 0u32;
    let mut offset_base = 0usize;
    for text in &texts {
        let tokens: Vec<Token> = analyzer.analyze(text);
        let mut last = None;
        for t in &tokens {
            let mut tok = json!({
                "token": t.text,
                "start_offset": offset_base + utf16_offset(text, t.start),
                "end_offset": offset_base + utf16_offset(text, t.end),
                "type": t.kind,
                "position": position_base + t.position,
            });
            if t.position_length > 1 {
                tok["positionLength"] = json!(t.position_length);
            }
            out.push(tok);
            last = Some(t.position);
            if out.len() > max_token_count {
                return Err(illegal(format!(
                    "The number of tokens produced by calling _analyze has exceeded the allowed maximum of [{max_token_count}]. This limit can be set by changing the [index.analyze.max_token_count] index level setting."
                )));
            }
        }
        if let Some(p) = last {
            position_base += p + 1 + gap;
        }
        offset_base += text.encode_utf16().count() + 1;
    }
    if explain {
        let detail = if custom {
            json!({"custom_analyzer": true, "tokenizer": {"name": "_custom", "tokens": out}})
        } else {
            json!({"custom_analyzer": false, "analyzer": {"name": name, "tokens": out}})
        };
        return Ok(json!({"detail": detail}));
    }
    Ok(json!({"tokens": out}))
}

/// `_analyze` against an index: its analyzers, its fields' analyzers (`field`), its
/// `index.analyze.max_token_count`.
pub fn analyze_in_index(index: &crate::Index, body: &Value) -> EngineResult<Value> {
    let mapping = index.mapping();
    let registry = mapping.analysis().clone();
    let field_analyzer = |field: &str| -> Option<Arc<Analyzer>> {
        let f = mapping.resolve(field)?;
        if f.ty.is_text() {
            return Some(match &f.analyzer {
                Some(name) => registry.analyzer(name)?,
                None => registry.default_analyzer(),
            });
        }
        match &f.normalizer {
            Some(name) => registry.normalizer(name),
            None => Some(Arc::new(Analyzer::new(Tokenizer::Keyword, Vec::new()))),
        }
    };
    analyze_request(body, &registry, &field_analyzer, false, index.settings().analyze_max_token_count())
}

/// `_analyze` without an index: built-in components only.
pub fn analyze_global(body: &Value) -> EngineResult<Value> {
    analyze_request(body, &AnalysisRegistry::builtin(), &|_| None, true, DEFAULT_MAX_TOKEN_COUNT)
}
