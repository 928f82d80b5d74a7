"""Durability: acknowledged writes survive kill -9 (WAL replay) and clean restarts."""
import json
import threading

import requests

NDJSON = {"content-type": "application/x-ndjson"}


def bulk_body(index, start, n):
    lines = []
    for i in range(start, start + n):
        lines.append(json.dumps({"index": {"_index": index, "_id": f"d{i}"}}))
        lines.append(json.dumps({"n": i, "text": f"doc {i}", "tag": f"t{i % 7}"}))
    return "\n".join(lines) + "\n"


def all_present(url, index, ids):
    missing = []
    for chunk in range(0, len(ids), 500):
        part = ids[chunk:chunk + 500]
        r = requests.post(f"{url}/{index}/_mget", json={"ids": part}, timeout=60)
        assert r.status_code == 200, r.text
        missing += [d["_id"] for d in r.json()["docs"] if not d.get("found")]
    return missing


def crash_loop(srv, index, writers=3, batches_before_kill=30, batch=100):
    """Writers bulk concurrently; the server is killed -9 as soon as enough responses came back."""
    acked = []
    lock = threading.Lock()
    done = threading.Event()
    count = [0]

    def writer(w):
        start = w * 1_000_000
        while not done.is_set():
            try:
                r = requests.post(f"{srv.url}/_bulk", data=bulk_body(index, start, batch), headers=NDJSON, timeout=30)
            except requests.RequestException:
                return  # server died mid-request: that batch was never acknowledged
            if r.status_code != 200:
                return
            body = r.json()
            with lock:
                for it in body["items"]:
                    item = it["index"]
                    if item.get("status") in (200, 201):
                        acked.append(item["_id"])
                count[0] += 1
                if count[0] >= batches_before_kill:
                    done.set()
            start += batch

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(writers)]
    for t in threads:
        t.start()
    done.wait(120)
    srv.kill()  # kill -9 right after acknowledged responses
    for t in threads:
        t.join(60)
    return acked


def test_acknowledged_bulk_writes_survive_kill_9(server_factory):
    # Long refresh interval: nothing is committed by the background committer, so every
    # document must come back from the write-ahead log.
    srv = server_factory(config={"engine": {"refresh_interval_ms": 600_000}})
    acked = crash_loop(srv, "crash-wal")
    assert len(acked) >= 30 * 100
    srv.start()
    assert all_present(srv.url, "crash-wal", acked) == []
    # Replayed documents are committed at start-up: searchable/countable too.
    stats = requests.get(f"{srv.url}/crash-wal/_stats", timeout=30).json()
    assert stats["indices"]["crash-wal"]["primaries"]["docs"]["count"] >= len(set(acked))
    srv.kill()


def test_crash_with_background_commits_and_repeated_kills(server_factory):
    srv = server_factory(config={"engine": {"refresh_interval_ms": 50}})
    # An explicit refresh_interval keeps scheduled commits going without searches, so the
    # kills land between, during and after commits.
    r = requests.put(f"{srv.url}/crash-mixed", json={"settings": {"refresh_interval": "50ms"}})
    assert r.status_code == 200, r.text
    acked_total = []
    for _ in range(3):
        acked = crash_loop(srv, "crash-mixed", batches_before_kill=10)
        # The kill comes only after 10 acknowledged batches of 100: fewer means the writes
        # failed, and an empty check below would prove nothing.
        assert len(acked) >= 10 * 100, len(acked)
        acked_total += acked
        srv.start()
        assert all_present(srv.url, "crash-mixed", acked_total) == []
    srv.kill()


