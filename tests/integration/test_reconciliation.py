"""Continuous reconciliation (financial/reconcile.c): the financial service
asks the appointment service's GET /appointments/finished what finished and
checks each for its billing; /metrics and GET /reconciliation/unbilled say
how many are missing. Short RECONCILE_* settings; the financial service
under test reads a topic nothing is published to, as if its consumer were
stopped, and a second financial service on the real topic bills later."""

from __future__ import annotations

import time
import uuid
from datetime import timedelta

import pytest

from harness import http, iso, metric, now, wait_ready, wait_until

PHYS = "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
PAT = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
AFTER_S = 4


def start_and_finish(appt, start=None, end=None) -> str:
    body = {"physician_id": PHYS, "patient_id": PAT}
    if start:
        body["start_date"] = start
    r = http("POST", appt.url("/appointments"), json=body)
    assert r.status == 201, r.body
    r = http("POST", appt.url(f"/appointments/{r.body['id']}/finish"),
             json={"end_date": end} if end else {})
    assert r.status == 200, r.body
    return r.body["id"]


def unbilled(fin) -> dict:
    r = http("GET", fin.url("/reconciliation/unbilled"))
    assert r.status == 200, r.body
    return r.body


@pytest.fixture
def services(start_service, stack, dbname, topic):
    """The appointment service on `topic`; a financial service with a database
    of its own whose consumer reads an empty topic (nothing it would bill),
    reconciling every second."""
    appt = start_service("appointment", KAFKA_TOPIC=topic)
    idle = f"{topic}.idle"
    stack.kafka.create_topic(idle, 1)
    fin_db = stack.ferretdb.uri(dbname + "_fin")
    fin = start_service("financial", MONGODB_URI=fin_db, KAFKA_TOPIC=idle,
                        KAFKA_GROUP_ID=f"g-{uuid.uuid4().hex[:8]}", APPOINTMENT_URL=appt.base_url,
                        RECONCILE_INTERVAL_S=1, RECONCILE_AFTER_S=AFTER_S, RECONCILE_WINDOW_S=3600)
    wait_ready(appt, everything=False)
    wait_ready(fin, everything=False)
    return appt, fin, fin_db


def test_counts_exactly_the_missing_billings_and_returns_to_zero(services, start_service, topic):
    appt, fin, fin_db = services
    wait_until(lambda: metric(fin, "clinic_reconciliation_up") == 1, 20,
               message="the reconciler never succeeded")
    assert metric(fin, "clinic_unbilled_consultations") == 0
    # Finished two hours ago: outside the window, never counted.
    old = start_and_finish(appt, iso(now() - timedelta(hours=3)), iso(now() - timedelta(hours=2)))
    ids = {start_and_finish(appt) for _ in range(3)}
    finished_at = time.monotonic()
    # Inside RECONCILE_AFTER_S they are not expected billed yet: never counted.
    while time.monotonic() - finished_at < AFTER_S - 1.5:
        assert metric(fin, "clinic_unbilled_consultations") == 0
        time.sleep(0.3)
    wait_until(lambda: metric(fin, "clinic_unbilled_consultations") == 3, 20,
               message="the three unbilled consultations were not counted")
    body = unbilled(fin)
    assert body["up"] is True and body["count"] == 3 and body["truncated"] is False
    assert {i["appointment_id"] for i in body["items"]} == ids
    assert old not in {i["appointment_id"] for i in body["items"]}
    assert metric(fin, "clinic_unbilled_oldest_age_seconds") >= AFTER_S
    # Stays exact: a few more runs count the same.
    time.sleep(2.5)
    assert metric(fin, "clinic_unbilled_consultations") == 3

    # A consumer on the real topic bills them (into the reconciler's database).
    start_service("financial", MONGODB_URI=fin_db, KAFKA_TOPIC=topic,
                  KAFKA_GROUP_ID=f"g-{uuid.uuid4().hex[:8]}", APPOINTMENT_URL=appt.base_url)
    wait_until(lambda: metric(fin, "clinic_unbilled_consultations") == 0, 60,
               message="the count did not return to 0 after billing")
    body = unbilled(fin)
    assert body["count"] == 0 and body["items"] == [] and body["oldest_age_seconds"] == 0
    assert metric(fin, "clinic_unbilled_oldest_age_seconds") == 0


