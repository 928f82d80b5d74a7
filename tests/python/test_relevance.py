"""Relevance like OpenSearch: per-field Lucene BM25 (on one shard, on several shards with
per-shard statistics as query_then_fetch, and with global ones under dfs_query_then_fetch),
the standard analyzer, `_analyze`, custom analyzers and `_explain` (body or `?q=`, `_source`).

The BM25 reference below is written from Lucene's definitions, independently of the engine:
UAX #29 word segmentation (the `regex` module's Unicode word boundaries), lowercase, Lucene's
one-byte field length encoding (SmallFloat.intToByte4 / byte4ToInt), per-field docCount and
sumTotalTermFreq, k1 = 1.2, b = 0.75, idf = ln(1 + (N - n + 0.5) / (n + 0.5)), no (k1 + 1).
The corpus is real text nobody here wrote: the Debian package descriptions of this machine
(`/var/lib/dpkg/status` long descriptions, plus `apt-cache dumpavail` short ones when the apt
lists are present, as documents that have no `body`)."""
import math
import random
import subprocess
from collections import Counter, defaultdict
from pathlib import Path

import pytest
import regex

from test_shards import opensearch_shard

K1, B = 1.2, 0.75
OVERLAP_MIN = 0.98


# ---- reference analysis -------------------------------------------------------------------

def uax29_tokens(text: str, max_len: int = 255):
    """(token, start, end) per UAX #29 word segment that has a letter or digit, split at
    max_len characters like Lucene's StandardTokenizer."""
    out = []
    pos = 0
    for seg in regex.split(r"(?V1w)\b", text):
        start = pos
        pos += len(seg)
        if not any(c.isalnum() for c in seg):
            continue
        for i in range(0, len(seg), max_len):
            piece = seg[i:i + max_len]
            out.append((piece, start + i, start + i + len(piece)))
    return out


def standard_terms(text: str):
    return [t.lower() for t, _, _ in uax29_tokens(text)]


# ---- Lucene's SmallFloat length encoding --------------------------------------------------

def _long_to_int4(i: int) -> int:
    num_bits = i.bit_length()
    if num_bits < 4:
        return i
    shift = num_bits - 4
    encoded = (i >> shift) & 0x07
    return encoded | ((shift + 1) << 3)


def _int4_to_long(i: int) -> int:
    bits = i & 0x07
    shift = (i >> 3) - 1
    return bits if shift == -1 else (bits | 0x08) << shift


_MAX_INT4 = _long_to_int4(2**31 - 1)
_NUM_FREE_VALUES = 255 - _MAX_INT4


def int_to_byte4(i: int) -> int:
    return i if i < _NUM_FREE_VALUES else _NUM_FREE_VALUES + _long_to_int4(i - _NUM_FREE_VALUES)


def byte4_to_int(b: int) -> int:
    return b if b < _NUM_FREE_VALUES else _NUM_FREE_VALUES + _int4_to_long(b - _NUM_FREE_VALUES)


def test_small_float_table_is_lucenes():
    # Lucene: 24 free values, then 4-bit-mantissa floats; lengths up to 40 are exact.
    assert _NUM_FREE_VALUES == 24
    assert all(byte4_to_int(int_to_byte4(n)) == n for n in range(41))
    assert byte4_to_int(int_to_byte4(41)) == 40
    for n in range(1, 5000):
        assert byte4_to_int(int_to_byte4(n)) <= n
        assert int_to_byte4(n) <= int_to_byte4(n + 1)


# ---- reference BM25 -----------------------------------------------------------------------

class FieldIndex:
    """Lucene's per-field statistics and postings for one text field."""

    def __init__(self):
        self.postings = defaultdict(dict)  # term -> {doc: freq}
        self.norm_len = {}                 # doc -> decoded one-byte length
        self.sum_ttf = 0

    def add(self, doc, text):
        terms = standard_terms(text)
        if not terms:
            return
        for term, freq in Counter(terms).items():
            self.postings[term][doc] = freq
        self.norm_len[doc] = byte4_to_int(int_to_byte4(len(terms)))
        self.sum_ttf += len(terms)

    def scores(self, terms, boost=1.0, operator="or", k1=K1, b=B):
        """{doc: score} of a `match` query over `terms` (distinct, as the engine gets them)."""
        n_docs = len(self.norm_len)
        if n_docs == 0:
            return {}
        avgdl = self.sum_ttf / n_docs
        out = defaultdict(float)
        matched = defaultdict(int)
        for term in terms:
            posting = self.postings.get(term, {})
            if not posting:
                continue
            idf = math.log(1 + (n_docs - len(posting) + 0.5) / (len(posting) + 0.5))
            for doc, freq in posting.items():
                dl = self.norm_len[doc]
                out[doc] += boost * idf * freq / (freq + k1 * (1 - b + b * dl / avgdl))
                matched[doc] += 1
        if operator == "and":
            return {d: s for d, s in out.items() if matched[d] == len(terms)}
        return dict(out)


