//! `bool`: must (scored, required), filter (unscored, required), should (scored, optional
//! unless `minimum_should_match`), must_not.

use tantivy::query::{AllQuery, BooleanQuery, ConstScoreQuery, Occur, Query};

use super::{LoweringContext, MinimumShouldMatch, QueryAst, QueryError, boosted};

#[derive(Debug, Clone, PartialEq, Default)]
pub struct BoolQuery {
    pub must: Vec<QueryAst>,
    pub filter: Vec<QueryAst>,
    pub should: Vec<QueryAst>,
    pub must_not: Vec<QueryAst>,
    pub minimum_should_match: Option<MinimumShouldMatch>,
    pub boost: Option<f32>,
}

impl BoolQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        if self.has_udf_clauses() {
            return super::wasm_udf::lower_bool_with_udfs(self, ctx);
        }
        self.lower_native(ctx)
    }

    /// Lowering of a bool without direct `wasm_udf` clauses.
    pub(crate) fn lower_native(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let mut clauses: Vec<(Occur, Box<dyn Query>)> = Vec::new();
        for q in &self.must {
            clauses.push((Occur::Must, q.lower(ctx)?));
        }
        for q in &self.filter {
            // Filters restrict without contributing to the score.
            clauses.push((Occur::Must, Box::new(ConstScoreQuery::new(q.lower(ctx)?, 0.0))));
        }
        for q in &self.should {
            clauses.push((Occur::Should, q.lower(ctx)?));
        }
        for q in &self.must_not {
            clauses.push((Occur::MustNot, q.lower(ctx)?));
        }
        let has_required = !self.must.is_empty() || !self.filter.is_empty();
        if !has_required && self.should.is_empty() {
            // Only must_not (or nothing): everything else matches, with score 1 like OpenSearch.
            clauses.push((Occur::Must, Box::new(AllQuery)));
        }
        let required_should = match self.minimum_should_match {
            Some(msm) => msm.resolve(self.should.len()),
            None if has_required => 0,
            None => usize::from(!self.should.is_empty()),
        };
        let query = BooleanQuery::with_minimum_required_clauses(clauses, required_should);
        Ok(boosted(Box::new(query), self.boost))
    }
}
