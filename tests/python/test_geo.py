"""geo_point: indexing every OpenSearch input form, the geo queries (`geo_distance`,
`geo_bounding_box`, `geo_polygon`, `geo_shape`), the `_geo_distance` sort and the geo
aggregations. Every expected answer is computed here in Python from the same records
(haversine, box and polygon tests, geohash and map tiles), and every aggregation is compared
between an index of 1 shard and one of 5."""
import math
import random

import pytest
from opensearchpy import RequestError, helpers

EARTH_RADIUS = 6371008.7714

# Real cities (lat, lon); stores are scattered around them.
CITIES = {
    "Amsterdam": (52.3676, 4.9041), "Berlin": (52.52, 13.405), "Paris": (48.8566, 2.3522),
    "London": (51.5074, -0.1278), "Madrid": (40.4168, -3.7038), "Rome": (41.9028, 12.4964),
    "Vienna": (48.2082, 16.3738), "Prague": (50.0755, 14.4378), "Warsaw": (52.2297, 21.0122),
    "Stockholm": (59.3293, 18.0686), "Oslo": (59.9139, 10.7522), "Helsinki": (60.1699, 24.9384),
    "Lisbon": (38.7223, -9.1393), "Dublin": (53.3498, -6.2603), "Brussels": (50.8503, 4.3517),
    "Zurich": (47.3769, 8.5417), "Athens": (37.9838, 23.7275), "Istanbul": (41.0082, 28.9784),
    "New York": (40.7128, -74.006), "Boston": (42.3601, -71.0589), "Chicago": (41.8781, -87.6298),
    "San Francisco": (37.7749, -122.4194), "Los Angeles": (34.0522, -118.2437),
    "Seattle": (47.6062, -122.3321), "Toronto": (43.6532, -79.3832), "Mexico City": (19.4326, -99.1332),
    "Sao Paulo": (-23.5505, -46.6333), "Buenos Aires": (-34.6037, -58.3816), "Lima": (-12.0464, -77.0428),
    "Cape Town": (-33.9249, 18.4241), "Nairobi": (-1.2921, 36.8219), "Cairo": (30.0444, 31.2357),
    "Tokyo": (35.6762, 139.6503), "Seoul": (37.5665, 126.978), "Beijing": (39.9042, 116.4074),
    "Singapore": (1.3521, 103.8198), "Mumbai": (19.076, 72.8777), "Sydney": (-33.8688, 151.2093),
    "Auckland": (-36.8485, 174.7633), "Taveuni": (-16.85, 179.95), "Anchorage": (61.2181, -149.9003),
    "Honolulu": (21.3069, -157.8583), "Reykjavik": (64.1466, -21.9426),
}
CATEGORIES = ["grocery", "pharmacy", "bakery", "hardware", "books", "coffee"]
MAPPING = {"properties": {
    "name": {"type": "keyword"}, "city": {"type": "keyword"}, "category": {"type": "keyword"},
    "rating": {"type": "float"}, "location": {"type": "geo_point"},
}}


def as_form(lat, lon, form):
    """The same point in each of OpenSearch's input forms (geohash aside: it is a cell)."""
    return [
        {"lat": lat, "lon": lon},
        f"{lat},{lon}",
        [lon, lat],
        f"POINT ({lon} {lat})",
        {"type": "Point", "coordinates": [lon, lat]},
    ][form % 5]


def make_stores(n=1500, seed=7):
    rng = random.Random(seed)
    stores = {}
    names = list(CITIES)
    for i in range(n):
        city = names[i % len(names)]
        clat, clon = CITIES[city]
        points = []
        # Most stores have one location; some deliver from two or three depots.
        for _ in range(1 if i % 9 else rng.randint(2, 3)):
            lat = max(-89.9, min(89.9, clat + rng.gauss(0, 0.6)))
            lon = clon + rng.gauss(0, 0.8)
            lon = (lon + 180) % 360 - 180
            points.append((round(lat, 6), round(lon, 6)))
        stores[str(i)] = {
            "name": f"{CATEGORIES[i % len(CATEGORIES)]} {city} #{i}",
            "city": city,
            "category": CATEGORIES[(i * 7) % len(CATEGORIES)],
            "rating": round(rng.uniform(1, 5), 1),
            "points": points,
        }
    return stores


