"""`POST /{index}/_close` and `_open`, driven with opensearch-py against the real server: a
closed index refuses reads and writes with 400 `index_closed_exception`, wildcard searches
skip it, `_cat/indices` lists it as `close`, its documents come back on `_open`, and the
closed state survives a restart."""
import pytest
from opensearchpy import RequestError


def load(client, index, n):
    body = []
    for i in range(n):
        body += [{"index": {"_index": index, "_id": str(i)}}, {"n": i}]
    assert not client.bulk(body=body, refresh=True)["errors"]


def closed_error(excinfo, index):
    assert excinfo.value.status_code == 400
    assert excinfo.value.info["error"]["type"] == "index_closed_exception"
    assert excinfo.value.info["error"]["index"] == index


def test_closed_index_refuses_reads_and_writes(client, http):
    load(client, "co-a", 7)
    load(client, "co-b", 5)
    resp = client.indices.close(index="co-a")
    assert resp == {"acknowledged": True, "shards_acknowledged": True, "indices": {"co-a": {"closed": True}}}
    with pytest.raises(RequestError) as e:
        client.search(index="co-a")
    closed_error(e, "co-a")
    with pytest.raises(RequestError) as e:
        client.get(index="co-a", id="1")
    closed_error(e, "co-a")
    with pytest.raises(RequestError) as e:
        client.index(index="co-a", id="new", body={"n": 99})
    closed_error(e, "co-a")
    items = client.bulk(body=[{"index": {"_index": "co-a", "_id": "x"}}, {"n": 1}])["items"]
    assert items[0]["index"]["error"]["type"] == "index_closed_exception"
    # A wildcard search skips the closed index.
    assert client.count(index="co-*")["count"] == 5
    rows = {r["index"]: r for r in http.get("/_cat/indices/co-*", params={"format": "json"}).json()}
    assert rows["co-a"]["status"] == "close" and rows["co-b"]["status"] == "open"
    assert client.indices.open(index="co-a") == {"acknowledged": True, "shards_acknowledged": True}
    assert client.count(index="co-a")["count"] == 7
    assert client.get(index="co-a", id="3")["_source"] == {"n": 3}


def test_closed_state_survives_restart(server_factory):
    srv = server_factory()
    c = srv.client()
    load(c, "co-keep", 4)
    c.indices.close(index="co-keep")
    srv.restart()
    c = srv.client()
    with pytest.raises(RequestError) as e:
        c.search(index="co-keep")
    closed_error(e, "co-keep")
    c.indices.open(index="co-keep")
    assert c.count(index="co-keep")["count"] == 4
