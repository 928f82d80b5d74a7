"""The node-level `_cat` APIs with opensearch-py against the real server: `cluster_manager`
and `master`, `count`, `allocation`, `segments`, `plugins`, `pending_tasks`, with `v`, `h`,
`s`, `help`, `format=json` and `bytes`. Expected values come from the test's own data and
from the other APIs' answers (`_nodes`, `_stats`). The server is the module's own, so the
node-wide tables hold only this module's indices."""
import json
import re
import subprocess
from pathlib import Path

import pytest
import requests
from opensearchpy import RequestError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rest-api.md"


@pytest.fixture(scope="module")
def srv(server_factory):
    return server_factory()


@pytest.fixture(scope="module")
def client(srv):
    return srv.client()


@pytest.fixture()
def indices(client):
    """`cat-a`: 2 shards, 1 replica, 5 docs; `cat-b`: 1 shard, 0 replicas, 3 docs, one
    refresh per document (3 segments)."""
    client.indices.create(index="cat-a", body={"settings": {"number_of_shards": 2, "number_of_replicas": 1}})
    client.indices.create(index="cat-b", body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}})
    for i in range(5):
        client.index(index="cat-a", id=str(i), body={"n": i})
    for i in range(3):
        client.index(index="cat-b", id=str(i), body={"n": i}, refresh=True)
    client.indices.refresh(index="cat-*")
    yield {"cat-a": (2, 1, 5), "cat-b": (1, 0, 3)}
    client.indices.delete(index="cat-*")


def test_cluster_manager_and_master(client, srv):
    nodes = client.nodes.info()["nodes"]
    (node_id,) = nodes
    name = nodes[node_id]["name"]
    rows = client.cat.cluster_manager(format="json")
    assert len(rows) == 1 and rows[0]["id"] == node_id and rows[0]["node"] == name
    assert rows[0]["ip"] == nodes[node_id]["ip"]
    text = client.cat.cluster_manager(v=True)
    header, line = text.splitlines()
    assert header.split() == ["id", "host", "ip", "node"]
    assert line.split() == [node_id, rows[0]["host"], rows[0]["ip"], name]
    r = requests.get(srv.url + "/_cat/master", params={"h": "node"})
    assert r.status_code == 200 and r.text.strip() == name
    assert "deprecated" in r.headers["Warning"] and "_cat/cluster_manager" in r.headers["Warning"]
    assert client.cat.cluster_manager(h="n") == name + "\n"


def test_count(client, indices):
    total = sum(docs for _, _, docs in indices.values())
    (row,) = client.cat.count(format="json")
    assert int(row["count"]) == total
    (row,) = client.cat.count(index="cat-a", format="json", h="count")
    assert row == {"count": str(indices["cat-a"][2])}
    header, line = client.cat.count(index="cat-b", v=True).splitlines()
    assert header.split() == ["epoch", "timestamp", "count"]
    epoch, ts, count = line.split()
    assert int(count) == indices["cat-b"][2] and re.fullmatch(r"\d\d:\d\d:\d\d", ts) and int(epoch) > 0
    with pytest.raises(Exception):
        client.cat.count(index="cat-none")


def test_allocation(client, indices):
    client.indices.flush(index="cat-*")
    primaries = sum(shards for shards, _, _ in indices.values())
    unassigned = sum(shards * replicas for shards, replicas, _ in indices.values())
    rows = client.cat.allocation(format="json", bytes="b")
    by_node = {r["node"]: r for r in rows}
    (node_id,) = client.nodes.info()["nodes"]
    name = client.nodes.info()["nodes"][node_id]["name"]
    assert set(by_node) == {name, "UNASSIGNED"}
    assert int(by_node[name]["shards"]) == primaries
    assert int(by_node["UNASSIGNED"]["shards"]) == unassigned
    stored = client.indices.stats(index="cat-*", metric="store")["_all"]["total"]["store"]["size_in_bytes"]
    assert int(by_node[name]["disk.indices"]) == stored
    # By node: the node's own row only.
    assert [r["node"] for r in client.cat.allocation(node_id=node_id, format="json")] == [name]
    assert client.cat.allocation(node_id="no-such-node", format="json") == []


