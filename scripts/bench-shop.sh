#!/usr/bin/env bash
# The gateway's cost: orders placed through gateway -> orders -> users/products/inventory, beside
# the same orders sent straight to the orders service, measured in the same run.
#
#   scripts/bench-shop.sh            # needs `make services`; builds release binaries
#   BENCH_SECONDS=5 BENCH_ROUNDS=5 scripts/bench-shop.sh
#   BENCH_BEFORE=/path/to/older/shop scripts/bench-shop.sh   # also: that build's gateway, same rounds
#   BENCH_PROFILE=1 scripts/bench-shop.sh   # and what the services' core spends its time on (perf)
#
# Method: the six shop services pinned to core 0, wrk (-t1 -c16, POST with a token) pinned to
# core 1, release build, RUST_LOG=warn; PostgreSQL and RabbitMQ are the dev stack's, unpinned.
# Rounds alternate between the two paths; each figure is the median of the rounds. Goal: the
# gateway costs at most 25% of the throughput (and the table shows what it adds to p99).
#
# The database's own limit, in the same rounds: pgbench (on core 1, the same client count) runs
# the SQL of one order as the services run it: the reservation insert and the conditional stock
# UPDATE in one transaction, the order INSERT in another (READ COMMITTED, PostgreSQL's default
# and the services'). Goal: orders through the gateway >= 0.5 of pgbench's orders/s. And the
# broker's: scripts/bench/publish.py's confirmed publishes per second of an order's event
# (persistent, one confirm awaited per message, the same client count; Python, so a floor).
# After the rounds, where an order's time goes: each hop's mean from the services' own metrics.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
SECONDS_PER_RUN=${BENCH_SECONDS:-5}
CONNECTIONS=${BENCH_CONNECTIONS:-16}
ROUNDS=${BENCH_ROUNDS:-3}
SERVER_CORE=${BENCH_SERVER_CORE:-0}
LOAD_CORE=${BENCH_LOAD_CORE:-1}
command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk >/dev/null; }
command -v pgbench >/dev/null || { apt-get update -qq && apt-get install -y -qq postgresql-contrib >/dev/null; }
python3 -c 'import pika' 2>/dev/null || pip install -q pika
cargo build --release -q --workspace --bins
BIN=$ROOT/target/release
source "$ROOT/scripts/bench/common.sh"
WORK=$(mktemp -d)
export SHOP_DATABASE="bench_shop_$$" ORDER_EVENTS_QUEUE="bench.shop.$$.order.created"
export SHOP_ADMIN_PASSWORD="bench-$(head -c 12 /dev/urandom | base64 | tr -dc 'A-Za-z0-9')"
cleanup() {
  stop_started
  sleep 1
  "$BIN/shop" drop-database >/dev/null 2>&1 || echo "could not drop $SHOP_DATABASE" >&2
  rm -rf "$WORK"
}
trap cleanup EXIT
export LOG_FORMAT=json RUST_LOG=warn GATEWAY_RATE_LIMIT=100000000/minute SHOP_HOST=127.0.0.1
SERVICES=(users products inventory notifications orders gateway)
# start_shop BIN NAME: the six services of BIN on free ports, pinned to the server core; each
# service's port lands in PORT[NAME-service]. stop_shop NAME ends them again.
declare -A PORT SET_PIDS
start_shop() {
  local bin=$1 name=$2 service upper env=()
  for service in "${SERVICES[@]}"; do
    PORT[$name-$service]=$(free_port)
    upper=${service^^}
    env+=("SHOP_${upper}_PORT=${PORT[$name-$service]}" "${upper}_URL=http://127.0.0.1:${PORT[$name-$service]}")
  done
  SET_PIDS[$name]=""
  for service in "${SERVICES[@]}"; do
    env "${env[@]}" taskset -c "$SERVER_CORE" "$bin" "$service" >"$ROOT/target/bench-shop-$name-$service.log" 2>&1 &
    PIDS+=($!) SET_PIDS[$name]+="$! "
    for _ in $(seq 1 150); do curl -sf -o /dev/null "http://127.0.0.1:${PORT[$name-$service]}/health" && break; sleep 0.2; done
  done
}
stop_shop() {
  local pid
  for pid in ${SET_PIDS[$1]}; do kill "$pid" 2>/dev/null || true; done
  for pid in ${SET_PIDS[$1]}; do wait "$pid" 2>/dev/null || true; done
}
start_shop "$BIN/shop" this
gateway=http://127.0.0.1:${PORT[this-gateway]}
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
admin=$(curl -sf -X POST "$gateway/api/auth/token" -H 'content-type: application/json' \
  -d "{\"email\":\"admin@shop.local\",\"password\":\"$SHOP_ADMIN_PASSWORD\"}" | json '["access_token"]')
product=$(curl -sf -X POST "$gateway/api/products/" -H "authorization: Bearer $admin" -H 'content-type: application/json' \
  -d '{"name":"Bench","price":1,"category":"bench"}' | json '["id"]')
