#!/usr/bin/env bash
# Benchmark the target app with wrk against a bare hyper hello-world measured in the same run.
#
#   scripts/bench-target.sh            # needs `make services`; builds release binaries
#   BENCH_SECONDS=10 BENCH_CONNECTIONS=64 BENCH_ROUNDS=5 scripts/bench-target.sh
#
# Prints req/s and p99 per endpoint and the ratio to bare hyper (issue goals: /health/ >= 50%,
# cache GET >= 25%), then the resilience layer's cost: /health/ and a cached /health/all with
# rate limiting on and off (goal: at most 15% slower with it on).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
ROUNDS=${BENCH_ROUNDS:-3}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q --workspace --bins # the whole workspace: `-p` alone rebuilds shared crates with other features
BIN=$ROOT/target/release
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; }
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_http() { for _ in $(seq 1 100); do curl -sf -o /dev/null "$1" && return 0; sleep 0.1; done; echo "no answer from $1" >&2; return 1; }

# Starts target-app on a free port; sets APP_PORT (no subshell, so the PID is recorded for cleanup).
start_app() { # name, extra env...
  APP_PORT=$(free_port)
  env PORT="$APP_PORT" LOG_FORMAT=json RUST_LOG=warn RATE_LIMIT_DEFAULT=100000000/minute \
    RATE_LIMIT_HEALTH=100000000/minute RATE_LIMIT_METRICS=100000000/minute "${@:2}" \
    "$BIN/target-app" >"$ROOT/target/bench-$1.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$APP_PORT/health/"
  sleep 1 # let the background warm-up connect Redis, the pools and RabbitMQ
}

# measure URL -> "req_per_s p99_ms"
measure() {
  wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v = v / 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v = v * 1000 }; p99 = v }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.2f %s\n", rps, p99, (bad == "" ? 0 : bad) }'
}

hyper_port=$(free_port)
"$BIN/hello-hyper" "$hyper_port" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$hyper_port/"
start_app on
app_port=$APP_PORT
curl -sf -X POST "http://127.0.0.1:$app_port/examples/cache/bench-key?value=hello" >/dev/null

printf '\n%-34s %12s %10s %10s %8s %s\n' "endpoint" "req/s" "p99 ms" "non-2xx" "ratio" "goal"
read -r base_rps base_p99 base_bad < <(measure "http://127.0.0.1:$hyper_port/")
printf '%-34s %12s %10s %10s %8s\n' "bare hyper hello-world" "$base_rps" "$base_p99" "$base_bad" "1.00"
row() { # label url goal_ratio
  read -r rps p99 bad < <(measure "$2")
  local ratio; ratio=$(awk -v a="$rps" -v b="$base_rps" 'BEGIN { printf "%.2f", a / b }')
  local verdict=""
  if [ -n "$3" ]; then verdict=$(awk -v r="$ratio" -v g="$3" 'BEGIN { print (r >= g ? "met (>= " g ")" : "MISSED (>= " g ")") }'); fi
  printf '%-34s %12s %10s %10s %8s %s\n' "$1" "$rps" "$p99" "$bad" "$ratio" "$verdict"
}
row "/health/ (all middleware)" "http://127.0.0.1:$app_port/health/" 0.50
row "/api/version" "http://127.0.0.1:$app_port/api/version" ""
row "GET /examples/cache/{key}" "http://127.0.0.1:$app_port/examples/cache/bench-key" 0.25
row "/metrics" "http://127.0.0.1:$app_port/metrics" ""

echo
echo "Resilience layer cost (rate limiting on vs off, same build, same run; $ROUNDS alternating rounds, median):"
start_app off RATE_LIMIT_ENABLED=false
off_port=$APP_PORT
curl -sf -o /dev/null "http://127.0.0.1:$app_port/health/all"
curl -sf -o /dev/null "http://127.0.0.1:$off_port/health/all"
median() { sort -n | awk '{ v[NR] = $1 } END { print (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
printf '%-34s %12s %12s %10s %s\n' "endpoint" "on req/s" "off req/s" "slowdown" "goal"
for path in /health/ /health/all; do
  ons=() offs=()
  for _ in $(seq 1 "$ROUNDS"); do # alternate, so drift on the shared cores hits both sides alike
    read -r rps _ _ < <(measure "http://127.0.0.1:$app_port$path"); ons+=("$rps")
    read -r rps _ _ < <(measure "http://127.0.0.1:$off_port$path"); offs+=("$rps")
  done
  on=$(printf '%s\n' "${ons[@]}" | median)
  off=$(printf '%s\n' "${offs[@]}" | median)
  awk -v p="$path" -v on="$on" -v off="$off" -v each_on="${ons[*]}" -v each_off="${offs[*]}" 'BEGIN {
    s = (off - on) / off * 100
    printf "%-34s %12d %12d %9.1f%% %s\n", p (p == "/health/all" ? " (cached)" : ""), on, off, s, (s <= 15 ? "met (<= 15%)" : "MISSED (<= 15%)")
    printf "%-34s %s | %s\n", "  rounds on | off", each_on, each_off }'
done
