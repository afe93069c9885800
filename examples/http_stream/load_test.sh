#!/usr/bin/env bash
# Load test of http_stream_server with http_stream_load: many concurrent SSE
# clients, each of which must receive every record, once, in order.
#
#   load_test.sh <server> <load client> [--connections C] [--rate R]
#                (--count N [--from F] | --duration S) [--threads T]
#                [--timeout S] [--json FILE] [--server-arg ARG]...
#
# Starts the server on a free loopback port (--rate R, --max-streams C and,
# with --count, --count F+N; each --server-arg is passed on, e.g.
# --server-arg --threads=2), then runs the client with C connections that
# all start at offset F (default 0):
#   --count N:    each connection must receive records F..F+N-1 (--expect N).
#                 With --from F the streams wait for records not written yet:
#                 once all are connected, the producer reaches F and the N
#                 records flow live (the server also gets --segment N, so
#                 that they all stay retained: a fast producer with readers
#                 that cannot keep up, e.g. --rate 1000000 --from 3000000);
#   --duration S: S seconds of streaming once all are connected, then each
#                 must receive every record up to the last one written.
# The client reports deliveries/s, latency and the server's CPU per delivery
# and RSS per connection (its summary and JSON line are printed; --json also
# writes the JSON line to FILE). Then the server is stopped with SIGTERM and
# must exit 0.
#
# Defaults: 1000 connections, rate 10, count 50, 1 client thread, timeout 40 s.
# Traffic goes to 127.0.0.1 only. Exit 0: pass, 1: fail, 77: skipped (the
# file descriptor limit is too low for C connections).
set -euo pipefail

SERVER=${1:?usage: load_test.sh <server> <load client> [options]}
CLIENT=${2:?usage: load_test.sh <server> <load client> [options]}
shift 2
[ -x "$SERVER" ] || { echo "FAIL: $SERVER is not an executable"; exit 1; }
[ -x "$CLIENT" ] || { echo "FAIL: $CLIENT is not an executable"; exit 1; }

connections=1000 rate=10 count="" from="" duration="" threads=1 timeout=40 json=""
server_args=()
while [ $# -gt 0 ]; do
  case $1 in
    --connections) connections=$2 ;;
    --rate) rate=$2 ;;
    --count) count=$2 ;;
    --from) from=$2 ;;
    --duration) duration=$2 ;;
    --threads) threads=$2 ;;
    --timeout) timeout=$2 ;;
    --json) json=$2 ;;
    --server-arg) server_args+=("$2") ;;
    *) echo "FAIL: unknown option $1"; exit 1 ;;
  esac
  shift 2
done
[ -n "$count$duration" ] || count=50

# Both processes need a descriptor per connection, and a few more.
need=$((connections + 100))
hard=$(ulimit -Hn)
if [ "$hard" != unlimited ] && [ "$hard" -lt "$need" ]; then
  echo "SKIP: the hard RLIMIT_NOFILE ($hard) is below $need, needed for $connections connections"
  exit 77
fi
ulimit -n "$hard"  # soft to hard, inherited by the server

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# Under ThreadSanitizer: see tsan.supp (as test_e2e.sh). Harmless otherwise.
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$HERE/tsan.supp"
WORK=$(mktemp -d)
SERVER_PID=""

cleanup() {
  [ -z "$SERVER_PID" ] || kill -KILL "$SERVER_PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  if [ -n "$SERVER_PID" ]; then
    echo "--- server stdout"; cat "$WORK/server.out" 2>/dev/null || true
    echo "--- server stderr (last 20 lines)"; tail -n 20 "$WORK/server.err" 2>/dev/null || true
  fi
  exit 1
}

. "$HERE/server_lib.sh"

args=(--rate "$rate" --max-streams "$connections" --grace-ms 2000)
[ -z "$count" ] || args+=(--count $((${from:-0} + count)))
[ -z "$from" ] || args+=(--segment "$count")
start_server "${args[@]}" ${server_args[@]+"${server_args[@]}"}

client=("$CLIENT" --port "$PORT" --connections "$connections" --threads "$threads" --path "/stream?from=${from:-0}"
  --server-pid "$SERVER_PID" --timeout "$timeout")
[ -z "$count" ] || client+=(--expect "$count")
[ -z "$duration" ] || client+=(--duration "$duration")
[ -z "$json" ] || client+=(--json "$json")
echo "client: ${client[*]}"
rc=0
"${client[@]}" || rc=$?

# The server must still stop cleanly (bounded: <= 20 s).
kill -TERM "$SERVER_PID"
for ((i = 0; i < 200; i++)); do
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
kill -0 "$SERVER_PID" 2>/dev/null && fail "server still running 20 s after SIGTERM"
server_rc=0
wait "$SERVER_PID" || server_rc=$?
[ "$server_rc" -eq 0 ] || fail "server exited with status $server_rc after SIGTERM"
SERVER_PID=""

[ "$rc" -eq 0 ] || { echo "FAIL: the load client exited $rc"; exit 1; }
echo "PASS"
