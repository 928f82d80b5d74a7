//! `nested`: documents with at least one object of a `nested` field matching the inner
//! query on its own.
//!
//! Layout (see `document::DocBlock`): each nested object is a hidden tantivy document placed
//! just before the document it belongs to, in the same segment, and carries the
//! `_field_names` terms `document::nested_path_term(path)`; top-level searches exclude every
//! hidden document ([`root_documents`]). The query is a block join: the inner query runs on
//! the hidden documents of `path`, and each match is credited to its parent — the first
//! following document of the enclosing level (the root, or the enclosing nested object when
//! this query sits inside another `nested` query) — with the children's scores combined by
//! `score_mode`.

use std::fmt;

use tantivy::query::{
    AllQuery, BooleanQuery, ConstScoreQuery, EnableScoring, Explanation, Occur, Query, Scorer, TermQuery, Weight,
};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, Term};

use super::{LoweringContext, MatchNoneQuery, QueryAst, QueryError};
use crate::document::{NESTED_DOC_TERM, nested_path_term};

/// How the scores of a parent's matching nested objects make its score.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum NestedScoreMode {
    #[default]
    Avg,
    Sum,
    Max,
    Min,
    /// Parents score 0.
    None,
}

impl NestedScoreMode {
    pub fn parse(s: &str) -> Option<NestedScoreMode> {
        Some(match s {
            "avg" => NestedScoreMode::Avg,
            "sum" | "total" => NestedScoreMode::Sum,
            "max" => NestedScoreMode::Max,
            "min" => NestedScoreMode::Min,
            "none" => NestedScoreMode::None,
            _ => return None,
        })
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct NestedQuery {
    pub path: String,
    pub query: Box<QueryAst>,
    pub score_mode: NestedScoreMode,
    /// An unmapped `path` matches nothing instead of failing.
    pub ignore_unmapped: bool,
    pub boost: Option<f32>,
}

/// The documents of the level a top-level query sees: every document that is not a
/// hidden nested one.
pub fn root_documents(ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
    let marker = marker_term(ctx, NESTED_DOC_TERM)?;
    Ok(Box::new(BooleanQuery::new(vec![
        (Occur::Must, Box::new(AllQuery) as Box<dyn Query>),
        (Occur::MustNot, Box::new(TermQuery::new(marker, IndexRecordOption::Basic))),
    ])))
}

/// Every hidden nested document (of any path).
pub fn nested_documents(ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
    Ok(Box::new(TermQuery::new(marker_term(ctx, NESTED_DOC_TERM)?, IndexRecordOption::Basic)))
}

fn marker_term(ctx: &LoweringContext<'_>, text: &str) -> Result<Term, QueryError> {
    let field = ctx
        .schema
        .get_field(crate::index::schema::FIELD_NAMES)
        .map_err(|_| QueryError::internal("index schema has no [_field_names] field"))?;
    Ok(Term::from_field_text(field, text))
}

impl NestedQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        match ctx.fields.is_nested(&self.path) {
            Some(true) => {}
            Some(false) => {
                return Err(QueryError::query_shard(format!(
                    "[nested] nested object under path [{}] is not of nested type",
                    self.path
                )));
            }
            None if self.ignore_unmapped => return MatchNoneQuery.lower(ctx),
            None => {
                return Err(QueryError::query_shard(format!(
                    "[nested] failed to find nested object under path [{}]",
                    self.path
                )));
            }
        }
        if let Some(outer) = ctx.nested_path
            && !self.path.starts_with(&format!("{outer}."))
        {
            return Err(QueryError::query_shard(format!(
                "[nested] nested path [{}] is not a child of the enclosing nested path [{outer}]",
                self.path
            )));
        }
        let inner_ctx = LoweringContext { nested_path: Some(&self.path), ..*ctx };
        let inner = self.query.lower(&inner_ctx)?;
        let children: Box<dyn Query> = Box::new(BooleanQuery::new(vec![
            (Occur::Must, inner),
            (Occur::Must, Box::new(ConstScoreQuery::new(Box::new(TermQuery::new(marker_term(ctx, &nested_path_term(&self.path))?, IndexRecordOption::Basic)), 0.0))),
        ]));
        let parents = match ctx.nested_path {
            None => root_documents(ctx)?,
            Some(outer) => Box::new(TermQuery::new(marker_term(ctx, &nested_path_term(outer))?, IndexRecordOption::Basic)),
        };
        let query = Box::new(BlockJoinQuery { children, parents, score_mode: self.score_mode });
        Ok(super::boosted(query, self.boost))
    }
}

