"""`_tasks`, `_cat/tasks` and `wait_for_completion=false` on `_delete_by_query`,
`_update_by_query` and `_reindex`, with opensearch-py against the real server. Counts expected
from background runs come from the test's own documents."""
import json
import re
import subprocess
from pathlib import Path

import pytest
from opensearchpy import NotFoundError, RequestError

DOCS = Path(__file__).resolve().parents[2] / "docs" / "rest-api.md"


@pytest.fixture()
def docs(client):
    n = 25
    client.bulk(body="".join(json.dumps({"index": {"_index": "tk-src", "_id": str(i)}}) + "\n" + json.dumps({"n": i, "even": i % 2 == 0}) + "\n" for i in range(n)), refresh=True)
    yield n
    client.indices.delete(index="tk-*")


def node_id(client):
    (nid,) = client.nodes.info()["nodes"]
    return nid


def test_list_shows_the_listing_request_itself(client):
    nid = node_id(client)
    listed = client.tasks.list()
    tasks = listed["nodes"][nid]["tasks"]
    assert listed["nodes"][nid]["roles"]
    assert any(t["action"] == "cluster:monitor/tasks/lists" for t in tasks.values())
    for task_id, t in tasks.items():
        assert task_id == f"{nid}:{t['id']}" and t["node"] == nid and t["type"] == "transport"
    # Filters, grouping and the client's X-Opaque-Id.
    flat = client.tasks.list(actions="cluster:monitor/tasks/*", group_by="none", detailed=True, headers={"X-Opaque-Id": "me-42"})
    (own,) = [t for t in flat["tasks"] if t["headers"].get("X-Opaque-Id") == "me-42"]
    assert own["action"] == "cluster:monitor/tasks/lists" and own["description"].startswith("GET /_tasks")
    assert client.tasks.list(actions="indices:data/write/*", group_by="none")["tasks"] == []
    assert client.tasks.list(nodes="someone-else") == {"nodes": {}}
    parents = client.tasks.list(group_by="parents")["tasks"]
    assert all(k == f"{nid}:{v['id']}" for k, v in parents.items())
    with pytest.raises(RequestError):
        client.tasks.list(group_by="colour")


@pytest.mark.parametrize("api", ["delete_by_query", "update_by_query", "reindex"])
def test_background_runs_keep_their_result(client, docs, api):
    evens = (docs + 1) // 2
    query = {"query": {"term": {"even": True}}}
    if api == "reindex":
        started = client.reindex(body={"source": {"index": "tk-src", **query}, "dest": {"index": "tk-dest"}}, wait_for_completion=False, refresh=True)
    else:
        started = getattr(client, api)(index="tk-src", body=query, wait_for_completion=False, refresh=True)
    assert set(started) == {"task"}
    nid, number = started["task"].rsplit(":", 1)
    assert nid == node_id(client) and number.isdigit()
    done = client.tasks.get(task_id=started["task"], wait_for_completion=True)
    assert done["completed"] is True
    assert done["task"]["action"].startswith("indices:data/write/") and done["task"]["cancellable"] is True
    response = done["response"]
    assert response["total"] == evens and response["failures"] == []
    if api == "delete_by_query":
        assert response["deleted"] == evens
        assert client.count(index="tk-src")["count"] == docs - evens
    elif api == "update_by_query":
        assert response["updated"] == evens
    else:
        assert response["created"] == evens
        assert client.count(index="tk-dest")["count"] == evens
    # The result stays; a finished task cannot be cancelled.
    assert client.tasks.get(task_id=started["task"])["response"] == response
    with pytest.raises(NotFoundError):
        client.tasks.cancel(task_id=started["task"])


def test_cancel_a_background_reindex(client, docs):
    # One document per batch: the run checks for cancellation before each.
    started = client.reindex(body={"source": {"index": "tk-src", "size": 1}, "dest": {"index": "tk-cancelled"}}, wait_for_completion=False)
    try:
        cancelled = client.tasks.cancel(task_id=started["task"])
    except NotFoundError:
        cancelled = None  # it finished first
    done = client.tasks.get(task_id=started["task"], wait_for_completion=True)["response"]
    if cancelled is None:
        assert done["created"] == docs and "canceled" not in done
    else:
        (task,) = cancelled["nodes"][node_id(client)]["tasks"].values()
        assert task["cancelled"] is True
        # Stopped between batches: what it wrote is what it counts.
        client.indices.refresh(index="tk-cancelled")
        written = client.count(index="tk-cancelled")["count"] if client.indices.exists(index="tk-cancelled") else 0
        assert done["canceled"] == "by user request" and done["created"] == written <= docs


def test_unknown_and_malformed_task_ids(client):
    nid = node_id(client)
    with pytest.raises(NotFoundError) as e:
        client.tasks.get(task_id=f"{nid}:999999")
    assert e.value.info["error"]["type"] == "resource_not_found_exception"
    with pytest.raises(NotFoundError):
        client.tasks.get(task_id="other-node:1")
    with pytest.raises(RequestError) as e:
        client.tasks.get(task_id="no-colon")
    assert e.value.info["error"]["reason"] == "malformed task id no-colon"


def test_cat_tasks(client):
    header, *rows = client.cat.tasks(v=True).splitlines()
    assert header.split() == ["action", "task_id", "parent_task_id", "type", "start_time", "timestamp", "running_time", "ip", "node"]
    own = [r for r in rows if r.startswith("cluster:monitor/tasks/lists")]
    assert own and re.match(r"\S+\s+\S+:\d+\s+-\s+transport\s+\d+\s+\d\d:\d\d:\d\d\s+\S+\s+[\d.]+\s+\S+$", own[0])
    detailed = client.cat.tasks(detailed=True, format="json")
    assert any(t["description"].startswith("GET /_cat/tasks") for t in detailed)
    (row,) = client.cat.tasks(h="action,x_opaque_id", format="json", headers={"X-Opaque-Id": "cat-id"})
    assert row == {"action": "cluster:monitor/tasks/lists", "x_opaque_id": "cat-id"}


def test_docs_example(server_factory):
    doc = DOCS.read_text()
    section = doc.split("<!-- rest-api:tasks:begin -->")[1].split("<!-- rest-api:tasks:end -->")[0]
    (block,) = re.findall(r"```bash\n(.*?)```", section, re.S)
    srv = server_factory()
    script = "set -e\n" + block.replace("localhost:9200", srv.url.removeprefix("http://"))
    r = subprocess.run(["bash", "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    *_, started, done = [json.loads(line) for line in r.stdout.splitlines() if line.strip()]
    assert set(started) == {"task"}
    assert done["completed"] and done["response"]["deleted"] == 2
