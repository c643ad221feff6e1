#!/usr/bin/env bash
# CTest windows_agent_compile_test: compiles every translation unit of the
# Windows agent's executables (reclaim-agent.exe, reclaim-agent-service.exe,
# reclaim-native-host.exe and every library they link) with mingw-w64 and
# -Werror, through the same CMake files as the vcpkg build
# (agent/windows/windows_agent.cmake), against Debian's headers of abseil,
# protobuf, gRPC, spdlog, fmt, CLI11, toml11, nlohmann-json, OpenSSL and SQLite
# (.ci/mingw-w64-agent-check.cmake, agent/windows/compile_check/). Nothing is
# linked. Fails, never skips, when a tool is missing.
# Usage: run-windows-agent-compile-check.sh SOURCE_DIR BUILD_DIR
set -euo pipefail
src=$1
build=$2
for tool in x86_64-w64-mingw32-g++-posix protoc grpc_cpp_plugin cmake ninja; do
  command -v "$tool" >/dev/null || { echo "windows agent compile check: '$tool' is missing: run deploy/install-deps.sh" >&2; exit 1; }
done
launcher=()
if command -v ccache >/dev/null; then
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache)
fi
start=$(date +%s)
mkdir -p "$build"
cmake -S "$src" -B "$build" -G Ninja -DCMAKE_TOOLCHAIN_FILE="$src/.ci/mingw-w64-agent-check.cmake" \
  -DCMAKE_BUILD_TYPE=Release -DRECLAIM_WERROR=ON "${launcher[@]}" >"$build/configure.log" 2>&1 ||
  { cat "$build/configure.log" >&2; exit 1; }
grep "compile check:" "$build/configure.log" || true
cmake --build "$build" --target windows_agent_compile_check -j "${RECLAIM_WINDOWS_JOBS:-2}"
cat "$build/windows-agent-translation-units.txt"
echo "windows agent compile check: done in $(( $(date +%s) - start )) s"
