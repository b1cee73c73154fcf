"""Helpers of the chaos scenarios (tests/chaos/test_*.py) and the soak
(tests/soak.py).

The rest of the harness (stack, services, Kafka and MongoDB clients) is
shared with every suite; this module adds what only these long scenarios
need: a client that finishes consultations the way a real client does
(retrying until it gets an answer), the reconciliation of a scenario's own
appointments, and the result line every scenario prints and appends to
var/chaos/results.jsonl:

  scenario=... sent=N billed=N lost=N doubled=N mismatched=N duration=S

  sent        consultations finished (answered 200 by the appointment API)
  billed      of those, how many have exactly the right billing
  lost        finished but not billed (reconcile's "missing")
  doubled     billing documents beyond one per appointment, plus billings of
              appointments that were never finished (reconcile's "extra")
"""

from __future__ import annotations

import json
import random
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta
from typing import Any, Iterable

from harness.http_client import http
from harness.kafka_client import consume
from harness.mongo import mongo_client
from harness.paths import ROOT
from harness.processes import APPOINTMENT_ENV, FINANCIAL_ENV, appointment_env, financial_env
from harness.reconcile import format_report, is_clean, reconcile
from harness.util import iso, now

RESULTS = ROOT / "var" / "chaos" / "results.jsonl"
PHYSICIANS = [str(uuid.UUID(int=random.Random(i).getrandbits(128), version=4)) for i in range(8)]
PATIENTS = [str(uuid.UUID(int=random.Random(100 + i).getrandbits(128), version=4)) for i in range(40)]


# ---------------------------------------------------------------- a client that retries

class Gone(Exception):
    """The service did not answer usefully before the client gave up."""


def call(method: str, url: str, json_body: Any = None, deadline: float | None = None,
         ok: Iterable[int] = (200, 201), timeout: float = 10.0):
    """One logical request, retried like a client would: on a refused or cut
    connection, a timeout or a 503 (honouring Retry-After, capped at 1 s),
    until `deadline` (monotonic). Returns the Response with a status in `ok`;
    another status is returned as is (the caller decides)."""
    deadline = deadline or time.monotonic() + 120
    attempts = 0
    last: Any = None
    while time.monotonic() < deadline:
        attempts += 1
        try:
            r = http(method, url, json=json_body, timeout=timeout)
        except OSError as e:  # refused, reset, timed out: the process is down or dying
            last = e
            time.sleep(0.1)
            continue
        if r.status == 503:
            last = r
            time.sleep(min(1.0, float(r.headers.get("retry-after", "1"))))
            continue
        r.attempts = attempts  # type: ignore[attr-defined]
        return r
    raise Gone(f"{method} {url}: no answer before the deadline (last: {last!r})")


def start_one(appt, start_date: datetime, rng: random.Random | None = None,
              deadline: float | None = None) -> str:
    rng = rng or random
    r = call("POST", appt.url("/appointments"),
             {"physician_id": rng.choice(PHYSICIANS), "patient_id": rng.choice(PATIENTS),
              "start_date": iso(start_date)}, deadline)
    assert r.status == 201, (r.status, r.body)
    return r.body["id"]


def start_many(appt, n: int, threads: int = 4, hours_ago: float = 30) -> dict[str, datetime]:
    """n consultations started in parallel, at distinct times `hours_ago` in
    the past; returns {id: the end date to finish it with}: durations of
    1 min to ~25 h (billings of 1 to 26 hours), always in the past, fixed so
    that a client's retry sends the same one."""
    base = now() - timedelta(hours=hours_ago)

    def one(i: int) -> tuple[str, datetime]:
        s = base + timedelta(seconds=i)
        return start_one(appt, s, random.Random(i)), s + timedelta(seconds=60 + (i * 7919) % (25 * 3600))

    with ThreadPoolExecutor(threads) as ex:
        return dict(ex.map(one, range(n)))


def finish_one(appt, aid: str, end: datetime, deadline: float | None = None) -> int:
    """Finishes until the API says 200; returns the number of attempts."""
    r = call("POST", appt.url(f"/appointments/{aid}/finish"), {"end_date": iso(end)}, deadline)
    assert r.status == 200, (aid, r.status, r.body)
    assert r.body["status"] == "finished", r.body
    return r.attempts  # type: ignore[attr-defined]


def finish_many(appt, ids: list[str], ends: dict[str, datetime], threads: int = 4,
                deadline: float | None = None, progress: list[int] | None = None,
                pace: float = 0.0) -> int:
    """Finishes every id in parallel; returns the number of retries it took.
    `progress[0]` counts the finishes answered so far (read by a chaos thread);
    `pace` seconds of pause after each finish (per thread) spreads a stream."""
    lock = threading.Lock()
    retries = [0]

    def one(aid: str) -> None:
        n = finish_one(appt, aid, ends[aid], deadline)
        with lock:
            retries[0] += n - 1
            if progress is not None:
                progress[0] += 1
        if pace:
            time.sleep(pace)

    with ThreadPoolExecutor(threads) as ex:
        for f in [ex.submit(one, a) for a in ids]:
            f.result()
    return retries[0]


