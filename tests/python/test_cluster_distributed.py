"""Documents distributed over the nodes (issue 13, steps c.3 and c.4): writes, `_bulk` and
GET by id through any node reach the node holding the document's shard; searches through any
node run each shard's query phase on its node, reduce there and fetch the winners only.

12,000 real records (the machine's Debian package index) go into a 6-shard index through one
node of a 3-node cluster. Every expected value is computed by the test from the records
themselves, and the ranked queries are compared with the same data on a single node (same
shard count, so the same documents per shard and the same scores). No timing assertions."""
import json
import math
from collections import Counter

import pytest
import requests

from debian_records import MAPPING, load_packages, standard_words

INDEX = "dist_packages"
SHARDS = 6
N = 12_000
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture(scope="module")
def records():
    recs = load_packages(N)
    assert len(recs) >= 10_000, "the Debian package index is too small for this test"
    return {r["package"]: r for r in recs}


def bulk_body(index, docs):
    lines = []
    for doc_id, doc in docs.items():
        lines.append(json.dumps({"index": {"_index": index, "_id": doc_id}}))
        lines.append(json.dumps(doc))
    return "\n".join(lines) + "\n"


def load(url, records, index=INDEX):
    body = {"settings": {"number_of_shards": SHARDS, "number_of_replicas": 0}, "mappings": MAPPING}
    r = requests.put(f"{url}/{index}", json=body, timeout=60)
    assert r.status_code == 200, r.text
    items = list(records.items())
    for start in range(0, len(items), 3000):
        r = requests.post(f"{url}/_bulk", data=bulk_body(index, dict(items[start:start + 3000])), headers=NDJSON, timeout=300)
        assert r.status_code == 200, r.text
        answer = r.json()
        assert not answer["errors"], [i for i in answer["items"] if "error" in next(iter(i.values()))][:3]
        assert [next(iter(i.values()))["_id"] for i in answer["items"]] == [k for k, _ in items[start:start + 3000]]
    assert requests.post(f"{url}/{index}/_refresh", timeout=60).status_code == 200


@pytest.fixture(scope="module")
def loaded(cluster, records):
    load(cluster.nodes[0].url, records)
    return cluster


@pytest.fixture(scope="module")
def single(server, records):
    """The same records on one node, same shard count."""
    load(server.url, records, index="dist_single")
    return server.url


