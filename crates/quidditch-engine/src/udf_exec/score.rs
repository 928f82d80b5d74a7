//! UDF scoring: the `script_score` query ([`UdfScoreQuery`]) and the per-segment evaluator a
//! `function_score` `script_score` function uses ([`SegmentScoreScript`]).

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TantivyError};

use super::UdfBinding;
use super::evaluator::{Evaluator, Verdict};
use super::scorer::{Mode, UdfScorer};

/// `script_score`: the UDF's `score` export replaces the score of each document of `query`
/// (it sees the query's score through `get_score`); `min_score` drops documents below it.
pub struct UdfScoreQuery {
    query: Box<dyn Query>,
    binding: UdfBinding,
    min_score: Option<Score>,
    boost: Score,
}

impl UdfScoreQuery {
    pub fn new(query: Box<dyn Query>, binding: UdfBinding, min_score: Option<Score>, boost: Score) -> UdfScoreQuery {
        UdfScoreQuery { query, binding, min_score, boost }
    }
}

impl Clone for UdfScoreQuery {
    fn clone(&self) -> Self {
        UdfScoreQuery {
            query: self.query.box_clone(),
            binding: self.binding.clone(),
            min_score: self.min_score,
            boost: self.boost,
        }
    }
}

impl std::fmt::Debug for UdfScoreQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdfScoreQuery").field("udf", &self.binding).field("min_score", &self.min_score).finish()
    }
}

impl Query for UdfScoreQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        // Without scoring (`_count`, sort by field) and without `min_score` the UDF's score is
        // never looked at: the query's documents are the answer.
        if !enable_scoring.is_scoring_enabled() && self.min_score.is_none() {
            return self.query.weight(enable_scoring);
        }
        // The UDF needs the inner query's score (`get_score`), even when the caller does not.
        let inner_scoring = match enable_scoring {
            EnableScoring::Disabled { searcher_opt: Some(searcher), .. } => EnableScoring::enabled_from_searcher(searcher),
            other => other,
        };
        Ok(Box::new(UdfScoreWeight {
            inner: self.query.weight(inner_scoring)?,
            binding: self.binding.clone(),
            min_score: self.min_score,
            boost: self.boost,
        }))
    }
}

struct UdfScoreWeight {
    inner: Box<dyn Weight>,
    binding: UdfBinding,
    min_score: Option<Score>,
    boost: Score,
}

impl Weight for UdfScoreWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let inner = self.inner.scorer(reader, 1.0)?;
        let eval = Evaluator::new(self.binding.clone(), reader);
        let mode = Mode::Score { min_score: self.min_score, boost: boost * self.boost };
        Ok(Box::new(UdfScorer::new(inner, eval, mode)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!("document {doc} does not match")));
        }
        Ok(Explanation::new("script_score", scorer.score()))
    }
}

/// A `function_score` `script_score` function on one segment.
pub struct SegmentScoreScript {
    eval: Evaluator,
}

impl SegmentScoreScript {
    pub fn new(binding: &UdfBinding, reader: &SegmentReader) -> SegmentScoreScript {
        SegmentScoreScript { eval: Evaluator::new(binding.clone(), reader) }
    }

    /// The function's value for `doc`, given the query's score; `None` when the UDF failed
    /// (the failure is recorded in the request's `UdfRun` and fails or trims the search).
    pub fn score(&mut self, doc: DocId, query_score: Score) -> Option<f64> {
        match self.eval.score(doc, query_score, None) {
            Verdict::Keep(s) => Some(s as f64),
            Verdict::Drop | Verdict::Stop => None,
        }
    }
}
