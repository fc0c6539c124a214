#!/usr/bin/env bash
# `make api-fuzz`: schemathesis (PyPI, pinned, in a venv under this crate) generates requests
# from the served OpenAPI document and sends them to the REAL latchkey-server process, over a
# throwaway PostgreSQL cluster, with a real ID token from the test OpenID Provider. It fails on
# any 5xx answer and on any answer that does not match the document. Bounded to ~2 minutes.
# Everything the run starts (cluster, provider, server) is stopped and removed when it ends,
# however it ends (see examples/api_fuzz.rs).
set -euo pipefail
SCHEMATHESIS_VERSION=4.32.5
crate="$(cd "$(dirname "$0")/.." && pwd)"
repo="$(cd "$crate/../.." && pwd)"
venv="$crate/.venv-fuzz"
cargo="${CARGO:-cargo}"

if [ "$("$venv/bin/schemathesis" --version 2>/dev/null || true)" != "schemathesis, version $SCHEMATHESIS_VERSION" ]; then
  echo "api-fuzz: installing schemathesis $SCHEMATHESIS_VERSION into $venv"
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "schemathesis==$SCHEMATHESIS_VERSION"
fi

# The whole workspace's feature set (as `cargo test --workspace` resolves it), so the binaries the
# tests built are reused rather than rebuilt with the server's own features.
(cd "$repo" && "$cargo" build --quiet --workspace --bin latchkey-server --example api_fuzz)
target="$("$cargo" metadata --format-version 1 --no-deps --manifest-path "$repo/Cargo.toml" \
  | python3 -c 'import json,sys; print(json.load(sys.stdin)["target_directory"])')"
rig="$target/debug/examples/api_fuzz"
export LATCHKEY_SERVER_BIN="$target/debug/latchkey-server"

# schemathesis writes nothing into the tree: it runs in a scratch directory.
scratch="$(mktemp -d)"
trap 'rm -rf "$scratch"' EXIT
cd "$scratch"
# The rig passes LATCHKEY_API and LATCHKEY_TOKEN; the header is built here so the token never
# appears in make's output. "$@" are more schemathesis options.
fuzz() {
  "$rig" bash -c '
    exec "$0" run "$LATCHKEY_API/v1/openapi.json" \
      --header "Authorization: Bearer $LATCHKEY_TOKEN" \
      --checks not_a_server_error,response_schema_conformance \
      --seed 8 --workers 2 --generation-database none --request-timeout 10 --no-color "$@"
  ' "$venv/bin/schemathesis" "$@"
}
packs='
[[packs]]
id = "small"
credits = 100
amount = 500
currency = "eur"
label = "100 credits"
'
# 1. Everything but the Stripe webhook, with the DEMO payment provider (no outside service).
API_FUZZ_SERVER_TOML="$packs
[payment]
provider = \"demo\"" fuzz --exclude-path /v1/webhooks/stripe --max-examples 40 --max-time 90
# 2. The Stripe webhook, with Stripe configured (secrets made up here; Stripe's API is never
#    called: the webhook only checks signatures): unsigned and forged deliveries are refused.
export API_FUZZ_STRIPE_SK="sk_test_fuzz" API_FUZZ_STRIPE_WHSEC="whsec_fuzz"
API_FUZZ_SERVER_TOML="$packs
[payment]
provider = \"stripe\"
public_url = \"http://127.0.0.1:9/\"
api_base = \"http://127.0.0.1:9\"
secret_key_env = \"API_FUZZ_STRIPE_SK\"
webhook_secret_env = \"API_FUZZ_STRIPE_WHSEC\"" fuzz --include-path /v1/webhooks/stripe --max-examples 100 --max-time 20
