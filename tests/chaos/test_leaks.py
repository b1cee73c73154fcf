"""Leaks: 10,000 requests (LEAK_REQUESTS), valid and invalid, against both
services built with AddressSanitizer + LeakSanitizer, auth on; each service
must then exit 0 on SIGTERM with no sanitizer report in its log (LSan checks
for leaks at exit and makes the exit code non-zero when it finds one).

The binaries come from BUILD_SAN (default build/sanitize, what
`make SANITIZE=1` builds; or e.g. `make BUILD=build/san EXTRA_CFLAGS=...`);
the test is skipped when they are missing. The figures go to
var/chaos/leaks.json.
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from harness import ROOT, abuse, http, iso, wait_until

pytestmark = pytest.mark.chaos

SAN = Path(os.environ.get("BUILD_SAN", "build/sanitize"))
SAN = SAN if SAN.is_absolute() else ROOT / SAN
RESULTS = ROOT / "var" / "chaos" / "leaks.json"
SAN_ENV = {"ASAN_OPTIONS": "detect_leaks=1:abort_on_error=0:detect_stack_use_after_return=0",
           "UBSAN_OPTIONS": "print_stacktrace=1:halt_on_error=1"}
TOKEN = abuse.TOKEN_ALL
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def valid_appointment_traffic(svc, n: int, rng: random.Random) -> dict[str, int]:
    """n requests of the documented kinds: starts (some with a key, some
    replayed), finishes (some again, some conflicting), reads, lists, ops."""
    counts: dict[str, int] = {}
    ids: list[str] = []
    physicians = [str(uuid.uuid4()) for _ in range(5)]

    def note(kind: str, status: int) -> None:
        counts[f"{kind} {status}"] = counts.get(f"{kind} {status}", 0) + 1

    def one(i: int) -> None:
        k = rng.random()
        if k < 0.25 or len(ids) < 5:
            body = {"physician_id": rng.choice(physicians), "patient_id": str(uuid.uuid4())}
            if rng.random() < 0.5:
                body["start_date"] = iso(datetime.now(timezone.utc) - timedelta(hours=rng.randint(1, 500)))
            hdr = dict(AUTH)
            if rng.random() < 0.2:
                hdr["Idempotency-Key"] = f"leak-{i % 50}"
            r = http("POST", svc.url(rng.choice(["/appointments", "/"])), json=body, headers=hdr)
            note("start", r.status)
            if r.status in (200, 201):  # POST / answers its start 200, as the original service did
                ids.append(r.body["id"])
        elif k < 0.45:
            aid = rng.choice(ids)
            body = rng.choice([{}, {"end_date": iso(datetime.now(timezone.utc))}, None])
            r = http("POST", svc.url(f"/appointments/{aid}/finish"), json=body if body is not None else {},
                     headers=AUTH)
            note("finish", r.status)
        elif k < 0.65:
            r = http("GET", svc.url(f"/appointments/{rng.choice(ids)}"), headers=AUTH)
            note("get", r.status)
        elif k < 0.85:
            q = rng.choice(["", f"?physician_id={rng.choice(physicians)}", "?status=finished&limit=5",
                            "?status=started&limit=100", f"?limit=3&cursor={rng.choice(ids)}"])
            r = http("GET", svc.url(f"/appointments{q}"), headers=AUTH)
            note("list", r.status)
        else:
            path = rng.choice(["/healthz", "/readyz", "/metrics", "/openapi.json", "/docs"])
            r = http("GET", svc.url(path), headers=AUTH)
            note(path, r.status)

    for i in range(20):  # a few ids first, then in parallel
        one(i)
    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(20, n)))
    return counts


def valid_financial_traffic(svc, n: int, rng: random.Random, appointment_ids: list[str]) -> dict[str, int]:
    counts: dict[str, int] = {}

    def one(_: int) -> None:
        k = rng.random()
        if k < 0.35 and appointment_ids:
            path = rng.choice(["/billings/", "/"]) + rng.choice(appointment_ids)
            kind = "get"
        elif k < 0.6:
            path = rng.choice(["/billings", "/billings?limit=5", "/billings?from=2020-01-01T00:00:00Z",
                               f"/billings?limit=2&cursor={uuid.uuid4()}"])
            kind = "list"
        elif k < 0.85:
            path = "/billings/summary?group_by=" + rng.choice(["physician", "patient", "day"])
            kind = "summary"
        else:
            path = rng.choice(["/healthz", "/readyz", "/metrics", "/openapi.json"])
            kind = path
        r = http("GET", svc.url(path), headers=AUTH)
        counts[f"{kind} {r.status}"] = counts.get(f"{kind} {r.status}", 0) + 1

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, range(n)))
    return counts


def test_no_leaks_over_10000_requests(start_service, stack, topic):
    for name in ("appointment", "financial"):
        if not os.access(SAN / name, os.X_OK):
            pytest.skip(f"no sanitizer build at {SAN} (make SANITIZE=1, or set BUILD_SAN)")
    total = int(os.environ.get("LEAK_REQUESTS", "10000"))
    rng = random.Random(int(os.environ.get("LEAK_SEED", "7")))
    env = dict(KAFKA_TOPIC=topic, KAFKA_DLQ_TOPIC=topic + ".dlq", AUTH_TOKENS=abuse.AUTH_TOKENS,
               HTTP_HOST="127.0.0.1", HTTP_REQUEST_TIMEOUT_MS=2000, OUTBOX_RELAY_INTERVAL_MS=200, **SAN_ENV)
    fin = start_service("financial", binary=SAN / "financial", **env)
    appt = start_service("appointment", binary=SAN / "appointment", **env)
    t0 = time.monotonic()

    quarter = total // 4
    a_valid = valid_appointment_traffic(appt, quarter, rng)
    r = http("GET", appt.url("/appointments?status=finished&limit=100"), headers=AUTH)
    finished = [x["id"] for x in r.body["items"]]
    wait_until(lambda: all(http("GET", fin.url(f"/billings/{i}"), headers=AUTH).status == 200
                           for i in finished[:10]), 60, message="billings of finished appointments")
    f_valid = valid_financial_traffic(fin, quarter, rng, finished)
    existing_bill = finished[0] if finished else str(uuid.uuid4())
    existing_appt = http("POST", appt.url("/appointments"), json={"physician_id": abuse.PHYS, "patient_id": abuse.PAT},
                         headers=AUTH).body["id"]
    a_bad = abuse.run(appt.port, abuse.cases("appointment", quarter, rng.randrange(1 << 30), existing_appt, TOKEN))
    f_bad = abuse.run(fin.port, abuse.cases("financial", quarter, rng.randrange(1 << 30), existing_bill, TOKEN))
    seconds = time.monotonic() - t0
    requests = sum(a_valid.values()) + sum(f_valid.values()) + a_bad.requests + f_bad.requests

    codes = {"appointment": appt.stop(timeout=120), "financial": fin.stop(timeout=120)}
    reports = {}
    for svc in (appt, fin):
        log = svc.log_text()
        reports[svc.name] = [m for m in ("LeakSanitizer", "AddressSanitizer", "runtime error:") if m in log]
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "requests": requests, "seconds": round(seconds, 1), "exit_codes": codes, "sanitizer_reports": reports,
        "appointment_valid": a_valid, "financial_valid": f_valid,
        "appointment_invalid": dict(a_bad.statuses), "financial_invalid": dict(f_bad.statuses),
        "invalid_5xx": a_bad.server_errors + f_bad.server_errors, "binaries": str(SAN)}, indent=2) + "\n")
    print(f"\nleaks: {requests} requests in {seconds:.0f}s; exit codes {codes}; sanitizer reports {reports}")
    assert not any(reports.values()), f"sanitizer reports: {reports} (see the logs)"
    assert codes == {"appointment": 0, "financial": 0}, codes
    assert a_bad.server_errors + f_bad.server_errors == 0
    assert not any(k.endswith(" 500") for k in {**a_valid, **f_valid}), (a_valid, f_valid)
