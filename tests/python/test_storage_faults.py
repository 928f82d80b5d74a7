"""Storage error paths against the real binary (issue 9): mapping limits at the door and
meta.json that always reads back; a full disk never loses an acknowledged write; a corrupted
write-ahead log makes its index red (with the reason) instead of silently dropping documents,
and `quidditch wal salvage` brings it back; name/id limits; oversized `Expect: 100-continue`.
"""
import json
import os
import socket
import subprocess
import tempfile
from pathlib import Path
from urllib.parse import urlparse

import pytest
import requests

from conftest import quidditch_bin

NDJSON = {"content-type": "application/x-ndjson"}


def nested_doc(levels: int, leaf="x"):
    doc = {"leaf": leaf}
    for _ in range(levels):
        doc = {"o": doc}
    return doc


def error_of(r):
    body = r.json()
    return body["error"]["type"], body["error"]["reason"]


def present(url, index, ids):
    r = requests.post(f"{url}/{index}/_mget", json={"ids": ids}, timeout=60)
    assert r.status_code == 200, r.text
    return {d["_id"] for d in r.json()["docs"] if d.get("found")}


def cat_health(url, index):
    rows = requests.get(f"{url}/_cat/indices?format=json", timeout=30).json()
    return {row["index"]: row["health"] for row in rows}.get(index)


# --- mapping limits -------------------------------------------------------------------------

def test_deep_document_is_refused_at_the_door_and_the_index_still_opens(server_factory):
    srv = server_factory()
    u = srv.url
    r = requests.put(f"{u}/deepidx/_doc/deep", json=nested_doc(64))
    assert r.status_code == 400, r.text
    kind, reason = error_of(r)
    assert kind == "illegal_argument_exception"
    # The first object past depth 20: 20 nested "o" objects (the root is depth 1).
    assert reason == "Limit of mapping depth [20] has been exceeded due to object field [" + ".".join(["o"] * 20) + "]"
    # The deepest document the default limit allows: 19 objects and a leaf.
    r = requests.put(f"{u}/deepidx/_doc/ok", json=nested_doc(19))
    assert r.status_code == 201, r.text
    assert requests.get(f"{u}/deepidx/_doc/deep").status_code == 404
    for restart in (srv.restart, lambda: (srv.kill(), srv.start())):
        restart()
        u = srv.url
        r = requests.get(f"{u}/deepidx/_doc/ok")
        assert r.status_code == 200, r.text
        assert r.json()["_source"] == nested_doc(19)
        assert cat_health(u, "deepidx") in ("green", "yellow")
    srv.kill()


def dotted(levels: int) -> str:
    return ".".join(["o"] * levels)


def test_deepest_and_largest_allowed_mappings_read_back_after_restart(server_factory):
    srv = server_factory()
    u = srv.url
    # Depth: raised to the highest accepted value, filled through a dotted name (the request
    # JSON stays flat, the mapping does not).
    max_depth = 256
    leaf = dotted(max_depth - 1) + ".leaf"  # objects at depths 2..256
    r = requests.put(f"{u}/deepmap", json={"settings": {"index.mapping.depth.limit": max_depth},
                                            "mappings": {"properties": {leaf: {"type": "keyword"}}}})
    assert r.status_code == 200, r.text
    r = requests.put(f"{u}/deepmap/_mapping", json={"properties": {dotted(max_depth) + ".leaf": {"type": "keyword"}}})
    assert r.status_code == 400 and error_of(r)[0] == "illegal_argument_exception", r.text
    assert requests.put(f"{u}/deepmap/_settings", json={"index.mapping.depth.limit": max_depth + 1}).status_code == 400
    doc = {leaf: "v"}
    assert requests.put(f"{u}/deepmap/_doc/1?refresh=true", json=doc).status_code == 201
    # Width: exactly the default 1000 fields, then one too many.
    props = {f"f{i}": {"type": "keyword"} for i in range(1000)}
    assert requests.put(f"{u}/widemap", json={"mappings": {"properties": props}}).status_code == 200
    r = requests.put(f"{u}/widemap/_mapping", json={"properties": {"one_more": {"type": "keyword"}}})
    assert r.status_code == 400, r.text
    assert error_of(r) == ("illegal_argument_exception", "Limit of total fields [1000] has been exceeded")
    r = requests.put(f"{u}/widemap/_doc/1", json={"dynamic_one": 1})
    assert r.status_code == 400 and "Limit of total fields [1000]" in error_of(r)[1], r.text
    # Dynamic like OpenSearch: raising the limit lets the field in.
    assert requests.put(f"{u}/widemap/_settings", json={"index": {"mapping": {"total_fields": {"limit": 1001}}}}).status_code == 200
    assert requests.put(f"{u}/widemap/_mapping", json={"properties": {"one_more": {"type": "keyword"}}}).status_code == 200
    before = {i: requests.get(f"{u}/{i}/_mapping").json() for i in ("deepmap", "widemap")}
    for restart in (srv.restart, lambda: (srv.kill(), srv.start())):
        restart()
        u = srv.url
        for index, mapping in before.items():
            r = requests.get(f"{u}/{index}/_mapping")
            assert r.status_code == 200, r.text
            assert r.json() == mapping
        # Walk the deep mapping to its leaf: every level came back.
        node = before["deepmap"]["deepmap"]["mappings"]
        for _ in range(max_depth - 1):
            node = node["properties"]["o"]
        assert node["properties"]["leaf"] == {"type": "keyword"}
        assert len(before["widemap"]["widemap"]["mappings"]["properties"]) == 1001
        assert requests.get(f"{u}/deepmap/_doc/1").json()["_source"] == doc
        settings = requests.get(f"{u}/widemap/_settings").json()["widemap"]["settings"]["index"]
        assert settings["mapping"]["total_fields"]["limit"] == "1001"
    srv.kill()


