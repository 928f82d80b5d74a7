"""Shards on one node: the same records in a 1-shard and a 5-shard index give the same results
(totals, hit sets and orders under total sorts, pages, search_after chains, aggregations,
_count, _msearch); documents land on the shard OpenSearch would put them on (checked with an
independent murmur3 below); multi-shard indices survive kill -9 and restarts; an index written
before shards existed opens as a 1-shard index."""
import json
import shutil
import struct

import pytest
import requests

from search_data import CATEGORIES, DOCS, MAPPING, N_DOCS, created_of

ONE, FIVE = "shards-one", "shards-five"
NDJSON = {"Content-Type": "application/x-ndjson"}


# ----------------------------------------------------------------- independent OpenSearch routing

def murmur3_x86_32(data: bytes, seed: int = 0) -> int:
    """MurmurHash3 x86 32-bit (Austin Appleby's reference algorithm), as a signed int32."""
    c1, c2, mask = 0xCC9E2D51, 0x1B873593, 0xFFFFFFFF
    h = seed & mask
    n_blocks = len(data) // 4
    for (k,) in struct.iter_unpack("<I", data[: n_blocks * 4]):
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
        h = ((h << 13) | (h >> 19)) & mask
        h = (h * 5 + 0xE6546B64) & mask
    tail = data[n_blocks * 4:]
    k = 0
    for i, b in enumerate(tail):
        k |= b << (8 * i)
    if tail:
        k = (k * c1) & mask
        k = ((k << 15) | (k >> 17)) & mask
        k = (k * c2) & mask
        h ^= k
    h ^= len(data)
    h ^= h >> 16
    h = (h * 0x85EBCA6B) & mask
    h ^= h >> 13
    h = (h * 0xC2B2AE35) & mask
    h ^= h >> 16
    return h - (1 << 32) if h & 0x80000000 else h


def opensearch_shard(routing: str, shards: int, routing_shards: int | None = None) -> int:
    """OpenSearch's OperationRouting: murmur3 over the UTF-16LE code units, floorMod, factor."""
    if routing_shards is None:
        log2 = (shards - 1).bit_length()  # ceil(log2(shards))
        routing_shards = shards << max(1, 10 - log2)
    h = murmur3_x86_32(routing.encode("utf-16-le"))
    return (h % routing_shards) // (routing_shards // shards)  # Python's % is floorMod


def test_murmur3_matches_reference_vectors():
    assert murmur3_x86_32(b"") == 0
    assert murmur3_x86_32(b"", 1) == 0x514E28B7
    assert murmur3_x86_32(b"hello") == 0x248BFA47
    assert murmur3_x86_32(b"The quick brown fox jumps over the lazy dog") == 0x2E4FF723


# ---------------------------------------------------------------------------------- fixtures

@pytest.fixture(scope="module")
def api(server):
    s = requests.Session()

    class Api:
        url = server.url

        def __getattr__(self, method):
            fn = getattr(s, method)
            return lambda path, **kw: fn(server.url + path, timeout=kw.pop("timeout", 120), **kw)

    return Api()


def bulk_lines(index, docs, routing=None):
    lines = []
    for doc_id, doc in docs.items():
        meta = {"_index": index, "_id": doc_id}
        if routing:
            meta["routing"] = routing(doc_id)
        lines.append(json.dumps({"index": meta}))
        lines.append(json.dumps(doc))
    return "\n".join(lines) + "\n"


@pytest.fixture(scope="module")
def indices(api):
    for name, shards in [(ONE, 1), (FIVE, 5)]:
        api.delete(f"/{name}")
        r = api.put(f"/{name}", json={"settings": {"number_of_shards": shards, "number_of_replicas": 0},
                                      "mappings": MAPPING})
        assert r.status_code == 200, r.text
        items = list(DOCS.items())
        # Several bulk requests with refreshes: several segments per shard.
        for start in range(0, len(items), 300):
            r = api.post("/_bulk?refresh=true", data=bulk_lines(name, dict(items[start:start + 300])),
                         headers=NDJSON)
            assert r.status_code == 200 and not r.json()["errors"], r.text[:500]
    return ONE, FIVE


def search(api, index, body, **params):
    r = api.post(f"/{index}/_search", json=body, params=params)
    assert r.status_code == 200, r.text
    return r.json()


def ids(resp):
    return [h["_id"] for h in resp["hits"]["hits"]]


# Sorts that order every document uniquely (title.keyword ends with the document number).
TOTAL_SORTS = [
    [{"price": "asc"}, {"title.keyword": "asc"}],
    [{"created": "desc"}, {"title.keyword": "asc"}],
    [{"discount": {"order": "asc", "missing": "_first"}}, {"title.keyword": "desc"}],
    [{"discount": {"order": "desc", "missing": "_last"}}, {"stock": "asc"}, {"title.keyword": "asc"}],
    [{"category": "asc"}, {"rating": "desc"}, {"title.keyword": "asc"}],
]

