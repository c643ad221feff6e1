#!/usr/bin/env bash
# start-samba-ad.sh: a real Active Directory domain controller (Samba 4 AD DC)
# for tests, in its own network namespace.
#
# Usage:
#   start-samba-ad.sh --dir DIR [--cache CACHE_DIR] [--netns NAME]
#       Fixture mode (used by tests/testing/samba/samba_ad.h): start the DC, write
#       DIR/samba-ad.env, print "READY DIR/samba-ad.env" on stdout, then wait
#       until stdin reaches EOF (the test closed the pipe or died) or SIGTERM,
#       and tear everything down. The caller joins the namespace itself
#       (setns(2) on /run/netns/NAME) to reach the DC at 127.0.0.1.
#   start-samba-ad.sh [--dir DIR] [--cache CACHE_DIR] [--netns NAME] -- CMD [ARG...]
#       Command mode: start the DC, run CMD inside the namespace with the
#       variables of samba-ad.env in its environment, tear down, and exit
#       with CMD's status. E.g. `start-samba-ad.sh -- ctest -L samba` or
#       `start-samba-ad.sh -- bash` for a shell next to the DC.
#
# What it does:
#   1. Domain EXAMPLE.TEST (base DN DC=example,DC=test), DC "dc1" at 127.0.0.1.
#      The provisioned and seeded directory, with a test CA, a server
#      certificate for 127.0.0.1 / localhost / dc1.example.test and a second,
#      unrelated CA (for wrong-CA tests), is cached as a tarball in CACHE_DIR
#      (default: $RECLAIM_SAMBA_CACHE or /tmp/reclaim-samba-cache) keyed on the
#      hash of this script, seed.ldif and the Samba version. Building the
#      cache takes ~10 s (provision + seed); later runs unpack it in ~0.2 s.
#      Concurrent runs serialise on a lock file while the cache is built.
#   2. Seed: seed.ldif beside this script (users with escaped names, the
#      authorization group "Visio Users" with nested groups and a primary-
#      group member, test-owned groups) plus "Big Group" with 1,600 members,
#      all loaded offline with ldbmodify into sam.ldb (seconds, not the
#      minutes 1,600 samba-tool calls take).
#   3. smb.conf with every path inside DIR, `server services = ldap`, TLS with
#      the test CA, and `ldap server require strong auth = no` (the plain
#      ldap:// simple-bind test needs it; LDAPS and StartTLS work either way).
#   4. `ip netns add NAME` (default reclaim-ad-<pid of this script>), lo up,
#      and `samba -F -M single` inside it with PR_SET_PDEATHSIG=KILL, so the
#      DC dies with this script. LDAP/LDAPS must use ports 389/636: one
#      namespace per run keeps parallel runs apart. Namespaces left by a
#      killed run (reclaim-ad-<pid> whose pid is gone) are deleted first.
#   5. Waits until LDAP (389) and LDAPS (636, verified against the test CA)
#      answer (~1 s).
#
# Tear-down (always, via an EXIT trap; also when the caller dies, since then
# stdin reaches EOF): SIGTERM to samba (SIGKILL after 5 s), `ip netns del`.
#
# Needs root (network namespaces) and the tools checked below; a missing tool
# is an error (exit 3), never a silent skip. Install with deploy/install-deps.sh.
#
# Credentials (test-only, fixed): Administrator / RECLAIM_AD_ADMIN_PASSWORD,
# the service account svc-reclaim@example.test (an Account Operator) and the
# unprivileged reader@example.test; see the env file for the names.
set -euo pipefail

readonly HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
readonly SEED_LDIF="$HERE/seed.ldif"
# Test secrets carry the marker of tests/testing/test_secrets.h (no_secret_in_logs).
readonly ADMIN_PASSWORD='RECLAIM-TEST-SECRET-Adm1n.pw'
readonly SERVICE_PASSWORD='RECLAIM-TEST-SECRET-Svc.Pass1'
readonly READER_PASSWORD='RECLAIM-TEST-SECRET-Reader.Pass1'
readonly BASE_DN='DC=example,DC=test'
readonly BIG_GROUP_SIZE=1600

