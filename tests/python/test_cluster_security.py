"""Security in cluster mode (issues 13 and 18): the node a client calls authenticates and
authorizes the request; the calls it then makes to other nodes (forwarded writes and GETs,
shard query/fetch phases, split `_bulk`) carry the cluster secret instead of the user's
credentials, and a node accepts them on the secret only. Without a secret, a node refuses to
start with security on. Expected documents and counts are the ones the test wrote."""
import json
import secrets
import subprocess

import pytest
import requests

from cluster_helpers import free_port, node_args
from conftest import quidditch_bin

ADMIN = ("admin", "cluster-admin-pw-1")
SECRET = secrets.token_hex(16)
INDEX = "sec_dist"
SHARDS = 4
NDJSON = {"Content-Type": "application/x-ndjson"}


@pytest.fixture(scope="module")
def secure_cluster(etcd, cluster_factory):
    config = {"security": {"enabled": True, "admin_password": ADMIN[1]}}
    c = cluster_factory(etcd, 2, config=config, extra_args=["--cluster-secret", SECRET])
    for url in c.urls():
        r = requests.get(f"{url}/_cluster/health", params={"wait_for_nodes": "2", "timeout": "30s"}, auth=ADMIN, timeout=60)
        assert r.status_code == 200 and r.json()["number_of_nodes"] == 2, r.text
    n1 = c.urls()[0]
    r = requests.put(f"{n1}/{INDEX}", auth=ADMIN, timeout=60, json={
        "settings": {"number_of_shards": SHARDS, "number_of_replicas": 0},
        "mappings": {"properties": {"n": {"type": "long"}}}})
    assert r.status_code == 200, r.text
    return c


def holders(url):
    rows = requests.get(f"{url}/_cat/shards/{INDEX}", params={"format": "json"}, auth=ADMIN, timeout=30).json()
    return {int(r["shard"]): r["node"] for r in rows if r["prirep"] == "p"}


def test_writes_gets_and_searches_cross_nodes_with_security_on(secure_cluster):
    n1, n2 = secure_cluster.urls()
    # The shards are on both nodes, so some of the writes below must be forwarded.
    assert set(holders(n1).values()) == {"node-1", "node-2"}
    single = {f"s{i}": {"n": i} for i in range(40)}
    for doc_id, doc in single.items():
        r = requests.put(f"{n1}/{INDEX}/_doc/{doc_id}", json=doc, auth=ADMIN, timeout=30)
        assert r.status_code == 201, r.text
    bulk = {f"b{i}": {"n": 1000 + i} for i in range(40)}
    lines = []
    for doc_id, doc in bulk.items():
        lines += [json.dumps({"index": {"_index": INDEX, "_id": doc_id}}), json.dumps(doc)]
    r = requests.post(f"{n2}/_bulk", params={"refresh": "true"}, data="\n".join(lines) + "\n", headers=NDJSON,
                      auth=ADMIN, timeout=60)
    assert r.status_code == 200 and not r.json()["errors"], r.text
    requests.post(f"{n1}/{INDEX}/_refresh", auth=ADMIN, timeout=60).raise_for_status()
    everything = {**single, **bulk}
    for url in (n1, n2):
        for doc_id, doc in everything.items():
            r = requests.get(f"{url}/{INDEX}/_doc/{doc_id}", auth=ADMIN, timeout=30)
            assert r.status_code == 200 and r.json()["_source"] == doc, (url, doc_id, r.text)
        answer = requests.post(f"{url}/{INDEX}/_search", auth=ADMIN, timeout=60,
                               json={"size": 100, "query": {"range": {"n": {"gte": 20}}}}).json()
        assert answer["_shards"] == {"total": SHARDS, "successful": SHARDS, "skipped": 0, "failed": 0}, answer
        assert sorted(h["_id"] for h in answer["hits"]["hits"]) == sorted(k for k, v in everything.items() if v["n"] >= 20)
        r = requests.post(f"{url}/{INDEX}/_count", auth=ADMIN, timeout=60, json={"query": {"match_all": {}}})
        assert r.json()["count"] == len(everything), r.text


def test_clients_still_need_credentials_on_every_node(secure_cluster):
    for url in secure_cluster.urls():
        r = requests.get(f"{url}/{INDEX}/_doc/s1", timeout=30)
        assert r.status_code == 401 and r.json()["error"]["type"] == "security_exception", r.text


def test_a_forged_node_to_node_call_is_refused(secure_cluster):
    n1, n2 = secure_cluster.urls()
    forged = {"x-quidditch-forwarded-by": "node-1", "x-quidditch-cluster-secret": "not-" + SECRET}
    # Without credentials, a wrong secret is just an unauthenticated request.
    r = requests.put(f"{n2}/{INDEX}/_doc/forged", json={"n": -1}, headers=forged, timeout=30)
    assert r.status_code == 401, r.text
    # Even the admin cannot pretend to be a node: node-to-node routes need the secret.
    r = requests.post(f"{n2}/_quidditch/shards/{INDEX}/_query", json={}, headers=forged, auth=ADMIN, timeout=30)
    assert r.status_code == 401 and "cluster secret" in r.json()["error"]["reason"], r.text
    r = requests.get(f"{n1}/{INDEX}/_doc/forged", auth=ADMIN, timeout=30)
    assert r.status_code == 404, r.text


def test_security_in_cluster_mode_without_a_secret_refuses_to_start(etcd, tmp_path):
    config = tmp_path / "config.json"
    config.write_text(json.dumps({"security": {"enabled": True, "admin_password": ADMIN[1]}}))
    run = subprocess.run(
        [quidditch_bin(), "serve", "--listen", f"127.0.0.1:{free_port()}", "--data-dir", str(tmp_path / "data"),
         "--config", str(config), *node_args(etcd.url, "sec-no-secret", "node-1")],
        capture_output=True, text=True, timeout=120,
    )
    assert run.returncode == 1, run.stderr
    assert "--cluster-secret" in run.stderr
