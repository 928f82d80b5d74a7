"""Hidden indices (`index.hidden`) and `expand_wildcards`, driven with opensearch-py against the
real server: wildcards and `_all` skip hidden indices unless `hidden` is expanded (a dot pattern
still reaches a dot-prefixed hidden index), concrete names always reach them, and
`expand_wildcards` picks open and closed indices on `_cat/indices` and `_cluster/health`."""
import pytest
from opensearchpy import RequestError


def make(client, name, shards, hidden=False):
    settings = {"number_of_shards": shards, "number_of_replicas": 0}
    if hidden:
        settings["index"] = {"hidden": True}
    client.indices.create(index=name, body={"settings": settings})


def cat_names(client, **params):
    return sorted(row["index"] for row in client.cat.indices(format="json", **params))


def test_hidden_indices_need_hidden_or_a_name(client):
    make(client, "ew-visible", 1)
    make(client, "ew-hidden", 1, hidden=True)
    make(client, ".ew-dot", 1, hidden=True)
    try:
        visible = cat_names(client)
        assert "ew-visible" in visible
        assert "ew-hidden" not in visible and ".ew-dot" not in visible
        assert {"ew-visible", "ew-hidden", ".ew-dot"} <= set(cat_names(client, expand_wildcards="all"))
        assert cat_names(client, index="ew-*") == ["ew-visible"]
        assert cat_names(client, index="ew-*", expand_wildcards="open,hidden") == ["ew-hidden", "ew-visible"]
        # A dot pattern reaches a dot-prefixed hidden index; a concrete name reaches any.
        assert cat_names(client, index=".ew-*") == [".ew-dot"]
        assert cat_names(client, index="ew-hidden") == ["ew-hidden"]
    finally:
        client.indices.delete(index="ew-visible,ew-hidden,.ew-dot")


def test_expand_wildcards_picks_open_and_closed(client):
    make(client, "ewc-open", 1)
    make(client, "ewc-closed", 2)
    client.indices.close(index="ewc-closed")
    try:
        shards = {"ewc-open": 1, "ewc-closed": 2}
        for expand, expected in [("open", ["ewc-open"]), ("closed", ["ewc-closed"]),
                                 ("all", ["ewc-closed", "ewc-open"]), ("none", [])]:
            health = client.cluster.health(index="ewc-*", level="indices", expand_wildcards=expand)
            assert sorted(health["indices"]) == expected, expand
            assert health["active_shards"] == sum(shards[n] for n in expected), expand
            assert cat_names(client, index="ewc-*", expand_wildcards=expand) == expected, expand
        # `_cat/indices` shows closed indices by default.
        assert cat_names(client, index="ewc-*") == ["ewc-closed", "ewc-open"]
        with pytest.raises(RequestError) as e:
            client.cat.indices(index="ewc-*", expand_wildcards="opn")
        assert e.value.status_code == 400
        assert e.value.info["error"]["type"] == "illegal_argument_exception"
    finally:
        client.indices.delete(index="ewc-open,ewc-closed")


def test_docs_example(server_factory):
    """Runs the curl example of docs/rest-api.md's hidden-indices section on a fresh server
    holding one visible index."""
    import re
    import subprocess
    from pathlib import Path

    from test_documents import json_values

    doc = (Path(__file__).resolve().parents[2] / "docs" / "rest-api.md").read_text()
    section = doc.split("<!-- rest-api:hidden:begin -->")[1].split("<!-- rest-api:hidden:end -->")[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    srv = server_factory()
    srv.client().indices.create(index="books", body={"settings": {"number_of_replicas": 0}})
    script = "set -e\n" + block.replace("localhost:9200", srv.url.removeprefix("http://"))
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    created, listed, listed_all, health = json_values(r.stdout)
    assert created["acknowledged"] is True and created["index"] == ".internal"
    assert [row["index"] for row in listed] == ["books"]
    assert sorted(row["index"] for row in listed_all) == [".internal", "books"]
    assert sorted(health["indices"]) == [".internal", "books"]
