"""README.md's quick start and configuration example, run as written against fresh servers."""
import json
import os
import re
import socket
import subprocess
import urllib.parse
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
README = (REPO / "README.md").read_text()


def section(title: str) -> str:
    m = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## )", README, re.S | re.M)
    assert m, f"README has no section '{title}'"
    return m.group(1)


def json_documents(text: str) -> list:
    """The JSON values printed one after another by a block of curl calls."""
    decoder, docs, i = json.JSONDecoder(), [], 0
    while True:
        while i < len(text) and text[i].isspace():
            i += 1
        if i >= len(text):
            return docs
        value, i = decoder.raw_decode(text, i)
        docs.append(value)


def hit_ids(response: dict) -> set:
    return {h["_id"] for h in response["hits"]["hits"]}


def test_quick_start_runs_as_written(server_factory):
    server = server_factory()
    blocks = re.findall(r"```sh\n(.*?)```", section("Quick start"), re.S)
    assert len(blocks) == 5
    env = {**os.environ, "QUIDDITCH": server.url}
    outputs = []
    for block in blocks:
        p = subprocess.run(["bash", "-euo", "pipefail", "-c", block], cwd=REPO, env=env,
                           capture_output=True, text=True, timeout=600)
        assert p.returncode == 0, (block, p.stdout, p.stderr)
        outputs.append(json_documents(p.stdout))

    info, = outputs[0]
    assert info["version"]["distribution"] == "opensearch"

    created, bulk, search = outputs[1]
    assert created["acknowledged"] is True and bulk["errors"] is False
    # "red" and price < 20: the pen (2.5) and the red mug (14.0)
    assert hit_ids(search) == {"1", "4"}
    buckets = {b["key"]: b["doc_count"] for b in search["aggregations"]["by_category"]["buckets"]}
    assert buckets == {"office": 1, "home": 1}

    uploaded, udf_search = outputs[2]
    assert uploaded["name"] == "price_between" and len(uploaded["sha256"]) == 64
    # "red" and 10 <= price <= 40: the lamp (35.0) and the red mug (14.0)
    assert hit_ids(udf_search) == {"2", "4"}
    assert udf_search["hits"]["total"]["value"] == 2

    tested, stats = outputs[3]
    assert tested["result"]["filter"] is True
    assert json.dumps(stats).count("calls") >= 1

    py_uploaded, py_search = outputs[4]
    assert py_uploaded["language"] == "python"
    # price < 13: the pen (2.5) and the blue mug (12.0)
    assert hit_ids(py_search) == {"1", "3"}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_configuration_example_is_accepted_and_flags_override_it(server_factory, tmp_path):
    cfg_text = re.search(r"```json\n(.*?)```", section("Configuration"), re.S).group(1)
    config = json.loads(cfg_text)
    assert set(config) >= {"listen", "data_dir"}
    # The file names a port and a data dir; the test's --listen 127.0.0.1:0 and --data-dir
    # flags must win, as documented ("flags override it").
    config_port = free_port()
    config_data = tmp_path / "data-from-config"
    config["listen"] = f"127.0.0.1:{config_port}"
    config["data_dir"] = str(config_data)
    server = server_factory(config=config)
    client = server.client()
    assert client.info()["version"]["distribution"] == "opensearch"
    assert urllib.parse.urlparse(server.url).port != config_port
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{config_port}/", timeout=5)
    client.indices.create(index="flags-win")
    assert not config_data.exists(), "the config file's data_dir was used despite --data-dir"
    assert any(server.data_dir.iterdir())
