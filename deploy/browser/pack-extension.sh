#!/usr/bin/env bash
# Packages the Reclaim browser extension (agent/browser/extension) for
# installation by policy, and writes the policy files that force-install it.
#
#   pack-extension.sh --key KEY.pem --base-url https://updates.example.com/reclaim/ --out DIR
#                     [--chromium /usr/lib/chromium/chromium]
#
# KEY.pem is the extension's signing key (RSA, PEM). It fixes the Chromium
# extension id; keep it secret and reuse it for every version (it is created,
# mode 0600, when the file does not exist). DIR receives:
#   reclaim-webfocus.crx     the CRX3 package for Chromium / Chrome / Edge
#   updates.xml              the self-hosted update manifest (gupdate) for it
#   reclaim-webfocus.xpi     the package for Firefox (have it signed by
#                            addons.mozilla.org as an unlisted add-on; only ESR
#                            and Developer Edition accept unsigned add-ons, with
#                            xpinstall.signatures.required = false)
#   chromium-policy.json     ExtensionInstallForcelist, and the extension's
#                            managed storage ("3rdparty": sendPath/sendTitle, both
#                            false: origin only): copy to
#                            /etc/chromium/policies/managed/ (Chrome:
#                            /etc/opt/chrome/policies/managed/)
#   firefox-policies.json    enterprise policy ExtensionSettings force_installed,
#                            and "3rdparty" managed storage as above: copy to
#                            /etc/firefox/policies/policies.json (Debian's
#                            firefox-esr also reads /usr/lib/firefox-esr/distribution/)
#   extension-id             the Chromium extension id, for
#                            install-native-host.sh --chromium-extension-id
# Publish the .crx, updates.xml and the .xpi under --base-url (HTTPS).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
src="$here/../../agent/browser/extension"
key="" base_url="" out="" chromium=/usr/lib/chromium/chromium
while [ $# -gt 0 ]; do
  case "$1" in
    --key) key="$2"; shift ;;
    --base-url) base_url="$2"; shift ;;
    --out) out="$2"; shift ;;
    --chromium) chromium="$2"; shift ;;
    -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "pack-extension: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
[ -n "$key" ] && [ -n "$base_url" ] && [ -n "$out" ] ||
  { echo "pack-extension: --key, --base-url and --out are required" >&2; exit 2; }
[[ "$base_url" =~ ^https?://[A-Za-z0-9.:/_~-]+/$ ]] ||
  { echo "pack-extension: --base-url must be an http(s) URL ending in '/'" >&2; exit 2; }
for tool in openssl zip sha256sum; do
  command -v "$tool" > /dev/null || { echo "pack-extension: $tool is missing" >&2; exit 1; }
done
[ -x "$chromium" ] || { echo "pack-extension: $chromium is missing (apt install chromium)" >&2; exit 1; }

if [ ! -e "$key" ]; then
  (umask 077 && openssl genrsa -out "$key" 2048 2> /dev/null)
  echo "pack-extension: created the signing key $key (keep it; it fixes the extension id)"
fi
mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The packaged manifest has no "key" (the development key that fixes the id
# of the unpacked extension): the CRX's own key decides the id.
mkdir "$work/reclaim-webfocus"
cp "$src/background.js" "$src/managed_schema.json" "$work/reclaim-webfocus/"
sed '/^  "key": /d' "$src/manifest.json" > "$work/reclaim-webfocus/manifest.json"
version=$(sed -n 's/^  "version": "\([0-9.]*\)".*/\1/p' "$src/manifest.json")
firefox_id=$(sed -n 's/.*"id": "\([^"]*@[^"]*\)".*/\1/p' "$src/manifest.json")
[ -n "$version" ] && [ -n "$firefox_id" ] || { echo "pack-extension: cannot read $src/manifest.json" >&2; exit 1; }

# Chromium extension id: the first 128 bits of SHA-256 of the public key
# (DER SubjectPublicKeyInfo), hex digits 0-f written as letters a-p.
chromium_id=$(openssl rsa -in "$key" -pubout -outform DER 2> /dev/null | sha256sum | cut -c1-32 |
              tr '0-9a-f' 'a-p')

"$chromium" --headless --no-sandbox --user-data-dir="$work/profile" \
  --pack-extension="$work/reclaim-webfocus" --pack-extension-key="$key" > "$work/pack.log" 2>&1 || true
[ "$(head -c 4 "$work/reclaim-webfocus.crx" 2> /dev/null)" = "Cr24" ] ||
  { echo "pack-extension: chromium did not write a CRX:" >&2; cat "$work/pack.log" >&2; exit 1; }
install -m 0644 "$work/reclaim-webfocus.crx" "$out/"
rm -f "$out/reclaim-webfocus.xpi"
(cd "$work/reclaim-webfocus" && zip -q -X "$out/reclaim-webfocus.xpi" manifest.json background.js \
  managed_schema.json)

fill() {
  sed -e "s|@CHROMIUM_ID@|$chromium_id|g" -e "s|@FIREFOX_ID@|$firefox_id|g" \
      -e "s|@BASE_URL@|$base_url|g" -e "s|@VERSION@|$version|g" "$1" > "$2"
}
fill "$here/updates.xml.in" "$out/updates.xml"
fill "$here/chromium-policy.json.in" "$out/chromium-policy.json"
fill "$here/firefox-policies.json.in" "$out/firefox-policies.json"
echo "$chromium_id" > "$out/extension-id"
echo "pack-extension: version $version, Chromium id $chromium_id, Firefox id $firefox_id -> $out"
