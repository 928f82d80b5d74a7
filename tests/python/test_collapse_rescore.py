"""Field collapsing and rescoring against a Python model of the same documents: collapse is a
group-by keeping each group's best document (inner hits: each group's documents sorted); a
rescore re-ranks each shard's top window, recomputed here from the documents' own values
(prices are distinct, so scores built from them leave no ties) and the shard each hit comes
from (`_shard` of an explained search)."""
import heapq

import pytest
from opensearchpy import OpenSearch
from opensearchpy.exceptions import RequestError

from search_data import DOCS, load_one_and_five_shards

ONE, FIVE = "collapse-one", "collapse-five"


@pytest.fixture(scope="module")
def es(server) -> OpenSearch:
    client = server.client()
    load_one_and_five_shards(client, ONE, FIVE, split=400)
    return client


def price_desc(doc_id):
    return (-DOCS[doc_id]["price"], DOCS[doc_id]["title"])


def groups_of(field, ids):
    groups = {}
    for i in ids:
        groups.setdefault(DOCS[i].get(field) if "." not in field else DOCS[i]["user"]["name"], []).append(i)
    return groups


SORT = [{"price": "desc"}, {"title.keyword": "asc"}]


# -------------------------------------------------------------------------------- collapse

@pytest.mark.parametrize("index", [ONE, FIVE])
@pytest.mark.parametrize("field", ["category", "stock", "user.name", "discount"])
def test_collapse_is_a_group_by_keeping_the_best_document(es, index, field):
    in_stock = [i for i, d in DOCS.items() if d["in_stock"]]
    groups = groups_of(field, in_stock)
    best = sorted((min(members, key=price_desc) for members in groups.values()), key=price_desc)
    for start, size in [(0, 10), (10, 7), (0, 100)]:
        r = es.search(index=index, body={"query": {"term": {"in_stock": True}}, "collapse": {"field": field},
                                         "sort": SORT, "from": start, "size": size, "track_total_hits": True})
        assert r["hits"]["total"]["value"] == len(in_stock)
        got = r["hits"]["hits"]
        assert [h["_id"] for h in got] == best[start:start + size]
        for h in got:
            value = DOCS[h["_id"]]["user"]["name"] if field == "user.name" else DOCS[h["_id"]].get(field)
            assert h["fields"][field] == [value]


@pytest.mark.parametrize("index", [ONE, FIVE])
def test_collapse_inner_hits_are_each_groups_sorted_documents(es, index):
    query = {"range": {"price": {"lt": 60}}}
    members = groups_of("category", [i for i, d in DOCS.items() if d["price"] < 60])
    r = es.search(index=index, body={
        "query": query, "sort": SORT, "size": 5,
        "collapse": {"field": "category", "max_concurrent_group_searches": 2, "inner_hits": [
            {"name": "cheapest", "size": 3, "sort": [{"price": "asc"}], "_source": ["price"]},
            {"name": "newest", "from": 1, "size": 2, "sort": [{"created": "desc"}, {"title.keyword": "asc"}],
             "version": True},
        ]}})
    assert len(r["hits"]["hits"]) == len(members)
    for hit in r["hits"]["hits"]:
        group = members[DOCS[hit["_id"]]["category"]]
        cheapest = hit["inner_hits"]["cheapest"]["hits"]
        assert cheapest["total"]["value"] == len(group)
        assert [h["_id"] for h in cheapest["hits"]] == sorted(group, key=lambda i: DOCS[i]["price"])[:3]
        assert all(h["_source"] == {"price": DOCS[h["_id"]]["price"]} for h in cheapest["hits"])
        newest = hit["inner_hits"]["newest"]["hits"]["hits"]
        by_created = sorted(group, key=lambda i: DOCS[i]["title"])
        by_created = sorted(by_created, key=lambda i: created_ms(DOCS[i]["created"]), reverse=True)
        assert [h["_id"] for h in newest] == by_created[1:3]
        assert all(h["_version"] == 1 for h in newest)


def created_ms(v):
    if isinstance(v, int):
        return v
    import datetime as dt
    return int(dt.datetime.strptime(v, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.timezone.utc).timestamp() * 1000)


def test_collapse_errors_are_opensearchs(es):
    cases = [
        ({"collapse": {"field": "title"}}, {}, "without `doc_values`"),
        ({"collapse": {"field": "created"}}, {}, "only keywords and numbers"),
        ({"collapse": {"field": "nope"}}, {}, "no mapping found"),
        ({"collapse": {"field": "category"}}, {"scroll": "1m"}, "cannot use `collapse` in a scroll context"),
        ({"collapse": {"field": "category"}, "sort": SORT, "search_after": [1, "a"]}, {},
         "cannot use `collapse` in conjunction with `search_after`"),
        ({"collapse": {"field": "category"}, "rescore": {"query": {"rescore_query": {"match_all": {}}}}}, {},
         "cannot use `collapse` in conjunction with `rescore`"),
        ({"collapse": {"field": "category", "inner_hits": [{"name": "a"}, {"name": "a"}]}}, {}, "already contains"),
    ]
    for body, params, message in cases:
        with pytest.raises(RequestError) as e:
            es.search(index=ONE, body=body, params=params)
        assert e.value.status_code == 400 and message in str(e.value.info), (body, e.value.info)


# --------------------------------------------------------------------------------- rescore