curl -sf -o /dev/null -X PUT "$gateway/api/inventory/$product" -H "authorization: Bearer $admin" \
  -H 'content-type: application/json' -d '{"available":1000000000}'
user=$(curl -sf -X POST "$gateway/api/users/" -H 'content-type: application/json' \
  -d '{"email":"bench@shop.test","full_name":"Bench","password":"bench-password"}' | json '["id"]')
token=$(curl -sf -X POST "$gateway/api/auth/token" -H 'content-type: application/json' \
  -d '{"email":"bench@shop.test","password":"bench-password"}' | json '["access_token"]')
cat >"$WORK/order.lua" <<LUA
wrk.method = "POST"
wrk.body = '{"items":[{"product_id":"$product","quantity":1}]}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $token"
LUA

# The dev stack's password NAME (scripts/services.sh keeps them), without exporting the others.
password() { ( source "$ROOT/.services/passwords.env"; printf '%s' "${!1}" ); }

# One order's SQL, as inventory and orders run it, for pgbench.
cat >"$WORK/order.sql" <<SQL
BEGIN;
INSERT INTO inventory.reservations (id, product_id, quantity) VALUES (gen_random_uuid(), '$product', 1) ON CONFLICT (id) DO NOTHING;
UPDATE inventory.stock SET available = available - 1, reserved = reserved + 1, updated_at = now() WHERE product_id = '$product' AND available >= 1 RETURNING available;
COMMIT;
BEGIN;
INSERT INTO orders.orders (id, user_id, status, total_cents, items) VALUES (gen_random_uuid(), '$user', 'confirmed', 1, '[{"product_id": "$product", "quantity": 1, "unit_price_cents": 1}]') RETURNING id, user_id, status, total_cents, items, created_at;
COMMIT;
SQL
# pgbench -> "orders_per_s p99_ms failed" (p99 from its per-transaction log is more than we need:
# the average latency stands in, marked by its label).
pgbench_orders() {
  local out
  out=$(PGPASSWORD=$(password POSTGRES_PASSWORD) taskset -c "$LOAD_CORE" pgbench -h 127.0.0.1 -U dev_admin \
    -d "$SHOP_DATABASE" -n -j 1 -c "$CONNECTIONS" -T "$SECONDS_PER_RUN" -f "$WORK/order.sql" 2>&1) || true
  awk '
    /^tps = / { tps = $3 }
    /^latency average = / { lat = $4 }
    /^number of failed transactions: / { failed = $5 }
    END { if (tps == "") exit 1; printf "%.0f %.2f %d\n", tps, lat, failed }' <<<"$out" || { echo "pgbench failed: $out" >&2; return 1; }
}

# The broker's confirmed publishes per second of a 150-byte event -> "per_s 0 0".
publishes() {
  RABBITMQ_PASSWORD=$(password RABBITMQ_PASSWORD) taskset -c "$LOAD_CORE" python3 "$ROOT/scripts/bench/publish.py" \
    "bench.publish.$$" 150 "$CONNECTIONS" "$SECONDS_PER_RUN" | awk '{ printf "%d 0 0\n", $1 }'
}

# measure URL -> "req_per_s p99_ms non_2xx"
measure() {
  taskset -c "$LOAD_CORE" wrk -t1 -c"$CONNECTIONS" -d"${SECONDS_PER_RUN}s" --latency -s "$WORK/order.lua" "$1" | awk '
    /Requests\/sec/ { rps = $2 }
    /^ +99%/ { v = $2; if (v ~ /us$/) { sub(/us/, "", v); v = v / 1000 } else if (v ~ /ms$/) { sub(/ms/, "", v) } else if (v ~ /s$/) { sub(/s/, "", v); v = v * 1000 }; p99 = v }
    /Non-2xx/ { bad = $NF }
    END { printf "%.0f %.2f %s\n", rps, p99, (bad == "" ? 0 : bad) }'
}

# label|what: an HTTP path of a running set of services (SET-SERVICE/path), pgbench or rabbitmq.
PATHS=("straight to orders|this-orders/orders/" "through the gateway|this-gateway/api/orders/"
  "pgbench, the order SQL|pgbench" "RabbitMQ publish+confirm|rabbitmq")
