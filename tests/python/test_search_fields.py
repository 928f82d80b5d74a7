"""`fields` and `docvalue_fields` in `_search`: each hit's values of the requested mapped fields
(names, patterns, multi-fields) under `hits.hits[].fields`, compared with the documents' own
values; `docvalue_fields` on a text field is a 400."""
import pytest
from opensearchpy import RequestError

INDEX = "searchfields"

DOCS = {
    "1": {"title": "Alpha one", "count": 3, "tags": ["x", "y"], "user": {"name": "ann"}},
    "2": {"title": "Beta two", "count": 7, "tags": "z", "user": {"name": "bob"}},
}


@pytest.fixture(scope="module")
def sf(client):
    if client.indices.exists(index=INDEX):
        client.indices.delete(index=INDEX)
    client.indices.create(index=INDEX, body={"mappings": {"properties": {
        "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
        "count": {"type": "integer"}, "tags": {"type": "keyword"},
        "user": {"properties": {"name": {"type": "keyword"}}}}}})
    for i, d in DOCS.items():
        client.index(index=INDEX, id=i, body=d)
    client.indices.refresh(index=INDEX)
    return client


def as_list(v):
    return v if isinstance(v, list) else [v]


def fields_of(client, **body):
    r = client.search(index=INDEX, body={"query": {"match_all": {}}, **body})
    return {h["_id"]: h.get("fields") for h in r["hits"]["hits"]}


def test_fields_names_patterns_and_multi_fields(sf):
    got = fields_of(sf, fields=["count", "tags", "user.*", {"field": "title.raw"}])
    for i, d in DOCS.items():
        assert got[i] == {"count": [d["count"]], "tags": as_list(d["tags"]), "user.name": [d["user"]["name"]],
                          "title.raw": [d["title"]]}


def test_docvalue_fields_and_text_refusal(sf):
    got = fields_of(sf, docvalue_fields=["count", "tags"], _source=False)
    for i, d in DOCS.items():
        assert got[i] == {"count": [d["count"]], "tags": as_list(d["tags"])}
    r = sf.search(index=INDEX, docvalue_fields="count")
    assert {h["_id"]: h["fields"]["count"] for h in r["hits"]["hits"]} == {i: [d["count"]] for i, d in DOCS.items()}
    with pytest.raises(RequestError) as e:
        sf.search(index=INDEX, body={"docvalue_fields": ["title"]})
    assert e.value.error == "illegal_argument_exception"
    with pytest.raises(RequestError) as e:
        sf.search(index=INDEX, body={"fields": [{"name": "count"}]})
    assert e.value.status_code == 400