STORES = make_stores()


def source(i, store):
    pts = [as_form(lat, lon, int(i) + k) for k, (lat, lon) in enumerate(store["points"])]
    doc = {k: v for k, v in store.items() if k != "points"}
    doc["location"] = pts[0] if len(pts) == 1 else pts
    return doc


def create(client, name, shards):
    if client.indices.exists(index=name):
        client.indices.delete(index=name)
    client.indices.create(index=name, body={
        "settings": {"number_of_shards": shards, "number_of_replicas": 0}, "mappings": MAPPING})
    actions = [{"_index": name, "_id": i, "_source": source(i, s)} for i, s in STORES.items()]
    # Two refreshed parts: several segments per shard.
    helpers.bulk(client, actions[:700], refresh=True)
    helpers.bulk(client, actions[700:], refresh=True)


@pytest.fixture(scope="module")
def stores(client):
    create(client, "geo-one", 1)
    create(client, "geo-five", 5)
    return client


def haversine(lat1, lon1, lat2, lon2):
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS * math.asin(min(1.0, math.sqrt(h)))


def plane(lat1, lon1, lat2, lon2):
    x = math.radians(lon2 - lon1) * math.cos(math.radians((lat1 + lat2) / 2))
    y = math.radians(lat2 - lat1)
    return math.hypot(x, y) * EARTH_RADIUS


def ids(client, index, query, size=5000):
    resp = client.search(index=index, body={"size": size, "query": query, "_source": False})
    assert resp["hits"]["total"]["value"] == len(resp["hits"]["hits"])
    return {h["_id"] for h in resp["hits"]["hits"]}


def within(center, meters, dist=haversine):
    """(ids within `meters`, ids within a meter of the circle: indexed points are rounded)."""
    inside, edge = set(), set()
    for i, s in STORES.items():
        ds = [dist(center[0], center[1], lat, lon) for lat, lon in s["points"]]
        if min(ds) <= meters:
            inside.add(i)
        if any(abs(d - meters) < 1.0 for d in ds):
            edge.add(i)
    return inside, edge


@pytest.mark.parametrize("index", ["geo-one", "geo-five"])
@pytest.mark.parametrize("center, distance, meters", [
    ((52.3676, 4.9041), "80km", 80_000),
    ((40.7128, -74.006), "50mi", 50 * 1609.344),
    ((-33.8688, 151.2093), "90000m", 90_000),
    ((51.0, 3.0), "400km", 400_000),
    ((-16.85, 179.95), "150km", 150_000),  # across the antimeridian
])
def test_geo_distance_equals_haversine(stores, index, center, distance, meters):
    want, edge = within(center, meters)
    assert len(want) > 5
    got = ids(stores, index, {"geo_distance": {"distance": distance, "location": {"lat": center[0], "lon": center[1]}}})
    assert got - edge == want - edge


def test_geo_distance_plane_units_and_point_forms(stores):
    center = (48.8566, 2.3522)
    want, edge = within(center, 120_000, plane)
    for point in [[center[1], center[0]], f"{center[0]},{center[1]}", f"POINT ({center[1]} {center[0]})"]:
        got = ids(stores, "geo-five", {"geo_distance": {
            "distance": 120, "unit": "km", "distance_type": "plane", "location": point}})
        assert got - edge == want - edge


def test_geo_distance_in_bool_with_other_clauses(stores):
    center = (59.3293, 18.0686)
    inside, edge = within(center, 200_000)
    want = {i for i in inside if STORES[i]["category"] == "books"}
    got = ids(stores, "geo-five", {"bool": {
        "filter": [{"geo_distance": {"distance": "200km", "location": list(reversed(center))}}],
        "must": [{"term": {"category": "books"}}]}})
    assert got - edge == want - edge


