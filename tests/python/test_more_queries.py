"""`fuzzy` (and `fuzziness` on `match`), `regexp`, `match_phrase_prefix`, `match_bool_prefix`,
`dis_max`, `boosting` and `terms_set` against the real server. Expected hits are computed here
from the documents (words are lowercased alphanumeric runs, as the standard analyzer gives
them); expected scores from the scores of the plain clauses."""
import re

import pytest
from opensearchpy import RequestError

INDEX = "morequeries"

WORDS = ["garden", "guard", "gardens", "harden", "river", "rover", "brown", "browse", "quick", "quack"]
DOCS = {}
for i in range(30):
    title = f"{WORDS[i % 10]} {WORDS[(i * 3) % 10]} {WORDS[(i * 7 + 2) % 10]}"
    DOCS[str(i)] = {
        "title": title,
        "code": f"{'ab'[i % 2]}{i:03d}-{['x', 'y', 'z'][i % 3]}",
        "tags": sorted({["red", "green", "blue", "black"][j] for j in range(4) if (i >> j) & 1}) or ["none"],
        "need": 1 + i % 3,
    }


def words(text):
    return re.findall(r"[a-z0-9]+", text.lower())


def osa(a, b):
    d = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i in range(len(a) + 1):
        d[i][0] = i
    for j in range(len(b) + 1):
        d[0][j] = j
    for i in range(1, len(a) + 1):
        for j in range(1, len(b) + 1):
            cost = a[i - 1] != b[j - 1]
            d[i][j] = min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + cost)
            if i > 1 and j > 1 and a[i - 1] == b[j - 2] and a[i - 2] == b[j - 1]:
                d[i][j] = min(d[i][j], d[i - 2][j - 2] + 1)
    return d[len(a)][len(b)]


def where(pred):
    return {i for i, d in DOCS.items() if pred(d)}


@pytest.fixture(scope="module")
def mq(client):
    if client.indices.exists(index=INDEX):
        client.indices.delete(index=INDEX)
    client.indices.create(index=INDEX, body={"mappings": {"properties": {
        "title": {"type": "text"}, "code": {"type": "keyword"}, "tags": {"type": "keyword"},
        "need": {"type": "integer"}}}})
    for i, d in DOCS.items():
        client.index(index=INDEX, id=i, body=d)
    client.indices.refresh(index=INDEX)
    return client


def search(client, query, **extra):
    r = client.search(index=INDEX, body={"query": query, "size": 100, **extra})
    assert r["hits"]["total"]["value"] == len(r["hits"]["hits"])
    return {h["_id"]: h["_score"] for h in r["hits"]["hits"]}


@pytest.mark.parametrize("value,fuzziness,prefix", [("gardne", 1, 0), ("garden", 2, 0), ("garden", "AUTO", 0),
                                                    ("rivre", 1, 0), ("garden", 2, 3), ("qiuck", "AUTO", 0)])
def test_fuzzy(mq, value, fuzziness, prefix):
    edits = fuzziness if isinstance(fuzziness, int) else (0 if len(value) < 3 else 1 if len(value) < 6 else 2)
    got = search(mq, {"fuzzy": {"title": {"value": value, "fuzziness": fuzziness, "prefix_length": prefix}}})
    want = where(lambda d: any(w[:prefix] == value[:prefix] and osa(w[prefix:], value[prefix:]) <= edits
                               for w in words(d["title"])))
    assert set(got) == want and want


def test_match_with_fuzziness(mq):
    got = search(mq, {"match": {"title": {"query": "rivre qiuck", "fuzziness": 1}}})
    want = where(lambda d: any(osa(w, q) <= 1 for w in words(d["title"]) for q in ["rivre", "qiuck"]))
    assert set(got) == want and want
    exact = search(mq, {"match": {"title": {"query": "rivre qiuck"}}})
    assert exact == {}


@pytest.mark.parametrize("pattern", ["a0.*", "b01[0-9]-z", "[ab]00<1-9>-x", "a@", ".*-(x|y)"])
def test_regexp(mq, pattern):
    py = pattern.replace("@", ".*").replace("<1-9>", "[1-9]")
    got = search(mq, {"regexp": {"code": pattern}})
    assert set(got) == where(lambda d: re.fullmatch(py, d["code"]) is not None)


