#!/usr/bin/env bash
# Runs a command with a real, unlocked Secret Service keychain (gnome-keyring) on a private
# D-Bus session, in a scratch HOME so nothing touches the user's own keyrings.
#   scripts/with-keyring.sh cargo test --workspace
# Inside, LATCHKEY_TEST_KEYCHAIN=1 tells the tests a real keychain is there.
set -euo pipefail
if [ -z "${LATCHKEY_IN_KEYRING_SESSION:-}" ]; then
  scratch=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-home.XXXXXX")
  trap 'rm -rf "$scratch"' EXIT
  # Keep the toolchains where they are while HOME moves.
  export CARGO_HOME="${CARGO_HOME:-$HOME/.cargo}" RUSTUP_HOME="${RUSTUP_HOME:-$HOME/.rustup}"
  export npm_config_cache="${npm_config_cache:-$HOME/.npm}"
  export LATCHKEY_IN_KEYRING_SESSION=1 HOME="$scratch"
  export XDG_DATA_HOME="$scratch/.local/share" XDG_CONFIG_HOME="$scratch/.config" XDG_CACHE_HOME="$scratch/.cache"
  mkdir -p "$XDG_DATA_HOME" "$XDG_CONFIG_HOME" "$XDG_CACHE_HOME"
  exec dbus-run-session -- "$0" "$@"
fi
# Inside the session: start and unlock the keyring daemon (creates the 'login' keyring).
eval "$(printf '%s' 'latchkey-test' | gnome-keyring-daemon --unlock --components=secrets)" >/dev/null
export LATCHKEY_TEST_KEYCHAIN=1
exec "$@"