# ---- corpus -------------------------------------------------------------------------------

def parse_deb822(text):
    """Stanzas of a Debian control file as (package, summary, long description)."""
    for stanza in text.split("\n\n"):
        pkg, summary, body, in_desc = None, None, [], False
        for line in stanza.splitlines():
            if line.startswith("Package:"):
                pkg = line.split(":", 1)[1].strip()
                in_desc = False
            elif line.startswith("Description:"):
                summary = line.split(":", 1)[1].strip()
                in_desc = True
            elif in_desc and line.startswith(" "):
                part = line[1:]
                body.append("" if part.strip() == "." else part)
            else:
                in_desc = False
        if pkg and summary:
            yield pkg, summary, "\n".join(body).strip()


def load_corpus(max_short=3000):
    docs = {}
    status = Path("/var/lib/dpkg/status")
    if status.exists():
        for pkg, summary, body in parse_deb822(status.read_text(errors="replace")):
            if body and standard_terms(body) and standard_terms(summary):
                docs[f"s-{pkg}"] = {"summary": summary, "body": body}
    try:
        dump = subprocess.run(["apt-cache", "dumpavail"], capture_output=True, text=True, timeout=120).stdout
    except (OSError, subprocess.SubprocessError):
        dump = ""
    short = [(p, s) for p, s, _ in parse_deb822(dump) if standard_terms(s)]
    random.Random(7).shuffle(short)
    for pkg, summary in short[:max_short]:
        docs.setdefault(f"a-{pkg}", {"summary": summary})
    return docs


@pytest.fixture(scope="module")
def corpus(client):
    docs = load_corpus()
    if len(docs) < 200:
        pytest.skip("fewer than 200 Debian package descriptions on this machine")
    index = "relevance-debian"
    client.indices.create(index=index, body={"mappings": {"properties": {
        "summary": {"type": "text"}, "body": {"type": "text"}}}})
    ids = sorted(docs)
    for start in range(0, len(ids), 500):
        lines = []
        for doc_id in ids[start:start + 500]:
            lines.append({"index": {"_index": index, "_id": doc_id}})
            lines.append(docs[doc_id])
        resp = client.bulk(body=lines)
        assert not resp["errors"]
    client.indices.refresh(index=index)
    fields = {"summary": FieldIndex(), "body": FieldIndex()}
    for doc_id, doc in docs.items():
        for name, fidx in fields.items():
            if name in doc:
                fidx.add(doc_id, doc[name])
    return index, docs, fields


def make_queries(docs, n=240):
    """Queries built from words of random documents: single and multi-term matches on each
    field, `and`, boosts, `multi_match` best_fields and a `bool` of two matches. Each comes
    with its reference: a function of the per-field statistics (one shard's or all)."""
    rnd = random.Random(11)
    ids = sorted(docs)
    queries = []
    kinds = ["match_summary", "match_body", "match_and", "multi_match", "multi_boost", "bool"]
    while len(queries) < n:
        doc = docs[rnd.choice(ids)]
        field = "body" if "body" in doc and rnd.random() < 0.5 else "summary"
        words = list(dict.fromkeys(standard_terms(doc[field])))
        if not words:
            continue
        k = min(len(words), rnd.choice([1, 2, 2, 3, 4]))
        terms = rnd.sample(words, k)
        text = " ".join(terms)
        kind = kinds[len(queries) % len(kinds)]
        if kind == "match_summary":
            body = {"match": {"summary": text}}
            ref = lambda f, terms=terms: f["summary"].scores(terms)
        elif kind == "match_body":
            body = {"match": {"body": text}}
            ref = lambda f, terms=terms: f["body"].scores(terms)
        elif kind == "match_and":
            body = {"match": {field: {"query": text, "operator": "and"}}}
            ref = lambda f, terms=terms, field=field: f[field].scores(terms, operator="and")
        elif kind in ("multi_match", "multi_boost"):
            boost = 2.0 if kind == "multi_boost" else 1.0
            fields_param = ["summary^2", "body"] if kind == "multi_boost" else ["summary", "body"]
            body = {"multi_match": {"query": text, "fields": fields_param}}

            def ref(f, terms=terms, boost=boost):
                s, b = f["summary"].scores(terms, boost), f["body"].scores(terms)
                return {d: max(s.get(d, 0.0), b.get(d, 0.0)) for d in set(s) | set(b)}
        else:
            body = {"bool": {"should": [{"match": {"summary": text}},
                                        {"match": {"body": {"query": text, "boost": 0.5}}}]}}

            def ref(f, terms=terms):
                s, b = f["summary"].scores(terms), f["body"].scores(terms, 0.5)
                return {d: s.get(d, 0.0) + b.get(d, 0.0) for d in set(s) | set(b)}
        queries.append((body, ref))
    return queries


