//! Lucene's BM25 on tantivy's scorers: per-field statistics and no `(k1 + 1)` factor.
//!
//! tantivy's `Bm25Weight` computes `idf · (1 + k1) · tf / (tf + k1 · (1 − b + b · dl / avgdl))`
//! with `N` = every document of the index and `avgdl` = the field's tokens over `N`. Lucene
//! (since 8.0) drops the `(1 + k1)` factor and uses the field's own `docCount` (documents
//! that have the field) for both `N` and `avgdl`. [`FieldScoring`] wraps the query built for
//! one text field: it hands the inner query a statistics provider whose document count is
//! the field's (from `_field_names`, which records every path a document has) and scales the
//! scores by `1 / (1 + k1)` at the scorer level, so the inner query still produces tantivy's
//! `TermScorer`s and block-max WAND keeps pruning.

use tantivy::query::{Bm25StatisticsProvider, EnableScoring, Explanation, Query, QueryClone, Scorer, Weight};
use tantivy::schema::Field;
use serde_json::{Value, json};
use tantivy::{DocId, Score, SegmentReader, Term};

/// tantivy's (and Lucene's default) BM25 `k1`.
pub const BM25_K1: Score = 1.2;
/// tantivy's (and Lucene's default) BM25 `b`.
pub const BM25_B: Score = 0.75;

/// The query for one text field, scored with that field's statistics.
#[derive(Debug)]
pub struct FieldScoring {
    inner: Box<dyn Query>,
    /// The `_field_names` term of the field's path: its document frequency is `docCount`.
    doc_count_term: Term,
    /// `1 / (1 + k1)` for tantivy's BM25 scorers; 1 for [`Bm25TermQuery`] (already Lucene's).
    scale: Score,
}

impl FieldScoring {
    pub fn new(inner: Box<dyn Query>, field_names: Field, path: &str, similarity: Similarity) -> FieldScoring {
        let scale = if similarity.is_default_bm25() { 1.0 / (1.0 + BM25_K1) } else { 1.0 };
        FieldScoring { inner, doc_count_term: Term::from_field_text(field_names, path), scale }
    }
}

impl Clone for FieldScoring {
    fn clone(&self) -> Self {
        FieldScoring { inner: self.inner.box_clone(), doc_count_term: self.doc_count_term.clone(), scale: self.scale }
    }
}

/// The searcher's statistics with the field's document count as `N`.
struct FieldStatistics<'a> {
    searcher: &'a dyn Bm25StatisticsProvider,
    doc_count: u64,
}

impl Bm25StatisticsProvider for FieldStatistics<'_> {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        self.searcher.total_num_tokens(field)
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        Ok(self.doc_count.max(1))
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        // A term's documents all have the field; the clamp only guards tantivy's assertion.
        Ok(self.searcher.doc_freq(term)?.min(self.doc_count.max(1)))
    }
}

impl Query for FieldScoring {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        match enable_scoring {
            EnableScoring::Enabled { searcher, statistics_provider } => {
                let stats = FieldStatistics {
                    searcher: statistics_provider,
                    doc_count: statistics_provider.doc_freq(&self.doc_count_term)?,
                };
                let inner = self.inner.weight(EnableScoring::enabled_from_statistics_provider(&stats, searcher))?;
                Ok(Box::new(ScaledWeight { inner, factor: self.scale }))
            }
            disabled => self.inner.weight(disabled),
        }
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        self.inner.query_terms(visitor)
    }
}

/// Multiplies every score by a constant, passing it down as the scorers' boost (so the inner
/// scorers stay `TermScorer`s for block-max WAND) and translating pruning thresholds.
struct ScaledWeight {
    inner: Box<dyn Weight>,
    factor: Score,
}

impl Weight for ScaledWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        self.inner.scorer(reader, boost * self.factor)
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let inner = self.inner.explain(reader, doc)?;
        let json = serde_json::to_value(&inner).map_err(|e| tantivy::TantivyError::InternalError(e.to_string()))?;
        Ok(from_json(&lucene_explanation(&json, self.factor)))
    }

    fn count(&self, reader: &SegmentReader) -> tantivy::Result<u32> {
        self.inner.count(reader)
    }

    fn for_each_no_score(
        &self,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(&[DocId]),
    ) -> tantivy::Result<()> {
        self.inner.for_each_no_score(reader, callback)
    }

    fn for_each_pruning(
        &self,
        threshold: Score,
        reader: &SegmentReader,
        callback: &mut dyn FnMut(DocId, Score) -> Score,
    ) -> tantivy::Result<()> {
        let factor = self.factor;
        self.inner.for_each_pruning(threshold / factor, reader, &mut |doc, score| callback(doc, score * factor) / factor)
    }
}

