//! `highlight`: fragments of the hits' field values with the query's matching terms wrapped
//! in tags, computed at fetch time from `_source` re-analysed with each field's analyzer.
//!
//! The terms come from the query (or `highlight_query`), walked as an AST: full-text queries
//! contribute their analysed tokens, term-level queries their value, prefix / wildcard /
//! fuzzy / regexp queries a token predicate; `must_not` clauses contribute nothing. With
//! `require_field_match` (the default) a field is highlighted with its own terms only.
//! Fragments: with `number_of_fragments: 0` each value is one fragment; otherwise values
//! longer than `fragment_size` are cut into pieces of about that many characters — at
//! sentence ends for `unified` (the default type), at word boundaries for `plain` — and the
//! pieces with matches are returned, in text order (or best first with `order: score`).
//! `unified` and `plain` share this one implementation; there is no term-vector (`fvh`) path.

use serde_json::{Map, Value};

use crate::mapping::{FieldType, Mapping};
use crate::query_ast::{
    FieldKind, LoweringContext, QueryAst, QueryError, wildcard_glob_match,
};
use crate::query_dsl::parse_query;

/// What the request's `highlight` says.
#[derive(Debug, Clone)]
pub struct HighlightSpec {
    /// Field names or patterns, in request order, each with its options.
    pub fields: Vec<(String, FieldOptions)>,
    pub highlight_query: Option<QueryAst>,
}

/// The options of one field (the top-level ones, overridden per field).
#[derive(Debug, Clone)]
pub struct FieldOptions {
    pub pre_tags: Vec<String>,
    pub post_tags: Vec<String>,
    pub fragment_size: usize,
    pub number_of_fragments: usize,
    pub no_match_size: usize,
    pub order_by_score: bool,
    pub plain: bool,
    pub require_field_match: bool,
    pub html_encoder: bool,
    pub highlight_query: Option<QueryAst>,
}

impl Default for FieldOptions {
    fn default() -> Self {
        FieldOptions {
            pre_tags: vec!["<em>".to_string()],
            post_tags: vec!["</em>".to_string()],
            fragment_size: 100,
            number_of_fragments: 5,
            no_match_size: 0,
            order_by_score: false,
            plain: false,
            require_field_match: true,
            html_encoder: false,
            highlight_query: None,
        }
    }
}

fn bad(reason: impl Into<String>) -> QueryError {
    QueryError::parsing(reason.into())
}

fn tags(key: &str, v: &Value) -> Result<Vec<String>, QueryError> {
    match v {
        Value::String(s) => Ok(vec![s.clone()]),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map(str::to_string).ok_or_else(|| bad(format!("[highlight] [{key}] must be strings"))))
            .collect(),
        _ => Err(bad(format!("[highlight] [{key}] must be an array of strings"))),
    }
}

fn usize_opt(key: &str, v: &Value) -> Result<usize, QueryError> {
    match v {
        Value::Number(n) => n.as_u64().map(|n| n as usize),
        Value::String(s) => s.parse().ok(),
        _ => None,
    }
    .ok_or_else(|| bad(format!("[highlight] [{key}] must be a non-negative integer, got [{v}]")))
}

