"""Chaos: the broker or the database (FerretDB, or PostgreSQL under a FerretDB
that stays up) goes away for real while consultations finish, and comes
back. Nothing is lost, nothing is billed twice.

Each scenario prints "scenario=... sent=N billed=N lost=N doubled=N ..." and
appends it to var/chaos/results.jsonl (see tests/harness/chaos.py).
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from harness import (FerretDB, Postgres, committed, end_offsets, http, metric, wait_drained, wait_ready,
                     wait_until)
from harness.chaos import (appointment_env, assert_exact, databases, financial_env, finish_many,
                           record, settle, start_many, topic_events)

pytestmark = pytest.mark.chaos


def test_broker_down_while_200_finish(pair, topic, stack):
    """Kafka stopped (data kept) while 200 consultations finish: every finish
    still answers 200 at once, appointment stays ready (/readyz 200 saying
    "kafka":"down"), the events wait in the outbox; after the restart each is
    billed exactly once."""
    began = time.monotonic()
    appt, fin = pair  # both ready
    ends = start_many(appt, 200)
    ids = set(ends)
    appt_db, fin_db = databases(appt, fin)

    stack.kafka.stop()
    down_at = time.monotonic()
    try:
        t0 = time.monotonic()
        retries = finish_many(appt, list(ends), ends, threads=4)
        finish_s = time.monotonic() - t0
        assert retries == 0, f"{retries} finishes needed a retry while only the broker was down"
        r = wait_until(lambda: (x := http("GET", appt.url("/readyz"))).body["checks"]["kafka"]
                       == "down" and x, 20, message="appointment /readyz says kafka down")
        assert r.status == 200 and r.body["status"] == "ready", r.body
        assert http("GET", appt.url("/healthz")).status == 200
        time.sleep(3.5)  # past KAFKA_MESSAGE_TIMEOUT_MS: the relay owns the events now
        pending = metric(appt, "clinic_outbox_pending")
        assert pending == 200, f"clinic_outbox_pending={pending} with the broker down"
        assert fin_db.billings.count_documents({"_id": {"$in": sorted(ids)}}) == 0
    finally:
        stack.kafka.start()
    outage_s = time.monotonic() - down_at

    r = settle(appt_db, fin_db, ids, timeout=150)
    ev = topic_events(stack.kafka.bootstrap, topic, ids)
    row = record("broker-down", len(ids), r, fin_db, ids, began, outage_s=round(outage_s, 1),
                 finish_all_s=round(finish_s, 1), events=ev["events"],
                 republished=ev["republished"], second_payloads=ev["second_payloads"],
                 relayed=metric(appt, "clinic_events_relayed_total"),
                 duplicates_ignored=metric(fin, "clinic_duplicates_ignored_total"))
    assert_exact(row)
    assert ev["second_payloads"] == 0, ev
    wait_ready(appt, 60)
    wait_until(lambda: metric(appt, "clinic_outbox_pending") == 0, 30, message="outbox drained")
    assert appt.running() and fin.running()
    assert appt.stop() == 0
    assert fin.stop() == 0


def _assert_503(r, what: str) -> None:
    assert r.status == 503, (what, r.status, r.body)
    assert r.headers.get("retry-after"), (what, r.headers)
    assert r.headers.get("content-type", "").startswith("application/problem+json"), (what, r.headers)


@pytest.mark.parametrize("down", ["ferretdb", "postgres", "postgres-kill9"])
def test_database_down_then_back_nothing_lost(start_service, topic, stack, dbname, down):
    """Three outages of MongoDB: FerretDB stopped for real ("database-down"),
    PostgreSQL stopped under a FerretDB that stays up and answers every
    command with an error ("postgres-down"), or PostgreSQL kill -9'd there
    ("postgres-kill9": a crash; what it acknowledged must survive its
    recovery, as fsync and synchronous_commit stay on):

    A. financial's database down while 100 consultations finish: the consumer
       pauses and commits no offset meanwhile; it resumes by itself.
    B. appointment's database down: every API call answers 503 with
       Retry-After (nothing crashes); clients that keep retrying get their
       consultations finished once the database is back, without a restart.
    """
    began = time.monotonic()
    # financial's database on a PostgreSQL + FerretDB of its own, so A takes
    # down only financial's.
    tag = uuid.uuid4().hex[:6]
    fin_pg = Postgres(stack.dir / f"postgres-fin-{tag}", script_log=stack.script_log)
    fdb = FerretDB(stack.dir / f"ferretdb-fin-{tag}", fin_pg, script_log=stack.script_log)
    fin_down = fdb if down == "ferretdb" else fin_pg
    appt_down = stack.ferretdb if down == "ferretdb" else stack.postgres
    crash = down == "postgres-kill9"

    def outage(server) -> None:
        server.kill() if crash else server.stop()
    fin_pg.start()
    fdb.start()
    try:
        fin = start_service("financial", MONGODB_URI=fdb.uri(dbname), **financial_env(topic))
        appt = start_service("appointment", **appointment_env(topic))
        wait_ready(fin)
        wait_ready(appt)
        appt_db, fin_db = databases(appt, fin)
        ends = start_many(appt, 220)
        order = list(ends)
        warm, during_a, during_b = order[:20], order[20:120], order[120:]

        # Everything up: 20 billed and their offsets committed.
        finish_many(appt, warm, ends)
        assert settle(appt_db, fin_db, set(warm), 60)["billed"] == 20
        group, boot = fin.env["KAFKA_GROUP_ID"], stack.kafka.bootstrap
        wait_drained(fin, 30)  # the offsets of the first 20 committed
        before = committed(boot, group, topic)

        # A: financial's database down. A crash comes while billings are
        # being written: half of the 100 are finished first, and PostgreSQL
        # is killed as soon as financial has billed some of them.
        if crash:
            finish_many(appt, during_a[:50], ends)
            wait_until(lambda: metric(fin, "clinic_billings_created_total") > 20, 30,
                       message="financial billing when PostgreSQL is killed")
        billed_at_outage = metric(fin, "clinic_billings_created_total")
        outage(fin_down)
        a_down = time.monotonic()
        finish_many(appt, during_a[50:] if crash else during_a, ends)  # appointment is unaffected
        wait_until(lambda: sum(end_offsets(boot, topic).values()) >= 120, 30,
                   message="the 100 events published")
        wait_until(lambda: metric(fin, "clinic_consumer_paused") == 1, 30,
                   message="financial paused while its database is down")
        _assert_503(http("GET", fin.url(f"/billings/{during_a[0]}")), "financial GET billing")
        wait_until(lambda: http("GET", fin.url("/readyz")).status == 503, 10,
                   message="financial /readyz 503 while its database is down")
        if crash:  # commits of billings written before the kill may still land
            time.sleep(2)
            before = committed(boot, group, topic)
        time.sleep(6)  # longer than an auto-commit interval: nothing may be committed
        assert committed(boot, group, topic) == before, "offsets committed while the database was down"
        assert fin.running()
        fin_down.start()
        a_outage = time.monotonic() - a_down
        r = settle(appt_db, fin_db, set(warm + during_a), 120)
        assert r["billed"] == 120, r
        wait_until(lambda: metric(fin, "clinic_consumer_paused") == 0, 30, message="financial resumed")

        # B: appointment's database down (the session's FerretDB or PostgreSQL).
        outage(appt_down)
        b_down = time.monotonic()
        try:
            some = during_b[0]
            _assert_503(http("POST", appt.url("/appointments"),
                             json={"physician_id": str(uuid.uuid4()), "patient_id": str(uuid.uuid4())}),
                        "start")
            _assert_503(http("POST", appt.url(f"/appointments/{some}/finish"), json={}), "finish")
            _assert_503(http("GET", appt.url(f"/appointments/{some}")), "get")
            _assert_503(http("GET", appt.url("/appointments?limit=5")), "list")
            wait_until(lambda: http("GET", appt.url("/readyz")).status == 503, 10,
                       message="appointment /readyz 503 while its database is down")
            assert http("GET", appt.url("/healthz")).status == 200
            # Clients keep finishing (retrying on 503) through the outage.
            errors: list[BaseException] = []

            def clients() -> None:
                try:
                    finish_many(appt, during_b, ends, deadline=time.monotonic() + 150)
                except BaseException as e:  # noqa: BLE001 - reported below
                    errors.append(e)

            t = threading.Thread(target=clients)
            t.start()
            time.sleep(6)
            assert appt.running(), "appointment died while its database was down"
            assert fin.running()
        finally:
            appt_down.start()
        b_outage = time.monotonic() - b_down
        t.join(180)
        assert not t.is_alive() and not errors, errors
        recovered = http("POST", appt.url("/appointments"),
                         json={"physician_id": str(uuid.uuid4()), "patient_id": str(uuid.uuid4())})
        assert recovered.status == 201, recovered.body

        ids = set(order)
        r = settle(appt_db, fin_db, ids, 150)
        ev = topic_events(boot, topic, ids)
        row = record({"ferretdb": "database-down", "postgres": "postgres-down"}.get(down, down), len(ids), r, fin_db,
                     ids, began,
                     financial_db_outage_s=round(a_outage, 1),
                     billed_at_financial_db_outage=billed_at_outage,
                     appointment_db_outage_s=round(b_outage, 1),
                     db_retries=metric(fin, "clinic_db_retries_total"), events=ev["events"],
                     second_payloads=ev["second_payloads"])
        assert_exact(row)
        assert ev["second_payloads"] == 0, ev
        wait_ready(appt, 30)
        wait_ready(fin, 30)
        assert appt.stop() == 0
        assert fin.stop() == 0
    finally:
        for server in (fdb, fin_pg):
            try:
                server.stop()
            except Exception:  # noqa: BLE001
                server.kill()
