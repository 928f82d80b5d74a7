//! Evaluating one UDF over the documents of one segment: the instance (created lazily, and
//! again after a failure under `on_error: exclude`), single and batched calls, and what a
//! failure means for the search.

use std::time::{Duration, Instant};

use quidditch_udf::{UdfError, UdfErrorKind, UdfInstance};
use tantivy::columnar::StrColumn;
use tantivy::fastfield::AliveBitSet;
use tantivy::{DocId, Score, SegmentReader};

use super::documents::{SegmentDocuments, document_id};
use super::{OnError, UdfBinding, UdfFailure};

/// The outcome for one document.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Verdict {
    /// Keep it, with this score.
    Keep(Score),
    Drop,
    /// Stop the whole scorer (fatal failure or the search deadline).
    Stop,
}

/// Documents between two deadline checks on the per-document path.
const CHECK_EVERY: u32 = 256;

pub(crate) struct Evaluator {
    binding: UdfBinding,
    reader: SegmentReader,
    instance: Option<UdfInstance>,
    ids: Option<StrColumn>,
    alive: Option<AliveBitSet>,
    countdown: u32,
    bools: Vec<bool>,
    floats: Vec<f64>,
}

impl Evaluator {
    pub fn new(binding: UdfBinding, reader: &SegmentReader) -> Evaluator {
        Evaluator {
            binding,
            reader: reader.clone(),
            instance: None,
            ids: reader.fast_fields().str("_id").ok().flatten(),
            alive: reader.alive_bitset().cloned(),
            countdown: CHECK_EVERY,
            bools: Vec::new(),
            floats: Vec::new(),
        }
    }

    /// Deleted documents are skipped before the UDF sees them.
    #[inline]
    pub fn is_alive(&self, doc: DocId) -> bool {
        self.alive.as_ref().is_none_or(|a| a.is_alive(doc))
    }

