#!/usr/bin/env bash
# Build the Debian package from the PyInstaller folder.
#   installer/linux/build_deb.sh DIST_DIR VERSION OUT_DIR
# DIST_DIR is build/dist/enclave (holds the `enclave` program and _internal/). Writes
# OUT_DIR/enclave_VERSION_ARCH.deb and prints its path.
#
# Layout on the target machine:
#   /opt/enclave/                       the program folder (read-only, root-owned)
#   /usr/bin/enclave                    -> /opt/enclave/enclave
#   /usr/share/applications/enclave.desktop, /usr/share/icons/hicolor/*/apps/enclave.*
#   /usr/share/enclave/models/          machine-wide models (app.core.paths); approved models
#                                       bundled at build time (ENCLAVE_BUNDLE_MODELS) land here
#   /usr/share/doc/enclave/examples/    example policies; never an active /etc/enclave policy
# Removing the package removes all of these; per-user data (~/.local/share/Enclave, ...) stays.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: $0 DIST_DIR VERSION OUT_DIR" >&2; exit 2; }
dist=$(cd "$1" && pwd)
version=$2
out=$3
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
[ -x "$dist/enclave" ] || { echo "build_deb: $dist/enclave is missing; run make package" >&2; exit 1; }
command -v dpkg-deb >/dev/null || { echo "build_deb: dpkg-deb is missing (apt-get install dpkg)" >&2; exit 1; }

arch=$(dpkg --print-architecture)
stage=$(mktemp -d "${TMPDIR:-/tmp}/enclave-deb-XXXXXX")
trap 'rm -rf "$stage"' EXIT
pkg=$stage/pkg
mkdir -p "$pkg/DEBIAN" "$pkg/opt" "$pkg/usr/bin" "$pkg/usr/share/applications" \
  "$pkg/usr/share/enclave/models" "$pkg/usr/share/doc/enclave/examples"

cp -a "$dist" "$pkg/opt/enclave"
# Bundled approved models: into the machine-wide directory the app reads, not twice on disk.
shopt -s nullglob
for f in "$pkg/opt/enclave/_internal/models/"*; do
  [ "$(basename "$f")" = catalog.toml ] && continue
  mv "$f" "$pkg/usr/share/enclave/models/"
done
shopt -u nullglob
ln -s /opt/enclave/enclave "$pkg/usr/bin/enclave"

install -m 0644 "$here/enclave.desktop" "$pkg/usr/share/applications/enclave.desktop"
for png in "$root"/assets/icons/png/enclave-*.png; do
  size=${png##*-}; size=${size%.png}
  install -D -m 0644 "$png" "$pkg/usr/share/icons/hicolor/${size}x${size}/apps/enclave.png"
done
install -D -m 0644 "$root/assets/icons/enclave.svg" \
  "$pkg/usr/share/icons/hicolor/scalable/apps/enclave.svg"

cp -r "$root/installer/examples/policies" "$pkg/usr/share/doc/enclave/examples/"
cat > "$pkg/usr/share/doc/enclave/copyright" <<EOF
Enclave $version. Proprietary; see the licence agreement that came with this software.
Bundled third-party components keep their own licences (Qt/PySide6 LGPLv3, llama.cpp MIT,
ONNX Runtime MIT, SQLCipher BSD); their licence files are under /opt/enclave/_internal.
Approved models: see /opt/enclave/_internal/models/catalog.toml for each model's licence.
EOF

# Everything root-owned and not writable by others, whatever the build umask was.
chmod -R u+rwX,go+rX,go-w "$pkg"

installed_kb=$(du -sk --exclude=DEBIAN "$pkg" | cut -f1)
# The Qt runtime libraries the PySide6 wheels do not ship (the same list as system-deps.sh,
# less the test tools); gnome-keyring provides the Secret Service the history key lives in.
cat > "$pkg/DEBIAN/control" <<EOF
Package: enclave
Version: $version
Architecture: $arch
Maintainer: Enclave IT packaging <it@example.invalid>
Section: utils
Priority: optional
Installed-Size: $installed_kb
Depends: libc6 (>= 2.28), libegl1, libopengl0, libgl1, libxkbcommon0, libxkbcommon-x11-0, libdbus-1-3, libfontconfig1, libglib2.0-0, libxcb-cursor0, libxcb-icccm4, libxcb-keysyms1, libxcb-shape0, libxcb-randr0, libxcb-render-util0, libxcb-image0, libxcb-xinerama0
Recommends: gnome-keyring | kwalletmanager
Homepage: https://example.invalid/enclave
Description: private AI assistant whose data stays on this machine
 Enclave runs approved open models locally with llama.cpp, keeps conversations in an
 encrypted database and enforces the administrator's machine-wide policy.
EOF

mkdir -p "$out"
deb="$out/enclave_${version}_${arch}.deb"
# gzip: every dpkg reads it and it is fast (xz took ~9 minutes on 2 busy cores for a 30 % smaller
# file); DEB_COMPRESSION=xz for a release build.
dpkg-deb --root-owner-group -Z"${DEB_COMPRESSION:-gzip}" --build "$pkg" "$deb" >/dev/null
echo "$deb"