QUERIES = [
    {"match_all": {}},
    {"term": {"category": "tools"}},
    {"terms": {"tags": ["t1", "u3"]}},
    {"range": {"price": {"gte": 10, "lt": 55.5}}},
    {"range": {"created": {"gte": "2024-03-01", "lt": "2024-07-01"}}},
    {"match": {"title": "fox"}},
    {"match_phrase": {"description": "sits near"}},
    {"multi_match": {"query": "lamp drum", "fields": ["title", "description"]}},
    {"bool": {"must": [{"match": {"description": "shiny"}}], "filter": [{"term": {"in_stock": True}}],
              "must_not": [{"term": {"category": "books"}}]}},
    {"bool": {"should": [{"term": {"category": "music"}}, {"range": {"stock": {"lt": 5}}}],
              "minimum_should_match": 1}},
    {"exists": {"field": "discount"}},
    {"prefix": {"user.name": "user1"}},
    {"wildcard": {"title.keyword": "quick*"}},
    {"ids": {"values": ["1", "17", "999", "nope"]}},
    {"constant_score": {"filter": {"term": {"tags": "t2"}}}},
]


# ----------------------------------------------------------------------- 1 shard == 5 shards

def test_shard_counts_in_responses(api, indices):
    r = search(api, FIVE, {"size": 0})
    assert r["_shards"] == {"total": 5, "successful": 5, "skipped": 0, "failed": 0}
    assert search(api, ONE, {"size": 0})["_shards"]["total"] == 1
    assert api.get(f"/{FIVE}/_count").json()["_shards"]["total"] == 5
    both = search(api, f"{ONE},{FIVE}", {"size": 0})
    assert both["_shards"]["total"] == 6 and both["hits"]["total"]["value"] == 2 * N_DOCS
    health = api.get(f"/_cluster/health/{FIVE}").json()
    assert health["active_primary_shards"] == 5 and health["active_shards"] == 5
    rows = api.get(f"/_cat/shards/{FIVE}", params={"format": "json"}).json()
    assert sorted(int(r["shard"]) for r in rows) == [0, 1, 2, 3, 4]
    assert all(r["prirep"] == "p" and r["state"] == "STARTED" for r in rows)
    assert sum(int(r["docs"]) for r in rows) == N_DOCS
    # Every shard got documents (1000 ids spread over 5 shards).
    assert all(int(r["docs"]) > 0 for r in rows)
    text = api.get(f"/_cat/shards/{FIVE}").text
    assert len(text.strip().splitlines()) == 5
    stats = api.get(f"/{FIVE}/_stats", params={"level": "shards"}).json()
    per_shard = stats["indices"][FIVE]["shards"]
    assert sorted(per_shard) == ["0", "1", "2", "3", "4"]
    assert sum(s[0]["docs"]["count"] for s in per_shard.values()) == N_DOCS


@pytest.mark.parametrize("query", QUERIES, ids=lambda q: next(iter(q)))
def test_every_query_type_matches_the_same_documents(api, indices, query):
    one = search(api, ONE, {"query": query, "size": N_DOCS, "track_total_hits": True})
    five = search(api, FIVE, {"query": query, "size": N_DOCS, "track_total_hits": True})
    assert one["hits"]["total"] == five["hits"]["total"]
    assert set(ids(one)) == set(ids(five))
    assert len(ids(five)) == five["hits"]["total"]["value"]
    count = api.post(f"/{FIVE}/_count", json={"query": query}).json()["count"]
    assert count == one["hits"]["total"]["value"]


def python_order(sort, docs=DOCS):
    """The expected order of `sort` computed from the records themselves."""
    def value(doc_id, field):
        if field == "created":
            return created_of(int(doc_id)).timestamp()
        v = docs[doc_id]
        for part in field.split("."):
            if part != "keyword":
                v = v.get(part) if isinstance(v, dict) else None
        return v

    keyed = list(docs)
    # Stable sorts from the last key to the first give the multi-key order.
    for spec in reversed(sort):
        field, opts = next(iter(spec.items()))
        if isinstance(opts, str):
            opts = {"order": opts}
        present = [k for k in keyed if value(k, field) is not None]
        absent = [k for k in keyed if value(k, field) is None]
        present.sort(key=lambda k: value(k, field), reverse=opts["order"] == "desc")
        keyed = absent + present if opts.get("missing", "_last") == "_first" else present + absent
    return keyed


