"""Chaos: kill -9 of a service at random moments, then a restart with the same
environment. Every finished consultation is billed exactly once.

CHAOS_SEED fixes the random moments (printed by each scenario).
"""

from __future__ import annotations

import os
import random
import threading
import time

import pytest

from harness import consume, end_offsets, metric, wait_ready, wait_until
from harness.chaos import (assert_exact, databases, finish_many, outbox_pending_ids, record, settle, start_many,
                           topic_events)

pytestmark = pytest.mark.chaos


def _seed() -> int:
    return int(os.environ.get("CHAOS_SEED") or random.randrange(1 << 30))


def test_kill9_appointment_during_1000_finishes(pair, topic, stack):
    """1,000 consultations finished by 4 client threads that retry like real
    clients; appointment is kill -9'd 3-5 times at random points and restarted.
    Right after each kill (before the restart) the database is read: entries
    still `pending` were written but not marked published, i.e. the crash hit
    the window between the database write and the broker's ack. They are
    split into those already in the topic's log at the kill (acked, not yet
    marked) and those not (written, never acked): the relay of the restarted
    process must publish the latter and may re-publish the former."""
    seed = _seed()
    rng = random.Random(seed)
    began = time.monotonic()
    appt, fin = pair  # both ready
    appt_db, fin_db = databases(appt, fin)
    boot = stack.kafka.bootstrap
    n = 1000
    ends = start_many(appt, n)
    ids = set(ends)
    order = list(ends)
    rng.shuffle(order)

    planned = rng.randint(3, 5)
    thresholds = sorted(rng.sample(range(60, n - 100), planned))
    progress = [0]
    done = threading.Event()
    kills: list[dict] = []
    errors: list[BaseException] = []

    def kill_once() -> None:
        appt.kill()
        t_kill = time.monotonic()
        pending = outbox_pending_ids(appt_db, ids)
        at_kill = end_offsets(boot, topic)
        kills.append({"at_finished": progress[0], "pending": pending, "end_offsets": at_kill})
        time.sleep(rng.uniform(0.0, 1.0))  # down for a moment: clients keep retrying
        appt.start(timeout=60)
        kills[-1]["down_s"] = round(time.monotonic() - t_kill, 2)

    def killer() -> None:
        try:
            for th in thresholds:
                while progress[0] < th and not done.is_set():
                    time.sleep(0.005)
                if done.is_set():
                    return
                kill_once()
            # Not one kill in the window yet: keep killing until one is (at most 10 kills).
            while (not done.is_set() and len(kills) < 10
                   and not any(k["pending"] for k in kills) and progress[0] < n - 30):
                time.sleep(rng.uniform(0.05, 0.4))
                kill_once()
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    t = threading.Thread(target=killer, name="killer")
    t.start()
    t0 = time.monotonic()
    try:
        retries = finish_many(appt, order, ends, threads=4, deadline=time.monotonic() + 400,
                              progress=progress)
    finally:
        done.set()
        t.join(120)
    finish_s = time.monotonic() - t0
    assert not errors, errors
    assert len(kills) >= 3, f"only {len(kills)} kills happened (progress {progress[0]})"
    if not appt.running():
        appt.start(timeout=60)
    wait_ready(appt, 60)

    r = settle(appt_db, fin_db, ids, timeout=180)
    # Where each entry pending at a kill stood on the broker at that moment.
    first_offset: dict[str, tuple[int, int]] = {}
    for m in consume(boot, topic, timeout=60):
        if m.key in ids and m.key not in first_offset:
            first_offset[m.key] = (m.partition, m.offset)
    in_log = not_in_log = 0
    for k in kills:
        for aid in k["pending"]:
            p_o = first_offset.get(aid)
            if p_o and p_o[1] < k["end_offsets"].get(p_o[0], 0):
                in_log += 1
            else:
                not_in_log += 1
    ev = topic_events(boot, topic, ids)
    pending_counts = [len(k["pending"]) for k in kills]
    row = record("kill9-appointment", n, r, fin_db, ids, began, seed=seed, kills=len(kills),
                 kill_points=[k["at_finished"] for k in kills], pending_at_kill=pending_counts,
                 pending_acked_unmarked=in_log, pending_not_on_broker=not_in_log,
                 down_s=[k["down_s"] for k in kills], client_retries=retries,
                 finish_all_s=round(finish_s, 1), events=ev["events"],
                 republished=ev["republished"], second_payloads=ev["second_payloads"])
    assert_exact(row)
    assert ev["second_payloads"] == 0, ev
    assert sum(pending_counts) > 0, ("no kill hit the window between the database write and "
                                     f"the broker's ack: {pending_counts}")
    wait_until(lambda: metric(appt, "clinic_outbox_pending") == 0, 60, message="outbox drained")
    assert appt.stop() == 0
    assert fin.stop() == 0


def test_kill9_financial_during_consumption(pair, topic, stack):
    """financial kill -9'd twice while it works through a backlog of 400
    events, restarted each time, then once more while 150 more consultations
    finish live: each billed exactly once (replays of uncommitted offsets are
    absorbed by the idempotent write)."""
    seed = _seed()
    rng = random.Random(seed)
    began = time.monotonic()
    appt, fin = pair  # both ready
    appt_db, fin_db = databases(appt, fin)
    boot = stack.kafka.bootstrap
    ends = start_many(appt, 550)
    order = list(ends)
    backlog, live = order[:400], order[400:]
    ids = set(order)

    assert fin.stop() == 0  # a backlog builds up
    finish_many(appt, backlog, ends)
    wait_until(lambda: sum(end_offsets(boot, topic).values()) >= 400, 60,
               message="400 events published")

    def billed() -> int:
        return fin_db.billings.count_documents({})

    kill_points = []
    fin.start(timeout=60)
    for target in sorted(rng.sample(range(60, 340), 2)):
        wait_until(lambda: billed() >= target, 120, interval=0.02,
                   message=f"{target} billed before the kill")
        fin.kill()
        kill_points.append(billed())
        fin.start(timeout=60)

    # Live: 150 finish while financial is killed once more mid-stream.
    stream_err: list[BaseException] = []

    def stream() -> None:
        try:
            finish_many(appt, live, ends, threads=2)
        except BaseException as e:  # noqa: BLE001
            stream_err.append(e)

    t = threading.Thread(target=stream)
    t.start()
    wait_until(lambda: billed() >= 400 + rng.randint(20, 60), 180, interval=0.02,
               message="live stream being billed")
    fin.kill()
    kill_points.append(billed())
    fin.start(timeout=60)
    t.join(180)
    assert not stream_err, stream_err

    r = settle(appt_db, fin_db, ids, timeout=180)
    ev = topic_events(boot, topic, ids)
    row = record("kill9-financial", len(ids), r, fin_db, ids, began, seed=seed,
                 kills=len(kill_points), billed_at_kill=kill_points,
                 duplicates_ignored_after_last_restart=metric(fin, "clinic_duplicates_ignored_total"),
                 events=ev["events"], second_payloads=ev["second_payloads"])
    assert_exact(row)
    wait_ready(fin)
    assert fin.stop() == 0
    assert appt.stop() == 0