def test_appointment_down_goes_stale_not_zero(services):
    appt, fin, _ = services
    start_and_finish(appt)
    start_and_finish(appt)
    wait_until(lambda: metric(fin, "clinic_unbilled_consultations") == 2, 30)
    appt.stop()
    wait_until(lambda: metric(fin, "clinic_reconciliation_up") == 0, 20,
               message="clinic_reconciliation_up stayed 1 with the appointment service down")
    last = metric(fin, "clinic_reconciliation_last_success_timestamp_seconds")
    assert last > 0
    time.sleep(3)
    # Stale, and saying so: the last success does not advance, the count is
    # the last known one (not 0), and the list says up: false.
    assert metric(fin, "clinic_reconciliation_last_success_timestamp_seconds") == last
    assert metric(fin, "clinic_unbilled_consultations") == 2
    body = unbilled(fin)
    assert body["up"] is False and body["count"] == 2
    appt.start()
    wait_until(lambda: metric(fin, "clinic_reconciliation_up") == 1, 20)
    assert metric(fin, "clinic_reconciliation_last_success_timestamp_seconds") > last


def test_never_succeeded_reads_absent_not_zero(start_service):
    """An appointment service that never answered: no count at all (not 0)."""
    fin = start_service("financial", APPOINTMENT_URL="http://127.0.0.1:9",
                        RECONCILE_INTERVAL_S=1, RECONCILE_AFTER_S=1, RECONCILE_WINDOW_S=60)
    time.sleep(2)
    assert metric(fin, "clinic_reconciliation_up") == 0
    assert metric(fin, "clinic_reconciliation_last_success_timestamp_seconds") == 0
    text = http("GET", fin.url("/metrics")).body
    assert "\nclinic_unbilled_consultations " not in text
    body = unbilled(fin)
    assert body == {"up": False, "last_success": None, "count": None, "oldest_age_seconds": None,
                    "items": [], "truncated": False}


def test_finished_pages_walk_end_days(start_service, topic):
    appt = start_service("appointment", KAFKA_TOPIC=topic)
    a = start_and_finish(appt, "2024-05-01T10:00:00Z", "2024-05-01T11:00:00Z")
    b = start_and_finish(appt, "2024-05-02T09:00:00Z", "2024-05-02T10:00:00Z")
    c = start_and_finish(appt, "2024-05-02T12:00:00Z", "2024-05-02T13:00:00Z")
    start_and_finish(appt, "2024-05-03T12:00:00Z", "2024-05-03T13:00:00Z")  # after `to`
    seen, cursor = [], None
    for _ in range(5):
        q = "from=2024-05-01T00:00:00Z&to=2024-05-03T00:00:00Z&limit=1"
        r = http("GET", appt.url("/appointments/finished?" + q + (f"&cursor={cursor}" if cursor else "")))
        assert r.status == 200, r.body
        seen += [(i["id"], i["end_date"]) for i in r.body["items"]]
        cursor = r.body["next_cursor"]
        if not cursor:
            break
    # Newest end day first, newest id first within a day.
    assert [i for i, _ in seen] == [c, b, a]
    assert seen[0][1] == "2024-05-02T13:00:00Z"
    r = http("GET", appt.url("/appointments/finished?from=2024-05-01T11:00:00Z&to=2024-05-02T10:00:00Z"))
    assert [i["id"] for i in r.body["items"]] == [a], "from is inclusive, to exclusive"


@pytest.mark.parametrize("query,field", [
    ("to=2024-05-02T00:00:00Z", "from"),
    ("from=2024-05-01T00:00:00Z", "to"),
    ("from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", "to"),
    ("from=2024-01-01T00:00:00Z&to=2024-03-01T00:00:00Z", "to"),
    ("from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z&limit=501", "limit"),
    ("from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z&cursor=nope", "cursor"),
    ("from=2024-05-01T00:00:00Z&to=2024-05-02T00:00:00Z"
     "&cursor=2024-06-01.01901a2b-3c4d-7e5f-8a6b-7c8d9e0f1a2b", "cursor"),
])
def test_finished_rejects_bad_queries(start_service, topic, query, field):
    appt = start_service("appointment", KAFKA_TOPIC=topic)
    r = http("GET", appt.url("/appointments/finished?" + query))
    assert r.status == 400 and r.body["field"] == field, r.body
