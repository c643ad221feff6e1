#!/usr/bin/env bash
# deploy/browser/pack-extension.sh: packs the extension with real Chromium and
# writes the policy files; the extension id it computes is the one Chromium
# wrote into the CRX3 header (signed_header_data.crx_id), and a second run
# with the same key keeps the id. Bad arguments are clear errors.
# deploy/install-agent.sh (staged with --destdir) installs the host and its
# manifests. Usage: pack_extension_test.sh BUILD_DIR
set -euo pipefail
root=$(cd "$(dirname "$0")/../../.." && pwd)
BUILD_DIR=${1:?usage: pack_extension_test.sh BUILD_DIR}
pack="$root/deploy/browser/pack-extension.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }

"$pack" --key "$tmp/key.pem" --base-url https://updates.example.test/reclaim/ --out "$tmp/out" \
  > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "pack-extension failed"; }
[ "$(stat -c %a "$tmp/key.pem")" = 600 ] || fail "the new key is not 0600"
id=$(cat "$tmp/out/extension-id")
[[ "$id" =~ ^[a-p]{32}$ ]] || fail "bad id '$id'"
[ "$(head -c 4 "$tmp/out/reclaim-webfocus.crx")" = Cr24 ] || fail "not a CRX"
hex=$(echo "$id" | tr 'a-p' '0-9a-f')
xxd -p "$tmp/out/reclaim-webfocus.crx" | tr -d '\n' | grep -c "$hex" >/dev/null ||
  fail "the CRX header does not carry crx_id $hex"
grep -q "appid='$id'" "$tmp/out/updates.xml" || fail "updates.xml lacks the id"
grep -q "codebase='https://updates.example.test/reclaim/reclaim-webfocus.crx' version='1.0.0'" \
  "$tmp/out/updates.xml" || fail "updates.xml codebase/version"
grep -q "\"$id;https://updates.example.test/reclaim/updates.xml\"" "$tmp/out/chromium-policy.json" ||
  fail "chromium-policy.json"
grep -q '"webfocus@reclaim.project"' "$tmp/out/firefox-policies.json" || fail "firefox-policies.json"
grep -q '"install_url": "https://updates.example.test/reclaim/reclaim-webfocus.xpi"' \
  "$tmp/out/firefox-policies.json" || fail "firefox install_url"
# (Output captured first: `cmd | grep -q` under pipefail fails when grep
# exits before cmd has written everything.)
listing=$(unzip -l "$tmp/out/reclaim-webfocus.xpi")
grep -q manifest.json <<< "$listing" || fail "xpi lacks manifest.json"
grep -q managed_schema.json <<< "$listing" || fail "xpi lacks managed_schema.json"
# The administrator's page-detail settings (managed storage), off by default.
compact=$(tr -d ' \n' < "$tmp/out/chromium-policy.json")
grep -q "\"3rdparty\":{\"extensions\":{\"$id\":{\"sendPath\":false,\"sendTitle\":false}" \
  <<< "$compact" || fail "chromium-policy.json lacks the managed storage defaults"
compact=$(tr -d ' \n' < "$tmp/out/firefox-policies.json")
grep -q '"3rdparty":{"Extensions":{"webfocus@reclaim.project":{"sendPath":false,"sendTitle":false}' \
  <<< "$compact" || fail "firefox-policies.json lacks the managed storage defaults"
unzip -p "$tmp/out/reclaim-webfocus.xpi" manifest.json | grep -c '"key"' >/dev/null && fail "packed manifest keeps the dev key"
grep -q '@' "$tmp/out/updates.xml" "$tmp/out/chromium-policy.json" && fail "unfilled placeholder"

# Same key, same id.
"$pack" --key "$tmp/key.pem" --base-url https://updates.example.test/reclaim/ --out "$tmp/out2" > /dev/null 2>&1
[ "$(cat "$tmp/out2/extension-id")" = "$id" ] || fail "the id changed with the same key"
# The host manifests accept that id and refuse a malformed one.
"$root/deploy/browser/install-native-host.sh" --host-binary /bin/true --chromium-extension-id "$id" \
  --chromium-dir "$tmp/nm" > /dev/null
grep -q "chrome-extension://$id/" "$tmp/nm/com.reclaim.webfocus.json" || fail "host manifest"
if "$root/deploy/browser/install-native-host.sh" --host-binary /bin/true \
     --chromium-extension-id 'x", "evil' --chromium-dir "$tmp/nm2" > "$tmp/err" 2>&1; then
  fail "a malformed id was accepted"
fi
grep -q "bad Chromium extension id" "$tmp/err" || fail "no clear error for a bad id"
if "$pack" --key "$tmp/key.pem" --base-url 'ftp://x' --out "$tmp/o3" > "$tmp/err" 2>&1; then
  fail "a bad base URL was accepted"
fi

# The agent's install steps put the host and its manifests in place (staged).
"$root/deploy/install-agent.sh" --build-dir "$BUILD_DIR" --destdir "$tmp/stage" \
  --chromium-extension-id "$id" > "$tmp/log" 2>&1 || { cat "$tmp/log"; fail "install-agent failed"; }
for f in usr/bin/reclaim-agent usr/bin/reclaim-native-host etc/reclaim/agent.toml \
         usr/lib/systemd/user/reclaim-agent.service; do
  [ -e "$tmp/stage/$f" ] || fail "install-agent did not install $f"
done
for d in etc/chromium/native-messaging-hosts etc/opt/chrome/native-messaging-hosts \
         etc/opt/edge/native-messaging-hosts; do
  m="$tmp/stage/$d/com.reclaim.webfocus.json"
  grep -q '"path": "/usr/bin/reclaim-native-host"' "$m" || fail "$m: path"
  grep -q "chrome-extension://$id/" "$m" || fail "$m: packed id"
  grep -q "chrome-extension://lnhlhmepibkcoeggjnhmhjbilcfpjmcl/" "$m" || fail "$m: dev id"
done
grep -q '"allowed_extensions": \["webfocus@reclaim.project"\]' \
  "$tmp/stage/usr/lib/mozilla/native-messaging-hosts/com.reclaim.webfocus.json" || fail "firefox manifest"
echo "pack_extension_test: ok (id $id)"
