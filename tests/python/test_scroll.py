"""Scroll: opensearch-py's helpers.scan / helpers.reindex and the DSL's Search.scan() over
the real server; consistent snapshots, sliced scrolls, clearing, expiry and the limit."""
import time

import pytest
from opensearchpy import NotFoundError, Search, TransportError, helpers

N_DOCS = 537  # not a multiple of any page size used below


def docs(index, n=N_DOCS):
    return [{"_index": index, "_id": str(i), "n": i, "parity": "even" if i % 2 == 0 else "odd"} for i in range(n)]


@pytest.fixture(scope="module")
def scroll_index(client):
    name = "scroll-src"
    client.indices.create(index=name, body={"settings": {"number_of_shards": 3}})
    helpers.bulk(client, docs(name), refresh=True)
    return name


def test_helpers_scan_yields_every_document(client, scroll_index):
    seen = [h["_source"]["n"] for h in helpers.scan(client, index=scroll_index, size=50)]
    assert sorted(seen) == list(range(N_DOCS))


def test_scan_with_query_and_doc_order(client, scroll_index):
    expected = sorted(d["n"] for d in docs(scroll_index) if d["parity"] == "odd")
    query = {"query": {"term": {"parity": "odd"}}, "sort": ["_doc"]}
    seen = [h["_source"]["n"] for h in helpers.scan(client, index=scroll_index, query=query, size=40, preserve_order=True)]
    assert sorted(seen) == expected and len(seen) == len(set(seen))


def test_scroll_pages_follow_the_sort(client, scroll_index):
    first = client.search(index=scroll_index, scroll="1m", body={"size": 100, "sort": [{"n": "desc"}]})
    assert first["hits"]["total"]["value"] == N_DOCS
    order = [h["_source"]["n"] for h in first["hits"]["hits"]]
    scroll_id = first["_scroll_id"]
    while True:
        page = client.scroll(scroll_id=scroll_id, scroll="1m")
        if not page["hits"]["hits"]:
            break
        assert page["hits"]["total"]["value"] == N_DOCS
        order.extend(h["_source"]["n"] for h in page["hits"]["hits"])
    assert order == sorted(range(N_DOCS), reverse=True)
    assert client.clear_scroll(scroll_id=scroll_id)["num_freed"] == 1


def test_scroll_is_a_consistent_snapshot(client):
    name = "scroll-snapshot"
    helpers.bulk(client, docs(name, 100), refresh=True)
    first = client.search(index=name, scroll="1m", body={"size": 10})
    # Writes after the scroll opened are not seen by it.
    helpers.bulk(client, [{"_op_type": "delete", "_index": name, "_id": str(i)} for i in range(50)], refresh=True)
    helpers.bulk(client, [{"_index": name, "_id": f"new-{i}", "n": 1000 + i} for i in range(30)], refresh=True)
    seen = [h["_source"]["n"] for h in first["hits"]["hits"]]
    scroll_id = first["_scroll_id"]
    while True:
        page = client.scroll(scroll_id=scroll_id, scroll="1m")
        if not page["hits"]["hits"]:
            break
        seen.extend(h["_source"]["n"] for h in page["hits"]["hits"])
    assert sorted(seen) == list(range(100))
    client.clear_scroll(scroll_id=scroll_id)
    assert client.count(index=name)["count"] == 100 - 50 + 30


def test_sliced_scroll_partitions_the_matches(client, scroll_index):
    parts = []
    for slice_id in range(2):
        query = {"slice": {"id": slice_id, "max": 2}, "sort": ["_doc"]}
        parts.append([h["_source"]["n"] for h in helpers.scan(client, index=scroll_index, query=query, size=64)])
    assert all(parts), "each slice gets some documents"
    assert not set(parts[0]) & set(parts[1])
    assert sorted(parts[0] + parts[1]) == list(range(N_DOCS))


def test_dsl_search_scan(client, scroll_index):
    s = Search(using=client, index=scroll_index).filter("term", parity="even").params(size=33)
    seen = sorted(hit.n for hit in s.scan())
    assert seen == [i for i in range(N_DOCS) if i % 2 == 0]


def test_helpers_reindex_copies_every_document(client, scroll_index):
    helpers.reindex(client, scroll_index, "scroll-copy", chunk_size=100)
    client.indices.refresh(index="scroll-copy")
    assert client.count(index="scroll-copy")["count"] == N_DOCS
    got = client.get(index="scroll-copy", id="123")["_source"]
    assert got == client.get(index=scroll_index, id="123")["_source"]


def test_unknown_cleared_and_expired_scroll_ids_are_404(client, http, scroll_index):
    first = client.search(index=scroll_index, scroll="1m", body={"size": 5})
    scroll_id = first["_scroll_id"]
    assert http.delete("/_search/scroll", json={"scroll_id": [scroll_id]}).json() == {"succeeded": True, "num_freed": 1}
    resp = http.post("/_search/scroll", json={"scroll_id": scroll_id, "scroll": "1m"})
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "search_context_missing_exception"
    assert http.delete(f"/_search/scroll/{scroll_id}").status_code == 404
    resp = http.get("/_search/scroll?scroll_id=bm90LWEtc2Nyb2xs")
    assert resp.status_code in (400, 404)
    short = client.search(index=scroll_index, scroll="1ms", body={"size": 5})
    time.sleep(0.05)  # let the 1 ms keep-alive lapse (behaviour, not a timing assertion)
    resp = http.get(f"/_search/scroll/{short['_scroll_id']}?scroll=1m")
    assert resp.status_code == 404
    assert resp.json()["error"]["type"] == "search_context_missing_exception"


def test_scroll_request_validation(http, scroll_index):
    for query, needle in [("scroll=1m&size=0", "[size] cannot be [0] in a scroll context"),
                          ("scroll=1m&from=5", "using [from] is not allowed in a scroll context"),
                          ("scroll=1m&request_cache=true", "[request_cache] cannot be used in a scroll context"),
                          ("scroll=1m&size=10010", "Batch size is too large")]:
        resp = http.get(f"/{scroll_index}/_search?{query}")
        assert resp.status_code == 400, query
        assert needle in resp.json()["error"]["reason"]
    resp = http.post(f"/{scroll_index}/_search", json={"slice": {"id": 0, "max": 2}})
    assert resp.status_code == 400


def test_too_many_open_scrolls_is_a_clear_error(server_factory):
    server = server_factory()
    client = server.client()
    client.index(index="many", body={"a": 1}, refresh=True)
    ids = [client.search(index="many", scroll="5m", body={"size": 1})["_scroll_id"] for _ in range(500)]
    with pytest.raises(TransportError) as e:
        client.search(index="many", scroll="5m", body={"size": 1})
    assert e.value.status_code == 429
    assert "search.max_open_scroll_context" in str(e.value.info)
    assert client.clear_scroll(scroll_id="_all")["num_freed"] == len(ids)
    assert "_scroll_id" in client.search(index="many", scroll="5m", body={"size": 1})
    with pytest.raises(NotFoundError):
        client.scroll(scroll_id=ids[0], scroll="1m")
