"""Documented access rules for UDFs that no other test covers: `require_signed` and `api_key`
on every upload path (Python source and `/_scripts`, not only binaries), the `random`
permission of core modules, and the frozen clock of components without `clocks`
(docs/udf-abi.md "Permissions", docs/python-udfs.md, README "Configuration")."""
import struct
import time

import pytest
import requests

from udf_helpers import assert_error

KEY = "k3y-for-tests"
PY_FILTER = "def filter(doc, params) -> bool:\n    return True\n"
WAT_SCRIPT = '(module (memory (export "memory") 1) (func (export "filter") (param i64) (result i32) (i32.const 1)))'

# Fills 8 bytes with random_get and returns them as the score (an f64 built from the bits,
# kept finite by clearing the exponent's top bit).
RANDOM_SCORE = """(module
  (import "wasi_snapshot_preview1" "random_get" (func $random (param i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "score") (param i64) (result f64)
    (drop (call $random (i32.const 0) (i32.const 8)))
    (i64.store (i32.const 0) (i64.and (i64.load (i32.const 0)) (i64.const 0x3fffffffffffffff)))
    (f64.load (i32.const 0))))"""

# Returns clock_time_get(realtime) in seconds.
CLOCK_SCORE = """(module
  (import "wasi_snapshot_preview1" "clock_time_get" (func $clock (param i32 i64 i32) (result i32)))
  (memory (export "memory") 1)
  (func (export "score") (param i64) (result f64)
    (drop (call $clock (i32.const 0) (i64.const 1) (i32.const 0)))
    (f64.div (f64.convert_i64_u (i64.load (i32.const 0))) (f64.const 1e9))))"""


def post_udf(url, body, **kw):
    return requests.post(url + "/api/v1/udfs", json=body, timeout=600, **kw)


def put_script(url, script_id, script, **kw):
    return requests.put(f"{url}/_scripts/{script_id}", json={"script": script}, timeout=600, **kw)


def test_require_signed_covers_python_uploads_and_stored_scripts(server_factory):
    srv = server_factory(config={"udf": {"require_signed": True, "trusted_keys": ["11" * 32]}})
    r = post_udf(srv.url, {"language": "python", "name": "py_unsigned", "source": PY_FILTER})
    assert_error(r, 403, "udf_signature_exception")
    r = put_script(srv.url, "wat_unsigned", {"lang": "wasm", "source": WAT_SCRIPT})
    assert_error(r, 403, "udf_signature_exception")
    r = put_script(srv.url, "py_unsigned", {"lang": "python", "source": PY_FILTER})
    assert_error(r, 403, "udf_signature_exception")
    # Nothing was registered by any of them.
    assert requests.get(srv.url + "/api/v1/udfs").json()["udfs"] == []
    assert requests.get(srv.url + "/_scripts/wat_unsigned").status_code == 404


def test_api_key_covers_python_uploads_and_stored_scripts(server_factory):
    srv = server_factory(config={"api_key": KEY})
    auth = {"Authorization": f"ApiKey {KEY}"}
    r = post_udf(srv.url, {"language": "python", "name": "py_keyed", "source": PY_FILTER})
    assert_error(r, 401, "security_exception")
    # With the key the request gets past authorization: a syntax error is reported (400),
    # without paying for a compilation.
    r = post_udf(srv.url, {"language": "python", "name": "py_keyed", "source": "def filter(:\n"}, headers=auth)
    assert r.status_code == 400, r.text
    r = put_script(srv.url, "keyed", {"lang": "wasm", "source": WAT_SCRIPT})
    assert_error(r, 401, "security_exception")
    r = put_script(srv.url, "keyed", {"lang": "wasm", "source": WAT_SCRIPT}, headers=auth)
    assert r.status_code == 200 and r.json() == {"acknowledged": True}, r.text
    assert requests.get(srv.url + "/_scripts/keyed").json()["found"] is True, "reads need no key"
    assert_error(requests.delete(srv.url + "/_scripts/keyed", timeout=60), 401, "security_exception")
    assert requests.delete(srv.url + "/_scripts/keyed", headers=auth, timeout=60).status_code == 200
    assert requests.get(srv.url + "/_scripts/keyed").status_code == 404


def score_of(http_url, name):
    r = requests.post(f"{http_url}/api/v1/udfs/{name}/test", json={"document": {}}, timeout=120)
    assert r.status_code == 200, r.text
    return r.json()["result"]["score"]


def test_random_permission(server):
    body = {"name": "rnd", "version": "1.0.0", "language": "wat", "wat_source": RANDOM_SCORE}
    r = post_udf(server.url, body)
    assert_error(r, 400, "udf_permission_exception", "random_get (needs permission [random])")
    r = post_udf(server.url, {**body, "permissions": ["read_document", "write_log", "random"]})
    assert r.status_code == 201, r.text
    # Host randomness: 62 random bits, twice; equal only with probability 2^-62.
    first, second = score_of(server.url, "rnd"), score_of(server.url, "rnd")
    assert first != second
    for s in (first, second):
        assert struct.unpack("<Q", struct.pack("<d", s))[0] >> 62 == 0


def test_clocks_permission_gives_core_modules_the_host_clock(server):
    body = {"name": "clk", "version": "1.0.0", "language": "wat", "wat_source": CLOCK_SCORE}
    r = post_udf(server.url, body)
    assert_error(r, 400, "udf_permission_exception", "clock_time_get (needs permission [clocks])")
    r = post_udf(server.url, {**body, "permissions": ["read_document", "write_log", "clocks"]})
    assert r.status_code == 201, r.text
    before = time.time()
    seen = score_of(server.url, "clk")
    after = time.time()
    # The host's realtime clock: between two readings of this process's clock (1 s of slack
    # for clock granularity), not a frozen value.
    assert before - 1 <= seen <= after + 1, (before, seen, after)


PY_CLOCK = '''\
import datetime
import time


def score(doc) -> float:
    """The wall clock as the UDF sees it, plus the year of datetime.now() as a fraction."""
    return time.time() + datetime.datetime.now().year / 10000
'''


def test_components_without_clocks_see_a_frozen_clock(server):
    r = post_udf(server.url, {"language": "python", "name": "py_clock", "source": PY_CLOCK})
    assert r.status_code == 201, r.text
    # time.time() is 0.0 and datetime.now() is in 1970, on every call.
    assert score_of(server.url, "py_clock") == pytest.approx(1970 / 10000)
    assert score_of(server.url, "py_clock") == pytest.approx(1970 / 10000)
