#!/usr/bin/env bash
# End-to-end test of http_stream_server with real clients (curl).
#
#   test_e2e.sh <path to http_stream_server>
#
# Starts the server on a free loopback port (--port 0), reads the log back
# with curl (/range, /records, several `curl -N` event streams at once from
# different offsets, Last-Event-ID, ndjson, 400s, the stream cap's 503, a
# client behind the retention), then stops it with SIGTERM / SIGINT and checks
# that it exits 0, promptly, with its streams ended cleanly.
#
# Every wait is a bounded loop or has a curl --max-time; the bounds are
# generous (sanitizer builds are slow), nothing depends on exact timing.
# Traffic goes to 127.0.0.1 only. Exit 0: pass, 1: fail, 77: skipped.
set -euo pipefail

SERVER=${1:?usage: test_e2e.sh <path to http_stream_server>}
[ -x "$SERVER" ] || { echo "FAIL: $SERVER is not an executable"; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }

# Under ThreadSanitizer: see tsan.supp (a false positive inside the
# uninstrumented libcpp-httplib). Harmless for other builds.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$HERE/tsan.supp"

WORK=$(mktemp -d)
SERVER_PID=""
BG_PIDS=()

cleanup() {
  local pid
  for pid in "${BG_PIDS[@]}" $SERVER_PID; do
    kill -KILL "$pid" 2>/dev/null || true
  done
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  if [ -n "$SERVER_PID" ]; then
    echo "--- server stdout"; cat "$WORK/server.out" 2>/dev/null || true
    echo "--- server stderr (last 30 lines)"; tail -n 30 "$WORK/server.err" 2>/dev/null || true
  fi
  exit 1
}
pass() { echo "ok: $*"; }

. "$HERE/server_lib.sh"

