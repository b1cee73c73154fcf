"""Lists and summaries walk day buckets (common/buckets.c): over real HTTP,
against documents spread over several days, including documents written
before buckets existed, which the services migrate once at start."""

from __future__ import annotations

import os
import random
import threading
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from harness import http, mongo_client, ms, wait_until

PHYSICIANS = [str(uuid.uuid4()) for _ in range(3)]
PATIENTS = [str(uuid.uuid4()) for _ in range(4)]
DAY = timedelta(days=1)


def uuid7(ms: int) -> str:
    """A version 7 UUID for unix time ms, as common/uuid.c makes them."""
    b = bytearray(ms.to_bytes(6, "big") + os.urandom(10))
    b[6] = 0x70 | (b[6] & 0x0F)
    b[8] = 0x80 | (b[8] & 0x3F)
    return str(uuid.UUID(bytes=bytes(b)))


def legacy_appointments(n: int, seed: int) -> list[dict]:
    """Appointments shaped as the previous version wrote them: no bucket, the
    outbox state only nested. Spread over 6 days, newest today."""
    rnd = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    docs = []
    for i in range(n):
        created = now - timedelta(days=rnd.randrange(6), minutes=rnd.randrange(600))
        finished = i % 5 != 0
        doc = {"_id": uuid7(ms(created)), "physician_id": rnd.choice(PHYSICIANS),
               "patient_id": rnd.choice(PATIENTS), "start_date": created,
               "end_date": created + timedelta(hours=1) if finished else None,
               "status": "finished" if finished else "started", "price_cents": 20000,
               "currency": "BRL", "created_at": created}
        if finished:
            doc["outbox"] = {"state": "published", "event_id": str(uuid.uuid4()), "time": created,
                             "traceparent": "", "attempts": 0, "next_attempt_at": created}
        docs.append(doc)
    return docs


def walk(svc, path: str, limit: int) -> list[str]:
    """Every id of a list, page by page through next_cursor."""
    ids, cursor = [], None
    for _ in range(200):
        url = f"{path}{'&' if '?' in path else '?'}limit={limit}" + (f"&cursor={cursor}" if cursor else "")
        r = http("GET", svc.url(url))
        assert r.status == 200, r.body
        key = "id" if "appointments" in path else "appointment_id"
        ids += [x[key] for x in r.body["items"]]
        cursor = r.body["next_cursor"]
        if not cursor:
            return ids
    raise AssertionError("the list did not end")


def seed_then_start(start_service, service_env, topic, service: str, docs: list[dict]):
    """Writes docs as the previous version left them, starts the service and
    waits for its one-time migration."""
    coll, records, marker = {
        "appointment": ("appointments", "appointment_buckets", "appointments-buckets-v1"),
        "financial": ("billings", "billing_buckets", "billings-buckets-v1")}[service]
    with mongo_client(service_env["MONGODB_URI"]) as c:
        c.get_default_database()[coll].insert_many(docs)
    svc = start_service(service, KAFKA_TOPIC=topic)
    with mongo_client(service_env["MONGODB_URI"]) as c:
        recs = c.get_default_database()[records]
        wait_until(lambda: recs.find_one({"_id": f"migration/{marker}"}), 20,
                   message="bucket migration")
    return svc, docs


@pytest.fixture
def seeded_appt(start_service, service_env, topic):
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    return seed_then_start(start_service, service_env, topic, "appointment",
                           legacy_appointments(60, seed))


def test_migrated_appointments_list_in_id_order_across_days_and_pages(seeded_appt):
    svc, docs = seeded_appt
    want = sorted((d["_id"] for d in docs), reverse=True)
    assert walk(svc, "/appointments", 7) == want
    assert walk(svc, "/appointments", 100) == want


def test_bucket_walk_honours_every_filter(seeded_appt):
    svc, docs = seeded_appt

    def expect(pred):
        return sorted((d["_id"] for d in docs if pred(d)), reverse=True)

    p, q = PHYSICIANS[0], PATIENTS[1]
    assert walk(svc, f"/appointments?physician_id={p}", 4) == expect(lambda d: d["physician_id"] == p)
    assert walk(svc, f"/appointments?patient_id={q}", 4) == expect(lambda d: d["patient_id"] == q)
    assert walk(svc, "/appointments?status=started", 3) == expect(lambda d: d["status"] == "started")
    assert walk(svc, f"/appointments?status=finished&physician_id={p}", 5) == \
        expect(lambda d: d["status"] == "finished" and d["physician_id"] == p)


