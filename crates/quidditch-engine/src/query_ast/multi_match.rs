//! `multi_match`: a `match` (or `match_phrase`) over several fields, combined per `type`.

use serde_json::Value;
use tantivy::query::{BooleanQuery, DisjunctionMaxQuery, EmptyQuery, Query};

use super::field::scalar_to_string;
use super::{
    LoweringContext, MatchPhraseQuery, MatchQuery, MinimumShouldMatch, Operator, QueryError,
    boosted, wildcard::glob_match,
};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum MultiMatchType {
    /// Score of the best field (+ `tie_breaker` × the others).
    #[default]
    BestFields,
    /// Sum of the field scores.
    MostFields,
    /// Term-centric: every term may match in any field.
    CrossFields,
    Phrase,
    PhrasePrefix,
    BoolPrefix,
}

#[derive(Debug, Clone, PartialEq)]
pub struct MultiMatchQuery {
    /// Field names or patterns with optional `^boost` (`title^2`, `*_name`).
    pub fields: Vec<(String, Option<f32>)>,
    pub query: Value,
    pub match_type: MultiMatchType,
    pub operator: Operator,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    pub tie_breaker: Option<f32>,
    pub analyzer: Option<String>,
    pub slop: u32,
    pub lenient: bool,
    /// `fuzziness` for the per-field `match` queries.
    pub fuzzy: Option<super::FuzzyOptions>,
    pub boost: Option<f32>,
}

impl MultiMatchQuery {
    /// The concrete fields the patterns expand to, with their boosts.
    fn expand_fields(&self, ctx: &LoweringContext<'_>) -> (Vec<(String, Option<f32>)>, bool) {
        let patterns: Vec<(String, Option<f32>)> = if self.fields.is_empty() {
            vec![("*".to_string(), None)]
        } else {
            self.fields.clone()
        };
        let mut expanded_any_pattern = false;
        let mut out = Vec::new();
        let all = ctx.fields.field_names();
        for (pattern, boost) in patterns {
            if pattern.contains('*') {
                expanded_any_pattern = true;
                for name in all.iter().filter(|n| glob_match(&pattern, n)) {
                    if !out.iter().any(|(n, _)| n == name) {
                        out.push((name.clone(), boost));
                    }
                }
            } else if !out.iter().any(|(n, _)| n == &pattern) {
                out.push((pattern, boost));
            }
        }
        (out, expanded_any_pattern)
    }

    fn field_query(
        &self,
        ctx: &LoweringContext<'_>,
        field: &str,
        boost: Option<f32>,
        query: Value,
        operator: Operator,
    ) -> Result<Box<dyn Query>, QueryError> {
        match self.match_type {
            MultiMatchType::PhrasePrefix => super::MatchPhrasePrefixQuery {
                field: field.to_string(),
                query,
                analyzer: self.analyzer.clone(),
                max_expansions: 50,
                zero_terms_all: false,
                boost,
            }
            .lower(ctx),
            MultiMatchType::BoolPrefix => super::MatchBoolPrefixQuery {
                field: field.to_string(),
                query,
                operator,
                minimum_should_match: if operator == Operator::Or { self.minimum_should_match } else { None },
                analyzer: self.analyzer.clone(),
                fuzzy: self.fuzzy,
                boost,
            }
            .lower(ctx),
            MultiMatchType::Phrase => MatchPhraseQuery {
                field: field.to_string(),
                query,
                slop: self.slop,
                analyzer: self.analyzer.clone(),
                boost,
            }
            .lower(ctx),
            _ => MatchQuery {
                field: field.to_string(),
                query,
                operator,
                minimum_should_match: if operator == Operator::Or {
                    self.minimum_should_match
                } else {
                    None
                },
                analyzer: self.analyzer.clone(),
                zero_terms_all: false,
                fuzzy: self.fuzzy,
                boost,
            }
            .lower(ctx),
        }
    }

    /// Lowers one field, skipping fields whose type cannot take the value when lenient.
    fn lenient_field_query(
        &self,
        ctx: &LoweringContext<'_>,
        lenient: bool,
        field: &str,
        boost: Option<f32>,
        query: Value,
        operator: Operator,
    ) -> Result<Option<Box<dyn Query>>, QueryError> {
        match self.field_query(ctx, field, boost, query, operator) {
            Ok(q) => Ok(Some(q)),
            Err(e) if lenient && e.status == 400 => Ok(None),
            Err(e) => Err(e),
        }
    }

    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let (fields, from_pattern) = self.expand_fields(ctx);
        let lenient = self.lenient || from_pattern;
        if fields.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        let query: Box<dyn Query> = match self.match_type {
            MultiMatchType::CrossFields => self.lower_cross_fields(ctx, &fields, lenient)?,
            _ => {
                let mut per_field = Vec::new();
                for (field, boost) in &fields {
                    if let Some(q) = self.lenient_field_query(
                        ctx,
                        lenient,
                        field,
                        *boost,
                        self.query.clone(),
                        self.operator,
                    )? {
                        per_field.push(q);
                    }
                }
                match self.match_type {
                    MultiMatchType::MostFields => Box::new(BooleanQuery::union(per_field)),
                    _ => Box::new(DisjunctionMaxQuery::with_tie_breaker(
                        per_field,
                        self.tie_breaker.unwrap_or(0.0),
                    )),
                }
            }
        };
        Ok(boosted(query, self.boost))
    }

    /// Each term is a dis-max over the fields; terms are then combined with the operator.
    fn lower_cross_fields(
        &self,
        ctx: &LoweringContext<'_>,
        fields: &[(String, Option<f32>)],
        lenient: bool,
    ) -> Result<Box<dyn Query>, QueryError> {
        let text = scalar_to_string(&self.query, "multi_match")?;
        let words: Vec<&str> = text.split_whitespace().collect();
        let mut per_term: Vec<Box<dyn Query>> = Vec::new();
        for word in &words {
            let mut alternatives = Vec::new();
            for (field, boost) in fields {
                if let Some(q) = self.lenient_field_query(
                    ctx,
                    lenient,
                    field,
                    *boost,
                    Value::String(word.to_string()),
                    Operator::Or,
                )? {
                    alternatives.push(q);
                }
            }
            per_term.push(Box::new(DisjunctionMaxQuery::with_tie_breaker(
                alternatives,
                self.tie_breaker.unwrap_or(0.0),
            )));
        }
        let n = per_term.len();
        let required = match (self.operator, self.minimum_should_match) {
            (Operator::And, _) => n,
            (Operator::Or, Some(m)) => m.resolve(n).max(1),
            (Operator::Or, None) => 1,
        };
        Ok(Box::new(BooleanQuery::union_with_minimum_required_clauses(per_term, required)))
    }
}

