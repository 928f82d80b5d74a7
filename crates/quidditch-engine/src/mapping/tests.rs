use serde_json::json;

use super::*;
use crate::document::parse_document;

#[test]
fn parses_types_multi_fields_and_dotted_names() {
    let m = Mapping::parse(&json!({
        "properties": {
            "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
            "user.name": {"type": "keyword"},
            "user": {"properties": {"age": {"type": "integer"}}},
            "created": {"type": "date", "format": "epoch_second"}
        }
    }))
    .unwrap();
    assert_eq!(m.resolve("title").unwrap().target, Some(JsonTarget::Text));
    assert_eq!(m.resolve("title").unwrap().keyword_subfield.as_deref(), Some("title.raw"));
    assert_eq!(m.resolve("title.raw").unwrap().target, Some(JsonTarget::Kw));
    assert_eq!(m.resolve("user.name").unwrap().ty, FieldType::Keyword);
    assert_eq!(m.resolve("user.age").unwrap().ty, FieldType::Integer);
    assert_eq!(m.resolve("user").unwrap().ty, FieldType::Object);
    assert_eq!(m.resolve("created").unwrap().format.as_deref(), Some("epoch_second"));
    // Round trip through JSON.
    let again = Mapping::parse(&m.to_json()).unwrap();
    assert_eq!(again.to_json(), m.to_json());
}

#[test]
fn rejects_unknown_types_and_conflicts() {
    let err = Mapping::parse(&json!({"properties": {"a": {"type": "geo_shape_x"}}})).unwrap_err();
    assert!(matches!(err, EngineError::MapperParsing(_)), "{err:?}");
    let m = Mapping::parse(&json!({"properties": {"a": {"type": "long"}}})).unwrap();
    let update = Mapping::parse(&json!({"properties": {"a": {"type": "text"}}})).unwrap();
    let err = m.merged(&update).unwrap_err();
    assert!(matches!(err, EngineError::IllegalArgument(_)), "{err:?}");
    let ok = Mapping::parse(&json!({"properties": {"b": {"type": "keyword"}}})).unwrap();
    assert!(m.merged(&ok).unwrap().resolve("b").is_some());
}

#[test]
fn dynamic_inference_follows_opensearch() {
    let m = Mapping::default();
    let doc = json!({"s": "hello", "n": 3, "f": 1.5, "b": true, "d": "2024-01-02", "o": {"x": "y"}, "arr": [null, 4], "nil": null});
    let (parsed, updated) = parse_document(&m, &doc, "1").unwrap();
    let u = updated.unwrap();
    assert_eq!(u.resolve("s").unwrap().ty, FieldType::Text);
    let kw = u.field("s").unwrap().fields.get("keyword").unwrap();
    assert_eq!((kw.ty, kw.ignore_above), (FieldType::Keyword, Some(256)));
    assert_eq!(u.resolve("n").unwrap().ty, FieldType::Long);
    assert_eq!(u.resolve("f").unwrap().ty, FieldType::Float);
    assert_eq!(u.resolve("b").unwrap().ty, FieldType::Boolean);
    assert_eq!(u.resolve("d").unwrap().ty, FieldType::Date);
    assert_eq!(u.resolve("o").unwrap().ty, FieldType::Object);
    assert_eq!(u.resolve("o.x").unwrap().ty, FieldType::Text);
    assert_eq!(u.resolve("arr").unwrap().ty, FieldType::Long);
    assert!(u.resolve("nil").is_none());
    assert!(parsed.field_names.contains("o.x") && parsed.field_names.contains("o"));
    assert!(parsed.field_names.contains("s.keyword"));
    assert!(parsed.kw.iter().any(|(p, _)| p == "s.keyword"));
    assert!(parsed.text.iter().any(|(p, _)| p == "o.x"));
}

