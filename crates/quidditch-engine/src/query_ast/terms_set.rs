//! `terms_set`: documents matching at least N of the given terms, N read per document from a
//! numeric field (`minimum_should_match_field`). The score is the sum of the matching terms'
//! scores, as Lucene's `CoveringQuery`.

use serde_json::Value;
use tantivy::query::{EmptyQuery, EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

use super::field::FieldTarget;
use super::{LoweringContext, NumericColumn, QueryError, TermQuery, boosted};

#[derive(Debug, Clone, PartialEq)]
pub struct TermsSetQuery {
    pub field: String,
    pub terms: Vec<Value>,
    /// The numeric field holding each document's required number of matching terms.
    pub minimum_should_match_field: String,
    pub boost: Option<f32>,
}

impl TermsSetQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let Some(count_field) = FieldTarget::resolve(ctx, &self.minimum_should_match_field)? else {
            return Ok(Box::new(EmptyQuery));
        };
        if !count_field.kind().is_numeric() {
            return Err(QueryError::query_shard(format!(
                "failed to create query: [minimum_should_match_field] [{}] must be a numeric field, it is of type [{}]",
                self.minimum_should_match_field,
                count_field.kind().name()
            )));
        }
        let mut clauses = Vec::with_capacity(self.terms.len());
        for term in &self.terms {
            let q = TermQuery { field: self.field.clone(), value: term.clone(), boost: None, case_insensitive: false };
            clauses.push(q.lower(ctx)?);
        }
        if clauses.is_empty() {
            return Ok(Box::new(EmptyQuery));
        }
        Ok(boosted(Box::new(Covering { clauses, column: count_field.column_name() }), self.boost))
    }
}

/// The tantivy query: a union that keeps documents with enough matching clauses.
#[derive(Debug)]
struct Covering {
    clauses: Vec<Box<dyn Query>>,
    column: String,
}

impl Clone for Covering {
    fn clone(&self) -> Self {
        Covering { clauses: self.clauses.iter().map(|c| c.box_clone()).collect(), column: self.column.clone() }
    }
}

impl Query for Covering {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let weights = self.clauses.iter().map(|c| c.weight(enable_scoring)).collect::<tantivy::Result<Vec<_>>>()?;
        Ok(Box::new(CoveringWeight { weights, column: self.column.clone() }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        for c in &self.clauses {
            c.query_terms(visitor);
        }
    }
}

struct CoveringWeight {
    weights: Vec<Box<dyn Weight>>,
    column: String,
}

impl Weight for CoveringWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let Some(column) = NumericColumn::open(reader, &self.column)? else {
            return Ok(Box::new(tantivy::query::EmptyScorer));
        };
        let scorers = self.weights.iter().map(|w| w.scorer(reader, boost)).collect::<tantivy::Result<Vec<_>>>()?;
        let mut scorer = CoveringScorer { scorers, column, doc: 0, score: 0.0 };
        scorer.settle(0);
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(tantivy::TantivyError::InvalidArgument("document does not match".to_string()));
        }
        Ok(Explanation::new("sum of the matching terms (terms_set)", scorer.score()))
    }
}

struct CoveringScorer {
    scorers: Vec<Box<dyn Scorer>>,
    column: NumericColumn,
    doc: DocId,
    score: Score,
}

impl CoveringScorer {
    /// Moves to the first document ≥ `target` with enough matching clauses.
    fn settle(&mut self, mut target: DocId) -> DocId {
        loop {
            let mut candidate = TERMINATED;
            for s in &mut self.scorers {
                if s.doc() < target {
                    s.seek(target);
                }
                candidate = candidate.min(s.doc());
            }
            if candidate == TERMINATED {
                self.doc = TERMINATED;
                return TERMINATED;
            }
            let mut matched = 0usize;
            let mut score = 0.0;
            for s in &mut self.scorers {
                if s.doc() == candidate {
                    matched += 1;
                    score += s.score();
                }
            }
            let required = self.column.first(candidate);
            if required.is_some_and(|r| r >= 0.0 && matched as f64 >= r.max(1.0)) {
                self.doc = candidate;
                self.score = score;
                return candidate;
            }
            target = candidate + 1;
        }
    }
}

impl DocSet for CoveringScorer {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        self.settle(self.doc + 1)
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        self.settle(target)
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    fn size_hint(&self) -> u32 {
        self.scorers.iter().map(|s| s.size_hint()).max().unwrap_or(0)
    }
}

impl Scorer for CoveringScorer {
    fn score(&mut self) -> Score {
        self.score
    }
}
