"""Chaos: 1,000 consultations, 5 % of them poisoned in varied ways, while the
financial service is kill -9'd twice; then the fix (CURRENCIES=BRL,USD) and a
replay job. Every consultation is billed exactly once, the dead letters left
open are exactly the unfixable ones (discarded with a note), and the
reconciler's clinic_unbilled_consultations returns to 0.

The poison:
  fixable    consultations of a second appointment service that prices in USD
             (CURRENCY=USD; same database and topic): real consultations, listed
             by GET /appointments/finished, whose events financial dead-letters
             with reason `currency` while it runs with CURRENCIES=BRL. The
             reconciler counts them unbilled until the replay bills them.
  unfixable  messages produced straight onto the topic (undecodable bytes,
             schema violations, end before start, another ce_type or
             ce_source, too long): no consultation behind them, so never
             counted unbilled; dead-lettered once each, then discarded.

CHAOS_SEED fixes the mix, the moments the poison arrives and the kill points
(printed, and recorded in var/chaos/results.jsonl).
"""

from __future__ import annotations

import json
import os
import random
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

import pytest

from harness import http, iso, metric, now, produce, wait_ready, wait_until
from harness.chaos import assert_exact, databases, finish_many, record, settle, start_many, topic_events
from harness.dead_letters import AS_ADMIN, TOKENS, admin, all_dead_letters, replay_job
from harness.events import ce_headers, event
from harness.processes import appointment_env

pytestmark = pytest.mark.chaos

CONSULTATIONS = 1000
POISONED = 50  # 5 %
USD_PRICE_CENTS = 5000


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _poison(kind: str, rng: random.Random) -> dict:
    """One unfixable message of `kind` (the dead-letter reason it must get):
    {reason, key, value, headers}, a variant of the kind picked by rng."""
    start = now() - timedelta(hours=rng.uniform(6, 20))
    ev = event(_uuid(rng), start=start, duration=timedelta(minutes=rng.randint(5, 120)))
    headers = ce_headers(_uuid(rng), ev["end_date"])
    variant = rng.randrange(4)
    if kind == "undecodable":
        value = [b"not json {", bytes(rng.getrandbits(8) | 0x80 for _ in range(rng.randint(1, 64))), b"",
                 json.dumps(ev).encode()[:-1]][variant]
    elif kind == "schema":
        if variant == 0:
            del ev["currency"]
        elif variant == 1:
            ev["physician_id"] = "not-a-uuid"
        elif variant == 2:
            ev["hourly_price_cents"] = -rng.randint(1, 20000)
        else:
            ev["hourly_price_cents"] = "200.00"
        value = json.dumps(ev).encode()
    elif kind == "end_before_start":
        ev["end_date"] = iso(start - timedelta(minutes=rng.randint(1, 600)))
        value = json.dumps(ev).encode()
    elif kind == "not_ours":
        if variant % 2:
            headers["ce_type"] = "clinic.appointment.cancelled.v1"
        else:
            headers["ce_source"] = "/clinic-events/somewhere-else"
        value = json.dumps(ev).encode()
    elif kind == "too_long":  # past MAX_CONSULTATION_HOURS (48 in the harness's settings)
        ev = event(ev["appointment_id"], start=start - timedelta(hours=60),
                   duration=timedelta(hours=rng.randint(49, 60)))  # ends in the past
        value = json.dumps(ev).encode()
    else:
        raise ValueError(kind)
    return {"reason": kind, "key": ev["appointment_id"], "value": value, "headers": headers}


UNFIXABLE = ("undecodable", "schema", "end_before_start", "not_ours", "too_long")