# ---------------------------------------------------------------- reconciliation and results

def databases(appt, fin):
    """(appointment db, financial db) of two services, through fresh clients."""
    a = mongo_client(appt.env["MONGODB_URI"]).get_default_database()
    f = mongo_client(fin.env["MONGODB_URI"]).get_default_database()
    return a, f


def doubled(fin_db, ids: set[str]) -> int:
    """Billing documents beyond one per appointment (by the appointment_id field:
    the _id is the appointment id, so this catches a write under another key)."""
    per: dict[str, int] = {}
    for b in fin_db.billings.find({"appointment_id": {"$in": sorted(ids)}}, {"appointment_id": 1}):
        per[b["appointment_id"]] = per.get(b["appointment_id"], 0) + 1
    return sum(n - 1 for n in per.values() if n > 1)


def settle(appt_db, fin_db, ids: set[str], timeout: float = 120.0) -> dict[str, Any]:
    """Reconciles `ids` until every finished one is billed and nothing is extra
    or mismatched, or `timeout`; returns the last reconciliation."""
    deadline = time.monotonic() + timeout
    while True:
        r = reconcile(appt_db, fin_db, ids=ids)
        if (is_clean(r) and r["finished"] == len(ids)) or time.monotonic() >= deadline:
            return r
        time.sleep(1.0)


def topic_events(bootstrap: str, topic: str, ids: set[str]) -> dict[str, Any]:
    """Events of `ids` on the topic: how many, how many keys had more than
    one (a re-publish: allowed, absorbed by the consumer), and how many keys
    carry two different payloads or ce_ids (a second event: never allowed)."""
    per: dict[str, set] = {}
    count: dict[str, int] = {}
    for m in consume(bootstrap, topic, timeout=60):
        if m.key in ids:
            per.setdefault(m.key, set()).add((m.headers.get("ce_id"), m.value))
            count[m.key] = count.get(m.key, 0) + 1
    return {"events": sum(count.values()),
            "republished": sum(1 for n in count.values() if n > 1),
            "second_payloads": sum(1 for s in per.values() if len(s) > 1),
            "keys": len(per)}


def record(scenario: str, sent: int, r: dict[str, Any], fin_db, ids: set[str], began: float,
           **extra: Any) -> dict[str, Any]:
    """Prints the scenario's line and appends it to var/chaos/results.jsonl."""
    d = doubled(fin_db, ids) + r["extra"]
    row = {"scenario": scenario, "sent": sent, "billed": r["billed"] - r["mismatched"],
           "lost": r["missing"], "doubled": d, "mismatched": r["mismatched"],
           "duration_s": round(time.monotonic() - began, 1),
           "expected_cents": r["expected_cents"], "billed_cents": r["billed_cents"],
           "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
    line = " ".join(f"{k}={row[k]}" for k in
                    ("scenario", "sent", "billed", "lost", "doubled", "mismatched", "duration_s"))
    more = " ".join(f"{k}={v}" for k, v in extra.items())
    print(f"\n{line}" + (f"\n  {more}" if more else ""))
    if r["missing"] or r["extra"] or r["mismatched"]:
        print(format_report(r))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    with open(RESULTS, "a") as f:
        f.write(json.dumps(row) + "\n")
    return row


def assert_exact(row: dict[str, Any]) -> None:
    line = ", ".join(f"{k}={row[k]}" for k in ("sent", "billed", "lost", "doubled", "mismatched"))
    assert row["lost"] == 0 and row["doubled"] == 0 and row["mismatched"] == 0, line
    assert row["billed"] == row["sent"], line


# ---------------------------------------------------------------- the outbox

def outbox_pending_ids(appt_db, ids: set[str] | None = None) -> list[str]:
    q: dict[str, Any] = {"outbox.state": "pending"}
    if ids is not None:
        q["_id"] = {"$in": sorted(ids)}
    return [d["_id"] for d in appt_db.appointments.find(q, {"_id": 1})]


__all__ = [
    "APPOINTMENT_ENV", "FINANCIAL_ENV", "Gone", "PHYSICIANS", "PATIENTS", "RESULTS",
    "appointment_env", "assert_exact", "call", "databases", "doubled",
    "financial_env", "finish_many", "finish_one", "outbox_pending_ids", "record", "settle",
    "start_many", "start_one", "topic_events",
]

