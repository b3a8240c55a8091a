#!/usr/bin/env bash
# Installs the Debian 12 packages raftkv needs to build and test. Idempotent and fast when
# everything is present: it asks dpkg first and runs apt-get only for what is missing.
# Arguments name extra packages (`make bench` adds etcd-server and gnuplot-nox).
set -euo pipefail

packages=(
  build-essential cmake ninja-build ccache pkg-config
  libgtest-dev libgmock-dev libbenchmark-dev
  libfmt-dev libspdlog-dev libcli11-dev
  protobuf-compiler protobuf-compiler-grpc libprotobuf-dev libgrpc++-dev
  libcpp-httplib-dev libssl-dev
  # the HTTP/2 floor server of the benchmarks (bench/h2_floor.cc)
  libnghttp2-dev
  # bcrypt password hashes (libxcrypt's crypt_r); the openssl CLI makes the tests' certificates
  libcrypt-dev openssl
  # end-to-end tests drive raftkvd with etcd's own clients
  etcd-client python3 python3-etcd3
  # the chaos harness partitions members with network namespaces (ip netns)
  iproute2
  # page tests (tests/ui): headless Chromium driven over its DevTools protocol
  chromium python3-websocket
  # extra packages for one purpose: scripts/install-deps.sh bench|chaos
  "$@"
)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done
if [ ${#missing[@]} -ne 0 ]; then
  echo "install-deps: installing ${missing[*]}"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# The Node.js etcd3 client of the end-to-end stories (npm, pinned by its package-lock.json).
"$(dirname "${BASH_SOURCE[0]}")/install-node-deps.sh"
