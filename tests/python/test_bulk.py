"""_bulk: 1,000 documents with the official client, per-item results, bad NDJSON lines."""
import json

import pytest
from opensearchpy import RequestError, helpers

INDEX = "bulk-docs"


def doc(i):
    return {"title": f"document number {i}", "n": i, "price": i * 0.5, "tag": f"t{i % 10}",
            "created": f"2024-01-{i % 28 + 1:02d}T00:00:00Z", "flag": i % 2 == 0}


def ndjson(lines):
    return "".join(json.dumps(l) + "\n" if not isinstance(l, str) else l + "\n" for l in lines)


def test_bulk_thousand_docs(client):
    client.indices.create(index=INDEX, body={"settings": {"number_of_replicas": 0}, "mappings": {"properties": {
        "title": {"type": "text"}, "n": {"type": "long"}, "price": {"type": "double"},
        "tag": {"type": "keyword"}, "created": {"type": "date"}, "flag": {"type": "boolean"}}}})
    actions = [{"_index": INDEX, "_id": str(i), "_source": doc(i)} for i in range(1000)]
    ok, errors = helpers.bulk(client, actions, chunk_size=250, refresh=True)
    assert ok == 1000 and errors == []
    stats = client.indices.stats(index=INDEX)["indices"][INDEX]["primaries"]
    assert stats["docs"]["count"] == 1000
    assert client.get(index=INDEX, id="999")["_source"] == doc(999)
    rows = client.cat.indices(index=INDEX, format="json")
    assert rows[0]["docs.count"] == "1000"


def test_bulk_mixed_actions_and_per_item_status(client):
    body = ndjson([
        {"index": {"_index": INDEX, "_id": "a"}}, {"n": 1},
        {"create": {"_index": INDEX, "_id": "a"}}, {"n": 2},          # 409: exists
        {"update": {"_index": INDEX, "_id": "a"}}, {"doc": {"n": 3}},
        {"update": {"_index": INDEX, "_id": "nope"}}, {"doc": {"n": 3}},  # 404: missing
        {"delete": {"_index": INDEX, "_id": "0"}},
        {"delete": {"_index": INDEX, "_id": "never-existed"}},        # 404 not_found, not an error
        {"index": {"_index": INDEX}}, {"n": 4},                       # generated id
        {"index": {"_index": INDEX, "_id": ""}}, {"n": 5},            # empty id
        {"index": {"_index": INDEX, "_id": "bad-type"}}, {"n": "xx"}, # mapper_parsing_exception
    ])
    r = client.bulk(body=body)
    assert r["errors"] is True
    items = r["items"]
    statuses = [list(it.values())[0]["status"] for it in items]
    assert statuses == [201, 409, 200, 404, 200, 404, 201, 400, 400]
    assert items[1]["create"]["error"]["type"] == "version_conflict_engine_exception"
    assert items[3]["update"]["error"]["type"] == "document_missing_exception"
    assert items[5]["delete"]["result"] == "not_found" and "error" not in items[5]["delete"]
    assert items[7]["index"]["error"]["reason"] == "if _id is specified it must not be empty"
    assert items[8]["index"]["error"]["type"] == "mapper_parsing_exception"
    assert client.get(index=INDEX, id="a")["_source"] == {"n": 3}
    assert client.get(index=INDEX, id="a")["_version"] == 2


def test_bad_ndjson_lines_are_item_errors_others_applied(http):
    body = "\n".join([
        json.dumps({"index": {"_index": INDEX, "_id": "good-1"}}), json.dumps({"n": 1}),
        "{this is not json",
        json.dumps({"index": {"_index": INDEX, "_id": "bad-src"}}), '{"n": 1,,}',
        json.dumps({"index": {"_index": INDEX, "_id": "good-2"}}), json.dumps({"n": 2}),
    ]) + "\n"
    r = http.post("/_bulk", data=body, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200
    out = r.json()
    assert out["errors"] is True
    statuses = [list(it.values())[0]["status"] for it in out["items"]]
    assert statuses == [201, 400, 400, 201]
    assert http.get(f"/{INDEX}/_doc/good-1").json()["found"]
    assert http.get(f"/{INDEX}/_doc/good-2").json()["found"]
    assert http.get(f"/{INDEX}/_doc/bad-src").status_code == 404


def test_structurally_wrong_action_fails_request(http):
    r = http.post("/_bulk", data='{"index":{"_index":"bulk-docs","_id":"x"}}\n{"a":1}\n{}\n',
                  headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 400
    assert "Malformed action/metadata line [3]" in r.json()["error"]["reason"]
    r = http.post("/_bulk", data='{"explode":{}}\n', headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 400


def test_index_scoped_bulk_and_auto_create(client, http):
    body = ndjson([{"index": {"_id": "1"}}, {"v": 1}, {"index": {"_id": "2"}}, {"v": 2}])
    r = http.post("/bulk-auto/_bulk?refresh=true", data=body, headers={"content-type": "application/x-ndjson"})
    assert r.status_code == 200 and r.json()["errors"] is False
    assert all(it["index"]["forced_refresh"] for it in r.json()["items"])
    assert client.indices.stats(index="bulk-auto")["indices"]["bulk-auto"]["primaries"]["docs"]["count"] == 2
    client.indices.delete(index="bulk-auto")


def test_empty_bulk_is_400(client):
    with pytest.raises(RequestError):
        client.bulk(body="\n")


def test_concurrent_bulk_into_several_indices_with_reads_and_deletes(server, http):
    import threading

    import requests

    url = server.url
    errors = []

    def writer(w):
        try:
            for b in range(10):
                lines = []
                for i in range(100):
                    lines.append(json.dumps({"index": {"_index": f"conc-{w}", "_id": f"{b}-{i}"}}))
                    lines.append(json.dumps({"n": i, "w": w, "text": f"writer {w} batch {b}"}))
                    lines.append(json.dumps({"index": {"_index": "conc-shared", "_id": f"{w}-{b}-{i}"}}))
                    lines.append(json.dumps({"w": w}))
                r = requests.post(f"{url}/_bulk", data="\n".join(lines) + "\n", headers={"content-type": "application/x-ndjson"})
                assert r.status_code == 200 and r.json()["errors"] is False, r.text[:300]
                # Realtime reads of what was just acknowledged.
                g = requests.get(f"{url}/conc-{w}/_doc/{b}-99")
                assert g.status_code == 200 and g.json()["_source"]["w"] == w
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    def churn():
        # Create/delete a throwaway index while the writers run.
        for _ in range(5):
            requests.put(f"{url}/conc-churn/_doc/1", json={"x": 1})
            requests.delete(f"{url}/conc-churn")

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(4)] + [threading.Thread(target=churn)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert errors == []
    r = http.post("/conc-*/_refresh")
    assert r.status_code == 200
    stats = http.get("/conc-*/_stats").json()["indices"]
    for w in range(4):
        assert stats[f"conc-{w}"]["primaries"]["docs"]["count"] == 1000
    assert stats["conc-shared"]["primaries"]["docs"]["count"] == 4000
    http.delete("/conc-*")
