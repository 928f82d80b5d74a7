//! `query_string` and `simple_query_string` (and the URL's `?q=`): a query in a text syntax.
//!
//! `query_dsl` parses the text (Lucene's classic syntax, or the simple syntax) into a
//! [`QsNode`] tree at request-parse time, so syntax errors are found before any shard runs.
//! Lowering first *expands* the tree against one index's mapping into an ordinary
//! [`QueryAst`] — field patterns resolved, every value turned into `match`, `match_phrase`,
//! `prefix`, `wildcard`, `fuzzy`, `regexp`, `range` or `exists` per field, several fields
//! combined with `dis_max` — and lowers that. [`QueryStringQuery::expand`] is that
//! inspectable middle step. Both query types are this one node: they differ only in syntax and
//! in option defaults, which their parsers set.

use tantivy::query::Query;

use super::field::FieldTarget;
use super::fuzzy::Fuzziness;
use super::{
    BoolQuery, DisMaxQuery, ExistsQuery, FieldKind, FuzzyQuery, LoweringContext, MatchPhraseQuery,
    MatchQuery, MinimumShouldMatch, Operator, PrefixQuery, QueryAst, QueryError, RangeBound,
    RangeQuery, RegexpFlags, RegexpQuery, WildcardQuery, wildcard::glob_match,
};

/// How a clause of a query-string boolean takes part.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QsOccur {
    Must,
    Should,
    MustNot,
}

/// The parsed query text.
#[derive(Debug, Clone, PartialEq)]
pub enum QsNode {
    /// Clauses combined as the parser decided (`a AND b`, `+a -b`, `a | b`).
    Bool(Vec<(QsOccur, QsNode)>),
    /// One value in `field`, or in the query's fields when `None`.
    Leaf { field: Option<String>, value: QsValue, boost: Option<f32> },
    /// `(…)^2`.
    Boost(Box<QsNode>, f32),
    /// `*:*`, `*`.
    MatchAll,
}

/// A value of the query text.
#[derive(Debug, Clone, PartialEq)]
pub enum QsValue {
    /// A bare term, unescaped; analysed like a `match` query. A term starting with `>`, `>=`,
    /// `<` or `<=` is a one-sided range.
    Term(String),
    /// A term with `*` / `?` wildcards (escapes kept as `\x`).
    Wildcard(String),
    /// `foo*` of the simple syntax.
    Prefix(String),
    Phrase { text: String, slop: Option<u32> },
    /// `term~`, `term~1`.
    Fuzzy { text: String, fuzziness: Option<Fuzziness> },
    /// `/regexp/`.
    Regexp(String),
    /// `[a TO b]`, `{a TO *}`; `None` is unbounded.
    Range { lower: Option<String>, upper: Option<String>, include_lower: bool, include_upper: bool },
    /// `_exists_:field`.
    Exists,
}

/// How the per-field queries of one value are combined (`type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldCombination {
    /// `dis_max` with `tie_breaker` (`best_fields`, the default).
    #[default]
    BestFields,
    /// The sum of the field scores (`most_fields`).
    MostFields,
}

#[derive(Debug, Clone, PartialEq)]
pub struct QueryStringQuery {
    /// The query text as given (for error messages).
    pub query: String,
    pub parsed: QsNode,
    /// `fields` / `default_field` with their `^boost`; empty means every field (`*`).
    pub fields: Vec<(String, Option<f32>)>,
    /// How the tokens of one term combine when analysis splits it.
    pub default_operator: Operator,
    pub analyzer: Option<String>,
    pub quote_analyzer: Option<String>,
    /// Analyse the text of prefix terms (`foo*`) instead of only normalising it.
    pub analyze_wildcard: bool,
    /// Values a field cannot take (text in a numeric field) match nothing instead of failing.
    /// Always on when fields come from a pattern (`*`).
    pub lenient: bool,
    pub phrase_slop: u32,
    /// For `term~` without a number.
    pub fuzziness: Fuzziness,
    pub fuzzy_prefix_length: usize,
    pub fuzzy_transpositions: bool,
    pub tie_breaker: f32,
    pub combination: FieldCombination,
    /// Applies to the top-level boolean's optional clauses.
    pub minimum_should_match: Option<MinimumShouldMatch>,
    /// `allow_leading_wildcard: false` refuses `*foo` and `?foo`.
    pub allow_leading_wildcard: bool,
    pub boost: Option<f32>,
}

