#!/usr/bin/env bash
# `make topic`: print every message of appointment.finished and its dead-letter
# topic, with partition, offset, key, headers and value (kcat; exits at the end).
#   deploy/topic.sh          both topics from the beginning
#   deploy/topic.sh -f       follow appointment.finished (Ctrl-C to stop)
# Environment: KAFKA_BOOTSTRAP (127.0.0.1:9092), TOPIC (appointment.finished).
set -euo pipefail

BOOTSTRAP="${KAFKA_BOOTSTRAP:-127.0.0.1:9092}"
TOPIC="${TOPIC:-appointment.finished}"
FORMAT='--- %t  partition %p  offset %o  timestamp %T
key:     %k
headers: %h
value:   %s
'

command -v kcat >/dev/null || { echo "topic: kcat not found: run 'make deps'" >&2; exit 1; }
if ! kcat -L -b "$BOOTSTRAP" -m 3 >/dev/null 2>&1; then
    echo "topic: no Kafka at $BOOTSTRAP (start it with 'make run')" >&2
    exit 1
fi

if [[ "${1:-}" == "-f" ]]; then
    exec kcat -C -q -u -b "$BOOTSTRAP" -t "$TOPIC" -o beginning -f "$FORMAT"
fi
for t in "$TOPIC" "$TOPIC.dlq"; do
    printf '=== %s ===\n' "$t"
    kcat -C -q -b "$BOOTSTRAP" -t "$t" -o beginning -e -f "$FORMAT"
done
