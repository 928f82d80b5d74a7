//! Token filters, each a pass over a token list (Lucene's token filters, with the position
//! rules that matter for phrase queries and scoring: a removed stop word leaves a position
//! gap, a synonym shares its source token's position).

use std::collections::{HashMap, HashSet};

use tantivy::tokenizer::{AsciiFoldingFilter, TextAnalyzer};

use super::Token;

/// Lucene's English stop words (`_english_`, `EnglishAnalyzer.ENGLISH_STOP_WORDS_SET`).
pub const ENGLISH_STOP_WORDS: &[&str] = &[
    "a", "an", "and", "are", "as", "at", "be", "but", "by", "for", "if", "in", "into", "is", "it",
    "no", "not", "of", "on", "or", "such", "that", "the", "their", "then", "there", "these", "they",
    "this", "to", "was", "will", "with",
];

/// One configured token filter.
#[derive(Clone)]
pub enum Filter {
    Lowercase,
    Uppercase,
    /// Latin accents and ligatures to ASCII (tantivy's folding table, Lucene's
    /// `ASCIIFoldingFilter` equivalent); `preserve_original` keeps the unfolded token too.
    AsciiFolding { folder: TextAnalyzer, preserve_original: bool },
    Stop { words: HashSet<String>, ignore_case: bool },
    /// A language's stop words from tantivy's (Snowball) lists.
    LanguageStop(TextAnalyzer),
    /// A Snowball stemmer (`porter_stem` and `stemmer` with a language).
    Stemmer(frostem::Stemmer),
    /// English possessive `'s` removal (Lucene's `EnglishPossessiveFilter`).
    EnglishPossessive,
    Synonym(SynonymMap),
    Length { min: usize, max: usize },
    Trim,
    Unique { only_on_same_position: bool },
    Shingle { min: usize, max: usize, output_unigrams: bool, separator: String },
    NGram { min: usize, max: usize },
    EdgeNGram { min: usize, max: usize },
}

impl std::fmt::Debug for Filter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Filter::Lowercase => "lowercase",
            Filter::Uppercase => "uppercase",
            Filter::AsciiFolding { .. } => "asciifolding",
            Filter::Stop { .. } | Filter::LanguageStop(_) => "stop",
            Filter::Stemmer(_) => "stemmer",
            Filter::EnglishPossessive => "english_possessive",
            Filter::Synonym(_) => "synonym",
            Filter::Length { .. } => "length",
            Filter::Trim => "trim",
            Filter::Unique { .. } => "unique",
            Filter::Shingle { .. } => "shingle",
            Filter::NGram { .. } => "ngram",
            Filter::EdgeNGram { .. } => "edge_ngram",
        })
    }
}

impl Filter {
    pub fn ascii_folding(preserve_original: bool) -> Filter {
        let folder = TextAnalyzer::builder(tantivy::tokenizer::RawTokenizer::default())
            .filter(AsciiFoldingFilter)
            .build();
        Filter::AsciiFolding { folder, preserve_original }
    }

    pub fn language_stop(language: tantivy::tokenizer::Language) -> Filter {
        let mut builder = TextAnalyzer::builder(tantivy::tokenizer::RawTokenizer::default()).dynamic();
        if let Some(stop) = tantivy::tokenizer::StopWordFilter::new(language) {
            builder = builder.filter_dynamic(stop);
        }
        Filter::LanguageStop(builder.build())
    }

    pub fn stop(words: impl IntoIterator<Item = String>, ignore_case: bool) -> Filter {
        let words = words.into_iter().map(|w| if ignore_case { w.to_lowercase() } else { w }).collect();
        Filter::Stop { words, ignore_case }
    }

