"""`query_string`, `simple_query_string` and the URL's `?q=` (with `df`, `default_operator`,
`analyzer`, `analyze_wildcard`, `lenient`) on `_search`, `_count` and `_delete_by_query`.
Every expected hit set is computed here from the same documents by a small Python model of
the syntax (words are lowercased alphanumeric runs, as the standard analyzer gives them)."""
import re

import pytest
from opensearchpy import RequestError

INDEX = "qstring"

ADJ = ["quick", "lazy", "brown", "red", "silent"]
NOUN = ["fox", "dog", "cat", "river", "garden"]

DOCS = {}
for i in range(40):
    words = [ADJ[i % 5], NOUN[(i // 2) % 5], ADJ[(i * 3 + 1) % 5]]
    DOCS[str(i)] = {
        "title": " ".join(words).capitalize(),
        "tag": ["alpha", "beta", "gamma", "delta"][i % 4],
        "price": i * 5,
        "in_stock": i % 3 == 0,
    }
    if i % 7 == 0:
        DOCS[str(i)]["note"] = f"note number {i}"


def words(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def has(d, w, field="title"):
    return w in words(d.get(field, ""))


def where(pred):
    return {i for i, d in DOCS.items() if pred(d)}


@pytest.fixture(scope="module")
def qs(client):
    if client.indices.exists(index=INDEX):
        client.indices.delete(index=INDEX)
    client.indices.create(index=INDEX, body={"settings": {"number_of_shards": 2}, "mappings": {"properties": {
        "title": {"type": "text"}, "tag": {"type": "keyword"}, "price": {"type": "integer"},
        "in_stock": {"type": "boolean"}, "note": {"type": "text"}}}})
    for i, d in DOCS.items():
        client.index(index=INDEX, id=i, body=d)
    client.indices.refresh(index=INDEX)
    return client


def hits(client, index=INDEX, **params):
    r = client.search(index=index, size=100, **params)
    assert r["hits"]["total"]["value"] == len(r["hits"]["hits"])
    return {h["_id"] for h in r["hits"]["hits"]}


def body_hits(client, query):
    return hits(client, body={"query": query})


def test_q_and_is_an_and_not_an_or(qs):
    got = hits(qs, q="title:quick AND title:fox")
    want = where(lambda d: has(d, "quick") and has(d, "fox"))
    assert got == want and 0 < len(want) < len(where(lambda d: has(d, "quick") or has(d, "fox")))


@pytest.mark.parametrize("q,pred", [
    ("title:quick OR title:fox", lambda d: has(d, "quick") or has(d, "fox")),
    ("title:quick title:fox", lambda d: has(d, "quick") or has(d, "fox")),
    ("title:quick NOT title:fox", lambda d: has(d, "quick") and not has(d, "fox")),
    ("+title:quick -title:fox", lambda d: has(d, "quick") and not has(d, "fox")),
    ("title:quick AND NOT tag:alpha", lambda d: has(d, "quick") and d["tag"] != "alpha"),
    ("title:quick && !tag:alpha", lambda d: has(d, "quick") and d["tag"] != "alpha"),
    ("title:(quick OR lazy) AND title:dog", lambda d: (has(d, "quick") or has(d, "lazy")) and has(d, "dog")),
    ("(title:quick AND title:fox) OR tag:delta", lambda d: (has(d, "quick") and has(d, "fox")) or d["tag"] == "delta"),
    ('title:"brown river"', lambda d: "brown river" in " ".join(words(d["title"]))),
    ("title:riv*", lambda d: any(w.startswith("riv") for w in words(d["title"]))),
    ("title:BA* OR title:r?d", lambda d: has(d, "red")),
    ("tag:al*", lambda d: d["tag"].startswith("al")),
    ("price:[50 TO 100]", lambda d: 50 <= d["price"] <= 100),
    ("price:{50 TO 100}", lambda d: 50 < d["price"] < 100),
    ("price:[150 TO *]", lambda d: d["price"] >= 150),
    ("price:>=120", lambda d: d["price"] >= 120),
    ("price:<20", lambda d: d["price"] < 20),
    ("in_stock:true AND price:<=60", lambda d: d["in_stock"] and d["price"] <= 60),
    ("_exists_:note", lambda d: "note" in d),
    ("NOT _exists_:note", lambda d: "note" not in d),
    ("title:/ri.e[rd]/", lambda d: has(d, "river")),
    ("title:gardne~1", lambda d: has(d, "garden")),
    ("*:*", lambda d: True),
    ("garden", lambda d: has(d, "garden")),
    ("alpha", lambda d: d["tag"] == "alpha"),
])
def test_q_syntax(qs, q, pred):
    assert hits(qs, q=q) == where(pred)


def test_default_operator_and_df(qs):
    assert hits(qs, q="quick fox", df="title") == where(lambda d: has(d, "quick") or has(d, "fox"))
    both = where(lambda d: has(d, "quick") and has(d, "fox"))
    assert hits(qs, q="quick fox", df="title", default_operator="AND") == both
    # Under AND, an explicit OR makes its neighbours optional again.
    assert hits(qs, q="quick OR fox", df="title", default_operator="AND") == where(lambda d: has(d, "quick") or has(d, "fox"))
    assert body_hits(qs, {"query_string": {"query": "quick fox", "default_field": "title", "default_operator": "and"}}) == both


def test_count_and_delete_by_query_take_q(qs, client):
    want = where(lambda d: has(d, "lazy") and d["price"] < 100)
    assert qs.count(index=INDEX, q="title:lazy AND price:<100")["count"] == len(want)
    idx = "qstring-dbq"
    if client.indices.exists(index=idx):
        client.indices.delete(index=idx)
    for i, d in DOCS.items():
        client.index(index=idx, id=i, body=d)
    client.indices.refresh(index=idx)
    r = client.delete_by_query(index=idx, body={}, q="title:lazy AND price:<100", refresh=True)
    assert r["deleted"] == len(want)
    left = hits(client, index=idx)
    assert left == set(DOCS) - want
    client.indices.delete(index=idx)


def test_fields_with_boosts_scale_scores(qs):
    plain = qs.search(index=INDEX, body={"query": {"match": {"title": "garden"}}, "size": 100})
    boosted = qs.search(index=INDEX, body={"query": {"query_string": {"query": "garden", "fields": ["title^3"]}}, "size": 100})
    want = {h["_id"]: 3 * h["_score"] for h in plain["hits"]["hits"]}
    got = {h["_id"]: h["_score"] for h in boosted["hits"]["hits"]}
    assert got == pytest.approx(want) and want
    # Two fields: the best one (tie_breaker 0) per document.
    two = qs.search(index=INDEX, body={"query": {"query_string": {"query": "garden OR alpha", "fields": ["title", "tag"]}}, "size": 100})
    assert {h["_id"] for h in two["hits"]["hits"]} == where(lambda d: has(d, "garden") or d["tag"] == "alpha")


def test_term_boost_changes_ranking(qs):
    r = qs.search(index=INDEX, body={"query": {"query_string": {"query": "title:fox^10 OR title:dog"}}, "size": 100})
    top = r["hits"]["hits"][0]["_source"]
    assert has(top, "fox")


def test_lenient_and_type_errors(qs):
    with pytest.raises(RequestError) as e:
        qs.search(index=INDEX, q="price:abc")
    assert e.value.status_code == 400
    assert hits(qs, q="price:abc", lenient="true") == set()
    # Fields from a pattern (the default `*`) are always lenient.
    assert hits(qs, q="abc") == set()


def test_syntax_errors_are_400(qs):
    for bad in ["title:quick AND", "(title:quick", 'title:"open', "price:[1 TO"]:
        with pytest.raises(RequestError) as e:
            qs.search(index=INDEX, q=bad)
        assert e.value.status_code == 400
        assert e.value.error == "query_shard_exception", bad
    with pytest.raises(RequestError) as e:
        qs.search(index=INDEX, q="a", default_operator="XOR")
    assert e.value.error == "illegal_argument_exception"
    with pytest.raises(RequestError) as e:
        qs.search(index=INDEX, body={"query": {"query_string": {"query": "a", "nope": 1}}})
    assert e.value.error == "parsing_exception"


def test_analyzer_and_analyze_wildcard(qs):
    # The whitespace analyzer does not lowercase: "Quick" is not an indexed term.
    assert hits(qs, q="title:Quick") == where(lambda d: has(d, "quick"))
    assert hits(qs, q="title:Quick", analyzer="whitespace") == set()
    # analyze_wildcard analyses the prefix text ("Brown Riv*" → brown AND riv*).
    got = hits(qs, q="title:Brown\\ Riv*", analyze_wildcard="true")
    assert got == where(lambda d: has(d, "brown") and any(w.startswith("riv") for w in words(d["title"])))


@pytest.mark.parametrize("query,pred", [
    ("quick fox", lambda d: has(d, "quick") or has(d, "fox")),
    ("quick + fox", lambda d: has(d, "quick") and has(d, "fox")),
    ("quick | fox", lambda d: has(d, "quick") or has(d, "fox")),
    ("(quick | lazy) + dog", lambda d: (has(d, "quick") or has(d, "lazy")) and has(d, "dog")),
    ('"brown river"', lambda d: "brown river" in " ".join(words(d["title"]))),
    ("riv*", lambda d: any(w.startswith("riv") for w in words(d["title"]))),
    ("gardne~1", lambda d: has(d, "garden")),
    # Lucene's simple syntax: under OR, a negated term is "everything without it".
    ("quick -fox", lambda d: has(d, "quick") or not has(d, "fox")),
    ("quick (", lambda d: has(d, "quick")),
])
def test_simple_query_string(qs, query, pred):
    assert body_hits(qs, {"simple_query_string": {"query": query, "fields": ["title"]}}) == where(pred)


def test_simple_query_string_operator_and_flags(qs):
    got = body_hits(qs, {"simple_query_string": {"query": "quick -fox", "fields": ["title"], "default_operator": "and"}})
    assert got == where(lambda d: has(d, "quick") and not has(d, "fox"))
    # Without the PREFIX flag `riv*` is an ordinary term (analysed to `riv`): no match.
    assert body_hits(qs, {"simple_query_string": {"query": "riv*", "fields": ["title"], "flags": "AND|OR"}}) == set()
    with pytest.raises(RequestError) as e:
        qs.search(index=INDEX, body={"query": {"simple_query_string": {"query": "a", "flags": "BOGUS"}}})
    assert e.value.status_code == 400
