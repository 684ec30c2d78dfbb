#!/usr/bin/env bash
# Make sure PostgreSQL, MariaDB and Redis answer on 127.0.0.1, starting any that do not
# (as root, with the commands this machine's Debian packages provide), and create the
# supertokens_test database on both SQL servers. The Django test runner creates its own
# test_supertokens_test databases; the named ones only need to exist for manual use.
# Exits non-zero if a service is still not answering.
set -euo pipefail

PG_HOST=${SUPERTOKENS_PG_HOST:-127.0.0.1}
PG_PORT=${SUPERTOKENS_PG_PORT:-5432}
PG_USER=${SUPERTOKENS_PG_USER:-postgres}
MARIADB_HOST=${SUPERTOKENS_MARIADB_HOST:-127.0.0.1}
MARIADB_PORT=${SUPERTOKENS_MARIADB_PORT:-3306}
MARIADB_USER=${SUPERTOKENS_MARIADB_USER:-root}
DB_NAME=supertokens_test

is_root() { [[ $(id -u) -eq 0 ]]; }

# wait_for NAME COMMAND...: poll for up to 30 s.
wait_for() {
    local name=$1; shift
    for _ in $(seq 60); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.5
    done
    echo "services: $name is not answering" >&2
    return 1
}

pg_up() { pg_isready -q -h "$PG_HOST" -p "$PG_PORT"; }
mariadb_up() { mariadb-admin -h "$MARIADB_HOST" -P "$MARIADB_PORT" -u "$MARIADB_USER" ping; }
redis_up() { [[ $(redis-cli -h 127.0.0.1 -p 6379 ping 2>/dev/null) == PONG ]]; }

status=0

if ! pg_up >/dev/null 2>&1 && is_root; then
    echo "services: starting PostgreSQL"
    pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -n1)" main start || true
fi
if wait_for PostgreSQL pg_up; then
    createdb -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" "$DB_NAME" 2>/dev/null || true
    psql -h "$PG_HOST" -p "$PG_PORT" -U "$PG_USER" -d "$DB_NAME" -Atc "select 1" >/dev/null \
        || { echo "services: cannot connect to PostgreSQL database $DB_NAME" >&2; status=1; }
else
    status=1
fi

if ! mariadb_up >/dev/null 2>&1 && is_root; then
    echo "services: starting MariaDB"
    start-stop-daemon --start --oknodo --background --exec /usr/sbin/mariadbd || true
fi
if wait_for MariaDB mariadb_up; then
    mariadb -h "$MARIADB_HOST" -P "$MARIADB_PORT" -u "$MARIADB_USER" \
        -e "CREATE DATABASE IF NOT EXISTS $DB_NAME CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci" \
        || { echo "services: cannot create MariaDB database $DB_NAME" >&2; status=1; }
else
    status=1
fi

if ! redis_up && is_root; then
    echo "services: starting Redis"
    mkdir -p /var/lib/redis /var/log/redis
    redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
        --dir /var/lib/redis --logfile /var/log/redis/ci.log || true
fi
wait_for Redis redis_up || status=1

exit $status
