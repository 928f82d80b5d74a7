"""Point in time: a PIT pins the shards' searchers, so searches through it — paging with
`search_after`, counting, aggregating — see the data as it was when the PIT was created while
writes go on; keep-alive renewal, listing, deletion and the error cases as OpenSearch.
Expected values are computed from the documents the test wrote."""
import pytest
from opensearchpy import NotFoundError, RequestError, helpers

N = 1200


def doc(i):
    return {"n": i, "group": f"g{i % 7}", "text": f"item {i} of the {'even' if i % 2 == 0 else 'odd'} kind"}


@pytest.fixture()
def pit_index(client):
    name = "pit-docs"
    client.indices.create(index=name, body={"settings": {"number_of_shards": 3}, "mappings": {
        "properties": {"n": {"type": "long"}, "group": {"type": "keyword"}, "text": {"type": "text"}}}})
    helpers.bulk(client, ({"_index": name, "_id": str(i), "_source": doc(i)} for i in range(N)), refresh=True)
    yield name
    client.delete_all_pits()
    client.indices.delete(index=name)


def change_the_data(client, index):
    """Writes after the PIT: new docs, deletions and updates, all made visible."""
    helpers.bulk(client, ({"_index": index, "_id": str(i), "_source": doc(i)} for i in range(N, N + 300)))
    helpers.bulk(client, ({"_op_type": "delete", "_index": index, "_id": str(i)} for i in range(0, N, 5)))
    helpers.bulk(client, ({"_op_type": "update", "_index": index, "_id": str(i), "doc": {"group": "changed"}}
                          for i in range(1, N, 5)))
    client.indices.refresh(index=index)


def page_through(client, pit_id, size, query=None, keep_alive=None):
    ids, after = [], None
    while True:
        body = {"size": size, "sort": [{"n": "asc"}], "pit": {"id": pit_id},
                "query": query or {"match_all": {}}}
        if keep_alive:
            body["pit"]["keep_alive"] = keep_alive
        if after:
            body["search_after"] = after
        r = client.search(body=body)
        assert r["pit_id"] == pit_id
        hits = r["hits"]["hits"]
        if not hits:
            return ids
        ids.extend(int(h["_id"]) for h in hits)
        after = hits[-1]["sort"]


def test_pit_is_a_snapshot_while_writes_go_on(client, pit_index):
    created = client.create_pit(index=pit_index, keep_alive="10m")
    assert created["_shards"] == {"total": 3, "successful": 3, "skipped": 0, "failed": 0}
    pit_id = created["pit_id"]
    change_the_data(client, pit_index)

    # search_after paging through the PIT sees every original document exactly once, in order.
    assert page_through(client, pit_id, size=97) == list(range(N))
    odd = {"match": {"text": "odd"}}
    assert page_through(client, pit_id, size=50, query=odd) == [i for i in range(N) if i % 2]

    aggs = client.search(body={"size": 0, "pit": {"id": pit_id},
                               "aggs": {"g": {"terms": {"field": "group", "size": 20}}}})
    assert aggs["hits"]["total"] == {"value": N, "relation": "eq"}
    expected = {}
    for i in range(N):
        expected[f"g{i % 7}"] = expected.get(f"g{i % 7}", 0) + 1
    assert {b["key"]: b["doc_count"] for b in aggs["aggregations"]["g"]["buckets"]} == expected

    # The live index has moved on.
    live = client.count(index=pit_index)["count"]
    assert live == N + 300 - len(range(0, N, 5))
    after_changes = client.search(index=pit_index, body={"size": 0, "query": {"term": {"group": "changed"}}})
    assert after_changes["hits"]["total"]["value"] == len(range(1, N, 5))
    through_pit = client.search(body={"size": 0, "pit": {"id": pit_id}, "query": {"term": {"group": "changed"}}})
    assert through_pit["hits"]["total"]["value"] == 0


