"""`_cluster/settings` with opensearch-py against the real server: persistent and transient
layers, flat and nested rendering, defaults, null resets, refusals, persistence across a
restart, and the dynamic effect of the settings Quidditch enforces (`search.max_buckets`,
`search.max_keep_alive`). The server is the module's own: cluster settings are node-wide and
would change what other tests see."""
import json
import re
import subprocess
from pathlib import Path

import pytest
from opensearchpy import RequestError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rest-api.md"


@pytest.fixture(scope="module")
def srv(server_factory):
    return server_factory()


@pytest.fixture()
def client(srv):
    c = srv.client()
    yield c
    c.cluster.put_settings(body={"persistent": {"*": None}, "transient": {"*": None}})
    c.indices.delete(index="cs-*")


def test_layers_flat_nested_and_reset(client):
    assert client.cluster.get_settings() == {"persistent": {}, "transient": {}}
    put = client.cluster.put_settings(
        body={"persistent": {"search": {"max_buckets": 100}}, "transient": {"cluster.routing.allocation.enable": "none"}}
    )
    assert put == {
        "acknowledged": True,
        "persistent": {"search": {"max_buckets": "100"}},
        "transient": {"cluster": {"routing": {"allocation": {"enable": "none"}}}},
    }
    flat = client.cluster.get_settings(flat_settings=True)
    assert flat == {"persistent": {"search.max_buckets": "100"}, "transient": {"cluster.routing.allocation.enable": "none"}}
    # Defaults leave out what either layer sets.
    defaults = client.cluster.get_settings(include_defaults=True, flat_settings=True)["defaults"]
    assert "search.max_buckets" not in defaults and "cluster.routing.allocation.enable" not in defaults
    assert defaults["search.max_keep_alive"] == "24h"
    reset = client.cluster.put_settings(body={"transient": {"cluster.routing.allocation.enable": None}}, flat_settings=True)
    assert reset == {"acknowledged": True, "persistent": {}, "transient": {}}
    assert client.cluster.get_settings(flat_settings=True)["transient"] == {}
    # A wildcard null resets every match.
    client.cluster.put_settings(body={"persistent": {"search.*": None}})
    assert client.cluster.get_settings()["persistent"] == {}


def test_refusals_change_nothing(client):
    client.cluster.put_settings(body={"persistent": {"search.max_buckets": 7}})
    before = client.cluster.get_settings(flat_settings=True)
    cases = [
        ({"persistent": {"no.such.setting": 1}}, "persistent setting [no.such.setting], not recognized"),
        ({"transient": {"no.such.setting": 1}}, "transient setting [no.such.setting], not recognized"),
        ({"persistent": {"search.max_buckets": -1}}, "must be >= 0"),
        ({"persistent": {"search.max_buckets": "lots"}}, "Failed to parse value [lots]"),
        ({"persistent": {"search_backpressure.mode": "monitor-only"}}, "Illegal value [monitor-only]"),
        # The default keep-alive may not exceed the maximum.
        ({"transient": {"search.default_keep_alive": "2h", "search.max_keep_alive": "1h"}}, "should be smaller than"),
        # All or nothing: the valid half of a refused update is not applied.
        ({"persistent": {"search.max_buckets": 9, "nope": 1}}, "[nope], not recognized"),
    ]
    for body, reason in cases:
        with pytest.raises(RequestError) as e:
            client.cluster.put_settings(body=body)
        assert e.value.status_code == 400
        assert e.value.info["error"]["type"] == "illegal_argument_exception"
        assert reason in e.value.info["error"]["reason"], e.value.info
    with pytest.raises(RequestError) as e:
        client.cluster.put_settings(body={})
    assert e.value.info["error"]["type"] == "action_request_validation_exception"
    with pytest.raises(RequestError) as e:
        client.cluster.put_settings(body={"persistnt": {"search.max_buckets": 1}})
    assert "unknown field [persistnt]" in e.value.info["error"]["reason"]
    assert client.cluster.get_settings(flat_settings=True) == before


def test_max_buckets_limits_aggregations(client):
    words = [f"w{i}" for i in range(8)]
    client.indices.create(index="cs-aggs", body={"mappings": {"properties": {"word": {"type": "keyword"}}}})
    for i, w in enumerate(words):
        client.index(index="cs-aggs", id=str(i), body={"word": w})
    client.indices.refresh(index="cs-aggs")
    query = {"size": 0, "aggs": {"words": {"terms": {"field": "word", "size": len(words)}}}}
    assert len(client.search(index="cs-aggs", body=query)["aggregations"]["words"]["buckets"]) == len(words)
    client.cluster.put_settings(body={"transient": {"search.max_buckets": len(words) - 1}})
    with pytest.raises(RequestError) as e:
        client.search(index="cs-aggs", body=query)
    assert "Trying to create too many buckets" in e.value.info["error"]["reason"]
    # Transient over persistent: a persistent limit that fits does not lift the transient one.
    client.cluster.put_settings(body={"persistent": {"search.max_buckets": len(words)}})
    with pytest.raises(RequestError):
        client.search(index="cs-aggs", body=query)
    client.cluster.put_settings(body={"transient": {"search.max_buckets": None}})
    assert len(client.search(index="cs-aggs", body=query)["aggregations"]["words"]["buckets"]) == len(words)


def test_max_keep_alive_limits_scrolls(client):
    client.index(index="cs-scroll", id="1", body={"n": 1}, refresh=True)
    client.index(index="cs-scroll", id="2", body={"n": 2}, refresh=True)
    client.cluster.put_settings(body={"transient": {"search.default_keep_alive": "1m", "search.max_keep_alive": "1m"}})
    with pytest.raises(RequestError) as e:
        client.search(index="cs-scroll", scroll="2m", size=1)
    assert "Keep alive for request (2m) is too large. It must be less than (1m)" in e.value.info["error"]["reason"]
    page = client.search(index="cs-scroll", scroll="1m", size=1)
    with pytest.raises(RequestError):
        client.scroll(scroll_id=page["_scroll_id"], scroll="3m")
    assert len(client.scroll(scroll_id=page["_scroll_id"], scroll="30s")["hits"]["hits"]) == 1


def test_persistent_survives_restart_transient_does_not(server_factory):
    srv = server_factory()
    c = srv.client()
    c.cluster.put_settings(body={"persistent": {"search.max_buckets": 1234}, "transient": {"search.max_keep_alive": "2h"}})
    srv.restart()
    c = srv.client()
    assert c.cluster.get_settings(flat_settings=True) == {"persistent": {"search.max_buckets": "1234"}, "transient": {}}


def test_docs_example(server_factory):
    doc = DOCS.read_text()
    section = doc.split("<!-- rest-api:cluster-settings:begin -->")[1].split("<!-- rest-api:cluster-settings:end -->")[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    srv = server_factory()
    script = 'curl() { command curl -s "$@"; echo; }\nset -e\n' + block.replace("localhost:9200", srv.url.removeprefix("http://"))
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    put, get, refused, reset = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert put["acknowledged"] and put["persistent"] == {"search.max_buckets": "1000"}
    assert get["persistent"] == {"search.max_buckets": "1000"}
    assert get["defaults"]["search.max_keep_alive"] == "24h"
    assert refused["status"] == 400 and refused["error"]["reason"] == "persistent setting [search.no_such], not recognized"
    assert reset["persistent"] == {} and reset["transient"] == {}
