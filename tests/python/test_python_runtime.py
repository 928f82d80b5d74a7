"""The shared Python runtime (issue 15): every Python UDF runs on one runtime component, built
at most once; a UDF is its source, loaded into a fresh instance per evaluation context; syntax
errors are CPython's; the toolchain is found through the config key or the project's .venv.
"""
import ast
import difflib
import json
import math
import os
import re
import statistics
import subprocess
import threading
import time
import unicodedata
from datetime import date, timedelta

import pytest
import requests

from conftest import REPO, quidditch_bin

TOOL = REPO / ".venv" / "bin" / "componentize-py"


@pytest.fixture(scope="module")
def py(server_factory):
    return server_factory()


def upload(server, source, **fields):
    # This file tests the shared CPython runtime: the native engine would take the simple ones.
    fields.setdefault("python_engine", "cpython")
    return requests.post(server.url + "/api/v1/udfs", json={"language": "python", "source": source, **fields},
                         timeout=600)


def test_call(server, name, document, parameters=None, **extra):
    r = requests.post(server.url + f"/api/v1/udfs/{name}/test",
                      json={"document": document, "parameters": parameters or {}, **extra}, timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["result"]


test_call.__test__ = False  # a helper, not a test


def runtime(server):
    return requests.get(server.url + "/api/v1/udfs/_runtime", timeout=30).json()["python_runtime"]


def test_ten_udfs_share_one_runtime_each_with_its_own_logic(py):
    for i in range(10):
        source = (
            f'"""Keeps documents whose n is a multiple of {i + 2}; scores n * {i}."""\n'
            f"STEP = {i + 2}\n\n"
            "def filter(doc, params) -> bool:\n"
            "    return doc.get('n', 1) % STEP == 0\n\n"
            "def score(doc, params) -> float:\n"
            f"    return float(doc.get('n', 0) * {i})\n"
        )
        r = upload(py, source, name=f"py_share_{i}")
        assert r.status_code == 201, r.text
        assert r.json()["size_bytes"] == len(source.encode()) <= 100_000
    for i in range(10):
        for n in (6, 7, 12, 35):
            got = test_call(py, f"py_share_{i}", {"n": n}, score=1.0)
            assert got == {"filter": n % (i + 2) == 0, "score": float(n * i)}, (i, n, got)
    stats = runtime(py)
    # At most once in this process (zero when the session's runtime directory already had it).
    assert stats["builds"] <= 1 and stats["compilations"] <= 1, stats
    assert stats["loaded"] is True, stats


def test_module_globals_are_fresh_in_every_query(py):
    source = (
        "CALLS = []\n\n"
        "def score(doc, params) -> float:\n"
        "    CALLS.append(doc.get('n'))\n"
        "    return float(len(CALLS))\n"
    )
    assert upload(py, source, name="py_global").status_code == 201
    for _ in range(3):
        assert test_call(py, "py_global", {"n": 1}, score=1.0) == {"score": 1.0}
    # Inside searches: the documents of one query share its instances, and the next query
    # starts from fresh modules again, so it sees exactly the same counts.
    client = py.client()
    client.indices.create(index="globals", body={"mappings": {"properties": {"n": {"type": "long"}}}})
    for i in range(4):
        client.index(index="globals", id=str(i), body={"n": i})
    client.indices.refresh(index="globals")
    body = {"size": 10, "query": {"script_score": {
        "query": {"match_all": {}}, "script": {"lang": "wasm", "source": "py_global"}}}}
    runs = [sorted(h["_score"] for h in client.search(index="globals", body=body)["hits"]["hits"]) for _ in range(3)]
    assert len(runs[0]) == 4 and all(1.0 <= s <= 4.0 for s in runs[0]), runs
    assert runs[0] == runs[1] == runs[2], runs


def test_standard_library_imports_at_top_level(py):
    source = (
        "import re, math, json, difflib, statistics, datetime, unicodedata\n"
        "WORD = re.compile(r'[a-z]+')\n"
        "BASE = datetime.date(2020, 1, 1)\n\n"
        "def score(doc, params) -> float:\n"
        "    text = doc['text']\n"
        "    words = WORD.findall(text)\n"
        "    ratio = difflib.SequenceMatcher(None, text, 'hello world').ratio()\n"
        "    mean = statistics.mean(len(w) for w in words)\n"
        "    days = (BASE + datetime.timedelta(days=doc['days'])).toordinal() - BASE.toordinal()\n"
        "    name = unicodedata.name(doc['char'])\n"
        "    return math.sqrt(len(words)) + ratio + mean + days + len(json.dumps(words)) + len(name)\n"
    )
    r = upload(py, source, name="py_stdlib_top")
    assert r.status_code == 201, r.text
    doc = {"text": "hello wonderful world", "days": 40, "char": "é"}
    words = re.findall(r"[a-z]+", doc["text"])
    expected = (math.sqrt(len(words)) + difflib.SequenceMatcher(None, doc["text"], "hello world").ratio()
                + statistics.mean(len(w) for w in words)
                + ((date(2020, 1, 1) + timedelta(days=40)) - date(2020, 1, 1)).days
                + len(json.dumps(words)) + len(unicodedata.name("é")))
    got = test_call(py, "py_stdlib_top", doc, score=1.0)["score"]
    assert got == pytest.approx(expected, rel=1e-12)


BROKEN = [
    "def filter(doc, params):\n    return (doc[\n",
    "def filter(doc, params)\n    return True\n",
    "def filter(doc, params):\nreturn True\n",
    "def filter(doc, params):\n    return doc['a'] >\n",
    "def filter(doc, params):\n    x = 'unterminated\n    return True\n",
    "def filter(doc, params):\n    return [1, 2 3]\n",
    "def filter(doc, params):\n    if True:\n        return 1\n      return 2\n",
]


@pytest.mark.parametrize("source", BROKEN)
def test_syntax_errors_are_what_cpython_reports(py, source):
    try:
        ast.parse(source)
    except SyntaxError as e:
        expected = {"line": e.lineno, "column": e.offset, "message": e.msg}
    else:
        pytest.fail("the source was meant to be broken")
    r = upload(py, source, name="py_broken")
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["type"] == "python_syntax_exception"
    got = {"line": err["line"], "column": err["column"], "message": err["reason"].split(": ", 1)[1]}
    assert got == expected


# ---------------------------------------------------------------- finding the toolchain

def start_plain(tmp_path, config=None):
    """The binary started directly: no scripts, no venv on PATH, no tool in the environment,
    a working directory outside the checkout."""
    args = [quidditch_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "data")]
    if config is not None:
        cfg = tmp_path / "config.json"
        cfg.write_text(json.dumps(config))
        args += ["--config", str(cfg)]
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=tmp_path, env=env)
    lines, found = [], threading.Event()
    url = {}

    def pump():
        for line in proc.stderr:
            line = re.sub(r"\x1b\[[0-9;]*m", "", line)  # tracing's colours
            lines.append(line)
            m = re.search(r"quidditch listening on (http://[0-9.:]+)", line)
            if m:
                url["url"] = m.group(1)
                found.set()

    threading.Thread(target=pump, daemon=True).start()
    deadline = time.time() + 60
    while not found.wait(0.1):
        if proc.poll() is not None or time.time() > deadline:
            proc.kill()
            raise RuntimeError("server did not start:\n" + "".join(lines))

    class Plain:
        pass

    s = Plain()
    s.url, s.proc, s.lines = url["url"], proc, lines
    return s


