#!/usr/bin/env bash
# Full reclamation runs against a REAL Active Directory (Samba AD DC from
# tests/testing/samba), with the real binaries: reclaim-collector (kind "ad"
# connector over LDAPS), reclaim-agent replaying scripted usage per user, and
# reclaimctl. Membership is always checked in the directory itself
# (ldapsearch as Administrator), not only in Reclaim's records.
#
# Run it inside the DC's network namespace (CTest does):
#   tests/testing/samba/start-samba-ad.sh -- reclaim_ad_e2e_test.sh <build dir>
#
# The authorization group is the seed's "Visio Users" (see seed.ldif):
#   asmith   CN "Smith, Anna" (comma)       heavy Visio user      -> used, stays
#   bob      plain                          Visio 10 min          -> used, stays
#   alee     CN 'Anna "Nan" Lee' (quotes)   Word only             -> removed
#   h#tag    '#' in CN and login            Word only             -> removed
#   cpp.dev  CN "C++ Dev" ('+')             Word only             -> removed
#   semicolon CN "semi;colon" (';')         Word only; removed behind Reclaim's
#                                           back after the dry run -> not in the
#                                           real run's plan
#   jürgen   non-ASCII CN and login         Word only             -> removed, restored
#   o'brien  quote in login                 Word only             -> removed
#   zoe(ops) no agent at all                                      -> no data, stays
#   carol    disabled account, no agent                           -> no data, stays
#   alice    direct AND via "Visio Contractors", Word only
#                                           -> still_licensed_through, still a member
#   pgroup.user primary group = Visio Users, Word only
#                                           -> needs_manual_action, still a member
#   dave, erin, pgnested.user: only through nested groups       -> not_direct
# Grace: the core counts "first seen" from the group's first sync, which is
# the policy's creation here, so the policy uses --grace-days 0.
#
# A second group, "Crash Test" (40 users created here, each metered; one with
# a CN full of special characters), is run with the DC paused (SIGSTOP)
# right after the first removal and the collector killed with SIGKILL while
# it waits on the directory. While it is down, a planned member leaves the
# group behind Reclaim's back. After a restart the run resumes: that member
# is "already_removed", nobody is removed twice, and the audit chain
# verifies. Bad input (unknown application or group, malformed cron, wrong
# bind password, unreachable directory) gives clear errors and removes
# nobody.
# Usage: reclaim_ad_e2e_test.sh <build dir>
set -euo pipefail
. "$(cd "$(dirname "$0")/../../.." && pwd)/deploy/lib/collector.sh"
export RECLAIM_INSECURE_PLAINTEXT=1  # reclaimctl: the collector below listens without TLS
build=$1
collector="$build/collector/server/reclaim-collector"
agent="$build/agent/reclaim-agent"
ctl="$build/collector/ctl/reclaimctl"
for v in RECLAIM_AD_LDAPS_URI RECLAIM_AD_CA_FILE RECLAIM_AD_SERVICE_UPN RECLAIM_AD_SERVICE_PASSWORD \
         RECLAIM_AD_ADMIN_DN RECLAIM_AD_ADMIN_PASSWORD RECLAIM_AD_BASE_DN RECLAIM_AD_SAMBA_PID; do
  [ -n "${!v:-}" ] || { echo "FAIL: $v is not set: run me through tests/testing/samba/start-samba-ad.sh -- $0" >&2; exit 1; }
done
export LDAPTLS_CACERT="$RECLAIM_AD_CA_FILE" LDAPTLS_REQCERT=demand
work=$(mktemp -d /tmp/reclaim-ad-e2e.XXXXXX)
cpid=""
cleanup() {
  kill -CONT "$RECLAIM_AD_SAMBA_PID" 2>/dev/null || true
  [ -n "$cpid" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; echo "--- collector log" >&2; tail -40 "$work/collector.log" >&2 || true; exit 1; }
step() { echo "== $*"; }

base=$RECLAIM_AD_BASE_DN
adm=(-x -H "$RECLAIM_AD_LDAPS_URI" -D "$RECLAIM_AD_ADMIN_DN" -w "$RECLAIM_AD_ADMIN_PASSWORD")
# sAMAccountNames of the users that are DIRECT members of group CN $1 (the
# directory's own view), sorted, space-separated. Base64 values (non-ASCII)
# are decoded.
ad_members() {
  ldapsearch -LLL -o ldif-wrap=no "${adm[@]}" -b "$base" \
      "(&(objectClass=user)(memberOf=CN=$1,CN=Users,$base))" sAMAccountName |
    while IFS= read -r line; do
      case "$line" in
        "sAMAccountName:: "*) printf '%s' "${line#sAMAccountName:: }" | base64 -d; echo ;;
        "sAMAccountName: "*) echo "${line#sAMAccountName: }" ;;
      esac
    done | LC_ALL=C sort | tr '\n' ' '
}
ad_attr() {  # filter attribute -> value
  ldapsearch -LLL -o ldif-wrap=no "${adm[@]}" -b "$base" "$1" "$2" | sed -n "s/^$2: //p"
}

