"""Chaos: summaries stay exact when financial is kill -9'd while it bills a
backlog of events for past days.

A financial (BRL and USD, on its own topic, group and database) bills a first
part of events spread over three whole months 13-15 months ago, the previous
month and the past days of this one; summaries over whole months, ranges that
cut months and days, a year and everything, by physician, patient and day, in
both currencies, store day totals and (for the settled, whole months) month
totals. Then a backlog of 3,000 events arrives, most for days and months
already totalled, some for new days of those months, some redeliveries of
events billed before or earlier in the backlog; financial is kill -9'd 2-3
times while it bills it (at random billed counts) and restarted with the same
environment each time. A kill leaves its last batch's days "in flight" for
good (financial/day_totals.h): summaries must recount them. A reader keeps
asking for summaries meanwhile, each answer between a recount of the billings
just before and one just after it. Drained: every range x group_by x currency
answers the recount, which is what the events sum to (each appointment once).

CHAOS_SEED fixes the days, the events, the kill points and the reads (printed).
"""

from __future__ import annotations

import os
import random
import threading
import time
from datetime import datetime, timedelta, timezone

import pytest

from harness import iso, wait_drained, wait_until
from harness.chaos import assert_exact, record
from harness.summaries import KEY_FIELD, between, db_of, event, expected, publish, recount, summary

pytestmark = pytest.mark.chaos

FIRST = 400
BACKLOG = 3000
CURRENCIES = ("BRL", "USD")


def _month(now: datetime, back: int) -> datetime:
    """The first instant of the month `back` months before now's."""
    y, m = divmod(now.year * 12 + now.month - 1 - back, 12)
    return datetime(y, m + 1, 1, tzinfo=timezone.utc)


def _days_of(start: datetime, end: datetime) -> list[datetime]:
    return [start + timedelta(days=i) for i in range((end - start).days)]


def _plan(rng: random.Random, now: datetime) -> tuple[list[datetime], list[datetime], list[dict]]:
    """(days of the first part, other days of the same months, ranges)."""
    today = datetime(now.year, now.month, now.day, tzinfo=timezone.utc)
    old = [_month(now, k) for k in (15, 14, 13, 12)]  # 3 whole old months and the end of the last
    prev, cur = _month(now, 1), _month(now, 0)
    first: list[datetime] = []
    later: list[datetime] = []
    spans = [(old[i], old[i + 1], 6) for i in range(3)] + [(prev, cur, 4), (cur, today, 3)]
    for lo, hi, n in spans:
        days = _days_of(lo, hi)
        if not days:  # today is the 1st: no past day this month
            continue
        picked = {days[0], days[-1], *rng.sample(days, min(n, len(days)))}  # month boundaries inside
        first += sorted(picked)
        later += rng.sample([d for d in days if d not in picked], max(0, min(2, len(days) - len(picked))))
    cut_day = rng.choice(first[:18])
    year = datetime(old[0].year, 1, 1, tzinfo=timezone.utc)
    ranges = [
        {"from": iso(old[0]), "to": iso(old[3])},  # three whole months: their month totals
        {"from": iso(old[1]), "to": iso(old[2])},  # one whole month
        {"from": iso(old[0] + timedelta(days=rng.randrange(3, 20), hours=7)),  # cuts two months and two days
         "to": iso(old[2] + timedelta(days=rng.randrange(3, 20), hours=13))},
        {"from": iso(cut_day + timedelta(hours=6)), "to": iso(cut_day + timedelta(days=2, hours=18))},  # cut days
        {"from": iso(year), "to": iso(year.replace(year=year.year + 1))},  # a year
        {"from": iso(year.replace(year=year.year + 1)), "to": iso(year.replace(year=year.year + 2))},  # the next
        {"from": iso(prev), "to": iso(today)},  # the previous month whole, this one's past days
        {},  # everything
    ]
    return first, later, ranges


def _events(rng: random.Random, days: list[datetime], n: int) -> list[dict]:
    return [event(rng.choice(days), rng, "USD" if rng.random() < 0.2 else "BRL") for _ in range(n)]


def _in_flight(db) -> int:
    """Writer marks with a write begun and never ended (begun > gen)."""
    return sum(1 for m in db.billing_day_gen.find({}, {"begun": 1, "gen": 1})
               if m.get("begun", 0) > m.get("gen", 0))


def _billed(db, billed: dict[str, dict]) -> dict:
    """The billings against the events, as harness.chaos.record wants them."""
    docs = {b["_id"]: b["total_cents"] for b in db.billings.find({}, {"total_cents": 1})}
    want = {aid: expected({aid: ev}, "day", {}, ev["currency"])[ev["end_date"][:10]][1]
            for aid, ev in billed.items()}
    return {"billed": len(docs), "missing": len(want.keys() - docs.keys()), "extra": len(docs.keys() - want.keys()),
            "mismatched": sum(1 for aid, t in docs.items() if aid in want and want[aid] != t),
            "expected_cents": sum(want.values()), "billed_cents": sum(docs.values())}


