"""The `engine` settings docs/rest-api.md documents, each shown to change behaviour:
`flush_threshold_mb` (commit once the write-ahead log is that large, even with no refresh due)
and `search_idle_after_ms` (an index nobody searched skips scheduled refreshes; the next search
refreshes first). Waiting is by polling for the documented outcome, never by asserting times."""
import json
import time

import requests

NDJSON = {"content-type": "application/x-ndjson"}


def bulk(url, index, start, n, text_bytes=0):
    lines = []
    for i in range(start, start + n):
        lines.append(json.dumps({"index": {"_index": index, "_id": str(i)}}))
        lines.append(json.dumps({"n": i, "pad": "x" * text_bytes}))
    r = requests.post(f"{url}/_bulk", data="\n".join(lines) + "\n", headers=NDJSON, timeout=120)
    assert r.status_code == 200 and not r.json()["errors"], r.text[:500]


def committed_docs(url, index):
    """Documents in the last commit: `_stats` reads the searcher and never refreshes."""
    r = requests.get(f"{url}/{index}/_stats", timeout=60)
    assert r.status_code == 200, r.text
    return r.json()["indices"][index]["primaries"]["docs"]["count"]


def wait_until(predicate, what, attempts=600):
    for _ in range(attempts):
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def test_flush_threshold_commits_a_large_log_without_a_refresh(server_factory):
    srv = server_factory(config={"engine": {"refresh_interval_ms": 50, "flush_threshold_mb": 1}})
    # refresh_interval -1: no scheduled refresh ever; only the log size can force a commit.
    r = requests.put(f"{srv.url}/flushed", json={"settings": {"refresh_interval": "-1", "number_of_shards": 1}})
    assert r.status_code == 200, r.text
    bulk(srv.url, "flushed", 0, 10)
    time.sleep(0.5)  # ten committer ticks: a small log stays uncommitted
    assert committed_docs(srv.url, "flushed") == 0
    bulk(srv.url, "flushed", 10, 300, text_bytes=8000)  # ≈ 2.4 MB of log > 1 MB
    wait_until(lambda: committed_docs(srv.url, "flushed") == 310, "the large log was committed")


def test_search_idle_index_skips_scheduled_refreshes_until_searched(server_factory):
    srv = server_factory(config={"engine": {"refresh_interval_ms": 50, "search_idle_after_ms": 60_000}})
    r = requests.put(f"{srv.url}/idle", json={"settings": {"number_of_shards": 1}})
    assert r.status_code == 200, r.text
    # Never searched: idle. Scheduled refreshes are skipped, so nothing gets committed.
    bulk(srv.url, "idle", 0, 5)
    time.sleep(0.5)
    assert committed_docs(srv.url, "idle") == 0
    # The next search refreshes first and sees every document.
    r = requests.post(f"{srv.url}/idle/_search", json={"query": {"match_all": {}}}, timeout=60)
    assert r.json()["hits"]["total"]["value"] == 5
    assert committed_docs(srv.url, "idle") == 5
    # Searched just now: no longer idle, so the scheduled refresh commits new writes by itself.
    bulk(srv.url, "idle", 5, 5)
    wait_until(lambda: committed_docs(srv.url, "idle") == 10, "a scheduled refresh of a searched index")


def test_index_without_search_idle_is_refreshed_on_schedule(server_factory):
    # The control for the test above: with an explicit refresh_interval the index is never
    # search-idle, so the committer refreshes it although nobody searches.
    srv = server_factory(config={"engine": {"refresh_interval_ms": 50, "search_idle_after_ms": 60_000}})
    r = requests.put(f"{srv.url}/busy", json={"settings": {"refresh_interval": "100ms", "number_of_shards": 1}})
    assert r.status_code == 200, r.text
    bulk(srv.url, "busy", 0, 5)
    wait_until(lambda: committed_docs(srv.url, "busy") == 5, "a scheduled refresh without searches")
