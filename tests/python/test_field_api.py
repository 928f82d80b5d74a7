"""`_field_caps` and `_validate/query` against the real server: capabilities follow each
index's own mapping (types that differ between indices list their indices), and validation
says `valid: false` (with the reason under `explain`) for queries that do not parse or do not
fit a mapping."""
import pytest
from opensearchpy import RequestError

MAPPINGS = {
    "fcaps-a": {"title": {"type": "text"}, "code": {"type": "keyword"}, "n": {"type": "long"}},
    "fcaps-b": {"title": {"type": "text"}, "code": {"type": "long"}, "when": {"type": "date"}},
}
SEARCHABLE_NOT_AGG = {"text"}


@pytest.fixture(scope="module")
def fc(client):
    for name, props in MAPPINGS.items():
        if client.indices.exists(index=name):
            client.indices.delete(index=name)
        client.indices.create(index=name, body={"mappings": {"properties": props}})
    return client


def test_field_caps_per_field_and_type(fc):
    r = fc.field_caps(index="fcaps-a,fcaps-b", fields="title,code,n,when")
    assert sorted(r["indices"]) == sorted(MAPPINGS)
    for field in ["title", "code", "n", "when"]:
        types = {}
        for index, props in MAPPINGS.items():
            if field in props:
                types.setdefault(props[field]["type"], []).append(index)
        got = r["fields"][field]
        assert set(got) == set(types)
        for ty, indices in types.items():
            assert got[ty]["type"] == ty
            assert got[ty]["searchable"] is True
            assert got[ty]["aggregatable"] is (ty not in SEARCHABLE_NOT_AGG)
            if len(types) > 1:
                assert sorted(got[ty]["indices"]) == sorted(indices)
            else:
                assert "indices" not in got[ty]


def test_field_caps_patterns_and_errors(fc):
    r = fc.field_caps(index="fcaps-a", fields="t*")
    assert set(r["fields"]) == {f for f in MAPPINGS["fcaps-a"] if f.startswith("t")}
    with pytest.raises(RequestError) as e:
        fc.field_caps(index="fcaps-a")
    assert e.value.error == "action_request_validation_exception"


def test_validate_query(fc):
    ok = fc.indices.validate_query(index="fcaps-a", body={"query": {"match": {"title": "x"}}})
    assert ok["valid"] is True
    assert fc.indices.validate_query(index="fcaps-a", q="title:x AND n:[1 TO 5]")["valid"] is True
    bad = fc.indices.validate_query(index="fcaps-a", body={"query": {"no_such": {}}})
    assert bad["valid"] is False and "error" not in bad
    explained = fc.indices.validate_query(index="fcaps-a", body={"query": {"no_such": {}}}, explain=True)
    assert explained["valid"] is False and "unknown query [no_such]" in explained["error"]
    # Parses, but does not fit the mapping: `n` is a long.
    assert fc.indices.validate_query(index="fcaps-a", body={"query": {"term": {"n": "abc"}}})["valid"] is False
    assert fc.indices.validate_query(index="fcaps-a", q="title:(unclosed")["valid"] is False
    not_query = fc.indices.validate_query(index="fcaps-a", body={"match_all": {}}, explain=True)
    assert not_query["valid"] is False and "request does not support [match_all]" in not_query["error"]
    good = fc.indices.validate_query(index="fcaps-a", body={"query": {"match_all": {}}}, explain=True)
    assert good["explanations"][0]["index"] == "fcaps-a" and good["explanations"][0]["valid"] is True