def test_mapping_limit_settings_are_validated(server):
    u = server.url
    r = requests.put(f"{u}/badlimit", json={"settings": {"index.mapping.depth.limit": 0}})
    assert r.status_code == 400
    assert error_of(r) == ("illegal_argument_exception",
                           "Failed to parse value [0] for setting [index.mapping.depth.limit] must be >= 1")
    r = requests.put(f"{u}/badlimit", json={"settings": {"index.mapping.total_fields.limit": "lots"}})
    assert r.status_code == 400 and error_of(r)[0] == "illegal_argument_exception"
    r = requests.put(f"{u}/namelimit", json={"settings": {"index.mapping.field_name_length.limit": 5,
                                                          "index.mapping.nested_fields.limit": 10}})
    assert r.status_code == 200, r.text
    r = requests.put(f"{u}/namelimit/_doc/1", json={"toolong": 1})
    assert r.status_code == 400
    assert error_of(r) == ("illegal_argument_exception", "Field name [toolong] is longer than the limit of [5] characters")
    assert requests.put(f"{u}/namelimit/_doc/2", json={"short": 1}).status_code == 201


# --- names and ids --------------------------------------------------------------------------

def test_index_names_and_ids_over_the_limits_are_400(server):
    u = server.url
    r = requests.put(f"{u}/a%00b")
    assert r.status_code == 400 and error_of(r)[0] == "invalid_index_name_exception", r.text
    r = requests.put(f"{u}/a%00b/_doc/1", json={"a": 1})
    assert r.status_code == 400 and error_of(r)[0] == "invalid_index_name_exception", r.text
    r = requests.put(f"{u}/{'n' * 256}")
    assert r.status_code == 400, r.text
    assert error_of(r) == ("invalid_index_name_exception", f"Invalid index name [{'n' * 256}], index name is too long, (256 > 255)")
    assert requests.put(f"{u}/{'n' * 255}").status_code == 200
    # Bytes, not characters: 128 two-byte characters are 256 bytes.
    r = requests.put(f"{u}/{'é' * 128}")
    assert r.status_code == 400 and error_of(r)[0] == "invalid_index_name_exception"
    r = requests.put(f"{u}/ids/_doc/{'i' * 513}", json={"a": 1})
    assert r.status_code == 400, r.text
    kind, reason = error_of(r)
    assert kind == "action_request_validation_exception"
    assert "is too long, must be no longer than 512 bytes but was: 513" in reason
    assert len(reason) < 300  # the id is echoed truncated
    assert requests.put(f"{u}/ids/_doc/{'i' * 512}", json={"a": 1}).status_code == 201
    bulk = json.dumps({"index": {"_index": "ids", "_id": "j" * 600}}) + "\n" + json.dumps({"a": 1}) + "\n"
    item = requests.post(f"{u}/_bulk", data=bulk, headers=NDJSON).json()["items"][0]["index"]
    assert item["status"] == 400 and item["error"]["type"] == "action_request_validation_exception"


# --- HTTP -----------------------------------------------------------------------------------