@pytest.mark.parametrize("sort", TOTAL_SORTS, ids=lambda s: next(iter(s[0])))
def test_total_sorts_give_the_same_order_and_pages(api, indices, sort):
    expected = python_order(sort)
    for index in indices:
        full = search(api, index, {"sort": sort, "size": N_DOCS})
        assert ids(full) == expected
        for frm, size in [(0, 10), (7, 33), (480, 25), (990, 50)]:
            page = search(api, index, {"sort": sort, "from": frm, "size": size})
            assert ids(page) == expected[frm:frm + size]
    # The sort values agree too.
    a = search(api, ONE, {"sort": sort, "size": 50, "from": 100})
    b = search(api, FIVE, {"sort": sort, "size": 50, "from": 100})
    assert [h["sort"] for h in a["hits"]["hits"]] == [h["sort"] for h in b["hits"]["hits"]]


def test_search_after_chains_walk_every_document_once(api, indices):
    sort = [{"stock": "desc"}, {"title.keyword": "asc"}]
    expected = python_order(sort)
    for index in indices:
        seen, after = [], None
        while True:
            body = {"sort": sort, "size": 37, "query": {"match_all": {}}}
            if after:
                body["search_after"] = after
            hits = search(api, index, body)["hits"]["hits"]
            if not hits:
                break
            seen += [h["_id"] for h in hits]
            after = hits[-1]["sort"]
        assert seen == expected


def test_doc_and_score_sorts_return_the_same_sets(api, indices):
    for body in [{"sort": ["_doc"], "size": N_DOCS},
                 {"query": {"match": {"description": "fox lamp"}}, "size": N_DOCS},
                 {"query": {"match": {"description": "fox lamp"}}, "sort": ["_score"], "size": N_DOCS}]:
        one, five = search(api, ONE, body), search(api, FIVE, body)
        assert set(ids(one)) == set(ids(five)) and len(ids(one)) == one["hits"]["total"]["value"]
    # Scores are descending across shards after the reduce.
    five = search(api, FIVE, {"query": {"match": {"description": "fox lamp"}}, "size": 200})
    scores = [h["_score"] for h in five["hits"]["hits"]]
    assert scores == sorted(scores, reverse=True)
    assert five["hits"]["max_score"] == scores[0]


def test_track_total_hits_values(api, indices):
    for tth, want in [(True, {"value": N_DOCS, "relation": "eq"}),
                      (100, {"value": 100, "relation": "gte"}),
                      (5000, {"value": N_DOCS, "relation": "eq"})]:
        for index in indices:
            assert search(api, index, {"track_total_hits": tth, "size": 1})["hits"]["total"] == want
    for index in indices:
        assert "total" not in search(api, index, {"track_total_hits": False})["hits"]


def test_aggregations_agree(api, indices):
    aggs = {
        "cats": {"terms": {"field": "category", "size": 10},
                 "aggs": {"avg_price": {"avg": {"field": "price"}}, "max_stock": {"max": {"field": "stock"}}}},
        "tags": {"terms": {"field": "tags", "size": 20}},
        "price_stats": {"stats": {"field": "price"}},
        "stock_sum": {"sum": {"field": "stock"}},
        "ratings": {"histogram": {"field": "rating", "interval": 1}},
        "months": {"date_histogram": {"field": "created", "calendar_interval": "month"}},
        "price_ranges": {"range": {"field": "price", "ranges": [{"to": 20}, {"from": 20, "to": 60}, {"from": 60}]}},
        "discounted": {"filter": {"exists": {"field": "discount"}},
                       "aggs": {"d": {"terms": {"field": "discount", "size": 40}}}},
        "users": {"cardinality": {"field": "user.name"}},
        "vc": {"value_count": {"field": "discount"}},
    }
    one = search(api, ONE, {"size": 0, "aggs": aggs})["aggregations"]
    five = search(api, FIVE, {"size": 0, "aggs": aggs})["aggregations"]

    def close(a, b):
        if isinstance(a, dict):
            assert a.keys() == b.keys()
            for k in a:
                close(a[k], b[k])
        elif isinstance(a, list):
            assert len(a) == len(b)
            for x, y in zip(a, b):
                close(x, y)
        elif isinstance(a, float) or isinstance(b, float):
            assert a == pytest.approx(b, rel=1e-9)
        else:
            assert a == b
    close(one, five)
    # And they agree with the records.
    by_cat = {c: sum(1 for d in DOCS.values() if d["category"] == c) for c in CATEGORIES}
    assert {b["key"]: b["doc_count"] for b in five["cats"]["buckets"]} == by_cat
    assert five["cats"]["sum_other_doc_count"] == 0
    assert five["stock_sum"]["value"] == sum(d["stock"] for d in DOCS.values())
    assert five["discounted"]["doc_count"] == sum(1 for d in DOCS.values() if "discount" in d)
    assert five["users"]["value"] == len({d["user"]["name"] for d in DOCS.values()})