impl FieldOptions {
    /// Applies the options of `obj` (top-level or per-field) over `self`.
    fn read(&mut self, obj: &Map<String, Value>, top_level: bool) -> Result<(), QueryError> {
        for (k, v) in obj {
            match k.as_str() {
                "pre_tags" => self.pre_tags = tags(k, v)?,
                "post_tags" => self.post_tags = tags(k, v)?,
                "fragment_size" => self.fragment_size = usize_opt(k, v)?,
                "number_of_fragments" => self.number_of_fragments = usize_opt(k, v)?,
                "no_match_size" => self.no_match_size = usize_opt(k, v)?,
                "order" => self.order_by_score = v.as_str() == Some("score"),
                "type" => {
                    self.plain = match v.as_str() {
                        Some("plain") => true,
                        Some("unified") => false,
                        Some("fvh") => {
                            return Err(QueryError::illegal_argument(
                                "the fvh highlighter is not implemented by Quidditch; use [unified] or [plain]",
                            ));
                        }
                        _ => return Err(QueryError::illegal_argument(format!("unknown highlighter type [{v}]"))),
                    }
                }
                "require_field_match" => self.require_field_match = v.as_bool().unwrap_or(v == "true"),
                "encoder" => self.html_encoder = v.as_str() == Some("html"),
                "tags_schema" => {
                    if v.as_str() == Some("styled") {
                        self.pre_tags = (1..=10).map(|i| format!("<em class=\"hlt{i}\">")).collect();
                        self.post_tags = vec!["</em>".to_string()];
                    }
                }
                "highlight_query" => self.highlight_query = Some(parse_query(v)?),
                "fields" if top_level => {}
                // Tuning knobs of Lucene's highlighters that do not change what this one does.
                "boundary_scanner" | "boundary_chars" | "boundary_max_scan" | "boundary_scanner_locale"
                | "fragmenter" | "fragment_offset" | "phrase_limit" | "max_analyzer_offset" | "matched_fields"
                | "force_source" | "highlight_filter" | "options" => {}
                other => return Err(bad(format!("[highlight] unknown field [{other}]"))),
            }
        }
        Ok(())
    }
}

impl HighlightSpec {
    pub fn parse(v: &Value) -> Result<HighlightSpec, QueryError> {
        let obj = v.as_object().ok_or_else(|| bad("[highlight] must be an object"))?;
        let mut global = FieldOptions::default();
        global.read(obj, true)?;
        let mut fields = Vec::new();
        let mut add = |name: &str, opts: &Value| -> Result<(), QueryError> {
            let mut o = global.clone();
            match opts {
                Value::Object(m) => o.read(m, false)?,
                Value::Null => {}
                _ => return Err(bad(format!("[highlight] field [{name}] options must be an object"))),
            }
            fields.push((name.to_string(), o));
            Ok(())
        };
        match obj.get("fields") {
            Some(Value::Object(m)) => {
                for (name, opts) in m {
                    add(name, opts)?;
                }
            }
            Some(Value::Array(items)) => {
                for item in items {
                    let m = item.as_object().filter(|m| m.len() == 1).ok_or_else(|| {
                        bad("[highlight] [fields] as an array must hold objects of one field each")
                    })?;
                    for (name, opts) in m {
                        add(name, opts)?;
                    }
                }
            }
            Some(_) => return Err(bad("[highlight] [fields] must be an object or an array")),
            None => return Err(bad("[highlight] requires [fields]")),
        }
        Ok(HighlightSpec { fields, highlight_query: global.highlight_query.clone() })
    }
}

/// A term a query looks for in one field (`None`: any field).
#[derive(Debug, Clone)]
enum TermMatch {
    Exact(String),
    Prefix(String),
    Glob(String),
    Fuzzy(String, u8),
    Regex(regex::Regex),
}

impl TermMatch {
    fn matches(&self, token: &str) -> bool {
        match self {
            TermMatch::Exact(t) => t == token,
            TermMatch::Prefix(p) => token.starts_with(p.as_str()),
            TermMatch::Glob(g) => wildcard_glob_match(g, token),
            TermMatch::Fuzzy(t, edits) => {
                let (a, b): (Vec<char>, Vec<char>) = (t.chars().collect(), token.chars().collect());
                crate::query_ast::within_distance(&a, &b, *edits as usize, true)
            }
            TermMatch::Regex(r) => r.is_match(token),
        }
    }
}

/// The terms of a query, per field.
struct QueryTerms<'c, 'a> {
    ctx: &'c LoweringContext<'a>,
    terms: Vec<(String, TermMatch)>,
}

