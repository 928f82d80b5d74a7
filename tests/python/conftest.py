"""Starts the real `quidditch` binary on a free port with a temporary data dir.

Fixtures:
  server       -- a session-wide server (url, data_dir, process)
  client       -- opensearch-py client for `server`
  http         -- requests.Session bound to `server.url` (for non-OpenSearch APIs)
  server_factory -- start extra servers (restart, crash, config tests); all stopped at the end
  etcd_factory   -- start a real etcd on free ports with a temporary data dir
  cluster_factory -- start N `serve --etcd` nodes (in parallel) on an etcd
"""
import json
import os
import re
import shutil
import signal
import subprocess
import tempfile
import threading
import time
from pathlib import Path

import pytest
import requests
from opensearchpy import OpenSearch

REPO = Path(__file__).resolve().parents[2]


def quidditch_bin() -> str:
    env = os.environ.get("QUIDDITCH_BIN")
    if env:
        return env
    target = os.environ.get("CARGO_TARGET_DIR") or str(REPO / "target")
    return str(Path(target) / "release" / "quidditch")


def sh_blocks(markdown: str) -> str:
    """The ```sh code blocks of a README, in order (```text blocks are not run)."""
    blocks, current = [], None
    for line in markdown.splitlines():
        if current is None and line.strip() == "```sh":
            current = []
        elif current is not None and line.strip() == "```":
            blocks.append("\n".join(current))
            current = None
        elif current is not None:
            current.append(line)
    return "\n".join(blocks)


def levenshtein(a: str, b: str) -> int:
    """Reference edit distance, computed independently of the UDFs under test."""
    prev = list(range(len(b) + 1))
    for i, ca in enumerate(a, 1):
        cur = [i]
        for j, cb in enumerate(b, 1):
            cur.append(min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + (ca != cb)))
        prev = cur
    return prev[-1]


class Server:
    def __init__(self, data_dir: Path, config: dict | None = None, extra_args=()):
        self.data_dir = Path(data_dir)
        self.config = config
        self.extra_args = list(extra_args)
        self.proc = None
        self.url = None
        self.log_lines = []

    def start(self, timeout=60.0):
        self.launch()
        return self.wait_started(timeout)

    def launch(self):
        """Starts the process without waiting for it to listen (servers launched together start
        in parallel; `wait_started` then waits for each)."""
        args = [quidditch_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(self.data_dir)]
        if self.config is not None:
            cfg = self.data_dir.parent / f"{self.data_dir.name}-config.json"
            cfg.write_text(json.dumps(self.config))
            args += ["--config", str(cfg)]
        args += self.extra_args
        self.log_lines = []
        self.proc = subprocess.Popen(
            args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, cwd=REPO,
            env={**os.environ, "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ.get('PATH', '')}"},
        )
        self._found = found = threading.Event()

        def pump():
            for line in self.proc.stderr:
                self.log_lines.append(line)
                m = re.search(r"quidditch listening on (https?://[0-9.:]+)", line)
                if m and not found.is_set():
                    self.url = m.group(1)
                    found.set()

        threading.Thread(target=pump, daemon=True).start()
        return self

    def wait_started(self, timeout=60.0):
        found = self._found
        deadline = time.time() + timeout
        while not found.is_set():
            if self.proc.poll() is not None:
                time.sleep(0.2)
                raise RuntimeError("server exited at start:\n" + "".join(self.log_lines))
            if time.time() > deadline:
                self.kill()
                raise RuntimeError("server did not start:\n" + "".join(self.log_lines))
            found.wait(0.05)
        return self

    def log(self) -> str:
        return "".join(self.log_lines)

    def stop(self):
        """Clean shutdown (SIGTERM) and wait."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def kill(self):
        """kill -9: no chance to flush anything."""
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self):
        self.stop()
        return self.start()

    def client(self, **kw) -> OpenSearch:
        return OpenSearch(hosts=[self.url], timeout=120, **kw)


@pytest.fixture(scope="session", autouse=True)
def shared_python_runtime(tmp_path_factory):
    """Every server of the session keeps the shared Python runtime in one directory, so it is
    built once per session (componentize-py), as once per machine in production."""
    if not os.environ.get("QUIDDITCH_PYTHON_RUNTIME_DIR"):
        os.environ["QUIDDITCH_PYTHON_RUNTIME_DIR"] = str(tmp_path_factory.mktemp("python-runtime"))
    return Path(os.environ["QUIDDITCH_PYTHON_RUNTIME_DIR"])


@pytest.fixture(scope="session")
def server_factory(tmp_path_factory, shared_python_runtime):
    started = []

    def make(config=None, extra_args=(), data_dir=None) -> Server:
        d = data_dir or (tmp_path_factory.mktemp("srv") / "data")
        s = Server(d, config=config, extra_args=extra_args).start()
        started.append(s)
        return s

    yield make
    for s in started:
        s.kill()


@pytest.fixture(scope="session")
def server(server_factory) -> Server:
    return server_factory()


@pytest.fixture(scope="session")
def client(server) -> OpenSearch:
    return server.client()


@pytest.fixture()
def http(server):
    s = requests.Session()
    base = server.url

    class Bound:
        url = base

        def __getattr__(self, method):
            fn = getattr(s, method)
            return lambda path, **kw: fn(base + path, timeout=kw.pop("timeout", 120), **kw)

    return Bound()


@pytest.fixture(scope="session")
def etcd_factory(tmp_path_factory):
    from cluster_helpers import Etcd

    started = []

    def make():
        e = Etcd(tmp_path_factory.mktemp("etcd") / "data").start()
        started.append(e)
        return e

    yield make
    for e in started:
        e.stop()


@pytest.fixture(scope="module")
def etcd(etcd_factory):
    """One etcd per test module."""
    return etcd_factory()


@pytest.fixture(scope="module")
def cluster(etcd, cluster_factory):
    """Three nodes of one cluster on the module's etcd, all members."""
    c = cluster_factory(etcd, 3)
    c.wait_for_nodes(3)
    return c


@pytest.fixture(scope="session")
def cluster_factory(tmp_path_factory, shared_python_runtime):
    """`make(etcd, n)` starts nodes `node-1` … `node-n` of a fresh cluster (its own name, so
    clusters of one session share an etcd without seeing each other)."""
    from cluster_helpers import Cluster, node_args

    started = []
    counter = iter(range(1, 1_000_000))

    def make(etcd, n=3, config=None, extra_args=()) -> Cluster:
        name = f"test-cluster-{next(counter)}"
        base = tmp_path_factory.mktemp(name)
        nodes = [
            Server(base / f"node-{i}", config=config, extra_args=[*node_args(etcd.url, name, f"node-{i}"), *extra_args])
            for i in range(1, n + 1)
        ]
        for node in nodes:
            node.launch()
            started.append(node)
        for node in nodes:
            node.wait_started()
        return Cluster(etcd, name, nodes)

    yield make
    for s in started:
        s.kill()
