#!/usr/bin/env bash
# End-to-end test of http_stream_server with real clients (curl).
#
#   test_e2e.sh <path to http_stream_server>
#
# Starts the server on a free loopback port (--port 0), reads the log back
# with curl (/range, /records, several `curl -N` event streams at once from
# different offsets, Last-Event-ID, ndjson, since=<RFC 3339 time>, 400s,
# /stats, coalesced writes, HTTP/1.0, heartbeats, the stream cap's 503, a
# client behind the retention, slow clients with reset=earliest|latest),
# then stops it with SIGTERM / SIGINT and checks
# that it exits 0, promptly, with its streams drained and ended by an `end`
# event (and cancelled after --grace-ms when a client reads too slowly).
#
# Every wait is a bounded loop or has a curl --max-time; the bounds are
# generous (sanitizer builds are slow), nothing depends on exact timing.
# Traffic goes to 127.0.0.1 only. Exit 0: pass, 1: fail, 77: skipped.
set -euo pipefail

SERVER=${1:?usage: test_e2e.sh <path to http_stream_server>}
[ -x "$SERVER" ] || { echo "FAIL: $SERVER is not an executable"; exit 1; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }

# Under ThreadSanitizer: tsan.supp (empty today). Harmless for other builds.
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
    if grep -q 'Sanitizer' "$WORK/server.err" 2>/dev/null; then  # its report's head, not only the tail
      echo "--- server stderr: the first sanitizer report"
      sed -n '/^\(WARNING\|ERROR\): [A-Za-z]*Sanitizer/,$p' "$WORK/server.err" | head -n 80
    fi
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

# After a GET of /records: the first record's offset ('' for []).
first_offset() { sed -n 's/^\[{"offset":\([0-9][0-9]*\),.*/\1/p' "$WORK/body"; }

# created_of OFFSET: that record's `created`, as the server reports it.
created_of() {
  expect 200 "/records?from=$1&limit=1"
  sed -n 's/^\[{"offset":[0-9]*,"created":"\([^"]*\)".*/\1/p' "$WORK/body"
}

# since_first TIME: the first offset /records?since=TIME returns ('' for []).
# A '+' in TIME goes as %2B.
since_first() {
  expect 200 "/records?since=$(printf '%s' "$1" | sed 's/+/%2B/g')&limit=3"
  first_offset
}

# check_stats: /stats answers with every key, integers (closed: a boolean).
check_stats() {
  local key
  expect 200 /stats
  for key in streams max_streams written delivered skipped records bytes purged waiting; do
    [ -n "$(json_field "$key" "$WORK/body")" ] || fail "/stats lacks $key: $(cat "$WORK/body")"
  done
  grep -Eq '"closed":(true|false)[,}]' "$WORK/body" || fail "/stats lacks closed: $(cat "$WORK/body")"
}
stat() { json_field "$1" "$WORK/body"; }  # stat KEY: from the last check_stats

# closed_at: the offset the server printed when it closed the log.
closed_at() { sed -n 's/^closed the log at offset \([0-9][0-9]*\)$/\1/p' "$WORK/server.out"; }

# check_closed_sse FILE N: records in order up to N-1 (if any), then the end
# event with position N, then nothing.
check_closed_sse() {
  local file=$1 n=$2 first count
  [ "$(tail -n 3 "$file" | tr '\n' '|')" = "event: end|data: {\"reason\":\"closed\",\"position\":$n}||" ] ||
    fail "$file does not end with the end event at $n: $(tail -n 4 "$file")"
  sed '/^event: end$/,$d' "$file" >"$file.records"
  count=$(grep -c '^id: ' "$file.records" || true)
  if [ "$count" -gt 0 ]; then
    first=$(first_id "$file.records")
    check_sse "$file.records" "$first" "$count"
    [ $((first + count)) -eq "$n" ] || fail "$file: records $first..$((first + count - 1)), then the end at $n"
  fi
}

# slow_reader OUT URL: reads a stream but stops reading for 2 s after its
# first record (and again every 3000 records until a skipped message came):
# the socket buffers fill, the server's write blocks, the stream falls out of
# the retention. Hangs up 200 records after the first skipped message.
slow_reader() {
  local out=$1 url=$2
  { curl -sS -N --max-time 60 "$url" 2>"$out.curl" || true; } |
    awk '/"offset":/ { n++; if (!skipped && n % 3000 == 1) system("sleep 2") }
         /"skipped":/ { skipped = 1 }
         { print }
         skipped && /"offset":/ && ++after >= 200 { exit }' >"$out"
}

