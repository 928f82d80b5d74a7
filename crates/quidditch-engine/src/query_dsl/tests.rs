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

#[test]
fn uri_query() {
    let q = super::parse_uri_query("title:rust +status:active -draft", None, false).unwrap();
    let QueryAst::Bool(b) = q else { panic!() };
    assert_eq!(b.should.len(), 1);
    assert_eq!(b.must.len(), 1);
    assert_eq!(b.must_not.len(), 1);
    assert!(matches!(super::parse_uri_query("*", None, false).unwrap(), QueryAst::MatchAll(_)));
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
