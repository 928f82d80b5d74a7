"""Python UDFs end to end: the real server checks Python source on its shared Python runtime
(built once with componentize-py) and runs it in its sandbox.

The runtime is built once per session (conftest's `shared_python_runtime`); each UDF here is
uploaded once per session by a session-scoped fixture and shared by the tests that use it.
"""
import json
import os
import subprocess

import pytest
import requests

from conftest import REPO, levenshtein, sh_blocks

EXAMPLE = REPO / "examples" / "udfs" / "python-filter"

GUARD_SOURCE = '''\
# @udf: name=py_guard
# @udf: version=1.0.0
# @udf: author=tests
# @udf: category=testing
# @udf: tags=python, guard
"""Keeps documents priced at least min_price; scores by price.

Test UDF: a document's `mode` field makes it misbehave.
"""
import json
import math
import re


def filter(doc, params, min_price: float = 10.0, label: str = "") -> bool:
    mode = doc.get("mode")
    if mode == "raise":
        raise ValueError("bad document " + doc.id)
    if mode == "spin":
        while True:
            pass
    if mode == "hog":
        hog = []
        while True:
            hog.append(bytearray(1 << 20))
    if mode == "json":
        return json.loads(params["label"])["ok"] and bool(re.match(r"^a+$", "aaa"))
    if label:
        print("label is", label)
        log("checked " + doc.id, level="warn")
    return doc.get("price", 0) >= min_price


def score(doc, boost: float = 2.0) -> float:
    return doc.score * boost + doc.get("price", 0)
'''

# The same filter and scorer as a core-wasm UDF (ABI v1), to compare search results.
GUARD_WAT = '''
(module
  (import "env" "get_field_f64" (func $field (param i64 i32 i32 i32) (result i32)))
  (import "env" "get_param_f64" (func $param (param i32 i32 i32) (result i32)))
  (import "env" "get_score" (func $score (param i64) (result f64)))
  (memory (export "memory") 1)
  (data (i32.const 0) "price")
  (data (i32.const 8) "min_price")
  (data (i32.const 24) "boost")
  (func $price (param $ctx i64) (result f64)
    (f64.store (i32.const 64) (f64.const 0))
    (drop (call $field (local.get $ctx) (i32.const 0) (i32.const 5) (i32.const 64)))
    (f64.load (i32.const 64)))
  (func (export "filter") (param $ctx i64) (result i32)
    (f64.store (i32.const 72) (f64.const 10))
    (drop (call $param (i32.const 8) (i32.const 9) (i32.const 72)))
    (f64.ge (call $price (local.get $ctx)) (f64.load (i32.const 72))))
  (func (export "score") (param $ctx i64) (result f64)
    (f64.store (i32.const 80) (f64.const 2))
    (drop (call $param (i32.const 24) (i32.const 5) (i32.const 80)))
    (f64.add (f64.mul (call $score (local.get $ctx)) (f64.load (i32.const 80)))
             (call $price (local.get $ctx)))))
'''


# ---------------------------------------------------------------- fixtures

@pytest.fixture(scope="session")
def py_server(server_factory):
    """A server of this module's own: the restart test restarts it."""
    return server_factory()


def api(server):
    s = requests.Session()

    class Bound:
        url = server.url

        def __getattr__(self, method):
            fn = getattr(s, method)
            return lambda path, **kw: fn(server.url + path, timeout=kw.pop("timeout", 300), **kw)

    return Bound()


@pytest.fixture(scope="session")
def guard(py_server):
    """py_guard uploaded once (explicit JSON description, everything else from the source)."""
    r = api(py_server).post("/api/v1/udfs", json={
        "language": "python", "source": GUARD_SOURCE, "description": "explicit description wins",
    })
    assert r.status_code == 201, r.text
    return r.json()


def run_test(server, name, document, parameters=None, **extra):
    body = {"document": document, "parameters": parameters or {}, **extra}
    return api(server).post(f"/api/v1/udfs/{name}/test", json=body)


def error_of(r, status):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status, body
    return body["error"]


# ---------------------------------------------------------------- upload and metadata

