"""Pipeline aggregations (bucket metrics, cumulative_sum, derivative, bucket_sort,
bucket_selector) against the same numbers computed here from the documents, and equal on a
1-shard and a 5-shard index."""
import math

import pytest
from opensearchpy import OpenSearch
from opensearchpy.exceptions import RequestError

from search_data import CATEGORIES, DOCS, created_of, load_one_and_five_shards

ONE, FIVE = "pipeline-one", "pipeline-five"
DAY_MS = 86_400_000
INTERVAL = 30 * DAY_MS


@pytest.fixture(scope="module")
def es(server) -> OpenSearch:
    client = server.client()
    load_one_and_five_shards(client, ONE, FIVE, split=600)
    return client


def monthly_price_sums():
    sums = {}
    for i in DOCS:
        ms = int(created_of(int(i)).timestamp() * 1000)
        key = ms // INTERVAL * INTERVAL
        sums[key] = sums.get(key, 0.0) + DOCS[i]["price"]
    return [(k, sums.get(k, 0.0)) for k in range(min(sums), max(sums) + 1, INTERVAL)]


HISTO_AGGS = {
    "months": {
        "date_histogram": {"field": "created", "fixed_interval": "30d"},
        "aggs": {
            "revenue": {"sum": {"field": "price"}},
            "running": {"cumulative_sum": {"buckets_path": "revenue"}},
            "change": {"derivative": {"buckets_path": "revenue.value"}},
        },
    },
    "best": {"max_bucket": {"buckets_path": "months>revenue"}},
    "worst": {"min_bucket": {"buckets_path": "months>revenue"}},
    "mean": {"avg_bucket": {"buckets_path": "months>revenue"}},
    "total": {"sum_bucket": {"buckets_path": "months>revenue"}},
    "spread": {"stats_bucket": {"buckets_path": "months>revenue"}},
    "busiest": {"max_bucket": {"buckets_path": "months>_count"}},
}


@pytest.mark.parametrize("index", [ONE, FIVE])
def test_histogram_pipelines_match_python(es, index):
    expected = monthly_price_sums()
    r = es.search(index=index, body={"size": 0, "aggs": HISTO_AGGS})["aggregations"]
    buckets = r["months"]["buckets"]
    assert [b["key"] for b in buckets] == [k for k, _ in expected]
    running = 0.0
    for pos, (b, (_, revenue)) in enumerate(zip(buckets, expected)):
        running += revenue
        assert b["revenue"]["value"] == pytest.approx(revenue)
        assert b["running"]["value"] == pytest.approx(running)
        if pos == 0:
            assert "change" not in b
        else:
            assert b["change"]["value"] == pytest.approx(revenue - expected[pos - 1][1])
    values = [v for _, v in expected]
    best = max(values)
    assert r["best"]["value"] == pytest.approx(best)
    assert r["best"]["keys"] == [b["key_as_string"] for b, v in zip(buckets, values) if v == best]
    assert r["worst"]["value"] == pytest.approx(min(values))
    assert r["mean"]["value"] == pytest.approx(sum(values) / len(values))
    assert r["total"]["value"] == pytest.approx(sum(values))
    assert r["spread"]["count"] == len(values)
    assert r["spread"]["min"] == pytest.approx(min(values)) and r["spread"]["max"] == pytest.approx(max(values))
    assert r["spread"]["avg"] == pytest.approx(sum(values) / len(values))
    counts = [b["doc_count"] for b in buckets]
    assert r["busiest"]["value"] == max(counts)


def category_stats():
    out = {}
    for d in DOCS.values():
        n, s = out.get(d["category"], (0, 0.0))
        out[d["category"]] = (n + 1, s + d["price"])
    return {c: (n, s / n) for c, (n, s) in out.items()}


@pytest.mark.parametrize("index", [ONE, FIVE])
def test_bucket_sort_and_selector_match_python(es, index):
    stats = category_stats()
    averages = sorted(avg for _, avg in stats.values())
    threshold = (averages[1] + averages[2]) / 2  # between two averages: no rounding question
    body = {"size": 0, "aggs": {"cats": {
        "terms": {"field": "category", "size": 10},
        "aggs": {
            "avg_price": {"avg": {"field": "price"}},
            "keep": {"bucket_selector": {"buckets_path": {"avg": "avg_price", "n": "_count"},
                                         "script": f"params.avg >= {threshold} && params.n > 0"}},
            "order": {"bucket_sort": {"sort": [{"avg_price": {"order": "desc"}}], "from": 1, "size": 2}},
        }}}}
    buckets = es.search(index=index, body=body)["aggregations"]["cats"]["buckets"]
    kept = sorted((c for c, (_, avg) in stats.items() if avg >= threshold), key=lambda c: -stats[c][1])
    assert [b["key"] for b in buckets] == kept[1:3]
    for b in buckets:
        assert b["doc_count"] == stats[b["key"]][0]
        assert b["avg_price"]["value"] == pytest.approx(stats[b["key"]][1])


