#!/usr/bin/env bash
# Speed per core: the target app against a bare hyper hello-world measured in the same run.
#
#   scripts/bench-target.sh            # needs `make services`; builds release binaries
#   BENCH_SECONDS=5 BENCH_ROUNDS=5 scripts/bench-target.sh
#   BENCH_BEFORE=/path/to/older/target-app scripts/bench-target.sh   # also: this build vs that one
#   BENCH_LAYERS=0 scripts/bench-target.sh   # the ratios only, without each layer's cost
#
# Method: each server pinned to core 0, wrk (-t1 -c32) pinned to core 1, release
# build, rate limits set high, RUST_LOG=warn. Rounds alternate over every endpoint, bare hyper
# included, so drift on the shared machine hits all alike; each figure is the median of the
# rounds. Then what single layers cost, each on vs off by the same method: rate limiting,
# the security headers, the header read timeout (a watchdog per connection), traces exported
# for every request; and, as the noise floor those costs are read against, two apps that differ
# in nothing.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-32}
ROUNDS=${BENCH_ROUNDS:-3}
SERVER_CORE=${BENCH_SERVER_CORE:-0}
LOAD_CORE=${BENCH_LOAD_CORE:-1}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
cargo build --release -q --workspace --bins # the whole workspace: `-p` alone rebuilds shared crates with other features
BIN=$ROOT/target/release
source "$ROOT/scripts/bench/common.sh"
trap stop_started EXIT

# Starts target-app on core $SERVER_CORE and a free port; sets APP_PORT (no subshell, so the
# PID is recorded for cleanup).
start_app() { # name, extra env...
  APP_PORT=$(free_port)
  env PORT="$APP_PORT" LOG_FORMAT=json RUST_LOG=warn RATE_LIMIT_DEFAULT=100000000/minute \
    RATE_LIMIT_HEALTH=100000000/minute RATE_LIMIT_METRICS=100000000/minute "${@:2}" \
    taskset -c "$SERVER_CORE" "${APP_BIN:-$BIN/target-app}" >"$ROOT/target/bench-$1.log" 2>&1 &
  PIDS+=($!)
  wait_http "http://127.0.0.1:$APP_PORT/health/"
  sleep 1 # let the background warm-up connect Redis, the pools and RabbitMQ
}

# measure URL -> "req_per_s p99_ms non_2xx"
measure() {
  taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v = v / 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v = v * 1000 }; p99 = v }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.2f %s\n", rps, p99, (bad == "" ? 0 : bad) }'
}

hyper_port=$(free_port)
taskset -c "$SERVER_CORE" "$BIN/hello-hyper" "$hyper_port" >/dev/null 2>&1 &
PIDS+=($!)
wait_http "http://127.0.0.1:$hyper_port/"
start_app on
app_port=$APP_PORT
curl -sf -X POST "http://127.0.0.1:$app_port/examples/cache/bench-key?value=hello" >/dev/null

# label | url | goal as a ratio to bare hyper ("" for none). /metrics: twice its ratio before
# its profile-led changes (7,442 req/s, 0.058 of bare hyper, by this method).
ENDPOINTS=(
  "bare hyper hello-world|http://127.0.0.1:$hyper_port/|"
  "/health/ (all middleware)|http://127.0.0.1:$app_port/health/|0.80"
  "/api/version|http://127.0.0.1:$app_port/api/version|0.75"
  "GET /examples/cache/{key}|http://127.0.0.1:$app_port/examples/cache/bench-key|0.25"
  "/metrics|http://127.0.0.1:$app_port/metrics|0.116"
)
declare -A RPS P99 BAD
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  for entry in "${ENDPOINTS[@]}"; do
    IFS='|' read -r label url _ <<<"$entry"
    read -r rps p99 bad < <(measure "$url")
    RPS[$label]+="$rps " P99[$label]+="$p99 " BAD[$label]=$(( ${BAD[$label]:-0} + bad ))
  done
done