# The build before runs only while this one is stopped: two sets' pools and pgbench would pass
# PostgreSQL's 100 connections. Each set is warmed for a second after it starts.
[ -z "${BENCH_BEFORE:-}" ] || PATHS+=("gateway, build before|before-gateway/api/orders/")
url() { local set_service=${1%%/*}; echo "http://127.0.0.1:${PORT[$set_service]}/${1#*/}"; }
warm() { SECONDS_PER_RUN=1 measure "$(url "$1")" >/dev/null; }
# hops SET: where that set's orders spent their time since it started, from its services'
# metrics, kept in HOPS[SET] (a set is read before it is stopped).
declare -A HOPS
hops() {
  local service targets=()
  for service in "${SERVICES[@]}"; do targets+=("$service=http://127.0.0.1:${PORT[$1-$service]}/metrics"); done
  HOPS[$1]=$(python3 "$ROOT/scripts/bench/hops.py" "${targets[@]}")
}
declare -A RPS P99 BAD
warm this-orders/orders/
for round in $(seq 1 "$ROUNDS"); do
  echo "round $round/$ROUNDS" >&2
  for entry in "${PATHS[@]}"; do
    IFS='|' read -r label url <<<"$entry"
    case $url in
      pgbench) read -r rps p99 bad < <(pgbench_orders) ;;
      rabbitmq) read -r rps p99 bad < <(publishes) ;;
      before-*)
        hops this
        stop_shop this
        start_shop "$BENCH_BEFORE" before
        warm "$url"
        read -r rps p99 bad < <(measure "$(url "$url")")
        hops before
        stop_shop before
        start_shop "$BIN/shop" this
        warm this-orders/orders/
        ;;
      *) read -r rps p99 bad < <(measure "$(url "$url")") ;;
    esac
    RPS[$label]+="$rps " P99[$label]+="$p99 " BAD[$label]=$(( ${BAD[$label]:-0} + bad ))
  done
done

echo
echo "POST /orders/ (orders -> users, products, inventory, PostgreSQL, RabbitMQ): shop on core $SERVER_CORE,"
echo "wrk -t1 -c$CONNECTIONS on core $LOAD_CORE, ${SECONDS_PER_RUN}s x $ROUNDS alternating rounds, medians"
printf '%-24s %10s %9s %8s  %s\n' "path" "orders/s" "p99 ms" "failed" "rounds orders/s"
for entry in "${PATHS[@]}"; do
  IFS='|' read -r label _ <<<"$entry"
  rps=$(median_of "${RPS[$label]}")
  p99=$(median_of "${P99[$label]}")
  printf '%-24s %10d %9.2f %8d  %s\n' "$label" "$rps" "$p99" "${BAD[$label]}" "${RPS[$label]}"
done
echo "(pgbench's latency column is its average, not a p99; its failed column counts failed transactions;"
echo " the RabbitMQ row is messages/s, no latency)"
limit=$(median_of "${RPS[pgbench, the order SQL]}")
direct=$(median_of "${RPS[straight to orders]}")
via=$(median_of "${RPS[through the gateway]}")
awk -v d="$direct" -v g="$via" 'BEGIN {
  cost = (d - g) / d * 100
  printf "gateway cost: %.1f%% of throughput; goal <= 25%%: %s\n", cost, (cost <= 25 ? "met" : "MISSED") }'
awk -v g="$via" -v l="$limit" 'BEGIN {
  printf "through the gateway / pgbench: %.3f; goal >= 0.5: %s\n", g / l, (g / l >= 0.5 ? "met" : "MISSED") }'
if [ -n "${BENCH_BEFORE:-}" ]; then
  before=$(median_of "${RPS[gateway, build before]}")
  awk -v g="$via" -v b="$before" 'BEGIN { printf "this build / the build before, through the gateway: %.3f\n", g / b }'
fi
[ -n "${BENCH_BEFORE:-}" ] || hops this
if [ "${BENCH_PROFILE:-0}" = 1 ]; then
  # One more gateway run under perf: what core $SERVER_CORE (the services) spends its time on.
  perf record -q -C "$SERVER_CORE" -F 999 -g -o "$ROOT/target/bench-shop.perf.data" -- sleep "$SECONDS_PER_RUN" 2>/dev/null &
  profiler=$!
  measure "$(url this-gateway/api/orders/)" >/dev/null
  wait "$profiler"
  echo
  echo "Core $SERVER_CORE during one more gateway run (perf record -C $SERVER_CORE; target/bench-shop.perf.data):"
  names="" # thread id=service, for every thread of the set's services
  set -- ${SET_PIDS[this]}
  for service in "${SERVICES[@]}"; do
    for task in /proc/"$1"/task/*; do names+="${task##*/}=$service "; done
    shift
  done
  perf report -i "$ROOT/target/bench-shop.perf.data" --no-children --sort pid --stdio -g none 2>/dev/null |
    awk -v names="$names" 'BEGIN { n = split(names, pairs, " "); for (i = 1; i <= n; i++) { split(pairs[i], kv, "="); svc[kv[1]] = kv[2] } }
      /^ +[0-9]/ { split($2, pc, ":"); printf "  %-8s %s\n", $1, (pc[1] in svc ? "shop " svc[pc[1]] : $2) }' | head -14
  echo "By code (dso):"
  perf report -i "$ROOT/target/bench-shop.perf.data" --no-children --sort dso --stdio -g none 2>/dev/null | grep -E '^ +[0-9]' | head -8
fi
for name in this ${BENCH_BEFORE:+before}; do
  echo
  echo "Where an order's time goes ($name build, its last round; means from each service's /metrics):"
  echo "${HOPS[$name]}"
done
