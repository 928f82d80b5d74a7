"""`quidditch udf …` and `quidditch keygen` against a real server: exit codes, `--json` output,
human output, signing, and the progress indicator.

Exit codes (docs/udf-guide.md): 0 ok, 1 server/request error, 2 usage error, 3 build failed.
"""
import hashlib
import json
import socket
import subprocess

import pytest

from conftest import quidditch_bin

# Keeps documents whose `x` >= the `min` parameter; scores x * 2.
WAT = """
(module
  (import "env" "get_field_f64" (func $field (param i64 i32 i32 i32) (result i32)))
  (import "env" "get_param_f64" (func $param (param i32 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "x")
  (data (i32.const 8) "min")
  (func $x (param $ctx i64) (result f64)
    (if (result f64) (i32.eqz (call $field (local.get $ctx) (i32.const 0) (i32.const 1) (i32.const 64)))
      (then (f64.load (i32.const 64))) (else (f64.const -1))))
  (func (export "filter") (param $ctx i64) (result i32)
    (drop (call $param (i32.const 8) (i32.const 3) (i32.const 72)))
    (f64.ge (call $x (local.get $ctx)) (f64.load (i32.const 72))))
  (func (export "score") (param $ctx i64) (result f64)
    (f64.mul (call $x (local.get $ctx)) (f64.const 2))))
"""


@pytest.fixture(scope="module")
def server(server_factory):
    """A server of this module's own: the UDFs pushed here do not show up in other modules'
    listings, and theirs do not collide with these names."""
    return server_factory()


def run(*args, timeout=300):
    return subprocess.run([quidditch_bin(), *args], capture_output=True, text=True, timeout=timeout)


def udf(server, *args, **kw):
    return run("udf", "--server", server.url, *args, **kw)


@pytest.fixture()
def wat_file(tmp_path):
    p = tmp_path / "min_x.wat"
    p.write_text(WAT)
    return p


def free_port_url():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return f"http://127.0.0.1:{s.getsockname()[1]}"


def test_usage_errors_exit_2(server, tmp_path, wat_file):
    assert run("udf", "no-such-subcommand").returncode == 2
    assert udf(server, "build", str(tmp_path / "missing")).returncode == 2
    (tmp_path / "empty").mkdir()
    p = udf(server, "build", str(tmp_path / "empty"))
    assert p.returncode == 2 and "no UDF found" in p.stderr
    p = udf(server, "test", "whatever", "--doc", "{not json")
    assert p.returncode == 2 and "--doc" in p.stderr
    p = udf(server, "test", "whatever", "--params", "[1, 2]")
    assert p.returncode == 2
    # No name: neither --name nor a udf.json next to the file.
    p = udf(server, "push", str(wat_file), "--version", "1.0.0")
    assert p.returncode == 2 and "--name" in p.stderr
    p = udf(server, "push", str(wat_file), "--name", "x", "--version", "1.0.0", "--param", "bad-spec")
    assert p.returncode == 2 and "NAME:TYPE" in p.stderr


def test_usage_error_json_shape(server, tmp_path):
    p = udf(server, "--json", "build", str(tmp_path / "missing"))
    assert p.returncode == 2
    body = json.loads(p.stdout)
    assert body["error"]["type"] == "usage_error" and body["exit_code"] == 2


def test_build_failure_exits_3(server, tmp_path):
    bad = tmp_path / "broken.wat"
    bad.write_text("(module (func $f (result i32) (i32.const 1)")  # unbalanced: a syntax error
    p = udf(server, "--json", "build", str(bad))
    assert p.returncode == 3
    assert json.loads(p.stdout)["error"]["type"] == "build_error"


def test_unreachable_server_exits_1():
    p = run("udf", "--server", free_port_url(), "--json", "list")
    assert p.returncode == 1
    assert json.loads(p.stdout)["error"]["type"] == "connection_error"
    assert "cannot reach the server" in p.stderr


