#!/usr/bin/env bash
# The Windows layer in the Linux test run (CTest test windows_layer_wine_test):
# cross-builds the standard-C++ parts and the Win32 layer with mingw-w64
# (.ci/mingw-w64.cmake) into BUILD and runs their tests with CTest, each under
# Wine in its own Xvfb (tests/windows/wine-run.sh). Fails, never skips, when
# a tool is missing (deploy/install-deps.sh installs them all).
# Usage: run-windows-layer-tests.sh SOURCE_DIR BUILD_DIR [ctest args...]
set -euo pipefail
src=$1
build=$2
shift 2
for tool in x86_64-w64-mingw32-g++-posix x86_64-w64-mingw32-windres wine wineserver wineboot \
            xvfb-run Xvfb xauth cmake ninja; do
  command -v "$tool" >/dev/null || { echo "windows layer: '$tool' is missing: run deploy/install-deps.sh" >&2; exit 1; }
done
[ -f /usr/src/googletest/CMakeLists.txt ] || { echo "windows layer: /usr/src/googletest missing (googletest package)" >&2; exit 1; }

start=$(date +%s)
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$src/.ci/mingw-w64.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DRECLAIM_WERROR=ON >/dev/null
cmake --build "$build" -j "${RECLAIM_WINDOWS_JOBS:-2}"
echo "windows layer: built in $(( $(date +%s) - start )) s"

# One Wine prefix for all the tests, created once (about 10-20 s), then reused.
export WINEPREFIX="$build/wineprefix" WINEDEBUG=-all WINEDLLOVERRIDES="mscoree,mshtml=" WINEARCH=win64
if [ ! -f "$WINEPREFIX/system.reg" ]; then
  t=$(date +%s)
  timeout 300 xvfb-run -a bash -c 'wineboot -i >/dev/null 2>&1; rc=$?; wineserver -w; exit $rc'
  echo "windows layer: Wine prefix created in $(( $(date +%s) - t )) s"
fi
# Serial: each test has its own Xvfb, but they share the prefix's wineserver.
ctest --test-dir "$build" --output-on-failure --timeout 120 -j 1 "$@"
echo "windows layer: done in $(( $(date +%s) - start )) s"
