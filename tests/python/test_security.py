"""Security (issue 18): TLS on the REST port, HTTP Basic users from a security file, roles
with index and UDF permissions, API keys, 401/403 as the security plugin answers them, and
the audit of failures. Every test drives the real server over TLS with opensearch-py or
requests, certificates made by `quidditch certs`, password hashes by `quidditch passwd`."""
import base64
import json
import subprocess

import pytest
import requests
from opensearchpy import OpenSearch
from opensearchpy.exceptions import AuthenticationException, AuthorizationException, SSLError

from conftest import REPO, quidditch_bin
from udf_helpers import wat

ADMIN_PW = "Adm1n-correct-horse"
USERS = {"reader": "r3ader-pw", "udfuser": "udf-us3r-pw", "ann": "ann-an4lyst-pw"}
PRICE_PARAMS = [{"name": "min_price", "type": "f64", "required": False, "default": 10}]
DOCS = {
    "logs-1": [{"msg": f"log line {i}", "price": i} for i in range(12)],
    "logs-2": [{"msg": f"other line {i}", "price": 100 + i} for i in range(7)],
    "secrets": [{"msg": f"secret {i}", "price": i * 3} for i in range(5)],
}


def doc_block(marker: str) -> str:
    text = (REPO / "docs" / "security.md").read_text()
    after = text[text.index(marker):]
    return after.split("```json", 1)[1].split("```", 1)[0]


def passwd(password: str) -> str:
    out = subprocess.run([quidditch_bin(), "passwd"], input=password, capture_output=True, text=True, check=True)
    return out.stdout.strip()


@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    d = tmp_path_factory.mktemp("certs")
    subprocess.run([quidditch_bin(), "certs", "--out", str(d)], check=True, capture_output=True)
    return d


@pytest.fixture(scope="module")
def secure(server_factory, certs, tmp_path_factory):
    # The security file is docs/security.md's example, with real hashes.
    example = json.loads(doc_block("<!-- security:file -->"))
    for name, user in example["users"].items():
        user["hash"] = passwd(USERS[name])
    file = tmp_path_factory.mktemp("security") / "security.json"
    file.write_text(json.dumps(example))
    server = server_factory(config={
        "tls": {"cert": str(certs / "node.pem"), "key": str(certs / "node-key.pem")},
        "security": {"enabled": True, "file": str(file), "admin_password": ADMIN_PW},
    })
    assert server.url.startswith("https://")
    admin = client_for(server, certs, ("admin", ADMIN_PW))
    for index, docs in DOCS.items():
        for i, doc in enumerate(docs):
            admin.index(index=index, id=str(i), body=doc)
    admin.indices.refresh(index="_all")
    body = {"name": "sec_price", "version": "1.0.0", "language": "wat", "wat_source": wat("price_filter.wat"),
            "parameters": PRICE_PARAMS}
    r = session(certs, ("admin", ADMIN_PW)).post(f"{server.url}/api/v1/udfs", json=body)
    assert r.status_code == 201, r.text
    return server


def client_for(server, certs, auth, **kw):
    return OpenSearch(hosts=[server.url], http_auth=auth, use_ssl=True, verify_certs=True,
                      ca_certs=str(certs / "ca.pem"), ssl_show_warn=False, timeout=60, **kw)


def session(certs, auth=None):
    s = requests.Session()
    # The CA is ours: $REQUESTS_CA_BUNDLE (set on some machines) must not replace it.
    s.trust_env = False
    s.verify = str(certs / "ca.pem")
    if auth:
        s.auth = auth
    return s


def as_user(server, certs, name):
    return client_for(server, certs, (name, USERS[name]))


def udf_query(min_price):
    return {"query": {"bool": {"filter": [{"wasm_udf": {"name": "sec_price", "params": {"min_price": min_price}}}]}}}


def test_admin_works_over_tls_with_its_roles(secure, certs):
    admin = client_for(secure, certs, ("admin", ADMIN_PW))
    total = sum(len(d) for d in DOCS.values())
    assert admin.count(index="_all")["count"] == total
    info = admin.transport.perform_request("GET", "/_plugins/_security/authinfo")
    assert info["user_name"] == "admin" and info["roles"] == ["all_access"]


def test_plain_http_to_the_tls_port_gets_no_answer(secure):
    plain = secure.url.replace("https://", "http://")
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(plain + "/", timeout=10)


def test_a_client_trusting_another_ca_fails_verification(secure, tmp_path):
    subprocess.run([quidditch_bin(), "certs", "--out", str(tmp_path)], check=True, capture_output=True)
    with pytest.raises(SSLError):
        client_for(secure, tmp_path, ("admin", ADMIN_PW)).info()


def test_no_or_wrong_credentials_are_401_and_audited(secure, certs):
    r = session(certs).get(f"{secure.url}/_search")
    assert r.status_code == 401
    assert r.headers["WWW-Authenticate"] == 'Basic realm="OpenSearch Security"'
    assert r.json()["error"]["type"] == "security_exception"
    with pytest.raises(AuthenticationException):
        client_for(secure, certs, ("reader", "not-the-password")).search(index="logs-1")
    audit = session(certs, ("admin", ADMIN_PW)).get(
        f"{secure.url}/api/v1/udfs/_audit", params={"operation": "authentication_failed"}).json()
    entries = audit["entries"] if isinstance(audit, dict) else audit
    mine = [e for e in entries if e["actor"] == "reader"]
    assert mine, entries
    assert mine[0]["outcome"] == "failure" and mine[0]["request"]["source"] == "127.0.0.1"


