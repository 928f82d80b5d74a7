"""The example UDFs in examples/udfs/, end to end against a real server.

Every example is built from source (examples/udfs/build-all.sh and `quidditch udf build`),
uploaded with `quidditch udf push`, run with `quidditch udf test`, and used in a search. The
expected results are computed here, independently of the UDFs (haversine and Levenshtein in
Python), and compared with what the server answers.

The searches use the `wasm_udf` query clause and `script_score` with `"lang": "wasm"`: until
the server understands them (it answers with a parsing error) those tests skip.
"""
import json
import math
import os
import subprocess
from pathlib import Path

import pytest

from conftest import REPO, levenshtein, quidditch_bin, sh_blocks

EXAMPLES = REPO / "examples" / "udfs"

# WASI preview 1 functions a UDF may import without extra permissions (see the runtime's
# permissions.rs); a Rust std guest imports some of these, C and WAT guests none.
WASI_ALLOWED = {
    "fd_write", "proc_exit", "sched_yield", "fd_close", "fd_seek", "fd_fdstat_get",
    "fd_prestat_get", "fd_prestat_dir_name", "environ_get", "environ_sizes_get",
    "args_get", "args_sizes_get",
}


# ---------------------------------------------------------------- independent reference code

def haversine_km(lat1, lon1, lat2, lon2):
    r = 6371.0
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = math.radians(lat2 - lat1), math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * r * math.asin(math.sqrt(min(1.0, a)))


def wasm_imports_exports(data: bytes):
    """(imports as (module, name), export names) of a core module, parsed from the binary."""
    assert data[:4] == b"\0asm", "not a wasm binary"

    def leb(i):
        result = shift = 0
        while True:
            byte = data[i]
            i += 1
            result |= (byte & 0x7F) << shift
            shift += 7
            if byte < 0x80:
                return result, i

    def name(i):
        n, i = leb(i)
        return data[i:i + n].decode(), i + n

    def limits(i):
        flags, i = leb(i)
        _, i = leb(i)
        if flags & 1:
            _, i = leb(i)
        return i

    imports, exports = [], []
    i = 8
    while i < len(data):
        section = data[i]
        size, i = leb(i + 1)
        end = i + size
        if section == 2:
            count, j = leb(i)
            for _ in range(count):
                module, j = name(j)
                field, j = name(j)
                kind = data[j]
                j += 1
                if kind == 0:  # func: type index
                    _, j = leb(j)
                elif kind == 1:  # table: reftype + limits
                    j = limits(j + 1)
                elif kind == 2:  # memory: limits
                    j = limits(j)
                elif kind == 3:  # global: valtype + mutability
                    j += 2
                imports.append((module, field))
        elif section == 7:
            count, j = leb(i)
            for _ in range(count):
                field, j = name(j)
                j += 1
                _, j = leb(j)
                exports.append(field)
        i = end
    return imports, exports


# ---------------------------------------------------------------- fixtures and helpers

def build_env():
    # Guest builds use $QUIDDITCH_WASM_TARGET_DIR when set (scripts/env.sh), else each
    # example's own target dir.
    return {**os.environ, "QUIDDITCH_BIN": quidditch_bin()}


