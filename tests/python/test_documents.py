"""Document APIs (index, create, get, _source, exists, update, delete, mget) and bad input."""
import pytest
from opensearchpy import ConflictError, NotFoundError, RequestError

INDEX = "docs-api"


@pytest.fixture(scope="module", autouse=True)
def docs_index(client):
    client.indices.create(index=INDEX, body={"mappings": {"properties": {
        "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
        "count": {"type": "integer"},
        "on": {"type": "boolean"},
        "when": {"type": "date"},
        "meta": {"properties": {"owner": {"type": "keyword"}}},
    }}})
    yield
    client.indices.delete(index=INDEX)


def test_index_get_versions_and_realtime(client):
    r = client.index(index=INDEX, id="1", body={"title": "first", "count": 1})
    assert (r["result"], r["_version"], r["_primary_term"]) == ("created", 1, 1)
    # Realtime: visible to GET before any refresh.
    g = client.get(index=INDEX, id="1")
    assert g["found"] and g["_source"] == {"title": "first", "count": 1} and g["_seq_no"] == r["_seq_no"]
    r2 = client.index(index=INDEX, id="1", body={"title": "second"})
    assert r2["result"] == "updated" and r2["_version"] == 2 and r2["_seq_no"] > r["_seq_no"]
    assert client.get_source(index=INDEX, id="1") == {"title": "second"}
    assert client.exists(index=INDEX, id="1")
    assert not client.exists(index=INDEX, id="nope")
    # GET with an expected version.
    assert client.get(index=INDEX, id="1", version=2)["_version"] == 2
    with pytest.raises(ConflictError):
        client.get(index=INDEX, id="1", version=1)


def test_auto_id_and_create(client):
    r = client.index(index=INDEX, body={"title": "no id"})
    assert r["result"] == "created" and len(r["_id"]) == 20
    assert client.get(index=INDEX, id=r["_id"])["_source"]["title"] == "no id"
    client.create(index=INDEX, id="c1", body={"title": "created"})
    with pytest.raises(ConflictError) as e:
        client.create(index=INDEX, id="c1", body={"title": "again"})
    assert e.value.error == "version_conflict_engine_exception"


def test_get_missing_and_source_filtering(client):
    with pytest.raises(NotFoundError):
        client.get(index=INDEX, id="missing-doc")
    with pytest.raises(NotFoundError):
        client.get_source(index=INDEX, id="missing-doc")
    client.index(index=INDEX, id="f", body={"title": "t", "meta": {"owner": "ann"}, "count": 3})
    assert client.get(index=INDEX, id="f", _source_includes="meta.owner")["_source"] == {"meta": {"owner": "ann"}}
    assert client.get(index=INDEX, id="f", _source_excludes="meta")["_source"] == {"title": "t", "count": 3}
    assert "_source" not in client.get(index=INDEX, id="f", _source=False)


def test_update_partial_upsert_noop(client):
    client.index(index=INDEX, id="u", body={"title": "x", "meta": {"owner": "a"}, "count": 1})
    r = client.update(index=INDEX, id="u", body={"doc": {"meta": {"owner": "b"}}})
    assert r["result"] == "updated" and r["_version"] == 2
    assert client.get_source(index=INDEX, id="u") == {"title": "x", "meta": {"owner": "b"}, "count": 1}
    assert client.update(index=INDEX, id="u", body={"doc": {"count": 1}})["result"] == "noop"
    with pytest.raises(NotFoundError) as e:
        client.update(index=INDEX, id="u-missing", body={"doc": {"count": 1}})
    assert e.value.error == "document_missing_exception"
    r = client.update(index=INDEX, id="u-up", body={"doc": {"count": 5}, "doc_as_upsert": True})
    assert r["result"] == "created"
    r = client.update(index=INDEX, id="u-up2", body={"doc": {"count": 5}, "upsert": {"count": 0}})
    assert r["result"] == "created" and client.get_source(index=INDEX, id="u-up2") == {"count": 0}