def test_readall_can_search_but_not_write_delete_or_upload(secure, certs):
    reader = as_user(secure, certs, "reader")
    assert reader.count(index="logs-1")["count"] == len(DOCS["logs-1"])
    assert reader.get(index="secrets", id="0")["_source"] == DOCS["secrets"][0]
    with pytest.raises(AuthorizationException) as e:
        reader.index(index="logs-1", id="new", body={"msg": "x"})
    assert e.value.status_code == 403
    assert "no permissions for [indices:data/write/index] and User [name=reader" in str(e.value.info)
    with pytest.raises(AuthorizationException):
        reader.indices.delete(index="logs-2")
    body = {"name": "reader_udf", "version": "1.0.0", "language": "wat", "wat_source": wat("price_filter.wat")}
    r = session(certs, ("reader", USERS["reader"])).post(f"{secure.url}/api/v1/udfs", json=body)
    assert r.status_code == 403 and "udf:manage/upload" in r.json()["error"]["reason"]
    # Nothing changed.
    admin = client_for(secure, certs, ("admin", ADMIN_PW))
    assert admin.count(index="logs-2")["count"] == len(DOCS["logs-2"])
    denied = session(certs, ("admin", ADMIN_PW)).get(
        f"{secure.url}/api/v1/udfs/_audit", params={"operation": "access_denied"}).json()
    entries = denied["entries"] if isinstance(denied, dict) else denied
    assert any(e["actor"] == "reader" and e["request"].get("action") == "indices:data/write/index"
               and e["request"].get("indices") == ["logs-1"] for e in entries), entries


def test_udf_user_uses_a_udf_in_a_search_but_cannot_upload(secure, certs):
    user = as_user(secure, certs, "udfuser")
    expected = sum(1 for docs in DOCS.values() for d in docs if d["price"] >= 5)
    got = user.search(index="logs-1,logs-2,secrets", body={**udf_query(5), "size": 0})
    assert got["hits"]["total"]["value"] == expected
    native = user.count(index="logs-1,logs-2,secrets", body={"query": {"range": {"price": {"gte": 5}}}})["count"]
    assert native == expected
    r = session(certs, ("udfuser", USERS["udfuser"])).delete(f"{secure.url}/api/v1/udfs/sec_price/1.0.0")
    assert r.status_code == 403
    # readall alone may not run a UDF.
    with pytest.raises(AuthorizationException) as e:
        as_user(secure, certs, "reader").search(index="logs-1", body=udf_query(5))
    assert "[udf:use]" in str(e.value.info) and "sec_price" in str(e.value.info)


def test_wildcards_narrow_to_permitted_indices_explicit_ones_are_403(secure, certs):
    ann = as_user(secure, certs, "ann")
    info = ann.transport.perform_request("GET", "/_plugins/_security/authinfo")
    assert info["roles"] == ["logs_reader"] and info["backend_roles"] == ["analysts"]
    logs = len(DOCS["logs-1"]) + len(DOCS["logs-2"])
    assert ann.count(index="logs-*")["count"] == logs
    for expression in ("*", "_all"):
        hits = ann.search(index=expression, body={"size": 100})["hits"]["hits"]
        assert sorted({h["_index"] for h in hits}) == ["logs-1", "logs-2"] and len(hits) == logs
    r = session(certs, ("ann", USERS["ann"])).post(f"{secure.url}/_search", json={"size": 100})
    assert r.status_code == 200 and r.json()["hits"]["total"]["value"] == logs
    with pytest.raises(AuthorizationException):
        ann.search(index="secrets")
    with pytest.raises(AuthorizationException):
        ann.search(index="logs-1,secrets")
    # A wildcard matching only forbidden indices is narrowed to nothing.
    assert ann.search(index="secr*")["hits"]["total"]["value"] == 0


def test_api_key_create_use_revoke(secure, certs):
    admin = session(certs, ("admin", ADMIN_PW))
    r = admin.post(f"{secure.url}/_plugins/_security/api/apikeys", json={"name": "ci", "roles": ["all_access"]})
    assert r.status_code == 200, r.text
    key = r.json()
    assert base64.b64decode(key["encoded"]).decode() == f"{key['id']}:{key['api_key']}"
    keyed = session(certs)
    keyed.headers["Authorization"] = f"ApiKey {key['encoded']}"
    assert keyed.get(f"{secure.url}/logs-2/_count").json()["count"] == len(DOCS["logs-2"])
    assert keyed.get(f"{secure.url}/_plugins/_security/authinfo").json()["api_key"] == key["id"]
    # A key never gets a role its owner lacks.
    r = session(certs, ("reader", USERS["reader"])).post(f"{secure.url}/_plugins/_security/api/apikeys",
                                                         json={"name": "x", "roles": ["all_access"]})
    assert r.status_code == 403
    r = admin.delete(f"{secure.url}/_plugins/_security/api/apikeys/{key['id']}")
    assert r.status_code == 200 and r.json()["invalidated"] is True
    r = keyed.get(f"{secure.url}/logs-2/_count")
    assert r.status_code == 401 and "revoked" in r.json()["error"]["reason"]


def test_security_on_without_any_user_refuses_to_start(tmp_path):
    proc = subprocess.run([quidditch_bin(), "serve", "--listen", "127.0.0.1:0", "--data-dir", str(tmp_path / "d"),
                           "--security"], capture_output=True, text=True, timeout=60,
                          env={"PATH": "/usr/bin:/bin"})
    assert proc.returncode != 0
    assert "no user can log in" in proc.stderr