def test_upload_extracts_metadata_and_reports_compilation(guard):
    assert guard["name"] == "py_guard"
    assert guard["version"] == "1.0.0"
    assert guard["language"] == "python"
    assert guard["author"] == "tests"
    assert guard["category"] == "testing"
    assert guard["tags"] == ["python", "guard"]
    # Explicit JSON metadata wins over the docstring.
    assert guard["description"] == "explicit description wins"
    assert guard["kind"] == "component"
    assert sorted(guard["exports"]) == ["filter", "filter_batch", "score", "score_batch"]
    params = {p["name"]: p for p in guard["parameters"]}
    assert set(params) == {"min_price", "label", "boost"}
    assert params["min_price"]["type"] == "f64" and params["min_price"]["default"] == 10.0
    assert params["label"]["type"] == "string" and params["label"]["default"] == ""
    assert params["boost"]["type"] == "f64" and params["boost"]["default"] == 2.0
    assert not any(p["required"] for p in params.values())
    assert guard["source"] == GUARD_SOURCE
    compilation = guard["compilation"]
    assert compilation["compiler"] == "componentize-py 0.25.1"
    # The UDF is its source, run on the shared runtime: no per-UDF component.
    assert compilation["component_bytes"] == guard["size_bytes"] == len(GUARD_SOURCE.encode())
    assert 0 < compilation["compile_ms"] < compilation["total_ms"]
    # Python UDFs get the memory CPython needs by default.
    assert guard["effective_limits"]["memory_bytes"] == 64 * 1024 * 1024


def test_docstring_is_the_description_and_json_parameters_win(py_server):
    source = (
        '"""Scores by the `weight` field."""\n'
        "def score(doc, params, weight: int = 1) -> float:\n"
        "    return doc.score * params['weight']\n"
    )
    # Only the metadata differs from a compile the other tests do not need, so keep it cheap:
    # declare the parameters explicitly and check they replace the ones from the signature.
    r = api(py_server).post("/api/v1/udfs", json={
        "language": "python", "source": source, "name": "py_weight", "version": "2.0.0",
        "parameters": [{"name": "weight", "type": "f64", "default": 0.5}],
    })
    assert r.status_code == 201, r.text
    meta = r.json()
    assert meta["description"] == "Scores by the `weight` field."
    assert meta["version"] == "2.0.0"
    assert meta["parameters"] == [{"name": "weight", "type": "f64", "required": False, "default": 0.5, "description": ""}]
    assert meta["exports"] == ["score", "score_batch"]
    out = run_test(py_server, "py_weight", {"x": 1}, {}, score=3.0)
    assert out.status_code == 200, out.text
    assert out.json()["result"] == {"score": 1.5}


def test_listing_and_get_show_the_python_udf(py_server, guard):
    http = api(py_server)
    got = http.get("/api/v1/udfs/py_guard").json()
    assert got["language"] == "python" and got["sha256"] == guard["sha256"]
    listed = http.get("/api/v1/udfs", params={"language": "python"}).json()
    assert "py_guard" in [u["name"] for u in listed["udfs"]]


# ---------------------------------------------------------------- the test endpoint

def test_filter_and_score_on_one_document(py_server, guard):
    r = run_test(py_server, "py_guard", {"price": 12}, {"min_price": 11}, score=1.5)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"filter": True, "score": 1.5 * 2.0 + 12}
    r = run_test(py_server, "py_guard", {"price": 12}, {"min_price": 13, "boost": 0.5}, score=2.0)
    assert r.json()["result"] == {"filter": False, "score": 13.0}
    # A missing field reads as the default given to doc.get.
    r = run_test(py_server, "py_guard", {"title": "no price"})
    assert r.json()["result"] == {"filter": False, "score": 2.0}


def test_print_and_log_are_captured(py_server, guard):
    r = run_test(py_server, "py_guard", {"price": 50}, {"label": "hello"}, id="doc-7")
    assert r.status_code == 200, r.text
    logs = r.json()["logs"]
    assert {"level": "info", "message": "label is hello"} in logs
    assert {"level": "warn", "message": "checked doc-7"} in logs


def test_stdlib_modules_work(py_server, guard):
    r = run_test(py_server, "py_guard", {"mode": "json"}, {"label": '{"ok": true}'})
    assert r.status_code == 200, r.text
    assert r.json()["result"]["filter"] is True