impl QueryTerms<'_, '_> {
    fn analyzed(&mut self, field: &str, text: &Value, analyzer: Option<&str>, last_is_prefix: bool) {
        let Ok(Some(mut target)) = crate::query_ast::FieldTarget::resolve(self.ctx, field) else { return };
        let text = match text {
            Value::String(s) => s.clone(),
            Value::Null => return,
            other => other.to_string(),
        };
        if target.kind() != FieldKind::Text {
            let value = if target.kind() == FieldKind::Keyword { target.normalize(&text) } else { text };
            self.terms.push((field.to_string(), TermMatch::Exact(value)));
            return;
        }
        if let Some(a) = analyzer {
            target.resolved.search_analyzer = Some(a.to_string());
        }
        let Ok(tokens) = target.analyze(&text) else { return };
        let n = tokens.len();
        for (i, (_, t)) in tokens.into_iter().enumerate() {
            let m = if last_is_prefix && i + 1 == n { TermMatch::Prefix(t) } else { TermMatch::Exact(t) };
            self.terms.push((field.to_string(), m));
        }
    }

    fn exact(&mut self, field: &str, value: &Value) {
        let text = match value {
            Value::String(s) => s.clone(),
            other => other.to_string(),
        };
        let text = match crate::query_ast::FieldTarget::resolve(self.ctx, field) {
            Ok(Some(t)) if t.kind() == FieldKind::Keyword => t.normalize(&text),
            _ => text,
        };
        self.terms.push((field.to_string(), TermMatch::Exact(text)));
    }

    fn walk(&mut self, ast: &QueryAst) {
        match ast {
            QueryAst::Match(q) => self.analyzed(&q.field, &q.query, q.analyzer.as_deref(), false),
            QueryAst::MatchPhrase(q) => self.analyzed(&q.field, &q.query, q.analyzer.as_deref(), false),
            QueryAst::MatchPhrasePrefix(q) => self.analyzed(&q.field, &q.query, q.analyzer.as_deref(), true),
            QueryAst::MatchBoolPrefix(q) => self.analyzed(&q.field, &q.query, q.analyzer.as_deref(), true),
            QueryAst::MultiMatch(q) => {
                let patterns: Vec<String> = if q.fields.is_empty() {
                    vec!["*".to_string()]
                } else {
                    q.fields.iter().map(|(f, _)| f.clone()).collect()
                };
                let names = self.ctx.fields.field_names();
                for p in patterns {
                    for name in names.iter().filter(|n| wildcard_glob_match(&p, n)) {
                        self.analyzed(name, &q.query, q.analyzer.as_deref(), false);
                    }
                }
            }
            QueryAst::Term(q) => self.exact(&q.field, &q.value),
            QueryAst::Terms(q) => {
                for v in &q.values {
                    self.exact(&q.field, v);
                }
            }
            QueryAst::Prefix(q) => {
                let v = if q.case_insensitive { q.value.to_lowercase() } else { q.value.clone() };
                self.terms.push((q.field.clone(), TermMatch::Prefix(v)));
            }
            QueryAst::Wildcard(q) => self.terms.push((q.field.clone(), TermMatch::Glob(q.pattern.clone()))),
            QueryAst::Fuzzy(q) => {
                let text = match &q.value {
                    Value::String(s) => s.clone(),
                    other => other.to_string(),
                };
                let edits = q.fuzziness.edits_for(&text);
                self.terms.push((q.field.clone(), TermMatch::Fuzzy(text, edits)));
            }
            QueryAst::Regexp(q) => {
                if let Ok(t) = crate::query_ast::regexp_translate(&q.pattern, q.flags) {
                    let ci = if q.case_insensitive { "i" } else { "" };
                    if let Ok(r) = regex::Regex::new(&format!("^(?s{ci}:{t})$")) {
                        self.terms.push((q.field.clone(), TermMatch::Regex(r)));
                    }
                }
            }
            QueryAst::Bool(b) => {
                for q in b.must.iter().chain(&b.should).chain(&b.filter) {
                    self.walk(q);
                }
            }
            QueryAst::DisMax(q) => q.queries.iter().for_each(|q| self.walk(q)),
            QueryAst::ConstantScore(q) => self.walk(&q.filter),
            QueryAst::FunctionScore(q) => self.walk(&q.query),
            QueryAst::ScriptScore(q) => self.walk(&q.query),
            QueryAst::Boosting(q) => self.walk(&q.positive),
            QueryAst::QueryString(q) => {
                if let Ok(expanded) = q.expand(self.ctx) {
                    self.walk(&expanded);
                }
            }
            _ => {}
        }
    }
}

