#!/usr/bin/env bash
# Runs one CTest test and also appends everything it prints (stdout and
# stderr, merged) to $RECLAIM_TEST_LOG_DIR/<name>-<pid>.out, for the
# no_secret_in_logs scan (tests/testing/test_secrets.h). The test's exit code
# is kept. Without RECLAIM_TEST_LOG_DIR it just runs the test.
# Usage: capture_output.sh NAME COMMAND [ARG...]
set -uo pipefail
name=$1
shift
if [ -z "${RECLAIM_TEST_LOG_DIR:-}" ]; then exec "$@"; fi
mkdir -p "$RECLAIM_TEST_LOG_DIR"
"$@" 2>&1 | tee -a "$RECLAIM_TEST_LOG_DIR/$name-$$.out"
exit "${PIPESTATUS[0]}"
