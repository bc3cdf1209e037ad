#!/usr/bin/env bash
# `make run-shop`: the shop's six services from `make build`, on their default ports (gateway
# 8100, users 8101, products 8102, inventory 8103, orders 8104, notifications 8105), logging as
# text. The administrator is admin@shop.local with SHOP_ADMIN_PASSWORD from
# .services/passwords.env. Ctrl-C (or SIGTERM) stops every service this script started.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
set -a
# shellcheck disable=SC1091
source .services/passwords.env
set +a
export LOG_FORMAT=${LOG_FORMAT:-text}
PIDS=()
stop() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; wait; }
trap stop EXIT INT TERM
for service in users products inventory notifications orders gateway; do
  target/debug/shop "$service" > >(sed -u "s/^/[$service] /") 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 1 150); do
  curl -sf http://127.0.0.1:8100/health | grep -q '"status":"healthy"' && break
  sleep 0.2
done
echo "shop ready: gateway http://127.0.0.1:8100 (admin@shop.local, password: SHOP_ADMIN_PASSWORD in .services/passwords.env)" >&2
echo "  scenarios against it: SHOP_ADMIN_PASSWORD=... target/debug/harness run scenarios/shop-happy-path.yaml --target http://127.0.0.1:8100" >&2
wait
