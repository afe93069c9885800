# Shared by test_redis.sh and test_kafka.sh (the server as a replica): HTTP
# and SSE helpers. Source it after setting WORK and defining fail().

# wait_until DESCRIPTION COMMAND...: polls COMMAND (<= 30 s).
wait_until() {
  local what=$1 i
  shift
  for ((i = 0; i < 300; i++)); do
    "$@" && return 0
    sleep 0.1
  done
  fail "timed out waiting until $what"
}

# get URL [curl args...]: the body on stdout; fails unless 200.
get() {
  local url=$1 code
  shift
  code=$(curl -sS --max-time 20 -o "$WORK/body" -w '%{http_code}' "$@" "$url") || fail "curl $url failed"
  [ "$code" = 200 ] || fail "GET $url: status $code: $(cat "$WORK/body")"
  cat "$WORK/body"
}
status_of() { curl -sS --max-time 20 -o "$WORK/body" -w '%{http_code}' "$@" || echo curl-failed; }
latest_is() {  # latest_is URL N [QUERY]: the log holds offsets 0..N
  [ "$(curl -sS --max-time 5 "$1/range${3:-}" 2>/dev/null)" = "{\"earliest\":0,\"latest\":$2}" ]
}
stats_has() { curl -sS --max-time 5 "$1/stats" 2>/dev/null | grep -qF "$2"; }
# records URL [QUERY]: from offset 0, without the replica's own `created`.
records() { get "$1/records?from=0&limit=1000${2:-}" | sed 's/"created":"[^"]*",//g'; }

# take_sse OUT COUNT URL [curl args...]: COUNT events, then hang up.
take_sse() {
  # curl writes to a file and is stopped once COUNT events are there (a
  # reader piped to awk would wait for mawk to fill its read buffer).
  local out=$1 count=$2 url=$3 pid
  shift 3
  curl -sS -N --max-time 30 "$@" "$url" >"$out.raw" 2>"$out.curl" &
  pid=$!
  sse_events_in() { [ "$(awk '/^id: / { n++ } END { print n + 0 }' "$1")" -ge "$2" ]; }
  wait_until "$count events from $url" sse_events_in "$out.raw" "$count"
  wait_until "the last event is complete" sse_complete "$out.raw" "$count"
  kill "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  awk -v k="$count" '{ print } /^id: / { n++ } n >= k && /^$/ { exit }' "$out.raw" >"$out"
}
# sse_complete FILE COUNT: the COUNT-th event's blank line is there.
sse_complete() { awk -v k="$2" '/^id: / { n++ } n >= k && /^$/ { found = 1; exit } END { exit !found }' "$1"; }
ids_of() { sed -n 's/^id: //p' "$1" | tr '\n' ' '; }
