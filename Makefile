# The README's two commands call into this file: `make run` and `make test`.
# Every target installs what it needs first (Debian/Ubuntu packages, npm packages).
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: deps npm build run demo test test-rust test-idp check bench clean

deps:
	@command -v $(CARGO) >/dev/null || { echo "Rust is missing: install it from https://rustup.rs, then run this again."; exit 1; }
	bash .ci/install-deps.sh
	$(MAKE) --no-print-directory npm

npm: tests/idp/node_modules/.package-lock.json

tests/idp/node_modules/.package-lock.json: tests/idp/package-lock.json
	cd tests/idp && npm ci --no-audit --no-fund --loglevel=error

build:
	$(CARGO) build --workspace

# Runs the desktop app (or, with no display, the CLI) against your configuration, or against
# the bundled local DEMO provider when you have none.
run: deps build
	scripts/demo.sh

# The whole test suite, with a real keychain and a real OpenID Provider on loopback.
test: deps
	scripts/with-keyring.sh $(CARGO) test --workspace --no-fail-fast
	cd tests/idp && npm test

check:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench: deps
	scripts/with-keyring.sh $(CARGO) bench -p latchkey-cli --bench login
	$(CARGO) bench -p latchkey-wallet

clean:
	$(CARGO) clean
