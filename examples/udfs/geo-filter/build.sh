#!/usr/bin/env bash
# Builds build/geo_filter.wasm with Debian's clang + wasi-libc (apt-installed when missing).
set -euo pipefail
cd "$(dirname "$0")"
if ! command -v clang >/dev/null || ! command -v wasm-ld >/dev/null || [ ! -e /usr/include/wasm32-wasi/stdlib.h ] \
   || ! ls /usr/lib/llvm-*/lib/clang/*/lib/wasi/libclang_rt.builtins-wasm32.a >/dev/null 2>&1; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq clang lld wasi-libc libclang-rt-14-dev-wasm32 >/dev/null
fi
mkdir -p build
# No --sysroot: Debian installs wasi-libc where clang's wasm32-wasi target looks for it.
clang --target=wasm32-wasi -O2 -nostartfiles -Wl,--no-entry -Wl,--export=filter -Wl,--strip-all \
  -I ../../../sdk/c -o build/geo_filter.wasm geo_filter.c
echo "$PWD/build/geo_filter.wasm"