def test_post_filter_min_score_and_source_filtering(api, indices):
    body = {"query": {"match": {"description": "fox"}}, "post_filter": {"term": {"category": "games"}},
            "aggs": {"c": {"terms": {"field": "category"}}}, "size": N_DOCS,
            "_source": ["title"], "sort": [{"title.keyword": "asc"}]}
    one, five = search(api, ONE, body), search(api, FIVE, body)
    assert ids(one) == ids(five) and one["aggregations"] == five["aggregations"]
    assert all(set(h["_source"]) == {"title"} for h in five["hits"]["hits"])
    want = sorted((k for k, d in DOCS.items() if d["category"] == "games" and "fox" in d["description"].split()),
                  key=lambda k: DOCS[k]["title"])
    assert ids(five) == want


def test_msearch_over_both(api, indices):
    lines = []
    for index in indices:
        lines += [json.dumps({"index": index}), json.dumps({"query": {"term": {"category": "music"}},
                                                           "sort": [{"title.keyword": "asc"}], "size": 30})]
    r = api.post("/_msearch", data="\n".join(lines) + "\n", headers=NDJSON).json()
    a, b = r["responses"]
    assert a["status"] == b["status"] == 200
    assert ids(a) == ids(b) and a["hits"]["total"] == b["hits"]["total"]
    assert b["_shards"]["total"] == 5


# ----------------------------------------------------------------------------------- routing

def test_documents_land_on_opensearch_shards(api):
    name = "shards-routing"
    api.delete(f"/{name}")
    assert api.put(f"/{name}", json={"settings": {"number_of_shards": 5, "number_of_replicas": 0}}).status_code == 200
    docs = {f"doc-{i}": {"n": i} for i in range(300)}
    # Some ids beyond the BMP and with non-ASCII characters: UTF-16 code units matter.
    docs.update({"é-ü-ß": {"n": -1}, "😀-smile": {"n": -2}, "日本": {"n": -3}})
    r = api.post("/_bulk?refresh=true", data=bulk_lines(name, docs), headers=NDJSON)
    assert not r.json()["errors"]
    expected = [0] * 5
    for doc_id in docs:
        expected[opensearch_shard(doc_id, 5)] += 1
    rows = api.get(f"/_cat/shards/{name}", params={"format": "json"}).json()
    assert [int(r["docs"]) for r in sorted(rows, key=lambda r: int(r["shard"]))] == expected
    # ?routing= searches only the shard the routing value points to.
    for doc_id in ["doc-7", "😀-smile", "日本"]:
        shard = opensearch_shard(doc_id, 5)
        hits = search(api, name, {"size": 1000}, routing=doc_id)
        assert hits["_shards"]["total"] == 1
        assert {h["_id"] for h in hits["hits"]["hits"]} == {d for d in docs if opensearch_shard(d, 5) == shard}


def test_custom_routing_get_delete_and_number_of_routing_shards(api):
    name = "shards-custom-routing"
    api.delete(f"/{name}")
    r = api.put(f"/{name}", json={"settings": {"number_of_shards": 4, "number_of_routing_shards": 8,
                                                "number_of_replicas": 0}})
    assert r.status_code == 200, r.text
    routings = {f"u{i}": f"tenant-{i % 3}" for i in range(60)}
    r = api.post("/_bulk?refresh=true", data=bulk_lines(name, {k: {"k": k} for k in routings},
                                                        routing=routings.get), headers=NDJSON)
    assert not r.json()["errors"]
    expected = [0] * 4
    for doc_id, routing in routings.items():
        expected[opensearch_shard(routing, 4, 8)] += 1
    rows = api.get(f"/_cat/shards/{name}", params={"format": "json"}).json()
    assert [int(r["docs"]) for r in sorted(rows, key=lambda r: int(r["shard"]))] == expected
    # GET with the right routing finds it (and shows _routing); with a routing to another
    # shard it is not found.
    doc_id, routing = "u4", routings["u4"]
    got = api.get(f"/{name}/_doc/{doc_id}", params={"routing": routing}).json()
    assert got["found"] and got["_routing"] == routing
    other = next(r for r in ["x", "y", "z", "w", "v", "q"] if opensearch_shard(r, 4, 8) != opensearch_shard(routing, 4, 8))
    assert api.get(f"/{name}/_doc/{doc_id}", params={"routing": other}).status_code == 404
    hits = search(api, name, {"query": {"ids": {"values": [doc_id]}}}, routing=routing)["hits"]["hits"]
    assert hits[0]["_routing"] == routing
    mget = api.post(f"/{name}/_mget", json={"docs": [{"_id": doc_id, "routing": routing}, {"_id": doc_id, "routing": other}]}).json()
    assert [d["found"] for d in mget["docs"]] == [True, False]
    # Count per tenant through routing + a term on the routed content.
    tenant0 = [k for k, r in routings.items() if r == "tenant-0"]
    c = api.post(f"/{name}/_count", params={"routing": "tenant-0"},
                 json={"query": {"terms": {"k": tenant0}}}).json()
    assert c["count"] == len(tenant0) and c["_shards"]["total"] == 1
    # Delete needs the routing too.
    assert api.delete(f"/{name}/_doc/{doc_id}", params={"routing": other, "refresh": "true"}).status_code == 404
    assert api.delete(f"/{name}/_doc/{doc_id}", params={"routing": routing, "refresh": "true"}).status_code == 200
    assert api.get(f"/{name}/_doc/{doc_id}", params={"routing": routing}).status_code == 404
    # number_of_shards and number_of_routing_shards are final.
    r = api.put(f"/{name}/_settings", json={"index": {"number_of_shards": 2}})
    assert r.status_code == 400
    # A routing shard count that is not a multiple is refused at creation.
    r = api.put("/shards-bad-routing", json={"settings": {"number_of_shards": 3, "number_of_routing_shards": 8}})
    assert r.status_code == 400 and r.json()["error"]["type"] == "illegal_argument_exception"


