"""UDFs inside search: `wasm_udf` filters, `script_score`, `function_score` with a
`script_score` function, stored scripts — end to end against the real server.

Every UDF result is checked against the same predicate written as a native query (range,
term) on the same data, or against scores computed here: totals, pages, search_after, _count
and aggregations must agree exactly. The UDFs are WAT fixtures in tests/fixtures/wat/search/,
compiled by the server's `wat_source` upload.
"""
import base64
import concurrent.futures
import json
import os
import re
import subprocess

import pytest
import requests
from opensearchpy.exceptions import NotFoundError, RequestError, TransportError

from conftest import REPO
from udf_helpers import TRIVIAL_WASM

WAT = REPO / "tests" / "fixtures" / "wat" / "search"
INDEX = "udf_search_products"
N_DOCS = 300
CATEGORIES = ["a", "b", "c", "d"]

F64 = "f64"
PARAMS = {
    "price_between": [{"name": "min", "type": F64, "required": True}, {"name": "max", "type": F64, "required": True}],
    "price_between_batched": [{"name": "min", "type": F64, "required": True}, {"name": "max", "type": F64, "required": True}],
    "min_qty": [{"name": "min", "type": "i64", "required": True}],
    "category_is": [{"name": "value", "type": "string", "required": True}],
    "score_price": [{"name": "factor", "type": F64, "default": 1.0}],
    "trap_on_qty": [{"name": "bad", "type": "i64", "required": True}],
    "spin": [],
    "score_only": [],
}


def doc(i):
    d = {"sku": f"p{i:03d}", "price": round((i * 37 % 1000) / 10.0, 1), "qty": i % 17,
         "category": CATEGORIES[i % 4], "title": f"product number {i}"}
    if i % 25 == 0:
        del d["price"]  # some documents have no price at all
    return d


@pytest.fixture(scope="module")
def api(server):
    s = requests.Session()

    class Api:
        url = server.url

        def __getattr__(self, method):
            fn = getattr(s, method)
            return lambda path, **kw: fn(server.url + path, timeout=kw.pop("timeout", 120), **kw)

    return Api()


@pytest.fixture(scope="module")
def data(client, api):
    if client.indices.exists(index=INDEX):
        client.indices.delete(index=INDEX)
    client.indices.create(index=INDEX, body={"mappings": {"properties": {
        "sku": {"type": "keyword"}, "price": {"type": "double"}, "qty": {"type": "long"},
        "category": {"type": "keyword"},
        "title": {"type": "text"}}}})
    ops = []
    for i in range(N_DOCS):
        ops.append({"index": {"_index": INDEX, "_id": f"p{i:03d}"}})
        ops.append(doc(i))
        if i % 100 == 99:  # several bulk requests with refreshes: several segments
            r = client.bulk(body=ops, refresh=True)
            assert not r["errors"]
            ops = []
    if ops:
        assert not client.bulk(body=ops, refresh=True)["errors"]
    for name, params in PARAMS.items():
        body = {"name": name, "version": "1.0.0", "language": "wat", "parameters": params,
                "wat_source": (WAT / f"{name}.wat").read_text()}
        if name == "spin":
            body["limits"] = {"call_timeout_ms": 5000}
        r = api.post("/api/v1/udfs", json=body)
        assert r.status_code in (201, 409), r.text
    # A second version of min_qty whose threshold is exclusive, to check version selection.
    r = api.post("/api/v1/udfs", json={
        "name": "min_qty", "version": "0.9.0", "language": "wat", "parameters": PARAMS["min_qty"],
        "wat_source": (WAT / "min_qty.wat").read_text().replace("i64.ge_s", "i64.gt_s")})
    assert r.status_code in (201, 409), r.text
    return {f"p{i:03d}": doc(i) for i in range(N_DOCS)}


def udf(name, **params):
    return {"wasm_udf": {"name": name, "parameters": params}}


def price_range(lo, hi):
    return {"range": {"price": {"gte": lo, "lte": hi}}}


def ids(resp):
    return [h["_id"] for h in resp["hits"]["hits"]]


def search(client, body, **kw):
    return client.search(index=INDEX, body=body, **kw)