def test_pipelines_are_equal_on_one_and_five_shards(es):
    body = {"size": 0, "aggs": dict(HISTO_AGGS, cats={
        "terms": {"field": "category"},
        "aggs": {"p": {"max": {"field": "price"}},
                 "top": {"bucket_sort": {"sort": ["_key"], "size": 3}}}})}
    one = es.search(index=ONE, body=body)["aggregations"]
    five = es.search(index=FIVE, body=body)["aggregations"]
    assert_close(one, five)
    assert [b["key"] for b in one["cats"]["buckets"]] == sorted(CATEGORIES)[:3]


def assert_close(a, b, path="aggregations"):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            assert_close(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            assert_close(x, y, f"{path}[{i}]")
    elif isinstance(a, float) or isinstance(b, float):
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9), (path, a, b)
    else:
        assert a == b, path


def test_typed_keys_name_pipeline_results(es):
    r = es.search(index=ONE, body={"size": 0, "aggs": HISTO_AGGS}, params={"typed_keys": "true"})["aggregations"]
    assert {"bucket_metric_value#best", "stats_bucket#spread", "simple_value#total"} <= set(r)
    bucket = r["date_histogram#months"]["buckets"][1]
    assert "simple_value#running" in bucket and "derivative#change" in bucket


@pytest.mark.parametrize("aggs, message", [
    ({"t": {"terms": {"field": "stock"}}, "s": {"bucket_sort": {"sort": ["t>_count"]}}},
     "bucket_sort aggregation [s] must be declared inside of another aggregation"),
    ({"t": {"terms": {"field": "stock"}, "aggs": {"p": {"percentiles": {"field": "price"}}}},
      "m": {"max_bucket": {"buckets_path": "t>p"}}},
     "buckets_path must reference either a number value or a single value numeric metric aggregation, but [p] contains multiple values"),
    ({"t": {"terms": {"field": "stock"}, "aggs": {"u": {"terms": {"field": "category"}}}},
      "m": {"max_bucket": {"buckets_path": "t>u"}}}, "[StringTerms] at aggregation [u]"),
    ({"t": {"terms": {"field": "stock"}, "aggs": {"u": {"terms": {"field": "stock"}, "aggs": {"x": {"max": {"field": "price"}}}}}},
      "m": {"max_bucket": {"buckets_path": "t>u>x"}}}, "[Object[]] at aggregation [u]"),
    ({"t": {"terms": {"field": "category"}, "aggs": {"c": {"cumulative_sum": {"buckets_path": "_count"}}}}},
     "must have a histogram, date_histogram or auto_date_histogram as parent"),
    ({"t": {"terms": {"field": "category"}, "aggs": {"s": {"bucket_selector": {
        "buckets_path": {"n": "_count"}, "script": "doc['x'].value > 1"}}}}}, "cannot parse bucket_selector script"),
])
def test_pipeline_errors(es, aggs, message):
    with pytest.raises(RequestError) as e:
        es.search(index=ONE, body={"size": 0, "aggs": aggs})
    assert message in str(e.value.info), e.value.info


# ------------------------------------------------------------------------------- composite

def page_all(es, index, sources, size, query=None):
    """Every bucket of a composite aggregation, page by page through `after_key`."""
    buckets, after, pages = [], None, 0
    while True:
        comp = {"sources": sources, "size": size}
        if after is not None:
            comp["after"] = after
        body = {"size": 0, "aggs": {"c": {"composite": comp}}}
        if query:
            body["query"] = query
        agg = es.search(index=index, body=body)["aggregations"]["c"]
        pages += 1
        if not agg["buckets"]:
            return buckets, pages
        buckets.extend(agg["buckets"])
        after = agg["after_key"]
        assert after == agg["buckets"][-1]["key"]


def month_of(i):
    d = created_of(int(i))
    import datetime as dt
    return int(dt.datetime(d.year, d.month, 1, tzinfo=dt.timezone.utc).timestamp() * 1000)


