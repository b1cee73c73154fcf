#!/usr/bin/env bash
# PostgreSQL's plan for the equality lookups FerretDB pushes down, so a bench
# or a human can see an index scan (or a table scan) for each hot query.
#
#   explain.sh [--analyze] [--json] DB COLLECTION FIELD JSON [COLLECTION FIELD JSON ...]
#
# For each (collection, top-level field, JSON value) of the MongoDB database
# DB it finds the collection's table in FerretDB's metadata
# ("DB"._ferretdb_database_metadata) and explains what FerretDB 1.24 sends for
# {FIELD: value}:
#     SELECT _jsonb FROM "DB"."<table>" WHERE _jsonb->'FIELD' @> 'JSON'
# e.g.  explain.sh --analyze clinic appointments _id '"0190d5a4-…"' \
#           appointments physician_id '"2b3c1a5e-…"'
#
#   --analyze  run the query too (EXPLAIN ANALYZE): actual rows and time
#   --json     one JSON object per line: db, collection, field, value, table,
#              index (names of the indexes used, [] if none), scan (true when
#              a table is read in full), ms (execution time, with --analyze),
#              plan (PostgreSQL's EXPLAIN (FORMAT JSON))
#
# Environment: POSTGRES_URL (postgres://postgres@127.0.0.1:$POSTGRES_PORT/ferretdb),
# POSTGRES_PORT (5433).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# shellcheck source=deploy/postgres/pgbin.sh
source "$ROOT/deploy/postgres/pgbin.sh"

URL="${POSTGRES_URL:-postgres://postgres@127.0.0.1:${POSTGRES_PORT:-5433}/ferretdb}"

die() { printf 'explain: ERROR: %s\n' "$*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }

analyze=0 json=0
while [[ $# -gt 0 && "$1" == --* ]]; do
    case "$1" in
        --analyze) analyze=1 ;;
        --json) json=1 ;;
        --help) usage ;;
        *) die "unknown option $1" ;;
    esac
    shift
done
[[ $# -ge 4 && $(( ($# - 1) % 3 )) -eq 0 ]] || usage
db="$1"
shift
(( json == 0 )) || command -v jq >/dev/null 2>&1 || die "--json needs jq ('make deps' installs it)"
bindir="$(pg_bindir)" || die "PostgreSQL client binaries not found: run 'make deps'"

# psql's own quoting (:'var' literal, :"var" identifier) keeps names and
# values out of the SQL text.
q() { "$bindir/psql" -X -q -At -v ON_ERROR_STOP=1 -d "$URL" "$@"; }

while [[ $# -gt 0 ]]; do
    coll="$1" field="$2" value="$3"
    shift 3
    table="$(q -v db="$db" -v coll="$coll" <<'SQL'
SELECT _jsonb->>'table' FROM :"db"._ferretdb_database_metadata WHERE _jsonb->>'_id' = :'coll'
SQL
)" || die "cannot read FerretDB's metadata of database $db at $URL"
    [[ -n "$table" ]] || die "database $db has no collection $coll"
    opts="FORMAT $([[ $json == 1 ]] && echo JSON || echo TEXT)"
    (( analyze )) && opts="ANALYZE, BUFFERS, $opts"
    plan="$(q -v db="$db" -v table="$table" -v field="$field" -v value="$value" -v opts="$opts" <<'SQL'
EXPLAIN (:opts) SELECT _jsonb FROM :"db".:"table" WHERE _jsonb->:'field' @> :'value'::jsonb
SQL
)" || die "EXPLAIN failed for $coll.$field @> $value"
    if (( json )); then
        jq -c --arg db "$db" --arg coll "$coll" --arg field "$field" --arg value "$value" \
            --arg table "$table" '
            .[0] as $top
            | [$top.Plan | .. | objects | select(has("Node Type"))] as $nodes
            | {db: $db, collection: $coll, field: $field, value: $value, table: $table,
               index: [$nodes[] | select(has("Index Name")) | ."Index Name"] | unique,
               scan: any($nodes[]; ."Node Type" == "Seq Scan"),
               ms: $top."Execution Time",
               plan: $top}' <<<"$plan"
    else
        printf '== %s.%s @> %s  (table "%s"."%s")\n%s\n\n' "$coll" "$field" "$value" "$db" "$table" "$plan"
    fi
done