def test_regexp_case_insensitive_and_errors(mq):
    got = search(mq, {"regexp": {"code": {"value": "A00[0-4]-X", "case_insensitive": True}}})
    assert set(got) == where(lambda d: re.fullmatch("a00[0-4]-x", d["code"]) is not None)
    with pytest.raises(RequestError) as e:
        search(mq, {"regexp": {"code": "a~b"}})
    assert e.value.status_code == 400
    with pytest.raises(RequestError) as e:
        search(mq, {"regexp": {"code": {"value": "a", "bogus": 1}}})
    assert e.value.error == "parsing_exception"


def test_match_phrase_prefix(mq):
    got = search(mq, {"match_phrase_prefix": {"title": "garden ri"}})
    def phrase(d):
        w = words(d["title"])
        return any(w[k] == "garden" and w[k + 1].startswith("ri") for k in range(len(w) - 1))
    assert set(got) == where(phrase)
    single = search(mq, {"match_phrase_prefix": {"title": "bro"}})
    assert set(single) == where(lambda d: any(w.startswith("bro") for w in words(d["title"])))


def test_match_bool_prefix(mq):
    got = search(mq, {"match_bool_prefix": {"title": "quick gar"}})
    assert set(got) == where(lambda d: "quick" in words(d["title"]) or any(w.startswith("gar") for w in words(d["title"])))
    got = search(mq, {"match_bool_prefix": {"title": {"query": "quick gar", "operator": "and"}}})
    assert set(got) == where(lambda d: "quick" in words(d["title"]) and any(w.startswith("gar") for w in words(d["title"])))
    got = search(mq, {"multi_match": {"query": "quick gar", "type": "bool_prefix", "fields": ["title"]}})
    assert set(got) == where(lambda d: "quick" in words(d["title"]) or any(w.startswith("gar") for w in words(d["title"])))
    with pytest.raises(RequestError) as e:
        search(mq, {"multi_match": {"query": "x", "type": "bool_prefix", "fields": ["title"], "slop": 1}})
    assert "[slop] not allowed for type [bool_prefix]" in str(e.value.info)


def test_dis_max_scores(mq):
    a = search(mq, {"match": {"title": "garden"}})
    b = search(mq, {"match": {"title": "river"}})
    for tie in (0.0, 0.4):
        got = search(mq, {"dis_max": {"queries": [{"match": {"title": "garden"}}, {"match": {"title": "river"}}],
                                      "tie_breaker": tie}})
        want = {}
        for i in set(a) | set(b):
            s = sorted([a.get(i, 0.0), b.get(i, 0.0)], reverse=True)
            want[i] = s[0] + tie * s[1]
        assert got == pytest.approx(want, rel=1e-5)


def test_boosting_demotes(mq):
    positive = search(mq, {"match": {"title": "garden"}})
    negative = where(lambda d: "river" in words(d["title"]))
    got = search(mq, {"boosting": {"positive": {"match": {"title": "garden"}},
                                   "negative": {"match": {"title": "river"}}, "negative_boost": 0.25}})
    want = {i: s * (0.25 if i in negative else 1.0) for i, s in positive.items()}
    assert got == pytest.approx(want, rel=1e-5)
    assert set(got) & negative, "the data must contain demoted documents"
    with pytest.raises(RequestError) as e:
        search(mq, {"boosting": {"positive": {"match_all": {}}, "negative_boost": 0.5}})
    assert e.value.error == "parsing_exception"


def test_terms_set(mq):
    wanted = ["red", "green", "blue"]
    got = search(mq, {"terms_set": {"tags": {"terms": wanted, "minimum_should_match_field": "need"}}})
    assert set(got) == where(lambda d: len(set(d["tags"]) & set(wanted)) >= d["need"])
    with pytest.raises(RequestError) as e:
        search(mq, {"terms_set": {"tags": {"terms": wanted, "minimum_should_match_script": {"source": "1"}}}})
    assert e.value.status_code == 400
