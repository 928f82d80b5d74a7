"""Index APIs, cluster info/health and _cat, driven with opensearch-py against the real server."""
import pytest
from opensearchpy import NotFoundError, RequestError

MAPPING = {
    "properties": {
        "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
        "tag": {"type": "keyword"},
        "views": {"type": "long"},
        "rank": {"type": "integer"},
        "small": {"type": "short"},
        "tiny": {"type": "byte"},
        "price": {"type": "double"},
        "ratio": {"type": "float"},
        "active": {"type": "boolean"},
        "published": {"type": "date"},
        "user": {"properties": {"name": {"type": "keyword"}, "bio": {"type": "text"}}},
    }
}


def test_info_is_accepted_by_the_official_client(client):
    info = client.info()
    assert info["version"]["distribution"] == "opensearch"
    assert info["version"]["number"].startswith("2.")
    assert info["cluster_name"]
    assert client.ping()


def test_create_get_exists_delete_index(client):
    name = "idx-lifecycle"
    resp = client.indices.create(index=name, body={"settings": {"number_of_shards": 1, "number_of_replicas": 0}, "mappings": MAPPING})
    assert resp == {"acknowledged": True, "shards_acknowledged": True, "index": name}
    assert client.indices.exists(index=name)
    got = client.indices.get(index=name)[name]
    assert got["mappings"]["properties"]["title"]["fields"]["keyword"]["type"] == "keyword"
    assert got["mappings"]["properties"]["user"]["properties"]["bio"]["type"] == "text"
    assert got["settings"]["index"]["number_of_replicas"] == "0"
    assert len(got["settings"]["index"]["uuid"]) == 22
    with pytest.raises(RequestError) as e:
        client.indices.create(index=name)
    assert e.value.status_code == 400
    assert e.value.error == "resource_already_exists_exception"
    assert client.indices.delete(index=name) == {"acknowledged": True}
    assert not client.indices.exists(index=name)


@pytest.mark.parametrize("bad", ["UPPER", "_under", "-dash", "has space", "a*b", "a,b", "q?", ".."])
def test_invalid_index_names_are_rejected(client, bad):
    with pytest.raises(RequestError) as e:
        client.indices.create(index=bad)
    assert e.value.status_code == 400
    assert e.value.error == "invalid_index_name_exception"


def test_unknown_index_is_404_with_index_in_error(http):
    for method, path in [("get", "/nope-idx"), ("get", "/nope-idx/_mapping"), ("get", "/nope-idx/_doc/1"),
                         ("delete", "/nope-idx"), ("post", "/nope-idx/_refresh"), ("get", "/nope-idx/_stats")]:
        r = getattr(http, method)(path)
        assert r.status_code == 404, (method, path)
        err = r.json()["error"]
        assert err["type"] == "index_not_found_exception"
        assert err["index"] == "nope-idx"
    assert http.head("/nope-idx").status_code == 404


def test_put_mapping_adds_fields_and_rejects_conflicts(client):
    name = "idx-put-mapping"
    client.indices.create(index=name, body={"mappings": {"properties": {"a": {"type": "long"}}}})
    assert client.indices.put_mapping(index=name, body={"properties": {"b": {"type": "keyword"}}})["acknowledged"]
    props = client.indices.get_mapping(index=name)[name]["mappings"]["properties"]
    assert props == {"a": {"type": "long"}, "b": {"type": "keyword"}}
    with pytest.raises(RequestError) as e:
        client.indices.put_mapping(index=name, body={"properties": {"a": {"type": "text"}}})
    assert e.value.error == "illegal_argument_exception"
    assert "cannot be changed from type [long] to [text]" in e.value.info["error"]["reason"]
    with pytest.raises(RequestError) as e:
        client.indices.put_mapping(index=name, body={"properties": {"c": {"type": "no_such_type"}}})
    assert e.value.error == "mapper_parsing_exception"
    client.indices.delete(index=name)


