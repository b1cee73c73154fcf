#!/usr/bin/env bash
# Local FerretDB (MongoDB wire protocol) from .deps/bin, on its PostgreSQL
# handler: the PostgreSQL of deploy/postgres/postgres.sh must be running.
#
#   ferretdb.sh start    check PostgreSQL answers, install the GIN twins in its
#                        database (deploy/postgres/gin-twins.sql), start in the
#                        background, wait until it accepts connections
#   ferretdb.sh stop     SIGTERM and wait
#   ferretdb.sh kill     SIGKILL: a crash, data stays on disk
#   ferretdb.sh status   exit 0 if running, 3 if not
#   ferretdb.sh wait     wait until it accepts connections
#   ferretdb.sh uri [DB] print the MongoDB URI
#
# Environment (defaults):
#   FERRETDB_HOME_DIR       state dir (var/ferretdb under the repo): state/, ferretdb.log
#                           (the data are in PostgreSQL: one schema per MongoDB database)
#   FERRETDB_PORT           27017, on 127.0.0.1 only
#   FERRETDB_POSTGRES_URL   postgres://postgres@127.0.0.1:$POSTGRES_PORT/ferretdb
#   POSTGRES_PORT           5433 (see deploy/postgres/postgres.sh)
#   FERRETDB_LOG_LEVEL      warn (debug, info, warn, error)
#   FERRETDB_GOGC           400: its Go runtime's GOGC (the heap may grow 4x over
#                           the live data before a GC; Go's default, 100, spent
#                           more CPU on GC, see docs/operations.md)
#   FERRETDB_GOMEMLIMIT     512MiB: its GOMEMLIMIT, the soft limit that makes the
#                           GC run more often before the heap gets there
#   FERRETDB_DEBUG_ADDR     - (none): 127.0.0.1:PORT serves FerretDB's debug
#                           handler there (/debug/pprof, /debug/metrics); loopback only
#   FERRETDB_START_TIMEOUT  seconds (30)
#   FERRETDB_STOP_TIMEOUT   seconds before SIGKILL (30)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/.deps/bin/ferretdb"
# shellcheck source=deploy/postgres/pgbin.sh
source "$ROOT/deploy/postgres/pgbin.sh"

HOME_DIR="${FERRETDB_HOME_DIR:-$ROOT/var/ferretdb}"
mkdir -p "$HOME_DIR"
HOME_DIR="$(cd "$HOME_DIR" && pwd)"
PORT="${FERRETDB_PORT:-27017}"
LEVEL="${FERRETDB_LOG_LEVEL:-warn}"
START_TIMEOUT="${FERRETDB_START_TIMEOUT:-30}"
STOP_TIMEOUT="${FERRETDB_STOP_TIMEOUT:-30}"
GO_GC="${FERRETDB_GOGC:-400}"
GO_MEMLIMIT="${FERRETDB_GOMEMLIMIT:-512MiB}"
DEBUG_ADDR="${FERRETDB_DEBUG_ADDR:--}"
PG_URL="${FERRETDB_POSTGRES_URL:-postgres://postgres@127.0.0.1:${POSTGRES_PORT:-5433}/ferretdb}"
# FerretDB 1.24 holds one PostgreSQL connection per statement of a multi-
# statement update until the whole command ends (msg_update.go defers each
# iterator's Close), so its default pool of 50 can run dry under concurrent
# bulk writes and every command then waits for ever. The services send at
# most 32 statements per command (MONGO_BULK_CHUNK); 150 connections leave
# room for a few such commands plus every HTTP worker. PostgreSQL allows 200.
# (psql refuses the pool_* parameters: only FerretDB's URL gets it.)
FDB_PG_URL="$PG_URL"
if [[ "$FDB_PG_URL" != *pool_max_conns=* ]]; then
    FDB_PG_URL+="$([[ "$FDB_PG_URL" == *\?* ]] && echo '&' || echo '?')pool_max_conns=150"
fi
PIDFILE="$HOME_DIR/ferretdb.pid"
LOGFILE="$HOME_DIR/ferretdb.log"