def in_box(lat, lon, top, left, bottom, right):
    lon_ok = left <= lon <= right if left <= right else (lon >= left or lon <= right)
    return bottom <= lat <= top and lon_ok


def box_ids(top, left, bottom, right):
    return {i for i, s in STORES.items() if any(in_box(lat, lon, top, left, bottom, right) for lat, lon in s["points"])}


@pytest.mark.parametrize("top, left, bottom, right", [
    (55.0, 0.0, 45.0, 15.0),
    (45.0, -125.0, 30.0, -70.0),
    (-10.0, 170.0, -40.0, -175.0),  # across the antimeridian
])
def test_geo_bounding_box_equals_a_python_filter(stores, top, left, bottom, right):
    want = box_ids(top, left, bottom, right)
    assert want
    forms = [
        {"top_left": {"lat": top, "lon": left}, "bottom_right": {"lat": bottom, "lon": right}},
        {"top_right": [right, top], "bottom_left": [left, bottom]},
        {"top": top, "left": left, "bottom": bottom, "right": right},
        {"wkt": f"BBOX ({left}, {right}, {top}, {bottom})"},
    ]
    for form in forms:
        for index in ["geo-one", "geo-five"]:
            assert ids(stores, index, {"geo_bounding_box": {"location": form}}) == want, form


def test_geo_shape_envelope_and_disjoint(stores):
    top, left, bottom, right = 55.0, 0.0, 45.0, 15.0
    want = box_ids(top, left, bottom, right)
    envelope = {"type": "envelope", "coordinates": [[left, top], [right, bottom]]}
    assert ids(stores, "geo-five", {"geo_shape": {"location": {"shape": envelope}}}) == want
    disjoint = ids(stores, "geo-five", {"geo_shape": {"location": {"shape": envelope, "relation": "disjoint"}}})
    assert disjoint == set(STORES) - want


def in_triangle(p, a, b, c):
    def side(u, v, w):
        return (v[1] - u[1]) * (w[0] - u[0]) - (v[0] - u[0]) * (w[1] - u[1])
    s1, s2, s3 = side(a, b, p), side(b, c, p), side(c, a, p)
    return (s1 >= 0 and s2 >= 0 and s3 >= 0) or (s1 <= 0 and s2 <= 0 and s3 <= 0)


def test_geo_polygon_equals_a_triangle_test(stores):
    # (lat, lon) vertices around western Europe.
    a, b, c = (60.0, -10.0), (36.0, -10.0), (48.0, 20.0)
    want = {i for i, s in STORES.items() if any(in_triangle(p, a, b, c) for p in s["points"])}
    assert len(want) > 20
    points = [{"lat": v[0], "lon": v[1]} for v in (a, b, c)]
    assert ids(stores, "geo-five", {"geo_polygon": {"location": {"points": points}}}) == want
    ring = [[v[1], v[0]] for v in (a, b, c, a)]
    shape = {"type": "polygon", "coordinates": [ring]}
    assert ids(stores, "geo-one", {"geo_shape": {"location": {"shape": shape, "relation": "within"}}}) == want


@pytest.mark.parametrize("mode, order", [("min", "asc"), ("max", "desc"), ("avg", "asc")])
def test_geo_distance_sort_values_equal_haversine(stores, mode, order):
    origin = (50.0755, 14.4378)
    body = {"size": 25, "query": {"geo_distance": {"distance": "700km", "location": list(reversed(origin))}},
            "sort": [{"_geo_distance": {"location": list(reversed(origin)), "order": order, "unit": "km", "mode": mode}}, "_doc"]}
    for index in ["geo-one", "geo-five"]:
        resp = stores.search(index=index, body=body)
        hits = resp["hits"]["hits"]
        assert len(hits) == 25
        values = []
        for h in hits:
            ds = [haversine(origin[0], origin[1], lat, lon) / 1000 for lat, lon in STORES[h["_id"]]["points"]]
            want = {"min": min(ds), "max": max(ds), "avg": sum(ds) / len(ds)}[mode]
            assert h["sort"][0] == pytest.approx(want, abs=1e-4)
            values.append(h["sort"][0])
        assert values == sorted(values, reverse=order == "desc")


