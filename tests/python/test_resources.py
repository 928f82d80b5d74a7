"""Bounded resources: a thousand indices on one node keep the server's thread count bounded
(≤ 4 × cores + 64) and cost little memory each while idle, because index writers are opened on
a shard's first write and flushed and closed when idle, within a node-wide budget. A full budget
flushes and closes the least recently written writer (nothing acknowledged is lost, nothing
becomes searchable early); only a write that finds every writer busy in a write gets 429 (that
case is driven by the engine's unit tests, which can hold a write open)."""
import json
import os
import threading

import requests

NDJSON = {"Content-Type": "application/x-ndjson"}


def proc_status(pid):
    fields = {}
    for line in open(f"/proc/{pid}/status"):
        key, _, value = line.partition(":")
        fields[key] = value.strip()
    return int(fields["Threads"]), int(fields["VmRSS"].split()[0]) * 1024


def test_a_thousand_indices_keep_threads_and_memory_bounded(server_factory):
    srv = server_factory(config={"engine": {"writer_idle_close_ms": 500}})
    u = srv.url
    s = requests.Session()
    cores = os.cpu_count() or 1
    thread_bound = 4 * cores + 64
    _, rss_start = proc_status(srv.proc.pid)
    n = 1000
    for i in range(n):
        r = s.put(f"{u}/idle-{i:04d}", json={"settings": {"number_of_replicas": 0}})
        assert r.status_code == 200, r.text
        if i % 100 == 0:
            threads, _ = proc_status(srv.proc.pid)
            assert threads <= thread_bound, f"{threads} threads after {i} indices"
    # Every tenth index gets documents: its writer opens, then closes once idle.
    for i in range(0, n, 10):
        body = "".join(json.dumps(line) + "\n" for j in range(3)
                       for line in ({"index": {"_index": f"idle-{i:04d}", "_id": str(j)}}, {"i": i, "j": j}))
        r = s.post(f"{u}/_bulk?refresh=true", data=body, headers=NDJSON)
        assert r.status_code == 200 and not r.json()["errors"], r.text[:300]
        threads, _ = proc_status(srv.proc.pid)
        assert threads <= thread_bound, f"{threads} threads while writing index {i}"
    assert s.get(f"{u}/idle-*/_count").json()["count"] == 3 * (n // 10)
    assert len(s.get(f"{u}/_cat/indices", params={"format": "json"}).json()) == n
    threads, rss = proc_status(srv.proc.pid)
    assert threads <= thread_bound
    per_index = (rss - rss_start) / n
    assert per_index <= 2 * 1024 * 1024, f"{per_index / 1024:.0f} KiB resident per idle index"
    srv.kill()


def test_a_full_writer_budget_flushes_the_least_recently_written_and_loses_nothing(server_factory):
    srv = server_factory(config={"engine": {"max_open_writers": 1}})
    u = srv.url
    for name in ["first", "second"]:
        r = requests.put(f"{u}/{name}", json={"settings": {"refresh_interval": "-1"}})
        assert r.status_code == 200, r.text
    # "first" holds an uncommitted document when "second" needs the only writer: "first" is
    # flushed (committed, not refreshed) and closed instead of the write being refused.
    assert requests.put(f"{u}/first/_doc/1", json={"a": 1}).status_code == 201
    r = requests.put(f"{u}/second/_doc/1", json={"a": 2})
    assert r.status_code == 201, r.text
    assert requests.get(f"{u}/first/_doc/1").json()["_source"] == {"a": 1}
    # A flush is not a refresh: with refresh_interval -1 nothing became searchable early.
    assert requests.get(f"{u}/first/_count").json()["count"] == 0
    assert requests.post(f"{u}/first/_refresh").status_code == 200
    assert requests.get(f"{u}/first/_count").json()["count"] == 1
    # Writing "first" again takes the writer back from "second".
    assert requests.put(f"{u}/first/_doc/2", json={"a": 3}).status_code == 201
    srv.kill()
    srv.start()
    u = srv.url
    assert requests.get(f"{u}/first/_doc/1").json()["_source"] == {"a": 1}
    assert requests.get(f"{u}/first/_doc/2").json()["_source"] == {"a": 3}
    assert requests.get(f"{u}/second/_doc/1").json()["_source"] == {"a": 2}
    srv.kill()


def test_concurrent_writes_to_more_indices_than_writers_keep_every_acknowledged_write(server_factory):
    """Eight clients write into twelve indices through a budget of two writers: writers are
    flushed and handed over all the time. A 429 (every writer busy in a write) is allowed and
    retried; every acknowledged document is there after kill -9."""
    srv = server_factory(config={"engine": {"max_open_writers": 2}})
    u = srv.url
    names = [f"w{i:02d}" for i in range(12)]
    for name in names:
        assert requests.put(f"{u}/{name}", json={"settings": {"number_of_shards": 2}}).status_code == 200
    acknowledged = {}
    lock = threading.Lock()

    def client(c):
        s = requests.Session()
        for j in range(30):
            name = names[(c * 7 + j) % len(names)]
            doc_id = f"c{c}-{j}"
            body = "".join(json.dumps(line) + "\n" for line in (
                {"index": {"_index": name, "_id": doc_id}}, {"c": c, "j": j},
                {"index": {"_index": names[(c + j) % len(names)], "_id": doc_id + "-b"}}, {"c": c, "j": j, "b": True}))
            for _ in range(50):
                r = s.post(f"{u}/_bulk", data=body, headers=NDJSON)
                assert r.status_code == 200, r.text[:300]
                items = r.json()["items"]
                statuses = [it["index"]["status"] for it in items]
                assert all(st in (200, 201, 429) for st in statuses), r.text[:300]
                with lock:
                    for it in items:
                        if it["index"]["status"] in (200, 201):
                            acknowledged[(it["index"]["_index"], it["index"]["_id"])] = True
                if 429 not in statuses:
                    break

    threads = [threading.Thread(target=client, args=(c,)) for c in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert acknowledged
    srv.kill()
    srv.start()
    u = srv.url
    missing = [key for key in acknowledged
               if not requests.get(f"{u}/{key[0]}/_doc/{key[1]}").json().get("found")]
    assert not missing, f"{len(missing)} acknowledged documents lost, e.g. {missing[:5]}"
    requests.post(f"{u}/_refresh")
    total = requests.get(f"{u}/w*/_count").json()["count"]
    assert total == len(acknowledged)
    srv.kill()
