#!/usr/bin/env bash
# Local FerretDB (MongoDB wire protocol) on its SQLite backend, from .deps/bin.
#
#   ferretdb.sh start    start in the background, wait until it accepts connections
#   ferretdb.sh stop     SIGTERM and wait
#   ferretdb.sh kill     SIGKILL: a crash, data stays on disk
#   ferretdb.sh status   exit 0 if running, 3 if not
#   ferretdb.sh wait     wait until it accepts connections
#   ferretdb.sh uri [DB] print the MongoDB URI
#
# Environment (defaults):
#   FERRETDB_HOME_DIR       state dir (var/ferretdb under the repo): data/ (SQLite
#                           files, kept across restarts), state/, ferretdb.log
#   FERRETDB_PORT           27017, on 127.0.0.1 only
#   FERRETDB_LOG_LEVEL      warn (debug, info, warn, error)
#   FERRETDB_START_TIMEOUT  seconds (30)
#   FERRETDB_STOP_TIMEOUT   seconds before SIGKILL (30)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="$ROOT/.deps/bin/ferretdb"

HOME_DIR="${FERRETDB_HOME_DIR:-$ROOT/var/ferretdb}"
mkdir -p "$HOME_DIR"
HOME_DIR="$(cd "$HOME_DIR" && pwd)"
PORT="${FERRETDB_PORT:-27017}"
LEVEL="${FERRETDB_LOG_LEVEL:-warn}"
START_TIMEOUT="${FERRETDB_START_TIMEOUT:-30}"
STOP_TIMEOUT="${FERRETDB_STOP_TIMEOUT:-30}"
PIDFILE="$HOME_DIR/ferretdb.pid"
LOGFILE="$HOME_DIR/ferretdb.log"

log() { printf 'ferretdb: %s\n' "$*" >&2; }
die() { printf 'ferretdb: ERROR: %s\n' "$*" >&2; exit 1; }

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

cmd_start() {
    local t0="$EPOCHREALTIME"
    [[ -x "$BIN" ]] || die "$BIN missing: run 'make deps'"
    if pid_of >/dev/null; then
        log "already running (pid $(pid_of))"
        wait_ready
        return 0
    fi
    port_open && die "port $PORT is already in use (another FerretDB? try: FERRETDB_HOME_DIR=... $0 stop)"
    mkdir -p "$HOME_DIR/data" "$HOME_DIR/state"
    # --telemetry=disable: otherwise it reports to a public beacon.
    # --debug-addr=-: otherwise it takes 127.0.0.1:8088, which collides when
    # several run at once (tests).
    # setsid: a Ctrl-C meant for the caller must not hit the database; the
    # caller stops it last.
    setsid "$BIN" --handler=sqlite \
        --sqlite-url="file:$HOME_DIR/data/" \
        --state-dir="$HOME_DIR/state" \
        --listen-addr="127.0.0.1:$PORT" \
        --debug-addr=- \
        --telemetry=disable \
        --log-format=json --log-level="$LEVEL" \
        </dev/null >>"$LOGFILE" 2>&1 &
    printf '%s\n' "$!" >"$PIDFILE"
    wait_ready
    log "ready at mongodb://127.0.0.1:$PORT in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')s (state in $HOME_DIR)"
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
        echo "ferretdb: running (pid $pid, mongodb://127.0.0.1:$PORT)"
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
