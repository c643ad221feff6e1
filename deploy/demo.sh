#!/usr/bin/env bash
# The main job: a SQLite collector on loopback and reclaim-agent metering REAL
# windows, then `reclaimctl usage` and `reclaimctl devices`.
#
#  - On a machine without a desktop it starts a headless one: Xvfb, openbox,
#    real applications (xterm, xcalc, xmessage, xlogo) and a scripted user
#    (xdotool) who switches between them for about a minute, pauses (idle) and
#    leaves the focus on the desktop; the agent meters that X session.
#  - On a desktop ($DISPLAY set and a window manager running) it meters your
#    real session for --seconds (default 60): use your applications meanwhile.
#  - With --prompt, a consent campaign is launched for you (the session's user)
#    as soon as the agent runs: its prompt ("Do you still need ...?") appears
#    on the screen. On the headless desktop the script takes a screenshot of
#    it (--screenshot FILE, default ./reclaim-prompt.png) and the scripted user
#    answers Yes; on your desktop you answer it yourself (within 2 minutes).
#    `reclaimctl campaigns show` then prints the answer the collector got.
#  - Then (unless --no-replay) it also replays the bundled sample day
#    (deploy/sample-day.script) through the scripted focus source, as a second
#    device, so the report shows a full day too.
#
#  - Everything runs with TLS and device enrollment, as in production: a
#    throw-away test CA and server certificate (deploy/make-test-ca.sh) and a
#    random enrollment secret (owner-only file). The session's agent talks to
#    the machine's reclaim-agent-service on a local socket, as installed
#    endpoints do: the service enrolled the machine once with the secret,
#    keeps the device credential and states which user each session is (the
#    kernel tells it: SO_PEERCRED). Here it runs as you with its socket and
#    credential in the demo's temp dir; installed, it runs as root
#    (deploy/install-agent.sh). The sample-day replay uses direct mode: the
#    agent's own relay, enrolled with the secret under the replayed device.
#
# Usage: deploy/demo.sh [--keep] [--seconds N] [--no-replay] [--replay-only]
#                       [--prompt [--screenshot FILE]]
#   --keep  leaves the collector running afterwards (the script prints the address)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
. "$root/deploy/lib/collector.sh"
build=${RECLAIM_BUILD_DIR:-$root/build}
keep=0 seconds=60 replay=1 real=1 prompt=0 screenshot=$PWD/reclaim-prompt.png
while [ $# -gt 0 ]; do
  case "$1" in
    --keep) keep=1 ;;
    --seconds) seconds=$2; shift ;;
    --no-replay) replay=0 ;;
    --replay-only) real=0 ;;
    --prompt) prompt=1 ;;
    --screenshot) screenshot=$(realpath -m "$2"); shift ;;
    *) echo "usage: $0 [--keep] [--seconds N] [--no-replay] [--replay-only] [--prompt [--screenshot FILE]]" >&2
       exit 2 ;;
  esac
  shift
done

"$root/deploy/install-deps.sh"
# Same settings as deploy/test.sh, so running both builds only once.
cmake -S "$root" -B "$build" -G Ninja -DRECLAIM_WERROR=ON -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target reclaim-collector reclaim-agent reclaimctl

collector="$build/collector/server/reclaim-collector"
agent="$build/agent/reclaim-agent"
service="$build/agent/service/reclaim-agent-service"
ctl="$build/collector/ctl/reclaimctl"
work=$(mktemp -d /tmp/reclaim-demo.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ "$keep" = 0 ]; then
    [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
    rm -rf "$work"
  fi
}
trap cleanup EXIT

echo "== TLS: a test CA and a server certificate for 127.0.0.1 (deploy/make-test-ca.sh)"
"$root/deploy/make-test-ca.sh" "$work/tls"
(umask 077; openssl rand -hex 32 > "$work/enrollment.secret")
export RECLAIM_CA_FILE="$work/tls/ca.pem"  # reclaimctl verifies the collector with it
reclaim_collector_start "$work/ports" \
  "$collector" --db "$work/collector.db" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --tls-cert "$work/tls/server.pem" --tls-key "$work/tls/server-key.pem" \
  --enrollment-secret-file "$work/enrollment.secret" \
  --port-file "$work/ports" --log-file "$work/collector.log" ||
  { echo "collector did not start; see $work/collector.log" >&2; exit 1; }
