"""Aggregations with the official client; every value is recomputed in Python from the same
deterministic documents."""
import collections
import datetime as dt
import math

import pytest
from opensearchpy import RequestError

from search_data import DOCS, INDEX, N_DOCS, created_of, load


@pytest.fixture(scope="module")
def products(client):
    load(client)
    return client


def aggs(client, aggs, query=None, **params):
    body = {"size": 0, "aggs": aggs}
    if query:
        body["query"] = query
    resp = client.search(index=INDEX, body=body, **params)
    assert resp["hits"]["hits"] == []
    return resp["aggregations"]


def docs_matching(pred=lambda d: True):
    return [d for d in DOCS.values() if pred(d)]


def test_terms_with_sub_aggregations(products):
    out = aggs(products, {"cats": {"terms": {"field": "category"}, "aggs": {
        "avg_price": {"avg": {"field": "price"}},
        "max_stock": {"max": {"field": "stock"}},
    }}})
    counts = collections.Counter(d["category"] for d in DOCS.values())
    buckets = out["cats"]["buckets"]
    assert [(b["key"], b["doc_count"]) for b in buckets] == sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))
    for b in buckets:
        docs = docs_matching(lambda d: d["category"] == b["key"])
        assert b["avg_price"]["value"] == pytest.approx(sum(d["price"] for d in docs) / len(docs))
        assert b["max_stock"]["value"] == max(d["stock"] for d in docs)
    assert out["cats"]["sum_other_doc_count"] == 0


def test_terms_size_numeric_and_boolean_keys(products):
    out = aggs(products, {"ages": {"terms": {"field": "user.age", "size": 3}}})
    counts = collections.Counter(d["user"]["age"] for d in DOCS.values())
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:3]
    assert [b["doc_count"] for b in out["ages"]["buckets"]] == [c for _, c in top]
    assert all(isinstance(b["key"], int) for b in out["ages"]["buckets"])
    out = aggs(products, {"stocked": {"terms": {"field": "in_stock"}}})
    by_key = {b["key_as_string"]: b["doc_count"] for b in out["stocked"]["buckets"]}
    assert by_key == {"true": len(docs_matching(lambda d: d["in_stock"])), "false": len(docs_matching(lambda d: not d["in_stock"]))}
    out = aggs(products, {"tags": {"terms": {"field": "tags", "size": 10}}})
    tag_counts = collections.Counter(t for d in DOCS.values() for t in d["tags"])
    assert {b["key"]: b["doc_count"] for b in out["tags"]["buckets"]} == dict(tag_counts)


def test_metrics(products):
    out = aggs(products, {
        "avg": {"avg": {"field": "price"}},
        "min": {"min": {"field": "price"}},
        "max": {"max": {"field": "price"}},
        "sum": {"sum": {"field": "stock"}},
        "stats": {"stats": {"field": "rating"}},
        "count": {"value_count": {"field": "discount"}},
        "card": {"cardinality": {"field": "category"}},
        "card_users": {"cardinality": {"field": "user.name"}},
    })
    prices = [d["price"] for d in DOCS.values()]
    assert out["avg"]["value"] == pytest.approx(sum(prices) / len(prices))
    assert out["min"]["value"] == min(prices)
    assert out["max"]["value"] == max(prices)
    assert out["sum"]["value"] == sum(d["stock"] for d in DOCS.values())
    ratings = [d["rating"] for d in DOCS.values()]
    s = out["stats"]
    assert s["count"] == N_DOCS
    assert (s["min"], s["max"]) == (min(ratings), max(ratings))
    assert s["sum"] == pytest.approx(sum(ratings))
    assert s["avg"] == pytest.approx(sum(ratings) / N_DOCS)
    assert out["count"]["value"] == len(docs_matching(lambda d: "discount" in d))
    assert out["card"]["value"] == 5
    assert out["card_users"]["value"] == 20


def test_percentiles(products):
    out = aggs(products, {"p": {"percentiles": {"field": "price", "percents": [50, 95]}}})
    prices = sorted(d["price"] for d in DOCS.values())

    def exact(q):
        return prices[min(len(prices) - 1, int(math.ceil(q / 100 * len(prices))) - 1)]
    values = out["p"]["values"]
    # Sketch-based: within 2% (relative) of the exact value.
    assert values["50.0"] == pytest.approx(exact(50), rel=0.02)
    assert values["95.0"] == pytest.approx(exact(95), rel=0.02)


