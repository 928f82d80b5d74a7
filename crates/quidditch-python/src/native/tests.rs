//! What the native compiler accepts and what it refuses, with the construct and its line.
//! The semantics (results and exception types equal to CPython's) are tested through the
//! real server in tests/python/test_python_native.py, against the CPython engine.

use super::compile_native;

#[test]
fn the_subset_compiles_to_a_core_module() {
    let src = "import math\nR = 6371.0\n\ndef sq(x, k=2):\n    return x ** k\n\n\
               def filter(doc, params, min_x: float = 0.0):\n    n = 0\n    for i in range(10):\n        if i % 2:\n            continue\n        n += i\n\
               \x20   while n > 3:\n        n //= 2\n    return -1 < doc.get('x', 0) <= min_x or 'y' in doc and n != 0\n\n\
               def score(doc):\n    return sq(doc.score) + math.sqrt(abs(doc['x'])) + round(2.5)\n";
    let module = compile_native(src, true).unwrap_or_else(|e| panic!("{e}"));
    assert!(module.wasm.starts_with(b"\0asm"));
    for export in ["\"filter\"", "\"filter_batch\"", "\"score\"", "\"score_batch\"", "\"udf_buffer\""] {
        assert!(module.wat.contains(&format!("(export {export})")), "{export}");
    }
}

#[test]
fn constructs_outside_the_subset_are_named_with_their_line() {
    let cases = [
        ("import re\ndef filter(doc):\n    return True\n", "import of `re`", 1),
        ("class A:\n    pass\ndef filter(doc):\n    return True\n", "module-level class definition", 1),
        ("def filter(doc):\n    x = [i for i in range(3)]\n    return True\n", "list comprehension", 2),
        ("def filter(doc):\n    d = {}\n    return True\n", "dict display", 2),
        ("def filter(doc):\n    try:\n        pass\n    except Exception:\n        pass\n    return True\n", "try statement (exceptions)", 2),
        ("def filter(doc):\n    return doc['a'] < 123456789012345678901234567890\n", "integer literal beyond 64 bits", 2),
    ];
    for (src, construct, line) in cases {
        let e = compile_native(src, true).expect_err(src);
        assert_eq!((e.construct.as_str(), e.line), (construct, line), "{src}");
    }
    let e = compile_native("def filter(doc):\n    return doc['a'] > 1\n", false).expect_err("needs read_document");
    assert!(e.construct.contains("read_document"));
}