def test_dynamic_mapping_follows_opensearch_inference(client):
    name = "idx-dynamic"
    client.index(index=name, id="1", body={"s": "hello", "n": 5, "f": 2.5, "b": True, "d": "2024-03-01T10:00:00Z",
                                     "o": {"inner": "x"}, "dotted.key": 1}, refresh=True)
    props = client.indices.get_mapping(index=name)[name]["mappings"]["properties"]
    assert props["s"] == {"type": "text", "fields": {"keyword": {"type": "keyword", "ignore_above": 256}}}
    assert props["n"] == {"type": "long"}
    assert props["f"] == {"type": "float"}
    assert props["b"] == {"type": "boolean"}
    assert props["d"] == {"type": "date"}
    assert props["o"]["properties"]["inner"]["type"] == "text"
    assert props["dotted"]["properties"]["key"] == {"type": "long"}
    client.indices.delete(index=name)


def test_settings_refresh_flush_stats(client):
    name = "idx-stats"
    client.indices.create(index=name, body={"settings": {"index": {"number_of_replicas": 0, "refresh_interval": "1s"}}})
    s = client.indices.get_settings(index=name)[name]["settings"]["index"]
    assert s["number_of_shards"] == "1" and s["refresh_interval"] == "1s"
    client.indices.put_settings(index=name, body={"index": {"refresh_interval": "5s"}})
    assert client.indices.get_settings(index=name)[name]["settings"]["index"]["refresh_interval"] == "5s"
    for i in range(5):
        client.index(index=name, id=str(i), body={"i": i})
    assert client.indices.refresh(index=name)["_shards"]["failed"] == 0
    assert client.indices.flush(index=name)["_shards"]["failed"] == 0
    stats = client.indices.stats(index=name)
    prim = stats["indices"][name]["primaries"]
    assert prim["docs"]["count"] == 5
    assert prim["store"]["size_in_bytes"] > 0
    assert stats["_all"]["primaries"]["docs"]["count"] == 5
    client.indices.delete(index=name)


def test_cluster_health_and_cat(client, http):
    name = "idx-cat"
    client.indices.create(index=name, body={"settings": {"number_of_replicas": 0}})
    client.index(index=name, id="1", body={"x": 1}, refresh=True)
    h = client.cluster.health(index=name, wait_for_status="green")
    assert h["status"] == "green" and h["timed_out"] is False and h["number_of_nodes"] == 1
    assert h["active_primary_shards"] >= 1
    rows = client.cat.indices(index=name, format="json")
    assert rows[0]["index"] == name and rows[0]["docs.count"] == "1" and rows[0]["health"] == "green"
    text = http.get(f"/_cat/indices/{name}?v").text.splitlines()
    assert text[0].split()[:3] == ["health", "status", "index"]
    assert text[1].split()[2] == name
    picked = http.get(f"/_cat/indices/{name}?h=i,dc").text.split()
    assert picked == [name, "1"]
    assert http.get("/_cat/indices?health=purple").status_code == 400
    health = client.cat.health(format="json")
    assert health[0]["status"] in ("green", "yellow")
    assert "status" in http.get("/_cat/health?v").text
    client.indices.delete(index=name)


def test_default_replicas_make_a_single_node_yellow(client):
    name = "idx-yellow"
    client.indices.create(index=name)
    h = client.cluster.health(index=name)
    assert h["status"] == "yellow" and h["unassigned_shards"] == 1
    client.indices.delete(index=name)


def test_wildcards_and_comma_lists(client):
    for n in ["wc-a", "wc-b", "other-c"]:
        client.indices.create(index=n)
    assert sorted(client.indices.get(index="wc-*")) == ["wc-a", "wc-b"]
    assert sorted(client.indices.get(index="wc-a,other-c")) == ["other-c", "wc-a"]
    with pytest.raises(NotFoundError):
        client.indices.get(index="wc-a,missing-x")
    client.indices.delete(index="wc-*,other-c")
    assert not client.indices.exists(index="wc-a")
