"""Index aliases, driven with opensearch-py against the real server: the alias APIs, filtered
aliases and routing on searches, writes through an alias to its write index, `require_alias`,
`_cat/aliases`, bad input, and aliases surviving a restart. Expected values are computed from
the documents each test writes."""
import pytest
import requests
from opensearchpy import NotFoundError, RequestError

DOCS = [{"n": i, "color": ["red", "blue", "green"][i % 3]} for i in range(30)]


def load(client, index, docs=DOCS):
    client.indices.create(index=index, body={"mappings": {"properties": {"n": {"type": "long"}, "color": {"type": "keyword"}}}})
    body = []
    for i, d in enumerate(docs):
        body += [{"index": {"_index": index, "_id": str(i)}}, d]
    assert not client.bulk(body=body, refresh=True)["errors"]


def ids(resp):
    return sorted(h["_id"] for h in resp["hits"]["hits"])


def test_put_get_exists_delete_alias(client):
    load(client, "al-basic-1")
    load(client, "al-basic-2")
    assert not client.indices.exists_alias(name="al-basic")
    assert client.indices.put_alias(index="al-basic-*", name="al-basic") == {"acknowledged": True}
    assert client.indices.exists_alias(name="al-basic")
    assert client.indices.exists_alias(index="al-basic-1", name="al-basic")
    got = client.indices.get_alias(name="al-basic")
    assert got == {"al-basic-1": {"aliases": {"al-basic": {}}}, "al-basic-2": {"aliases": {"al-basic": {}}}}
    # The index listing shows its aliases too.
    assert client.indices.get(index="al-basic-1")["al-basic-1"]["aliases"] == {"al-basic": {}}
    # Search and count over the alias see both indices.
    assert client.count(index="al-basic")["count"] == 2 * len(DOCS)
    client.indices.delete_alias(index="al-basic-1", name="al-basic")
    assert client.indices.get_alias(name="al-basic") == {"al-basic-2": {"aliases": {"al-basic": {}}}}
    assert client.count(index="al-basic")["count"] == len(DOCS)
    with pytest.raises(NotFoundError) as e:
        client.indices.delete_alias(index="al-basic-1", name="al-basic")
    assert e.value.info["error"]["type"] == "aliases_not_found_exception"
    with pytest.raises(NotFoundError) as e:
        client.indices.get_alias(index="al-basic-1", name="al-basic")
    assert e.value.info["error"] == "alias [al-basic] missing"


def test_update_aliases_is_atomic(client):
    load(client, "al-atomic-old")
    load(client, "al-atomic-new")
    client.indices.put_alias(index="al-atomic-old", name="al-atomic")
    # The swap a reindex-and-switch does: both actions or neither.
    client.indices.update_aliases(body={"actions": [
        {"remove": {"index": "al-atomic-old", "alias": "al-atomic"}},
        {"add": {"index": "al-atomic-new", "alias": "al-atomic"}},
    ]})
    assert list(client.indices.get_alias(name="al-atomic")) == ["al-atomic-new"]
    # A failing action (alias named like an existing index) leaves everything as it was.
    with pytest.raises(RequestError) as e:
        client.indices.update_aliases(body={"actions": [
            {"add": {"index": "al-atomic-old", "alias": "al-atomic-extra"}},
            {"add": {"index": "al-atomic-new", "alias": "al-atomic-old"}},
        ]})
    assert e.value.status_code == 400
    assert e.value.info["error"]["type"] == "invalid_alias_name_exception"
    assert not client.indices.exists_alias(name="al-atomic-extra")
    # remove_index deletes an index in the same step as alias changes.
    client.indices.update_aliases(body={"actions": [
        {"add": {"index": "al-atomic-new", "alias": "al-atomic-2"}},
        {"remove_index": {"index": "al-atomic-old"}},
    ]})
    assert not client.indices.exists(index="al-atomic-old")
    assert client.indices.exists_alias(name="al-atomic-2")


