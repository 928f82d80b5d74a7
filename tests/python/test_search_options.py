"""`_search` body options that change how shards run a search: `terminate_after`,
`indices_boost`, `profile`, `stats`, `ext` (none of them is accepted and ignored). Expected
values come from the documents (search_data.DOCS) and from plain searches of the same data."""
import re

import pytest
from opensearchpy import OpenSearch
from opensearchpy.exceptions import NotFoundError, RequestError

from search_data import DOCS, load_one_and_five_shards

ONE, FIVE = "opts-one", "opts-five"
BOOST_A, BOOST_B = "opts-boost-a", "opts-boost-b"


@pytest.fixture(scope="module")
def es(server) -> OpenSearch:
    client = server.client()
    load_one_and_five_shards(client, ONE, FIVE, split=500)
    for name in (BOOST_A, BOOST_B):
        if client.indices.exists(index=name):
            client.indices.delete(index=name)
        client.indices.create(index=name)
        client.index(index=name, id="1", body={"foo": "bar baz"}, refresh=True)
    client.indices.put_alias(index=BOOST_A, name="opts-alias-a")
    return client


def shard_doc_counts(es, index):
    stats = es.indices.stats(index=index, params={"level": "shards"})
    return [s[0]["docs"]["count"] for _, s in sorted(stats["indices"][index]["shards"].items(), key=lambda kv: int(kv[0]))]


def matching(pred):
    return [i for i, d in DOCS.items() if pred(d)]


# ------------------------------------------------------------------------- terminate_after

@pytest.mark.parametrize("limit", [1, 7, 150])
def test_terminate_after_caps_each_shard(es, limit):
    for index in (ONE, FIVE):
        per_shard = shard_doc_counts(es, index)
        expected = sum(min(limit, n) for n in per_shard)
        r = es.search(index=index, body={"query": {"match_all": {}}, "terminate_after": limit,
                                         "track_total_hits": True, "size": 3})
        assert r["hits"]["total"]["value"] == expected
        assert r["terminated_early"] is any(n > limit for n in per_shard)
        assert len(r["hits"]["hits"]) == min(3, expected)


def test_terminate_after_beyond_the_matches_is_not_early(es):
    tools = matching(lambda d: d["category"] == "tools")
    r = es.search(index=FIVE, body={"query": {"term": {"category": "tools"}}, "terminate_after": len(DOCS)})
    assert r["terminated_early"] is False
    assert r["hits"]["total"]["value"] == len(tools)
    assert "terminated_early" not in es.search(index=FIVE, body={"query": {"match_all": {}}})


def test_terminate_after_on_count_and_in_the_url(es):
    r = es.count(index=ONE, body={"query": {"term": {"category": "tools"}}}, params={"terminate_after": 10})
    assert r["count"] == 10 and r["terminated_early"] is True
    r = es.search(index=ONE, params={"terminate_after": 4, "track_total_hits": "true"})
    assert r["hits"]["total"]["value"] == 4 and r["terminated_early"] is True


def test_terminate_after_negative_is_rejected(es):
    with pytest.raises(RequestError) as e:
        es.search(index=ONE, body={"terminate_after": -1})
    assert e.value.status_code == 400 and e.value.error == "illegal_argument_exception"


# --------------------------------------------------------------------------- indices_boost

def boosted_order(es, boost):
    r = es.search(index=f"{BOOST_A},{BOOST_B}", body={"query": {"match": {"foo": "bar"}}, "indices_boost": boost})
    return [(h["_index"], h["_score"]) for h in r["hits"]["hits"]]


@pytest.mark.parametrize("boost, factors", [
    ({BOOST_A: 2.0, BOOST_B: 1.0}, {BOOST_A: 2.0, BOOST_B: 1.0}),
    ([{BOOST_A: 1.0}, {BOOST_B: 3.0}], {BOOST_A: 1.0, BOOST_B: 3.0}),
    ([{"opts-alias-a": 4.0}], {BOOST_A: 4.0, BOOST_B: 1.0}),
    ([{"opts-boost-*": 0.5}, {BOOST_B: 5.0}], {BOOST_A: 0.5, BOOST_B: 0.5}),  # first match wins
    ([{"*-b": 2.5}], {BOOST_A: 1.0, BOOST_B: 2.5}),
])
def test_indices_boost_multiplies_each_index_scores(es, boost, factors):
    plain = dict(boosted_order(es, []))
    got = boosted_order(es, boost)
    for index, score in got:
        assert score == pytest.approx(plain[index] * factors[index], rel=1e-5)
    expected = sorted(got, key=lambda h: -plain[h[0]] * factors[h[0]])
    assert [i for i, _ in got] == [i for i, _ in expected]


