#!/usr/bin/env bash
# Installs the Linux agent from a build: reclaim-agent and reclaim-native-host,
# the agent's config (kept if present), one agent per graphical session
# (systemd user unit, or XDG autostart with --autostart), and the native
# messaging host manifests of the browser extension for Chromium, Chrome, Edge
# and Firefox, system-wide (deploy/browser/install-native-host.sh). Run as root.
#
#   install-agent.sh [--build-dir build] [--prefix /usr] [--destdir DIR] [--autostart]
#                    [--chromium-extension-id ID]
#
# --destdir stages everything under DIR (for packaging and tests).
# --chromium-extension-id: the id of your packed extension
# (deploy/browser/pack-extension.sh prints it); the development id is always allowed.
# The extension itself is installed into the browsers by policy: see README,
# "Web-application focus time".
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
build="$here/../build" prefix=/usr destdir="" autostart=0 ids=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build="$2"; shift ;;
    --prefix) prefix="$2"; shift ;;
    --destdir) destdir="$2"; shift ;;
    --autostart) autostart=1 ;;
    --chromium-extension-id) ids+=(--chromium-extension-id "$2"); shift ;;
    -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "install-agent: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
for b in agent/reclaim-agent agent/browser/reclaim-native-host; do
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
echo "install-agent: installed into ${destdir:-/}"
