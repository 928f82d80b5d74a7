"""Documented query and aggregation semantics, checked end to end against values the tests
compute themselves: every `multi_match` type, `now` date math, `extended_stats`, and the
minute/hour/year calendar intervals of `date_histogram` (docs/search.md)."""
import math
import statistics
from datetime import datetime, timedelta, timezone

import pytest

INDEX = "semantics"

MOVIES = {
    "1": {"title": "quick brown fox", "plot": "a fox in the garden", "genre": "drama"},
    "2": {"title": "garden party", "plot": "quick guests", "genre": "comedy"},
    "3": {"title": "slow river", "plot": "nothing happens", "genre": "drama"},
    "4": {"title": "quick garden", "plot": "brown leaves", "genre": "action"},
}


@pytest.fixture(scope="module")
def movies(client):
    if client.indices.exists(index=INDEX):
        client.indices.delete(index=INDEX)
    client.indices.create(index=INDEX, body={"mappings": {"properties": {
        "title": {"type": "text"}, "plot": {"type": "text"}, "genre": {"type": "keyword"}}}})
    for i, d in MOVIES.items():
        client.index(index=INDEX, id=i, body=d)
    client.indices.refresh(index=INDEX)
    return client


def scores(client, query, index=INDEX):
    r = client.search(index=index, body={"query": query, "size": 100})
    return {h["_id"]: h["_score"] for h in r["hits"]["hits"]}


def match_scores(client, field, text, **extra):
    return scores(client, {"match": {field: {"query": text, **extra}}})


# ------------------------------------------------------------------------------- multi_match

def test_multi_match_best_fields_takes_the_best_field_plus_tie_breaker(movies):
    title, plot = match_scores(movies, "title", "quick garden"), match_scores(movies, "plot", "quick garden")
    for tie in (0.0, 0.3):
        got = scores(movies, {"multi_match": {"query": "quick garden", "fields": ["title", "plot"],
                                              "type": "best_fields", "tie_breaker": tie}})
        want = {}
        for i in set(title) | set(plot):
            per_field = sorted([title.get(i, 0.0), plot.get(i, 0.0)], reverse=True)
            want[i] = per_field[0] + tie * per_field[1]
        assert got == pytest.approx(want)


def test_multi_match_most_fields_sums_the_fields(movies):
    title, plot = match_scores(movies, "title", "quick garden"), match_scores(movies, "plot", "quick garden")
    got = scores(movies, {"multi_match": {"query": "quick garden", "fields": ["title", "plot"], "type": "most_fields"}})
    assert got == pytest.approx({i: title.get(i, 0.0) + plot.get(i, 0.0) for i in set(title) | set(plot)})


def test_multi_match_field_boost_multiplies_that_field(movies):
    title, plot = match_scores(movies, "title", "fox"), match_scores(movies, "plot", "fox")
    got = scores(movies, {"multi_match": {"query": "fox", "fields": ["title^3", "plot"], "type": "most_fields"}})
    assert got == pytest.approx({i: 3 * title.get(i, 0.0) + plot.get(i, 0.0) for i in set(title) | set(plot)})


def test_multi_match_cross_fields_lets_terms_come_from_different_fields(movies):
    # "quick brown" with operator and: movie 1 has both words in its title; movie 4 has
    # "quick" in its title and "brown" in its plot, so only cross_fields (which treats
    # title + plot as one field) finds it. No movie has both "fox" and "leaves" anywhere.
    q = {"query": "quick brown", "fields": ["title", "plot"], "operator": "and"}
    best = scores(movies, {"multi_match": {**q, "type": "best_fields"}})
    cross = scores(movies, {"multi_match": {**q, "type": "cross_fields"}})
    both_in_one_field = {i for i, d in MOVIES.items()
                         if any({"quick", "brown"} <= set(d[f].split()) for f in ("title", "plot"))}
    spread = {i for i, d in MOVIES.items() if {"quick", "brown"} <= set((d["title"] + " " + d["plot"]).split())}
    assert set(best) == both_in_one_field == {"1"}
    assert set(cross) == spread == {"1", "4"}
    assert set(scores(movies, {"multi_match": {"query": "fox leaves", "fields": ["title", "plot"],
                                                "operator": "and", "type": "cross_fields"}})) == set()


def test_multi_match_phrase_needs_the_words_in_order_in_one_field(movies):
    got = scores(movies, {"multi_match": {"query": "quick garden", "fields": ["title", "plot"], "type": "phrase"}})
    want = {i for i, d in MOVIES.items() if any("quick garden" in d[f] for f in ("title", "plot"))}
    assert set(got) == want == {"4"}
    # The phrase's score is the best field's phrase score.
    assert got == pytest.approx(scores(movies, {"match_phrase": {"title": "quick garden"}}))


def test_multi_match_unknown_type_is_a_400(movies):
    from opensearchpy.exceptions import RequestError
    with pytest.raises(RequestError) as e:
        scores(movies, {"multi_match": {"query": "x", "fields": ["title"], "type": "no_such_type"}})
    assert e.value.status_code == 400


# ------------------------------------------------------------------------------- date math

def iso(dt):
    return dt.strftime("%Y-%m-%dT%H:%M:%S.") + f"{dt.microsecond // 1000:03d}Z"


