"""_delete_by_query, _update_by_query (no script: re-index in place) and _reindex over the
scroll machinery, driven with opensearch-py; counts computed from the test's own data."""
import pytest
from opensearchpy import RequestError, helpers


def load(client, name, n, shards=2):
    client.indices.create(index=name, body={"settings": {"number_of_shards": shards}})
    docs = [{"_index": name, "_id": str(i), "n": i, "color": ["red", "green", "blue"][i % 3]} for i in range(n)]
    helpers.bulk(client, docs, refresh=True)
    return docs


def test_delete_by_query(client):
    docs = load(client, "dbq", 300)
    red = sum(1 for d in docs if d["color"] == "red")
    resp = client.delete_by_query(index="dbq", body={"query": {"term": {"color": "red"}}}, refresh=True, params={"scroll_size": 40})
    assert resp["deleted"] == red and resp["total"] == red
    assert resp["version_conflicts"] == 0 and resp["failures"] == []
    assert resp["batches"] == -(-red // 40)
    assert client.count(index="dbq")["count"] == len(docs) - red
    assert client.count(index="dbq", body={"query": {"term": {"color": "red"}}})["count"] == 0


def test_delete_by_query_max_docs(client):
    docs = load(client, "dbq-max", 50)
    resp = client.delete_by_query(index="dbq-max", body={"query": {"match_all": {}}, "max_docs": 7}, refresh=True)
    assert resp["deleted"] == 7
    assert client.count(index="dbq-max")["count"] == len(docs) - 7


def test_update_by_query_reindexes_in_place(client):
    docs = load(client, "ubq", 120)
    before = {h["_id"]: h["_version"] for h in client.search(index="ubq", body={"size": 200, "version": True})["hits"]["hits"]}
    green = [d for d in docs if d["color"] == "green"]
    resp = client.update_by_query(index="ubq", body={"query": {"term": {"color": "green"}}}, refresh=True, conflicts="proceed")
    assert resp["updated"] == len(green) and resp["total"] == len(green)
    after = {h["_id"]: h["_version"] for h in client.search(index="ubq", body={"size": 200, "version": True})["hits"]["hits"]}
    for d in docs:
        expected = before[d["_id"]] + (1 if d["color"] == "green" else 0)
        assert after[d["_id"]] == expected
    assert client.get(index="ubq", id=green[0]["_id"])["_source"] == {k: v for k, v in green[0].items() if k != "_index" and k != "_id"}


def test_reindex_copies_with_query(client):
    docs = load(client, "rx-src", 200)
    blue = [d for d in docs if d["color"] == "blue"]
    resp = client.reindex(body={"source": {"index": "rx-src", "query": {"term": {"color": "blue"}}, "size": 25},
                                "dest": {"index": "rx-dst"}}, refresh=True)
    assert resp["created"] == len(blue) and resp["updated"] == 0 and resp["failures"] == []
    assert client.count(index="rx-dst")["count"] == len(blue)
    d = blue[3]
    assert client.get(index="rx-dst", id=d["_id"])["_source"] == {"n": d["n"], "color": "blue"}
    # Again: every document exists, so `index` updates them...
    again = client.reindex(body={"source": {"index": "rx-src", "query": {"term": {"color": "blue"}}}, "dest": {"index": "rx-dst"}}, refresh=True)
    assert again["updated"] == len(blue) and again["created"] == 0
    # ...and `create` conflicts on each: counted with conflicts=proceed, a 409 without.
    proceed = client.reindex(body={"source": {"index": "rx-src"}, "dest": {"index": "rx-dst", "op_type": "create"}, "conflicts": "proceed"}, refresh=True)
    assert proceed["version_conflicts"] == len(blue) and proceed["created"] == len(docs) - len(blue)
    with pytest.raises(Exception) as e:
        client.reindex(body={"source": {"index": "rx-src"}, "dest": {"index": "rx-dst", "op_type": "create"}})
    assert getattr(e.value, "status_code", None) == 409


def test_reindex_max_docs(client):
    load(client, "rx-max", 60)
    resp = client.reindex(body={"source": {"index": "rx-max"}, "dest": {"index": "rx-max-dst"}, "max_docs": 11}, refresh=True)
    assert resp["created"] == 11
    assert client.count(index="rx-max-dst")["count"] == 11


def test_bad_input(http, client):
    load(client, "bq-bad", 5)
    cases = [
        ("post", "/bq-bad/_delete_by_query?conflicts=maybe", {}),
        ("post", "/bq-bad/_update_by_query", {"script": {"source": "ctx._source.n++"}}),
        ("post", "/bq-bad/_delete_by_query", {"query": {"match_all": {}}, "max_docs": 0}),
        ("post", "/_reindex", {"source": {"index": "bq-bad"}, "dest": {"index": "bq-bad"}}),
        ("post", "/_reindex", {"dest": {"index": "x"}}),
        ("post", "/_reindex", {"source": {"index": "bq-bad", "remote": {"host": "http://a:9200"}}, "dest": {"index": "x"}}),
    ]
    for method, path, body in cases:
        resp = getattr(http, method)(path, json=body)
        assert resp.status_code == 400, (path, body, resp.text)
        assert "error" in resp.json()
    assert client.count(index="bq-bad")["count"] == 5