def test_wrong_parameter_type_is_rejected(py_server, guard):
    r = run_test(py_server, "py_guard", {"price": 1}, {"min_price": "cheap"})
    err = error_of(r, 400)
    assert "min_price" in err["reason"]


# ---------------------------------------------------------------- errors

def test_syntax_error_reports_line_and_column(py_server):
    source = "def filter(doc, params):\n    return doc['a'] >\n"
    r = api(py_server).post("/api/v1/udfs", json={"language": "python", "source": source, "name": "py_bad"})
    err = error_of(r, 400)
    assert err["type"] == "python_syntax_exception"
    assert err["line"] == 2 and err["column"] >= 1
    assert "line 2" in err["reason"]


def test_neither_filter_nor_score_is_rejected(py_server):
    r = api(py_server).post("/api/v1/udfs", json={
        "language": "python", "name": "py_none", "source": "def helper(doc):\n    return True\n",
    })
    err = error_of(r, 400)
    assert "filter" in err["reason"] and "score" in err["reason"]


def test_unsupported_annotation_is_rejected(py_server):
    r = api(py_server).post("/api/v1/udfs", json={
        "language": "python", "name": "py_list",
        "source": "def filter(doc, ids: list) -> bool:\n    return True\n",
    })
    err = error_of(r, 400)
    assert "ids" in err["reason"] and "list" in err["reason"]


def test_exception_at_import_time_is_a_compile_error(py_server):
    source = "import json\nLIMIT = json.loads('{bad')\n\ndef filter(doc, params):\n    return True\n"
    r = api(py_server).post("/api/v1/udfs", json={"language": "python", "source": source, "name": "py_import"})
    err = error_of(r, 400)
    assert err["type"] == "python_compile_exception"
    assert "JSONDecodeError" in err["reason"] and "line 2" in err["reason"]
    assert 'File "<udf>", line 2' in err["python_traceback"]


def test_runtime_exception_names_udf_and_exception(py_server, guard):
    r = run_test(py_server, "py_guard", {"mode": "raise"}, id="d1")
    err = error_of(r, 422)
    assert err["udf"] == "py_guard"
    assert "py_guard" in err["reason"]
    assert "ValueError: bad document d1" in err["reason"]


def test_infinite_loop_hits_the_time_limit(py_server, guard):
    r = run_test(py_server, "py_guard", {"mode": "spin"})
    err = error_of(r, 422)
    assert err["udf"] == "py_guard"
    assert err["kind"] == "timeout", err
    # The server and the UDF keep working.
    ok = run_test(py_server, "py_guard", {"price": 20})
    assert ok.status_code == 200 and ok.json()["result"]["filter"] is True


def test_memory_bomb_hits_the_memory_limit(py_server, guard):
    r = run_test(py_server, "py_guard", {"mode": "hog"})
    err = error_of(r, 422)
    assert err["udf"] == "py_guard"
    # CPython turns the refused memory.grow into MemoryError; a trap in the allocator is
    # reported as the memory limit.
    assert "MemoryError" in err["reason"] or err["kind"] == "memory_limit", err
    ok = run_test(py_server, "py_guard", {"price": 20})
    assert ok.status_code == 200, ok.text


def test_missing_compiler_is_a_503_naming_it(server_factory, monkeypatch, tmp_path):
    monkeypatch.setenv("QUIDDITCH_COMPONENTIZE_PY", "/nonexistent/componentize-py")
    # A runtime directory of its own: the session's runtime would make the tool unnecessary.
    monkeypatch.setenv("QUIDDITCH_PYTHON_RUNTIME_DIR", str(tmp_path / "runtime"))
    server = server_factory()
    r = api(server).post("/api/v1/udfs", json={
        "language": "python", "name": "py_tool", "source": "def filter(doc, params):\n    return True\n",
        "python_engine": "cpython",
    })
    err = error_of(r, 503)
    assert "componentize-py" in err["reason"] and "scripts/setup.sh" in err["reason"]
    assert "udf.python.componentize_py" in err["reason"]
    # Syntax errors are still reported without the tool.
    r = api(server).post("/api/v1/udfs", json={"language": "python", "name": "py_tool", "source": "def filter(:\n"})
    assert error_of(r, 400)["type"] == "python_syntax_exception"


