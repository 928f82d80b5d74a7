//! `wasm_udf` as a tantivy query: the candidates' scorer wrapped by [`UdfScorer`].

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TantivyError};

use super::UdfBinding;
use super::evaluator::Evaluator;
use super::scorer::{Mode, UdfScorer};

/// Keeps the documents of `candidates` the UDF accepts (or rejects, when `negate`). Scores
/// pass through unchanged: a UDF filter never changes relevance.
pub struct UdfFilterQuery {
    candidates: Box<dyn Query>,
    binding: UdfBinding,
    negate: bool,
}

impl UdfFilterQuery {
    pub fn new(candidates: Box<dyn Query>, binding: UdfBinding, negate: bool) -> UdfFilterQuery {
        UdfFilterQuery { candidates, binding, negate }
    }
}

impl Clone for UdfFilterQuery {
    fn clone(&self) -> Self {
        UdfFilterQuery { candidates: self.candidates.box_clone(), binding: self.binding.clone(), negate: self.negate }
    }
}

impl std::fmt::Debug for UdfFilterQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UdfFilterQuery")
            .field("udf", &self.binding)
            .field("negate", &self.negate)
            .field("candidates", &self.candidates)
            .finish()
    }
}

impl Query for UdfFilterQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(UdfFilterWeight {
            candidates: self.candidates.weight(enable_scoring)?,
            binding: self.binding.clone(),
            negate: self.negate,
            scored: enable_scoring.is_scoring_enabled(),
        }))
    }
}

struct UdfFilterWeight {
    candidates: Box<dyn Weight>,
    binding: UdfBinding,
    negate: bool,
    scored: bool,
}

impl Weight for UdfFilterWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let inner = self.candidates.scorer(reader, boost)?;
        let eval = Evaluator::new(self.binding.clone(), reader);
        Ok(Box::new(UdfScorer::new(inner, eval, Mode::Filter { negate: self.negate, scored: self.scored })))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!("document {doc} does not match")));
        }
        Ok(Explanation::new("wasm_udf", scorer.score()))
    }
}