def test_new_appointments_join_the_walk_in_order(seeded_appt):
    svc, docs = seeded_appt
    new = []
    for i in range(3):
        r = http("POST", svc.url("/appointments"),
                 json={"physician_id": PHYSICIANS[i], "patient_id": PATIENTS[0]})
        assert r.status == 201
        new.append(r.body["id"])
    want = sorted([d["_id"] for d in docs] + new, reverse=True)
    assert walk(svc, "/appointments", 9) == want
    assert walk(svc, f"/appointments?physician_id={PHYSICIANS[2]}", 2)[0] == new[2]


def test_a_legacy_pending_entry_is_relayed_after_the_migration(start_service, service_env, topic):
    created = datetime.now(timezone.utc).replace(microsecond=0) - timedelta(hours=2)
    aid = uuid7(ms(created))
    doc = {"_id": aid, "physician_id": PHYSICIANS[0], "patient_id": PATIENTS[0],
           "start_date": created, "end_date": created + timedelta(hours=1), "status": "finished",
           "price_cents": 20000, "currency": "BRL", "created_at": created,
           "outbox": {"state": "pending", "event_id": str(uuid.uuid4()), "time": created,
                      "traceparent": "", "attempts": 0, "next_attempt_at": created}}
    with mongo_client(service_env["MONGODB_URI"]) as c:
        coll = c.get_default_database().appointments
        coll.insert_one(doc)
        start_service("appointment", KAFKA_TOPIC=topic, OUTBOX_RELAY_INTERVAL_MS=200)
        wait_until(lambda: coll.find_one({"_id": aid})["outbox"]["state"] == "published", 20,
                   message="the legacy pending entry published")
        assert "outbox_pending" not in coll.find_one({"_id": aid})


# ---------------------------------------------------------------- billings

@pytest.fixture
def seeded_fin(start_service, service_env, topic):
    seed = random.randrange(1 << 30)
    print(f"seed={seed}")
    rnd = random.Random(seed)
    now = datetime.now(timezone.utc).replace(microsecond=0)
    docs = []
    for _ in range(50):
        created = now - timedelta(days=rnd.randrange(5), minutes=rnd.randrange(600))
        hours = rnd.randrange(1, 4)
        end = created + timedelta(hours=hours) - timedelta(minutes=1)
        end = min(end, now)
        aid = uuid7(ms(created))
        docs.append({"_id": aid, "appointment_id": aid, "physician_id": rnd.choice(PHYSICIANS),
                     "patient_id": rnd.choice(PATIENTS), "start_date": created, "end_date": end,
                     "end_day": end.strftime("%Y-%m-%d"), "billed_hours": hours,
                     "hourly_price_cents": 20000, "total_cents": 20000 * hours,
                     "currency": "BRL", "created_at": end})
    return seed_then_start(start_service, service_env, topic, "financial", docs)


def test_migrated_billings_list_in_id_order_with_filters(seeded_fin):
    svc, docs = seeded_fin
    assert walk(svc, "/billings", 6) == sorted((d["_id"] for d in docs), reverse=True)
    p = PHYSICIANS[1]
    assert walk(svc, f"/billings?physician_id={p}", 3) == \
        sorted((d["_id"] for d in docs if d["physician_id"] == p), reverse=True)


def test_a_one_day_range_lists_that_day_in_id_order(seeded_fin):
    svc, docs = seeded_fin
    day = sorted({d["end_day"] for d in docs})[-2]
    lo = datetime.strptime(day, "%Y-%m-%d").replace(tzinfo=timezone.utc)
    hi = lo + DAY
    f, t = lo.strftime("%Y-%m-%dT%H:%M:%SZ"), hi.strftime("%Y-%m-%dT%H:%M:%SZ")
    want = sorted((d["_id"] for d in docs if lo <= d["end_date"].replace(tzinfo=timezone.utc) < hi),
                  reverse=True)
    assert want, "the seed put nothing on that day"
    assert walk(svc, f"/billings?from={f}&to={t}", 2) == want


