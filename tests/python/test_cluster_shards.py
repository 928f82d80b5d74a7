"""Shard allocation by the elected cluster manager (issue 13, step c.2): an allocation record
per index in etcd, balanced by shard count over the live nodes; every node reports the same
placement in `_cat/shards`, `_cluster/state` and `_cluster/health`; a shard whose node left is
unassigned (no replicas: its data is only there) until the node comes back; a node started
later receives the shards of indices created after it joined; a whole-cluster restart keeps
the placement. Expected values come from the nodes' own `_nodes` answers and the settings the
test sent."""
from collections import Counter

import requests

from cluster_helpers import node_args
from conftest import Server


def create(url, name, shards):
    r = requests.put(f"{url}/{name}", json={"settings": {"number_of_shards": shards, "number_of_replicas": 0}}, timeout=60)
    assert r.status_code == 200, r.text


def primaries(url, name):
    rows = requests.get(f"{url}/_cat/shards/{name}", params={"format": "json"}, timeout=30).json()
    return sorted((r for r in rows if r["prirep"] == "p"), key=lambda r: int(r["shard"]))


def placement(url, name):
    """shard number -> node name (None when unassigned), as `_cat/shards` shows it."""
    return {int(r["shard"]): (r.get("node") if r["state"] == "STARTED" else None) for r in primaries(url, name)}


def node_ids(url):
    return {n["name"]: node_id for node_id, n in requests.get(f"{url}/_nodes", timeout=30).json()["nodes"].items()}


def health(url, name, **params):
    r = requests.get(f"{url}/_cluster/health/{name}", params=params, timeout=60)
    return r.status_code, r.json()


def test_six_shards_over_three_nodes_are_balanced_and_every_node_agrees(cluster):
    n1, n2, n3 = cluster.urls()
    create(n1, "al_six", 6)
    seen = placement(n1, "al_six")
    assert sorted(seen) == list(range(6))
    assert Counter(seen.values()) == {"node-1": 2, "node-2": 2, "node-3": 2}
    for url in (n2, n3):
        assert placement(url, "al_six") == seen
    # Each node reports the documents of the shards it holds only.
    for url, name in zip(cluster.urls(), ["node-1", "node-2", "node-3"]):
        for row in primaries(url, "al_six"):
            assert (row.get("docs") not in (None, "")) == (row["node"] == name), (url, row)


def test_the_next_index_fills_the_least_loaded_nodes(cluster):
    n1, n2, _ = cluster.urls()
    before = Counter()
    for row in requests.get(f"{n1}/_cat/shards", params={"format": "json"}, timeout=30).json():
        if row["prirep"] == "p" and row["state"] == "STARTED":
            before[row["node"]] += 1
    create(n2, "al_two", 2)
    after = before + Counter(placement(n1, "al_two").values())
    assert sum(after.values()) == sum(before.values()) + 2
    assert max(after.values()) - min(after.values()) <= max(1, max(before.values()) - min(before.values()))


def test_cluster_state_routing_table_and_health_follow_the_allocation(cluster):
    n1, _, n3 = cluster.urls()
    create(n1, "al_state", 3)
    ids = node_ids(n3)
    seen = placement(n1, "al_state")
    state = requests.get(f"{n3}/_cluster/state", timeout=30).json()
    assert state["cluster_name"] == cluster.name
    manager = [r["name"] for r in requests.get(f"{n3}/_cat/nodes", params={"format": "json", "h": "name,cluster_manager"},
                                               timeout=30).json() if r["cluster_manager"] == "*"]
    assert state["master_node"] == state["cluster_manager_node"] == ids[manager[0]]
    assert set(state["nodes"]) == set(ids.values())
    table = state["routing_table"]["indices"]["al_state"]["shards"]
    assert {int(n): copies[0]["node"] for n, copies in table.items()} == {n: ids[name] for n, name in seen.items()}
    assert all(copies[0]["state"] == "STARTED" and copies[0]["primary"] for copies in table.values())
    meta = state["metadata"]["indices"]["al_state"]
    assert meta["state"] == "open" and meta["settings"]["index"]["number_of_shards"] == "3"
    # A metric and an index narrow the answer.
    only = requests.get(f"{n1}/_cluster/state/routing_table/al_state", timeout=30).json()
    assert set(only["routing_table"]["indices"]) == {"al_state"} and "metadata" not in only
    r = requests.get(f"{n1}/_cluster/state/bogus", timeout=30)
    assert r.status_code == 400 and r.json()["error"]["type"] == "illegal_argument_exception"
    status, h = health(n3, "al_state")
    assert status == 200 and h["status"] == "green"
    assert h["active_primary_shards"] == 3 and h["unassigned_shards"] == 0


def test_a_node_that_leaves_leaves_its_shards_unassigned_until_it_is_back(etcd, cluster_factory):
    c = cluster_factory(etcd, 3)
    c.wait_for_nodes(3)
    n1 = c.nodes[0].url
    create(n1, "al_leave", 6)
    held = Counter(placement(n1, "al_leave").values())
    gone = c.nodes[2]
    gone.kill()
    # The lease expires (≈ 5 s): wait for health to see the node gone, bounded by the server.
    status, h = health(n1, "al_leave", wait_for_nodes="2", timeout="30s")
    assert status == 200, h
    status, h = health(n1, "al_leave")
    assert h["status"] == "red"
    assert h["unassigned_shards"] == held["node-3"]
    assert h["active_primary_shards"] == 6 - held["node-3"]
    unassigned = [s for s, node in placement(n1, "al_leave").items() if node is None]
    assert len(unassigned) == held["node-3"]
    gone.start()
    status, h = health(n1, "al_leave", wait_for_status="green", timeout="30s")
    assert status == 200 and h["status"] == "green", h
    assert Counter(placement(n1, "al_leave").values()) == held


def test_a_node_started_later_gets_shards_of_new_indices(etcd, cluster_factory, tmp_path):
    c = cluster_factory(etcd, 2)
    c.wait_for_nodes(2)
    n1 = c.nodes[0].url
    create(n1, "al_early", 4)
    late = Server(tmp_path / "late", extra_args=node_args(etcd.url, c.name, "node-late")).start()
    try:
        status, _ = health(n1, "al_early", wait_for_nodes="3", timeout="30s")
        assert status == 200
        # Existing shards hold data and stay; the new index goes to the emptiest node first.
        assert "node-late" not in placement(late.url, "al_early").values()
        create(late.url, "al_late", 3)
        counts = Counter(placement(n1, "al_late").values())
        assert counts["node-late"] >= 1
        assert placement(late.url, "al_late") == placement(n1, "al_late")
    finally:
        late.stop()


def test_whole_cluster_restart_keeps_the_placement(etcd_factory, cluster_factory):
    etcd = etcd_factory()
    c = cluster_factory(etcd, 3)
    c.wait_for_nodes(3)
    create(c.nodes[0].url, "al_kept", 6)
    before = placement(c.nodes[0].url, "al_kept")
    c.restart()
    status, _ = health(c.nodes[1].url, "al_kept", wait_for_status="green", timeout="30s")
    assert status == 200
    for url in c.urls():
        assert placement(url, "al_kept") == before
