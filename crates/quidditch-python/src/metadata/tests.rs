use serde_json::json;

use super::*;

fn meta(source: &str) -> PythonMetadata {
    extract_metadata(source).unwrap_or_else(|e| panic!("{e}"))
}

fn invalid(source: &str) -> String {
    match extract_metadata(source) {
        Err(PythonUdfError::InvalidUdf(message)) => message,
        other => panic!("expected InvalidUdf, got {other:?}"),
    }
}

#[test]
fn full_example() {
    let m = meta(
        r#"# @udf: name=fuzzy_title
# @udf: version=1.2.0
# @udf: author=Ada
# @udf: category=text
# @udf: tags=text, fuzzy,  levenshtein
"""Keeps documents whose title is close to the query.

    Second paragraph, indented.
"""

def filter(doc, params, query: str, threshold: int = 2, ignore_case: bool = True) -> bool:
    """Filter docstring (module docstring wins)."""
    return True

def score(doc, query: str, weight: float = 1) -> float:
    return 1.0
"#,
    );
    assert_eq!(m.name.as_deref(), Some("fuzzy_title"));
    assert_eq!(m.version.as_deref(), Some("1.2.0"));
    assert_eq!(m.author.as_deref(), Some("Ada"));
    assert_eq!(m.category.as_deref(), Some("text"));
    assert_eq!(m.tags, vec!["text", "fuzzy", "levenshtein"]);
    assert_eq!(
        m.description.as_deref(),
        Some("Keeps documents whose title is close to the query.\n\nSecond paragraph, indented.")
    );
    assert_eq!(m.exports, vec![Export::Filter, Export::Score]);
    let params = serde_json::to_value(&m.parameters).unwrap();
    assert_eq!(
        params,
        json!([
            {"name": "query", "type": "string", "required": true},
            {"name": "threshold", "type": "i64", "default": 2, "required": false},
            {"name": "ignore_case", "type": "bool", "default": true, "required": false},
            {"name": "weight", "type": "f64", "default": 1.0, "required": false},
        ])
    );
}

#[test]
fn params_mapping_only_declares_nothing() {
    let m = meta("def filter(doc, params):\n    return params['x'] > 1\n");
    assert_eq!(m.exports, vec![Export::Filter]);
    assert!(m.parameters.is_empty());
    assert_eq!(m.description, None);
    assert_eq!(m.name, None);
}

#[test]
fn function_docstring_is_the_fallback_description() {
    let m = meta("def score(doc, params):\n    '''Doubles the score.'''\n    return doc.score * 2\n");
    assert_eq!(m.description.as_deref(), Some("Doubles the score."));
    assert_eq!(m.exports, vec![Export::Score]);
}

#[test]
fn inferred_types_negative_and_none_defaults() {
    let m = meta("def filter(doc, a=-3, b=-0.5, c='x', d=False, e: str = None):\n    return True\n");
    let params = serde_json::to_value(&m.parameters).unwrap();
    assert_eq!(
        params,
        json!([
            {"name": "a", "type": "i64", "default": -3, "required": false},
            {"name": "b", "type": "f64", "default": -0.5, "required": false},
            {"name": "c", "type": "string", "default": "x", "required": false},
            {"name": "d", "type": "bool", "default": false, "required": false},
            {"name": "e", "type": "string", "required": false},
        ])
    );
}

#[test]
fn keyword_only_and_string_annotations() {
    let m = meta("def filter(doc, *, limit: 'int', name: \"str\" = 'n'):\n    return True\n");
    assert_eq!(m.parameters[0].ty, ParamType::I64);
    assert!(m.parameters[0].required);
    assert_eq!(m.parameters[1].ty, ParamType::String);
}

#[test]
fn syntax_error_has_line_and_column() {
    let err = extract_metadata("def filter(doc, params):\n    return (1 +\n\ndef x(:\n").unwrap_err();
    let PythonUdfError::Syntax { line, column, message } = &err else { panic!("{err:?}") };
    assert!(*line >= 2, "line {line}");
    assert!(*column >= 1);
    assert!(!message.is_empty());
    assert_eq!(err.status(), 400);

    let err = extract_metadata("x = 1\ndef filter(doc, params)\n    return True\n").unwrap_err();
    let PythonUdfError::Syntax { line, column, .. } = err else { panic!() };
    assert_eq!((line, column), (2, 24));
}

#[test]
fn neither_filter_nor_score() {
    let message = invalid("def helper(doc):\n    return 1\n");
    assert!(message.contains("filter") && message.contains("score"), "{message}");
    assert_eq!(extract_metadata("x = 1").unwrap_err().status(), 400);
}

#[test]
fn bad_signatures() {
    assert!(invalid("def filter():\n    return True\n").contains("document"));
    assert!(invalid("def filter(doc, x):\n    return True\n").contains("needs a type annotation"));
    assert!(invalid("def filter(doc, x: list):\n    return True\n").contains("unsupported annotation `list`"));
    assert!(invalid("def filter(doc, x: int = 'a'):\n    return True\n").contains("declared int"));
    assert!(invalid("def filter(doc, x: int = LIMIT):\n    return True\n").contains("literal"));
    assert!(invalid("async def filter(doc, params):\n    return True\n").contains("async"));
    let message = invalid("def filter(doc, x: int):\n    return True\ndef score(doc, x: str):\n    return 1.0\n");
    assert!(message.contains("`x`"), "{message}");
}

#[test]
fn directives_are_validated_and_ignored_inside_strings() {
    let message = invalid("# @udf: colour=red\ndef filter(doc, params):\n    return True\n");
    assert!(message.contains("line 1") && message.contains("colour"), "{message}");
    assert!(invalid("# @udf: name\ndef filter(doc, params):\n    return True\n").contains("key=value"));
    let m = meta("X = '''\n# @udf: colour=red\n'''\n  # @udf: name = spaced \ndef filter(doc, params):\n    return True\n");
    assert_eq!(m.name.as_deref(), Some("spaced"));
}

#[test]
fn line_column_counts_characters() {
    assert_eq!(line_column("ab\ncdé f", TextSize::from(9)), (2, 6));
    assert_eq!(line_column("", TextSize::from(0)), (1, 1));
}