# ---------------------------------------------------------------- inside search

DOCS = [
    {"title": "red apple", "price": 5},
    {"title": "red car", "price": 15000},
    {"title": "red pen", "price": 12},
    {"title": "blue pen", "price": 10},
    {"title": "red hat", "price": 9.5},
    {"title": "red box"},
]


@pytest.fixture(scope="module")
def search_index(py_server, guard):
    http = api(py_server)
    r = http.post("/api/v1/udfs", json={
        "name": "wat_guard", "version": "1.0.0", "language": "wat", "wat_source": GUARD_WAT,
        "parameters": [{"name": "min_price", "type": "f64", "default": 10},
                       {"name": "boost", "type": "f64", "default": 2}],
    })
    assert r.status_code == 201, r.text
    client = py_server.client()
    client.indices.create(index="py-products", body={"mappings": {"properties": {
        "title": {"type": "text"}, "price": {"type": "double"}}}})
    for i, d in enumerate(DOCS):
        client.index(index="py-products", id=str(i), body=d)
    client.indices.refresh(index="py-products")
    return client


def search_or_skip(client, body, clause):
    from opensearchpy.exceptions import RequestError

    try:
        return client.search(index="py-products", body=body)
    except RequestError as e:
        info = e.info if isinstance(e.info, dict) else {}
        err = info.get("error", {}) if isinstance(info.get("error"), dict) else {}
        reason = str(err.get("reason", e.error))
        raise


@pytest.mark.parametrize("min_price", [10, 12.5])
def test_python_filter_in_search_equals_wat_and_range(search_index, min_price):
    def ids(name):
        body = {"size": 100, "query": {"bool": {
            "must": {"match": {"title": "red"}},
            "filter": {"wasm_udf": {"name": name, "params": {"min_price": min_price}}}}}}
        res = search_or_skip(search_index, body, "wasm_udf")
        return sorted(h["_id"] for h in res["hits"]["hits"]), res["hits"]["total"]["value"]

    native = search_index.search(index="py-products", body={"size": 100, "query": {"bool": {
        "must": {"match": {"title": "red"}}, "filter": {"range": {"price": {"gte": min_price}}}}}})
    expected = sorted(h["_id"] for h in native["hits"]["hits"])
    assert ids("py_guard") == ids("wat_guard") == (expected, len(expected))


def test_python_scorer_in_search_equals_wat(search_index):
    def scores(name):
        body = {"size": 100, "query": {"script_score": {
            "query": {"match": {"title": "red"}},
            "script": {"lang": "wasm", "source": name, "params": {"boost": 3}}}}}
        res = search_or_skip(search_index, body, "script_score")
        return [(h["_id"], h["_score"]) for h in res["hits"]["hits"]]

    py, wat = scores("py_guard"), scores("wat_guard")
    assert [i for i, _ in py] == [i for i, _ in wat]
    assert [s for _, s in py] == pytest.approx([s for _, s in wat], rel=1e-6)
    plain = search_index.search(index="py-products", body={"size": 100, "query": {"match": {"title": "red"}}})
    base = {h["_id"]: h["_score"] for h in plain["hits"]["hits"]}
    price = {str(i): d.get("price", 0) for i, d in enumerate(DOCS)}
    assert dict(py) == pytest.approx({i: s * 3 + price[i] for i, s in base.items()}, rel=1e-5)


