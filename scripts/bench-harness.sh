#!/usr/bin/env bash
# Benchmark the harness itself against wrk, both on one core, hitting the same bare hyper
# hello-world on the other core; then the harness's memory per user.
#
#   scripts/bench-harness.sh                 # BENCH_SECONDS=5 BENCH_USERS=10000 BENCH_ROUNDS=3
#   BENCH_BEFORE=/path/to/older/harness scripts/bench-harness.sh   # also that build, same rounds
#
# Goals: the harness generates >= 65% of wrk's req/s on one core, and holds 10,000
# users in under 1 GiB. Then the same load spread over 1, 2 and 4 local workers, all
# on the harness's core: aggregate req/s, and per-worker efficiency against the in-process run.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
export BENCH_SECONDS=${BENCH_SECONDS:-5}
USERS=${BENCH_USERS:-10000}
ROUNDS=${BENCH_ROUNDS:-3}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
ulimit -n 65536 2>/dev/null || true
cargo build --release -q --workspace --bins
BIN=$ROOT/target/release
OUT=$(mktemp -d)
source "$ROOT/scripts/bench/common.sh"
cleanup() { stop_started; rm -rf "$OUT"; }
trap cleanup EXIT

port=$(free_port)
taskset -c 1 "$BIN/hello-hyper" "$port" >/dev/null 2>&1 &
PIDS+=($!)
for _ in $(seq 1 50); do curl -sf -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.1; done
target="http://127.0.0.1:$port"

# One in-process throughput run of harness binary $1 into report directory $2; prints req/s.
throughput() {
  taskset -c 0 "$1" run scripts/bench/harness-throughput.yaml --target "$target" --quiet --report-dir "$2" >/dev/null
  python3 -c "import json,glob; r=json.load(open(glob.glob('$2/*/report.json')[0])); print(round(r['phases'][0]['throughput']))"
}

wrks=() harnesses=() befores=()
for round in $(seq 1 "$ROUNDS"); do # alternate, so drift on the shared cores hits all alike
  wrks+=("$(taskset -c 0 wrk -t1 -c64 -d"${BENCH_SECONDS}s" "$target/" | awk '/Requests\/sec/ { printf "%.0f", $2 }')")
  harnesses+=("$(throughput "$BIN/harness" "$OUT/throughput-$round")")
  [ -n "${BENCH_BEFORE:-}" ] && befores+=("$(throughput "$BENCH_BEFORE" "$OUT/before-$round")")
done
wrk_rps=$(printf '%s\n' "${wrks[@]}" | median)
harness_rps=$(printf '%s\n' "${harnesses[@]}" | median)

# Peak resident memory of a harness run holding N users (sampled every 100 ms).
peak_rss_mb() {
  BENCH_USERS=$1 "$BIN/harness" run scripts/bench/harness-users.yaml --target "$target" --quiet --report-dir "$OUT/users-$1" >/dev/null &
  local pid=$! peak=0 rss
  while kill -0 "$pid" 2>/dev/null; do
    rss=$(awk '/VmRSS/ { print $2 }' "/proc/$pid/status" 2>/dev/null || echo 0)
    [ "${rss:-0}" -gt "$peak" ] && peak=$rss
    sleep 0.1
  done
  wait "$pid" || true
  echo $((peak / 1024))
}
base_mb=$(peak_rss_mb 10)
many_mb=$(peak_rss_mb "$USERS")

echo
printf '%-44s %12s  %s\n' "generator (one core, 64 connections/users)" "req/s" "(median of $ROUNDS alternating rounds)"
printf '%-44s %12s  %s\n' "wrk" "$wrk_rps" "${wrks[*]}"
printf '%-44s %12s  %s\n' "harness (goose, µs histograms, checks)" "$harness_rps" "${harnesses[*]}"
awk -v h="$harness_rps" -v w="$wrk_rps" 'BEGIN { r = h / w; printf "%-44s %11.2f  %s\n", "ratio harness / wrk", r, (r >= 0.65 ? "met (>= 0.65, per-request statistics on)" : "MISSED (>= 0.65)") }'
if [ -n "${BENCH_BEFORE:-}" ]; then
  before_rps=$(printf '%s\n' "${befores[@]}" | median)
  printf '%-44s %12s  %s\n' "harness built before (BENCH_BEFORE)" "$before_rps" "${befores[*]}"
  awk -v h="$harness_rps" -v b="$before_rps" 'BEGIN { printf "%-44s %+11.1f%%\n", "this build against it", (h / b - 1) * 100 }'
fi
echo
printf '%-44s %9s MiB\n' "harness peak RSS with 10 users" "$base_mb"
printf '%-44s %9s MiB  %s\n' "harness peak RSS with $USERS users" "$many_mb" "$([ "$many_mb" -lt 1024 ] && echo "met (< 1024)" || echo "MISSED (< 1024)")"
awk -v a="$base_mb" -v b="$many_mb" -v n="$USERS" 'BEGIN { printf "%-44s %9.1f KiB\n", "memory per additional user", (b - a) * 1024 / (n - 10) }'

# Distributed: the same scenario with --workers N, coordinator and workers pinned to core 0.
spread() {
  taskset -c 0 "$BIN/harness" run scripts/bench/harness-throughput.yaml --target "$target" --quiet --workers "$1" \
    --report-dir "$OUT/workers-$1" >/dev/null
  python3 -c "import json,glob; r=json.load(open(glob.glob('$OUT/workers-$1/*/report.json')[0])); print(round(r['phases'][0]['throughput']))"
}
echo
# One core for all of them: the aggregate shows what spreading costs; per-worker efficiency
# (aggregate / (N x in-process)) is what each worker adds, which on one shared core falls as 1/N.
printf '%-44s %12s  %s\n' "distributed (coordinator + workers, core 0)" "req/s" "aggregate/in-process  per-worker efficiency"
printf '%-44s %12s\n' "in process" "$harness_rps"
for workers in 1 2 4; do
  rps=$(spread "$workers")
  awk -v r="$rps" -v n="$workers" -v one="$harness_rps" \
    'BEGIN { printf "%-44s %12s  %20.2f  %22.2f\n", n " local workers", r, r / one, r / (n * one) }'
done
