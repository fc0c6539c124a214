#!/usr/bin/env bash
# `make run`: start Latchkey. With your own configuration, it is used as is. With none, the
# bundled local DEMO provider (tests/idp/provider.mjs: an OpenID Provider on 127.0.0.1 that
# accepts any user name and password) is started and a throwaway demo configuration points at
# it. With a display, the desktop app opens; without one, the CLI runs the same flow.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$(pwd)
config="${LATCHKEY_CONFIG:-${XDG_CONFIG_HOME:-$HOME/.config}/latchkey/auth.toml}"
have_display=""
[ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && have_display=1

scratch=$(mktemp -d "${TMPDIR:-/tmp}/latchkey-demo.XXXXXX")
idp_pid=""
cleanup() { [ -n "$idp_pid" ] && kill "$idp_pid" 2>/dev/null; rm -rf "$scratch"; }
trap cleanup EXIT

if [ -f "$config" ]; then
  echo "Using your configuration: $config"
  export LATCHKEY_CONFIG="$config"
else
  echo "No configuration at $config."
  echo "Starting the bundled local DEMO provider: any user name and password work. Nothing leaves this machine."
  mkfifo "$scratch/keepalive"
  node tests/idp/provider.mjs --demo <"$scratch/keepalive" >"$scratch/idp.out" 2>"$scratch/idp.log" &
  idp_pid=$!
  exec 3>"$scratch/keepalive"   # the provider exits when this script does
  for _ in $(seq 100); do [ -s "$scratch/idp.out" ] && break; sleep 0.1; done
  issuer=$(sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p' "$scratch/idp.out")
  [ -n "$issuer" ] || { echo "The demo provider did not start:"; cat "$scratch/idp.log"; exit 1; }
  cat >"$scratch/auth.toml" <<TOML
# DEMO configuration written by scripts/demo.sh: a local test provider, not a real account.
[auth.demo]
client_id = "desktop-public"
server_metadata_url = "$issuer/.well-known/openid-configuration"
TOML
  export LATCHKEY_CONFIG="$scratch/auth.toml"
  export LATCHKEY_DATA_DIR="$scratch/data" LATCHKEY_KEYRING_SERVICE="latchkey-demo"
  echo "DEMO provider at $issuer"
fi

if [ -n "$have_display" ] && [ -x target/debug/latchkey-app ]; then
  echo "Opening the Latchkey window."
  target/debug/latchkey-app
else
  echo "No display found, so the desktop window cannot open: running the same sign-in with the CLI."
  if [ ! -f "$config" ]; then
    echo "DEMO: no one is at a browser here, so a scripted browser plays you and signs in as 'demo'."
    export LATCHKEY_BROWSER="node $repo/tests/idp/browser-http.mjs" LATCHKEY_TEST_LOGIN=demo
  fi
  run_cli() {
    target/debug/latchkey login --timeout 120 && target/debug/latchkey status
  }
  if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
    echo "No desktop session keychain: using a throwaway gnome-keyring for this run."
    export -f run_cli
    scripts/with-keyring.sh bash -c run_cli
  else
    run_cli
  fi
fi
