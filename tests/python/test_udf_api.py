"""The UDF management API against the real server: upload in every format,
list/get/versions/delete, the test endpoint with every host function, parameter validation,
stats, Prometheus metrics, the audit log, API-key auth, and restart without recompilation."""
import base64
import concurrent.futures
import hashlib
import json
import re
import time

import requests

from udf_helpers import TRIVIAL_WASM, assert_error, run_test, upload, wat

PRICE_PARAMS = [{"name": "min_price", "type": "f64", "required": False, "default": 10,
                 "description": "lowest price kept"}]
PROBE_PARAMS = [
    {"name": "op", "type": "i64", "required": True},
    {"name": "name", "type": "string", "default": ""},
    {"name": "cap", "type": "i64", "default": 256},
    {"name": "p_i64", "type": "integer", "default": 7},
    {"name": "p_f64", "type": "double", "default": 2.5},
    {"name": "p_bool", "type": "boolean", "default": True},
    {"name": "p_str", "type": "string", "default": "hello"},
]


def test_upload_json_base64_returns_metadata_and_sha256(http):
    r = upload(http, "api_trivial", wasm=TRIVIAL_WASM, language="rust", permissions=["read_document"])
    body = r.json()
    assert body["sha256"] == hashlib.sha256(TRIVIAL_WASM).hexdigest()
    assert body["size_bytes"] == len(TRIVIAL_WASM)
    assert body["kind"] == "core"
    assert body["exports"] == ["filter"]
    assert body["language"] == "rust"
    assert body["permissions"] == ["read_document"]
    assert body["effective_limits"]["memory_bytes"] == 16 * 1024 * 1024
    assert body["signed"] is False


def test_upload_raw_wasm_with_query_metadata(http):
    r = http.post("/api/v1/udfs?name=api_raw&version=0.1.0&language=c&tags=a,b&category=raw&permissions=read_document,write_log",
                  data=TRIVIAL_WASM, headers={"Content-Type": "application/wasm"})
    assert r.status_code == 201, r.text
    assert r.json()["tags"] == ["a", "b"]
    assert r.json()["language"] == "c"


def test_upload_multipart(http):
    meta = {"name": "api_multi", "version": "2.0.0", "language": "other", "description": "multipart"}
    r = http.post("/api/v1/udfs", files={
        "metadata": (None, json.dumps(meta), "application/json"),
        "wasm": ("udf.wasm", TRIVIAL_WASM, "application/wasm"),
    })
    assert r.status_code == 201, r.text
    assert r.json()["sha256"] == hashlib.sha256(TRIVIAL_WASM).hexdigest()


def test_duplicate_version_conflicts(http):
    upload(http, "api_dup", wasm=TRIVIAL_WASM)
    r = upload(http, "api_dup", wasm=TRIVIAL_WASM, expect=None)
    assert_error(r, 409, "udf_version_conflict_exception", "api_dup", "1.0.0")


def test_invalid_metadata_is_400(http):
    assert_error(upload(http, "api_bad", "one", wasm=TRIVIAL_WASM, expect=None), 400,
                 "udf_invalid_metadata_exception", "version")
    assert_error(upload(http, "api_bad", language="cobol", wasm=TRIVIAL_WASM, expect=None), 400,
                 "udf_invalid_metadata_exception", "language")
    assert_error(upload(http, "api_bad", permissions=["filesystem"], wasm=TRIVIAL_WASM, expect=None), 400,
                 "udf_invalid_metadata_exception")
    assert_error(upload(http, "api_bad", parameters=[{"name": "x", "type": "i64", "default": "no"}],
                        wasm=TRIVIAL_WASM, expect=None), 400, "udf_invalid_metadata_exception", "[x]")
    r = http.post("/api/v1/udfs", json={"name": "api_bad", "version": "1.0.0"})
    assert_error(r, 400, "udf_invalid_metadata_exception", "no binary")
    r = http.post("/api/v1/udfs", json={"name": "api_bad", "version": "1.0.0", "wat_source": "(module"})
    assert_error(r, 400, "udf_invalid_binary_exception", "invalid WAT")