def test_now_date_math_in_range_queries(client):
    index = "semantics-now"
    client.indices.create(index=index, body={"mappings": {"properties": {"at": {"type": "date"}}}})
    now = datetime.now(timezone.utc)
    offsets = {"past_2d": -2, "past_10d": -10, "past_40d": -40, "future_3d": 3}
    for name, days in offsets.items():
        client.index(index=index, id=name, body={"at": iso(now + timedelta(days=days))})
    client.indices.refresh(index=index)

    def found(rng):
        return set(scores(client, {"range": {"at": rng}}, index=index))

    assert found({"gte": "now-7d", "lte": "now"}) == {"past_2d"}
    assert found({"gte": "now-30d/d"}) == {"past_2d", "past_10d", "future_3d"}
    assert found({"lt": "now-30d"}) == {"past_40d"}
    assert found({"gt": "now"}) == {"future_3d"}
    # Rounding: `now/d` is today's midnight, so `lt now/d` leaves out the last 24 h documents
    # only when they fall today; compute what midnight excludes.
    midnight = now.replace(hour=0, minute=0, second=0, microsecond=0)
    want = {n for n, d in offsets.items() if now + timedelta(days=d) < midnight}
    assert found({"lt": "now/d"}) == want
    # An anchored expression: a fixed date plus math.
    anchor_day = (now - timedelta(days=12)).replace(hour=0, minute=0, second=0, microsecond=0)
    anchor = anchor_day.strftime("%Y-%m-%d")
    lo, hi = anchor_day + timedelta(days=1), anchor_day + timedelta(days=11)
    want = {n for n, d in offsets.items() if lo <= now + timedelta(days=d) <= hi}
    assert want  # past_10d at least
    assert found({"gte": f"{anchor}||+1d", "lte": f"{anchor}||+11d"}) == want
    client.indices.delete(index=index)


# ------------------------------------------------------------------------------- aggregations

VALUES = [3.0, 7.5, 10.0, 10.0, 42.25, -4.0]


def test_extended_stats_values(client):
    index = "semantics-stats"
    client.indices.create(index=index, body={"mappings": {"properties": {"v": {"type": "double"}}}})
    for i, v in enumerate(VALUES):
        client.index(index=index, id=str(i), body={"v": v})
    client.index(index=index, id="none", body={"other": 1})  # no value: not counted
    client.indices.refresh(index=index)
    r = client.search(index=index, body={"size": 0, "aggs": {"s": {"extended_stats": {"field": "v"}}}})
    s = r["aggregations"]["s"]
    n = len(VALUES)
    mean = sum(VALUES) / n
    variance = statistics.pvariance(VALUES)
    assert s["count"] == n
    assert s["min"] == min(VALUES) and s["max"] == max(VALUES)
    assert s["sum"] == pytest.approx(sum(VALUES))
    assert s["avg"] == pytest.approx(mean)
    assert s["sum_of_squares"] == pytest.approx(sum(v * v for v in VALUES))
    assert s["variance"] == pytest.approx(variance)
    assert s["std_deviation"] == pytest.approx(math.sqrt(variance))
    bounds = s["std_deviation_bounds"]
    assert bounds["upper"] == pytest.approx(mean + 2 * math.sqrt(variance))
    assert bounds["lower"] == pytest.approx(mean - 2 * math.sqrt(variance))
    client.indices.delete(index=index)


def floor_to(dt, unit):
    if unit == "minute":
        return dt.replace(second=0, microsecond=0)
    if unit == "hour":
        return dt.replace(minute=0, second=0, microsecond=0)
    return dt.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)


def next_bucket(dt, unit):
    if unit == "minute":
        return dt + timedelta(minutes=1)
    if unit == "hour":
        return dt + timedelta(hours=1)
    return dt.replace(year=dt.year + 1)


@pytest.mark.parametrize("unit, times", [
    ("minute", ["2024-03-10T10:00:05Z", "2024-03-10T10:00:59Z", "2024-03-10T10:03:00Z"]),
    ("hour", ["2024-03-10T22:59:59Z", "2024-03-10T23:00:00Z", "2024-03-11T02:30:00Z"]),
    ("year", ["2019-12-31T23:59:59Z", "2020-02-29T12:00:00Z", "2023-07-01T00:00:00Z"]),
])
def test_date_histogram_calendar_intervals(client, unit, times):
    index = f"semantics-cal-{unit}"
    client.indices.create(index=index, body={"mappings": {"properties": {"at": {"type": "date"}}}})
    for i, t in enumerate(times):
        client.index(index=index, id=str(i), body={"at": t})
    client.indices.refresh(index=index)
    r = client.search(index=index, body={"size": 0, "aggs": {"h": {"date_histogram": {
        "field": "at", "calendar_interval": unit}}}})
    got = [(b["key"], b["key_as_string"], b["doc_count"]) for b in r["aggregations"]["h"]["buckets"]]
    # Expected: every bucket from the first to the last value's bucket, empty ones included.
    parsed = [datetime.fromisoformat(t.replace("Z", "+00:00")) for t in times]
    want, b = [], floor_to(min(parsed), unit)
    while b <= floor_to(max(parsed), unit):
        end = next_bucket(b, unit)
        count = sum(1 for p in parsed if b <= p < end)
        want.append((int(b.timestamp() * 1000), iso(b), count))
        b = end
    assert got == want
    client.indices.delete(index=index)
