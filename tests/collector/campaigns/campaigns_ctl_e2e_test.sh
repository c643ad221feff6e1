#!/usr/bin/env bash
# `reclaimctl campaigns` against a real reclaim-collector (SQLite): create
# (defaults and bad input), launch by hand for a list of users (twice: asks
# once), show responses, list with counts, expire, and everything still there
# after a collector restart.
# Usage: campaigns_ctl_e2e_test.sh <build dir>
set -euo pipefail
. "$(cd "$(dirname "$0")/../../.." && pwd)/deploy/lib/collector.sh"
export RECLAIM_INSECURE_PLAINTEXT=1  # reclaimctl: the collector below listens without TLS
build=$1
collector="$build/collector/server/reclaim-collector"
ctl="$build/collector/ctl/reclaimctl"
work=$(mktemp -d /tmp/reclaim-camp-e2e.XXXXXX)
cpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- collector log" >&2; tail -30 "$work/collector.log" >&2; exit 1; }

cat > "$work/collector.toml" <<TOML
db = "$work/collector.db"
listen = "127.0.0.1:0"
admin-listen = "127.0.0.1:0"
# TLS and device enrollment are not what this script exercises (tests/integration/security_test.cc does)
insecure-plaintext = true
allow-unenrolled-agents = true
port-file = "$work/ports"
log-file = "$work/collector.log"
TOML

start_collector() {
  reclaim_collector_start "$work/ports" "$collector" --config "$work/collector.toml" \
    || fail "collector did not start"
  cpid=$reclaim_collector_pid
}
stop_collector() { kill "$cpid"; wait "$cpid" || true; cpid=""; }
# Admin tokens (hashes in the collector's database; each token in an
# owner-only file): NAME ROLE -> $work/NAME.token
mk_token() {
  reclaim_admin_token "$collector" "$work/collector.db" "$1" "$2" "$work/$1.token" \
    || fail "cannot create admin token $1"
}
mk_token e2e-operator operator
rc() { "$ctl" --collector "127.0.0.1:$admin_port" --token-file "$work/e2e-operator.token" "$@"; }
json() { python3 -c "import json,sys; d=json.load(sys.stdin); print($1)"; }

start_collector

out=$(rc campaigns create visio-q4 --sender "IT Service Desk" \
      --question "Do you still need Microsoft Visio?" --output json)
[ "$(echo "$out" | json 'd[0]["answers"]')" = "['Yes', 'No']" ] || fail "default answers: $out"
[ "$(echo "$out" | json 'd[0]["priority"]')" = "not_urgent" ] || fail "default priority: $out"
[ "$(echo "$out" | json 'd[0]["postpone_delay_hours"]')" = "12" ] || fail "default postpone: $out"
[ "$(echo "$out" | json 'd[0]["answer_wait_hours"]')" = "168" ] || fail "default wait: $out"

rc campaigns create urgent-one --sender IT --question "Reboot today?" --answer Now \
   --answer Tonight --answer Tomorrow --urgent --wait-hours 4 --postpone-hours 1 >/dev/null
set +e
err=$(rc campaigns create visio-q4 --sender IT --question Q 2>&1); code=$?
[ $code -eq 1 ] && echo "$err" | grep -c "already exists" >/dev/null || fail "duplicate accepted ($code): $err"
err=$(rc campaigns create bad --sender IT --question Q --answer Only 2>&1); code=$?
[ $code -eq 1 ] && echo "$err" | grep -c "at least two answers" >/dev/null || fail "one answer accepted: $err"
# An ask-for-permission run adopts a campaign named after it: the name is
# reserved, and answers agents cannot show are refused.
err=$(rc campaigns create reclaim-run-1 --sender IT --question "Keep Visio?" 2>&1); code=$?
[ $code -eq 1 ] && echo "$err" | grep -c "reserved for ask-for-permission runs" >/dev/null \
  || fail "a run's campaign name accepted ($code): $err"
err=$(rc campaigns create pipe --sender IT --question Q --answer 'Yes|keep' --answer No 2>&1); code=$?
[ $code -eq 1 ] && echo "$err" | grep -c "which agents cannot show" >/dev/null \
  || fail "an answer with '|' accepted ($code): $err"
err=$(rc campaigns launch nope 'EXAMPLE\alice' 2>&1); code=$?
[ $code -eq 1 ] && echo "$err" | grep -ci "no campaign" >/dev/null || fail "unknown campaign: $err"
set -e

out=$(rc campaigns launch visio-q4 'EXAMPLE\alice' 'EXAMPLE\bob' --output json)
[ "$(echo "$out" | json 'len(d)')" = "2" ] || fail "launch: $out"
[ "$(echo "$out" | json '" ".join(r["state"] for r in d)')" = "pending pending" ] || fail "$out"
rc campaigns launch visio-q4 'EXAMPLE\alice' 'EXAMPLE\carl' >/dev/null
out=$(rc campaigns show visio-q4 --output json)
[ "$(echo "$out" | json '" ".join(r["user"] for r in d)')" = 'EXAMPLE\alice EXAMPLE\bob EXAMPLE\carl' ] \
  || fail "show: $out"
rc campaigns show visio-q4 | grep -c "EXAMPLE\\\\bob *pending" >/dev/null || fail "table output"

out=$(rc campaigns list --output json)
[ "$(echo "$out" | json 'd[0]["responses_by_state"]["pending"]')" = "3" ] || fail "list: $out"
[ "$(echo "$out" | json 'd[1]["answers"]')" = "['Now', 'Tonight', 'Tomorrow']" ] || fail "$out"
[ "$(echo "$out" | json 'd[1]["priority"]')" = "urgent" ] || fail "$out"

stop_collector
start_collector
[ "$(rc campaigns expire visio-q4 --output json | json 'd[0]["expired"]')" = "3" ] || fail "expire"
out=$(rc campaigns show visio-q4 --output json)
[ "$(echo "$out" | json '" ".join(r["state"] for r in d)')" = "expired expired expired" ] || fail "$out"
[ "$(echo "$out" | json 'd[0]["events"][0]["kind"]')" = "expired" ] || fail "history: $out"
[ "$(rc campaigns expire visio-q4 --output json | json 'd[0]["expired"]')" = "0" ] || fail "re-expire"
# Campaign changes are in the reclamation audit log with their caller (the
# operator's token), and the chain verifies.
out=$(rc audit --output json)
[ "$(echo "$out" | json '" ".join(e["action"] for e in d)')" = \
  "campaign.create campaign.create campaign.launch campaign.launch campaign.expire campaign.expire" ] \
  || fail "audit actions: $out"
[ "$(echo "$out" | json 'sorted(set(e["actor"].split("@")[0] for e in d))')" = "['admin:e2e-operator(operator)']" ] \
  || fail "audit actors: $out"
[ "$(echo "$out" | json 'd[2]["detail"]["users"]')" = "['EXAMPLE\\\\alice', 'EXAMPLE\\\\bob']" ] || fail "launch detail: $out"
rc audit verify >/dev/null || fail "audit chain"
echo "PASS"