impl QueryStringQuery {
    /// A query over `parsed` with OpenSearch's `query_string` defaults.
    pub fn new(query: impl Into<String>, parsed: QsNode) -> QueryStringQuery {
        QueryStringQuery {
            query: query.into(),
            parsed,
            fields: Vec::new(),
            default_operator: Operator::Or,
            analyzer: None,
            quote_analyzer: None,
            analyze_wildcard: false,
            lenient: false,
            phrase_slop: 0,
            fuzziness: Fuzziness::default(),
            fuzzy_prefix_length: 0,
            fuzzy_transpositions: true,
            tie_breaker: 0.0,
            combination: FieldCombination::BestFields,
            minimum_should_match: None,
            allow_leading_wildcard: true,
            boost: None,
        }
    }

    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        self.expand(ctx)?.lower(ctx)
    }

    /// The query this text means on one index, as ordinary query nodes.
    pub fn expand(&self, ctx: &LoweringContext<'_>) -> Result<QueryAst, QueryError> {
        let mut ast = self.expand_node(ctx, &self.parsed)?;
        if let (Some(msm), QueryAst::Bool(b)) = (self.minimum_should_match, &mut ast) {
            b.minimum_should_match = Some(msm);
        }
        Ok(match self.boost {
            Some(b) => QueryAst::DisMax(DisMaxQuery { queries: vec![ast], tie_breaker: 0.0, boost: Some(b) }),
            None => ast,
        })
    }

    fn expand_node(&self, ctx: &LoweringContext<'_>, node: &QsNode) -> Result<QueryAst, QueryError> {
        Ok(match node {
            QsNode::MatchAll => QueryAst::match_all(),
            QsNode::Boost(inner, boost) => QueryAst::DisMax(DisMaxQuery {
                queries: vec![self.expand_node(ctx, inner)?],
                tie_breaker: 0.0,
                boost: Some(*boost),
            }),
            QsNode::Bool(clauses) if clauses.is_empty() => QueryAst::MatchNone(super::MatchNoneQuery),
            QsNode::Bool(clauses) => {
                let mut b = BoolQuery::default();
                for (occur, clause) in clauses {
                    let q = self.expand_node(ctx, clause)?;
                    match occur {
                        QsOccur::Must => b.must.push(q),
                        QsOccur::Should => b.should.push(q),
                        QsOccur::MustNot => b.must_not.push(q),
                    }
                }
                QueryAst::Bool(b)
            }
            QsNode::Leaf { field, value, boost } => self.expand_leaf(ctx, field.as_deref(), value, *boost)?,
        })
    }

    /// The fields a value is searched in, with their boosts, and whether a pattern produced
    /// them (which makes the search lenient, as in OpenSearch).
    fn target_fields(&self, ctx: &LoweringContext<'_>, field: Option<&str>) -> (Vec<(String, Option<f32>)>, bool) {
        let patterns: Vec<(String, Option<f32>)> = match field {
            Some(f) => vec![(f.to_string(), None)],
            None if self.fields.is_empty() => vec![("*".to_string(), None)],
            None => self.fields.clone(),
        };
        let mut from_pattern = false;
        let mut out: Vec<(String, Option<f32>)> = Vec::new();
        let mut names = None;
        for (pattern, boost) in patterns {
            if pattern.contains('*') {
                from_pattern = true;
                let all = names.get_or_insert_with(|| ctx.fields.field_names());
                for name in all.iter().filter(|n| glob_match(&pattern, n)) {
                    if !out.iter().any(|(n, _)| n == name) {
                        out.push((name.clone(), boost));
                    }
                }
            } else if !out.iter().any(|(n, _)| *n == pattern) {
                out.push((pattern, boost));
            }
        }
        (out, from_pattern)
    }

    fn expand_leaf(
        &self,
        ctx: &LoweringContext<'_>,
        field: Option<&str>,
        value: &QsValue,
        boost: Option<f32>,
    ) -> Result<QueryAst, QueryError> {
        if let QsValue::Wildcard(p) = value {
            if !self.allow_leading_wildcard && (p.starts_with('*') || p.starts_with('?')) {
                return Err(QueryError::query_shard(format!(
                    "Failed to parse query [{}]: '*' or '?' not allowed as first character in WildcardQuery",
                    self.query
                )));
            }
        }
        let (fields, from_pattern) = self.target_fields(ctx, field);
        let lenient = self.lenient || from_pattern;
        let mut per_field = Vec::new();
        for (name, field_boost) in &fields {
            let Some(q) = self.field_query(ctx, name, value)? else { continue };
            let q = with_boost(q, *field_boost);
            // A lenient search drops the fields this value does not fit.
            if lenient {
                match q.lower(ctx) {
                    Ok(_) => {}
                    Err(e) if e.status == 400 => continue,
                    Err(e) => return Err(e),
                }
            }
            per_field.push(q);
        }
        let combined = match per_field.len() {
            0 => QueryAst::MatchNone(super::MatchNoneQuery),
            1 => per_field.pop().expect("one field"),
            _ => match self.combination {
                FieldCombination::BestFields => {
                    QueryAst::DisMax(DisMaxQuery { queries: per_field, tie_breaker: self.tie_breaker, boost: None })
                }
                FieldCombination::MostFields => QueryAst::Bool(BoolQuery { should: per_field, ..BoolQuery::default() }),
            },
        };
        Ok(with_boost(combined, boost))
    }

    /// The query for `value` in one concrete field (`None`: nothing to search there).
    fn field_query(&self, ctx: &LoweringContext<'_>, field: &str, value: &QsValue) -> Result<Option<QueryAst>, QueryError> {
        let field_s = field.to_string();
        Ok(Some(match value {
            QsValue::Exists => QueryAst::Exists(ExistsQuery { field: field_s, boost: None }),
            QsValue::Term(text) => match one_sided_range(text) {
                Some((op, bound)) => range_query(field_s, op, bound),
                None => QueryAst::Match(MatchQuery {
                    field: field_s,
                    query: serde_json::Value::String(text.clone()),
                    operator: self.default_operator,
                    minimum_should_match: None,
                    analyzer: self.analyzer.clone(),
                    zero_terms_all: false,
                    fuzzy: None,
                    boost: None,
                }),
            },
            QsValue::Phrase { text, slop } => QueryAst::MatchPhrase(MatchPhraseQuery {
                field: field_s,
                query: serde_json::Value::String(text.clone()),
                slop: slop.unwrap_or(self.phrase_slop),
                analyzer: self.quote_analyzer.clone().or_else(|| self.analyzer.clone()),
                boost: None,
            }),
            QsValue::Prefix(text) => return self.prefix_query(ctx, field, text),
            QsValue::Wildcard(pattern) => {
                if pattern == "*" {
                    return Ok(Some(QueryAst::Exists(ExistsQuery { field: field_s, boost: None })));
                }
                if let Some(prefix) = literal_prefix(pattern) {
                    return self.prefix_query(ctx, field, prefix);
                }
                let pattern = match kind_of(ctx, field)? {
                    Some(FieldKind::Text) => pattern.to_lowercase(),
                    _ => pattern.clone(),
                };
                QueryAst::Wildcard(WildcardQuery { field: field_s, pattern, case_insensitive: false, boost: None })
            }
            QsValue::Fuzzy { text, fuzziness } => {
                let fuzziness = fuzziness.unwrap_or(self.fuzziness);
                match FieldTarget::resolve(ctx, field)? {
                    Some(target) if target.kind() == FieldKind::Text => {
                        let tokens = self.analyzed(target, text)?;
                        let mut clauses: Vec<QueryAst> = tokens
                            .into_iter()
                            .map(|t| self.fuzzy(field, t, fuzziness))
                            .collect();
                        match clauses.len() {
                            0 => return Ok(None),
                            1 => clauses.pop().expect("one token"),
                            _ => QueryAst::Bool(match self.default_operator {
                                Operator::And => BoolQuery { must: clauses, ..BoolQuery::default() },
                                Operator::Or => BoolQuery { should: clauses, ..BoolQuery::default() },
                            }),
                        }
                    }
                    _ => self.fuzzy(field, text.clone(), fuzziness),
                }
            }
            QsValue::Regexp(pattern) => QueryAst::Regexp(RegexpQuery {
                field: field_s,
                pattern: pattern.clone(),
                flags: RegexpFlags::default(),
                case_insensitive: false,
                boost: None,
            }),
            QsValue::Range { lower, upper, include_lower, include_upper } => QueryAst::Range(RangeQuery {
                field: field_s,
                lower: lower.as_ref().map(|v| RangeBound { value: v.clone().into(), inclusive: *include_lower }),
                upper: upper.as_ref().map(|v| RangeBound { value: v.clone().into(), inclusive: *include_upper }),
                format: None,
                boost: None,
            }),
        }))
    }

    fn fuzzy(&self, field: &str, text: String, fuzziness: Fuzziness) -> QueryAst {
        QueryAst::Fuzzy(FuzzyQuery {
            field: field.to_string(),
            value: text.into(),
            fuzziness,
            prefix_length: self.fuzzy_prefix_length,
            transpositions: self.fuzzy_transpositions,
            boost: None,
        })
    }

    /// `foo*`: on text fields the prefix is lowercased, or analysed with `analyze_wildcard`
    /// (every token but the last then has to match exactly).
    fn prefix_query(&self, ctx: &LoweringContext<'_>, field: &str, prefix: &str) -> Result<Option<QueryAst>, QueryError> {
        let unescaped = unescape(prefix);
        let prefix_ast = |value: String| {
            QueryAst::Prefix(PrefixQuery { field: field.to_string(), value, case_insensitive: false, boost: None })
        };
        let target = FieldTarget::resolve(ctx, field)?;
        let Some(target) = target.filter(|t| t.kind() == FieldKind::Text) else {
            return Ok(Some(prefix_ast(unescaped)));
        };
        if !self.analyze_wildcard {
            return Ok(Some(prefix_ast(unescaped.to_lowercase())));
        }
        let mut tokens = self.analyzed(target, &unescaped)?;
        let Some(last) = tokens.pop() else { return Ok(None) };
        if tokens.is_empty() {
            return Ok(Some(prefix_ast(last)));
        }
        let mut must: Vec<QueryAst> = tokens
            .into_iter()
            .map(|t| QueryAst::Term(super::TermQuery { field: field.to_string(), value: t.into(), boost: None, case_insensitive: false }))
            .collect();
        must.push(prefix_ast(last));
        Ok(Some(QueryAst::Bool(BoolQuery { must, ..BoolQuery::default() })))
    }

    fn analyzed(&self, mut target: FieldTarget<'_>, text: &str) -> Result<Vec<String>, QueryError> {
        if let Some(a) = &self.analyzer {
            target.resolved.search_analyzer = Some(a.clone());
        }
        Ok(target.analyze(text)?.into_iter().map(|(_, t)| t).collect())
    }
}