def test_wat_upload_and_test_endpoint_with_defaults(http):
    upload(http, "api_price", wat_name="price_filter.wat", parameters=PRICE_PARAMS)
    keep = run_test(http, "api_price", {"price": 12})
    assert keep.status_code == 200, keep.text
    assert keep.json()["result"] == {"filter": True}
    assert keep.json()["version"] == "1.0.0"
    assert keep.json()["duration_ns"] > 0
    drop = run_test(http, "api_price", {"price": 12}, {"min_price": 20})
    assert drop.json()["result"] == {"filter": False}
    assert run_test(http, "api_price", {"price": 5}).json()["result"] == {"filter": False}, "default 10 applies"
    assert run_test(http, "api_price", {"name": "no price"}).json()["result"] == {"filter": False}


def test_parameter_validation_names_the_parameter(http):
    upload(http, "api_params", wat_name="price_filter.wat", parameters=PRICE_PARAMS)
    assert_error(run_test(http, "api_params", {}, {"min_price": "cheap"}), 400, "udf_parameter_exception", "[min_price]")
    assert_error(run_test(http, "api_params", {}, {"max_price": 3}), 400, "udf_parameter_exception", "[max_price]")
    assert_error(run_test(http, "nope_not_here", {}), 404, "udf_not_found_exception", "nope_not_here")


def probe(http, op, name="", doc=None, **params):
    r = run_test(http, "api_probe", doc if doc is not None else DOC, {"op": op, "name": name, **params}, id="doc-7", score=2.25)
    assert r.status_code == 200, r.text
    return r.json()["result"]["score"], [l["message"] for l in r.json()["logs"]]


DOC = {"n": 42, "x": 2.5, "flag": True, "title": "hello world",
       "user": {"address": {"city": "Oslo"}}, "tags": ["red", "green"], "obj": {"k": [1, 2]}}


def test_every_host_function_through_the_test_endpoint(http):
    upload(http, "api_probe", wat_name="probe.wat", parameters=PROBE_PARAMS)
    assert probe(http, 2, "n")[0] == 42
    assert probe(http, 1, "x")[0] == 2, "type mismatch"
    assert probe(http, 1, "absent")[0] == 1, "not found"
    assert probe(http, 4, "x")[0] == 2.5
    assert probe(http, 6, "flag")[0] == 1
    assert probe(http, 7, "user.address.city") == (0, ["Oslo"])
    assert probe(http, 7, "tags[0]") == (0, ["red"])
    assert probe(http, 7, "tags") == (0, ['["red","green"]'])
    assert probe(http, 7, "obj") == (0, ['{"k":[1,2]}'])
    assert probe(http, 7, "title", cap=3)[0] == 3, "buffer too small"
    assert probe(http, 8, "title", cap=3)[0] == 11, "required length written back"
    assert probe(http, 23, "title", cap=3)[0] == 1, "nothing written past the capacity"
    assert probe(http, 9, "user.address")[0] == 1
    assert probe(http, 9, "user.phone")[0] == 0
    assert probe(http, 11) == (0, ["doc-7"])
    assert probe(http, 10)[0] == 2.25
    assert probe(http, 14, "p_i64")[0] == 7, "declared default"
    assert probe(http, 14, "p_i64", p_i64=3.0)[0] == 3, "integral JSON number as i64"
    assert probe(http, 16, "p_f64")[0] == 2.5
    assert probe(http, 18, "p_bool")[0] == 1
    assert probe(http, 19, "p_str") == (0, ["hello"])
    assert probe(http, 13, "p_str")[0] == 2
    r = run_test(http, "api_probe", DOC, {"op": 24})
    assert [l["level"] for l in r.json()["logs"]] == ["debug", "info", "warn", "error"]