def test_geo_distance_sort_across_pages_with_search_after(stores):
    origin = [-0.1278, 51.5074]
    sort = [{"_geo_distance": {"location": origin, "unit": "m"}}, {"name": "asc"}]
    first = stores.search(index="geo-five", body={"size": 10, "sort": sort})["hits"]["hits"]
    after = stores.search(index="geo-five", body={"size": 10, "sort": sort, "search_after": first[-1]["sort"]})["hits"]["hits"]
    whole = stores.search(index="geo-five", body={"size": 20, "sort": sort})["hits"]["hits"]
    assert [h["_id"] for h in first + after] == [h["_id"] for h in whole]


GH_ALPHABET = "0123456789bcdefghjkmnpqrstuvwxyz"


def geohash(lat, lon, precision):
    lat_r, lon_r, bits, out, even = [-90.0, 90.0], [-180.0, 180.0], [], "", True
    while len(out) < precision:
        r, x = (lon_r, lon) if even else (lat_r, lat)
        mid = (r[0] + r[1]) / 2
        if x >= mid:
            bits.append(1)
            r[0] = mid
        else:
            bits.append(0)
            r[1] = mid
        even = not even
        if len(bits) == 5:
            out += GH_ALPHABET[int("".join(map(str, bits)), 2)]
            bits = []
    return out


def geotile(lat, lon, zoom):
    n = 1 << zoom
    x = min(n - 1, max(0, int(math.floor((lon + 180) / 360 * n))))
    s = math.sin(math.radians(lat))
    y = min(n - 1, max(0, int(math.floor((0.5 - math.log((1 + s) / (1 - s)) / (4 * math.pi)) * n))))
    return x, y


def grid_expected(cell_of, docs):
    counts = {}
    for s in docs:
        for cell in {cell_of(lat, lon) for lat, lon in s["points"]}:
            counts[cell] = counts.get(cell, 0) + 1
    return counts


def aggs(client, index, body_aggs, query=None):
    body = {"size": 0, "aggs": body_aggs}
    if query:
        body["query"] = query
    return client.search(index=index, body=body)["aggregations"]


def test_geohash_grid_equals_python_geohash(stores):
    want = grid_expected(lambda lat, lon: geohash(lat, lon, 3), STORES.values())
    for index in ["geo-one", "geo-five"]:
        buckets = aggs(stores, index, {"g": {"geohash_grid": {"field": "location", "precision": 3}}})["g"]["buckets"]
        assert {b["key"]: b["doc_count"] for b in buckets} == want
        counts = [b["doc_count"] for b in buckets]
        assert counts == sorted(counts, reverse=True)
    # A small `size`: exact on one shard; on five, each shard's `shard_size` cut is what
    # OpenSearch's is (approximate), unless `shard_size` holds every cell.
    want2 = sorted(grid_expected(lambda lat, lon: geohash(lat, lon, 2), STORES.values()).values(), reverse=True)[:3]
    for index, extra in [("geo-one", {}), ("geo-five", {"shard_size": 1000})]:
        top = aggs(stores, index, {"g": {"geohash_grid": {"field": "location", "precision": 2, "size": 3, **extra}}})["g"]["buckets"]
        assert [b["doc_count"] for b in top] == want2


def test_geotile_grid_equals_python_tiles_with_bounds(stores):
    want = grid_expected(lambda lat, lon: "6/%d/%d" % geotile(lat, lon, 6), STORES.values())
    for index in ["geo-one", "geo-five"]:
        buckets = aggs(stores, index, {"t": {"geotile_grid": {"field": "location", "precision": 6}}})["t"]["buckets"]
        assert {b["key"]: b["doc_count"] for b in buckets} == want
    # `bounds`: only points inside the box are counted.
    box = {"top_left": {"lat": 55.0, "lon": 0.0}, "bottom_right": {"lat": 45.0, "lon": 15.0}}
    inside = [{"points": [p for p in s["points"] if in_box(p[0], p[1], 55.0, 0.0, 45.0, 15.0)]} for s in STORES.values()]
    want = grid_expected(lambda lat, lon: "4/%d/%d" % geotile(lat, lon, 4), inside)
    buckets = aggs(stores, "geo-five", {"t": {"geotile_grid": {"field": "location", "precision": 4, "bounds": box}}})["t"]["buckets"]
    assert {b["key"]: b["doc_count"] for b in buckets} == want


