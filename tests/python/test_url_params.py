"""Unknown URL parameters are errors, as in OpenSearch: every route declares the parameters it
accepts, and anything else is a 400 `illegal_argument_exception` before the handler runs (so a
rejected write writes nothing)."""
import pytest
from opensearchpy import RequestError


def error_of(resp):
    assert resp.status_code == 400, resp.text
    err = resp.json()["error"]
    assert err["type"] == "illegal_argument_exception"
    assert err["root_cause"][0]["type"] == "illegal_argument_exception"
    return err["reason"]


def test_unknown_search_parameter_is_rejected_with_a_hint(http):
    http.put("/params-search")
    reason = error_of(http.get("/params-search/_search?sizee=3"))
    assert reason == "request [/params-search/_search] contains unrecognized parameter: [sizee] -> did you mean [size]?"
    reason = error_of(http.get("/params-search/_search?foo=1"))
    assert reason == "request [/params-search/_search] contains unrecognized parameter: [foo]"


def test_several_unknown_parameters_are_all_named(http):
    reason = error_of(http.get("/_search?zzz=1&yyy=2"))
    assert reason == "request [/_search] contains unrecognized parameters: [yyy], [zzz]"


def test_known_but_unimplemented_parameter_is_a_clear_error(http):
    # OpenSearch accepts `preference` on _search; Quidditch says it does not implement it
    # instead of ignoring it.
    reason = error_of(http.get("/_search?preference=_local"))
    assert "[preference]" in reason and "does not implement" in reason


def test_common_parameters_are_accepted_everywhere(http):
    http.put("/params-common")
    for path in ["/", "/_cluster/health", "/params-common/_search", "/params-common/_count", "/_cat/indices"]:
        resp = http.get(path + "?pretty&human=true&error_trace=false")
        assert resp.status_code == 200, (path, resp.text)


def test_rejected_write_writes_nothing(http):
    http.put("/params-write")
    error_of(http.put("/params-write/_doc/1?refresh=true&bogus=1", json={"a": 1}))
    assert http.get("/params-write/_doc/1").status_code == 404
    body = '{"index":{"_id":"2"}}\n{"a":2}\n'
    error_of(http.post("/params-write/_bulk?refresh=true&nope", data=body,
                       headers={"Content-Type": "application/x-ndjson"}))
    assert http.get("/params-write/_count").json()["count"] == 0


def test_parameters_are_per_method(http):
    http.put("/params-methods/_doc/1?refresh=true", json={"a": 1})
    # `stored_fields` is a get parameter, not an index one.
    assert http.get("/params-methods/_doc/1?stored_fields=_source").status_code == 200
    error_of(http.put("/params-methods/_doc/1?stored_fields=_source", json={"a": 2}))
    # `op_type` is an index parameter, not a get one.
    error_of(http.get("/params-methods/_doc/1?op_type=create"))


def test_index_apis_reject_unknown_parameters(http):
    for method, path in [("put", "/params-idx?bogus=1"), ("get", "/_cluster/health?bogus=1"),
                         ("get", "/_cat/indices?bogus=1"), ("get", "/_mapping?bogus=1"),
                         ("post", "/_refresh?bogus=1"), ("get", "/api/v1/udfs?bogus=1")]:
        resp = getattr(http, method)(path)
        assert "contains unrecognized parameter: [bogus]" in error_of(resp), path
    assert http.head("/params-idx").status_code == 404  # the create with a bad parameter did nothing


def test_the_official_client_surfaces_the_error(client):
    client.indices.create(index="params-client")
    with pytest.raises(RequestError) as e:
        client.search(index="params-client", body={"query": {"match_all": {}}}, params={"no_such_option": "x"})
    assert e.value.status_code == 400
    assert e.value.error == "illegal_argument_exception"
