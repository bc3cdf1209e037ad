#!/usr/bin/env bash
# Does `--baseline` stay quiet on noise and catch a real regression? Against one unchanged
# target-app (release build), runs a library scenario once as the baseline and then
# BENCH_BASELINE_RUNS more times with --baseline, counting the runs the gate flagged (goal: 0 of
# 10). Then slows PostgreSQL by 50% of its measured median with a chaos latency fault and runs
# BENCH_BASELINE_SLOWED more times (goal: caught every time). The fault's step is 1 ms, so a
# dependency faster than 2 ms is slowed by more than 50%; the script prints the slowdown it
# observed beside the one it asked for.
#
#   scripts/bench-baseline.sh      # BENCH_BASELINE_RUNS=10 BENCH_BASELINE_SLOWED=3 SOAK_RATE=200 SOAK_DURATION=20s
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
RUNS=${BENCH_BASELINE_RUNS:-10}
SLOWED=${BENCH_BASELINE_SLOWED:-3}
export SOAK_RATE=${SOAK_RATE:-200} SOAK_DURATION=${SOAK_DURATION:-20s}
SCENARIO=scenarios/soak.yaml
REQUEST="GET /examples/database/postgres/query"
TOKEN=bench-baseline-$$
cargo build --release -q --workspace --bins
OUT=$(mktemp -d)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
PORT=$port RATE_LIMIT_ENABLED=false CHAOS_ENABLED=true CHAOS_TOKEN=$TOKEN LOG_FORMAT=json RUST_LOG=warn \
  target/release/target-app >"$OUT/target.log" 2>&1 &
target_pid=$!
trap 'kill "$target_pid" 2>/dev/null || true; wait "$target_pid" 2>/dev/null || true; rm -rf "$OUT"' EXIT
url=http://127.0.0.1:$port
for _ in $(seq 1 100); do curl -sf -o /dev/null "$url/health/ready" && break; sleep 0.2; done

run() { # run NAME [harness flags...]: one scenario run into $OUT/NAME; prints its exit code
  local name=$1; shift
  local code=0
  target/release/harness run "$SCENARIO" --target "$url" --quiet --report-dir "$OUT/$name" "$@" >"$OUT/$name.txt" 2>&1 || code=$?
  echo "$code"
}
report() { ls "$OUT/$1"/*/report.json; }
flagged() { # whether the run's baseline comparison failed a row
  python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(sum(row['verdict']=='fail' for row in r['baseline']['rows']))" "$(report "$1")"
}

run warm-up >/dev/null
[ "$(run baseline)" = 0 ] || { cat "$OUT/baseline.txt"; echo "the baseline run itself failed" >&2; exit 1; }
base=$(report baseline)

quiet=0
for i in $(seq 1 "$RUNS"); do
  code=$(run "same-$i" --baseline "$base")
  rows=$(flagged "same-$i")
  [ "$rows" -gt 0 ] && quiet=$((quiet + 1)) && grep "baseline" "$OUT/same-$i.txt" | sed 's/^/    /'
  echo "unchanged run $i: exit $code, $rows baseline rows failed"
done

p50=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(next(q['latency']['p50'] for q in r['phases'][0]['by_request'] if q['name']==sys.argv[2]))" "$base" "$REQUEST")
extra=$(python3 -c "import math,sys; print(max(1, math.ceil(float(sys.argv[1]) * 0.5)))" "$p50")
CHAOS_TOKEN=$TOKEN target/release/harness fault inject postgres latency --latency-ms "$extra" --probability 1 --duration-s 600 --target "$url" >/dev/null
caught=0
for i in $(seq 1 "$SLOWED"); do
  code=$(run "slowed-$i" --baseline "$base")
  rows=$(flagged "slowed-$i")
  [ "$rows" -gt 0 ] && caught=$((caught + 1))
  observed=$(python3 -c "import json,sys; r=json.load(open(sys.argv[1])); print(next(q['latency']['p50'] for q in r['phases'][0]['by_request'] if q['name']==sys.argv[2]))" "$(report "slowed-$i")" "$REQUEST")
  echo "slowed run $i: exit $code, $rows baseline rows failed; $REQUEST p50 $observed ms (baseline $p50 ms)"
  grep "FAIL .*baseline" "$OUT/slowed-$i.txt" | head -n 3 | sed 's/^/    /' || true
done
CHAOS_TOKEN=$TOKEN target/release/harness fault clear --target "$url" >/dev/null

echo
echo "scenario $SCENARIO at ${SOAK_RATE}/s for $SOAK_DURATION; rule: default (10% and 1 ms, percentiles need 10 responses beyond them)"
printf '%-52s %s\n' "unchanged target, runs the gate flagged" "$quiet of $RUNS $([ "$quiet" = 0 ] && echo '(goal 0: met)' || echo '(goal 0: MISSED)')"
printf '%-52s %s\n' "postgres asked +50% of p50 ${p50} ms: fault +${extra} ms, p50 now ${observed} ms" "caught $caught of $SLOWED $([ "$caught" = "$SLOWED" ] && echo '(goal: every time, met)' || echo '(goal: every time, MISSED)')"
