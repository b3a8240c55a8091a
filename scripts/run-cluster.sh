#!/usr/bin/env bash
# Starts a local 3-member raftkvd cluster on 127.0.0.1 (what `make run` does):
#   n1: client 2379,  peer 2380,  metrics 2381
#   n2: client 22379, peer 22380, metrics 22381
#   n3: client 32379, peer 32380, metrics 32381
# Data lives in ./data/<name> (logs in ./data/<name>.log); a second run reuses it, and the
# members then ignore the --initial-cluster flags, as etcd does. Ctrl-C stops all three.
#
# With --tls (`make run TLS=1`): a secured cluster in ./data-tls. Every URL is https://: the
# members talk to each other over TLS and require each other's certificates
# (--peer-client-cert-auth), clients must present a certificate signed by the cluster's CA
# (--client-cert-auth), and /metrics, /health are served over TLS too. The CA and the
# certificates (n1, n2, n3 for the members, root and client for people) are made once by
# scripts/gen-certs.sh into ./data-tls/certs. A client certificate's CommonName is its user
# once auth is enabled (the commands printed at start show how).
# Usage: scripts/run-cluster.sh [--tls] [build-dir]
set -euo pipefail

TLS=0
if [[ "${1:-}" == "--tls" ]]; then
  TLS=1
  shift
fi
BUILD=${1:-build}
BIN="$BUILD/bin/raftkvd"
if [[ $TLS -eq 1 ]]; then
  DATA=${RAFTKV_DATA:-data-tls}
  SCHEME=https
else
  DATA=${RAFTKV_DATA:-data}
  SCHEME=http
fi
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
  CLUSTER+="${CLUSTER:+,}${NAMES[$i]}=$SCHEME://$HOST:${PEER[$i]}"
done

mkdir -p "$DATA"
CERTS="$DATA/certs"
CTL_TLS=()
CURL_TLS=()
if [[ $TLS -eq 1 ]]; then
  if [[ ! -s "$CERTS/ca.pem" ]]; then
    "$(dirname "$0")/gen-certs.sh" "$CERTS" "${NAMES[@]}" root client
    echo "run-cluster: made a CA and certificates in $CERTS (openssl)"
  fi
  CTL_TLS=(--cacert="$CERTS/ca.pem" --cert="$CERTS/root.pem" --key="$CERTS/root-key.pem")
  CURL_TLS=(--cacert "$CERTS/ca.pem" --cert "$CERTS/root.pem" --key "$CERTS/root-key.pem")
fi
# A member's TLS flags: its own certificate on both sides, the cluster's CA, and client
# certificates required on both sides.
tls_flags() {
  [[ $TLS -eq 1 ]] || return 0
  local name=$1
  echo --cert-file "$CERTS/$name.pem" --key-file "$CERTS/$name-key.pem" \
    --trusted-ca-file "$CERTS/ca.pem" --client-cert-auth \
    --peer-cert-file "$CERTS/$name.pem" --peer-key-file "$CERTS/$name-key.pem" \
    --peer-trusted-ca-file "$CERTS/ca.pem" --peer-client-cert-auth
}
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
  # shellcheck disable=SC2046  # tls_flags prints whole flags (paths without spaces)
  "$BIN" --name "$name" --data-dir "$DATA/$name" \
    --listen-client-urls "$SCHEME://$HOST:${CLIENT[$i]}" \
    --advertise-client-urls "$SCHEME://$HOST:${CLIENT[$i]}" \
    --listen-peer-urls "$SCHEME://$HOST:${PEER[$i]}" \
    --initial-advertise-peer-urls "$SCHEME://$HOST:${PEER[$i]}" \
    --listen-metrics-urls "$SCHEME://$HOST:${METRICS[$i]}" \
    --initial-cluster "$CLUSTER" --initial-cluster-token raftkv-local \
    --initial-cluster-state new $(tls_flags "$name") \
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
  if etcdctl --endpoints="$ENDPOINTS" "${CTL_TLS[@]}" --dial-timeout=1s --command-timeout=2s \
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

CTL="ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS"
[[ $TLS -eq 0 ]] || CTL+=" ${CTL_TLS[*]}"
cat <<MSG

run-cluster: 3 members up (data in ./$DATA, logs in ./$DATA/<name>.log). Try:
  $CTL endpoint status -w table
  $CTL put hello world
  $CTL get hello
  curl -s ${CURL_TLS[*]} $SCHEME://$HOST:${METRICS[0]}/health

Watch the cluster live (any member's page shows every member):
  $SCHEME://$HOST:${METRICS[0]}/ui        (JSON: $SCHEME://$HOST:${METRICS[0]}/debug/raft)
MSG
if [[ $TLS -eq 1 ]]; then
  cat <<MSG
Authentication (the certificate above has CommonName root, so it acts as root once auth is on):
  $CTL user add root:choose-a-password
  $CTL user grant-role root root
  $CTL auth enable
  $CTL user add alice:alicepw; $CTL role add app
  $CTL role grant-permission app readwrite app/ --prefix=true; $CTL user grant-role alice app
  ETCDCTL_API=3 etcdctl --endpoints=$ENDPOINTS --cacert=$CERTS/ca.pem --cert=$CERTS/client.pem --key=$CERTS/client-key.pem --user alice:alicepw put app/x 1
MSG
fi
echo "Ctrl-C stops the cluster."
echo

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