# check_skips FILE sse|ndjson: records in order, except that a skipped
# message may come between two; it says how many records were jumped over
# (exactly the gap) and where the stream goes on (exactly the next record),
# and keeps the running total. Prints "SKIPS TOTAL RECORDS".
check_skips() {
  local file=$1 format=$2 out
  out=$(awk -v fmt="$format" '
    function bad(msg) { print "BAD " msg; failed = 1; exit }
    function num(name, line,   k) {
      k = "\"" name "\":"
      if (!match(line, k "[0-9]+")) return -1
      return substr(line, RSTART + length(k), RLENGTH - length(k)) + 0
    }
    (fmt == "sse" && /^data: [{]"skipped":/) || (fmt == "ndjson" && /^[{]"skipped":/) {
      n = num("skipped", $0); t = num("total", $0); p = num("position", $0)
      if (n <= 0 || p < 0) bad("bad skipped message: " $0)
      if (have && p != last + 1 + n) bad("skipped " n " after record " last " but went on at " p)
      total += n; skips++
      if (t != total) bad("total " t " where " total " was due")
      want = p; due = 1; next
    }
    (fmt == "sse" && /^data: [{]"offset":/) || (fmt == "ndjson" && /^[{]"offset":/) {
      o = num("offset", $0)
      if (due && o != want) bad("record " o " where " want " was due")
      if (index($0, "\"data\":{\"seq\":" o ",") == 0) bad("record " o " has the wrong data: " $0)
      last = o; have = 1; want = o + 1; due = 1; records++
    }
    END { if (!failed) print skips + 0, total + 0, records + 0 }' "$file")
  case $out in BAD*) fail "$file: ${out#BAD }" ;; esac
  echo "$out"
}

# ---------------------------------------------------------------------------
echo "== command line"
"$SERVER" --help | grep -q '^usage: http_stream_server' || fail "--help"
rc=0; "$SERVER" --rate 0 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--rate 0: exit status $rc, want 2"
rc=0; "$SERVER" --bogus 1 >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || fail "--bogus: exit status $rc, want 2"
for flag in "--max-age 5x" "--max-age -1s" "--max-age 1.5s" "--max-age 99999999999h" "--max-age=" \
  "--max-bytes 1T" "--max-bytes -1" "--max-bytes 1k" "--max-bytes K" "--max-bytes 99999999999G" "--grace-ms -1"; do
  rc=0; "$SERVER" $flag >/dev/null 2>"$WORK/flag.err" || rc=$?
  [ "$rc" -eq 2 ] || fail "$flag: exit status $rc, want 2"
  grep -q "^error: " "$WORK/flag.err" || fail "$flag: no error message"
done
for flag in "--max-age 0" "--max-age 30" "--max-age 500ms" "--max-age 5m" "--max-age 2h" "--max-age 250us" \
  "--max-bytes 0" "--max-bytes 4096" "--max-bytes 64K" "--max-bytes 64M" "--max-bytes 1G" "--max-bytes 2MiB"; do
  # Options are read in order: --help after a good one prints the usage, exit 0.
  "$SERVER" $flag --help | grep -q '^usage: http_stream_server' || fail "$flag is refused"
done
for flag in "--threads 0" "--threads x" "--threads 257" "--threads -1" "--max-streams 0" "--max-streams 1000001"; do
  rc=0; "$SERVER" $flag >/dev/null 2>"$WORK/flag.err" || rc=$?
  [ "$rc" -eq 2 ] || fail "$flag: exit status $rc, want 2"
done
for flag in "--threads 1" "--threads 8" "--max-streams 100000"; do
  "$SERVER" $flag --help | grep -q '^usage: http_stream_server' || fail "$flag is refused"
done
pass "--help, bad flags exit 2 (--max-age, --max-bytes, --threads too); good durations and sizes accepted"

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
expect 405 /range -X POST
pass "bad parameters: 400 with a JSON error; unknown path: 404; POST: 405"

code=$(get /)
[ "$code" = 200 ] && grep -q 'new EventSource(' "$WORK/body" || fail "GET /: $code"
pass "GET / serves the HTML page"

echo "-- since: records and streams from a time (offset_at)"
c99=$(created_of 99)
c100=$(created_of 100)
c101=$(created_of 101)
[[ "$c99" < "$c100" && "$c100" < "$c101" ]] || fail "created times do not increase: $c99 $c100 $c101"
# The record's own time finds it; a nanosecond later finds the next one.
ns=$(($(date -u -d "$c100" +%s%N) + 1))
c100_plus_1ns=$(date -u -d "@${ns:0:-9}.${ns: -9}" '+%Y-%m-%dT%H:%M:%S.%NZ')
c100_kolkata=$(TZ=Asia/Kolkata date -d "$c100" '+%Y-%m-%dT%H:%M:%S.%N%:z')  # +05:30
c100_minus=$(TZ='XYZ+05:30' date -d "$c100" '+%Y-%m-%dT%H:%M:%S.%N%:z')    # -05:30
c100_lower=$(printf '%s' "$c100" | tr 'TZ' 'tz')
for t in "$c100" "$c100_kolkata" "$c100_minus" "$c100_lower"; do
  [ "$(since_first "$t")" = 100 ] || fail "since=$t: first record $(first_offset), want 100"
done
[ "$(since_first "$c100_plus_1ns")" = 101 ] || fail "since=$c100_plus_1ns: first $(first_offset), want 101"
[ "$(since_first 2000-01-01T00:00:00Z)" = 0 ] || fail "since before every record: $(cat "$WORK/body")"
[ "$(since_first 1900-01-01T00:00:00.5-05:30)" = 0 ] || fail "since 1900: $(cat "$WORK/body")"
[ "$(since_first 2999-01-01T00:00:00Z)" = "" ] && [ "$(cat "$WORK/body")" = "[]" ] ||
  fail "since in the future: $(cat "$WORK/body")"
[ "$(since_first 9999-12-31T23:59:59.999999999Z)" = "" ] || fail "since 9999: $(cat "$WORK/body")"
[ "$(since_first 2024-02-29T12:00:00Z)" = 0 ] || fail "since on a leap day: $(cat "$WORK/body")"
# An unescaped '+' arrives as a space; it is read as the '+' it was.
expect 200 "/records?since=$(printf '%s' "$c100_kolkata")&limit=1"
[ "$(first_offset)" = 100 ] || fail "since with an unescaped +: $(cat "$WORK/body")"
pass "/records?since=: before, at, between (1 ns) and after records; Z, +05:30, -05:30, lower case"

latest_before=$(range_field latest)
take_sse "$WORK/since100" 50 "$BASE/stream?since=$c100"
check_sse "$WORK/since100" 100 50
take_lines "$WORK/since0.ndjson" 20 "$BASE/stream?since=2000-01-01T00:00:00Z&format=ndjson"
check_ndjson "$WORK/since0.ndjson" 0 20
take_sse "$WORK/sinceresume" 5 "$BASE/stream?since=$c100" -H "Last-Event-ID: 41"
check_sse "$WORK/sinceresume" 42 5
take_sse "$WORK/sincefuture" 5 "$BASE/stream?since=2999-01-01T00:00:00Z"
future_first=$(first_id "$WORK/sincefuture")
[ -n "$future_first" ] && [ "$future_first" -gt "$latest_before" ] ||
  fail "stream since the future started at '$future_first', latest was $latest_before"
check_sse "$WORK/sincefuture" "$future_first" 5
pass "/stream?since=: at the record, from the start (ndjson), Last-Event-ID wins, future: new records only"

for q in "since=" "since=now" "since=2026-11-30" "since=2026-11-30T12:00:00" "since=2026-11-30T12:00:00.Z" \
  "since=2026-11-30T12:00:00.1234567891Z" "since=2026-02-29T00:00:00Z" "since=2026-13-01T00:00:00Z" \
  "since=2026-04-31T00:00:00Z" "since=2026-11-30T24:00:00Z" "since=2026-11-30T12:60:00Z" \
  "since=2026-11-30T23:59:60Z" "since=2026-11-30T12:00:00%2B1:00" "since=2026-11-30T12:00:00%2B01" \
  "since=2026-11-30T12:00:00%2B0100" "since=2026-11-30T12:00:00%2B24:00" "since=2026-11-30T12:00:00-01:60" \
  "since=26-11-30T12:00:00Z" "since=2026-11-30T12:00:00Zjunk" "since=2026-11-30%2012:00:00Z" \
  "since=2026-11-30T12:00:00UTC" "since=%2B2026-11-30T12:00:00Z" "since=2026-1-30T12:00:00Z" \
  "since=2026-11-30T12:00:00Z&from=5" "since=2026-11-30T12:00:00Z&since=2026-11-30T12:00:01Z"; do
  for path in /records /stream; do
    expect 400 "$path?$q"
    grep -q "'since'" "$WORK/body" || fail "GET $path?$q: the error does not name 'since': $(cat "$WORK/body")"
  done
done
pass "malformed since, since with from: 400 naming 'since' $(cat "$WORK/body")"

for q in "reset=bogus" "reset=" "reset=EARLIEST" "reset=none&reset=latest"; do
  expect 400 "/stream?$q"
  grep -q "'reset'" "$WORK/body" || fail "GET /stream?$q: the error does not name 'reset': $(cat "$WORK/body")"
done
pass "bad reset: 400 $(cat "$WORK/body")"

check_stats
written=$(stat written)
[ "$written" -ge 500 ] && [ "$(stat records)" -eq "$written" ] && [ "$(stat purged)" -eq 0 ] &&
  [ "$(stat bytes)" -ge $((50 * written)) ] && [ "$(stat bytes)" -le $((100 * written)) ] &&
  [ "$(stat max_streams)" -eq 6 ] && [ "$(stat skipped)" -eq 0 ] && [ "$(stat waiting)" -ge 0 ] &&
  grep -q '"closed":false' "$WORK/body" || fail "/stats: $(cat "$WORK/body")"
pass "/stats: $(cat "$WORK/body")"

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

echo "-- coalescing: a stream far behind gets many records per write"
# --raw shows the chunked framing: a line of hex digits starts each chunk,
# and the server writes one chunk per write. 1000 records from offset 0 (all
# written already) come in a few chunks of about 32 KiB, not 1000.
{ curl -sS -N --raw --max-time 60 "$BASE/stream?from=0" 2>/dev/null || true; } |
  awk '{ print } /^id: / { n++ } n >= 1000 && /^\r?$/ { exit }' >"$WORK/raw"
chunks=$(grep -c $'^[0-9a-f][0-9a-f]*\r$' "$WORK/raw" || true)
[ "$(grep -c '^id: ' "$WORK/raw")" -eq 1000 ] || fail "raw stream: want 1000 events"
[ "$chunks" -ge 1 ] && [ "$chunks" -le 20 ] || fail "1000 records behind came in $chunks chunks, want 1..20"
pass "1000 records behind the log: $chunks writes"

echo "-- HTTP/1.0: the stream is not chunked and ends with the connection"
take_sse "$WORK/http10" 20 "$BASE/stream?from=5" --http1.0 -D "$WORK/http10.headers"
grep -q '^HTTP/1.0 200' "$WORK/http10.headers" || fail "HTTP/1.0 status line: $(cat "$WORK/http10.headers")"
grep -qi '^transfer-encoding' "$WORK/http10.headers" && fail "HTTP/1.0 response is chunked"
check_sse "$WORK/http10" 5 20
pass "HTTP/1.0 client: 20 records from 5, no chunked encoding"

echo "-- heartbeats; a client that hangs up while its stream waits"
# Offset 10^9 is not written for days: the streams wait. The SSE one gets a
# keep-alive comment every 200 ms (--heartbeat-ms); the ndjson one gets
# nothing at all, so only the server's watch on the socket can tell that
# its client hung up.
wait_until "the finished streams are released" streams_are 0
curl -sS -N --max-time 2 -o "$WORK/idle" "$BASE/stream?from=1000000000" 2>/dev/null || true
[ "$(grep -c '^: keep-alive$' "$WORK/idle")" -ge 3 ] || fail "an idle SSE stream: $(head -c 300 "$WORK/idle")"
grep -q '^id: ' "$WORK/idle" && fail "an idle stream got a record"
curl -sS -N --max-time 1 -o "$WORK/idle.ndjson" "$BASE/stream?from=1000000000&format=ndjson" 2>/dev/null || true
[ -s "$WORK/idle.ndjson" ] && fail "an idle ndjson stream got: $(head -c 300 "$WORK/idle.ndjson")"
wait_until "the idle streams are released" streams_are 0
pass "idle SSE stream: $(grep -c '^: keep-alive$' "$WORK/idle") keep-alive comments in 2 s; hung-up idle streams are released"

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
closed=$(closed_at)
[ -n "$closed" ] || fail "the server did not say where it closed the log"
for i in 3 4 5 6; do
  check_closed_sse "$WORK/held$i" "$closed"
  [ "$(grep -c '^id: ' "$WORK/held$i")" -gt 0 ] || fail "held stream $i received no record"
done
pass "open streams got every record written before close() ($closed), then the end event (curl exit 0)"

# ---------------------------------------------------------------------------
echo "== server B: small segments, readers behind the retention (one I/O thread)"
# 1000 records, then the producer stops: the log keeps 900..999 (two full
# 50-record segments), nothing moves.
start_server --rate 2000 --segment 50 --count 1000 --max-streams 4 --threads 1
wait_until "1000 records are written" latest_at_least 999
[ "$(range_field earliest)" -eq 900 ] || fail "range after 1000 records: $(cat "$WORK/body")"
check_stats
[ "$(stat written)" -eq 1000 ] && [ "$(stat records)" -eq 100 ] && [ "$(stat purged)" -eq 900 ] &&
  [ "$(stat bytes)" -ge 5000 ] && [ "$(stat bytes)" -le 10000 ] && [ "$(stat max_streams)" -eq 4 ] ||
  fail "/stats after 1000 records, 900 purged: $(cat "$WORK/body")"
pass "/stats: $(cat "$WORK/body")"

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
curl -sS -N --max-time 120 -o "$WORK/open_at_int.ndjson" "$BASE/stream?from=950&format=ndjson" 2>/dev/null &
BG_PIDS+=($!)
wait_until "2 streams are open" streams_are 2
stop_server INT
for pid in "${BG_PIDS[@]}"; do
  rc=0
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "stream client exited $rc on SIGINT"
done
BG_PIDS=()
[ "$(closed_at)" = 1000 ] || fail "closed the log at '$(closed_at)', want 1000"
check_closed_sse "$WORK/open_at_int" 1000
sed '$d' "$WORK/open_at_int.ndjson" >"$WORK/open_at_int.records"
check_ndjson "$WORK/open_at_int.records" 950 50
[ "$(tail -n 1 "$WORK/open_at_int.ndjson")" = '{"end":"closed","position":1000}' ] ||
  fail "ndjson stream at SIGINT: $(tail -n 2 "$WORK/open_at_int.ndjson")"
pass "SIGINT: a live SSE stream gets the end event; ndjson from 950: 950..999, then the end line"

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

# ---------------------------------------------------------------------------
echo "== server D: reset=earliest|latest, a reader that falls behind goes on"
# The log keeps 4-8 records of a 20000 records/s producer: a reader that stops
# reading for a while falls out of the retention. With reset=earliest it is
# told how many records it missed and goes on from the earliest retained;
# with reset=latest (ndjson here) from the next record written.
start_server --rate 20000 --segment 4
slow_reader "$WORK/earliest" "$BASE/stream?reset=earliest" & BG_PIDS+=($!)
slow_reader "$WORK/latest.ndjson" "$BASE/stream?reset=latest&format=ndjson" & BG_PIDS+=($!)
for pid in "${BG_PIDS[@]}"; do wait "$pid" || fail "a slow reader failed"; done
BG_PIDS=()
grep -q '^event: skipped$' "$WORK/earliest" || fail "reset=earliest: no skipped event: $(head -c 600 "$WORK/earliest")"
read -r skips total records <<<"$(check_skips "$WORK/earliest" sse)"
[ "$skips" -ge 1 ] && [ "$records" -ge 200 ] || fail "reset=earliest: $skips skips, $records records"
pass "reset=earliest: $skips skipped events ($total records missed), $records records, gaps exactly as told"
read -r skips2 total2 records2 <<<"$(check_skips "$WORK/latest.ndjson" ndjson)"
[ "$skips2" -ge 1 ] && [ "$records2" -ge 200 ] || fail "reset=latest: $skips2 skips, $records2 records"
pass "reset=latest (ndjson): $skips2 skipped lines ($total2 records missed), $records2 records"
check_stats
[ "$(stat skipped)" -ge $((total + total2)) ] && [ "$(stat purged)" -gt 0 ] && [ "$(stat records)" -le 8 ] ||
  fail "/stats after the slow readers: $(cat "$WORK/body")"
pass "/stats counts the skipped records: $(cat "$WORK/body")"
stop_server TERM

# ---------------------------------------------------------------------------
echo "== server E: retention by bytes (--max-bytes 1K) and by age (--max-age 2s)"
# 300 records of about 50 bytes, then the producer stops. Segments are sealed
# at 1 KiB, so the log keeps at most 2 KiB of them. Every record is created
# after t_start, so none may expire before t_start + 2 s; after that, all do
# (the log expires them on read, with the system clock).
t_start=$(date +%s%N)
start_server --rate 2000 --count 300 --segment 1000000 --max-bytes 1K --max-age 2s
stats_written_is() { check_stats && [ "$(stat written)" -eq "$1" ]; }
wait_until "300 records are written" stats_written_is 300
t_read=$(date +%s%N)
expect 200 /records
if [ $((t_read - t_start)) -lt 2000000000 ]; then  # else too slow a machine to tell
  check_stats
  written=$(stat written) records=$(stat records) purged=$(stat purged) bytes=$(stat bytes)
  [ "$records" -gt 0 ] && [ "$records" -lt 300 ] && [ $((records + purged)) -eq 300 ] &&
    [ "$bytes" -gt 0 ] && [ "$bytes" -le 2048 ] ||
    fail "--max-bytes 1K, before any expiry: $(cat "$WORK/body")"
  pass "--max-bytes 1K: $records records, $bytes bytes retained, $purged purged"
  expect 200 "/records?limit=1000"
  [ "$(grep -o '"offset":' "$WORK/body" | wc -l)" -eq "$records" ] || fail "/records: want $records records"
fi
range_is_empty() { [ "$(get /range)" = 200 ] && [ "$(cat "$WORK/body")" = '{"earliest":-1,"latest":-1}' ]; }
wait_until "every record has expired" range_is_empty
t_empty=$(date +%s%N)
[ $((t_empty - t_start)) -ge 2000000000 ] || fail "records expired $(((t_empty - t_start) / 1000000)) ms after start"
expect 410 "/records?from=0"
grep -q '"earliest":-1,"latest":-1' "$WORK/body" || fail "410 after expiry: $(cat "$WORK/body")"
expect 200 "/records"
[ "$(cat "$WORK/body")" = "[]" ] || fail "/records after expiry: $(cat "$WORK/body")"
expect 200 "/records?since=2000-01-01T00:00:00Z"
[ "$(cat "$WORK/body")" = "[]" ] || fail "/records?since= after expiry: $(cat "$WORK/body")"
check_stats
[ "$(stat written)" -eq 300 ] && [ "$(stat records)" -eq 0 ] && [ "$(stat purged)" -eq 300 ] ||
  fail "/stats after expiry: $(cat "$WORK/body")"
pass "--max-age 2s: all expired after $(((t_empty - t_start) / 1000000)) ms: empty range, 410, [], $(cat "$WORK/body")"
stop_server TERM

# ---------------------------------------------------------------------------
echo "== server F: shutdown does not wait for ever for a slow client"
# A client crawling through a long backlog and one that stopped reading:
# close() cannot end their streams within --grace-ms, so the server cancels
# them (and the write timeout frees the stalled one); it still exits 0.
# The backlog (100000 records, ~15 MB) is larger than the socket buffers.
start_server --rate 50000 --segment 10000000 --grace-ms 500
wait_until "100000 records are written" latest_at_least 99999
curl -sS -N --max-time 60 --limit-rate 2K -o "$WORK/crawl" "$BASE/stream?from=0" 2>/dev/null & BG_PIDS+=($!)
curl -sS -N --max-time 60 -o "$WORK/stalled" "$BASE/stream?from=0" 2>/dev/null & BG_PIDS+=($!)
wait_until "2 streams are open" streams_are 2
kill -STOP "${BG_PIDS[1]}"
stop_server TERM
grep -q 'streams still open after the grace period' "$WORK/server.err" || fail "no grace period message"
kill -CONT "${BG_PIDS[1]}" 2>/dev/null || true
for pid in "${BG_PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
BG_PIDS=()
pass "slow and stalled clients are cancelled after the grace period"

echo "PASS"
