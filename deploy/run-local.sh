#!/usr/bin/env bash
# `make run`: the whole local system in the foreground. Starts FerretDB and a
# 1-node Kafka (state under var/), then build/appointment and build/financial
# if they are built, their JSON logs on the terminal (prefixed) and in
# var/log/<service>.log. Ctrl-C or SIGTERM stops what this script started:
# services first, then Kafka, then FerretDB.
#
# Environment: BUILD (build), APPOINTMENT_PORT (8080), FINANCIAL_PORT (8081);
# anything else (LOG_LEVEL, auth tokens, ...) is passed on to the services.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
BUILD_DIR="${BUILD:-build}"
[[ "$BUILD_DIR" == /* ]] || BUILD_DIR="$ROOT/$BUILD_DIR"
VAR="$ROOT/var"
KAFKA="$ROOT/deploy/kafka/kafka.sh"
FERRETDB="$ROOT/deploy/ferretdb/ferretdb.sh"
APPOINTMENT_PORT="${APPOINTMENT_PORT:-8080}"
FINANCIAL_PORT="${FINANCIAL_PORT:-8081}"

export KAFKA_HOME_DIR="$VAR/kafka" KAFKA_PORT=9092 KAFKA_CONTROLLER_PORT=9093 KAFKA_NODES=1
export FERRETDB_HOME_DIR="$VAR/ferretdb" FERRETDB_PORT=27017
MONGODB_URI="mongodb://127.0.0.1:27017/clinic"
KAFKA_BOOTSTRAP="127.0.0.1:9092"

say() { printf 'run: %s\n' "$*" >&2; }

started_kafka=0 started_ferretdb=0
declare -A svc_pid=()

cleanup() {
    trap '' INT TERM
    local name pid deadline
    for name in "${!svc_pid[@]}"; do
        pid="${svc_pid[$name]}"
        kill -0 "$pid" 2>/dev/null && { say "stopping $name (pid $pid)"; kill -TERM "$pid" 2>/dev/null || true; }
    done
    deadline=$((SECONDS + 20))
    for name in "${!svc_pid[@]}"; do
        pid="${svc_pid[$name]}"
        while kill -0 "$pid" 2>/dev/null; do
            if (( SECONDS >= deadline )); then
                say "$name did not exit in 20s; SIGKILL"
                kill -KILL "$pid" 2>/dev/null || true
            fi
            sleep 0.1
        done
        wait "$pid" 2>/dev/null || true
    done
    # Let the log prefixers drain the services' last lines.
    sleep 0.2
    if (( started_kafka )); then say "stopping Kafka"; "$KAFKA" stop || true; fi
    if (( started_ferretdb )); then say "stopping FerretDB"; "$FERRETDB" stop || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The services find repo-relative defaults (e.g. .deps/swagger-ui) from here.
cd "$ROOT"
mkdir -p "$VAR/log"

# A stack left running (another `make run`, a manual start) is reused and
# left running on exit.
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
    HTTP_PORT="$port" MONGODB_URI="$MONGODB_URI" KAFKA_BOOTSTRAP="$KAFKA_BOOTSTRAP" \
        setsid "$bin" </dev/null > >(trap '' INT; tee -a "$logf" | sed -u "s/^/$prefix/" >&2) 2>&1 &
    svc_pid[$name]=$!
}

start_service appointment "$APPOINTMENT_PORT"
start_service financial "$FINANCIAL_PORT"

cat >&2 <<EOF

  appointment   http://127.0.0.1:$APPOINTMENT_PORT   (docs: /docs, metrics: /metrics)
  financial     http://127.0.0.1:$FINANCIAL_PORT   (docs: /docs, metrics: /metrics)
  Kafka         $KAFKA_BOOTSTRAP   (topic appointment.finished; see it with: make topic)
  MongoDB       $MONGODB_URI   (FerretDB)
  logs          var/log/appointment.log var/log/financial.log, var/kafka/node1/logs, var/ferretdb/ferretdb.log

  Ctrl-C stops everything.

EOF

# Foreground until a signal; report a service that dies on its own.
declare -A reported=()
while :; do
    for name in "${!svc_pid[@]}"; do
        if [[ -z "${reported[$name]:-}" ]] && ! kill -0 "${svc_pid[$name]}" 2>/dev/null; then
            rc=0
            wait "${svc_pid[$name]}" || rc=$?
            say "$name exited with status $rc (log: var/log/$name.log)"
            reported[$name]=1
        fi
    done
    sleep 1 &
    wait $! || true
done
