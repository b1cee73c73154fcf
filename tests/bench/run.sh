#!/usr/bin/env bash
# make bench: builds the bench tools (bare civetweb handler, load generator,
# raw Kafka and MongoDB clients) into $BUILD/bench/, then runs bench.py, which
# starts its own Kafka + FerretDB + services on free ports under var/bench/,
# prints one table and writes var/bench/<timestamp>.json and latest.json.
#   BENCH_SECONDS (10)       each wrk run (bare civetweb and start, 16 and 64 connections)
#   BENCH_PAIRS (5000)       start+finish pairs per offered rate ...
#   BENCH_PAIR_SECONDS (30)  ... or fewer: no pair starts after this
#   BENCH_RATES (0,200,500)  offered finishes/s, 0 = flat out
#   BENCH_PRELOAD (10000,100000)  grown-collections step sizes; 0 skips them
#   BENCH_STEPS (all)        which steps run, comma-separated (see bench.py)
#   BENCH_KAFKA_N (2000) BENCH_RELAY_N (500) BENCH_DB_N (1000)   sizes of the
#                            Kafka, outbox relay and database-alone steps
#   BENCH_REGISTRY_PAIRS (1000)  consultations over the sample registry, with
#                            REGISTRY_CHECK on and off (the start step)
#   KAFKA_JIT (full)         the broker's JIT (deploy/kafka/kafka.sh), as make run's;
#                            with full, BENCH_KAFKA_WARMUP (90) seconds of raw Kafka
#                            traffic first, so C2's compiling is not counted in the steps
# `tests/bench/run.sh profile` instead runs appointment under callgrind for
# BENCH_PROFILE_PAIRS (500) pairs: var/bench/profile-<ts>.txt.
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
out=$BUILD/bench
mkdir -p "$out"

# The project's warnings (Makefile's CFLAGS_BASE); the tools link $BUILD's
# libraries so they use the same store, event and mongo code as the services.
cflags=(-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Wall -Wextra -Werror -Wshadow
  -Wconversion -Wno-sign-conversion -Wstrict-prototypes -Wmissing-prototypes -g -O2 -pthread
  -Icommon -Iappointment -Ifinancial)
read -r -a pkg_c <<<"$(pkg-config --cflags libmongoc-1.0 libbson-1.0 rdkafka jansson libcrypto)"
read -r -a pkg_l <<<"$(pkg-config --libs libmongoc-1.0 libbson-1.0 rdkafka jansson libcrypto)"
build() { # name, extra link args...
  local name=$1
  shift
  echo "  CC    tests/bench/$name.c -> $out/$name"
  cc "${cflags[@]}" "${pkg_c[@]}" -o "$out/$name" "tests/bench/$name.c" "$@"
}
build bare_http -lcivetweb
build loadgen
build kafka_raw "$BUILD/libcommon.a" "${pkg_l[@]}" -lm
# mongo_raw uses both stores (appt_store.h, billing_store.h): every header has
# its own name, so both service folders are on the include path.
build mongo_raw "$BUILD/libappointment.a" "$BUILD/libfinancial.a" "$BUILD/libcommon.a" "${pkg_l[@]}" -lm

[ "${BENCH_BUILD_ONLY:-0}" = 1 ] && exit 0
# PYTHONPATH=tests: bench.py imports the test harness (tests/harness/).
exec env BUILD="$BUILD" BENCH_TOOLS="$out" PYTHONPATH=tests .deps/venv/bin/python tests/bench/bench.py "$@"
