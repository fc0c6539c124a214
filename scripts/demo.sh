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
server_pid=""
pg_bin=/usr/lib/postgresql/15/bin
as_postgres=()
[ "$(id -u)" -eq 0 ] && as_postgres=(runuser -u postgres --)
pg_started=""
cleanup() {
  [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null
  [ -n "$pg_started" ] && "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$scratch/pg/data" -m fast stop >/dev/null 2>&1
  [ -n "$idp_pid" ] && kill "$idp_pid" 2>/dev/null
  rm -rf "$scratch"
}
trap cleanup EXIT

# The DEMO credit service: a throwaway PostgreSQL cluster on a free loopback port and
# `latchkey-server` over it, with the DEMO payment provider (a local page that "pays" at a
# click, labelled DEMO) and 10 welcome credits. Sets service_url; fails if it cannot start.
start_demo_service() {
  local issuer=$1 port
  [ -x "$pg_bin/initdb" ] && [ -x target/debug/latchkey-server ] || return 1
  port=$(node -e "const s=require('net').createServer().listen(0,'127.0.0.1',()=>{console.log(s.address().port);s.close()})")
  mkdir -p "$scratch/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$scratch" "$scratch/pg"
  "${as_postgres[@]}" "$pg_bin/initdb" -D "$scratch/pg/data" -A trust -U latchkey --no-sync -E UTF8 >"$scratch/initdb.log" 2>&1 || return 1
  "${as_postgres[@]}" "$pg_bin/pg_ctl" -D "$scratch/pg/data" -l "$scratch/pg/log" -w \
    -o "-c listen_addresses=127.0.0.1 -p $port -k $scratch/pg" start >/dev/null || return 1
  pg_started=1
  cat >"$scratch/server.toml" <<TOML
# DEMO credit service written by scripts/demo.sh: a throwaway database, no real payments.
listen = "127.0.0.1:0"
database_url = "postgresql://latchkey@127.0.0.1:$port/postgres"
welcome_credits = 10

[[packs]]
id = "demo-100"
credits = 100
amount = 500
currency = "eur"
label = "DEMO: 100 credits"

[payment]
provider = "demo"

[[providers]]
issuer = "$issuer"
client_ids = ["desktop-public"]
TOML
  RUST_LOG=warn target/debug/latchkey-server serve --config "$scratch/server.toml" >"$scratch/server.out" 2>"$scratch/server.log" &
  server_pid=$!
  for _ in $(seq 300); do [ -s "$scratch/server.out" ] && break; sleep 0.1; done
  local listen
  listen=$(sed -n '1s/.*"listen":"\([^"]*\)".*/\1/p' "$scratch/server.out")
  [ -n "$listen" ] || return 1
  service_url="http://$listen"
}

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
  service_url=""
  if start_demo_service "$issuer"; then
    printf '\n[service]\nurl = "%s"\n' "$service_url" >>"$scratch/auth.toml"
    export LATCHKEY_DEMO_SERVICE="$service_url"
    export LATCHKEY_DEMO_PAY="node $repo/crates/latchkey-cli/tests/cli/pay-demo.mjs"
    echo "DEMO credit service at $service_url (throwaway PostgreSQL, DEMO payments: nothing is charged)."
    echo "Sign in, then Credits -> Buy credits: the DEMO payment page pays at a click."
  else
    echo "The DEMO credit service could not start (PostgreSQL 15 missing?): credits stay local."
    printf '\n[wallet]\noffline_only = true\n' >>"$scratch/auth.toml"
  fi
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
    target/debug/latchkey login --timeout 120 && target/debug/latchkey status || return
    if [ -n "${LATCHKEY_DEMO_SERVICE:-}" ]; then
      echo "DEMO: buying a pack; the scripted browser clicks Pay on the DEMO payment page."
      LATCHKEY_BROWSER="$LATCHKEY_DEMO_PAY" target/debug/latchkey credits buy --pack demo-100 --timeout 60 &&
        target/debug/latchkey wallet spend --credits 3 --memo "DEMO spend" &&
        target/debug/latchkey wallet history
    fi
  }
  if [ -z "${DBUS_SESSION_BUS_ADDRESS:-}" ]; then
    echo "No desktop session keychain: using a throwaway gnome-keyring for this run."
    export -f run_cli
    scripts/with-keyring.sh bash -c run_cli
  else
    run_cli
  fi
fi
