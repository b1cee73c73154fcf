"""The appointment service over real HTTP, against the real broker and FerretDB."""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from harness import (assert_problem, consume, end_offsets, free_port, http, iso, metric, mongo_client,
                     wait_ready, wait_until)

PHYS = "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
PAT = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
TOKEN_RW = "writer-token-0123456789abcdef"
TOKEN_R = "reader-token-0123456789abcdef"


def ago(**kw) -> datetime:
    return datetime.now(timezone.utc).replace(microsecond=0) - timedelta(**kw)


def start(svc, body=None, headers=None):
    return http("POST", svc.url("/appointments"),
                json=body if body is not None else {"physician_id": PHYS, "patient_id": PAT},
                headers=headers)


def db_count(stack_, svc, coll="appointments"):
    uri = svc.env["MONGODB_URI"]
    with mongo_client(uri) as c:
        return c.get_default_database()[coll].count_documents({})


# ---------------------------------------------------------------- start / get

def test_start_returns_201_with_location_and_the_document(appt):
    r = start(appt)
    assert r.status == 201, r.body
    b = r.body
    assert r.headers["location"] == f"/appointments/{b['id']}"
    assert uuid.UUID(b["id"]).version == 7
    assert (b["physician_id"], b["patient_id"]) == (PHYS, PAT)
    assert b["end_date"] is None and b["status"] == "started"
    assert b["price"] == 200.00 and b"\"price\":200.00" in r.raw
    started = datetime.fromisoformat(b["start_date"].replace("Z", "+00:00"))
    assert abs((datetime.now(timezone.utc) - started).total_seconds()) < 5
    g = http("GET", appt.url(r.headers["location"]))
    assert g.status == 200 and g.body == b


def test_start_accepts_a_past_start_date_and_the_python_form(appt):
    r = start(appt, {"physician_id": PHYS, "patient_id": PAT, "start_date": "2024-02-29T23:30:00-03:00"})
    assert r.status == 201 and r.body["start_date"] == "2024-03-01T02:30:00Z"
    r = start(appt, {"physician_id": PHYS, "patient_id": PAT, "start_date": "2024-01-31 10:00:00"})
    assert r.status == 201 and r.body["start_date"] == "2024-01-31T10:00:00Z"


def test_uppercase_uuids_are_normalised(appt):
    r = start(appt, {"physician_id": PHYS.upper(), "patient_id": PAT.upper()})
    assert r.status == 201 and r.body["physician_id"] == PHYS


def test_idempotency_key_replays_the_first_response(appt, stack):
    h = {"Idempotency-Key": "order-42"}
    a = start(appt, headers=h)
    b = start(appt, headers=h)
    assert a.status == b.status == 201 and a.body == b.body
    other = start(appt, {"physician_id": PHYS, "patient_id": str(uuid.uuid4())}, headers=h)
    assert_problem(other, 422, "Idempotency-Key")
    assert db_count(stack, appt) == 1


def test_get_unknown_is_404_and_bad_id_is_400(appt):
    assert_problem(http("GET", appt.url(f"/appointments/{uuid.uuid4()}")), 404)
    assert_problem(http("GET", appt.url("/appointments/not-a-uuid")), 400, "id")


# ---------------------------------------------------------------- finish and the event

