#!/usr/bin/env bash
# `make run`: the whole local system in the foreground. Starts PostgreSQL,
# FerretDB on it and a 1-node Kafka (state under var/), then build/appointment
# and build/financial if they are built, their JSON logs on the terminal
# (prefixed) and in var/log/<service>.log, and a Prometheus on 127.0.0.1 that
# scrapes them with deploy/prometheus/'s alert rules (data in var/prometheus,
# log in var/log/prometheus.log; skipped when not installed or its port is
# taken). Ctrl-C or SIGTERM stops what this script started, in reverse order:
# services and Prometheus, Kafka, FerretDB, PostgreSQL; the exit status is 0
# when everything stopped cleanly, 1 when something did not.
#
# At its first start on an empty database it loads the sample registry (60
# physicians, 2,000 patients: deploy/registry.py load-sample --if-empty).
#
# Environment: BUILD (build), APPOINTMENT_PORT (8080), FINANCIAL_PORT (8081),
# PROMETHEUS_PORT (9090), POSTGRES_PORT (5433), KAFKA_JIT (full); anything else (LOG_LEVEL, auth
# tokens, ...) is passed on to the services.
set -euo pipefail

# Under make, a Ctrl-C on the terminal also reaches make, which then ends with
# "Interrupt" and status 130 whatever this script does. So on a terminal the
# script runs itself again as a job of its own (bash job control: its own
# process group, given the terminal): Ctrl-C reaches only that job, which
# stops everything and exits 0, and so does make. If this outer shell is
# killed (make got SIGTERM), the job sees it and stops the same way.
if [[ -z "${RUN_LOCAL_JOB:-}" && -t 0 && -t 2 ]]; then
    set -m
    rc=0
    RUN_LOCAL_JOB=$$ bash "${BASH_SOURCE[0]}" "$@" || rc=$?
    exit "$rc"