@pytest.mark.parametrize("index", [ONE, FIVE])
def test_composite_paging_covers_every_bucket_once(es, index):
    sources = [{"cat": {"terms": {"field": "category"}}},
               {"stock": {"histogram": {"field": "stock", "interval": 10}}},
               {"month": {"date_histogram": {"field": "created", "calendar_interval": "month", "order": "desc"}}}]
    buckets, pages = page_all(es, index, sources, size=17)
    expected = {}
    for i, d in DOCS.items():
        key = (d["category"], float(d["stock"] // 10 * 10), month_of(i))
        expected[key] = expected.get(key, 0) + 1
    order = sorted(expected, key=lambda k: (k[0], k[1], -k[2]))
    assert [(b["key"]["cat"], b["key"]["stock"], b["key"]["month"]) for b in buckets] == order
    assert [b["doc_count"] for b in buckets] == [expected[k] for k in order]
    assert pages == -(-len(order) // 17) + 1


def test_composite_terms_pages_equal_a_big_terms_aggregation(es):
    terms = es.search(index=FIVE, body={"size": 0, "aggs": {"t": {"terms": {"field": "user.name", "size": 1000}}}})
    by_terms = {b["key"]: b["doc_count"] for b in terms["aggregations"]["t"]["buckets"]}
    for index in (ONE, FIVE):
        buckets, _ = page_all(es, index, [{"u": {"terms": {"field": "user.name"}}}], size=3)
        assert [b["key"]["u"] for b in buckets] == sorted(by_terms)
        assert {b["key"]["u"]: b["doc_count"] for b in buckets} == by_terms


@pytest.mark.parametrize("index", [ONE, FIVE])
def test_composite_missing_bucket_and_numeric_terms(es, index):
    buckets, _ = page_all(es, index, [{"d": {"terms": {"field": "discount", "missing_bucket": True}}}], size=4)
    expected = {}
    for d in DOCS.values():
        expected[d.get("discount")] = expected.get(d.get("discount"), 0) + 1
    keys = [b["key"]["d"] for b in buckets]
    assert keys == [None] + sorted(k for k in expected if k is not None)
    assert {b["key"]["d"]: b["doc_count"] for b in buckets} == expected


def test_composite_with_sub_aggregation_and_errors(es):
    r = es.search(index=FIVE, body={"size": 0, "aggs": {"c": {
        "composite": {"sources": [{"cat": {"terms": {"field": "category", "order": "desc"}}}], "size": 2},
        "aggs": {"p": {"max": {"field": "price"}}}}}})["aggregations"]["c"]
    top = sorted(CATEGORIES, reverse=True)[:2]
    assert [b["key"]["cat"] for b in r["buckets"]] == top
    for b in r["buckets"]:
        assert b["p"]["value"] == max(d["price"] for d in DOCS.values() if d["category"] == b["key"]["cat"])
    for comp in [{"sources": []}, {"sources": [{"x": {"terms": {"field": "title"}}}]},
                 {"sources": [{"x": {"histogram": {"field": "category", "interval": 1}}}]},
                 {"sources": [{"x": {"terms": {"field": "category"}}}], "size": 0}]:
        with pytest.raises(RequestError):
            es.search(index=ONE, body={"size": 0, "aggs": {"c": {"composite": comp}}})


@pytest.mark.parametrize("index", [ONE, FIVE])
def test_composite_date_format_prints_keys_and_parses_after(es, index):
    import datetime as dt
    sources = [{"day": {"date_histogram": {"field": "created", "calendar_interval": "1d", "format": "yyyy/MM/dd"}}}]
    buckets, _ = page_all(es, index, sources, size=50)
    expected = {}
    for i in DOCS:
        day = created_of(int(i)).strftime("%Y/%m/%d")
        expected[day] = expected.get(day, 0) + 1
    assert [b["key"]["day"] for b in buckets] == sorted(expected)
    assert {b["key"]["day"]: b["doc_count"] for b in buckets} == expected
    # `after` given in the format; terms on a date field are formatted too.
    r = es.search(index=index, body={"size": 0, "aggs": {"c": {"composite": {"size": 2, "after": {"d": "2024-03-01"},
        "sources": [{"d": {"terms": {"field": "created", "format": "strict_date"}}}]}}}})["aggregations"]["c"]
    after = dt.datetime(2024, 3, 1, tzinfo=dt.timezone.utc)
    later = sorted({created_of(int(i)) for i in DOCS if created_of(int(i)) > after})[:2]
    assert [b["key"]["d"] for b in r["buckets"]] == [t.strftime("%Y-%m-%d") for t in later]
    assert r["after_key"] == r["buckets"][-1]["key"]


def test_composite_value_type_is_a_hint_for_unmapped_fields_and_validated(es):
    r = es.search(index=FIVE, body={"size": 0, "aggs": {"c": {"composite": {
        "sources": [{"x": {"terms": {"field": "no_such_field", "value_type": "long"}}}]}}}})["aggregations"]["c"]
    assert r["buckets"] == []
    mapped = es.search(index=FIVE, body={"size": 0, "aggs": {"c": {"composite": {"size": 100,
        "sources": [{"x": {"terms": {"field": "category", "value_type": "long"}}}]}}}})["aggregations"]["c"]
    assert [b["key"]["x"] for b in mapped["buckets"]] == sorted(CATEGORIES)
    for source in [{"terms": {"field": "category", "value_type": "no_such_type"}},
                   {"terms": {"field": "stock", "format": "0.00"}},
                   {"date_histogram": {"field": "created", "calendar_interval": "1d", "format": "yyyy-qq"}}]:
        with pytest.raises(RequestError) as e:
            es.search(index=ONE, body={"size": 0, "aggs": {"c": {"composite": {"sources": [{"x": source}]}}}})
        assert e.value.status_code == 400 and e.value.error == "illegal_argument_exception"


# -------------------------------------------------------------------------------- top_hits

@pytest.mark.parametrize("index", [ONE, FIVE])
def test_top_hits_equal_a_sorted_search_per_bucket(es, index):
    query = {"range": {"stock": {"gte": 10}}}
    body = {"size": 0, "query": query, "aggs": {
        "cats": {"terms": {"field": "category"}, "aggs": {
            "cheap": {"top_hits": {"size": 4, "from": 1, "sort": [{"price": "asc"}], "_source": ["price", "title"]}},
            "by_stock": {"histogram": {"field": "stock", "interval": 20}, "aggs": {
                "first": {"top_hits": {"size": 2, "sort": [{"created": "asc"}, {"title.keyword": "desc"}]}}}},
        }},
        "overall": {"top_hits": {"size": 3, "sort": [{"price": "desc"}]}},
    }}
    aggs = es.search(index=index, body=body)["aggregations"]
    for cat in aggs["cats"]["buckets"]:
        members = [i for i, d in DOCS.items() if d["category"] == cat["key"] and d["stock"] >= 10]
        cheap = cat["cheap"]["hits"]
        assert cheap["total"]["value"] == len(members) == cat["doc_count"]
        want = sorted(members, key=lambda i: DOCS[i]["price"])[1:5]
        assert [h["_id"] for h in cheap["hits"]] == want
        assert all(set(h["_source"]) == {"price", "title"} for h in cheap["hits"])
        for hb in cat["by_stock"]["buckets"]:
            inner = [i for i in members if hb["key"] <= DOCS[i]["stock"] < hb["key"] + 20]
            plain = es.search(index=index, body={
                "query": {"bool": {"must": query, "filter": [{"term": {"category": cat["key"]}},
                                                              {"range": {"stock": {"gte": hb["key"], "lt": hb["key"] + 20}}}]}},
                "size": 2, "sort": [{"created": "asc"}, {"title.keyword": "desc"}]})
            assert hb["first"]["hits"]["total"]["value"] == len(inner)
            assert [h["_id"] for h in hb["first"]["hits"]["hits"]] == [h["_id"] for h in plain["hits"]["hits"]]
    matching = [i for i, d in DOCS.items() if d["stock"] >= 10]
    assert [h["_id"] for h in aggs["overall"]["hits"]["hits"]] == sorted(matching, key=lambda i: -DOCS[i]["price"])[:3]


def test_top_hits_errors(es):
    for aggs in [{"t": {"top_hits": {"size": 101}}},
                 {"t": {"top_hits": {"unknown": 1}}},
                 {"t": {"top_hits": {}, "aggs": {"m": {"max": {"field": "price"}}}}}]:
        with pytest.raises(RequestError):
            es.search(index=ONE, body={"size": 0, "aggs": aggs})


def test_max_buckets_is_opensearchs_limit(es):
    prices = [d["price"] for d in DOCS.values()]
    # Empty buckets between the lowest and highest price count too.
    fits = es.search(index=FIVE, body={"size": 0, "aggs": {"h": {"histogram": {"field": "price", "interval": 0.01}}}})
    assert len(fits["aggregations"]["h"]["buckets"]) == round((max(prices) - min(prices)) / 0.01) + 1
    with pytest.raises(RequestError) as e:
        es.search(index=FIVE, body={"size": 0, "aggs": {"h": {"histogram": {"field": "price", "interval": 0.001}}}})
    assert e.value.error == "too_many_buckets_exception"
    assert "Trying to create too many buckets. Must be less than or equal to: [65535]" in str(e.value.info)
