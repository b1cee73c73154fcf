#!/usr/bin/env bash
# Runs the test suites and prints one closing line: "N passed, N failed".
#   tests/run.sh              unit + integration + e2e
#   tests/run.sh unit         Check suites, the include graph, fuzz corpora replayed
#   tests/run.sh integration  pytest suites only (integration + e2e)
#   tests/run.sh chaos        the long fault and abuse scenarios (make chaos)
# BUILD (default build) selects the build tree, e.g. build/sanitize.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
BUILD=${BUILD:-build}
what=${1:-all}
passed=0
failed=0
mkdir -p var/test-results

if [ "$what" = all ] || [ "$what" = unit ]; then
  echo "== unit tests (Check)"
  for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    out=$("$t" 2>&1)
    rc=$?
    printf '%s\n' "$out" | grep -E '^[0-9]+%: Checks' | sed "s|^|  $(basename "$t"): |"
    printf '%s\n' "$out" | grep -E ':[EF]:' | sed 's/^/    /'
    checks=$(printf '%s\n' "$out" | sed -nE 's/^[0-9]+%: Checks: ([0-9]+), Failures: ([0-9]+), Errors: ([0-9]+).*/\1 \2 \3/p' | tail -n 1)
    if [ -z "$checks" ]; then
      echo "  $(basename "$t"): crashed or printed no summary (exit $rc)"
      printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
      failed=$((failed + 1))
      continue
    fi
    read -r n f e <<<"$checks"
    passed=$((passed + n - f - e))
    failed=$((failed + f + e))
    if [ "$rc" -ne 0 ] && [ $((f + e)) -eq 0 ]; then failed=$((failed + 1)); fi
  done
fi

if [ "$what" = all ] || [ "$what" = unit ]; then
  # Dependencies point down only: no include cycle, no common/ header that
  # knows a service, no header of a lower layer including a higher one.
  echo "== include graph (tests/include_graph.py)"
  out=$(python3 tests/include_graph.py 2>&1)
  rc=$?
  printf '%s\n' "$out" | sed 's/^/  /'
  if [ "$rc" -eq 0 ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
fi

if { [ "$what" = all ] || [ "$what" = unit ]; } && [[ "$BUILD" != *sanitize* ]]; then
  # make bench's C tools link the services' libraries: a library that gains a
  # dependency must not break the bench unnoticed until someone runs it.
  # (Not on the sanitize tree: the tools are built without the sanitizers.)
  echo "== bench tools build (tests/bench/run.sh, BENCH_BUILD_ONLY=1)"
  if out=$(BENCH_BUILD_ONLY=1 BUILD="$BUILD" bash tests/bench/run.sh 2>&1); then
    echo "  built"
    passed=$((passed + 1))
  else
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
    failed=$((failed + 1))
  fi
fi

if [ "$what" = all ] || [ "$what" = unit ]; then
  # The libFuzzer targets (clang, ASan + UBSan) replay their seed corpora:
  # every input a past crash was fixed for stays a regression test.
  echo "== fuzz targets over their seed corpora (make fuzz runs them for real)"
  out=$(bash tests/fuzz/run.sh --replay 2>&1)
  rc=$?
  printf '%s\n' "$out" | grep -E 'replayed|FAILED' | sed 's/^ */  /'
  ok=$(printf '%s\n' "$out" | grep -c 'replayed, ok$')
  bad=$(printf '%s\n' "$out" | grep -c 'FAILED')
  passed=$((passed + ok))
  failed=$((failed + bad))
  if [ "$rc" -ne 0 ] && [ "$bad" -eq 0 ]; then
    printf '%s\n' "$out" | tail -n 20 | sed 's/^/    /'
    failed=$((failed + 1))
  fi
fi

if [ "$what" = all ] || [ "$what" = integration ] || [ "$what" = chaos ]; then
  if [ "$what" = chaos ]; then
    echo "== chaos: faults, kill -9, rebalance, abuse (pytest, real processes)"
    suites=(tests/chaos)
  else
    echo "== integration and end-to-end tests (pytest, real broker + FerretDB on PostgreSQL + services)"
    suites=(tests/integration tests/e2e)
  fi
  xml=var/test-results/pytest-$what.xml
  rm -f "$xml"
  BUILD="$BUILD" .deps/venv/bin/python -m pytest -q -p no:cacheprovider --junitxml="$xml" \
    ${PYTEST_ARGS:-} "${suites[@]}"
  rc=$?
  if [ -f "$xml" ]; then
    read -r n f <<<"$(.deps/venv/bin/python - "$xml" <<'PY'
import sys, xml.etree.ElementTree as ET
r = ET.parse(sys.argv[1]).getroot()
suites = [r] if r.tag == "testsuite" else list(r)
t = sum(int(s.get("tests", 0)) for s in suites)
f = sum(int(s.get("failures", 0)) + int(s.get("errors", 0)) for s in suites)
sk = sum(int(s.get("skipped", 0)) for s in suites)
print(t - f - sk, f)
PY
)"
    passed=$((passed + n))
    failed=$((failed + f))
  fi
  # pytest exit 5 means "no tests collected": that is a failure of the suite here.
  if [ "$rc" -ne 0 ] && [ "${f:-0}" -eq 0 ]; then failed=$((failed + 1)); fi
fi

echo "${passed} passed, ${failed} failed"
[ "$failed" -eq 0 ]