def test_geo_bounds_and_centroid_equal_python(stores):
    query = {"terms": {"city": ["Paris", "Berlin", "Rome"]}}
    docs = [s for s in STORES.values() if s["city"] in ("Paris", "Berlin", "Rome")]
    pts = [p for s in docs for p in s["points"]]
    for index in ["geo-one", "geo-five"]:
        got = aggs(stores, index, {"b": {"geo_bounds": {"field": "location"}}, "c": {"geo_centroid": {"field": "location"}}}, query)
        bounds = got["b"]["bounds"]
        assert bounds["top_left"]["lat"] == pytest.approx(max(p[0] for p in pts), abs=1e-6)
        assert bounds["top_left"]["lon"] == pytest.approx(min(p[1] for p in pts), abs=1e-6)
        assert bounds["bottom_right"]["lat"] == pytest.approx(min(p[0] for p in pts), abs=1e-6)
        assert bounds["bottom_right"]["lon"] == pytest.approx(max(p[1] for p in pts), abs=1e-6)
        assert got["c"]["count"] == len(pts)
        assert got["c"]["location"]["lat"] == pytest.approx(sum(p[0] for p in pts) / len(pts), abs=1e-6)
        assert got["c"]["location"]["lon"] == pytest.approx(sum(p[1] for p in pts) / len(pts), abs=1e-6)


def test_geo_bounds_wraps_the_antimeridian(stores):
    query = {"terms": {"city": ["Taveuni", "Auckland"]}}
    pts = [p for s in STORES.values() if s["city"] in ("Taveuni", "Auckland") for p in s["points"]]
    got = aggs(stores, "geo-five", {"b": {"geo_bounds": {"field": "location"}},
                                    "n": {"geo_bounds": {"field": "location", "wrap_longitude": False}}}, query)
    neg = [p[1] for p in pts if p[1] < 0]
    pos = [p[1] for p in pts if p[1] >= 0]
    assert neg and pos  # Taveuni's stores straddle the antimeridian
    assert got["b"]["bounds"]["top_left"]["lon"] == pytest.approx(min(pos), abs=1e-6)
    assert got["b"]["bounds"]["bottom_right"]["lon"] == pytest.approx(max(neg), abs=1e-6)
    assert got["n"]["bounds"]["top_left"]["lon"] == pytest.approx(min(neg), abs=1e-6)
    assert got["n"]["bounds"]["bottom_right"]["lon"] == pytest.approx(max(pos), abs=1e-6)


def test_geo_distance_aggregation_rings_with_sub_aggregation(stores):
    origin = (52.3676, 4.9041)
    rings = [(None, 100.0), (100.0, 300.0), (300.0, 1000.0), (1000.0, None)]
    ranges = [{k: v for k, v in (("from", a), ("to", b)) if v is not None} for a, b in rings]
    body = {"r": {"geo_distance": {"field": "location", "origin": f"{origin[0]},{origin[1]}", "unit": "km", "ranges": ranges},
                  "aggs": {"avg_rating": {"avg": {"field": "rating"}}}}}
    for index in ["geo-one", "geo-five"]:
        buckets = aggs(stores, index, body)["r"]["buckets"]
        assert [b["key"] for b in buckets] == ["*-100.0", "100.0-300.0", "300.0-1000.0", "1000.0-*"]
        for (lo, hi), b in zip(rings, buckets):
            members = [s for s in STORES.values()
                       if any((lo is None or haversine(*origin, *p) / 1000 >= lo) and (hi is None or haversine(*origin, *p) / 1000 < hi)
                              for p in s["points"])]
            assert b["doc_count"] == len(members)
            assert b["from"] == (lo or 0.0)
            assert b.get("to") == hi
            if members:
                want = sum(s["rating"] for s in members) / len(members)
                assert b["avg_rating"]["value"] == pytest.approx(want, rel=1e-5)