def same_everything(client, udf_query, native_query, sort=None):
    """Totals, _count, all hits (sorted) and aggregations agree between the two queries."""
    sort = sort or [{"price": {"order": "asc", "missing": "_last"}}, {"qty": "asc"}, {"sku": "asc"}]
    aggs = {"cats": {"terms": {"field": "category"}, "aggs": {"avg_price": {"avg": {"field": "price"}}}},
            "max_qty": {"max": {"field": "qty"}}}
    a = search(client, {"query": udf_query, "size": N_DOCS, "sort": sort, "aggs": aggs})
    b = search(client, {"query": native_query, "size": N_DOCS, "sort": sort, "aggs": aggs})
    assert a["hits"]["total"] == b["hits"]["total"]
    assert ids(a) == ids(b)
    assert a["aggregations"] == b["aggregations"]
    assert client.count(index=INDEX, body={"query": udf_query})["count"] == b["hits"]["total"]["value"]
    return a


def expected_ids(data, pred):
    return {k for k, v in data.items() if pred(v)}


# ------------------------------------------------------------------------------- filters

def test_top_level_filter_agrees_with_native_range(client, data):
    r = same_everything(client, udf("price_between", min=20, max=50), price_range(20, 50))
    want = expected_ids(data, lambda d: "price" in d and 20 <= d["price"] <= 50)
    assert set(ids(r)) == want and len(want) > 30


def test_batched_udf_agrees_with_per_document_udf(client, data):
    same_everything(client, udf("price_between_batched", min=10.5, max=77), price_range(10.5, 77))


def test_paging_and_search_after(client, data):
    q_udf, q_nat = udf("price_between_batched", min=5, max=60), price_range(5, 60)
    sort = [{"qty": "desc"}, {"sku": "asc"}]
    for frm in (0, 7, 20, 45):
        a = search(client, {"query": q_udf, "sort": sort, "from": frm, "size": 9})
        b = search(client, {"query": q_nat, "sort": sort, "from": frm, "size": 9})
        assert ids(a) == ids(b) and a["hits"]["total"] == b["hits"]["total"]
    pages = {}
    for name, q in (("udf", q_udf), ("native", q_nat)):
        seen, after = [], None
        while True:
            body = {"query": q, "sort": sort, "size": 11}
            if after:
                body["search_after"] = after
            hits = search(client, body)["hits"]["hits"]
            if not hits:
                break
            seen += [h["_id"] for h in hits]
            after = hits[-1]["sort"]
        pages[name] = seen
    assert pages["udf"] == pages["native"] and len(pages["udf"]) > 50


def test_must_not(client, data):
    same_everything(client, {"bool": {"must_not": [udf("price_between", min=20, max=50)]}},
                    {"bool": {"must_not": [price_range(20, 50)]}})


def test_should_with_minimum_should_match(client, data):
    for msm in (1, 2):
        same_everything(
            client,
            {"bool": {"should": [udf("price_between", min=20, max=50), {"term": {"category": "a"}},
                                 udf("min_qty", min=10)], "minimum_should_match": msm}},
            {"bool": {"should": [price_range(20, 50), {"term": {"category": "a"}}, {"range": {"qty": {"gte": 10}}}],
                      "minimum_should_match": msm}})


def test_should_alongside_required_clauses(client, data):
    # The batched UDF here is advanced and seeked inside tantivy's boolean scorer.
    for name in ("price_between", "price_between_batched"):
        same_everything(
            client,
            {"bool": {"filter": [{"term": {"category": "b"}}],
                      "should": [udf(name, min=0, max=30), udf("min_qty", min=12), {"term": {"qty": 3}}],
                      "minimum_should_match": 1}},
            {"bool": {"filter": [{"term": {"category": "b"}}],
                      "should": [price_range(0, 30), {"range": {"qty": {"gte": 12}}}, {"term": {"qty": 3}}],
                      "minimum_should_match": 1}})
        same_everything(
            client,
            {"bool": {"should": [udf(name, min=0, max=30), {"term": {"category": "a"}}], "minimum_should_match": 2}},
            {"bool": {"filter": [price_range(0, 30), {"term": {"category": "a"}}]}})


