"""Dynamic mappings in cluster mode (issue 13): a field that a write adds dynamically is
committed to the index's record in etcd before the write is acknowledged, so every node maps
it alike, searches coordinated by any node use it, and one field never gets two types on two
nodes. Documents go to several nodes (6 shards over 3 nodes); expected hits are computed by
the test from the documents it wrote."""
import json

import requests

SHARDS = 6
NDJSON = {"Content-Type": "application/x-ndjson"}


def create(url, name):
    r = requests.put(f"{url}/{name}", json={"settings": {"number_of_shards": SHARDS, "number_of_replicas": 0}}, timeout=60)
    assert r.status_code == 200, r.text


def field_types(url, index):
    props = requests.get(f"{url}/{index}/_mapping", timeout=30).json()[index]["mappings"].get("properties", {})
    return {name: spec.get("type", "object") for name, spec in props.items()}


def test_dynamic_fields_are_mapped_on_every_node(cluster):
    n1, n2, n3 = cluster.urls()
    create(n1, "dyn_fields")
    docs = {f"d{i}": {"title": f"{'red' if i % 3 == 0 else 'blue'} item {i}", "n": i, "ok": i % 2 == 0} for i in range(60)}
    for i, (doc_id, doc) in enumerate(docs.items()):
        r = requests.put(f"{cluster.urls()[i % 3]}/dyn_fields/_doc/{doc_id}", json=doc, timeout=30)
        assert r.status_code == 201, r.text
    requests.post(f"{n1}/dyn_fields/_refresh", timeout=60).raise_for_status()
    seen = [field_types(url, "dyn_fields") for url in (n1, n2, n3)]
    assert seen[0] == {"title": "text", "n": "long", "ok": "boolean"}
    assert seen[1] == seen[0] and seen[2] == seen[0]
    red_big = sorted(k for k, d in docs.items() if "red" in d["title"].split() and d["n"] >= 20)
    for url in (n1, n2, n3):
        body = {"size": 100, "query": {"bool": {"must": [{"match": {"title": "red"}}], "filter": [{"range": {"n": {"gte": 20}}}]}},
                "aggs": {"words": {"terms": {"field": "title.keyword", "size": 100}}, "oks": {"terms": {"field": "ok"}}}}
        answer = requests.post(f"{url}/dyn_fields/_search", json=body, timeout=60).json()
        assert answer["_shards"]["failed"] == 0, answer
        assert sorted(h["_id"] for h in answer["hits"]["hits"]) == red_big
        titles = sorted(b["key"] for b in answer["aggregations"]["words"]["buckets"])
        assert titles == sorted(docs[k]["title"] for k in red_big)
        oks = {b["key_as_string"]: b["doc_count"] for b in answer["aggregations"]["oks"]["buckets"]}
        expected = {}
        for k in red_big:
            key = "true" if docs[k]["ok"] else "false"
            expected[key] = expected.get(key, 0) + 1
        assert oks == expected


def test_a_field_mapped_through_one_node_binds_writes_on_every_node(cluster):
    n1, n2, n3 = cluster.urls()
    create(n1, "dyn_bind")
    r = requests.put(f"{n1}/dyn_bind/_doc/first", json={"count": 7}, timeout=30)
    assert r.status_code == 201, r.text
    # Every other document, whichever node holds its shard, must now parse `count` as a long.
    refused = 0
    for i in range(30):
        r = requests.put(f"{cluster.urls()[i % 3]}/dyn_bind/_doc/later{i}", json={"count": f"not a number {i}"}, timeout=30)
        assert r.status_code == 400, r.text
        assert r.json()["error"]["type"] == "mapper_parsing_exception", r.text
        refused += 1
    assert refused == 30
    for url in (n1, n2, n3):
        assert field_types(url, "dyn_bind") == {"count": "long"}
        r = requests.post(f"{url}/dyn_bind/_count", json={"query": {"match_all": {}}}, timeout=30)
        assert r.json()["count"] == 1


def test_concurrent_first_writes_of_one_field_agree_on_its_type(cluster):
    n1, n2, n3 = cluster.urls()
    create(n1, "dyn_race")
    # Each `_bulk` holds two documents (usually on different nodes: the request is split and
    # the parts run at once) that both add field `f<i>`, one as a long, one as text.
    # Whichever commits first decides the type on every node; the other write is refused with
    # `mapper_parsing_exception`, unless it came after the decision and its value fits it (a
    # number is valid text).
    outcome = {}
    for i in range(20):
        docs = {f"num{i}": {f"f{i}": i}, f"txt{i}": {f"f{i}": f"word {i}"}}
        lines = []
        for doc_id, doc in docs.items():
            lines += [json.dumps({"index": {"_index": "dyn_race", "_id": doc_id}}), json.dumps(doc)]
        answer = requests.post(f"{cluster.urls()[i % 3]}/_bulk", data="\n".join(lines) + "\n", headers=NDJSON, timeout=120).json()
        for item in answer["items"]:
            outcome[item["index"]["_id"]] = item["index"]
    types = [field_types(url, "dyn_race") for url in (n1, n2, n3)]
    assert types[1] == types[0] and types[2] == types[0]
    for i in range(20):
        kind = types[0][f"f{i}"]
        winner, other = (f"num{i}", f"txt{i}") if kind == "long" else (f"txt{i}", f"num{i}")
        assert kind in ("long", "text"), kind
        assert outcome[winner]["status"] == 201, outcome[winner]
        if outcome[other]["status"] != 201:
            assert outcome[other]["status"] == 400 and outcome[other]["error"]["type"] == "mapper_parsing_exception", outcome[other]
        else:
            assert kind == "text", (kind, outcome[other])
    requests.post(f"{n1}/dyn_race/_refresh", timeout=60).raise_for_status()
    stored = sorted(k for k, o in outcome.items() if o["status"] == 201)
    for url in (n1, n2, n3):
        answer = requests.post(f"{url}/dyn_race/_search", json={"size": 100, "query": {"match_all": {}}}, timeout=60).json()
        assert sorted(h["_id"] for h in answer["hits"]["hits"]) == stored