/// The `highlight` object of one hit (`None` when no field has a fragment).
pub(crate) fn highlight_hit(
    spec: &HighlightSpec,
    main_query: &QueryAst,
    ctx: &LoweringContext<'_>,
    mapping: &Mapping,
    source: &Value,
) -> Option<Value> {
    let all_names = ctx.fields.field_names();
    let mut out = Map::new();
    let mut term_cache: Vec<(*const QueryAst, Vec<(String, TermMatch)>)> = Vec::new();
    for (pattern, opts) in &spec.fields {
        let query = opts.highlight_query.as_ref().or(spec.highlight_query.as_ref()).unwrap_or(main_query);
        let key = query as *const QueryAst;
        let terms = match term_cache.iter().position(|(k, _)| *k == key) {
            Some(i) => &term_cache[i].1,
            None => {
                let mut qt = QueryTerms { ctx, terms: Vec::new() };
                qt.walk(query);
                term_cache.push((key, qt.terms));
                &term_cache.last().expect("just pushed").1
            }
        };
        let names: Vec<&String> = if pattern.contains('*') {
            all_names.iter().filter(|n| wildcard_glob_match(pattern, n)).collect()
        } else {
            all_names.iter().filter(|n| *n == pattern).collect()
        };
        for name in names {
            if out.contains_key(name.as_str()) {
                continue;
            }
            let Some(field) = mapping.resolve(name) else { continue };
            let kind = match field.ty {
                FieldType::Text | FieldType::MatchOnlyText => FieldKind::Text,
                FieldType::Keyword => FieldKind::Keyword,
                // Only string fields are highlighted (explicit names of other types too, as
                // OpenSearch does for patterns).
                _ => continue,
            };
            let matchers: Vec<&TermMatch> = terms
                .iter()
                .filter(|(f, _)| !opts.require_field_match || f == name.as_str())
                .map(|(_, m)| m)
                .collect();
            let values: Vec<String> = super::fields::source_values(source, name, mapping)
                .into_iter()
                .map(|v| match v {
                    Value::String(s) => s,
                    other => other.to_string(),
                })
                .collect();
            let fragments = highlight_values(ctx, name, kind, field.ignore_above, &values, &matchers, opts);
            if !fragments.is_empty() {
                out.insert(name.clone(), Value::Array(fragments.into_iter().map(Value::String).collect()));
            }
        }
    }
    (!out.is_empty()).then_some(Value::Object(out))
}

/// A value's tokens: (start, end, text) byte spans.
fn tokens_of(ctx: &LoweringContext<'_>, field: &str, kind: FieldKind, value: &str) -> Vec<(usize, usize, String)> {
    let Ok(Some(target)) = crate::query_ast::FieldTarget::resolve(ctx, field) else { return Vec::new() };
    if kind == FieldKind::Keyword {
        return vec![(0, value.len(), target.normalize(value))];
    }
    let analyzer = target
        .resolved
        .analyzer
        .as_deref()
        .and_then(|n| ctx.analysis.analyzer(n))
        .unwrap_or_else(|| ctx.analysis.default_analyzer());
    analyzer
        .analyze(value)
        .into_iter()
        .filter(|t| t.end <= value.len() && t.start <= t.end)
        .map(|t| (t.start, t.end, t.text))
        .collect()
}

