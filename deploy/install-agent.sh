#!/usr/bin/env bash
# Installs the Linux agent from a build: reclaim-agent and reclaim-native-host,
# the agent's config (kept if present), one agent per graphical session
# (systemd user unit, or XDG autostart with --autostart), the native
# messaging host manifests of the browser extension for Chromium, Chrome, Edge
# and Firefox, system-wide (deploy/browser/install-native-host.sh), and the
# machine service reclaim-agent-service (systemd system unit; its collector
# options in /etc/reclaim/agent-service.env, kept if present). Run as root.
#
#   install-agent.sh [--build-dir build] [--prefix /usr] [--destdir DIR] [--autostart]
#                    [--chromium-extension-id ID]
#                    [--collector HOST:PORT] [--ca-file PEM] [--client-cert PEM --client-key KEY]
#                    [--insecure-plaintext] [--enrollment-secret-file FILE]
#
# --destdir stages everything under DIR (for packaging and tests).
# --chromium-extension-id: the id of your packed extension
# (deploy/browser/pack-extension.sh prints it); the development id is always allowed.
# The extension itself is installed into the browsers by policy: see README,
# "Web-application focus time".
# --collector, --ca-file, --client-cert/--client-key, --insecure-plaintext: how
# reclaim-agent-service reaches the collector (written to
# /etc/reclaim/agent-service.env, replacing its collector line).
# --enrollment-secret-file FILE (owner-only): enroll this machine as root
# (`reclaim-agent-service enroll`, credential in /var/lib/reclaim/machine-credential,
# mode 0600), then DELETE FILE so no secret stays on the machine, and start
# the service. Without it the service starts once a credential exists.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build="$here/../build" prefix=/usr destdir="" autostart=0 ids=()
collector_args=() secret_file=""
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$2"; shift ;;
    --prefix) prefix="$2"; shift ;;
    --destdir) destdir="$2"; shift ;;
    --autostart) autostart=1 ;;
    --chromium-extension-id) ids+=(--chromium-extension-id "$2"); shift ;;
    --collector|--ca-file|--client-cert|--client-key) collector_args+=("$1" "$2"); shift ;;
    --insecure-plaintext) collector_args+=("$1") ;;
    --enrollment-secret-file) secret_file="$2"; shift ;;
    -h|--help) sed -n '2,30p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-agent: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
for b in agent/reclaim-agent agent/browser/reclaim-native-host agent/service/reclaim-agent-service; do
  [ -x "$build/$b" ] || { echo "install-agent: $build/$b is missing: build first" >&2; exit 1; }
done

install -D -m 0755 "$build/agent/reclaim-agent" "$destdir$prefix/bin/reclaim-agent"
install -D -m 0755 "$build/agent/browser/reclaim-native-host" "$destdir$prefix/bin/reclaim-native-host"
if [ ! -e "$destdir/etc/reclaim/agent.toml" ]; then
  install -D -m 0644 "$here/config/agent.toml" "$destdir/etc/reclaim/agent.toml"
fi
# The unit and the desktop entry start /usr/bin/reclaim-agent.
unit_sed="s|/usr/bin/reclaim-agent|$prefix/bin/reclaim-agent|"
if [ "$autostart" -eq 1 ]; then
  install -d "$destdir/etc/xdg/autostart"
  sed "$unit_sed" "$here/reclaim-agent.desktop" > "$destdir/etc/xdg/autostart/reclaim-agent.desktop"
else
  install -d "$destdir$prefix/lib/systemd/user"
  sed "$unit_sed" "$here/reclaim-agent.service" > "$destdir$prefix/lib/systemd/user/reclaim-agent.service"
  if [ -z "$destdir" ] && command -v systemctl > /dev/null; then
    systemctl --global enable reclaim-agent.service || true
  fi
fi
# Native messaging: browsers need the host's final absolute path.
"$here/browser/install-native-host.sh" --host-binary "$prefix/bin/reclaim-native-host" "${ids[@]}" \
  --chromium-dir "$destdir/etc/chromium/native-messaging-hosts" \
  --chromium-dir "$destdir/etc/opt/chrome/native-messaging-hosts" \
  --chromium-dir "$destdir/etc/opt/edge/native-messaging-hosts" \
  --firefox-dir "$destdir/usr/lib/mozilla/native-messaging-hosts" \
  ${destdir:+--no-check}

# The machine service: the only process holding the machine's device credential.
install -D -m 0755 "$build/agent/service/reclaim-agent-service" "$destdir$prefix/bin/reclaim-agent-service"
install -d "$destdir$prefix/lib/systemd/system"
sed "s|/usr/bin/reclaim-agent-service|$prefix/bin/reclaim-agent-service|" \
  "$here/reclaim-agent-service.service" > "$destdir$prefix/lib/systemd/system/reclaim-agent-service.service"
# Starts the service once the credential exists (after `enroll`, now or later).
install -m 0644 "$here/reclaim-agent-service.path" \
  "$destdir$prefix/lib/systemd/system/reclaim-agent-service.path"
env_file="$destdir/etc/reclaim/agent-service.env"
install -d -m 0755 "$destdir/etc/reclaim"
if [ ! -e "$env_file" ]; then
  cat > "$env_file" <<'ENV'
# reclaim-agent-service options (systemd EnvironmentFile; see
# `reclaim-agent-service run --help`). Collector address and TLS, shared by
# `enroll` and `run`:
RECLAIM_COLLECTOR_ARGS="--collector collector.example.com:7443 --ca-file /etc/reclaim/ca.pem"
# `run` only: the domain and UPN suffix of the users the kernel attests
# (default domain: the host name in upper case; no UPN).
RECLAIM_SERVICE_ARGS=""
ENV
  chmod 0644 "$env_file"
fi
if [ ${#collector_args[@]} -gt 0 ]; then
  line="RECLAIM_COLLECTOR_ARGS=\"${collector_args[*]}\""
  sed -i "s|^RECLAIM_COLLECTOR_ARGS=.*|${line//|/\\|}|" "$env_file"
fi
install -d -m 0700 "$destdir/var/lib/reclaim"
if [ -n "$secret_file" ]; then
  # Enrollment, as root, with the collector options of the env file.
  RECLAIM_COLLECTOR_ARGS=""
  # shellcheck disable=SC1090
  . "$env_file"
  # shellcheck disable=SC2086
  "$destdir$prefix/bin/reclaim-agent-service" enroll $RECLAIM_COLLECTOR_ARGS \
    --enrollment-secret-file "$secret_file" \
    --credential-file "$destdir/var/lib/reclaim/machine-credential"
  # The secret has done its work: no user of this machine may ever read it.
  shred -u "$secret_file" 2> /dev/null || rm -f "$secret_file"
  echo "install-agent: machine enrolled; $secret_file deleted"
fi
if [ -z "$destdir" ] && command -v systemctl > /dev/null; then
  systemctl daemon-reload || true
  systemctl enable reclaim-agent-service.service || true
  # The path unit starts the service now if enrolled, else once it is.
  systemctl enable --now reclaim-agent-service.path || true
  if [ ! -e /var/lib/reclaim/machine-credential ]; then
    echo "install-agent: no machine credential yet: the service starts by itself once" \
      "the machine is enrolled (install-agent.sh --enrollment-secret-file, or" \
      "reclaim-agent-service enroll as root)" >&2
  fi
fi
echo "install-agent: installed into ${destdir:-/}"
