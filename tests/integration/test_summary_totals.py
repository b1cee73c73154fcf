"""GET /billings/summary from stored day and month totals
(financial/day_totals.c): exact at all times. Late billings (late events,
redeliveries, a backlog) for days and months already totalled race summary
reads, and every answer is compared with a recount of the billings collection
taken just before and just after it; a stored total at an old gen, or with a
write in flight, is never used.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from harness import iso, wait_drained
from harness.summaries import KEY_FIELD, PATS, PHYS, between, db_of, event, expected, publish, recount, summary

D0 = datetime(2025, 3, 30, tzinfo=timezone.utc)  # the days D0 .. D0 + 3, a month boundary inside
DAYS = [D0 + timedelta(days=i) for i in range(4)]
RANGES = [
    {"from": iso(DAYS[0]), "to": iso(DAYS[-1] + timedelta(days=1))},  # whole days: their totals
    {"from": iso(DAYS[0] + timedelta(hours=12)), "to": iso(DAYS[-1] + timedelta(hours=12))},  # cut ends
    {},  # unbounded: March and April 2025 whole, from their month totals
    {"from": iso(datetime(2025, 3, 1, tzinfo=timezone.utc)), "to": iso(datetime(2025, 5, 1, tzinfo=timezone.utc))},
    {"from": iso(datetime(2025, 3, 15, tzinfo=timezone.utc)), "to": iso(datetime(2025, 5, 1, tzinfo=timezone.utc))},
]
MONTHS = ("2025-03", "2025-04")


def test_late_billings_racing_summary_reads_are_never_missed_or_counted_twice(start_financial):
    fins = [start_financial(CURRENCIES="BRL,USD"), start_financial(CURRENCIES="BRL,USD")]
    rng = random.Random(22)
    billed: dict[str, dict] = {}
    first = [event(day, rng) for day in DAYS for _ in range(10)] + [event(DAYS[1], rng, "USD")]
    publish(fins[0], first)
    billed.update((ev["appointment_id"], ev) for ev in first)
    for f in fins:
        wait_drained(f, 60)
    c, db = db_of(fins[0])
    with c:
        # Every day totalled, for every group_by, by the first reads.
        for by in KEY_FIELD:
            for rng_ in RANGES:
                assert summary(fins[0], by, rng_) == recount(db, by, rng_) == expected(billed, by, rng_)
        for day in DAYS:
            for by in KEY_FIELD.values():
                assert db.billing_day_totals.find_one({"end_day": day.strftime("%Y-%m-%d"), "by": by,
                                                       "currency": "BRL"}), (day, by)
        # And both (settled, whole) months by the reads of ranges holding them.
        for month in MONTHS:
            for by in KEY_FIELD.values():
                total = db.billing_month_totals.find_one({"month": month, "by": by, "currency": "BRL"})
                assert total and total["year"] == "2025" and total["gen"] == month_gen_of(db, month), (month, by)

        # Late billings for those days, in bursts, with redeliveries of
        # billed events (already billed: never a second count) and USD ones.
        late: list[list[dict]] = []
        for _ in range(8):
            burst = [event(rng.choice(DAYS), rng) for _ in range(12)]
            burst += [dict(rng.choice(list(billed.values())))]  # a replay of a billed event
            burst += [event(rng.choice(DAYS), rng, "USD")]
            late.append(burst)
        done = threading.Event()
        failure: list[BaseException] = []

        def produce_late() -> None:
            try:
                for burst in late:
                    publish(fins[0], burst)
                    time.sleep(0.4)
            except BaseException as e:  # reported by the test below
                failure.append(e)
            finally:
                done.set()

        t = threading.Thread(target=produce_late)
        t.start()
        reads = racing = 0
        try:
            while not done.is_set() or reads < 30:
                by = list(KEY_FIELD)[reads % 3]
                rng_ = RANGES[(reads // 3) % len(RANGES)]
                before = recount(db, by, rng_)
                answer = summary(fins[reads % 2], by, rng_)
                after = recount(db, by, rng_)
                assert between(before, answer, after), (by, rng_, before, answer, after)
                racing += before != after
                reads += 1
                if reads > 400:
                    break
        finally:
            t.join()
        assert not failure, failure
        assert racing > 0, "no summary read raced a late billing"
        for burst in late:
            for ev in burst:
                billed.setdefault(ev["appointment_id"], ev)
        for f in fins:
            wait_drained(f, 60)
        # After the drain: exact, and what was produced (each event once).
        for by in KEY_FIELD:
            for rng_ in RANGES:
                for cur in ("BRL", "USD"):
                    want = expected(billed, by, rng_, cur)
                    assert recount(db, by, rng_, cur) == want
                    for f in fins:
                        assert summary(f, by, rng_, cur) == want, (by, rng_, cur)
    for f in fins:
        assert f.stop() == 0


def bill_and_sum(fin, events: list[dict], whole: dict):
    """Bills events through fin and checks its first summary of `whole` by
    physician against the recount; returns (client, db, billed, that answer)."""
    billed = {ev["appointment_id"]: ev for ev in events}
    publish(fin, list(billed.values()))
    wait_drained(fin, 60)
    c, db = db_of(fin)
    right = expected(billed, "physician", whole)
    assert summary(fin, "physician", whole) == right == recount(db, "physician", whole)
    return c, db, billed, right


def gen_of(db, day: str) -> int:
    return sum(d.get("gen", 0) for d in db.billing_day_gen.find({"end_day": day}))


def month_gen_of(db, month: str) -> int:
    return sum(d.get("gen", 0) for d in db.billing_day_gen.find({"month": month}))


def test_a_day_total_at_an_old_gen_or_with_a_write_in_flight_is_not_used(start_financial):
    fin = start_financial()
    rng = random.Random(4)
    day = DAYS[2]
    d = day.strftime("%Y-%m-%d")
    whole = {"from": iso(day), "to": iso(day + timedelta(days=1))}
    c, db, billed, right = bill_and_sum(fin, [event(day, rng) for _ in range(6)], whole)
    with c:
        sel = {"end_day": d, "by": "physician_id", "currency": "BRL"}
        total = db.billing_day_totals.find_one(sel)
        assert total and total["gen"] == gen_of(db, d) > 0
        wrong = f"{PHYS[0]} 1 1\n"  # one line per group: "<key> <count> <total cents>"

        # Control: at the day's gen the stored total is what is read.
        db.billing_day_totals.update_one({"_id": total["_id"]}, {"$set": {"groups": wrong}})
        assert summary(fin, "physician", whole) == {PHYS[0]: (1, 1)}

        # At an older gen it is not: the day is recounted (and stored again).
        db.billing_day_totals.update_one({"_id": total["_id"]},
                                         {"$set": {"groups": wrong, "gen": total["gen"] - 1}})
        assert summary(fin, "physician", whole) == right
        again = db.billing_day_totals.find_one(sel)
        lines = [line.split() for line in again["groups"].splitlines()]
        assert again["gen"] == total["gen"] and {k: (int(n), int(t)) for k, n, t in lines} == right

        # A writer that began and never confirmed (died between its insert
        # and its mark): the day is recounted whatever its total's gen.
        db.billing_day_gen.insert_one({"_id": f"{d}/{uuid.uuid4()}", "end_day": d, "month": d[:7], "begun": 9})
        db.billing_day_totals.update_one({"_id": total["_id"]}, {"$set": {"groups": wrong, "gen": total["gen"]}})
        assert gen_of(db, d) == total["gen"]
        assert summary(fin, "physician", whole) == right
        db.billing_day_gen.delete_many({"end_day": d, "gen": {"$exists": False}})

        # A late billing for the day: its gen grows, the planted total is
        # old, the answer counts the late billing.
        db.billing_day_totals.update_one({"_id": total["_id"]}, {"$set": {"groups": wrong, "gen": total["gen"]}})
        late = event(day, rng)
        publish(fin, [late])
        wait_drained(fin, 60)
        billed[late["appointment_id"]] = late
        assert gen_of(db, d) > total["gen"]
        right = expected(billed, "physician", whole)
        assert summary(fin, "physician", whole) == right == recount(db, "physician", whole)
        assert summary(fin, "day", whole) == expected(billed, "day", whole) == {d: (7, sum(t for _, t in right.values()))}
    assert fin.stop() == 0


def test_a_month_total_at_an_old_gen_or_with_a_write_in_flight_is_not_used_and_a_day_without_bucket_counts(start_financial):
    fin = start_financial()
    rng = random.Random(5)
    month = "2025-04"
    whole = {"from": iso(datetime(2025, 4, 1, tzinfo=timezone.utc)), "to": iso(datetime(2025, 5, 1, tzinfo=timezone.utc))}
    c, db, billed, right = bill_and_sum(fin, [event(day, rng) for day in DAYS[2:] for _ in range(4)], whole)
    with c:
        sel = {"month": month, "by": "physician_id", "currency": "BRL"}
        total = db.billing_month_totals.find_one(sel)
        assert total and total["gen"] == month_gen_of(db, month) > 0
        lines = [line.split() for line in total["groups"].splitlines()]
        assert {k: (int(n), int(t)) for k, n, t in lines} == right
        wrong = f"{PHYS[0]} 1 1\n"

        # Control: at the month's gen the stored month total is what is read,
        # also for a longer range holding the month whole.
        db.billing_month_totals.update_one({"_id": total["_id"]}, {"$set": {"groups": wrong}})
        assert summary(fin, "physician", whole) == {PHYS[0]: (1, 1)}
        # A range that cuts the month sums its days instead.
        cut = {"from": iso(datetime(2025, 4, 1, tzinfo=timezone.utc)), "to": iso(DAYS[3] + timedelta(days=1))}
        assert summary(fin, "physician", cut) == expected(billed, "physician", cut)

        # At an older gen it is not: summed from its days, and stored again.
        db.billing_month_totals.update_one({"_id": total["_id"]}, {"$set": {"gen": total["gen"] - 1}})
        assert summary(fin, "physician", whole) == right
        again = db.billing_month_totals.find_one(sel)
        assert again["gen"] == total["gen"] and again["groups"] == total["groups"]

        # A writer that began and never confirmed, on a day of the month: the
        # month is summed from its days whatever its total's gen, and not stored.
        ghost = {"_id": f"{DAYS[3].strftime('%Y-%m-%d')}/{uuid.uuid4()}", "end_day": DAYS[3].strftime("%Y-%m-%d"),
                 "month": month, "begun": 9}
        db.billing_month_totals.update_one({"_id": total["_id"]}, {"$set": {"groups": wrong}})
        db.billing_day_gen.insert_one(ghost)
        assert month_gen_of(db, month) == total["gen"]
        assert summary(fin, "physician", whole) == right
        assert db.billing_month_totals.find_one(sel)["groups"] == wrong
        db.billing_day_gen.delete_one({"_id": ghost["_id"]})

        # A billing whose end day's bucket record is missing (no bucket
        # lists the day, only its writer's mark names it): summed with its
        # month all the same, and in the month total stored.
        end = datetime(2025, 4, 20, 15, tzinfo=timezone.utc)
        lost = {"_id": str(uuid.uuid4()), "physician_id": PHYS[1], "patient_id": PATS[0],
                "start_date": end - timedelta(hours=1), "end_date": end, "end_day": "2025-04-20", "bucket": "2025-04-20",
                "billed_hours": 1, "hourly_price_cents": 20000, "total_cents": 20000, "currency": "BRL",
                "created_at": end}
        lost["appointment_id"] = lost["_id"]
        db.billings.insert_one(lost)
        db.billing_day_gen.insert_one({"_id": f"2025-04-20/{uuid.uuid4()}", "end_day": "2025-04-20", "month": month,
                                       "begun": 1, "gen": 1})
        assert not db.billing_buckets.find_one({"scope": "end", "day": "2025-04-20"})
        n, t = right.get(PHYS[1], (0, 0))
        right = {**right, PHYS[1]: (n + 1, t + 20000)}
        assert summary(fin, "physician", whole) == right == recount(db, "physician", whole)
        stored = db.billing_month_totals.find_one(sel)
        assert stored["gen"] == month_gen_of(db, month) == total["gen"] + 1
        assert {k: (int(n), int(t)) for k, n, t in (line.split() for line in stored["groups"].splitlines())} == right
        total = stored

        # A late billing in a totalled month: its gen grows, the planted total
        # is old, the answer counts the late billing once.
        db.billing_month_totals.update_one({"_id": total["_id"]}, {"$set": {"groups": wrong}})
        late = event(DAYS[2], rng)
        publish(fin, [late])
        wait_drained(fin, 60)
        billed[late["appointment_id"]] = late
        assert month_gen_of(db, month) > total["gen"]
        n, t = right.get(late["physician_id"], (0, 0))
        right = {**right, late["physician_id"]: (n + 1, t + expected({0: late}, "physician", whole)[late["physician_id"]][1])}
        assert summary(fin, "physician", whole) == right == recount(db, "physician", whole)
        assert summary(fin, "physician", {}) == recount(db, "physician", {})
        assert db.billing_month_totals.find_one(sel)["gen"] == month_gen_of(db, month)
    assert fin.stop() == 0
