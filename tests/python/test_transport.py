"""Transport conventions: compressed request bodies, gzip responses, ?pretty, ?filter_path,
?human, ?error_trace, YAML output; and opensearch-py with http_compress=True."""
import gzip
import json
import zlib

import requests
import yaml
from opensearchpy import OpenSearch, helpers

NDJSON = {"Content-Type": "application/x-ndjson"}


def bulk_body(index, docs):
    lines = []
    for i, doc in enumerate(docs):
        lines.append(json.dumps({"index": {"_index": index, "_id": str(i)}}))
        lines.append(json.dumps(doc))
    return ("\n".join(lines) + "\n").encode()


def test_gzip_and_deflate_request_bodies(http):
    docs = [{"n": i, "tag": "even" if i % 2 == 0 else "odd"} for i in range(20)]
    resp = http.post("/transport-gzip/_bulk?refresh=true", data=gzip.compress(bulk_body("transport-gzip", docs)),
                     headers={**NDJSON, "Content-Encoding": "gzip"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["errors"] is False
    query = json.dumps({"query": {"term": {"tag": "even"}}}).encode()
    resp = http.post("/transport-gzip/_count", data=zlib.compress(query),
                     headers={"Content-Type": "application/json", "Content-Encoding": "deflate"})
    assert resp.status_code == 200, resp.text
    assert resp.json()["count"] == sum(1 for d in docs if d["tag"] == "even")


def test_malformed_gzip_is_a_400(http):
    resp = http.post("/transport-bad/_bulk", data=b"\x1f\x8b this is not gzip",
                     headers={**NDJSON, "Content-Encoding": "gzip"})
    assert resp.status_code == 400
    assert resp.json()["error"]["type"] == "parse_exception"
    assert http.head("/transport-bad").status_code == 404


def test_gzip_response_when_accepted(server):
    # Raw socket-level check: `requests` would inflate silently, so read the raw stream.
    resp = requests.get(server.url + "/", headers={"Accept-Encoding": "gzip"}, stream=True)
    assert resp.headers["Content-Encoding"] == "gzip"
    raw = resp.raw.read(decode_content=False)
    assert json.loads(gzip.decompress(raw))["version"]["distribution"] == "opensearch"
    plain = requests.get(server.url + "/", headers={"Accept-Encoding": "identity"})
    assert "Content-Encoding" not in plain.headers


def test_pretty(http):
    resp = http.get("/?pretty")
    assert resp.text.startswith("{\n  ")
    assert json.loads(resp.text) == http.get("/").json() | {"name": resp.json()["name"]}


def test_filter_path(http):
    docs = [{"n": i} for i in range(5)]
    http.post("/transport-filter/_bulk?refresh=true", data=bulk_body("transport-filter", docs), headers=NDJSON)
    body = http.get("/transport-filter/_search?filter_path=hits.hits._id,hits.total.value").json()
    assert body == {"hits": {"total": {"value": len(docs)},
                             "hits": [{"_id": h["_id"]} for h in http.get("/transport-filter/_search").json()["hits"]["hits"]]}}
    assert set(http.get("/transport-filter/_search?filter_path=-hits,-_shards").json()) == {"took", "timed_out"}
    assert http.get("/transport-filter/_search?filter_path=**.value").json() == {"hits": {"total": {"value": len(docs)}}}
    assert http.get("/transport-filter/_search?filter_path=t*").json().keys() == {"took", "timed_out"}
    assert http.get("/transport-filter/_search?filter_path=nothing.here").json() == {}


def test_error_trace_and_human(http):
    err = http.get("/no-such-index-transport/_search?error_trace=true").json()["error"]
    assert err["type"] == "index_not_found_exception"
    assert "stack_trace" in err and err["type"] in err["stack_trace"]
    assert "stack_trace" not in http.get("/no-such-index-transport/_search").json()["error"]
    http.put("/transport-human")
    stats = http.get("/transport-human/_stats?human").json()
    store = stats["_all"]["primaries"]["store"]
    assert isinstance(store["size"], str) and store["size"].endswith("b")


def test_yaml_output(http):
    http.put("/transport-yaml")
    for resp in [http.get("/transport-yaml/_search?format=yaml"),
                 http.get("/transport-yaml/_search", headers={"Accept": "application/yaml"})]:
        assert resp.status_code == 200
        assert resp.headers["Content-Type"].startswith("application/yaml")
        assert resp.text.startswith("---\n")
        parsed = yaml.safe_load(resp.text)
        assert parsed["hits"]["total"] == {"value": 0, "relation": "eq"}
        assert parsed["_shards"]["failed"] == 0


def test_cbor_and_smile_are_406(http):
    for resp in [http.get("/?format=cbor"), http.get("/", headers={"Accept": "application/smile"})]:
        assert resp.status_code == 406
        assert resp.json()["error"]["type"] == "not_acceptable_exception"


def test_opensearch_py_with_http_compress(server):
    client = OpenSearch([server.url], http_compress=True)
    docs = [{"_index": "transport-compress", "_id": str(i), "n": i} for i in range(50)]
    ok, errors = helpers.bulk(client, docs, refresh=True)
    assert ok == len(docs) and errors == []
    assert client.count(index="transport-compress")["count"] == len(docs)
    total = client.search(index="transport-compress", body={"size": 0, "aggs": {"s": {"sum": {"field": "n"}}}})
    assert total["aggregations"]["s"]["value"] == sum(d["n"] for d in docs)