def overlap_at_10(hits, ref):
    """Share of the engine's top 10 that belong to the reference top 10, where documents
    tied with the reference's 10th score count either way."""
    ranked = sorted(ref.values(), reverse=True)
    if not ranked:
        return 1.0 if not hits else 0.0
    cutoff = ranked[min(10, len(ranked)) - 1]
    allowed = {d for d, s in ref.items() if s >= cutoff * (1 - 1e-5)}
    want = min(10, len(ranked))
    got = sum(1 for h in hits[:want] if h["_id"] in allowed)
    return got / want


def check_ranking(client, index, cases, **params):
    """Searches every (query, reference scores) case: totals equal, every hit's score within
    1e-4 relative of the reference; returns (mean overlap@10, worst relative error)."""
    overlaps, worst_rel = [], 0.0
    for body, ref in cases:
        resp = client.search(index=index, body={"query": body, "size": 10, "track_total_hits": True}, params=params)
        hits = resp["hits"]["hits"]
        assert resp["hits"]["total"]["value"] == len(ref), body
        for h in hits:
            want = ref[h["_id"]]
            rel = abs(h["_score"] - want) / max(want, 1e-9)
            worst_rel = max(worst_rel, rel)
            assert rel <= 1e-4, (body, h["_id"], h["_score"], want)
        overlaps.append(overlap_at_10(hits, ref))
    return sum(overlaps) / len(overlaps), worst_rel


def test_bm25_matches_lucene_reference(client, corpus):
    index, docs, fields = corpus
    queries = make_queries(docs)
    assert len(queries) >= 200
    mean, worst_rel = check_ranking(client, index, [(body, reference(fields)) for body, reference in queries])
    print(f"\nrelevance: {len(queries)} queries over {len(docs)} docs, overlap@10 = {mean:.4f}, "
          f"worst relative score error = {worst_rel:.2e}")
    assert mean >= OVERLAP_MIN


def test_field_statistics_are_per_field(client, corpus):
    """A term's idf on `body` uses only the documents that have a body (docCount), so the
    same one-term query on `summary` and `body` of a body-less-heavy corpus differ as the
    reference says."""
    index, docs, fields = corpus
    with_body = sum(1 for d in docs.values() if "body" in d)
    term = max(fields["body"].postings, key=lambda t: len(fields["body"].postings[t]))
    resp = client.search(index=index, body={"query": {"match": {"body": term}}, "size": 1})
    top = resp["hits"]["hits"][0]
    ref = fields["body"].scores([term])
    assert len(fields["body"].norm_len) == with_body
    assert abs(top["_score"] - max(ref.values())) <= 1e-4 * max(ref.values())


# ---- several shards -----------------------------------------------------------------------

SHARDS = 3


@pytest.fixture(scope="module")
def sharded(client, corpus):
    """The same documents in a 3-shard index, and the reference statistics of each shard: the
    documents placed by OpenSearch's routing (murmur3 of the `_id`, computed independently in
    test_shards)."""
    _, docs, fields = corpus
    index = "relevance-debian-sharded"
    client.indices.create(index=index, body={"settings": {"number_of_shards": SHARDS}, "mappings": {"properties": {
        "summary": {"type": "text"}, "body": {"type": "text"}}}})
    ids = sorted(docs)
    for start in range(0, len(ids), 500):
        lines = []
        for doc_id in ids[start:start + 500]:
            lines += [{"index": {"_index": index, "_id": doc_id}}, docs[doc_id]]
        assert not client.bulk(body=lines)["errors"]
    client.indices.refresh(index=index)
    per_shard = [{"summary": FieldIndex(), "body": FieldIndex()} for _ in range(SHARDS)]
    shard_of = {doc_id: opensearch_shard(doc_id, SHARDS) for doc_id in docs}
    for doc_id, doc in docs.items():
        for name, fidx in per_shard[shard_of[doc_id]].items():
            if name in doc:
                fidx.add(doc_id, doc[name])
    return index, docs, fields, per_shard, shard_of


def per_shard_reference(reference, per_shard):
    """query_then_fetch: each document scored with its own shard's statistics."""
    out = {}
    for fields in per_shard:
        out.update(reference(fields))
    return out


