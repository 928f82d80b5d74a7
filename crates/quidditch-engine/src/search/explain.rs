//! Score explanations in OpenSearch's shape (`{"value", "description", "details"}`): the
//! `_explain` API and `"explain": true` hits. tantivy's `Weight::explain` gives the tree; text
//! fields' BM25 nodes come out of `query_ast::scoring` already in Lucene's wording.

use serde_json::{Map, Value, json};
use tantivy::collector::TopDocs;
use tantivy::query::{EnableScoring, Explanation, Query, TermQuery};
use tantivy::schema::IndexRecordOption;
use tantivy::{DocAddress, Searcher, Term};

use crate::error::{EngineError, EngineResult};
use super::execute::SearchTarget;
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

/// The explanation of one document for an already lowered query (`None`: no match).
pub fn explain_doc(searcher: &Searcher, query: &dyn Query, address: DocAddress) -> EngineResult<Option<Value>> {
    let weight = query.weight(EnableScoring::enabled_from_searcher(searcher))?;
    let reader = searcher.segment_reader(address.segment_ord);
    match weight.explain(reader, address.doc_id) {
        Ok(e) => Ok(Some(explanation_json(&e))),
        Err(tantivy::TantivyError::InvalidArgument(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// `GET|POST /{index}/_explain/{id}` with `{"query": …}`, on the index `target` resolved to
/// (reached through a filtered alias, the alias filter must match too, as in OpenSearch).
pub fn explain(target: &SearchTarget, id: &str, body: Option<&Value>) -> EngineResult<Value> {
    let index = &target.index;
    let obj = body.and_then(Value::as_object).cloned().unwrap_or_else(Map::new);
    for key in obj.keys() {
        if key != "query" {
            return Err(EngineError::bad_request("parsing_exception", format!("request does not support [{key}]")));
        }
    }
    let query_json = obj.get("query").ok_or_else(|| EngineError::Validation("query is missing".into()))?;
    let mut ast: QueryAst = crate::query_dsl::parse_query(query_json)?;
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
    };
    let query = ast.lower(&ctx)?;
    match explain_doc(&searcher, query.as_ref(), address)? {
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
    Ok(Value::Object(out))
}
