"""Search API with the official client: every query type, sorting, paging, search_after,
_source filtering, track_total_hits, _count, _msearch, multi-index search and errors.
Expected results are computed in Python from the same deterministic documents."""
import datetime as dt
import threading

import pytest
from opensearchpy import NotFoundError, RequestError

from search_data import DOCS, INDEX, N_DOCS, created_of, load


@pytest.fixture(scope="module")
def products(client):
    load(client)
    return client


def search(client, body=None, index=INDEX, **params):
    return client.search(index=index, body=body or {}, **params)


def total(resp):
    return resp["hits"]["total"]["value"]


def ids(resp):
    return [h["_id"] for h in resp["hits"]["hits"]]


def matching(pred):
    return {i for i, d in DOCS.items() if pred(d)}


def all_ids(client, query, **extra):
    resp = search(client, {"query": query, "size": N_DOCS, **extra})
    assert total(resp) == len(resp["hits"]["hits"])
    return set(ids(resp))


def words(text):
    return text.lower().split()


# ---------------------------------------------------------------- response shape


def test_response_shape(products):
    resp = search(products, {"query": {"match_all": {}}})
    assert resp["timed_out"] is False
    assert isinstance(resp["took"], int)
    assert resp["_shards"] == {"total": 1, "successful": 1, "skipped": 0, "failed": 0}
    assert resp["hits"]["total"] == {"value": N_DOCS, "relation": "eq"}
    assert resp["hits"]["max_score"] == 1.0
    hit = resp["hits"]["hits"][0]
    assert set(hit) == {"_index", "_id", "_score", "_source"}
    assert hit["_index"] == INDEX
    assert hit["_source"] == DOCS[hit["_id"]]
    assert len(resp["hits"]["hits"]) == 10


# ---------------------------------------------------------------- query types


def test_match_any_and_all_terms(products):
    assert all_ids(products, {"match": {"title": "fox"}}) == matching(lambda d: "fox" in words(d["title"]))
    got = all_ids(products, {"match": {"title": "fox guitar"}})
    assert got == matching(lambda d: {"fox", "guitar"} & set(words(d["title"])))
    got = all_ids(products, {"match": {"title": {"query": "quick fox", "operator": "and"}}})
    assert got == matching(lambda d: {"quick", "fox"} <= set(words(d["title"])))
    got = all_ids(products, {"match": {"description": {"query": "quick fox hammer", "minimum_should_match": 2}}})
    assert got == matching(lambda d: len({"quick", "fox", "hammer"} & set(words(d["description"]))) >= 2)
    # Analyzed: case does not matter.
    assert all_ids(products, {"match": {"title": "FOX"}}) == all_ids(products, {"match": {"title": "fox"}})


