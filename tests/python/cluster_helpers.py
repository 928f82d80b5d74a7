"""A real etcd (Debian's `etcd` binary) on free loopback ports, and clusters of real
`quidditch serve --etcd ...` nodes on it. Used through conftest's `etcd_factory` and
`cluster_factory` fixtures."""
import os
import shutil
import socket
import subprocess
import time
from pathlib import Path

import requests


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def etcd_bin() -> str:
    found = os.environ.get("QUIDDITCH_ETCD") or shutil.which("etcd")
    if not found:
        raise RuntimeError("etcd is not installed: run scripts/setup.sh (Debian package etcd-server)")
    return found


class Etcd:
    """One etcd member with its data in a temporary directory."""

    def __init__(self, data_dir: Path):
        self.data_dir = Path(data_dir)
        self.proc = None
        self.client_port = None
        self.peer_port = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.client_port}"

    def start(self, timeout=30.0):
        if self.client_port is None:
            self.client_port, self.peer_port = free_port(), free_port()
        peer = f"http://127.0.0.1:{self.peer_port}"
        self.log_path = self.data_dir.parent / f"{self.data_dir.name}.log"
        log = open(self.log_path, "a")
        self.proc = subprocess.Popen(
            [
                etcd_bin(), "--name", "quidditch-test", "--data-dir", str(self.data_dir),
                "--listen-client-urls", self.url, "--advertise-client-urls", self.url,
                "--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
                "--initial-cluster", f"quidditch-test={peer}",
            ],
            stdout=log, stderr=subprocess.STDOUT,
        )
        deadline = time.time() + timeout
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError("etcd exited at start:\n" + self.log_path.read_text())
            try:
                if requests.get(self.url + "/health", timeout=1).json().get("health") == "true":
                    return self
            except requests.RequestException:
                pass
            if time.time() > deadline:
                self.stop()
                raise RuntimeError("etcd did not become healthy:\n" + self.log_path.read_text())
            time.sleep(0.1)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Cluster:
    """N nodes of one cluster; `nodes[i]` is a conftest `Server`."""

    def __init__(self, etcd: Etcd, name: str, nodes):
        self.etcd = etcd
        self.name = name
        self.nodes = nodes

    def urls(self):
        return [n.url for n in self.nodes]

    def restart(self):
        """Stops every node and etcd, starts them again (nodes in parallel), and waits until
        every node sees all the others."""
        for n in self.nodes:
            n.stop()
        self.etcd.stop()
        self.etcd.start()
        for n in self.nodes:
            n.launch()
        for n in self.nodes:
            n.wait_started()
        self.wait_for_nodes(len(self.nodes))

    def wait_for_nodes(self, count: int, timeout="30s"):
        """Every running node sees `count` members (the server itself waits, bounded)."""
        for n in self.nodes:
            if n.proc and n.proc.poll() is None:
                r = requests.get(
                    f"{n.url}/_cluster/health", params={"wait_for_nodes": str(count), "timeout": timeout}, timeout=60
                )
                assert r.status_code == 200, (n.url, r.status_code, r.text)
                assert r.json()["number_of_nodes"] == count


def node_args(etcd_url: str, cluster_name: str, node_name: str):
    return ["--etcd", etcd_url, "--cluster-name", cluster_name, "--node-name", node_name]