log() { echo "start-samba-ad: $*" >&2; }
die() { log "ERROR: $*"; exit "${2:-1}"; }

DIR=""
CACHE="${RECLAIM_SAMBA_CACHE:-/tmp/reclaim-samba-cache}"
NETNS="reclaim-ad-$$"
CMD=()
while [ $# -gt 0 ]; do
  case "$1" in
    --dir) DIR="$2"; shift 2 ;;
    --cache) CACHE="$2"; shift 2 ;;
    --netns) NETNS="$2"; shift 2 ;;
    --) shift; CMD=("$@"); break ;;
    -h|--help) sed -n '2,50p' "$0"; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" 2 ;;
  esac
done

for tool in samba samba-tool ldbmodify ldbsearch ldapsearch openssl ip setpriv iconv base64 \
            tar flock sha256sum; do
  command -v "$tool" >/dev/null 2>&1 ||
    die "missing tool '$tool' (install the packages in deploy/install-deps.sh)" 3
done
[ "$(id -u)" -eq 0 ] || die "must run as root (it creates a network namespace)" 3
[ -f "$SEED_LDIF" ] || die "missing $SEED_LDIF" 3

OWN_DIR=0
if [ -z "$DIR" ]; then
  [ ${#CMD[@]} -gt 0 ] || die "--dir is required in fixture mode" 2
  DIR="$(mktemp -d /tmp/reclaim-samba-XXXXXX)"
  OWN_DIR=1
fi
mkdir -p "$DIR" "$CACHE"
DIR="$(cd "$DIR" && pwd)"
readonly DC="$DIR/dc"

SAMBA_PID=""
NETNS_CREATED=0
cleanup() {
  local rc=$?
  trap - EXIT INT TERM HUP
  if [ -n "$SAMBA_PID" ] && kill -0 "$SAMBA_PID" 2>/dev/null; then
    kill -TERM "$SAMBA_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SAMBA_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SAMBA_PID" 2>/dev/null || true
    wait "$SAMBA_PID" 2>/dev/null || true
  fi
  if [ "$NETNS_CREATED" -eq 1 ]; then ip netns del "$NETNS" 2>/dev/null || true; fi
  if [ "$OWN_DIR" -eq 1 ]; then rm -rf "$DIR"; fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 143' TERM
trap 'exit 130' INT
trap 'exit 129' HUP

# ---------------------------------------------------------------- the cache --
unicode_pwd() { printf '"%s"' "$1" | iconv -t UTF-16LE | base64 -w0; }

make_certs() {  # $1 = tls dir
  local t="$1"
  mkdir -p "$t"
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Reclaim Test CA" \
    -keyout "$t/ca.key" -out "$t/ca.crt" 2>/dev/null
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=Unrelated Test CA" \
    -keyout "$t/wrong-ca.key" -out "$t/wrong-ca.crt" 2>/dev/null
  openssl req -newkey rsa:2048 -nodes -subj "/CN=dc1.example.test" \
    -keyout "$t/server.key" -out "$t/server.csr" 2>/dev/null
  printf 'subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:dc1.example.test\nextendedKeyUsage=serverAuth\n' \
    > "$t/server.ext"
  openssl x509 -req -in "$t/server.csr" -CA "$t/ca.crt" -CAkey "$t/ca.key" -CAcreateserial \
    -days 3650 -extfile "$t/server.ext" -out "$t/server.crt" 2>/dev/null
  chmod 600 "$t"/*.key
  rm -f "$t/server.csr" "$t/server.ext" "$t/ca.srl" "$t/wrong-ca.key"
}

big_group_ldif() {
  local i
  for i in $(seq -f '%04g' 1 "$BIG_GROUP_SIZE"); do
    printf 'dn: CN=big%s,CN=Users,%s\nobjectClass: user\nuserAccountControl: 544\nsAMAccountName: big%s\n\n' "$i" "$BASE_DN" "$i"
  done
  printf 'dn: CN=Big Group,CN=Users,%s\nobjectClass: group\nsAMAccountName: Big Group\n' "$BASE_DN"
  for i in $(seq -f '%04g' 1 "$BIG_GROUP_SIZE"); do
    printf 'member: CN=big%s,CN=Users,%s\n' "$i" "$BASE_DN"
  done
}

rid_of() {  # $1 = sam.ldb, $2 = sAMAccountName of a group
  ldbsearch -H "$1" -b "$BASE_DN" "(sAMAccountName=$2)" objectSid |
    sed -n 's/^objectSid: S-.*-\([0-9]*\)$/\1/p'
}

set_primary_group() {  # $1 = sam.ldb, $2 = user CN, $3 = group sAMAccountName
  local rid
  rid="$(rid_of "$1" "$3")"
  [ -n "$rid" ] || die "no RID for group '$3'"
  printf 'dn: CN=%s,CN=Users,%s\nchangetype: modify\nreplace: primaryGroupID\nprimaryGroupID: %s\n' \
    "$2" "$BASE_DN" "$rid" | ldbmodify -H "$1" >/dev/null
}

build_template() {  # $1 = tarball to create
  local work d
  work="$(mktemp -d "$CACHE/build.XXXXXX")"
  d="$work/dc"
  log "provisioning EXAMPLE.TEST (cached afterwards as $1)"
  if ! samba-tool domain provision --realm=EXAMPLE.TEST --domain=EXAMPLE --server-role=dc \
      --dns-backend=NONE --use-rfc2307 --adminpass="$ADMIN_PASSWORD" --targetdir="$d" \
      --host-name=dc1 --host-ip=127.0.0.1 --option="interfaces=lo" \
      --option="bind interfaces only=yes" >"$work/provision.log" 2>&1; then
    tail -30 "$work/provision.log" >&2
    rm -rf "$work"
    die "samba-tool domain provision failed"
  fi
  make_certs "$d/tls"
  local sam="$d/private/sam.ldb"
  sed -e "s|@SERVICE_PWD@|$(unicode_pwd "$SERVICE_PASSWORD")|" \
      -e "s|@READER_PWD@|$(unicode_pwd "$READER_PASSWORD")|" "$SEED_LDIF" > "$work/seed.ldif"
  big_group_ldif > "$work/big.ldif"
  if ! ldbmodify -H "$sam" "$work/seed.ldif" >"$work/seed.log" 2>&1 ||
     ! ldbmodify -H "$sam" "$work/big.ldif" >>"$work/seed.log" 2>&1; then
    tail -20 "$work/seed.log" >&2
    rm -rf "$work"
    die "loading the seed data failed"
  fi
  # primaryGroupID can only name a group the user is a member of; Samba then
  # drops the user from the group's `member` (membership becomes implicit).
  set_primary_group "$sam" "Peter Primary" "Visio Users"
  set_primary_group "$sam" "Nora Nested Primary" "Visio Contractors"
  rm -f "$d/etc/smb.conf"
  tar -C "$d" -cf "$1.tmp.$$" .
  mv "$1.tmp.$$" "$1"
  rm -rf "$work"
}

KEY="$( (cat "$0" "$SEED_LDIF"; samba --version) | sha256sum | cut -c1-16)"
TEMPLATE="$CACHE/samba-ad-$KEY.tar"
(
  flock 9
  [ -f "$TEMPLATE" ] || build_template "$TEMPLATE"
) 9>"$CACHE/.lock"

rm -rf "$DC"
mkdir -p "$DC"
tar -C "$DC" -xf "$TEMPLATE"
mkdir -p "$DC/etc" "$DC/run" "$DC/log" "$DC/cache" "$DC/state" "$DC/bind-dns"

cat > "$DC/etc/smb.conf" <<EOF
# Written by start-samba-ad.sh for one test run.
[global]
	netbios name = DC1
	realm = EXAMPLE.TEST
	workgroup = EXAMPLE
	server role = active directory domain controller
	server services = ldap
	interfaces = lo
	bind interfaces only = yes
	private dir = $DC/private
	lock directory = $DC
	state directory = $DC/state
	cache directory = $DC/cache
	binddns dir = $DC/bind-dns
	pid directory = $DC/run
	ncalrpc dir = $DC/run/ncalrpc
	winbindd socket directory = $DC/run/winbindd
	ntp signd socket directory = $DC/run/ntp_signd
	log file = $DC/log/log.%m
	idmap_ldb:use rfc2307 = yes
	tls enabled = yes
	tls keyfile = $DC/tls/server.key
	tls certfile = $DC/tls/server.crt
	tls cafile = $DC/tls/ca.crt
	ldap server require strong auth = no
EOF

# ------------------------------------------------------------ the namespace --
for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^reclaim-ad-[0-9]*$' || true); do
  pid="${ns#reclaim-ad-}"
  if ! kill -0 "$pid" 2>/dev/null; then
    log "deleting stale namespace $ns"
    ip netns del "$ns" 2>/dev/null || true
  fi
done
ip netns add "$NETNS" || die "ip netns add $NETNS failed"
NETNS_CREATED=1
ip -n "$NETNS" link set lo up

ip netns exec "$NETNS" setpriv --pdeathsig KILL \
  samba -F --debug-stdout -M single -s "$DC/etc/smb.conf" >"$DIR/samba.log" 2>&1 &
SAMBA_PID=$!

ready=0
for _ in $(seq 300); do
  kill -0 "$SAMBA_PID" 2>/dev/null || break
  if ip netns exec "$NETNS" ldapsearch -x -H ldap://127.0.0.1 -b '' -s base -LLL \
       -o nettimeout=1 defaultNamingContext >/dev/null 2>&1 &&
     LDAPTLS_CACERT="$DC/tls/ca.crt" LDAPTLS_REQCERT=demand ip netns exec "$NETNS" \
       ldapsearch -x -H ldaps://127.0.0.1 -b '' -s base -LLL -o nettimeout=1 \
       defaultNamingContext >/dev/null 2>&1; then
    ready=1
    break
  fi
  sleep 0.1
done
if [ "$ready" -ne 1 ]; then
  tail -40 "$DIR/samba.log" >&2 || true
  die "samba did not answer LDAP and LDAPS within 30 s (log: $DIR/samba.log)"
fi

ENV_FILE="$DIR/samba-ad.env"
cat > "$ENV_FILE" <<EOF
RECLAIM_AD_NETNS=$NETNS
RECLAIM_AD_SAMBA_PID=$SAMBA_PID
RECLAIM_AD_DIR=$DC
RECLAIM_AD_SMB_CONF=$DC/etc/smb.conf
RECLAIM_AD_SAM_LDB=$DC/private/sam.ldb
RECLAIM_AD_LOG=$DIR/samba.log
RECLAIM_AD_LDAP_URI=ldap://127.0.0.1
RECLAIM_AD_LDAPS_URI=ldaps://127.0.0.1
RECLAIM_AD_BASE_DN=$BASE_DN
RECLAIM_AD_REALM=EXAMPLE.TEST
RECLAIM_AD_DOMAIN=EXAMPLE
RECLAIM_AD_CA_FILE=$DC/tls/ca.crt
RECLAIM_AD_WRONG_CA_FILE=$DC/tls/wrong-ca.crt
RECLAIM_AD_ADMIN_DN=CN=Administrator,CN=Users,$BASE_DN
RECLAIM_AD_ADMIN_PASSWORD=$ADMIN_PASSWORD
RECLAIM_AD_SERVICE_UPN=svc-reclaim@example.test
RECLAIM_AD_SERVICE_PASSWORD=$SERVICE_PASSWORD
RECLAIM_AD_READER_UPN=reader@example.test
RECLAIM_AD_READER_PASSWORD=$READER_PASSWORD
RECLAIM_AD_BIG_GROUP_SIZE=$BIG_GROUP_SIZE
EOF

if [ ${#CMD[@]} -gt 0 ]; then
  set -a
  # shellcheck disable=SC1090
  . "$ENV_FILE"
  set +a +e
  ip netns exec "$NETNS" "${CMD[@]}"
  rc=$?
  set -e
  exit "$rc"
fi

echo "READY $ENV_FILE"
# Wait for the caller: EOF on stdin (it closed the pipe, or died) ends the run.
while read -r _; do :; done || true
exit 0
