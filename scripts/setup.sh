#!/usr/bin/env bash
# Installs everything the server and the tests need, idempotently. Safe to run again.
#   - rustup targets for WASM guests (wasm32-wasip1 core modules, wasm32-wasip2 components)
#   - Debian clang/lld/wasi-libc for the C example, curl and jq for the docs' examples,
#     etcd-server (cluster mode and its tests) and protobuf-compiler (the etcd client's
#     build script) (apt, only when missing)
#   - a Python venv (.venv) with opensearch-py, pytest and componentize-py (pinned)
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[setup] $*" >&2; }

if command -v rustup >/dev/null 2>&1; then
  installed=$(rustup target list --installed)
  for t in wasm32-wasip1 wasm32-wasip2; do
    grep -qx "$t" <<<"$installed" || { log "rustup target add $t"; rustup target add "$t"; }
  done
fi

need_apt=()
# curl and jq: the documentation examples (run by the tests) use them.
command -v curl >/dev/null 2>&1 || need_apt+=(curl)
command -v jq >/dev/null 2>&1 || need_apt+=(jq)
command -v clang >/dev/null 2>&1 || need_apt+=(clang)
command -v etcd >/dev/null 2>&1 || need_apt+=(etcd-server)
command -v protoc >/dev/null 2>&1 || need_apt+=(protobuf-compiler)
command -v wasm-ld >/dev/null 2>&1 || need_apt+=(lld)
[ -e /usr/include/wasm32-wasi/stdlib.h ] || need_apt+=(wasi-libc)
ls /usr/lib/llvm-14/lib/clang/14*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1 || need_apt+=(libclang-rt-14-dev-wasm32)
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  log "apt-get install ${need_apt[*]}"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  log "creating .venv"
  python3 -m venv .venv
fi
req=tests/python/requirements.txt
stamp=.venv/.requirements.sha256
want=$(sha256sum "$req" | cut -d' ' -f1)
if [ "$(cat "$stamp" 2>/dev/null)" != "$want" ]; then
  log "pip install -r $req"
  .venv/bin/pip install -q --disable-pip-version-check -r "$req"
  echo "$want" > "$stamp"
fi
