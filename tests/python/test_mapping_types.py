"""Mapping types beyond the core ones: ip, binary, geo_point, date_nanos, half_float,
scaled_float and match_only_text — indexing, `exists`, search and the documented limits
(driven with opensearch-py against the real server)."""
import uuid

import pytest
from opensearchpy import RequestError

MAPPING = {
    "properties": {
        "ip": {"type": "ip"},
        "blob": {"type": "binary"},
        "location": {"type": "geo_point"},
        "ts": {"type": "date_nanos"},
        "half": {"type": "half_float"},
        "price": {"type": "scaled_float", "scaling_factor": 100},
        "body": {"type": "match_only_text"},
    }
}

DOCS = {
    "1": {"ip": "192.168.0.1", "blob": "YWJjZGUxMjM0", "location": [13.4, 52.5],
          "ts": "2024-01-02T03:04:05.123456789Z", "half": 1.5, "price": 9.999, "body": "quick brown fox"},
    "2": {"ip": "::ffff:10.0.0.2", "location": {"lat": 48.8, "lon": 2.3},
          "ts": "2024-01-03T00:00:00Z", "half": 2.5, "price": 1.234, "body": "lazy dog"},
    "3": {"ip": "2001:0db8:0000:0000:0000:0000:0000:0001", "body": "brown dog"},
    "4": {},
}


@pytest.fixture(scope="module")
def typed_index(client):
    name = f"types-{uuid.uuid4().hex[:8]}"
    client.indices.create(index=name, body={"mappings": MAPPING})
    for doc_id, doc in DOCS.items():
        client.index(index=name, id=doc_id, body=doc)
    client.indices.refresh(index=name)
    yield name
    client.indices.delete(index=name)


def ids(resp):
    return sorted(h["_id"] for h in resp["hits"]["hits"])


def search(client, index, query, **kw):
    return client.search(index=index, body={"query": query, **kw})


def test_mapping_round_trips_the_new_types(client, typed_index):
    props = client.indices.get_mapping(index=typed_index)[typed_index]["mappings"]["properties"]
    assert {k: v["type"] for k, v in props.items()} == {k: v["type"] for k, v in MAPPING["properties"].items()}
    assert props["price"]["scaling_factor"] == 100


@pytest.mark.parametrize("field,expected", [
    ("ip", ["1", "2", "3"]), ("blob", ["1"]), ("location", ["1", "2"]), ("ts", ["1", "2"]),
    ("half", ["1", "2"]), ("price", ["1", "2"]), ("body", ["1", "2", "3"]),
])
def test_exists_sees_every_new_type(client, typed_index, field, expected):
    assert ids(search(client, typed_index, {"exists": {"field": field}})) == expected


def test_ip_term_terms_and_terms_agg_use_normalised_addresses(client, typed_index):
    # An IPv4-mapped IPv6 address and the plain IPv4 one are the same address.
    assert ids(search(client, typed_index, {"term": {"ip": "10.0.0.2"}})) == ["2"]
    assert ids(search(client, typed_index, {"term": {"ip": "::ffff:192.168.0.1"}})) == ["1"]
    assert ids(search(client, typed_index, {"terms": {"ip": ["2001:db8::1", "192.168.0.1"]}})) == ["1", "3"]
    resp = search(client, typed_index, {"match_all": {}}, size=0, aggs={"ips": {"terms": {"field": "ip"}}})
    keys = sorted(b["key"] for b in resp["aggregations"]["ips"]["buckets"])
    assert keys == ["10.0.0.2", "192.168.0.1", "2001:db8::1"]


def test_ip_limits_are_clear_errors(client, typed_index):
    for query in ({"term": {"ip": "192.168.0.0/16"}}, {"term": {"ip": "not-an-ip"}},
                  {"range": {"ip": {"gte": "10.0.0.0"}}}):
        with pytest.raises(RequestError) as err:
            search(client, typed_index, query)
        assert err.value.status_code == 400
    with pytest.raises(RequestError):
        search(client, typed_index, {"match_all": {}}, sort=[{"ip": "asc"}])
    with pytest.raises(RequestError):
        client.index(index=typed_index, id="bad", body={"ip": "999.1.1.1"})


