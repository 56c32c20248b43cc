#!/usr/bin/env bash
# Build the machine-wide installer package (run on macOS after build_app.sh).
#   installer/macos/build_pkg.sh OUT_DIR VERSION
# Installs /Applications/Enclave.app, the approved models into
# /Library/Application Support/Enclave/models, example policies into
# /Library/Application Support/Enclave/examples (none active). Silent install for MDM:
#   sudo installer -pkg enclave-VERSION.pkg -target /
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: $0 OUT_DIR VERSION" >&2; exit 2; }
out=$1; version=$2
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
stage=$(mktemp -d)
mkdir -p "$stage/app" "$stage/support/models" "$stage/support/examples"
cp -R "$out/Enclave.app" "$stage/app/"
cp -R "$out/models/." "$stage/support/models/" 2>/dev/null || true
cp -R "$root/installer/examples/policies" "$stage/support/examples/"
pkgbuild --root "$stage/app" --install-location /Applications \
  --identifier com.example.enclave.app --version "$version" "$out/enclave-app.pkg"
pkgbuild --root "$stage/support" --install-location "/Library/Application Support/Enclave" \
  --identifier com.example.enclave.support --version "$version" "$out/enclave-support.pkg"
productbuild --package "$out/enclave-app.pkg" --package "$out/enclave-support.pkg" \
  ${PRODUCTSIGN_IDENTITY:+--sign "$PRODUCTSIGN_IDENTITY"} "$out/enclave-$version.pkg"
rm -f "$out/enclave-app.pkg" "$out/enclave-support.pkg"
echo "$out/enclave-$version.pkg"
