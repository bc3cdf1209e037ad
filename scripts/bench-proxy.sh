#!/usr/bin/env bash
# The fault proxy's cost: wrk against a bare hyper hello-world directly and through
# `harness proxy serve` (one proxy, no toxics), in alternating rounds of the same run, medians.
#
#   scripts/bench-proxy.sh             # builds release binaries
#   BENCH_SECONDS=5 BENCH_ROUNDS=5 scripts/bench-proxy.sh
#
# The server is pinned to core 0 and wrk (-t1 -c32) to core 1; the proxy is not pinned (on two
# cores it has to share one of them). Goal: at most 15% fewer req/s, and under 100 µs
# added to p50.
#
# Two more figures say what the req/s ratio cannot on a machine without a spare core:
# - CPU per request (from /proc/PID/stat) of the server and of the proxy. When wrk and the
#   server already fill both cores, every microsecond the proxy spends is taken from them.
# - p50 with one connection (wrk -c1), the latency the proxy adds to a request. At -c32 both
#   paths are saturated, so p50 is 32 / req/s (Little's law) and restates the req/s cost.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q --workspace --bins
BIN=$ROOT/target/release
source "$ROOT/scripts/bench/common.sh"
config=$(mktemp)
cleanup() { stop_started; rm -f "$config"; }
trap cleanup EXIT
wait_port() { for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.1; done; echo "nothing on :$1" >&2; return 1; }

hyper_port=$(free_port) api_port=$(free_port) proxy_port=$(free_port)
taskset -c 0 "$BIN/hello-hyper" "$hyper_port" >/dev/null 2>&1 &
PIDS+=($!)
server_pid=$!
echo "[{\"name\":\"hello\",\"listen\":\"127.0.0.1:$proxy_port\",\"upstream\":\"127.0.0.1:$hyper_port\"}]" >"$config"
"$BIN/harness" proxy serve --listen "127.0.0.1:$api_port" --config "$config" 2>/dev/null &
PIDS+=($!)
proxy_pid=$!
wait_port "$hyper_port"
wait_port "$proxy_port"

# CPU time (user + system) of PID so far, in clock ticks.
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
TICK_US=$((1000000 / $(getconf CLK_TCK)))

# measure URL CONNECTIONS -> "req_per_s p50_us server_cpu_us_per_request proxy_cpu_us_per_request"
measure() {
  local server0 proxy0 result
  server0=$(cpu_ticks "$server_pid") proxy0=$(cpu_ticks "$proxy_pid")
  result=$(taskset -c 1 wrk -t1 -c"$2" -d"${SECONDS_PER_RUN}s" --latency "$1" | awk '
    function us(v) { if (v ~ /us$/) { sub(/us/, "", v); return v } if (v ~ /ms$/) { sub(/ms/, "", v); return v * 1000 } sub(/s/, "", v); return v * 1e6 }
    /requests in/ { n = $1 } /Requests\/sec/ { rps = $2 } /^ +50%/ { p50 = us($2) }
    END { printf "%.0f %.0f %d\n", rps, p50, n }')
  read -r rps p50 n <<<"$result"
  awk -v r="$rps" -v p="$p50" -v n="$n" -v t="$TICK_US" -v s="$(($(cpu_ticks "$server_pid") - server0))" \
    -v x="$(($(cpu_ticks "$proxy_pid") - proxy0))" 'BEGIN { printf "%s %s %.1f %.1f\n", r, p, s * t / n, x * t / n }'
}
declare -A RPS P50 SERVER_CPU PROXY_CPU
PATHS=("direct|http://127.0.0.1:$hyper_port/|32" "through the proxy|http://127.0.0.1:$proxy_port/|32"
  "direct, 1 connection|http://127.0.0.1:$hyper_port/|1" "proxy, 1 connection|http://127.0.0.1:$proxy_port/|1")
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  for entry in "${PATHS[@]}"; do
    IFS='|' read -r label url connections <<<"$entry"
    read -r rps p50 server proxy < <(measure "$url" "$connections")
    RPS[$label]+="$rps " P50[$label]+="$p50 " SERVER_CPU[$label]+="$server " PROXY_CPU[$label]+="$proxy "
  done
done
echo
printf '%-24s %10s %8s %14s %14s   %s\n' "" "req/s" "p50 µs" "server µs/req" "proxy µs/req" "rounds req/s"
for entry in "${PATHS[@]}"; do
  IFS='|' read -r label _ _ <<<"$entry"
  printf '%-24s %10s %8s %14s %14s   %s\n' "$label" "$(median_of "${RPS[$label]}")" "$(median_of "${P50[$label]}")" \
    "$(median_of "${SERVER_CPU[$label]}")" "$(median_of "${PROXY_CPU[$label]}")" "${RPS[$label]}"
done
awk -v d="$(median_of "${RPS[direct]}")" -v p="$(median_of "${RPS[through the proxy]}")" \
  -v dl="$(median_of "${P50[direct, 1 connection]}")" -v pl="$(median_of "${P50[proxy, 1 connection]}")" \
  -v s="$(median_of "${SERVER_CPU[direct]}")" -v x="$(median_of "${PROXY_CPU[through the proxy]}")" 'BEGIN {
  cost = (d - p) / d * 100; added = pl - dl
  printf "proxy cost: %.1f%% of req/s (goal <= 15%%: %s); +%d µs p50 on one connection (goal < 100 µs: %s)\n", cost, (cost <= 15 ? "met" : "MISSED"), added, (added < 100 ? "met" : "MISSED")
  printf "the proxy spends %.1f µs of CPU per request, %.2fx what the server spends serving it directly\n", x, x / s }'
