#!/usr/bin/env bash
# Starts a local 3-member raftkvd cluster on 127.0.0.1 (what `make run` does):
#   n1: client 2379,  peer 2380,  metrics 2381
#   n2: client 22379, peer 22380, metrics 22381
#   n3: client 32379, peer 32380, metrics 32381
# Data lives in ./data/<name> (logs in ./data/<name>.log); a second run reuses it, and the
# members then ignore the --initial-cluster flags, as etcd does. Ctrl-C stops all three.
# Usage: scripts/run-cluster.sh [build-dir]
set -euo pipefail

BUILD=${1:-build}
BIN="$BUILD/bin/raftkvd"
DATA=${RAFTKV_DATA:-data}
NAMES=(n1 n2 n3)
CLIENT=(2379 22379 32379)
PEER=(2380 22380 32380)
METRICS=(2381 22381 32381)
HOST=127.0.0.1
ENDPOINTS="$HOST:${CLIENT[0]},$HOST:${CLIENT[1]},$HOST:${CLIENT[2]}"

if [[ ! -x "$BIN" ]]; then
  echo "run-cluster: $BIN not found (run 'make build' first)" >&2
  exit 1
fi

port_taken() { (exec 3<>"/dev/tcp/$HOST/$1") 2>/dev/null; }
for port in "${CLIENT[@]}" "${PEER[@]}" "${METRICS[@]}"; do
  if port_taken "$port"; then
    echo "run-cluster: port $port on $HOST is already in use (another cluster or etcd?)" >&2
    exit 1
  fi
done

CLUSTER=""
for i in 0 1 2; do
  CLUSTER+="${CLUSTER:+,}${NAMES[$i]}=http://$HOST:${PEER[$i]}"
done

mkdir -p "$DATA"
PIDS=()
stop_all() {
  trap - INT TERM
  echo "run-cluster: stopping (SIGTERM)..."
  for i in "${!PIDS[@]}"; do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
  local failed=0
  for i in "${!PIDS[@]}"; do
    local rc=0
    wait "${PIDS[$i]}" 2>/dev/null || rc=$?
    echo "run-cluster: ${NAMES[$i]} exited with status $rc"
    [[ $rc -eq 0 ]] || failed=1
  done
  exit $failed
}
trap stop_all INT TERM

for i in 0 1 2; do
  name=${NAMES[$i]}
  if [[ -d "$DATA/$name" ]]; then
    echo "run-cluster: $name restarts from $DATA/$name"
  fi
  "$BIN" --name "$name" --data-dir "$DATA/$name" \
    --listen-client-urls "http://$HOST:${CLIENT[$i]}" \
    --advertise-client-urls "http://$HOST:${CLIENT[$i]}" \
    --listen-peer-urls "http://$HOST:${PEER[$i]}" \
    --initial-advertise-peer-urls "http://$HOST:${PEER[$i]}" \
    --listen-metrics-urls "http://$HOST:${METRICS[$i]}" \
    --initial-cluster "$CLUSTER" --initial-cluster-token raftkv-local \
    --initial-cluster-state new \
    > >(trap '' INT; tee -a "$DATA/$name.log" | sed -u "s/^/[$name] /") 2>&1 &
  PIDS+=($!)
done

# Wait until every member answers a linearizable read (it has a leader and is caught up).
export ETCDCTL_API=3
ready=0
for _ in $(seq 1 150); do
  for i in 0 1 2; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      echo "run-cluster: ${NAMES[$i]} exited during start-up (see $DATA/${NAMES[$i]}.log)" >&2
      stop_all
    fi
  done
  if etcdctl --endpoints="$ENDPOINTS" --dial-timeout=1s --command-timeout=2s \
      endpoint health >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.2
done
if [[ $ready -ne 1 ]]; then
  echo "run-cluster: the cluster did not become healthy within 30 s" >&2
  stop_all
fi

cat <<MSG

run-cluster: 3 members up (data in ./$DATA, logs in ./$DATA/<name>.log). Try:
  ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS endpoint status -w table
  ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS put hello world
  ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS get hello
  curl -s http://$HOST:${METRICS[0]}/health; curl -s http://$HOST:${METRICS[0]}/metrics

Watch the cluster live (any member's page shows every member):
  http://$HOST:${METRICS[0]}/ui        (JSON: http://$HOST:${METRICS[0]}/debug/raft)
Ctrl-C stops the cluster.

MSG

# The log pipes ignore Ctrl-C's SIGINT (sent to the whole process group): they must outlive
# the members, which stop on the SIGTERM stop_all sends and log until they exit.
# Serve until Ctrl-C; report a member that stops on its own.
while true; do
  for i in "${!PIDS[@]}"; do
    if ! kill -0 "${PIDS[$i]}" 2>/dev/null; then
      rc=0
      wait "${PIDS[$i]}" 2>/dev/null || rc=$?
      echo "run-cluster: ${NAMES[$i]} exited on its own with status $rc"
      unset "PIDS[$i]"
    fi
  done
  [[ ${#PIDS[@]} -gt 0 ]] || exit 1
  sleep 1
done
