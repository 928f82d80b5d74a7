"""Index administration as operators script it, with opensearch-py against the real server:
settings by name (`/{index}/_settings/{name}`, flat and with defaults), `_stats/{metric}`
(segments, translog = the WAL), and `_forcemerge`. Expected values come from the test's own
data and from the other APIs' answers, never from constants of the server."""
import pytest
from opensearchpy import RequestError


def make(client, name, shards=1, replicas=0, docs=0, **settings):
    client.indices.create(
        index=name,
        body={"settings": {"number_of_shards": shards, "number_of_replicas": replicas, **settings}},
    )
    for i in range(docs):
        client.index(index=name, id=str(i), body={"n": i, "word": f"w{i % 7}"})
    return name


@pytest.fixture()
def two_indices(client):
    a = make(client, "adm-set-a", shards=5, replicas=1)
    b = make(client, "adm-set-b", shards=3, replicas=0, refresh_interval="2s")
    yield a, b
    client.indices.delete(index="adm-set-*")


def test_settings_by_name_patterns(client, two_indices):
    a, b = two_indices
    full = client.indices.get_settings(index=a)[a]["settings"]["index"]
    got = client.indices.get_settings(index=a, name="index.number_of_shards")
    assert got == {a: {"settings": {"index": {"number_of_shards": full["number_of_shards"]}}}}
    both = client.indices.get_settings(index=a, name="index.number_of_shards,index.number_of_replicas")
    assert both[a]["settings"]["index"] == {k: full[k] for k in ("number_of_shards", "number_of_replicas")}
    starred = client.indices.get_settings(index=a, name="index.number_of_s*")
    assert starred[a]["settings"]["index"] == {"number_of_shards": "5"}
    assert client.indices.get_settings(index=a, name="_all") == client.indices.get_settings(index=a)
    # Across indices; an index without a matching setting is left out.
    every = client.indices.get_settings(name="index.refresh_interval")
    assert every.get(b) == {"settings": {"index": {"refresh_interval": "2s"}}}
    assert a not in every


def test_flat_settings_and_defaults(client, two_indices):
    a, b = two_indices
    nested = client.indices.get_settings(index=b)[b]["settings"]

    def flatten(prefix, obj, out):
        for k, v in obj.items():
            key = f"{prefix}.{k}" if prefix else k
            if isinstance(v, dict):
                flatten(key, v, out)
            else:
                out[key] = v
        return out

    flat = client.indices.get_settings(index=b, flat_settings=True)[b]["settings"]
    assert flat == flatten("", nested, {})
    with_defaults = client.indices.get_settings(index=b, include_defaults=True, flat_settings=True)[b]
    assert with_defaults["settings"] == flat
    defaults = with_defaults["defaults"]
    # Defaults never repeat a given setting, and a given one is not a default.
    assert not set(defaults) & set(flat)
    assert "index.refresh_interval" not in defaults
    a_defaults = client.indices.get_settings(index=a, include_defaults=True, flat_settings=True)[a]["defaults"]
    assert "index.refresh_interval" in a_defaults
    assert "index.max_result_window" in a_defaults
    # The defaults are what the server enforces: the mapping depth limit.
    depth = int(a_defaults["index.mapping.depth.limit"])
    doc = {}
    inner = doc
    for _ in range(depth):
        inner["o"] = {}
        inner = inner["o"]
    inner["leaf"] = 1
    with pytest.raises(RequestError) as e:
        client.index(index=a, id="deep", body=doc)
    assert f"[{depth}]" in str(e.value.info)
    assert client.indices.get_settings(index=a, name="index.none_such") == {}


def test_stats_metrics_segments_and_translog(client):
    name = make(client, "adm-stats", shards=2, replicas=0, refresh_interval="-1")
    try:
        before = client.indices.stats(index=name, metric="segments,translog")
        entry = before["indices"][name]["primaries"]
        assert set(entry) == {"segments", "translog"}
        assert entry["translog"]["operations"] == 0
        docs = 9
        for i in range(docs):
            client.index(index=name, id=str(i), body={"n": i})
        logged = client.indices.stats(index=name, metric="translog")["indices"][name]["primaries"]["translog"]
        assert logged["operations"] == docs and logged["uncommitted_operations"] == docs
        assert logged["size_in_bytes"] > entry["translog"]["size_in_bytes"]
        assert client.indices.stats(index=name, metric="flush")["indices"][name]["primaries"]["flush"]["total"] == 0
        client.indices.flush(index=name)
        # Each of the two shards counts the flush.
        assert client.indices.stats(index=name, metric="flush")["indices"][name]["primaries"]["flush"]["total"] == 2
        with pytest.raises(RequestError) as e:
            client.indices.flush(index=name, force=True, wait_if_ongoing=False)
        assert e.value.info["error"]["reason"] == "Validation Failed: 1: wait_if_ongoing must be true for a force flush;"
        after = client.indices.stats(index=name, metric="translog,segments,docs")["indices"][name]["primaries"]
        assert after["translog"]["operations"] == 0
        assert after["translog"]["size_in_bytes"] == entry["translog"]["size_in_bytes"]
        assert after["docs"]["count"] == docs
        assert after["segments"]["count"] > entry["segments"]["count"]
        # Per shard the numbers add up to the index's.
        shards = client.indices.stats(index=name, metric="docs", level="shards")["indices"][name]["shards"]
        assert sum(s[0]["docs"]["count"] for s in shards.values()) == docs
        everything = client.indices.stats(index=name)["indices"][name]["primaries"]
        assert {"docs", "store", "indexing", "flush", "segments", "translog"} <= set(everything)
    finally:
        client.indices.delete(index=name)


