"""`highlight` on `_search`: tags around the query's terms in the hits' field values, field
patterns, `fragment_size` / `number_of_fragments`, `require_field_match`, `highlight_query`,
`no_match_size`, the html encoder. Expected fragments are built here from the documents with a
small model (words are alphanumeric runs, matched lowercased, as the standard analyzer)."""
import re

import pytest
from opensearchpy import RequestError

INDEX = "highlights"

DOCS = {
    "1": {"title": "The quick brown fox", "body": "A fox jumps. The dog sleeps. Another fox runs away from the dog.",
          "tag": "animals"},
    "2": {"title": "Brown bears", "body": "Bears & foxes <live> in the forest.", "tag": "forest"},
    "3": {"title": "Nothing here", "body": "plain text without the words", "tag": "misc"},
}


def tag_words(text, wanted, pre="<em>", post="</em>"):
    return re.sub(r"[A-Za-z0-9]+", lambda m: f"{pre}{m.group(0)}{post}" if m.group(0).lower() in wanted else m.group(0), text)


@pytest.fixture(scope="module")
def hl(client):
    if client.indices.exists(index=INDEX):
        client.indices.delete(index=INDEX)
    client.indices.create(index=INDEX, body={"mappings": {"properties": {
        "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
        "body": {"type": "text"}, "tag": {"type": "keyword"}}}})
    for i, d in DOCS.items():
        client.index(index=INDEX, id=i, body=d)
    client.indices.refresh(index=INDEX)
    return client


def highlights(client, body):
    r = client.search(index=INDEX, body={"size": 10, **body})
    return {h["_id"]: h.get("highlight") for h in r["hits"]["hits"]}


def test_whole_value_with_default_tags(hl):
    got = highlights(hl, {"query": {"match": {"title": "brown fox"}},
                          "highlight": {"fields": {"title": {"number_of_fragments": 0}}}})
    for i in ("1", "2"):
        assert got[i] == {"title": [tag_words(DOCS[i]["title"], {"brown", "fox"})]}


def test_custom_tags_and_pattern_fields(hl):
    got = highlights(hl, {"query": {"multi_match": {"query": "fox", "fields": ["title", "body"]}},
                          "highlight": {"pre_tags": ["["], "post_tags": ["]"], "fields": {"*": {"number_of_fragments": 0}}}})
    assert got["1"]["title"] == [tag_words(DOCS["1"]["title"], {"fox"}, "[", "]")]
    assert got["1"]["body"] == [tag_words(DOCS["1"]["body"], {"fox"}, "[", "]")]
    # Only fields with a match appear.
    assert "tag" not in got["1"]


def test_fragments(hl):
    body = DOCS["1"]["body"]
    got = highlights(hl, {"query": {"match": {"body": "fox"}},
                          "highlight": {"fields": {"body": {"fragment_size": 20, "number_of_fragments": 5}}}})
    frags = got["1"]["body"]
    # Every fragment holds a match, is a piece of the value, and they come in text order.
    plain = [f.replace("<em>", "").replace("</em>", "") for f in frags]
    assert all("<em>fox</em>" in f for f in frags)
    assert all(p in body for p in plain)
    assert [body.index(p) for p in plain] == sorted(body.index(p) for p in plain)
    assert len(frags) == body.lower().count("fox")
    one = highlights(hl, {"query": {"match": {"body": "fox"}},
                          "highlight": {"fields": {"body": {"fragment_size": 20, "number_of_fragments": 1}}}})
    assert one["1"]["body"] == frags[:1]


def test_require_field_match_and_highlight_query(hl):
    q = {"match": {"title": "brown"}}
    strict = highlights(hl, {"query": q, "highlight": {"fields": {"body": {}}}})
    assert all(v is None for v in strict.values())
    loose = highlights(hl, {"query": {"match": {"body": "fox"}},
                            "highlight": {"require_field_match": False, "fields": {"title": {"number_of_fragments": 0}}}})
    assert loose["1"] == {"title": [tag_words(DOCS["1"]["title"], {"fox"})]}
    hq = highlights(hl, {"query": q, "highlight": {"fields": {"title": {
        "number_of_fragments": 0, "highlight_query": {"match": {"title": "bears"}}}}}})
    assert hq["2"] == {"title": [tag_words(DOCS["2"]["title"], {"bears"})]}
    assert hq["1"] is None


def test_keyword_prefix_and_encoder(hl):
    got = highlights(hl, {"query": {"prefix": {"tag": "for"}}, "highlight": {"fields": {"tag": {}}}})
    assert got == {"2": {"tag": ["<em>forest</em>"]}}
    enc = highlights(hl, {"query": {"match": {"body": "bears"}},
                          "highlight": {"encoder": "html", "fields": {"body": {"number_of_fragments": 0}}}})
    assert enc["2"]["body"] == ["<em>Bears</em> &amp; foxes &lt;live&gt; in the forest."]


def test_no_match_size(hl):
    got = highlights(hl, {"query": {"match": {"title": "nothing"}},
                          "highlight": {"fields": {"body": {"no_match_size": 10}}}})
    snippet = got["3"]["body"][0]
    assert DOCS["3"]["body"].startswith(snippet) and 0 < len(snippet) <= 10


def test_query_string_terms_are_highlighted(hl):
    got = highlights(hl, {"query": {"query_string": {"query": "title:qui* OR body:dog"}},
                          "highlight": {"fields": {"title": {"number_of_fragments": 0}, "body": {"number_of_fragments": 0}}}})
    assert got["1"]["title"] == [DOCS["1"]["title"].replace("quick", "<em>quick</em>")]
    assert got["1"]["body"] == [tag_words(DOCS["1"]["body"], {"dog"})]


def test_bad_highlight_is_400(hl):
    for bad in [{"fields": {"title": {"bogus": 1}}}, {"fields": "title"}, {"nope": 1, "fields": {}},
                {"fields": {"title": {"type": "fvh"}}}]:
        with pytest.raises(RequestError) as e:
            hl.search(index=INDEX, body={"query": {"match_all": {}}, "highlight": bad})
        assert e.value.status_code == 400
