#!/usr/bin/env bash
# libFuzzer targets for the pure parsers and request validators (make fuzz):
#   tests/fuzz/run.sh                 build, then fuzz each target FUZZ_SECONDS (default 60)
#   tests/fuzz/run.sh --replay        build, then run each target once over its seed corpus
#   tests/fuzz/run.sh fuzz_json ...   only the named targets (either mode)
# Targets are built with clang -fsanitize=fuzzer,address,undefined from the
# project's sources into build/fuzz/. Fuzzing works on a copy of the committed
# corpus under var/fuzz/<target>/corpus (new inputs never go into tests/fuzz/),
# and a crash leaves its input as var/fuzz/<target>/crash-* (exit status 1).
set -uo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

CLANG=${CLANG:-clang}
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
out=build/fuzz
work=var/fuzz
mode=fuzz
targets=()
for a in "$@"; do
  case "$a" in
    --replay) mode=replay ;;
    -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
    *) targets+=("$a") ;;
  esac
done
all=(fuzz_json fuzz_timefmt fuzz_event fuzz_uuid fuzz_money fuzz_request fuzz_jwt fuzz_http_parse)
[ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")

# What each target links: only pure modules, never Kafka or MongoDB.
pure="common/alloc.c common/buf.c common/json.c common/money.c common/timefmt.c common/uuid.c"
srcs_fuzz_json="$pure"
srcs_fuzz_timefmt="common/timefmt.c"
srcs_fuzz_uuid="common/uuid.c"
srcs_fuzz_money="common/money.c"
srcs_fuzz_event="$pure common/event.c"
srcs_fuzz_request="$pure common/problem.c common/query.c appointment/appt_request.c appointment/appt_finished_request.c financial/billing_request.c"
# common/query.c reads parameters with civetweb's mg_get_var2 (pure, not instrumented).
libs_fuzz_request="-lcivetweb"
# The JWT half of auth (common/auth_jwt.c) whole: auth_jwt_inspect is pure, the
# key, signature and cache code links libjwt and libcrypto; common/auth.c holds
# the scopes, client ids and auth_check it is reached through.
srcs_fuzz_jwt="$pure common/auth.c common/auth_jwt.c"
libs_fuzz_jwt="-ljwt -ljansson -lcrypto"
# The request-line and header readers of the HTTP layer (common/http_parse.c).
srcs_fuzz_http_parse="common/http_parse.c common/uuid.c"

if ! command -v "$CLANG" >/dev/null; then
  echo "fuzz: $CLANG not found (make deps installs clang and libclang-rt-14-dev)" >&2
  exit 2
fi
# libmongoc's headers only (nothing links libmongoc): the request parsers fill
# the stores' query structs (billing_request.h, appt_request.h).
pkg_cflags=$(pkg-config --cflags libmongoc-1.0 libbson-1.0 jansson)
pkg_libs=$(pkg-config --libs libbson-1.0 jansson)
cflags=(-std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -g -O1 -fno-omit-frame-pointer
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined
        -Wall -Wextra -Werror -Wshadow -Wconversion -Wno-sign-conversion
        -Icommon -Iappointment -Ifinancial $pkg_cflags)

mkdir -p "$out" "$work"
for t in "${targets[@]}"; do
  var="srcs_$t"
  if [ -z "${!var:-}" ] || [ ! -f "tests/fuzz/$t.c" ]; then
    echo "fuzz: unknown target $t (known: ${all[*]})" >&2
    exit 2
  fi
  libvar="libs_$t"
  # shellcheck disable=SC2086
  srcs=(tests/fuzz/$t.c ${!var})
  newest=$(ls -t "${srcs[@]}" common/*.h appointment/*.h financial/*.h tests/fuzz/run.sh 2>/dev/null | head -n 1)
  if [ ! -x "$out/$t" ] || [ "$newest" -nt "$out/$t" ]; then
    echo "  CLANG $out/$t"
    if ! "$CLANG" "${cflags[@]}" -o "$out/$t" "${srcs[@]}" $pkg_libs ${!libvar:-} -lm -pthread; then
      echo "fuzz: building $t failed" >&2
      exit 2
    fi
  fi
done

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

if [ "$mode" = replay ]; then
  failed=0
  for t in "${targets[@]}"; do
    files=(tests/fuzz/corpus/"$t"/*)
    [ -e "${files[0]}" ] || { echo "  $t: no seed corpus"; failed=1; continue; }
    log="$work/$t.replay.log"
    if "$out/$t" -runs=1 "${files[@]}" >"$log" 2>&1; then
      echo "  $t: ${#files[@]} inputs replayed, ok"
    else
      echo "  $t: FAILED replaying its corpus (see $log)"
      grep -E 'ERROR|runtime error|Running:' "$log" | tail -n 5 | sed 's/^/    /'
      failed=1
    fi
  done
  exit $failed
fi

status=0
printf '%-16s %12s %9s %7s %7s %8s\n' target executions exec/s cov ft crashes
for t in "${targets[@]}"; do
  dir="$work/$t"
  mkdir -p "$dir/corpus"
  cp -n tests/fuzz/corpus/"$t"/* "$dir/corpus/" 2>/dev/null || true
  dict=()
  [ -f "tests/fuzz/$t.dict" ] && dict=(-dict="tests/fuzz/$t.dict")
  log="$dir/fuzz.log"
  : >"$log"
  # A timeout on a busy machine (other jobs starving this one) is not a hang:
  # it counts only if the input is still slow when run again on its own, and
  # fuzzing then resumes for the rest of FUZZ_SECONDS (at most 3 times).
  flaky=""
  new=""
  execs=0
  start=$SECONDS
  for attempt in 1 2 3 4; do
    left=$((FUZZ_SECONDS - (SECONDS - start)))
    [ $left -gt 0 ] || break
    stamp="$dir/.started"
    : >"$stamp"
    "$out/$t" -max_total_time="$left" -timeout=5 -rss_limit_mb=2048 -max_len=4096 \
      -print_final_stats=1 -artifact_prefix="$dir/" "${dict[@]}" "$dir/corpus" >>"$log" 2>&1
    rc=$?
    n=$(sed -nE 's/^stat::number_of_executed_units: *([0-9]+).*/\1/p' "$log" | tail -n 1)
    execs=$((execs + ${n:-0}))
    new=$(find "$dir" -maxdepth 1 -newer "$stamp" \
      \( -name 'crash-*' -o -name 'leak-*' -o -name 'oom-*' -o -name 'timeout-*' \) | sort)
    retry=0
    for f in $new; do
      case "$f" in
        */timeout-*)
          if "$out/$t" -timeout=5 -runs=3 "$f" >/dev/null 2>&1; then
            mv "$f" "$dir/flaky-$(basename "$f")"
            flaky="$flaky $dir/flaky-$(basename "$f")"
            new=$(printf '%s\n' $new | grep -vxF "$f")
            retry=1
          fi ;;
      esac
    done
    [ $retry -eq 1 ] && [ -z "$new" ] && [ $attempt -lt 4 ] || break
  done
  crashes=$(printf '%s\n' $new | grep -c . || true)
  [ $rc -ne 0 ] && [ $crashes -eq 0 ] && [ -z "$flaky" ] && crashes=1
  elapsed=$((SECONDS - start))
  eps=$((execs / (elapsed > 0 ? elapsed : 1)))
  last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
  cov=$(sed -nE 's/.* cov: ([0-9]+).*/\1/p' <<<"$last")
  ft=$(sed -nE 's/.* ft: ([0-9]+).*/\1/p' <<<"$last")
  printf '%-16s %12s %9s %7s %7s %8s\n' "$t" "$execs" "$eps" "${cov:-?}" "${ft:-?}" "$crashes"
  for f in $flaky; do
    echo "    note: a timeout that does not reproduce alone (machine overloaded?), kept as $f"
  done
  if [ "$crashes" -gt 0 ]; then
    status=1
    grep -E 'ERROR: |runtime error|SUMMARY' "$log" | head -n 3 | sed 's/^/    /'
    printf '%s\n' $new | sed 's/^/    /'
    echo "    log: $log"
  fi
done
exit $status
