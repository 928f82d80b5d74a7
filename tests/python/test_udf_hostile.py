"""Hostile UDFs against the real server. Each test asserts a clear error (naming the UDF,
version and limit) AND that the server still answers other requests afterwards."""
import base64
import hashlib

import requests

from udf_helpers import (TRIVIAL_WASM, assert_error, ed25519_public_key, ed25519_sign, run_test,
                         upload, wat)

PRICE_PARAMS = [{"name": "min_price", "type": "f64", "default": 10}]


def assert_still_serving(http):
    """The process is alive and other UDFs and endpoints still work."""
    if http.get("/api/v1/udfs/hostile_control").status_code == 404:
        upload(http, "hostile_control", wat_name="price_filter.wat", parameters=PRICE_PARAMS)
    r = run_test(http, "hostile_control", {"price": 99})
    assert r.status_code == 200 and r.json()["result"] == {"filter": True}, r.text
    assert http.get("/api/v1/udfs").status_code == 200
    assert http.get("/").status_code in (200, 404)


def test_infinite_loop_times_out(http):
    upload(http, "hostile_loop", wat_name="hostile_infinite_loop.wat")
    r = run_test(http, "hostile_loop", {"a": 1})
    body = assert_error(r, 422, "udf_timeout_exception", "hostile_loop@1.0.0", "call_timeout_ms", "100 ms")
    assert body["error"]["kind"] == "timeout"
    assert_still_serving(http)
    assert http.get("/api/v1/udfs/hostile_loop/stats").json()["versions"]["1.0.0"]["timeouts"] >= 1
    audit = http.get("/api/v1/udfs/_audit?udf=hostile_loop&operation=limit_hit").json()["entries"]
    assert audit and "call_timeout_ms" in audit[0]["error"]


def test_memory_grow_bomb_hits_memory_limit(http):
    upload(http, "hostile_bomb", wat_name="hostile_memory_bomb.wat")
    r = run_test(http, "hostile_bomb", {})
    assert_error(r, 422, "udf_memory_limit_exception", "hostile_bomb@1.0.0", "memory_bytes", "16777216")
    assert_still_serving(http)
    assert http.get("/api/v1/udfs/hostile_bomb/stats").json()["versions"]["1.0.0"]["memory_limit_hits"] >= 1


def test_unbounded_recursion_hits_stack_limit(http):
    upload(http, "hostile_recursion", wat_name="hostile_recursion.wat")
    r = run_test(http, "hostile_recursion", {})
    assert_error(r, 422, "udf_stack_overflow_exception", "hostile_recursion@1.0.0", "stack")
    assert_still_serving(http)


def test_out_of_bounds_pointer_traps(http):
    upload(http, "hostile_oob", wat_name="hostile_oob_pointer.wat")
    r = run_test(http, "hostile_oob", {"title": "x"})
    assert_error(r, 422, "udf_trap_exception", "hostile_oob@1.0.0", "get_field_string", "outside")
    assert_still_serving(http)


def test_forbidden_import_rejected_listing_imports(http):
    r = upload(http, "hostile_fs", wat_name="hostile_forbidden_import.wat", expect=None)
    assert_error(r, 400, "udf_permission_exception", "wasi_snapshot_preview1.path_open",
                 "wasi_snapshot_preview1.fd_read")
    assert http.get("/api/v1/udfs/hostile_fs").status_code == 404
    audit = http.get("/api/v1/udfs/_audit?udf=hostile_fs&operation=permission_denied").json()["entries"]
    assert len(audit) == 1 and audit[0]["outcome"] == "failure"
    assert_still_serving(http)


def test_malformed_binaries_rejected(http):
    r = upload(http, "hostile_junk", wasm=b"\x00asm\x01\x00\x00\x00\xff\xff\xff", expect=None)
    assert_error(r, 400, "udf_invalid_binary_exception", "invalid WebAssembly")
    r = upload(http, "hostile_junk", wasm=b"MZ\x90\x00 this is an exe", expect=None)
    assert_error(r, 400, "udf_invalid_binary_exception", "not a WebAssembly module")
    r = upload(http, "hostile_junk", wasm=TRIVIAL_WASM[:-3], expect=None)
    assert_error(r, 400, "udf_invalid_binary_exception")
    r = http.post("/api/v1/udfs", json={"name": "hostile_junk", "version": "1.0.0", "wasm_base64": "%%%"})
    assert_error(r, 400, "illegal_argument_exception", "base64")
    assert_still_serving(http)


