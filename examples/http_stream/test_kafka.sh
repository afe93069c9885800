#!/usr/bin/env bash
# http_stream_server as a read replica of a Kafka topic (--source kafka://),
# on librdkafka's mock cluster (http_stream_kafka_mock: no broker to install).
#
#   test_kafka.sh <path to http_stream_server> <path to http_stream_kafka_mock>
#
# The mock creates topic "events" with 2 partitions and 20 known messages in
# partition 0 (JSON values, plain text, a tombstone, broken JSON; keys,
# repeated and null headers: see kafka_mock.cpp) and 3 in partition 1. Two
# replicas (started at different times) must serve them: /records with the
# Kafka offsets and the documented data, equal on both; SSE ids that are
# Kafka offsets, and Last-Event-ID resuming on the other replica;
# ?partition=1, and 400 for a partition the topic lacks; a live message
# reaching a waiting stream, and a third replica started with --start latest
# holding only it; /stats with the source's state. Then SIGTERM:
# exit 0.
#
# Every wait is a bounded poll. Exit 0: pass, 1: fail, 77: skipped (no curl).
set -euo pipefail

SERVER=${1:?usage: test_kafka.sh <server> <kafka mock>}
MOCK=${2:?usage: test_kafka.sh <server> <kafka mock>}
[ -x "$SERVER" ] || { echo "FAIL: $SERVER is not an executable"; exit 1; }
[ -x "$MOCK" ] || { echo "FAIL: $MOCK is not an executable"; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }
"$SERVER" --help | grep -q '^sources built in:.* kafka' || { echo "SKIP: the server was built without librdkafka"; exit 77; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$HERE/tsan.supp"

WORK=$(mktemp -d)
PIDS=()
MOCK_PID=""

cleanup() {
  local pid
  exec 3>&- 2>/dev/null || true
  for pid in "${PIDS[@]}" $MOCK_PID; do kill -KILL "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  local f
  for f in "$WORK"/*.out "$WORK"/*.err; do
    [ -s "$f" ] || continue
    echo "--- $f (last 30 lines)"; tail -n 30 "$f"
  done
  exit 1
}
pass() { echo "ok: $*"; }
# start_named, stop_named
. "$HERE/server_lib.sh"
# wait_until, get, status_of, latest_is, stats_has, records, take_sse, ids_of
. "$HERE/replica_lib.sh"

# --- the mock cluster, fed more messages through a fifo (fd 3)
mkfifo "$WORK/mock.in"
: >"$WORK/mock.out"
"$MOCK" --topic events --partitions 2 --count 20 <"$WORK/mock.in" >>"$WORK/mock.out" 2>"$WORK/mock.err" &
MOCK_PID=$!
exec 3>"$WORK/mock.in"
produced_is() { grep -q "^produced $1$" "$WORK/mock.out"; }
wait_until "the mock cluster has 20 messages" produced_is 20
BOOTSTRAP=$(sed -n 's/^bootstrap //p' "$WORK/mock.out")
[ -n "$BOOTSTRAP" ] || fail "the mock printed no bootstrap address"
echo "mock cluster (pid $MOCK_PID) at $BOOTSTRAP"
# Empty fetches answered at once (the mock holds them for fetch.wait.max.ms).
SOURCE="kafka://$BOOTSTRAP/events?fetch.wait.max.ms=10&statistics.interval.ms=100&log_level=0"

# start_replica NAME [ARG...]: sets NAME_PID, NAME_URL
start_replica() {
  local name=$1
  shift
  start_named "$name" --source "$SOURCE" --heartbeat-ms 200 "$@"
}
stop_replica() { stop_named "$@"; }  # stop_replica PID NAME


# ---------------------------------------------------------------------------
start_replica A
wait_until "replica A holds offsets 0..19" latest_is "$A_URL" 19
body=$(records "$A_URL")
[ "$(grep -o '"offset":' <<<"$body" | wc -l)" -eq 20 ] || fail "A: not 20 records: $body"
for want in \
  '{"offset":0,"partition":0,"timestamp":"' \
  '"data":{"key":"key-0","value":{"n":0,"text":"a \"quoted\" line"},"headers":{"h":["v-0","w"],"nullh":[null]}}}' \
  '"data":{"key":"key-1","value":"plain text 1","headers":{"h":["v-1"]}}}' \
  '{"offset":2,"partition":0,"timestamp":"' \
  '"data":{"key":null,"value":null,"headers":{"h":["v-2"]}}}' \
  '"data":{"key":"key-3","value":"{\"broken\": 3","headers":{"h":["v-3"]}}}'; do
  grep -qF "$want" <<<"$body" || fail "A's records lack $want: ${body:0:600}"
done
pass "records: Kafka offsets; a JSON value embedded (compacted), text and broken JSON as strings, null key/value, headers by name"

if command -v python3 >/dev/null 2>&1; then
  get "$A_URL/records?from=0&limit=1000" | python3 -c '
import json, sys
r = json.load(sys.stdin)
assert [x["offset"] for x in r] == list(range(20)), r
assert r[0]["data"]["value"] == {"n": 0, "text": "a \"quoted\" line"}, r[0]
assert r[5]["data"]["value"] == "plain text 5" and r[6]["data"]["key"] is None, r[5:7]' ||
    fail "python3 does not read /records as expected"
  pass "python3's json reads /records"
fi

p1=$(records "$A_URL" "&partition=1")
[ "$(grep -o '"offset":' <<<"$p1" | wc -l)" -eq 3 ] || fail "partition 1: $p1"
grep -qF '{"offset":0,"partition":1,' <<<"$p1" || fail "partition 1: $p1"
grep -qF '"data":{"key":"p1-2","value":{"p1":2},"headers":{}}}' <<<"$p1" || fail "partition 1: $p1"
[ "$(status_of "$A_URL/records?partition=2")" = 400 ] || fail "?partition=2 is not a 400"
[ "$(status_of "$A_URL/stream?partition=x")" = 400 ] || fail "?partition=x is not a 400"
pass "?partition=1 serves partition 1; an unknown partition is a 400"

echo 10 >&3
wait_until "the mock cluster has 30 messages" produced_is 30
start_replica B
wait_until "A holds offsets 0..29" latest_is "$A_URL" 29
wait_until "B holds offsets 0..29" latest_is "$B_URL" 29
[ "$(records "$A_URL")" = "$(records "$B_URL")" ] || fail "A and B disagree"
[ "$(records "$A_URL" "&partition=1")" = "$(records "$B_URL" "&partition=1")" ] || fail "A and B disagree on partition 1"
pass "replicas started at different times agree on both partitions"

take_sse "$WORK/a.sse" 4 "$A_URL/stream?from=3"
[ "$(ids_of "$WORK/a.sse")" = "3 4 5 6 " ] || fail "A's SSE ids from 3: $(ids_of "$WORK/a.sse")"
grep -qF 'data: {"offset":3,"partition":0,' "$WORK/a.sse" || fail "A's first event: $(head -3 "$WORK/a.sse")"
take_sse "$WORK/b.sse" 3 "$B_URL/stream" -H "Last-Event-ID: 6"
[ "$(ids_of "$WORK/b.sse")" = "7 8 9 " ] || fail "B after Last-Event-ID 6: $(ids_of "$WORK/b.sse")"
take_sse "$WORK/b1.sse" 2 "$B_URL/stream?partition=1" -H "Last-Event-ID: 0"
[ "$(ids_of "$WORK/b1.sse")" = "1 2 " ] || fail "B partition 1 after 0: $(ids_of "$WORK/b1.sse")"
pass "SSE ids are Kafka offsets; Last-Event-ID resumes on the other replica (and per partition)"

# --start latest: a replica of the end holds nothing until the live message.
start_replica C --start latest
wait_until "C is connected" stats_has "$C_URL" '"connected":true'
[ "$(curl -sS --max-time 5 "$C_URL/range")" = '{"earliest":-1,"latest":-1}' ] ||
  fail "C (--start latest) holds records: $(curl -sS --max-time 5 "$C_URL/range")"

curl -sS -N --max-time 30 "$B_URL/stream" >"$WORK/live.sse" 2>/dev/null &
PIDS+=("$!")
wait_until "B has a stream" stats_has "$B_URL" '"streams":1,'
echo 1 >&3
wait_until "the live message reaches the stream" grep -q '^id: 30$' "$WORK/live.sse"
pass "a live message reaches a waiting SSE client"
wait_until "C (--start latest) holds offset 30 only" \
  eval '[ "$(curl -sS --max-time 5 "$C_URL/range" 2>/dev/null)" = "{\"earliest\":30,\"latest\":30}" ]'
stop_replica "$C_PID" C
pass "--start latest: C started at the end and holds the live message at its Kafka offset"

want='"source":{"kind":"kafka","running":true,"connected":true,'
wait_until "B's /stats shows the source connected" stats_has "$B_URL" "$want"
wait_until "B's /stats shows partition 0 at offset 30" stats_has "$B_URL" \
  '{"partition":0,"start_offset":0,"last":30,"next_offset":31,'
stats=$(get "$B_URL/stats")
grep -qF '"records":31,"skipped":{"gaps":0,"lost":0,"too_large":0,"duplicates":0}' <<<"$stats" || fail "B's /stats: $stats"
pass "/stats: $(grep -o '"source":.*' <<<"$stats")"

stop_replica "$A_PID" A
stop_replica "$B_PID" B
grep -q '^event: end$' "$WORK/live.sse" || fail "the live stream did not get the end event"
exec 3>&-
kill -TERM "$MOCK_PID"
wait "$MOCK_PID" || fail "the mock cluster exited with an error"
MOCK_PID=""
echo "PASS"