def test_every_geo_aggregation_is_equal_between_one_and_five_shards(stores):
    body = {
        "gh": {"geohash_grid": {"field": "location", "precision": 4}},
        "gt": {"geotile_grid": {"field": "location", "precision": 9}},
        "b": {"geo_bounds": {"field": "location"}},
        "c": {"geo_centroid": {"field": "location"}},
        "d": {"geo_distance": {"field": "location", "origin": [139.65, 35.67], "keyed": True,
                               "ranges": [{"to": 500000}, {"from": 500000, "to": 5000000}, {"from": 5000000}]}},
    }
    one = aggs(stores, "geo-one", body)
    five = aggs(stores, "geo-five", body)
    for name in ["gh", "gt", "b", "d"]:
        assert one[name] == five[name], name
    assert one["c"]["count"] == five["c"]["count"] == sum(len(s["points"]) for s in STORES.values())
    for k in ["lat", "lon"]:
        assert one["c"]["location"][k] == pytest.approx(five["c"]["location"][k], abs=1e-9)
    typed = stores.search(index="geo-five", typed_keys=True, body={"size": 0, "aggs": body})["aggregations"]
    assert set(typed) == {"geohash_grid#gh", "geotile_grid#gt", "geo_bounds#b", "geo_centroid#c", "geo_distance#d"}


def test_every_input_form_is_the_same_point(client):
    name = "geo-forms"
    if client.indices.exists(index=name):
        client.indices.delete(index=name)
    client.indices.create(index=name, body={"mappings": {"properties": {"location": {"type": "geo_point"}}}})
    lat, lon = 41.12, -71.34
    forms = [as_form(lat, lon, k) for k in range(5)] + [geohash(lat, lon, 12)]
    for i, form in enumerate(forms):
        client.index(index=name, id=str(i), body={"location": form})
    client.index(index=name, id="far", body={"location": [-70.0, 41.0]})
    client.indices.refresh(index=name)
    got = ids(client, name, {"geo_distance": {"distance": "1m", "location": [lon, lat]}})
    assert got == {str(i) for i in range(len(forms))}
    assert ids(client, name, {"exists": {"field": "location"}}) == got | {"far"}


@pytest.mark.parametrize("doc", [
    {"location": {"lat": 95, "lon": 0}},
    {"location": [200, 0]},
    {"location": "POINT (1)"},
    {"location": "not a point!"},
    {"location": True},
])
def test_malformed_points_are_rejected(client, doc):
    name = "geo-bad"
    if not client.indices.exists(index=name):
        client.indices.create(index=name, body={"mappings": {"properties": {"location": {"type": "geo_point"}}}})
    with pytest.raises(RequestError) as err:
        client.index(index=name, body=doc)
    assert err.value.status_code == 400
    assert err.value.error == "mapper_parsing_exception"


@pytest.mark.parametrize("query, error, reason", [
    ({"geo_distance": {"location": [0, 0]}}, "illegal_argument_exception", "requires 'distance'"),
    ({"geo_distance": {"distance": "10parsecs", "location": [0, 0]}}, "illegal_argument_exception", "failed to parse distance"),
    ({"geo_distance": {"distance": "10km", "location": {"lat": 100, "lon": 0}}}, "query_shard_exception", "illegal latitude value"),
    ({"geo_distance": {"distance": "10km", "location": [0, 0], "other": [1, 1]}}, "parsing_exception", "multiple fields"),
    ({"geo_distance": {"distance": "10km", "distance_type": "sloppy", "location": [0, 0]}}, "illegal_argument_exception", "sloppy"),
    ({"geo_distance": {"distance": "10km", "missing_field": [0, 0]}}, "query_shard_exception", "failed to find geo_point field"),
    ({"geo_distance": {"distance": "10km", "city": [0, 0]}}, "query_shard_exception", "unsupported type [keyword]"),
    ({"geo_bounding_box": {"location": {"top_left": [0, 10], "bottom_right": [10, 20]}}}, "query_shard_exception", "top is below bottom"),
    ({"geo_bounding_box": {"location": {"top_left": [0, 10], "middle": [10, 20]}}}, "parsing_exception", "unexpected field [middle]"),
    ({"geo_polygon": {"location": {"points": [[0, 0], [1, 1]]}}}, "illegal_argument_exception", "too few points"),
])
def test_geo_query_errors(stores, query, error, reason):
    with pytest.raises(RequestError) as err:
        stores.search(index="geo-one", body={"query": query})
    assert err.value.status_code == 400
    assert err.value.error == error
    assert reason in str(err.value.info)


