#!/usr/bin/env bash
# Install the Debian packages Enclave needs, where we can (root with apt-get); otherwise say
# exactly what is missing and how to install it. Fast when everything is present.
#   Qt's runtime (even offscreen): libegl1 libopengl0 libgl1 libxkbcommon0 libdbus-1-3
#     libfontconfig1 libglib2.0-0, plus the xcb libraries for a real X11 window.
#   Tests: dbus + gnome-keyring (the real Secret Service), xvfb (screenshots).
set -euo pipefail
packages=(
  libegl1 libopengl0 libgl1 libxkbcommon0 libxkbcommon-x11-0 libdbus-1-3 libfontconfig1
  libglib2.0-0 libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-randr0
  libxcb-render-util0 libxcb-image0 libxcb-xinerama0
  dbus gnome-keyring xvfb xauth
)
command -v dpkg-query >/dev/null 2>&1 || { echo "system-deps: not a Debian system; install Qt 6 runtime libraries, dbus and gnome-keyring yourself."; exit 0; }
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
else
  echo "system-deps: these Debian packages are missing: ${missing[*]}" >&2
  echo "  → run: sudo apt-get update && sudo apt-get install -y ${missing[*]}" >&2
  exit 1
fi
