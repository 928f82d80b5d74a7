"""Cluster mode on etcd (issue 13): a real etcd and real `quidditch serve --etcd` nodes.

Membership with leases, the cluster-manager election, `_cluster/health`, `_cat/nodes`,
`/_nodes`, and the start-up errors. Expected values come from what the test started (node
names, counts), never from the server under test."""
import re
import subprocess
import time

import pytest
import requests

from cluster_helpers import free_port, node_args
from conftest import Server, quidditch_bin


def cat_nodes(url):
    r = requests.get(f"{url}/_cat/nodes", params={"h": "name,cluster_manager,ip,node.role", "format": "json"}, timeout=30)
    assert r.status_code == 200, r.text
    return r.json()


def managers(url):
    return [row["name"] for row in cat_nodes(url) if row["cluster_manager"] == "*"]


def wait_until(condition, timeout=30.0, what="condition"):
    deadline = time.time() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.1)


def test_every_node_sees_the_three_members(cluster):
    names = {f"node-{i}" for i in range(1, 4)}
    for node in cluster.nodes:
        # The election result reaches each node through its etcd watch, which can trail the
        # node's first answer right after start: wait for it, then check the whole health body.
        h = wait_until(
            lambda: (lambda b: b if b["discovered_cluster_manager"] else None)(
                requests.get(f"{node.url}/_cluster/health", timeout=30).json()
            ),
            what=f"{node.url} to see the elected cluster manager",
        )
        assert h["cluster_name"] == cluster.name
        assert h["number_of_nodes"] == 3
        assert h["number_of_data_nodes"] == 3
        assert h["discovered_cluster_manager"] is True
        assert {row["name"] for row in cat_nodes(node.url)} == names
        root = requests.get(node.url, timeout=30).json()
        assert root["cluster_name"] == cluster.name
    assert [requests.get(n.url, timeout=30).json()["name"] for n in cluster.nodes] == ["node-1", "node-2", "node-3"]


def test_exactly_one_manager_and_all_nodes_agree(cluster):
    wait_until(lambda: all(managers(n.url) for n in cluster.nodes), what="every node to see a manager")
    seen = [managers(n.url) for n in cluster.nodes]
    assert all(len(m) == 1 for m in seen), seen
    assert len({m[0] for m in seen}) == 1, seen


def test_cat_nodes_text_columns(cluster):
    text = requests.get(f"{cluster.nodes[0].url}/_cat/nodes", params={"v": "true"}, timeout=30).text
    lines = text.strip().splitlines()
    assert lines[0].split() == [
        "ip", "heap.percent", "ram.percent", "cpu", "load_1m", "load_5m", "load_15m", "node.role", "node.roles",
        "cluster_manager", "name",
    ]
    assert len(lines) == 4
    for line in lines[1:]:
        assert re.match(r"^127\.0\.0\.1\s+\d+\s+\d+\s+", line), line
    assert sum(1 for line in lines[1:] if " * " in line) == 1


def test_nodes_info_and_stats_cover_every_member(cluster):
    info = requests.get(f"{cluster.nodes[1].url}/_nodes", timeout=30).json()
    assert info["_nodes"] == {"total": 3, "successful": 3, "failed": 0}
    by_name = {n["name"]: (node_id, n) for node_id, n in info["nodes"].items()}
    assert set(by_name) == {"node-1", "node-2", "node-3"}
    for node in cluster.nodes:
        _, entry = by_name[requests.get(node.url, timeout=30).json()["name"]]
        assert node.url.endswith(entry["http"]["publish_address"])
        assert entry["roles"] == ["cluster_manager", "data", "ingest", "remote_cluster_client"]
    local = requests.get(f"{cluster.nodes[2].url}/_nodes/_local", timeout=30).json()
    assert [n["name"] for n in local["nodes"].values()] == ["node-3"]
    only = requests.get(f"{cluster.nodes[0].url}/_nodes/node-2", timeout=30).json()
    assert [n["name"] for n in only["nodes"].values()] == ["node-2"]
    stats = requests.get(f"{cluster.nodes[0].url}/_nodes/stats", timeout=30).json()
    assert stats["_nodes"]["successful"] == 3 and stats["_nodes"]["failed"] == 0
    assert {n["name"] for n in stats["nodes"].values()} == {"node-1", "node-2", "node-3"}
    for entry in stats["nodes"].values():
        assert entry["process"]["mem"]["resident_in_bytes"] > 0
    # Node ids are the same whichever node is asked.
    again = requests.get(f"{cluster.nodes[2].url}/_nodes", timeout=30).json()
    assert set(again["nodes"]) == set(info["nodes"])


