use serde_json::json;

use super::parse_query;
use crate::query_ast::*;

#[test]
fn unknown_query_is_a_parsing_exception() {
    let err = parse_query(&json!({"no_such_query": {}})).unwrap_err();
    assert_eq!(err.error_type, "parsing_exception");
    assert_eq!(err.reason, "unknown query [no_such_query]");
    assert_eq!(err.status, 400);
}

#[test]
fn match_shorthand_and_options() {
    let q = parse_query(&json!({"match": {"title": "quick fox"}})).unwrap();
    let QueryAst::Match(m) = q else { panic!("not a match: {q:?}") };
    assert_eq!(m.field, "title");
    assert_eq!(m.query, json!("quick fox"));
    assert_eq!(m.operator, Operator::Or);

    let q = parse_query(&json!({"match": {"title": {"query": "a b c", "operator": "AND",
        "minimum_should_match": "75%", "boost": 2}}}))
    .unwrap();
    let QueryAst::Match(m) = q else { panic!() };
    assert_eq!(m.operator, Operator::And);
    assert_eq!(m.minimum_should_match, Some(MinimumShouldMatch::Percent(75.0)));
    assert_eq!(m.boost, Some(2.0));

    let err = parse_query(&json!({"match": {"title": {"query": "x", "bogus": 1}}})).unwrap_err();
    assert_eq!(err.reason, "[match] query does not support [bogus]");
}

#[test]
fn bool_nesting_and_lists() {
    let q = parse_query(&json!({"bool": {
        "must": {"match_all": {}},
        "filter": [{"term": {"status": "active"}}, {"range": {"price": {"gte": 10, "lt": 20}}}],
        "should": [{"bool": {"must_not": {"exists": {"field": "x"}}}}],
        "minimum_should_match": 1
    }}))
    .unwrap();
    let QueryAst::Bool(b) = q else { panic!() };
    assert_eq!(b.must.len(), 1);
    assert_eq!(b.filter.len(), 2);
    assert_eq!(b.minimum_should_match, Some(MinimumShouldMatch::Count(1)));
    let QueryAst::Range(r) = &b.filter[1] else { panic!() };
    assert_eq!(r.lower, Some(RangeBound { value: json!(10), inclusive: true }));
    assert_eq!(r.upper, Some(RangeBound { value: json!(20), inclusive: false }));
    let QueryAst::Bool(inner) = &b.should[0] else { panic!() };
    assert_eq!(inner.must_not.len(), 1);
}

#[test]
fn function_score_inline_and_list() {
    let q = parse_query(&json!({"function_score": {
        "query": {"match": {"title": "x"}},
        "field_value_factor": {"field": "likes", "factor": 1.2, "modifier": "log1p", "missing": 1},
        "boost_mode": "sum"
    }}))
    .unwrap();
    let QueryAst::FunctionScore(f) = q else { panic!() };
    assert_eq!(f.boost_mode, BoostMode::Sum);
    let fvf = f.functions[0].field_value_factor.as_ref().unwrap();
    assert_eq!(fvf.modifier, FieldValueModifier::Log1p);
    assert_eq!(fvf.missing, Some(1.0));

    let err = parse_query(&json!({"function_score": {"functions": [{"gauss": {}}]}})).unwrap_err();
    assert_eq!(err.error_type, "parsing_exception");
}

#[test]
fn multi_match_fields_with_boosts() {
    let q = parse_query(&json!({"multi_match": {"query": "rust", "fields": ["title^2", "body"],
        "type": "most_fields"}}))
    .unwrap();
    let QueryAst::MultiMatch(m) = q else { panic!() };
    assert_eq!(m.fields, vec![("title".to_string(), Some(2.0)), ("body".to_string(), None)]);
    assert_eq!(m.match_type, MultiMatchType::MostFields);
}

#[test]
fn malformed_shapes() {
    assert!(parse_query(&json!({"term": {"a": 1, "b": 2}})).is_err());
    assert!(parse_query(&json!({"match": {}, "term": {}})).is_err());
    assert!(parse_query(&json!({})).is_err());
    assert!(parse_query(&json!([1])).is_err());
    assert!(parse_query(&json!({"terms": {"tags": "notalist"}})).is_err());
    assert!(parse_query(&json!({"exists": {}})).is_err());
}

