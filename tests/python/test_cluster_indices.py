"""Index metadata replicated through etcd (issue 13, step c.1): an index created through any
node exists on every node right after the answer, with the same uuid, settings and mappings;
mapping changes and deletions are seen everywhere; a name is taken once in the cluster; a node
started later (or back after being down) gets the metadata; etcd down blocks metadata
changes while reads keep working. Expected values come from the requests the test sent."""
import concurrent.futures
import time

import pytest
import requests

from cluster_helpers import node_args
from conftest import Server


BODY = {
    "settings": {"number_of_shards": 3},
    "mappings": {"properties": {"title": {"type": "text"}, "price": {"type": "double"}, "tag": {"type": "keyword"}}},
}


def get_index(url, name):
    r = requests.get(f"{url}/{name}", timeout=30)
    assert r.status_code == 200, (url, r.text)
    return r.json()[name]


def test_created_through_one_node_exists_on_every_node(cluster):
    n1, n2, n3 = cluster.urls()
    r = requests.put(f"{n1}/cl_books", json=BODY, timeout=60)
    assert r.status_code == 200, r.text
    origin = get_index(n1, "cl_books")
    for url in (n2, n3):
        copy = get_index(url, "cl_books")
        assert copy["settings"]["index"]["uuid"] == origin["settings"]["index"]["uuid"]
        assert copy["settings"]["index"]["creation_date"] == origin["settings"]["index"]["creation_date"]
        assert str(copy["settings"]["index"]["number_of_shards"]) == "3"
        props = copy["mappings"]["properties"]
        assert {f: props[f]["type"] for f in BODY["mappings"]["properties"]} == {
            f: d["type"] for f, d in BODY["mappings"]["properties"].items()}


def test_a_name_is_taken_once_in_the_cluster(cluster):
    n1, n2, n3 = cluster.urls()
    assert requests.put(f"{n2}/cl_once", json=BODY, timeout=60).status_code == 200
    r = requests.put(f"{n3}/cl_once", json=BODY, timeout=60)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] == "resource_already_exists_exception"


def test_concurrent_creates_of_one_name_have_one_winner(cluster):
    urls = cluster.urls()
    with concurrent.futures.ThreadPoolExecutor(len(urls)) as pool:
        answers = list(pool.map(lambda u: requests.put(f"{u}/cl_race", json=BODY, timeout=60), urls))
    assert sorted(a.status_code for a in answers) == [200] + [400] * (len(urls) - 1), [a.text for a in answers]
    for a in answers:
        if a.status_code == 400:
            assert a.json()["error"]["type"] == "resource_already_exists_exception", a.text
    uuids = {get_index(u, "cl_race")["settings"]["index"]["uuid"] for u in urls}
    assert len(uuids) == 1


def test_mapping_change_through_one_node_is_seen_by_all(cluster):
    n1, n2, n3 = cluster.urls()
    assert requests.put(f"{n1}/cl_mapped", json=BODY, timeout=60).status_code == 200
    r = requests.put(f"{n2}/cl_mapped/_mapping", json={"properties": {"year": {"type": "long"}}}, timeout=60)
    assert r.status_code == 200, r.text
    for url in (n1, n2, n3):
        props = requests.get(f"{url}/cl_mapped/_mapping", timeout=30).json()["cl_mapped"]["mappings"]["properties"]
        assert props["year"]["type"] == "long", url
    # The same field with another type, through a third node: the cluster's mapping decides.
    r = requests.put(f"{n3}/cl_mapped/_mapping", json={"properties": {"year": {"type": "keyword"}}}, timeout=60)
    assert r.status_code == 400, r.text
    assert r.json()["error"]["type"] in ("illegal_argument_exception", "mapper_parsing_exception"), r.text


def test_deleted_through_one_node_is_gone_everywhere(cluster):
    n1, n2, n3 = cluster.urls()
    assert requests.put(f"{n1}/cl_gone", json=BODY, timeout=60).status_code == 200
    r = requests.delete(f"{n3}/cl_gone", timeout=60)
    assert r.status_code == 200, r.text
    for url in (n1, n2, n3):
        r = requests.get(f"{url}/cl_gone", timeout=30)
        assert r.status_code == 404, (url, r.text)
        assert r.json()["error"]["type"] == "index_not_found_exception"
    # The name is free again in the cluster.
    assert requests.put(f"{n2}/cl_gone", json=BODY, timeout=60).status_code == 200