log() { printf 'ferretdb: %s\n' "$*" >&2; }
die() { printf 'ferretdb: ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$DEBUG_ADDR" == - || "$DEBUG_ADDR" =~ ^127\.0\.0\.1:[0-9]+$ ]] ||
    die "FERRETDB_DEBUG_ADDR must be - or 127.0.0.1:PORT (loopback only), not '$DEBUG_ADDR'"
[[ "$GO_GC" =~ ^([0-9]+|off)$ ]] || die "FERRETDB_GOGC must be a number or off, not '$GO_GC'"

# Running = the pid file's process is alive and is a ferretdb on this dir (pids get reused).
pid_of() {
    local pid
    [[ -f "$PIDFILE" ]] || return 1
    pid="$(<"$PIDFILE")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "--state-dir=$HOME_DIR/state" || return 1
    printf '%s\n' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

# During startup only: the process we just started is still alive. Its
# cmdline is not checked, because right after the fork it may not show the
# exec'd binary yet (the check in pid_of would then report a false death).
started_alive() { [[ -f "$PIDFILE" ]] && kill -0 "$(<"$PIDFILE")" 2>/dev/null; }

wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until port_open; do
        if ! started_alive; then
            tail -n 20 "$LOGFILE" >&2 2>/dev/null || true
            die "exited during startup (log above, in $LOGFILE)"
        fi
        (( SECONDS < deadline )) || die "not accepting connections on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
        sleep 0.1
    done
}

# FerretDB starts without PostgreSQL and fails each command later; refuse to
# start instead. Then install the GIN twins (before FerretDB creates an index)
# and drop the empty tables an outage cut off from FerretDB's metadata
# (deploy/postgres/ferretdb-orphans.sql), while no FerretDB caches it.
check_postgres() {
    local bindir out url="${PG_URL%%\?*}" query param params=()
    bindir="$(pg_bindir)" || die "PostgreSQL client binaries not found: run 'make deps'"
    # FerretDB's pool settings (pool_max_conns=...) are not libpq's: psql
    # would refuse the URL with them.
    if [[ "$PG_URL" == *\?* ]]; then
        query="${PG_URL#*\?}"
        IFS='&' read -ra params <<<"$query"
        query=""
        for param in "${params[@]}"; do
            [[ "$param" == pool_* ]] || query+="${query:+&}$param"
        done
        url+="${query:+?$query}"
    fi
    if ! out="$(PGCONNECT_TIMEOUT=5 "$bindir/psql" -X -qAt -d "$url" -c 'SELECT 1' 2>&1)"; then
        die "PostgreSQL is not reachable at $PG_URL: $out
  start it first: bash deploy/postgres/postgres.sh start (POSTGRES_PORT=${POSTGRES_PORT:-5433})"
    fi
    if ! out="$("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -d "$url" \
        -f "$ROOT/deploy/postgres/gin-twins.sql" 2>&1 >/dev/null)"; then
        die "installing deploy/postgres/gin-twins.sql into $PG_URL failed: $out"
    fi
    if ! out="$("$bindir/psql" -X -q -v ON_ERROR_STOP=1 -d "$url" \
        -f "$ROOT/deploy/postgres/ferretdb-orphans.sql" 2>&1 >/dev/null)"; then
        die "deploy/postgres/ferretdb-orphans.sql failed on $PG_URL: $out"
    fi
    [[ -z "$out" ]] || log "$(sed 's/^.*NOTICE: *//' <<<"$out")"
}

cmd_start() {
    local t0="$EPOCHREALTIME"
    [[ -x "$BIN" ]] || die "$BIN missing: run 'make deps'"
    if pid_of >/dev/null; then
        log "already running (pid $(pid_of))"
        wait_ready
        return 0
    fi
    port_open && die "port $PORT is already in use (another FerretDB? try: FERRETDB_HOME_DIR=... $0 stop)"
    check_postgres
    mkdir -p "$HOME_DIR/state"
    # --telemetry=disable: otherwise it reports to a public beacon.
    # --debug-addr=- (FERRETDB_DEBUG_ADDR unset): otherwise it takes
    # 127.0.0.1:8088, which collides when several run at once (tests).
    # setsid: a Ctrl-C meant for the caller must not hit the database; the
    # caller stops it last.
    GOGC="$GO_GC" GOMEMLIMIT="$GO_MEMLIMIT" setsid "$BIN" --handler=postgresql \
        --postgresql-url="$FDB_PG_URL" \
        --state-dir="$HOME_DIR/state" \
        --listen-addr="127.0.0.1:$PORT" \
        --debug-addr="$DEBUG_ADDR" \
        --telemetry=disable \
        --log-format=json --log-level="$LEVEL" \
        </dev/null >>"$LOGFILE" 2>&1 &
    printf '%s\n' "$!" >"$PIDFILE"
    wait_ready
    log "ready at mongodb://127.0.0.1:$PORT in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')s (on $PG_URL, state in $HOME_DIR)"
}

cmd_stop() {
    local sig="$1" pid
    if ! pid="$(pid_of)"; then
        rm -f "$PIDFILE"
        return 0
    fi
    kill "-$sig" "$pid" 2>/dev/null || true
    local deadline=$((SECONDS + STOP_TIMEOUT))
    while kill -0 "$pid" 2>/dev/null; do
        if (( SECONDS >= deadline )) && [[ "$sig" != KILL ]]; then
            log "still running after ${STOP_TIMEOUT}s; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
            sig=KILL
        fi
        sleep 0.1
    done
    rm -f "$PIDFILE"
    log "$([[ $sig == KILL ]] && echo killed || echo stopped) (pid $pid)"
}

cmd_status() {
    local pid
    if pid="$(pid_of)"; then
        echo "ferretdb: running (pid $pid, mongodb://127.0.0.1:$PORT, on $PG_URL)"
    else
        echo "ferretdb: stopped"
        return 3
    fi
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop TERM ;;
    kill) cmd_stop KILL ;;
    status) cmd_status ;;
    wait) wait_ready ;;
    uri) echo "mongodb://127.0.0.1:$PORT/${2:-clinic}" ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
