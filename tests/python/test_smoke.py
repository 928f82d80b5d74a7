def test_server_answers_unknown_route_with_opensearch_error(http):
    r = http.get("/_no_such_endpoint/x/y/z")
    assert r.status_code == 400
    body = r.json()
    assert body["status"] == 400
    assert body["error"]["type"] == "illegal_argument_exception"
    assert "no handler found" in body["error"]["reason"]
