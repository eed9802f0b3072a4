#!/usr/bin/env bash
# Starts and stops the servers WaveMesh's integration tests use: a private Redis and a private RabbitMQ node, both
# on loopback only, with their data under .wavemesh/servers (RabbitMQ's under /var/tmp when the checkout is in a
# folder the rabbitmq user cannot enter). Ports: Redis 6390, RabbitMQ 5673 (management 15673).
#   scripts/services.sh start | stop | restart-rabbitmq | status | env
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BASE="${WAVEMESH_SERVERS_DIR:-$ROOT/.wavemesh/servers}"
RABBIT_BASE="$BASE/rabbitmq"
# Debian's rabbitmq-server and rabbitmqctl switch to the rabbitmq user when started as root: that user must be able to
# reach its data folder, which it cannot under /root or a private mktemp -d folder.
if [[ $(id -u) -eq 0 ]] && id rabbitmq >/dev/null 2>&1 && ! runuser -u rabbitmq -- test -x "$ROOT" 2>/dev/null; then
  RABBIT_BASE="/var/tmp/wavemesh-rabbitmq-$(printf '%s' "$BASE" | md5sum | cut -c1-12)"
fi
REDIS_PORT=6390
RABBIT_PORT=5673
RABBIT_MGMT_PORT=15673
RABBIT_DIST_PORT=25673
export RABBITMQ_NODENAME="wavemesh@localhost"
export RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
export ERL_EPMD_ADDRESS=127.0.0.1
export RABBITMQ_MNESIA_BASE="$RABBIT_BASE/mnesia"
export RABBITMQ_LOG_BASE="$RABBIT_BASE/log"
export RABBITMQ_PID_FILE="$RABBIT_BASE/rabbit.pid"
export RABBITMQ_CONFIG_FILE="$RABBIT_BASE/rabbitmq"
export RABBITMQ_ENABLED_PLUGINS_FILE="$RABBIT_BASE/enabled_plugins"
export RABBITMQ_DIST_PORT=$RABBIT_DIST_PORT
export HOME="${HOME:-/root}"

rabbit_config() {
  mkdir -p "$RABBIT_BASE/mnesia" "$RABBIT_BASE/log"
  cat > "$RABBIT_BASE/rabbitmq.conf" <<CONF
listeners.tcp.default = 127.0.0.1:$RABBIT_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $RABBIT_MGMT_PORT
loopback_users = none
consumer_timeout = 1800000
CONF
  echo "[rabbitmq_management]." > "$RABBIT_BASE/enabled_plugins"
  # Debian's rabbitmq-server and rabbitmqctl switch to the rabbitmq user when started as root.
  if [[ $(id -u) -eq 0 ]] && id rabbitmq >/dev/null 2>&1; then chown -R rabbitmq:rabbitmq "$RABBIT_BASE"; fi
}

redis_up() { redis-cli -h 127.0.0.1 -p $REDIS_PORT ping >/dev/null 2>&1; }
rabbit_up() { [[ -f "$RABBITMQ_PID_FILE" ]] && rabbitmqctl -q -n "$RABBITMQ_NODENAME" status >/dev/null 2>&1; }

start_redis() {
  redis_up && return 0
  mkdir -p "$BASE/redis"
  redis-server --bind 127.0.0.1 --port $REDIS_PORT --daemonize yes --save "" --appendonly no \
    --dir "$BASE/redis" --pidfile "$BASE/redis/redis.pid" --logfile "$BASE/redis/redis.log"
  for _ in $(seq 50); do redis_up && return 0; sleep 0.1; done
  echo "services: Redis did not start (see $BASE/redis/redis.log)" >&2; return 1
}

start_rabbit() {
  rabbit_up && return 0
  rabbit_config
  rabbitmq-server -detached >/dev/null 2>&1 || true
  for _ in $(seq 100); do [[ -f "$RABBITMQ_PID_FILE" ]] && break; sleep 0.2; done
  if ! timeout 90 rabbitmqctl -q -n "$RABBITMQ_NODENAME" wait "$RABBITMQ_PID_FILE" >/dev/null 2>&1; then
    echo "services: RabbitMQ did not start (see $RABBIT_BASE/log)" >&2; return 1
  fi
}

stop_rabbit() {
  if [[ -f "$RABBITMQ_PID_FILE" ]]; then
    timeout 60 rabbitmqctl -q -n "$RABBITMQ_NODENAME" stop "$RABBITMQ_PID_FILE" >/dev/null 2>&1 || kill "$(cat "$RABBITMQ_PID_FILE")" 2>/dev/null || true
    rm -f "$RABBITMQ_PID_FILE"
  fi
}

stop_redis() {
  if redis_up; then redis-cli -h 127.0.0.1 -p $REDIS_PORT shutdown nosave >/dev/null 2>&1 || true; fi
}

case "${1:-status}" in
  start) start_redis; start_rabbit; echo "services: Redis 127.0.0.1:$REDIS_PORT, RabbitMQ 127.0.0.1:$RABBIT_PORT (management :$RABBIT_MGMT_PORT)" ;;
  stop) stop_rabbit; stop_redis; epmd -kill >/dev/null 2>&1 || true ;;
  restart-rabbitmq) stop_rabbit; start_rabbit ;;
  status) redis_up && echo "redis: up" || echo "redis: down"; rabbit_up && echo "rabbitmq: up" || echo "rabbitmq: down" ;;
  env) echo "WAVEMESH_TEST_REDIS=127.0.0.1:$REDIS_PORT"; echo "WAVEMESH_TEST_RABBITMQ=127.0.0.1:$RABBIT_PORT" ;;
  *) echo "usage: scripts/services.sh start|stop|restart-rabbitmq|status|env" >&2; exit 2 ;;
esac