def test_delete_and_optimistic_concurrency(client):
    r = client.index(index=INDEX, id="cas", body={"count": 1})
    with pytest.raises(ConflictError):
        client.index(index=INDEX, id="cas", body={"count": 2}, if_seq_no=r["_seq_no"] + 100, if_primary_term=1)
    r2 = client.index(index=INDEX, id="cas", body={"count": 2}, if_seq_no=r["_seq_no"], if_primary_term=r["_primary_term"])
    assert r2["_version"] == 2
    with pytest.raises(ConflictError):
        client.delete(index=INDEX, id="cas", if_seq_no=r["_seq_no"], if_primary_term=1)
    d = client.delete(index=INDEX, id="cas", if_seq_no=r2["_seq_no"], if_primary_term=1)
    assert d["result"] == "deleted" and d["_version"] == 3
    with pytest.raises(NotFoundError):
        client.get(index=INDEX, id="cas")
    with pytest.raises(NotFoundError):
        client.delete(index=INDEX, id="cas")


def test_mget(client):
    client.index(index=INDEX, id="m1", body={"count": 1})
    client.index(index=INDEX, id="m2", body={"count": 2})
    r = client.mget(body={"docs": [{"_index": INDEX, "_id": "m1"}, {"_index": INDEX, "_id": "zz"},
                                   {"_index": "no-such-index", "_id": "1"}]})
    docs = r["docs"]
    assert docs[0]["found"] and docs[0]["_source"] == {"count": 1}
    assert docs[1]["found"] is False
    assert docs[2]["error"]["type"] == "index_not_found_exception"
    r = client.mget(index=INDEX, body={"ids": ["m2", "m1"]})
    assert [d["_source"]["count"] for d in r["docs"]] == [2, 1]
    with pytest.raises(RequestError) as e:
        client.mget(body={"docs": []})
    assert e.value.error == "action_request_validation_exception"
    # OpenSearch 2 dropped the underscore forms `_routing` and `_version`: unknown keys are 400s.
    for key in ["_routing", "_version", "colour"]:
        with pytest.raises(RequestError) as e:
            client.mget(body={"docs": [{"_index": INDEX, "_id": "m1", key: "1"}]})
        assert e.value.info["error"]["reason"] == f"failed to parse multi get request. unknown field [{key}]"


def test_update_of_a_missing_document_is_missing_before_cas(client):
    # The document is read first: without an upsert, a missing one is a 404 whatever
    # if_seq_no says; with an upsert the compare-and-set applies and finds nothing (409).
    with pytest.raises(NotFoundError) as e:
        client.update(index=INDEX, id="cas-missing", body={"doc": {"a": 1}}, if_seq_no=1, if_primary_term=1)
    assert e.value.info["error"]["type"] == "document_missing_exception"
    with pytest.raises(ConflictError):
        client.update(index=INDEX, id="cas-missing", body={"doc": {"a": 1}, "upsert": {"a": 0}},
                      if_seq_no=1, if_primary_term=1)
    assert not client.exists(index=INDEX, id="cas-missing")


def test_refresh_param_makes_doc_searchable(client, http):
    def found(index, text):
        return client.search(index=index, body={"query": {"match": {"title": text}}})["hits"]["total"]["value"]

    # No scheduled refreshes: only the request's refresh can make a document searchable.
    client.indices.create(index="refresh-param", body={"settings": {"refresh_interval": "-1"}})
    client.index(index="refresh-param", id="r0", body={"title": "invisible"})
    assert found("refresh-param", "invisible") == 0
    client.index(index="refresh-param", id="r1", body={"title": "searchable"}, refresh=True)
    assert found("refresh-param", "searchable") == 1
    # The refresh made the earlier write visible too (it commits everything before it).
    assert found("refresh-param", "invisible") == 1
    # wait_for returns only once a refresh made the write visible.
    client.indices.create(index="refresh-wait", body={"settings": {"refresh_interval": "100ms"}})
    r = client.index(index="refresh-wait", id="r2", body={"title": "waited"}, refresh="wait_for")
    assert r["result"] == "created"
    assert found("refresh-wait", "waited") == 1
    client.indices.delete(index="refresh-param,refresh-wait")


