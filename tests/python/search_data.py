"""Deterministic documents shared by the search and aggregation tests, and the mapping."""
import datetime as dt

INDEX = "search-products"

ADJECTIVES = ["quick", "lazy", "shiny", "rusty", "tiny", "giant", "silent"]
NOUNS = ["fox", "dog", "hammer", "guitar", "garden", "book", "lamp", "boat", "kettle", "drum", "clock"]
CATEGORIES = ["books", "games", "music", "tools", "garden"]
BASE_DATE = dt.datetime(2024, 1, 1, tzinfo=dt.timezone.utc)

MAPPING = {
    "properties": {
        "title": {"type": "text", "fields": {"keyword": {"type": "keyword"}}},
        "description": {"type": "text"},
        "category": {"type": "keyword"},
        "tags": {"type": "keyword"},
        "price": {"type": "double"},
        "stock": {"type": "integer"},
        "rating": {"type": "float"},
        "created": {"type": "date"},
        "in_stock": {"type": "boolean"},
        "discount": {"type": "long"},
        "user": {"properties": {"name": {"type": "keyword"}, "age": {"type": "integer"}}},
    }
}


def created_of(i: int) -> dt.datetime:
    return BASE_DATE + dt.timedelta(days=i % 365, hours=i % 24)


def make_doc(i: int) -> dict:
    doc = {
        "title": f"{ADJECTIVES[i % 7]} {NOUNS[i % 11]} number {i}",
        "description": f"the {ADJECTIVES[(i * 3) % 7]} {NOUNS[(i * 5) % 11]} sits near the {NOUNS[(i + 4) % 11]}",
        "category": CATEGORIES[i % 5],
        "tags": [f"t{i % 3}", f"u{i % 4}"],
        "price": round((i * 7 % 1000) / 10.0, 1),
        "stock": i % 50,
        "rating": (i % 5) + 0.5,
        "in_stock": i % 3 != 0,
        "user": {"name": f"user{i % 20}", "age": 18 + i % 60},
    }
    created = created_of(i)
    # Every tenth date as epoch millis, the rest as ISO-8601.
    doc["created"] = int(created.timestamp() * 1000) if i % 10 == 0 else created.strftime("%Y-%m-%dT%H:%M:%SZ")
    if i % 4 == 0:
        doc["discount"] = i % 30
    return doc


N_DOCS = 1000
DOCS = {str(i): make_doc(i) for i in range(N_DOCS)}


def load(client, index=INDEX, docs=DOCS):
    """Creates the index with MAPPING and bulk-loads the documents (refresh=true)."""
    if client.indices.exists(index=index):
        return
    client.indices.create(index=index, body={"mappings": MAPPING})
    lines = []
    for doc_id, doc in docs.items():
        lines.append({"index": {"_index": index, "_id": doc_id}})
        lines.append(doc)
    resp = client.bulk(body=lines, refresh=True)
    assert not resp["errors"], [i for i in resp["items"] if "error" in i["index"]][:3]


def load_one_and_five_shards(client, one, five, split):
    """(Re)creates `one` (1 shard) and `five` (5 shards) with MAPPING holding DOCS, bulk-loaded
    in two refreshed parts (documents before `split`, then the rest), so each shard has
    several segments."""
    from opensearchpy import helpers

    for name, shards in [(one, 1), (five, 5)]:
        if client.indices.exists(index=name):
            client.indices.delete(index=name)
        client.indices.create(index=name, body={
            "settings": {"number_of_shards": shards, "number_of_replicas": 0}, "mappings": MAPPING})
        actions = [{"_index": name, "_id": i, "_source": d} for i, d in DOCS.items()]
        helpers.bulk(client, actions[:split], refresh=True)
        helpers.bulk(client, actions[split:], refresh=True)
