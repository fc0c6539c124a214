# The README's two commands call into this file: `make run` and `make test`.
# Every target installs what it needs first (Debian/Ubuntu packages, npm packages).
SHELL := /bin/bash
CARGO ?= cargo
SUDO := $(shell [ "$$(id -u)" -eq 0 ] || echo sudo)

.PHONY: deps npm build run test test-partitions e2e package package-test check bench bench-app api-fuzz bench-server bench-sync fuzz clean

deps:
	@command -v $(CARGO) >/dev/null || { echo "Rust is missing: install it from https://rustup.rs, then run this again."; exit 1; }
	bash .ci/install-deps.sh
	$(MAKE) --no-print-directory npm

npm: tests/idp/node_modules/.package-lock.json node_modules/.package-lock.json \
	crates/latchkey-analytics/tests/data/node_modules/.package-lock.json ui/vendor/uPlot.iife.min.js

# The charting library the window uses (uPlot, MIT), copied from npm into the page's folder by
# this step, so the app ships it and the CSP needs no CDN (package.json pins the version).
ui/vendor/uPlot.iife.min.js: node_modules/.package-lock.json
	mkdir -p ui/vendor
	cp node_modules/uplot/dist/uPlot.iife.min.js node_modules/uplot/dist/uPlot.min.css ui/vendor/
	cp node_modules/uplot/LICENSE ui/vendor/uPlot.LICENSE

tests/idp/node_modules/.package-lock.json: tests/idp/package-lock.json
	cd tests/idp && npm ci --no-audit --no-fund --loglevel=error

# Real data for the analytics tests: the CSV files of the vega-datasets package.
crates/latchkey-analytics/tests/data/node_modules/.package-lock.json: crates/latchkey-analytics/tests/data/package-lock.json
	cd crates/latchkey-analytics/tests/data && npm ci --no-audit --no-fund --loglevel=error

# The Tauri CLI (prebuilt, from npm) for packaging; TypeScript for `make check`.
node_modules/.package-lock.json: package-lock.json
	npm ci --no-audit --no-fund --loglevel=error

build:
	$(CARGO) build --workspace

# Runs the desktop app (or, with no display, the CLI) against your configuration, or against
# the bundled local DEMO provider when you have none.
run: deps build
	scripts/demo.sh

# The whole test suite, with a real keychain and a real OpenID Provider on loopback.
# The tests that start the credit service run the binary this same build made (building it
# again per package would resolve other features and rebuild half the dependencies).
test: deps
	LATCHKEY_SERVER_BIN=$(CURDIR)/target/debug/latchkey-server \
		scripts/with-keyring.sh $(CARGO) test --workspace --no-fail-fast
	$(MAKE) --no-print-directory api-fuzz
	cd tests/idp && npm test
	$(MAKE) --no-print-directory e2e
	$(MAKE) --no-print-directory package-test

# Only the network-partition tests of sync (issue 9; `make test` runs them too). They need root
# for network namespaces: run this as yourself; it builds as you and runs the tests via sudo.
test-partitions: npm
	$(CARGO) build -p latchkey-server --bin latchkey-server
	bin=$$($(CARGO) test -p latchkey-cli --test cli --no-run 2>&1 | sed -n 's/.*Executable .*(\(.*\))$$/\1/p'); \
		test -x "$$bin" || { echo "no test binary found"; exit 1; }; \
		$(SUDO) env PATH="$$PATH" LATCHKEY_SERVER_BIN=$(CURDIR)/target/debug/latchkey-server \
		scripts/with-keyring.sh "$$bin" partition::

# The app in its real window (tauri-driver + WebKitWebDriver under Xvfb), with a real keychain,
# the real provider and headless Chromium as the browser. Uses the debug binaries `cargo test`
# built (same features, so nothing is rebuilt). Screenshots: tests/artifacts/e2e/.
IN_DESKTOP = scripts/with-keyring.sh xvfb-run -a -s "-screen 0 1280x800x24"
E2E_RUN = $(IN_DESKTOP) node --test --test-concurrency=1 --test-force-exit
e2e:
	$(CARGO) test --workspace --no-run --quiet
	$(E2E_RUN) tests/e2e/webdriver.test.mjs tests/e2e/app.test.mjs tests/e2e/buy.test.mjs tests/e2e/analytics.test.mjs tests/e2e/sync.test.mjs tests/e2e/device.test.mjs

# Installers: .deb and .rpm (release build) in target/release/bundle/.
package: npm
	npx tauri build --bundles deb,rpm