def test_required_routing(api):
    name = "shards-routing-required"
    api.delete(f"/{name}")
    r = api.put(f"/{name}", json={"settings": {"number_of_shards": 3},
                                  "mappings": {"_routing": {"required": True}}})
    assert r.status_code == 200, r.text
    r = api.put(f"/{name}/_doc/1", json={"a": 1})
    assert r.status_code == 400 and r.json()["error"]["type"] == "routing_missing_exception"
    assert api.put(f"/{name}/_doc/1", params={"routing": "r1"}, json={"a": 1}).status_code == 201
    r = api.get(f"/{name}/_doc/1")
    assert r.status_code == 400 and r.json()["error"]["type"] == "routing_missing_exception"
    assert api.get(f"/{name}/_doc/1", params={"routing": "r1"}).json()["found"]
    body = "\n".join([json.dumps({"index": {"_index": name, "_id": "2"}}), json.dumps({"a": 2}),
                      json.dumps({"index": {"_index": name, "_id": "3", "routing": "r3"}}), json.dumps({"a": 3})]) + "\n"
    items = api.post("/_bulk", data=body, headers=NDJSON).json()["items"]
    assert items[0]["index"]["error"]["type"] == "routing_missing_exception"
    assert items[1]["index"]["status"] == 201


# ------------------------------------------------------------------------------- durability

def test_multi_shard_index_survives_kill_9_and_restart(server_factory):
    srv = server_factory(config={"engine": {"refresh_interval_ms": 60_000}})
    u = srv.url
    name = "shards-crash"
    r = requests.put(f"{u}/{name}", json={"settings": {"number_of_shards": 5, "refresh_interval": "-1"}})
    assert r.status_code == 200
    docs = {f"c{i}": {"n": i, "tag": f"t{i % 7}"} for i in range(700)}
    r = requests.post(f"{u}/_bulk", data=bulk_lines(name, docs), headers=NDJSON)
    assert not r.json()["errors"]
    requests.delete(f"{u}/{name}/_doc/c5")
    requests.post(f"{u}/{name}/_update/c6", json={"doc": {"n": -6}})
    srv.kill()  # nothing was committed: every shard replays its own WAL
    srv.start()
    u = srv.url
    assert requests.get(f"{u}/{name}/_count").json()["count"] == 699
    assert requests.get(f"{u}/{name}/_doc/c5").status_code == 404
    assert requests.get(f"{u}/{name}/_doc/c6").json()["_source"]["n"] == -6
    rows = [r for r in requests.get(f"{u}/_cat/shards/{name}", params={"format": "json"}).json() if r["prirep"] == "p"]
    # The default replica per shard is listed unassigned, as on a one-node OpenSearch.
    assert len(rows) == 5
    expected = [0] * 5
    for doc_id in docs:
        if doc_id != "c5":
            expected[opensearch_shard(doc_id, 5)] += 1
    assert [int(r["docs"]) for r in sorted(rows, key=lambda r: int(r["shard"]))] == expected
    srv.restart()
    u = srv.url
    r = requests.post(f"{u}/{name}/_search", json={"size": 0, "aggs": {"t": {"terms": {"field": "tag.keyword"}}}}).json()
    assert r["hits"]["total"]["value"] == 699
    want = {}
    for doc_id, d in docs.items():
        if doc_id != "c5":
            want[d["tag"]] = want.get(d["tag"], 0) + 1
    assert {b["key"]: b["doc_count"] for b in r["aggregations"]["t"]["buckets"]} == want
    srv.kill()


