#!/usr/bin/env bash
# Throwaway PostgreSQL for the test suite, from Debian's package.
#   scripts/pg-test-server.sh start DIR   -> prints the connection URL on stdout
#   scripts/pg-test-server.sh stop DIR
# The server refuses to run as root, so it runs as the package's `postgres` user. That
# user may not be able to enter DIR (a checkout in a private folder), so the server's
# files live in a folder of its own under /tmp whose path DIR/location records.
set -euo pipefail
action=${1:?start|stop}
dir=${2:?data folder}

find_bin() {
  ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1
}

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "$action" in
start)
  bin=$(find_bin || true)
  if [ -z "$bin" ] || [ ! -x "$bin/initdb" ]; then
    echo "installing PostgreSQL from Debian's package..." >&2
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends postgresql >&2
    bin=$(find_bin)
  fi
  "$0" stop "$dir"
  mkdir -p "$dir"
  pg=$(mktemp -d /tmp/genejobs-pg.XXXXXX)
  echo "$pg" >"$dir/location"
  if [ "$(id -u)" = 0 ]; then chown postgres "$pg"; fi
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "$bin/initdb" -D "$pg/data" -U postgres -A trust >"$pg/initdb.log" 2>&1 \
    || { cat "$pg/initdb.log" >&2; exit 1; }
  as_pg "$bin/pg_ctl" -D "$pg/data" -l "$pg/server.log" -w -t 60 \
    -o "-p $port -k $pg -c listen_addresses=127.0.0.1 -c fsync=off -c full_page_writes=off" start >&2 \
    || { cat "$pg/server.log" >&2; exit 1; }
  echo "postgresql://postgres@127.0.0.1:$port/postgres"
  ;;
stop)
  bin=$(find_bin || true)
  pg=$(cat "$dir/location" 2>/dev/null || true)
  if [ -n "$bin" ] && [ -n "$pg" ] && [ -d "$pg/data" ]; then
    as_pg "$bin/pg_ctl" -D "$pg/data" -m immediate stop >/dev/null 2>&1 || true
  fi
  if [ -n "$pg" ]; then rm -rf "$pg"; fi
  rm -rf "$dir"
  ;;
*) echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