fn highlight_values(
    ctx: &LoweringContext<'_>,
    field: &str,
    kind: FieldKind,
    ignore_above: Option<usize>,
    values: &[String],
    matchers: &[&TermMatch],
    opts: &FieldOptions,
) -> Vec<String> {
    // (score, value index, start byte, text) of every candidate fragment.
    let mut fragments: Vec<(usize, usize, usize, String)> = Vec::new();
    for (vi, value) in values.iter().enumerate() {
        // A keyword value over `ignore_above` was not indexed, so it cannot have matched.
        if kind == FieldKind::Keyword && ignore_above.is_some_and(|n| value.chars().count() > n) {
            continue;
        }
        let spans: Vec<(usize, usize)> = tokens_of(ctx, field, kind, value)
            .into_iter()
            .filter(|(_, _, t)| matchers.iter().any(|m| m.matches(t)))
            .map(|(s, e, _)| (s, e))
            .collect();
        if spans.is_empty() {
            continue;
        }
        for (start, end) in fragment_bounds(value, opts) {
            let inside: Vec<(usize, usize)> = spans.iter().copied().filter(|(s, e)| *s >= start && *e <= end).collect();
            if inside.is_empty() {
                continue;
            }
            fragments.push((inside.len(), vi, start, render(value, start, end, &inside, opts)));
        }
    }
    if fragments.is_empty() {
        return no_match_fragment(values, opts).into_iter().collect();
    }
    if opts.order_by_score {
        fragments.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)).then(a.2.cmp(&b.2)));
    }
    if opts.number_of_fragments > 0 {
        fragments.truncate(opts.number_of_fragments);
    }
    fragments.into_iter().map(|f| f.3).collect()
}

/// The first `no_match_size` characters of the first value (cut at a word boundary).
fn no_match_fragment(values: &[String], opts: &FieldOptions) -> Option<String> {
    if opts.no_match_size == 0 {
        return None;
    }
    let value = values.first()?;
    let mut end = value.char_indices().nth(opts.no_match_size).map_or(value.len(), |(i, _)| i);
    if end < value.len() {
        if let Some(space) = value[..end].rfind(char::is_whitespace) {
            end = space;
        }
    }
    Some(encode(&value[..end], opts))
}

/// Byte ranges of the fragments a value is cut into.
fn fragment_bounds(value: &str, opts: &FieldOptions) -> Vec<(usize, usize)> {
    if opts.number_of_fragments == 0 || value.chars().count() <= opts.fragment_size {
        return vec![(0, value.len())];
    }
    let size = opts.fragment_size.max(1);
    let mut bounds = Vec::new();
    let mut start = 0;
    while start < value.len() {
        let limit = value[start..].char_indices().nth(size).map_or(value.len(), |(i, _)| start + i);
        let mut end = limit;
        if limit < value.len() {
            let piece = &value[start..limit];
            let cut = if opts.plain {
                piece.rfind(char::is_whitespace).map(|i| start + i + 1)
            } else {
                // The last sentence end in the window, else the last word boundary.
                piece
                    .match_indices(['.', '!', '?'])
                    .map(|(i, _)| start + i + 1)
                    .filter(|&i| i > start)
                    .last()
                    .or_else(|| piece.rfind(char::is_whitespace).map(|i| start + i + 1))
            };
            end = cut.filter(|&c| c > start).unwrap_or(limit);
        }
        bounds.push((start, end));
        start = end;
        // Fragments do not start with the whitespace between them.
        while start < value.len() && value[start..].starts_with(char::is_whitespace) {
            start += value[start..].chars().next().map_or(1, char::len_utf8);
        }
    }
    bounds
}

fn render(value: &str, start: usize, end: usize, spans: &[(usize, usize)], opts: &FieldOptions) -> String {
    let mut out = String::new();
    let mut at = start;
    // One tag pair for every span (several `pre_tags` only matter with `tags_schema`).
    let (pre, post) = (opts.pre_tags.first().map_or("", String::as_str), opts.post_tags.first().map_or("", String::as_str));
    for (s, e) in spans {
        if *s < at {
            continue;
        }
        out.push_str(&encode(&value[at..*s], opts));
        out.push_str(pre);
        out.push_str(&encode(&value[*s..*e], opts));
        out.push_str(post);
        at = *e;
    }
    out.push_str(&encode(&value[at..end], opts));
    out.trim().to_string()
}

fn encode(text: &str, opts: &FieldOptions) -> String {
    if !opts.html_encoder {
        return text.to_string();
    }
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;").replace('\'', "&#x27;")
}
