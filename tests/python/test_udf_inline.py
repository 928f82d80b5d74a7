"""Inline scripts (issue 16), end to end against the real server: a `script` object's `source`
may be the code itself — base64 WebAssembly or WAT text (`lang: wasm`, or `wat`), Python UDF
source (`lang: python`) — in `script_score`, `function_score` and `POST /_scripts/wasm/_execute`.
It goes through the upload path (same checks and limits) once per distinct code: a repeated
inline script is served from the cache (the `/_runtime` counters show it), it is never listed,
it takes any `params` (nothing declared), and it is refused (403) where uploads would need a
signature or the API key.

Expected scores are computed here from the documents: `score_price` is `_score + price *
factor` and a `range` query scores 1."""
import base64
import subprocess
import uuid

import pytest
import requests

from conftest import REPO, quidditch_bin
from udf_helpers import assert_error, index_price_qty_docs, price_qty_doc

WAT = REPO / "tests" / "fixtures" / "wat" / "search"
INDEX = "udf_inline"
N_DOCS = 800
LO, HI = 20.0, 60.0

PY_SCORE = (
    "def score(doc, params) -> float:\n"
    "    price = doc.get('price')\n"
    "    if price is None:\n"
    "        return doc.score\n"
    "    return doc.score + price * params['factor']\n"
)
PY_FILTER = "def filter(doc, params) -> bool:\n    return doc.get('price', 0) >= params['min']\n"


doc = price_qty_doc


@pytest.fixture(scope="module")
def data(client):
    return index_price_qty_docs(client, INDEX, N_DOCS, 400)  # two segments


