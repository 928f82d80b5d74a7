//! `boosting`: the `positive` query's matches, with the score of those that also match
//! `negative` multiplied by `negative_boost` (demoted, not excluded).

use tantivy::query::{EnableScoring, Explanation, Query, Scorer, Weight};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED};

use super::{LoweringContext, QueryAst, QueryError, boosted};

#[derive(Debug, Clone, PartialEq)]
pub struct BoostingQuery {
    pub positive: Box<QueryAst>,
    pub negative: Box<QueryAst>,
    pub negative_boost: f32,
    pub boost: Option<f32>,
}

impl BoostingQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let query = Demote {
            positive: self.positive.lower(ctx)?,
            negative: self.negative.lower(ctx)?,
            factor: self.negative_boost,
        };
        Ok(boosted(Box::new(query), self.boost))
    }
}

/// The tantivy query of `boosting`.
#[derive(Debug)]
struct Demote {
    positive: Box<dyn Query>,
    negative: Box<dyn Query>,
    factor: Score,
}

impl Clone for Demote {
    fn clone(&self) -> Self {
        Demote { positive: self.positive.box_clone(), negative: self.negative.box_clone(), factor: self.factor }
    }
}

impl Query for Demote {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let unscored = match enable_scoring.searcher() {
            Some(searcher) => EnableScoring::disabled_from_searcher(searcher),
            None => EnableScoring::disabled_from_schema(enable_scoring.schema()),
        };
        Ok(Box::new(DemoteWeight {
            positive: self.positive.weight(enable_scoring)?,
            negative: self.negative.weight(unscored)?,
            factor: self.factor,
        }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a tantivy::Term, bool)) {
        self.positive.query_terms(visitor);
    }
}

struct DemoteWeight {
    positive: Box<dyn Weight>,
    negative: Box<dyn Weight>,
    factor: Score,
}

impl Weight for DemoteWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(Box::new(DemoteScorer {
            positive: self.positive.scorer(reader, boost)?,
            negative: self.negative.scorer(reader, 1.0)?,
            factor: self.factor,
        }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let positive = self.positive.explain(reader, doc)?;
        let mut negative = self.negative.scorer(reader, 1.0)?;
        if negative.seek(doc) != doc {
            return Ok(positive);
        }
        let mut e = Explanation::new("score of the positive query, demoted by negative_boost", positive.value() * self.factor);
        e.add_detail(positive);
        e.add_const("negative_boost (the negative query matches)", self.factor);
        Ok(e)
    }
}

struct DemoteScorer {
    positive: Box<dyn Scorer>,
    negative: Box<dyn Scorer>,
    factor: Score,
}

impl DocSet for DemoteScorer {
    fn advance(&mut self) -> DocId {
        self.positive.advance()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.positive.seek(target)
    }

    fn doc(&self) -> DocId {
        self.positive.doc()
    }

    fn size_hint(&self) -> u32 {
        self.positive.size_hint()
    }
}

impl Scorer for DemoteScorer {
    fn score(&mut self) -> Score {
        let doc = self.positive.doc();
        let score = self.positive.score();
        if doc == TERMINATED {
            return score;
        }
        let mut negative_doc = self.negative.doc();
        if negative_doc < doc {
            negative_doc = self.negative.seek(doc);
        }
        if negative_doc == doc { score * self.factor } else { score }
    }
}