def test_index_from_before_shards_opens_as_one_shard(server_factory):
    """An index directory laid out before shards existed (tantivy/ and wal/ directly in the
    index directory, no shard count in meta.json) opens as a one-shard index with all its
    documents, committed and only-logged alike."""
    srv = server_factory()
    u = srv.url
    name = "shards-legacy"
    assert requests.put(f"{u}/{name}", json={"settings": {"refresh_interval": "-1"}}).status_code == 200
    committed = {f"old{i}": {"n": i} for i in range(50)}
    assert not requests.post(f"{u}/_bulk?refresh=true", data=bulk_lines(name, committed), headers=NDJSON).json()["errors"]
    logged = {f"wal{i}": {"n": i} for i in range(20)}
    assert not requests.post(f"{u}/_bulk", data=bulk_lines(name, logged), headers=NDJSON).json()["errors"]
    srv.kill()
    index_dir = srv.data_dir / "indices" / name
    shard0 = index_dir / "shards" / "0"
    shutil.move(str(shard0 / "tantivy"), str(index_dir / "tantivy"))
    shutil.move(str(shard0 / "wal"), str(index_dir / "wal"))
    shutil.rmtree(index_dir / "shards")
    meta = json.loads((index_dir / "meta.json").read_text())
    meta["settings"]["values"].pop("number_of_shards", None)
    (index_dir / "meta.json").write_text(json.dumps(meta))
    srv.start()
    u = srv.url
    assert requests.get(f"{u}/{name}/_count").json()["count"] == 70
    assert requests.get(f"{u}/{name}/_doc/wal3").json()["_source"] == {"n": 3}
    assert requests.get(f"{u}/{name}/_settings").json()[name]["settings"]["index"]["number_of_shards"] == "1"
    assert requests.put(f"{u}/{name}/_doc/new", params={"refresh": "true"}, json={"n": 99}).status_code == 201
    srv.restart()
    u = srv.url
    assert requests.get(f"{u}/{name}/_count").json()["count"] == 71
    srv.kill()


# ------------------------------------------------------------------------- _routing as a field

def routed_docs():
    """Ids with a custom routing (three tenants) and some without."""
    docs = {}
    for i in range(90):
        routing = None if i % 4 == 3 else f"tenant-{i % 3}"
        docs[f"r{i}"] = ({"n": i}, routing)
    return docs


def routed_bulk(index, docs):
    lines = []
    for doc_id, (doc, routing) in docs.items():
        meta = {"_index": index, "_id": doc_id}
        if routing is not None:
            meta["routing"] = routing
        lines += [json.dumps({"index": meta}), json.dumps(doc)]
    return "\n".join(lines) + "\n"


def test_routing_is_a_query_field(api):
    name = "shards-routing-field"
    api.delete(f"/{name}")
    assert api.put(f"/{name}", json={"settings": {"number_of_shards": 3}}).status_code == 200
    docs = routed_docs()
    r = api.post("/_bulk?refresh=true", data=routed_bulk(name, docs), headers=NDJSON)
    assert not r.json()["errors"]

    def hits(query):
        resp = search(api, name, {"query": query, "size": 200})
        for h in resp["hits"]["hits"]:
            assert h.get("_routing") == docs[h["_id"]][1]
        return {h["_id"] for h in resp["hits"]["hits"]}

    def where(pred):
        return {k for k, (_, routing) in docs.items() if pred(routing)}

    assert hits({"term": {"_routing": "tenant-1"}}) == where(lambda r: r == "tenant-1")
    assert hits({"term": {"_routing": {"value": "tenant-2"}}}) == where(lambda r: r == "tenant-2")
    assert hits({"terms": {"_routing": ["tenant-0", "tenant-2", "nobody"]}}) == where(lambda r: r in ("tenant-0", "tenant-2"))
    assert hits({"exists": {"field": "_routing"}}) == where(lambda r: r is not None)
    assert hits({"bool": {"must_not": [{"exists": {"field": "_routing"}}]}}) == where(lambda r: r is None)
    assert hits({"bool": {"filter": [{"term": {"_routing": "tenant-0"}}, {"range": {"n": {"lt": 40}}}]}}) == \
        {k for k, (d, r) in docs.items() if r == "tenant-0" and d["n"] < 40}
    assert hits({"term": {"_routing": "tenant-9"}}) == set()
    count = api.post(f"/{name}/_count", json={"query": {"term": {"_routing": "tenant-1"}}}).json()["count"]
    assert count == len(where(lambda r: r == "tenant-1"))


