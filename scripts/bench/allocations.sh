#!/usr/bin/env bash
# Heap allocations per request of target-app (and of the bare hyper baseline), counted with perf
# uprobes on mimalloc's entry points while wrk sends a few seconds of requests.
#
#   scripts/bench/allocations.sh [PATH...]    # default: /health/ /api/version; needs root and perf
#
# Run after `cargo build --release --workspace --bins` and `make services`.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BIN=$ROOT/target/release
source "$ROOT/scripts/bench/common.sh"
trap 'stop_started; perf probe -q -d "probe_alloc:*" 2>/dev/null || true' EXIT
PATHS=("$@")
[ $# -eq 0 ] && PATHS=(/health/ /api/version)
ENTRIES=(mi_malloc_aligned mi_zalloc_aligned mi_realloc_aligned)

# count BINARY PID URL: allocations per request while wrk runs 3 s against URL.
count() {
  local events=()
  perf probe -q -d "probe_alloc:*" 2>/dev/null || true
  for entry in "${ENTRIES[@]}"; do
    perf probe -q -x "$1" -a "probe_alloc:$entry=$entry"
    events+=(-e "probe_alloc:$entry")
  done
  local stat wrk_out
  stat=$(mktemp)
  perf stat -x, "${events[@]}" -p "$2" -o "$stat" -- sleep 4 &
  local perf_pid=$!
  sleep 0.5
  wrk_out=$(wrk -t1 -c8 -d3s "$3")
  wait "$perf_pid"
  local calls requests
  calls=$(awk -F, '/probe_alloc/ { n += $1 } END { print n }' "$stat")
  requests=$(awk '/requests in/ { print $1 }' <<<"$wrk_out")
  rm -f "$stat"
  awk -v c="$calls" -v r="$requests" -v u="$3" 'BEGIN { printf "%-45s %9d requests %10d allocations %6.1f per request\n", u, r, c, c / r }'
}

hyper_port=$(free_port)
"$BIN/hello-hyper" "$hyper_port" >/dev/null 2>&1 &
PIDS+=($!)
hyper_pid=$!
app_port=$(free_port)
env PORT="$app_port" RUST_LOG=warn RATE_LIMIT_DEFAULT=100000000/minute RATE_LIMIT_HEALTH=100000000/minute \
  "$BIN/target-app" >/dev/null 2>&1 &
PIDS+=($!)
app_pid=$!
for _ in $(seq 1 100); do curl -sf -o /dev/null "http://127.0.0.1:$app_port/health/" && break; sleep 0.1; done
sleep 1
count "$BIN/hello-hyper" "$hyper_pid" "http://127.0.0.1:$hyper_port/"
for path in "${PATHS[@]}"; do count "$BIN/target-app" "$app_pid" "http://127.0.0.1:$app_port$path"; done
