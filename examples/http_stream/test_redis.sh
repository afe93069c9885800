#!/usr/bin/env bash
# http_stream_server as a read replica of a Redis stream (--source redis://).
#
#   test_redis.sh <path to http_stream_server>
#
# Starts a redis-server of its own (a free loopback port, a temporary
# directory, AOF on), adds entries with redis-cli, starts two servers as
# replicas at different times, and checks with curl: /records agree on both
# (offsets, entry IDs, data; only `created`, the replica's own write time,
# differs); the data is the entry's fields as a JSON object, escaped; an SSE
# stream on one replica resumes on the other by Last-Event-ID (an entry ID);
# a live entry reaches a waiting stream; /stats shows the source's state,
# also across a redis-server restart (connected false, then true again with
# a reconnect counted, nothing lost or doubled); an entry deleted before the
# replicas read it is a gap neither sends; --start at a time and at the
# end (two more replicas). Then both servers stop with
# SIGTERM and exit 0.
#
# Every wait is a bounded poll. Exit 0: pass, 1: fail, 77: skipped (no
# curl, redis-server or redis-cli, or a server built without hiredis).
set -euo pipefail

SERVER=${1:?usage: test_redis.sh <path to http_stream_server>}
[ -x "$SERVER" ] || { echo "FAIL: $SERVER is not an executable"; exit 1; }
for tool in curl redis-server redis-cli; do
  command -v "$tool" >/dev/null 2>&1 || { echo "SKIP: $tool is not installed"; exit 77; }
done
"$SERVER" --help | grep -q '^sources built in:.* redis' || { echo "SKIP: the server was built without hiredis"; exit 77; }

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$HERE/tsan.supp"

WORK=$(mktemp -d)
REDIS_PID=""
PIDS=()