def test_indices_boost_for_a_missing_index_is_not_found(es):
    with pytest.raises(NotFoundError) as e:
        es.search(index=f"{BOOST_A},{BOOST_B}", body={"indices_boost": [{"opts-nonexistent": 2.0}]})
    assert e.value.error == "index_not_found_exception"
    with pytest.raises(RequestError):
        es.search(index=BOOST_A, body={"indices_boost": [{BOOST_A: "high"}]})
    with pytest.raises(RequestError):
        es.search(index=BOOST_A, body={"indices_boost": [{BOOST_A: 1.0, BOOST_B: 2.0}]})


# --------------------------------------------------------------------------------- profile

ID = re.compile(r"^\[[^\]]+\]\[([^\]]+)\]\[(\d+)\]$")


def test_profile_reports_each_shard_with_measured_times(es):
    query = {"term": {"category": "music"}}
    music = matching(lambda d: d["category"] == "music")
    r = es.search(index=FIVE, body={"query": query, "profile": True, "size": 20,
                                    "aggs": {"stock": {"avg": {"field": "stock"}}}})
    shards = r["profile"]["shards"]
    assert len(shards) == 5
    seen = sorted(int(ID.match(s["id"]).group(2)) for s in shards)
    assert seen == [0, 1, 2, 3, 4]
    # Together the shards' scorers were advanced at least once per matching document.
    advances = 0
    for s in shards:
        assert ID.match(s["id"]).group(1) == FIVE
        (search,) = s["searches"]
        (q,) = search["query"]
        b = q["breakdown"]
        assert q["time_in_nanos"] == sum(b[k] for k in b if not k.endswith("_count"))
        assert b["create_weight_count"] == 1 and b["create_weight"] > 0
        assert b["build_scorer_count"] >= 1
        advances += b["next_doc_count"] + b["advance_count"]
        (collector,) = search["collector"]
        assert collector["time_in_nanos"] > 0
        assert [c["reason"] for c in collector["children"]] == ["search_top_hits", "aggregation"]
        assert s["aggregations"][0]["description"] == "stock" and s["aggregations"][0]["time_in_nanos"] > 0
    assert advances >= len(music)
    fetched = sum(s["fetch"][0]["breakdown"]["load_stored_fields_count"] for s in shards)
    assert fetched == len(r["hits"]["hits"]) == 20
    assert all(s["fetch"][0]["time_in_nanos"] > 0 for s in shards if s["fetch"][0]["breakdown"]["load_stored_fields_count"])


def test_profile_is_absent_unless_asked_and_must_be_boolean(es):
    assert "profile" not in es.search(index=ONE, body={"profile": False})
    with pytest.raises(RequestError):
        es.search(index=ONE, body={"profile": "yes"})


# ------------------------------------------------------------------------------ stats, ext

def test_stats_groups_are_validated(es):
    expected = len(matching(lambda d: d["category"] == "games"))
    r = es.search(index=ONE, body={"query": {"term": {"category": "games"}}, "stats": ["group1", "group2"]})
    assert r["hits"]["total"]["value"] == expected
    with pytest.raises(RequestError):
        es.search(index=ONE, body={"stats": {"group": 1}})


def test_ext_names_a_search_extension(es):
    assert es.search(index=ONE, body={"ext": {}, "size": 0})["hits"]["total"]["value"] == len(DOCS)
    with pytest.raises(RequestError) as e:
        es.search(index=ONE, body={"ext": {"my_plugin": {"a": 1}}})
    assert e.value.status_code == 400 and "my_plugin" in str(e.value.info)
