#!/usr/bin/env bash
# Local PostgreSQL under FerretDB (its PostgreSQL handler), from Debian's
# `postgresql` package: a cluster of its own on 127.0.0.1, never the packaged
# one on 5432. Run as the `postgres` user (runuser) when called as root:
# PostgreSQL refuses to run as root.
#
#   postgres.sh init         create the cluster (initdb) unless it exists
#   postgres.sh start        init if needed, start in the background, wait until it
#                            accepts connections, create the database, install the
#                            GIN twins (deploy/postgres/gin-twins.sql)
#   postgres.sh stop         fast shutdown (clients disconnected, checkpoint) and wait
#   postgres.sh kill         SIGKILL of the postmaster and its processes: a crash;
#                            committed data stays (crash recovery at the next start)
#   postgres.sh status       exit 0 if running, 3 if not
#   postgres.sh wait         wait until it accepts connections
#   postgres.sh url [DB]     print the connection URL (postgres://postgres@127.0.0.1:PORT/DB)
#   postgres.sh psql [ARG..] psql on the database, e.g. psql -c 'select 1'
#   postgres.sh datadir      print the data directory
#   postgres.sh remove       stop and delete the cluster (data included)
#
# Environment (defaults):
#   POSTGRES_HOME_DIR       state dir (var/postgres under the repo). The cluster is its
#                           pg/ (data/, postgres.log, run/ = socket directory), kept
#                           across stop/start, so a stop is an outage, not a reset. When
#                           the postgres user cannot reach that dir (a parent closed to
#                           it, e.g. a CI clone under a 0700 /tmp/tmp.XXXX), the cluster
#                           lives in /var/tmp/clinic-events-pg/<hash of the dir> instead
#                           and pg is a symlink to it (start says so).
#   POSTGRES_PORT           5433, on 127.0.0.1 only
#   POSTGRES_DB             ferretdb (the database FerretDB uses; created at start)
#   POSTGRES_EXTRA_CONFIG   extra postgresql.conf lines (newline separated)
#   POSTGRES_START_TIMEOUT  seconds (30)
#   POSTGRES_STOP_TIMEOUT   seconds of fast shutdown before an immediate one (30)
#   POSTGRES_BINDIR         server binaries (default: newest /usr/lib/postgresql/*/bin)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=deploy/postgres/pgbin.sh
source "$ROOT/deploy/postgres/pgbin.sh"

HOME_DIR="${POSTGRES_HOME_DIR:-$ROOT/var/postgres}"
mkdir -p "$HOME_DIR"
HOME_DIR="$(cd "$HOME_DIR" && pwd)"
PORT="${POSTGRES_PORT:-5433}"
DB="${POSTGRES_DB:-ferretdb}"
START_TIMEOUT="${POSTGRES_START_TIMEOUT:-30}"
STOP_TIMEOUT="${POSTGRES_STOP_TIMEOUT:-30}"
PRIVATE_ROOT="${POSTGRES_PRIVATE_ROOT:-/var/tmp/clinic-events-pg}"
LINK="$HOME_DIR/pg"
TWINS_SQL="$ROOT/deploy/postgres/gin-twins.sql"