# stop_server SIGNAL: signals the server, waits (<= 15 s) for it, checks exit 0.
stop_server() {
  local sig=$1 i start rc=0
  start=$(date +%s)
  kill -"$sig" "$SERVER_PID"
  for ((i = 0; i < 150; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$SERVER_PID" 2>/dev/null && fail "server still running 15 s after SIG$sig"
  wait "$SERVER_PID" || rc=$?
  [ "$rc" -eq 0 ] || fail "server exited with status $rc after SIG$sig"
  grep -q "^shutting down (SIG$sig)$" "$WORK/server.out" || fail "no shutdown message after SIG$sig"
  pass "SIG$sig: server exited 0 after $(($(date +%s) - start)) s"
  SERVER_PID=""
}

# get PATH_AND_QUERY [curl args...]: body in $WORK/body, prints the status code.
get() {
  local path=$1
  shift
  curl -sS --max-time 30 -o "$WORK/body" -w '%{http_code}' "$@" "$BASE$path" || echo "curl-failed"
}

# expect STATUS PATH [curl args...]: GET must answer STATUS with a JSON body
# (an {"error":...} one for errors).
expect() {
  local want=$1 path=$2 code
  shift 2
  code=$(get "$path" "$@")
  [ "$code" = "$want" ] || fail "GET $path $*: status $code, want $want; body: $(cat "$WORK/body")"
  if [ "$want" -ge 400 ]; then
    grep -q '^{"error":"' "$WORK/body" || fail "GET $path: error body is not JSON: $(cat "$WORK/body")"
  fi
}

json_field() {  # json_field NAME FILE: first integer member NAME in FILE
  sed -n "s/.*\"$1\":\(-\{0,1\}[0-9][0-9]*\).*/\1/p" "$2" | sed -n 1p
}

range_field() {  # range_field earliest|latest
  [ "$(get /range 2>/dev/null)" = 200 ] && json_field "$1" "$WORK/body"
}

stat_field() {  # stat_field streams|written|...
  [ "$(get /stats 2>/dev/null)" = 200 ] && json_field "$1" "$WORK/body"
}

# wait_until DESCRIPTION COMMAND...: polls COMMAND (<= 60 s).
wait_until() {
  local what=$1 i
  shift
  for ((i = 0; i < 600; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  fail "timed out waiting until $what"
}

latest_at_least() { local v; v=$(range_field latest) && [ "$v" -ge "$1" ]; }
streams_are() { local v; v=$(stat_field streams) && [ "$v" -eq "$1" ]; }

# take_sse OUT COUNT URL [curl args...]: reads COUNT events of an event
# stream into OUT, then hangs up (awk exits; curl stops at its next write).
take_sse() {
  local out=$1 count=$2 url=$3
  shift 3
  { curl -sS -N --max-time 60 "$@" "$url" 2>"$out.curl" || true; } |
    awk -v k="$count" '{ print } /^id: / { n++ } n >= k && /^$/ { exit }' >"$out"
}

# take_lines OUT COUNT URL [curl args...]: the same for ndjson lines.
take_lines() {
  local out=$1 count=$2 url=$3
  shift 3
  { curl -sS -N --max-time 60 "$@" "$url" 2>"$out.curl" || true; } |
    awk -v k="$count" '{ print } NR >= k { exit }' >"$out"
}

# (awk: POSIX only, no {n} intervals, so that mawk runs it too; the regular
# expressions are constants, compiled once, so that 100000 lines check fast.)
#
# check_sse FILE FIRST COUNT: COUNT events with ids FIRST, FIRST+1, ...; each
# data line is the record with that offset, its RFC 3339 UTC time and the
# producer's event (seq == offset).
check_sse() {
  local file=$1 first=$2 count=$3 bad
  bad=$(awk -v first="$first" -v count="$count" '
    BEGIN { want = first; n = 0 }
    /^id: / { id = substr($0, 5); if (id != want) { print "id " id " where " want " was due"; exit } }
    /^data: / {
      if (index($0, "data: {\"offset\":" id ",\"created\":\"") != 1 ||
          $0 !~ /^data: [{]"offset":[0-9]+,"created":"[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]T[0-9][0-9]:[0-9][0-9]:[0-9][0-9][.][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9][0-9]Z","data":[{]"seq":[0-9]+,.*[}][}]$/ ||
          index($0, ",\"data\":{\"seq\":" id ",") == 0) {
        print "bad data line for id " id ": " $0; exit
      }
      n++; want++
    }
    END { if (n != count) print "got " n " events, want " count }' "$file")
  [ -z "$bad" ] || fail "$file: $bad"
}

# check_ndjson FILE FIRST COUNT: COUNT lines, records FIRST, FIRST+1, ...
check_ndjson() {
  local file=$1 first=$2 count=$3 bad
  bad=$(awk -v first="$first" -v count="$count" '
    BEGIN { want = first }
    {
      if (index($0, "{\"offset\":" want ",\"created\":\"") != 1 ||
          $0 !~ /^[{]"offset":[0-9]+,"created":"[^"]+Z","data":[{]"seq":[0-9]+,.*[}][}]$/ ||
          index($0, ",\"data\":{\"seq\":" want ",") == 0) {
        print "line " NR " is not record " want ": " $0; exit
      }
      want++
    }
    END { if (NR != count) print "got " NR " lines, want " count }' "$file")
  [ -z "$bad" ] || fail "$file: $bad"
}

first_id() { sed -n '/^id: [0-9][0-9]*$/{s/^id: //p;q;}' "$1"; }

# ---------------------------------------------------------------------------
echo "== command line"
"$SERVER" --help | grep -q '^usage: http_stream_server' || fail "--help"
rc=0; "$SERVER" --rate 0 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--rate 0: exit status $rc, want 2"
rc=0; "$SERVER" --bogus 1 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--bogus: exit status $rc, want 2"
pass "--help, bad flags exit 2"

# ---------------------------------------------------------------------------
echo "== server A: everything retained, 6 streams at most"
start_server --rate 1000 --segment 1000000 --max-streams 6 --heartbeat-ms 200
wait_until "500 records are written" latest_at_least 499

expect 200 /range
grep -Eq '^\{"earliest":0,"latest":[0-9]+\}$' "$WORK/body" || fail "/range body: $(cat "$WORK/body")"
pass "/range: $(cat "$WORK/body")"

expect 200 "/records?from=10&limit=5"
[ "$(grep -o '"offset":[0-9]*' "$WORK/body" | tr '\n' ' ')" = '"offset":10 "offset":11 "offset":12 "offset":13 "offset":14 ' ] ||
  fail "/records?from=10&limit=5: $(cat "$WORK/body")"
grep -Eq '^\[\{"offset":10,"created":"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{9}Z","data":\{"seq":10,' "$WORK/body" ||
  fail "/records record shape: $(cat "$WORK/body")"
expect 200 /records
[ "$(grep -o '"offset":' "$WORK/body" | wc -l)" -eq 100 ] || fail "/records: want 100 records by default"
grep -q '^\[{"offset":0,' "$WORK/body" || fail "/records: want to start at the earliest record"
expect 200 "/records?from=0&limit=1000"
[ "$(grep -o '"offset":' "$WORK/body" | wc -l)" -ge 500 ] || fail "/records?limit=1000: fewer than 500"
pass "/records: offsets, RFC 3339 UTC times, data"

expect 404 "/records?from=999999999"
grep -q '"error":"future offset' "$WORK/body" || fail "future offset body: $(cat "$WORK/body")"
grep -q '"latest":' "$WORK/body" || fail "future offset body lacks the range"
pass "/records beyond the end: 404 $(cat "$WORK/body")"

for q in "from=-1" "from=abc" "from=" "from=1x" "limit=0" "limit=1001" "limit=-3" "limit=ten" \
  "from=99999999999999999999" "bogus=1" "from=1&from=2"; do
  expect 400 "/records?$q"
done
for q in "from=-5" "from=abc" "format=xml" "nope=1" "format=sse&format=ndjson"; do
  expect 400 "/stream?$q"
done
expect 400 "/stream?from=0" -H "Last-Event-ID: abc"
expect 400 "/stream?from=0" -H "Last-Event-ID: -2"
expect 400 "/range?x=1"
expect 404 /no/such/path
pass "bad parameters: 400 with a JSON error; unknown path: 404"

code=$(get /)
[ "$code" = 200 ] && grep -q 'new EventSource(' "$WORK/body" || fail "GET /: $code"
pass "GET / serves the HTML page"

echo "-- 6 concurrent streams: SSE from 0, 100, 250, latest, Last-Event-ID 41, ndjson from 10"
latest_before=$(range_field latest)
take_sse "$WORK/sse0" 300 "$BASE/stream?from=0" -D "$WORK/sse0.headers" & BG_PIDS+=($!)
take_sse "$WORK/sse100" 200 "$BASE/stream?from=100" & BG_PIDS+=($!)
take_sse "$WORK/sse250" 200 "$BASE/stream?from=250" & BG_PIDS+=($!)
take_sse "$WORK/sselive" 100 "$BASE/stream" & BG_PIDS+=($!)
take_sse "$WORK/sseresume" 50 "$BASE/stream?from=0" -H "Last-Event-ID: 41" & BG_PIDS+=($!)
take_lines "$WORK/ndjson" 100 "$BASE/stream?from=10&format=ndjson" -D "$WORK/ndjson.headers" & BG_PIDS+=($!)
for pid in "${BG_PIDS[@]}"; do wait "$pid" || fail "a stream client failed"; done
BG_PIDS=()

grep -qi '^content-type: text/event-stream' "$WORK/sse0.headers" || fail "SSE content type: $(cat "$WORK/sse0.headers")"
grep -qi '^transfer-encoding: chunked' "$WORK/sse0.headers" || fail "SSE not chunked"
check_sse "$WORK/sse0" 0 300
check_sse "$WORK/sse100" 100 200
check_sse "$WORK/sse250" 250 200
live_first=$(first_id "$WORK/sselive")
[ -n "$live_first" ] && [ "$live_first" -gt "$latest_before" ] || fail "stream without from started at '$live_first', latest was $latest_before"
check_sse "$WORK/sselive" "$live_first" 100
check_sse "$WORK/sseresume" 42 50
grep -qi '^content-type: application/x-ndjson' "$WORK/ndjson.headers" || fail "ndjson content type"
grep -qi '^transfer-encoding: chunked' "$WORK/ndjson.headers" || fail "ndjson not chunked"
check_ndjson "$WORK/ndjson" 10 100
pass "SSE from 0/100/250 in order with ids; no from: after latest ($latest_before < $live_first)"
pass "Last-Event-ID: 41 resumes at 42; ndjson from 10: 100 records, one per line"

echo "-- the stream cap"
wait_until "the finished streams are released" streams_are 0
for i in 1 2 3 4 5 6; do
  curl -sS -N --max-time 120 -o "$WORK/held$i" "$BASE/stream" 2>"$WORK/held$i.curl" & BG_PIDS+=($!)
done
wait_until "6 streams are open" streams_are 6
expect 503 /stream -D "$WORK/503.headers"
grep -q '"error":"too many streams"' "$WORK/body" || fail "503 body: $(cat "$WORK/body")"
grep -qi '^retry-after:' "$WORK/503.headers" || fail "503 without Retry-After"
pass "7th stream: 503 $(cat "$WORK/body")"
expect 200 /range  # the other endpoints still answer

kill -TERM "${BG_PIDS[0]}" "${BG_PIDS[1]}"
wait "${BG_PIDS[0]}" "${BG_PIDS[1]}" 2>/dev/null || true
BG_PIDS=("${BG_PIDS[@]:2}")
wait_until "the 2 disconnected clients free their slots" streams_are 4
take_sse "$WORK/after_cap" 5 "$BASE/stream"
check_sse "$WORK/after_cap" "$(first_id "$WORK/after_cap")" 5
pass "disconnected clients free their slots; a new stream is served"

echo "-- SIGTERM with 4 streams open"
wait_until "4 streams are open" streams_are 4
stop_server TERM
for pid in "${BG_PIDS[@]}"; do
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "a stream client exited $rc on shutdown (want 0: the response ended cleanly)"
done
BG_PIDS=()
for i in 3 4 5 6; do
  [ -s "$WORK/held$i" ] || fail "held stream $i received nothing"
done
pass "open streams ended cleanly (curl exit 0)"

# ---------------------------------------------------------------------------
echo "== server B: small segments, readers behind the retention"
# 1000 records, then the producer stops: the log keeps 900..999 (two full
# 50-record segments), nothing moves.
start_server --rate 2000 --segment 50 --count 1000 --max-streams 4
wait_until "1000 records are written" latest_at_least 999
[ "$(range_field earliest)" -eq 900 ] || fail "range after 1000 records: $(cat "$WORK/body")"

expect 410 "/records?from=0&limit=10"
grep -q '"error":"offset out of range' "$WORK/body" || fail "410 body: $(cat "$WORK/body")"
grep -q '"earliest":' "$WORK/body" || fail "410 body lacks the range"
pass "/records of a purged offset: 410 $(cat "$WORK/body")"

# A client far behind: the stream starts at a purged offset. It gets an
# error event and the server ends the response (curl exits 0 by itself).
rc=0
curl -sS -N --max-time 60 "$BASE/stream?from=0" >"$WORK/behind" 2>"$WORK/behind.curl" || rc=$?
[ "$rc" -eq 0 ] || fail "curl on a purged stream exited $rc: $(cat "$WORK/behind.curl")"
grep -q '^event: error$' "$WORK/behind" || fail "no error event: $(cat "$WORK/behind")"
grep -q '^data: {"error":"offset out of range","position":0,"earliest":' "$WORK/behind" ||
  fail "error event data: $(cat "$WORK/behind")"
pass "SSE from a purged offset: error event, then the server closes"

# A reconnecting client that was away too long (its Last-Event-ID is purged).
rc=0
curl -sS -N --max-time 60 -H "Last-Event-ID: 3" "$BASE/stream" >"$WORK/resume_behind" 2>/dev/null || rc=$?
[ "$rc" -eq 0 ] || fail "curl resuming behind the retention exited $rc"
grep -q '^data: {"error":"offset out of range","position":4,' "$WORK/resume_behind" ||
  fail "resume behind: $(cat "$WORK/resume_behind")"
pass "Last-Event-ID behind the retention: error event"

rc=0
curl -sS -N --max-time 60 "$BASE/stream?from=0&format=ndjson" >"$WORK/behind.ndjson" 2>/dev/null || rc=$?
[ "$rc" -eq 0 ] || fail "ndjson curl on a purged stream exited $rc"
grep -q '^{"error":"offset out of range","position":0,' "$WORK/behind.ndjson" ||
  fail "ndjson error line: $(cat "$WORK/behind.ndjson")"
pass "ndjson from a purged offset: error line, then the server closes"

curl -sS -N --max-time 120 -o "$WORK/open_at_int" "$BASE/stream" 2>/dev/null & BG_PIDS+=($!)
wait_until "1 stream is open" streams_are 1
stop_server INT
rc=0
wait "${BG_PIDS[0]}" || rc=$?
BG_PIDS=()
[ "$rc" -eq 0 ] || fail "stream client exited $rc on SIGINT"

# ---------------------------------------------------------------------------
echo "== server C: a reader slower than the producer falls behind"
# The producer writes up to 100000 records/s (~15 MB/s), the client reads
# 2 MB/s (~13000 records/s) and the log keeps 5000-10000 records: once the
# socket buffers are full, the stream falls out of the retention. The client
# gets every record up to there, in order, then the error event, then the
# end of the response. (On a loaded machine the stream may fall behind
# before its first record; then it gets only the error event.)
start_server --rate 100000 --segment 5000
wait_until "5000 records are written" latest_at_least 4999
rc=0
curl -sS -N --max-time 120 --limit-rate 2M "$BASE/stream" >"$WORK/slow" 2>"$WORK/slow.curl" || rc=$?
[ "$rc" -eq 0 ] || fail "slow client: curl exited $rc: $(cat "$WORK/slow.curl")"
[ "$(tail -n 3 "$WORK/slow" | sed -n 1p)" = "event: error" ] || fail "slow client: no error event at the end"
sed '/^event: error$/,$d' "$WORK/slow" >"$WORK/slow.records"
count=$(grep -c '^id: ' "$WORK/slow.records" || true)
if [ "$count" -gt 0 ]; then
  first=$(first_id "$WORK/slow.records")
  check_sse "$WORK/slow.records" "$first" "$count"
  position=$((first + count))
  pass "slow client: records $first..$((position - 1)) in order"
else
  position='[0-9][0-9]*'
fi
grep -q "^data: {\"error\":\"offset out of range\",\"position\":$position,\"earliest\":" "$WORK/slow" ||
  fail "slow client: error event: $(tail -n 2 "$WORK/slow")"
pass "slow client: then the error event, then the server closed"
stop_server TERM

echo "PASS"
