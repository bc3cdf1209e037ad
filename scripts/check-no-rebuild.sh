#!/usr/bin/env bash
# After `make build`, `make run-target` must start the binary that build produced: it reaches
# /health/ without a "Compiling" line, and a second workspace build compiles nothing either.
set -euo pipefail
cd "$(dirname "$0")/.."
log=$(mktemp)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORT=$port setsid make --no-print-directory run-target >"$log" 2>&1 &
pid=$!
cleanup() { kill -- "-$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; rm -f "$log"; }
trap cleanup EXIT
for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$port/health/" >/dev/null 2>&1 && break
  kill -0 "$pid" 2>/dev/null || { cat "$log"; echo "make run-target exited before /health/ answered" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "http://127.0.0.1:$port/health/" >/dev/null || { cat "$log"; echo "/health/ never answered" >&2; exit 1; }
if grep -q Compiling "$log"; then
  grep Compiling "$log" >&2; echo "make run-target compiled crates after make build" >&2; exit 1
fi
rebuilt=$(cargo build --workspace --bins 2>&1 | grep Compiling || true)
if [ -n "$rebuilt" ]; then
  echo "$rebuilt" >&2; echo "cargo build --workspace --bins compiled again after make run-target" >&2; exit 1
fi
echo "ok: make run-target reached /health/ on :$port without compiling anything"
