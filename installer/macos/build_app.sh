#!/usr/bin/env bash
# Wrap the PyInstaller folder into Enclave.app (run on macOS after `make package`).
#   installer/macos/build_app.sh DIST_DIR TEMPLATES_DIR OUT_DIR
# DIST_DIR is build/dist/enclave; TEMPLATES_DIR is build/installer/macos (Info.plist made by
# installer/templates.py from the same version). Bundled approved models are not put inside the
# app: build_pkg.sh installs them into /Library/Application Support/Enclave/models.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 DIST_DIR TEMPLATES_DIR OUT_DIR" >&2; exit 2; }
dist=$1; templates=$2; out=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
app="$out/Enclave.app"
rm -rf "$app"
mkdir -p "$app/Contents/MacOS" "$app/Contents/Resources"
cp "$templates/Info.plist" "$app/Contents/Info.plist"
cp -R "$dist/" "$app/Contents/MacOS/"
mkdir -p "$out/models"
find "$app/Contents/MacOS/_internal/models" -type f ! -name catalog.toml -exec mv {} "$out/models/" \;
# An .icns from the 512 px PNG (iconutil ships with macOS).
iconset=$(mktemp -d)/enclave.iconset
mkdir -p "$iconset"
for s in 16 32 128 256 512; do
  sips -z $s $s "$root/assets/icons/png/enclave-512.png" --out "$iconset/icon_${s}x${s}.png" >/dev/null
done
iconutil -c icns "$iconset" -o "$app/Contents/Resources/enclave.icns"
# Sign with the site's Developer ID when one is given (required for Gatekeeper/notarisation).
if [ -n "${CODESIGN_IDENTITY:-}" ]; then
  codesign --force --deep --options runtime --timestamp -s "$CODESIGN_IDENTITY" "$app"
fi
echo "$app"
