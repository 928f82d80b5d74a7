"""External versioning (`version` + `version_type=external|external_gte`) on index, delete and
`_bulk`, driven with opensearch-py against the real server. The expected outcome of every write
comes from a model of OpenSearch's rule kept in this file: `external` needs a version above the
document's current one, `external_gte` one at least equal, a deleted document's version still
counts, and the given version becomes the document's. External versions survive a restart."""
import json

import pytest
from opensearchpy import ConflictError, NotFoundError, RequestError


def conflicts(current, version, gte):
    """OpenSearch's VersionType.isVersionConflictForWrites for external types."""
    if current is None:
        return False
    return current > version if gte else current >= version


def reason(doc_id, current, version, gte):
    relation = "higher than" if gte else "higher or equal to"
    return f"[{doc_id}]: version conflict, current version [{current}] is {relation} the one provided [{version}]"


def make_index(client, name, shards=1):
    client.indices.create(index=name, body={"settings": {"number_of_shards": shards, "number_of_replicas": 0}})


@pytest.mark.parametrize("version_type", ["external", "external_gte"])
def test_index_and_delete_follow_the_external_rule(client, version_type):
    gte = version_type == "external_gte"
    name = f"extv-{version_type.replace('_', '-')}"
    make_index(client, name, shards=2)
    try:
        current = {}  # id -> version of the latest write (deletes included)
        live = set()
        steps = [("a", "index", 0), ("a", "index", 5), ("a", "index", 5), ("a", "index", 3), ("a", "index", 9),
                 ("b", "index", 7), ("b", "delete", 7), ("b", "delete", 8), ("b", "index", 8), ("b", "index", 12),
                 ("c", "delete", 4), ("a", "delete", 2), ("a", "delete", 10)]
        for doc_id, op, version in steps:
            expect_conflict = conflicts(current.get(doc_id), version, gte)
            call = (lambda: client.index(index=name, id=doc_id, body={"v": version}, version=version,
                                         version_type=version_type)) if op == "index" else \
                   (lambda: client.delete(index=name, id=doc_id, version=version, version_type=version_type))
            if expect_conflict:
                with pytest.raises(ConflictError) as e:
                    call()
                err = e.value.info["error"]
                assert err["type"] == "version_conflict_engine_exception"
                assert err["reason"] == reason(doc_id, current[doc_id], version, gte)
                continue
            if op == "delete" and doc_id not in live:
                # A missing document: 404 `not_found` with the version it was given.
                with pytest.raises(NotFoundError) as e:
                    call()
                assert e.value.info["result"] == "not_found" and e.value.info["_version"] == version
                continue
            r = call()
            assert r["_version"] == version, (doc_id, op, version)
            if op == "index":
                assert r["result"] == ("updated" if doc_id in live else "created")
                live.add(doc_id)
            else:
                assert r["result"] == "deleted"
                live.discard(doc_id)
            current[doc_id] = version
        for doc_id in ["a", "b", "c"]:
            if doc_id in live:
                assert client.get(index=name, id=doc_id)["_version"] == current[doc_id]
            else:
                assert not client.exists(index=name, id=doc_id)
        client.indices.refresh(index=name)
        hits = client.search(index=name, body={"version": True, "query": {"match_all": {}}})["hits"]["hits"]
        assert {h["_id"]: h["_version"] for h in hits} == {d: current[d] for d in live}
    finally:
        client.indices.delete(index=name)


def test_versioning_is_validated_as_opensearch(client):
    make_index(client, "extv-valid")
    try:
        client.index(index="extv-valid", id="1", body={"x": 1}, refresh=True)
        seq = client.get(index="extv-valid", id="1")
        cases = [
            # internal versioning refuses a version: if_seq_no is for that.
            (lambda: client.index(index="extv-valid", id="1", body={}, version=1),
             "internal versioning can not be used for optimistic concurrency control. "
             "Please use `if_seq_no` and `if_primary_term` instead"),
            (lambda: client.delete(index="extv-valid", id="1", version=1, version_type="internal"),
             "internal versioning can not be used for optimistic concurrency control. "
             "Please use `if_seq_no` and `if_primary_term` instead"),
            (lambda: client.index(index="extv-valid", id="1", body={}, version_type="external"),
             "illegal version value [-3] for version type [EXTERNAL]"),
            (lambda: client.index(index="extv-valid", id="1", body={}, version=-1, version_type="external_gte"),
             "illegal version value [-1] for version type [EXTERNAL_GTE]"),
            (lambda: client.create(index="extv-valid", id="2", body={}, version=3, version_type="external"),
             "create operations only support internal versioning. use index instead"),
            (lambda: client.index(index="extv-valid", body={}, version=3, version_type="external"),
             "create operations only support internal versioning. use index instead"),
            (lambda: client.index(index="extv-valid", id="1", body={}, version=3, version_type="external",
                                  if_seq_no=seq["_seq_no"], if_primary_term=seq["_primary_term"]),
             "compare and write operations can not use versioning"),
        ]
        for call, message in cases:
            with pytest.raises(RequestError) as e:
                call()
            assert e.value.status_code == 400
            assert e.value.info["error"]["type"] == "action_request_validation_exception"
            assert e.value.info["error"]["reason"] == f"Validation Failed: 1: {message};"
        with pytest.raises(RequestError) as e:
            client.index(index="extv-valid", id="1", body={}, version=3, version_type="newest")
        assert e.value.info["error"]["type"] == "illegal_argument_exception"
        assert e.value.info["error"]["reason"] == "No version type match [newest]"
        # Nothing above was written.
        assert client.get(index="extv-valid", id="1")["_version"] == 1
    finally:
        client.indices.delete(index="extv-valid")