def test_python_exception_in_search_fails_naming_udf_or_excludes(py_server, guard):
    client = py_server.client()
    client.indices.create(index="py-failing", body={"mappings": {"properties": {
        "price": {"type": "double"}, "mode": {"type": "keyword"}}}})
    docs = [{"price": 20}, {"price": 30, "mode": "raise"}, {"price": 40}, {"price": 1}]
    for i, d in enumerate(docs):
        client.index(index="py-failing", id=f"f{i}", body=d)
    client.indices.refresh(index="py-failing")
    clause = {"name": "py_guard", "params": {"min_price": 10}}
    r = api(py_server).post("/py-failing/_search", json={"query": {"wasm_udf": clause}})
    assert r.status_code == 500, r.text
    err = r.json()["error"]
    assert err["udf"] == "py_guard", err
    assert "ValueError: bad document f1" in err["reason"], err
    # on_error: exclude drops the failing document only.
    r = api(py_server).post("/py-failing/_search", json={"size": 10, "query": {"wasm_udf": {**clause, "on_error": "exclude"}}})
    assert r.status_code == 200, r.text
    body = r.json()
    assert sorted(h["_id"] for h in body["hits"]["hits"]) == ["f0", "f2"]
    assert body["udf_failures"]["total"] == 1, body["udf_failures"]
    assert "ValueError" in body["udf_failures"]["udfs"][0]["last_error"]


# ---------------------------------------------------------------- the example README

def test_python_filter_example_readme(server_factory):
    server = server_factory()
    script = sh_blocks((EXAMPLE / "README.md").read_text()).replace("http://localhost:9200", server.url)
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, capture_output=True,
                          text=True, timeout=900)
    assert proc.returncode == 0, f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    uploaded = json.loads(lines[0])
    assert uploaded["name"] == "fuzzy_match" and uploaded["version"] == "1.0.0"
    assert [p["name"] for p in uploaded["parameters"]] == ["query", "threshold", "field"]
    assert uploaded["compilation"]["compile_ms"] > 0
    assert json.loads(lines[1])["result"] == {"filter": True}
    response = json.loads(proc.stdout[proc.stdout.rindex('{"took"'):]) if '{"took"' in proc.stdout \
        else json.loads(lines[-1])
    err = response.get("error")
    if isinstance(err, dict):
        raise AssertionError(response)
    titles = sorted(h["_source"]["title"] for h in response["hits"]["hits"])
    sports = ["Quidditch", "Quiditch", "Quadball", "Cricket", "Kwidditch"]
    assert titles == sorted(s for s in sports if levenshtein(s.lower(), "quidditch") <= 2)


def test_python_udfs_doc_examples(server_factory, tmp_path):
    """docs/python-udfs.md's blocks, as pasted, in an empty directory."""
    server = server_factory()
    script = sh_blocks((REPO / "docs" / "python-udfs.md").read_text())
    env = {**os.environ, "QUIDDITCH": server.url}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=tmp_path, env=env,
                          capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
    lines = [l for l in proc.stdout.splitlines() if l.strip()]
    uploaded = json.loads(lines[0])
    assert uploaded["name"] == "py_cheap" and uploaded["version"] == "1.0.0"
    assert sorted(uploaded["exports"]) == ["filter", "filter_batch", "score", "score_batch"]
    assert uploaded["parameters"] == [
        {"name": "max_price", "type": "f64", "required": False, "default": 20.0, "description": ""}]
    assert uploaded["compile_ms"] > 0
    assert json.loads(lines[1])["result"] == {"filter": True, "score": 2.0 * (1 + 2.5 / 15)}
    assert json.loads(lines[2]) == ["1", "3"]
    assert json.loads(lines[3]) == ["1", "3", "2"]


# ---------------------------------------------------------------- restart (keep last)

def test_restart_loads_the_compiled_udf_without_recompiling(py_server, guard):
    py_server.restart()
    http = api(py_server)
    runtime = http.get("/api/v1/udfs/_runtime").json()
    assert runtime["compilations"] == 0, runtime
    assert runtime["python_runtime"]["builds"] == 0, runtime
    assert "loaded Python UDF (source on the shared Python runtime, nothing to compile)" in py_server.log()
    got = http.get("/api/v1/udfs/py_guard").json()
    assert got["sha256"] == guard["sha256"]
    r = run_test(py_server, "py_guard", {"price": 12}, {"min_price": 11}, score=1.0)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"filter": True, "score": 14.0}
    # The first instance loaded the precompiled runtime: still nothing compiled or built.
    runtime = http.get("/api/v1/udfs/_runtime").json()
    assert runtime["compilations"] == 0 and runtime["python_runtime"]["compilations"] == 0, runtime
    assert runtime["python_runtime"]["builds"] == 0 and runtime["python_runtime"]["precompiled_loads"] == 1, runtime