/// The block join itself: parents of the documents `children` matches, among the documents
/// `parents` matches.
struct BlockJoinQuery {
    children: Box<dyn Query>,
    parents: Box<dyn Query>,
    score_mode: NestedScoreMode,
}

impl Clone for BlockJoinQuery {
    fn clone(&self) -> Self {
        BlockJoinQuery { children: self.children.box_clone(), parents: self.parents.box_clone(), score_mode: self.score_mode }
    }
}

impl fmt::Debug for BlockJoinQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockJoinQuery")
            .field("children", &self.children)
            .field("parents", &self.parents)
            .field("score_mode", &self.score_mode)
            .finish()
    }
}

impl Query for BlockJoinQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let scoring = enable_scoring.is_scoring_enabled() && self.score_mode != NestedScoreMode::None;
        // Scoring off, but with the searcher when there is one.
        let disabled = match enable_scoring.searcher() {
            Some(searcher) => EnableScoring::disabled_from_searcher(searcher),
            None => EnableScoring::disabled_from_schema(enable_scoring.schema()),
        };
        let children = if scoring { self.children.weight(enable_scoring)? } else { self.children.weight(disabled)? };
        let parents = self.parents.weight(disabled)?;
        Ok(Box::new(BlockJoinWeight { children, parents, score_mode: self.score_mode, scoring }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.children.query_terms(visitor);
    }
}

struct BlockJoinWeight {
    children: Box<dyn Weight>,
    parents: Box<dyn Weight>,
    score_mode: NestedScoreMode,
    scoring: bool,
}

impl BlockJoinWeight {
    /// The matching parents of one segment, ascending, with their scores.
    fn join(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<(Vec<DocId>, Vec<Score>)> {
        let mut parent_docs = Vec::new();
        let mut parents = self.parents.scorer(reader, 1.0)?;
        while parents.doc() != TERMINATED {
            parent_docs.push(parents.doc());
            parents.advance();
        }
        let mut docs: Vec<DocId> = Vec::new();
        let mut scores: Vec<Score> = Vec::new();
        let mut counts: Vec<u32> = Vec::new();
        let mut children = self.children.scorer(reader, boost)?;
        while children.doc() != TERMINATED {
            let child = children.doc();
            // The parent is the first document of the enclosing level after the child.
            let at = parent_docs.partition_point(|p| *p <= child);
            if let Some(&parent) = parent_docs.get(at) {
                let score = if self.scoring { children.score() } else { 0.0 };
                if docs.last() == Some(&parent) {
                    let last = scores.len() - 1;
                    scores[last] = match self.score_mode {
                        NestedScoreMode::Max => scores[last].max(score),
                        NestedScoreMode::Min => scores[last].min(score),
                        _ => scores[last] + score,
                    };
                    counts[last] += 1;
                } else {
                    docs.push(parent);
                    scores.push(score);
                    counts.push(1);
                }
            }
            children.advance();
        }
        if self.score_mode == NestedScoreMode::Avg {
            for (s, n) in scores.iter_mut().zip(&counts) {
                *s /= *n as f32;
            }
        }
        if !self.scoring {
            scores.iter_mut().for_each(|s| *s = 0.0);
        }
        Ok((docs, scores))
    }
}

impl Weight for BlockJoinWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let (docs, scores) = self.join(reader, boost)?;
        Ok(Box::new(JoinedScorer { docs, scores, cursor: 0 }))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let (docs, scores) = self.join(reader, 1.0)?;
        match docs.binary_search(&doc) {
            Ok(i) => Ok(Explanation::new("Score based on child doc range", scores[i])),
            Err(_) => Err(tantivy::TantivyError::InvalidArgument(format!("Document #({doc}) does not match"))),
        }
    }
}