cleanup() {
  local pid
  for pid in "${PIDS[@]}" $REDIS_PID; do kill -KILL "$pid" 2>/dev/null || true; done
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

# --- redis-server
REDIS_PORT=""
rcli() { redis-cli -p "$REDIS_PORT" "$@"; }
redis_up() { [ "$(rcli ping 2>/dev/null)" = PONG ]; }
start_redis() {  # on REDIS_PORT, else on a free port; AOF in $WORK
  local attempt
  for ((attempt = 0; attempt < 5; attempt++)); do
    [ -n "$REDIS_PORT" ] && [ "$attempt" -eq 0 ] || REDIS_PORT=$((20000 + RANDOM % 40000))
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$WORK" --appendonly yes --appendfsync always \
      --save "" --daemonize no >>"$WORK/redis.out" 2>&1 &
    REDIS_PID=$!
    local i
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
stop_redis() {
  kill -TERM "$REDIS_PID"
  wait "$REDIS_PID" 2>/dev/null || true
  REDIS_PID=""
}

# Entry i: ID (1700000000000 + i)-0, fields n=i, kind=even|odd; entry 7 also
# has a text that needs escaping (quote, backslash, newline, tab, a
# non-ASCII letter, a byte that is not UTF-8).
id_of() { echo "$((1700000000000 + $1))-0"; }
SPECIAL=$'say "hi" \\ back\nslash\t\xc3\xa9 \xff'
SPECIAL_JSON='"say \"hi\" \\ back\nslash\té \ufffd"'
add_entries() {  # add_entries FIRST LAST
  local i kind
  for ((i = $1; i <= $2; i++)); do
    kind=$([ $((i % 2)) -eq 0 ] && echo even || echo odd)
    if [ "$i" -eq 7 ]; then
      rcli XADD events "$(id_of "$i")" n "$i" kind "$kind" text "$SPECIAL" >/dev/null
    else
      rcli XADD events "$(id_of "$i")" n "$i" kind "$kind" >/dev/null
    fi
  done
}

# --- the replicas: start_replica NAME [ARG...] sets NAME_PID and NAME_URL
start_replica() {
  local name=$1
  shift
  start_named "$name" --source "redis://127.0.0.1:$REDIS_PORT/events" --heartbeat-ms 200 "$@"
}
stop_replica() { stop_named "$@"; }  # stop_replica PID NAME


# ---------------------------------------------------------------------------
start_redis
echo "redis-server (pid $REDIS_PID) on port $REDIS_PORT"
add_entries 0 49

start_replica A
wait_until "replica A holds entries 0..49" latest_is "$A_URL" 49
pass "replica A ($A_URL) replicated 50 entries"

body=$(records "$A_URL")
want='{"offset":0,"id":"1700000000000-0","data":{"n":"0","kind":"even"}}'
[ "${body:1:${#want}}" = "$want" ] || fail "record 0 is not $want: ${body:0:200}"
want="{\"offset\":7,\"id\":\"1700000000007-0\",\"data\":{\"n\":\"7\",\"kind\":\"odd\",\"text\":$SPECIAL_JSON}}"
grep -qF "$want" <<<"$body" || fail "record 7 is not $want: $(grep -o '{"offset":7,[^}]*}}' <<<"$body")"
[ "$(grep -o '"offset":' <<<"$body" | wc -l)" -eq 50 ] || fail "A: not 50 records"
pass "records: offsets are add indexes, ids the entry IDs, data the fields (escaped, bad UTF-8 as U+FFFD)"

# Raw JSON to a real parser when there is one.
if command -v python3 >/dev/null 2>&1; then
  get "$A_URL/records?from=0&limit=1000" | python3 -c 'import json,sys; r=json.load(sys.stdin); assert len(r)==50 and r[7]["data"]["text"]=="say \"hi\" \\ back\nslash\t\u00e9 \ufffd", r[7]' ||
    fail "python3 does not read /records as expected"
  pass "python3's json reads /records"
fi

add_entries 50 69
start_replica B
wait_until "replica A holds entries 0..69" latest_is "$A_URL" 69
wait_until "replica B holds entries 0..69" latest_is "$B_URL" 69
[ "$(records "$A_URL")" = "$(records "$B_URL")" ] || fail "A and B disagree: $(diff <(records "$A_URL" | tr '{' '\n') <(records "$B_URL" | tr '{' '\n') | head)"
pass "replicas started at different times agree on 70 records (offsets, ids, data)"

# --start: at a time (entry 60's ID is 1700000000060 ms), and at the end.
range_is() { [ "$(curl -sS --max-time 5 "$1/range" 2>/dev/null)" = "$2" ]; }
start_replica C --start 2023-11-14T22:13:20.060Z
wait_until "replica C holds entries 60..69" range_is "$C_URL" '{"earliest":60,"latest":69}'
from_60() { get "$1/records?from=60&limit=1000" | sed 's/"created":"[^"]*",//g'; }
[ "$(from_60 "$C_URL")" = "$(from_60 "$A_URL")" ] || fail "C's records differ from A's from 60: $(from_60 "$C_URL" | head -c 300)"
start_replica D --start latest
wait_until "replica D is connected" stats_has "$D_URL" '"connected":true'
[ "$(curl -sS --max-time 5 "$D_URL/range")" = '{"earliest":-1,"latest":-1}' ] ||
  fail "D (--start latest) holds records: $(curl -sS --max-time 5 "$D_URL/range")"
pass "--start at a time: C starts at entry 60, offsets as A's; --start latest: D holds nothing yet"

# A Last-Event-ID from before where a replica began (C never held 11..59, D
# nothing before 70) fails as a purged offset does, never a silent skip.
before_start() {  # before_start URL: the stream after Last-Event-ID entry 10 is an error event
  curl -sS -N --max-time 10 "$1/stream" -H "Last-Event-ID: $(id_of 10)" >"$WORK/early.sse" 2>/dev/null || true
  grep -q '^event: error$' "$WORK/early.sse" && grep -qF 'out of range' "$WORK/early.sse" ||
    fail "$1 after Last-Event-ID $(id_of 10): $(head -c 300 "$WORK/early.sse")"
}
before_start "$C_URL"
before_start "$D_URL"
pass "Last-Event-ID before a replica's start: an error event on C (from a time) and D (from the end)"

# SSE: 5 events from offset 10 on A; resume on B after the last one's entry ID.
take_sse "$WORK/a.sse" 5 "$A_URL/stream?from=10"
[ "$(ids_of "$WORK/a.sse")" = "$(for i in 10 11 12 13 14; do printf '%s ' "$(id_of $i)"; done)" ] ||
  fail "A's SSE ids from offset 10: $(ids_of "$WORK/a.sse")"
grep -qF 'data: {"offset":10,"id":"1700000000010-0","created":"' "$WORK/a.sse" || fail "A's first event: $(head -3 "$WORK/a.sse")"
last=$(id_of 14)
take_sse "$WORK/b.sse" 5 "$B_URL/stream" -H "Last-Event-ID: $last"
[ "$(ids_of "$WORK/b.sse")" = "$(for i in 15 16 17 18 19; do printf '%s ' "$(id_of $i)"; done)" ] ||
  fail "B after Last-Event-ID $last: $(ids_of "$WORK/b.sse")"
grep -qF 'data: {"offset":15,"id":"1700000000015-0",' "$WORK/b.sse" || fail "B's first event: $(head -3 "$WORK/b.sse")"
pass "SSE ids are entry IDs; Last-Event-ID $last from A resumes at offset 15 on B"

# An ID between entries resumes at the next one; a bad one is a 400.
take_sse "$WORK/b2.sse" 1 "$B_URL/stream" -H "Last-Event-ID: 1700000000020-5"
[ "$(ids_of "$WORK/b2.sse")" = "$(id_of 21) " ] || fail "after 1700000000020-5: $(ids_of "$WORK/b2.sse")"
[ "$(status_of "$B_URL/stream" -H 'Last-Event-ID: 12')" = 400 ] || fail "Last-Event-ID 12 (an offset) is not a 400"
[ "$(status_of "$B_URL/records?partition=0")" = 400 ] || fail "?partition on a Redis replica is not a 400"
pass "Last-Event-ID between entries, a malformed one (400), ?partition (400)"

# ndjson from an offset gives the same records as /records.
# (ndjson has no heartbeats to end curl after its reader left: curl is
# stopped once the lines are there.)
curl -sS -N --max-time 30 "$B_URL/stream?from=60&format=ndjson" >"$WORK/b.raw" 2>/dev/null &
curl_pid=$!
ten_lines() { [ "$(wc -l <"$WORK/b.raw")" -ge 10 ]; }
wait_until "10 ndjson lines came" ten_lines
kill "$curl_pid" 2>/dev/null || true
wait "$curl_pid" 2>/dev/null || true
sed -n '1,10p' "$WORK/b.raw" | sed 's/"created":"[^"]*",//g' >"$WORK/b.ndjson"
[ "$(tr '\n' ',' <"$WORK/b.ndjson")" = "$(get "$A_URL/records?from=60&limit=10" | sed 's/"created":"[^"]*",//g; s/^\[//; s/\]$/,/')" ] ||
  fail "ndjson from 60 differs from /records: $(head -2 "$WORK/b.ndjson")"
pass "ndjson on B equals /records on A"

# A live entry reaches a stream that waits on B.
curl -sS -N --max-time 30 "$B_URL/stream" >"$WORK/live.sse" 2>/dev/null &
PIDS+=("$!")
wait_until "B has a stream" stats_has "$B_URL" '"streams":1,'
add_entries 70 70
wait_until "the live entry reaches the stream" grep -q "^id: $(id_of 70)$" "$WORK/live.sse"
pass "a live XADD reaches a waiting SSE client"
wait_until "D (--start latest) holds entry 70 only" range_is "$D_URL" '{"earliest":70,"latest":70}'
take_sse "$WORK/d.sse" 1 "$D_URL/stream" -H "Last-Event-ID: $(id_of 69)"
[ "$(ids_of "$WORK/d.sse")" = "$(id_of 70) " ] || fail "D after Last-Event-ID $(id_of 69): $(ids_of "$WORK/d.sse")"
stop_replica "$C_PID" C
stop_replica "$D_PID" D
pass "D, started at the end, got the live entry at its add index"

# /stats: the source's state.
want="\"source\":{\"kind\":\"redis\",\"running\":true,\"connected\":true,\"key\":\"stream\",\"last\":{\"id\":\"$(id_of 70)\",\"offset\":70},\"exact\":true,\"lag\":"
wait_until "B's /stats shows the source at entry 70" stats_has "$B_URL" "$want"
stats=$(get "$B_URL/stats")
grep -qF '"entries":71,"skipped":{"deleted":0,"too_large":0,"malformed":0},' <<<"$stats" || fail "B's /stats: $stats"
pass "/stats: $(grep -o '"source":.*' <<<"$stats")"

# redis-server goes away and comes back with its data (AOF): both replicas
# say so, reconnect, and carry on after entry 70: nothing lost or doubled.
stop_redis
wait_until "A's /stats shows the source disconnected" stats_has "$A_URL" '"connected":false'
start_redis
add_entries 71 79
wait_until "A holds entries 0..79" latest_is "$A_URL" 79
wait_until "B holds entries 0..79" latest_is "$B_URL" 79
wait_until "A's /stats counts a reconnect" stats_has "$A_URL" '"connected":true'
stats=$(get "$A_URL/stats")
grep -qE '"reconnects":[1-9]' <<<"$stats" || fail "no reconnect counted: $stats"
[ "$(records "$A_URL")" = "$(records "$B_URL")" ] || fail "A and B disagree after the restart"
[ "$(records "$A_URL" | grep -o '"offset":' | wc -l)" -eq 80 ] || fail "not 80 records after the restart"
pass "redis-server restarted: reconnected ($(grep -o '"reconnects":[0-9]*' <<<"$stats")), 80 records, replicas agree"

# An entry deleted before the replicas read it: 80 and 81 added and 80
# deleted in one transaction. Each replica holds a gap record at offset 80
# (its add index), which is never sent: /records reads on past it, SSE ids
# go from 79 to 81, and 81 keeps offset 81 on both.
printf 'MULTI\nXADD events %s n 80\nXADD events %s n 81\nXDEL events %s\nEXEC\n' \
  "$(id_of 80)" "$(id_of 81)" "$(id_of 80)" | rcli >/dev/null
for name in A B; do
  url_var="${name}_URL"
  wait_until "$name holds offset 81" latest_is "${!url_var}" 81
  want="[{\"offset\":79,\"id\":\"$(id_of 79)\",\"data\":{\"n\":\"79\",\"kind\":\"odd\"}},{\"offset\":81,\"id\":\"$(id_of 81)\",\"data\":{\"n\":\"81\"}}]"
  body=$(get "${!url_var}/records?from=79&limit=2" | sed 's/"created":"[^"]*",//g')
  [ "$body" = "$want" ] || fail "$name's records from 79: $body"
  body=$(get "${!url_var}/records?from=80&limit=1" | sed 's/"created":"[^"]*",//g')
  [ "$body" = "[{\"offset\":81,\"id\":\"$(id_of 81)\",\"data\":{\"n\":\"81\"}}]" ] ||
    fail "$name's page from the gap: $body"
  take_sse "$WORK/gap.sse" 2 "${!url_var}/stream?from=79"
  [ "$(ids_of "$WORK/gap.sse")" = "$(id_of 79) $(id_of 81) " ] || fail "$name's SSE ids over the gap: $(ids_of "$WORK/gap.sse")"
  wait_until "$name's /stats counts the deleted entry" stats_has "${!url_var}" '"skipped":{"deleted":1,'
done
pass "an entry deleted unread: a gap at its add index on both replicas, never sent; 81 keeps offset 81"

stop_replica "$A_PID" A
stop_replica "$B_PID" B
grep -q '^event: end$' "$WORK/live.sse" || fail "the live stream did not get the end event"
pass "the waiting stream ended with an end event"
stop_redis
echo "PASS"
