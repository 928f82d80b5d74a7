"""UDF authoring without friction (issue 16), end to end against the real server: per-document
UDFs run batched through the batch driver with the hits of the native query; stored scripts
from opensearch-py's `put_script` take undeclared query-time params; `language: wasm`;
`POST /_scripts/wasm/_execute`, `GET /_script_language`, `GET /_script_context`; default
versions that can be pinned, promoted and rolled back; metadata errors naming the field.

Expected hits come from the same predicate as a native `range` query on the same data."""
import base64
import json
import subprocess

import pytest

from conftest import REPO, quidditch_bin
from udf_helpers import assert_error, index_price_qty_docs, price_qty_doc

WAT = REPO / "tests" / "fixtures" / "wat" / "search"
INDEX = "udf_authoring"
N_DOCS = 1500


doc = price_qty_doc


@pytest.fixture(scope="module")
def data(client):
    return index_price_qty_docs(client, INDEX, N_DOCS, 500)  # several segments


@pytest.fixture(scope="module")
def price_between_wasm(tmp_path_factory):
    """price_between.wat (per-document `filter`, params min/max) built by `quidditch udf build`."""
    out = tmp_path_factory.mktemp("wasm") / "price_between.wasm"
    p = subprocess.run([quidditch_bin(), "udf", "--json", "build", str(WAT / "price_between.wat"), "--out", str(out)],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    return out.read_bytes()


def total(client, query):
    return client.search(index=INDEX, body={"query": query, "size": 0, "track_total_hits": True})["hits"]["total"]["value"]


def hit_ids(client, query):
    r = client.search(index=INDEX, body={"query": query, "size": N_DOCS, "sort": [{"qty": "asc"}, {"price": "asc"}],
                                         "_source": False})
    return sorted(h["_id"] for h in r["hits"]["hits"])


def test_per_document_udf_runs_batched_with_native_hits(client, http, data):
    r = http.post("/api/v1/udfs", json={"name": "auth_between", "version": "1.0.0", "language": "wat",
                                       "parameters": [{"name": "min", "type": "f64", "required": True},
                                                      {"name": "max", "type": "f64", "required": True}],
                                       "wat_source": (WAT / "price_between.wat").read_text()})
    assert r.status_code in (201, 409), r.text
    assert http.get("/api/v1/udfs/auth_between").json()["exports"] == ["filter"]
    before = http.get("/api/v1/udfs/_runtime").json()["driver_blocks"]
    for lo, hi in [(10, 20), (0, 100), (55.5, 56.5)]:
        udf = {"wasm_udf": {"name": "auth_between", "params": {"min": lo, "max": hi}}}
        native = {"range": {"price": {"gte": lo, "lte": hi}}}
        expected = sorted(k for k, v in data.items() if "price" in v and lo <= v["price"] <= hi)
        assert hit_ids(client, udf) == hit_ids(client, native) == expected
    assert http.get("/api/v1/udfs/_runtime").json()["driver_blocks"] > before, "the driver ran the blocks"


def test_put_script_with_base64_module_takes_undeclared_params(client, data, price_between_wasm):
    source = base64.b64encode(price_between_wasm).decode()
    assert client.put_script(id="auth_stored", body={"script": {"lang": "wasm", "source": source}})["acknowledged"]
    for lo, hi in [(20, 40), (12.5, 80.25)]:
        script = {"wasm_udf": {"name": "auth_stored", "params": {"min": lo, "max": hi}}}
        assert total(client, script) == total(client, {"range": {"price": {"gte": lo, "lte": hi}}})
        assert total(client, script) == sum(1 for v in data.values() if "price" in v and lo <= v["price"] <= hi)
    # A param of a type no UDF can read is refused, naming it.
    with pytest.raises(Exception) as e:
        total(client, {"wasm_udf": {"name": "auth_stored", "params": {"min": [1], "max": 2}}})
    assert "[min]" in str(e.value.info)


def test_language_wasm_upload(http, price_between_wasm):
    r = http.post("/api/v1/udfs", json={"name": "auth_lang_wasm", "version": "1.0.0", "language": "wasm",
                                       "wasm_base64": base64.b64encode(price_between_wasm).decode()})
    assert r.status_code == 201, r.text
    assert r.json()["language"] == "wasm"
    listed = http.get("/api/v1/udfs?language=wasm").json()["udfs"]
    assert "auth_lang_wasm" in [u["name"] for u in listed]
    assert {u["language"] for u in listed} == {"wasm"}


def test_execute_script_language_and_context(http, price_between_wasm):
    source = base64.b64encode(price_between_wasm).decode()
    assert http.put("/_scripts/auth_exec", json={"script": {"lang": "wasm", "source": source}}).status_code == 200
    for price, expected in [(15.0, True), (25.0, False)]:
        r = http.post("/_scripts/wasm/_execute", json={
            "script": {"id": "auth_exec", "params": {"min": 10, "max": 20}},
            "context": "filter", "context_setup": {"index": INDEX, "document": {"price": price}}})
        assert r.status_code == 200, r.text
        assert r.json() == {"result": expected}
    r = http.post("/_scripts/wasm/_execute", json={"script": {"id": "auth_exec"}, "context": "score",
                                                   "context_setup": {"document": {}}})
    assert_error(r, 400, "illegal_argument_exception", "does not export `score`")
    r = http.post("/_scripts/wasm/_execute", json={"script": {"id": "auth_exec"}, "context": "aggs"})
    assert_error(r, 400, "illegal_argument_exception", "[context]")
    r = http.post("/_scripts/wasm/_execute", json={"script": {"id": "auth_exec"}, "bogus": 1})
    assert_error(r, 400, "parse_exception", "bogus")
    r = http.post("/_scripts/wasm/_execute", json={"script": {"id": "auth_exec"}, "context_setup": {"index": "no_such_index"}})
    assert r.status_code == 404, r.text
    score = (WAT / "score_price.wat").read_text()
    assert http.put("/_scripts/auth_exec_score", json={"script": {"lang": "wasm", "source": score}}).status_code == 200
    r = http.post("/_scripts/wasm/_execute", json={"script": {"id": "auth_exec_score", "params": {"factor": 2.0}},
                                                   "context": "score", "context_setup": {"document": {"price": 30.0}}})
    assert r.status_code == 200, r.text
    assert isinstance(r.json()["result"], float)

    langs = http.get("/_script_language").json()
    assert langs["types_allowed"] == ["inline", "stored"]
    assert langs["language_contexts"] == [{"language": "wasm", "contexts": ["filter", "score"]}]
    contexts = {c["name"]: c for c in http.get("/_script_context").json()["contexts"]}
    assert set(contexts) == {"filter", "score"}
    execute = {m["name"]: m for m in contexts["filter"]["methods"]}["execute"]
    assert execute == {"name": "execute", "return_type": "boolean", "params": []}
    assert {m["name"]: m for m in contexts["score"]["methods"]}["execute"]["return_type"] == "double"


def test_default_version_pin_promote_roll_back(client, http, data):
    def put(version, threshold):
        src = (WAT / "min_qty.wat").read_text()
        if threshold == "exclusive":
            src = src.replace("i64.ge_s", "i64.gt_s")
        r = http.post("/api/v1/udfs", json={"name": "auth_pin", "version": version, "language": "wat",
                                           "parameters": [{"name": "min", "type": "i64", "required": True}],
                                           "wat_source": src})
        assert r.status_code == 201, r.text

    def hits():
        return total(client, {"wasm_udf": {"name": "auth_pin", "params": {"min": 10}}})

    inclusive = sum(1 for v in data.values() if v["qty"] >= 10)
    exclusive = sum(1 for v in data.values() if v["qty"] > 10)
    put("1.0.0", "inclusive")
    assert hits() == inclusive
    r = http.post("/api/v1/udfs/auth_pin/_default", json={"version": "1.0.0"})
    assert r.status_code == 200, r.text
    assert r.json()["udf"]["default_version"] == "1.0.0"
    put("2.0.0", "exclusive")
    shown = http.get("/api/v1/udfs/auth_pin").json()
    assert (shown["default_version"], shown["pinned_version"], shown["latest_version"]) == ("1.0.0", "1.0.0", "2.0.0")
    assert hits() == inclusive, "a new upload does not change queries while a version is pinned"
    assert http.post("/api/v1/udfs/auth_pin/_default", json={"version": "2.0.0"}).status_code == 200
    assert hits() == exclusive
    r = http.post("/api/v1/udfs/auth_pin/_rollback")
    assert r.status_code == 200, r.text
    assert r.json()["udf"]["default_version"] == "1.0.0"
    assert hits() == inclusive
    ops = [(e["operation"], e["version"]) for e in http.get("/api/v1/udfs/_audit?udf=auth_pin").json()["entries"]]
    assert ("promote", "2.0.0") in ops and ("promote", "1.0.0") in ops and ("rollback", "1.0.0") in ops
    assert_error(http.post("/api/v1/udfs/auth_pin/_default", json={"version": "7.0.0"}), 404, "udf_not_found_exception")
    assert_error(http.post("/api/v1/udfs/auth_pin/_default", json={"version": "1.0.0", "x": 1}), 400,
                 "illegal_argument_exception", "[x]")
    # Rolling back past the first pin goes to "nothing pinned" (the highest version), then stops.
    assert http.post("/api/v1/udfs/auth_pin/_rollback").json()["udf"]["default_version"] == "2.0.0"
    assert_error(http.post("/api/v1/udfs/auth_pin/_rollback"), 400, "illegal_argument_exception", "roll back")


@pytest.mark.parametrize("field,value,fragment", [
    ("returns", ["bool"], '[returns] must be one of "bool"'),
    ("tags", "a", "[tags] must be an array of strings; got [a]"),
    ("parameters", [{"name": "x", "type": "int"}, {"name": "y", "type": "list"}], "[parameters[1].type]"),
    ("permissions", ["read_document", "network"], "[permissions] must be an array of"),
    ("limits", {"memory_bytes": "lots"}, "[limits.memory_bytes] must be a non-negative integer"),
    ("language", "cobol", '[language] must be one of "rust", "c", "wat", "python", "wasm", "other"; got [cobol]'),
])
def test_metadata_errors_name_the_field_and_shape(http, field, value, fragment):
    body = {"name": "auth_bad_meta", "version": "1.0.0", "wat_source": (WAT / "spin.wat").read_text(), field: value}
    r = http.post("/api/v1/udfs", json=body)
    assert_error(r, 400, "udf_invalid_metadata_exception", fragment)
    if field == "returns":
        assert r.json()["error"]["reason"].endswith("got an array")
