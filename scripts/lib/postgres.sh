# A throwaway PostgreSQL server for the test and rehearsal scripts (sourced, not run).
# start_pg: initdb in a temporary folder and start on a free loopback port; sets PG_URL.
# stop_pg: stop it and remove the folder (safe to call when none was started).
PG_DIR=""
RUN_AS=()
start_pg() {
  PG_BIN=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
  PG_DIR=$(mktemp -d)
  if [ "$(id -u)" -eq 0 ]; then chown postgres "$PG_DIR"; RUN_AS=(runuser -u postgres --); fi
  "${RUN_AS[@]}" "$PG_BIN/initdb" -D "$PG_DIR/data" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
  "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -l "$PG_DIR/log" -w \
    -o "-p $PG_PORT -k $PG_DIR -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" start >/dev/null
  PG_URL="postgres://postgres@127.0.0.1:$PG_PORT/postgres"
}
stop_pg() {
  [ -n "$PG_DIR" ] || return 0
  "${RUN_AS[@]}" "$PG_BIN/pg_ctl" -D "$PG_DIR/data" -m fast stop >/dev/null 2>&1 || true
  rm -rf "$PG_DIR"
  PG_DIR=""
}
