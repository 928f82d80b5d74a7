"""Helpers for the UDF API tests: WAT fixtures, a hand-assembled core module, uploads,
and a small pure-Python Ed25519 signer (RFC 8032 reference arithmetic) for signature tests."""
import base64
import hashlib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
WAT = REPO / "tests" / "fixtures" / "wat"

# (module (memory (export "memory") 1) (func (export "filter") (param i64) (result i32) i32.const 1))
TRIVIAL_WASM = bytes.fromhex(
    "0061736d01000000"
    "01060160017e017f"
    "03020100"
    "0503010001"
    "071302066d656d6f727902000666696c7465720000"
    "0a060104004101 0b".replace(" ", "")
)


def wat(name: str) -> str:
    return (WAT / name).read_text()


def upload(http, name, version="1.0.0", *, wat_name=None, wasm=None, expect=201, **meta):
    body = {"name": name, "version": version, "language": "wat", "description": f"{name} test UDF",
            "author": "tests", "category": "test", "tags": ["test"]}
    body.update(meta)
    if wat_name is not None:
        body["wat_source"] = wat(wat_name)
    if wasm is not None:
        body["language"] = meta.get("language", "other")
        body["wasm_base64"] = base64.b64encode(wasm).decode()
    r = http.post("/api/v1/udfs", json=body)
    if expect is not None:
        assert r.status_code == expect, r.text
    return r


def run_test(http, name, document=None, parameters=None, **extra):
    body = {"document": document or {}, "parameters": parameters or {}}
    body.update(extra)
    return http.post(f"/api/v1/udfs/{name}/test", json=body)


def assert_error(r, status, error_type, *fragments):
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status
    assert body["error"]["type"] == error_type, body
    for f in fragments:
        assert f in body["error"]["reason"], (f, body["error"]["reason"])
    return body


# ---- Ed25519 (RFC 8032, section 6 reference arithmetic; slow but dependency-free) ----
_P = 2**255 - 19
_L = 2**252 + 27742317777372353535851937790883648493
_D = -121665 * pow(121666, _P - 2, _P) % _P
_I = pow(2, (_P - 1) // 4, _P)


def _inv(x):
    return pow(x, _P - 2, _P)


def _xrecover(y):
    xx = (y * y - 1) * _inv(_D * y * y + 1)
    x = pow(xx, (_P + 3) // 8, _P)
    if (x * x - xx) % _P != 0:
        x = (x * _I) % _P
    if x % 2 != 0:
        x = _P - x
    return x


_BY = 4 * _inv(5) % _P
_B = (_xrecover(_BY), _BY)


def _add(a, b):
    x1, y1 = a
    x2, y2 = b
    x3 = (x1 * y2 + x2 * y1) * _inv(1 + _D * x1 * x2 * y1 * y2)
    y3 = (y1 * y2 + x1 * x2) * _inv(1 - _D * x1 * x2 * y1 * y2)
    return (x3 % _P, y3 % _P)


def _mul(pt, e):
    q = (0, 1)
    while e:
        if e & 1:
            q = _add(q, pt)
        pt = _add(pt, pt)
        e >>= 1
    return q


def _enc(pt):
    x, y = pt
    return (y | ((x & 1) << 255)).to_bytes(32, "little")


def ed25519_keypair(seed: bytes):
    h = hashlib.sha512(seed).digest()
    a = 2**254 + sum(2**i * ((h[i // 8] >> (i % 8)) & 1) for i in range(3, 254))
    return a, h[32:], _enc(_mul(_B, a))


def ed25519_public_key(seed: bytes) -> bytes:
    return ed25519_keypair(seed)[2]


def ed25519_sign(seed: bytes, msg: bytes) -> bytes:
    a, prefix, pub = ed25519_keypair(seed)
    r = int.from_bytes(hashlib.sha512(prefix + msg).digest(), "little") % _L
    big_r = _enc(_mul(_B, r))
    k = int.from_bytes(hashlib.sha512(big_r + pub + msg).digest(), "little") % _L
    s = (r + k * a) % _L
    return big_r + s.to_bytes(32, "little")


def price_qty_doc(i: int) -> dict:
    """The UDF tests' document i: a price (missing on every 23rd) and a quantity."""
    d = {"price": round((i * 37 % 1000) / 10.0, 1), "qty": i % 17}
    if i % 23 == 0:
        del d["price"]
    return d


def index_price_qty_docs(client, index: str, n_docs: int, per_segment: int) -> dict:
    """(Re)creates `index` with documents 0..n_docs, `per_segment` per refreshed bulk (so
    several segments); returns them by id, for the tests' own expected values."""
    if client.indices.exists(index=index):
        client.indices.delete(index=index)
    client.indices.create(index=index, body={"mappings": {"properties": {"price": {"type": "double"}, "qty": {"type": "long"}}}})
    for start in range(0, n_docs, per_segment):
        ops = []
        for i in range(start, min(start + per_segment, n_docs)):
            ops += [{"index": {"_index": index, "_id": str(i)}}, price_qty_doc(i)]
        assert not client.bulk(body=ops, refresh=True)["errors"]
    return {str(i): price_qty_doc(i) for i in range(n_docs)}