def test_nested_bool_and_two_udfs(client, data):
    r = same_everything(
        client,
        {"bool": {"filter": [
            {"bool": {"must": [udf("min_qty", min=5), udf("price_between_batched", min=10, max=90)],
                      "must_not": [{"bool": {"should": [udf("category_is", value="b")]}}]}},
            {"range": {"qty": {"lte": 14}}}]}},
        {"bool": {"filter": [
            {"bool": {"must": [{"range": {"qty": {"gte": 5}}}, price_range(10, 90)],
                      "must_not": [{"term": {"category": "b"}}]}},
            {"range": {"qty": {"lte": 14}}}]}})
    assert all(data[i]["category"] != "b" and 5 <= data[i]["qty"] <= 14 for i in ids(r))


def test_keyword_udf_and_udf_in_constant_score_and_function_score(client, data):
    same_everything(client, {"constant_score": {"filter": udf("category_is", value="c")}}, {"term": {"category": "c"}})
    same_everything(client, {"function_score": {"query": udf("min_qty", min=16)}}, {"range": {"qty": {"gte": 16}}})


def test_version_selection(client, data):
    # Highest semver (1.0.0, inclusive) by default; 0.9.0 (exclusive) when asked for.
    same_everything(client, udf("min_qty", min=8), {"range": {"qty": {"gte": 8}}})
    same_everything(client, {"wasm_udf": {"name": "min_qty", "version": "0.9.0", "params": {"min": 8}}},
                    {"range": {"qty": {"gt": 8}}})
    same_everything(client, {"wasm_udf": {"name": "min_qty@0.9.0", "params": {"min": 8}}}, {"range": {"qty": {"gt": 8}}})


def test_udf_sees_only_candidates_of_cheap_clauses(client, api, data):
    before = api.get("/api/v1/udfs/category_is/stats").json()
    r = search(client, {"query": {"bool": {"filter": [{"term": {"qty": 3}}, udf("category_is", value="d")]}},
                        "size": 100})
    after = api.get("/api/v1/udfs/category_is/stats").json()
    want = expected_ids(data, lambda d: d["qty"] == 3 and d["category"] == "d")
    assert set(ids(r)) == want
    # Only the qty == 3 documents reach the UDF, not all N_DOCS.
    calls = lambda stats: stats["versions"]["1.0.0"]["calls"]
    assert calls(after) - calls(before) == len(expected_ids(data, lambda d: d["qty"] == 3))


# ------------------------------------------------------------------------------- scoring

def script(name, **params):
    return {"lang": "wasm", "source": name, "params": params}


def expected_price_score(d, base, factor):
    return base + d["price"] * factor if "price" in d else base


def test_script_score_orders_by_udf_score(client, data):
    r = search(client, {"query": {"script_score": {"query": {"match_all": {}},
                                                    "script": script("score_price", factor=2.0)}}, "size": 20})
    want = sorted(data, key=lambda k: (-expected_price_score(data[k], 1.0, 2.0), k))[:20]
    got = [(h["_id"], h["_score"]) for h in r["hits"]["hits"]]
    assert [g[1] for g in got] == pytest.approx([expected_price_score(data[k], 1.0, 2.0) for k in want], rel=1e-5)
    assert {g[0] for g in got} <= set(data)
    assert r["hits"]["total"]["value"] == N_DOCS


def test_script_score_min_score_and_inner_query(client, data):
    # get_score sees the inner query's own score (BM25 of a term query here).
    inner = {"term": {"category": "a"}}
    native = {h["_id"]: h["_score"] for h in search(client, {"query": inner, "size": N_DOCS})["hits"]["hits"]}
    r = search(client, {"query": {"script_score": {
        "query": inner, "script": script("score_price", factor=1.0), "min_score": 60}}, "size": N_DOCS})
    want = {k for k, base in native.items() if expected_price_score(data[k], base, 1.0) >= 60 + 1e-4}
    maybe = {k for k, base in native.items() if abs(expected_price_score(data[k], base, 1.0) - 60) < 1e-4}
    assert want <= set(ids(r)) <= want | maybe and len(want) > 5
    assert r["hits"]["total"]["value"] == len(ids(r))
    for h in r["hits"]["hits"]:
        assert h["_score"] == pytest.approx(expected_price_score(data[h["_id"]], native[h["_id"]], 1.0), rel=1e-5)


