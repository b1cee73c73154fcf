"""The original Python service's clients, end to end through the
compatibility routes only: `POST /` starts, `POST /{id}/` or `POST /{id}`
finishes, financial's `GET /{id}/` returns the billing. Its shapes: the
fields id, start_date, end_date, physician_id, patient_id, price;
`YYYY-MM-DD HH:MM:SS` dates taken as UTC; its start answered 200; its dates
answered naive (UTC, microseconds, no offset); total_price a JSON number.
tests/integration/test_compat_clients.py calls them exactly as its clients
did (the requests library, no Content-Type)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from harness import consume, end_offsets, http, iso, wait_until

PHYS = "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
PAT = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
PYTHON_FIELDS = {"id", "start_date", "end_date", "physician_id", "patient_id", "price"}


def python_form(dt: datetime) -> str:
    return dt.strftime("%Y-%m-%d %H:%M:%S")


def naive(dt: datetime) -> str:
    """A UTC datetime as the original service answered it."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%f")


def billed(fin, aid: str, path: str):
    """The billing through the compatibility route, once it exists."""
    return wait_until(lambda: (r := http("GET", fin.url(path))).status == 200 and r, 30,
                      message=f"GET {path} 200 (billed)")


def test_python_client_starts_finishes_and_reads_the_bill(pair, stack):
    appt, fin = pair
    start_at = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=3)
    end_at = start_at + timedelta(hours=2, minutes=1)  # 3 started hours
    before = end_offsets(stack.kafka.bootstrap, appt.env["KAFKA_TOPIC"])

    r = http("POST", appt.url("/"), json={"physician_id": PHYS, "patient_id": PAT,
                                          "start_date": python_form(start_at)})
    assert r.status == 200, r.body
    assert PYTHON_FIELDS <= set(r.body), r.body
    aid = r.body["id"]
    assert r.body["start_date"] == naive(start_at), "a Python-form date is UTC"
    assert r.body["end_date"] is None and r.body["price"] == 200.0
    assert (r.body["physician_id"], r.body["patient_id"]) == (PHYS, PAT)

    f = http("POST", appt.url(f"/{aid}/"), json={"end_date": python_form(end_at)})
    assert f.status == 200, f.body
    assert PYTHON_FIELDS <= set(f.body) and f.body["end_date"] == naive(end_at)
    # Without the trailing slash, the same end: the same document, no second event.
    again = http("POST", appt.url(f"/{aid}"), json={"end_date": python_form(end_at)})
    assert again.status == 200 and again.body == f.body

    for path in (f"/{aid}/", f"/{aid}"):
        b = billed(fin, aid, path)
        assert b.body["appointment_id"] == aid
        total = b.body["total_price"]
        assert isinstance(total, (int, float)) and not isinstance(total, bool), total
        assert total == 600.0, b.body
        assert b'"total_price":600.00' in b.raw
    events = [m for m in consume(stack.kafka.bootstrap, appt.env["KAFKA_TOPIC"], before, timeout=10)
              if m.key == aid]
    assert len(events) == 1, [m.value for m in events]  # consume() checked it against the schema
    assert json.loads(events[0].value)["end_date"] == iso(end_at)


def test_python_client_finishes_now_without_a_body(pair):
    appt, fin = pair
    r = http("POST", appt.url("/"), json={"physician_id": PHYS, "patient_id": PAT})
    assert r.status == 200, r.body
    aid = r.body["id"]
    f = http("POST", appt.url(f"/{aid}"))  # no body, no trailing slash: now
    assert f.status == 200 and f.body["end_date"] is not None, f.body
    b = billed(fin, aid, f"/{aid}/")
    assert b.body["total_price"] == 200.0, b.body  # under an hour bills one


def test_python_routes_reject_what_the_python_service_rejected(pair):
    appt, fin = pair
    r = http("POST", appt.url("/"), json={"physician_id": "not-a-uuid", "patient_id": PAT})
    assert r.status == 400 and r.body["field"] == "physician_id", r.body
    r = http("POST", appt.url("/"), json={"physician_id": PHYS, "patient_id": PAT,
                                          "start_date": "2024-13-01 10:00:00"})
    assert r.status == 400 and r.body["field"] == "start_date", r.body
    assert http("POST", appt.url(f"/{uuid.uuid4()}/"), json={}).status == 404
    assert http("GET", fin.url(f"/{uuid.uuid4()}/")).status == 404


def test_compat_routes_match_only_uuid_shaped_segments(pair):
    """As both OpenAPI documents say: other single-segment paths are not
    swallowed by the compatibility routes."""
    appt, fin = pair
    r = http("POST", appt.url("/healthz"), json={})
    assert r.status == 405 and r.headers["allow"] == "GET", (r.status, r.body)
    assert http("POST", appt.url("/not-a-uuid/"), json={}).status == 404
    assert http("GET", fin.url("/not-a-uuid/")).status == 404
