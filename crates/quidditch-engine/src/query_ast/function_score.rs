//! `function_score`: rescoring an inner query with `weight` and `field_value_factor`
//! functions, combined by `score_mode` and merged with the query score by `boost_mode`.

use tantivy::query::{
    EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::{DocId, DocSet, Score, SegmentReader, TERMINATED, TantivyError};

use super::field::FieldTarget;
use super::{LoweringContext, NumericColumn, QueryAst, QueryError, boosted};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ScoreMode {
    #[default]
    Multiply,
    Sum,
    Avg,
    First,
    Max,
    Min,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum BoostMode {
    #[default]
    Multiply,
    Replace,
    Sum,
    Avg,
    Max,
    Min,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum FieldValueModifier {
    #[default]
    None,
    Log,
    Log1p,
    Log2p,
    Ln,
    Ln1p,
    Ln2p,
    Square,
    Sqrt,
    Reciprocal,
}

impl FieldValueModifier {
    fn apply(self, v: f64) -> f64 {
        match self {
            FieldValueModifier::None => v,
            FieldValueModifier::Log => v.log10(),
            FieldValueModifier::Log1p => (v + 1.0).log10(),
            FieldValueModifier::Log2p => (v + 2.0).log10(),
            FieldValueModifier::Ln => v.ln(),
            FieldValueModifier::Ln1p => v.ln_1p(),
            FieldValueModifier::Ln2p => (v + 2.0).ln(),
            FieldValueModifier::Square => v * v,
            FieldValueModifier::Sqrt => v.sqrt(),
            FieldValueModifier::Reciprocal => 1.0 / v,
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct FieldValueFactor {
    pub field: String,
    pub factor: f64,
    pub modifier: FieldValueModifier,
    pub missing: Option<f64>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct ScoreFunction {
    /// Only documents matching the filter get this function.
    pub filter: Option<QueryAst>,
    pub weight: Option<f32>,
    pub field_value_factor: Option<FieldValueFactor>,
    /// A UDF `script_score` function.
    pub script_score: Option<super::ScriptRef>,
}

#[derive(Debug, Clone, PartialEq)]
pub struct FunctionScoreQuery {
    pub query: Box<QueryAst>,
    pub functions: Vec<ScoreFunction>,
    pub score_mode: ScoreMode,
    pub boost_mode: BoostMode,
    pub max_boost: Option<f32>,
    pub min_score: Option<f32>,
    pub boost: Option<f32>,
}

impl FunctionScoreQuery {
    pub fn lower(&self, ctx: &LoweringContext<'_>) -> Result<Box<dyn Query>, QueryError> {
        let query = self.query.lower(ctx)?;
        let mut functions = Vec::with_capacity(self.functions.len());
        for f in &self.functions {
            let filter = match &f.filter {
                Some(filter) => Some(filter.lower(ctx)?),
                None => None,
            };
            let fvf = match &f.field_value_factor {
                Some(fvf) => {
                    let column = match FieldTarget::resolve(ctx, &fvf.field)? {
                        Some(t) if t.kind().is_numeric() || t.kind() == super::FieldKind::Date => {
                            Some(t.column_name())
                        }
                        Some(t) => {
                            return Err(QueryError::illegal_argument(format!(
                                "field_value_factor needs a numeric field, [{}] is of type [{}]",
                                fvf.field,
                                t.kind().name()
                            )));
                        }
                        None => None,
                    };
                    Some(LoweredFvf {
                        column,
                        factor: fvf.factor,
                        modifier: fvf.modifier,
                        missing: fvf.missing,
                    })
                }
                None => None,
            };
            let script = match &f.script_score {
                Some(s) => Some(s.bind(ctx, "function_score.script_score")?),
                None => None,
            };
            functions.push(LoweredFunction { filter, weight: f.weight, fvf, script });
        }
        let q = TantivyFunctionScore {
            query,
            functions,
            score_mode: self.score_mode,
            boost_mode: self.boost_mode,
            max_boost: self.max_boost.unwrap_or(f32::MAX),
            min_score: self.min_score,
        };
        Ok(boosted(Box::new(q), self.boost))
    }
}

#[derive(Debug, Clone)]
struct LoweredFvf {
    /// `None` when the field is unmapped: every document uses `missing`.
    column: Option<String>,
    factor: f64,
    modifier: FieldValueModifier,
    missing: Option<f64>,
}

#[derive(Debug)]
struct LoweredFunction {
    filter: Option<Box<dyn Query>>,
    weight: Option<f32>,
    fvf: Option<LoweredFvf>,
    script: Option<std::sync::Arc<dyn super::udf::BoundUdfScore>>,
}

#[derive(Debug)]
struct TantivyFunctionScore {
    query: Box<dyn Query>,
    functions: Vec<LoweredFunction>,
    score_mode: ScoreMode,
    boost_mode: BoostMode,
    max_boost: f32,
    min_score: Option<f32>,
}

// `Box<dyn Query>` clones through `box_clone`, so `Clone` is written out by hand.
impl Clone for LoweredFunction {
    fn clone(&self) -> Self {
        LoweredFunction {
            filter: self.filter.as_ref().map(|q| q.box_clone()),
            weight: self.weight,
            fvf: self.fvf.clone(),
            script: self.script.clone(),
        }
    }
}

impl Clone for TantivyFunctionScore {
    fn clone(&self) -> Self {
        TantivyFunctionScore {
            query: self.query.box_clone(),
            functions: self.functions.clone(),
            score_mode: self.score_mode,
            boost_mode: self.boost_mode,
            max_boost: self.max_boost,
            min_score: self.min_score,
        }
    }
}

impl Query for TantivyFunctionScore {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let inner = self.query.weight(enable_scoring)?;
        let mut functions = Vec::with_capacity(self.functions.len());
        for f in &self.functions {
            let filter = match &f.filter {
                Some(q) => Some(q.weight(EnableScoring::disabled_from_schema(enable_scoring.schema()))?),
                None => None,
            };
            functions.push(FunctionWeight { filter, weight: f.weight, fvf: f.fvf.clone(), script: f.script.clone() });
        }
        Ok(Box::new(FunctionScoreWeight {
            inner,
            functions,
            score_mode: self.score_mode,
            boost_mode: self.boost_mode,
            max_boost: self.max_boost,
            min_score: self.min_score,
        }))
    }
}

struct FunctionWeight {
    filter: Option<Box<dyn Weight>>,
    weight: Option<f32>,
    fvf: Option<LoweredFvf>,
    script: Option<std::sync::Arc<dyn super::udf::BoundUdfScore>>,
}

struct FunctionScoreWeight {
    inner: Box<dyn Weight>,
    functions: Vec<FunctionWeight>,
    score_mode: ScoreMode,
    boost_mode: BoostMode,
    max_boost: f32,
    min_score: Option<f32>,
}

impl Weight for FunctionScoreWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let inner = self.inner.scorer(reader, 1.0)?;
        let mut functions = Vec::with_capacity(self.functions.len());
        for f in &self.functions {
            let filter = match &f.filter {
                Some(w) => Some(w.scorer(reader, 1.0)?),
                None => None,
            };
            let column = match f.fvf.as_ref().and_then(|fvf| fvf.column.as_deref()) {
                Some(name) => NumericColumn::open(reader, name)?,
                None => None,
            };
            let script = f.script.as_ref().map(|b| b.for_segment(reader));
            functions.push(SegmentFunction { filter, column, weight: f.weight, fvf: f.fvf.clone(), script });
        }
        let mut scorer = FunctionScorer {
            inner,
            functions,
            score_mode: self.score_mode,
            boost_mode: self.boost_mode,
            max_boost: self.max_boost,
            min_score: self.min_score,
            boost,
            current: 0.0,
        };
        scorer.settle();
        Ok(Box::new(scorer))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) != doc {
            return Err(TantivyError::InvalidArgument(format!("document {doc} does not match")));
        }
        Ok(Explanation::new("function score", scorer.score()))
    }
}

struct SegmentFunction {
    filter: Option<Box<dyn Scorer>>,
    column: Option<NumericColumn>,
    weight: Option<f32>,
    fvf: Option<LoweredFvf>,
    script: Option<Box<dyn super::udf::SegmentUdfScore>>,
}

impl SegmentFunction {
    /// The function's value for `doc`, or `None` if its filter does not match.
    fn value(&mut self, doc: DocId, query_score: Score) -> Option<f64> {
        if let Some(filter) = &mut self.filter {
            if filter.doc() < doc {
                filter.seek(doc);
            }
            if filter.doc() != doc {
                return None;
            }
        }
        let weight = self.weight.map(f64::from);
        let base = match &self.fvf {
            _ if self.script.is_some() => self.script.as_mut()?.score(doc, query_score)?,
            Some(fvf) => {
                let raw = self.column.as_ref().and_then(|c| c.first(doc)).or(fvf.missing)?;
                fvf.modifier.apply(raw * fvf.factor)
            }
            None => 1.0,
        };
        Some(base * weight.unwrap_or(1.0))
    }
}

struct FunctionScorer {
    inner: Box<dyn Scorer>,
    functions: Vec<SegmentFunction>,
    score_mode: ScoreMode,
    boost_mode: BoostMode,
    max_boost: f32,
    min_score: Option<f32>,
    boost: Score,
    current: Score,
}

impl FunctionScorer {
    fn compute(&mut self) -> Score {
        let doc = self.inner.doc();
        let query_score = self.inner.score();
        let mut combined: Option<f64> = None;
        let mut weight_sum = 0.0;
        let mut count = 0usize;
        for f in &mut self.functions {
            let Some(v) = f.value(doc, query_score) else { continue };
            count += 1;
            weight_sum += f.weight.map(f64::from).unwrap_or(1.0);
            combined = Some(match (combined, self.score_mode) {
                (None, _) => v,
                (Some(acc), ScoreMode::Multiply) => acc * v,
                (Some(acc), ScoreMode::Sum | ScoreMode::Avg) => acc + v,
                (Some(acc), ScoreMode::First) => acc,
                (Some(acc), ScoreMode::Max) => acc.max(v),
                (Some(acc), ScoreMode::Min) => acc.min(v),
            });
        }
        let function_score = match combined {
            None => 1.0,
            Some(total) if self.score_mode == ScoreMode::Avg && count > 0 => total / weight_sum,
            Some(v) => v,
        };
        let function_score = (function_score as f32).min(self.max_boost);
        let function_score = if function_score.is_finite() { function_score } else { 0.0 };
        let score = match self.boost_mode {
            BoostMode::Multiply => query_score * function_score,
            BoostMode::Replace => function_score,
            BoostMode::Sum => query_score + function_score,
            BoostMode::Avg => (query_score + function_score) / 2.0,
            BoostMode::Max => query_score.max(function_score),
            BoostMode::Min => query_score.min(function_score),
        };
        score * self.boost
    }

    /// Moves forward to the first document at or after the current one that passes
    /// `min_score`, caching its score.
    fn settle(&mut self) -> DocId {
        loop {
            let doc = self.inner.doc();
            if doc == TERMINATED {
                return doc;
            }
            self.current = self.compute();
            match self.min_score {
                Some(min) if self.current < min => {
                    self.inner.advance();
                }
                _ => return doc,
            }
        }
    }
}

impl DocSet for FunctionScorer {
    fn advance(&mut self) -> DocId {
        self.inner.advance();
        self.settle()
    }

    fn seek(&mut self, target: DocId) -> DocId {
        self.inner.seek(target);
        self.settle()
    }

    fn doc(&self) -> DocId {
        self.inner.doc()
    }

    fn size_hint(&self) -> u32 {
        self.inner.size_hint()
    }
}

impl Scorer for FunctionScorer {
    fn score(&mut self) -> Score {
        self.current
    }
}