# Installs the .deb on this machine (dpkg -i), checks the latchkey:// handler is registered and
# that the installed app starts and takes a link; then removes it again.
package-test: package
	$(SUDO) dpkg -i target/release/bundle/deb/Latchkey_*_amd64.deb
	$(E2E_RUN) tests/e2e/installed.test.mjs; status=$$?; $(SUDO) dpkg -r latchkey >/dev/null; exit $$status

# Style, lints, and the UI's types (TypeScript checks ui/*.js against its JSDoc; emits nothing).
check: npm
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings
	npx tsc --noEmit -p tsconfig.json

bench: deps
	scripts/with-keyring.sh $(CARGO) bench -p latchkey-cli --bench login
	$(CARGO) bench -p latchkey-wallet

# The release app against a hello-world Tauri window built the same way (the floor): start-up
# offline with a restored session, idle memory, binary and .deb sizes. Prints figures.
bench-app: deps
	$(CARGO) build -p latchkey-cli
	npx tauri build --bundles deb
	$(CARGO) build --release --example floor --features bench-floor,tauri/custom-protocol
	$(IN_DESKTOP) node scripts/bench-app.mjs

# Schema-driven fuzzing of the credit service's API: schemathesis (pinned, in a venv) against the
# real latchkey-server over a throwaway PostgreSQL, with a real ID token; no 5xx, every answer
# matches /v1/openapi.json. ~2 minutes.
api-fuzz: npm
	CARGO=$(CARGO) crates/latchkey-server/scripts/api-fuzz.sh

# The credit service's durable spends/s and p50/p99 (64 signed-in users, HTTP, fsync on) beside
# pgbench on the same cluster. Optimised build without LTO (quicker to build); panics unwind so
# the cluster, provider and server are always cleaned up. Prints figures.
BENCH_PROFILE = CARGO_PROFILE_RELEASE_LTO=false CARGO_PROFILE_RELEASE_CODEGEN_UNITS=16 \
	CARGO_PROFILE_RELEASE_OPT_LEVEL=3 CARGO_PROFILE_RELEASE_PANIC=unwind
bench-server: npm
	$(BENCH_PROFILE) $(CARGO) build --release -p latchkey-server --bin latchkey-server --example bench_server
	LATCHKEY_SERVER_BIN=target/release/latchkey-server target/release/examples/bench_server

# Issue 9's sync figures: push of 10,000 offline spends, pull, idle sync p50/p99 (real server,
# fsync on); then the desktop's side: the real `latchkey` CLI (release) syncing 10,000 and
# 100,000 entries, its peak RSS and wall time (under a real keychain: it signs in). Prints figures.
bench-sync: npm
	$(BENCH_PROFILE) $(CARGO) build --release -p latchkey-server --bin latchkey-server \
		--example bench_sync --example bench_device_memory
	$(BENCH_PROFILE) $(CARGO) build --release -p latchkey-cli --bin latchkey
	LATCHKEY_SERVER_BIN=target/release/latchkey-server target/release/examples/bench_sync
	LATCHKEY_SERVER_BIN=target/release/latchkey-server LATCHKEY_BIN=target/release/latchkey \
		scripts/with-keyring.sh target/release/examples/bench_device_memory

# Coverage-guided fuzzing (cargo-fuzz, stable toolchain, no sanitizer) of every parser that reads
# what others send: the sign-in callback, the configuration, vouchers (fuzz/), and the analytics
# CSV reader (crates/latchkey-analytics/fuzz). FUZZ_SECONDS per target; the corpora grow in
# fuzz/corpus/ (not committed; the seeds are). A crash stops the run and leaves its input in
# fuzz/artifacts/: make it a regression test.
FUZZ_SECONDS ?= 60
FUZZ_TARGETS = callback deeplink config voucher
fuzz:
	command -v cargo-fuzz >/dev/null || $(CARGO) install cargo-fuzz --locked
	cd fuzz && for t in $(FUZZ_TARGETS); do mkdir -p corpus/$$t && \
		$(CARGO) fuzz run -s none $$t corpus/$$t seeds/$$t -- -max_total_time=$(FUZZ_SECONDS) || exit 1; done
	cd crates/latchkey-analytics/fuzz && mkdir -p corpus/import && \
		$(CARGO) fuzz run -s none import corpus/import seeds/import -- -max_total_time=$(FUZZ_SECONDS)

clean:
	$(CARGO) clean