@pytest.fixture()
def plain_servers():
    started = []
    yield started
    for s in started:
        s.proc.kill()
        s.proc.wait()


def test_the_config_key_provides_componentize_py(tmp_path, plain_servers):
    # A path of its own (a link outside the checkout), so only the key can point at it.
    tool = tmp_path / "tools" / "componentize-py"
    tool.parent.mkdir()
    tool.symlink_to(TOOL)
    server = start_plain(tmp_path, {"udf": {"python": {"componentize_py": str(tool)}}})
    plain_servers.append(server)
    assert any("Python UDF toolchain" in l and "configured" in l and str(tool) in l for l in server.lines), server.lines
    source = "def filter(doc, params) -> bool:\n    return doc.get('n', 0) > 1\n"
    r = upload(server, source, name="py_key")
    assert r.status_code == 201, r.text
    assert test_call(server, "py_key", {"n": 2}) == {"filter": True}
    assert runtime(server)["builds"] == 1


def test_missing_tool_named_by_the_key_is_a_503_naming_the_key(tmp_path, plain_servers):
    server = start_plain(tmp_path, {"udf": {"python": {"componentize_py": str(tmp_path / "nope")}}})
    plain_servers.append(server)
    r = upload(server, "def filter(doc, params):\n    return True\n", name="py_nokey")
    assert r.status_code == 503, r.text
    err = r.json()["error"]
    assert err["type"] == "python_compiler_unavailable_exception"
    assert "udf.python.componentize_py" in err["reason"] and str(tmp_path / "nope") in err["reason"]


def test_the_projects_venv_is_found_without_path_or_config(tmp_path, plain_servers):
    server = start_plain(tmp_path)
    plain_servers.append(server)
    line = next(l for l in server.lines if "Python UDF toolchain" in l)
    assert "venv" in line and ".venv/bin/componentize-py" in line, line


# ------------------------------------------------- field plans (dict `doc`) vs BlockDocument

