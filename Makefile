# Gauntlet: one command runs the main job (`make load-test`), one runs the tests (`make test`).
# Everything they need (tools, the native dev stack, builds) is brought up by the targets.

SHELL := /bin/bash
SCENARIOS ?= scenarios
# The resilience set `make ci-gate` runs: breakers, rate limits, caching, network and process
# faults, and the shop's cascade, oversell, lost-notification and chaos-fault checks.
RESILIENCE := scenarios/postgres-breaker.yaml $(wildcard scenarios/breaker-*.yaml) \
              scenarios/rate-limits.yaml scenarios/caching.yaml $(wildcard scenarios/network-*.yaml) \
              scenarios/vault-down.yaml scenarios/redis-failover.yaml \
              scenarios/shop-cascade.yaml scenarios/shop-no-oversell.yaml scenarios/shop-notifications.yaml \
              scenarios/shop-inventory-errors.yaml
CHAOS_TOKEN ?= dev-token
# Extra `harness run` options for `make ci-gate`, e.g. GATE_ARGS="--summary-md summary.md".
GATE_ARGS ?=
# Where `make build` puts the programs: the dev profile (see Cargo.toml), which the tests share.
BIN := target/debug

.PHONY: help tools services services-down services-status build test lint structure check-docs check-deploy \
        load-test ci-gate contract run-target run-shop check-no-rebuild chaos bench-target bench-harness bench-soak bench-baseline bench-proxy bench-shop clean-reports

help: ## List targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F ':.*## ' '{printf "  %-16s %s\n", $$1, $$2}'

tools: ## Install curl, wrk, Chromium, redis-tools, Prometheus when missing (Debian packages)
	@scripts/install-tools.sh

services: ## Start (or reuse) the native dev stack: PostgreSQL, MariaDB, RabbitMQ, Redis Cluster, OpenBao
	@scripts/services.sh up

services-down: ## Stop what `make services` started
	@scripts/services.sh down

services-status: ## One line per service
	@scripts/services.sh status

build: ## Build the programs (dev profile); the tests reuse it, one compile (benchmarks build release)
	cargo build --workspace --bins

# Eight test threads on two cores: the service tests mostly wait (breaker resets, timeouts), and
# the harness's integration tests let no more run at once than there are cores (tests/integration/common.rs).
test: tools services build ## Run every test against the real dev stack (on `make build`'s profile)
	cargo test --workspace -- --test-threads=8

lint: structure check-docs ## rustfmt, clippy (warnings are errors), the structure and docs checks
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings

structure: ## No new import circle and no new module over 500 lines (scripts/check-structure.py)
	@python3 scripts/check-structure.py

check-docs: ## README at most 200 lines; every make target and relative link in the docs exists
	@python3 scripts/check-docs.py

check-deploy: tools ## docker-compose.yml, the Kubernetes manifests and prometheus.yml against their schemas (no engine needed)
	@scripts/check-deploy.sh

load-test: tools services build ## The main job: run the scenario library against the self-hosted target
	@set -o pipefail; $(BIN)/harness run $(SCENARIOS) --target-bin $(BIN)/target-app; \
	code=$$?; echo; echo "Reports: file://$(CURDIR)/reports/index.html"; exit $$code

ci-gate: services build ## The resilience set, quiet, as a CI gate (non-zero exit on any failed check); GATE_ARGS adds options
	$(BIN)/harness run --quiet $(GATE_ARGS) $(RESILIENCE)

contract: tools services build ## schemathesis against target-app's own /openapi.json, every check, 50 examples per operation
	@scripts/contract.sh

# Programs run from the binaries `make build` produced: `cargo run -p` would unify features for one
# package and rebuild shared crates the workspace build already has (`make check-no-rebuild`).
run-target: services build ## Run target-app on :8000 with the chaos API on (token: $(CHAOS_TOKEN))
	CHAOS_ENABLED=true CHAOS_TOKEN=$(CHAOS_TOKEN) LOG_FORMAT=text $(BIN)/target-app

run-shop: services build ## Run the shop's six services (gateway on :8100); Ctrl-C stops them all
	@scripts/run-shop.sh

check-no-rebuild: build ## After `make build`, `make run-target` compiles nothing, and the tests need no dependency rebuilt
	@python3 scripts/check-one-build.py
	@scripts/check-no-rebuild.sh

chaos: build ## How to inject faults by hand into a running target
	@echo "Manual fault injection (start the target first: make run-target, in another terminal)."
	@echo
	@echo "  export CHAOS_TOKEN=$(CHAOS_TOKEN) GAUNTLET_TARGET=http://127.0.0.1:8000"
	@echo "  $(BIN)/harness fault inject postgres error --duration-s 60"
	@echo "  $(BIN)/harness fault inject redis latency --latency-ms 300 --probability 0.5"
	@echo "  $(BIN)/harness fault list             # --watch: redrawn every second; --json: the API's JSON"
	@echo "  $(BIN)/harness fault clear              # all, or: fault clear <id>"
	@echo "  $(BIN)/harness fault demo memory mb=256 hold_ms=5000"
	@echo "  $(BIN)/harness fault demo error rate=0.2 status=503"
	@echo
	@echo "  another host: add --allow-remote (or export GAUNTLET_ALLOW_REMOTE=1)"
	@echo "  network faults: $(BIN)/harness proxy serve, then proxy create|toxic add|list (see README)"
	@echo
	@echo "Watch the effect: curl -s localhost:8000/health/all | jq .circuit_breakers"
	@echo "                  curl -s localhost:8000/metrics | grep circuit_breaker_state"

bench-target: tools services ## wrk against the target vs a bare hyper hello-world (release build)
	@scripts/bench-target.sh

bench-proxy: tools ## wrk through a fault proxy with no toxics vs directly, same run (release build)
	@scripts/bench-proxy.sh

bench-shop: tools services ## Orders through the shop gateway vs straight to orders, beside pgbench and the broker on the same work, same run
	@scripts/bench-shop.sh

bench-harness: tools ## The harness vs wrk on one core, and its memory per user (release build)
	@scripts/bench-harness.sh

bench-soak: tools services ## Open-model soak at 2,000 req/s for 3 minutes; harness RSS and run-directory growth extrapolated to 1 h
	@scripts/bench-soak.sh

bench-baseline: tools services ## Runs a library scenario 11 times against an unchanged target: how many runs --baseline flags, then whether it catches a slowed dependency
	@scripts/bench-baseline.sh

clean-reports: ## Delete run reports
	find reports -mindepth 1 -maxdepth 1 ! -name README.md -exec rm -rf {} +
