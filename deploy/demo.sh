#!/usr/bin/env bash
# The main job on the embedded default: a SQLite collector on loopback, one
# agent replaying the bundled sample day through the scripted focus source,
# then `reclaimctl usage` and `reclaimctl devices`.
# Usage: deploy/demo.sh [--keep]   (--keep leaves the collector running)
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
build=${RECLAIM_BUILD_DIR:-$root/build}
keep=0
[ "${1:-}" = "--keep" ] && keep=1

"$root/deploy/install-deps.sh"
cmake -S "$root" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j "$(nproc)" --target reclaim-collector reclaim-agent reclaimctl

collector="$build/collector/server/reclaim-collector"
agent="$build/agent/reclaim-agent"
ctl="$build/collector/ctl/reclaimctl"
work=$(mktemp -d /tmp/reclaim-demo.XXXXXX)
cleanup() {
  if [ "$keep" = 0 ]; then
    [ -n "${cpid:-}" ] && kill "$cpid" 2>/dev/null && wait "$cpid" 2>/dev/null
    rm -rf "$work"
  fi
}
trap cleanup EXIT

"$collector" --db "$work/collector.db" --listen 127.0.0.1:0 --admin-listen 127.0.0.1:0 \
  --port-file "$work/ports" --log-file "$work/collector.log" &
cpid=$!
for _ in $(seq 100); do [ -s "$work/ports" ] && break; sleep 0.1; done
[ -s "$work/ports" ] || { echo "collector did not start; see $work/collector.log" >&2; exit 1; }
read -r agent_port admin_port < "$work/ports"

echo "== replaying deploy/sample-day.script (a knowledge worker's day) through reclaim-agent"
"$agent" --collector "127.0.0.1:$agent_port" --spool "$work/spool.db" \
  --script "$root/deploy/sample-day.script" --replay-speed 0 --exit-when-done \
  --device-id demo-laptop-01 --user-login jdoe --user-domain EXAMPLE \
  --user-upn jdoe@example.com --log-file "$work/agent.log"

echo
echo "== reclaimctl usage --collector 127.0.0.1:$admin_port"
"$ctl" usage --collector "127.0.0.1:$admin_port"
echo
echo "== reclaimctl devices"
"$ctl" devices --collector "127.0.0.1:$admin_port"
if [ "$keep" = 1 ]; then
  echo
  echo "collector still running (pid $cpid): reclaimctl --collector 127.0.0.1:$admin_port usage"
  echo "logs and databases in $work"
fi