fi

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD:-build}"
[[ "$BUILD_DIR" == /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
VAR="$ROOT/var"
KAFKA="$ROOT/deploy/kafka/kafka.sh"
FERRETDB="$ROOT/deploy/ferretdb/ferretdb.sh"
POSTGRES="$ROOT/deploy/postgres/postgres.sh"
APPOINTMENT_PORT="${APPOINTMENT_PORT:-8080}"
FINANCIAL_PORT="${FINANCIAL_PORT:-8081}"
PROMETHEUS_PORT="${PROMETHEUS_PORT:-9090}"

export KAFKA_HOME_DIR="$VAR/kafka" KAFKA_PORT=9092 KAFKA_CONTROLLER_PORT=9093 KAFKA_NODES=1
# A broker that runs for hours: C2 as well (deploy/kafka/kafka.sh, KAFKA_JIT).
export KAFKA_JIT="${KAFKA_JIT:-full}"
export POSTGRES_HOME_DIR="$VAR/postgres" POSTGRES_PORT="${POSTGRES_PORT:-5433}" POSTGRES_DB=ferretdb
export FERRETDB_HOME_DIR="$VAR/ferretdb" FERRETDB_PORT=27017
export FERRETDB_POSTGRES_URL="postgres://postgres@127.0.0.1:$POSTGRES_PORT/ferretdb"
MONGODB_URI="mongodb://127.0.0.1:27017/clinic"
KAFKA_BOOTSTRAP="127.0.0.1:9092"

say() { printf 'run: %s\n' "$*" >&2; }

started_kafka=0 started_ferretdb=0 started_postgres=0
declare -A svc_pid=() reported=()

# Stops what this script started, in reverse order; returns how many did not
# stop cleanly (a service that needed SIGKILL or exited non-zero, a script
# that failed).
stop_all() {
    local name pid deadline rc failed=0
    local -A killed=()
    for name in "${!svc_pid[@]}"; do
        pid="${svc_pid[$name]}"
        kill -0 "$pid" 2>/dev/null && { say "stopping $name (pid $pid)"; kill -TERM "$pid" 2>/dev/null || true; }
    done
    deadline=$((SECONDS + 20))
    for name in "${!svc_pid[@]}"; do
        pid="${svc_pid[$name]}"
        while kill -0 "$pid" 2>/dev/null; do
            if (( SECONDS >= deadline )) && [[ -z "${killed[$name]:-}" ]]; then
                say "$name did not exit in 20s; SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
                killed[$name]=1
            fi
            sleep 0.1
        done
        rc=0
        wait "$pid" 2>/dev/null || rc=$?
        if [[ -n "${killed[$name]:-}" ]]; then
            failed=$((failed + 1))
        elif [[ -z "${reported[$name]:-}" && $rc -ne 0 ]]; then
            say "$name exited with status $rc on SIGTERM (log: var/log/$name.log)"
            failed=$((failed + 1))
        fi
    done
    # Let the log prefixers drain the services' last lines.
    sleep 0.2
    if (( started_kafka )); then say "stopping Kafka"; "$KAFKA" stop || failed=$((failed + 1)); fi
    if (( started_ferretdb )); then say "stopping FerretDB"; "$FERRETDB" stop || failed=$((failed + 1)); fi
    if (( started_postgres )); then say "stopping PostgreSQL"; "$POSTGRES" stop || failed=$((failed + 1)); fi
    return "$failed"
}

# On every way out: an error while starting, Ctrl-C, SIGTERM. Exit 0 only when
# asked to stop (or nothing was left to run) and everything stopped cleanly.
stopping=0
finish() {
    local rc=$? failed=0
    trap '' INT TERM HUP
    stop_all || failed=$?
    if (( stopping && failed == 0 )); then
        say "stopped cleanly"
        exit 0
    fi
    (( failed == 0 )) || say "$failed part(s) did not stop cleanly"
    exit $(( rc != 0 ? rc : 1 ))
}
trap finish EXIT
trap 'stopping=1; exit 0' INT TERM HUP

# The services find repo-relative defaults (e.g. .deps/swagger-ui) from here.
cd "$ROOT"
mkdir -p "$VAR/log"

# A stack left running (another `make run`, a manual start) is reused and
# left running on exit.
if "$POSTGRES" status >/dev/null 2>&1; then
    say "PostgreSQL already running; reusing it"
else
    started_postgres=1
    "$POSTGRES" start
fi
if "$FERRETDB" status >/dev/null 2>&1; then
    say "FerretDB already running; reusing it"
else
    started_ferretdb=1
    "$FERRETDB" start
fi
if "$KAFKA" status >/dev/null 2>&1; then
    say "Kafka already running; reusing it"
    "$KAFKA" topics >/dev/null
else
    started_kafka=1
    "$KAFKA" start
fi

start_service() {
    local name="$1" port="$2" bin="$BUILD_DIR/$1" logf="$VAR/log/$1.log"
    if [[ ! -x "$bin" ]]; then
        say "$bin not built; skipping $name"
        return 0
    fi
    local prefix="[$name] "
    if [[ -t 2 ]]; then
        case "$name" in appointment) prefix=$'\033[36m'"[$name]"$'\033[0m ' ;; *) prefix=$'\033[35m'"[$name]"$'\033[0m ' ;; esac
    fi
    printf '\n=== %s started %s ===\n' "$name" "$(date -u +%FT%TZ)" >>"$logf"
    # Own session (setsid) so the terminal's Ctrl-C reaches only this script,
    # which then stops the services in order; the prefixer ignores SIGINT so
    # it still shows the services' last lines.
    # APPOINTMENT_URL: financial's reconciliation asks the appointment service.
    HTTP_PORT="$port" MONGODB_URI="$MONGODB_URI" KAFKA_BOOTSTRAP="$KAFKA_BOOTSTRAP" \
        APPOINTMENT_URL="${APPOINTMENT_URL:-http://127.0.0.1:$APPOINTMENT_PORT}" setsid "$bin" </dev/null > >(trap '' INT HUP; tee -a "$logf" | sed -u "s/^/$prefix/" >&2) 2>&1 &
    svc_pid[$name]=$!
}

