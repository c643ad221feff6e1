#!/usr/bin/env bash
# Setup of powershell_syntax_test (CTest fixture powershell_syntax_modules):
# installs the pinned web-tree-sitter and tree-sitter-powershell of
# package-lock.json into DEST/node_modules with `npm ci` (the npm registry
# only; --ignore-scripts: only the grammar's shipped .wasm is used, no native
# addon is built). Skips the install when DEST already holds this lock file's
# packages. Fails when node or npm is missing.
# Usage: npm-ci.sh DEST
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dest=${1:?usage: npm-ci.sh DEST}
for tool in node npm; do
  command -v "$tool" > /dev/null ||
    { echo "npm-ci: $tool not found: deploy/install-deps.sh installs Node.js and npm" >&2; exit 1; }
done
mkdir -p "$dest"
if cmp -s "$here/package-lock.json" "$dest/node_modules/.reclaim-lock.json" 2> /dev/null; then
  echo "npm-ci: $dest/node_modules is up to date"
  exit 0
fi
cp "$here/package.json" "$here/package-lock.json" "$dest/"
start=$(date +%s.%N)
(cd "$dest" && npm ci --ignore-scripts --no-audit --no-fund --prefer-offline)
cp "$here/package-lock.json" "$dest/node_modules/.reclaim-lock.json"
awk -v s="$start" -v e="$(date +%s.%N)" 'BEGIN { printf "npm-ci: installed in %.1f s\n", e - s }'
