#!/usr/bin/env bash
# Installs the native messaging host manifests of the Reclaim browser
# extension ("com.reclaim.webfocus" -> reclaim-native-host) for Chromium,
# Google Chrome, Microsoft Edge and Firefox, system-wide (default, as root)
# or for the current user (--user).
#
#   install-native-host.sh [--user] [--host-binary PATH]
#       [--chromium-extension-id ID]... [--firefox-extension-id ID]
#       [--chromium-dir DIR]... [--firefox-dir DIR]... [--uninstall] [--no-check]
#
# Locations (Chrome "Native messaging" docs; MDN "Native manifests"):
#   system  /etc/chromium/native-messaging-hosts, /etc/opt/chrome/native-messaging-hosts,
#           /etc/opt/edge/native-messaging-hosts, /usr/lib/mozilla/native-messaging-hosts
#   --user  ~/.config/chromium/NativeMessagingHosts, ~/.config/google-chrome/NativeMessagingHosts,
#           ~/.config/microsoft-edge/NativeMessagingHosts, ~/.mozilla/native-messaging-hosts
# --chromium-dir / --firefox-dir replace those lists (a Chromium started with
# --user-data-dir=D reads D/NativeMessagingHosts instead of ~/.config/...).
# Extension ids: the development key's id (agent/browser/extension/manifest.json
# "key") and the Firefox id webfocus@reclaim.project are always allowed; add
# the id of your packed CRX (deploy/browser/pack-extension.sh prints it).
set -euo pipefail

NAME=com.reclaim.webfocus
DEV_CHROMIUM_ID=lnhlhmepibkcoeggjnhmhjbilcfpjmcl
FIREFOX_ID=webfocus@reclaim.project
mode=system
host_binary=""
chromium_ids=("$DEV_CHROMIUM_ID")
firefox_ids=("$FIREFOX_ID")
chromium_dirs=()
firefox_dirs=()
uninstall=0
check=1

usage() { sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-2}"; }
while [ $# -gt 0 ]; do
  case "$1" in
    --user) mode=user ;;
    --system) mode=system ;;
    --host-binary) host_binary="$2"; shift ;;
    --chromium-extension-id) chromium_ids+=("$2"); shift ;;
    --firefox-extension-id) firefox_ids+=("$2"); shift ;;
    --chromium-dir) chromium_dirs+=("$2"); shift ;;
    --firefox-dir) firefox_dirs+=("$2"); shift ;;
    --uninstall) uninstall=1 ;;
    --no-check) check=0 ;;  # staging (DESTDIR): the binary is not at its final path yet
    -h|--help) usage 0 ;;
    *) echo "install-native-host: unknown argument $1" >&2; usage 2 ;;
  esac
  shift
done

for id in "${chromium_ids[@]}"; do
  [[ "$id" =~ ^[a-p]{32}$ ]] || { echo "install-native-host: bad Chromium extension id '$id'" >&2; exit 2; }
done
for id in "${firefox_ids[@]}"; do
  [[ "$id" =~ ^[A-Za-z0-9._-]*@[A-Za-z0-9._-]+$|^\{[0-9a-fA-F-]{36}\}$ ]] ||
    { echo "install-native-host: bad Firefox extension id '$id'" >&2; exit 2; }
done

if [ -z "$host_binary" ]; then
  host_binary=$(command -v reclaim-native-host || true)
  [ -n "$host_binary" ] || host_binary=/usr/bin/reclaim-native-host
fi
case "$host_binary" in
  /*) ;;
  *) echo "install-native-host: --host-binary must be an absolute path (browsers require it)" >&2; exit 2 ;;
esac
if [ "$uninstall" -eq 0 ] && [ "$check" -eq 1 ] && [ ! -x "$host_binary" ]; then
  echo "install-native-host: $host_binary is not an executable" >&2
  exit 1
fi

if [ ${#chromium_dirs[@]} -eq 0 ] && [ ${#firefox_dirs[@]} -eq 0 ]; then
  if [ "$mode" = system ]; then
    chromium_dirs=(/etc/chromium/native-messaging-hosts /etc/opt/chrome/native-messaging-hosts
                   /etc/opt/edge/native-messaging-hosts)
    firefox_dirs=(/usr/lib/mozilla/native-messaging-hosts)
  else
    chromium_dirs=("$HOME/.config/chromium/NativeMessagingHosts"
                   "$HOME/.config/google-chrome/NativeMessagingHosts"
                   "$HOME/.config/microsoft-edge/NativeMessagingHosts")
    firefox_dirs=("$HOME/.mozilla/native-messaging-hosts")
  fi
fi

json_list() {  # "a" "b" -> "a", "b" (ids are checked above: no quoting needed)
  local out="" x
  for x in "$@"; do out+="${out:+, }\"$x\""; done
  printf '%s' "$out"
}
origins=()
for id in "${chromium_ids[@]}"; do origins+=("chrome-extension://$id/"); done

write_manifest() {  # dir, allowed key, list
  local dir=$1 file="$1/$NAME.json"
  if [ "$uninstall" -eq 1 ]; then
    rm -f "$file"
    return
  fi
  mkdir -p "$dir"
  cat > "$file.tmp" <<JSON
{
  "name": "$NAME",
  "description": "Reclaim web focus: forwards the active tab's site to the local Reclaim agent",
  "path": "$host_binary",
  "type": "stdio",
  "$2": [$3]
}
JSON
  chmod 0644 "$file.tmp"
  mv "$file.tmp" "$file"
  echo "install-native-host: $file"
}

for d in "${chromium_dirs[@]}"; do write_manifest "$d" allowed_origins "$(json_list "${origins[@]}")"; done
for d in "${firefox_dirs[@]}"; do write_manifest "$d" allowed_extensions "$(json_list "${firefox_ids[@]}")"; done
