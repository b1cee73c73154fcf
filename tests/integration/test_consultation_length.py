"""A consultation has a maximum length (issue 19, point 2).

A consultation started by mistake in 1971 and finished now billed about
480,000 hours. MAX_CONSULTATION_HOURS (default 24) bounds it on both sides:
the appointment service answers a finish past it with 422 naming end_date
and changes nothing; the financial service dead-letters such an event
(`too_long`) instead of billing it, and bills a consultation of exactly the
maximum."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from harness import assert_problem, consume, end_offsets, http, iso, produce, wait_until

PHYS = str(uuid.uuid4())
PAT = str(uuid.uuid4())


def _start(appt, start: datetime) -> dict:
    r = http("POST", appt.url("/appointments"),
             json={"physician_id": PHYS, "patient_id": PAT, "start_date": iso(start)})
    assert r.status == 201, r.body
    return r.body


def test_a_finish_past_the_maximum_is_422_naming_end_date_and_changes_nothing(start_service, topic):
    appt = start_service("appointment", KAFKA_TOPIC=topic)  # the default: 24 h
    now = datetime.now(timezone.utc).replace(microsecond=0)
    begin = now - timedelta(hours=30)
    a = _start(appt, begin)
    # No end_date: "now" is 30 h after the start.
    r = http("POST", appt.url(f"/appointments/{a['id']}/finish"), json={})
    assert_problem(r, 422, "end_date")
    assert "MAX_CONSULTATION_HOURS" in r.body["detail"]
    # An end_date one second past 24 h, on the route and on the Python service's.
    late = {"end_date": iso(begin + timedelta(hours=24, seconds=1))}
    assert_problem(http("POST", appt.url(f"/appointments/{a['id']}/finish"), json=late), 422, "end_date")
    assert_problem(http("POST", appt.url(f"/{a['id']}"), json=late), 422, "end_date")
    got = http("GET", appt.url(f"/appointments/{a['id']}")).body
    assert got["status"] == "started" and got["end_date"] is None
    # Exactly 24 h is a consultation like any other.
    r = http("POST", appt.url(f"/appointments/{a['id']}/finish"),
             json={"end_date": iso(begin + timedelta(hours=24))})
    assert r.status == 200, r.body
    assert r.body["end_date"] == iso(begin + timedelta(hours=24))


def test_the_maximum_is_configurable(start_service, topic):
    appt = start_service("appointment", KAFKA_TOPIC=topic, MAX_CONSULTATION_HOURS=2)
    begin = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=5)
    a = _start(appt, begin)
    over = {"end_date": iso(begin + timedelta(hours=2, minutes=1))}
    assert_problem(http("POST", appt.url(f"/appointments/{a['id']}/finish"), json=over), 422, "end_date")
    ok = {"end_date": iso(begin + timedelta(hours=2))}
    assert http("POST", appt.url(f"/appointments/{a['id']}/finish"), json=ok).status == 200


def test_an_event_past_the_maximum_is_dead_lettered_too_long_never_billed(start_financial):
    fin = start_financial(MAX_CONSULTATION_HOURS=24)
    dlq = fin.topic + ".dlq"
    dlq_before = end_offsets(fin.bootstrap, dlq)
    t0 = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)

    def event(hours: float) -> dict:
        return {"appointment_id": str(uuid.uuid4()), "physician_id": PHYS, "patient_id": PAT,
                "start_date": iso(t0), "end_date": iso(t0 + timedelta(hours=hours)),
                "hourly_price_cents": 20000, "currency": "BRL"}

    headers = {"ce_specversion": "1.0", "ce_id": str(uuid.uuid4()), "ce_source": "/clinic-events/appointment",
               "ce_type": "clinic.appointment.finished.v1", "ce_time": iso(t0),
               "content-type": "application/json"}
    too_long, whole_day, after = event(24 + 1 / 3600), event(24), event(1)
    where = {}
    for ev in (too_long, whole_day, after):
        where[ev["appointment_id"]] = produce(fin.bootstrap, fin.topic, json.dumps(ev),
                                              key=ev["appointment_id"], headers=headers, partition=0)
    for ev, total in ((whole_day, 4800.00), (after, 200.00)):
        r = wait_until(lambda ev=ev: (x := http("GET", fin.url(f"/billings/{ev['appointment_id']}"))).status == 200
                       and x, 20, message="billed")
        assert r.body["total_price"] == total
    letters = consume(fin.bootstrap, dlq, dlq_before, timeout=15, max_messages=1)
    assert len(letters) == 1
    h = letters[0].headers
    assert h["dlq_reason"].startswith("too_long"), h["dlq_reason"]
    assert (int(h["dlq_source_partition"]), int(h["dlq_source_offset"])) == where[too_long["appointment_id"]]
    assert http("GET", fin.url(f"/billings/{too_long['appointment_id']}")).status == 404