def test_list_get_versions_delete(http):
    for v in ["1.0.0", "1.10.0", "1.9.0"]:
        upload(http, "api_versions", v, wasm=TRIVIAL_WASM, category="versions", author="alice", tags=["x", "y"])
    upload(http, "api_versions_other", wasm=TRIVIAL_WASM, category="versions", author="bob", tags=["y"], language="c")
    latest = http.get("/api/v1/udfs/api_versions").json()
    assert latest["version"] == "1.10.0", "highest semver, not lexicographic"
    assert latest["versions"] == ["1.0.0", "1.9.0", "1.10.0"]
    assert http.get("/api/v1/udfs/api_versions?version=1.9.0").json()["version"] == "1.9.0"
    assert http.get("/api/v1/udfs/api_versions/1.0.0").json()["version"] == "1.0.0"
    versions = http.get("/api/v1/udfs/api_versions/versions").json()["versions"]
    assert [v["version"] for v in versions] == ["1.10.0", "1.9.0", "1.0.0"]

    def names(query):
        r = http.get("/api/v1/udfs" + query)
        assert r.status_code == 200
        return [u["name"] for u in r.json()["udfs"]]

    assert names("?category=versions") == ["api_versions", "api_versions_other"], "stable order by name"
    assert names("?category=versions&author=bob") == ["api_versions_other"]
    assert names("?category=versions&tag=x") == ["api_versions"]
    assert names("?category=versions&language=c") == ["api_versions_other"]

    r = http.delete("/api/v1/udfs/api_versions/1.10.0")
    assert r.status_code == 200 and r.json()["acknowledged"] is True
    assert http.get("/api/v1/udfs/api_versions").json()["version"] == "1.9.0"
    assert_error(http.delete("/api/v1/udfs/api_versions/1.10.0"), 404, "udf_not_found_exception")
    assert_error(http.get("/api/v1/udfs/api_versions?version=7.0.0"), 404, "udf_not_found_exception", "7.0.0")


def test_stats_and_prometheus(http):
    upload(http, "api_stats", wat_name="price_filter.wat", parameters=PRICE_PARAMS)
    for price in [1, 50, 100]:
        assert run_test(http, "api_stats", {"price": price}).status_code == 200
    s = http.get("/api/v1/udfs/api_stats/stats").json()
    v = s["versions"]["1.0.0"]
    assert v["calls"] == 3 and v["errors"] == 0 and v["instantiations"] >= 3
    assert v["live_instances"] == 0
    assert v["latency_ns"]["min"] <= v["latency_ns"]["p50"] <= v["latency_ns"]["max"]
    assert "stats_reset" in s
    for path in ["/_prometheus/metrics", "/metrics"]:
        r = http.get(path)
        assert r.status_code == 200
        assert r.headers["Content-Type"].startswith("text/plain")
        assert 'quidditch_udf_calls_total{udf="api_stats",version="1.0.0"} 3' in r.text
        assert "quidditch_udf_compilations_total" in r.text


def test_audit_log_with_filters(http):
    upload(http, "api_audited", wasm=TRIVIAL_WASM)
    upload(http, "api_audited", "1.0.0", wasm=TRIVIAL_WASM, expect=409)
    http.delete("/api/v1/udfs/api_audited/1.0.0")
    entries = http.get("/api/v1/udfs/_audit?udf=api_audited").json()["entries"]
    ops = [(e["operation"], e["outcome"]) for e in entries]
    assert ops == [("delete", "success"), ("register", "failure"), ("register", "success")], ops
    for e in entries:
        assert e["time"] and e["actor"] == "anonymous" and e["version"] == "1.0.0" and e["duration_ms"] >= 0
    only = http.get("/api/v1/udfs/_audit?udf=api_audited&operation=delete").json()["entries"]
    assert len(only) == 1
    assert len(http.get("/api/v1/udfs/_audit?udf=api_audited&size=1").json()["entries"]) == 1
    future = http.get("/api/v1/udfs/_audit?udf=api_audited&since=2999-01-01T00:00:00Z").json()
    assert future["entries"] == []
    assert_error(http.get("/api/v1/udfs/_audit?since=yesterday"), 400, "illegal_argument_exception", "since")