def test_routing_survives_write_ahead_log_replay(server_factory):
    srv = server_factory(config={"engine": {"refresh_interval_ms": 60_000}})
    u = srv.url
    name = "shards-routing-replay"
    r = requests.put(f"{u}/{name}", json={"settings": {"number_of_shards": 4, "refresh_interval": "-1"}})
    assert r.status_code == 200
    docs = routed_docs()
    r = requests.post(f"{u}/_bulk", data=routed_bulk(name, docs), headers=NDJSON)
    assert not r.json()["errors"]
    assert requests.put(f"{u}/{name}/_doc/single", params={"routing": "tenant-x"}, json={"n": -1}).status_code == 201
    docs["single"] = ({"n": -1}, "tenant-x")
    srv.kill()  # nothing committed: the routing must come back from the WAL
    srv.start()
    u = srv.url
    for doc_id, (doc, routing) in docs.items():
        params = {"routing": routing} if routing is not None else {}
        got = requests.get(f"{u}/{name}/_doc/{doc_id}", params=params).json()
        assert got["found"] and got["_source"] == doc, doc_id
        assert got.get("_routing") == routing, doc_id
    requests.post(f"{u}/{name}/_refresh")
    resp = requests.post(f"{u}/{name}/_search", json={"query": {"term": {"_routing": "tenant-x"}}}).json()
    assert [(h["_id"], h["_routing"]) for h in resp["hits"]["hits"]] == [("single", "tenant-x")]
    srv.kill()


# ------------------------------------------------------------- terms: shard_size, count errors