def test_expect_continue_with_oversized_length_gets_413_before_the_body(server):
    parsed = urlparse(server.url)
    with socket.create_connection((parsed.hostname, parsed.port), timeout=30) as s:
        s.sendall(
            b"PUT /expect-idx/_doc/1 HTTP/1.1\r\n"
            b"Host: localhost\r\n"
            b"Content-Type: application/json\r\n"
            b"Content-Length: 200000000\r\n"
            b"Expect: 100-continue\r\n\r\n"
        )
        # No body is ever sent: the answer must come anyway, and be the final one.
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = s.recv(65536)
            assert chunk, f"connection closed after {data!r}"
            data += chunk
        head, _, rest = data.partition(b"\r\n\r\n")
        status_line = head.split(b"\r\n")[0]
        assert status_line.startswith(b"HTTP/1.1 413"), head
        length = int([line.split(b":")[1] for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")][0])
        while len(rest) < length:
            chunk = s.recv(65536)
            if not chunk:
                break
            rest += chunk
        assert json.loads(rest[:length])["error"]["type"] == "content_too_long_exception"
    assert requests.get(f"{server.url}/expect-idx/_doc/1").status_code == 404


def test_overlapping_ranges_get_a_reason_without_debug_output(server):
    u = server.url
    assert requests.put(f"{u}/ranges/_doc/1?refresh=true", json={"n": 5}).status_code == 201
    r = requests.post(f"{u}/ranges/_search", json={"size": 0, "aggs": {"r": {"range": {
        "field": "n", "ranges": [{"from": 0, "to": 10}, {"from": 5, "to": 15}]}}}})
    assert r.status_code == 400, r.text
    kind, reason = error_of(r)
    assert kind == "illegal_argument_exception"
    assert "overlapping ranges" in reason
    assert "{" not in reason and "Internal" not in reason


# --- write-ahead log corruption ---------------------------------------------------------------

def wal_segments(data_dir: Path, index: str):
    return sorted(p for p in (data_dir / "indices" / index).glob("**/wal/*.log") if p.stat().st_size > 0)


def test_corrupted_wal_record_makes_the_index_red_and_salvage_recovers(server_factory):
    srv = server_factory()
    u = srv.url
    assert requests.put(f"{u}/walidx", json={"settings": {"refresh_interval": "-1"}}).status_code == 200
    assert requests.put(f"{u}/other/_doc/1?refresh=true", json={"a": 1}).status_code == 201
    ids = [f"d{i}" for i in range(40)]
    for i, doc_id in enumerate(ids):  # one request, one WAL record each
        assert requests.put(f"{u}/walidx/_doc/{doc_id}", json={"n": i, "pad": "p" * 50}).status_code == 201
    srv.kill()  # the records are only in the WAL
    segments = wal_segments(srv.data_dir, "walidx")
    assert len(segments) == 1, segments
    data = bytearray(segments[0].read_bytes())
    data[len(data) // 2] ^= 0xFF
    segments[0].write_bytes(bytes(data))

    srv.start()
    u = srv.url
    # Not served with documents silently missing: unavailable, red, with the cause.
    assert cat_health(u, "walidx") == "red"
    r = requests.get(f"{u}/walidx")
    assert r.status_code == 503, r.text
    kind, reason = error_of(r)
    assert kind == "no_shard_available_action_exception"
    assert "corrupted" in reason and "quidditch wal salvage" in reason
    assert requests.get(f"{u}/walidx/_doc/d0").status_code == 503
    assert requests.put(f"{u}/walidx/_doc/new", json={"n": 1}).status_code == 503
    assert requests.get(f"{u}/_cluster/health").json()["status"] == "red"
    assert "cannot open index" in srv.log() and "walidx" in srv.log()
    # The node is not blocked: the other index works.
    assert requests.get(f"{u}/other/_doc/1").status_code == 200
    srv.stop()

    out = subprocess.run([quidditch_bin(), "wal", "salvage", "--index", "walidx", "--data-dir", str(srv.data_dir)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert f"kept {len(ids) - 1} intact records" in out.stdout, out.stdout

    srv.start()
    u = srv.url
    assert cat_health(u, "walidx") in ("green", "yellow")
    found = present(u, "walidx", ids)
    assert len(found) == len(ids) - 1  # exactly the damaged record is gone
    assert requests.put(f"{u}/walidx/_doc/new", json={"n": 1}).status_code == 201
    srv.kill()


def test_unavailable_index_can_be_deleted_and_recreated(server_factory):
    srv = server_factory()
    u = srv.url
    assert requests.put(f"{u}/gone", json={"settings": {"refresh_interval": "-1"}}).status_code == 200
    for i in range(5):
        assert requests.put(f"{u}/gone/_doc/{i}", json={"n": i}).status_code == 201
    srv.kill()
    seg = wal_segments(srv.data_dir, "gone")[0]
    data = bytearray(seg.read_bytes())
    data[len(data) // 3] ^= 0xFF
    seg.write_bytes(bytes(data))
    srv.start()
    u = srv.url
    assert cat_health(u, "gone") == "red"
    assert requests.delete(f"{u}/gone").status_code == 200
    assert cat_health(u, "gone") is None
    assert requests.put(f"{u}/gone/_doc/1", json={"n": 1}).status_code == 201
    srv.kill()


# --- full disk ------------------------------------------------------------------------------

@pytest.fixture()
def small_disk():
    """A 12 MB tmpfs mounted for the test (CI runs as root)."""
    mnt = Path(tempfile.mkdtemp(prefix="quidditch-small-disk-"))
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=12m", "tmpfs", str(mnt)], capture_output=True, text=True)
    if r.returncode != 0:
        os.rmdir(mnt)
        pytest.skip(f"cannot mount a tmpfs here (needs root / CAP_SYS_ADMIN): {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        subprocess.run(["umount", "-l", str(mnt)], capture_output=True)
        os.rmdir(mnt)


def fill(path: Path, keep_free: int):
    """Writes a filler file until the file system is full, then frees `keep_free` bytes."""
    filler = path / "filler"
    with open(filler, "wb") as f:
        try:
            while True:
                f.write(b"\0" * 65536)
                f.flush()
        except OSError:
            pass
        try:
            f.close()
        except OSError:
            pass
    size = filler.stat().st_size
    os.truncate(filler, max(0, size - keep_free))
    return filler


def bulk_lines(index, ids, pad):
    lines = []
    for doc_id in ids:
        lines.append(json.dumps({"index": {"_index": index, "_id": doc_id}}))
        lines.append(json.dumps({"pad": pad, "n": doc_id}))
    return "\n".join(lines) + "\n"


def acked_ids(r):
    if r.status_code != 200:
        return []
    return [it["index"]["_id"] for it in r.json()["items"] if it["index"].get("status") in (200, 201)]


@pytest.mark.parametrize("refresh_interval", ["-1", None, "200ms"])
def test_full_disk_never_loses_acknowledged_writes(server_factory, small_disk, refresh_interval):
    data_dir = small_disk / "data"
    srv = server_factory(data_dir=data_dir, config={"engine": {"writer_memory_mb": 16, "indexing_threads": 1}})
    u = srv.url
    settings = {"refresh_interval": refresh_interval} if refresh_interval else {}
    assert requests.put(f"{u}/full", json={"settings": settings, "mappings": {"properties": {
        "pad": {"type": "keyword", "index": False}, "n": {"type": "keyword"}}}}).status_code == 200
    acked = []
    r = requests.post(f"{u}/_bulk", data=bulk_lines("full", [f"a{i}" for i in range(20)], "x" * 1000), headers=NDJSON)
    acked += acked_ids(r)
    assert len(acked) == 20
    # Leave a few KB: the next large batch fails halfway through its WAL append.
    filler = fill(small_disk, keep_free=20_000)
    failures = 0
    for batch in range(5):
        ids = [f"b{batch}-{i}" for i in range(100)]
        r = requests.post(f"{u}/_bulk", data=bulk_lines("full", ids, "y" * 1000), headers=NDJSON)
        got = acked_ids(r)
        acked += got
        failures += len(ids) - len(got)
    assert failures > 0, "the disk never filled up"
    # Free the space: later writes are acknowledged again, and appended behind intact records.
    filler.unlink()
    for batch in range(3):
        ids = [f"c{batch}-{i}" for i in range(50)]
        r = requests.post(f"{u}/_bulk", data=bulk_lines("full", ids, "z" * 1000), headers=NDJSON)
        assert r.status_code == 200, r.text
        got = acked_ids(r)
        assert got == ids, r.text
        acked += got
    single = requests.put(f"{u}/full/_doc/last", json={"pad": "w", "n": "last"})
    assert single.status_code == 201, single.text
    acked.append("last")
    srv.kill()
    srv.start()
    u = srv.url
    assert cat_health(u, "full") in ("green", "yellow")
    found = present(u, "full", acked)
    assert sorted(set(acked) - found) == []
    srv.kill()