def test_auto_create_index_on_first_write(client):
    client.index(index="auto-created", id="1", body={"x": "y"})
    assert client.indices.exists(index="auto-created")
    client.indices.delete(index="auto-created")


@pytest.mark.parametrize("body, err", [
    ({"count": "not a number"}, "mapper_parsing_exception"),
    ({"count": 10_000_000_000}, "mapper_parsing_exception"),
    ({"on": "maybe"}, "mapper_parsing_exception"),
    ({"when": "yesterday"}, "mapper_parsing_exception"),
    ({"meta": "scalar"}, "mapper_parsing_exception"),
])
def test_wrong_value_types_are_400(client, body, err):
    with pytest.raises(RequestError) as e:
        client.index(index=INDEX, id="bad", body=body)
    assert e.value.status_code == 400 and e.value.error == err
    with pytest.raises(NotFoundError):
        client.get(index=INDEX, id="bad")


def test_coercion_like_opensearch(client):
    client.index(index=INDEX, id="co", body={"count": "42", "on": "true", "when": 1700000000000, "title": 12})
    assert client.get_source(index=INDEX, id="co") == {"count": "42", "on": "true", "when": 1700000000000, "title": 12}


def test_malformed_json_and_bad_requests(http):
    r = http.put(f"/{INDEX}/_doc/x", data="{not json", headers={"content-type": "application/json"})
    assert r.status_code == 400 and r.json()["error"]["type"] == "parse_exception"
    r = http.put(f"/{INDEX}/_doc/x", data="[1,2]", headers={"content-type": "application/json"})
    assert r.status_code == 400
    r = http.put(f"/{INDEX}/_doc/{'a' * 600}", json={"a": 1})
    assert r.status_code == 400 and r.json()["error"]["type"] == "action_request_validation_exception"
    r = http.post(f"/{INDEX}/_update/x", json={"script": {"source": "ctx._source.x = 1"}})
    assert r.status_code == 400
    r = http.put(f"/{INDEX}/_doc/x?refresh=sometimes", json={"a": 1})
    assert r.status_code == 400


def test_oversized_body_is_413(server_factory):
    srv = server_factory(config={"max_body_bytes": 1024})
    import requests
    r = requests.put(f"{srv.url}/big/_doc/1", json={"x": "y" * 4096})
    assert r.status_code == 413
    assert r.json()["error"]["type"] == "content_too_long_exception"
    # Still serving.
    assert requests.get(srv.url + "/").status_code == 200


def json_values(text):
    """The JSON values a block of curl calls printed (lines starting with `{` or `[`), skipping
    header dumps (`-I`) and `_cat` tables."""
    import json as _json
    decoder, values, i, prev_end = _json.JSONDecoder(), [], 0, 0
    while i < len(text):
        # A value starts a line, or directly follows the previous one (`curl -s` prints no newline).
        if text[i] in "{[" and (i == 0 or text[i - 1] == "\n" or i == prev_end):
            value, i = decoder.raw_decode(text, i)
            values.append(value)
            prev_end = i
        else:
            i += 1
    return values