def test_keep_alive_listing_and_deletion(client, pit_index):
    first = client.create_pit(index=pit_index, keep_alive="23h")["pit_id"]
    second = client.create_pit(index=pit_index, keep_alive="1m")["pit_id"]
    listed = {p["pit_id"]: p for p in client.get_all_pits()["pits"]}
    assert listed[first]["keep_alive"] == 23 * 3600 * 1000
    assert listed[second]["keep_alive"] == 60 * 1000
    assert all(isinstance(p["creation_time"], int) and p["creation_time"] > 0 for p in listed.values())

    # A search may extend the keep-alive, never shorten it.
    client.search(body={"size": 1, "pit": {"id": second, "keep_alive": "10m"}})
    client.search(body={"size": 1, "pit": {"id": first, "keep_alive": "10m"}})
    listed = {p["pit_id"]: p for p in client.get_all_pits()["pits"]}
    assert listed[second]["keep_alive"] == 10 * 60 * 1000
    assert listed[first]["keep_alive"] == 23 * 3600 * 1000

    deleted = client.delete_pit(body={"pit_id": [first]})
    assert deleted == {"pits": [{"successful": True, "pit_id": first}]}
    assert client.delete_pit(body={"pit_id": [first]}) == {"pits": [{"successful": False, "pit_id": first}]}
    with pytest.raises(NotFoundError) as e:
        client.search(body={"pit": {"id": first}})
    assert e.value.error == "search_context_missing_exception"

    assert client.delete_all_pits() == {"pits": [{"successful": True, "pit_id": second}]}
    assert client.delete_all_pits() == {"pits": []}
    assert client.get_all_pits() == {"pits": []}


def test_routing_pins_only_the_routed_shards(client, pit_index):
    created = client.create_pit(index=pit_index, keep_alive="1m", routing="7")
    assert created["_shards"]["total"] == 1
    routed = client.search(index=pit_index, routing="7", body={"size": 0})["hits"]["total"]["value"]
    through_pit = client.search(body={"size": 0, "pit": {"id": created["pit_id"]}})
    assert through_pit["hits"]["total"]["value"] == routed
    assert 0 < routed < N


def test_deleting_the_index_frees_its_pits(client):
    client.indices.create(index="pit-gone", body={"settings": {"number_of_shards": 2}})
    client.index(index="pit-gone", id="1", body={"n": 1}, refresh=True)
    pit_id = client.create_pit(index="pit-gone", keep_alive="1m")["pit_id"]
    client.indices.delete(index="pit-gone")
    assert pit_id not in {p["pit_id"] for p in client.get_all_pits()["pits"]}
    with pytest.raises(NotFoundError):
        client.search(body={"pit": {"id": pit_id}})


def test_pit_errors(client, http, pit_index):
    pit_id = client.create_pit(index=pit_index, keep_alive="1m")["pit_id"]
    r = http.post(f"/{pit_index}/_search", json={"pit": {"id": pit_id}})
    assert r.status_code == 400
    assert r.json()["error"]["type"] == "action_request_validation_exception"
    assert "[indices] cannot be used with point in time" in r.json()["error"]["reason"]

    r = http.post(f"/{pit_index}/_search/point_in_time")
    assert r.status_code == 400 and "keep alive not specified" in r.json()["error"]["reason"]
    r = http.post(f"/{pit_index}/_search/point_in_time?keep_alive=25h")
    assert r.status_code == 400 and "point_in_time.max_keep_alive" in r.json()["error"]["reason"]
    r = http.post("/no-such-index/_search/point_in_time?keep_alive=1m")
    assert r.status_code == 404 and r.json()["error"]["type"] == "index_not_found_exception"
    r = http.post(f"/{pit_index}/_search/point_in_time?keep_alive=1m&bogus=1")
    assert r.status_code == 400 and "unrecognized parameter: [bogus]" in r.json()["error"]["reason"]

    r = http.post("/_search", json={"pit": {"id": "garbage!"}})
    assert r.status_code == 400 and r.json()["error"]["type"] == "illegal_argument_exception"
    r = http.post("/_search", json={"pit": {"keep_alive": "1m"}})
    assert r.status_code == 400 and r.json()["error"]["type"] == "parsing_exception"
    r = http.post("/_search?scroll=1m", json={"pit": {"id": pit_id}})
    assert r.status_code == 400 and "not allowed in a scroll context" in r.json()["error"]["reason"]
    r = http.delete("/_search/point_in_time", json={"pit_id": 3})
    assert r.status_code == 400
    r = http.delete("/_search/point_in_time")
    assert r.status_code == 400 and r.json()["error"]["type"] == "action_request_validation_exception"
    with pytest.raises(RequestError):
        client.delete_pit(body={"pit_id": ["garbage!"]})
