#!/usr/bin/env bash
# Second step of the main job: license reclamation against a REAL Active
# Directory. One command, as root on Debian 12, from a fresh clone:
#
#   deploy/demo-ad.sh
#
# 1. Installs the packages (deploy/install-deps.sh, incl. Samba and
#    ldap-utils) and builds reclaim-collector, reclaim-agent and reclaimctl.
# 2. Starts a throw-away Samba AD domain controller for EXAMPLE.TEST in a
#    network namespace of its own (tests/testing/samba/start-samba-ad.sh,
#    LDAPS on 127.0.0.1:636 inside the namespace, test CA) and re-runs this
#    script inside that namespace.
# 3. Creates the authorization group "Visio Licensed" (as Administrator)
#    with five members, starts a collector with an "ad" connector (LDAPS,
#    CA verified, service account password from an owner-only file), and
#    replays a day of usage per user through reclaim-agent (scripted focus
#    source): Anna Smith uses Visio for hours, Bob for 10 minutes, Jürgen and
#    Sean only use Word, Zoë has no metered device (no data: never removed).
# 4. reclaimctl: catalog entry and policy, dry run (who and the monthly
#    saving), real run, membership in the directory before and after
#    (ldapsearch), restore of one member, audit log and `audit verify`.
# Everything (DC, collector, files) is deleted at the end.
#
# Usage: deploy/demo-ad.sh    (RECLAIM_BUILD_DIR overrides the build dir, default build/)
set -euo pipefail
export RECLAIM_INSECURE_PLAINTEXT=1  # reclaimctl: the collector below listens without TLS
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/lib/collector.sh"

if [ "${1:-}" != "--inside-namespace" ]; then
  [ "$(id -u)" -eq 0 ] || { echo "demo-ad.sh: run as root (the AD DC needs a network namespace)" >&2; exit 2; }
  build=${RECLAIM_BUILD_DIR:-$root/build}
  "$root/deploy/install-deps.sh"
  cmake -S "$root" -B "$build" -G Ninja -DRECLAIM_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build "$build" -j "$(nproc)" --target reclaim-collector reclaim-agent reclaimctl
  echo
  echo "== starting a Samba AD domain controller for EXAMPLE.TEST (first start provisions it: ~15 s)"
  exec "$root/tests/testing/samba/start-samba-ad.sh" --cache "$build/samba-cache" \
    -- "$root/deploy/demo-ad.sh" --inside-namespace "$build"
fi

# ---- inside the DC's network namespace, with the RECLAIM_AD_* variables ----
build=$2
collector="$build/collector/server/reclaim-collector"
agent="$build/agent/reclaim-agent"
ctl="$build/collector/ctl/reclaimctl"
export LDAPTLS_CACERT="$RECLAIM_AD_CA_FILE" LDAPTLS_REQCERT=demand
base=$RECLAIM_AD_BASE_DN
group="Visio Licensed"
work=$(mktemp -d /tmp/reclaim-demo-ad.XXXXXX)
cpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
say() { echo; echo "== $*"; }
show() {  # prints the command (as typed by hand), then runs it
  local a line="\$"
  for a in "$@"; do case "$a" in *" "*) line+=" '$a'" ;; *) line+=" $a" ;; esac; done
  echo "$line" | sed "s|$build/collector/ctl/||; s| --collector 127.0.0.1:[0-9]*||; s| --token-file [^ ]*||"
  "$@"
}
admin=(-x -H "$RECLAIM_AD_LDAPS_URI" -D "$RECLAIM_AD_ADMIN_DN" -w "$RECLAIM_AD_ADMIN_PASSWORD")
members() {  # the directory's own view: direct members of the group
  echo "\$ ldapsearch -H $RECLAIM_AD_LDAPS_URI -b '$base' '(memberOf=CN=$group,CN=Users,$base)' cn sAMAccountName"
  ldapsearch -LLL -o ldif-wrap=no "${admin[@]}" -b "$base" "(memberOf=CN=$group,CN=Users,$base)" \
      cn sAMAccountName |
    while IFS= read -r line; do
      case "$line" in
        "dn:: "*) dn=$(printf '%s' "${line#dn:: }" | base64 -d) ;;
        "dn: "*) dn=${line#dn: } ;;
        "sAMAccountName: "*) printf '   %-10s %s\n' "${line#sAMAccountName: }" "$dn" ;;
        "sAMAccountName:: "*) printf '   %-10s %s\n' "$(printf '%s' "${line#sAMAccountName:: }" | base64 -d)" "$dn" ;;
      esac
    done | LC_ALL=C sort
}

say "the authorization group '$group' in AD (created as Administrator over LDAPS)"
ldapmodify "${admin[@]}" >/dev/null <<LDIF
dn: CN=$group,CN=Users,$base
changetype: add
objectClass: group
sAMAccountName: $group
description: Authorization group of the Visio licence (demo)
member: CN=Smith\, Anna,CN=Users,$base
member: CN=Bob Baker,CN=Users,$base
member: CN=J\C3\BCrgen Gr\C3\B6\C3\9F,CN=Users,$base
member: CN=Sean O'Brien,CN=Users,$base
member: CN=Zo\C3\AB (Ops) *star* \<x\> back\\\\slash,CN=Users,$base
LDIF
members

