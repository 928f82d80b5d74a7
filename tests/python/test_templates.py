"""Index templates (composable, component, legacy), driven with opensearch-py against the real
server: applied on explicit and automatic index creation, priorities, composition order,
the request over the template, GET/HEAD/DELETE, `_cat/templates`, `_simulate_index`, bad
definitions refused before any index exists, and templates surviving a restart."""
import pytest
from opensearchpy import NotFoundError, RequestError


def test_composable_template_applies_on_explicit_and_automatic_creation(client):
    client.cluster.put_component_template(name="tpl-c-shards", body={"template": {"settings": {"number_of_shards": 2}}})
    client.cluster.put_component_template(name="tpl-c-map", body={"template": {
        "mappings": {"properties": {"level": {"type": "keyword"}, "took": {"type": "long"}}}}})
    client.indices.put_index_template(name="tpl-logs", body={
        "index_patterns": ["tpl-logs-*"], "priority": 10, "composed_of": ["tpl-c-shards", "tpl-c-map"],
        "template": {"settings": {"number_of_replicas": 0}, "aliases": {"tpl-all-logs": {}}},
    })
    # Automatic creation on the first write.
    client.index(index="tpl-logs-auto", id="1", body={"level": "warn", "took": 5}, refresh=True)
    got = client.indices.get(index="tpl-logs-auto")["tpl-logs-auto"]
    assert got["settings"]["index"]["number_of_shards"] == "2"
    assert got["settings"]["index"]["number_of_replicas"] == "0"
    assert got["mappings"]["properties"]["level"] == {"type": "keyword"}
    assert got["aliases"] == {"tpl-all-logs": {}}
    # Explicit creation: the request's settings and mappings go over the template's.
    client.indices.create(index="tpl-logs-explicit", body={
        "settings": {"number_of_shards": 1}, "mappings": {"properties": {"extra": {"type": "integer"}}}})
    got = client.indices.get(index="tpl-logs-explicit")["tpl-logs-explicit"]
    assert got["settings"]["index"]["number_of_shards"] == "1"
    assert set(got["mappings"]["properties"]) == {"level", "took", "extra"}
    # The template's alias covers both indices.
    assert sorted(client.indices.get_alias(name="tpl-all-logs")) == ["tpl-logs-auto", "tpl-logs-explicit"]
    # Names the patterns do not match get nothing from it.
    client.indices.create(index="tpl-other")
    assert "level" not in client.indices.get_mapping(index="tpl-other")["tpl-other"]["mappings"].get("properties", {})


def test_priority_picks_one_composable_template_and_legacy_only_without_one(client):
    client.indices.put_index_template(name="tpl-p-low", body={"index_patterns": ["tpl-p-*"], "priority": 1,
                                                          "template": {"settings": {"number_of_shards": 3}}})
    client.indices.put_index_template(name="tpl-p-high", body={"index_patterns": ["tpl-p-x*"], "priority": 2,
                                                           "template": {"settings": {"number_of_shards": 4}}})
    client.indices.put_template(name="tpl-legacy-a", body={"index_patterns": ["tpl-*"], "order": 1,
                                                      "settings": {"number_of_shards": 5}})
    client.indices.put_template(name="tpl-legacy-b", body={"index_patterns": ["tpl-legacy-*"], "order": 2,
                                                      "settings": {"number_of_shards": 6},
                                                      "mappings": {"properties": {"b": {"type": "keyword"}}}})
    shards = lambda name: client.indices.get_settings(index=name)[name]["settings"]["index"]["number_of_shards"]
    client.indices.create(index="tpl-p-xa")
    client.indices.create(index="tpl-p-y")
    client.indices.create(index="tpl-legacy-one")
    assert shards("tpl-p-xa") == "4"
    assert shards("tpl-p-y") == "3"
    # No composable template matches: legacy ones apply, the higher order last.
    assert shards("tpl-legacy-one") == "6"
    assert "b" in client.indices.get_mapping(index="tpl-legacy-one")["tpl-legacy-one"]["mappings"]["properties"]
    sim = client.transport.perform_request(method="POST", url="/_index_template/_simulate_index/tpl-p-xz")
    assert sim["template"]["settings"]["index"]["number_of_shards"] == "4"
    assert [o["name"] for o in sim["overlapping"]] == ["tpl-p-low"]
    # Same priority and overlapping patterns: refused.
    with pytest.raises(RequestError) as e:
        client.indices.put_index_template(name="tpl-p-clash", body={"index_patterns": ["tpl-p-x1*"], "priority": 2})
    assert "same priority" in e.value.info["error"]["reason"]
    for name in ("tpl-legacy-a", "tpl-legacy-b"):
        client.indices.delete_template(name=name)