# At the first start (no physician yet) the registry gets the sample, as
# `make load-sample` does: 60 physicians and 2,000 patients
# (deploy/registry.py). A registry that has physicians is left alone.
load_sample() {
    local py="$ROOT/.deps/venv/bin/python" url="http://127.0.0.1:$APPOINTMENT_PORT" out line rc=0
    [[ -n "${svc_pid[appointment]:-}" ]] || return 0
    if [[ ! -x "$py" ]]; then
        say "no .deps/venv (make deps): sample registry not loaded"
        return 0
    fi
    local deadline=$((SECONDS + 60))
    until curl -sf -o /dev/null "$url/readyz"; do
        if (( SECONDS >= deadline )) || ! kill -0 "${svc_pid[appointment]}" 2>/dev/null; then
            say "appointment not ready within 60 s: sample registry not loaded (make load-sample)"
            return 0
        fi
        sleep 0.5
    done
    out=$(APPOINTMENT_URL="$url" "$py" "$ROOT/deploy/registry.py" load-sample --if-empty 2>&1) || rc=$?
    while IFS= read -r line; do say "registry: $line"; done <<<"$out"
    (( rc == 0 )) || say "registry: load-sample exited with status $rc (make load-sample retries it)"
}

start_service appointment "$APPOINTMENT_PORT"
start_service financial "$FINANCIAL_PORT"
load_sample

# Prometheus with the alert rules, on 127.0.0.1 only: its config is
# deploy/prometheus/prometheus.yml with this run's ports and the rules' full
# path. It makes no remote call (no remote write, no update check).
prometheus_url="(not started)"
start_prometheus() {
    local bin dir="$VAR/prometheus"
    if ! bin=$(command -v prometheus); then
        say "prometheus is not installed (make deps); running without it"
        return 0
    fi
    if (exec 3<>"/dev/tcp/127.0.0.1/$PROMETHEUS_PORT") 2>/dev/null; then
        say "port $PROMETHEUS_PORT is taken; running without Prometheus (set PROMETHEUS_PORT)"
        return 0
    fi
    mkdir -p "$dir/data"
    sed -e "s/127\.0\.0\.1:8080/127.0.0.1:$APPOINTMENT_PORT/" \
        -e "s/127\.0\.0\.1:8081/127.0.0.1:$FINANCIAL_PORT/" \
        -e "s|^  - alerts\.yml\$|  - $ROOT/deploy/prometheus/alerts.yml|" \
        "$ROOT/deploy/prometheus/prometheus.yml" >"$dir/prometheus.yml"
    printf '\n=== prometheus started %s ===\n' "$(date -u +%FT%TZ)" >>"$VAR/log/prometheus.log"
    setsid "$bin" --config.file="$dir/prometheus.yml" --storage.tsdb.path="$dir/data" \
        --storage.tsdb.retention.time=7d --web.listen-address="127.0.0.1:$PROMETHEUS_PORT" \
        </dev/null >>"$VAR/log/prometheus.log" 2>&1 &
    svc_pid[prometheus]=$!
    prometheus_url="http://127.0.0.1:$PROMETHEUS_PORT   (alerts: /alerts; rules: deploy/prometheus/alerts.yml)"
}
start_prometheus

cat >&2 <<EOF

  appointment   http://127.0.0.1:$APPOINTMENT_PORT   (docs: /docs, metrics: /metrics)
  financial     http://127.0.0.1:$FINANCIAL_PORT   (docs: /docs, metrics: /metrics)
  Prometheus    $prometheus_url
  Kafka         $KAFKA_BOOTSTRAP   (topic appointment.finished; see it with: make topic)
  MongoDB       $MONGODB_URI   (FerretDB)
  PostgreSQL    $FERRETDB_POSTGRES_URL   (under FerretDB; psql: bash deploy/postgres/postgres.sh psql)
  logs          var/log/appointment.log var/log/financial.log var/log/prometheus.log, var/kafka/node1/logs,
                var/ferretdb/ferretdb.log, var/postgres/pg/postgres.log

  Ctrl-C (or kill -TERM $$) stops everything.

EOF

# Foreground until a signal; report a service that dies on its own. Under the
# terminal wrapper above, its shell going away (make was stopped) is a stop too.
while :; do
    for name in "${!svc_pid[@]}"; do
        if [[ -z "${reported[$name]:-}" ]] && ! kill -0 "${svc_pid[$name]}" 2>/dev/null; then
            rc=0
            wait "${svc_pid[$name]}" || rc=$?
            say "$name exited with status $rc (log: var/log/$name.log)"
            reported[$name]=1
        fi
    done
    if [[ -n "${RUN_LOCAL_JOB:-}" ]] && ! kill -0 "$RUN_LOCAL_JOB" 2>/dev/null; then
        say "the calling shell is gone; stopping"
        stopping=1
        exit 0
    fi
    sleep 1 &
    wait $! || true
done