/// tantivy's BM25 explanation rewritten as Lucene's (no `(K1+1)` node, `boost · idf · tf`)
/// with every score scaled by `factor`; constants (idf, tf and their inputs) stay as they are.
fn lucene_explanation(v: &Value, factor: Score) -> Value {
    let value = v.get("value").and_then(Value::as_f64).unwrap_or(0.0) as Score;
    let description = v.get("description").and_then(Value::as_str).unwrap_or("");
    let details: Vec<Value> = v.get("details").and_then(Value::as_array).cloned().unwrap_or_default();
    if description == "TermQuery, product of..." {
        let score = value * factor;
        let idf = details.iter().find(|d| d["description"].as_str().is_some_and(|s| s.starts_with("idf")));
        let tf = details.iter().find(|d| d["description"].as_str().is_some_and(|s| s.starts_with("freq /")));
        let (Some(idf), Some(tf)) = (idf, tf) else {
            return json!({"value": score, "description": description, "details": details});
        };
        let idf_value = idf["value"].as_f64().unwrap_or(0.0) as Score;
        let tf_value = tf["value"].as_f64().unwrap_or(0.0) as Score;
        let boost = if idf_value * tf_value > 0.0 { score / (idf_value * tf_value) } else { 1.0 };
        let tf_details: Vec<Value> = tf.get("details").and_then(Value::as_array).cloned().unwrap_or_default();
        let freq = tf_details.first().and_then(|d| d["value"].as_f64()).unwrap_or(0.0);
        let mut idf_node = idf.clone();
        idf_node["description"] = json!("idf, computed as log(1 + (N - n + 0.5) / (n + 0.5)) from:");
        if let Some(items) = idf_node.get_mut("details").and_then(Value::as_array_mut) {
            for d in items {
                let renamed = match d["description"].as_str() {
                    Some(s) if s.starts_with("n,") => "n, number of documents containing term",
                    Some(s) if s.starts_with("N,") => "N, total number of documents with field",
                    _ => continue,
                };
                d["description"] = json!(renamed);
            }
        }
        let mut tf_node = tf.clone();
        tf_node["description"] = json!("tf, computed as freq / (freq + k1 * (1 - b + b * dl / avgdl)) from:");
        return json!({
            "value": score,
            "description": format!("score(freq={freq:.1}), computed as boost * idf * tf from:"),
            "details": [
                {"value": boost, "description": "boost", "details": []},
                idf_node,
                tf_node,
            ],
        });
    }
    let scaled: Vec<Value> = details.iter().map(|d| lucene_explanation(d, factor)).collect();
    json!({"value": value * factor, "description": description, "details": scaled})
}

fn from_json(v: &Value) -> Explanation {
    let value = v.get("value").and_then(Value::as_f64).unwrap_or(0.0) as Score;
    let description = v.get("description").and_then(Value::as_str).unwrap_or("").to_string();
    let mut e = Explanation::new_with_string(description, value);
    for d in v.get("details").and_then(Value::as_array).into_iter().flatten() {
        e.add_detail(from_json(d));
    }
    e
}

/// A field's `similarity` (OpenSearch: `BM25` with `k1`/`b`, or `boolean`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Similarity {
    Bm25 { k1: Score, b: Score },
    /// Each matching term scores its query boost (no tf, idf or length).
    Boolean,
}

impl Default for Similarity {
    fn default() -> Self {
        Similarity::Bm25 { k1: BM25_K1, b: BM25_B }
    }
}

impl Similarity {
    /// tantivy's own BM25 (with [`FieldScoring`]) computes this one, with block-max pruning.
    pub fn is_default_bm25(&self) -> bool {
        *self == Similarity::default()
    }

    /// The query for one term under this similarity. Default BM25 is tantivy's `TermQuery`
    /// (scaled by [`FieldScoring`]); custom `k1`/`b` is [`Bm25TermQuery`] (exhaustive
    /// scoring, no block-max); `boolean` is a constant score.
    pub fn term_query(&self, term: Term) -> Box<dyn Query> {
        match *self {
            s if s.is_default_bm25() => {
                Box::new(tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::WithFreqs))
            }
            Similarity::Bm25 { k1, b } => Box::new(Bm25TermQuery { term, k1, b }),
            Similarity::Boolean => Box::new(tantivy::query::ConstScoreQuery::new(
                Box::new(tantivy::query::TermQuery::new(term, tantivy::schema::IndexRecordOption::Basic)),
                1.0,
            )),
        }
    }
}

/// One term scored with Lucene's BM25 and custom `k1`/`b` (statistics from the
/// [`FieldScoring`] provider around it).
#[derive(Debug, Clone)]
pub struct Bm25TermQuery {
    term: Term,
    k1: Score,
    b: Score,
}