cpid=$reclaim_collector_pid
# reclaimctl presents an admin token; a viewer may read usage and devices.
reclaim_admin_token "$collector" "$work/collector.db" demo-viewer viewer "$work/viewer.token"

# Waits (up to $2 tenths of a second) until the command in $1 succeeds.
wait_until() { for _ in $(seq "$2"); do eval "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; return 1; }

if [ "$real" = 1 ]; then
  headless=1
  if [ -n "${DISPLAY:-}" ] && xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -c 'window id' >/dev/null; then
    headless=0
  fi
  if [ "$headless" = 1 ]; then
    echo "== no desktop here: starting a headless one (Xvfb + openbox + xterm, xcalc, xmessage, xlogo)"
    Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp 3>"$work/display" 2>"$work/xvfb.log" &
    pids+=($!)
    wait_until '[ -s "$work/display" ]' 100 || { echo "Xvfb did not start" >&2; exit 1; }
    export DISPLAY=":$(cat "$work/display")"
    openbox --sm-disable >"$work/openbox.log" 2>&1 &
    pids+=($!)
    wait_until 'xprop -root _NET_SUPPORTING_WM_CHECK | grep -q "window id"' 100 ||
      { echo "openbox did not start" >&2; exit 1; }
    for app in "xterm -title notes" "xcalc" "xmessage -center Quarterly-report-draft" "xlogo"; do
      $app >/dev/null 2>&1 &
      pids+=($!)
    done
    wait_until '[ "$(xdotool search --onlyvisible --class "XTerm|XCalc|Xmessage|XLogo" | wc -l)" -ge 4 ]' 100
  else
    echo "== metering your desktop session on $DISPLAY for $seconds s: use your applications"
  fi
  # The session's user as the machine service attests it: DOMAIN\login
  # (local accounts: the host name is the domain).
  me_login=$(id -un)
  me_domain=$(hostname -s | tr '[:lower:]' '[:upper:]')
  # The machine's device id: /etc/machine-id, or the host name where a
  # container has none.
  machine=()
  [ -s /etc/machine-id ] || machine=(--device-id "demo-$(hostname -s)")
  echo "== reclaim-agent-service enroll: the machine enrolls once with the enrollment secret"
  "$service" enroll --collector "127.0.0.1:$agent_port" --ca-file "$work/tls/ca.pem" \
    --enrollment-secret-file "$work/enrollment.secret" "${machine[@]}" \
    --credential-file "$work/machine/credential" --log-file "$work/service.log" ||
    { echo "enrollment failed; see $work/service.log" >&2; exit 1; }
  echo "== reclaim-agent-service run: the machine service on $work/agent.sock"
  "$service" run --collector "127.0.0.1:$agent_port" --ca-file "$work/tls/ca.pem" \
    "${machine[@]}" --credential-file "$work/machine/credential" \
    --address "$work/agent.sock" --user-domain "$me_domain" --log-file "$work/service.log" &
  pids+=($!)
  wait_until '[ -S "$work/agent.sock" ]' 100 ||
    { echo "the machine service did not start; see $work/service.log" >&2; exit 1; }
  "$agent" --service-address "$work/agent.sock" --spool "$work/spool-real.db" \
    --display "$DISPLAY" --idle-threshold 10 --heartbeat 10 --drain-timeout 20 \
    --prompt-min-interval 0 --prompt-timeout 120 --do-not-disturb off \
    --log-file "$work/agent-real.log" &
  apid=$!
  wait_until 'grep -q "watching _NET_ACTIVE_WINDOW" "$work/agent-real.log"' 100 ||
    { echo "the agent did not start; see $work/agent-real.log" >&2; exit 1; }
  if [ "$prompt" = 1 ]; then
    wait_until 'grep -q "connected to collector" "$work/agent-real.log"' 100 ||
      { echo "the agent did not connect; see $work/agent-real.log" >&2; exit 1; }
    # Campaigns need an operator's admin token.
    reclaim_admin_token "$collector" "$work/collector.db" demo-operator operator \
      "$work/operator.token"
    ctl_a() { "$ctl" --collector "127.0.0.1:$admin_port" --token-file "$work/operator.token" "$@"; }
    echo "== consent campaign: asking $me_domain\\$me_login on the screen"
    ctl_a campaigns create visio-review --sender "IT Service Desk" \
      --question "You have not used Microsoft Visio for 90 days. Do you still need it?" \
      --application "Microsoft Visio" --wait-seconds 300 >/dev/null
    ctl_a campaigns launch visio-review "$me_domain\\$me_login" >/dev/null
    shown() {  # the agent's dialog (a zenity child of the agent) is visible
      local z
      z=$(pgrep -P "$apid" zenity) && [ -n "$(xdotool search --onlyvisible --pid "$z" 2>/dev/null)" ]
    }
    wait_until shown 200 || { echo "no prompt appeared; see $work/agent-real.log" >&2; exit 1; }
    if [ "$headless" = 1 ]; then
      sleep 0.5  # let GTK draw it
      import -window root "$screenshot"
      echo "   the prompt is on the (headless) screen: screenshot saved to $screenshot"
      pdlg=$(xdotool search --onlyvisible --pid "$(pgrep -P "$apid" zenity)" | head -1)
      xdotool windowactivate --sync "$pdlg" key Return   # the scripted user answers Yes
    else
      echo "   the prompt is on your screen: answer it (2 minutes)"
    fi
    wait_until '! shown' 1200 || true
    wait_until 'ctl_a campaigns show visio-review --output csv | grep -q "answered\|declined\|postponed"' 100 || true
    echo "== reclaimctl campaigns show visio-review"
    ctl_a campaigns show visio-review
  fi
  if [ "$headless" = 1 ]; then
    # The scripted user: real input (XTEST) every second, focus switches with
    # xdotool; about 55 s of work, 15 s away (idle threshold 10 s: only the
    # 15 s are idle, counted back to the last input), 5 s with no window active.
    win() { xdotool search --onlyvisible --class "$1" | head -1; }
    work_in() {  # class seconds
      echo "   $(date -u +%T) $1 for $2 s"
      timeout 2 xdotool windowactivate "$(win "$1")" 2>/dev/null || true
      for _ in $(seq "$2"); do xdotool mousemove_relative -- 1 0; sleep 1; done
    }
    echo "== the scripted user works (focus switches every few seconds)"
    work_in XTerm 12; work_in XCalc 8; work_in Xmessage 6; work_in XTerm 6
    work_in XLogo 4
    echo "   $(date -u +%T) away from the keyboard for 15 s (XTerm in front)"
    timeout 2 xdotool windowactivate "$(win XTerm)" 2>/dev/null || true
    sleep 15
    work_in XCalc 10
    echo "   $(date -u +%T) clicks the desktop: no active window for 5 s"
    xdotool mousemove 1275 795 click 1
    for _ in 1 2 3 4 5; do xdotool mousemove_relative -- 1 0; sleep 1; done
    work_in Xmessage 5
  else
    sleep "$seconds"
  fi
  kill -TERM "$apid"
  wait "$apid" || true
  echo "== reclaim-agent stopped; its intervals are stored in the collector"
fi

if [ "$replay" = 1 ]; then
  echo
  echo "== replaying deploy/sample-day.script (a knowledge worker's day) through reclaim-agent"
  "$agent" --collector "127.0.0.1:$agent_port" --spool "$work/spool.db" \
    --ca-file "$work/tls/ca.pem" --enrollment-secret-file "$work/enrollment.secret" \
    --credential-file "$work/replay.credential" --script "$root/deploy/sample-day.script" --replay-speed 0 --exit-when-done \
    --device-id demo-laptop-01 --user-login jdoe --user-domain EXAMPLE \
    --user-upn jdoe@example.com --log-file "$work/agent.log"
fi

echo
echo "== reclaimctl usage --collector 127.0.0.1:$admin_port --token-file $work/viewer.token"
"$ctl" usage --collector "127.0.0.1:$admin_port" --token-file "$work/viewer.token"
echo
echo "== reclaimctl devices"
"$ctl" devices --collector "127.0.0.1:$admin_port" --token-file "$work/viewer.token"
echo
echo "== reclaimctl devices credentials (enrolled devices; revoke one with: reclaimctl devices revoke DEVICE)"
"$ctl" devices credentials --collector "127.0.0.1:$admin_port" --token-file "$work/viewer.token"
if [ "$keep" = 1 ]; then
  echo
  echo "collector still running (pid $cpid): $ctl --collector 127.0.0.1:$admin_port --ca-file $work/tls/ca.pem --token-file $work/viewer.token usage"
  echo "(more tokens: $collector --db $work/collector.db admin-token create --name NAME --role viewer|operator|admin)"
  echo "logs and databases in $work (stop with: kill $cpid; rm -rf $work)"
fi
