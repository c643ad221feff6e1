#!/usr/bin/env bash
# End-to-end reclamation with the real binaries: reclaim-collector (SQLite,
# a "file" directory connector), reclaim-agent replaying scripted usage for
# five users, and reclaimctl: catalog, bad-input errors, dry run, a member
# removed behind Reclaim's back, a real run killed with SIGKILL mid-run and
# resumed (nobody removed twice), audit verify, restore, kill switch.
# Membership is checked in the directory file through the connector.
# Usage: reclaim_e2e_test.sh <build dir>
set -euo pipefail
. "$(cd "$(dirname "$0")/../../.." && pwd)/deploy/lib/collector.sh"
export RECLAIM_INSECURE_PLAINTEXT=1  # reclaimctl: the collector below listens without TLS
build=$1
collector="$build/collector/server/reclaim-collector"
agent="$build/agent/reclaim-agent"
ctl="$build/collector/ctl/reclaimctl"
work=$(mktemp -d /tmp/reclaim-e2e.XXXXXX)
cpid=""
cleanup() {
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- collector log" >&2; tail -30 "$work/collector.log" >&2; exit 1; }

cat > "$work/directory.json" <<'JSON'
{"users": [
  {"object_id": "guid-alice", "sam_account_name": "alice", "domain": "EXAMPLE", "upn": "alice@example.com"},
  {"object_id": "guid-bob", "sam_account_name": "bob", "domain": "EXAMPLE", "upn": "bob@example.com"},
  {"object_id": "guid-carl", "sam_account_name": "carl", "domain": "EXAMPLE", "upn": "carl@example.com"},
  {"object_id": "guid-dave", "sam_account_name": "dave", "domain": "EXAMPLE", "upn": "dave@example.com"},
  {"object_id": "guid-erin", "sam_account_name": "erin", "domain": "EXAMPLE", "upn": "erin@example.com"},
  {"object_id": "guid-nodata", "sam_account_name": "nodata", "domain": "EXAMPLE", "upn": "nodata@example.com"}],
 "groups": [
  {"object_id": "guid-visio-users", "name": "Visio Users",
   "members": ["guid-alice", "guid-bob", "guid-carl", "guid-dave", "guid-erin", "guid-nodata"]}]}
JSON
cat > "$work/collector.toml" <<TOML
db = "$work/collector.db"
listen = "127.0.0.1:0"
admin-listen = "127.0.0.1:0"
# TLS and device enrollment are not what this script exercises (tests/integration/security_test.cc does)
insecure-plaintext = true
allow-unenrolled-agents = true
port-file = "$work/ports"
log-file = "$work/collector.log"

[connectors.corp]
kind = "file"
path = "$work/directory.json"
remove_delay_ms = 700
TOML

start_collector() {
  reclaim_collector_start "$work/ports" "$collector" --config "$work/collector.toml" \
    || fail "collector did not start"
  cpid=$reclaim_collector_pid
}
# Admin tokens (hashes in the collector's database; each token in an
# owner-only file): NAME ROLE -> $work/NAME.token
mk_token() {
  reclaim_admin_token "$collector" "$work/collector.db" "$1" "$2" "$work/$1.token" \
    || fail "cannot create admin token $1"
}
mk_token e2e-admin admin
rc() { "$ctl" --collector "127.0.0.1:$admin_port" --token-file "$work/e2e-admin.token" "$@"; }
members() { rc candidates visio-unused --output csv 2>/dev/null | tail -n +2 | cut -d, -f1 | tr -d '\r' | sort | tr '\n' ' '; }

start_collector

# Usage from yesterday (UTC): alice uses Visio; the others only Word, for
# different lengths so the removal order is known (bob, carl, dave, then erin).
day=$(date -u -d '-1 day' +%Y-%m-%d)
meter() {  # user exe minutes
  cat > "$work/$1.script" <<S
start ${day}T09:00:00Z
+00:00:00 focus exe=C:/Office/$2 name=$2 class=$2
+00:$(printf %02d "$3"):00 end
S
  "$agent" --collector "127.0.0.1:$agent_port" --insecure-plaintext --spool "$work/$1.spool" --script "$work/$1.script" \
    --replay-speed 0 --exit-when-done --device-id "dev-$1" --user-login "$1" --user-domain EXAMPLE \
    --log-file "$work/agent-$1.log" || fail "agent for $1"
}
meter alice VISIO.EXE 30
meter bob WINWORD.EXE 1
meter carl WINWORD.EXE 2
meter dave WINWORD.EXE 3
meter erin WINWORD.EXE 4

rc applications add Visio --cost 15.00 --currency EUR --rule exe:visio.exe >/dev/null
rc applications list | grep -c "exe:visio.exe" >/dev/null || fail "catalog"

# Bad input: clear errors, nothing created.
expect_error() {  # message, command...
  local want=$1; shift
  if out=$(rc "$@" 2>&1); then fail "expected an error from: $*"; fi
  echo "$out" | grep -cF "$want" >/dev/null || fail "error for '$*' lacks '$want': $out"
}
common=(--connector corp --lookback-days 2 --grace-days 0 --max-removals 3)
expect_error "no application named 'Vizio'" policies create p1 --app Vizio --group "Visio Users" "${common[@]}"
expect_error "has no group 'Visio Userz'" policies create p1 --app Visio --group "Visio Userz" "${common[@]}"
expect_error "hour: 25 is out of range 0-23" policies create p1 --app Visio --group "Visio Users" --schedule "0 25 * * *" "${common[@]}"
expect_error "no connector named 'ad'" policies create p1 --app Visio --group "Visio Users" --connector ad
[ "$(rc policies list --output csv | wc -l)" = 1 ] || fail "a bad policy was stored"

rc policies create visio-unused --app Visio --group "Visio Users" "${common[@]}" --enable >/dev/null

# Admin roles (tokens made with the collector's own command line, presented
# by reclaimctl from owner-only files or the environment): a viewer reads but
# cannot run; an operator runs but cannot change the catalog, policies or the
# kill switch; no, forged, revoked or loosely stored tokens are refused.
mk_token e2e-operator operator
mk_token e2e-viewer viewer
as() { local who=$1; shift; "$ctl" --collector "127.0.0.1:$admin_port" --token-file "$work/$who.token" "$@"; }
expect_as_error() {  # token name, message, command...
  local who=$1 want=$2; shift 2
  if out=$(as "$who" "$@" 2>&1); then fail "expected an error for $who: $*"; fi
  echo "$out" | grep -cF -- "$want" >/dev/null || fail "error for $who '$*' lacks '$want': $out"
}
expect_as_error e2e-viewer \
  "permission denied: admin token 'e2e-viewer' has role viewer; StartRun needs role operator or higher" \
  run visio-unused --dry-run
expect_as_error e2e-viewer "ListCandidates needs role operator" candidates visio-unused
as e2e-viewer policies list | grep -c visio-unused >/dev/null || fail "a viewer cannot read policies"
as e2e-viewer audit verify >/dev/null || fail "a viewer cannot verify the audit log"
expect_as_error e2e-operator "CreatePolicy needs role admin" policies create p2 --app Visio --group "Visio Users" "${common[@]}"
expect_as_error e2e-operator "SetPolicyEnabled needs role admin" policies disable visio-unused
expect_as_error e2e-operator "AddApplication needs role admin" applications add Word
expect_as_error e2e-operator "SetKillSwitch needs role admin" kill-switch on
if out=$(env -u RECLAIM_ADMIN_TOKEN "$ctl" --collector "127.0.0.1:$admin_port" policies list 2>&1); then
  fail "a call without a token was accepted"
fi
echo "$out" | grep -cF "not authenticated: no admin token" >/dev/null || fail "no token: $out"
printf 'rcat_%s\n' "$(head -c 32 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')" > "$work/forged.token"
chmod 600 "$work/forged.token"
expect_as_error forged "not authenticated: unknown admin token" policies list
mk_token e2e-gone operator
"$collector" --db "$work/collector.db" --log-level warn admin-token revoke --name e2e-gone >/dev/null \
  || fail "revoke"
expect_as_error e2e-gone "admin token 'e2e-gone' was revoked" policies list
"$collector" --db "$work/collector.db" --log-level warn admin-token list | grep -c "^e2e-gone .*Z *[0-9]" >/dev/null \
  || fail "token list does not show the revocation"
"$collector" --db "$work/collector.db" --log-level warn admin-token list | grep -c rcat_ >/dev/null \
  && fail "token list shows a token"
cp "$work/e2e-viewer.token" "$work/loose.token"; chmod 644 "$work/loose.token"
if out=$(as loose policies list 2>&1); then fail "a 0644 token file was accepted"; else st=$?; fi
[ "$st" = 2 ] || fail "0644 token file: exit $st"
echo "$out" | grep -cF "has mode 0644: it must not be accessible by group or others" >/dev/null || fail "0644: $out"
echo "$out" | grep -cF "$(cat "$work/e2e-viewer.token")" >/dev/null && fail "the error shows the token"
RECLAIM_ADMIN_TOKEN="$(cat "$work/e2e-viewer.token")" "$ctl" --collector "127.0.0.1:$admin_port" \
  policies list | grep -c visio-unused >/dev/null || fail "token from RECLAIM_ADMIN_TOKEN"
# A token file saved with a UTF-8 byte-order mark (Notepad) or a token with a
# control character: a clear error, exit 2, never the token (gRPC used to
# abort and print the whole header value, token included, in hex).
printf '\xef\xbb\xbf%s\n' "$(cat "$work/e2e-viewer.token")" > "$work/bom.token"; chmod 600 "$work/bom.token"
if out=$(as bom policies list 2>&1); then fail "a token with a BOM was accepted"; else st=$?; fi
[ "$st" = 2 ] || fail "BOM token file: exit $st: $out"
echo "$out" | grep -cF "admin token has a byte that is not printable ASCII at offset 0" >/dev/null \
  || fail "BOM: $out"
viewer_token_b64=$(cut -c6- "$work/e2e-viewer.token" | head -c 12)
echo "$out" | grep -ciF -e "$viewer_token_b64" -e "72 63 61 74" >/dev/null && fail "the BOM error shows the token: $out"
if out=$(RECLAIM_ADMIN_TOKEN="$(cat "$work/e2e-viewer.token")$(printf '\001')" "$ctl" \
    --collector "127.0.0.1:$admin_port" policies list 2>&1); then
  fail "a token with a control character was accepted"
else st=$?; fi
[ "$st" = 2 ] || fail "control character token: exit $st: $out"
echo "$out" | grep -cF -e "$viewer_token_b64" >/dev/null && fail "the error shows the token: $out"
# A FIFO as the token file is refused at once (it used to wait for a writer).
mkfifo -m 600 "$work/fifo.token"
if out=$(timeout 20 "$ctl" --collector "127.0.0.1:$admin_port" --token-file "$work/fifo.token" \
    policies list 2>&1); then fail "a FIFO token file was accepted"; else st=$?; fi
[ "$st" = 2 ] || fail "FIFO token file: exit $st: $out"
echo "$out" | grep -cF "is not a regular file" >/dev/null || fail "FIFO: $out"
# --help never shows a token, also when one is in the environment.
for help in "$ctl --help" "$ctl run --help" "$ctl policies create --help" "$collector --help" \
            "$collector admin-token create --help"; do
  out=$(RECLAIM_ADMIN_TOKEN="$(cat "$work/e2e-viewer.token")" $help 2>&1) || fail "$help"
  if echo "$out" | grep -c "rcat_" >/dev/null; then fail "$help shows a token: $out"; fi
done

# Dry run: who, why, saving; nothing changes.
dry=$(rc run visio-unused --output csv 2>"$work/dry.err")
grep -q "would remove 3 of 6 members of Visio Users (1 no data, 1 over the cap); saving 45.00 EUR per month" "$work/dry.err" \
  || fail "dry run summary: $(cat "$work/dry.err")"
echo "$dry" | grep -c '^EXAMPLE\\bob,.*,candidate,' >/dev/null || fail "bob not a candidate: $dry"
echo "$dry" | grep -c '^EXAMPLE\\alice,.*,used,' >/dev/null || fail "alice not used: $dry"
echo "$dry" | grep -c '^EXAMPLE\\nodata,.*,no_data,' >/dev/null || fail "nodata: $dry"
echo "$dry" | grep -c '^EXAMPLE\\erin,.*,over_cap,' >/dev/null || fail "erin: $dry"
[ "$(members)" = "EXAMPLE\\alice EXAMPLE\\bob EXAMPLE\\carl EXAMPLE\\dave EXAMPLE\\erin EXAMPLE\\nodata " ] \
  || fail "dry run changed the directory: $(members)"

# Real run (planned: bob, carl, dave; erin over the cap). carl leaves the
# group behind Reclaim's back after planning, while the connector still
# works on bob (remove_delay_ms). The run is killed with SIGKILL after the
# first removal, then resumed by the restarted collector.
out=$(as e2e-operator run visio-unused --execute --no-wait 2>&1) || fail "real run: $out"
sed -i '/"members"/s/"guid-carl", //' "$work/directory.json"
for _ in $(seq 100); do
  n=$(sqlite3 "$work/collector.db" "SELECT count(*) FROM rc_audit_log WHERE action='remove.result'")
  [ "$n" -ge 1 ] && break
  sleep 0.1
done
kill -9 "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=""
state=$(sqlite3 "$work/collector.db" "SELECT state FROM rc_runs WHERE dry_run=0")
[ "$state" = removing ] || fail "run was not interrupted (state $state)"
start_collector
for _ in $(seq 100); do
  state=$(sqlite3 "$work/collector.db" "SELECT state FROM rc_runs WHERE dry_run=0")
  [ "$state" = succeeded ] && break
  sleep 0.2
done
[ "$state" = succeeded ] || fail "resumed run did not finish: $state"
[ "$(members)" = "EXAMPLE\\alice EXAMPLE\\erin EXAMPLE\\nodata " ] || fail "members after run: $(members)"
# Exactly one result per member; bob (removed before the kill) was not removed again.
dups=$(sqlite3 "$work/collector.db" "SELECT subject FROM rc_audit_log WHERE action='remove.result' GROUP BY subject HAVING count(*) > 1")
[ -z "$dups" ] || fail "removed twice: $dups"
[ "$(sqlite3 "$work/collector.db" "SELECT json_extract(detail,'$.outcome') FROM rc_audit_log WHERE action='remove.result' AND subject='guid-bob'")" = removed ] \
  || fail "bob's outcome"
[ "$(sqlite3 "$work/collector.db" "SELECT json_extract(detail,'$.outcome') FROM rc_audit_log WHERE action='remove.result' AND subject='guid-carl'")" = already_removed ] \
  || fail "carl's outcome"
rc runs | grep -c "succeeded" >/dev/null || fail "runs list"
rc audit verify >/dev/null || fail "audit chain does not verify"
# Every change carries its caller: token name and role.
actor_of() { sqlite3 "$work/collector.db" "SELECT DISTINCT actor FROM rc_audit_log WHERE action='$1'"; }
actor_of policy.create | grep -c '^admin:e2e-admin(admin)@' >/dev/null || fail "policy.create actor: $(actor_of policy.create)"
actor_of application.create | grep -c '^admin:e2e-admin(admin)@' >/dev/null || fail "application.create actor"
actor_of run.start | grep -c '^admin:e2e-operator(operator)@' >/dev/null || fail "run.start actor: $(actor_of run.start)"
actor_of remove.result | grep -c '^admin:e2e-operator(operator)@' >/dev/null || fail "remove.result actor"
[ "$(sqlite3 "$work/collector.db" "SELECT count(*) FROM rc_audit_log WHERE actor NOT LIKE 'admin:%(%)@%'")" = 0 ] \
  || fail "audit entries without a verified caller"

# Restore bob from the audit log.
seq=$(sqlite3 "$work/collector.db" "SELECT seq FROM rc_audit_log WHERE action='remove.result' AND subject='guid-bob'")
rc restore "$seq" --output json | grep -c '"outcome": "added"' >/dev/null || fail "restore"
[ "$(members)" = "EXAMPLE\\alice EXAMPLE\\bob EXAMPLE\\erin EXAMPLE\\nodata " ] || fail "members after restore: $(members)"

# Ask for permission through reclaimctl: the dry run asks nobody and says
# whom it would ask; the real run launches the run's campaign for the
# candidates (bob, erin) and waits for their answers.
rc policies create visio-ask --app Visio --group "Visio Users" "${common[@]}" --ask-permission \
  --wait-hours 24 --enable >/dev/null
rc policies show visio-ask | grep -c "yes (24h)" >/dev/null || fail "ask policy: $(rc policies show visio-ask)"
rc run visio-ask --output json >"$work/askdry.json" 2>"$work/askdry.err" || fail "ask dry run"
grep -q 'would ask 2 candidate(s) (EXAMPLE\\bob, EXAMPLE\\erin).*Nobody was asked' "$work/askdry.err" \
  || fail "ask dry run summary: $(cat "$work/askdry.err")"
grep -q '"EXAMPLE\\\\bob"' "$work/askdry.json" || fail "asked_users: $(cat "$work/askdry.json")"
[ "$(rc campaigns list --output csv | tail -n +2 | wc -l)" = 0 ] || fail "a dry run created a campaign"
out=$(rc run visio-ask --execute 2>&1) || fail "ask run: $out"
echo "$out" | grep -c "waits for campaign answers until" >/dev/null || fail "ask run output: $out"
ask_id=$(sqlite3 "$work/collector.db" "SELECT max(id) FROM rc_runs WHERE dry_run=0")
asked=$(rc campaigns show "reclaim-run-$ask_id" --output csv | tail -n +2 | cut -d, -f1 | sort | tr '\n' ' ')
[ "$asked" = "EXAMPLE\\bob EXAMPLE\\erin " ] || fail "asked: $asked"
rc campaigns list | grep -c "Do you still need Visio?" >/dev/null || fail "campaign question: $(rc campaigns list)"
[ "$(members)" = "EXAMPLE\\alice EXAMPLE\\bob EXAMPLE\\erin EXAMPLE\\nodata " ] || fail "the ask run removed someone"
# kill -9 while the run waits: after the restart it still waits, with the
# same single campaign and the same two questions (none asked twice).
kill -9 "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=""
start_collector
sleep 1  # the scheduler's first tick runs at start-up
[ "$(sqlite3 "$work/collector.db" "SELECT state FROM rc_runs WHERE id=$ask_id")" = awaiting_answers ] \
  || fail "ask run after the restart: $(sqlite3 "$work/collector.db" "SELECT state FROM rc_runs WHERE id=$ask_id")"
[ "$(rc campaigns list --output csv | tail -n +2 | wc -l)" = 1 ] || fail "campaigns after the restart: $(rc campaigns list)"
[ "$(rc campaigns show "reclaim-run-$ask_id" --output csv | tail -n +2 | wc -l)" = 2 ] || fail "responses after the restart"

# Kill switch: real runs refused, dry runs allowed.
rc kill-switch on >/dev/null
actor_of kill_switch.on | grep -c '^admin:e2e-admin(admin)@' >/dev/null || fail "kill_switch.on actor"
actor_of restore.result | grep -c '^admin:e2e-admin(admin)@' >/dev/null || fail "restore.result actor"
expect_error "kill switch is on" run visio-unused --execute
rc run visio-unused --dry-run >/dev/null 2>&1 || fail "dry run with the kill switch on"
rc kill-switch status | grep -c on >/dev/null || fail "kill switch status"

# Tampering is detected and named.
sqlite3 "$work/collector.db" "DROP TRIGGER rc_audit_log_no_update; UPDATE rc_audit_log SET actor='someone-else' WHERE seq=$seq"
if out=$(rc audit verify 2>&1); then fail "tampering not detected"; fi
echo "$out" | grep -c "audit chain broken at entry $seq" >/dev/null || fail "verify output: $out"
echo "PASS"