say "collector with an Active Directory connector"
printf '%s\n' "$RECLAIM_AD_SERVICE_PASSWORD" > "$work/ad.pw"
chmod 600 "$work/ad.pw"
cat > "$work/collector.toml" <<TOML
db = "$work/collector.db"
listen = "127.0.0.1:0"
admin-listen = "127.0.0.1:0"
# TLS and device enrollment are not what this script exercises (tests/integration/security_test.cc does)
insecure-plaintext = true
allow-unenrolled-agents = true
port-file = "$work/ports"
log-file = "$work/collector.log"

[connectors.corp-ad]
kind = "ad"
uri = "$RECLAIM_AD_LDAPS_URI"
ca_file = "$RECLAIM_AD_CA_FILE"
bind_dn = "$RECLAIM_AD_SERVICE_UPN"
password_file = "$work/ad.pw"
TOML
sed -n '/^\[connectors/,$p' "$work/collector.toml" | sed 's/^/   /'
reclaim_collector_start "$work/ports" "$collector" --config "$work/collector.toml" ||
  { echo "the collector did not start:" >&2; tail "$work/collector.log" >&2; exit 1; }
cpid=$reclaim_collector_pid
say "an admin token for reclaimctl (printed once; only its hash is stored)"
echo "\$ reclaim-collector admin-token create --name demo-admin --role admin --token-file admin.token"
"$collector" --db "$work/collector.db" --log-level warn admin-token create --name demo-admin \
  --role admin --token-file "$work/admin.token"
rc() { show "$ctl" --collector "127.0.0.1:$admin_port" --token-file "$work/admin.token" "$@"; }

say "yesterday's usage, replayed through reclaim-agent (one device per user)"
day=$(date -u -d '-1 day' +%Y-%m-%d)
replay() {  # login, then "EXE minutes" pairs
  local login=$1 f t=0 line
  shift
  f="$work/agent-$(printf '%s' "$login" | sha256sum | cut -c1-8)"
  {
    echo "start ${day}T08:30:00Z"
    while [ $# -gt 0 ]; do
      printf '+%02d:%02d:00 focus exe=C:/Office/%s name=%s class=%s\n' \
        $((t / 60)) $((t % 60)) "$1" "$1" "$1"
      t=$((t + $2))
      shift 2
    done
    printf '+%02d:%02d:00 end\n' $((t / 60)) $((t % 60))
  } > "$f.script"
  "$agent" --collector "127.0.0.1:$agent_port" --insecure-plaintext --spool "$f.spool" --script "$f.script" \
    --replay-speed 0 --exit-when-done --device-id "laptop-$login" --user-login "$login" \
    --user-domain EXAMPLE --log-file "$f.log"
  echo "   $login: $(grep -c focus "$f.script") focus changes replayed"
}
replay asmith VISIO.EXE 150 WINWORD.EXE 60 VISIO.EXE 90
replay bob WINWORD.EXE 120 VISIO.EXE 10 OUTLOOK.EXE 30
replay jürgen WINWORD.EXE 200 OUTLOOK.EXE 45
replay "o'brien" OUTLOOK.EXE 60 WINWORD.EXE 30
echo "   zoe(ops): no metered device"
rc usage

say "catalog entry and policy (grace 0 days: 'first seen in the group' starts at the first sync, i.e. now)"
rc applications add Visio --cost 15.00 --currency EUR --rule exe:visio.exe
rc policies create visio-unused --app Visio --connector corp-ad --group "$group" \
  --lookback-days 2 --threshold-minutes 5 --grace-days 0 --max-removals 10 --enable

say "dry run: who would be removed, why, and the monthly saving (nothing changes)"
rc run visio-unused --dry-run
echo "(the directory is unchanged:)"
members

say "real run: removes through LDAP, audited before and after each change"
rc run visio-unused --execute 2>&1 | tee "$work/run.out"
run_id=$(sed -n 's/^run \([0-9]*\) of visio-unused: succeeded.*/\1/p' "$work/run.out")
[ -n "$run_id" ] || { echo "the run did not succeed" >&2; exit 1; }
say "membership in AD after the run"
members

say "restore jürgen from the audit log"
seq=$("$ctl" --collector "127.0.0.1:$admin_port" --token-file "$work/admin.token" runs show "$run_id" --output csv |
      awk -F, '$1 == "EXAMPLE\\jürgen" {print $12}')
[ -n "$seq" ] || { echo "no audit entry for jürgen's removal" >&2; exit 1; }
rc restore "$seq" --output json
members

say "the audit log (hash-chained, append-only) and its verification"
echo "\$ reclaimctl audit --output csv | cut -d, -f1-4,6,7   # (the DETAIL column holds each entry's evidence, request and result)"
"$ctl" --collector "127.0.0.1:$admin_port" --token-file "$work/admin.token" audit --output csv | cut -d, -f1-4,6,7 |
  awk -F, '{printf "   %-4s %-25s %-40s %-19s %-4s %s\n", $1, $2, $3, $4, $5, $6}'
rc audit verify
echo
echo "demo-ad: done (the domain controller, collector and files are removed now)"
