#!/usr/bin/env bash
# The test suite's last test: fails when any captured log line (see
# tests/testing/test_secrets.h) holds a test secret (RECLAIM-TEST-SECRET-...)
# or an admin token (rcat_ + 43 base64url characters), naming the file and
# line (the secret itself is masked). Also fails when nothing was captured:
# a broken capture must not pass as "no secret found".
# Usage: scan_test_logs.sh LOG_DIR
set -uo pipefail
dir=$1
files=$(find "$dir" -type f -size +0 2>/dev/null | wc -l)
if [ "$files" -eq 0 ]; then
  echo "FAIL: no captured output in $dir: the log capture of the test suite is broken" >&2
  exit 1
fi
pattern='RECLAIM-TEST-SECRET-|rcat_[A-Za-z0-9_-]{43}'
hits=$(grep -rnaE "$pattern" "$dir" | sed -E 's/(RECLAIM-TEST-SECRET-|rcat_)[A-Za-z0-9._~+\/=-]*/\1***/g')
if [ -n "$hits" ]; then
  echo "FAIL: secrets in log lines written during the test suite (file:line: text, secret masked):" >&2
  echo "$hits" | cut -c1-400 >&2
  exit 1
fi
echo "no secret in $(find "$dir" -type f | wc -l) captured logs ($(cat "$dir"/* 2>/dev/null | wc -l) lines)"
