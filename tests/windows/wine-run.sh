#!/usr/bin/env bash
# CMAKE_CROSSCOMPILING_EMULATOR of the mingw-w64 build (.ci/mingw-w64.cmake):
# runs one Windows test executable under Wine, in an X server of its own
# (xvfb-run -a picks a free display), and ends its wineserver afterwards so
# that no Wine process outlives the test.
# Env: WINEPREFIX (required: CTest sets it to <build>/wineprefix).
# Usage: wine-run.sh program.exe [args...]
set -uo pipefail
: "${WINEPREFIX:?WINEPREFIX must be set (CTest sets it)}"
export WINEPREFIX WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" WINEARCH=win64
for tool in wine wineserver xvfb-run xauth; do
  command -v "$tool" >/dev/null || { echo "wine-run: '$tool' is missing: run deploy/install-deps.sh" >&2; exit 1; }
done
exec xvfb-run -a -s "-screen 0 1280x800x24 -nolisten tcp" \
  bash -c 'wine "$@"; rc=$?; wineserver -k 2>/dev/null; wineserver -w 2>/dev/null; exit $rc' wine-run "$@"