def skewed_terms():
    """Documents whose term `k` follows a skewed distribution (k00 most frequent), ids spread
    over shards by routing as OpenSearch would."""
    docs = {}
    i = 0
    for t in range(40):
        for _ in range(max(1, 60 // (t + 1)) + (t % 3)):
            docs[f"s{i}"] = {"k": f"k{t:02d}"}
            i += 1
    return docs


def opensearch_terms(docs, shards, size, shard_size=None, order="count_desc"):
    """OpenSearch's terms aggregation computed here: exact counts per shard, each shard's top
    `shard_size` buckets (default size * 1.5 + 10, or size for key order), the merge, the top
    `size`, sum_other_doc_count and doc_count_error_upper_bound (0 on one shard; -1 unbounded)."""
    if shard_size is None:
        shard_size = size if order == "key" else int(size * 1.5 + 10)
    shard_size = max(shard_size, size)
    sort_key = {
        "count_desc": lambda kv: (-kv[1], kv[0]),
        "count_asc": lambda kv: (kv[1], kv[0]),
        "key": lambda kv: kv[0],
    }[order]
    per_shard = [dict() for _ in range(shards)]
    for doc_id, d in docs.items():
        counts = per_shard[opensearch_shard(doc_id, shards)]
        counts[d["k"]] = counts.get(d["k"], 0) + 1
    merged, other, error = {}, 0, 0
    for counts in per_shard:
        ranked = sorted(counts.items(), key=sort_key)
        kept, rest = ranked[:shard_size], ranked[shard_size:]
        other += sum(c for _, c in rest)
        if kept and len(kept) >= shard_size and order != "key":
            shard_error = min(c for _, c in kept) if order == "count_desc" else -1
        else:
            shard_error = 0
        error = -1 if -1 in (error, shard_error) else error + shard_error
        for key, c in kept:
            merged[key] = merged.get(key, 0) + c
    ranked = sorted(merged.items(), key=sort_key)
    other += sum(c for _, c in ranked[size:])
    return ranked[:size], other, (0 if shards == 1 else error)


@pytest.mark.parametrize("size,shard_size,order", [
    (3, None, "count_desc"), (5, 6, "count_desc"), (2, 2, "count_desc"), (25, None, "count_desc"),
    (4, None, "key"), (3, None, "count_asc"),
])
def test_terms_shard_size_and_doc_count_error_as_opensearch(api, size, shard_size, order):
    docs = skewed_terms()
    names = {1: "shards-terms-one", 5: "shards-terms-five"}
    for shards, name in names.items():
        if api.head(f"/{name}").status_code != 200:
            r = api.put(f"/{name}", json={"settings": {"number_of_shards": shards},
                                          "mappings": {"properties": {"k": {"type": "keyword"}}}})
            assert r.status_code == 200, r.text
            r = api.post("/_bulk?refresh=true", data=bulk_lines(name, docs), headers=NDJSON)
            assert not r.json()["errors"]
    terms = {"field": "k", "size": size}
    if shard_size is not None:
        terms["shard_size"] = shard_size
    if order != "count_desc":
        terms["order"] = {"_key": "asc"} if order == "key" else {"_count": "asc"}
    for shards, name in names.items():
        got = search(api, name, {"size": 0, "aggs": {"t": {"terms": terms}}})["aggregations"]["t"]
        buckets, other, error = opensearch_terms(docs, shards, size, shard_size, order)
        assert [(b["key"], b["doc_count"]) for b in got["buckets"]] == buckets, (shards, got)
        assert got["sum_other_doc_count"] == other, shards
        assert got["doc_count_error_upper_bound"] == error, shards
    if order == "count_desc" and shard_size is None and size == 3:
        # The 5-shard cut really is approximate here (else this test would prove little).
        _, _, error = opensearch_terms(docs, 5, size)
        assert error > 0


# ------------------------------------------------------------------- WASM UDFs over shards

def test_wasm_udf_filter_and_scorer_over_five_shards_equal_one_shard(api):
    from conftest import REPO
    wat = REPO / "tests" / "fixtures" / "wat" / "search"
    udfs = {
        "price_between": [{"name": "min", "type": "f64", "required": True}, {"name": "max", "type": "f64", "required": True}],
        "score_price": [{"name": "factor", "type": "f64", "default": 1.0}],
    }
    for udf_name, params in udfs.items():
        r = api.post("/api/v1/udfs", json={"name": udf_name, "version": "1.0.0", "language": "wat",
                                           "parameters": params, "wat_source": (wat / f"{udf_name}.wat").read_text()})
        assert r.status_code in (201, 409), r.text
    one, five = "shards-udf-one", "shards-udf-five"
    docs = {f"u{i}": {"price": round((i * 37 % 1000) / 10.0, 1), "qty": i % 17, "category": CATEGORIES[i % 5]}
            for i in range(400)}
    for name, shards in [(one, 1), (five, 5)]:
        api.delete(f"/{name}")
        r = api.put(f"/{name}", json={"settings": {"number_of_shards": shards}, "mappings": {"properties": {
            "price": {"type": "double"}, "qty": {"type": "long"}, "category": {"type": "keyword"}}}})
        assert r.status_code == 200, r.text
        items = list(docs.items())
        for start in range(0, len(items), 150):
            r = api.post("/_bulk?refresh=true", data=bulk_lines(name, dict(items[start:start + 150])), headers=NDJSON)
            assert not r.json()["errors"]
    udf_filter = {"wasm_udf": {"name": "price_between", "parameters": {"min": 20, "max": 55}}}
    native = {"range": {"price": {"gte": 20, "lte": 55}}}
    total_sort = [{"price": "asc"}, {"qty": "desc"}, {"category": "asc"}]
    aggs = {"cats": {"terms": {"field": "category"}, "aggs": {"avg": {"avg": {"field": "price"}}}}}
    want = sorted((k for k, d in docs.items() if 20 <= d["price"] <= 55),
                  key=lambda k: (docs[k]["price"], -docs[k]["qty"], docs[k]["category"], k))
    results = {}
    for name in (one, five):
        a = search(api, name, {"query": udf_filter, "size": 400, "sort": total_sort, "aggs": aggs})
        b = search(api, name, {"query": native, "size": 400, "sort": total_sort, "aggs": aggs})
        assert a["hits"]["total"] == b["hits"]["total"] and a["hits"]["total"]["value"] == len(want)
        assert [docs[i]["price"] for i in ids(a)] == [docs[k]["price"] for k in want]
        assert set(ids(a)) == set(want) and ids(a) == ids(b)
        assert a["aggregations"] == b["aggregations"]
        assert api.post(f"/{name}/_count", json={"query": udf_filter}).json()["count"] == len(want)
        results[name] = a
    assert set(ids(results[one])) == set(ids(results[five]))
    cats = {name: results[name]["aggregations"]["cats"] for name in (one, five)}
    assert [(b["key"], b["doc_count"]) for b in cats[one]["buckets"]] == \
        [(b["key"], b["doc_count"]) for b in cats[five]["buckets"]]
    # Averages are summed in another order over 5 shards: equal up to rounding.
    assert [b["avg"]["value"] for b in cats[five]["buckets"]] == \
        pytest.approx([b["avg"]["value"] for b in cats[one]["buckets"]], rel=1e-12)
    # The scorer: match_all scores 1.0 everywhere, so scores do not depend on shard statistics.
    scored = {"script_score": {"query": {"bool": {"must": [{"match_all": {}}], "filter": [udf_filter]}},
                               "script": {"lang": "wasm", "source": "score_price", "params": {"factor": 2.0}}}}
    pages = {}
    for name in (one, five):
        hits = search(api, name, {"query": scored, "size": 400})["hits"]["hits"]
        pages[name] = [(h["_id"], h["_score"]) for h in hits]
        for doc_id, score in pages[name]:
            # The UDF adds price * factor to the inner query's score (match_all: 1.0).
            assert score == pytest.approx(1.0 + docs[doc_id]["price"] * 2.0, rel=1e-5), doc_id
        scores = [s for _, s in pages[name]]
        assert scores == sorted(scores, reverse=True) and len(scores) == len(want)
    assert sorted(pages[one]) == sorted(pages[five])
    assert [s for _, s in pages[one]] == [s for _, s in pages[five]]
