#!/bin/sh
# Seeds a Vault/OpenBao dev server: every service's credentials under secret/ (and the shop's
# token signing key and the services' own, secret/shop), and an AppRole
# `reference-api` whose role-id and secret-id are written to $APPROLE_DIR.
# Used by scripts/services.sh (native) and by docker-compose (vault-init).
#
# Needs: BAO (vault or bao binary), VAULT_ADDR, VAULT_TOKEN, APPROLE_DIR, the *_PASSWORD
# variables, and optionally *_HOST for the host each secret names (default 127.0.0.1).
set -eu
: "${BAO:?}" "${VAULT_ADDR:?}" "${VAULT_TOKEN:?}" "${APPROLE_DIR:?}"
export BAO_ADDR=$VAULT_ADDR BAO_TOKEN=$VAULT_TOKEN
kv() { "$BAO" kv put -mount=secret "$@" >/dev/null; }
kv postgres user=dev_admin password="$POSTGRES_PASSWORD" database=dev_database host="${POSTGRES_HOST:-127.0.0.1}" port=5432
kv mysql user=dev_admin password="$MYSQL_PASSWORD" database=dev_database host="${MYSQL_HOST:-127.0.0.1}" port=3306
kv mongodb user=dev_admin password="$MONGODB_PASSWORD" database=dev_database host="${MONGODB_HOST:-127.0.0.1}" port=27017
kv redis-1 password="$REDIS_PASSWORD" host="${REDIS_HOST:-127.0.0.1}" port="${REDIS_PORT:-7001}"
kv shop jwt_secret="${SHOP_JWT_SECRET:?}" service_secret="${SHOP_SERVICE_SECRET:?}"
kv rabbitmq user=dev_admin password="$RABBITMQ_PASSWORD" vhost=dev_vhost host="${RABBITMQ_HOST:-127.0.0.1}" port=5672
"$BAO" auth list | grep '^approle/' >/dev/null || "$BAO" auth enable approle >/dev/null
"$BAO" policy write reference-api - >/dev/null <<'HCL'
path "secret/data/*" { capabilities = ["read", "list"] }
path "secret/metadata/*" { capabilities = ["read", "list"] }
HCL
"$BAO" write auth/approle/role/reference-api token_policies=reference-api token_ttl=1h token_max_ttl=24h secret_id_ttl=0 >/dev/null
mkdir -p "$APPROLE_DIR"
"$BAO" read -field=role_id auth/approle/role/reference-api/role-id >"$APPROLE_DIR/role-id"
"$BAO" write -f -field=secret_id auth/approle/role/reference-api/secret-id >"$APPROLE_DIR/secret-id"
chmod 644 "$APPROLE_DIR/role-id" "$APPROLE_DIR/secret-id"
