#!/usr/bin/env python3
"""Reconcile finished appointments with billings: `make reconcile`.

Reads the appointment service's `appointments` collection and the financial
service's `billings` collection and prints one line per fact:

  finished      appointments with status "finished"
  billed        billings that match a finished appointment
  expected      what those finished appointments should bill (R$)
  billed_total  what the billings say (R$)
  missing       finished appointments without a billing
  extra         billings without a finished appointment
  mismatched    billings whose hours or total differ from the pricing rule

Exit status 0 when missing, extra and mismatched are all 0; 1 otherwise; 2 when
the database cannot be read. A consultation finished a moment ago may not be
billed yet: run it again, or pass --wait SECONDS to retry until it converges.

Configuration (flags win over the environment):
  MONGODB_URI              both services' database   (mongodb://127.0.0.1:27017/clinic)
  APPOINTMENT_MONGODB_URI  the appointment service's, when they differ
  FINANCIAL_MONGODB_URI    the financial service's, when they differ

Used as a module by the chaos, soak and bench suites: reconcile(appt_db, fin_db).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

MS_PER_HOUR = 3_600_000
DEFAULT_URI = "mongodb://127.0.0.1:27017/clinic"


def billed_hours(start_ms: int, end_ms: int) -> int:
    """The pricing rule (financial/billing.c): every started hour, at least one."""
    dur = max(0, end_ms - start_ms)
    return max(1, -(-dur // MS_PER_HOUR))


def _ms(value: Any) -> int:
    # pymongo returns naive UTC datetimes unless tz_aware: both work here.
    from datetime import timezone

    if value.tzinfo is None:
        value = value.replace(tzinfo=timezone.utc)
    return int(value.timestamp() * 1000)


def reconcile(appt_db: Any, fin_db: Any, *, ids: set[str] | None = None) -> dict[str, Any]:
    """Compare appt_db.appointments (finished) with fin_db.billings.

    ids: only these appointment ids (a test's own), else every document.
    Returns counts, cent totals and up to 10 example ids of each problem.
    """
    appt_filter: dict[str, Any] = {"status": "finished"}
    bill_filter: dict[str, Any] = {}
    if ids is not None:
        appt_filter["_id"] = {"$in": sorted(ids)}
        bill_filter["_id"] = {"$in": sorted(ids)}

    expected: dict[str, int] = {}
    hours_of: dict[str, int] = {}
    for a in appt_db.appointments.find(
        appt_filter, {"start_date": 1, "end_date": 1, "price_cents": 1}
    ):
        h = billed_hours(_ms(a["start_date"]), _ms(a["end_date"]))
        hours_of[a["_id"]] = h
        expected[a["_id"]] = h * int(a["price_cents"])

    billed: dict[str, int] = {}
    mismatched: list[str] = []
    for b in fin_db.billings.find(bill_filter, {"total_cents": 1, "billed_hours": 1}):
        billed[b["_id"]] = int(b["total_cents"])
        want = expected.get(b["_id"])
        if want is not None and (
            int(b["total_cents"]) != want or int(b["billed_hours"]) != hours_of[b["_id"]]
        ):
            mismatched.append(b["_id"])

    missing = sorted(set(expected) - set(billed))
    extra = sorted(set(billed) - set(expected))
    matched = set(expected) & set(billed)
    return {
        "finished": len(expected),
        "billed": len(matched),
        "expected_cents": sum(expected.values()),
        "billed_cents": sum(billed[i] for i in matched),
        "missing": len(missing),
        "extra": len(extra),
        "mismatched": len(mismatched),
        "missing_ids": missing[:10],
        "extra_ids": extra[:10],
        "mismatched_ids": sorted(mismatched)[:10],
    }


def is_clean(r: dict[str, Any]) -> bool:
    return r["missing"] == 0 and r["extra"] == 0 and r["mismatched"] == 0


def format_report(r: dict[str, Any]) -> str:
    def brl(cents: int) -> str:
        return f"{cents // 100}.{cents % 100:02d}"

    lines = [
        f"finished      {r['finished']}",
        f"billed        {r['billed']}",
        f"expected      R$ {brl(r['expected_cents'])}",
        f"billed_total  R$ {brl(r['billed_cents'])}",
        f"missing       {r['missing']}" + (f"  e.g. {', '.join(r['missing_ids'])}" if r["missing"] else ""),
        f"extra         {r['extra']}" + (f"  e.g. {', '.join(r['extra_ids'])}" if r["extra"] else ""),
        f"mismatched    {r['mismatched']}"
        + (f"  e.g. {', '.join(r['mismatched_ids'])}" if r["mismatched"] else ""),
        "result        " + ("OK" if is_clean(r) else "NOT RECONCILED"),
    ]
    return "\n".join(lines)


def _database(uri: str) -> Any:
    import pymongo

    client = pymongo.MongoClient(uri, serverSelectionTimeoutMS=5000, appname="reconcile")
    return client.get_default_database(default="clinic")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="Finished appointments vs billings.")
    base = os.environ.get("MONGODB_URI", DEFAULT_URI)
    p.add_argument("--appointment-uri", default=os.environ.get("APPOINTMENT_MONGODB_URI", base))
    p.add_argument("--financial-uri", default=os.environ.get("FINANCIAL_MONGODB_URI", base))
    p.add_argument("--wait", type=float, default=0, help="retry for up to SECONDS until clean")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    args = p.parse_args(argv)

    try:
        appt_db, fin_db = _database(args.appointment_uri), _database(args.financial_uri)
        deadline = time.monotonic() + args.wait
        while True:
            r = reconcile(appt_db, fin_db)
            if is_clean(r) or time.monotonic() >= deadline:
                break
            time.sleep(0.5)
    except Exception as e:  # pymongo's errors: unreachable, auth, bad URI
        print(f"reconcile: cannot read the database: {e}", file=sys.stderr)
        return 2
    print(json.dumps(r, indent=2) if args.json else format_report(r))
    return 0 if is_clean(r) else 1


if __name__ == "__main__":
    sys.exit(main())
