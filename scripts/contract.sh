#!/usr/bin/env bash
# The contract check: schemathesis (PyPI) against target-app's own /openapi.json with every
# check (all are on unless the config turns one off; `--checks all` on the command line would
# override the config's per-operation exceptions) and a bounded number of examples per operation. Intended exceptions are listed, each
# with its reason, in scripts/contract/schemathesis.toml; anything else schemathesis reports
# fails this script.
#
#   scripts/contract.sh                 # needs `make services` and `make build`
#   CONTRACT_EXAMPLES=100 scripts/contract.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
EXAMPLES=${CONTRACT_EXAMPLES:-50}
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
log=$(mktemp)
# Rate limits high, so what is judged is each operation, not the limiter (429 is documented and
# tested elsewhere); /demo caps small, so slow and CPU injectors end within the request timeout.
env PORT="$port" RUST_LOG=warn LOG_FORMAT=json RATE_LIMIT_DEFAULT=1000000/minute RATE_LIMIT_HEALTH=1000000/minute \
  RATE_LIMIT_METRICS=1000000/minute DEMO_MAX_DELAY_MS=200 DEMO_MAX_CPU_MS=100 DEMO_MAX_MEMORY_MB=64 \
  target/debug/target-app >"$log" 2>&1 &
pid=$!
cleanup() { kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
for _ in $(seq 1 100); do curl -fsS -o /dev/null "http://127.0.0.1:$port/health/" 2>/dev/null && break; sleep 0.2; done
curl -fsS -o /dev/null "http://127.0.0.1:$port/health/" || { cat "$log"; echo "target-app never answered" >&2; exit 1; }
st --no-color --config-file scripts/contract/schemathesis.toml run "http://127.0.0.1:$port/openapi.json" \
  --max-examples "$EXAMPLES" --seed 1
