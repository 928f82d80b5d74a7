"""`nested` fields: each nested object is matched on its own (a query across two fields of one
object never matches across different objects), on 1 and 5 shards, after updates, deletes and
a kill -9 (WAL replay). Every expected value is a Python evaluation over the same documents."""
import random

import pytest
from opensearchpy import OpenSearch, RequestError

AUTHORS = ["ann", "bob", "cy", "dee", "eve", "fay"]
WORDS = ["great", "awful", "fine", "broken", "shiny", "slow", "fast"]

MAPPING = {"properties": {
    "title": {"type": "keyword"},
    "price": {"type": "double"},
    "comments": {"type": "nested", "properties": {
        "author": {"type": "keyword"},
        "stars": {"type": "integer"},
        "text": {"type": "text"},
        "replies": {"type": "nested", "properties": {"who": {"type": "keyword"}, "likes": {"type": "long"}}},
    }},
}}


def make_docs(n=300, seed=7):
    rng = random.Random(seed)
    docs = {}
    for i in range(n):
        comments = []
        for _ in range(rng.randint(0, 4)):
            c = {"author": rng.choice(AUTHORS), "stars": rng.randint(1, 5),
                 "text": " ".join(rng.sample(WORDS, 2))}
            if rng.random() < 0.5:
                c["replies"] = [{"who": rng.choice(AUTHORS), "likes": rng.randint(0, 9)} for _ in range(rng.randint(1, 3))]
            comments.append(c)
        doc = {"title": f"item{i}", "price": float(i % 50)}
        if comments:
            doc["comments"] = comments
        docs[str(i)] = doc
    return docs


DOCS = make_docs()


def load(es, name, shards, docs):
    if es.indices.exists(index=name):
        es.indices.delete(index=name)
    es.indices.create(index=name, body={"settings": {"number_of_shards": shards}, "mappings": MAPPING})
    lines = []
    for i, d in docs.items():
        lines += [{"index": {"_index": name, "_id": i}}, d]
    r = es.bulk(body=lines, refresh=True)
    assert not r["errors"]


@pytest.fixture(scope="module")
def es(client):
    load(client, "nested-1", 1, DOCS)
    load(client, "nested-5", 5, DOCS)
    return client


def ids(es, index, query, size=1000):
    r = es.search(index=index, body={"query": query, "size": size})
    assert r["hits"]["total"]["value"] == len(r["hits"]["hits"])
    return sorted(h["_id"] for h in r["hits"]["hits"])


def expect(pred, docs=DOCS):
    return sorted(i for i, d in docs.items() if pred(d))


@pytest.mark.parametrize("index", ["nested-1", "nested-5"])
def test_bool_over_one_nested_object_never_matches_across_objects(es, index):
    for author in AUTHORS:
        for stars in (3, 5):
            q = {"nested": {"path": "comments", "query": {"bool": {"must": [
                {"term": {"comments.author": author}}, {"range": {"comments.stars": {"gte": stars}}}]}}}}
            want = expect(lambda d: any(c["author"] == author and c["stars"] >= stars for c in d.get("comments", [])))
            assert ids(es, index, q) == want
            # The same two conditions on different objects match more documents: the
            # evaluation above is not trivially the same.
            across = expect(lambda d: any(c["author"] == author for c in d.get("comments", []))
                            and any(c["stars"] >= stars for c in d.get("comments", [])))
            assert set(want) <= set(across)
    # Somewhere the difference shows (the data has cross-object pairs).
    q = {"nested": {"path": "comments", "query": {"bool": {"must": [
        {"term": {"comments.author": "ann"}}, {"term": {"comments.stars": 5}}]}}}}
    across = expect(lambda d: any(c["author"] == "ann" for c in d.get("comments", []))
                    and any(c["stars"] == 5 for c in d.get("comments", [])))
    assert len(ids(es, index, q)) < len(across)