#[test]
fn coercion_and_type_errors() {
    let m = Mapping::parse(&json!({"properties": {
        "n": {"type": "integer"}, "b": {"type": "boolean"}, "k": {"type": "keyword", "ignore_above": 3},
        "o": {"type": "object"}, "d": {"type": "date"}
    }}))
    .unwrap();
    // Numeric strings and floats are coerced; numbers become keywords.
    let (parsed, updated) = parse_document(&m, &json!({"n": "42", "k": 7, "b": "true", "d": 0}), "1").unwrap();
    assert!(updated.is_none());
    assert!(parsed.kw.iter().any(|(p, v)| p == "n" && v == &vec![tantivy::schema::OwnedValue::I64(42)]));
    let (parsed, _) = parse_document(&m, &json!({"n": 4.9}), "1").unwrap();
    assert!(parsed.kw.iter().any(|(_, v)| v == &vec![tantivy::schema::OwnedValue::I64(4)]));
    // ignore_above: kept out of the index, not an error.
    let (parsed, _) = parse_document(&m, &json!({"k": "long value"}), "1").unwrap();
    assert!(parsed.kw.is_empty());
    for bad in [json!({"n": "abc"}), json!({"n": 1e12}), json!({"b": "maybe"}), json!({"o": 5}), json!({"d": "yesterday"}), json!({"n": {"x": 1}})] {
        let err = parse_document(&m, &bad, "1").unwrap_err();
        assert!(matches!(err, EngineError::MapperParsing(_)), "{bad}: {err:?}");
    }
    // Dotted keys are objects.
    let (parsed, updated) = parse_document(&m, &json!({"o.inner": "v"}), "1").unwrap();
    assert_eq!(updated.unwrap().resolve("o.inner").unwrap().ty, FieldType::Text);
    assert!(parsed.text.iter().any(|(p, _)| p == "o.inner"));
}

#[test]
fn strict_and_false_dynamic() {
    let strict = Mapping::parse(&json!({"dynamic": "strict", "properties": {"a": {"type": "keyword"}}})).unwrap();
    let err = parse_document(&strict, &json!({"b": 1}), "1").unwrap_err();
    assert!(matches!(err, EngineError::StrictDynamicMapping(_)), "{err:?}");
    let off = Mapping::parse(&json!({"dynamic": false})).unwrap();
    let (parsed, updated) = parse_document(&off, &json!({"b": 1}), "1").unwrap();
    assert!(updated.is_none() && parsed.kw.is_empty());
}

/// `PUT _mapping` cannot change an existing text field's index-time analyzer (unset is
/// `default`), in a multi-field too; `search_analyzer` and new fields may change.
#[test]
fn put_mapping_refuses_an_analyzer_change() {
    let m = Mapping::parse(&json!({"properties": {
        "t": {"type": "text", "analyzer": "whitespace"},
        "plain": {"type": "text"},
        "o": {"properties": {"k": {"type": "keyword", "fields": {"en": {"type": "text", "analyzer": "english"}}}}}
    }}))
    .unwrap();
    let conflict = |update: serde_json::Value| match m.check_update(&Mapping::parse(&update).unwrap()) {
        Err(EngineError::IllegalArgument(reason)) => reason,
        other => panic!("expected a conflict for {update}, got {other:?}"),
    };
    assert_eq!(
        conflict(json!({"properties": {"t": {"type": "text", "analyzer": "simple"}}})),
        "Mapper for [t] conflicts with existing mapper:\n\tCannot update parameter [analyzer] from [whitespace] to [simple]"
    );
    assert_eq!(
        conflict(json!({"properties": {"t": {"type": "text"}}})),
        "Mapper for [t] conflicts with existing mapper:\n\tCannot update parameter [analyzer] from [whitespace] to [default]"
    );
    assert_eq!(
        conflict(json!({"properties": {"plain": {"type": "text", "analyzer": "standard"}}})),
        "Mapper for [plain] conflicts with existing mapper:\n\tCannot update parameter [analyzer] from [default] to [standard]"
    );
    assert_eq!(
        conflict(json!({"properties": {"o.k": {"type": "keyword", "fields": {"en": {"type": "text"}}}}})),
        "Mapper for [o.k.en] conflicts with existing mapper:\n\tCannot update parameter [analyzer] from [english] to [default]"
    );
    for fine in [
        json!({"properties": {"t": {"type": "text", "analyzer": "whitespace", "search_analyzer": "simple"}}}),
        json!({"properties": {"plain": {"type": "text"}, "new": {"type": "text", "analyzer": "simple"}}}),
    ] {
        let update = Mapping::parse(&fine).unwrap();
        m.check_update(&update).unwrap();
        m.merged(&update).unwrap();
    }
}
