#!/usr/bin/env bash
# Starts a local cluster: one etcd and N quidditch nodes (default 3) on 9200, 9201, …, data
# under ./data/cluster/. Ctrl-C stops them all. See docs/cluster.md.
#   scripts/cluster.sh [N]
# Environment: ETCD_CLIENT_PORT (default 2379), ETCD_PEER_PORT (2380), CLUSTER_NAME (local),
# FIRST_PORT (9200).
set -euo pipefail
cd "$(dirname "$0")/.."
n="${1:-3}"
[[ "$n" =~ ^[1-9][0-9]*$ ]] || { echo "usage: scripts/cluster.sh [N]" >&2; exit 2; }
scripts/setup.sh
. scripts/env.sh
cargo build --release --workspace --bin quidditch
bin="$QUIDDITCH_TARGET_DIR/release/quidditch"

client_port="${ETCD_CLIENT_PORT:-2379}"
peer_port="${ETCD_PEER_PORT:-2380}"
name="${CLUSTER_NAME:-local}"
first="${FIRST_PORT:-9200}"
root=data/cluster
mkdir -p "$root"
etcd_url="http://127.0.0.1:$client_port"

pids=()
stop_all() {
  trap - INT TERM EXIT
  echo "stopping the cluster" >&2
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
}
trap stop_all INT TERM EXIT

if curl -fsS "$etcd_url/health" >/dev/null 2>&1; then
  echo "something already answers at $etcd_url: stop it or set ETCD_CLIENT_PORT" >&2
  exit 1
fi
etcd --name quidditch-local --data-dir "$root/etcd" \
  --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
  --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
  --initial-cluster "quidditch-local=http://127.0.0.1:$peer_port" >"$root/etcd.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do
  curl -fsS "$etcd_url/health" >/dev/null 2>&1 && break
  sleep 0.1
done
curl -fsS "$etcd_url/health" >/dev/null || { echo "etcd did not start; see $root/etcd.log" >&2; exit 1; }
echo "etcd at $etcd_url (log: $root/etcd.log)" >&2

for i in $(seq 1 "$n"); do
  port=$((first + i - 1))
  "$bin" serve --etcd "$etcd_url" --cluster-name "$name" --node-name "node-$i" \
    --listen "127.0.0.1:$port" --data-dir "$root/node-$i" 2>"$root/node-$i.log" &
  pids+=($!)
done
for i in $(seq 1 "$n"); do
  port=$((first + i - 1))
  for _ in $(seq 300); do
    curl -fsS "http://127.0.0.1:$port/" >/dev/null 2>&1 && break
    sleep 0.1
  done
  echo "node-$i at http://127.0.0.1:$port (log: $root/node-$i.log)" >&2
done
curl -fsS "http://127.0.0.1:$first/_cat/nodes?v" >&2 || true
echo "cluster [$name] is up; Ctrl-C stops it" >&2
wait -n "${pids[@]}" || true