def test_multi_shard_bm25_uses_each_shards_statistics(client, sharded):
    """As OpenSearch's default query_then_fetch: scores come from per-shard statistics (a
    term's document frequency, docCount and avgdl of the shard the document is on)."""
    index, docs, fields, per_shard, shard_of = sharded
    assert all(len(f["summary"].norm_len) > 0 for f in per_shard)
    queries = make_queries(docs)
    cases = [(body, per_shard_reference(reference, per_shard)) for body, reference in queries]
    mean, worst_rel = check_ranking(client, index, cases)
    print(f"\nrelevance, {SHARDS} shards: overlap@10 with the per-shard reference = {mean:.4f}, "
          f"worst relative score error = {worst_rel:.2e}")
    assert mean >= OVERLAP_MIN
    # The per-shard statistics matter: some scores are not the one-shard reference's.
    global_refs = [reference(fields) for _, reference in queries]
    assert any(abs(ref[d] - g[d]) > 1e-3 * g[d] for (_, ref), g in zip(cases, global_refs) for d in ref)
    # Explained hits name their shard, and the explanation is the score.
    resp = client.search(index=index, body={"query": queries[1][0], "size": 5, "explain": True})
    for h in resp["hits"]["hits"]:
        assert h["_shard"] == f"[{index}][{shard_of[h['_id']]}]"
        assert h["_explanation"]["value"] == pytest.approx(h["_score"], rel=1e-5)


def test_dfs_query_then_fetch_scores_with_every_shards_statistics(client, sharded):
    """`search_type=dfs_query_then_fetch`: the statistics of all shards, so the 3-shard index
    scores like the one-shard reference."""
    index, docs, fields, _, _ = sharded
    queries = make_queries(docs)
    mean, worst_rel = check_ranking(client, index, [(body, reference(fields)) for body, reference in queries],
                                    search_type="dfs_query_then_fetch")
    print(f"\nrelevance, {SHARDS} shards, dfs_query_then_fetch: overlap@10 = {mean:.4f}, worst = {worst_rel:.2e}")
    assert mean >= OVERLAP_MIN
    body, reference = queries[0]
    resp = client.search(index=index, body={"query": body, "size": 5, "explain": True},
                         params={"search_type": "dfs_query_then_fetch"})
    for h in resp["hits"]["hits"]:
        assert h["_explanation"]["value"] == pytest.approx(h["_score"], rel=1e-5)
    from opensearchpy.exceptions import RequestError
    with pytest.raises(RequestError) as e:
        client.search(index=index, body={"query": body}, params={"search_type": "scan"})
    assert e.value.status_code == 400 and "No search type for [scan]" in str(e.value.info)


# ---- _analyze -----------------------------------------------------------------------------

ANALYZE_TEXTS = [
    "The 2 QUICK Brown-Foxes jumped over the lazy dog's bone.",
    "python's x86_64 3.11 package.json e.g. U.S.A. foo_bar",
    "Café résumé naïve — 中文字 mañana",
    "   leading and trailing   ",
]


@pytest.mark.parametrize("text", ANALYZE_TEXTS)
def test_analyze_standard_matches_uax29(client, text):
    resp = client.indices.analyze(body={"analyzer": "standard", "text": text})
    want = [(t.lower(), s, e) for t, s, e in uax29_tokens(text)]
    got = [(t["token"], t["start_offset"], t["end_offset"]) for t in resp["tokens"]]
    assert got == want
    assert [t["position"] for t in resp["tokens"]] == list(range(len(want)))
    for t in resp["tokens"]:
        assert t["type"] in ("<ALPHANUM>", "<NUM>", "<IDEOGRAPHIC>")
        assert t["type"] != "<NUM>" or t["token"].replace(".", "").replace(",", "").isdigit()


def test_analyze_builtin_analyzers(client):
    text = "The QUICK brown-fox's 2 jumps"
    def tokens(**body):
        return [t["token"] for t in client.indices.analyze(body={"text": text, **body})["tokens"]]
    assert tokens(analyzer="whitespace") == text.split()
    assert tokens(analyzer="keyword") == [text]
    assert tokens(analyzer="simple") == ["the", "quick", "brown", "fox", "s", "jumps"]
    assert tokens(analyzer="stop") == ["quick", "brown", "fox", "s", "jumps"]
    # english: possessive removed, stop words dropped, Porter stems (Porter's own examples).
    assert tokens(analyzer="english") == ["quick", "brown", "fox", "2", "jump"]
    porter = client.indices.analyze(body={"analyzer": "english", "text": "caresses ponies relational conditional"})
    assert [t["token"] for t in porter["tokens"]] == ["caress", "poni", "relat", "condit"]
    # tokenizer + filters, inline filter definitions.
    assert tokens(tokenizer="whitespace", filter=["lowercase"]) == [w.lower() for w in text.split()]
    assert tokens(tokenizer="standard", filter=["uppercase", {"type": "length", "min": 4}]) == ["QUICK", "BROWN", "FOX'S", "JUMPS"]
    # the stop filter keeps position gaps (phrase queries rely on them)
    stop = client.indices.analyze(body={"analyzer": "stop", "text": "the fox"})["tokens"]
    assert [(t["token"], t["position"]) for t in stop] == [("fox", 1)]


