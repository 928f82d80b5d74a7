"""One upload path for UDFs (issue 17) and the checks before expensive work (issue 9 items 4,
5 and 7), against the real server: `/api/v1/udfs` and `/_scripts` refuse an unsigned Python
upload under `require_signed` with a 403 before componentize-py runs (the `/_runtime`
compile counters do not move), names and versions over their documented limits are 400s
that echo the input only truncated (responses and audit log), concurrent `put_script`s get
distinct versions, stored-script parameters are checked like the UDF API's, and `/test`
needs the API key like every other UDF write endpoint."""
import base64
import concurrent.futures
import json

import requests

from udf_helpers import TRIVIAL_WASM, assert_error, wat

PY_SOURCE = "def filter(doc) -> bool:\n    return True\n"
HUGE = "a" * 100_000


def runtime(url):
    r = requests.get(url + "/api/v1/udfs/_runtime")
    assert r.status_code == 200, r.text
    return r.json()


def test_unsigned_python_upload_under_require_signed_is_403_without_compiling(server_factory):
    srv = server_factory(config={"udf": {"require_signed": True}})
    before = runtime(srv.url)
    r = requests.post(srv.url + "/api/v1/udfs", json={"name": "py_unsigned", "version": "1.0.0",
                                                     "language": "python", "source": PY_SOURCE})
    assert_error(r, 403, "udf_signature_exception", "requires signed")
    r = requests.put(srv.url + "/_scripts/py_unsigned_script",
                     json={"script": {"lang": "python", "source": PY_SOURCE}})
    assert_error(r, 403, "udf_signature_exception", "requires signed")
    # A signature does not help: the server would build the binary the signature must cover.
    r = requests.post(srv.url + "/api/v1/udfs", json={"name": "py_signed", "version": "1.0.0", "language": "python",
                                                     "source": PY_SOURCE, "signature": "00" * 64})
    assert_error(r, 403, "udf_signature_exception", "Python source cannot be signed")
    after = runtime(srv.url)
    assert after["python_compilations"] == before["python_compilations"] == 0
    assert after["compilations"] == before["compilations"]
    audit = requests.get(srv.url + "/api/v1/udfs/_audit?operation=signature_rejected").json()["entries"]
    assert {e["udf"] for e in audit} == {"py_unsigned", "py_unsigned_script", "py_signed"}


def test_unsigned_wat_and_stored_scripts_are_refused_under_require_signed(server_factory):
    srv = server_factory(config={"udf": {"require_signed": True}})
    before = runtime(srv.url)
    r = requests.post(srv.url + "/api/v1/udfs", json={"name": "w", "version": "1.0.0", "wat_source": wat("trivial_filter.wat")})
    assert_error(r, 403, "udf_signature_exception")
    r = requests.put(srv.url + "/_scripts/s", json={"script": {"lang": "wasm", "source": base64.b64encode(TRIVIAL_WASM).decode()}})
    assert_error(r, 403, "udf_signature_exception")
    assert runtime(srv.url)["compilations"] == before["compilations"]


def test_long_names_and_versions_are_400_and_echoed_truncated(http):
    body = {"wasm_base64": base64.b64encode(TRIVIAL_WASM).decode()}
    for name, version, field in [("ok_name", "1.0.0-" + HUGE, "[version]"), ("n" + HUGE, "1.0.0", "[name]"),
                                 ("bad/name", "1.0.0", "[name]")]:
        r = http.post("/api/v1/udfs", json={**body, "name": name, "version": version})
        err = assert_error(r, 400, "udf_invalid_metadata_exception", field)
        assert len(r.text) < 2000, "the input is echoed truncated"
        assert HUGE not in json.dumps(err)
    # Exactly at the limits: accepted.
    r = http.post("/api/v1/udfs", json={**body, "name": "n" * 64, "version": "1.0.0-" + "a" * 58})
    assert r.status_code == 201, r.text
    r = http.post("/api/v1/udfs", json={**body, "name": "n" * 65, "version": "1.0.0"})
    assert_error(r, 400, "udf_invalid_metadata_exception", "1 to 64")
    audit = http.get("/api/v1/udfs/_audit?size=1000").json()["entries"]
    assert all(len(json.dumps(e)) < 2000 for e in audit), "no 100 KB strings in the audit log"
    # Reads with a huge version: 404 with a short reason.
    r = http.get("/api/v1/udfs/ok_name/1.0.0-" + "b" * 5000)
    assert r.status_code in (400, 404) and len(r.text) < 2000, r.text[:300]


def test_stored_script_ids_follow_the_udf_name_rules(http):
    r = http.put("/_scripts/" + "s" * 65, json={"script": {"lang": "wasm", "source": base64.b64encode(TRIVIAL_WASM).decode()}})
    assert_error(r, 400, "udf_invalid_metadata_exception", "[name]")
    assert len(r.text) < 2000


def test_concurrent_put_scripts_get_distinct_versions(http):
    src = base64.b64encode(TRIVIAL_WASM).decode()

    def put(_):
        return http.put("/_scripts/race_script", json={"script": {"lang": "wasm", "source": src}}).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        codes = list(pool.map(put, range(8)))
    assert codes == [200] * 8
    versions = http.get("/api/v1/udfs/race_script").json()["versions"]
    assert sorted(versions) == sorted(f"1.0.{p}" for p in range(8))


def test_stored_script_parameters_are_checked_like_the_udf_api(http):
    src = base64.b64encode(TRIVIAL_WASM).decode()
    r = http.put("/_scripts/bad_params", json={"script": {"lang": "wasm", "source": src,
                                                          "parameters": [{"name": "x", "type": "list"}]}})
    assert_error(r, 400, "udf_invalid_metadata_exception", "[parameters[0].type]")
    r = http.put("/_scripts/bad_params", json={"script": {"lang": "wasm", "source": src, "params": {"x": [1, 2]}}})
    assert_error(r, 400, "illegal_argument_exception", "[x]", "an array")
    assert http.get("/_scripts/bad_params").status_code == 404


def test_test_endpoint_needs_the_api_key(server_factory):
    srv = server_factory(config={"api_key": "s3cret"})
    key = {"Authorization": "ApiKey s3cret"}
    body = {"name": "keyed_test", "version": "1.0.0", "wasm_base64": base64.b64encode(TRIVIAL_WASM).decode()}
    assert requests.post(srv.url + "/api/v1/udfs", json=body, headers=key).status_code == 201
    r = requests.post(srv.url + "/api/v1/udfs/keyed_test/test", json={"document": {}})
    assert_error(r, 401, "security_exception", "API key")
    r = requests.post(srv.url + "/api/v1/udfs/keyed_test/test", json={"document": {}}, headers=key)
    assert r.status_code == 200, r.text
    assert r.json()["result"] == {"filter": True}
    r = requests.post(srv.url + "/_scripts/wasm/_execute", json={"script": {"id": "keyed_test"}})
    assert_error(r, 401, "security_exception")
    r = requests.post(srv.url + "/_scripts/wasm/_execute", json={"script": {"id": "keyed_test"}}, headers=key)
    assert r.status_code == 200 and r.json() == {"result": True}, r.text