def test_finish_emits_one_cloudevent_with_the_contract(appt, stack):
    s = start(appt, {"physician_id": PHYS, "patient_id": PAT, "start_date": iso(ago(hours=2))}).body
    before = end_offsets(stack.kafka.bootstrap, appt.topic)
    end = iso(ago(minutes=59))
    f = http("POST", appt.url(f"/appointments/{s['id']}/finish"), json={"end_date": end},
             headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    assert f.status == 200, f.body
    assert f.body["status"] == "finished" and f.body["end_date"] == end
    msgs = consume(stack.kafka.bootstrap, appt.topic, before, timeout=15, max_messages=1)
    assert len(msgs) == 1
    m = msgs[0]
    assert m.key == s["id"]
    h = m.headers
    assert h["ce_specversion"] == "1.0"
    assert h["ce_type"] == "clinic.appointment.finished.v1"
    assert h["ce_source"] == "/clinic-events/appointment"
    assert uuid.UUID(h["ce_id"])
    assert datetime.fromisoformat(h["ce_time"].replace("Z", "+00:00"))
    assert h["content-type"] == "application/json"
    assert h["traceparent"] == "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
    assert m.json() == {
        "appointment_id": s["id"], "physician_id": PHYS, "patient_id": PAT,
        "start_date": s["start_date"], "end_date": end, "hourly_price_cents": 20000,
        "currency": "BRL",
    }
    # the outbox entry is marked published once the broker acked
    with mongo_client(appt.env["MONGODB_URI"]) as c:
        coll = c.get_default_database()["appointments"]
        wait_until(lambda: coll.find_one({"_id": s["id"]})["outbox"]["state"] == "published", 10)


def test_refinish_is_idempotent_and_never_emits_another_payload(appt, stack):
    s = start(appt, {"physician_id": PHYS, "patient_id": PAT, "start_date": iso(ago(hours=1))}).body
    before = end_offsets(stack.kafka.bootstrap, appt.topic)
    url = appt.url(f"/appointments/{s['id']}/finish")
    first = http("POST", url, json={})
    assert first.status == 200
    again = http("POST", url)
    same = http("POST", url, json={"end_date": first.body["end_date"]})
    assert again.status == same.status == 200
    assert again.body == first.body == same.body
    other = http("POST", url, json={"end_date": iso(ago(minutes=1))})
    assert_problem(other, 409, "end_date")
    time.sleep(1.5)
    msgs = [m for m in consume(stack.kafka.bootstrap, appt.topic, before, timeout=10)
            if m.key == s["id"]]
    assert len(msgs) >= 1
    assert len({(m.value, m.headers["ce_id"]) for m in msgs}) == 1


def test_finish_validation(appt):
    s = start(appt, {"physician_id": PHYS, "patient_id": PAT, "start_date": iso(ago(hours=1))}).body
    url = appt.url(f"/appointments/{s['id']}/finish")
    assert_problem(http("POST", url, json={"end_date": iso(ago(hours=2))}), 400, "end_date")
    future = iso(datetime.now(timezone.utc) + timedelta(hours=1))
    assert_problem(http("POST", url, json={"end_date": future}), 400, "end_date")
    assert_problem(http("POST", url, json={"end_date": "yesterday"}), 400, "end_date")
    assert_problem(http("POST", appt.url(f"/appointments/{uuid.uuid4()}/finish"), json={}), 404)
    assert_problem(http("POST", appt.url("/appointments/123/finish"), json={}), 400, "id")
    assert http("GET", appt.url(f"/appointments/{s['id']}")).body["status"] == "started"


def test_finish_without_end_date_ends_a_start_ahead_of_this_clock_at_its_start(appt):
    # A start_date up to the tolerance (1 s) ahead of the service's clock is
    # accepted (another host's clock); finished before that instant with no
    # end_date, it ends at its start: the shortest consultation, not a 400.
    ahead = datetime.now(timezone.utc) + timedelta(milliseconds=900)
    t0 = time.monotonic()
    s = start(appt, {"physician_id": PHYS, "patient_id": PAT,
                     "start_date": ahead.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"})
    assert s.status == 201, s.body
    f = http("POST", appt.url(f"/appointments/{s.body['id']}/finish"), json={})
    if time.monotonic() - t0 > 0.8:
        pytest.skip("the finish did not reach the service before the start")
    assert f.status == 200, f.body
    assert f.body["status"] == "finished"
    assert f.body["end_date"] == f.body["start_date"] == s.body["start_date"]
    assert http("GET", appt.url(f"/appointments/{s.body['id']}")).body == f.body


# ---------------------------------------------------------------- list

def test_list_newest_first_with_filters_and_cursor(appt):
    other = str(uuid.uuid4())
    ids = [start(appt).body["id"] for _ in range(5)]
    start(appt, {"physician_id": other, "patient_id": PAT})
    http("POST", appt.url(f"/appointments/{ids[0]}/finish"), json={})
    page1 = http("GET", appt.url(f"/appointments?physician_id={PHYS}&limit=2"))
    assert page1.status == 200
    assert [a["id"] for a in page1.body["items"]] == ids[::-1][:2]
    cur = page1.body["next_cursor"]
    page2 = http("GET", appt.url(f"/appointments?physician_id={PHYS}&limit=2&cursor={cur}")).body
    page3 = http("GET", appt.url(f"/appointments?physician_id={PHYS}&limit=2&cursor={page2['next_cursor']}")).body
    assert [a["id"] for a in page2["items"] + page3["items"]] == ids[::-1][2:]
    assert page3["next_cursor"] is None
    fin = http("GET", appt.url("/appointments?status=finished")).body["items"]
    assert [a["id"] for a in fin] == [ids[0]]
    assert len(http("GET", appt.url(f"/appointments?physician_id={other}")).body["items"]) == 1
    for q, field in [("limit=0", "limit"), ("limit=101", "limit"), ("limit=x", "limit"),
                     ("status=done", "status"), ("cursor=abc", "cursor"),
                     ("physician_id=%7B%22%24gt%22%3A%22%22%7D", "physician_id")]:
        assert_problem(http("GET", appt.url(f"/appointments?{q}")), 400, field)


# ---------------------------------------------------------------- bad input changes nothing

BAD_BODIES = [
    ('{"physician_id": "' + PHYS + '", "patient_id": ', 400, "body"),  # truncated
    ("not json", 400, "body"),
    ("[1,2]", 400, "body"),
    ("{}", 400, "physician_id"),
    ('{"physician_id": "' + PHYS + '"}', 400, "patient_id"),
    ('{"physician_id": "nope", "patient_id": "' + PAT + '"}', 400, "physician_id"),
    ('{"physician_id": {"$gt": ""}, "patient_id": "' + PAT + '"}', 400, "physician_id"),
    ('{"physician_id": 42, "patient_id": "' + PAT + '"}', 400, "physician_id"),
    ('{"physician_id": "' + PHYS + '", "patient_id": "' + PAT + '", "start_date": "2024-13-01T00:00:00Z"}', 400, "start_date"),
    ('{"physician_id": "' + PHYS + '", "patient_id": "' + PAT + '", "start_date": "3000-01-01T00:00:00Z"}', 400, "start_date"),
    ('{"physician_id": "' + PHYS + '", "patient_id": "' + PAT + '", "start_date": {"$date": 0}}', 400, "start_date"),
    ('{"a":' * 100 + "1" + "}" * 100, 400, "body"),
    # within jansson's own bound (2048) but past a worker thread's stack: refused before parsing
    ('{"a":' + "[" * 2000 + "]" * 2000 + "}", 400, "body"),
    (b'{"physician_id": "\xff\xfe", "patient_id": "x"}', 400, "body"),
    ('{"physician_id": "' + PHYS + '", "patient_id": "' + PAT + '"} trailing', 400, "body"),
    # a key given twice is refused naming it, whichever value would have won
    ('{"physician_id": "' + PHYS + '", "patient_id": "' + PAT + '", "patient_id": "' + PHYS + '"}', 400, "patient_id"),
    ('{"physician_id": "' + PHYS + '", "physician_id": "' + PHYS + '", "patient_id": "' + PAT + '"}', 400,
     "physician_id"),
    ('{"physician_id": "' + PHYS + '", "p\\u0061tient_id": "' + PAT + '", "patient_id": "' + PAT + '"}', 400,
     "patient_id"),
    ('{"physician_id": "' + PHYS + '", "patient_id": "' + PAT + '", "note": {"a": 1, "a": 2}}', 400, "a"),
    # MongoDB extended JSON is plain JSON here: an object, the field's wrong type
    ('{"physician_id": {"$numberLong": "1"}, "patient_id": "' + PAT + '"}', 400, "physician_id"),
    ('{"physician_id": "' + PHYS + '", "patient_id": {"$oid": "65b9f1d2a1b2c3d4e5f60718"}}', 400, "patient_id"),
    ('{"physician_id": "' + PHYS + '", "patient_id": {"$uuid": "' + PAT + '"}}', 400, "patient_id"),
    ('{"physician_id": "' + PHYS + '", "patient_id": "' + PAT + '", "start_date": {"$date": {"$numberLong": "0"}}}',
     400, "start_date"),
]


@pytest.mark.parametrize("body,status,field", BAD_BODIES)
def test_bad_start_bodies_get_problem_json_and_write_nothing(appt, stack, body, status, field):
    r = http("POST", appt.url("/appointments"), raw_body=body,
             headers={"Content-Type": "application/json"})
    assert_problem(r, status, field)
    assert db_count(stack, appt) == 0


def test_duplicate_key_and_extended_json_problems_say_what_is_wrong(appt, stack):
    """The two defects of libbson's Extended-JSON reader, as a client sees them now."""
    dup = '{"physician_id": "' + PHYS + '", "patient_id": "' + PAT + '", "patient_id": "' + PHYS + '"}'
    r = http("POST", appt.url("/appointments"), raw_body=dup, headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "patient_id")
    assert r.body["type"] == "/problems/malformed-body"
    assert r.body["detail"] == "patient_id appears more than once"
    wrapped = '{"physician_id": {"$numberLong": "1"}, "patient_id": "' + PAT + '"}'
    r = http("POST", appt.url("/"), raw_body=wrapped, headers={"Content-Type": "application/json"})
    assert_problem(r, 400, "physician_id")
    assert r.body["type"] == "/problems/invalid-field"
    assert r.body["detail"] == "physician_id must be a UUID string"
    assert db_count(stack, appt) == 0


def test_finish_with_duplicate_or_extended_json_end_date_changes_nothing(appt, stack):
    s = start(appt, {"physician_id": PHYS, "patient_id": PAT, "start_date": iso(ago(hours=2))}).body
    before = end_offsets(stack.kafka.bootstrap, appt.topic)
    e1, e2 = iso(ago(hours=1)), iso(ago(minutes=30))
    for path in (f"/appointments/{s['id']}/finish", f"/{s['id']}"):
        for body, field in [('{"end_date": "' + e1 + '", "end_date": "' + e2 + '"}', "end_date"),
                            ('{"end_date": {"$date": "' + e1 + '"}}', "end_date"),
                            ('{"end_date": {"$date": {"$numberLong": "1714572000000"}}}', "end_date")]:
            r = http("POST", appt.url(path), raw_body=body, headers={"Content-Type": "application/json"})
            assert_problem(r, 400, field)
    assert http("GET", appt.url(f"/appointments/{s['id']}")).body["status"] == "started"
    time.sleep(1.0)  # an event, had one been triggered, would be out by now
    assert end_offsets(stack.kafka.bootstrap, appt.topic) == before


def test_wrong_content_type_is_415(appt, stack):
    r = http("POST", appt.url("/appointments"), raw_body=json.dumps({"physician_id": PHYS, "patient_id": PAT}),
             headers={"Content-Type": "text/plain"})
    assert_problem(r, 415, "Content-Type")
    assert db_count(stack, appt) == 0


def test_body_over_64_kib_is_413(appt, stack):
    body = json.dumps({"physician_id": PHYS, "patient_id": PAT, "pad": "x" * 70000})
    r = http("POST", appt.url("/appointments"), raw_body=body, headers={"Content-Type": "application/json"})
    assert_problem(r, 413, "body")
    assert db_count(stack, appt) == 0


def test_wrong_method_is_405_with_allow(appt):
    r = http("DELETE", appt.url(f"/appointments/{uuid.uuid4()}"))
    assert_problem(r, 405)
    assert r.headers["allow"] == "GET"
    assert_problem(http("GET", appt.url("/nope/nothing/here")), 404)


# ---------------------------------------------------------------- compatibility routes

def test_python_service_routes(appt):
    r = http("POST", appt.url("/"), json={"physician_id": PHYS, "patient_id": PAT})
    assert r.status == 200  # the original service's status (test_compat_clients.py)
    for k in ("id", "start_date", "end_date", "physician_id", "patient_id", "price"):
        assert k in r.body
    f = http("POST", appt.url(f"/{r.body['id']}/"), json={})
    assert f.status == 200 and f.body["end_date"] is not None
    f2 = http("POST", appt.url(f"/{r.body['id']}"))
    assert f2.status == 200 and f2.body == f.body


# ---------------------------------------------------------------- auth

def test_auth_scopes(start_service, topic):
    svc = start_service("appointment", KAFKA_TOPIC=topic,
                        AUTH_TOKENS=f"{TOKEN_RW}=appointments:write,appointments:read;{TOKEN_R}=appointments:read",
                        HTTP_HOST="127.0.0.1")
    assert_problem(start(svc), 401)
    assert http("POST", svc.url("/appointments"), json={}, headers={"Authorization": "Bearer wrong"}).status == 401
    assert_problem(start(svc, headers={"Authorization": f"Bearer {TOKEN_R}"}), 403)
    ok = start(svc, headers={"Authorization": f"Bearer {TOKEN_RW}"})
    assert ok.status == 201
    g = http("GET", svc.url(f"/appointments/{ok.body['id']}"), headers={"Authorization": f"Bearer {TOKEN_R}"})
    assert g.status == 200
    assert http("GET", svc.url("/healthz")).status == 200
    assert http("GET", svc.url("/openapi.json")).status == 200
    assert http("GET", svc.url("/metrics")).status == 401
    assert TOKEN_RW not in svc.log_text() and TOKEN_R not in svc.log_text()


# ---------------------------------------------------------------- operations

def test_health_ready_metrics_openapi(appt):
    assert http("GET", appt.url("/healthz")).body == {"status": "ok"}
    r = wait_ready(appt)
    assert r.status == 200 and r.body == {"status": "ready", "checks": {"mongodb": "ok", "kafka": "ok"}}
    start(appt)
    m = http("GET", appt.url("/metrics"))
    assert m.status == 200 and m.headers["content-type"].startswith("text/plain")
    assert 'clinic_http_requests_total{method="POST",route="/appointments",status="201"} 1' in m.body
    assert "clinic_http_request_duration_seconds_bucket" in m.body
    assert "\nclinic_outbox_pending 0\n" in m.body
    assert 'clinic_check_up{check="kafka"} 1' in m.body and "\nclinic_ready 1\n" in m.body
    o = http("GET", appt.url("/openapi.json"))
    assert o.status == 200 and o.body["openapi"].startswith("3.1")


def test_sigterm_exits_cleanly(appt):
    start(appt)
    assert appt.stop() == 0


def test_broker_down_finish_still_answers_and_publishes_when_back(appt, stack):
    s = start(appt, {"physician_id": PHYS, "patient_id": PAT, "start_date": iso(ago(hours=1))}).body
    before = end_offsets(stack.kafka.bootstrap, appt.topic)
    stack.kafka.stop()
    try:
        f = http("POST", appt.url(f"/appointments/{s['id']}/finish"), json={})
        assert f.status == 200
        # Still ready: finishing works (the outbox keeps the event); the body
        # and the metrics say the broker is down.
        r = wait_until(lambda: (x := http("GET", appt.url("/readyz"))).body["checks"]["kafka"]
                       == "down" and x, 10, message="/readyz reports kafka down")
        assert r.status == 200 and r.body == {"status": "ready",
                                              "checks": {"mongodb": "ok", "kafka": "down"}}
        assert metric(appt, 'clinic_check_up{check="kafka"}') == 0 and metric(appt, "clinic_ready") == 1
        time.sleep(4)  # longer than KAFKA_MESSAGE_TIMEOUT_MS: the relay owns it now
    finally:
        stack.kafka.start()
    msgs = wait_until(lambda: [m for m in consume(stack.kafka.bootstrap, appt.topic, before, timeout=5)
                               if m.key == s["id"]], 60, message="event published after the outage")
    assert msgs[0].json()["end_date"] == f.body["end_date"]
    assert len({m.headers["ce_id"] for m in msgs}) == 1
    assert wait_ready(appt, 30).body["checks"]["kafka"] == "ok"


def test_ready_means_every_collection_exists_before_any_request(appt):
    """The set-up creates every collection the service writes (none is
    created implicitly by a request, which an outage could cut in two on
    FerretDB), with its indexes, before /readyz says ready."""
    wait_ready(appt, 30, everything=False)
    uri = appt.env["MONGODB_URI"]
    dbname = uri.rsplit("/", 1)[1].split("?")[0]
    with mongo_client(uri) as c:
        names = set(c[dbname].list_collection_names())
        assert {"appointments", "appointment_buckets", "idempotency_keys"} <= names, names
        indexes = set(c[dbname].appointments.index_information())
    assert {"physician_newest", "bucket_newest", "outbox_pending"} <= indexes, indexes
    assert "collections and indexes ready" in appt.log_text()


@pytest.mark.parametrize("down", ["ferretdb", "postgres"])
def test_database_down_is_503_with_retry_after_then_recovers(appt, stack, down):
    """FerretDB stopped, or PostgreSQL stopped under a FerretDB that stays up
    and answers every command with an error."""
    # Ready first: the service's set-up (collections, indexes) is done, so
    # the outage cannot cut a FerretDB collection creation in two.
    wait_ready(appt, 30, everything=False)
    db = getattr(stack, down)
    db.stop()
    try:
        r = start(appt)
        assert_problem(r, 503)
        assert r.headers["retry-after"]
        # MongoDB is what answering needs: not ready, until the probe sees it back.
        r = wait_until(lambda: (x := http("GET", appt.url("/readyz"))).status == 503 and x, 10,
                       message="/readyz 503 with the database down")
        assert r.body["status"] == "unavailable" and r.body["checks"]["mongodb"] == "down"
        assert r.headers["retry-after"]
        assert appt.running()
    finally:
        db.start()
    wait_until(lambda: start(appt).status == 201, 30, message="start after the database is back")
    wait_ready(appt, 10)


def test_readyz_is_starting_until_the_first_probe_then_never_pings_per_request(start_service, topic):
    """/readyz answers from the probe thread's last result: 503 "starting"
    before the first probe ends (a ping of a MongoDB that does not answer
    takes serverSelectionTimeoutMS, 2 s), then 503 "unavailable"; each answer
    at once, however many requests come."""
    svc = start_service("appointment", KAFKA_TOPIC=topic,
                        MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/nothing_listens")
    r = http("GET", svc.url("/readyz"))
    assert r.status == 503 and r.body == {"status": "starting", "checks": {}}, r.body
    assert r.headers["retry-after"]
    r = wait_until(lambda: (x := http("GET", svc.url("/readyz"))).body["status"] != "starting" and x,
                   10, message="the first probe ends")
    assert r.status == 503 and r.body == {"status": "unavailable",
                                          "checks": {"mongodb": "down", "kafka": "ok"}}
    t0 = time.monotonic()
    for _ in range(20):
        assert http("GET", svc.url("/readyz")).status == 503
    assert time.monotonic() - t0 < 1.0, "a /readyz waited on the database"
    assert metric(svc, "clinic_ready") == 0
    assert metric(svc, 'clinic_check_up{check="mongodb"}') == 0
    assert svc.stop() == 0


def test_readyz_pings_the_database_once_a_second_not_per_request(appt):
    """clinic_db_commands_total counts every command, pings included: 100
    /readyz requests in a row add about one ping a second (plus the relay's
    and the scrape's own commands), not one each."""
    wait_ready(appt)
    before, t0 = metric(appt, "clinic_db_commands_total"), time.monotonic()
    for _ in range(100):
        assert http("GET", appt.url("/readyz")).status == 200
    added = metric(appt, "clinic_db_commands_total") - before
    assert added < 50, f"{added} database commands for 100 /readyz in {time.monotonic() - t0:.1f} s"
