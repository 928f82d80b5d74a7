//! Score explanations in OpenSearch's shape (`{"value", "description", "details"}`): the
//! `_explain` API and `"explain": true` hits. tantivy's `Weight::explain` gives the tree; text
//! fields' BM25 nodes come out of `query_ast::scoring` already in Lucene's wording.

use serde_json::{Map, Value, json};
use tantivy::collector::TopDocs;
use tantivy::query::{Bm25StatisticsProvider, EnableScoring, Explanation, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Searcher, Term};

use crate::error::{EngineError, EngineResult};
use super::execute::SearchTarget;
use super::source_filter::{SourceFilter, split_list};
use crate::query_ast::{BoolQuery, LoweringContext, QueryAst};

/// tantivy's explanation as OpenSearch JSON.
pub fn explanation_json(e: &Explanation) -> Value {
    let mut v = serde_json::to_value(e).unwrap_or_else(|_| json!({"value": e.value(), "description": ""}));
    normalize(&mut v);
    v
}

/// `details` always present (OpenSearch prints `[]` for leaves); no tantivy `context`.
fn normalize(v: &mut Value) {
    if let Value::Object(obj) = v {
        obj.remove("context");
        let details = obj.entry("details").or_insert_with(|| json!([]));
        if let Value::Array(items) = details {
            for d in items {
                normalize(d);
            }
        }
    }
}

/// The explanation of one document for an already lowered query (`None`: no match), with the
/// search's global statistics under `dfs_query_then_fetch` (else the shard's own).
pub fn explain_doc(
    searcher: &Searcher,
    query: &dyn Query,
    address: DocAddress,
    statistics: Option<&dyn Bm25StatisticsProvider>,
) -> EngineResult<Option<Value>> {
    let weight = query.weight(EnableScoring::enabled_from_statistics_provider(statistics.unwrap_or(searcher), searcher))?;
    let reader = searcher.segment_reader(address.segment_ord);
    match weight.explain(reader, address.doc_id) {
        Ok(e) => Ok(Some(explanation_json(&e))),
        Err(tantivy::TantivyError::InvalidArgument(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The URL parameters of `_explain` besides routing: the query as `q` (with `df`,
/// `default_operator`, `analyzer`, `analyze_wildcard`, `lenient`: the `_search?q=` query) and
/// the `_source` to return under `get`.
#[derive(Debug, Default)]
pub struct ExplainParams {
    /// The URI-query parameters ([`URI_QUERY_PARAMS`](crate::query_dsl::URI_QUERY_PARAMS)).
    pub uri_query: std::collections::HashMap<String, String>,
    /// `_source`, `_source_includes`, `_source_excludes`; `None` when none was given (no `get`).
    pub source: Option<SourceFilter>,
}

impl ExplainParams {
    /// From the request's URL parameters (unknown ones are the HTTP layer's concern).
    pub fn from_params(params: &std::collections::HashMap<String, String>) -> ExplainParams {
        let param = |k: &str| params.get(k).cloned();
        let mut source: Option<SourceFilter> = param("_source").map(|v| SourceFilter::parse_param(&v));
        if let Some(v) = param("_source_includes").or_else(|| param("_source_include")) {
            let f = source.get_or_insert_with(SourceFilter::default);
            f.enabled = true;
            f.includes = split_list(&v);
        }
        if let Some(v) = param("_source_excludes").or_else(|| param("_source_exclude")) {
            let f = source.get_or_insert_with(SourceFilter::default);
            f.enabled = true;
            f.excludes = split_list(&v);
        }
        let uri_query = params
            .iter()
            .filter(|(k, _)| crate::query_dsl::URI_QUERY_PARAMS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        ExplainParams { uri_query, source }
    }
}

/// `GET|POST /{index}/_explain/{id}` with `{"query": …}` (or `?q=`), on the index `target`
/// resolved to (reached through a filtered alias, the alias filter must match too, as in
/// OpenSearch).
pub fn explain(target: &SearchTarget, id: &str, body: Option<&Value>, params: &ExplainParams) -> EngineResult<Value> {
    let index = &target.index;
    let obj = body.and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
    for key in obj.keys() {
        if key != "query" {
            return Err(EngineError::bad_request("parsing_exception", format!("request does not support [{key}]")));
        }
    }
    let mut ast: QueryAst = match (crate::query_dsl::parse_uri_query(&params.uri_query)?, obj.get("query")) {
        (Some(q), _) => q,
        (None, Some(query_json)) => crate::query_dsl::parse_query(query_json)?,
        (None, None) => return Err(EngineError::Validation("query is missing".into())),
    };
    if let Some(filter) = &target.filter {
        ast = QueryAst::Bool(BoolQuery { must: vec![ast], filter: vec![filter.clone()], ..BoolQuery::default() });
    }
    let mapping = index.mapping();
    let id_term = Term::from_field_text(index.fields().id, id);
    // The shard that holds the document (statistics are per shard, as in OpenSearch).
    let mut found = None;
    for searcher in index.shard_searchers() {
        let hits = searcher
            .search(&TermQuery::new(id_term.clone(), IndexRecordOption::Basic), &TopDocs::with_limit(1).order_by_score())?;
        if let Some((_, address)) = hits.first().copied() {
            found = Some((searcher, address));
            break;
        }
    }
    let mut out = Map::new();
    out.insert("_index".into(), json!(index.name()));
    out.insert("_id".into(), json!(id));
    let Some((searcher, address)) = found else {
        out.insert("matched".into(), json!(false));
        return Ok(Value::Object(out));
    };
    let ctx = LoweringContext {
        schema: searcher.schema(),
        fields: mapping.as_ref(),
        analysis: mapping.analysis(),
        tokenizers: index.tantivy_index().tokenizers(),
        extensions: None,
        nested_path: None,
    };
    let query = ast.lower(&ctx)?;
    match explain_doc(&searcher, query.as_ref(), address, None)? {
        Some(e) => {
            out.insert("matched".into(), json!(true));
            out.insert("explanation".into(), e);
        }
        None => {
            out.insert("matched".into(), json!(false));
            out.insert(
                "explanation".into(),
                json!({"value": 0.0, "description": "no matching term", "details": []}),
            );
        }
    }
    // `get`, as OpenSearch adds it when a `_source` is asked for: the stored document.
    if let Some(filter) = params.source.as_ref().filter(|f| f.enabled)
        && let Some(doc) = index.get(id)?
    {
        let mut get = Map::new();
        get.insert("_seq_no".into(), json!(doc.meta.seq_no));
        get.insert("_primary_term".into(), json!(doc.meta.primary_term));
        get.insert("found".into(), json!(true));
        if let Some(source) = filter.apply(doc.source_json()) {
            get.insert("_source".into(), source);
        }
        out.insert("get".into(), Value::Object(get));
    }
    Ok(Value::Object(out))
}