def test_analyze_text_array_offsets_continue(client):
    resp = client.indices.analyze(body={"analyzer": "standard", "text": ["ab cd", "ef"]})
    got = [(t["token"], t["start_offset"], t["end_offset"]) for t in resp["tokens"]]
    assert got == [("ab", 0, 2), ("cd", 3, 5), ("ef", 6, 8)]
    assert resp["tokens"][2]["position"] > resp["tokens"][1]["position"]


def test_analyze_errors_name_the_component(client):
    from opensearchpy.exceptions import RequestError
    for body, name in [({"analyzer": "nope", "text": "x"}, "nope"),
                       ({"tokenizer": "nope_tok", "text": "x"}, "nope_tok"),
                       ({"tokenizer": "standard", "filter": ["nope_filter"], "text": "x"}, "nope_filter")]:
        with pytest.raises(RequestError) as e:
            client.indices.analyze(body=body)
        assert e.value.status_code == 400
        assert name in str(e.value.info)
    with pytest.raises(RequestError) as e:
        client.indices.analyze(body={"analyzer": "standard"})
    assert e.value.status_code == 400


def test_analyze_max_token_count(client):
    client.indices.create(index="analyze-limit", body={"settings": {"index.analyze.max_token_count": 3}})
    ok = client.indices.analyze(index="analyze-limit", body={"analyzer": "standard", "text": "This should succeed"})
    assert len(ok["tokens"]) == 3
    from opensearchpy.exceptions import RequestError
    with pytest.raises(RequestError) as e:
        client.indices.analyze(index="analyze-limit", body={"analyzer": "standard", "text": "This should fail as it exceeds"})
    assert "index.analyze.max_token_count" in str(e.value.info)


# ---- analysis settings --------------------------------------------------------------------

CUSTOM_SETTINGS = {"analysis": {
    "filter": {
        "my_synonyms": {"type": "synonym", "synonyms": ["laptop, notebook", "tv => television"]},
        "english_stem": {"type": "stemmer", "language": "english"},
    },
    "analyzer": {
        "products": {"type": "custom", "tokenizer": "standard",
                     "filter": ["lowercase", "asciifolding", "my_synonyms", "english_stem"]},
    },
    "normalizer": {"folded": {"type": "custom", "filter": ["lowercase", "asciifolding"]}},
}}


@pytest.fixture(scope="module")
def products(client):
    index = "relevance-products"
    client.indices.create(index=index, body={
        "settings": CUSTOM_SETTINGS,
        "mappings": {"properties": {
            "name": {"type": "text", "analyzer": "products"},
            "plain": {"type": "text"},
            "tag": {"type": "keyword", "normalizer": "folded"},
        }}})
    docs = {
        "1": {"name": "Café notebook sale", "plain": "Café notebook sale", "tag": "Crème"},
        "2": {"name": "Best TV deals", "plain": "Best TV deals", "tag": "TV"},
        "3": {"name": "Laptop running fast", "plain": "Laptop running fast", "tag": "laptop"},
        "4": {"name": "Television repair", "plain": "Television repair", "tag": "Repair"},
    }
    for doc_id, doc in docs.items():
        client.index(index=index, id=doc_id, body=doc)
    client.indices.refresh(index=index)
    return index


def ids(client, index, query):
    resp = client.search(index=index, body={"query": query, "size": 20})
    return sorted(h["_id"] for h in resp["hits"]["hits"])