# The same scorer and filter with constant field names (the adapter's field plan: fields
# fetched at block start, `doc` a plain dict or the function specialised to the values) and
# with computed names (no plan: a `BlockDocument` fetching on first read).
PLANNED_UDF = '''\
def filter(doc, params, min_total: float = 0.0) -> bool:
    return doc["price"] * doc.get("qty", 1) >= min_total and "tag" in doc


def score(doc, params) -> float:
    return doc["price"] * doc.get("qty", 1) + (2.0 if doc["flag"] else 0.5) + ("tag" in doc)
'''
COMPUTED_UDF = '''\
PRICE, QTY, FLAG, TAG = "pri" + "ce", "q" + "ty", "fl" + "ag", "t" + "ag"


def filter(doc, params, min_total: float = 0.0) -> bool:
    return doc[PRICE] * doc.get(QTY, 1) >= min_total and TAG in doc


def score(doc, params) -> float:
    return doc[PRICE] * doc.get(QTY, 1) + (2.0 if doc[FLAG] else 0.5) + (TAG in doc)
'''


def planned_doc(i):
    d = {"price": i * 1.25, "flag": i % 3 == 0, "qty": i % 5 + 1}
    if i % 4 == 0:
        d["tag"] = "t"
    return d


@pytest.fixture(scope="module")
def planned_index(py):
    for name, source in (("py_planned", PLANNED_UDF), ("py_computed", COMPUTED_UDF)):
        r = upload(py, source, name=name)
        assert r.status_code == 201, r.text
    client = py.client()
    client.indices.create(index="planned", body={"mappings": {"properties": {
        "price": {"type": "double"}, "qty": {"type": "long"}, "flag": {"type": "boolean"},
        "tag": {"type": "keyword"}}}})
    docs = {}
    # Segment one: every document has every field (the plan's paths); segment two: some
    # lack `tag` or `qty` (every UDF falls back to BlockDocument there).
    for i in range(0, 200, 4):
        docs[str(i)] = {**planned_doc(i), "tag": "t"}
    for i, d in docs.items():
        client.index(index="planned", id=i, body=d)
    client.indices.refresh(index="planned")
    second = {}
    for i in range(1, 200, 2):
        d = planned_doc(i)
        if i % 7 == 0:
            del d["qty"]
        second[str(i)] = d
    for i, d in second.items():
        client.index(index="planned", id=i, body=d)
    client.indices.refresh(index="planned")
    docs.update(second)
    return client, docs


def test_field_plan_and_block_document_give_the_same_scores(planned_index):
    client, docs = planned_index
    expected = {i: d["price"] * d.get("qty", 1) + (2.0 if d["flag"] else 0.5) + ("tag" in d)
                for i, d in docs.items()}
    for name in ("py_planned", "py_computed"):
        res = client.search(index="planned", body={"size": 1000, "query": {"script_score": {
            "query": {"match_all": {}}, "script": {"lang": "wasm", "source": name}}}})
        got = {h["_id"]: h["_score"] for h in res["hits"]["hits"]}
        # _score is a float32.
        assert got == pytest.approx(expected, rel=1e-6), name


@pytest.mark.parametrize("min_total", [0.0, 40.0, 150.0])
def test_field_plan_and_block_document_keep_the_same_documents(planned_index, min_total):
    client, docs = planned_index
    expected = sorted(i for i, d in docs.items() if d["price"] * d.get("qty", 1) >= min_total and "tag" in d)
    assert expected  # the filter keeps something, and (min_total > 0) drops something
    for name in ("py_planned", "py_computed"):
        res = client.search(index="planned", body={"size": 1000, "query": {
            "wasm_udf": {"name": name, "params": {"min_total": min_total}}}})
        assert sorted(h["_id"] for h in res["hits"]["hits"]) == expected, name


def test_a_field_not_read_needs_no_read_document_permission(py):
    # The planned field `price` is read only when `look` is set: without [read_document] the
    # UDF works until it really reads a document.
    source = ("def filter(doc, params, look: bool = False) -> bool:\n"
              "    if look:\n"
              "        return doc['price'] > 1\n"
              "    return True\n")
    r = upload(py, source, name="py_no_read", permissions=["write_log"])
    assert r.status_code == 201, r.text
    client = py.client()
    client.indices.create(index="no-read", body={"mappings": {"properties": {"price": {"type": "long"}}}})
    for i in range(5):
        client.index(index="no-read", id=str(i), body={"price": i})
    client.indices.refresh(index="no-read")
    res = client.search(index="no-read", body={"size": 10, "query": {"wasm_udf": {"name": "py_no_read"}}})
    assert sorted(h["_id"] for h in res["hits"]["hits"]) == ["0", "1", "2", "3", "4"]
    r = requests.post(py.url + "/no-read/_search", json={"query": {"wasm_udf": {
        "name": "py_no_read", "params": {"look": True}}}}, timeout=60)
    assert r.status_code == 500, r.text
    assert "read_document" in r.json()["error"]["reason"], r.text
