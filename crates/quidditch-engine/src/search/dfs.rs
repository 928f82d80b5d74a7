//! `search_type=dfs_query_then_fetch`: BM25 with the statistics of every shard of the search.
//!
//! By default (`query_then_fetch`, as OpenSearch) each shard scores with its own statistics
//! (document counts, term document frequencies, field lengths), so the same document can
//! score differently depending on the shard it landed on. With `dfs_query_then_fetch`,
//! OpenSearch first collects the statistics of every shard, then scores every shard with the
//! totals; here the shards are local, so [`GlobalStatistics`] sums them on demand (per term,
//! when a weight asks). The per-field document count (`docCount`, read as the document
//! frequency of the field's `_field_names` term by `query_ast::scoring`) sums the same way,
//! so scores equal those of one shard holding every document.

use tantivy::query::Bm25StatisticsProvider;
use tantivy::schema::Field;
use tantivy::{Searcher, Term};

/// The summed BM25 statistics of the searched shards.
pub(crate) struct GlobalStatistics {
    searchers: Vec<Searcher>,
}

impl GlobalStatistics {
    pub fn new(searchers: Vec<Searcher>) -> GlobalStatistics {
        GlobalStatistics { searchers }
    }

    fn sum(&self, stat: impl Fn(&Searcher) -> tantivy::Result<u64>) -> tantivy::Result<u64> {
        self.searchers.iter().map(stat).sum()
    }
}

impl Bm25StatisticsProvider for GlobalStatistics {
    fn total_num_tokens(&self, field: Field) -> tantivy::Result<u64> {
        self.sum(|s| s.total_num_tokens(field))
    }

    fn total_num_docs(&self) -> tantivy::Result<u64> {
        self.sum(|s| s.total_num_docs())
    }

    fn doc_freq(&self, term: &Term) -> tantivy::Result<u64> {
        self.sum(|s| s.doc_freq(term))
    }
}