def test_filtered_alias_applies_to_search_count_and_aggs(client):
    load(client, "al-filter")
    client.indices.put_alias(index="al-filter", name="al-red", body={"filter": {"term": {"color": "red"}}})
    red = sorted(str(i) for i, d in enumerate(DOCS) if d["color"] == "red")
    assert ids(client.search(index="al-red", body={"size": 100})) == red
    assert client.count(index="al-red")["count"] == len(red)
    # The filter combines with the request's own query and its aggregations.
    big_red = sorted(str(i) for i, d in enumerate(DOCS) if d["color"] == "red" and d["n"] >= 10)
    resp = client.search(index="al-red", body={
        "size": 100, "query": {"range": {"n": {"gte": 10}}},
        "aggs": {"colors": {"terms": {"field": "color"}}},
    })
    assert ids(resp) == big_red
    assert [(b["key"], b["doc_count"]) for b in resp["aggregations"]["colors"]["buckets"]] == [("red", len(big_red))]
    # The index named directly is not filtered; msearch sees both views.
    r = client.msearch(body=[{"index": "al-red"}, {"size": 0}, {"index": "al-filter"}, {"size": 0}])
    assert [x["hits"]["total"]["value"] for x in r["responses"]] == [len(red), len(DOCS)]
    # Two filtered aliases to one index: their filters OR together.
    client.indices.put_alias(index="al-filter", name="al-blue", body={"filter": {"term": {"color": "blue"}}})
    red_or_blue = sorted(str(i) for i, d in enumerate(DOCS) if d["color"] in ("red", "blue"))
    assert ids(client.search(index="al-red,al-blue", body={"size": 100})) == red_or_blue
    # Named directly as well as through a filtered alias: unfiltered.
    assert client.count(index="al-red,al-filter")["count"] == len(DOCS)


def test_search_routing_limits_shards(client):
    client.indices.create(index="al-routed", body={"settings": {"number_of_shards": 4}})
    body = []
    for i in range(40):
        body += [{"index": {"_index": "al-routed", "_id": str(i), "routing": f"r{i % 4}"}}, {"n": i}]
    assert not client.bulk(body=body, refresh=True)["errors"]
    client.indices.put_alias(index="al-routed", name="al-routed-r1", body={"search_routing": "r1"})
    via_param = client.search(index="al-routed", params={"routing": "r1"}, body={"size": 100})
    via_alias = client.search(index="al-routed-r1", body={"size": 100})
    assert ids(via_alias) == ids(via_param)
    assert via_alias["_shards"]["total"] == 1
    assert set(str(i) for i in range(1, 40, 4)) <= set(ids(via_alias))


def test_writes_through_alias_go_to_write_index(client):
    client.indices.create(index="al-w-1")
    client.indices.create(index="al-w-2")
    client.indices.put_alias(index="al-w-1", name="al-w", body={"index_routing": "fixed"})
    r = client.index(index="al-w", id="a", body={"x": 1}, refresh=True)
    assert r["_index"] == "al-w-1"
    got = client.get(index="al-w", id="a")
    assert got["_index"] == "al-w-1" and got["_routing"] == "fixed"
    # Two indices, none marked: writes fail clearly, reads by id too.
    client.indices.put_alias(index="al-w-2", name="al-w")
    with pytest.raises(RequestError) as e:
        client.index(index="al-w", id="b", body={"x": 2})
    assert "no write index is defined for alias [al-w]" in e.value.info["error"]["reason"]
    client.indices.put_alias(index="al-w-2", name="al-w", body={"is_write_index": True})
    assert client.index(index="al-w", id="b", body={"x": 2}, refresh=True)["_index"] == "al-w-2"
    items = client.bulk(body=[{"index": {"_index": "al-w", "_id": "c"}}, {"x": 3}], refresh=True)["items"]
    assert items[0]["index"]["_index"] == "al-w-2"
    # A second write index for the same alias is refused.
    with pytest.raises(RequestError):
        client.indices.put_alias(index="al-w-1", name="al-w", body={"is_write_index": True})
    assert client.count(index="al-w")["count"] == 3


