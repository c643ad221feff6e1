# Shell helpers to start a reclaim-collector and make admin tokens, shared by
# the demos (deploy/demo.sh, deploy/demo-ad.sh) and the shell end-to-end
# tests. Source it; it defines functions only.

# reclaim_collector_start PORTS_FILE COMMAND...
#   Runs COMMAND (a reclaim-collector command line that writes its ports to
#   PORTS_FILE: --port-file or `port-file =` in its config) in the
#   background and waits up to 10 s for PORTS_FILE. Sets
#   reclaim_collector_pid, agent_port and admin_port. Returns 1 (after
#   stopping the process) when the collector did not start in time.
reclaim_collector_start() {
  local ports=$1
  shift
  rm -f "$ports"
  "$@" &
  reclaim_collector_pid=$!
  local _
  for _ in $(seq 100); do
    [ -s "$ports" ] && break
    kill -0 "$reclaim_collector_pid" 2>/dev/null || break
    sleep 0.1
  done
  if ! [ -s "$ports" ]; then
    kill "$reclaim_collector_pid" 2>/dev/null || true
    wait "$reclaim_collector_pid" 2>/dev/null || true
    reclaim_collector_pid=""
    return 1
  fi
  read -r agent_port admin_port < "$ports"
}

# reclaim_collector_stop: SIGTERM to the collector started last, and wait.
reclaim_collector_stop() {
  if [ -n "${reclaim_collector_pid:-}" ]; then
    kill -TERM "$reclaim_collector_pid" 2>/dev/null || true
    wait "$reclaim_collector_pid" 2>/dev/null || true
  fi
  reclaim_collector_pid=""
}

# reclaim_admin_token COLLECTOR_BIN DB NAME ROLE FILE
#   Creates admin token NAME with ROLE (viewer, operator, admin) in the
#   collector database DB; the token goes to FILE (mode 0600), only its hash
#   to the database. Quiet unless it fails.
reclaim_admin_token() {
  "$1" --db "$2" --log-level warn admin-token create --name "$3" --role "$4" \
    --token-file "$5" >/dev/null 2>&1
}
