//! End-to-end engine search: real indices on disk, written through the engine's write path,
//! searched through the DSL → AST → tantivy pipeline.

use std::collections::HashMap;
use std::sync::Arc;

use quidditch_engine::search::{SearchRequest, search};
use quidditch_engine::{Engine, EngineConfig, Index, OpType, Refresh, WriteOp};
use serde_json::{Value, json};

fn engine(dir: &std::path::Path) -> Arc<Engine> {
    let udfs = quidditch_udf::UdfRegistry::open(&dir.join("udfs"), Default::default()).unwrap();
    Engine::open(&dir.join("indices"), EngineConfig::default(), udfs).unwrap()
}

fn docs() -> Vec<Value> {
    (0..50)
        .map(|i| {
            let status = ["active", "inactive", "pending"][i % 3];
            json!({
                "title": format!("{} quick brown {}", if i % 2 == 0 { "rust" } else { "java" }, if i % 5 == 0 { "fox" } else { "dog" }),
                "status": status,
                "price": (i as f64) * 1.5,
                "qty": i,
                "created": format!("2024-01-{:02}T00:00:00Z", (i % 28) + 1),
                "active": i % 4 == 0,
                "tags": if i % 10 == 0 { json!(null) } else { json!(["t", format!("t{}", i % 3)]) },
            })
        })
        .collect()
}

fn setup(engine: &Engine) -> Arc<Index> {
    let index = engine
        .create_index(
            "products",
            Some(&json!({"mappings": {"properties": {
                "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
                "status": {"type": "keyword"},
                "price": {"type": "double"},
                "qty": {"type": "integer"},
                "created": {"type": "date"},
                "active": {"type": "boolean"},
                "tags": {"type": "keyword"}
            }}})),
        )
        .unwrap();
    let ops = docs()
        .into_iter()
        .enumerate()
        .map(|(i, d)| WriteOp::Index {
            id: Some(i.to_string()),
            source: serde_json::to_vec(&d).unwrap(),
            op_type: OpType::Index,
            if_seq_no: None,
            if_primary_term: None,
            version: None,
        })
        .collect();
    for r in index.write(ops, Refresh::True).unwrap() {
        r.unwrap();
    }
    index
}

fn run(index: &Arc<Index>, body: Value) -> Value {
    let req = SearchRequest::parse(Some(&body), &HashMap::new()).unwrap();
    search(std::slice::from_ref(index), &req, None).unwrap()
}

fn total(resp: &Value) -> u64 {
    resp["hits"]["total"]["value"].as_u64().unwrap()
}

fn ids(resp: &Value) -> Vec<String> {
    resp["hits"]["hits"].as_array().unwrap().iter().map(|h| h["_id"].as_str().unwrap().to_string()).collect()
}

