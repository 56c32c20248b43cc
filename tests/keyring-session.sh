#!/usr/bin/env bash
# Run a command with a live, unlocked Secret Service: a private D-Bus session bus (started by
# the caller with dbus-run-session) and gnome-keyring-daemon's secrets component, so the store
# tests exercise the real OS keyring. Usage: dbus-run-session -- tests/keyring-session.sh CMD…
set -euo pipefail
if [ -z "${XDG_RUNTIME_DIR:-}" ] || [ ! -w "${XDG_RUNTIME_DIR}" ]; then
  XDG_RUNTIME_DIR=$(mktemp -d /tmp/enclave-xdg-XXXXXX)
  export XDG_RUNTIME_DIR
fi
chmod 700 "$XDG_RUNTIME_DIR"
# A throwaway keyring home, so tests never touch the developer's real keyrings.
# Only the daemon sees it: the tests must still find the provisioned model under the real
# XDG_DATA_HOME.
KEYRING_HOME=$(mktemp -d /tmp/enclave-keyring-XXXXXX)
# --unlock reads the new login keyring's password from stdin and creates it unlocked.
eval "$(printf 'enclave-test' | XDG_DATA_HOME="$KEYRING_HOME" gnome-keyring-daemon --unlock --components=secrets 2>/dev/null)"
export GNOME_KEYRING_CONTROL SSH_AUTH_SOCK 2>/dev/null || true
status=0
"$@" || status=$?
rm -rf "$KEYRING_HOME"
exit $status