def test_rest_api_doc_examples(server_factory):
    """Runs every curl example of docs/rest-api.md's documents section, in order, against a
    fresh server, and checks each prints what the text around it says."""
    import re
    import subprocess
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "rest-api.md").read_text()
    section = doc.split("<!-- rest-api:documents:begin -->")[1].split("<!-- rest-api:documents:end -->")[0]
    blocks = re.findall(r"```bash\n(.*?)```", section, re.S)
    assert len(blocks) == 15
    srv = server_factory()
    hostport = srv.url.removeprefix("http://")
    prelude = 'curl() { command curl --fail-with-body "$@"; }\nset -e\n'
    out = []
    for block in blocks:
        script = prelude + block.replace("localhost:9200", hostport)
        r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, f"example failed:\n{block}\nstdout: {r.stdout}\nstderr: {r.stderr}"
        out.append((r.stdout, json_values(r.stdout)))
    (info,), (health,) = out[0][1], out[1][1]
    assert info["version"]["distribution"] == "opensearch"
    assert health["status"] in ("green", "yellow") and health["number_of_nodes"] == 1
    (created,) = out[2][1]
    assert created["acknowledged"] is True and created["index"] == "books"
    hosts_created, host_doc, host_search = out[3][1]
    assert host_doc["result"] == "created"
    # `::ffff:10.0.0.2` is normalised to `10.0.0.2`, so the term query finds it.
    assert [h["_id"] for h in host_search["hits"]["hits"]] == ["1"]
    assert out[4][1] == [{"acknowledged": True}]
    text, (index, mapping, settings) = out[5]
    assert index["books"]["mappings"]["properties"]["isbn"] == {"type": "keyword"}
    assert mapping["books"]["mappings"]["properties"]["publisher"]["properties"]["name"]["type"] == "keyword"
    assert settings["books"]["settings"]["index"]["number_of_replicas"] == "0"
    assert re.search(r"HTTP/1\.1 200", text)  # `curl -I`: the index exists
    put1, auto, create2 = out[6][1]
    assert put1["result"] == auto["result"] == create2["result"] == "created"
    assert put1["_id"] == "1" and create2["_id"] == "2" and auto["_id"] not in ("1", "2")
    text, (got, source, filtered) = out[7]
    assert got["found"] is True and got["_source"]["title"] == "Dune"
    assert source["title"] == "Dune" and source["pages"] == 412
    assert filtered["_source"] == {"title": "Dune", "publisher": {"name": "Chilton"}}
    assert re.search(r"HTTP/1\.1 200", text)
    upd1, upsert3, upsert4 = out[8][1]
    assert upd1["result"] == "updated" and upsert3["result"] == "created" and upsert4["result"] == "created"
    (cas,) = out[9][1]
    assert cas["result"] == "updated" and cas["_version"] == 2
    (deleted,) = out[10][1]
    assert deleted["result"] == "deleted"
    by_docs, by_ids = out[11][1]
    assert [d["found"] for d in by_docs["docs"]] == [True, True]
    assert by_docs["docs"][0]["_source"]["price"] == 7.99  # the partial update merged
    assert [(d["_id"], d["found"]) for d in by_ids["docs"]] == [("1", True), ("3", True)]
    bulk, bulk_index = out[12][1]
    assert bulk["errors"] is False
    assert [list(i)[0] for i in bulk["items"]] == ["index", "create", "update", "delete"]
    assert bulk_index["items"][0]["index"]["status"] == 201
    stats_out = out[13][1]
    cat_json = next(v for v in stats_out if isinstance(v, list))
    rows = {row["index"]: row for row in cat_json}
    assert set(rows) == {"books", "hosts"} and all(set(r) == {"index", "docs.count", "store.size"} for r in cat_json)
    # books: 1, the generated id, 2, 10, 11, 12 (3 and 4 were deleted); hosts: its one document.
    assert (rows["books"]["docs.count"], rows["hosts"]["docs.count"]) == ("6", "1")
    assert out[14][1] == [{"acknowledged": True}]
    import requests
    # The examples left the state they describe.
    assert requests.get(f"{srv.url}/books").status_code == 404


def test_rest_api_doc_engine_config_example(server_factory):
    """The engine config example in docs/rest-api.md is a valid server config."""
    import re
    from pathlib import Path

    import requests

    doc = (Path(__file__).resolve().parents[2] / "docs" / "rest-api.md").read_text()
    section = doc.split("<!-- rest-api:documents:begin -->")[1].split("<!-- rest-api:documents:end -->")[0]
    (block,) = re.findall(r"```json\n(.*?)```", section, re.S)
    import json as _json
    srv = server_factory(config=_json.loads(block))
    assert requests.put(f"{srv.url}/cfg/_doc/1", json={"a": 1}).status_code == 201
    assert requests.get(f"{srv.url}/cfg/_doc/1").json()["found"]


