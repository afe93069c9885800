#!/usr/bin/env bash
# Issue 15's latency benchmark: XADD to an SSE client of one replica, against
# a plain XREAD BLOCK client of Redis, in the same run.
#
#   redis_latency.sh <http_stream_server> <http_stream_redis_latency> [--runs N]
#                    [--server-arg ARG]... [ARGS...]
#
# Starts a redis-server of its own (a free loopback port, a temporary
# directory, no persistence: what is measured is replication, not Redis's
# disk), then for each of --runs N (default 1) runs: a fresh stream key, an
# http_stream_server replicating it (--source redis://, heartbeats off), and
# http_stream_redis_latency against both (ARGS go to it: --count,
# --interval-us, --warmup, --relay, --json FILE; with --runs > 1 a --json
# FILE gets one line per run). --server-arg ARG goes to the replica (e.g.
# --server-arg --threads=1). Prints the load average before each run. The replica
# stops with SIGTERM after each run.
#
# Exit 0: every run received every entry on both readers; 1: a run failed;
# 77: skipped (no redis-server or redis-cli, or a server built without
# hiredis). The p50 ratio is reported, not enforced.
set -euo pipefail

SERVER=${1:?usage: redis_latency.sh <http_stream_server> <http_stream_redis_latency> [--runs N] [ARGS...]}
CLIENT=${2:?usage: redis_latency.sh <http_stream_server> <http_stream_redis_latency> [--runs N] [ARGS...]}
shift 2
RUNS=1
ARGS=()
SERVER_ARGS=()
JSON=""
while [ $# -gt 0 ]; do
  case $1 in
    --runs) RUNS=$2; shift 2 ;;
    --runs=*) RUNS=${1#--runs=}; shift ;;
    --server-arg) SERVER_ARGS+=("$2"); shift 2 ;;
    --json) JSON=$2; shift 2 ;;
    --json=*) JSON=${1#--json=}; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
for exe in "$SERVER" "$CLIENT"; do
  [ -x "$exe" ] || { echo "FAIL: $exe is not an executable"; exit 1; }
done
for tool in redis-server redis-cli; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done
"$SERVER" --help | grep -q '^sources built in:.* redis' || { echo "SKIP: the server was built without hiredis"; exit 77; }

WORK=$(mktemp -d)
REDIS_PID=""
REPLICA_PID=""
cleanup() {
  local pid
  for pid in $REPLICA_PID $REDIS_PID; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  local f
  for f in "$WORK"/*.out "$WORK"/*.err; do
    [ -s "$f" ] || continue
    echo "--- $f (last 20 lines)"; tail -n 20 "$f"
  done
  exit 1
}

REDIS_PORT=""
redis_up() { [ "$(redis-cli -p "$REDIS_PORT" ping 2>/dev/null)" = PONG ]; }
start_redis() {  # on a free port
  local attempt i
  for ((attempt = 0; attempt < 5; attempt++)); do
    REDIS_PORT=$((20000 + RANDOM % 40000))
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" --appendonly no --save "" \
      --daemonize no >>"$WORK/redis.out" 2>&1 &
    REDIS_PID=$!
    for ((i = 0; i < 100; i++)); do
      redis_up && return 0
      kill -0 "$REDIS_PID" 2>/dev/null || break  # its port was taken: another one
      sleep 0.1
    done
    kill -KILL "$REDIS_PID" 2>/dev/null || true
    wait "$REDIS_PID" 2>/dev/null || true
  done
  fail "redis-server did not start"
}

HTTP_PORT=""
start_replica() {  # start_replica KEY: sets REPLICA_PID and HTTP_PORT
  local i
  : >"$WORK/replica.out"
  "$SERVER" --port 0 --source "redis://127.0.0.1:$REDIS_PORT/$1" --heartbeat-ms 0 "${SERVER_ARGS[@]}" \
    >>"$WORK/replica.out" 2>"$WORK/replica.err" &
  REPLICA_PID=$!
  HTTP_PORT=""
  for ((i = 0; i < 300; i++)); do
    HTTP_PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$WORK/replica.out")
    [ -n "$HTTP_PORT" ] && return 0
    kill -0 "$REPLICA_PID" 2>/dev/null || fail "the replica exited at startup"
    sleep 0.1
  done
  fail "the replica did not print its port"
}
stop_replica() {
  local i rc=0
  kill -TERM "$REPLICA_PID"
  for ((i = 0; i < 150; i++)); do
    kill -0 "$REPLICA_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$REPLICA_PID" 2>/dev/null && fail "the replica still runs 15 s after SIGTERM"
  wait "$REPLICA_PID" || rc=$?
  REPLICA_PID=""
  [ "$rc" -eq 0 ] || fail "the replica exited with status $rc"
}

start_redis
echo "redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p') (pid $REDIS_PID) on port $REDIS_PORT"
[ -n "$JSON" ] && : >"$JSON"
for ((run = 1; run <= RUNS; run++)); do
  key="latency$run"
  # The key exists before the replica starts (it then follows it from its
  # first entry; the client adds its own seed and reads after that).
  redis-cli -p "$REDIS_PORT" XADD "$key" '*' created-by redis_latency.sh >/dev/null
  start_replica "$key"
  echo "--- run $run of $RUNS: replica on port $HTTP_PORT, key $key; load average $(cut -d' ' -f1-3 /proc/loadavg)"
  rc=0
  "$CLIENT" --redis-port "$REDIS_PORT" --key "$key" --http-port "$HTTP_PORT" "${ARGS[@]}" \
    --json "$WORK/run.json" || rc=$?
  [ -n "$JSON" ] && [ -s "$WORK/run.json" ] && cat "$WORK/run.json" >>"$JSON"
  [ "$rc" -eq 0 ] || fail "run $run: http_stream_redis_latency exited with status $rc"
  stop_replica
  redis-cli -p "$REDIS_PORT" DEL "$key" >/dev/null
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