def test_push_test_list_versions_stats_rm_round_trip(server, wat_file):
    name = "cli_min_x"
    p = udf(server, "--json", "push", str(wat_file), "--name", name, "--version", "1.0.0",
            "--param", "min:f64=10", "--description", "x at least min")
    assert p.returncode == 0, p.stderr
    meta = json.loads(p.stdout)
    wasm = json.loads(udf(server, "--json", "build", str(wat_file), "--out", str(wat_file.with_suffix(".wasm"))).stdout)
    assert meta["sha256"] == wasm["sha256"] == hashlib.sha256(wat_file.with_suffix(".wasm").read_bytes()).hexdigest()
    assert meta["name"] == name and meta["version"] == "1.0.0" and meta["language"] == "wat"
    decl = {p["name"]: p for p in meta["parameters"]}["min"]
    assert decl["type"] == "f64" and decl["default"] == 10
    # The progress indicator reports the upload on stderr (not a terminal here: plain lines).
    assert "uploading" in p.stderr and "done in" in p.stderr

    # Same version again: the server answers 409, the CLI exits 1 with the server's error body.
    p = udf(server, "--json", "push", str(wat_file), "--name", name, "--version", "1.0.0")
    assert p.returncode == 1
    assert json.loads(p.stdout)["status"] == 409
    p = udf(server, "push", str(wat_file), "--name", name, "--version", "1.1.0", "--param", "min:f64=10")
    assert p.returncode == 0 and f"pushed {name}@1.1.0" in p.stdout

    # test: default parameter, explicit parameter, both versions.
    def result(*args):
        p = udf(server, "--json", "test", name, *args)
        assert p.returncode == 0, p.stderr
        return json.loads(p.stdout)["result"]["filter"]
    assert result("--doc", '{"x": 12}') is True
    assert result("--doc", '{"x": 9}') is False
    assert result("--doc", '{"x": 9}', "--params", '{"min": 5}') is True
    assert result("--doc", '{"x": 9}', "--params", '{"min": 5}', "--version", "1.0.0") is True
    p = udf(server, "test", name, "--doc", '{"x": 12}')
    assert p.returncode == 0 and p.stdout.startswith(f"{name}@1.1.0: filter = true")

    listed = json.loads(udf(server, "--json", "list").stdout)
    items = listed if isinstance(listed, list) else next(v for v in listed.values() if isinstance(v, list))
    assert name in [u["name"] for u in items]
    human = udf(server, "list").stdout
    assert human.splitlines()[0].split()[:2] == ["NAME", "VERSION"] and name in human

    versions = json.loads(udf(server, "--json", "versions", name).stdout)
    assert versions["name"] == name
    # Newest first; both versions are the same module, so the same hash and declared parameter.
    assert [v["version"] for v in versions["versions"]] == ["1.1.0", "1.0.0"]
    assert {v["sha256"] for v in versions["versions"]} == {meta["sha256"]}
    assert all({q["name"]: q for q in v["parameters"]}["min"]["default"] == 10 for v in versions["versions"])

    # Tests run above: four on 1.1.0 (three --json, one human), one on 1.0.0; none failed. The
    # module exports both `filter` and `score`, and a test runs every export: two calls each.
    stats = udf(server, "--json", "stats", name)
    assert stats.returncode == 0, stats.stderr
    per_version = json.loads(stats.stdout)["versions"]
    exports = 2
    assert {v: (s["calls"], s["errors"]) for v, s in per_version.items()} == {"1.1.0": (4 * exports, 0), "1.0.0": (1 * exports, 0)}

    assert udf(server, "rm", name, "1.0.0").returncode == 0
    p = udf(server, "--json", "rm", name, "1.0.0")
    assert p.returncode == 1 and json.loads(p.stdout)["status"] == 404
    left = json.loads(udf(server, "--json", "versions", name).stdout)
    assert [v["version"] for v in left["versions"]] == ["1.1.0"]


def test_unknown_udf_exits_1(server):
    p = udf(server, "--json", "test", "no_such_udf_anywhere", "--doc", "{}")
    assert p.returncode == 1
    body = json.loads(p.stdout)
    assert body["status"] == 404 and "error" in body
    assert udf(server, "stats", "no_such_udf_anywhere").returncode == 1


def test_keygen_and_signed_push(tmp_path, server_factory, wat_file):
    key = tmp_path / "signing"
    p = run("keygen", "--out", str(key), "--json")
    assert p.returncode == 0, p.stderr
    out = json.loads(p.stdout)
    public = (tmp_path / "signing.pub").read_text().strip()
    assert out["public_key"] == public and len(public) == 64 and int(public, 16) >= 0
    assert (key.stat().st_mode & 0o777) == 0o600
    # Refuses to overwrite a key without --force.
    assert run("keygen", "--out", str(key)).returncode == 2
    other = tmp_path / "other"
    assert run("keygen", "--out", str(other)).returncode == 0

    strict = server_factory(config={"udf": {"require_signed": True, "trusted_keys": [public]}})
    p = udf(strict, "--json", "push", str(wat_file), "--name", "signed_udf", "--version", "1.0.0", "--sign", str(key))
    assert p.returncode == 0, p.stderr
    meta = json.loads(p.stdout)
    assert meta["signed"] is True
    # Unsigned, and signed with an untrusted key: 403, exit 1.
    for extra in ([], ["--sign", str(other)]):
        p = udf(strict, "--json", "push", str(wat_file), "--name", "signed_udf", "--version", "2.0.0", *extra)
        assert p.returncode == 1, p.stdout
        assert json.loads(p.stdout)["status"] == 403
    # A key file that is not a key: usage error before anything is sent.
    junk = tmp_path / "junk"
    junk.write_text("hello")
    p = udf(strict, "push", str(wat_file), "--name", "signed_udf", "--version", "3.0.0", "--sign", str(junk))
    assert p.returncode == 2