impl Query for Bm25TermQuery {
    fn weight(&self, enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        let (n, df, avgdl) = match enable_scoring {
            EnableScoring::Enabled { statistics_provider, .. } => {
                let n = statistics_provider.total_num_docs()?.max(1);
                let df = statistics_provider.doc_freq(&self.term)?.min(n);
                let tokens = statistics_provider.total_num_tokens(self.term.field())?;
                (n, df, tokens as Score / n as Score)
            }
            EnableScoring::Disabled { .. } => (1, 1, 1.0),
        };
        let idf = ((n - df) as Score + 0.5) / (df as Score + 0.5);
        let idf = (1.0 + idf).ln();
        let mut cache = [0.0; 256];
        for (id, c) in cache.iter_mut().enumerate() {
            let dl = tantivy::fieldnorm::FieldNormReader::id_to_fieldnorm(id as u8) as Score;
            *c = self.k1 * (1.0 - self.b + self.b * dl / avgdl);
        }
        Ok(Box::new(Bm25TermWeight { term: self.term.clone(), idf, n, df, avgdl, k1: self.k1, b: self.b, cache }))
    }

    fn query_terms<'a>(&'a self, visitor: &mut dyn FnMut(&'a Term, bool)) {
        visitor(&self.term, false)
    }
}

struct Bm25TermWeight {
    term: Term,
    idf: Score,
    n: u64,
    df: u64,
    avgdl: Score,
    k1: Score,
    b: Score,
    cache: [Score; 256],
}

struct Bm25TermScorer {
    postings: tantivy::postings::SegmentPostings,
    fieldnorms: tantivy::fieldnorm::FieldNormReader,
    weight: Score,
    cache: [Score; 256],
}

impl tantivy::DocSet for Bm25TermScorer {
    fn advance(&mut self) -> DocId {
        self.postings.advance()
    }
    fn seek(&mut self, target: DocId) -> DocId {
        self.postings.seek(target)
    }
    fn doc(&self) -> DocId {
        self.postings.doc()
    }
    fn size_hint(&self) -> u32 {
        self.postings.size_hint()
    }
}

impl Scorer for Bm25TermScorer {
    fn score(&mut self) -> Score {
        use tantivy::DocSet;
        use tantivy::postings::Postings;
        let tf = self.postings.term_freq() as Score;
        let norm = self.cache[self.fieldnorms.fieldnorm_id(self.postings.doc()) as usize];
        self.weight * tf / (tf + norm)
    }
}

impl Bm25TermWeight {
    fn term_scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Option<Bm25TermScorer>> {
        let field = self.term.field();
        let postings = reader
            .inverted_index(field)?
            .read_postings(&self.term, tantivy::schema::IndexRecordOption::WithFreqs)?;
        let Some(postings) = postings else { return Ok(None) };
        Ok(Some(Bm25TermScorer {
            postings,
            fieldnorms: reader.get_fieldnorms_reader(field)?,
            weight: self.idf * boost,
            cache: self.cache,
        }))
    }
}

impl Weight for Bm25TermWeight {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        Ok(match self.term_scorer(reader, boost)? {
            Some(s) => Box::new(s),
            None => Box::new(tantivy::query::EmptyScorer),
        })
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        use tantivy::DocSet;
        use tantivy::postings::Postings;
        let not_found = || tantivy::TantivyError::InvalidArgument(format!("Document #({doc}) does not match"));
        let mut s = self.term_scorer(reader, 1.0)?.ok_or_else(not_found)?;
        if s.seek(doc) != doc {
            return Err(not_found());
        }
        let score = s.score();
        let tf = s.postings.term_freq() as Score;
        let dl = tantivy::fieldnorm::FieldNormReader::id_to_fieldnorm(s.fieldnorms.fieldnorm_id(doc)) as Score;
        // In tantivy's shape, so `ScaledWeight` does not rescale it: described as Lucene does.
        let mut e = Explanation::new_with_string(format!("score(freq={tf:.1}), computed as boost * idf * tf from:"), score);
        e.add_const("boost", 1.0);
        let mut idf = Explanation::new("idf, computed as log(1 + (N - n + 0.5) / (n + 0.5)) from:", self.idf);
        idf.add_const("n, number of documents containing term", self.df as Score);
        idf.add_const("N, total number of documents with field", self.n as Score);
        e.add_detail(idf);
        let mut tfe = Explanation::new("tf, computed as freq / (freq + k1 * (1 - b + b * dl / avgdl)) from:", tf / (tf + self.cache[s.fieldnorms.fieldnorm_id(doc) as usize]));
        tfe.add_const("freq, occurrences of term within document", tf);
        tfe.add_const("k1, term saturation parameter", self.k1);
        tfe.add_const("b, length normalization parameter", self.b);
        tfe.add_const("dl, length of field", dl);
        tfe.add_const("avgdl, average length of field", self.avgdl);
        e.add_detail(tfe);
        Ok(e)
    }
}
