#!/usr/bin/env bash
# Installs every Debian 12 package that building Reclaim, its tests and the
# main job (deploy/demo.sh) need. Idempotent; run as root (or with sudo).
set -euo pipefail

packages=(
  # toolchain
  g++ cmake ninja-build pkg-config git ca-certificates
  # libraries (Debian 12: gRPC 1.51, protobuf 3.21, abseil 20220623, spdlog 1.10)
  libgrpc++-dev protobuf-compiler-grpc libprotobuf-dev protobuf-compiler
  libabsl-dev libspdlog-dev libsqlite3-dev libcli11-dev nlohmann-json3-dev libtoml11-dev
  libssl-dev  # OpenSSL: SHA-256 (audit chain, credential hashes), CSPRNG, TLS file checks
  # agent on Linux: X11 focus/idle (xcb, X-Resource, MIT-SCREEN-SAVER, SYNC), logind (libdbus)
  libxcb1-dev libxcb-res0-dev libxcb-screensaver0-dev libxcb-sync-dev libdbus-1-dev
  # a headless desktop for the X11 tests and the demo: X server, window manager,
  # real applications, a scripted user; a D-Bus daemon for the logind tests
  xvfb xauth openbox xdotool x11-utils x11-apps xterm dbus-daemon
  libldap-dev
  # tests; the openssl command line makes the test CA of the demo and the TLS tests
  # (deploy/make-test-ca.sh)
  libgtest-dev libgmock-dev sqlite3 procps openssl
  # Active Directory tests: a Samba AD DC in a network namespace (tests/testing/samba)
  samba-ad-dc samba-ad-provision ldap-utils ldb-tools openssl iproute2 util-linux
  # Entra ID connector: libcurl for Microsoft Graph; cpp-httplib for the fake Graph in its tests
  libcurl4-openssl-dev libcpp-httplib-dev
  # Windows layer (tests/windows): mingw-w64 cross compiler (posix threads) and
  # binutils (windres), GoogleTest sources built with it, Wine 8 to run the
  # .exe tests (under xvfb + xauth, listed above)
  g++-mingw-w64-x86-64 binutils-mingw-w64-x86-64 googletest wine wine64
  # consent prompts on Linux (agent/sources/prompter_linux.cc): zenity's GTK dialog;
  # imagemagick's import screenshots it in tests/e2e_x11/prompter_x11_test;
  # wmctrl (a full-screen window) and gsettings + GNOME's schemas (do-not-disturb) in
  # tests/e2e_x11/prompt_pacing_e2e_test.sh
  zenity imagemagick wmctrl libglib2.0-bin gsettings-desktop-schemas
  # web-application focus time (tests/e2e_x11/browser_e2e_test): real headful browsers
  chromium firefox-esr
  # deploy/browser/pack-extension.sh: the Firefox package (.xpi) is a zip; its test reads it
  zip unzip xxd
  # fuzzing (tests/fuzz/run.sh, the fuzz_smoke test): clang 14 with libFuzzer and the sanitizers
  clang-14 libclang-rt-14-dev
)

# tests/windows/ps-syntax (powershell_syntax_test): Node.js and npm, which
# install the pinned tree-sitter-powershell from the npm registry. Debian's
# packages only when no node/npm is there (a Node.js from elsewhere brings
# its own npm, which Debian's npm package would conflict with).
if ! command -v node > /dev/null || ! command -v npm > /dev/null; then
  packages+=(nodejs npm)
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -c "install ok installed" >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#packages[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq
$SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}"