printf '%s\n' "$RECLAIM_AD_SERVICE_PASSWORD" > "$work/svc.pw"
printf 'RECLAIM-TEST-SECRET-not-the-password\n' > "$work/wrong.pw"
chmod 600 "$work/svc.pw" "$work/wrong.pw"
write_config() {  # $1 = URI of connector "corp"
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
kind = "ad"
uri = "$1"
ca_file = "$RECLAIM_AD_CA_FILE"
bind_dn = "$RECLAIM_AD_SERVICE_UPN"
password_file = "$work/svc.pw"
operation_timeout = "60s"

[connectors.wrongpw]
kind = "ad"
uri = "$RECLAIM_AD_LDAPS_URI"
ca_file = "$RECLAIM_AD_CA_FILE"
bind_dn = "$RECLAIM_AD_SERVICE_UPN"
password_file = "$work/wrong.pw"

[connectors.down]
kind = "ad"
uri = "ldaps://127.0.0.1:1636"
ca_file = "$RECLAIM_AD_CA_FILE"
bind_dn = "$RECLAIM_AD_SERVICE_UPN"
password_file = "$work/svc.pw"
network_timeout = "2s"
TOML
}
start_collector() {
  reclaim_collector_start "$work/ports" "$collector" --config "$work/collector.toml" \
    || fail "collector did not start"
  cpid=$reclaim_collector_pid
}
stop_collector() { kill "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=""; }
# Admin tokens (hashes in the collector's database; each token in an
# owner-only file): NAME ROLE -> $work/NAME.token
mk_token() {
  reclaim_admin_token "$collector" "$work/collector.db" "$1" "$2" "$work/$1.token" \
    || fail "cannot create admin token $1"
}
mk_token ad-e2e admin
rc() { "$ctl" --collector "127.0.0.1:$admin_port" --token-file "$work/ad-e2e.token" "$@"; }
q() { sqlite3 -cmd ".timeout 10000" "$work/collector.db" "$@"; }
expect_error() {  # message, command...
  local want=$1; shift
  if out=$(rc "$@" 2>&1); then fail "expected an error from: $*"; fi
  echo "$out" | grep -cF -- "$want" >/dev/null || fail "error for '$*' lacks '$want': $out"
  echo "   ok: $(echo "$out" | head -1)"
}

# Usage from yesterday (UTC), replayed through the real agent.
day=$(date -u -d '-1 day' +%Y-%m-%d)
meter() {  # login exe minutes
  local f
  f="$work/$(printf '%s' "$1" | sha256sum | cut -c1-12)"
  cat > "$f.script" <<S
start ${day}T09:00:00Z
+00:00:00 focus exe=C:/Office/$2 name=$2 class=$2
+$(printf %02d $(($3 / 60))):$(printf %02d $(($3 % 60))):00 end
S
  "$agent" --collector "127.0.0.1:$agent_port" --insecure-plaintext --spool "$f.spool" --script "$f.script" \
    --replay-speed 0 --exit-when-done --device-id "dev-$1" --user-login "$1" --user-domain EXAMPLE \
    --log-file "$f.log" || fail "agent for $1"
}

step "a bad connector setting stops the collector at start-up (exit 2, the key named)"
write_config "$RECLAIM_AD_LDAPS_URI"
cp "$work/collector.toml" "$work/good.toml"
echo 'page_size = "lots"' >> "$work/collector.toml"
if "$collector" --config "$work/collector.toml" 2>/dev/null; then fail "a bad setting was accepted"; else st=$?; fi
[ "$st" = 2 ] || fail "exit code $st for a bad setting"
grep -q "connector 'down': INVALID_ARGUMENT: LDAP connector: page_size must be an integer" "$work/collector.log" \
  || fail "bad setting message: $(tail -1 "$work/collector.log")"
mv "$work/good.toml" "$work/collector.toml"
start_collector

step "usage through reclaim-agent"
meter asmith VISIO.EXE 150
meter bob VISIO.EXE 10
for u in alee 'h#tag' cpp.dev semicolon jürgen "o'brien" alice pgroup.user; do meter "$u" WINWORD.EXE 3; done
meter dave WINWORD.EXE 1
meter erin WINWORD.EXE 1
rc usage --output csv | grep -c 'jürgen' >/dev/null || fail "non-ASCII login not stored: $(rc usage)"

rc applications add Visio --cost 15.00 --currency EUR --rule exe:visio.exe >/dev/null

step "bad input: clear errors, nothing stored, nobody removed"
before=$(ad_members "Visio Users")
common=(--connector corp --lookback-days 2 --grace-days 0 --max-removals 20)
expect_error "no application named 'Vizio'" policies create p1 --app Vizio --group "Visio Users" "${common[@]}"
expect_error "Visio Userz" policies create p1 --app Visio --group "Visio Userz" "${common[@]}"
expect_error "hour: 25 is out of range 0-23" policies create p1 --app Visio --group "Visio Users" --schedule "0 25 * * *" "${common[@]}"
expect_error "failed: invalid credentials" policies create p1 --app Visio --group "Visio Users" --connector wrongpw
expect_error "ldaps://127.0.0.1:1636" policies create p1 --app Visio --group "Visio Users" --connector down
[ "$(rc policies list --output csv | wc -l)" = 1 ] || fail "a bad policy was stored"
[ "$(ad_members "Visio Users")" = "$before" ] || fail "bad input changed the directory"
# The wrong password is never echoed back.
grep -q "RECLAIM-TEST-SECRET" "$work/collector.log" && fail "the password leaked into the log"

rc policies create visio-unused --app Visio --group "Visio Users" "${common[@]}" --enable >/dev/null

step "directory before: $before"
[ "$before" = "alee alice asmith bob carol cpp.dev h#tag jürgen o'brien semicolon zoe(ops) " ] \
  || fail "unexpected seed membership: $before"
pg_before=$(ad_attr "(sAMAccountName=pgroup.user)" primaryGroupID)

step "dry run"
rc run visio-unused --output table 2>"$work/dry.err" | tee "$work/dry.out"
cat "$work/dry.err"
grep -q "would remove 8 of 15 members of Visio Users (2 no data, 0 over the cap); saving 120.00 EUR per month. Nothing was changed." \
  "$work/dry.err" || fail "dry run summary: $(cat "$work/dry.err")"
dry_id=$(q "SELECT max(id) FROM rc_runs WHERE dry_run=1")
decision() { q "SELECT decision FROM rc_run_items WHERE run_id=$1 AND sam_account_name='$(printf '%s' "$2" | sed "s/'/''/g")'"; }
for u in alee 'h#tag' cpp.dev semicolon jürgen "o'brien" alice pgroup.user; do
  [ "$(decision "$dry_id" "$u")" = candidate ] || fail "$u: $(decision "$dry_id" "$u")"
done
for u in asmith bob; do [ "$(decision "$dry_id" "$u")" = used ] || fail "$u not used"; done
for u in 'zoe(ops)' carol; do [ "$(decision "$dry_id" "$u")" = no_data ] || fail "$u not no_data"; done
for u in dave erin pgnested.user; do [ "$(decision "$dry_id" "$u")" = not_direct ] || fail "$u not not_direct"; done
[ "$(ad_members "Visio Users")" = "$before" ] || fail "the dry run changed the directory"

step "semicolon leaves the group behind Reclaim's back"
ldapmodify "${adm[@]}" >/dev/null <<LDIF || fail "ldapmodify"
dn: CN=Visio Users,CN=Users,$base
changetype: modify
delete: member
member: CN=semi\;colon,CN=Users,$base
LDIF

step "real run"
rc run visio-unused --execute --output table 2>"$work/run.err" | tee "$work/run.out" || fail "real run: $(cat "$work/run.err")"
tail -1 "$work/run.err"
# alice (still licensed through a nested group) and pgroup.user (primary
# group) are not counted as reclaimed: 5 seats, 75.00 EUR.
grep -q "succeeded; 5 removed, 2 manual, 0 failed, 0 pending; saving 75.00 EUR per month" "$work/run.err" \
  || fail "run summary: $(tail -1 "$work/run.err")"
run_id=$(q "SELECT max(id) FROM rc_runs WHERE dry_run=0")
[ "$(q "SELECT state FROM rc_runs WHERE id=$run_id")" = succeeded ] || fail "run state"
outcome() { q "SELECT outcome FROM rc_run_items WHERE run_id=$1 AND sam_account_name='$(printf '%s' "$2" | sed "s/'/''/g")'"; }
for u in alee 'h#tag' cpp.dev jürgen "o'brien"; do
  [ "$(outcome "$run_id" "$u")" = removed ] || fail "$u: outcome $(outcome "$run_id" "$u")"
done
# The run re-plans against the directory: semicolon is no longer a member.
[ "$(q "SELECT count(*) FROM rc_run_items WHERE run_id=$run_id AND sam_account_name='semicolon'")" = 0 ] \
  || fail "semicolon is still in the plan"
[ "$(outcome "$run_id" pgroup.user)" = needs_manual_action ] || fail "pgroup.user: $(outcome "$run_id" pgroup.user)"
[ "$(outcome "$run_id" alice)" = still_licensed_through ] || fail "alice: $(outcome "$run_id" alice)"
q "SELECT detail FROM rc_run_items WHERE run_id=$run_id AND sam_account_name='alice'" | grep -c "Visio Contractors" >/dev/null \
  || fail "alice's detail does not name Visio Contractors"

step "directory after"
after=$(ad_members "Visio Users")
echo "   $after"
[ "$after" = "asmith bob carol zoe(ops) " ] || fail "direct members after the run: $after"
# alice keeps the licence through the nested group; pgroup.user through the
# primary group, untouched.
ad_members "Visio Contractors" | grep -cw alice >/dev/null || fail "alice left Visio Contractors"
[ "$(ad_attr "(sAMAccountName=pgroup.user)" primaryGroupID)" = "$pg_before" ] || fail "primary group changed"
rc audit verify >/dev/null || fail "audit chain does not verify"

step "restore jürgen"
seq=$(q "SELECT result_audit_seq FROM rc_run_items WHERE run_id=$run_id AND sam_account_name='jürgen'")
rc restore "$seq" --output json | grep -c '"outcome": "added"' >/dev/null || fail "restore"
ad_members "Visio Users" | grep -c "jürgen" >/dev/null || fail "jürgen is not a member again: $(ad_members "Visio Users")"

step "crash in the middle of a run: 40 members, DC paused after the first removal, collector SIGKILLed"
{
  cn() { if [ "$1" = 07 ]; then printf 'Crash\\, \\"Q\\" \\#\\+\\; Ünïcode %s' "$1"; else printf 'Crash User %s' "$1"; fi; }
  for i in $(seq -w 1 40); do
    printf 'dn: CN=%s,CN=Users,%s\nobjectClass: user\nsAMAccountName: crash%s\nuserPrincipalName: crash%s@example.test\nuserAccountControl: 544\n\n' \
      "$(cn "$i")" "$base" "$i" "$i"
  done
  printf 'dn: CN=Crash Test,CN=Users,%s\nobjectClass: group\nsAMAccountName: Crash Test\n' "$base"
  for i in $(seq -w 1 40); do printf 'member: CN=%s,CN=Users,%s\n' "$(cn "$i")" "$base"; done
} | ldapadd "${adm[@]}" >/dev/null || fail "creating Crash Test"
agents=()
for i in $(seq -w 1 40); do meter "crash$i" WINWORD.EXE 1 & agents+=($!); done
for p in "${agents[@]}"; do wait "$p" || fail "an agent failed"; done
rc policies create crash --app Visio --group "Crash Test" --connector corp --lookback-days 2 \
  --grace-days 0 --max-removals 100 --enable >/dev/null
[ "$(ad_members "Crash Test" | wc -w)" = 40 ] || fail "Crash Test setup"
rc run crash --execute --no-wait >/dev/null 2>&1 || fail "starting the crash run"
crash_id=$(q "SELECT max(id) FROM rc_runs WHERE dry_run=0")
for _ in $(seq 1000); do
  n=$(q "SELECT count(*) FROM rc_audit_log WHERE action='remove.result' AND run_id=$crash_id")
  [ "$n" -ge 1 ] && break
  sleep 0.01
done
kill -STOP "$RECLAIM_AD_SAMBA_PID"
done_before=$(q "SELECT count(*) FROM rc_audit_log WHERE action='remove.result' AND run_id=$crash_id")
[ "$done_before" -ge 1 ] && [ "$done_before" -lt 40 ] || fail "could not pause mid-run ($done_before of 40 done)"
# Wait until the next removal is in flight: its intent is audited, and the
# collector now waits on the paused DC for the answer.
count() { q "SELECT count(*) FROM rc_audit_log WHERE action='$1' AND run_id=$crash_id"; }
for _ in $(seq 500); do [ "$(count remove.intent)" -gt "$done_before" ] && break; sleep 0.01; done
[ "$(count remove.intent)" = $((done_before + 1)) ] || fail "no removal in flight"
inflight=$(q "SELECT object_id FROM rc_run_items WHERE run_id=$crash_id AND state='intent'")
[ -n "$inflight" ] || fail "no item in state intent"
kill -9 "$cpid"; wait "$cpid" 2>/dev/null || true; cpid=""
kill -CONT "$RECLAIM_AD_SAMBA_PID"
[ "$(q "SELECT state FROM rc_runs WHERE id=$crash_id")" = removing ] || fail "the run was not interrupted"
echo "   killed with $done_before of 40 removals recorded"
# A member still pending in the plan leaves the group behind Reclaim's back.
gone=$(q "SELECT object_id FROM rc_run_items WHERE run_id=$crash_id AND state='pending' ORDER BY idx DESC LIMIT 1")
[ -n "$gone" ] || fail "no pending item left"
ldapmodify "${adm[@]}" >/dev/null <<LDIF || fail "ldapmodify (behind Reclaim's back)"
dn: CN=Crash Test,CN=Users,$base
changetype: modify
delete: member
member: <GUID=$gone>
LDIF
start_collector
for _ in $(seq 300); do
  state=$(q "SELECT state FROM rc_runs WHERE id=$crash_id")
  [ "$state" = succeeded ] && break
  sleep 0.2
done
[ "$state" = succeeded ] || fail "resumed run did not finish: $state"
[ "$(ad_members "Crash Test")" = "" ] || fail "still in Crash Test: $(ad_members "Crash Test")"
dups=$(q "SELECT subject FROM rc_audit_log WHERE action IN ('remove.intent','remove.result') AND run_id=$crash_id GROUP BY subject, action HAVING count(*) > 1")
[ -z "$dups" ] || fail "removed twice: $dups"
[ "$(q "SELECT count(*) FROM rc_audit_log WHERE action='remove.result' AND run_id=$crash_id")" = 40 ] \
  || fail "not one result per member"
[ "$(q "SELECT outcome FROM rc_run_items WHERE run_id=$crash_id AND object_id='$gone'")" = already_removed ] \
  || fail "the member removed behind Reclaim's back: $(q "SELECT outcome FROM rc_run_items WHERE run_id=$crash_id AND object_id='$gone'")"
# The removal in flight at the kill: the DC may have applied it after
# SIGCONT (then the resumed run verifies "already_removed" without a second
# request) or never received it (then it is removed now); either way once.
echo "   the removal in flight at the kill: $(q "SELECT outcome FROM rc_run_items WHERE run_id=$crash_id AND object_id='$inflight'")"
q "SELECT json_extract(detail,'\$.outcome'), count(*) FROM rc_audit_log WHERE action='remove.result' AND run_id=$crash_id GROUP BY 1" |
  sed 's/^/   outcome /'
rc audit verify >/dev/null || fail "audit chain does not verify after the crash"

step "unreachable directory: the collector starts (lazy connect), runs fail clearly, nobody removed"
stop_collector
write_config "ldaps://127.0.0.1:1636"
start_collector
before=$(ad_members "Visio Users")
expect_error "ldaps://127.0.0.1:1636" run visio-unused --dry-run
expect_error "ldaps://127.0.0.1:1636" run visio-unused --execute
[ "$(q "SELECT count(*) FROM rc_runs WHERE state IN ('removing','awaiting_answers')")" = 0 ] || fail "a run was left pending"
[ "$(ad_members "Visio Users")" = "$before" ] || fail "membership changed"
rc audit verify >/dev/null || fail "audit chain"
stop_collector
echo "PASS"
