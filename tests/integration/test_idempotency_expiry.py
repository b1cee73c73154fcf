"""Idempotency keys expire (issue 19: no single message, client or query can
stop the service).

`POST /appointments` with an `Idempotency-Key` records (client, key) in
`idempotency_keys`; before this, nothing ever removed a record, so the
collection grew with every keyed request. Now a key is remembered for
IDEMPOTENCY_TTL_S: within it a retry replays the first response, after it
the key is as good as absent (a retry starts a new consultation, and the
record is replaced, not added), and a background sweep deletes the records
of the days past the TTL by their indexed `day`, at start (reaching back 400
days) and every 10 minutes."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import datetime, timedelta, timezone

from harness import http, metric, mongo_client, wait_until

PHYS = str(uuid.uuid4())
PAT = str(uuid.uuid4())
TTL = 2


def _start(svc, key: str, patient: str = PAT):
    return http("POST", svc.url("/appointments"), json={"physician_id": PHYS, "patient_id": patient},
                headers={"Idempotency-Key": key})


def _keys(svc):
    return mongo_client(svc.env["MONGODB_URI"])


def _day(t: datetime) -> str:
    return t.strftime("%Y-%m-%d")


def _record(key: str, created: datetime, day: str | None) -> dict:
    doc = {"_id": f"anonymous {key}", "client": "anonymous", "key": key,
           "appointment_id": str(uuid.uuid4()), "physician_id": PHYS, "patient_id": PAT,
           "start_given": False, "start_date": created, "created_at": created}
    if day is not None:
        doc["day"] = day
    return doc


def test_a_key_within_its_ttl_still_replays_and_records_its_day(start_service, topic):
    svc = start_service("appointment", KAFKA_TOPIC=topic, IDEMPOTENCY_TTL_S=60)
    key = f"visit-{uuid.uuid4()}"
    first = _start(svc, key)
    assert first.status == 201, first.body
    time.sleep(TTL + 0.5)  # past the short TTL of the other tests, well within this one's
    again = _start(svc, key)
    assert again.status == 201 and again.body == first.body
    assert _start(svc, key, patient=str(uuid.uuid4())).status == 422
    with _keys(svc) as c:
        doc = c.get_default_database()["idempotency_keys"].find_one({"_id": f"anonymous {key}"})
    assert doc["appointment_id"] == first.body["id"]
    assert doc["day"] == _day(datetime.now(timezone.utc)) or \
        doc["day"] == _day(datetime.now(timezone.utc) - timedelta(seconds=10))


def test_a_key_reused_after_its_ttl_starts_a_new_consultation(start_service, topic):
    svc = start_service("appointment", KAFKA_TOPIC=topic, IDEMPOTENCY_TTL_S=TTL)
    key = f"visit-{uuid.uuid4()}"
    first = _start(svc, key)
    assert first.status == 201, first.body
    time.sleep(TTL + 0.5)
    second = _start(svc, key)
    assert second.status == 201, second.body
    assert second.body["id"] != first.body["id"]
    # The new record replays from now on, for a TTL.
    assert _start(svc, key).body == second.body
    time.sleep(TTL + 0.5)
    # Past the TTL a different body is a new request, not a reused key (422).
    other = str(uuid.uuid4())
    third = _start(svc, key, patient=other)
    assert third.status == 201, third.body
    assert third.body["patient_id"] == other and third.body["id"] not in (first.body["id"], second.body["id"])
    with _keys(svc) as c:
        db = c.get_default_database()
        docs = list(db["idempotency_keys"].find({"key": key}))
        assert [d["appointment_id"] for d in docs] == [third.body["id"]]
        for a in (first, second, third):
            assert db["appointments"].find_one({"_id": a.body["id"]}) is not None


def test_concurrent_retries_after_the_ttl_agree_on_one_consultation(start_service, topic):
    svc = start_service("appointment", KAFKA_TOPIC=topic, IDEMPOTENCY_TTL_S=TTL)
    key = f"visit-{uuid.uuid4()}"
    first = _start(svc, key)
    assert first.status == 201
    time.sleep(TTL + 0.5)
    got: list = []
    go = threading.Barrier(8)

    def retry() -> None:
        go.wait()
        got.append(_start(svc, key))

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [r.status for r in got] == [201] * 8, [(r.status, r.body) for r in got]
    ids = {r.body["id"] for r in got}
    assert len(ids) == 1 and first.body["id"] not in ids
    with _keys(svc) as c:
        db = c.get_default_database()
        assert db["idempotency_keys"].count_documents({"key": key}) == 1
        assert db["appointments"].count_documents({"_id": ids.pop()}) == 1


def test_the_record_count_stops_growing_when_keys_are_reused(start_service, topic):
    svc = start_service("appointment", KAFKA_TOPIC=topic, IDEMPOTENCY_TTL_S=TTL)
    keys = [f"visit-{uuid.uuid4()}" for _ in range(10)]
    seen: set[str] = set()
    counts = []
    for _ in range(3):
        for k in keys:
            r = _start(svc, k)
            assert r.status == 201, r.body
            seen.add(r.body["id"])
        with _keys(svc) as c:
            counts.append(c.get_default_database()["idempotency_keys"].count_documents({}))
        time.sleep(TTL + 0.5)
    assert counts == [10, 10, 10]
    assert len(seen) == 30  # each round past the TTL started new consultations


def test_the_sweep_removes_old_records_and_keeps_fresh_ones(start_service, topic, service_env):
    now = datetime.now(timezone.utc).replace(microsecond=0)
    # A record written before records carried their day: the first start of
    # this version gives it one (today's), once.
    legacy = _record(f"legacy-{uuid.uuid4()}", now - timedelta(days=30), None)
    with mongo_client(service_env["MONGODB_URI"]) as c:
        c.get_default_database()["idempotency_keys"].insert_one(legacy)
    svc = start_service("appointment", KAFKA_TOPIC=topic, IDEMPOTENCY_TTL_S=TTL)
    with _keys(svc) as c:
        coll = c.get_default_database()["idempotency_keys"]
        wait_until(lambda: coll.find_one({"_id": legacy["_id"]}).get("day") == _day(now) or
                   coll.find_one({"_id": legacy["_id"]}).get("day") == _day(datetime.now(timezone.utc)),
                   10, message="the legacy record got no day")
        idx = coll.index_information()
        assert any(v["key"] == [("day", 1)] for v in idx.values()), idx
    svc.stop()

    old = [_record(f"old-{back}-{uuid.uuid4()}", now - timedelta(days=back), _day(now - timedelta(days=back)))
           for back in (2, 3, 45, 100, 399) for _ in range(3)]
    fresh = [_record(f"fresh-{uuid.uuid4()}", now, _day(now)) for _ in range(5)]
    with _keys(svc) as c:
        coll = c.get_default_database()["idempotency_keys"]
        coll.insert_many(old + fresh)
        before = coll.count_documents({})
    assert before == len(old) + len(fresh) + 1

    svc.start()  # the first sweep runs once the set-up is done, reaching back 400 days
    with _keys(svc) as c:
        coll = c.get_default_database()["idempotency_keys"]
        wait_until(lambda: coll.count_documents({"_id": {"$in": [d["_id"] for d in old]}}) == 0, 20,
                   message="old idempotency records not swept")
        assert coll.count_documents({"_id": {"$in": [d["_id"] for d in fresh]}}) == len(fresh)
        assert coll.find_one({"_id": legacy["_id"]}) is not None
        assert coll.count_documents({}) == len(fresh) + 1
    wait_until(lambda: metric(svc, "clinic_idempotency_keys_expired_total") == len(old), 5)
    # Migrated once: a record without day written now keeps none after a restart.
    late = _record(f"late-{uuid.uuid4()}", now, None)
    with _keys(svc) as c:
        c.get_default_database()["idempotency_keys"].insert_one(late)
    svc.restart()
    with _keys(svc) as c:
        assert "day" not in c.get_default_database()["idempotency_keys"].find_one({"_id": late["_id"]})


def test_a_fresh_key_replaces_an_expired_record_written_before(start_service, topic, service_env):
    svc = start_service("appointment", KAFKA_TOPIC=topic, IDEMPOTENCY_TTL_S=3600)
    key = f"visit-{uuid.uuid4()}"
    then = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    stale = _record(key, then, _day(then))
    with mongo_client(service_env["MONGODB_URI"]) as c:
        c.get_default_database()["idempotency_keys"].insert_one(stale)
    r = _start(svc, key)
    assert r.status == 201 and r.body["id"] != stale["appointment_id"]
    assert _start(svc, key).body == r.body
    with mongo_client(service_env["MONGODB_URI"]) as c:
        doc = c.get_default_database()["idempotency_keys"].find_one({"_id": f"anonymous {key}"})
    assert doc["appointment_id"] == r.body["id"] and doc["created_at"] > then.replace(tzinfo=None)
