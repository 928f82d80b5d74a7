//! A query over every term of one JSON path that starts with a literal prefix and passes a
//! predicate (`prefix`, `wildcard`). tantivy's `RegexQuery` does not take a JSON path, so we
//! stream the term dictionary range for `path + prefix` ourselves.

use std::sync::Arc;

use tantivy::query::{
    BitSetDocSet, ConstScorer, EmptyScorer, EnableScoring, Explanation, Query, Scorer, Weight,
};
use tantivy::schema::{Field, IndexRecordOption};
use tantivy::{BitSet, DocId, DocSet, Score, SegmentReader, TantivyError, Term};

/// Decides whether a term's value (the bytes after the shared prefix) matches.
pub(crate) type SuffixMatcher = Arc<dyn Fn(&[u8]) -> bool + Send + Sync>;

#[derive(Clone)]
pub(crate) struct TermPrefixQuery {
    field: Field,
    /// Term-dictionary key prefix: JSON path, type byte, literal value prefix.
    key_prefix: Vec<u8>,
    matcher: Option<SuffixMatcher>,
    /// Dictionary keys cover every path of the JSON field; limit how many terms we visit.
    max_terms: usize,
}

impl std::fmt::Debug for TermPrefixQuery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TermPrefixQuery").field("key_prefix", &self.key_prefix).finish()
    }
}

impl TermPrefixQuery {
    /// `term` is a JSON term (path + typed string) whose value is the literal prefix.
    pub fn new(term: &Term, matcher: Option<SuffixMatcher>) -> TermPrefixQuery {
        TermPrefixQuery {
            field: term.field(),
            key_prefix: term.serialized_value_bytes().to_vec(),
            matcher,
            max_terms: 1_000_000,
        }
    }
}

impl Query for TermPrefixQuery {
    fn weight(&self, _enable_scoring: EnableScoring<'_>) -> tantivy::Result<Box<dyn Weight>> {
        Ok(Box::new(self.clone()))
    }
}

/// The smallest key greater than every key starting with `prefix`.
fn prefix_end(prefix: &[u8]) -> Option<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last != u8::MAX {
            end.push(last + 1);
            return Some(end);
        }
    }
    None
}

impl Weight for TermPrefixQuery {
    fn scorer(&self, reader: &SegmentReader, boost: Score) -> tantivy::Result<Box<dyn Scorer>> {
        let inverted_index = reader.inverted_index(self.field)?;
        let dict = inverted_index.terms();
        let mut builder = dict.range().ge(&self.key_prefix);
        if let Some(end) = prefix_end(&self.key_prefix) {
            builder = builder.lt(end);
        }
        let mut stream = builder.into_stream()?;
        let mut bitset = BitSet::with_max_value(reader.max_doc());
        let mut visited = 0usize;
        let mut any = false;
        while stream.advance() {
            visited += 1;
            if visited > self.max_terms {
                return Err(TantivyError::InvalidArgument(format!(
                    "query expands to more than {} terms",
                    self.max_terms
                )));
            }
            let key = stream.key();
            if let Some(m) = &self.matcher {
                if !m(&key[self.key_prefix.len()..]) {
                    continue;
                }
            }
            any = true;
            let mut postings = inverted_index
                .read_block_postings_from_terminfo(stream.value(), IndexRecordOption::Basic)?;
            loop {
                let docs = postings.docs();
                if docs.is_empty() {
                    break;
                }
                for &doc in docs {
                    bitset.insert(doc);
                }
                postings.advance();
            }
        }
        if !any {
            return Ok(Box::new(EmptyScorer));
        }
        Ok(Box::new(ConstScorer::new(BitSetDocSet::from(bitset), boost)))
    }

    fn explain(&self, reader: &SegmentReader, doc: DocId) -> tantivy::Result<Explanation> {
        let mut scorer = self.scorer(reader, 1.0)?;
        if scorer.seek(doc) == doc {
            Ok(Explanation::new("TermPrefixQuery", scorer.score()))
        } else {
            Err(TantivyError::InvalidArgument("document does not match".to_string()))
        }
    }
}