def test_updates_and_deletes_survive_kill_9(server_factory):
    srv = server_factory(config={"engine": {"refresh_interval_ms": 600_000}})
    u = srv.url
    assert requests.put(f"{u}/crash-ud/_doc/keep", json={"v": 1}).status_code == 201
    assert requests.put(f"{u}/crash-ud/_doc/gone", json={"v": 1}).status_code == 201
    assert requests.post(f"{u}/crash-ud/_update/keep", json={"doc": {"v": 2, "new": "field"}}).status_code == 200
    assert requests.delete(f"{u}/crash-ud/_doc/gone").status_code == 200
    srv.kill()
    srv.start()
    u = srv.url
    keep = requests.get(f"{u}/crash-ud/_doc/keep").json()
    assert keep["_source"] == {"v": 2, "new": "field"} and keep["_version"] == 2
    assert requests.get(f"{u}/crash-ud/_doc/gone").status_code == 404
    # The dynamic mapping for `new` was persisted before the write was acknowledged.
    props = requests.get(f"{u}/crash-ud/_mapping").json()["crash-ud"]["mappings"]["properties"]
    assert props["new"]["type"] == "text"
    # Versions continue after replay.
    r = requests.put(f"{u}/crash-ud/_doc/keep", json={"v": 3}).json()
    assert r["_version"] == 3
    srv.kill()


def test_data_mappings_settings_survive_clean_restart(server_factory):
    srv = server_factory()
    u = srv.url
    mapping = {"properties": {"title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
                              "when": {"type": "date", "format": "yyyy/MM/dd HH:mm:ss||epoch_millis"},
                              "user": {"properties": {"age": {"type": "integer"}}}}}
    r = requests.put(f"{u}/restart-me", json={"settings": {"number_of_replicas": 0}, "mappings": mapping})
    assert r.status_code == 200, r.text
    uuid = requests.get(f"{u}/restart-me").json()["restart-me"]["settings"]["index"]["uuid"]
    r = requests.post(f"{u}/_bulk?refresh=true", data=bulk_body("restart-me", 0, 200), headers=NDJSON)
    assert r.json()["errors"] is False
    requests.put(f"{u}/restart-me/_doc/x", json={"title": "t", "when": "2024/01/02 03:04:05", "user": {"age": 3}})
    before = requests.get(f"{u}/restart-me/_mapping").json()
    srv.stop()  # SIGTERM: clean shutdown commits everything
    srv.start()
    u = srv.url
    assert requests.get(f"{u}/restart-me/_mapping").json() == before
    got = requests.get(f"{u}/restart-me").json()["restart-me"]
    assert got["settings"]["index"]["uuid"] == uuid
    assert got["settings"]["index"]["number_of_replicas"] == "0"
    assert requests.get(f"{u}/restart-me/_doc/x").json()["_source"]["user"] == {"age": 3}
    assert all_present(u, "restart-me", [f"d{i}" for i in range(200)]) == []
    stats = requests.get(f"{u}/restart-me/_stats").json()
    assert stats["indices"]["restart-me"]["primaries"]["docs"]["count"] == 201
    health = requests.get(f"{u}/_cluster/health/restart-me").json()
    assert health["status"] == "green"
    srv.stop()


def test_a_damaged_index_does_not_keep_the_node_down(server_factory):
    srv = server_factory()
    u = srv.url
    requests.put(f"{u}/healthy/_doc/1?refresh=true", json={"ok": True})
    requests.put(f"{u}/damaged/_doc/1?refresh=true", json={"ok": False})
    srv.stop()
    (srv.data_dir / "indices" / "damaged" / "shards" / "0" / "tantivy" / "meta.json").unlink()
    srv.start()
    u = srv.url
    assert requests.get(f"{u}/healthy/_doc/1").json()["_source"] == {"ok": True}
    assert "cannot open index" in srv.log()
    # The damaged index's files are never overwritten by an auto-create.
    r = requests.put(f"{u}/damaged/_doc/2", json={"x": 1})
    assert r.status_code == 503 and "failed to open" in r.json()["error"]["reason"]
    assert r.json()["error"]["type"] == "no_shard_available_action_exception"
    assert (srv.data_dir / "indices" / "damaged" / "meta.json").exists()
    srv.stop()
