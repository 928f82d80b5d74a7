"""opensearch-py as applications use it: the bulk helpers (`bulk`, `streaming_bulk`,
`parallel_bulk`), the DSL (`Document`/`Index`, `Search` with query + aggregations, `.scan()`), and
`AsyncOpenSearch` with `async_bulk` / `async_scan`, over real records (the machine's Debian
package index). Expected values are computed here from the records themselves.
(`helpers.scan`/`reindex` are in test_scroll.py, `http_compress=True` in test_transport.py.)
"""
import asyncio
from collections import Counter

import pytest
from opensearchpy import (AsyncOpenSearch, Document, Index, Keyword, Long, RequestError, Search, Text,
                          helpers)
from opensearchpy.helpers import async_bulk, async_scan

from debian_records import MAPPING, load_packages, standard_words


@pytest.fixture(scope="module")
def records():
    docs = load_packages(3000)
    if len(docs) < 200:
        pytest.skip("fewer than 200 Debian package records on this machine")
    return docs


def actions(index, records):
    for r in records:
        yield {"_index": index, "_id": r["package"], "_source": r}


def create(client, index, shards=2):
    client.indices.create(index=index, body={"settings": {"number_of_shards": shards},
                                             "mappings": MAPPING})


def sections(records):
    return Counter(r["section"] for r in records)


def test_streaming_bulk_reports_every_item(client, records):
    create(client, "cl-streaming")
    results = list(helpers.streaming_bulk(client, actions("cl-streaming", records), chunk_size=300))
    assert len(results) == len(records)
    assert all(ok and info["index"]["result"] == "created" for ok, info in results)
    assert sorted(info["index"]["_id"] for _, info in results) == sorted(r["package"] for r in records)
    # A second pass updates every document; a broken item is reported, not raised, when asked.
    broken = [{"_index": "cl-streaming", "_id": records[0]["package"],
               "_source": {"installed_size": "not a number"}}]
    second = list(helpers.streaming_bulk(client, broken + list(actions("cl-streaming", records[1:])),
                                         chunk_size=500, raise_on_error=False))
    assert [ok for ok, _ in second].count(False) == 1
    failed = next(info for ok, info in second if not ok)
    assert failed["index"]["status"] == 400
    assert failed["index"]["error"]["type"] == "mapper_parsing_exception"
    assert all(info["index"]["result"] == "updated" for ok, info in second if ok)
    client.indices.refresh(index="cl-streaming")
    assert client.count(index="cl-streaming")["count"] == len(records)


def test_parallel_bulk_indexes_everything(client, records):
    create(client, "cl-parallel", shards=3)
    results = list(helpers.parallel_bulk(client, actions("cl-parallel", records), thread_count=3,
                                         chunk_size=200))
    assert len(results) == len(records) and all(ok for ok, _ in results)
    client.indices.refresh(index="cl-parallel")
    body = {"size": 0, "aggs": {"s": {"terms": {"field": "section", "size": 1000}}}}
    buckets = client.search(index="cl-parallel", body=body)["aggregations"]["s"]["buckets"]
    assert {b["key"]: b["doc_count"] for b in buckets} == dict(sections(records))


class Package(Document):
    package = Keyword()
    section = Keyword()
    priority = Keyword()
    installed_size = Long()
    summary = Text()

    class Index:
        name = "cl-dsl-packages"
        settings = {"number_of_shards": 2}


def test_dsl_document_and_search(client, records):
    Package.init(using=client)
    mapping = client.indices.get_mapping(index="cl-dsl-packages")["cl-dsl-packages"]["mappings"]
    assert mapping["properties"]["installed_size"] == {"type": "long"}
    assert mapping["properties"]["summary"] == {"type": "text"}
    subset = records[:300]
    for r in subset:
        Package(meta={"id": r["package"]}, package=r["package"], section=r["section"],
                priority=r["priority"], installed_size=r["installed_size"],
                summary=r["summary"]).save(using=client)
    Index("cl-dsl-packages", using=client).refresh()

    first = Package.get(id=subset[0]["package"], using=client)
    assert first.installed_size == subset[0]["installed_size"]
    first.update(using=client, summary="changed by the DSL", refresh=True)
    assert Package.get(id=subset[0]["package"], using=client).summary == "changed by the DSL"
    subset[0] = {**subset[0], "summary": "changed by the DSL"}

    word = Counter(w for r in subset for w in standard_words(r["summary"])
                   if w.isalpha() and len(w) > 3).most_common(1)[0][0]
    s = (Package.search(using=client)
         .query("match", summary=word)
         .filter("range", installed_size={"gte": 1})
         .extra(size=0))
    s.aggs.bucket("per_section", "terms", field="section", size=500).metric(
        "biggest", "max", field="installed_size")
    response = s.execute()
    matching = [r for r in subset if word in standard_words(r["summary"]) and r["installed_size"] >= 1]
    assert response.hits.total.value == len(matching)
    got = {b.key: (b.doc_count, b.biggest.value) for b in response.aggregations.per_section.buckets}
    expected = {}
    for r in matching:
        count, biggest = expected.get(r["section"], (0, 0.0))
        expected[r["section"]] = (count + 1, max(biggest, float(r["installed_size"])))
    assert got == expected

    scanned = sorted(hit.meta.id for hit in Search(using=client, index="cl-dsl-packages")
                     .filter("term", priority="optional").scan())
    assert scanned == sorted(r["package"] for r in subset if r["priority"] == "optional")

    Index("cl-dsl-packages", using=client).delete()
    assert not client.indices.exists(index="cl-dsl-packages")


def test_async_client_bulk_and_scan(server, records):
    async def flow():
        aclient = AsyncOpenSearch(server.url)
        try:
            await aclient.indices.create(index="cl-async", body={"mappings": MAPPING})
            ok, errors = await async_bulk(aclient, actions("cl-async", records), chunk_size=250,
                                          refresh=True)
            seen = Counter()
            async for hit in async_scan(aclient, index="cl-async", size=300,
                                        query={"query": {"term": {"priority": "optional"}}}):
                seen[hit["_source"]["section"]] += 1
            count = (await aclient.count(index="cl-async"))["count"]
            return ok, errors, seen, count
        finally:
            await aclient.close()

    ok, errors, seen, count = asyncio.run(flow())
    assert (ok, errors, count) == (len(records), [], len(records))
    assert seen == sections([r for r in records if r["priority"] == "optional"])


def test_update_retry_on_conflict(client):
    # The DSL's Document.update sends retry_on_conflict with if_seq_no/if_primary_term.
    client.index(index="cl-retry", id="1", body={"n": 1}, refresh=True)
    r = client.update(index="cl-retry", id="1", body={"doc": {"n": 2}}, retry_on_conflict=3)
    assert r["result"] == "updated" and r["_version"] == 2
    assert client.get(index="cl-retry", id="1")["_source"] == {"n": 2}
    with pytest.raises(RequestError) as e:
        client.update(index="cl-retry", id="1", body={"doc": {"n": 3}}, retry_on_conflict=2,
                      if_seq_no=r["_seq_no"], if_primary_term=r["_primary_term"])
    assert e.value.error == "action_request_validation_exception"
    assert "compare and write operations can not be retried" in str(e.value.info)
    with pytest.raises(RequestError) as e:
        client.update(index="cl-retry", id="1", body={"doc": {"n": 3}}, retry_on_conflict="x")
    assert e.value.error == "illegal_argument_exception"
    assert client.get(index="cl-retry", id="1")["_source"] == {"n": 2}