def test_api_key_protects_write_endpoints(server_factory):
    srv = server_factory(config={"api_key": "s3cret"})
    s = requests.Session()
    body = {"name": "keyed", "version": "1.0.0", "wasm_base64": base64.b64encode(TRIVIAL_WASM).decode()}
    r = s.post(srv.url + "/api/v1/udfs", json=body)
    assert_error(r, 401, "security_exception", "API key")
    r = s.post(srv.url + "/api/v1/udfs", json=body, headers={"Authorization": "ApiKey wrong"})
    assert r.status_code == 401
    r = s.post(srv.url + "/api/v1/udfs", json=body, headers={"Authorization": "ApiKey s3cret"})
    assert r.status_code == 201, r.text
    assert s.get(srv.url + "/api/v1/udfs/keyed").status_code == 200, "reads need no key"
    assert s.delete(srv.url + "/api/v1/udfs/keyed/1.0.0").status_code == 401
    r = s.delete(srv.url + "/api/v1/udfs/keyed/1.0.0", auth=("ops", "s3cret"))
    assert r.status_code == 200
    actors = {e["operation"]: e["actor"] for e in s.get(srv.url + "/api/v1/udfs/_audit?udf=keyed").json()["entries"]}
    assert actors == {"register": "api_key", "delete": "ops"}


def test_restart_keeps_udfs_and_audit_without_recompiling(server_factory):
    srv = server_factory()
    s = requests.Session()
    for name, src in [("r_price", "price_filter.wat"), ("r_probe", "probe.wat")]:
        params = PRICE_PARAMS if name == "r_price" else PROBE_PARAMS
        r = s.post(srv.url + "/api/v1/udfs", json={"name": name, "version": "1.0.0", "wat_source": wat(src), "parameters": params})
        assert r.status_code == 201, r.text
    assert s.post(srv.url + "/api/v1/udfs/r_price/test", json={"document": {"price": 20}}).json()["result"]["filter"]
    before = s.get(srv.url + "/api/v1/udfs").json()
    srv.restart()
    after = s.get(srv.url + "/api/v1/udfs").json()
    assert [u["name"] for u in after["udfs"]] == [u["name"] for u in before["udfs"]]
    assert [u["sha256"] for u in after["udfs"]] == [u["sha256"] for u in before["udfs"]]
    runtime = s.get(srv.url + "/api/v1/udfs/_runtime").json()
    assert runtime["compilations"] == 0 and runtime["cache_hits"] == 2, runtime
    assert "loaded UDF from the precompiled cache (no recompilation)" in srv.log()
    metrics = s.get(srv.url + "/metrics").text
    assert "quidditch_udf_compilations_total 0" in metrics
    assert "quidditch_udf_cache_hits_total 2" in metrics
    # UDFs work after the restart; stats started from zero (documented policy); audit survived.
    assert s.post(srv.url + "/api/v1/udfs/r_price/test", json={"document": {"price": 20}}).json()["result"]["filter"]
    assert s.get(srv.url + "/api/v1/udfs/r_price/stats").json()["versions"]["1.0.0"]["calls"] == 1
    audit = s.get(srv.url + "/api/v1/udfs/_audit?operation=register").json()["entries"]
    assert {e["udf"] for e in audit} == {"r_price", "r_probe"}