    fn instance(&mut self) -> Option<&mut UdfInstance> {
        if self.instance.is_none() {
            let run = &self.binding.run;
            let wait_until = run.deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600));
            match self.binding.udf.instantiate(self.binding.params.clone(), wait_until) {
                Ok(mut inst) => {
                    let budget = self.budget();
                    // The clause's budget and the search's deadline end UDF time with different
                    // errors (`query_timeout_ms` vs the request's `timeout`): apply them apart.
                    inst.limit_query_budget(budget);
                    if let Some(deadline) = run.deadline.filter(|d| *d < budget) {
                        inst.limit_deadline(deadline);
                    }
                    inst.set_documents(Box::new(SegmentDocuments::new(&self.reader, self.binding.fields.clone())));
                    self.instance = Some(inst);
                }
                Err(e) => {
                    if e.kind == UdfErrorKind::InstanceLimit && run.deadline_passed() {
                        run.time_out();
                    } else {
                        run.fail(UdfFailure { error: e, index: self.binding.index.to_string(), doc_id: None });
                    }
                    return None;
                }
            }
        }
        self.instance.as_mut()
    }

    /// The end of the UDF's `query_timeout_ms` budget for this clause on this index, fixed
    /// when its first instance is made, so new instances (one per segment, or replacing a
    /// failed one under `on_error: exclude`) do not renew it.
    fn budget(&self) -> Instant {
        *self
            .binding
            .budget
            .get_or_init(|| Instant::now() + Duration::from_millis(self.binding.udf.limits.query_timeout_ms))
    }

    /// Whether evaluation should go on: no fatal failure elsewhere, deadline not passed.
    fn keep_going(&mut self, docs: u32) -> bool {
        let run = &self.binding.run;
        if run.should_stop() {
            return false;
        }
        self.countdown = self.countdown.saturating_sub(docs);
        if self.countdown == 0 {
            self.countdown = CHECK_EVERY;
            if run.deadline_passed() {
                run.time_out();
                return false;
            }
        }
        true
    }

    /// Whether the UDF has the batched ABI (instantiates on first use).
    pub fn has_batch(&mut self) -> bool {
        self.instance().is_some_and(|i| i.has_batch())
    }

    fn on_error(&mut self, e: UdfError, doc: DocId) -> Verdict {
        // A failed instance is never reused: its state is whatever the trap left.
        self.instance = None;
        let run = &self.binding.run;
        if e.kind == UdfErrorKind::Timeout && run.deadline_passed() {
            run.time_out();
            return Verdict::Stop;
        }
        let doc_id = document_id(self.ids.as_ref(), doc);
        // Running out of the query's UDF time budget is not the document's fault.
        let budget_spent = Instant::now() >= self.budget();
        // A call interrupted as the clause's budget ran out can be classified as a call
        // timeout by the instance (it counts coarse epoch ticks, the budget is an Instant):
        // the limit that ended the query is the budget, so that is the error reported.
        let e = if e.kind == UdfErrorKind::Timeout && budget_spent { self.binding.udf.query_budget_exceeded() } else { e };
        let per_document = match e.kind {
            UdfErrorKind::Timeout => !budget_spent,
            UdfErrorKind::Trap | UdfErrorKind::MemoryLimit | UdfErrorKind::StackOverflow => true,
            _ => false,
        };
        if self.binding.on_error == OnError::Exclude && per_document {
            run.exclude(&e, doc_id);
            return Verdict::Drop;
        }
        run.fail(UdfFailure { error: e, index: self.binding.index.to_string(), doc_id });
        Verdict::Stop
    }

    /// `filter` for one document (`negate` for `must_not`).
    pub fn filter(&mut self, doc: DocId, score: Score, negate: bool) -> Verdict {
        if !self.keep_going(1) {
            return Verdict::Stop;
        }
        let Some(inst) = self.instance() else { return Verdict::Stop };
        match inst.filter(doc, score) {
            Ok(keep) if keep != negate => Verdict::Keep(score),
            Ok(_) => Verdict::Drop,
            Err(e) => self.on_error(e, doc),
        }
    }

    /// `score` for one document; `min_score` drops documents below it.
    pub fn score(&mut self, doc: DocId, score: Score, min_score: Option<Score>) -> Verdict {
        if !self.keep_going(1) {
            return Verdict::Stop;
        }
        let Some(inst) = self.instance() else { return Verdict::Stop };
        match inst.score(doc, score) {
            Ok(s) => keep_score(s, min_score),
            Err(e) => self.on_error(e, doc),
        }
    }

    /// Filters a block with one guest call; on failure, re-evaluates the block one document
    /// at a time (fresh instance) so the failing document is named or excluded exactly.
    /// Returns `false` to stop.
    pub fn filter_block(&mut self, docs: &[DocId], scores: &[Score], negate: bool, kept: &mut Vec<(DocId, Score)>) -> bool {
        if !self.keep_going(docs.len() as u32) {
            return false;
        }
        let mut out = std::mem::take(&mut self.bools);
        let result = match self.instance() {
            Some(inst) => inst.filter_batch(docs, scores, &mut out),
            None => return false,
        };
        let go_on = match result {
            Ok(()) => {
                kept.extend(docs.iter().zip(scores).zip(&out).filter(|(_, k)| **k != negate).map(|((d, s), _)| (*d, *s)));
                true
            }
            Err(e) => {
                if self.interrupted_by_deadline(&e) {
                    // Partial results: the documents decided before the interruption stay.
                    kept.extend(docs.iter().zip(scores).zip(&out).filter(|(_, k)| **k != negate).map(|((d, s), _)| (*d, *s)));
                }
                self.block_fallback(e, docs, scores, kept, |ev, d, s| ev.filter(d, s, negate))
            }
        };
        self.bools = out;
        go_on
    }

    /// Scores a block with one guest call; see [`filter_block`](Self::filter_block).
    pub fn score_block(&mut self, docs: &[DocId], scores: &[Score], min_score: Option<Score>, kept: &mut Vec<(DocId, Score)>) -> bool {
        if !self.keep_going(docs.len() as u32) {
            return false;
        }
        let mut out = std::mem::take(&mut self.floats);
        let result = match self.instance() {
            Some(inst) => inst.score_batch(docs, scores, &mut out),
            None => return false,
        };
        let go_on = match result {
            Ok(()) => {
                for (d, s) in docs.iter().zip(&out) {
                    if let Verdict::Keep(score) = keep_score(*s, min_score) {
                        kept.push((*d, score));
                    }
                }
                true
            }
            Err(e) => {
                if self.interrupted_by_deadline(&e) {
                    for (d, s) in docs.iter().zip(&out) {
                        if let Verdict::Keep(score) = keep_score(*s, min_score) {
                            kept.push((*d, score));
                        }
                    }
                }
                self.block_fallback(e, docs, scores, kept, |ev, d, s| ev.score(d, s, min_score))
            }
        };
        self.floats = out;
        go_on
    }

    /// The search's own deadline stopped the call (not the UDF's fault: partial results).
    fn interrupted_by_deadline(&self, e: &UdfError) -> bool {
        e.kind == UdfErrorKind::Timeout && self.binding.run.deadline_passed()
    }

    fn block_fallback(
        &mut self,
        e: UdfError,
        docs: &[DocId],
        scores: &[Score],
        kept: &mut Vec<(DocId, Score)>,
        mut one: impl FnMut(&mut Evaluator, DocId, Score) -> Verdict,
    ) -> bool {
        self.instance = None;
        let run = &self.binding.run;
        if e.kind == UdfErrorKind::Timeout && run.deadline_passed() {
            run.time_out();
            return false;
        }
        if e.kind == UdfErrorKind::InstanceLimit || e.kind == UdfErrorKind::Internal {
            let doc = docs.first().copied().unwrap_or(0);
            self.on_error(e, doc);
            return false;
        }
        for (&d, &s) in docs.iter().zip(scores) {
            match one(self, d, s) {
                Verdict::Keep(score) => kept.push((d, score)),
                Verdict::Drop => {}
                Verdict::Stop => return false,
            }
        }
        true
    }
}

#[inline]
fn keep_score(s: f64, min_score: Option<Score>) -> Verdict {
    let s = if s.is_finite() { s as Score } else { 0.0 };
    match min_score {
        Some(min) if s < min => Verdict::Drop,
        _ => Verdict::Keep(s),
    }
}