def test_start_function_that_loops_is_rejected(http):
    r = upload(http, "hostile_start", wat_name="hostile_start_loop.wat", expect=None)
    assert_error(r, 400, "udf_invalid_binary_exception", "fails to instantiate", "timeout")
    assert_still_serving(http)


def test_log_flood_is_capped(http):
    upload(http, "hostile_flood", wat_name="hostile_log_flood.wat")
    r = run_test(http, "hostile_flood", {})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["result"] == {"filter": True}
    assert body["logs_truncated"] is True
    assert sum(len(l["message"]) for l in body["logs"]) == 16 * 1024
    assert_still_serving(http)


def test_module_over_size_cap_is_413(server_factory):
    srv = server_factory(config={"udf": {"max_module_bytes": 256}, "max_body_bytes": 64 * 1024})
    big = wat("probe.wat")
    r = requests.post(srv.url + "/api/v1/udfs", json={"name": "big", "version": "1.0.0", "wat_source": big})
    assert_error(r, 413, "udf_too_large_exception", "max_module_bytes", "256")
    r = requests.post(srv.url + "/api/v1/udfs?name=big&version=1.0.0", data=b"\0asm\1\0\0\0" + b"\0" * 1000,
                      headers={"Content-Type": "application/wasm"})
    assert r.status_code == 413
    # A raw body above the server's body limit is refused before it is buffered.
    r = requests.post(srv.url + "/api/v1/udfs?name=huge&version=1.0.0", data=b"\0asm\1\0\0\0" + b"\0" * 200_000,
                      headers={"Content-Type": "application/wasm"})
    assert_error(r, 413, "content_too_long_exception")
    ok = requests.post(srv.url + "/api/v1/udfs", json={"name": "small", "version": "1.0.0",
                                                      "wasm_base64": base64.b64encode(TRIVIAL_WASM).decode()})
    assert ok.status_code == 201, ok.text


def test_signatures_untrusted_key_rejected_trusted_accepted(server_factory):
    trusted_seed, untrusted_seed = b"\x11" * 32, b"\x22" * 32
    srv = server_factory(config={"udf": {"require_signed": True,
                                         "trusted_keys": [ed25519_public_key(trusted_seed).hex()]}})
    digest = hashlib.sha256(TRIVIAL_WASM).digest()
    body = {"name": "signed", "version": "1.0.0", "wasm_base64": base64.b64encode(TRIVIAL_WASM).decode()}
    r = requests.post(srv.url + "/api/v1/udfs", json=body)
    assert_error(r, 403, "udf_signature_exception", "requires signed")
    bad = ed25519_sign(untrusted_seed, digest).hex()
    r = requests.post(srv.url + "/api/v1/udfs", json={**body, "signature": bad})
    assert_error(r, 403, "udf_signature_exception", "untrusted")
    tampered = ed25519_sign(trusted_seed, hashlib.sha256(b"other").digest()).hex()
    r = requests.post(srv.url + "/api/v1/udfs", json={**body, "signature": tampered})
    assert r.status_code == 403
    good = base64.b64encode(ed25519_sign(trusted_seed, digest)).decode()
    r = requests.post(srv.url + "/api/v1/udfs", json={**body, "signature": good})
    assert r.status_code == 201, r.text
    assert r.json()["signed"] is True
    assert r.json()["signed_by"] == ed25519_public_key(trusted_seed).hex()
    audit = requests.get(srv.url + "/api/v1/udfs/_audit?udf=signed&operation=signature_rejected").json()["entries"]
    assert len(audit) == 3
    assert requests.get(srv.url + "/api/v1/udfs/signed").status_code == 200
