"""`realtime` on GET, `_source`, HEAD and `_mget`, driven with opensearch-py against the real
server: by default a read sees the latest acknowledged write; `realtime=false` sees what the
last refresh made searchable (the same documents a search sees), and `refresh=true` refreshes
first."""
import pytest
from opensearchpy import NotFoundError


def test_realtime_false_reads_what_search_sees(client):
    name = "rt-get"
    client.indices.create(index=name, body={"settings": {"number_of_shards": 2, "number_of_replicas": 0,
                                                          "refresh_interval": "-1"}})
    try:
        client.index(index=name, id="a", body={"n": 1})
        client.index(index=name, id="b", body={"n": 1})
        client.indices.refresh(index=name)
        # Written after the refresh: the new version of "a", a deleted "b", a new "c".
        client.index(index=name, id="a", body={"n": 2})
        client.delete(index=name, id="b")
        client.index(index=name, id="c", body={"n": 1})
        searched = {h["_id"]: h["_source"] for h in
                    client.search(index=name, body={"query": {"match_all": {}}})["hits"]["hits"]}
        latest = {"a": {"n": 2}, "c": {"n": 1}}
        for doc_id in ["a", "b", "c"]:
            for realtime, expected in [(False, searched), (True, latest)]:
                if doc_id in expected:
                    assert client.get(index=name, id=doc_id, realtime=realtime)["_source"] == expected[doc_id]
                    assert client.get_source(index=name, id=doc_id, realtime=realtime) == expected[doc_id]
                    assert client.exists(index=name, id=doc_id, realtime=realtime)
                else:
                    with pytest.raises(NotFoundError):
                        client.get(index=name, id=doc_id, realtime=realtime)
                    assert not client.exists(index=name, id=doc_id, realtime=realtime)
        for realtime, expected in [(False, searched), (True, latest)]:
            docs = client.mget(index=name, body={"ids": ["a", "b", "c"]}, realtime=realtime)["docs"]
            assert {d["_id"]: d["_source"] for d in docs if d["found"]} == expected
        # `refresh=true` first makes the latest writes searchable.
        assert client.get(index=name, id="c", realtime=False, refresh=True)["_source"] == {"n": 1}
        assert client.get(index=name, id="a", realtime=False)["_source"] == {"n": 2}
    finally:
        client.indices.delete(index=name)
