# Sourced by the scripts: where cargo builds, and the PATH that finds componentize-py.
# Builds go to ./target unless CARGO_TARGET_DIR is set (CI on a warm machine points it at a
# warm directory). WebAssembly guests (examples, SDK test guests, fixtures) build into
# $QUIDDITCH_WASM_TARGET_DIR, by default a `wasm` directory inside that target dir, so one warm
# cache serves every guest build.
export QUIDDITCH_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export QUIDDITCH_WASM_TARGET_DIR="${QUIDDITCH_WASM_TARGET_DIR:-$QUIDDITCH_TARGET_DIR/wasm}"
export PATH="$PWD/.venv/bin:$PATH"
