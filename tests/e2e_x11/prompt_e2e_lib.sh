# Shared setup of the consent prompt end-to-end tests (sourced by
# prompt_*_e2e_test.sh): a private X server (Xvfb on a display it picks
# itself: -displayfd) with openbox, the real reclaim-collector on port 0 with
# fast campaign housekeeping, the real reclaim-agent metering that display
# with short prompt pacing, reclaimctl. Everything lives in a fresh temp dir
# and is stopped (by pid) at exit, so tests can run in parallel.
# The caller sets `build` (the build dir) before sourcing.
set -euo pipefail
. "$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)/deploy/lib/collector.sh"
export RECLAIM_INSECURE_PLAINTEXT=1  # reclaimctl: the collectors here listen without TLS
collector_bin="$build/collector/server/reclaim-collector"
agent_bin="$build/agent/reclaim-agent"
ctl="$build/collector/ctl/reclaimctl"
for tool in Xvfb openbox xdotool xprop wmctrl zenity import python3; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool missing (deploy/install-deps.sh)"; exit 1; }
done
work=$(mktemp -d "${TMPDIR:-/tmp}/reclaim-prompt-e2e.XXXXXX")
pids=()
agent_pid=""
collector_pid=""
cleanup() {
  [ -z "$agent_pid" ] || kill "$agent_pid" 2>/dev/null || true
  [ -z "$collector_pid" ] || kill "$collector_pid" 2>/dev/null || true
  for ((i=${#pids[@]}-1; i>=0; i--)); do kill "${pids[$i]}" 2>/dev/null || true; done
  for p in "${pids[@]}" $agent_pid $collector_pid; do wait "$p" 2>/dev/null || true; done
  [ -n "${KEEP_WORK:-}" ] || rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in collector agent; do echo "--- $f log" >&2; tail -30 "$work/$f.log" >&2 || true; done
  exit 1
}
# Polls a command until it succeeds, every 0.05 s, at most $1 seconds.
poll() {
  local deadline=$((SECONDS + $1)); shift
  until "$@"; do [ $SECONDS -lt $deadline ] || return 1; sleep 0.05; done
}

start_desktop() {
  exec 3>"$work/display"
  Xvfb -displayfd 3 -screen 0 1280x800x24 -nolisten tcp >"$work/xvfb.log" 2>&1 &
  pids+=($!)
  poll 10 test -s "$work/display" || fail "Xvfb did not start"
  exec 3>&-
  export DISPLAY=":$(head -1 "$work/display")"
  # A fresh Xvfb sometimes fails to get openbox up (../shared/RECIPES.md):
  # wait with a timeout and retry.
  local try
  for try in 1 2 3; do
    openbox >"$work/openbox.log" 2>&1 &
    pids+=($!)
    if poll 5 sh -c 'xprop -root _NET_SUPPORTING_WM_CHECK 2>/dev/null | grep -q "window id"'; then
      return 0
    fi
    kill "${pids[-1]}" 2>/dev/null || true
  done
  fail "openbox did not start: $(tail -3 "$work/openbox.log")"
}

# start_collector [port]: port 0 (any free) the first time; the same port to
# restart it. The collector's own per-user pacing is off unless
# collector_min_interval / collector_quiet_after_urgent (seconds) are set, as
# the agent's is unless min_interval / quiet_after_urgent are: these tests
# watch one layer at a time.
start_collector() {
  local port=${1:-0}
  rm -f "$work/ports"
  cat > "$work/collector.toml" <<TOML
db = "$work/collector.db"
listen = "127.0.0.1:$port"
admin-listen = "127.0.0.1:${2:-0}"
# TLS and device enrollment are not what these scripts exercise (security_test does)
insecure-plaintext = true
allow-unenrolled-agents = true
port-file = "$work/ports"
log-file = "$work/collector.log"
campaign-housekeeping-ms = 200
prompt-min-interval = ${collector_min_interval:-0}
prompt-quiet-after-urgent = ${collector_quiet_after_urgent:-0}
TOML
  reclaim_collector_start "$work/ports" "$collector_bin" --config "$work/collector.toml" \
    || fail "collector did not start"
  collector_pid=$reclaim_collector_pid
  # An operator admin token for reclaimctl (hash in the database; the token
  # in an owner-only file), made once.
  [ -s "$work/e2e.token" ] ||
    reclaim_admin_token "$collector_bin" "$work/collector.db" e2e operator "$work/e2e.token" ||
    fail "cannot create the admin token"
}
stop_collector() {
  kill -TERM "$collector_pid"; wait "$collector_pid" || true; collector_pid=""
}
rc() { "$ctl" --collector "127.0.0.1:$admin_port" --token-file "$work/e2e.token" "$@"; }

# start_agent [extra flags]: the agent of user EXAMPLE\jdoe on this display.
# Prompt pacing from $min_interval, $quiet_after_urgent (seconds, default 0)
# and $dnd (default off).
start_agent() {
  "$agent_bin" --collector "127.0.0.1:$agent_port" --insecure-plaintext --spool "$work/spool.db" \
    --device-id dev-x11 \
    --display "$DISPLAY" --logind-bus none --user-login jdoe --user-domain EXAMPLE \
    --heartbeat 1 --tick-ms 200 --prompt-min-interval "${min_interval:-0}" \
    --prompt-quiet-after-urgent "${quiet_after_urgent:-0}" --prompt-timeout 60 \
    --do-not-disturb "${dnd:-off}" --backoff-initial-ms 50 --backoff-max-ms 300 \
    --log-file "$work/agent.log" "$@" &
  agent_pid=$!
  poll 20 sh -c "grep -q 'connected to collector' '$work/agent.log' 2>/dev/null" \
    || fail "agent did not connect"
}
stop_agent() {
  kill -TERM "$agent_pid"; wait "$agent_pid" || true; agent_pid=""
}

# campaign NAME [reclaimctl campaigns create flags]: creates and launches it for jdoe.
campaign() {
  local name=$1; shift
  rc campaigns create "$name" --sender "IT Service Desk" "$@" >/dev/null
  rc campaigns launch "$name" 'EXAMPLE\jdoe' >/dev/null
}
state_of() {  # campaign -> "state answer device"
  rc campaigns show "$1" --output json |
    python3 -c 'import json,sys; r=json.load(sys.stdin)[0]; print(r["state"], r["answer"] or "-", r["device_id"] or "-")'
}
got() { [ "$(state_of "$1")" = "$2" ]; }
# expect CAMPAIGN "STATE ANSWER DEVICE" [seconds]
expect() { poll "${3:-20}" got "$1" "$2" || fail "$1: $(state_of "$1"), wanted $2"; }

dialog() {  # the visible window of the agent's zenity child, in $win (its pid: $zpid)
  zpid=$(pgrep -P "$agent_pid" zenity) || return 1
  win=$(xdotool search --onlyvisible --pid "$zpid" 2>/dev/null | head -1) && [ -n "$win" ]
}
no_dialog() { [ -n "$agent_pid" ] && ! pgrep -P "$agent_pid" zenity >/dev/null; }
# wait_dialog NAME: waits for the prompt, checks its title (the sender) and
# saves a screenshot of the screen with it ($work/NAME.png).
wait_dialog() {
  poll 20 dialog || fail "$1: no prompt window appeared"
  local title
  title=$(xdotool getwindowname "$win")
  [ "$title" = "IT Service Desk" ] || fail "$1: dialog title '$title'"
  import -window root "$work/$1.png" || fail "$1: screenshot"
  [ "$(stat -c %s "$work/$1.png")" -gt 1000 ] || fail "$1: empty screenshot"
  [ -z "${RECLAIM_SCREENSHOT_DIR:-}" ] || cp "$work/$1.png" "$RECLAIM_SCREENSHOT_DIR/"
}
keys() { xdotool windowactivate --sync "$win" key --delay 60 "$@"; }
# click_button FRACTION: clicks the dialog's button row (zenity --forms:
# Close | Send | Remind me later) at FRACTION/6 of the width.
click_button() {
  local WIDTH HEIGHT X Y SCREEN WINDOW
  eval "$(xdotool getwindowgeometry --shell "$win")"
  xdotool windowactivate --sync "$win" mousemove --window "$win" $((WIDTH * $1 / 6)) $((HEIGHT - 28)) click 1
}
dialog_gone() { poll 20 no_dialog || fail "dialog still up"; }
