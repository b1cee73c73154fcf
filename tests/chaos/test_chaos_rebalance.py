"""Chaos: consumer-group rebalances on a 3-broker cluster (replication factor
3, min.insync.replicas 2). Two financial instances share the group; while
consultations finish as a steady stream, one leaves gracefully (SIGTERM) and
comes back, then the other is kill -9'd and comes back, then a broker is
kill -9'd and comes back. Partitions move each time; offsets are committed only after the billing is written, so nothing is
lost and the idempotent write absorbs the re-reads.
"""

from __future__ import annotations

import threading
import time
import uuid

import pytest

from harness import metric, wait_ready, wait_until
from harness.chaos import (appointment_env, assert_exact, databases, financial_env, finish_many,
                           record, settle, start_many, topic_events)

pytestmark = pytest.mark.chaos


def test_rebalance_stop_and_kill9_of_financial_instances(start_service, kafka_cluster):
    began = time.monotonic()
    boot = kafka_cluster.bootstrap
    topic = f"chaos.rebalance.{uuid.uuid4().hex[:8]}"
    kafka_cluster.create_topic(topic, 6)
    kafka_cluster.create_topic(topic + ".dlq", 1)
    group = f"financial-rebalance-{uuid.uuid4().hex[:8]}"
    fin_env = {**financial_env(topic, group), "KAFKA_BOOTSTRAP": boot}
    fa = start_service("financial", **fin_env)
    fb = start_service("financial", **fin_env)
    appt = start_service("appointment", **appointment_env(topic), KAFKA_BOOTSTRAP=boot)
    for s in (fa, fb, appt):
        wait_ready(s, 60)
    wait_until(lambda: metric(fa, "clinic_consumer_assigned_partitions")
               + metric(fb, "clinic_consumer_assigned_partitions") == 6, 60,
               message="6 partitions shared by the two instances")
    split_before = (metric(fa, "clinic_consumer_assigned_partitions"),
                    metric(fb, "clinic_consumer_assigned_partitions"))
    appt_db, fin_db = databases(appt, fa)
    n = 600
    ends = start_many(appt, n)
    ids = set(ends)

    progress = [0]
    log: list[str] = []
    errors: list[BaseException] = []
    stream_done = threading.Event()

    def at(count: int) -> None:
        while progress[0] < count and not stream_done.is_set():
            time.sleep(0.01)

    def chaos() -> None:
        try:
            at(100)
            code = fb.stop()
            log.append(f"B SIGTERM at {progress[0]} (exit {code})")
            assert code == 0, f"financial B exited {code} on SIGTERM"
            wait_until(lambda: metric(fa, "clinic_consumer_assigned_partitions") == 6, 60,
                       message="A took every partition")
            log.append(f"A owns 6 at {progress[0]}")
            at(250)
            fb.start(timeout=60)
            log.append(f"B back at {progress[0]}")
            at(350)
            fa.kill()
            log.append(f"A kill -9 at {progress[0]}")
            wait_until(lambda: metric(fb, "clinic_consumer_assigned_partitions") == 6, 60,
                       message="B took every partition after A's session expired")
            log.append(f"B owns 6 at {progress[0]}")
            at(430)
            fa.start(timeout=60)
            log.append(f"A back at {progress[0]}")
            at(470)
            kafka_cluster.kill(2)
            log.append(f"broker 2 kill -9 at {progress[0]}")
            at(540)
            kafka_cluster.start(2)
            log.append(f"broker 2 back at {progress[0]}")
        except BaseException as e:  # noqa: BLE001 - reported by the test
            errors.append(e)

    t = threading.Thread(target=chaos, name="chaos")
    t.start()
    try:
        finish_many(appt, list(ends), ends, threads=2, pace=0.04, progress=progress,
                    deadline=time.monotonic() + 300)
    finally:
        stream_done.set()
        t.join(180)
        if not kafka_cluster.running(2):
            kafka_cluster.start(2)
    assert not errors, (errors, log)
    for s in (fa, fb):
        if not s.running():
            s.start(timeout=60)

    r = settle(appt_db, fin_db, ids, timeout=150)
    wait_until(lambda: metric(fa, "clinic_consumer_assigned_partitions")
               + metric(fb, "clinic_consumer_assigned_partitions") == 6, 60,
               message="6 partitions shared again")
    ev = topic_events(boot, topic, ids)
    row = record("rebalance", n, r, fin_db, ids, began, brokers=3, partitions=6,
                 split_before=split_before, steps=log,
                 split_after=(metric(fa, "clinic_consumer_assigned_partitions"),
                              metric(fb, "clinic_consumer_assigned_partitions")),
                 events=ev["events"], second_payloads=ev["second_payloads"])
    assert_exact(row)
    for s in (appt, fa, fb):
        assert s.stop() == 0, s