fn params(pairs: &[(&str, &str)]) -> std::collections::HashMap<String, String> {
    pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn uri_query() {
    let q = super::parse_uri_query(&params(&[("q", "title:rust +status:active -draft")])).unwrap().unwrap();
    let QueryAst::QueryString(qs) = q else { panic!("{q:?}") };
    let QsNode::Bool(clauses) = &qs.parsed else { panic!("{qs:?}") };
    let occurs: Vec<QsOccur> = clauses.iter().map(|(o, _)| *o).collect();
    assert_eq!(occurs, vec![QsOccur::Should, QsOccur::Must, QsOccur::MustNot]);
    assert!(super::parse_uri_query(&params(&[("size", "1")])).unwrap().is_none());

    let q = super::parse_uri_query(&params(&[("q", "a b"), ("df", "title"), ("default_operator", "AND"), ("lenient", "true")]))
        .unwrap()
        .unwrap();
    let QueryAst::QueryString(qs) = q else { panic!() };
    assert_eq!((qs.fields.clone(), qs.default_operator, qs.lenient), (vec![("title".to_string(), None)], Operator::And, true));
    assert!(matches!(&qs.parsed, QsNode::Bool(c) if c.iter().all(|(o, _)| *o == QsOccur::Must)));

    let err = super::parse_uri_query(&params(&[("q", "a"), ("default_operator", "XOR")])).unwrap_err();
    assert_eq!(err.error_type, "illegal_argument_exception");
    let err = super::parse_uri_query(&params(&[("q", "a AND")])).unwrap_err();
    assert_eq!(err.error_type, "query_shard_exception");
}

#[test]
fn query_string_options() {
    let q = parse_query(&json!({"query_string": {"query": "quick brown", "fields": ["title^2", "body"],
        "default_operator": "and", "analyze_wildcard": true, "fuzziness": "AUTO:2,5"}}))
    .unwrap();
    let QueryAst::QueryString(qs) = q else { panic!() };
    assert_eq!(qs.fields, vec![("title".to_string(), Some(2.0)), ("body".to_string(), None)]);
    assert_eq!(qs.default_operator, Operator::And);
    assert!(qs.analyze_wildcard);
    assert_eq!(qs.fuzziness, Fuzziness::Auto { low: 2, high: 5 });

    let err = parse_query(&json!({"query_string": {"query": "x", "bogus": 1}})).unwrap_err();
    assert_eq!(err.reason, "[query_string] query does not support [bogus]");
    let err = parse_query(&json!({"query_string": {"fields": ["a"]}})).unwrap_err();
    assert_eq!(err.error_type, "parsing_exception");
    let err = parse_query(&json!({"query_string": {"query": "x", "fields": ["a"], "default_field": "b"}})).unwrap_err();
    assert_eq!(err.error_type, "parsing_exception");

    let q = parse_query(&json!({"simple_query_string": {"query": "a -b", "flags": "OR|PREFIX"}})).unwrap();
    let QueryAst::QueryString(qs) = q else { panic!() };
    assert_eq!(qs.tie_breaker, 1.0);
    let err = parse_query(&json!({"simple_query_string": {"query": "a", "flags": "NOPE"}})).unwrap_err();
    assert_eq!(err.error_type, "illegal_argument_exception");
}

#[test]
fn prefix_and_wildcard_share_their_options() {
    let q = parse_query(&json!({"prefix": {"user": "ki"}})).unwrap();
    let QueryAst::Prefix(p) = q else { panic!("not a prefix: {q:?}") };
    assert_eq!((p.field.as_str(), p.value.as_str(), p.case_insensitive, p.boost), ("user", "ki", false, None));

    let q = parse_query(&json!({"prefix": {"user": {"prefix": "ki", "case_insensitive": true, "boost": 2}}}))
        .unwrap();
    let QueryAst::Prefix(p) = q else { panic!("not a prefix: {q:?}") };
    assert_eq!((p.value.as_str(), p.case_insensitive, p.boost), ("ki", true, Some(2.0)));

    let q = parse_query(&json!({"wildcard": {"user": {"wildcard": "ki*y", "rewrite": "x"}}})).unwrap();
    let QueryAst::Wildcard(w) = q else { panic!("not a wildcard: {q:?}") };
    assert_eq!((w.field.as_str(), w.pattern.as_str()), ("user", "ki*y"));

    // The value key is the query's own name, not the other query's.
    let err = parse_query(&json!({"wildcard": {"user": {"prefix": "ki"}}})).unwrap_err();
    assert_eq!(err.reason, "[wildcard] query does not support [prefix]");
    let err = parse_query(&json!({"prefix": {"user": {"boost": 1}}})).unwrap_err();
    assert_eq!((err.error_type, err.reason.as_str()), ("parsing_exception", "[prefix] query requires a value"));
}
