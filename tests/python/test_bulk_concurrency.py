"""`_bulk` under concurrency (issue 20): 10,000 items sent as concurrent requests give the same
documents, versions and sequence numbers as the same requests sent one after another.

For the expectation to be well defined, every id's operations (create, re-index, delete) sit in
one request, in order, and requests have disjoint ids: then each id's final state is fixed
whatever order the requests run in, and only the interleaving of seq_nos across requests may
differ. So the test checks, on a 3-shard index for both runs: each id's final `_source`,
`_version` and presence against an expectation computed here, the same in both runs; each id's
seq_nos increase in request order and its document carries the last one; and on every shard
(found with an independent OpenSearch routing) the seq_nos handed out are exactly 0..n-1 —
a permutation without gaps or duplicates, the same n in both runs."""
import json
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

from test_shards import opensearch_shard

SHARDS = 3
REQUESTS = 10
IDS = 6_000
REINDEXED = range(0, IDS, 2)  # 3,000 ids indexed a second time
DELETED = range(0, IDS, 6)    # 1,000 of those then deleted: 10,000 items in all


def body_of(i: int, round_: int) -> dict:
    return {"n": i, "round": round_, "title": f"doc {i} round {round_}", "tag": f"t{i % 7}"}


def requests_and_expectation():
    """The NDJSON bodies (ids dealt to requests round-robin, each id's ops in order) and the
    expected final state per id: (version, source or None when deleted)."""
    ops = defaultdict(list)
    for i in range(IDS):
        ops[i % REQUESTS].append(("index", i, body_of(i, 1)))
    for i in REINDEXED:
        ops[i % REQUESTS].append(("index", i, body_of(i, 2)))
    for i in DELETED:
        ops[i % REQUESTS].append(("delete", i, None))
    expected = {}
    for i in range(IDS):
        version = 1 + (i in REINDEXED) + (i in DELETED)
        source = None if i in DELETED else body_of(i, 2 if i in REINDEXED else 1)
        expected[str(i)] = (version, source)
    bodies = []
    for r in range(REQUESTS):
        lines = []
        for action, i, source in ops[r]:
            lines.append(json.dumps({action: {"_id": str(i)}}))
            if source is not None:
                lines.append(json.dumps(source))
        bodies.append("\n".join(lines) + "\n")
    assert sum(len(o) for o in ops.values()) == 10_000
    return bodies, expected


def run(client, index, bodies, concurrent):
    client.indices.create(index=index, body={"settings": {"number_of_shards": SHARDS}})
    send = lambda body: client.bulk(index=index, body=body, request_timeout=120)
    if concurrent:
        with ThreadPoolExecutor(max_workers=REQUESTS) as pool:
            responses = list(pool.map(send, bodies))
    else:
        responses = [send(b) for b in bodies]
    client.indices.refresh(index=index)
    items = []
    for resp in responses:
        assert resp["errors"] is False
        items.extend(next(iter(item.values())) for item in resp["items"])
    hits = client.search(index=index, body={
        "size": 10_000, "version": True, "seq_no_primary_term": True, "query": {"match_all": {}}})["hits"]["hits"]
    final = {h["_id"]: (h["_version"], h["_source"], h["_seq_no"]) for h in hits}
    return items, final


def check_run(items, final, expected):
    # Each id's seq_nos increase in request order; the live document carries the last one.
    seq_nos_of = defaultdict(list)
    per_shard = defaultdict(list)
    for item in items:
        seq_nos_of[item["_id"]].append(item["_seq_no"])
        per_shard[opensearch_shard(item["_id"], SHARDS)].append(item["_seq_no"])
    for doc_id, seq_nos in seq_nos_of.items():
        assert seq_nos == sorted(seq_nos) and len(set(seq_nos)) == len(seq_nos), doc_id
    for doc_id, (version, source) in expected.items():
        if source is None:
            assert doc_id not in final
        else:
            got_version, got_source, got_seq_no = final[doc_id]
            assert (got_version, got_source) == (version, source), doc_id
            assert got_seq_no == seq_nos_of[doc_id][-1], doc_id
    assert len(final) == sum(1 for _, s in expected.values() if s is not None)
    # Per shard: exactly 0..n-1, no gap, no duplicate.
    for shard, seq_nos in per_shard.items():
        assert sorted(seq_nos) == list(range(len(seq_nos))), shard
    return {shard: len(s) for shard, s in per_shard.items()}


def test_concurrent_bulk_equals_sequential(client):
    bodies, expected = requests_and_expectation()
    seq_items, seq_final = run(client, "bulk-sequential", bodies, concurrent=False)
    conc_items, conc_final = run(client, "bulk-concurrent", bodies, concurrent=True)
    seq_counts = check_run(seq_items, seq_final, expected)
    conc_counts = check_run(conc_items, conc_final, expected)
    assert seq_counts == conc_counts and len(seq_counts) == SHARDS
    assert {d: (v, s) for d, (v, s, _) in conc_final.items()} == {d: (v, s) for d, (v, s, _) in seq_final.items()}
    # The same per-item outcome (created / updated / deleted) in both runs.
    outcome = lambda items: sorted((i["_id"], i["_version"], i["result"]) for i in items)
    assert outcome(conc_items) == outcome(seq_items)