def test_segments(client, indices):
    rows = client.cat.segments(index="cat-b", format="json", bytes="b")
    assert len(rows) == 3 and {r["index"] for r in rows} == {"cat-b"}
    assert sum(int(r["docs.count"]) for r in rows) == indices["cat-b"][2]
    assert sorted(int(r["generation"]) for r in rows) == [0, 1, 2]
    assert all(r["committed"] == "true" and r["searchable"] == "true" and r["prirep"] == "p" for r in rows)
    assert all(int(r["size"]) > 0 for r in rows)
    # Every shard of cat-a has its documents in some segment.
    a_rows = client.cat.segments(index="cat-a", format="json")
    assert {r["shard"] for r in a_rows} <= {"0", "1"}
    assert sum(int(r["docs.count"]) for r in a_rows) == indices["cat-a"][2]
    client.delete(index="cat-b", id="0", refresh=True)
    rows = client.cat.segments(index="cat-b", format="json")
    # tantivy drops a segment whose every document is deleted, so the delete shows as a
    # deleted document or as a segment fewer.
    assert sum(int(r["docs.deleted"]) for r in rows) + (3 - len(rows)) == 1
    assert sum(int(r["docs.count"]) for r in rows) == indices["cat-b"][2] - 1
    client.indices.forcemerge(index="cat-b", max_num_segments=1)
    (row,) = client.cat.segments(index="cat-b", format="json")
    assert (row["docs.count"], row["docs.deleted"]) == (str(indices["cat-b"][2] - 1), "0")
    # h and s by short names.
    text = client.cat.segments(h="i,dc", s="i:desc")
    assert [line.split()[0] for line in text.splitlines()] == sorted((r.split()[0] for r in text.splitlines()), reverse=True)


def test_plugins_and_pending_tasks_are_empty(client):
    assert client.cat.plugins(format="json") == []
    assert client.cat.plugins(v=True).split() == ["name", "component", "version"]
    assert client.cat.pending_tasks(format="json") == []
    assert client.cat.pending_tasks(v=True).split() == ["insertOrder", "timeInQueue", "priority", "source"]


def test_help_and_bad_headers(client):
    names = [line.split("|")[0].strip() for line in client.cat.segments(help=True).splitlines()]
    assert names[:3] == ["index", "shard", "prirep"] and "docs.deleted" in names
    with pytest.raises(RequestError) as e:
        client.cat.count(h="nope")
    assert e.value.info["error"]["type"] == "illegal_argument_exception"
    with pytest.raises(RequestError) as e:
        client.transport.perform_request("GET", "/_cat/plugins", params={"bogus": "1"})
    assert "unrecognized parameter: [bogus]" in e.value.info["error"]["reason"]


def test_docs_example(server_factory):
    doc = DOCS.read_text()
    section = doc.split("<!-- rest-api:cat:begin -->")[1].split("<!-- rest-api:cat:end -->")[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    srv = server_factory()
    script = "set -e\n" + block.replace("localhost:9200", srv.url.removeprefix("http://"))
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    node_id = next(iter(srv.client().nodes.info()["nodes"]))
    # The cluster manager (with its header), the count, the segments as JSON.
    assert lines[0].split() == ["id", "host", "ip", "node"] and lines[1].split()[0] == node_id
    assert lines[2].strip() == "2"
    segments = json.loads(lines[3])
    assert sum(int(s["docs.count"]) for s in segments) == 2


def test_cluster_pending_tasks(client):
    assert client.cluster.pending_tasks() == {"tasks": []}
    assert client.cluster.pending_tasks(local=True) == {"tasks": []}