def test_a_node_started_later_and_a_node_back_from_down_catch_up(etcd, cluster, tmp_path):
    n1, n2, n3 = cluster.urls()
    assert requests.put(f"{n1}/cl_early", json=BODY, timeout=60).status_code == 200
    late = Server(tmp_path / "late", extra_args=node_args(etcd.url, cluster.name, "node-late")).start()
    try:
        assert get_index(late.url, "cl_early")["settings"]["index"]["uuid"] == \
            get_index(n1, "cl_early")["settings"]["index"]["uuid"]
        late.stop()
        # While it is down: one index deleted, one created.
        assert requests.delete(f"{n2}/cl_early", timeout=60).status_code == 200
        assert requests.put(f"{n2}/cl_meanwhile", json=BODY, timeout=60).status_code == 200
        late.start()
        assert requests.get(f"{late.url}/cl_early", timeout=30).status_code == 404
        assert get_index(late.url, "cl_meanwhile")["settings"]["index"]["uuid"] == \
            get_index(n3, "cl_meanwhile")["settings"]["index"]["uuid"]
    finally:
        late.stop()


def test_whole_cluster_restart_keeps_the_indices(etcd_factory, cluster_factory):
    etcd = etcd_factory()
    c = cluster_factory(etcd, 3)
    c.wait_for_nodes(3)
    assert requests.put(f"{c.nodes[0].url}/cl_kept", json=BODY, timeout=60).status_code == 200
    uuid = get_index(c.nodes[0].url, "cl_kept")["settings"]["index"]["uuid"]
    c.restart()
    for url in c.urls():
        assert get_index(url, "cl_kept")["settings"]["index"]["uuid"] == uuid


def test_etcd_down_blocks_index_changes_and_reads_keep_working(etcd_factory, cluster_factory):
    etcd = etcd_factory()
    c = cluster_factory(etcd, 2)
    c.wait_for_nodes(2)
    n1, n2 = c.urls()
    assert requests.put(f"{n1}/cl_before", json=BODY, timeout=60).status_code == 200
    get_index(n2, "cl_before")
    etcd.stop()
    try:
        r = requests.put(f"{n2}/cl_during", json=BODY, timeout=60)
        assert r.status_code == 503, r.text
        assert r.json()["error"]["type"] == "cluster_block_exception"
        assert "etcd" in r.json()["error"]["reason"]
        # Nothing kept locally.
        assert requests.get(f"{n2}/cl_during", timeout=30).status_code == 404
        r = requests.delete(f"{n1}/cl_before", timeout=60)
        assert r.status_code == 503 and r.json()["error"]["type"] == "cluster_block_exception", r.text
        # Document writes too: without etcd a node cannot know it still holds the shard.
        r = requests.put(f"{n2}/cl_before/_doc/during", json={"a": 1}, timeout=60)
        assert r.status_code == 503 and r.json()["error"]["type"] == "cluster_block_exception", r.text
        assert "etcd" in r.json()["error"]["reason"]
        bulk = '{"index": {"_index": "cl_before", "_id": "during"}}\n{"a": 1}\n'
        r = requests.post(f"{n1}/_bulk", data=bulk, headers={"Content-Type": "application/x-ndjson"}, timeout=60)
        assert r.status_code == 503 and r.json()["error"]["type"] == "cluster_block_exception", r.text
        for url in (n1, n2):
            get_index(url, "cl_before")
            r = requests.post(f"{url}/cl_before/_search", json={"query": {"match_all": {}}}, timeout=30)
            assert r.status_code == 200, r.text
    finally:
        etcd.start()
    c.wait_for_nodes(2)
    # Once etcd answers again, so do writes (the first calls may still meet its restart).
    for _ in range(100):
        r = requests.put(f"{n2}/cl_before/_doc/after", json={"a": 2}, params={"refresh": "true"}, timeout=60)
        if r.status_code != 503:
            break
        time.sleep(0.2)
    assert r.status_code == 201, r.text
    for url in (n1, n2):
        assert requests.get(f"{url}/cl_before/_doc/after", timeout=30).json()["_source"] == {"a": 2}
        assert requests.get(f"{url}/cl_before/_doc/during", timeout=30).status_code == 404