def test_match_scores_rank_better_matches_first(products):
    resp = search(products, {"query": {"match": {"title": {"query": "quick fox"}}}, "size": 5})
    top = resp["hits"]["hits"][0]
    assert {"quick", "fox"} <= set(words(DOCS[top["_id"]]["title"]))
    scores = [h["_score"] for h in resp["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert resp["hits"]["max_score"] == scores[0]


def test_match_phrase(products):
    got = all_ids(products, {"match_phrase": {"title": "quick fox"}})
    assert got == matching(lambda d: "quick fox" in d["title"])
    got = all_ids(products, {"match_phrase": {"description": {"query": "sits the", "slop": 2}}})
    assert got == set(DOCS)  # "sits near the": within slop 2 for every document


def test_multi_match(products):
    got = all_ids(products, {"multi_match": {"query": "hammer", "fields": ["title", "description"]}})
    assert got == matching(lambda d: "hammer" in words(d["title"]) or "hammer" in words(d["description"]))
    resp = search(products, {"query": {"multi_match": {"query": "lamp", "fields": ["title^5", "description"]}}, "size": 1})
    assert "lamp" in words(DOCS[resp["hits"]["hits"][0]["_id"]]["title"])
    got = all_ids(products, {"multi_match": {"query": "books", "fields": ["category", "title"]}})
    assert got == matching(lambda d: d["category"] == "books")


def test_term_and_terms(products):
    assert all_ids(products, {"term": {"category": "games"}}) == matching(lambda d: d["category"] == "games")
    assert all_ids(products, {"term": {"stock": 7}}) == matching(lambda d: d["stock"] == 7)
    assert all_ids(products, {"term": {"stock": "7"}}) == matching(lambda d: d["stock"] == 7)
    assert all_ids(products, {"term": {"in_stock": False}}) == matching(lambda d: not d["in_stock"])
    assert all_ids(products, {"term": {"rating": 2.5}}) == matching(lambda d: d["rating"] == 2.5)
    assert all_ids(products, {"term": {"user.name": "user3"}}) == matching(lambda d: d["user"]["name"] == "user3")
    assert all_ids(products, {"term": {"tags": "u2"}}) == matching(lambda d: "u2" in d["tags"])
    assert all_ids(products, {"term": {"title.keyword": DOCS["5"]["title"]}}) == {"5"}
    got = all_ids(products, {"terms": {"category": ["games", "music"]}})
    assert got == matching(lambda d: d["category"] in ("games", "music"))
    got = all_ids(products, {"terms": {"stock": [1, 2, 3]}})
    assert got == matching(lambda d: d["stock"] in (1, 2, 3))
    # Unmapped field: nothing matches, no error.
    assert total(search(products, {"query": {"term": {"no_such_field": "x"}}})) == 0


def test_range_numbers(products):
    got = all_ids(products, {"range": {"price": {"gte": 10, "lt": 20.5}}})
    assert got == matching(lambda d: 10 <= d["price"] < 20.5)
    got = all_ids(products, {"range": {"stock": {"gt": 45}}})
    assert got == matching(lambda d: d["stock"] > 45)
    got = all_ids(products, {"range": {"stock": {"lte": 2}}})
    assert got == matching(lambda d: d["stock"] <= 2)
    got = all_ids(products, {"range": {"category": {"gte": "garden", "lt": "music"}}})
    assert got == matching(lambda d: "garden" <= d["category"] < "music")


def test_range_dates(products):
    lo = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    hi = dt.datetime(2024, 3, 15, tzinfo=dt.timezone.utc)
    expect = {str(i) for i in range(N_DOCS) if lo <= created_of(i) < hi}
    assert all_ids(products, {"range": {"created": {"gte": "2024-03-01", "lt": "2024-03-15"}}}) == expect
    got = all_ids(products, {"range": {"created": {"gte": int(lo.timestamp() * 1000), "lt": int(hi.timestamp() * 1000)}}})
    assert got == expect
    got = all_ids(products, {"range": {"created": {"gte": "01/03/2024", "lt": "15/03/2024", "format": "dd/MM/yyyy"}}})
    assert got == expect
    got = all_ids(products, {"range": {"created": {"gte": "2024-03-01||+1d", "lte": "2024-03-10T23:59:59Z"}}})
    assert got == {str(i) for i in range(N_DOCS) if lo + dt.timedelta(days=1) <= created_of(i) <= dt.datetime(2024, 3, 10, 23, 59, 59, tzinfo=dt.timezone.utc)}


def test_bool_nested(products):
    query = {"bool": {
        "must": [{"match": {"title": "fox"}}],
        "filter": [{"range": {"price": {"gte": 20}}}],
        "must_not": [{"term": {"category": "books"}}],
        "should": [{"term": {"in_stock": True}}],
    }}
    got = all_ids(products, query)
    assert got == matching(lambda d: "fox" in words(d["title"]) and d["price"] >= 20 and d["category"] != "books")
    nested = {"bool": {"should": [
        {"bool": {"filter": [{"term": {"category": "tools"}}, {"term": {"stock": 3}}]}},
        {"bool": {"must": {"term": {"category": "music"}}, "must_not": {"range": {"stock": {"gte": 1}}}}},
    ]}}
    got = all_ids(products, nested)
    assert got == matching(lambda d: (d["category"] == "tools" and d["stock"] == 3)
                           or (d["category"] == "music" and d["stock"] < 1))
    msm = {"bool": {"should": [{"term": {"category": "tools"}}, {"term": {"stock": 3}}, {"term": {"in_stock": True}}],
                    "minimum_should_match": 2}}
    got = all_ids(products, msm)
    assert got == matching(lambda d: (d["category"] == "tools") + (d["stock"] == 3) + d["in_stock"] >= 2)
    only_not = all_ids(products, {"bool": {"must_not": {"term": {"category": "books"}}}})
    assert only_not == matching(lambda d: d["category"] != "books")
    # Filters do not score.
    resp = search(products, {"query": {"bool": {"filter": {"term": {"category": "books"}}}}, "size": 1})
    assert resp["hits"]["hits"][0]["_score"] == 0.0


def test_exists_prefix_wildcard_ids(products):
    assert all_ids(products, {"exists": {"field": "discount"}}) == matching(lambda d: "discount" in d)
    assert all_ids(products, {"exists": {"field": "user"}}) == set(DOCS)
    assert all_ids(products, {"bool": {"must_not": {"exists": {"field": "discount"}}}}) == matching(lambda d: "discount" not in d)
    assert all_ids(products, {"prefix": {"category": "ga"}}) == matching(lambda d: d["category"].startswith("ga"))
    assert all_ids(products, {"prefix": {"title": "gui"}}) == matching(lambda d: "guitar" in d["title"])
    assert all_ids(products, {"wildcard": {"user.name": "user1?"}}) == matching(lambda d: len(d["user"]["name"]) == 6 and d["user"]["name"].startswith("user1"))
    assert all_ids(products, {"wildcard": {"category": {"value": "*o*s"}}}) == matching(lambda d: d["category"] in ("books", "tools"))
    assert all_ids(products, {"wildcard": {"category": {"value": "BOOKS", "case_insensitive": True}}}) == matching(lambda d: d["category"] == "books")
    assert all_ids(products, {"ids": {"values": ["1", "42", "does-not-exist"]}}) == {"1", "42"}


def test_constant_score(products):
    resp = search(products, {"query": {"constant_score": {"filter": {"term": {"category": "music"}}, "boost": 1.7}}, "size": 3})
    assert total(resp) == len(matching(lambda d: d["category"] == "music"))
    assert all(abs(h["_score"] - 1.7) < 1e-6 for h in resp["hits"]["hits"])


def test_function_score(products):
    resp = search(products, {"query": {"function_score": {
        "query": {"term": {"category": "tools"}},
        "field_value_factor": {"field": "stock", "factor": 2, "modifier": "none", "missing": 1},
        "boost_mode": "replace",
    }}, "size": 3})
    tools = sorted(matching(lambda d: d["category"] == "tools"), key=lambda i: (-DOCS[i]["stock"], int(i)))
    assert [h["_score"] for h in resp["hits"]["hits"]] == [2.0 * DOCS[i]["stock"] for i in tools[:3]]
    # Weighted filters, summed, multiplied into a constant query score of 1.
    resp = search(products, {"query": {"function_score": {
        "query": {"match_all": {}},
        "functions": [
            {"filter": {"term": {"category": "books"}}, "weight": 3},
            {"filter": {"term": {"in_stock": True}}, "weight": 2},
        ],
        "score_mode": "sum", "boost_mode": "multiply",
    }}, "size": N_DOCS})
    for h in resp["hits"]["hits"]:
        d = DOCS[h["_id"]]
        expected = (3 if d["category"] == "books" else 0) + (2 if d["in_stock"] else 0)
        assert h["_score"] == pytest.approx(expected or 1.0)
    # log1p modifier, missing value.
    resp = search(products, {"query": {"function_score": {
        "query": {"ids": {"values": ["1", "4"]}},
        "field_value_factor": {"field": "discount", "modifier": "log1p", "missing": 9},
        "boost_mode": "replace",
    }}})
    scores = {h["_id"]: h["_score"] for h in resp["hits"]["hits"]}
    assert scores["1"] == pytest.approx(1.0)  # log10(9 + 1)
    import math
    assert scores["4"] == pytest.approx(math.log10(DOCS["4"]["discount"] + 1))
    # min_score drops low scores.
    resp = search(products, {"query": {"function_score": {
        "query": {"match_all": {}}, "field_value_factor": {"field": "stock"}, "boost_mode": "replace", "min_score": 45}}})
    assert total(resp) == len(matching(lambda d: d["stock"] >= 45))


# ---------------------------------------------------------------- sorting and paging


def test_sort_by_fields(products):
    resp = search(products, {"sort": [{"price": "desc"}, {"stock": {"order": "asc"}}], "size": 20})
    expect = sorted(DOCS, key=lambda i: (-DOCS[i]["price"], DOCS[i]["stock"], int(i)))[:20]
    got = ids(resp)
    # Equal (price, stock) pairs may come in any order; compare the keys.
    assert [(DOCS[i]["price"], DOCS[i]["stock"]) for i in got] == [(DOCS[i]["price"], DOCS[i]["stock"]) for i in expect]
    hit = resp["hits"]["hits"][0]
    assert hit["sort"] == [DOCS[hit["_id"]]["price"], DOCS[hit["_id"]]["stock"]]
    assert hit["_score"] is None and resp["hits"]["max_score"] is None

    resp = search(products, {"sort": [{"category": "asc"}, {"user.age": "desc"}], "size": 5})
    expect = sorted(DOCS.values(), key=lambda d: (d["category"], -d["user"]["age"]))[:5]
    assert [h["sort"] for h in resp["hits"]["hits"]] == [[d["category"], d["user"]["age"]] for d in expect]

    resp = search(products, {"sort": [{"created": "asc"}], "size": 1})
    first = min(range(N_DOCS), key=lambda i: created_of(i))
    assert resp["hits"]["hits"][0]["sort"] == [int(created_of(first).timestamp() * 1000)]


def test_sort_missing_score_and_doc(products):
    with_discount = len(matching(lambda d: "discount" in d))
    resp = search(products, {"sort": [{"discount": {"order": "asc", "missing": "_first"}}], "size": N_DOCS})
    hits = resp["hits"]["hits"]
    assert all("discount" not in DOCS[h["_id"]] for h in hits[: N_DOCS - with_discount])
    resp = search(products, {"sort": [{"discount": "desc"}], "size": N_DOCS})
    hits = resp["hits"]["hits"]
    assert all("discount" in DOCS[h["_id"]] for h in hits[:with_discount])
    assert [DOCS[h["_id"]]["discount"] for h in hits[:with_discount]] == sorted(
        (d["discount"] for d in DOCS.values() if "discount" in d), reverse=True)
    resp = search(products, {"sort": [{"discount": {"order": "asc", "missing": 100}}], "size": 1,
                             "query": {"bool": {"must_not": {"exists": {"field": "discount"}}}}})
    assert resp["hits"]["hits"][0]["sort"] == [100]

    resp = search(products, {"query": {"match": {"title": "fox"}}, "sort": ["_score", {"stock": "desc"}], "size": 5})
    scores = [h["sort"][0] for h in resp["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert all(h["_score"] == h["sort"][0] for h in resp["hits"]["hits"])
    resp = search(products, {"sort": ["_doc"], "size": 3})
    assert [h["sort"][0] for h in resp["hits"]["hits"]] == sorted(h["sort"][0] for h in resp["hits"]["hits"])
    # URL parameter form.
    resp = products.search(index=INDEX, params={"sort": "stock:desc,price:asc", "size": 1})
    assert resp["hits"]["hits"][0]["sort"][0] == 49


def test_from_size_paging(products):
    body = {"query": {"term": {"category": "garden"}}, "sort": [{"price": "asc"}, {"_doc": "asc"}]}
    everything = ids(search(products, {**body, "size": 200}))
    assert len(everything) == len(matching(lambda d: d["category"] == "garden"))
    pages = []
    for start in range(0, len(everything), 30):
        pages += ids(search(products, {**body, "from": start, "size": 30}))
    assert pages == everything
    assert ids(search(products, {**body, "from": 500, "size": 10})) == []
    assert search(products, {"size": 0})["hits"]["hits"] == []


def test_search_after(products):
    body = {"query": {"range": {"stock": {"lt": 10}}}, "sort": [{"stock": "desc"}, {"_doc": "asc"}], "size": 17}
    everything = search(products, {**body, "size": 500})["hits"]["hits"]
    seen = []
    after = None
    while True:
        page = search(products, {**body, **({"search_after": after} if after else {})})["hits"]["hits"]
        if not page:
            break
        seen += [h["_id"] for h in page]
        after = page[-1]["sort"]
    assert seen == [h["_id"] for h in everything]
    assert len(seen) == len(matching(lambda d: d["stock"] < 10))


# ---------------------------------------------------------------- _source, totals, timeout, q


def test_source_filtering(products):
    hit = search(products, {"query": {"ids": {"values": ["8"]}}, "_source": False})["hits"]["hits"][0]
    assert "_source" not in hit
    src = search(products, {"query": {"ids": {"values": ["8"]}}, "_source": ["title", "user.name"]})["hits"]["hits"][0]["_source"]
    assert src == {"title": DOCS["8"]["title"], "user": {"name": DOCS["8"]["user"]["name"]}}
    src = search(products, {"query": {"ids": {"values": ["8"]}}, "_source": {"includes": ["u*"], "excludes": ["*.age"]}})["hits"]["hits"][0]["_source"]
    assert src == {"user": {"name": DOCS["8"]["user"]["name"]}}
    src = search(products, {"query": {"ids": {"values": ["8"]}}, "_source": {"excludes": ["description", "tags"]}})["hits"]["hits"][0]["_source"]
    assert src == {k: v for k, v in DOCS["8"].items() if k not in ("description", "tags")}
    resp = products.search(index=INDEX, body={"query": {"ids": {"values": ["8"]}}}, params={"_source_includes": "price"})
    assert resp["hits"]["hits"][0]["_source"] == {"price": DOCS["8"]["price"]}


def test_track_total_hits(products):
    resp = search(products, {"track_total_hits": 100})
    assert resp["hits"]["total"] == {"value": 100, "relation": "gte"}
    resp = search(products, {"track_total_hits": 5000})
    assert resp["hits"]["total"] == {"value": N_DOCS, "relation": "eq"}
    resp = search(products, {"track_total_hits": True})
    assert resp["hits"]["total"] == {"value": N_DOCS, "relation": "eq"}
    resp = search(products, {"track_total_hits": False})
    assert "total" not in resp["hits"]
    resp = products.search(index=INDEX, params={"rest_total_hits_as_int": "true"})
    assert resp["hits"]["total"] == N_DOCS


def test_timeout(products):
    resp = search(products, {"query": {"match": {"title": "fox"}}, "timeout": "10s"})
    assert resp["timed_out"] is False
    assert total(resp) > 0


def test_q_parameter_and_get(products, http):
    resp = products.search(index=INDEX, q="category:tools")
    assert total(resp) == len(matching(lambda d: d["category"] == "tools"))
    resp = products.search(index=INDEX, q="fox")
    assert total(resp) == len(matching(lambda d: "fox" in words(d["title"]) or "fox" in words(d["description"])))
    r = http.get(f"/{INDEX}/_search?size=2&from=1")
    assert r.status_code == 200 and len(r.json()["hits"]["hits"]) == 2


# ---------------------------------------------------------------- _count, _msearch, several indices


def test_count(products):
    assert products.count(index=INDEX)["count"] == N_DOCS
    resp = products.count(index=INDEX, body={"query": {"term": {"category": "books"}}})
    assert resp["count"] == len(matching(lambda d: d["category"] == "books"))
    assert resp["_shards"]["total"] == 1
    assert products.count(index=INDEX, q="category:music")["count"] == len(matching(lambda d: d["category"] == "music"))
    assert products.count()["count"] >= N_DOCS


def test_msearch(products):
    body = [
        {"index": INDEX}, {"query": {"term": {"category": "games"}}, "size": 1},
        {"index": "no-such-index-xyz"}, {"query": {"match_all": {}}},
        {}, {"query": {"match_all": {}}, "size": 0},
        {"index": INDEX}, {"query": {"no_such_query": {}}},
    ]
    resp = products.msearch(body=body, index=INDEX)
    r = resp["responses"]
    assert len(r) == 4
    assert r[0]["hits"]["total"]["value"] == len(matching(lambda d: d["category"] == "games"))
    assert r[0]["status"] == 200
    assert r[1]["status"] == 404
    assert r[1]["error"]["root_cause"][0]["type"] == "index_not_found_exception"
    assert r[1]["error"]["root_cause"][0]["index"] == "no-such-index-xyz"
    assert r[2]["hits"]["total"]["value"] == N_DOCS
    assert r[3]["status"] == 400 and r[3]["error"]["type"] == "parsing_exception"


def test_multiple_indices(products, client):
    for name in ("multi-a", "multi-b"):
        client.indices.create(index=name, body={"mappings": {"properties": {"n": {"type": "long"}, "tag": {"type": "keyword"}}}})
    client.bulk(body=[{"index": {"_index": "multi-a", "_id": "1"}}, {"n": 1, "tag": "x"},
                      {"index": {"_index": "multi-a", "_id": "2"}}, {"n": 4, "tag": "y"},
                      {"index": {"_index": "multi-b", "_id": "1"}}, {"n": 2, "tag": "x"},
                      {"index": {"_index": "multi-b", "_id": "3"}}, {"n": 3, "tag": "x"}], refresh=True)
    resp = client.search(index="multi-a,multi-b", body={"sort": [{"n": "asc"}]})
    assert [(h["_index"], h["_id"]) for h in resp["hits"]["hits"]] == [("multi-a", "1"), ("multi-b", "1"), ("multi-b", "3"), ("multi-a", "2")]
    assert resp["_shards"]["total"] == 2
    resp = client.search(index="multi-*", body={"query": {"term": {"tag": "x"}}, "aggs": {"s": {"sum": {"field": "n"}}}})
    assert resp["hits"]["total"]["value"] == 3
    assert resp["aggregations"]["s"]["value"] == 6
    assert client.count(index="multi-*")["count"] == 4
    assert client.search(index="nomatch-*")["hits"]["total"]["value"] == 0


def test_search_while_indexing(products, client):
    client.indices.create(index="concurrent-search")
    stop = threading.Event()
    errors = []

    def writer():
        i = 0
        while not stop.is_set() and i < 3000:
            lines = []
            for j in range(100):
                lines += [{"index": {"_index": "concurrent-search", "_id": str(i + j)}}, {"n": i + j, "t": "word"}]
            r = client.bulk(body=lines)
            if r["errors"]:
                errors.append(r)
            i += 100

    t = threading.Thread(target=writer)
    t.start()
    try:
        for _ in range(30):
            resp = client.search(index="concurrent-search,search-products", body={"query": {"match_all": {}}, "size": 1})
            assert resp["hits"]["total"]["value"] >= N_DOCS
    finally:
        stop.set()
        t.join()
    assert not errors


# ---------------------------------------------------------------- errors


def test_unknown_query_is_parsing_exception(products):
    with pytest.raises(RequestError) as e:
        search(products, {"query": {"no_such_query": {"x": 1}}})
    assert e.value.status_code == 400
    assert e.value.error == "parsing_exception"
    assert e.value.info["error"]["reason"] == "unknown query [no_such_query]"


def test_bad_values_and_requests(products, http):
    with pytest.raises(RequestError) as e:
        search(products, {"query": {"term": {"stock": "many"}}})
    assert e.value.error == "query_shard_exception"
    with pytest.raises(RequestError) as e:
        search(products, {"query": {"range": {"created": {"gte": "not a date"}}}})
    assert e.value.error == "query_shard_exception"
    with pytest.raises(RequestError) as e:
        search(products, {"sort": [{"title": "asc"}]})
    assert e.value.error == "illegal_argument_exception"
    assert "Text fields are not optimised" in e.value.info["error"]["reason"]
    with pytest.raises(RequestError) as e:
        search(products, {"from": 9995, "size": 10})
    assert "Result window is too large" in e.value.info["error"]["reason"]
    with pytest.raises(RequestError) as e:
        search(products, {"from": -1})
    assert "[from] parameter cannot be negative" in e.value.info["error"]["reason"]
    with pytest.raises(RequestError) as e:
        search(products, {"match": {"title": "fox"}})  # no `query` wrapper
    assert e.value.error == "parsing_exception"
    with pytest.raises(RequestError) as e:
        search(products, {"query": {"match": {"title": {"query": "x", "bogus": 1}}}})
    assert e.value.error == "parsing_exception"
    with pytest.raises(RequestError) as e:
        search(products, {"query": {"bool": {"must": "not a query"}}})
    assert e.value.error == "parsing_exception"
    with pytest.raises(RequestError) as e:
        search(products, {"sort": [{"stock": "sideways"}]})
    assert e.value.status_code == 400
    with pytest.raises(RequestError) as e:
        search(products, {"query": {"match_all": {}}, "search_after": [1, 2]})
    assert e.value.status_code == 400
    r = http.post(f"/{INDEX}/_search", data="{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "parse_exception"


def test_unknown_index_is_404(products):
    with pytest.raises(NotFoundError) as e:
        products.search(index="no-such-index", body={"query": {"match_all": {}}})
    assert e.value.error == "index_not_found_exception"
    assert e.value.info["error"]["index"] == "no-such-index"
    with pytest.raises(NotFoundError):
        products.count(index="no-such-index")


def test_timeout_reports_timed_out(products):
    resp = search(products, {"query": {"match_all": {}}, "timeout": "1nanos"})
    assert resp["timed_out"] is True


def test_search_doc_examples(server_factory):
    """Runs every curl example of docs/search.md, in order, against a fresh server; each must
    succeed (HTTP < 400) except the documented error example, whose error body is checked."""
    import json
    import re
    import subprocess
    from pathlib import Path

    import requests

    doc = (Path(__file__).resolve().parents[2] / "docs" / "search.md").read_text()
    section = doc.split("<!-- search:examples:begin -->")[1].split("<!-- search:examples:end -->")[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) >= 9
    srv = server_factory()
    hostport = srv.url.removeprefix("http://")
    prelude = 'curl() { command curl --fail-with-body "$@"; echo; }\nset -e\n'
    outputs = []
    for block in blocks:
        script = prelude + block.replace("localhost:9200", hostport)
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        if "no_such_query" in block:
            # The documented error: curl --fail-with-body exits 22 on the 400 and prints its body.
            assert r.returncode == 22, (block, r.stdout, r.stderr)
            err = json.loads(r.stdout)
            assert err["status"] == 400 and err["error"]["type"] == "parsing_exception", err
            assert err["error"]["reason"] == "unknown query [no_such_query]", err
        else:
            assert r.returncode == 0, f"example failed:\n{block}\nstdout: {r.stdout}\nstderr: {r.stderr}"
        outputs.append(r.stdout)
    # A few of the answers, checked against what the examples describe.
    first_search = json.loads(outputs[1].strip().splitlines()[0])
    assert [h["_id"] for h in first_search["hits"]["hits"]] == ["1"]
    paged = [json.loads(l) for l in outputs[4].strip().splitlines()]
    assert [h["_id"] for h in paged[0]["hits"]["hits"]] == ["2", "1"]
    assert [h["_id"] for h in paged[1]["hits"]["hits"]] == ["3", "4"]
    aggs = json.loads(outputs[5])["aggregations"]
    assert {b["key"]: b["doc_count"] for b in aggs["genres"]["buckets"]} == {"drama": 2, "comedy": 1, "action": 1}
    assert requests.get(f"{srv.url}/movies").status_code == 404


HOSTILE_BODIES = [
    {"query": {"range": {"created": {"gte": "now€"}}}},
    {"query": {"range": {"created": {"gte": "now+99999999999999y"}}}},
    {"query": {"range": {"price": {"gte": "NaN"}}}},
    '{"query": {"range": {"price": {"gte": 1e309}}}}',
    '{"query": {"term": {"stock": -99999999999999999999999}}}',
    '{"query": {"match_all": {}}, "size": 10} trailing',
    {"query": {"range": {"stock": {"gte": 1.5, "lt": 18446744073709551615}}}},
    {"query": {"term": {"stock": 99999999999999999999999}}},
    {"query": {"term": {"in_stock": "maybe"}}},
    {"query": {"term": {"created": "yesterday"}}},
    {"query": {"match": {"title": {"query": "fox", "minimum_should_match": "-300%"}}}},
    {"query": {"match": {"title": {"query": "fox", "minimum_should_match": "abc"}}}},
    {"query": {"match": {"title": ""}}},
    {"query": {"match": {"title": None}}},
    {"query": {"match_phrase": {"title": {"query": "a b", "slop": -1}}}},
    {"query": {"wildcard": {"category": "*" * 200}}},
    {"query": {"wildcard": {"category": "\\"}}},
    {"query": {"prefix": {"stock": "1"}}},
    {"query": {"bool": {"must": [[]]}}},
    {"query": {"bool": {"should": [], "minimum_should_match": "200%"}}},
    {"query": {"function_score": {"field_value_factor": {"field": "stock", "modifier": "ln"}, "boost_mode": "replace"}}},
    {"query": {"function_score": {"field_value_factor": {"field": "category"}}}},
    {"query": {"function_score": {"functions": "x"}}},
    {"query": {"multi_match": {"query": "x", "fields": [1, 2]}}},
    {"query": {"ids": {"values": "1"}}},
    {"query": {"exists": {"field": ""}}},
    {"query": []},
    {"query": "match_all"},
    {"sort": [{"price": {"order": "asc", "missing": "nope"}}]},
    {"sort": [{"stock": {"mode": "wat"}}]},
    {"sort": 5},
    {"sort": ["no_such_field"]},
    {"sort": [{"stock": "asc"}], "search_after": [{"x": 1}]},
    {"sort": [{"created": "asc"}], "search_after": ["not a date"]},
    {"size": -1},
    {"size": "ten"},
    {"from": 2147483648},
    {"track_total_hits": -5},
    {"timeout": "soon"},
    {"_source": 5},
    {"aggs": {"h": {"histogram": {"field": "stock", "interval": 0}}}},
    {"aggs": {"h": {"histogram": {"field": "stock", "interval": -1}}}},
    {"aggs": {"p": {"percentiles": {"field": "price", "percents": [150, -1]}}}},
    {"aggs": {"t": {"terms": {"field": "category", "size": -1}}}},
    {"aggs": {"t": {"terms": {}}}},
    {"aggs": {"t": {"terms": {"field": "category"}, "aggs": 5}}},
    {"aggs": {"d": {"date_histogram": {"field": "created", "fixed_interval": "0d"}}}},
    {"aggs": {"d": {"date_histogram": {"field": "created", "fixed_interval": "1x"}}}},
    {"aggs": {"d": {"date_range": {"field": "created", "ranges": [{"from": "garbage"}]}}}},
    {"aggs": {"r": {"range": {"field": "price", "ranges": "x"}}}},
    {"aggs": {"x": {}}},
    {"aggs": []},
]


def test_hostile_inputs_get_clear_errors_never_500(products, http):
    for body in HOSTILE_BODIES:
        if isinstance(body, str):
            r = http.post(f"/{INDEX}/_search", data=body, headers={"content-type": "application/json"})
        else:
            r = http.post(f"/{INDEX}/_search", json=body)
        assert r.status_code < 500, f"{body} -> {r.status_code} {r.text[:300]}"
        if r.status_code >= 400:
            err = r.json()
            assert err["status"] == r.status_code and err["error"]["type"] and err["error"]["reason"], body
    # Still serving.
    assert http.get(f"/{INDEX}/_count").json()["count"] == N_DOCS
