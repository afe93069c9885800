#!/usr/bin/env bash
# Loads the server's HTML page in headless Chromium and checks, from the DOM
# dump, that the browser's own EventSource received events; then, on a
# second server, that the page shows a `skipped` event (reset=earliest from
# a purged offset) and ends on the `end` event the server sends when it
# shuts down.
#
#   test_chromium.sh <path to http_stream_server>
#
# Exit 0: pass, 1: fail, 77: skipped (Chromium is not installed).
#
# The page is loaded as /?max=10: it closes its EventSource after 10 events.
# That matters: Chromium's --virtual-time-budget only runs down while no
# network fetch is pending, and an open event stream always is, so without
# the close --dump-dom would wait forever. The second page closes its
# EventSource on the server's end event.
set -euo pipefail

SERVER=${1:?usage: test_chromium.sh <path to http_stream_server>}
[ -x "$SERVER" ] || { echo "FAIL: $SERVER is not an executable"; exit 1; }

CHROMIUM=""
for candidate in chromium chromium-browser google-chrome; do
  if command -v "$candidate" >/dev/null 2>&1; then
    CHROMIUM=$(command -v "$candidate")
    break
  fi
done
if [ -z "$CHROMIUM" ]; then
  echo "SKIP: Chromium is not installed (Debian: apt-get install chromium)"
  exit 77
fi
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl is not installed"; exit 77; }

# Under ThreadSanitizer: tsan.supp (empty today). Harmless for other builds.
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export TSAN_OPTIONS="${TSAN_OPTIONS:+$TSAN_OPTIONS:}suppressions=$HERE/tsan.supp"

WORK=$(mktemp -d)
SERVER_PID=""
CHROMIUM_PID=""
cleanup() {
  [ -z "$SERVER_PID" ] || kill -KILL "$SERVER_PID" 2>/dev/null || true
  [ -z "$CHROMIUM_PID" ] || kill -TERM "$CHROMIUM_PID" 2>/dev/null || true  # timeout passes it on
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

fail() {
  echo "FAIL: $*"
  echo "--- server stderr (last 20 lines)"; tail -n 20 "$WORK/server.err" 2>/dev/null || true
  echo "--- chromium stderr (last 20 lines)"; tail -n 20 "$WORK/chromium.err" 2>/dev/null || true
  exit 1
}

. "$HERE/server_lib.sh"
start_server --rate 50
URL="http://127.0.0.1:$PORT/?max=10"

# Let a few records exist first (the page starts with the last 10 retained).
for ((i = 0; i < 300; i++)); do
  range=$(curl -sS --max-time 10 "http://127.0.0.1:$PORT/range" 2>/dev/null || true)
  case $range in *'"latest":'[1-9][0-9]*) break ;; esac
  sleep 0.1
done

echo "loading $URL in $CHROMIUM"
rc=0
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$WORK/profile" --virtual-time-budget=3000 \
  --dump-dom "$URL" >"$WORK/dom.html" 2>"$WORK/chromium.err" || rc=$?
[ "$rc" -eq 0 ] || fail "chromium exited with status $rc"

# The page appends <li id="event-OFFSET" data-offset="OFFSET">record JSON</li>
# per event; 10 of them, consecutive offsets, then status "done".
ids=$(grep -o '<li id="event-[0-9]*"' "$WORK/dom.html" | sed 's/[^0-9]//g' | tr '\n' ' ')
echo "events in the DOM: $ids"
set -- $ids
[ "$#" -eq 10 ] || fail "want 10 events in the DOM, got $#: $(head -c 2000 "$WORK/dom.html")"
want=$1
for id in "$@"; do
  [ "$id" -eq "$want" ] || fail "event ids not consecutive: $ids"
  want=$((want + 1))
done
grep -q "<li id=\"event-$1\" data-offset=\"$1\">{\"offset\":$1,\"created\":\"" "$WORK/dom.html" ||
  fail "event text is not the record JSON"
grep -q '<span id="status">done</span>' "$WORK/dom.html" || fail "page status is not done"
grep -q '<span id="count">10</span>' "$WORK/dom.html" || fail "page count is not 10"

stop_server() {  # SIGTERM, then it must exit 0 within 15 s
  local i rc=0
  kill -TERM "$SERVER_PID"
  for ((i = 0; i < 150; i++)); do
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$SERVER_PID" 2>/dev/null && fail "server still running 15 s after SIGTERM"
  wait "$SERVER_PID" || rc=$?
  SERVER_PID=""
  [ "$rc" -eq 0 ] || fail "server exited with status $rc"
}
stop_server
echo "ok: 10 live events in the page"

# The second page: 100 records, then the producer stops; the log keeps the
# last 4-8. From offset 0 with reset=earliest, the page is told it missed
# everything before the earliest retained record, then gets the rest, then
# waits. SIGTERM closes the log: the end event ends the page's stream.
start_server --rate 1000 --segment 4 --count 100
for ((i = 0; i < 300; i++)); do
  range=$(curl -sS --max-time 10 "http://127.0.0.1:$PORT/range" 2>/dev/null || true)
  case $range in *'"latest":99}') break ;; esac
  sleep 0.1
done
earliest=$(printf '%s' "$range" | sed -n 's/^{"earliest":\([0-9]*\),"latest":99}$/\1/p')
[ -n "$earliest" ] || fail "range after 100 records: $range"
URL="http://127.0.0.1:$PORT/?from=0&reset=earliest"
echo "loading $URL in $CHROMIUM"
timeout 120 "$CHROMIUM" --headless --no-sandbox --disable-gpu --no-first-run \
  --disable-background-networking --disable-component-update --disable-sync \
  --user-data-dir="$WORK/profile2" --virtual-time-budget=3000 \
  --dump-dom "$URL" >"$WORK/dom2.html" 2>"$WORK/chromium.err" &
CHROMIUM_PID=$!
open=""
for ((i = 0; i < 600; i++)); do  # <= 60 s: until the page's stream is open
  case $(curl -sS --max-time 10 "http://127.0.0.1:$PORT/stats" 2>/dev/null || true) in *'"streams":1,'*) open=1; break ;; esac
  kill -0 "$CHROMIUM_PID" 2>/dev/null || fail "chromium exited before its stream opened"
  sleep 0.1
done
[ -n "$open" ] || fail "the page's stream did not open within 60 s"
stop_server
rc=0
wait "$CHROMIUM_PID" || rc=$?
CHROMIUM_PID=""
[ "$rc" -eq 0 ] || fail "chromium exited with status $rc"

grep -q "<li class=\"skipped\">missed $earliest records, going on at $earliest</li>" "$WORK/dom2.html" ||
  fail "no skipped entry for $earliest records: $(head -c 3000 "$WORK/dom2.html")"
grep -q "<span id=\"skipped\">$earliest</span>" "$WORK/dom2.html" || fail "page's missed count is not $earliest"
ids=$(grep -o '<li id="event-[0-9]*"' "$WORK/dom2.html" | sed 's/[^0-9]//g' | tr '\n' ' ')
want=$(seq -s ' ' "$earliest" 99)
[ "$ids" = "$want " ] || fail "events after the skip: '$ids', want '$want '"
grep -q '<span id="status">ended: closed</span>' "$WORK/dom2.html" || fail "page status is not 'ended: closed'"
echo "ok: the page showed $earliest missed records, events $earliest..99, then ended: closed"

echo "PASS"
