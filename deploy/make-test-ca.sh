#!/usr/bin/env bash
# Makes a throw-away TLS setup for demos and tests with the openssl command
# line: a test CA, a server certificate for localhost / 127.0.0.1 / ::1 (and
# any extra DNS names given), and a client certificate for mutual TLS, all
# signed by the CA. Keys are P-256, written owner-only (0600). Nothing here is
# for production: use your PKI's certificates there (README "Security").
#
# Usage: deploy/make-test-ca.sh DIR [DNS-NAME...]
# Writes DIR/ca.pem ca-key.pem server.pem server-key.pem client.pem client-key.pem
set -euo pipefail
[ $# -ge 1 ] || { echo "usage: $0 DIR [DNS-NAME...]" >&2; exit 2; }
dir=$1; shift
command -v openssl >/dev/null || { echo "$0: openssl is not installed" >&2; exit 1; }
mkdir -p "$dir"
umask 077
san="DNS:localhost,IP:127.0.0.1,IP:::1"
for n in "$@"; do san="$san,DNS:$n"; done

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 30 \
  -subj "/CN=Reclaim test CA" -keyout "$dir/ca-key.pem" -out "$dir/ca.pem" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
  2>/dev/null

# leaf NAME CN EXTENSIONS
leaf() {
  openssl req -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -subj "/CN=$2" \
    -keyout "$dir/$1-key.pem" -out "$dir/$1.csr" 2>/dev/null
  printf '%s\n' "$3" > "$dir/$1.ext"
  openssl x509 -req -in "$dir/$1.csr" -CA "$dir/ca.pem" -CAkey "$dir/ca-key.pem" \
    -CAcreateserial -days 30 -extfile "$dir/$1.ext" -out "$dir/$1.pem" 2>/dev/null
  rm -f "$dir/$1.csr" "$dir/$1.ext"
}
leaf server "reclaim-collector" "subjectAltName=$san
extendedKeyUsage=serverAuth
basicConstraints=CA:FALSE"
leaf client "reclaim-agent" "extendedKeyUsage=clientAuth
basicConstraints=CA:FALSE"
rm -f "$dir/ca.srl"
chmod 644 "$dir/ca.pem" "$dir/server.pem" "$dir/client.pem"
chmod 600 "$dir/ca-key.pem" "$dir/server-key.pem" "$dir/client-key.pem"