def test_ignore_unmapped_and_validation_methods(stores):
    assert ids(stores, "geo-one", {"geo_distance": {"distance": "10km", "nope": [0, 0], "ignore_unmapped": True}}) == set()
    # COERCE wraps latitude 92 (two degrees past the pole) to 88 on the other side.
    coerced = ids(stores, "geo-one", {"geo_bounding_box": {"validation_method": "COERCE", "location": {
        "top": 92, "left": -180, "bottom": 60, "right": 180}}})
    assert coerced == box_ids(90, -180, 60, 180) or coerced == box_ids(88, -180, 60, 180)
    malformed = ids(stores, "geo-one", {"geo_bounding_box": {"validation_method": "IGNORE_MALFORMED", "location": {
        "top": 95, "left": -180, "bottom": 60, "right": 180}}})
    assert malformed == box_ids(95, -180, 60, 180)


@pytest.mark.parametrize("body, reason", [
    ({"sort": [{"location": "asc"}]}, "can't sort on geo_point field"),
    ({"sort": [{"_geo_distance": {"location": [0, 0], "mode": "sum"}}]}, "sort_mode [sum]"),
    ({"sort": [{"_geo_distance": {"nope": [0, 0]}}]}, "failed to find mapper for [nope]"),
    ({"sort": [{"_geo_distance": {"city": [0, 0]}}]}, "not supported for geo distance based sort"),
    ({"aggs": {"t": {"terms": {"field": "location"}}}}, "geo_point"),
    ({"aggs": {"g": {"geohash_grid": {"field": "city"}}}}, "is not supported for aggregation [geohash_grid]"),
    ({"aggs": {"g": {"geohash_grid": {"field": "location", "precision": 13}}}}, "precision"),
    ({"aggs": {"g": {"geotile_grid": {"field": "location", "precision": 30}}}}, "precision"),
    ({"aggs": {"d": {"geo_distance": {"field": "location", "ranges": [{"to": 1}]}}}}, "Missing [origin]"),
    ({"aggs": {"t": {"terms": {"field": "city"}, "aggs": {"c": {"geo_centroid": {"field": "location"}}}}}}, "top level only"),
])
def test_geo_sort_and_aggregation_errors(stores, body, reason):
    with pytest.raises(RequestError) as err:
        stores.search(index="geo-one", body={"size": 0, **body})
    assert err.value.status_code == 400
    assert reason in str(err.value.info)


def test_unmapped_geo_sort_with_ignore_unmapped_and_empty_aggs(stores):
    resp = stores.search(index="geo-one", body={"size": 3, "sort": [
        {"_geo_distance": {"nope": [0, 0], "ignore_unmapped": True}}, {"name": "asc"}]})
    assert [h["sort"][0] for h in resp["hits"]["hits"]] == [None, None, None]
    empty = aggs(stores, "geo-one", {"b": {"geo_bounds": {"field": "location"}}, "c": {"geo_centroid": {"field": "location"}},
                                     "g": {"geohash_grid": {"field": "location"}}}, {"term": {"city": "Atlantis"}})
    assert empty == {"b": {}, "c": {"count": 0}, "g": {"buckets": []}}