def test_function_score_script_score_function(client, data):
    body = {"query": {"function_score": {
        "query": {"range": {"qty": {"gte": 10}}},
        "functions": [{"script_score": {"script": script("score_price", factor=0.5)}},
                      {"filter": {"term": {"category": "a"}}, "weight": 3}],
        "score_mode": "sum", "boost_mode": "replace"}}, "size": N_DOCS}
    r = search(client, body)
    want = {}
    for k, d in data.items():
        if d["qty"] >= 10:
            # get_score sees the query score (1.0 for a range query).
            s = expected_price_score(d, 1.0, 0.5) + (3 if d["category"] == "a" else 0)
            want[k] = s
    assert r["hits"]["total"]["value"] == len(want)
    scores = [h["_score"] for h in r["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True)
    for h in r["hits"]["hits"]:
        assert h["_score"] == pytest.approx(want[h["_id"]], rel=1e-5)
    body["query"]["function_score"]["boost_mode"] = "multiply"
    body["query"]["function_score"]["functions"] = [{"script_score": {"script": script("score_price", factor=1.0)}}]
    r = search(client, body)
    for h in r["hits"]["hits"]:
        assert h["_score"] == pytest.approx(expected_price_score(data[h["_id"]], 1.0, 1.0), rel=1e-5)


# ------------------------------------------------------------------------------- stored scripts

def test_stored_script_round_trip(client, data):
    source = (WAT / "score_price.wat").read_text()
    assert client.put_script(id="stored_price", body={"script": {"lang": "wasm", "source": source,
                                                                 "params": {"factor": 1.0}}})["acknowledged"]
    got = client.get_script(id="stored_price")
    assert got["_id"] == "stored_price" and got["found"] is True
    assert got["script"]["lang"] == "wasm" and got["script"]["source"] == source
    q = {"script_score": {"query": {"match_all": {}}, "script": {"id": "stored_price", "params": {"factor": 3.0}}}}
    r = search(client, {"query": q, "size": 5})
    top = sorted(data, key=lambda k: -expected_price_score(data[k], 1.0, 3.0))[:5]
    assert [h["_score"] for h in r["hits"]["hits"]] == pytest.approx(
        [expected_price_score(data[k], 1.0, 3.0) for k in top], rel=1e-5)
    assert client.delete_script(id="stored_price")["acknowledged"]
    with pytest.raises(NotFoundError):
        client.get_script(id="stored_price")
    with pytest.raises(RequestError) as e:
        search(client, {"query": q})
    assert "stored_price" in str(e.value.info)


def test_stored_script_from_base64_binary_and_replace(client, data):
    # A hand-assembled core module whose `filter` keeps everything.
    src = base64.b64encode(TRIVIAL_WASM).decode()
    assert client.put_script(id="stored_all", body={"script": {"lang": "wasm", "source": src}})["acknowledged"]
    assert client.get_script(id="stored_all")["script"]["source"] == src
    first = client.get_script(id="stored_all")["script"]["options"]["version"]
    same_everything(client, {"bool": {"filter": [{"wasm_udf": {"name": "stored_all"}}, {"term": {"qty": 4}}]}},
                    {"term": {"qty": 4}})
    # Storing again replaces it: a new version, which queries without a version now use.
    src2 = (WAT / "min_qty.wat").read_text()
    client.put_script(id="stored_all", body={"script": {"lang": "wasm", "source": src2, "params": {"min": 15}}})
    again = client.get_script(id="stored_all")["script"]
    assert again["source"] == src2 and again["options"]["version"] != first
    same_everything(client, {"wasm_udf": {"name": "stored_all"}}, {"range": {"qty": {"gte": 15}}})
    same_everything(client, {"wasm_udf": {"name": "stored_all", "params": {"min": 3}}}, {"range": {"qty": {"gte": 3}}})
    assert client.delete_script(id="stored_all")["acknowledged"]


def test_stored_script_errors(api):
    r = api.put("/_scripts/bad_lang", json={"script": {"lang": "painless", "source": "doc['x'].value"}})
    assert r.status_code == 400 and "painless" in r.json()["error"]["reason"]
    r = api.put("/_scripts/bad_b64", json={"script": {"lang": "wasm", "source": "!!not base64!!"}})
    assert r.status_code == 400 and "base64" in r.json()["error"]["reason"]
    r = api.put("/_scripts/bad_wasm", json={"script": {"lang": "wasm", "source": base64.b64encode(b"nope").decode()}})
    assert r.status_code == 400, r.text
    assert api.delete("/_scripts/never_stored").status_code == 404
    assert api.get("/_scripts/never_stored").json() == {"_id": "never_stored", "found": False}


# ------------------------------------------------------------------------------- errors

def assert_search_error(client, query, status, fragments, **kw):
    with pytest.raises(TransportError) as e:
        search(client, {"query": query}, **kw)
    assert e.value.status_code == status, e.value.info
    reason = e.value.info["error"]["reason"]
    for f in fragments:
        assert f in reason, (f, reason)
    return e.value.info


def test_lowering_errors_are_400_naming_the_clause(client, data):
    assert_search_error(client, udf("no_such_udf"), 400, ["[wasm_udf]", "no_such_udf"])
    assert_search_error(client, {"wasm_udf": {"name": "min_qty", "version": "7.0.0", "params": {"min": 1}}},
                        400, ["[wasm_udf]", "min_qty", "7.0.0"])
    info = assert_search_error(client, udf("price_between", min="cheap", max=3), 400, ["[wasm_udf]", "min"])
    assert info["error"]["type"] == "udf_parameter_exception"
    assert_search_error(client, udf("price_between", min=1), 400, ["missing required parameter [max]"])
    assert_search_error(client, udf("price_between", min=1, max=2, colour=3), 400, ["colour"])
    assert_search_error(client, {"bool": {"must_not": [udf("score_only")]}}, 400, ["score_only", "filter"])
    assert_search_error(client, {"script_score": {"query": {"match_all": {}}, "script": script("min_qty", min=1)}},
                        400, ["[script_score]", "score"])
    assert_search_error(client, {"script_score": {"query": {"match_all": {}},
                                                  "script": {"source": "score_price"}}}, 400, ["painless"])
    assert_search_error(client, {"wasm_udf": {"name": "min_qty", "on_error": "ignore"}}, 400, ["on_error"])


def test_trap_fails_the_search_naming_udf_version_and_document(client, data):
    info = assert_search_error(client, udf("trap_on_qty", bad=7), 500,
                               ["trap_on_qty", "1.0.0", "document [p", "unreachable"])
    assert info["error"]["type"] == "udf_trap_exception"
    doc_id = re.search(r"document \[(p\d+)\]", info["error"]["reason"]).group(1)
    assert data[doc_id]["qty"] == 7
    assert info["error"]["udf"] == "trap_on_qty" and info["error"]["version"] == "1.0.0"
    assert info["error"]["document_id"] == doc_id


def test_on_error_exclude_drops_and_counts(client, data):
    q = {"wasm_udf": {"name": "trap_on_qty", "params": {"bad": 7}, "on_error": "exclude"}}
    r = search(client, {"query": q, "size": N_DOCS})
    bad = expected_ids(data, lambda d: d["qty"] == 7)
    assert set(ids(r)) == set(data) - bad
    assert r["hits"]["total"]["value"] == N_DOCS - len(bad)
    f = r["udf_failures"]
    assert f["total"] == len(bad)
    assert f["udfs"][0]["udf"] == "trap_on_qty" and f["udfs"][0]["version"] == "1.0.0"
    assert "unreachable" in f["udfs"][0]["last_error"]


def test_call_timeout_fails_the_search(client, api, data):
    # spin has call_timeout_ms = 5000; a second copy with the default (100 ms) times out per call.
    r = api.post("/api/v1/udfs", json={"name": "spin_fast", "version": "1.0.0", "language": "wat",
                                       "wat_source": (WAT / "spin.wat").read_text()})
    assert r.status_code in (201, 409)
    info = assert_search_error(client, udf("spin_fast"), 500, ["spin_fast", "timeout"])
    assert info["error"]["type"] == "udf_timeout_exception"


def test_exclude_does_not_renew_the_query_time_budget(client, api, data):
    # Every call times out (50 ms) and is excluded, but the UDF's query_timeout_ms (400 ms)
    # bounds the whole clause: the search fails, naming that limit, instead of running 300 x 50 ms.
    r = api.post("/api/v1/udfs", json={"name": "spin_budget", "version": "1.0.0", "language": "wat",
                                       "limits": {"call_timeout_ms": 50, "query_timeout_ms": 400},
                                       "wat_source": (WAT / "spin.wat").read_text()})
    assert r.status_code in (201, 409), r.text
    info = assert_search_error(client, {"wasm_udf": {"name": "spin_budget", "on_error": "exclude"}}, 500,
                               ["spin_budget", "timeout", "query_timeout_ms"])
    assert info["error"]["type"] == "udf_timeout_exception"


def test_search_timeout_interrupts_udf_with_partial_results(client, data):
    # spin loops far longer than the 300 ms search timeout (its call limit is 5 s): a response
    # at all, with timed_out and no hits, means the search deadline interrupted it.
    r = search(client, {"query": udf("spin"), "timeout": "300ms"})
    assert r["timed_out"] is True
    assert r["hits"]["hits"] == []


def test_search_timeout_returns_partial_results(client, api, data):
    # Keeps documents instantly, but loops forever on those whose qty equals `bad`: the search
    # timeout is certain to expire there, whatever the machine's speed, and the documents kept
    # before it are returned as partial results.
    wat = (WAT / "trap_on_qty.wat").read_text().replace("(unreachable)", "(loop $forever (br $forever))")
    assert "$forever" in wat
    r = api.post("/api/v1/udfs", json={
        "name": "hang_on_qty", "version": "1.0.0", "language": "wat",
        "parameters": [{"name": "bad", "type": "i64", "required": True}],
        "limits": {"call_timeout_ms": 5000}, "wat_source": wat})
    assert r.status_code in (201, 409), r.text
    res = search(client, {"query": {"wasm_udf": {"name": "hang_on_qty", "params": {"bad": 16}}},
                          "timeout": "300ms", "size": N_DOCS})
    assert res["timed_out"] is True
    hung = expected_ids(data, lambda d: d["qty"] == 16)
    assert hung
    kept = set(ids(res))
    assert len(kept) == res["hits"]["total"]["value"]
    assert kept <= set(data) - hung


def test_hostile_udf_does_not_disturb_concurrent_queries(client, data):
    native = search(client, {"query": price_range(20, 50), "size": N_DOCS, "sort": [{"sku": "asc"}]})

    def hostile():
        try:
            return search(client, {"query": udf("spin_fast")})
        except TransportError as e:
            return e.status_code

    def good(i):
        r = search(client, {"query": udf("price_between_batched", min=20, max=50), "size": N_DOCS,
                            "sort": [{"sku": "asc"}]})
        return ids(r) == ids(native)

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        bad = [pool.submit(hostile) for _ in range(3)]
        goods = [pool.submit(good, i) for i in range(20)]
        assert all(g.result() for g in goods)
        assert all(b.result() == 500 for b in bad)
    assert client.cluster.health()["status"] in ("green", "yellow")


# ------------------------------------------------------------------------------- docs

def test_docs_examples_run(server_factory):
    """Runs every ```sh block of docs/udf-search.md, in order, against a fresh server, and checks
    each answer against the four documents the first block indexes."""
    server = server_factory()
    text = (REPO / "docs" / "udf-search.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    assert len(blocks) == 8
    env = {**os.environ, "QUIDDITCH": server.url}
    outputs = []
    for block in blocks:
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=120)
        assert p.returncode == 0, (block, p.stdout, p.stderr)
        outputs.append(json_values(p.stdout))
    docs = {"1": (12.5, 3, "books"), "2": (25.0, 10, "books"), "3": (18.0, 7, "games"), "4": (99.0, 1, "books")}
    created, bulk = outputs[0]
    assert created["acknowledged"] is True and bulk["errors"] is False and len(bulk["items"]) == 4
    (uploaded,) = outputs[1]
    assert uploaded["name"] == "price_between" and uploaded["version"] == "1.0.0"
    (filtered,) = outputs[2]
    kept = sorted(i for i, (price, _, cat) in docs.items() if cat == "books" and 10 <= price <= 30)
    assert sorted(ids(filtered)) == kept and filtered["timed_out"] is False
    assert filtered["aggregations"]["avg_price"]["value"] == pytest.approx(sum(docs[i][0] for i in kept) / len(kept))
    # script_score adds price * 0.1 to the term query's score; min_score 2 drops the rest.
    client = server.client()
    base = {h["_id"]: h["_score"] for h in client.search(
        index="products", body={"query": {"term": {"category": "books"}}})["hits"]["hits"]}
    uploaded_score, scored = outputs[3]
    assert uploaded_score["name"] == "score_price"
    want = {i: base[i] + docs[i][0] * 0.1 for i in base if base[i] + docs[i][0] * 0.1 >= 2}
    assert {h["_id"]: h["_score"] for h in scored["hits"]["hits"]} == pytest.approx(want)
    # function_score, sum of (score + price * 0.5) and 10 for games, replacing the range score.
    (fs,) = outputs[4]
    range_score = {h["_id"]: h["_score"] for h in client.search(
        index="products", body={"query": {"range": {"qty": {"gte": 2}}}})["hits"]["hits"]}
    want = {i: range_score[i] + docs[i][0] * 0.5 + (10 if docs[i][2] == "games" else 0) for i in range_score}
    assert {h["_id"]: h["_score"] for h in fs["hits"]["hits"]} == pytest.approx(want)
    assert ids(fs) == sorted(want, key=want.get, reverse=True)
    put_script, got_script, doubled, deleted = outputs[5]
    assert put_script == {"acknowledged": True} and deleted == {"acknowledged": True}
    assert got_script["_id"] == "double_score" and got_script["found"] is True
    assert sorted(ids(doubled)) == sorted(docs)
    assert all(h["_score"] == pytest.approx(2.0) for h in doubled["hits"]["hits"])
    # The same scorer as inline WAT: match_all scores 1, doubled; any params are accepted.
    (inline,) = outputs[6]
    assert sorted(ids(inline)) == sorted(docs)
    assert all(h["_score"] == pytest.approx(2.0) for h in inline["hits"]["hits"])
    (excluded,) = outputs[7]
    assert sorted(ids(excluded)) == sorted(i for i, (price, _, _) in docs.items() if price <= 50)


def json_values(text):
    """The JSON values printed one after another by a block of curl calls."""
    decoder, values, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return values
        value, i = decoder.raw_decode(text, i)
        values.append(value)


def test_relevance_scores_pass_through_udf_filters(client, data):
    # A UDF filter never changes scores: same hits, same order, same _score as the native filter.
    def top(q):
        return [(h["_id"], h["_score"]) for h in search(client, {"query": q, "size": 50})["hits"]["hits"]]
    must = [{"match": {"title": "product 12 number 7"}}]
    a = top({"bool": {"must": must, "filter": [udf("price_between_batched", min=0, max=60)]}})
    b = top({"bool": {"must": must, "filter": [price_range(0, 60)]}})
    assert [x[0] for x in a] == [x[0] for x in b]
    assert [x[1] for x in a] == pytest.approx([x[1] for x in b])


PY_STORED = '''\
def filter(doc, params, min_qty: int = 0) -> bool:
    return doc.get("qty", -1) >= min_qty


def score(doc, factor: float = 1.0) -> float:
    return doc.score + doc.get("price", 0) * factor
'''


def test_stored_python_script(client, data):
    """`"lang": "python"` stored scripts compile like Python uploads (componentize-py)."""
    client.put_script(id="py_stored", body={"script": {"lang": "python", "source": PY_STORED}})
    got = client.get_script(id="py_stored")
    assert got["found"] and got["script"]["lang"] == "python" and got["script"]["source"] == PY_STORED
    same_everything(client, {"wasm_udf": {"name": "py_stored", "params": {"min_qty": 11}}},
                    {"range": {"qty": {"gte": 11}}})
    r = search(client, {"query": {"script_score": {"query": {"constant_score": {"filter": {"term": {"qty": 2}}}},
                                                   "script": {"id": "py_stored", "params": {"factor": 2.0}}}},
                        "size": N_DOCS})
    want = expected_ids(data, lambda d: d["qty"] == 2)
    assert set(ids(r)) == want
    for h in r["hits"]["hits"]:
        assert h["_score"] == pytest.approx(expected_price_score(data[h["_id"]], 1.0, 2.0), rel=1e-5)
    assert client.delete_script(id="py_stored")["acknowledged"]


def test_udf_seeked_inside_an_intersection(client, data):
    # A nested bool holding only a UDF lowers to a UDF scorer over all documents; the outer
    # bool's intersection leads with the cheaper term query and seeks the UDF scorer.
    for name in ("price_between", "price_between_batched"):
        for qty in (0, 3, 16):
            same_everything(
                client,
                {"bool": {"filter": [{"term": {"qty": qty}}, {"bool": {"must": [udf(name, min=10, max=70)]}}]}},
                {"bool": {"filter": [{"term": {"qty": qty}}, price_range(10, 70)]}})


def test_field_access_fast_fields_and_source_fallback(client, api):
    """Keyword fields come from fast-field columns; text fields, array elements, objects and
    nested paths from `_source` — the UDF sees the same values either way."""
    index = "udf_search_fields"
    if client.indices.exists(index=index):
        client.indices.delete(index=index)
    client.indices.create(index=index, body={"mappings": {"properties": {
        "title": {"type": "text"}, "category": {"type": "keyword"}}}})
    docs = {
        "f1": {"title": "red apple", "category": "fruit", "tags": ["a", "x"], "meta": {"origin": "fr"}},
        "f2": {"title": "red apple pie", "category": "cake", "tags": ["b", "x"], "meta": {"origin": "it"}},
        "f3": {"title": "green apple", "category": "fruit", "tags": ["x"], "meta": {"origin": "fr", "n": 1}},
        "f4": {"title": "red apple", "category": "fruit"},
    }
    for k, d in docs.items():
        client.index(index=index, id=k, body=d)
    client.indices.refresh(index=index)
    r = api.post("/api/v1/udfs", json={
        "name": "field_equals", "version": "1.0.0", "language": "wat",
        "parameters": [{"name": "field", "type": "string", "required": True},
                       {"name": "value", "type": "string", "required": True}],
        "wat_source": (WAT / "field_equals.wat").read_text()})
    assert r.status_code in (201, 409), r.text

    def hits(field, value):
        body = {"query": {"wasm_udf": {"name": "field_equals", "params": {"field": field, "value": value}}},
                "size": 10}
        return sorted(ids(client.search(index=index, body=body)))

    assert hits("title", "red apple") == ["f1", "f4"]          # text field: _source
    assert hits("category", "fruit") == ["f1", "f3", "f4"]     # keyword: fast field
    assert hits("tags[1]", "x") == ["f1", "f2"]                # array element: _source
    assert hits("meta.origin", "fr") == ["f1", "f3"]           # nested path
    assert hits("tags", '["a","x"]') == ["f1"]                 # an array as JSON text
    assert hits("meta", '{"origin":"fr","n":1}') == ["f3"]     # an object as JSON text
    assert hits("no.such.field", "") == []


def test_deleted_and_updated_documents(client, data):
    """Deleted documents never reach the UDF; updated ones are seen in their new version."""
    index = "udf_search_updates"
    if client.indices.exists(index=index):
        client.indices.delete(index=index)
    client.indices.create(index=index, body={"mappings": {"properties": {"price": {"type": "double"},
                                                                         "qty": {"type": "long"}}}})
    ops = []
    for i in range(120):
        ops += [{"index": {"_index": index, "_id": str(i)}}, {"price": float(i), "qty": i % 5}]
    assert not client.bulk(body=ops, refresh=True)["errors"]
    for i in range(0, 120, 3):
        client.delete(index=index, id=str(i))
    for i in range(1, 120, 7):
        client.index(index=index, id=str(i), body={"price": 1000.0 + i, "qty": 9})
    client.indices.refresh(index=index)
    for name in ("price_between", "price_between_batched"):
        for lo, hi in ((0, 60), (50, 2000), (1000, 1100)):
            q_udf = {"wasm_udf": {"name": name, "params": {"min": lo, "max": hi}}}
            a = client.search(index=index, body={"query": q_udf, "size": 200})
            b = client.search(index=index, body={"query": price_range(lo, hi), "size": 200})
            assert sorted(ids(a)) == sorted(ids(b)) and a["hits"]["total"] == b["hits"]["total"]
            assert client.count(index=index, body={"query": q_udf})["count"] == b["hits"]["total"]["value"]