def test_poison_and_two_kills_then_a_fix_and_a_replay_bill_every_consultation_once(
        appt, start_service, start_financial, topic, stack):
    seed = int(os.environ.get("CHAOS_SEED") or random.randrange(1 << 30))
    print(f"\nCHAOS_SEED={seed}")
    rng = random.Random(seed)
    began = time.monotonic()
    boot = stack.kafka.bootstrap

    # The mix: u fixable (USD), the rest unfixable, every unfixable kind at least once.
    n_usd = rng.randint(15, 25)
    n_raw = POISONED - n_usd
    kinds = list(UNFIXABLE) + [rng.choice(UNFIXABLE) for _ in range(n_raw - len(UNFIXABLE))]
    rng.shuffle(kinds)
    poison = [_poison(k, rng) for k in kinds]
    n_real = CONSULTATIONS - n_raw  # BRL + USD consultations in the appointment service

    appt_usd = start_service("appointment", **appointment_env(topic), CURRENCY="USD",
                             HOURLY_PRICE=f"{USD_PRICE_CENTS / 100:.2f}")
    fin_env = {"AUTH_TOKENS": TOKENS, "HTTP_HOST": "127.0.0.1", "CURRENCIES": "BRL",
               "APPOINTMENT_URL": appt.base_url, "RECONCILE_INTERVAL_S": 1, "RECONCILE_AFTER_S": 1,
               "RECONCILE_WINDOW_S": 2 * 86400}
    fin = start_financial(**fin_env)
    wait_ready(appt)
    wait_ready(appt_usd)
    appt_db, fin_db = databases(appt, fin)

    ends = start_many(appt, n_real - n_usd)
    brl = set(ends)
    usd_ends = start_many(appt_usd, n_usd)
    usd = set(usd_ends)
    ends.update(usd_ends)
    ids = brl | usd
    order = sorted(ids)
    rng.shuffle(order)
    # The raw poison arrives between finishes; financial is killed at two billed
    # counts in the first half of the stream, which is paced (~40 s) so that
    # consultations are still arriving at each kill and after each restart.
    poison_at = sorted(rng.sample(range(len(order)), n_raw))
    kill_at = sorted(rng.sample(range(100, len(brl) // 2), 2))

    progress = [0]
    errors: list[BaseException] = []
    where: list[tuple[int, int]] = []

    def poisoner() -> None:
        try:
            for at, p in zip(poison_at, poison):
                wait_until(lambda: progress[0] >= at or errors, 300, interval=0.01, message="finishes")
                if errors:
                    return
                where.append(produce(boot, topic, p["value"], key=p["key"], headers=p["headers"]))
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    def stream() -> None:
        try:
            finish_many(appt, order, ends, threads=4, deadline=time.monotonic() + 400, progress=progress,
                        pace=0.15)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=poisoner, name="poisoner"), threading.Thread(target=stream)]
    for t in threads:
        t.start()

    def billed() -> int:
        return fin_db.billings.count_documents({})

    billed_at_kill = []
    try:
        for target in kill_at:
            # Past the target, and billing again since the last restart.
            wait_until(lambda: billed() >= max(target, *billed_at_kill[-1:], 0) + 1, 300, interval=0.02,
                       message=f"{target} billed before the kill")
            fin.kill()
            billed_at_kill.append(billed())
            fin.start(timeout=60)
    finally:
        for t in threads:
            t.join(420)
    assert not errors, errors
    assert len(where) == n_raw
    assert max(billed_at_kill) < len(brl), f"a kill came after the last billing: {billed_at_kill}"

    # Every BRL consultation billed once; none of the USD ones yet.
    r = settle(appt_db, fin_db, brl, timeout=180)
    assert r["missing"] == 0 and r["extra"] == 0 and r["mismatched"] == 0, r
    assert fin_db.billings.count_documents({"_id": {"$in": sorted(usd)}}) == 0

    # Dead letters: one per USD event on the topic (a re-published event is a
    # message of its own), one per raw poison message; the kills only add attempts.
    for svc in (appt, appt_usd):  # nothing left for a relay to re-publish later
        wait_until(lambda: metric(svc, "clinic_outbox_pending") == 0, 60, message="outbox drained")
    usd_events = topic_events(boot, topic, usd)
    assert usd_events["keys"] == n_usd, usd_events
    want = usd_events["events"] + n_raw
    letters = wait_until(lambda: (x := all_dead_letters(fin, "status=open")) and len(x) >= want and x,
                         120, message=f"{want} dead letters recorded")
    assert len(letters) == want, Counter(i["reason"] for i in letters)
    currency = [i for i in letters if i["reason"] == "currency"]
    assert len(currency) == usd_events["events"]
    assert {i["appointment_id"] for i in currency} == usd
    assert Counter(i["reason"] for i in letters if i["reason"] != "currency") == Counter(kinds)
    assert {i["source"] for i in letters if i["reason"] != "currency"} == \
        {f"{topic}/{p}/{o}" for p, o in where}

    # The reconciler asks appointment what finished: the USD consultations are
    # unbilled, the raw poison (no consultation behind it) is not.
    wait_until(lambda: metric(fin, "clinic_unbilled_consultations", AS_ADMIN) == n_usd, 60,
               message=f"clinic_unbilled_consultations == {n_usd} before the fix")
    unbilled = admin(fin, "GET", "/reconciliation/unbilled").body
    assert unbilled["count"] == n_usd and {i["appointment_id"] for i in unbilled["items"]} == usd

    # The fix: USD is billed from now on; a replay job bills what was dead-lettered.
    assert fin.stop() == 0
    fixed = start_financial(**{**fin_env, "CURRENCIES": "BRL,USD"})
    job = replay_job(fixed, {"reason": "currency", "max_per_second": 1000}, timeout=120)
    counts = job["counts"]
    assert job["status"] == "done", job
    assert counts["matched"] == len(currency), counts
    assert counts["billed"] == n_usd, counts
    assert counts["already_billed"] == len(currency) - n_usd, counts
    assert counts["still_failing"] == 0 and counts["skipped"] == 0, counts
    replayed_at = time.time()

    # Left open: exactly the unfixable ones; discarded with a note.
    still_open = all_dead_letters(fixed, "status=open")
    assert Counter(i["reason"] for i in still_open) == Counter(kinds)
    for item in still_open:
        d = admin(fixed, "POST", f"/dead-letters/{item['id']}/discard",
                  {"note": f"chaos poison ({item['reason']}): nothing to bill"})
        assert d.status == 200 and d.body["status"] == "discarded", d.body
    assert all_dead_letters(fixed, "status=open") == []
    wait_until(lambda: all(metric(fixed, f'clinic_dead_letters_open{{reason="{k}"}}', AS_ADMIN) == 0
                           for k in ("currency", *UNFIXABLE)), 30, message="clinic_dead_letters_open 0")
    assert len(all_dead_letters(fixed, "status=replayed")) == len(currency)

    # Exactly once: every consultation, BRL and USD, one billing of the right total.
    r = settle(appt_db, fin_db, ids, timeout=60)
    row = record("dead-letters", len(ids), r, fin_db, ids, began, seed=seed, poisoned=POISONED,
                 usd=n_usd, raw=dict(Counter(kinds)), usd_events=usd_events["events"],
                 kills=len(billed_at_kill), billed_at_kill=billed_at_kill, replay=counts)
    assert_exact(row)
    assert fin_db.billings.count_documents({}) == len(ids)  # nothing billed for the raw poison
    assert {b["currency"] for b in fin_db.billings.find({"_id": {"$in": sorted(usd)}})} == {"USD"}

    def reconciled_after_replay() -> bool:
        return (metric(fixed, "clinic_reconciliation_last_success_timestamp_seconds", AS_ADMIN) > replayed_at
                and metric(fixed, "clinic_unbilled_consultations", AS_ADMIN) == 0)
    wait_until(reconciled_after_replay, 60, message="clinic_unbilled_consultations back to 0")
    assert http("GET", fixed.url("/reconciliation/unbilled"), headers=AS_ADMIN).body["count"] == 0
    for svc in (fixed, appt_usd, appt):
        assert svc.stop() == 0