def test_geo_queries_sorts_and_aggregations_through_every_node_of_a_cluster(cluster):
    """Shards on several nodes: each node's shard phase answers its partial geo state
    (postcard-encoded between nodes) and the coordinator's reduce equals Python's answer."""
    import json as _json

    import requests

    url = cluster.nodes[0].url
    r = requests.put(f"{url}/geo-cluster", json={
        "settings": {"number_of_shards": 6, "number_of_replicas": 0}, "mappings": MAPPING}, timeout=60)
    assert r.status_code == 200, r.text
    lines = []
    for i, s in STORES.items():
        lines += [_json.dumps({"index": {"_index": "geo-cluster", "_id": i}}), _json.dumps(source(i, s))]
    r = requests.post(f"{url}/_bulk", data="\n".join(lines) + "\n", headers={"Content-Type": "application/x-ndjson"}, timeout=300)
    assert r.status_code == 200 and not r.json()["errors"], r.text[:500]
    assert requests.post(f"{url}/geo-cluster/_refresh", timeout=60).status_code == 200
    center = (52.3676, 4.9041)
    want_ids, edge = within(center, 300_000)
    want_cells = grid_expected(lambda lat, lon: geohash(lat, lon, 3), STORES.values())
    pts = [p for s in STORES.values() for p in s["points"]]
    for node in cluster.nodes:
        body = {"size": 2000, "_source": False,
                "query": {"geo_distance": {"distance": "300km", "location": [center[1], center[0]]}},
                "sort": [{"_geo_distance": {"location": [center[1], center[0]], "unit": "km"}}],
                "aggs": {"g": {"geohash_grid": {"field": "location", "precision": 3}},
                         "c": {"geo_centroid": {"field": "location"}},
                         "b": {"geo_bounds": {"field": "location"}}}}
        resp = requests.post(f"{node.url}/geo-cluster/_search", json=body, timeout=60).json()
        got = {h["_id"] for h in resp["hits"]["hits"]}
        assert got - edge == want_ids - edge
        values = [h["sort"][0] for h in resp["hits"]["hits"]]
        assert values == sorted(values)
        # The aggregations run over the query's documents.
        inside = [STORES[i] for i in got]
        assert {b["key"]: b["doc_count"] for b in resp["aggregations"]["g"]["buckets"]} == grid_expected(
            lambda lat, lon: geohash(lat, lon, 3), inside)
        in_pts = [p for s in inside for p in s["points"]]
        assert resp["aggregations"]["c"]["count"] == len(in_pts)
        assert resp["aggregations"]["b"]["bounds"]["top_left"]["lat"] == pytest.approx(max(p[0] for p in in_pts), abs=1e-6)
        everything = requests.post(f"{node.url}/geo-cluster/_search", json={"size": 0, "aggs": {
            "g": {"geohash_grid": {"field": "location", "precision": 3}}, "c": {"geo_centroid": {"field": "location"}}}},
            timeout=60).json()["aggregations"]
        assert {b["key"]: b["doc_count"] for b in everything["g"]["buckets"]} == want_cells
        assert everything["c"]["location"]["lat"] == pytest.approx(sum(p[0] for p in pts) / len(pts), abs=1e-6)


def test_distance_feature_scores_pivot_over_pivot_plus_distance(stores):
    origin = (48.2082, 16.3738)
    resp = stores.search(index="geo-one", body={"size": 20, "query": {"bool": {
        "filter": [{"term": {"city": "Vienna"}}],
        "should": [{"distance_feature": {"field": "location", "origin": [origin[1], origin[0]], "pivot": "10km", "boost": 2.0}}]}}})
    hits = resp["hits"]["hits"]
    assert len(hits) == 20
    for h in hits:
        nearest = min(haversine(*origin, *p) for p in STORES[h["_id"]]["points"])
        assert h["_score"] == pytest.approx(2.0 * 10_000 / (10_000 + nearest), rel=1e-5)
    scores = [h["_score"] for h in hits]
    assert scores == sorted(scores, reverse=True)