@pytest.mark.parametrize("index", ["nested-1", "nested-5"])
def test_nested_fields_are_invisible_to_top_level_queries_and_counts(es, index):
    assert ids(es, index, {"term": {"comments.author": "ann"}}) == []
    assert es.count(index=index)["count"] == len(DOCS)
    r = es.search(index=index, body={"size": 0, "aggs": {"t": {"terms": {"field": "title", "size": 1000}}}})
    assert r["hits"]["total"]["value"] == len(DOCS)
    assert sum(b["doc_count"] for b in r["aggregations"]["t"]["buckets"]) == len(DOCS)
    # A root field and a nested condition together.
    q = {"bool": {"filter": [{"range": {"price": {"lt": 20}}},
                             {"nested": {"path": "comments", "query": {"match": {"comments.text": "broken"}}}}]}}
    assert ids(es, index, q) == expect(lambda d: d["price"] < 20 and any("broken" in c["text"].split() for c in d.get("comments", [])))
    # must_not inside nested: an object without the author (not: no object with it).
    q = {"nested": {"path": "comments", "query": {"bool": {"must_not": [{"term": {"comments.author": "bob"}}]}}}}
    assert ids(es, index, q) == expect(lambda d: any(c["author"] != "bob" for c in d.get("comments", [])))


@pytest.mark.parametrize("index", ["nested-1", "nested-5"])
def test_multi_level_nested(es, index):
    inner = {"nested": {"path": "comments.replies", "query": {"bool": {"must": [
        {"term": {"comments.replies.who": "eve"}}, {"range": {"comments.replies.likes": {"gte": 5}}}]}}}}
    want = expect(lambda d: any(r["who"] == "eve" and r["likes"] >= 5 for c in d.get("comments", []) for r in c.get("replies", [])))
    assert ids(es, index, inner) == want
    # Inside the comments level: the comment's author and one of its own replies.
    q = {"nested": {"path": "comments", "query": {"bool": {"must": [{"term": {"comments.author": "cy"}}, inner]}}}}
    assert ids(es, index, q) == expect(lambda d: any(
        c["author"] == "cy" and any(r["who"] == "eve" and r["likes"] >= 5 for r in c.get("replies", []))
        for c in d.get("comments", [])))


@pytest.mark.parametrize("index", ["nested-1", "nested-5"])
def test_score_modes(es, index):
    def scores(mode):
        q = {"nested": {"path": "comments", "score_mode": mode, "query": {
            "constant_score": {"filter": {"range": {"comments.stars": {"gte": 3}}}, "boost": 2.0}}}}
        r = es.search(index=index, body={"query": q, "size": 1000})
        return {h["_id"]: h["_score"] for h in r["hits"]["hits"]}
    matching = {i: sum(1 for c in d.get("comments", []) if c["stars"] >= 3) for i, d in DOCS.items()}
    matching = {i: n for i, n in matching.items() if n}
    assert scores("sum") == pytest.approx({i: 2.0 * n for i, n in matching.items()})
    assert scores("max") == pytest.approx({i: 2.0 for i in matching})
    assert scores("avg") == pytest.approx({i: 2.0 for i in matching})
    assert scores("none") == pytest.approx({i: 0.0 for i in matching})


def test_errors_and_ignore_unmapped(es):
    for q, status in [({"nested": {"path": "title", "query": {"match_all": {}}}}, 400),
                      ({"nested": {"path": "nope", "query": {"match_all": {}}}}, 400),
                      ({"nested": {"path": "comments", "query": {"match_all": {}}, "score_mode": "median"}}, 400),
                      ({"nested": {"path": "comments", "query": {"match_all": {}}, "bogus": 1}}, 400),
                      ({"nested": {"query": {"match_all": {}}}}, 400)]:
        with pytest.raises(RequestError) as e:
            es.search(index="nested-1", body={"query": q})
        assert e.value.status_code == status
    r = es.search(index="nested-1", body={"query": {"nested": {"path": "nope", "ignore_unmapped": True, "query": {"match_all": {}}}}})
    assert r["hits"]["total"]["value"] == 0


