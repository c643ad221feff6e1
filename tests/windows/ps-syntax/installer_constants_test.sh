#!/usr/bin/env bash
# windows_installer_constants_test: the names deploy/windows/install-reclaim-agent.ps1
# writes (SCM service name, file names in %ProgramData%\Reclaim, native
# messaging host name and extension ids) are the ones the programs and the
# Linux installer use. The script is never run here, so a rename on one side
# would otherwise only show on a Windows machine.
# Usage: installer_constants_test.sh SOURCE_DIR
set -euo pipefail
src=${1:?usage: installer_constants_test.sh SOURCE_DIR}
ps1=$src/deploy/windows/install-reclaim-agent.ps1
failed=0 checked=0

# The first match of the extended regex's group 1 in FILE; when nothing
# matches, a text naming the file and the regex (which then differs from
# whatever it is compared with).
value() {  # FILE REGEX
  local v
  v=$(sed -nE "s/$2/\\1/p" "$1" | head -n 1)
  printf '%s' "${v:-<no match for /$2/ in $1>}"
}
same() {  # WHAT A B
  checked=$((checked + 1))
  if [ "$2" != "$3" ]; then
    echo "FAIL: $1: installer '$2' != '$3'" >&2
    failed=$((failed + 1))
  else
    echo "ok: $1 = $2"
  fi
}

same "SCM service name (agent/service/main.cc kServiceName)" \
  "$(value "$ps1" "^\\\$ServiceName += '([^']+)'.*")" \
  "$(value "$src/agent/service/main.cc" '^constexpr char kServiceName\[\] = "([^"]+)";.*')"
same "service config file (process_platform_windows.cc DefaultMachineServiceConfigFile)" \
  "$(value "$ps1" "^\\\$ServiceConfigPath += Join-Path \\\$DataRoot '([^']+)'.*")" \
  "$(value "$src/agent/platform/process_platform_windows.cc" '.*DefaultMachineStateDirectory\(\) \+ "\\\\([^"]+)";.*')"
same "data folder (process_platform_windows.cc DefaultMachineStateDirectory)" \
  "$(value "$ps1" "^\\\$DataRoot += Join-Path \\\$env:ProgramData '([^']+)'.*")" \
  "$(value "$src/agent/platform/process_platform_windows.cc" '.*return base.empty\(\) \? "([^"]+)" :.*')"
same "machine credential file (agent/service/main.cc MachineCredentialFile)" \
  "$(value "$ps1" "^\\\$CredentialPath += Join-Path \\\$DataRoot '([^']+)'.*")" \
  "$(value "$src/agent/service/main.cc" '^ *"(machine-credential)"\).*')"
same "native messaging host name (deploy/browser/install-native-host.sh NAME)" \
  "$(value "$ps1" "^\\\$NativeHostName += '([^']+)'.*")" \
  "$(value "$src/deploy/browser/install-native-host.sh" '^NAME=(.+)$')"
same "development Chromium extension id (install-native-host.sh DEV_CHROMIUM_ID)" \
  "$(value "$ps1" "^\\\$DevChromiumId += '([^']+)'.*")" \
  "$(value "$src/deploy/browser/install-native-host.sh" '^DEV_CHROMIUM_ID=(.+)$')"
same "Firefox extension id (install-native-host.sh FIREFOX_ID)" \
  "$(value "$ps1" "^\\\$FirefoxId += '([^']+)'.*")" \
  "$(value "$src/deploy/browser/install-native-host.sh" '^FIREFOX_ID=(.+)$')"
same "Firefox extension id (agent/browser/extension/manifest.json)" \
  "$(value "$ps1" "^\\\$FirefoxId += '([^']+)'.*")" \
  "$(value "$src/agent/browser/extension/manifest.json" '^ *"id": "([^"]+)".*')"

echo "$checked checked, $failed failed"
[ "$failed" -eq 0 ]