def test_hostile_input_gets_4xx_never_a_crash(server_factory):
    """Garbage to every document/index endpoint: always an OpenSearch error body with a 4xx
    status, and the server keeps serving."""
    import random

    import requests

    srv = server_factory()
    u = srv.url
    requests.put(f"{u}/hostile", json={"mappings": {"properties": {"n": {"type": "integer"}, "d": {"type": "date"},
                                                                    "o": {"properties": {"k": {"type": "keyword"}}}}}})
    rng = random.Random(7)
    bodies = ["", "{", "}", "[]", "null", "1", '"s"', '{"n": [1, {"x": 2}]}', '{"n": 1e400}', '{"": 1}',
              '{"a..b": 1}', '{"o": {"k": {"deep": 1}}}', '{"d": "2024-13-45"}', '{"d": true}',
              '{"n": "9999999999999"}', '{"o": [1, 2]}', "\x00\x01\x02", '{"a":' * 200 + "1" + "}" * 200,
              '{"mappings": {"properties": {"x": {"type": 5}}}}', '{"settings": {"number_of_shards": "many"}}',
              '{"doc": 5}', '{"docs": [{"_index": 5, "_id": []}]}', '{"ids": "1"}']
    paths = [("put", "/hostile/_doc/1"), ("post", "/hostile/_doc"), ("put", "/hostile/_create/2"),
             ("post", "/hostile/_update/1"), ("post", "/_mget"), ("post", "/hostile/_mget"),
             ("post", "/_bulk"), ("post", "/hostile/_bulk"), ("put", "/hostile/_mapping"),
             ("put", "/hostile/_settings"), ("put", "/hostile-new"), ("get", "/hostile/_doc/%00"),
             ("get", "/hostile/_doc/1?version=abc"), ("put", "/hostile/_doc/1?if_seq_no=x&if_primary_term=1"),
             ("get", "/_cat/indices?h=nope"), ("get", "/_cluster/health?wait_for_status=purple")]
    # Bodies no endpoint accepts (not a JSON object), and paths whose parameters are invalid
    # whatever the body: those must never get a 2xx.
    not_an_object = {"{", "}", "[]", "null", "1", '"s"', "\x00\x01\x02"}
    bad_params = {"/hostile/_doc/1?version=abc", "/hostile/_doc/1?if_seq_no=x&if_primary_term=1",
                  "/_cat/indices?h=nope", "/_cluster/health?wait_for_status=purple"}
    needs_body = {p for m, p in paths if m in ("put", "post")} - {"/hostile-new"}
    for _ in range(300):
        method, path = rng.choice(paths)
        body = rng.choice(bodies)
        r = getattr(requests, method)(u + path, data=body.encode(), headers={"content-type": "application/json"})
        assert r.status_code < 500, (method, path, body[:80], r.status_code, r.text[:300])
        invalid = path in bad_params or (path in needs_body and (body in not_an_object or body == ""))
        if invalid and path.endswith("_bulk") and r.status_code == 200:
            # Documented: a bulk line that is not JSON fails only its item.
            assert r.json()["errors"] is True, ("accepted invalid input", path, body[:80], r.text[:300])
        elif invalid:
            assert r.status_code >= 400, ("accepted invalid input", method, path, body[:80], r.text[:300])
        if r.status_code >= 400 and r.text:
            err = r.json()
            if r.status_code == 404 and err.get("found") is False:
                continue  # a missing document is a normal GET answer, not an error body
            assert err["status"] == r.status_code and err["error"]["type"], err
    assert requests.get(u + "/").status_code == 200
    assert srv.proc.poll() is None
