#!/usr/bin/env bash
# Installs the Node.js etcd client the end-to-end stories use (tests/e2e/node: the `etcd3`
# npm package, pinned by package-lock.json). Idempotent and fast when nothing changed: `npm
# ci` runs only when node_modules is missing or the lock file differs from the one it was
# installed from. Debian's nodejs and npm are installed with apt-get when `node` or `npm` is
# missing. Called by scripts/install-deps.sh; usable alone.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="$here/../tests/e2e/node"

if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  echo "install-node-deps: installing nodejs npm"
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq
  $sudo apt-get install -y -qq --no-install-recommends nodejs npm
fi

stamp="$dir/node_modules/.raftkv-lock"
if [ -f "$stamp" ] && cmp -s "$stamp" "$dir/package-lock.json"; then
  exit 0
fi
echo "install-node-deps: npm ci in tests/e2e/node"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
cp "$dir/package-lock.json" "$stamp"
