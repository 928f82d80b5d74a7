"""`GET /{index}/_mapping/field/{fields}`, driven with opensearch-py against the real server:
names, wildcards over full paths, multi-fields, several indices, a missing field and a missing
index. Expected definitions are taken from the mapping the test created."""
import pytest
from opensearchpy import NotFoundError

MAPPING = {"properties": {
    "title": {"type": "text", "fields": {"raw": {"type": "keyword"}}},
    "tag": {"type": "keyword"},
    "user": {"properties": {"name": {"type": "keyword"}, "tagline": {"type": "text"}}},
}}


def test_field_mapping(client):
    for name in ("fm-a", "fm-b"):
        client.indices.create(index=name, body={"mappings": MAPPING})
    got = client.indices.get_field_mapping(index="fm-a", fields="title,user.name")
    assert got == {"fm-a": {"mappings": {
        "title": {"full_name": "title", "mapping": {"title": MAPPING["properties"]["title"]}},
        "user.name": {"full_name": "user.name", "mapping": {"name": {"type": "keyword"}}},
    }}}
    # Wildcards match full paths, multi-fields included.
    got = client.indices.get_field_mapping(index="fm-a", fields="*t*")
    expected = {"title", "title.raw", "tag", "user.tagline"}
    assert set(got["fm-a"]["mappings"]) == expected
    assert got["fm-a"]["mappings"]["title.raw"]["mapping"] == {"raw": {"type": "keyword"}}
    both = client.indices.get_field_mapping(index="fm-*", fields="tag")
    assert {i: m["mappings"]["tag"]["full_name"] for i, m in both.items()} == {"fm-a": "tag", "fm-b": "tag"}
    assert client.indices.get_field_mapping(index="fm-a", fields="nope") == {"fm-a": {"mappings": {}}}
    with_defaults = client.indices.get_field_mapping(index="fm-a", fields="user.tagline", params={"include_defaults": "true"})
    assert with_defaults["fm-a"]["mappings"]["user.tagline"]["mapping"]["tagline"]["analyzer"] == "default"
    with pytest.raises(NotFoundError):
        client.indices.get_field_mapping(index="fm-missing", fields="tag")