    pub fn apply(&self, tokens: Vec<Token>) -> Vec<Token> {
        match self {
            Filter::Lowercase => {
                let mut tokens = tokens;
                for t in &mut tokens {
                    // In place for ASCII (what `to_lowercase` returns for it), no new string.
                    if t.text.is_ascii() {
                        t.text.make_ascii_lowercase();
                    } else {
                        t.text = t.text.to_lowercase();
                    }
                }
                tokens
            }
            Filter::Uppercase => map_text(tokens, |t| t.to_uppercase()),
            Filter::Trim => map_text(tokens, |t| t.trim().to_string()),
            Filter::AsciiFolding { folder, preserve_original } => {
                let mut folder = folder.clone();
                let mut out = Vec::with_capacity(tokens.len());
                for t in tokens {
                    if t.text.is_ascii() {
                        out.push(t);
                        continue;
                    }
                    let folded = {
                        let mut stream = folder.token_stream(&t.text);
                        if stream.advance() { stream.token().text.clone() } else { t.text.clone() }
                    };
                    if *preserve_original && folded != t.text {
                        let mut f = t.clone();
                        f.text = folded;
                        out.push(t);
                        out.push(f);
                    } else {
                        out.push(Token { text: folded, ..t });
                    }
                }
                out
            }
            Filter::Stop { words, ignore_case } => tokens
                .into_iter()
                .filter(|t| {
                    let probe = if *ignore_case { t.text.to_lowercase() } else { t.text.clone() };
                    !words.contains(&probe)
                })
                .collect(),
            Filter::LanguageStop(stop) => {
                let mut stop = stop.clone();
                tokens.into_iter().filter(|t| stop.token_stream(&t.text).advance()).collect()
            }
            Filter::Stemmer(stemmer) => map_text(tokens, |t| stemmer.stem(t).into_owned()),
            Filter::EnglishPossessive => map_text(tokens, |t| {
                for suffix in ["'s", "'S", "\u{2019}s", "\u{2019}S"] {
                    if let Some(stripped) = t.strip_suffix(suffix) {
                        return stripped.to_string();
                    }
                }
                t.to_string()
            }),
            Filter::Synonym(map) => map.apply(tokens),
            Filter::Length { min, max } => tokens
                .into_iter()
                .filter(|t| {
                    let n = t.text.chars().count();
                    n >= *min && n <= *max
                })
                .collect(),
            Filter::Unique { only_on_same_position } => {
                let mut seen: HashSet<(Option<u32>, String)> = HashSet::new();
                tokens
                    .into_iter()
                    .filter(|t| {
                        let pos = only_on_same_position.then_some(t.position);
                        seen.insert((pos, t.text.clone()))
                    })
                    .collect()
            }
            Filter::Shingle { min, max, output_unigrams, separator } => shingles(tokens, *min, *max, *output_unigrams, separator),
            Filter::NGram { min, max } => {
                let mut out = Vec::new();
                for t in tokens {
                    let chars: Vec<char> = t.text.chars().collect();
                    for i in 0..chars.len() {
                        for n in *min..=*max {
                            if i + n > chars.len() {
                                break;
                            }
                            out.push(Token { text: chars[i..i + n].iter().collect(), ..t.clone() });
                        }
                    }
                }
                out
            }
            Filter::EdgeNGram { min, max } => {
                let mut out = Vec::new();
                for t in tokens {
                    let chars: Vec<char> = t.text.chars().collect();
                    for n in *min..=(*max).min(chars.len()) {
                        out.push(Token { text: chars[..n].iter().collect(), ..t.clone() });
                    }
                }
                out
            }
        }
    }
}

fn map_text(mut tokens: Vec<Token>, f: impl Fn(&str) -> String) -> Vec<Token> {
    for t in &mut tokens {
        t.text = f(&t.text);
    }
    tokens
}

/// Word n-grams over consecutive positions (Lucene's `ShingleFilter`, no filler tokens).
fn shingles(tokens: Vec<Token>, min: usize, max: usize, output_unigrams: bool, sep: &str) -> Vec<Token> {
    let mut out = Vec::new();
    for i in 0..tokens.len() {
        if output_unigrams {
            out.push(tokens[i].clone());
        }
        for n in min.max(2)..=max {
            if i + n > tokens.len() {
                break;
            }
            let window = &tokens[i..i + n];
            let text = window.iter().map(|t| t.text.as_str()).collect::<Vec<_>>().join(sep);
            out.push(Token {
                text,
                start: window[0].start,
                end: window[n - 1].end,
                position: tokens[i].position,
                position_length: n as u32,
                kind: "shingle",
            });
        }
    }
    out
}

/// Inline synonym rules (Solr format): `a, b, c` (equivalent; with `expand` each maps to all)
/// and `a, b => c` (explicit). Multi-word sides match consecutive tokens.
#[derive(Debug, Clone, Default)]
pub struct SynonymMap {
    /// Source token sequence → replacement sequences (in rule order).
    rules: HashMap<Vec<String>, Vec<Vec<String>>>,
    /// Longest source sequence, in tokens.
    longest: usize,
}