def test_get_head_delete_and_cat(client, http):
    client.cluster.put_component_template(name="tpl-g-comp", body={"template": {"settings": {"number_of_replicas": 0}}, "version": 3})
    client.indices.put_index_template(name="tpl-g", body={"index_patterns": ["tpl-g-*"], "priority": 7,
                                                      "composed_of": ["tpl-g-comp"], "version": 2})
    client.indices.put_template(name="tpl-g-legacy", body={"index_patterns": ["tpl-gl-*"], "order": 4})
    got = client.indices.get_index_template(name="tpl-g")["index_templates"]
    assert got == [{"name": "tpl-g", "index_template": {
        "index_patterns": ["tpl-g-*"], "priority": 7, "composed_of": ["tpl-g-comp"], "template": {}, "version": 2}}]
    comp = client.cluster.get_component_template(name="tpl-g-comp")["component_templates"][0]
    assert comp["component_template"]["template"]["settings"] == {"index": {"number_of_replicas": "0"}}
    assert client.indices.get_template(name="tpl-g-legacy")["tpl-g-legacy"]["order"] == 4
    assert client.indices.exists_index_template(name="tpl-g")
    assert client.indices.exists_template(name="tpl-g-legacy")
    assert not client.indices.exists_index_template(name="tpl-g-nope")
    rows = http.get("/_cat/templates/tpl-g*", params={"format": "json"}).json()
    assert rows == [
        {"name": "tpl-g", "index_patterns": "[tpl-g-*]", "order": "7", "version": "2", "composed_of": "[tpl-g-comp]"},
        {"name": "tpl-g-legacy", "index_patterns": "[tpl-gl-*]", "order": "4", "version": "", "composed_of": ""},
    ]
    # A component template in use cannot be deleted.
    with pytest.raises(RequestError):
        client.cluster.delete_component_template(name="tpl-g-comp")
    client.indices.delete_index_template(name="tpl-g")
    client.cluster.delete_component_template(name="tpl-g-comp")
    client.indices.delete_template(name="tpl-g-legacy")
    with pytest.raises(NotFoundError) as e:
        client.indices.get_index_template(name="tpl-g")
    assert e.value.info["error"]["type"] == "resource_not_found_exception"
    with pytest.raises(NotFoundError):
        client.indices.delete_template(name="tpl-g-legacy")


def test_bad_templates_are_refused_before_any_index_exists(client):
    bad_mapping = {"index_patterns": ["tpl-bad-*"], "template": {"mappings": {"properties": {"f": {"type": "no_such_type"}}}}}
    with pytest.raises(RequestError) as e:
        client.indices.put_index_template(name="tpl-bad", body=bad_mapping)
    assert e.value.status_code == 400 and e.value.info["error"]["type"] == "mapper_parsing_exception"
    assert not client.indices.exists_index_template(name="tpl-bad")
    with pytest.raises(RequestError):
        client.indices.put_template(name="tpl-bad", body={"index_patterns": ["tpl-bad-*"], "mappings": {"properties": {"f": {"type": "nope"}}}})
    with pytest.raises(RequestError):
        client.cluster.put_component_template(name="tpl-bad", body={"template": {"settings": {"number_of_shards": 0}}})
    with pytest.raises(RequestError) as e:
        client.indices.put_index_template(name="tpl-bad", body={"index_patterns": ["tpl-bad-*"], "composed_of": ["tpl-missing"]})
    assert e.value.info["error"]["type"] == "invalid_index_template_exception"
    with pytest.raises(RequestError):
        client.indices.put_index_template(name="tpl-bad", body={"index_patterns": ["tpl-bad-*"], "unknown_key": 1})
    with pytest.raises(RequestError):
        client.indices.put_index_template(name="tpl-bad", body={"index_patterns": []})
    # Nothing was stored, so a matching index is created plainly.
    client.index(index="tpl-bad-1", body={"f": "x"}, refresh=True)
    assert client.indices.get_mapping(index="tpl-bad-1")["tpl-bad-1"]["mappings"]["properties"]["f"]["type"] == "text"
    # A template whose mapping conflicts with the request's fails the creation, with no index left.
    client.indices.put_index_template(name="tpl-conf", body={"index_patterns": ["tpl-conf-*"],
                                                         "template": {"mappings": {"properties": {"n": {"type": "long"}}}}})
    with pytest.raises(RequestError):
        client.indices.create(index="tpl-conf-1", body={"mappings": {"properties": {"n": {"type": "keyword"}}}})
    assert not client.indices.exists(index="tpl-conf-1")
    # create=true refuses to replace.
    with pytest.raises(RequestError):
        client.indices.put_index_template(name="tpl-conf", body={"index_patterns": ["tpl-conf-*"]}, params={"create": "true"})


def test_templates_survive_restart(server_factory):
    srv = server_factory()
    c = srv.client()
    c.cluster.put_component_template(name="keep-c", body={"template": {"mappings": {"properties": {"k": {"type": "keyword"}}}}})
    c.indices.put_index_template(name="keep", body={"index_patterns": ["keep-*"], "composed_of": ["keep-c"], "priority": 3})
    c.indices.put_template(name="keep-legacy", body={"index_patterns": ["old-*"], "settings": {"number_of_shards": 2}})
    before = (c.indices.get_index_template(), c.cluster.get_component_template(), c.indices.get_template())
    srv.restart()
    c = srv.client()
    assert (c.indices.get_index_template(), c.cluster.get_component_template(), c.indices.get_template()) == before
    c.indices.create(index="keep-1")
    assert c.indices.get_mapping(index="keep-1")["keep-1"]["mappings"]["properties"]["k"] == {"type": "keyword"}
    c.indices.create(index="old-1")
    assert c.indices.get_settings(index="old-1")["old-1"]["settings"]["index"]["number_of_shards"] == "2"