def test_custom_analyzer_changes_matching(client, products):
    # asciifolding: "cafe" finds "Café"; without the analyzer ("plain") it does not.
    assert ids(client, products, {"match": {"name": "cafe"}}) == ["1"]
    assert ids(client, products, {"match": {"plain": "cafe"}}) == []
    # equivalent synonyms: laptop <-> notebook, both directions.
    assert ids(client, products, {"match": {"name": "laptop"}}) == ["1", "3"]
    assert ids(client, products, {"match": {"name": "notebook"}}) == ["1", "3"]
    assert ids(client, products, {"match": {"plain": "laptop"}}) == ["3"]
    # explicit mapping tv => television: "tv" is replaced at index and query time.
    assert ids(client, products, {"match": {"name": "tv"}}) == ["2", "4"]
    assert ids(client, products, {"match": {"name": "television"}}) == ["2", "4"]
    assert ids(client, products, {"match": {"plain": "television"}}) == ["4"]
    # the Porter stemmer after the synonyms: "runs" and "running" meet at "run".
    assert ids(client, products, {"match": {"name": "runs"}}) == ["3"]
    assert ids(client, products, {"match": {"plain": "runs"}}) == []
    tokens = client.indices.analyze(index=products, body={"analyzer": "products", "text": "Laptops TV"})["tokens"]
    # Porter stems "television" to "televis" (Lucene's PorterStemFilter does the same).
    assert [(t["token"], t["position"]) for t in tokens] == [("laptop", 0), ("televis", 1)]
    tokens = client.indices.analyze(index=products, body={"field": "name", "text": "laptop"})["tokens"]
    assert sorted(t["token"] for t in tokens) == ["laptop", "notebook"]
    assert all(t["position"] == 0 for t in tokens)


def test_keyword_normalizer(client, products):
    assert ids(client, products, {"term": {"tag": "CREME"}}) == ["1"]
    assert ids(client, products, {"term": {"tag": "crème"}}) == ["1"]
    assert ids(client, products, {"term": {"tag": "tv"}}) == ["2"]


def test_search_analyzer_and_query_analyzer(client):
    client.indices.create(index="relevance-search-analyzer", body={"mappings": {"properties": {
        "t": {"type": "text", "analyzer": "standard", "search_analyzer": "keyword"}}}})
    client.index(index="relevance-search-analyzer", id="1", body={"t": "Hello World"}, refresh=True)
    # search_analyzer keyword: the whole query is one term, which the index does not have.
    assert ids(client, "relevance-search-analyzer", {"match": {"t": "hello world"}}) == []
    assert ids(client, "relevance-search-analyzer", {"match": {"t": "hello"}}) == ["1"]
    # the query's own analyzer wins
    assert ids(client, "relevance-search-analyzer", {"match": {"t": {"query": "hello world", "analyzer": "standard"}}}) == ["1"]


def test_put_mapping_cannot_change_an_analyzer(client):
    """Indexed tokens were made by the field's analyzer: OpenSearch refuses to change it (an
    unset one is `default`), and still accepts a new `search_analyzer` or new fields."""
    from opensearchpy.exceptions import RequestError
    index = "relevance-analyzer-update"
    client.indices.create(index=index, body={"mappings": {"properties": {
        "t": {"type": "text", "analyzer": "whitespace"}, "plain": {"type": "text"}}}})
    client.index(index=index, id="1", body={"t": "Hello World", "plain": "Hello World"}, refresh=True)
    for field, old, new in [("t", "whitespace", "simple"), ("t", "whitespace", None), ("plain", "default", "standard")]:
        definition = {"type": "text", **({"analyzer": new} if new else {})}
        with pytest.raises(RequestError) as e:
            client.indices.put_mapping(index=index, body={"properties": {field: definition}})
        assert e.value.status_code == 400
        assert e.value.error == "illegal_argument_exception"
        assert e.value.info["error"]["reason"] == (
            f"Mapper for [{field}] conflicts with existing mapper:\n\t"
            f"Cannot update parameter [analyzer] from [{old}] to [{new or 'default'}]")
    assert client.indices.get_mapping(index=index)[index]["mappings"]["properties"]["t"] == {"type": "text", "analyzer": "whitespace"}
    # whitespace keeps case: the stored tokens still answer as before.
    assert ids(client, index, {"match": {"t": {"query": "Hello", "analyzer": "keyword"}}}) == ["1"]
    client.indices.put_mapping(index=index, body={"properties": {
        "t": {"type": "text", "analyzer": "whitespace", "search_analyzer": "simple"}, "u": {"type": "text", "analyzer": "simple"}}})
    got = client.indices.get_mapping(index=index)[index]["mappings"]["properties"]
    assert got["t"]["search_analyzer"] == "simple" and got["u"]["analyzer"] == "simple"