def test_concurrent_test_calls_respect_instance_cap(http):
    # 1.0.0: one instance, no waiting; its calls spin until the 5 s call limit stops them.
    upload(http, "api_slow", wat_name="slow_filter.wat",
           parameters=[{"name": "iterations", "type": "i64", "default": 10**15}],
           limits={"max_instances": 1, "instance_wait_ms": 1, "call_timeout_ms": 5000})
    upload(http, "api_slow", "2.0.0", wat_name="slow_filter.wat",
           parameters=[{"name": "iterations", "type": "i64", "default": 3_000_000}],
           limits={"max_instances": 2, "instance_wait_ms": 30000, "call_timeout_ms": 5000})

    def call(version):
        return run_test(http, "api_slow", {}, version=version)

    def live(version):
        return http.get("/api/v1/udfs/api_slow/stats").json()["versions"][version]["live_instances"]

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        holder = pool.submit(call, "1.0.0")
        # Once the holder's instance is live the cap is reached: every other call is refused.
        for _ in range(3000):
            if live("1.0.0") == 1 or holder.done():
                break
            time.sleep(0.01)
        assert not holder.done(), holder.result().text
        capped = list(pool.map(call, ["1.0.0"] * 4))
        held = holder.result()
        waited = list(pool.map(call, ["2.0.0"] * 8))
    for r in capped:
        assert_error(r, 429, "udf_instance_limit_exception", "max_instances", "api_slow@1.0.0")
    assert_error(held, 422, "udf_timeout_exception", "call_timeout_ms")
    assert all(r.status_code == 200 for r in waited), [r.text for r in waited if r.status_code != 200]
    stats = http.get("/api/v1/udfs/api_slow/stats").json()["versions"]
    assert stats["2.0.0"]["calls"] == 8 and stats["2.0.0"]["live_instances"] == 0
    assert stats["1.0.0"]["instance_limit_hits"] == len(capped)


def test_rust_component_upload_and_test(http):
    """A wit-bindgen component (tests/fixtures/component-guest) through the same API."""
    import subprocess
    from udf_helpers import REPO
    out = subprocess.run([str(REPO / "tests/fixtures/component-guest/build.sh")], capture_output=True, text=True,
                         env={k: v for k, v in __import__("os").environ.items() if k != "CARGO_TARGET_DIR"})
    assert out.returncode == 0, out.stderr
    wasm = open(out.stdout.strip(), "rb").read()
    r = upload(http, "api_component", wasm=wasm, language="rust",
               parameters=[{"name": "weight", "type": "f64", "default": 1.5}])
    assert r.json()["kind"] == "component"
    assert r.json()["exports"] == ["filter", "score", "filter_batch", "score_batch"]
    t = run_test(http, "api_component", {"n": -4}, score=1.0)
    assert t.status_code == 200, t.text
    assert t.json()["result"] == {"filter": True, "score": -4 * 1.5 + 1.0}
    assert t.json()["logs"] == [{"level": "warn", "message": "negative n -4"}]
    # filter keeps nothing without an integer n; score reports the guest's error (422)
    err = run_test(http, "api_component", {"n": 3.5})
    assert_error(err, 422, "udf_trap_exception", "api_component@1.0.0", "has no integer n")


def test_docs_wat_example_runs_as_written(server):
    """The copy-pasteable `sh` example in docs/udf-abi.md, run against this server."""
    import subprocess
    from udf_helpers import REPO
    text = (REPO / "docs" / "udf-abi.md").read_text()
    blocks = re.findall(r"```sh\n(.*?)```", text, re.S)
    assert blocks, "docs/udf-abi.md has no sh example"
    host = server.url.removeprefix("http://")
    script = blocks[0].replace("localhost:9200", host).replace('name: "price_filter"', 'name: "docs_price_filter"')
    script = script.replace("/udfs/price_filter/", "/udfs/docs_price_filter/")
    out = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    lines = [l for l in out.stdout.splitlines() if l.strip()]
    registered = json.loads(lines[0])
    assert registered["name"] == "docs_price_filter" and registered["sha256"]
    tested = json.loads(lines[-1])
    assert tested["result"] == {"filter": True}