impl SynonymMap {
    /// Parses rules; every side is analyzed with `analyze` (the tokenizer and filters before
    /// the synonym filter, as Lucene does).
    pub fn parse(rules: &[String], expand: bool, analyze: &dyn Fn(&str) -> Vec<String>) -> Result<SynonymMap, String> {
        let mut map = SynonymMap::default();
        for rule in rules {
            let rule = rule.trim();
            if rule.is_empty() || rule.starts_with('#') {
                continue;
            }
            let side = |s: &str| -> Result<Vec<Vec<String>>, String> {
                s.split(',')
                    .map(|w| {
                        let toks = analyze(w.trim());
                        if toks.is_empty() {
                            Err(format!("term: {} was completely eliminated by analyzer", w.trim()))
                        } else {
                            Ok(toks)
                        }
                    })
                    .collect()
            };
            if let Some((lhs, rhs)) = rule.split_once("=>") {
                let (lhs, rhs) = (side(lhs)?, side(rhs)?);
                for l in lhs {
                    map.add(l, rhs.clone());
                }
            } else {
                let words = side(rule)?;
                if expand {
                    for w in &words {
                        map.add(w.clone(), words.clone());
                    }
                } else {
                    for w in &words {
                        map.add(w.clone(), vec![words[0].clone()]);
                    }
                }
            }
        }
        Ok(map)
    }

    fn add(&mut self, from: Vec<String>, to: Vec<Vec<String>>) {
        self.longest = self.longest.max(from.len());
        let entry = self.rules.entry(from).or_default();
        for t in to {
            if !entry.contains(&t) {
                entry.push(t);
            }
        }
    }

    fn apply(&self, tokens: Vec<Token>) -> Vec<Token> {
        let mut out = Vec::with_capacity(tokens.len());
        let mut i = 0;
        while i < tokens.len() {
            let mut matched = None;
            for n in (1..=self.longest.min(tokens.len() - i)).rev() {
                let key: Vec<String> = tokens[i..i + n].iter().map(|t| t.text.clone()).collect();
                if let Some(repl) = self.rules.get(&key) {
                    matched = Some((n, repl));
                    break;
                }
            }
            let Some((n, repl)) = matched else {
                out.push(tokens[i].clone());
                i += 1;
                continue;
            };
            let first = &tokens[i];
            let last = &tokens[i + n - 1];
            for seq in repl {
                let is_original = seq.len() == n && seq.iter().zip(&tokens[i..i + n]).all(|(a, t)| *a == t.text);
                for (k, word) in seq.iter().enumerate() {
                    out.push(Token {
                        text: word.clone(),
                        start: first.start,
                        end: last.end,
                        position: first.position + k as u32,
                        position_length: if seq.len() == 1 { n as u32 } else { 1 },
                        kind: if is_original { first.kind } else { "SYNONYM" },
                    });
                }
            }
            i += n;
        }
        out.sort_by_key(|t| t.position);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(words: &[&str]) -> Vec<Token> {
        words
            .iter()
            .enumerate()
            .map(|(i, w)| Token { position: i as u32, ..Token::new(w.to_string(), i, i + 1, "word") })
            .collect()
    }

    fn texts(t: &[Token]) -> Vec<(&str, u32)> {
        t.iter().map(|t| (t.text.as_str(), t.position)).collect()
    }

    #[test]
    fn stop_words_leave_position_gaps() {
        let f = Filter::stop(ENGLISH_STOP_WORDS.iter().map(|s| s.to_string()), false);
        assert_eq!(texts(&f.apply(toks(&["the", "quick", "fox"]))), [("quick", 1), ("fox", 2)]);
    }

    #[test]
    fn synonyms_share_positions() {
        let rules = vec!["laptop, notebook".to_string(), "tv => television".to_string()];
        let map = SynonymMap::parse(&rules, true, &|s| vec![s.to_lowercase()]).unwrap();
        let f = Filter::Synonym(map);
        assert_eq!(
            texts(&f.apply(toks(&["laptop", "tv"]))),
            [("laptop", 0), ("notebook", 0), ("television", 1)]
        );
    }

    #[test]
    fn folding_and_stemming() {
        assert_eq!(texts(&Filter::ascii_folding(false).apply(toks(&["café"]))), [("cafe", 0)]);
        let porter = Filter::Stemmer(frostem::Stemmer::new(frostem::Algorithm::Porter));
        assert_eq!(texts(&porter.apply(toks(&["running", "connections"]))), [("run", 0), ("connect", 1)]);
    }
}