def test_stats_metric_errors(client):
    with pytest.raises(RequestError) as e:
        client.indices.stats(metric="fieldata")
    assert e.value.info["error"]["reason"] == (
        "request [/_stats/fieldata] contains unrecognized metric: [fieldata] -> did you mean [fielddata]?"
    )
    # A metric OpenSearch has and Quidditch does not compute is an error, not an empty answer.
    with pytest.raises(RequestError) as e:
        client.indices.stats(metric="query_cache")
    assert "query_cache" in e.value.info["error"]["reason"]
    with pytest.raises(RequestError):
        client.indices.stats(metric="_all,docs")


def test_force_merge_keeps_documents_and_leaves_one_segment(client):
    name = make(client, "adm-merge", shards=1, replicas=0, refresh_interval="-1")
    try:
        expected = set()
        for batch in range(4):
            for i in range(batch * 5, batch * 5 + 5):
                client.index(index=name, id=str(i), body={"n": i})
                expected.add(str(i))
            client.indices.refresh(index=name)
        client.delete(index=name, id="3")
        expected.discard("3")
        client.indices.refresh(index=name)
        segments = lambda: client.indices.stats(index=name, metric="segments")["indices"][name]["primaries"]["segments"]["count"]
        assert segments() >= 4
        r = client.indices.forcemerge(index=name, max_num_segments=1)
        assert r["_shards"]["failed"] == 0
        assert segments() == 1
        hits = client.search(index=name, body={"size": 100, "query": {"match_all": {}}})["hits"]["hits"]
        assert {h["_id"] for h in hits} == expected
        docs = client.indices.stats(index=name, metric="docs")["indices"][name]["primaries"]["docs"]
        assert docs == {"count": len(expected), "deleted": 0}
        with pytest.raises(RequestError):
            client.indices.forcemerge(index=name, max_num_segments=0)
    finally:
        client.indices.delete(index=name)


def test_rest_api_doc_admin_examples(server_factory):
    """Runs the curl example of docs/rest-api.md's "Settings by name, stats by metric, force
    merge" section against a fresh server and checks what its text says."""
    import json
    import re
    import subprocess
    from pathlib import Path

    doc = (Path(__file__).resolve().parents[2] / "docs" / "rest-api.md").read_text()
    section = doc.split("<!-- rest-api:admin:begin -->")[1].split("<!-- rest-api:admin:end -->")[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    srv = server_factory()
    script = 'curl() { command curl --fail-with-body "$@"; echo; }\nset -e\n' + block.replace(
        "localhost:9200", srv.url.removeprefix("http://")
    )
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    created, d1, d2, d3, named, defaults, before, merged, after = [json.loads(line) for line in r.stdout.splitlines() if line]
    assert created["acknowledged"] and all(d["result"] == "created" for d in (d1, d2, d3))
    assert named == {"logs": {"settings": {"index.number_of_shards": "1", "index.number_of_replicas": "1"}}}
    # Not given: shown under defaults only.
    assert defaults["logs"]["settings"] == {}
    assert defaults["logs"]["defaults"]["index"]["max_result_window"] == "10000"
    primaries = before["indices"]["logs"]["primaries"]
    # Three refreshed writes: three segments, and an empty WAL after each refresh's commit.
    assert primaries["segments"]["count"] == 3 and primaries["translog"]["operations"] == 0
    assert merged["_shards"]["failed"] == 0
    assert after["indices"]["logs"]["primaries"] == {"segments": {"count": 1}, "docs": {"count": 3, "deleted": 0}}


def test_put_settings_without_an_index_updates_every_index(server_factory):
    client = server_factory().client()
    names = ["adm-all-a", "adm-all-b"]
    for name in names:
        make(client, name, shards=1, replicas=0)
    client.indices.put_settings(body={"index": {"refresh_interval": "7s"}})
    got = client.indices.get_settings()
    assert {n: got[n]["settings"]["index"]["refresh_interval"] for n in names} == {n: "7s" for n in names}


def test_stats_leave_closed_indices_out_unless_asked(server_factory):
    client = server_factory().client()
    make(client, "adm-open", shards=1, replicas=0, docs=2)
    make(client, "adm-shut", shards=2, replicas=0, docs=3)
    client.indices.flush(index="adm-shut")
    segments = client.indices.stats(index="adm-shut", metric="segments")["indices"]["adm-shut"]["primaries"]["segments"]["count"]
    assert segments > 0
    client.indices.close(index="adm-shut")
    # Wildcards reach open indices; a closed one named is an error unless allowed.
    assert set(client.indices.stats()["indices"]) == {"adm-open"}
    assert set(client.indices.stats(index="adm-*")["indices"]) == {"adm-open"}
    with pytest.raises(RequestError) as e:
        client.indices.stats(index="adm-shut")
    assert e.value.info["error"]["type"] == "index_closed_exception"
    both = client.indices.stats(index="adm-*", expand_wildcards="all", forbid_closed_indices=False, metric="docs,segments")
    assert set(both["indices"]) == {"adm-open", "adm-shut"}
    shut = both["indices"]["adm-shut"]["primaries"]
    # A closed index has no segments loaded, but its documents are still counted.
    assert shut["segments"]["count"] == 0 and shut["docs"]["count"] == 3
    unloaded = client.indices.stats(index="adm-shut", forbid_closed_indices=False, include_unloaded_segments=True,
                                    metric="segments")
    assert unloaded["indices"]["adm-shut"]["primaries"]["segments"]["count"] == segments
