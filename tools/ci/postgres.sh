#!/usr/bin/env bash
# Starts a throwaway PostgreSQL (Debian's postgresql package) on 127.0.0.1:55432 for the
# server's scale-out tests and prints the URL to use as KINO_TEST_POSTGRES_URL.
# Usage: eval "$(tools/ci/postgres.sh)"
set -euo pipefail
port=${KINO_PG_PORT:-55432}
dir=${KINO_PG_DIR:-/tmp/kino-pg}
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
run() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ ! -f "$dir/PG_VERSION" ]; then
  mkdir -p "$dir"
  [ "$(id -u)" = 0 ] && chown postgres "$dir"
  run "$bin/initdb" -D "$dir" -U kino --auth=trust >/dev/null
fi
if ! run "$bin/pg_ctl" -D "$dir" status >/dev/null 2>&1; then
  run "$bin/pg_ctl" -D "$dir" -l "$dir/log" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1 -c max_connections=200" -w start >/dev/null
fi
echo "export KINO_TEST_POSTGRES_URL=postgres://kino@127.0.0.1:$port/postgres"
