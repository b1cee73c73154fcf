"""GET /billings/summary checked against the billings themselves: events of
chosen days (spread over physicians and patients) produced straight onto
financial's topic, the summary's answer, a recount of the billings
collection, and what the distinct events billed must sum to
(tests/integration/test_summary_totals.py, tests/chaos/test_chaos_summary_backlog.py)."""

from __future__ import annotations

import json
import random
import uuid
from datetime import datetime, timedelta
from urllib.parse import urlencode

from harness.http_client import http
from harness.mongo import mongo_client
from harness.util import iso

PHYS = [f"{i}1111111-1111-4111-8111-11111111111{i}" for i in range(1, 4)]
PATS = [f"{i}2222222-2222-4222-8222-22222222222{i}" for i in range(1, 5)]
KEY_FIELD = {"physician": "physician_id", "patient": "patient_id", "day": "end_day"}


def event(day: datetime, rng: random.Random, currency: str = "BRL", appointment_id: str | None = None) -> dict:
    """An appointment.finished value ending at a random time of `day` (1-2 h)."""
    end = day + timedelta(hours=rng.randrange(1, 23), minutes=rng.randrange(60))
    hours = rng.randrange(1, 3)
    return {
        "appointment_id": appointment_id or str(uuid.uuid4()),
        "physician_id": rng.choice(PHYS),
        "patient_id": rng.choice(PATS),
        "start_date": iso(end - timedelta(hours=hours)),
        "end_date": iso(end),
        "hourly_price_cents": rng.randrange(10000, 30000, 7),
        "currency": currency,
    }


def publish(svc, events: list[dict]) -> None:
    """Produces events (a burst, one flush) in the contract's form onto
    svc.topic (svc: a financial of the start_financial fixture)."""
    from confluent_kafka import Producer
    p = Producer({"bootstrap.servers": svc.bootstrap, "enable.idempotence": True, "acks": "all"})
    for ev in events:
        headers = {"ce_specversion": "1.0", "ce_id": str(uuid.uuid4()),
                   "ce_source": "/clinic-events/appointment", "ce_type": "clinic.appointment.finished.v1",
                   "ce_time": ev["end_date"], "content-type": "application/json"}
        p.produce(svc.topic, json.dumps(ev, separators=(",", ":")), key=ev["appointment_id"],
                  headers=list(headers.items()))
    assert p.flush(20) == 0


def db_of(svc):
    """(client, database) of svc's MONGODB_URI."""
    c = mongo_client(svc.env["MONGODB_URI"])
    return c, c.get_default_database()


def recount(db, by: str, rng_: dict, currency: str = "BRL") -> dict[str, tuple[int, int]]:
    """{key: (count, cents)} summed from the billings collection itself."""
    q: dict = {"currency": currency}
    bounds = {}
    if "from" in rng_:
        bounds["$gte"] = datetime.fromisoformat(rng_["from"].replace("Z", "+00:00"))
    if "to" in rng_:
        bounds["$lt"] = datetime.fromisoformat(rng_["to"].replace("Z", "+00:00"))
    if bounds:
        q["end_date"] = bounds
    groups: dict[str, list[int]] = {}
    for b in db.billings.find(q, {KEY_FIELD[by]: 1, "total_cents": 1}):
        g = groups.setdefault(b[KEY_FIELD[by]], [0, 0])
        g[0] += 1
        g[1] += b["total_cents"]
    return {k: (n, t) for k, (n, t) in groups.items()}


def summary(svc, by: str, rng_: dict, currency: str = "BRL") -> dict[str, tuple[int, int]]:
    """svc's GET /billings/summary as {key: (count, cents)}; its totals add up."""
    r = http("GET", svc.url("/billings/summary?" + urlencode({**rng_, "group_by": by, "currency": currency})))
    assert r.status == 200, r.body
    got = {g["key"]: (g["count"], round(g["total_price"] * 100)) for g in r.body["groups"]}
    assert r.body["count"] == sum(n for n, _ in got.values())
    assert round(r.body["total_price"] * 100) == sum(t for _, t in got.values())
    return got


def expected(events: dict[str, dict], by: str, rng_: dict, currency: str = "BRL") -> dict[str, tuple[int, int]]:
    """What the summary must answer for the distinct events billed."""
    lo = rng_.get("from", "0000")
    hi = rng_.get("to", "9999")
    out: dict[str, list[int]] = {}
    for ev in events.values():
        if ev["currency"] != currency or not lo <= ev["end_date"] < hi:
            continue
        start = datetime.fromisoformat(ev["start_date"].replace("Z", "+00:00"))
        end = datetime.fromisoformat(ev["end_date"].replace("Z", "+00:00"))
        hours = max(1, -(-int((end - start).total_seconds()) // 3600))
        key = ev["end_date"][:10] if by == "day" else ev[KEY_FIELD[by]]
        g = out.setdefault(key, [0, 0])
        g[0] += 1
        g[1] += hours * ev["hourly_price_cents"]
    return {k: (n, t) for k, (n, t) in out.items()}


def between(before: dict, answer: dict, after: dict) -> bool:
    """answer is a recount taken between before and after: billings are only
    ever added, so every group lies between the two, and equals them when
    nothing changed meanwhile."""
    if before == after:
        return answer == before
    return all(before.get(k, (0, 0))[0] <= answer.get(k, (0, 0))[0] <= after.get(k, (0, 0))[0] and
               before.get(k, (0, 0))[1] <= answer.get(k, (0, 0))[1] <= after.get(k, (0, 0))[1]
               for k in set(before) | set(answer) | set(after))


__all__ = ["KEY_FIELD", "PATS", "PHYS", "between", "db_of", "event", "expected", "publish", "recount", "summary"]
