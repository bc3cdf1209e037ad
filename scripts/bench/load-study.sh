#!/usr/bin/env bash
# Why target-app's ratio to bare hyper moves with the machine's load. Both servers on core 0,
# wrk on core 1, as in bench-target; each server measured quiet and beside each kind of load,
# alternating, with what the kernel accounts to the server per request: CPU time (user, system),
# context switches (voluntary: it slept and was woken; involuntary: it was preempted) and time
# waiting to run (schedstat). This VM has no hardware counters (perf: cycles and cache-misses
# "not supported"), so cache effects show only as CPU time per request.
#
#   scripts/bench/load-study.sh        # after `make services` and `make build`
#   BENCH_ROUNDS=3 BENCH_SECONDS=5 TOKIO_RUNTIME=current_thread scripts/bench/load-study.sh
#
# Loads: none; a spinning process on core 0 (the servers' core), on core 1 (wrk's), and a
# process copying 64 MiB over and over on core 1 (the shared L3 cache and memory bandwidth).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
ROUNDS=${BENCH_ROUNDS:-3}
BIN=$ROOT/target/release
source "$ROOT/scripts/bench/common.sh"
trap stop_started EXIT

hyper_port=$(free_port) app_port=$(free_port)
taskset -c 0 "$BIN/hello-hyper" "$hyper_port" >/dev/null 2>&1 &
PIDS+=($!) && hyper_pid=$!
env PORT="$app_port" LOG_FORMAT=json RUST_LOG=warn RATE_LIMIT_DEFAULT=100000000/minute \
  RATE_LIMIT_HEALTH=100000000/minute taskset -c 0 "$BIN/target-app" >"$ROOT/target/load-study-app.log" 2>&1 &
PIDS+=($!) && app_pid=$!
wait_http "http://127.0.0.1:$hyper_port/" && wait_http "http://127.0.0.1:$app_port/health/" && sleep 1

# The server's counters summed over its threads: "user_ticks system_ticks run_ns wait_ns voluntary involuntary".
counters() {
  local pid=$1 task run=0 wait=0 vol=0 invol=0 r w
  for task in /proc/"$pid"/task/*; do
    read -r r w _ <"$task/schedstat"
    run=$((run + r)) wait=$((wait + w))
    vol=$((vol + $(awk '/^voluntary_ctxt_switches/ { print $2 }' "$task/status")))
    invol=$((invol + $(awk '/^nonvoluntary_ctxt_switches/ { print $2 }' "$task/status")))
  done
  echo "$(awk '{ print $14, $15 }' /proc/"$pid"/stat) $run $wait $vol $invol"
}

# measure PID URL -> "req_per_s user_us sys_us wait_us vol_per_k invol_per_k" (per request)
measure() {
  local before after rps
  before=$(counters "$1")
  rps=$(taskset -c 1 wrk -t1 -c32 -d"${SECONDS_PER_RUN}s" "$2" | awk '/Requests\/sec/ { print $2 }')
  after=$(counters "$1")
  awk -v b="$before" -v a="$after" -v rps="$rps" -v s="$SECONDS_PER_RUN" -v hz="$(getconf CLK_TCK)" 'BEGIN {
    split(b, x); split(a, y); n = rps * s
    printf "%.0f %.2f %.2f %.2f %.2f %.2f\n", rps, (y[1] - x[1]) / hz * 1e6 / n, (y[2] - x[2]) / hz * 1e6 / n,
      (y[4] - x[4]) / 1e3 / n, (y[5] - x[5]) * 1000 / n, (y[6] - x[6]) * 1000 / n }'
}

LOADS=("quiet|" "spin on core 0|taskset -c 0 python3 -c 'while True: pass'"
  "spin on core 1|taskset -c 1 python3 -c 'while True: pass'"
  "copy 64 MiB on core 1|taskset -c 1 python3 -c 'import itertools; b = bytearray(64 << 20); any(bytes(b) is None for _ in itertools.count())'")
declare -A ROWS
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  for entry in "${LOADS[@]}"; do
    IFS='|' read -r label command <<<"$entry"
    load=""
    if [ -n "$command" ]; then bash -c "$command" & load=$!; PIDS+=("$load"); sleep 0.5; fi
    ROWS[$label|hyper]+="$(measure "$hyper_pid" "http://127.0.0.1:$hyper_port/");"
    ROWS[$label|app]+="$(measure "$app_pid" "http://127.0.0.1:$app_port/health/");"
    if [ -n "$load" ]; then pkill -P "$load" 2>/dev/null || true; kill "$load" 2>/dev/null || true; wait "$load" 2>/dev/null || true; fi
  done
done

echo
echo "Per server and load: medians of $ROUNDS rounds of ${SECONDS_PER_RUN}s; per request: CPU µs (user, system),"
echo "µs waiting to run, context switches per 1,000 requests (voluntary, involuntary). runtime: ${TOKIO_RUNTIME:-multi_thread}"
printf '%-22s %-6s %9s %6s %7s %7s %7s %8s %8s\n' load server req/s ratio user sys wait vol/k invol/k
for entry in "${LOADS[@]}"; do
  label=${entry%%|*}
  base=""
  for server in hyper app; do
    row=""
    for column in 1 2 3 4 5 6; do
      row+="$(tr ';' '\n' <<<"${ROWS[$label|$server]}" | grep . | awk -v c=$column '{ print $c }' | median) "
    done
    read -r rps user sys wait vol invol <<<"$row"
    base=${base:-$rps}
    printf '%-22s %-6s %9.0f %6.3f %7.2f %7.2f %7.2f %8.1f %8.1f\n' "$label" "$server" "$rps" "$(awk -v r="$rps" -v b="$base" 'BEGIN { print r / b }')" \
      "$user" "$sys" "$wait" "$vol" "$invol"
  done
done