@pytest.fixture(scope="module")
def built():
    """Builds every example with build-all.sh; returns {example: wasm path}."""
    proc = subprocess.run(
        [str(EXAMPLES / "build-all.sh")], capture_output=True, text=True, env=build_env(), timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr
    paths = [Path(line) for line in proc.stdout.split()]
    by_example = {p.parent.parent.name: p for p in paths}
    assert set(by_example) == {"string-distance", "geo-filter", "custom-score"}, proc.stdout
    return by_example


@pytest.fixture(scope="module")
def srv(server_factory):
    """A server of its own, so the examples' names (as in their READMEs) are free."""
    return server_factory()


@pytest.fixture(scope="module")
def srv_client(srv):
    return srv.client()


def cli(srv, *args, check=True, timeout=600):
    proc = subprocess.run(
        [quidditch_bin(), "udf", "--server", srv.url, *args],
        capture_output=True, text=True, env=build_env(), timeout=timeout,
    )
    if check:
        assert proc.returncode == 0, f"exit {proc.returncode}\nstdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc


def cli_json(srv, *args):
    return json.loads(cli(srv, "--json", *args).stdout)


def udf_result(answer: dict, export: str):
    """The value a `udf test` answer (`{"result": {"filter": …, "score": …}, "logs": …}`)
    reports for `filter` or `score`."""
    assert export in answer.get("result", {}), answer
    return answer["result"][export]


def run_test(srv, name, doc, params, export="filter", score=None):
    args = ["test", name, "--doc", json.dumps(doc), "--params", json.dumps(params)]
    if score is not None:
        args += ["--score", str(score)]
    return udf_result(cli_json(srv, *args), export)


def pushed(srv, example, **flags):
    """Pushes an example directory with its udf.json; returns the server's metadata."""
    args = ["push", str(EXAMPLES / example)]
    for k, v in flags.items():
        args += [f"--{k.replace('_', '-')}", v]
    return cli_json(srv, *args)


def index_docs(client, index, mappings, docs):
    client.indices.create(index=index, body={"mappings": {"properties": mappings}})
    for i, d in enumerate(docs):
        client.index(index=index, id=str(i), body=d)
    client.indices.refresh(index=index)


# ---------------------------------------------------------------- build

def test_build_all_produces_core_modules_with_only_allowed_imports(built):
    for example, path in built.items():
        imports, exports = wasm_imports_exports(path.read_bytes())
        assert "memory" in exports
        assert "filter" in exports, example
        for module, field in imports:
            assert module == "env" or (module == "wasi_snapshot_preview1" and field in WASI_ALLOWED), (example, module, field)
    # C and WAT guests import nothing but the host's `env` functions.
    for example in ("geo-filter", "custom-score"):
        imports, _ = wasm_imports_exports(built[example].read_bytes())
        assert {m for m, _ in imports} == {"env"}
    _, exports = wasm_imports_exports(built["custom-score"].read_bytes())
    assert "score" in exports


@pytest.mark.parametrize("example,language", [
    ("string-distance", "rust"), ("geo-filter", "c"), ("custom-score", "wat"),
])
def test_udf_build_detects_the_language(tmp_path, example, language):
    out = tmp_path / f"{example}.wasm"
    proc = subprocess.run(
        [quidditch_bin(), "udf", "--json", "build", str(EXAMPLES / example), "--out", str(out)],
        capture_output=True, text=True, env=build_env(), timeout=1200,
    )
    assert proc.returncode == 0, proc.stderr
    report = json.loads(proc.stdout)
    assert report["language"] == language
    data = out.read_bytes()
    assert report["size_bytes"] == len(data)
    import hashlib
    assert report["sha256"] == hashlib.sha256(data).hexdigest()
    _, exports = wasm_imports_exports(data)
    assert "filter" in exports


# ---------------------------------------------------------------- string-distance (Rust SDK)

NAMES = ["quidditch", "quiditch", "quidditches", "kidditch", "cricket", "Quidditch", "quidditch!", "", "qu"]


def test_string_distance_push_and_test(srv, built):
    udf = pushed(srv, "string-distance")
    assert udf["name"] == "string_distance" and udf["version"] == "1.0.0"
    for name in NAMES:
        for max_distance in (None, 0, 1, 3):
            params = {"target": "quidditch"}
            if max_distance is not None:
                params["max_distance"] = max_distance
            expected = levenshtein(name, "quidditch") <= (2 if max_distance is None else max_distance)
            got = run_test(srv, "string_distance", {"name": name}, params)
            assert bool(got) is expected, (name, max_distance)
    # `field` picks another field; a document without it is excluded.
    assert run_test(srv, "string_distance", {"title": "quidich"}, {"target": "quidditch", "field": "title"})
    assert not run_test(srv, "string_distance", {"name": "quidditch"}, {"target": "quidditch", "field": "title"})


def test_string_distance_in_search(srv, built, srv_client):
    client = srv_client
    pushed_ok = cli(srv, "--json", "show", "string_distance", check=False).returncode == 0
    if not pushed_ok:
        pushed(srv, "string-distance")
    docs = [{"name": n, "n": i} for i, n in enumerate(NAMES)]
    index_docs(client, "ex-strings", {"name": {"type": "keyword"}, "n": {"type": "long"}}, docs)
    body = {"size": 100, "query": {"wasm_udf": {"name": "string_distance", "params": {"target": "quidditch", "max_distance": 1}}}}
    res = client.search(index="ex-strings", body=body)
    got = sorted(h["_source"]["name"] for h in res["hits"]["hits"])
    expected = sorted(n for n in NAMES if levenshtein(n, "quidditch") <= 1)
    assert got == expected
    assert res["hits"]["total"]["value"] == len(expected)


# ---------------------------------------------------------------- geo-filter (C)

PARIS = (48.8566, 2.3522)
PLACES = [
    ("Notre-Dame", 48.8530, 2.3499),
    ("Versailles", 48.8049, 2.1204),
    ("La Défense", 48.8918, 2.2362),
    ("Orly", 48.7262, 2.3652),
    ("Lyon", 45.7640, 4.8357),
    ("Sydney", -33.8688, 151.2093),
    ("bad latitude", 95.0, 2.35),
    ("bad longitude", 48.85, 190.0),
]


def test_geo_filter_push_and_test(srv, built):
    pushed(srv, "geo-filter")
    for max_km in (None, 5.0, 15.0, 500.0):
        params = {"target_lat": PARIS[0], "target_lon": PARIS[1]}
        if max_km is not None:
            params["max_distance_km"] = max_km
        limit = 10.0 if max_km is None else max_km
        for name, lat, lon in PLACES:
            in_range = -90 <= lat <= 90 and -180 <= lon <= 180
            expected = in_range and haversine_km(lat, lon, *PARIS) <= limit
            got = run_test(srv, "geo_filter", {"latitude": lat, "longitude": lon}, params)
            assert bool(got) is expected, (name, max_km, haversine_km(lat, lon, *PARIS))
    # Other field names, and a document without coordinates.
    params = {"target_lat": PARIS[0], "target_lon": PARIS[1], "lat_field": "loc.lat", "lon_field": "loc.lon"}
    assert run_test(srv, "geo_filter", {"loc": {"lat": 48.853, "lon": 2.3499}}, params)
    assert not run_test(srv, "geo_filter", {"name": "nowhere"}, {"target_lat": 0.0, "target_lon": 0.0})


def test_geo_filter_in_search(srv, built, srv_client):
    client = srv_client
    if cli(srv, "show", "geo_filter", check=False).returncode != 0:
        pushed(srv, "geo-filter")
    docs = [{"name": n, "latitude": lat, "longitude": lon} for n, lat, lon in PLACES]
    index_docs(client, "ex-places", {"name": {"type": "keyword"}, "latitude": {"type": "double"}, "longitude": {"type": "double"}}, docs)
    for max_km in (10.0, 30.0, 1000.0):
        body = {"size": 100, "query": {"wasm_udf": {"name": "geo_filter", "params": {
            "target_lat": PARIS[0], "target_lon": PARIS[1], "max_distance_km": max_km}}}}
        res = client.search(index="ex-places", body=body)
        got = sorted(h["_source"]["name"] for h in res["hits"]["hits"])
        expected = sorted(n for n, lat, lon in PLACES
                          if -90 <= lat <= 90 and -180 <= lon <= 180 and haversine_km(lat, lon, *PARIS) <= max_km)
        assert got == expected, max_km


# ---------------------------------------------------------------- custom-score (WAT)

def test_custom_score_push_and_test(srv, built):
    pushed(srv, "custom-score")
    for base in (0.2, 0.5, 1.0, 3.25):
        for boost in (None, 0.5, 2.0):
            params = {} if boost is None else {"boost": boost}
            b = 1.0 if boost is None else boost
            answer = cli_json(srv, "test", "custom_score", "--doc", json.dumps({"x": 1}),
                              "--params", json.dumps(params), "--score", str(base))
            assert udf_result(answer, "score") == pytest.approx(base * b)
            assert bool(udf_result(answer, "filter")) is (base * b >= 0.5)
    answer = cli_json(srv, "test", "custom_score", "--doc", "{}", "--params", json.dumps({"min_score": 2.0}), "--score", "1.5")
    assert udf_result(answer, "filter") in (False, 0)


def test_custom_score_in_search(srv, built, srv_client):
    client = srv_client
    if cli(srv, "show", "custom_score", check=False).returncode != 0:
        pushed(srv, "custom-score")
    docs = [{"title": t} for t in ["red fox", "red red fox", "blue fox", "red red red fox jumps", "green"]]
    index_docs(client, "ex-scores", {"title": {"type": "text"}}, docs)
    match = {"match": {"title": "red"}}
    plain = client.search(index="ex-scores", body={"size": 100, "query": match})
    base = {h["_id"]: h["_score"] for h in plain["hits"]["hits"]}
    body = {"size": 100, "query": {"script_score": {"query": match, "script": {
        "lang": "wasm", "source": "custom_score", "params": {"boost": 3.0}}}}}
    res = client.search(index="ex-scores", body=body)
    got = {h["_id"]: h["_score"] for h in res["hits"]["hits"]}
    assert set(got) == set(base)
    for doc_id, s in got.items():
        assert s == pytest.approx(base[doc_id] * 3.0, rel=1e-5)
    ordered = [h["_id"] for h in res["hits"]["hits"]]
    assert ordered == sorted(got, key=lambda i: -got[i])


# ---------------------------------------------------------------- the READMEs, as pasted

def run_readme(server, example, tmp_path):
    script = sh_blocks((EXAMPLES / example / "README.md").read_text())
    assert "quidditch udf push" in script and "_search" in script
    # The README talks to localhost:9200; this test's server listens elsewhere.
    script = script.replace("http://localhost:9200", server.url)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "quidditch").symlink_to(quidditch_bin())
    env = {**build_env(), "QUIDDITCH_URL": server.url, "PATH": f"{bindir}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
    return proc.stdout


def last_json(stdout: str) -> dict:
    """The search response: the last line of output that is a JSON object."""
    start = stdout.rindex('{"')
    # The search answer is printed last; walk back to the start of its top-level object.
    for i in range(start, -1, -1):
        if stdout[i] == "{":
            try:
                return json.loads(stdout[i:])
            except json.JSONDecodeError:
                continue
    raise AssertionError(stdout)


def hits_or_skip(response: dict, clause: str):
    err = response.get("error")
    if isinstance(err, dict):
        raise AssertionError(response)
    return response["hits"]["hits"]


def test_string_distance_readme(server_factory, tmp_path):
    out = run_readme(server_factory(), "string-distance", tmp_path)
    assert "string_distance@1.0.0: filter = true" in out
    hits = hits_or_skip(last_json(out), "wasm_udf")
    names = sorted(h["_source"]["name"] for h in hits)
    expected = sorted(s for s in ["quidditch", "quiditch", "quadball", "cricket", "kwidditch"]
                      if levenshtein(s, "quidditch") <= 2)
    assert names == expected


def test_geo_filter_readme(server_factory, tmp_path):
    out = run_readme(server_factory(), "geo-filter", tmp_path)
    assert "geo_filter@1.0.0: filter = true" in out
    hits = hits_or_skip(last_json(out), "wasm_udf")
    places = {"Notre-Dame": (48.8530, 2.3499), "Versailles": (48.8049, 2.1204), "Lyon": (45.7640, 4.8357)}
    expected = sorted(n for n, (lat, lon) in places.items() if haversine_km(lat, lon, *PARIS) <= 20)
    assert sorted(h["_source"]["name"] for h in hits) == expected


def test_custom_score_readme(server_factory, tmp_path):
    server = server_factory()
    out = run_readme(server, "custom-score", tmp_path)
    assert "custom_score@1.0.0: filter = true, score = 1.2" in out
    hits = hits_or_skip(last_json(out), "script_score")
    plain = server.client().search(index="articles", body={"query": {"match": {"title": "red"}}})
    base = {h["_id"]: h["_score"] for h in plain["hits"]["hits"]}
    assert {h["_id"]: h["_score"] for h in hits} == pytest.approx({k: v * 3.0 for k, v in base.items()}, rel=1e-5)


def test_udf_guide_quick_starts(server_factory, tmp_path):
    """docs/udf-guide.md's Rust and C quick starts, as pasted, in a fresh directory."""
    server = server_factory()
    script = sh_blocks((REPO / "docs" / "udf-guide.md").read_text())
    bindir = tmp_path / "bin"
    bindir.mkdir()
    (bindir / "quidditch").symlink_to(quidditch_bin())
    work = tmp_path / "work"
    work.mkdir()
    env = {**build_env(), "QUIDDITCH_URL": server.url, "QUIDDITCH_REPO": str(REPO),
           "PATH": f"{bindir}:{os.environ['PATH']}"}
    proc = subprocess.run(["bash", "-euo", "pipefail", "-c", script], cwd=work, env=env,
                          capture_output=True, text=True, timeout=1200)
    assert proc.returncode == 0, f"stdout: {proc.stdout}\nstderr: {proc.stderr}"
    lines = proc.stdout.splitlines()
    assert any(l.startswith("pushed cheap_products@1.0.0 (core") for l in lines), proc.stdout
    tests = [l for l in lines if l.startswith("cheap_products@1.0.0:")]
    assert [t.split(":")[1].split("(")[0].strip() for t in tests] == ["filter = true", "filter = false", "filter = false"]
    assert "  log [warn] document test has no price" in lines
    assert "test tests::cheap_in_stock ... ok" in proc.stdout
    assert any(l.startswith("pushed in_stock@1.0.0 (core") for l in lines)
    assert any(l.startswith("in_stock@1.0.0: filter = true") for l in lines)


def test_python_filter_example_via_cli(srv):
    """The Python example (examples/udfs/python-filter) through the CLI: a directory holding
    one .py file is pushed as source (name and version from its `# @udf:` lines) and compiled
    by the server, with a progress indicator."""
    p = cli(srv, "--json", "push", str(EXAMPLES / "python-filter"), check=False, timeout=1200)
    assert p.returncode == 0, p.stdout + p.stderr
    meta = json.loads(p.stdout)
    assert (meta["name"], meta["version"], meta["language"], meta["kind"]) == ("fuzzy_match", "1.0.0", "python", "component")
    assert "the server compiles it" in p.stderr and "done in" in p.stderr
    for title in ["Quidditch", "Quiditch", "kwidditch", "Quadball", "cricket"]:
        for threshold in (1, 2):
            expected = levenshtein(title.lower(), "quidditch") <= threshold
            got = run_test(srv, "fuzzy_match", {"title": title}, {"query": "quidditch", "threshold": threshold})
            assert got is expected, (title, threshold)