def test_unknown_analysis_names_are_400(client):
    from opensearchpy.exceptions import RequestError
    cases = [
        ({"mappings": {"properties": {"t": {"type": "text", "analyzer": "no_such_analyzer"}}}}, "no_such_analyzer"),
        ({"settings": {"analysis": {"analyzer": {"a": {"type": "custom", "tokenizer": "no_such_tok"}}}}}, "no_such_tok"),
        ({"settings": {"analysis": {"analyzer": {"a": {"type": "custom", "tokenizer": "standard", "filter": ["no_such_filter"]}}}}}, "no_such_filter"),
        ({"settings": {"analysis": {"filter": {"f": {"type": "no_such_type"}}}}}, "no_such_type"),
        ({"settings": {"analysis": {"tokenizer": {"t": {"type": "bogus_tokenizer"}}}}}, "bogus_tokenizer"),
    ]
    for i, (body, name) in enumerate(cases):
        with pytest.raises(RequestError) as e:
            client.indices.create(index=f"relevance-bad-{i}", body=body)
        assert e.value.status_code == 400
        assert name in str(e.value.info)
        assert not client.indices.exists(index=f"relevance-bad-{i}")


def test_custom_tokenizers(client):
    client.indices.create(index="relevance-tokenizers", body={"settings": {"analysis": {
        "tokenizer": {
            "grams": {"type": "ngram", "min_gram": 2, "max_gram": 3, "token_chars": ["letter"]},
            "edges": {"type": "edge_ngram", "min_gram": 1, "max_gram": 3},
            "commas": {"type": "pattern", "pattern": ","},
        },
        "filter": {"shingles": {"type": "shingle", "min_shingle_size": 2, "max_shingle_size": 2}},
        "analyzer": {"a_grams": {"tokenizer": "grams"}, "a_shingles": {"tokenizer": "whitespace", "filter": ["shingles"]}},
    }}})
    def toks(body):
        return [t["token"] for t in client.indices.analyze(index="relevance-tokenizers", body=body)["tokens"]]
    word = "abcd"
    assert sorted(toks({"tokenizer": "grams", "text": word})) == sorted(
        word[i:i + n] for i in range(len(word)) for n in (2, 3) if i + n <= len(word))
    assert toks({"tokenizer": "edges", "text": "abcd"}) == ["a", "ab", "abc"]
    assert toks({"tokenizer": "commas", "text": "x,y z,w"}) == ["x", "y z", "w"]
    assert toks({"analyzer": "a_shingles", "text": "a b c"}) == ["a", "a b", "b", "b c", "c"]
    assert toks({"tokenizer": "letter", "text": "it's 4 you"}) == ["it", "s", "you"]


def test_similarity_settings(client, corpus):
    """`similarity` in the mapping: BM25 with custom k1/b (against the reference) and
    `boolean` (each matching term scores 1)."""
    index, docs, fields = corpus
    name = "relevance-similarity"
    client.indices.create(index=name, body={
        "settings": {"index": {"similarity": {"flat": {"type": "BM25", "k1": 2.0, "b": 0.3}}}},
        "mappings": {"properties": {"body": {"type": "text", "similarity": "flat"},
                                    "summary": {"type": "text", "similarity": "boolean"}}}})
    ids = sorted(d for d in docs if "body" in docs[d])[:400]
    lines = []
    for doc_id in ids:
        lines += [{"index": {"_index": name, "_id": doc_id}}, docs[doc_id]]
    assert not client.bulk(body=lines)["errors"]
    client.indices.refresh(index=name)
    ref_body = FieldIndex()
    for doc_id in ids:
        ref_body.add(doc_id, docs[doc_id]["body"])
    rnd = random.Random(5)
    for _ in range(20):
        words = list(dict.fromkeys(standard_terms(docs[rnd.choice(ids)]["body"])))
        terms = rnd.sample(words, min(2, len(words)))
        ref = ref_body.scores(terms, k1=2.0, b=0.3)
        hits = client.search(index=name, body={"query": {"match": {"body": " ".join(terms)}}, "size": 10})["hits"]["hits"]
        for h in hits:
            assert abs(h["_score"] - ref[h["_id"]]) <= 1e-4 * ref[h["_id"]]
        words = list(dict.fromkeys(standard_terms(docs[rnd.choice(ids)]["summary"])))
        terms = rnd.sample(words, min(3, len(words)))
        hits = client.search(index=name, body={"query": {"match": {"summary": " ".join(terms)}}, "size": 50})["hits"]["hits"]
        for h in hits:
            have = set(standard_terms(docs[h["_id"]]["summary"]))
            assert h["_score"] == pytest.approx(sum(1 for t in terms if t in have))
    from opensearchpy.exceptions import RequestError
    with pytest.raises(RequestError) as e:
        client.indices.create(index="relevance-bad-sim", body={"mappings": {"properties": {
            "t": {"type": "text", "similarity": "no_such_similarity"}}}})
    assert "no_such_similarity" in str(e.value.info)


