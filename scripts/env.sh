# Sourced by the scripts: where cargo builds, and the PATH that finds componentize-py.
# A CARGO_TARGET_DIR outside the clone is reused when it exists (fast CI on a warm machine);
# otherwise the build goes to ./target as usual.
if [ -z "${CARGO_TARGET_DIR:-}" ] && [ -d /work/cargo-target ]; then
  export CARGO_TARGET_DIR=/work/cargo-target
fi
export QUIDDITCH_TARGET_DIR="${CARGO_TARGET_DIR:-$PWD/target}"
export PATH="$PWD/.venv/bin:$PATH"