def test_updates_deletes_and_nested_objects_limit(client):
    docs = make_docs(60, seed=11)
    load(client, "nested-upd", 2, docs)
    q = {"nested": {"path": "comments", "query": {"term": {"comments.author": "zed"}}}}
    assert ids(client, "nested-upd", q) == []
    # Replace: the old objects go with the old version.
    for i in ("3", "4", "5"):
        docs[i] = {"title": f"new{i}", "price": 1.0, "comments": [{"author": "zed", "stars": 1, "text": "new"}]}
        client.index(index="nested-upd", id=i, body=docs[i])
    client.delete(index="nested-upd", id="4")
    del docs["4"]
    client.update(index="nested-upd", id="5", body={"doc": {"comments": [{"author": "amy", "stars": 2, "text": "x"}]}})
    docs["5"]["comments"] = [{"author": "amy", "stars": 2, "text": "x"}]
    client.indices.refresh(index="nested-upd")
    assert ids(client, "nested-upd", q) == ["3"]
    for author in AUTHORS + ["amy"]:
        qa = {"nested": {"path": "comments", "query": {"term": {"comments.author": author}}}}
        assert ids(client, "nested-upd", qa) == expect(lambda d: any(c["author"] == author for c in d.get("comments", [])), docs)
    assert client.count(index="nested-upd")["count"] == len(docs)

    client.indices.create(index="nested-limit", body={"settings": {"index.mapping.nested_objects.limit": 2},
                                                      "mappings": MAPPING})
    client.index(index="nested-limit", id="ok", body={"comments": [{"author": "a"}, {"author": "b"}]})
    with pytest.raises(RequestError) as e:
        client.index(index="nested-limit", id="no", body={"comments": [{"author": "a", "replies": [{"who": "x"}, {"who": "y"}]}]})
    assert "The number of nested documents has exceeded the allowed limit of [2]" in str(e.value.info)
    with pytest.raises(RequestError) as e:
        client.indices.create(index="nested-fields", body={"settings": {"index.mapping.nested_fields.limit": 1},
                                                           "mappings": MAPPING})
    assert "Limit of nested fields [1] has been exceeded" in str(e.value.info)


def test_nested_documents_survive_kill_9(server_factory):
    srv = server_factory(config={"engine": {"refresh_interval_ms": 600_000}})
    srv.start()
    es = srv.client()
    docs = make_docs(80, seed=3)
    es.indices.create(index="nested-wal", body={"settings": {"number_of_shards": 2}, "mappings": MAPPING})
    lines = []
    for i, d in docs.items():
        lines += [{"index": {"_index": "nested-wal", "_id": i}}, d]
    assert not es.bulk(body=lines)["errors"]
    es.index(index="nested-wal", id="7", body={"title": "x", "comments": [{"author": "zed", "stars": 5}]})
    docs["7"] = {"title": "x", "comments": [{"author": "zed", "stars": 5}]}
    srv.kill()
    srv.start()
    es = srv.client()
    es.indices.refresh(index="nested-wal")
    for author in AUTHORS + ["zed"]:
        q = {"nested": {"path": "comments", "query": {"bool": {"must": [
            {"term": {"comments.author": author}}, {"range": {"comments.stars": {"gte": 4}}}]}}}}
        assert ids(es, "nested-wal", q) == expect(
            lambda d: any(c["author"] == author and c.get("stars", 0) >= 4 for c in d.get("comments", [])), docs)
    assert es.count(index="nested-wal")["count"] == len(docs)
    srv.kill()


@pytest.mark.parametrize("index", ["nested-1", "nested-5"])
def test_nested_aggregation_counts_the_objects_of_matching_documents(es, index):
    body = {"size": 0, "query": {"range": {"price": {"lt": 25}}}, "aggs": {"c": {"nested": {"path": "comments"}, "aggs": {
        "authors": {"terms": {"field": "comments.author", "size": 100}},
        "stars": {"avg": {"field": "comments.stars"}},
        "pages": {"composite": {"size": 4, "sources": [{"a": {"terms": {"field": "comments.author"}}}]}},
    }}, "replies": {"nested": {"path": "comments.replies"}, "aggs": {"likes": {"sum": {"field": "comments.replies.likes"}}}}}}
    r = es.search(index=index, body=body, params={"typed_keys": "true"})
    agg = r["aggregations"]["nested#c"]
    comments = [c for d in DOCS.values() if d["price"] < 25 for c in d.get("comments", [])]
    assert agg["doc_count"] == len(comments)
    counts = {}
    for c in comments:
        counts[c["author"]] = counts.get(c["author"], 0) + 1
    assert {b["key"]: b["doc_count"] for b in agg["sterms#authors"]["buckets"]} == counts
    assert agg["avg#stars"]["value"] == pytest.approx(sum(c["stars"] for c in comments) / len(comments))
    assert [b["key"]["a"] for b in agg["composite#pages"]["buckets"]] == sorted(counts)[:4]
    replies = [rp for c in comments for rp in c.get("replies", [])]
    assert r["aggregations"]["nested#replies"]["doc_count"] == len(replies)
    assert r["aggregations"]["nested#replies"]["sum#likes"]["value"] == sum(rp["likes"] for rp in replies)
    with pytest.raises(RequestError):
        es.search(index=index, body={"size": 0, "aggs": {"c": {"nested": {"path": "title"}}}})