/// A segment's joined parents, in doc order.
struct JoinedScorer {
    docs: Vec<DocId>,
    scores: Vec<Score>,
    cursor: usize,
}

impl DocSet for JoinedScorer {
    fn advance(&mut self) -> DocId {
        self.cursor += 1;
        self.doc()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        let rest = &self.docs[self.cursor.min(self.docs.len())..];
        self.cursor += rest.partition_point(|d| *d < target);
        self.doc()
    }

    fn doc(&self) -> DocId {
        self.docs.get(self.cursor).copied().unwrap_or(TERMINATED)
    }

    fn size_hint(&self) -> u32 {
        self.docs.len().saturating_sub(self.cursor) as u32
    }
}

impl Scorer for JoinedScorer {
    fn score(&mut self) -> Score {
        self.scores.get(self.cursor).copied().unwrap_or(0.0)
    }
}

/// The hidden documents of `path` whose root document matches `roots` (a top-level,
/// root-only query): the documents a top-level `nested` aggregation collects.
pub fn nested_children_of(ctx: &LoweringContext<'_>, roots: Box<dyn Query>, path: &str) -> Result<Box<dyn Query>, QueryError> {
    Ok(Box::new(ChildrenOfQuery {
        roots,
        all_roots: root_documents(ctx)?,
        children: Box::new(TermQuery::new(marker_term(ctx, &nested_path_term(path))?, IndexRecordOption::Basic)),
    }))
}

/// The reverse join: children (of one path) of the matching roots.
struct ChildrenOfQuery {
    roots: Box<dyn Query>,
    all_roots: Box<dyn Query>,
    children: Box<dyn Query>,
}

impl Clone for ChildrenOfQuery {
    fn clone(&self) -> Self {
        ChildrenOfQuery { roots: self.roots.box_clone(), all_roots: self.all_roots.box_clone(), children: self.children.box_clone() }
    }
}

impl fmt::Debug for ChildrenOfQuery {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChildrenOfQuery").field("roots", &self.roots).field("children", &self.children).finish()
    }
}

impl Query for ChildrenOfQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let disabled = match enable_scoring.searcher() {
            Some(searcher) => EnableScoring::disabled_from_searcher(searcher),
            None => EnableScoring::disabled_from_schema(enable_scoring.schema()),
        };
        Ok(Box::new(ChildrenOfWeight {
            roots: self.roots.weight(disabled)?,
            all_roots: self.all_roots.weight(disabled)?,
            children: self.children.weight(disabled)?,
        }))
    }
}

struct ChildrenOfWeight {
    roots: Box<dyn Weight>,
    all_roots: Box<dyn Weight>,
    children: Box<dyn Weight>,
}

fn collect_docs(weight: &dyn Weight, reader: &SegmentReader) -> tantivy::Result<Vec<DocId>> {
    let mut scorer = weight.scorer(reader, 1.0)?;
    let mut docs = Vec::new();
    while scorer.doc() != TERMINATED {
        docs.push(scorer.doc());
        scorer.advance();
    }
    Ok(docs)
}

impl Weight for ChildrenOfWeight {
    fn scorer(&self, reader: &SegmentReader, _boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let matching = collect_docs(self.roots.as_ref(), reader)?;
        let all_roots = if matching.is_empty() { Vec::new() } else { collect_docs(self.all_roots.as_ref(), reader)? };
        let mut docs = Vec::new();
        if !matching.is_empty() {
            let mut children = self.children.scorer(reader, 1.0)?;
            while children.doc() != TERMINATED {
                let child = children.doc();
                let at = all_roots.partition_point(|r| *r <= child);
                if let Some(root) = all_roots.get(at)
                    && matching.binary_search(root).is_ok()
                {
                    docs.push(child);
                }
                children.advance();
            }
        }
        let scores = vec![1.0; docs.len()];
        Ok(Box::new(JoinedScorer { docs, scores, cursor: 0 }))
    }

    fn explain(&self, _reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        Err(tantivy::TantivyError::InvalidArgument(format!("Document #({doc}) is a nested document: no explanation")))
    }
}
