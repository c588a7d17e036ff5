#!/usr/bin/env bash
# Stops the development Redis and ClickHouse started by up.sh. Data stays in ./.dev/.
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dev=${MARCADOR_DEV_DIR:-$root/.dev}

stop() { # name pidfile
  local name=$1 pidfile=$2
  [ -f "$pidfile" ] || return 0
  local pid; pid=$(cat "$pidfile" 2>/dev/null)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid" 2>/dev/null
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$pid" 2>/dev/null && kill -9 "$pid" 2>/dev/null
    echo "dev: $name stopped" >&2
  fi
  rm -f "$pidfile"
}
stop redis "$dev/redis.pid"
stop clickhouse "$dev/clickhouse.pid"
exit 0
