"""`rare_terms`: the buckets with at most `max_doc_count` documents, rarest first then by
key; every expected bucket is recomputed in Python from the same documents."""
import collections

import pytest
from opensearchpy import RequestError

from search_data import DOCS, INDEX, load, load_one_and_five_shards


@pytest.fixture(scope="module")
def products(client):
    load(client)
    return client


def expected_rare(values, max_doc_count):
    counts = collections.Counter(values)
    rare = [(k, c) for k, c in counts.items() if c <= max_doc_count]
    return sorted(rare, key=lambda kc: (kc[1], kc[0]))


def rare(client, index, field, max_doc_count, query):
    resp = client.search(index=index, body={"size": 0, "query": query, "aggs": {
        "r": {"rare_terms": {"field": field, "max_doc_count": max_doc_count}}}})
    return [(b["key"], b["doc_count"]) for b in resp["aggregations"]["r"]["buckets"]]


# Documents with a price under 12.0: few enough that some keys occur once or twice only.
CHEAP = {"range": {"price": {"lt": 12.0}}}


def cheap_docs():
    return [d for d in DOCS.values() if d["price"] < 12.0]


@pytest.mark.parametrize("max_doc_count", [1, 2, 3])
def test_rare_keyword_and_numeric_terms(products, max_doc_count):
    docs = cheap_docs()
    assert rare(products, INDEX, "user.name", max_doc_count, CHEAP) == expected_rare(
        [d["user"]["name"] for d in docs], max_doc_count)
    got = rare(products, INDEX, "user.age", max_doc_count, CHEAP)
    assert got == expected_rare([d["user"]["age"] for d in docs], max_doc_count)
    assert all(isinstance(k, int) for k, _ in got)


def test_rare_terms_equal_between_one_and_five_shards(client):
    load_one_and_five_shards(client, "rare-one", "rare-five", split=500)
    docs = cheap_docs()
    want = expected_rare([d["user"]["age"] for d in docs], 2)
    assert want  # the data has rare ages under this query
    for index in ["rare-one", "rare-five"]:
        assert rare(client, index, "user.age", 2, CHEAP) == want


def test_rare_terms_typed_keys_and_unmapped_value_type(products):
    resp = products.search(index=INDEX, typed_keys=True, body={"size": 0, "query": CHEAP, "aggs": {
        "r": {"rare_terms": {"field": "user.name"}},
        "n": {"rare_terms": {"field": "no_such_field", "value_type": "long"}}}})
    assert "srareterms#r" in resp["aggregations"]
    assert resp["aggregations"]["lrareterms#n"]["buckets"] == []


@pytest.mark.parametrize("body, reason", [
    ({"field": "user.name", "max_doc_count": 0}, "[max_doc_count] must be greater than 0"),
    ({"field": "user.name", "max_doc_count": 101}, "[max_doc_count] must be smaller than or equal to [100]"),
    ({"field": "user.name", "precision": 0}, "[precision] must be greater than 0.00001"),
    ({"field": "user.name", "size": 3}, "unknown field [size]"),
])
def test_rare_terms_errors(products, body, reason):
    with pytest.raises(RequestError) as err:
        products.search(index=INDEX, body={"size": 0, "aggs": {"r": {"rare_terms": body}}})
    assert err.value.status_code == 400
    assert reason in str(err.value.info)
