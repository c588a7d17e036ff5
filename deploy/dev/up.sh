#!/usr/bin/env bash
# Starts Redis and ClickHouse for development and tests as local processes with
# their data under ./.dev/ (or $MARCADOR_DEV_DIR). Never touches services on the
# default ports. Idempotent: a service already answering is left alone.
#   Redis       127.0.0.1:${MARCADOR_DEV_REDIS_PORT:-16379}
#   ClickHouse  native 127.0.0.1:${MARCADOR_DEV_CH_PORT:-19000}, HTTP 127.0.0.1:${MARCADOR_DEV_CH_HTTP_PORT:-18123}
set -euo pipefail

root=$(cd "$(dirname "$0")/../.." && pwd)
dev=${MARCADOR_DEV_DIR:-$root/.dev}
redis_port=${MARCADOR_DEV_REDIS_PORT:-16379}
ch_port=${MARCADOR_DEV_CH_PORT:-19000}
ch_http=${MARCADOR_DEV_CH_HTTP_PORT:-18123}

log() { echo "dev: $*" >&2; }

# Debian packages the services need; installed only when running as root.
need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
command -v clickhouse-server >/dev/null 2>&1 || need+=(clickhouse-server)
command -v clickhouse-client >/dev/null 2>&1 || need+=(clickhouse-client)
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -eq 0 ]; then
    log "installing ${need[*]}"
    export DEBIAN_FRONTEND=noninteractive
    apt-get -o DPkg::Lock::Timeout=600 update -qq
    apt-get -o DPkg::Lock::Timeout=600 install -y -qq "${need[@]}" >/dev/null
  else
    log "missing Debian packages: ${need[*]} (run as root, or: sudo apt-get install ${need[*]})"
    exit 1
  fi
fi

mkdir -p "$dev/redis" "$dev/clickhouse/data" "$dev/clickhouse/tmp" "$dev/clickhouse/user_files" "$dev/clickhouse/format_schemas" "$dev/log"

wait_for() { # name, tries, command...
  local name=$1 tries=$2; shift 2
  for _ in $(seq "$tries"); do
    if "$@" >/dev/null 2>&1; then return 0; fi
    sleep 0.2
  done
  log "$name did not come up; see $dev/log"
  return 1
}

# Redis
if redis-cli -p "$redis_port" ping >/dev/null 2>&1; then
  log "redis already up on 127.0.0.1:$redis_port"
else
  redis-server --bind 127.0.0.1 --port "$redis_port" --dir "$dev/redis" \
    --daemonize yes --pidfile "$dev/redis.pid" --logfile "$dev/log/redis.log" \
    --save "" --appendonly yes --appendfsync everysec
  wait_for redis 100 redis-cli -p "$redis_port" ping
  log "redis up on 127.0.0.1:$redis_port"
fi

# ClickHouse: a minimal config of our own, so the system one (port 9000) is untouched.
cat > "$dev/clickhouse/config.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <logger>
    <level>warning</level>
    <log>$dev/log/clickhouse.log</log>
    <errorlog>$dev/log/clickhouse.err.log</errorlog>
    <size>100M</size>
    <count>2</count>
  </logger>
  <listen_host>127.0.0.1</listen_host>
  <tcp_port>$ch_port</tcp_port>
  <http_port>$ch_http</http_port>
  <max_connections>1024</max_connections>
  <max_concurrent_queries>100</max_concurrent_queries>
  <mark_cache_size>268435456</mark_cache_size>
  <uncompressed_cache_size>268435456</uncompressed_cache_size>
  <path>$dev/clickhouse/data/</path>
  <tmp_path>$dev/clickhouse/tmp/</tmp_path>
  <user_files_path>$dev/clickhouse/user_files/</user_files_path>
  <format_schema_path>$dev/clickhouse/format_schemas/</format_schema_path>
  <users_config>$dev/clickhouse/users.xml</users_config>
  <default_profile>default</default_profile>
  <default_database>default</default_database>
  <timezone>UTC</timezone>
  <mlock_executable>false</mlock_executable>
</yandex>
XML
cat > "$dev/clickhouse/users.xml" <<XML
<?xml version="1.0"?>
<yandex>
  <profiles><default><max_memory_usage>4000000000</max_memory_usage></default></profiles>
  <users>
    <default>
      <password></password>
      <networks><ip>127.0.0.1</ip><ip>::1</ip></networks>
      <profile>default</profile>
      <quota>default</quota>
    </default>
  </users>
  <quotas><default><interval><duration>3600</duration><queries>0</queries><errors>0</errors><result_rows>0</result_rows><read_rows>0</read_rows><execution_time>0</execution_time></interval></default></quotas>
</yandex>
XML

ch_ping() { clickhouse-client --host 127.0.0.1 --port "$ch_port" --query "SELECT 1"; }
if ch_ping >/dev/null 2>&1; then
  log "clickhouse already up on 127.0.0.1:$ch_port"
else
  # clickhouse-server in Debian is the multi-call binary; run it in the background ourselves.
  # 18.16 writes no pid file in the foreground, so record the pid ourselves.
  nohup clickhouse-server --config-file="$dev/clickhouse/config.xml" \
    >"$dev/log/clickhouse.stdout" 2>&1 &
  echo $! > "$dev/clickhouse.pid"
  wait_for clickhouse 300 ch_ping
  log "clickhouse up on 127.0.0.1:$ch_port (HTTP $ch_http)"
fi