PY_UDF = '''
# @udf: name=py_cheap
# @udf: version=1.0.0
def filter(doc, min_price: int = 10) -> bool:
    return doc["price"] >= min_price
'''


def test_build_checks_python_source(server, tmp_path):
    good = tmp_path / "cheap.py"
    good.write_text(PY_UDF)
    p = udf(server, "--json", "build", str(good))
    assert p.returncode == 0, p.stderr
    report = json.loads(p.stdout)
    assert report["language"] == "python" and report["compiled_by"] == "server"
    # What the server will read from the source, read the same way before uploading.
    assert report["metadata"]["exports"] == ["filter"]
    assert report["metadata"]["parameters"] == [{"name": "min_price", "type": "i64", "default": 10, "required": False}]
    p = udf(server, "build", str(good))
    assert p.returncode == 0 and "filter(min_price: i64 = 10)" in p.stdout
    # Neither filter nor score, and a syntax error: the build fails (3) with the reason.
    bad = tmp_path / "nothing.py"
    bad.write_text("x = 1\n")
    p = udf(server, "build", str(bad))
    assert p.returncode == 3 and "def filter" in p.stderr
    broken = tmp_path / "broken.py"
    broken.write_text("def filter(doc:\n    pass\n")
    p = udf(server, "build", str(broken))
    assert p.returncode == 3 and "line 2" in p.stderr


def test_python_push_compiles_on_the_server_with_progress(server, tmp_path):
    src = tmp_path / "cheap.py"
    src.write_text(PY_UDF)
    # Name and version come from the source's `# @udf:` directive.
    p = udf(server, "--json", "push", str(src), timeout=1200)
    assert p.returncode == 0, p.stdout + p.stderr
    assert "Python source: the server compiles it" in p.stderr and "done in" in p.stderr
    meta = json.loads(p.stdout)
    assert meta["name"] == "py_cheap" and meta["language"] == "python"
    for price, keep in ((12, True), (5, False)):
        t = udf(server, "--json", "test", "py_cheap", "--doc", json.dumps({"price": price}))
        assert t.returncode == 0, t.stdout
        assert json.loads(t.stdout)["result"]["filter"] is keep


# Logs, then traps (unreachable) when the document has `boom`.
TRAP_WAT = """
(module
  (import "env" "log" (func $log (param i32 i32 i32)))
  (import "env" "has_field" (func $has (param i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (data (i32.const 0) "boom")
  (data (i32.const 16) "about to fail")
  (func (export "filter") (param $ctx i64) (result i32)
    (call $log (i32.const 2) (i32.const 16) (i32.const 13))
    (if (call $has (local.get $ctx) (i32.const 0) (i32.const 4)) (then unreachable))
    (i32.const 1)))
"""


def test_failing_udf_test_exits_1_with_logs(server, tmp_path):
    wat = tmp_path / "trap.wat"
    wat.write_text(TRAP_WAT)
    assert udf(server, "push", str(wat), "--name", "cli_trap", "--version", "1.0.0").returncode == 0
    ok = udf(server, "test", "cli_trap", "--doc", "{}")
    assert ok.returncode == 0 and "filter = true" in ok.stdout and "log [warn] about to fail" in ok.stdout
    p = udf(server, "test", "cli_trap", "--doc", '{"boom": 1}')
    assert p.returncode == 1
    assert "server answered 422" in p.stderr and "cli_trap" in p.stderr
    assert "log [warn] about to fail" in p.stderr
    p = udf(server, "--json", "test", "cli_trap", "--doc", '{"boom": 1}')
    body = json.loads(p.stdout)
    assert p.returncode == 1 and body["status"] == 422 and body["logs"][0]["message"] == "about to fail"