def test_require_alias(client):
    with pytest.raises(NotFoundError) as e:
        client.index(index="al-req-missing", body={"x": 1}, params={"require_alias": "true"})
    assert e.value.info["error"]["reason"] == (
        "no such index [al-req-missing] and [require_alias] request flag is [true] and [al-req-missing] is not an alias")
    assert not client.indices.exists(index="al-req-missing")
    client.indices.create(index="al-req-backing", body={"aliases": {"al-req": {}}})
    resp = client.bulk(body=[
        {"index": {"_index": "al-req-missing", "require_alias": True}}, {"x": 1},
        {"index": {"_index": "al-req", "require_alias": True}}, {"x": 2},
    ])
    assert resp["errors"]
    assert resp["items"][0]["index"]["status"] == 404
    assert resp["items"][1]["index"]["_index"] == "al-req-backing"
    assert not client.indices.exists(index="al-req-missing")


def test_bad_alias_input(client):
    client.indices.create(index="al-bad")
    client.indices.create(index="al-bad-other")
    for name, kind in [("al-bad-other", "invalid_alias_name_exception"), ("bad*name", "invalid_alias_name_exception"),
                       ("_under", "invalid_alias_name_exception")]:
        with pytest.raises(RequestError) as e:
            client.indices.put_alias(index="al-bad", name=name)
        assert e.value.status_code == 400 and e.value.info["error"]["type"] == kind, name
    with pytest.raises(RequestError) as e:
        client.indices.put_alias(index="al-bad", name="al-bad-a", body={"abc": 1})
    assert "unknown field [abc]" in e.value.info["error"]["reason"]
    with pytest.raises(RequestError):
        client.indices.put_alias(index="al-bad", name="al-bad-a", body={"filter": {"no_such_query": {}}})
    with pytest.raises(NotFoundError):
        client.indices.put_alias(index="al-bad-missing", name="al-bad-a")
    client.indices.put_alias(index="al-bad", name="al-bad-a")
    # An index cannot take an alias's name; deleting through an alias name is refused.
    with pytest.raises(RequestError) as e:
        client.indices.create(index="al-bad-a")
    assert e.value.info["error"]["type"] == "invalid_index_name_exception"
    with pytest.raises(RequestError):
        client.indices.delete(index="al-bad-a")
    assert client.indices.exists(index="al-bad")
    with pytest.raises(RequestError) as e:
        client.indices.update_aliases(body={"actions": [{"remove": {"index": "al-bad", "aliases": []}}]})
    assert "[aliases] can't be empty" in e.value.info["error"]["reason"]


def test_cat_aliases(client, http):
    client.indices.create(index="al-cat", body={"aliases": {"al-cat-a": {}, "al-cat-b": {
        "filter": {"term": {"x": "y"}}, "index_routing": "ir", "search_routing": "s1,s2", "is_write_index": True}}})
    text = http.get("/_cat/aliases/al-cat-*", params={"v": "true"}).text
    lines = [line.split() for line in text.strip().splitlines()]
    assert lines[0] == ["alias", "index", "filter", "routing.index", "routing.search", "is_write_index"]
    assert lines[1:] == [["al-cat-a", "al-cat", "-", "-", "-", "-"], ["al-cat-b", "al-cat", "*", "ir", "s1,s2", "true"]]
    rows = http.get("/_cat/aliases/al-cat-*", params={"format": "json", "h": "alias,index", "s": "alias:desc"}).json()
    assert rows == [{"alias": "al-cat-b", "index": "al-cat"}, {"alias": "al-cat-a", "index": "al-cat"}]
    # Deleting the index drops its aliases.
    client.indices.delete(index="al-cat")
    assert http.get("/_cat/aliases/al-cat-*").text == ""


