#!/usr/bin/env bash
# Consent prompts end to end on a real X server (Xvfb + openbox): the real
# reclaim-collector, the real reclaim-agent metering the display, reclaimctl.
# A campaign launched with `reclaimctl campaigns launch` appears as a real
# dialog window of the agent's zenity child (found with xdotool search
# --onlyvisible --pid, screenshot with import), is answered with xdotool, and
# the answer reaches the collector (reclaimctl campaigns show). Then: decline
# ("Close"); the dialog itself is never metered as an application.
# Usage: prompt_e2e_test.sh <build dir>
set -euo pipefail
build=$1
collector="$build/collector/server/reclaim-collector"
agent="$build/agent/reclaim-agent"
ctl="$build/collector/ctl/reclaimctl"
for tool in Xvfb openbox xdotool xprop zenity import python3; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (deploy/install-deps.sh)"; exit 1; }
done
work=$(mktemp -d /tmp/reclaim-prompt-e2e.XXXXXX)
pids=()
cleanup() {
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in collector agent; do echo "--- $f log" >&2; tail -25 "$work/$f.log" >&2 || true; done
  exit 1
}
# Polls a command until it succeeds, every 0.05 s, at most $1 seconds.
poll() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.05; done
}

# X server on a free display (Xvfb picks it: -displayfd), then openbox.
exec 3>"$work/display"
Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
pids+=($!)
poll 10 test -s "$work/display" || fail "Xvfb did not start"
export DISPLAY=":$(head -1 "$work/display")"
openbox >"$work/openbox.log" 2>&1 &
pids+=($!)
poll 10 sh -c 'xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q "window id"' \
  || fail "openbox did not start"

cat > "$work/collector.toml" <<TOML
db = "$work/collector.db"
listen = "127.0.0.1:0"
admin-listen = "127.0.0.1:0"
port-file = "$work/ports"
log-file = "$work/collector.log"
TOML
"$collector" --config "$work/collector.toml" &
pids+=($!)
poll 10 test -s "$work/ports" || fail "collector did not start"
read -r agent_port admin_port < "$work/ports"
rc() { "$ctl" --collector "127.0.0.1:$admin_port" --as e2e "$@"; }

"$agent" --collector "127.0.0.1:$agent_port" --spool "$work/spool.db" --device-id dev-x11 \
  --display "$DISPLAY" --logind-bus none --user-login jdoe --user-domain EXAMPLE \
  --heartbeat 1 --tick-ms 200 --prompt-min-interval 0 --prompt-timeout 60 \
  --backoff-initial-ms 50 --backoff-max-ms 500 --log-file "$work/agent.log" &
agent_pid=$!
pids+=($agent_pid)
poll 20 sh -c "grep -q 'connected to collector' '$work/agent.log' 2>/dev/null" || fail "agent did not connect"

# A real application in front first (the positive control for metering).
xterm -class PromptE2eTerm >"$work/xterm.log" 2>&1 &
pids+=($!)
poll 20 sh -c 'xdotool search --onlyvisible --class PromptE2eTerm >/dev/null 2>&1' || fail "no xterm"
xdotool windowactivate --sync "$(xdotool search --onlyvisible --class PromptE2eTerm | head -1)"

state_of() {  # campaign -> "state answer device"
  rc campaigns show "$1" --output json |
    python3 -c 'import json,sys; r=json.load(sys.stdin)[0]; print(r["state"], r["answer"] or "-", r["device_id"] or "-")'
}
dialog() {  # the visible window of the agent's zenity child, in $win
  zpid=$(pgrep -P "$agent_pid" zenity) || return 1
  win=$(xdotool search --onlyvisible --pid "$zpid" 2>/dev/null | head -1) && [ -n "$win" ]
}

# 1. Yes: Return presses the first answer (the default button).
rc campaigns create visio --sender "IT Service Desk" --question "Do you still need Microsoft Visio?" >/dev/null
rc campaigns launch visio 'EXAMPLE\jdoe' >/dev/null
poll 20 dialog || fail "no prompt window appeared"
[ "$(xdotool getwindowname "$win")" = "IT Service Desk" ] || fail "title: $(xdotool getwindowname "$win")"
import -window root "$work/prompt.png" || fail "screenshot"
[ "$(stat -c %s "$work/prompt.png")" -gt 1000 ] || fail "empty screenshot"
[ -z "${RECLAIM_KEEP_SCREENSHOT:-}" ] || cp "$work/prompt.png" "$RECLAIM_KEEP_SCREENSHOT"
# Displayed is reported while the dialog is up.
poll 10 sh -c "[ \"\$($ctl --collector 127.0.0.1:$admin_port campaigns show visio --output json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0][\"state\"])')\" = displayed ]" \
  || fail "not reported displayed: $(state_of visio)"
xdotool windowactivate --sync "$win" mousemove --window "$win" 5 5
sleep 1.5  # the dialog holds the focus for a while (it must not be metered)
xdotool windowactivate --sync "$win" key Return
poll 20 sh -c "[ \"\$(pgrep -P $agent_pid zenity)\" = '' ]" || fail "dialog still up"
got() { [ "$(state_of "$1")" = "$2" ]; }
poll 20 got visio "answered Yes dev-x11" || fail "visio: $(state_of visio)"

# 2. Decline: Escape (the dialog's Close).
rc campaigns create acrobat --sender "IT Service Desk" --question "Do you still need Acrobat Pro?" >/dev/null
rc campaigns launch acrobat 'EXAMPLE\jdoe' >/dev/null
poll 20 dialog || fail "no second prompt window"
xdotool windowactivate --sync "$win" key Escape
poll 20 got acrobat "declined - dev-x11" || fail "acrobat: $(state_of acrobat)"

# The dialog had the focus for a while: it must not be metered.
kill -TERM "$agent_pid"; wait "$agent_pid" || true
usage=$(rc usage --output csv)
echo "$usage" | grep -q xterm || fail "xterm was not metered (no positive control): $usage"
if echo "$usage" | grep -qi zenity; then fail "the prompt dialog was metered: $usage"; fi
echo "PASS"
