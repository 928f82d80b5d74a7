//! The scorer shared by `wasm_udf` filters and `script_score`: it wraps the scorer of the
//! candidates and asks the UDF about each one, per document or a block at a time.

use tantivy::query::Scorer;
use tantivy::{COLLECT_BLOCK_BUFFER_LEN, DocId, DocSet, Score, TERMINATED};

use super::BLOCK;
use super::evaluator::{Evaluator, Verdict};

#[derive(Debug, Clone, Copy)]
pub(crate) enum Mode {
    /// Keep candidates the UDF's `filter` accepts (rejects, when negated); the score passes
    /// through.
    Filter { negate: bool, scored: bool },
    /// Replace the score by the UDF's `score`; drop documents below `min_score`.
    Score { min_score: Option<Score>, boost: Score },
}

pub(crate) struct UdfScorer {
    inner: Box<dyn Scorer>,
    eval: Evaluator,
    mode: Mode,
    batched: bool,
    doc: DocId,
    score: Score,
    /// Batched path: the candidates of the current block, and the kept ones.
    block_docs: Vec<DocId>,
    block_scores: Vec<Score>,
    kept: Vec<(DocId, Score)>,
    pos: usize,
    /// Evaluation stopped (search deadline, failure): serve what `kept` has, then end.
    stopped: bool,
}

impl UdfScorer {
    pub fn new(inner: Box<dyn Scorer>, mut eval: Evaluator, mode: Mode) -> UdfScorer {
        // No candidates in this segment: do not even take an instance.
        let batched = inner.doc() != TERMINATED && eval.has_batch();
        let mut scorer = UdfScorer {
            inner,
            eval,
            mode,
            batched,
            doc: TERMINATED,
            score: 0.0,
            block_docs: Vec::new(),
            block_scores: Vec::new(),
            kept: Vec::new(),
            pos: 0,
            stopped: false,
        };
        if scorer.batched {
            scorer.block_docs.reserve(BLOCK);
            scorer.block_scores.reserve(BLOCK);
            scorer.fill();
        } else {
            scorer.settle();
        }
        scorer
    }

    /// Whether the inner score is used: always for scoring, for filters only when the search
    /// scores (the UDF can read it with `get_score`, and it passes through).
    #[inline]
    fn needs_score(&self) -> bool {
        match self.mode {
            Mode::Filter { scored, .. } => scored,
            Mode::Score { .. } => true,
        }
    }

    fn set(&mut self, doc: DocId, score: Score) -> DocId {
        self.doc = doc;
        self.score = match self.mode {
            Mode::Score { boost, .. } => score * boost,
            Mode::Filter { .. } => score,
        };
        doc
    }

    /// Per-document path: from the inner scorer's current doc to the first kept one.
    fn settle(&mut self) -> DocId {
        loop {
            let d = self.inner.doc();
            if d == TERMINATED {
                return self.set(TERMINATED, 0.0);
            }
            if !self.eval.is_alive(d) {
                self.inner.advance();
                continue;
            }
            let s = if self.needs_score() { self.inner.score() } else { 0.0 };
            let verdict = match self.mode {
                Mode::Filter { negate, .. } => self.eval.filter(d, s, negate),
                Mode::Score { min_score, .. } => self.eval.score(d, s, min_score),
            };
            match verdict {
                Verdict::Keep(score) => return self.set(d, score),
                Verdict::Drop => {
                    self.inner.advance();
                }
                Verdict::Stop => return self.set(TERMINATED, 0.0),
            }
        }
    }

    /// Batched path: evaluates blocks from the inner scorer's current doc until one keeps
    /// something. The inner scorer is left on the first doc after the block.
    fn fill(&mut self) -> DocId {
        loop {
            self.kept.clear();
            if self.stopped {
                return self.set(TERMINATED, 0.0);
            }
            self.pos = 0;
            self.block_docs.clear();
            self.block_scores.clear();
            if self.needs_score() {
                while self.block_docs.len() < BLOCK {
                    let d = self.inner.doc();
                    if d == TERMINATED {
                        break;
                    }
                    if self.eval.is_alive(d) {
                        self.block_docs.push(d);
                        self.block_scores.push(self.inner.score());
                    }
                    self.inner.advance();
                }
            } else {
                // No scores: the candidates 64 at a time (one virtual call, not two per doc).
                let mut buffer = [0; COLLECT_BLOCK_BUFFER_LEN];
                while self.block_docs.len() + COLLECT_BLOCK_BUFFER_LEN <= BLOCK {
                    let n = self.inner.fill_buffer(&mut buffer);
                    self.block_docs.extend(buffer[..n].iter().copied().filter(|&d| self.eval.is_alive(d)));
                    if n < COLLECT_BLOCK_BUFFER_LEN {
                        break;
                    }
                }
                self.block_scores.resize(self.block_docs.len(), 0.0);
            }
            if self.block_docs.is_empty() {
                return self.set(TERMINATED, 0.0);
            }
            let go_on = match self.mode {
                Mode::Filter { negate, .. } => {
                    self.eval.filter_block(&self.block_docs, &self.block_scores, negate, &mut self.kept)
                }
                Mode::Score { min_score, .. } => {
                    self.eval.score_block(&self.block_docs, &self.block_scores, min_score, &mut self.kept)
                }
            };
            if !go_on {
                // What was decided before the stop (a search interrupted by its deadline
                // keeps those partial results; a failure fails the whole search anyway).
                self.stopped = true;
                if self.kept.is_empty() {
                    return self.set(TERMINATED, 0.0);
                }
            }
            if let Some(&(d, s)) = self.kept.first() {
                return self.set(d, s);
            }
        }
    }
}

impl DocSet for UdfScorer {
    fn advance(&mut self) -> DocId {
        if self.doc == TERMINATED {
            return TERMINATED;
        }
        if self.batched {
            self.pos += 1;
            if let Some(&(d, s)) = self.kept.get(self.pos) {
                return self.set(d, s);
            }
            return self.fill();
        }
        self.inner.advance();
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        if self.doc >= target {
            return self.doc;
        }
        if self.batched {
            while let Some(&(d, s)) = self.kept.get(self.pos) {
                if d >= target {
                    return self.set(d, s);
                }
                self.pos += 1;
            }
            if self.inner.doc() < target {
                self.inner.seek(target);
            }
            return self.fill();
        }
        if self.inner.doc() < target {
            self.inner.seek(target);
        }
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.doc
    }

    /// Batched: straight from the evaluated block (collectors without scores, `_count`).
    fn fill_buffer(&mut self, buffer: &mut [DocId; COLLECT_BLOCK_BUFFER_LEN]) -> usize {
        let mut n = 0;
        while self.doc != TERMINATED && n < buffer.len() {
            if !self.batched {
                buffer[n] = self.doc;
                n += 1;
                self.advance();
                continue;
            }
            // `kept[pos]` is the current doc; copy it and what follows it in the block.
            let take = self.kept.len().saturating_sub(self.pos).min(buffer.len() - n);
            if take == 0 {
                break;
            }
            for (slot, &(d, _)) in buffer[n..n + take].iter_mut().zip(&self.kept[self.pos..]) {
                *slot = d;
            }
            n += take;
            self.pos += take - 1;
            self.advance();
        }
        n
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for UdfScorer {
    fn score(&mut self) -> Score {
        self.score
    }
}