echo
echo "Speed per core: servers on core $SERVER_CORE, wrk -t1 -c$CONNECTIONS on core $LOAD_CORE, ${SECONDS_PER_RUN}s x $ROUNDS alternating rounds, medians"
printf '%-30s %10s %9s %8s %7s %-16s %s\n' "endpoint" "req/s" "p99 ms" "non-2xx" "ratio" "goal" "rounds req/s"
base=$(median_of "${RPS[bare hyper hello-world]}")
for entry in "${ENDPOINTS[@]}"; do
  IFS='|' read -r label _ goal <<<"$entry"
  rps=$(median_of "${RPS[$label]}")
  p99=$(median_of "${P99[$label]}")
  awk -v l="$label" -v r="$rps" -v b="$base" -v p="$p99" -v bad="${BAD[$label]}" -v g="$goal" -v each="${RPS[$label]}" 'BEGIN {
    ratio = r / b
    verdict = (g == "" ? "" : (ratio >= g ? "met (>= " g ")" : "MISSED (>= " g ")"))
    printf "%-30s %10d %9.2f %8d %7.3f %-16s %s\n", l, r, p, bad, ratio, verdict, each }'
done

# on_off TITLE PATH EXTRA_ENV...: the same build with one setting changed, alternating rounds;
# both started fresh for the comparison, so neither carries the other's history (the app above
# has served /metrics and the cache for minutes).
on_off() {
  local title=$1 path=$2
  start_app "on-$title" ${ON_ENV:-}
  local on_port=$APP_PORT
  APP_BIN=${OFF_BIN:-} start_app "off-$title" "${@:3}"
  local off_port=$APP_PORT ons=() offs=() rps
  for _ in $(seq 1 "$ROUNDS"); do
    read -r rps _ _ < <(measure "http://127.0.0.1:$on_port$path"); ons+=("$rps")
    read -r rps _ _ < <(measure "http://127.0.0.1:$off_port$path"); offs+=("$rps")
  done
  awk -v t="$title" -v p="$path" -v on="$(printf '%s\n' "${ons[@]}" | median)" -v off="$(printf '%s\n' "${offs[@]}" | median)" \
    -v each_on="${ons[*]}" -v each_off="${offs[*]}" 'BEGIN {
    printf "%-30s %10d %10d %9.1f%%   rounds on %s | off %s\n", t " " p, on, off, (off - on) / off * 100, each_on, each_off }'
}

[ "${BENCH_LAYERS:-1}" != 0 ] || exit 0

echo
echo "Layer cost (on vs off, same build, same method; medians; negative is noise in favour of on):"
printf '%-30s %10s %10s %10s\n' "layer" "on req/s" "off req/s" "cost"
on_off "rate limiting" /health/ RATE_LIMIT_ENABLED=false
on_off "rate limiting" /health/all RATE_LIMIT_ENABLED=false
on_off "security headers" /health/ SECURITY_HEADERS=false
on_off "header read timeout" /health/ HEADER_READ_TIMEOUT_MS=0
on_off "noise (equal apps)" /health/

# Traces on (every request a sampled root, exported over OTLP/HTTP to a receiver on the load
# generator's core that answers 200) against off, the default.
otlp_port=$(free_port)
taskset -c "$LOAD_CORE" python3 - "$otlp_port" <<'PY' >/dev/null 2>&1 &
import http.server, sys
class Sink(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers.get("content-length", 0)))
        self.send_response(200); self.send_header("content-length", "0"); self.end_headers()
    def log_message(self, *args): pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), Sink).serve_forever()
PY
PIDS+=($!)
ON_ENV="OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$otlp_port OTEL_TRACES_SAMPLER=always_on" on_off "traces" /health/
ON_ENV="OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:$otlp_port OTEL_TRACES_SAMPLER=always_on" on_off "traces" /examples/database/postgres/query

if [ -n "${BENCH_BEFORE:-}" ]; then
  echo
  echo "This build (on) against $BENCH_BEFORE (off), same method; positive cost: this build is slower:"
  printf '%-30s %10s %10s %10s\n' "endpoint" "this" "before" "cost"
  OFF_BIN=$BENCH_BEFORE on_off "this build vs before" /health/
  OFF_BIN=$BENCH_BEFORE on_off "this build vs before" /api/version
fi