fn kind_of(ctx: &LoweringContext<'_>, field: &str) -> Result<Option<FieldKind>, QueryError> {
    Ok(ctx.fields.resolve(field).map(|f| f.kind))
}

fn with_boost(q: QueryAst, boost: Option<f32>) -> QueryAst {
    match boost {
        Some(b) if (b - 1.0).abs() > f32::EPSILON => {
            QueryAst::DisMax(DisMaxQuery { queries: vec![q], tie_breaker: 0.0, boost: Some(b) })
        }
        _ => q,
    }
}

/// `abc*` (escapes allowed, no other wildcard): `abc`, still escaped.
fn literal_prefix(pattern: &str) -> Option<&str> {
    let body = pattern.strip_suffix('*')?;
    let mut escaped = false;
    for c in body.chars() {
        match c {
            _ if escaped => escaped = false,
            '\\' => escaped = true,
            '*' | '?' => return None,
            _ => {}
        }
    }
    // A trailing backslash escaped the star itself.
    (!escaped).then_some(body)
}

/// `>=10`, `<2020-01-01`: the operator and the bound.
fn one_sided_range(text: &str) -> Option<(&'static str, &str)> {
    ["<=", ">=", "<", ">"]
        .into_iter()
        .find_map(|op| text.strip_prefix(op).filter(|rest| !rest.is_empty()).map(|rest| (op, rest)))
}

fn range_query(field: String, op: &str, bound: &str) -> QueryAst {
    let b = Some(RangeBound { value: bound.to_string().into(), inclusive: op.ends_with('=') });
    let (lower, upper) = if op.starts_with('>') { (b, None) } else { (None, b) };
    QueryAst::Range(RangeQuery { field, lower, upper, format: None, boost: None })
}

/// Removes `\` escapes.
pub fn unescape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '\\' {
            if let Some(n) = chars.next() {
                out.push(n);
            }
        } else {
            out.push(c);
        }
    }
    out
}
