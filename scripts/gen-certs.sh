#!/usr/bin/env bash
# Generates a certificate authority and certificates signed by it, with the openssl CLI, for a
# TLS cluster (scripts/run-cluster.sh --tls, `make run TLS=1`) and for the tests (which call it into their own
# temp dirs: no certificate or key is ever committed).
#
#   scripts/gen-certs.sh DIR NAME...
#
# DIR/ca.pem, DIR/ca-key.pem: the CA (created once; reused when present).
# DIR/NAME.pem, DIR/NAME-key.pem: a certificate for each NAME, signed by the CA, with
#   CommonName NAME (raftkvd and etcd take a client certificate's CommonName as the user name
#   under --client-cert-auth), usable as server and as client certificate, valid for
#   127.0.0.1, ::1, localhost and every address in $CERT_IPS (comma-separated: the chaos
#   harness's namespace addresses) and name in $CERT_HOSTS.
# Keys are ECDSA P-256 (as etcd's --auto-tls), certificates valid for $CERT_DAYS days (365).
set -euo pipefail

if [ $# -lt 2 ]; then
  echo "usage: $0 DIR NAME..." >&2
  exit 2
fi
dir=$1
shift
days=${CERT_DAYS:-365}
mkdir -p "$dir"
umask 077

if [ ! -s "$dir/ca.pem" ] || [ ! -s "$dir/ca-key.pem" ]; then
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/ca-key.pem" 2>/dev/null
  openssl req -x509 -new -key "$dir/ca-key.pem" -sha256 -days "$days" \
    -subj "/CN=raftkv test CA $(basename "$dir") $$" -out "$dir/ca.pem" 2>/dev/null
fi

san="IP:127.0.0.1,IP:::1,DNS:localhost"
IFS=',' read -r -a ips <<< "${CERT_IPS:-}"
for ip in "${ips[@]}"; do [ -n "$ip" ] && san+=",IP:$ip"; done
IFS=',' read -r -a hosts <<< "${CERT_HOSTS:-}"
for h in "${hosts[@]}"; do [ -n "$h" ] && san+=",DNS:$h"; done

ext=$(mktemp)
trap 'rm -f "$ext"' EXIT
cat > "$ext" <<EOF
basicConstraints = CA:FALSE
keyUsage = digitalSignature, keyEncipherment
extendedKeyUsage = serverAuth, clientAuth
subjectAltName = $san
EOF

for name in "$@"; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$dir/$name-key.pem" 2>/dev/null
  openssl req -new -key "$dir/$name-key.pem" -subj "/CN=$name" -out "$dir/$name.csr" 2>/dev/null
  openssl x509 -req -in "$dir/$name.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
    -CAcreateserial -sha256 -days "$days" -extfile "$ext" -out "$dir/$name.pem" 2>/dev/null
  rm -f "$dir/$name.csr"
done
rm -f "$dir/ca.srl"