def test_aliases_survive_restart(server_factory):
    srv = server_factory()
    c = srv.client()
    c.indices.create(index="keep", body={"aliases": {"keep-read": {"filter": {"term": {"color": "red"}}}}})
    body = []
    for i, d in enumerate(DOCS):
        body += [{"index": {"_index": "keep", "_id": str(i)}}, d]
    c.bulk(body=body, refresh=True)
    c.indices.put_alias(index="keep", name="keep-write", body={"is_write_index": True})
    before = c.indices.get_alias()
    srv.restart()
    c = srv.client()
    assert c.indices.get_alias() == before
    assert c.count(index="keep-read")["count"] == sum(1 for d in DOCS if d["color"] == "red")
    assert c.index(index="keep-write", body={"color": "red"}, refresh=True)["_index"] == "keep"
    requests.delete(f"{srv.url}/keep").raise_for_status()
    srv.restart()
    assert srv.client().indices.get_alias() == {}


def test_rest_api_doc_examples_aliases_to_reindex(server_factory):
    """Runs the curl examples of docs/rest-api.md from "Aliases" to "Point in time", in order, against a fresh server holding books whose page counts the test
    chooses, and checks each prints what the text around it says."""
    import re
    import subprocess
    from pathlib import Path

    from test_documents import json_values

    doc = (Path(__file__).resolve().parents[2] / "docs" / "rest-api.md").read_text()
    section = doc.split("<!-- rest-api:aliases:begin -->")[1].split("<!-- rest-api:aliases:end -->")[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) == 5
    srv = server_factory()
    pages = {str(i): 50 + 75 * i for i in range(8)}  # 50 … 575 pages
    requests.put(f"{srv.url}/books", json={"mappings": {"properties": {
        "title": {"type": "text"}, "pages": {"type": "integer"}}}}).raise_for_status()
    for i, n in pages.items():
        requests.put(f"{srv.url}/books/_doc/{i}", json={"title": f"book {i}", "pages": n}).raise_for_status()
    requests.post(f"{srv.url}/books/_refresh").raise_for_status()
    hostport = srv.url.removeprefix("http://")
    prelude = 'curl() { command curl --fail-with-body "$@"; }\nset -e\n'
    out = []
    for block in blocks:
        script = prelude + block.replace("localhost:9200", hostport)
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"example failed:\n{block}\nstdout: {r.stdout}\nstderr: {r.stderr}"
        out.append((r.stdout, json_values(r.stdout)))

    long_books = sum(1 for n in pages.values() if n >= 400)
    text, values = out[0]
    put, actions, count, got, deleted = values
    assert put == actions == deleted == {"acknowledged": True}
    assert count["count"] == long_books
    assert got == {"books": {"aliases": {"library": {}}}}
    assert re.search(r"^long-books\s+books\b", text, re.M) and re.search(r"^library\s+books\b", text, re.M)

    text, values = out[1]
    component, template, simulated = values
    assert component == template == {"acknowledged": True}
    assert simulated["template"]["settings"]["index"]["number_of_shards"] == "2"
    assert simulated["template"]["mappings"]["properties"]["level"] == {"type": "keyword"}
    assert re.search(r"^logs\s+\[logs-\*\]", text, re.M)

    text, values = out[2]
    closed, opened, field = values[0], values[-2], values[-1]
    assert closed["acknowledged"] is True and opened["acknowledged"] is True
    assert re.search(r"(^|})books\s+close$", text, re.M)
    assert field["books"]["mappings"]["title"]["mapping"]["title"]["type"] == "text"

    page2, cleared, reindexed, deleted_by_query = out[3][1]
    assert len(page2["hits"]["hits"]) == 2  # the second page of two, from the same snapshot
    assert cleared["succeeded"] is True
    assert reindexed["created"] == long_books and reindexed["failures"] == []
    assert deleted_by_query["deleted"] == sum(1 for n in pages.values() if n < 100)
    assert requests.get(f"{srv.url}/long-books-copy/_count").json()["count"] == long_books
    remaining = len(pages) - deleted_by_query["deleted"]

    added, through_pit, live, freed = out[4][1]
    assert added["result"] == "created"
    assert through_pit["hits"]["total"]["value"] == remaining  # the snapshot has no "new" book
    assert live["count"] == remaining + 1
    assert freed == {"pits": [{"successful": True, "pit_id": through_pit["pit_id"]}]}