def test_bulk_items_carry_external_versions(client):
    make_index(client, "extv-bulk", shards=3)
    try:
        writes = [("1", 10), ("2", 20), ("1", 10), ("1", 11), ("3", 5), ("2", 19), ("2", 25)]
        lines, expected, current = [], [], {}
        for doc_id, version in writes:
            lines.append(json.dumps({"index": {"_id": doc_id, "version": version, "version_type": "external"}}))
            lines.append(json.dumps({"v": version}))
            if conflicts(current.get(doc_id), version, gte=False):
                expected.append((409, reason(doc_id, current[doc_id], version, False)))
            else:
                expected.append((201 if doc_id not in current else 200, version))
                current[doc_id] = version
        lines.append(json.dumps({"delete": {"_id": "3", "version": 4, "version_type": "external_gte"}}))
        expected.append((409, reason("3", 5, 4, True)))
        lines.append(json.dumps({"delete": {"_id": "3", "version": 5, "version_type": "external_gte"}}))
        expected.append((200, 5))
        r = client.bulk(index="extv-bulk", body="\n".join(lines) + "\n", refresh=True)
        assert r["errors"] is True
        for item, (status, detail) in zip(r["items"], expected):
            (result,) = item.values()
            assert result["status"] == status, item
            if status == 409:
                assert result["error"]["type"] == "version_conflict_engine_exception"
                assert result["error"]["reason"] == detail
            else:
                assert result["_version"] == detail
        del current["3"]
        for doc_id, version in current.items():
            assert client.get(index="extv-bulk", id=doc_id)["_version"] == version
        # Invalid versioning in any item fails the whole request, as OpenSearch validates it.
        bad = json.dumps({"index": {"_id": "9", "version": 1}}) + "\n{}\n"
        with pytest.raises(RequestError) as e:
            client.bulk(index="extv-bulk", body=bad)
        assert e.value.info["error"]["type"] == "action_request_validation_exception"
        assert not client.exists(index="extv-bulk", id="9")
    finally:
        client.indices.delete(index="extv-bulk")


def test_external_versions_survive_a_restart(server_factory):
    server = server_factory()
    client = server.client()
    make_index(client, "extv-durable", shards=2)
    committed = {"c1": 40, "c2": 7}
    for doc_id, version in committed.items():
        client.index(index="extv-durable", id=doc_id, body={"n": 1}, version=version, version_type="external")
    client.indices.refresh(index="extv-durable")
    # Written after the refresh: only the write-ahead log has these when the process dies.
    logged = {"c1": 41, "w1": 1000, "w2": 3}
    for doc_id, version in logged.items():
        client.index(index="extv-durable", id=doc_id, body={"n": 2}, version=version, version_type="external_gte")
    client.delete(index="extv-durable", id="c2", version=9, version_type="external")
    expected = {**committed, **logged}
    del expected["c2"]
    server.kill()
    server.start()
    client = server.client()
    for doc_id, version in expected.items():
        assert client.get(index="extv-durable", id=doc_id)["_version"] == version, doc_id
    assert not client.exists(index="extv-durable", id="c2")
    # The restored versions still decide conflicts.
    with pytest.raises(ConflictError):
        client.index(index="extv-durable", id="w1", body={}, version=1000, version_type="external")
    assert client.index(index="extv-durable", id="w1", body={}, version=1000, version_type="external_gte")["_version"] == 1000
    server.stop()
    server.start()
    assert server.client().get(index="extv-durable", id="w1")["_version"] == 1000


def test_docs_example(server_factory):
    """Runs the curl example of docs/rest-api.md's external-versions section on a fresh server
    holding a few books, with refreshes off so the realtime difference shows."""
    import re
    import subprocess
    from pathlib import Path

    from test_documents import json_values

    doc = (Path(__file__).resolve().parents[2] / "docs" / "rest-api.md").read_text()
    section = doc.split("<!-- rest-api:versions:begin -->")[1].split("<!-- rest-api:versions:end -->")[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    srv = server_factory()
    client = srv.client()
    client.indices.create(index="books", body={"settings": {"number_of_replicas": 0, "refresh_interval": "-1"}})
    books = 3
    for i in range(books):
        client.index(index="books", id=str(i), body={"title": f"book {i}"})
    client.indices.refresh(index="books")
    script = "set -e\n" + block.replace("localhost:9200", srv.url.removeprefix("http://"))
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    written, conflict, not_refreshed, latest, stats = json_values(r.stdout)
    assert written["result"] == "created" and written["_version"] == 20
    assert conflict["status"] == 409
    assert conflict["error"]["reason"] == reason("7", 20, 20, gte=False)
    assert not_refreshed["found"] is False
    assert latest["found"] is True and latest["_version"] == 20 and "_source" not in latest
    # The stats count what the last refresh made searchable.
    assert stats == {"indices": {"count": 1, "docs": {"count": books, "deleted": 0}}}