def test_binary_and_geo_point_are_validated_and_kept_as_sent(client, typed_index):
    with pytest.raises(RequestError) as err:
        client.index(index=typed_index, id="bad", body={"blob": "not base64!"})
    assert err.value.error == "mapper_parsing_exception"
    with pytest.raises(RequestError):
        client.index(index=typed_index, id="bad", body={"location": {"lat": 100, "lon": 0}})
    # Kept in _source as sent.
    doc = client.get(index=typed_index, id="1")["_source"]
    assert doc["blob"] == "YWJjZGUxMjM0" and doc["location"] == [13.4, 52.5]
    # Not searchable: a term query matches nothing, an aggregation is a clear error.
    assert ids(search(client, typed_index, {"term": {"blob": "YWJjZGUxMjM0"}})) == []
    with pytest.raises(RequestError):
        search(client, typed_index, {"match_all": {}}, aggs={"b": {"terms": {"field": "blob"}}})


def test_date_nanos_is_a_millisecond_date(client, typed_index):
    resp = search(client, typed_index, {"range": {"ts": {"gte": "2024-01-02T03:04:05.123Z",
                                                         "lte": "2024-01-02T03:04:05.123Z"}}})
    assert ids(resp) == ["1"]
    resp = search(client, typed_index, {"exists": {"field": "ts"}}, sort=[{"ts": "desc"}])
    assert ids(resp) == ["1", "2"] and resp["hits"]["hits"][0]["_id"] == "2"


def test_half_and_scaled_float_are_numbers(client, typed_index):
    assert ids(search(client, typed_index, {"range": {"half": {"gt": 2}}})) == ["2"]
    # scaled_float indexes round(value * scaling_factor) / scaling_factor, like OpenSearch.
    assert ids(search(client, typed_index, {"term": {"price": 10.0}})) == ["1"]
    resp = search(client, typed_index, {"match_all": {}}, size=0, aggs={"s": {"sum": {"field": "price"}}})
    assert resp["aggregations"]["s"]["value"] == pytest.approx(11.23)


def test_scaled_float_requires_a_scaling_factor(client):
    with pytest.raises(RequestError) as err:
        client.indices.create(index=f"sf-{uuid.uuid4().hex[:8]}",
                              body={"mappings": {"properties": {"p": {"type": "scaled_float"}}}})
    assert err.value.error == "mapper_parsing_exception"


def test_match_only_text_is_full_text(client, typed_index):
    assert ids(search(client, typed_index, {"match": {"body": "brown"}})) == ["1", "3"]
    assert ids(search(client, typed_index, {"match_phrase": {"body": "lazy dog"}})) == ["2"]


def test_term_on_id_accepts_numbers(client, typed_index):
    assert ids(search(client, typed_index, {"term": {"_id": 1}})) == ["1"]
    assert ids(search(client, typed_index, {"terms": {"_id": [2, "3"]}})) == ["2", "3"]


def test_exists_on_metadata_fields(client, typed_index):
    assert ids(search(client, typed_index, {"exists": {"field": "_id"}})) == ["1", "2", "3", "4"]
    with pytest.raises(RequestError) as err:
        search(client, typed_index, {"exists": {"field": "_source"}})
    assert err.value.error == "query_shard_exception"


def test_date_terms_keys_are_epoch_millis(client, typed_index):
    aggs = {"d": {"terms": {"field": "ts"}}}
    buckets = search(client, typed_index, {"match_all": {}}, size=0, aggs=aggs)["aggregations"]["d"]["buckets"]
    assert sorted(b["key"] for b in buckets) == [1704164645123, 1704240000000]


def test_generated_numeric_range_keys_look_like_opensearch(client, typed_index):
    aggs = {"r": {"range": {"field": "half", "ranges": [{"to": 2}, {"key": "mine", "from": 2, "to": 3}]}}}
    buckets = search(client, typed_index, {"match_all": {}}, size=0, aggs=aggs)["aggregations"]["r"]["buckets"]
    # Only the requested ranges: no gap-filling `3.0-*` bucket.
    assert [(b["key"], b["doc_count"]) for b in buckets] == [("*-2.0", 1), ("mine", 1)]


def test_deprecated_term_order_means_key_order(client, typed_index):
    aggs = {"ips": {"terms": {"field": "ip", "order": {"_term": "desc"}}}}
    buckets = search(client, typed_index, {"match_all": {}}, size=0, aggs=aggs)["aggregations"]["ips"]["buckets"]
    assert [b["key"] for b in buckets] == ["2001:db8::1", "192.168.0.1", "10.0.0.2"]
