# Shared by test_e2e.sh and test_chromium.sh; source it after setting SERVER
# and WORK and defining fail().

# start_server ARGS...: starts the server on a free port; sets SERVER_PID, PORT, BASE.
start_server() {
  rm -f "$WORK/server.out" "$WORK/server.err"  # not a previous server's port
  : >"$WORK/server.out"
  "$SERVER" --port 0 "$@" >>"$WORK/server.out" 2>"$WORK/server.err" &
  SERVER_PID=$!
  PORT=""
  local i
  for ((i = 0; i < 300; i++)); do  # <= 30 s
    PORT=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$WORK/server.out")
    [ -n "$PORT" ] && break
    kill -0 "$SERVER_PID" 2>/dev/null || fail "server exited at startup"
    sleep 0.1
  done
  [ -n "$PORT" ] || fail "server did not print its port"
  BASE="http://127.0.0.1:$PORT"
  echo "server (pid $SERVER_PID) listening on $BASE with: $*"
}