def test_range_and_histogram(products):
    out = aggs(products, {"r": {"range": {"field": "price", "ranges": [{"to": 25}, {"from": 25, "to": 50}, {"from": 50}]}}})
    b = out["r"]["buckets"]
    prices = [d["price"] for d in DOCS.values()]
    assert [x["doc_count"] for x in b] == [
        sum(p < 25 for p in prices), sum(25 <= p < 50 for p in prices), sum(p >= 50 for p in prices)]
    assert b[0]["to"] == 25 and b[1]["from"] == 25
    out = aggs(products, {"h": {"histogram": {"field": "stock", "interval": 10}, "aggs": {"s": {"sum": {"field": "price"}}}}})
    hist = out["h"]["buckets"]
    assert [x["key"] for x in hist] == [0, 10, 20, 30, 40]
    for x in hist:
        docs = docs_matching(lambda d: x["key"] <= d["stock"] < x["key"] + 10)
        assert x["doc_count"] == len(docs)
        assert x["s"]["value"] == pytest.approx(sum(d["price"] for d in docs))


def test_date_histogram_and_date_range(products):
    out = aggs(products, {"per_week": {"date_histogram": {"field": "created", "calendar_interval": "week"}}})
    counts = collections.Counter()
    for i in range(N_DOCS):
        c = created_of(i)
        monday = (c - dt.timedelta(days=c.weekday())).replace(hour=0)
        counts[monday] += 1
    buckets = [b for b in out["per_week"]["buckets"] if b["doc_count"] > 0]
    assert [(b["key_as_string"], b["doc_count"]) for b in buckets] == [
        (k.strftime("%Y-%m-%dT%H:%M:%S.000Z"), v) for k, v in sorted(counts.items())]
    assert buckets[0]["key"] == int(min(counts).timestamp() * 1000)
    out = aggs(products, {"per_30d": {"date_histogram": {"field": "created", "fixed_interval": "30d", "min_doc_count": 1}}})
    assert sum(b["doc_count"] for b in out["per_30d"]["buckets"]) == N_DOCS
    out = aggs(products, {"dr": {"date_range": {"field": "created", "ranges": [{"to": "2024-07-01"}, {"from": "2024-07-01"}]}}})
    split = dt.datetime(2024, 7, 1, tzinfo=dt.timezone.utc)
    assert [b["doc_count"] for b in out["dr"]["buckets"]] == [
        sum(created_of(i) < split for i in range(N_DOCS)), sum(created_of(i) >= split for i in range(N_DOCS))]
    out = aggs(products, {"first": {"min": {"field": "created"}}})
    assert out["first"]["value_as_string"] == "2024-01-01T00:00:00.000Z"


def test_date_histogram_calendar_months_and_quarters(products):
    out = aggs(products, {"m": {"date_histogram": {"field": "created", "calendar_interval": "month"}},
                          "q": {"date_histogram": {"field": "created", "calendar_interval": "quarter", "min_doc_count": 1}}})
    months = collections.Counter(created_of(i).strftime("%Y-%m-01T00:00:00.000Z") for i in range(N_DOCS))
    assert [(b["key_as_string"], b["doc_count"]) for b in out["m"]["buckets"]] == sorted(months.items())
    first = out["m"]["buckets"][0]
    assert first["key"] == int(dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)
    quarters = collections.Counter(
        f"{created_of(i).year}-{(created_of(i).month - 1) // 3 * 3 + 1:02d}-01T00:00:00.000Z" for i in range(N_DOCS))
    assert [(b["key_as_string"], b["doc_count"]) for b in out["q"]["buckets"]] == sorted(quarters.items())