def build(name, tmp_path_factory):
    out = tmp_path_factory.mktemp("wasm") / f"{name}.wasm"
    p = subprocess.run([quidditch_bin(), "udf", "--json", "build", str(WAT / f"{name}.wat"), "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return out.read_bytes()


@pytest.fixture(scope="module")
def score_price_b64(tmp_path_factory):
    return base64.b64encode(build("score_price", tmp_path_factory)).decode()


def script_score(script, factor):
    return {"script_score": {"query": {"range": {"price": {"gte": LO, "lte": HI}}},
                             "script": {**script, "params": {"factor": factor}}}}


def scores(client, query):
    r = client.search(index=INDEX, body={"query": query, "size": N_DOCS, "track_total_hits": True})
    assert r["hits"]["total"]["value"] == len(r["hits"]["hits"])
    return {h["_id"]: h["_score"] for h in r["hits"]["hits"]}


def expected_scores(data, factor):
    return {k: 1.0 + v["price"] * factor for k, v in data.items() if "price" in v and LO <= v["price"] <= HI}


def assert_scores(got, want):
    assert set(got) == set(want)
    for k, v in want.items():
        assert got[k] == pytest.approx(v, rel=1e-6), k


def runtime(http):
    return http.get("/api/v1/udfs/_runtime").json()


@pytest.mark.parametrize("kind", ["wat_as_wasm", "wat", "base64", "python"])
def test_inline_source_scores_like_the_same_udf_stored(client, http, data, score_price_b64, kind):
    wat = (WAT / "score_price.wat").read_text()
    script = {"wat_as_wasm": {"lang": "wasm", "source": wat}, "wat": {"lang": "wat", "source": wat},
              "base64": {"lang": "wasm", "source": score_price_b64},
              "python": {"lang": "python", "source": PY_SCORE}}[kind]
    for factor in (0.5, 3.0):
        assert_scores(scores(client, script_score(script, factor)), expected_scores(data, factor))
    # The function_score form: the function's score multiplies the query's (1).
    fs = {"function_score": {"query": {"range": {"price": {"gte": LO, "lte": HI}}},
                             "functions": [{"script_score": {"script": {**script, "params": {"factor": 2.0}}}}]}}
    assert_scores(scores(client, fs), expected_scores(data, 2.0))
    # Never listed, never stored.
    assert not [u for u in http.get("/api/v1/udfs").json()["udfs"] if u["name"].startswith("inline-")]


def test_a_repeated_inline_script_is_compiled_once(client, http, data):
    # Unique code (a comment) so this test sees its own first compilation.
    wat = f";; {uuid.uuid4()}\n" + (WAT / "score_price.wat").read_text()
    before = runtime(http)
    for _ in range(3):
        assert_scores(scores(client, script_score({"lang": "wasm", "source": wat}, 1.5)), expected_scores(data, 1.5))
    after = runtime(http)
    assert after["inline_scripts"]["compilations"] == before["inline_scripts"]["compilations"] + 1
    # Two segments per search: every lowering after the first is a cache hit.
    assert after["inline_scripts"]["hits"] >= before["inline_scripts"]["hits"] + 2
    assert after["compilations"] <= before["compilations"] + 1, "wasmtime compiled the module once at most"
    # The audit log records the one compilation under the inline name.
    entries = http.get("/api/v1/udfs/_audit?operation=compile_inline").json()["entries"]
    assert sum(1 for e in entries if e["outcome"] == "success") >= 1


def test_execute_runs_inline_source(http):
    wat = (WAT / "price_between.wat").read_text()
    for price, expected in [(15.0, True), (25.0, False)]:
        for script in ({"lang": "wasm", "source": wat}, {"source": wat}):  # lang defaults to wasm
            r = http.post("/_scripts/wasm/_execute", json={
                "script": {**script, "params": {"min": 10, "max": 20}},
                "context": "filter", "context_setup": {"document": {"price": price}}})
            assert r.status_code == 200, r.text
            assert r.json() == {"result": expected}
        r = http.post("/_scripts/wasm/_execute", json={
            "script": {"lang": "python", "source": PY_FILTER, "params": {"min": 20}},
            "context": "filter", "context_setup": {"document": {"price": price}}})
        assert r.status_code == 200, r.text
        assert r.json() == {"result": price >= 20}
    r = http.post("/_scripts/wasm/_execute", json={
        "script": {"lang": "wasm", "source": (WAT / "score_price.wat").read_text(), "params": {"factor": 2.0}},
        "context": "score", "context_setup": {"document": {"price": 30.0}, "score": 1.5}})
    assert r.status_code == 200, r.text
    assert r.json()["result"] == pytest.approx(1.5 + 30.0 * 2.0)


def test_bad_inline_source_is_a_400_naming_the_problem(client, http, data):
    def search(script):
        return http.post(f"/{INDEX}/_search", json={"query": script_score(script, 1.0)})
    assert_error(search({"lang": "wasm", "source": "(module (func"}), 400, "udf_invalid_binary_exception", "invalid WAT")
    assert_error(search({"lang": "wasm", "source": "AGFzbQ!!"}), 400, "illegal_argument_exception", "base64")
    assert_error(search({"lang": "painless", "source": "doc['price'].value"}), 400, "illegal_argument_exception", "painless")
    r = search({"lang": "wasm", "source": (WAT / "price_between.wat").read_text()})
    assert_error(r, 400, "illegal_argument_exception", "does not export `score`")
    r = search({"lang": "python", "source": "def score(doc, params) -> float:\n    return (\n"})
    assert r.status_code == 400, r.text
    r = http.post("/_scripts/wasm/_execute", json={"script": {"lang": "wat", "source": "(module"}})
    assert_error(r, 400, "udf_invalid_binary_exception", "invalid WAT")


def test_inline_source_is_refused_where_uploads_need_a_signature(server_factory):
    srv = server_factory(config={"udf": {"require_signed": True}})
    client = srv.client()
    client.indices.create(index="signed", body={"mappings": {"properties": {"price": {"type": "double"}}}})
    client.index(index="signed", id="1", body={"price": 30.0}, refresh=True)
    before = requests.get(srv.url + "/api/v1/udfs/_runtime").json()
    wat = (WAT / "score_price.wat").read_text()
    r = requests.post(srv.url + "/signed/_search", json={"query": script_score({"lang": "wasm", "source": wat}, 1.0)})
    assert_error(r, 403, "udf_signature_exception", "requires signed")
    r = requests.post(srv.url + "/signed/_search", json={"query": script_score({"lang": "python", "source": PY_SCORE}, 1.0)})
    assert_error(r, 403, "udf_signature_exception", "cannot be signed")
    r = requests.post(srv.url + "/_scripts/wasm/_execute", json={"script": {"lang": "wat", "source": wat}, "context": "score"})
    assert_error(r, 403, "udf_signature_exception")
    after = requests.get(srv.url + "/api/v1/udfs/_runtime").json()
    assert after["compilations"] == before["compilations"]
    assert after["python_compilations"] == before["python_compilations"]
    assert after["inline_scripts"]["cached"] == 0


def test_inline_source_in_searches_is_refused_when_uploads_need_the_api_key(server_factory):
    srv = server_factory(config={"api_key": "inline-test-key"})
    requests.put(srv.url + "/keyed", json={"mappings": {"properties": {"price": {"type": "double"}}}}).raise_for_status()
    requests.put(srv.url + "/keyed/_doc/1?refresh=true", json={"price": 30.0}).raise_for_status()
    wat = (WAT / "score_price.wat").read_text()
    r = requests.post(srv.url + "/keyed/_search", json={"query": script_score({"lang": "wasm", "source": wat}, 1.0)})
    assert_error(r, 403, "security_exception", "API key", "[id]")
    # `_execute` authenticates, so it runs inline code with the key (and only with it).
    body = {"script": {"lang": "wasm", "source": wat, "params": {"factor": 2.0}}, "context": "score",
            "context_setup": {"document": {"price": 30.0}}}
    assert requests.post(srv.url + "/_scripts/wasm/_execute", json=body).status_code == 401
    r = requests.post(srv.url + "/_scripts/wasm/_execute", json=body, headers={"Authorization": "ApiKey inline-test-key"})
    assert r.status_code == 200, r.text
    assert r.json()["result"] == pytest.approx(1.0 + 60.0)