log() { printf 'postgres: %s\n' "$*" >&2; }
die() { printf 'postgres: ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$PORT" =~ ^[0-9]+$ ]] || die "POSTGRES_PORT must be a number, not '$PORT'"
[[ "$PORT" != 5432 ]] || die "port 5432 belongs to the packaged cluster; choose another POSTGRES_PORT"
[[ "$DB" =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || die "POSTGRES_DB must be a plain identifier, not '$DB'"

# As root, everything that touches the cluster runs as the postgres user.
AS_PG=()
if [[ $EUID -eq 0 ]]; then
    id postgres >/dev/null 2>&1 || die "no 'postgres' user: install Debian's postgresql ('make deps')"
    AS_PG=(runuser -u postgres --)
fi
# From / : the caller's directory may be closed to the postgres user.
as_pg() { (cd / && "${AS_PG[@]}" "$@"); }
pg_reaches() { as_pg test -x "$1"; }

# Where the cluster lives: $HOME_DIR/pg, a directory or a symlink to the
# private directory. Empty until init has chosen.
PGDIR=""
if [[ -L "$LINK" ]]; then
    PGDIR="$(readlink "$LINK")"
elif [[ -d "$LINK" ]]; then
    PGDIR="$LINK"
fi
PGDATA="${PGDIR:+$PGDIR/data}"
LOGFILE="${PGDIR:+$PGDIR/postgres.log}"

bin() {
    local d
    d="$(pg_bindir)" || die "PostgreSQL server binaries not found (no /usr/lib/postgresql/*/bin/initdb): run 'make deps'"
    printf '%s/%s\n' "$d" "$1"
}

# Running = postmaster.pid names a live process that is a postgres on this data dir.
pid_of() {
    local pid
    [[ -n "$PGDATA" && -f "$PGDATA/postmaster.pid" ]] || return 1
    pid="$(head -n1 "$PGDATA/postmaster.pid" 2>/dev/null)" || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-D $PGDATA" || return 1
    printf '%s\n' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; }

psql_db() {
    local db="$1"
    shift
    "$(bin psql)" -X -q -v ON_ERROR_STOP=1 -h 127.0.0.1 -p "$PORT" -U postgres -d "$db" "$@"
}

# A private directory whose state dir is gone (removed with var/test/<run>,
# `git clean`, ...) is nobody's: stop what may still run there and delete it.
# Only directories idle for a minute, so one being set up is never touched.
collect_orphans() {
    local d origin pid
    [[ -d "$PRIVATE_ROOT" ]] || return 0
    for d in "$PRIVATE_ROOT"/*/; do
        d="${d%/}"
        [[ -f "$d/origin" && "$d" != "$PGDIR" ]] || continue
        origin="$(<"$d/origin")"
        [[ -L "$origin/pg" && "$(readlink "$origin/pg")" == "$d" ]] && continue
        [[ -n "$(find "$d" -maxdepth 0 -mmin +1 2>/dev/null)" ]] || continue
        if [[ -f "$d/data/postmaster.pid" ]] && pid="$(head -n1 "$d/data/postmaster.pid")" &&
            [[ "$pid" =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null &&
            tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF -- "-D $d/data"; then
            log "stopping an orphaned cluster in $d ($origin is gone)"
            as_pg "$(bin pg_ctl)" stop -D "$d/data" -m immediate -w -t 10 -s >/dev/null 2>&1 ||
                kill -KILL "$pid" 2>/dev/null || true
        fi
        log "removing orphaned cluster directory $d ($origin is gone)"
        rm -rf "$d"
    done
}

# Chooses and creates the cluster's directory, owned by the user that runs it.
make_dir() {
    [[ -n "$PGDIR" ]] && return 0
    if [[ $EUID -eq 0 ]] && ! pg_reaches "$HOME_DIR"; then
        PGDIR="$PRIVATE_ROOT/$(printf '%s' "$HOME_DIR" | sha256sum | cut -c1-16)"
        install -d -m 0711 "$PRIVATE_ROOT"
        if [[ -d "$PGDIR" ]]; then
            # Left by an earlier state dir of the same path: not this one's data.
            PGDATA="$PGDIR/data"
            ! pid_of >/dev/null || die "a cluster is running in $PGDIR without $LINK pointing to it; stop it first"
            rm -rf "$PGDIR"
        fi
        install -d -o postgres -g postgres -m 0700 "$PGDIR"
        ln -sfn "$PGDIR" "$LINK"
        printf '%s\n' "$HOME_DIR" >"$PGDIR/origin"
        log "the postgres user cannot reach $HOME_DIR (a parent directory is closed to it):"
        log "  the cluster lives in $PGDIR (linked as $LINK)"
    else
        PGDIR="$LINK"
        if [[ $EUID -eq 0 ]]; then
            install -d -o postgres -g postgres -m 0700 "$PGDIR"
        else
            install -d -m 0700 "$PGDIR"
        fi
    fi
    PGDATA="$PGDIR/data"
    LOGFILE="$PGDIR/postgres.log"
}

cmd_init() {
    collect_orphans
    make_dir
    [[ -f "$PGDATA/PG_VERSION" ]] && return 0
    local t0="$EPOCHREALTIME"
    log "creating the cluster in $PGDATA"
    # Trust: it listens on 127.0.0.1 only, for this machine's tests and
    # `make run`. Locale C: FerretDB accepts C, POSIX, C.UTF8 or en_US.UTF8 and
    # UTF8 only. --no-sync: a fresh, empty cluster; the first checkpoint syncs it.
    if ! as_pg "$(bin initdb)" -D "$PGDATA" -U postgres --auth=trust --encoding=UTF8 --locale=C \
        --no-sync >"$PGDIR/initdb.log" 2>&1; then
        cat "$PGDIR/initdb.log" >&2
        rm -rf "$PGDATA"
        die "initdb failed (output above, in $PGDIR/initdb.log)"
    fi
    log "cluster created in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')s"
}

socket_dir() {
    local dir="$PGDIR/run"
    # A Unix socket path is limited to 107 bytes: a deep checkout gets a short one.
    if (( ${#dir} + 20 > 100 )); then
        dir="/tmp/clinic-events-pg-$(printf '%s' "$PGDIR" | sha256sum | cut -c1-16)"
    fi
    printf '%s\n' "$dir"
}

write_config() {
    local sock conf="$PGDATA/clinic-events.conf"
    sock="$(socket_dir)"
    if [[ $EUID -eq 0 ]]; then
        install -d -o postgres -g postgres -m 0700 "$sock"
    else
        install -d -m 0700 "$sock"
    fi
    cat >"$conf" <<EOF
# Generated by deploy/postgres/postgres.sh on each start; edit the script, not this.
listen_addresses = '127.0.0.1'
port = $PORT
unix_socket_directories = '$sock'
# Several FerretDB instances (tests, chaos), each pooling up to 50 connections.
max_connections = 200
# A dev box shared with Kafka, FerretDB, the services and the tests; the OS
# page cache holds what does not fit.
shared_buffers = 128MB
work_mem = 8MB
maintenance_work_mem = 64MB
# fsync stays on: fdatasync costs 0.1-0.3 ms here (pg_test_fsync) and commits
# from concurrent connections share it, while off would put the whole cluster
# (make run's data of weeks) at risk on a power loss. synchronous_commit stays
# on too: off would lose the last commits on a kill -9 of PostgreSQL, which
# the outage tests do and after which nothing acknowledged may be missing.
fsync = on
synchronous_commit = on
# No commit_delay (group commit by waiting): a flush costs 0.1-0.3 ms here
# and concurrent commits share it anyway; measured, the wait bought no CPU
# and the p99 at 200 finishes/s got worse (docs/operations.md).
# WAL: fewer checkpoints write fewer full-page images (the first change of a
# page after each one); crash recovery replays at most checkpoint_timeout of
# WAL. wal_compression stays off: it would spend CPU, the scarce resource
# here, to save disk writes.
wal_buffers = 16MB
checkpoint_timeout = 15min
max_wal_size = 1GB
min_wal_size = 64MB
# FerretDB v1 reads whole tables for what it cannot push down; JIT would add
# tens of ms of compilation to each of those queries.
jit = off
random_page_cost = 1.1
log_line_prefix = '%m [%p] %q%a %u@%d '
log_checkpoints = off
log_timezone = 'UTC'
timezone = 'UTC'
${POSTGRES_EXTRA_CONFIG:-}
EOF
    [[ $EUID -eq 0 ]] && chown postgres:postgres "$conf"
    grep -qxF "include 'clinic-events.conf'" "$PGDATA/postgresql.conf" ||
        printf "\n# deploy/postgres/postgres.sh\ninclude 'clinic-events.conf'\n" >>"$PGDATA/postgresql.conf"
}

wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until "$(bin pg_isready)" -q -h 127.0.0.1 -p "$PORT" -t 2; do
        if ! pid_of >/dev/null; then
            tail -n 20 "$LOGFILE" >&2 2>/dev/null || true
            die "not running (log above, in $LOGFILE)"
        fi
        (( SECONDS < deadline )) || die "not accepting connections on 127.0.0.1:$PORT after ${START_TIMEOUT}s"
        sleep 0.1
    done
}

# The database FerretDB uses, and the event trigger that gives each of its
# btree indexes a GIN twin (see gin-twins.sql): both idempotent, cheap.
prepare_db() {
    if [[ "$(psql_db postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB'")" != 1 ]]; then
        psql_db postgres -c "CREATE DATABASE \"$DB\""
        log "created database $DB"
    fi
    psql_db "$DB" -f "$TWINS_SQL" >/dev/null || die "installing $TWINS_SQL into $DB failed"
}

cmd_start() {
    local t0="$EPOCHREALTIME"
    cmd_init
    if pid_of >/dev/null; then
        log "already running (pid $(pid_of))"
        wait_ready
        prepare_db
        return 0
    fi
    port_open && die "port $PORT is already in use (another PostgreSQL? try: POSTGRES_HOME_DIR=... $0 stop)"
    write_config
    # pg_ctl puts the postmaster in a session of its own (setsid): a Ctrl-C
    # meant for the caller does not reach it; the caller stops it last.
    if ! as_pg "$(bin pg_ctl)" start -D "$PGDATA" -l "$LOGFILE" -w -t "$START_TIMEOUT" -s; then
        tail -n 20 "$LOGFILE" >&2 2>/dev/null || true
        die "did not start (log above, in $LOGFILE)"
    fi
    wait_ready
    prepare_db
    log "ready at $(url "$DB") in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')s (data in $PGDATA)"
}

# Every process of the cluster: the postmaster and its children.
cluster_pids() {
    local pid="$1"
    printf '%s\n' "$pid"
    ps -o pid= --ppid "$pid" 2>/dev/null | tr -d ' ' || true
}

cmd_stop() {
    local pid
    if ! pid="$(pid_of)"; then
        return 0
    fi
    if as_pg "$(bin pg_ctl)" stop -D "$PGDATA" -m fast -w -t "$STOP_TIMEOUT" -s; then
        log "stopped (pid $pid)"
        return 0
    fi
    log "no fast shutdown in ${STOP_TIMEOUT}s; immediate shutdown (crash recovery at the next start)"
    as_pg "$(bin pg_ctl)" stop -D "$PGDATA" -m immediate -w -t 10 -s || cmd_kill
}

cmd_kill() {
    local pid pids p deadline
    if ! pid="$(pid_of)"; then
        return 0
    fi
    mapfile -t pids < <(cluster_pids "$pid")
    # The postmaster first, so it cannot restart a child killed before it.
    for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
    deadline=$((SECONDS + 10))
    for p in "${pids[@]}"; do
        while kill -0 "$p" 2>/dev/null; do
            (( SECONDS < deadline )) || die "process $p of the cluster survives SIGKILL"
            sleep 0.05
        done
    done
    # Nothing of the cluster runs any more: the lock file is stale. Left in
    # place, a new process that reuses the pid would make the next start
    # refuse ("lock file already exists").
    rm -f "$PGDATA/postmaster.pid"
    log "killed (pid $pid)"
}

cmd_status() {
    local pid
    if pid="$(pid_of)"; then
        echo "postgres: running (pid $pid, $(url "$DB"), data in $PGDATA)"
    else
        echo "postgres: stopped"
        return 3
    fi
}

cmd_remove() {
    cmd_stop
    [[ -n "$PGDIR" ]] || return 0
    local sock
    sock="$(socket_dir)"
    [[ "$sock" == "$PGDIR"/* ]] || rm -rf "$sock"
    rm -rf "$PGDIR"
    [[ -L "$LINK" ]] && rm -f "$LINK"
    log "removed $PGDIR"
}

url() { echo "postgres://postgres@127.0.0.1:$PORT/${1:-$DB}"; }

case "${1:-}" in
    init) cmd_init ;;
    start) cmd_start ;;
    stop) cmd_stop ;;
    kill) cmd_kill ;;
    status) cmd_status ;;
    wait) [[ -n "$PGDIR" ]] || die "no cluster in $HOME_DIR"; wait_ready ;;
    url) url "${2:-}" ;;
    psql) shift; psql_db "$DB" "$@" ;;
    datadir) [[ -n "$PGDATA" ]] || die "no cluster in $HOME_DIR"; echo "$PGDATA" ;;
    remove) cmd_remove ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