def test_summary_by_day_and_physician_sums_each_end_day(seeded_fin):
    svc, docs = seeded_fin
    for group_by, key in (("day", "end_day"), ("physician", "physician_id")):
        r = http("GET", svc.url(f"/billings/summary?group_by={group_by}"))
        assert r.status == 200, r.body
        want: dict[str, list[int]] = {}
        for d in docs:
            g = want.setdefault(d[key], [0, 0])
            g[0] += 1
            g[1] += d["total_cents"]
        got = {g["key"]: [g["count"], round(g["total_price"] * 100)] for g in r.body["groups"]}
        assert got == want
        assert [g["key"] for g in r.body["groups"]] == sorted(want)


def test_a_page_reads_at_most_32_buckets_then_resumes_with_a_cursor(start_service, service_env, topic):
    """Issue 19: a filter that matches little (finished, here 2 of 45 days)
    must not walk the whole history in one request. The first page reads 32
    buckets, returns what they held with a cursor, and the next page resumes
    with the next older day: every match once, in id order."""
    now = datetime.now(timezone.utc).replace(microsecond=0, hour=12)
    physician, patient = str(uuid.uuid4()), str(uuid.uuid4())
    docs = []
    for day in range(45):
        created = now - day * DAY
        finished = day in (0, 44)
        doc = {"_id": uuid7(ms(created)), "physician_id": physician, "patient_id": patient,
               "start_date": created, "end_date": created + timedelta(hours=1) if finished else None,
               "status": "finished" if finished else "started", "price_cents": 20000,
               "currency": "BRL", "created_at": created}
        if finished:
            doc["outbox"] = {"state": "published", "event_id": str(uuid.uuid4()), "time": created,
                             "traceparent": "", "attempts": 0, "next_attempt_at": created}
        docs.append(doc)
    svc, _ = seed_then_start(start_service, service_env, topic, "appointment", docs)
    path = f"/appointments?status=finished&physician_id={physician}&limit=10"
    first = http("GET", svc.url(path))
    assert first.status == 200, first.body
    assert [x["id"] for x in first.body["items"]] == [docs[0]["_id"]]
    cursor = first.body["next_cursor"]
    assert cursor, "a page that stopped at its query bound must give a cursor"
    second = http("GET", svc.url(f"{path}&cursor={cursor}"))
    assert second.status == 200, second.body
    assert [x["id"] for x in second.body["items"]] == [docs[44]["_id"]]
    assert second.body["next_cursor"] is None
    assert walk(svc, f"/appointments?status=finished&physician_id={physician}", 1) == \
        [docs[0]["_id"], docs[44]["_id"]]
    # Every appointment of the physician, all 45 buckets, still in id order.
    assert walk(svc, f"/appointments?physician_id={physician}", 100) == [d["_id"] for d in docs]


def test_concurrent_first_starts_of_a_day_each_list_their_appointment(start_service, stack, dbname,
                                                                      topic):
    """FerretDB 1.24 ends an unordered update command at its first duplicate
    key and skips the statements after it. The first starts of a day on a
    fresh database all race to create the day's "all" record; each loser's
    physician record came after it in the same bulk upsert. Every physician's
    list must still show its appointment, and the whole list all of them."""
    for rnd in range(4):
        svc = start_service("appointment", KAFKA_TOPIC=topic,
                            MONGODB_URI=stack.ferretdb.uri(f"{dbname}_{rnd}"))
        pairs = [(str(uuid.uuid4()), str(uuid.uuid4())) for _ in range(12)]
        ids: dict[str, str] = {}
        go = threading.Barrier(len(pairs))

        def start(physician: str, patient: str) -> None:
            go.wait()
            r = http("POST", svc.url("/appointments"),
                     json={"physician_id": physician, "patient_id": patient})
            assert r.status == 201, r.body
            ids[physician] = r.body["id"]

        threads = [threading.Thread(target=start, args=p) for p in pairs]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert len(ids) == len(pairs)
        missing = [p for p, _ in pairs if walk(svc, f"/appointments?physician_id={p}", 10) != [ids[p]]]
        assert not missing, f"round {rnd}: {len(missing)} of {len(pairs)} physicians' lists miss theirs"
        for p, q in pairs:
            assert walk(svc, f"/appointments?patient_id={q}", 10) == [ids[p]]
        assert walk(svc, "/appointments", 100) == sorted(ids.values(), reverse=True)
        svc.stop()