def test_wait_for_nodes_times_out_when_unmet(cluster):
    r = requests.get(
        f"{cluster.nodes[0].url}/_cluster/health", params={"wait_for_nodes": "4", "timeout": "300ms"}, timeout=30
    )
    assert r.status_code == 408
    assert r.json()["timed_out"] is True
    assert r.json()["number_of_nodes"] == 3


def test_manager_leaves_and_another_is_elected_then_rejoin(etcd, cluster_factory):
    c = cluster_factory(etcd, 3)
    c.wait_for_nodes(3)
    first = wait_until(lambda: managers(c.nodes[0].url), what="a manager")[0]
    leaving = next(n for n in c.nodes if requests.get(n.url, timeout=30).json()["name"] == first)
    rest = [n for n in c.nodes if n is not leaving]
    leaving.stop()  # clean stop: the lease is revoked at once
    for n in rest:
        h = requests.get(f"{n.url}/_cluster/health", params={"wait_for_nodes": "2", "timeout": "30s"}, timeout=60)
        assert h.status_code == 200, h.text
    new = wait_until(lambda: managers(rest[0].url), what="a new manager")
    assert new[0] != first and new[0] in {f"node-{i}" for i in range(1, 4)}
    wait_until(lambda: managers(rest[1].url) == new, what="both nodes to agree on the new manager")
    leaving.start()
    c.wait_for_nodes(3)
    # The returning node does not take the role back: etcd's election keeps the oldest candidate.
    assert all(managers(n.url) == new for n in c.nodes)


def test_a_killed_node_leaves_when_its_lease_expires(etcd, cluster_factory):
    c = cluster_factory(etcd, 2)
    c.wait_for_nodes(2)
    c.nodes[1].kill()  # no chance to revoke the lease: etcd expires it after its TTL
    h = requests.get(f"{c.nodes[0].url}/_cluster/health", params={"wait_for_nodes": "1", "timeout": "30s"}, timeout=60)
    assert h.status_code == 200, h.text
    assert managers(c.nodes[0].url) == ["node-1"]


def test_etcd_unreachable_at_start_exits_naming_the_endpoint(tmp_path):
    endpoint = f"http://127.0.0.1:{free_port()}"
    proc = subprocess.run(
        [quidditch_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
         *node_args(endpoint, "c", "n1")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert f"cannot reach etcd at {endpoint}" in proc.stderr, proc.stderr


def test_a_second_node_with_a_taken_name_is_refused(etcd, cluster, tmp_path):
    proc = subprocess.run(
        [quidditch_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
         *node_args(etcd.url, cluster.name, "node-2")],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode != 0
    assert "node name [node-2] is already in use" in proc.stderr, proc.stderr
    cluster.wait_for_nodes(3)


def test_cluster_flags_need_etcd(tmp_path):
    proc = subprocess.run(
        [quidditch_bin(), "serve", "--data-dir", str(tmp_path / "d"), "--node-name", "n1"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "--etcd" in proc.stderr
    proc = subprocess.run(
        [quidditch_bin(), "serve", "--data-dir", str(tmp_path / "d"), "--etcd", "http://127.0.0.1:1", "--node-name", "n1"],
        capture_output=True, text=True, timeout=60,
    )
    assert proc.returncode == 2
    assert "--cluster-name" in proc.stderr


def test_single_node_lists_itself_as_manager(server):
    rows = cat_nodes(server.url)
    assert len(rows) == 1 and rows[0]["cluster_manager"] == "*"
    info = requests.get(f"{server.url}/_nodes", timeout=30).json()
    assert info["_nodes"]["total"] == 1
    (entry,) = info["nodes"].values()
    assert entry["name"] == rows[0]["name"]
    h = requests.get(f"{server.url}/_cluster/health", timeout=30).json()
    assert h["number_of_nodes"] == 1