def search(url, index, body):
    r = requests.post(f"{url}/{index}/_search", json=body, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()


def count(url, index, query):
    r = requests.post(f"{url}/{index}/_count", json={"query": query}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()["count"]


def ids(answer):
    return [h["_id"] for h in answer["hits"]["hits"]]


def test_bulk_through_one_node_spreads_the_documents_over_the_shards_nodes(loaded, records):
    per_node = Counter()
    for node in loaded.nodes:
        for row in requests.get(f"{node.url}/_cat/shards/{INDEX}", params={"format": "json"}, timeout=30).json():
            if row["prirep"] == "p" and row.get("docs"):
                per_node[row["node"]] += int(row["docs"])
    assert sum(per_node.values()) == len(records)
    assert set(per_node) == {"node-1", "node-2", "node-3"}


def test_get_by_id_through_every_node(loaded, records):
    sample = sorted(records)[::997]
    for node in loaded.nodes:
        for doc_id in sample:
            r = requests.get(f"{node.url}/{INDEX}/_doc/{doc_id}", timeout=30)
            assert r.status_code == 200, (node.url, doc_id, r.text)
            assert r.json()["_source"] == records[doc_id]
        assert requests.get(f"{node.url}/{INDEX}/_doc/no-such-package", timeout=30).status_code == 404


def test_single_writes_through_any_node_are_seen_through_every_node(loaded):
    n1, n2, n3 = loaded.urls()
    r = requests.put(f"{n1}/dist_writes", json={"settings": {"number_of_shards": 3},
                                                "mappings": {"properties": {"v": {"type": "long"}}}}, timeout=60)
    assert r.status_code == 200, r.text
    r = requests.put(f"{n2}/dist_writes/_doc/a", json={"v": 1}, params={"refresh": "true"}, timeout=30)
    assert r.status_code == 201, r.text
    r = requests.post(f"{n3}/dist_writes/_doc", json={"v": 2}, params={"refresh": "true"}, timeout=30)
    assert r.status_code == 201, r.text
    auto = r.json()["_id"]
    r = requests.post(f"{n1}/dist_writes/_update/a", json={"doc": {"v": 10}}, params={"refresh": "true"}, timeout=30)
    assert r.status_code == 200, r.text
    for url in (n1, n2, n3):
        assert requests.get(f"{url}/dist_writes/_doc/a", timeout=30).json()["_source"] == {"v": 10}
        assert requests.get(f"{url}/dist_writes/_doc/{auto}", timeout=30).json()["_source"] == {"v": 2}
        assert count(url, "dist_writes", {"match_all": {}}) == 2
    assert requests.delete(f"{n3}/dist_writes/_doc/a", params={"refresh": "true"}, timeout=30).status_code == 200
    for url in (n1, n2, n3):
        assert requests.get(f"{url}/dist_writes/_doc/a", timeout=30).status_code == 404
        assert count(url, "dist_writes", {"match_all": {}}) == 1


def test_auto_id_writes_through_every_node_land_on_the_shards_nodes(loaded):
    # The id of `POST /{index}/_doc` is given by the node the client called, which picks the
    # shard (and node) by it: whether that is this node or another, every document must be
    # found through every node.
    urls = loaded.urls()
    r = requests.put(f"{urls[0]}/dist_auto", json={"settings": {"number_of_shards": SHARDS, "number_of_replicas": 0},
                                                   "mappings": {"properties": {"v": {"type": "long"}}}}, timeout=60)
    assert r.status_code == 200, r.text
    written = {}
    for i in range(45):
        r = requests.post(f"{urls[i % 3]}/dist_auto/_doc", json={"v": i}, timeout=30)
        assert r.status_code == 201 and r.json()["result"] == "created", r.text
        written[r.json()["_id"]] = {"v": i}
    assert len(written) == 45
    requests.post(f"{urls[0]}/dist_auto/_refresh", timeout=60).raise_for_status()
    for url in urls:
        for doc_id, doc in written.items():
            r = requests.get(f"{url}/dist_auto/_doc/{doc_id}", timeout=30)
            assert r.status_code == 200 and r.json()["_source"] == doc, (url, doc_id, r.text)
        assert count(url, "dist_auto", {"match_all": {}}) == len(written)
    # Each node reports only the documents of the shards it holds: they add up.
    held = 0
    for url in urls:
        for row in requests.get(f"{url}/_cat/shards/dist_auto", params={"format": "json"}, timeout=30).json():
            if row["prirep"] == "p" and row.get("docs") not in (None, ""):
                held += int(row["docs"])
    assert held == len(written)


def test_mget_through_every_node_reads_each_doc_on_its_node(loaded, records):
    names = sorted(records)[:60]
    wanted = names[::2] + ["no-such-package"] + names[1::2]
    for url in loaded.urls():
        body = {"docs": [{"_index": INDEX, "_id": n} for n in wanted]}
        answer = requests.post(f"{url}/_mget", json=body, timeout=60).json()
        assert [d["_id"] for d in answer["docs"]] == wanted
        for doc in answer["docs"]:
            if doc["_id"] == "no-such-package":
                assert doc["found"] is False, doc
            else:
                assert doc["found"] is True and doc["_source"] == records[doc["_id"]], doc
        # The `ids` form with the index in the path, and `_source` filtering from the URL.
        r = requests.post(f"{url}/{INDEX}/_mget", params={"_source": "section"}, json={"ids": names[:20]}, timeout=60)
        assert r.status_code == 200, r.text
        assert [(d["_id"], d["_source"]) for d in r.json()["docs"]] == [(n, {k: v for k, v in records[n].items() if k == "section"}) for n in names[:20]]


def test_by_query_through_any_node_reaches_every_shard(loaded):
    n1, n2, n3 = loaded.urls()
    r = requests.put(f"{n1}/dist_bq", json={"settings": {"number_of_shards": SHARDS, "number_of_replicas": 0},
                                            "mappings": {"properties": {"n": {"type": "long"}, "tag": {"type": "keyword"}}}}, timeout=60)
    assert r.status_code == 200, r.text
    docs = {f"q{i}": {"n": i, "tag": "odd" if i % 2 else "even"} for i in range(300)}
    r = requests.post(f"{n1}/_bulk", params={"refresh": "true"}, data=bulk_body("dist_bq", docs), headers=NDJSON, timeout=60)
    assert not r.json()["errors"]
    odd = sum(1 for d in docs.values() if d["tag"] == "odd")
    r = requests.post(f"{n2}/dist_bq/_update_by_query", params={"refresh": "true"}, json={"query": {"term": {"tag": "odd"}}}, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["total"] == odd and r.json()["updated"] == odd and r.json()["failures"] == []
    low = sum(1 for d in docs.values() if d["n"] < 100)
    r = requests.post(f"{n3}/dist_bq/_delete_by_query", params={"refresh": "true"}, json={"query": {"range": {"n": {"lt": 100}}}}, timeout=120)
    assert r.status_code == 200, r.text
    assert r.json()["deleted"] == low and r.json()["total"] == low
    left = sorted(k for k, d in docs.items() if d["n"] >= 100)
    for url in (n1, n2, n3):
        answer = search(url, "dist_bq", {"size": 300, "query": {"match_all": {}}, "_source": False})
        assert sorted(ids(answer)) == left
    # A limit for the whole run cannot be a sum of the nodes' runs.
    r = requests.post(f"{n1}/dist_bq/_delete_by_query", json={"max_docs": 5, "query": {"match_all": {}}}, timeout=60)
    assert r.status_code == 400 and "several nodes" in r.json()["error"]["reason"], r.text


def expected_count(records, pred):
    return sum(1 for r in records.values() if pred(r))


QUERIES = [
    ("term", {"term": {"section": "libs"}}, lambda r: r["section"] == "libs"),
    ("range", {"range": {"installed_size": {"gte": 100, "lt": 1000}}}, lambda r: 100 <= r["installed_size"] < 1000),
    ("bool", {"bool": {"must": [{"term": {"priority": "optional"}}], "filter": [{"range": {"installed_size": {"gt": 50}}}],
                       "must_not": [{"term": {"section": "libs"}}]}},
     lambda r: r["priority"] == "optional" and r["installed_size"] > 50 and r["section"] != "libs"),
    ("match", {"match": {"summary": "library"}}, lambda r: "library" in standard_words(r["summary"])),
]


@pytest.mark.parametrize("name,query,pred", QUERIES, ids=[q[0] for q in QUERIES])
def test_queries_and_count_through_every_node_match_the_records(loaded, records, name, query, pred):
    want = expected_count(records, pred)
    assert want > 0
    for node in loaded.nodes:
        answer = search(node.url, INDEX, {"query": query, "size": 0, "track_total_hits": True})
        assert answer["hits"]["total"]["value"] == want, (node.url, name)
        assert answer["_shards"] == {"total": SHARDS, "successful": SHARDS, "skipped": 0, "failed": 0}
        assert count(node.url, INDEX, query) == want


def test_scored_hits_through_every_node_equal_the_single_node(loaded, single):
    body = {"query": {"match": {"summary": "python library tools"}}, "size": 20}
    alone = search(single, "dist_single", body)["hits"]["hits"]
    assert len(alone) == 20
    def ranked(hits):
        # Equal scores may come in another order (document numbers differ between the two
        # copies): the scores in order, and the ids of every score above the page's last.
        scores = [round(h["_score"], 4) for h in hits]
        return scores, {(h["_id"], s) for h, s in zip(hits, scores) if s > scores[-1]}

    for node in loaded.nodes:
        hits = search(node.url, INDEX, body)["hits"]["hits"]
        assert ranked(hits) == ranked(alone)
        assert all(h["_index"] == INDEX for h in hits)


def test_sort_paging_and_search_after_through_every_node(loaded, records):
    order = sorted(records.values(), key=lambda r: (-r["installed_size"], r["package"]))
    sort = [{"installed_size": "desc"}, {"package": "asc"}]
    for node in loaded.nodes:
        first = search(node.url, INDEX, {"query": {"match_all": {}}, "sort": sort, "size": 15})
        assert ids(first) == [r["package"] for r in order[:15]]
        page = search(node.url, INDEX, {"query": {"match_all": {}}, "sort": sort, "from": 15, "size": 15})
        assert ids(page) == [r["package"] for r in order[15:30]]
        after = first["hits"]["hits"][-1]["sort"]
        nxt = search(node.url, INDEX, {"query": {"match_all": {}}, "sort": sort, "size": 15, "search_after": after})
        assert ids(nxt) == [r["package"] for r in order[15:30]]
        assert nxt["hits"]["hits"][0]["_source"] == order[15]


def test_terms_and_avg_aggregations_through_every_node(loaded, records):
    sections = Counter(r["section"] for r in records.values())
    libs = [r["installed_size"] for r in records.values() if r["section"] == "libs"]
    body = {"size": 0, "aggs": {"sections": {"terms": {"field": "section", "size": 500}},
                                "avg_size": {"avg": {"field": "installed_size"}}},
            "query": {"match_all": {}}}
    filtered = {"size": 0, "query": {"term": {"section": "libs"}}, "aggs": {"avg_size": {"avg": {"field": "installed_size"}}}}
    for node in loaded.nodes:
        aggs = search(node.url, INDEX, body)["aggregations"]
        assert {b["key"]: b["doc_count"] for b in aggs["sections"]["buckets"]} == dict(sections)
        assert math.isclose(aggs["avg_size"]["value"], sum(r["installed_size"] for r in records.values()) / len(records), rel_tol=1e-9)
        libs_avg = search(node.url, INDEX, filtered)["aggregations"]["avg_size"]["value"]
        assert math.isclose(libs_avg, sum(libs) / len(libs), rel_tol=1e-9)


def test_msearch_through_a_node_answers_every_item(loaded, records):
    want = expected_count(records, lambda r: r["section"] == "libs")
    lines = [json.dumps({"index": INDEX}), json.dumps({"query": {"term": {"section": "libs"}}, "size": 0}),
             json.dumps({"index": INDEX}), json.dumps({"query": {"match_all": {}}, "size": 0, "track_total_hits": True})]
    r = requests.post(f"{loaded.nodes[2].url}/_msearch", data="\n".join(lines) + "\n", headers=NDJSON, timeout=60)
    assert r.status_code == 200, r.text
    totals = [x["hits"]["total"]["value"] for x in r.json()["responses"]]
    assert totals == [want, len(records)]


def test_what_is_not_distributed_yet_says_so(loaded):
    r = requests.post(f"{loaded.nodes[0].url}/{INDEX}/_search", params={"scroll": "1m"}, json={"size": 5}, timeout=30)
    assert r.status_code == 400 and "several nodes" in r.json()["error"]["reason"], r.text


def test_a_dead_node_fails_its_shards_writes_with_503_and_searches_are_partial(etcd, cluster_factory):
    c = cluster_factory(etcd, 3)
    c.wait_for_nodes(3)
    n1 = c.nodes[0].url
    docs = {f"d{i}": {"n": i} for i in range(300)}
    r = requests.put(f"{n1}/dist_down", json={"settings": {"number_of_shards": SHARDS, "number_of_replicas": 0},
                                             "mappings": {"properties": {"n": {"type": "long"}}}}, timeout=60)
    assert r.status_code == 200
    r = requests.post(f"{n1}/_bulk", params={"refresh": "true"}, data=bulk_body("dist_down", docs), headers=NDJSON, timeout=60)
    assert not r.json()["errors"]
    rows = [row for row in requests.get(f"{n1}/_cat/shards/dist_down", params={"format": "json"}, timeout=30).json()
            if row["prirep"] == "p"]
    on_3 = {int(row["shard"]) for row in rows if row["node"] == "node-3"}
    c.nodes[2].kill()
    r = requests.get(f"{n1}/_cluster/health", params={"wait_for_nodes": "2", "timeout": "30s"}, timeout=60)
    assert r.status_code == 200
    # Which of the documents live on node-3's shards: the holder answers, the others do not.
    lost = set()
    for doc_id in docs:
        r = requests.get(f"{n1}/dist_down/_doc/{doc_id}", timeout=30)
        if r.status_code == 503:
            assert "node-3" in r.text, r.text
            lost.add(doc_id)
        else:
            assert r.status_code == 200 and r.json()["_source"] == docs[doc_id]
    assert lost and len(on_3) == 2
    victim = sorted(lost)[0]
    r = requests.put(f"{n1}/dist_down/_doc/{victim}", json={"n": -1}, timeout=30)
    assert r.status_code == 503 and "node-3" in r.text, r.text
    body = bulk_body("dist_down", {victim: {"n": -2}, sorted(set(docs) - lost)[0]: {"n": -3}})
    items = requests.post(f"{n1}/_bulk", data=body, headers=NDJSON, timeout=60).json()["items"]
    assert items[0]["index"]["status"] == 503 and "node-3" in json.dumps(items[0])
    assert items[1]["index"]["status"] == 200
    answer = search(n1, "dist_down", {"query": {"match_all": {}}, "size": 0})
    assert answer["_shards"]["total"] == SHARDS and answer["_shards"]["failed"] == 2
    assert answer["hits"]["total"]["value"] == len(docs) - len(lost)


def test_whole_cluster_restart_keeps_the_documents(etcd_factory, cluster_factory):
    etcd = etcd_factory()
    c = cluster_factory(etcd, 3)
    c.wait_for_nodes(3)
    docs = {f"k{i}": {"n": i, "tag": f"t{i % 5}"} for i in range(500)}
    r = requests.put(f"{c.nodes[0].url}/dist_kept", json={
        "settings": {"number_of_shards": SHARDS, "number_of_replicas": 0},
        "mappings": {"properties": {"n": {"type": "long"}, "tag": {"type": "keyword"}}}}, timeout=60)
    assert r.status_code == 200
    r = requests.post(f"{c.nodes[1].url}/_bulk", params={"refresh": "true"}, data=bulk_body("dist_kept", docs), headers=NDJSON, timeout=60)
    assert not r.json()["errors"]
    c.restart()
    r = requests.get(f"{c.nodes[0].url}/_cluster/health/dist_kept", params={"wait_for_status": "green", "timeout": "30s"}, timeout=60)
    assert r.status_code == 200
    for url in c.urls():
        assert count(url, "dist_kept", {"match_all": {}}) == len(docs)
        assert count(url, "dist_kept", {"term": {"tag": "t3"}}) == 100
        assert requests.get(f"{url}/dist_kept/_doc/k42", timeout=30).json()["_source"] == docs["k42"]