# ---- explain ------------------------------------------------------------------------------

def walk(expl):
    yield expl
    for d in expl.get("details", []):
        yield from walk(d)


def test_explain_top_value_is_score(client, corpus):
    index, docs, fields = corpus
    query = {"bool": {"should": [{"match": {"summary": "library development files"}},
                                 {"match": {"body": "library"}}]}}
    resp = client.search(index=index, body={"query": query, "size": 5})
    assert resp["hits"]["hits"]
    for h in resp["hits"]["hits"]:
        expl = client.explain(index=index, id=h["_id"], body={"query": query})["explanation"]
        assert abs(expl["value"] - h["_score"]) <= 1e-5 * h["_score"]
        descriptions = [e["description"] for e in walk(expl)]
        assert any(d.startswith("idf") for d in descriptions)
        assert any("dl, length of field" in d for d in descriptions)
        assert not any("(K1+1)" in d for d in descriptions)
        one = client.explain(index=index, id=h["_id"], body={"query": query})
        assert one["matched"] is True and one["_id"] == h["_id"] and one["_index"] == index
        assert abs(one["explanation"]["value"] - h["_score"]) <= 1e-5 * h["_score"]


def test_explain_non_matching_document(client, corpus):
    index, docs, fields = corpus
    term = "zzzznotaword"
    some_id = sorted(docs)[0]
    one = client.explain(index=index, id=some_id, body={"query": {"match": {"summary": term}}})
    assert one["matched"] is False
    assert one["explanation"]["value"] == 0


def test_search_explain_true_explains_each_hit(client, corpus):
    """`"explain": true` in `_search`: every hit carries `_explanation` whose top value is its
    `_score`, and the same breakdown `_explain` gives for that document."""
    index, docs, fields = corpus
    query = {"multi_match": {"query": "python library", "fields": ["summary^2", "body"]}}
    resp = client.search(index=index, body={"query": query, "size": 5, "explain": True})
    hits = resp["hits"]["hits"]
    assert hits
    for h in hits:
        expl = h["_explanation"]
        assert abs(expl["value"] - h["_score"]) <= 1e-5 * h["_score"]
        assert h["_shard"] == f"[{index}][0]"
        one = client.explain(index=index, id=h["_id"], body={"query": query})["explanation"]
        assert one == expl
    plain = client.search(index=index, body={"query": query, "size": 5})["hits"]["hits"]
    assert all("_explanation" not in h for h in plain)
    assert [h["_id"] for h in plain] == [h["_id"] for h in hits]


def test_explain_url_query_and_source_parameters(client, corpus):
    """`_explain?q=…&df=…&default_operator=…` is the `_search?q=` query, and the `_source`
    parameters return the stored document under `get` (as OpenSearch's explain API)."""
    index, docs, fields = corpus
    doc_id = next(d for d in sorted(docs) if "body" in docs[d])
    words = standard_terms(docs[doc_id]["summary"])
    word = max(words, key=len)
    via_q = client.explain(index=index, id=doc_id, params={"q": word, "df": "summary"})
    via_body = client.explain(index=index, id=doc_id, body={"query": {"match": {"summary": word}}})
    assert via_q["matched"] is True
    assert via_q["explanation"]["value"] == pytest.approx(via_body["explanation"]["value"], rel=1e-6)
    assert "get" not in via_q
    assert client.explain(index=index, id=doc_id, params={"q": f"summary:{word} summary:zzzznotaword"})["matched"] is True
    both = client.explain(index=index, id=doc_id, params={"q": f"summary:{word} summary:zzzznotaword",
                                                          "default_operator": "AND"})
    assert both["matched"] is False
    got = client.explain(index=index, id=doc_id, params={"q": word, "df": "summary", "_source": "true"})["get"]
    assert got["found"] is True and got["_source"] == docs[doc_id]
    got = client.explain(index=index, id=doc_id, params={"q": word, "df": "summary", "_source_includes": "summary"})
    assert got["get"]["_source"] == {"summary": docs[doc_id]["summary"]}
    got = client.explain(index=index, id=doc_id, params={"q": word, "df": "summary", "_source_excludes": "summary"})
    assert got["get"]["_source"] == {"body": docs[doc_id]["body"]}
    got = client.explain(index=index, id=doc_id, params={"q": word, "df": "summary", "_source": "false"})
    assert "_source" not in got.get("get", {})
    from opensearchpy.exceptions import RequestError
    with pytest.raises(RequestError) as e:
        client.explain(index=index, id=doc_id, params={"q": word, "stored_fields": "summary"})
    assert "[stored_fields]" in str(e.value.info)
