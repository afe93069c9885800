# Shared by the server's test scripts; source it after setting SERVER and
# WORK and defining fail() (and pass(), for stop_named).

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

# start_named NAME ARGS...: starts one of several servers on a free port, its
# output in $WORK/NAME.out and NAME.err; sets NAME_PID and NAME_URL and adds
# the pid to the array PIDS (for the caller's cleanup).
start_named() {
  local name=$1 port="" i pid
  shift
  : >"$WORK/$name.out"  # there before sed reads it
  "$SERVER" --port 0 "$@" >>"$WORK/$name.out" 2>"$WORK/$name.err" &
  pid=$!
  PIDS+=("$pid")
  for ((i = 0; i < 300; i++)); do  # <= 30 s
    port=$(sed -n 's/^listening on 127\.0\.0\.1:\([0-9][0-9]*\)$/\1/p' "$WORK/$name.out")
    [ -n "$port" ] && break
    kill -0 "$pid" 2>/dev/null || fail "server $name exited at startup"
    sleep 0.1
  done
  [ -n "$port" ] || fail "server $name did not print its port"
  printf -v "${name}_PID" '%s' "$pid"
  printf -v "${name}_URL" '%s' "http://127.0.0.1:$port"
}

# stop_named PID NAME: SIGTERM; the server must exit 0 within 15 s.
stop_named() {
  local pid=$1 i rc=0
  kill -TERM "$pid"
  for ((i = 0; i < 150; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 "$pid" 2>/dev/null && fail "server $2 still running 15 s after SIGTERM"
  wait "$pid" || rc=$?
  [ "$rc" -eq 0 ] || fail "server $2 exited with status $rc"
  pass "server $2 exited 0 after SIGTERM"
}