def _exact(fin, db, billed: dict[str, dict], ranges: list[dict]) -> int:
    """Every range x group_by x currency: summary == recount == expected."""
    checked = 0
    for rng_ in ranges:
        for by in KEY_FIELD:
            for cur in CURRENCIES:
                want = expected(billed, by, rng_, cur)
                assert recount(db, by, rng_, cur) == want, (by, rng_, cur)
                assert summary(fin, by, rng_, cur) == want, (by, rng_, cur)
                checked += 1
    return checked


def test_kill9_of_financial_billing_a_backlog_for_past_days_leaves_summaries_exact(start_financial):
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1 << 30))
    print(f"\nCHAOS_SEED={seed}")
    rng = random.Random(seed)
    began = time.monotonic()
    now = datetime.now(timezone.utc)
    first_days, later_days, ranges = _plan(rng, now)
    fin = start_financial(CURRENCIES="BRL,USD")

    # The first part, drained; the first summaries store day and month totals.
    first = _events(rng, first_days, FIRST)
    billed = {ev["appointment_id"]: ev for ev in first}
    publish(fin, first)
    wait_drained(fin, 60)
    c, db = db_of(fin)
    with c:
        _exact(fin, db, billed, ranges)
        settled = sorted({d.strftime("%Y-%m") for d in first_days if d < _month(now, 1)})
        for month in settled:
            for cur in CURRENCIES:
                for by in KEY_FIELD.values():
                    assert db.billing_month_totals.find_one({"month": month, "by": by, "currency": cur}), \
                        (month, by, cur)
        n_first = db.billings.count_documents({})
        assert n_first == len(billed)

        # The backlog: days already totalled, other days of the same months,
        # redeliveries of billed events and of earlier backlog events.
        backlog: list[dict] = []
        for _ in range(BACKLOG):
            r = rng.random()
            if r < 0.05:
                backlog.append(dict(rng.choice(first)))
            elif r < 0.08 and backlog:
                backlog.append(dict(rng.choice(backlog)))
            else:
                backlog += _events(rng, later_days if r < 0.18 else first_days, 1)
        for ev in backlog:
            billed.setdefault(ev["appointment_id"], ev)
        total = len(billed)
        fractions = sorted(rng.uniform(0.05, 0.8) for _ in range(rng.randint(2, 3)))
        targets = [n_first + max(1, int(f * (total - n_first))) for f in fractions]

        up = threading.Event()
        up.set()
        stop = threading.Event()
        errors: list[BaseException] = []
        reads = {"answered": 0, "racing": 0, "cut": 0}
        combos = [(by, rng_, cur) for rng_ in ranges for by in KEY_FIELD for cur in CURRENCIES]
        order = random.Random(seed + 1)

        def reader() -> None:
            try:
                while not stop.is_set():
                    if not up.wait(0.2):
                        continue
                    by, rng_, cur = order.choice(combos)
                    kills = len(at_kill)
                    before = recount(db, by, rng_, cur)
                    try:
                        answer = summary(fin, by, rng_, cur)
                    except OSError:
                        if up.is_set() and len(at_kill) == kills:
                            raise  # not killed under the request
                        reads["cut"] += 1
                        continue
                    after = recount(db, by, rng_, cur)
                    assert between(before, answer, after), (by, rng_, cur, before, answer, after)
                    reads["answered"] += 1
                    reads["racing"] += before != after
            except BaseException as e:  # noqa: BLE001 - reported by the test
                errors.append(e)

        at_kill: list[int] = []
        t = threading.Thread(target=reader, name="summary-reader")
        t.start()
        in_flight_at_kill: list[int] = []
        try:
            publish(fin, backlog)
            for target in targets:
                # Past the target, and billing again since the last restart.
                wait_until(lambda: errors or db.billings.count_documents({}) >= max(target, *at_kill[-1:], 0) + 1,
                           120, interval=0.02, message=f"{target} billed before the kill")
                if errors:
                    break
                up.clear()
                fin.kill()
                at_kill.append(db.billings.count_documents({}))
                in_flight_at_kill.append(_in_flight(db))
                time.sleep(rng.uniform(0.0, 1.0))
                fin.start(timeout=60)
                up.set()
            wait_drained(fin, 120)
            wait_until(lambda: errors or reads["answered"] >= 20, 60, message="20 summaries read")
        finally:
            stop.set()
            up.set()
            t.join(60)
        assert not errors, errors
        print(f"kills at billed {at_kill} (first part {n_first}, total {total}); reads {reads}")
        # Every kill came mid-backlog: some of it billed, not all.
        assert len(at_kill) == len(targets)
        for n in at_kill:
            assert n_first < n < total, (at_kill, n_first, total)
        assert reads["racing"] > 0, f"no summary read raced the backlog: {reads}"

        # Drained: each appointment billed once, and every summary exact,
        # twice (the second from the totals the first stored).
        in_flight = _in_flight(db)
        checked = _exact(fin, db, billed, ranges)
        _exact(fin, db, billed, ranges)
        row = record("summary-backlog", total, _billed(db, billed), db, set(billed), began, seed=seed,
                     first=n_first, backlog=len(backlog), kills=len(at_kill), billed_at_kill=at_kill,
                     in_flight_at_kill=in_flight_at_kill, in_flight=in_flight, reads=reads, summaries=checked)
        assert_exact(row)
    assert fin.stop() == 0