#[test]
fn queries_sorting_paging_aggs() {
    let dir = tempfile::tempdir().unwrap();
    let engine = engine(dir.path());
    let index = setup(&engine);
    let all = docs();
    let expect = |pred: &dyn Fn(&Value) -> bool| all.iter().filter(|d| pred(d)).count() as u64;

    assert_eq!(total(&run(&index, json!({"query": {"match_all": {}}}))), 50);
    assert_eq!(total(&run(&index, json!({"query": {"match": {"title": "rust"}}}))), 25);
    assert_eq!(
        total(&run(&index, json!({"query": {"match": {"title": {"query": "rust fox", "operator": "and"}}}}))),
        expect(&|d| d["title"].as_str().unwrap().contains("rust") && d["title"].as_str().unwrap().contains("fox"))
    );
    assert_eq!(total(&run(&index, json!({"query": {"match_phrase": {"title": "quick brown fox"}}}))), 10);
    assert_eq!(total(&run(&index, json!({"query": {"term": {"status": "active"}}}))), 17);
    assert_eq!(total(&run(&index, json!({"query": {"terms": {"status": ["active", "pending"]}}}))), 33);
    assert_eq!(total(&run(&index, json!({"query": {"range": {"price": {"gte": 15, "lt": 30}}}}))), expect(&|d| {
        let p = d["price"].as_f64().unwrap();
        (15.0..30.0).contains(&p)
    }));
    assert_eq!(total(&run(&index, json!({"query": {"range": {"qty": {"gt": 10, "lte": 20}}}}))), 10);
    assert_eq!(
        total(&run(&index, json!({"query": {"range": {"created": {"gte": "2024-01-10", "lt": "2024-01-12"}}}}))),
        expect(&|d| { let c = d["created"].as_str().unwrap(); c >= "2024-01-10" && c < "2024-01-12" })
    );
    assert_eq!(total(&run(&index, json!({"query": {"term": {"active": true}}}))), 13);
    assert_eq!(total(&run(&index, json!({"query": {"exists": {"field": "tags"}}}))), 45);
    assert_eq!(total(&run(&index, json!({"query": {"prefix": {"status": "act"}}}))), 17);
    assert_eq!(total(&run(&index, json!({"query": {"wildcard": {"status": "*act*"}}}))), 34);
    assert_eq!(total(&run(&index, json!({"query": {"ids": {"values": ["1", "2", "99"]}}}))), 2);
    assert_eq!(
        total(&run(&index, json!({"query": {"bool": {"must": {"match": {"title": "rust"}}, "filter": {"term": {"status": "active"}}, "must_not": {"term": {"qty": 0}}}}}))),
        expect(&|d| d["title"].as_str().unwrap().starts_with("rust") && d["status"] == "active" && d["qty"] != 0)
    );
    assert_eq!(total(&run(&index, json!({"query": {"bool": {"must_not": {"term": {"status": "active"}}}}}))), 33);
    assert_eq!(total(&run(&index, json!({"query": {"multi_match": {"query": "fox active", "fields": ["title", "status"]}}}))),
        // A keyword field takes the whole text as one term, so only `title` matches.
        expect(&|d| d["title"].as_str().unwrap().contains("fox")));

    // Sorting, paging, search_after.
    let r = run(&index, json!({"sort": [{"price": "desc"}], "size": 3}));
    assert_eq!(ids(&r), vec!["49", "48", "47"]);
    assert_eq!(r["hits"]["hits"][0]["sort"], json!([73.5]));
    let r = run(&index, json!({"sort": [{"status": "asc"}, {"qty": "desc"}], "size": 2, "from": 1}));
    assert_eq!(ids(&r), vec!["45", "42"]);
    let r = run(&index, json!({"sort": [{"qty": "asc"}], "size": 5, "search_after": [4]}));
    assert_eq!(ids(&r), vec!["5", "6", "7", "8", "9"]);

    // function_score.
    let r = run(&index, json!({"query": {"function_score": {"query": {"match_all": {}},
        "field_value_factor": {"field": "qty", "factor": 2.0}, "boost_mode": "replace"}}, "size": 1}));
    assert_eq!(ids(&r), vec!["49"]);
    assert_eq!(r["hits"]["hits"][0]["_score"], json!(98.0));

    // Aggregations.
    let r = run(&index, json!({"size": 0, "aggs": {
        "by_status": {"terms": {"field": "status"}, "aggs": {"avg_price": {"avg": {"field": "price"}}}},
        "qty_stats": {"stats": {"field": "qty"}},
        "per_day": {"date_histogram": {"field": "created", "calendar_interval": "day"}},
        "hist": {"histogram": {"field": "qty", "interval": 10}},
    }}));
    let aggs = &r["aggregations"];
    assert_eq!(aggs["by_status"]["buckets"][0]["key"], "active");
    assert_eq!(aggs["by_status"]["buckets"][0]["doc_count"], 17);
    assert_eq!(aggs["qty_stats"]["sum"], json!(1225.0));
    assert_eq!(aggs["per_day"]["buckets"][0]["key_as_string"], "2024-01-01T00:00:00.000Z");
    assert_eq!(aggs["hist"]["buckets"].as_array().unwrap().len(), 5);

    // _count and errors.
    let q = quidditch_engine::query_dsl::parse_query(&json!({"term": {"status": "pending"}})).unwrap();
    let count = SearchRequest { query: q, ..Default::default() }.into_count();
    assert_eq!(search(std::slice::from_ref(&index), &count, None).unwrap()["count"], 16);
    let bad = SearchRequest::parse(Some(&json!({"query": {"term": {"qty": "abc"}}})), &HashMap::new()).unwrap();
    let err = search(std::slice::from_ref(&index), &bad, None).unwrap_err();
    assert_eq!(err.error_type(), "query_shard_exception", "{err}");
}