def test_aggregations_follow_the_query(products):
    out = aggs(products, {"s": {"sum": {"field": "stock"}}, "c": {"terms": {"field": "category"}}},
               query={"range": {"price": {"lt": 10}}})
    docs = docs_matching(lambda d: d["price"] < 10)
    assert out["s"]["value"] == sum(d["stock"] for d in docs)
    assert sum(b["doc_count"] for b in out["c"]["buckets"]) == len(docs)
    # post_filter narrows hits, not aggregations.
    resp = products.search(index=INDEX, body={"post_filter": {"term": {"category": "books"}},
                                              "aggs": {"c": {"terms": {"field": "category"}}}})
    assert resp["hits"]["total"]["value"] == len(docs_matching(lambda d: d["category"] == "books"))
    assert len(resp["aggregations"]["c"]["buckets"]) == 5


def test_typed_keys(products):
    out = aggs(products, {"cats": {"terms": {"field": "category"}, "aggs": {"a": {"avg": {"field": "price"}}}},
                          "m": {"max": {"field": "stock"}}}, typed_keys=True)
    assert set(out) == {"sterms#cats", "max#m"}
    assert "avg#a" in out["sterms#cats"]["buckets"][0]


def test_aggregation_errors(products):
    with pytest.raises(RequestError) as e:
        aggs(products, {"t": {"terms": {"field": "title"}}})
    assert e.value.error == "illegal_argument_exception"
    assert "Text fields are not optimised" in e.value.info["error"]["reason"]
    with pytest.raises(RequestError) as e:
        aggs(products, {"x": {"no_such_agg": {"field": "price"}}})
    assert e.value.status_code == 400
    with pytest.raises(RequestError) as e:
        aggs(products, {"m": {"date_histogram": {"field": "created", "calendar_interval": "fortnight"}}})
    assert "unknown calendar interval" in e.value.info["error"]["reason"]
    with pytest.raises(RequestError) as e:
        aggs(products, {"m": {"date_histogram": {"field": "created", "calendar_interval": "month"},
                              "aggs": {"s": {"sum": {"field": "price"}}}}})
    assert e.value.status_code == 400
    with pytest.raises(RequestError) as e:
        aggs(products, {"a": {"avg": {"field": "price"}, "aggs": {"b": {"max": {"field": "price"}}}}})
    assert e.value.status_code == 400
    with pytest.raises(RequestError) as e:
        aggs(products, {"a": {"avg": {"field": "category"}}})
    assert "not supported for aggregation [avg]" in e.value.info["error"]["reason"]
    with pytest.raises(RequestError):
        aggs(products, {"c": {"cardinality": {"field": "category", "precision_threshold": -1}}})


def test_meta_is_echoed(products):
    out = aggs(products, {"c": {"cardinality": {"field": "category"}, "meta": {"owner": "dashboards"}}})
    assert out["c"] == {"value": 5, "meta": {"owner": "dashboards"}}


def test_filter_and_filters(products):
    out = aggs(products, {
        "cheap": {"filter": {"range": {"price": {"lt": 20}}}, "aggs": {"avg_stock": {"avg": {"field": "stock"}}}},
        "by_cat": {"filters": {"filters": {"books": {"term": {"category": "books"}},
                                           "in_stock": {"term": {"in_stock": True}}}}},
        "anon": {"filters": {"filters": [{"term": {"category": "games"}}, {"match_all": {}}]}},
    }, query={"range": {"stock": {"lt": 40}}})
    base = docs_matching(lambda d: d["stock"] < 40)
    cheap = [d for d in base if d["price"] < 20]
    assert out["cheap"]["doc_count"] == len(cheap)
    assert out["cheap"]["avg_stock"]["value"] == pytest.approx(sum(d["stock"] for d in cheap) / len(cheap))
    assert out["by_cat"]["buckets"]["books"]["doc_count"] == sum(d["category"] == "books" for d in base)
    assert out["by_cat"]["buckets"]["in_stock"]["doc_count"] == sum(d["in_stock"] for d in base)
    assert [b["doc_count"] for b in out["anon"]["buckets"]] == [sum(d["category"] == "games" for d in base), len(base)]
    typed = aggs(products, {"f": {"filter": {"term": {"category": "books"}}}}, typed_keys=True)
    assert "filter#f" in typed
    with pytest.raises(RequestError) as e:
        aggs(products, {"t": {"terms": {"field": "category"}, "aggs": {"f": {"filter": {"match_all": {}}}}}})
    assert "top level" in e.value.info["error"]["reason"]