PRICE_SCORE = {"function_score": {"query": {"range": {"price": {"gt": 0}}},
                                  "field_value_factor": {"field": "price"}, "boost_mode": "replace"}}


def shard_of(es, index):
    r = es.search(index=index, body={"query": {"match_all": {}}, "size": len(DOCS), "explain": True,
                                     "_source": False})
    return {h["_id"]: h["_shard"] for h in r["hits"]["hits"]}


def model_rescore(ids, shard, rescorers):
    """Each shard's hits by price, each rescorer applied to its top window (which stays ahead
    of the shard's other hits), then the shards' lists merged head by head as OpenSearch's
    coordinator does."""
    per_shard = []
    for s in sorted(set(shard.values()), key=lambda name: int(name.rsplit("[", 1)[1].rstrip("]"))):
        hits = sorted(((i, DOCS[i]["price"]) for i in ids if shard[i] == s), key=lambda h: -h[1])
        for window, matches, qw, rw, secondary, mode in rescorers:
            head = []
            for i, score in hits[:window]:
                primary = qw * score
                if matches(DOCS[i]):
                    s2 = rw * secondary
                    score = {"total": primary + s2, "multiply": primary * s2, "max": max(primary, s2),
                             "min": min(primary, s2), "avg": (primary + s2) / 2}[mode]
                else:
                    score = primary
                head.append((i, score))
            hits = sorted(head, key=lambda h: -h[1]) + hits[window:]
        per_shard.append(hits)
    return list(heapq.merge(*per_shard, key=lambda h: -h[1]))


@pytest.mark.parametrize("index", [ONE, FIVE])
def test_rescore_reranks_each_shards_window(es, index):
    shard = shard_of(es, index)
    ids = [i for i, d in DOCS.items() if d["price"] > 0]
    rescorers = [
        (60, lambda d: d["category"] == "tools", 1.0, 1.0, 50.0, "total"),
        (25, lambda d: d["in_stock"], 0.5, 2.0, 3.0, "multiply"),
    ]
    body_rescore = [
        {"window_size": 60, "query": {"rescore_query": {"constant_score": {"filter": {"term": {"category": "tools"}}, "boost": 50}}}},
        {"window_size": 25, "query": {"rescore_query": {"constant_score": {"filter": {"term": {"in_stock": True}}, "boost": 3}},
                                      "query_weight": 0.5, "rescore_query_weight": 2.0, "score_mode": "multiply"}},
    ]
    expected = model_rescore(ids, shard, rescorers)
    r = es.search(index=index, body={"query": PRICE_SCORE, "rescore": body_rescore, "size": 40})
    got = [(h["_id"], h["_score"]) for h in r["hits"]["hits"]]
    assert [i for i, _ in got] == [i for i, _ in expected[:40]]
    for (_, score), (_, want) in zip(got, expected):
        assert score == pytest.approx(want, rel=1e-5)
    assert r["hits"]["max_score"] == pytest.approx(expected[0][1], rel=1e-5)


@pytest.mark.parametrize("mode", ["total", "multiply", "avg", "max", "min"])
def test_rescore_score_modes_with_a_scored_rescore_query(es, mode):
    """The rescore query's own scores (BM25 on one shard) come from a plain search of it."""
    rescore_query = {"match": {"description": "fox lamp"}}
    secondary = {h["_id"]: h["_score"] for h in es.search(
        index=ONE, body={"query": rescore_query, "size": len(DOCS)})["hits"]["hits"]}
    primary = {i: d["price"] for i, d in DOCS.items() if d["price"] > 0}
    window = 30
    ranked = sorted(primary, key=lambda i: -primary[i])
    combine = {"total": lambda a, b: a + b, "multiply": lambda a, b: a * b, "avg": lambda a, b: (a + b) / 2,
               "max": max, "min": min}[mode]
    head = [(i, combine(1.5 * primary[i], 0.7 * secondary[i]) if i in secondary else 1.5 * primary[i])
            for i in ranked[:window]]
    expected = sorted(head, key=lambda h: -h[1]) + [(i, primary[i]) for i in ranked[window:]]
    r = es.search(index=ONE, body={"query": PRICE_SCORE, "size": 45, "rescore": {
        "window_size": window, "query": {"rescore_query": rescore_query, "query_weight": 1.5,
                                         "rescore_query_weight": 0.7, "score_mode": mode}}})
    got = [(h["_id"], h["_score"]) for h in r["hits"]["hits"]]
    assert [g[1] for g in got] == pytest.approx([e[1] for e in expected[:45]], rel=1e-5)
    assert {g[0] for g in got[:window]} == {e[0] for e in expected[:window]}


def test_rescore_errors_are_opensearchs(es):
    cases = [
        ({"sort": [{"price": "asc"}], "rescore": {"query": {"rescore_query": {"match_all": {}}}}},
         "Cannot use [sort] option in conjunction with [rescore]."),
        ({"rescore": [{"window_size": 10001, "query": {"rescore_query": {"match_all": {}}}}]},
         "Rescore window [10001] is too large. It must be less than [10000]."),
        ({"rescore": {"query": {"query_weight": 2}}}, "rescore_query cannot be null"),
        ({"rescore": {"query": {"rescore_query": {"match_all": {}}, "score_mode": "sum"}}}, "illegal score_mode"),
    ]
    for body, message in cases:
        with pytest.raises(RequestError) as e:
            es.search(index=ONE, body=body)
        assert e.value.status_code == 400 and message in str(e.value.info), (body, e.value.info)
