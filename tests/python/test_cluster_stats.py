"""`GET /_cluster/stats`, driven with opensearch-py against a server of its own: index and
document counts equal what the test wrote, node counts and memory agree with `_nodes/stats`, and
the status is the one `_cluster/health` reports."""


def test_cluster_stats_counts_what_was_written(server_factory):
    client = server_factory().client()
    shards = {"cs-a": 2, "cs-b": 1}
    docs = {"cs-a": 5, "cs-b": 3}
    for name, n in shards.items():
        client.indices.create(index=name, body={"settings": {"number_of_shards": n, "number_of_replicas": 0}})
        for i in range(docs[name]):
            client.index(index=name, id=str(i), body={"i": i})
    client.delete(index="cs-a", id="0")
    client.indices.refresh(index="cs-a,cs-b")
    stats = client.cluster.stats()
    nodes = client.nodes.stats()
    assert stats["status"] == client.cluster.health()["status"]
    assert stats["cluster_name"] == nodes["cluster_name"]
    assert stats["indices"]["count"] == len(shards)
    assert stats["indices"]["shards"]["total"] == sum(shards.values())
    assert stats["indices"]["docs"]["count"] == sum(docs.values()) - 1
    assert stats["indices"]["store"]["size_in_bytes"] > 0
    count = stats["nodes"]["count"]
    assert count["total"] == len(nodes["nodes"]) == 1
    assert count["cluster_manager"] == count["master"] == count["data"] == 1
    mem = stats["nodes"]["os"]["mem"]
    (node,) = nodes["nodes"].values()
    assert mem["total_in_bytes"] == node["os"]["mem"]["total_in_bytes"]
    assert mem["used_in_bytes"] + mem["free_in_bytes"] == mem["total_in_bytes"]
    assert stats["nodes"]["discovery_types"] == {"single-node": 1}
    (only,) = nodes["nodes"]
    assert client.cluster.stats(node_id=only)["nodes"]["count"]["total"] == 1
    assert client.cluster.stats(node_id="no-such-node")["nodes"]["count"]["total"] == 0
