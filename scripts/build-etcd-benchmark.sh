#!/usr/bin/env bash
# Builds etcd's own load generator (`benchmark`, go.etcd.io/etcd/tools/benchmark of etcd 3.4)
# from Debian 12 packages, so `make bench` can drive etcd and raftkvd with the tool etcd's own
# performance figures come from.
#
#   scripts/build-etcd-benchmark.sh OUTPUT     (does nothing if OUTPUT exists)
#
# Debian ships the etcd libraries the tool imports (golang-etcd-server-dev and its
# dependencies) but leaves tools/ out of every binary package; the tool's sources are in the
# etcd *source* package, so they are taken from there (`apt-get source`, which needs a deb-src
# entry: one is added for the archive this machine already uses if there is none). The build
# is a GOPATH build against /usr/share/gocode with the network off. Needs root or sudo.
set -euo pipefail

out=${1:?usage: build-etcd-benchmark.sh OUTPUT}
[ -x "$out" ] && exit 0
out=$(realpath -m "$out")
here=$(cd "$(dirname "$0")" && pwd)
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

"$here/install-deps.sh" golang-go golang-etcd-server-dev dpkg-dev

has_deb_src() {
  grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/
}
if ! has_deb_src; then
  # The first archive URI among the binary sources (deb822 or one-line format).
  archive=$(sed -n 's/^URIs:[[:space:]]*\([^[:space:]]*\).*/\1/p' /etc/apt/sources.list.d/*.sources \
              2>/dev/null | head -n 1)
  [ -n "$archive" ] ||
    archive=$(awk '$1 == "deb" { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' \
                /etc/apt/sources.list 2>/dev/null)
  [ -n "$archive" ] || { echo "build-etcd-benchmark: no Debian archive found in apt's sources" >&2; exit 1; }
  printf 'Types: deb-src\nURIs: %s\nSuites: bookworm\nComponents: main\nSigned-By: %s\n' \
    "$archive" /usr/share/keyrings/debian-archive-keyring.gpg |
    $sudo tee /etc/apt/sources.list.d/raftkv-deb-src.sources >/dev/null
  $sudo apt-get update -qq
fi

tmp=$(mktemp -d -t raftkv-etcd-benchmark.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
# The sources of the same version as the installed libraries it compiles against.
version=$(dpkg-query -W -f='${Version}' golang-etcd-server-dev)
(cd "$tmp" && apt-get source --download-only -qq "etcd=$version")
orig=$(ls "$tmp"/etcd_*.orig.tar.* | head -n 1)

pkg="$tmp/gopath/src/go.etcd.io/etcd/tools"
mkdir -p "$pkg"
tar -xf "$orig" -C "$tmp" --wildcards '*/tools/benchmark/*'
mv "$tmp"/etcd-*/tools/benchmark "$pkg/benchmark"

mkdir -p "$(dirname "$out")"
GOPATH="$tmp/gopath:/usr/share/gocode" GO111MODULE=off GOFLAGS= GOPROXY=off \
  GOCACHE="$tmp/gocache" go build -trimpath -o "$out" go.etcd.io/etcd/tools/benchmark
echo "build-etcd-benchmark: built $out (etcd $version from Debian's source package)"
