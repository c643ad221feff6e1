#!/usr/bin/env bash
# Builds the libFuzzer targets with clang (a build of their own: the main
# build uses g++), replays every corpus file (seeds and kept crash inputs,
# tests/fuzz/corpus/<target>/), then fuzzes each target for a while (with
# tests/fuzz/<target>.dict as its dictionary when there is one).
#
# Usage: tests/fuzz/run.sh [--build-dir DIR] [--seconds N] [--jobs N] [target...]
#   --build-dir DIR  clang build directory (default: build-fuzz in the checkout)
#   --seconds N      fuzzing time per target; 0 = replay only; default 20
#   --jobs N         parallel fuzzing processes per target (libFuzzer -fork); default 1
#   target...        only these targets (default: all)
# New inputs go to DIR/corpus/<target>/ (not into the checkout); a crash is
# written to DIR/artifacts/<target>/ and fails the script. To keep one as a
# regression input, copy it into tests/fuzz/corpus/<target>/ under a name
# that says what it is (crash-<what>).
# Exit: 0 all good; 1 a target crashed or the build failed; 2 usage or
# missing toolchain (clang++-14 with libFuzzer: libclang-rt-14-dev).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
build=$root/build-fuzz
seconds=20
jobs=1
targets=()
while [ $# -gt 0 ]; do
  case "$1" in
    --build-dir) build=$2; shift 2 ;;
    --seconds) seconds=$2; shift 2 ;;
    --jobs) jobs=$2; shift 2 ;;
    -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
    -*) echo "run.sh: unknown option $1" >&2; exit 2 ;;
    *) targets+=("$1"); shift ;;
  esac
done
all=(utf8_fuzzer validation_fuzzer toml_config_fuzzer cron_fuzzer ldap_values_fuzzer
     graph_json_fuzzer scripted_source_fuzzer)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

cxx=${RECLAIM_FUZZ_CXX:-clang++-14}
if ! command -v "$cxx" >/dev/null; then
  echo "run.sh: $cxx not found: install clang-14 and libclang-rt-14-dev (deploy/install-deps.sh)" >&2
  exit 2
fi
probe=$(mktemp -d)
trap 'rm -rf "$probe"' EXIT
printf '#include <cstdint>\n#include <cstddef>\nextern "C" int LLVMFuzzerTestOneInput(const uint8_t*, size_t) { return 0; }\n' \
  > "$probe/p.cc"
if ! "$cxx" -fsanitize=fuzzer,address,undefined "$probe/p.cc" -o "$probe/p" 2>"$probe/err"; then
  cat "$probe/err" >&2
  echo "run.sh: $cxx cannot link libFuzzer: install libclang-rt-14-dev (deploy/install-deps.sh)" >&2
  exit 2
fi

cmake -S "$here" -B "$build" -G Ninja -DCMAKE_CXX_COMPILER="$cxx" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" --target "${targets[@]}"

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
failed=()
for t in "${targets[@]}"; do
  seeds=$here/corpus/$t
  work=$build/corpus/$t
  art=$build/artifacts/$t
  mkdir -p "$work" "$art"
  echo "== $t: replaying $(ls "$seeds" 2>/dev/null | wc -l) corpus files"
  # Replay: every seed and kept crash input once (regression test).
  if ! "$build/$t" -runs=0 -artifact_prefix="$art/" "$seeds" >"$build/$t.replay.log" 2>&1; then
    tail -40 "$build/$t.replay.log"; failed+=("$t (replay)"); continue
  fi
  if [ "$seconds" != 0 ]; then
    echo "== $t: fuzzing ${seconds}s"
    fork=()
    dict=()
    [ -f "$here/$t.dict" ] && dict=(-dict="$here/$t.dict")
    [ "$jobs" -gt 1 ] && fork=(-fork="$jobs" -ignore_crashes=0)
    if ! "$build/$t" "${fork[@]}" "${dict[@]}" -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 \
         -max_len=8192 -print_final_stats=1 -artifact_prefix="$art/" "$work" "$seeds" \
         >"$build/$t.fuzz.log" 2>&1; then
      tail -60 "$build/$t.fuzz.log"; failed+=("$t"); continue
    fi
    grep -E '^stat::number_of_executed_units|^stat::new_units_added' "$build/$t.fuzz.log" | tr '\n' ' '; echo
  fi
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "run.sh: FAILED: ${failed[*]} (inputs in $build/artifacts/)" >&2
  exit 1
fi
echo "run.sh: ${#targets[@]} targets OK"
