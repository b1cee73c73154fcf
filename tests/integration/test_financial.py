"""The financial service alone, over real HTTP, against the real broker and FerretDB.

Events are produced straight onto a fresh topic in the contract's exact form
(proto/examples/appointment.finished.json + .headers.json), so every test
controls what the consumer sees: good events, re-deliveries, poison messages.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import datetime, timedelta, timezone

import pytest

from harness import (assert_problem, committed, consume, end_offsets, http, iso, metric, mongo_client,
                     produce, set_topic_config, wait_drained, wait_until)
from harness import insert_billings
from harness import wait_ready as wait_all_up
from harness.events import PAT, PHYS, T0, ce_headers, event, publish  # noqa: F401 (test_dead_letters)

TOKEN_READ = "billing-reader-0123456789abcdef"
TOKEN_OTHER = "appointment-reader-0123456789abcdef"


# ---------------------------------------------------------------- helpers

def parse_time(s: str) -> datetime:
    return datetime.fromisoformat(s.replace("Z", "+00:00"))


def get_billing(svc, appointment_id: str, prefix: str = "/billings/", headers=None):
    return http("GET", svc.url(f"{prefix}{appointment_id}"), headers=headers)


def wait_billed(svc, appointment_id: str, timeout: float = 20.0, headers=None):
    return wait_until(lambda: (r := get_billing(svc, appointment_id, headers=headers)).status == 200 and r,
                      timeout, message=f"billing of {appointment_id}")


def db(svc):
    """(client, database) of the service's MONGODB_URI."""
    c = mongo_client(svc.env["MONGODB_URI"])
    return c, c.get_default_database()


def billing_docs(svc) -> list[dict]:
    c, d = db(svc)
    with c:
        return list(d["billings"].find({}))


def start_ferretdb(stack) -> None:
    """stack.ferretdb.start(), tried twice: ferretdb.sh's start can report
    "exited during startup" while the process is in fact starting (its
    pid check reads /proc/<pid>/cmdline before the fork has exec'd); the
    second call finds it running and waits until it accepts connections."""
    try:
        stack.ferretdb.start()
    except RuntimeError:
        stack.ferretdb.start()


def summary_line(sent: int, billed: int, duplicates: int, lost: int) -> str:
    line = f"sent={sent} billed={billed} duplicates={duplicates} lost={lost}"
    print(f"\n{line}")
    return line


# ---------------------------------------------------------------- billing totals and shapes

TOTALS = [
    (timedelta(minutes=5), 1, 20000, "200.00"),
    (timedelta(hours=1), 1, 20000, "200.00"),
    (timedelta(minutes=61), 2, 40000, "400.00"),
    (timedelta(hours=1, seconds=1), 2, 40000, "400.00"),  # exact to the second
    (timedelta(hours=26), 26, 520000, "5200.00"),
]


def test_billing_totals_and_response_shape(fin):
    ids = [str(uuid.uuid4()) for _ in TOTALS]
    # 404 problem while not billed
    assert_problem(get_billing(fin, ids[0]), 404, "appointment_id")
    # the 26 h one crosses a leap day: 2024-02-28 22:00 -> 2024-03-01 00:00
    starts = [T0, T0, T0, T0, datetime(2024, 2, 28, 22, 0, tzinfo=timezone.utc)]
    evs = [event(i, start=s, duration=d) for i, s, (d, *_rest) in zip(ids, starts, TOTALS)]
    for ev in evs:
        publish(fin, ev)
    before = datetime.now(timezone.utc) - timedelta(seconds=60)
    for ev, (_, hours, cents, text) in zip(evs, TOTALS):
        r = wait_billed(fin, ev["appointment_id"])
        assert r.headers["content-type"].startswith("application/json")
        b = r.body
        assert set(b) == {"appointment_id", "total_price", "currency", "billed_hours", "hourly_price",
                          "physician_id", "patient_id", "start_date", "end_date", "created_at"}, b
        assert b["appointment_id"] == ev["appointment_id"]
        assert b["total_price"] == cents / 100 and f'"total_price":{text}'.encode() in r.raw, r.raw
        assert b["currency"] == "BRL"
        assert b["billed_hours"] == hours and isinstance(b["billed_hours"], int)
        assert b["hourly_price"] == 200.00 and b'"hourly_price":200.00' in r.raw
        assert (b["physician_id"], b["patient_id"]) == (PHYS, PAT)
        assert (b["start_date"], b["end_date"]) == (ev["start_date"], ev["end_date"])
        assert before <= parse_time(b["created_at"]) <= datetime.now(timezone.utc) + timedelta(seconds=5)
        # the original Python service's route, with and without a trailing slash
        for path in (f"/{ev['appointment_id']}", f"/{ev['appointment_id']}/",
                     f"/billings/{ev['appointment_id']}/"):
            c = http("GET", fin.url(path))
            assert c.status == 200, (path, c.status, c.body)
            assert c.body["appointment_id"] == ev["appointment_id"]
            assert isinstance(c.body["total_price"], (int, float)) and c.body["total_price"] == cents / 100
    # uppercase ids name the same billing
    assert get_billing(fin, ids[0].upper()).body["appointment_id"] == ids[0]
    assert_problem(get_billing(fin, "not-a-uuid"), 400, "appointment_id")
    assert_problem(get_billing(fin, "123"), 400, "appointment_id")
    assert_problem(http("GET", fin.url("/nope")), 404)
    assert_problem(http("GET", fin.url(f"/{uuid.uuid4()}")), 404, "appointment_id")
    assert_problem(http("POST", fin.url(f"/billings/{ids[0]}"), json={}), 405)
    assert len(billing_docs(fin)) == len(TOTALS)
    assert fin.stop() == 0


# ---------------------------------------------------------------- re-deliveries

def test_redelivered_and_conflicting_events_change_nothing(fin):
    ev = event(duration=timedelta(minutes=100))
    ce_id, _ = publish(fin, ev)
    first = wait_billed(fin, ev["appointment_id"]).body
    assert first["total_price"] == 400.00
    c, d = db(fin)
    doc_before = d["billings"].find_one({"_id": ev["appointment_id"]})
    dup_before = metric(fin, "clinic_duplicates_ignored_total")

    publish(fin, ev, ce_id=ce_id)  # the same event again (a re-publish keeps ce_id)
    other = dict(ev, end_date=iso(parse_time(ev["start_date"]) + timedelta(hours=5)),
                 hourly_price_cents=99900)
    publish(fin, other)  # another event for the same appointment

    wait_until(lambda: metric(fin, "clinic_duplicates_ignored_total") == dup_before + 2, 20,
               message="both re-deliveries seen as duplicates")
    wait_drained(fin)
    docs = list(d["billings"].find({}))
    c.close()
    assert docs == [doc_before]
    assert get_billing(fin, ev["appointment_id"]).body == first
    assert metric(fin, "clinic_billings_created_total") == 1
    # one consultation, three events (the original, a re-publish, a conflicting one)
    line = summary_line(sent=1, billed=len(docs), duplicates=len(docs) - 1, lost=1 - len(docs))
    print("  (3 events for 1 appointment; clinic_duplicates_ignored_total="
          f"{metric(fin, 'clinic_duplicates_ignored_total'):.0f})")
    assert len(docs) == 1, line
    assert fin.stop() == 0


# ---------------------------------------------------------------- poison messages

def test_poison_messages_go_to_the_dlq_and_consumption_moves_on(fin):
    good = event()
    missing = event()
    del missing["patient_id"]
    mistyped = dict(event(), hourly_price_cents="20000")
    backwards = event(start=T0, end=T0 - timedelta(minutes=1))
    other_type = event()  # a valid body under another CloudEvents type
    poison = [  # (key, value, reason must contain, ce_type header)
        (str(uuid.uuid4()), b"this is not json {", "body", None),
        (missing["appointment_id"], json.dumps(missing).encode(), "patient_id", None),
        (mistyped["appointment_id"], json.dumps(mistyped).encode(), "hourly_price_cents", None),
        (backwards["appointment_id"], json.dumps(backwards).encode(), "end_date", None),
        (str(uuid.uuid4()), None, "body", None),  # a tombstone
        (other_type["appointment_id"], json.dumps(other_type).encode(), "ce_type",
         "clinic.appointment.cancelled.v1"),
    ]
    dlq = fin.topic + ".dlq"
    dlq_before = end_offsets(fin.bootstrap, dlq)
    where = {}
    # One partition, poison first: the good event is billed only if the
    # consumer moved past every poison message.
    for key, value, _, ce_type in poison:
        headers = dict(ce_headers(), ce_type=ce_type) if ce_type else ce_headers()
        where[key] = produce(fin.bootstrap, fin.topic, value, key=key, headers=headers, partition=0)
    publish(fin, good, partition=0)
    wait_billed(fin, good["appointment_id"])

    letters = consume(fin.bootstrap, dlq, dlq_before, timeout=15, max_messages=len(poison))
    assert len(letters) == len(poison), letters
    by_key = {m.key: m for m in letters}
    for key, value, why, ce_type in poison:
        m = by_key[key]
        assert m.value == value
        h = m.headers
        assert h["dlq_reason"].startswith(why), h["dlq_reason"]
        assert h["dlq_source_topic"] == fin.topic
        assert (int(h["dlq_source_partition"]), int(h["dlq_source_offset"])) == where[key]
        # original headers kept
        assert h["ce_type"] == (ce_type or "clinic.appointment.finished.v1")
    assert metric(fin, "clinic_events_dead_lettered_total") == len(poison)
    assert [d["_id"] for d in billing_docs(fin)] == [good["appointment_id"]]
    wait_drained(fin)
    # nothing more lands in the DLQ (each poison message dead-lettered once)
    assert len(consume(fin.bootstrap, dlq, dlq_before, timeout=5)) == len(poison)
    assert fin.stop() == 0


def _with_duplicate(ev: dict, key: str, value) -> bytes:
    """ev as JSON with `key` given a second time, set to `value`, at the end."""
    return json.dumps(ev, separators=(",", ":"))[:-1].encode() + b"," + \
        json.dumps({key: value}, separators=(",", ":"))[1:].encode()


def test_duplicate_keys_and_extended_json_are_dead_lettered_naming_the_field(fin):
    """A key given twice is a parser differential (which patient is billed?),
    and MongoDB extended JSON is plain JSON here: both are dead letters whose
    reason names the field, never a billing (libbson's reader let the first
    duplicate win and read {"$numberLong": ...} as a number)."""
    dup_patient = event()
    dup_price = event()
    dup_same = event()  # the same value twice is still two keys
    wrapped_price = dict(event(), hourly_price_cents={"$numberLong": "20000"})
    wrapped_id = dict(event(), physician_id={"$oid": "65b9f1d2a1b2c3d4e5f60718"})
    wrapped_date = dict(event(), end_date={"$date": {"$numberLong": "1714577400000"}})
    poison = [  # (key, value, dlq_reason)
        (dup_patient["appointment_id"], _with_duplicate(dup_patient, "patient_id", str(uuid.uuid4())),
         "patient_id: duplicate key"),
        (dup_price["appointment_id"], _with_duplicate(dup_price, "hourly_price_cents", 1),
         "hourly_price_cents: duplicate key"),
        (dup_same["appointment_id"], _with_duplicate(dup_same, "currency", "BRL"), "currency: duplicate key"),
        (wrapped_price["appointment_id"], json.dumps(wrapped_price).encode(), "hourly_price_cents: not an integer"),
        (wrapped_id["appointment_id"], json.dumps(wrapped_id).encode(), "physician_id: not a string"),
        (wrapped_date["appointment_id"], json.dumps(wrapped_date).encode(), "end_date: not a string"),
    ]
    dlq = fin.topic + ".dlq"
    dlq_before = end_offsets(fin.bootstrap, dlq)
    for key, value, _ in poison:
        produce(fin.bootstrap, fin.topic, value, key=key, headers=ce_headers(), partition=0)
    good = event()
    publish(fin, good, partition=0)
    wait_billed(fin, good["appointment_id"])

    letters = consume(fin.bootstrap, dlq, dlq_before, timeout=15, max_messages=len(poison))
    by_key = {m.key: m for m in letters}
    for key, value, why in poison:
        assert key in by_key, f"{why}: not dead-lettered ({len(letters)} letters)"
        assert by_key[key].value == value
        assert by_key[key].headers["dlq_reason"] == why
    assert [d["_id"] for d in billing_docs(fin)] == [good["appointment_id"]]
    for key, _, _ in poison:
        assert_problem(get_billing(fin, key), 404)
    wait_drained(fin)
    assert fin.stop() == 0


# ---------------------------------------------------------------- the database goes down

@pytest.mark.parametrize("down", ["ferretdb", "postgres"])
def test_database_down_pauses_without_committing_then_bills_each_once(fin, stack, down):
    """FerretDB stopped, or PostgreSQL stopped under a FerretDB that stays up
    and answers every command with an error."""
    wait_all_up(fin, 30, everything=False)  # set-up done (see test_appointment's twin)
    warm = event()
    publish(fin, warm)
    wait_billed(fin, warm["appointment_id"])
    wait_drained(fin)  # a stable baseline: the warm-up event is committed
    base = committed(fin.bootstrap, fin.group, fin.topic)
    billed_before = metric(fin, "clinic_billings_created_total")

    evs = [event(duration=timedelta(minutes=30 * (i + 1))) for i in range(8)]
    getattr(stack, down).stop()
    try:
        wait_until(lambda: http("GET", fin.url("/readyz")).status == 503, 15,
                   message="/readyz 503 with the database down")
        sent = 0
        for ev in evs:
            publish(fin, ev)
            sent += 1
        publish(fin, evs[0])  # and one re-delivery (a new ce_id) of the same appointment
        sent += 1
        r = wait_until(lambda: (x := http("GET", fin.url("/readyz"))).body["checks"]["consumer"]
                       == "paused-db-down" and x, 15, message="consumer paused")
        assert r.status == 503 and r.headers["retry-after"]
        assert r.body["checks"]["mongodb"] == "down"
        g = get_billing(fin, evs[0]["appointment_id"])
        assert_problem(g, 503)
        assert g.headers["retry-after"]
        time.sleep(3)  # several retries (CONSUMER_RETRY_MAX_MS=500)
        assert metric(fin, "clinic_consumer_paused") == 1
        assert metric(fin, "clinic_billings_created_total") == billed_before
        assert metric(fin, "clinic_db_retries_total") >= 2
        assert committed(fin.bootstrap, fin.group, fin.topic) == base, "offsets committed while nothing was written"
        assert fin.running()
    finally:
        if down == "ferretdb":
            start_ferretdb(stack)
        else:
            stack.postgres.start()

    for ev in evs:
        b = wait_billed(fin, ev["appointment_id"], timeout=40).body
        assert b["billed_hours"] == -(-30 * (evs.index(ev) + 1) // 60)
    wait_until(lambda: http("GET", fin.url("/readyz")).status == 200, 20)
    wait_drained(fin)
    docs = billing_docs(fin)
    ids = [d["appointment_id"] for d in docs]
    outage = {e["appointment_id"] for e in evs}
    billed = len(set(ids) & outage)
    # consultations finished during the outage (the warm-up one is not counted)
    line = summary_line(sent=len(outage), billed=billed, duplicates=len(ids) - len(set(ids)),
                        lost=len(outage) - billed)
    print(f"  ({sent} events for {len(outage)} appointments during the outage; "
          f"clinic_duplicates_ignored_total={metric(fin, 'clinic_duplicates_ignored_total'):.0f}, "
          f"clinic_db_retries_total={metric(fin, 'clinic_db_retries_total'):.0f})")
    assert sorted(ids) == sorted(outage | {warm["appointment_id"]}), line
    assert metric(fin, "clinic_billings_created_total") == len(evs) + 1, line
    assert metric(fin, "clinic_duplicates_ignored_total") >= 1
    assert metric(fin, "clinic_consumer_paused") == 0
    assert fin.stop() == 0


# ---------------------------------------------------------------- the broker goes down

def test_broker_down_keeps_financial_ready_and_serving(fin, stack):
    """Readiness follows what answering needs, MongoDB: with the broker down
    billings are still served, so /readyz stays 200; its body and /metrics
    say Kafka is down. Events published meanwhile wait in the topic."""
    ev = event()
    publish(fin, ev)
    wait_billed(fin, ev["appointment_id"])
    stack.kafka.stop()
    try:
        r = wait_until(lambda: (x := http("GET", fin.url("/readyz"))).body["checks"]["kafka"]
                       == "down" and x, 15, message="/readyz reports kafka down")
        assert r.status == 200 and r.body["status"] == "ready", r.body
        assert r.body["checks"]["mongodb"] == "ok"
        assert get_billing(fin, ev["appointment_id"]).status == 200
        assert metric(fin, 'clinic_check_up{check="kafka"}') == 0
        assert metric(fin, 'clinic_check_up{check="mongodb"}') == 1
        assert metric(fin, "clinic_ready") == 1
    finally:
        stack.kafka.start()
    assert wait_all_up(fin, 60).body["checks"]["kafka"] == "ok"
    later = event()
    publish(fin, later)
    wait_billed(fin, later["appointment_id"], timeout=90)
    assert fin.stop() == 0


def test_sigterm_with_the_broker_down_exits_within_5_s(start_financial, stack):
    """Under Kubernetes SIGKILL follows SIGTERM after a grace period: with the
    broker down, financial still stops within 5 s (the default 10 s session
    timeout must not hold the exit), exits 0, and bills nothing twice when the
    broker is back and a new member reads the partitions again."""
    fin = start_financial(KAFKA_SESSION_TIMEOUT_MS=10000)
    ev = event()
    publish(fin, ev)
    wait_billed(fin, ev["appointment_id"])
    stack.kafka.stop()  # the billed event's offset may be stored but not committed
    try:
        wait_until(lambda: http("GET", fin.url("/readyz")).body["checks"]["kafka"] == "down", 15,
                   message="/readyz reports kafka down")
        t0 = time.monotonic()
        assert fin.stop() == 0
        took = time.monotonic() - t0
        print(f"SIGTERM to exit with the broker down: {took:.2f} s")
        assert took < 5, f"SIGTERM to exit took {took:.1f} s with the broker down"
    finally:
        stack.kafka.start()
    again = start_financial()
    later = event()
    publish(again, later)
    wait_billed(again, later["appointment_id"], timeout=90)
    assert get_billing(again, ev["appointment_id"]).status == 200
    assert again.stop() == 0


# ---------------------------------------------------------------- list and summary

P1, P2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
Q1, Q2 = "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"


def d(s: str) -> datetime:
    return parse_time(s)


# name: (physician, patient, end, hours)
DATASET = {
    "A": (P1, Q1, "2024-05-01T10:00:00Z", 1),
    "B": (P1, Q2, "2024-05-01T18:00:00Z", 2),
    "C": (P2, Q1, "2024-05-02T09:00:00Z", 1),
    "D": (P1, Q1, "2024-05-03T00:00:00Z", 3),
    "E": (P2, Q2, "2024-04-30T23:59:59Z", 1),
}


@pytest.fixture
def dataset(fin):
    ids = {}
    for name, (phys, pat, end, hours) in DATASET.items():
        ev = event(physician_id=phys, patient_id=pat, end=d(end), start=d(end) - timedelta(hours=hours))
        ids[name] = ev["appointment_id"]
        publish(fin, ev)
    for i in ids.values():
        wait_billed(fin, i)
    return ids


def names(fin, ids, query):
    r = http("GET", fin.url(f"/billings?{query}"))
    assert r.status == 200, (query, r.body)
    by_id = {v: k for k, v in ids.items()}
    return [by_id[b["appointment_id"]] for b in r.body["items"]], r


def test_list_filters_limit_and_cursor(fin, dataset):
    newest_first = sorted(dataset, key=lambda n: dataset[n], reverse=True)  # by id, descending
    got, r = names(fin, dataset, "")
    assert got == newest_first and r.body["next_cursor"] is None
    assert r.body["items"][0] == get_billing(fin, r.body["items"][0]["appointment_id"]).body

    pages, cursor = [], None
    for _ in range(5):
        got, r = names(fin, dataset, "limit=2" + (f"&cursor={cursor}" if cursor else ""))
        assert len(got) <= 2
        pages.append(got)
        cursor = r.body["next_cursor"]
        if cursor is None:
            break
    assert [len(p) for p in pages] == [2, 2, 1]
    assert sum(pages, []) == newest_first

    def only(*ns):
        return [n for n in newest_first if n in ns]
    assert names(fin, dataset, f"physician_id={P1}")[0] == only("A", "B", "D")
    assert names(fin, dataset, f"patient_id={Q1}")[0] == only("A", "C", "D")
    assert names(fin, dataset, f"physician_id={P1}&patient_id={Q1}")[0] == only("A", "D")
    # from inclusive, to exclusive, on end_date
    assert names(fin, dataset, "from=2024-05-01T00:00:00Z&to=2024-05-03T00:00:00Z")[0] == only("A", "B", "C")
    assert names(fin, dataset, "from=2024-05-03T00:00:00Z")[0] == only("D")
    assert names(fin, dataset, "to=2024-05-01T10:00:00Z")[0] == only("E")
    assert names(fin, dataset, "from=2024-05-01T10:00:00Z&to=2024-05-01T10:00:01Z")[0] == only("A")
    # an offset written unencoded: its '+' arrives as a space
    assert names(fin, dataset, "from=2024-05-01T13:00:00+03:00&to=2024-05-01T21:00:01%2B03:00")[0] == only("A", "B")
    assert names(fin, dataset, f"physician_id={P2}&from=2024-05-01T00:00:00Z")[0] == only("C")
    assert names(fin, dataset, f"physician_id={P1}&limit=1")[1].body["next_cursor"] == dataset[only("A", "B", "D")[0]]
    assert names(fin, dataset, f"physician_id={uuid.uuid4()}")[0] == []
    assert fin.stop() == 0


def test_summary_by_physician_patient_and_day(fin, dataset):
    def summary(query):
        r = http("GET", fin.url(f"/billings/summary?{query}"))
        assert r.status == 200, (query, r.body)
        return r

    r = summary("group_by=physician")
    assert r.body["groups"] == [{"key": P1, "count": 3, "total_price": 1200.00},
                                {"key": P2, "count": 2, "total_price": 400.00}]
    assert (r.body["count"], r.body["total_price"], r.body["currency"]) == (5, 1600.00, "BRL")
    assert r.body["group_by"] == "physician" and r.body["from"] is None and r.body["to"] is None
    assert b'"total_price":1200.00' in r.raw and b'"total_price":1600.00' in r.raw

    r = summary("group_by=patient")
    assert r.body["groups"] == [{"key": Q1, "count": 3, "total_price": 1000.00},
                                {"key": Q2, "count": 2, "total_price": 600.00}]

    r = summary("group_by=day")
    assert r.body["groups"] == [{"key": "2024-04-30", "count": 1, "total_price": 200.00},
                                {"key": "2024-05-01", "count": 2, "total_price": 600.00},
                                {"key": "2024-05-02", "count": 1, "total_price": 200.00},
                                {"key": "2024-05-03", "count": 1, "total_price": 600.00}]

    r = summary("group_by=physician&from=2024-05-01T00:00:00Z&to=2024-05-03T00:00:00Z")
    assert r.body["groups"] == [{"key": P1, "count": 2, "total_price": 600.00},
                                {"key": P2, "count": 1, "total_price": 200.00}]
    assert (r.body["count"], r.body["total_price"]) == (3, 800.00)
    assert (r.body["from"], r.body["to"]) == ("2024-05-01T00:00:00Z", "2024-05-03T00:00:00Z")

    r = summary("group_by=day&from=2030-01-01T00:00:00Z")
    assert (r.body["groups"], r.body["count"], r.body["total_price"]) == ([], 0, 0)
    assert b'"total_price":0.00' in r.raw
    r = summary("group_by=day&currency=USD")
    assert (r.body["groups"], r.body["currency"]) == ([], "USD")
    assert fin.stop() == 0


BAD_QUERIES = [
    ("/billings?limit=0", "limit"),
    ("/billings?limit=101", "limit"),
    ("/billings?limit=x", "limit"),
    ("/billings?limit=-1", "limit"),
    ("/billings?physician_id=nope", "physician_id"),
    ("/billings?physician_id=%7B%22%24gt%22%3A%22%22%7D", "physician_id"),
    ("/billings?patient_id=1", "patient_id"),
    ("/billings?cursor=abc", "cursor"),
    ("/billings?from=yesterday", "from"),
    ("/billings?to=2024-13-01T00:00:00Z", "to"),
    ("/billings?from=2024-05-02T00:00:00Z&to=2024-05-01T00:00:00Z", "to"),
    ("/billings?from=2024-05-01T00:00:00Z&to=2024-05-01T00:00:00Z", "to"),
    ("/billings/summary", "group_by"),
    ("/billings/summary?group_by=month", "group_by"),
    ("/billings/summary?group_by=day&from=x", "from"),
    ("/billings/summary?group_by=day&to=2024-05-01", "to"),
    ("/billings/summary?group_by=day&currency=brl", "currency"),
    ("/billings/summary?group_by=day&currency=EURO", "currency"),
]


def test_bad_query_parameters_are_400_naming_the_field(fin):
    for path, field in BAD_QUERIES:
        r = http("GET", fin.url(path))
        assert r.status == 400, (path, r.status, r.body)
        assert_problem(r, 400, field)
    assert fin.stop() == 0


# ---------------------------------------------------------------- auth

def test_auth_scopes_and_tokens_never_logged(start_financial):
    fin = start_financial(AUTH_TOKENS=f"{TOKEN_READ}=billings:read;{TOKEN_OTHER}=appointments:read",
                          HTTP_HOST="127.0.0.1", wait_ready=False)
    ev = event()
    publish(fin, ev)
    ok = {"Authorization": f"Bearer {TOKEN_READ}"}
    b = wait_billed(fin, ev["appointment_id"], headers=ok)
    assert b.body["total_price"] == 200.00
    aid = ev["appointment_id"]
    for path in (f"/billings/{aid}", f"/{aid}", "/billings", "/billings/summary?group_by=day"):
        r = http("GET", fin.url(path))
        assert_problem(r, 401)
        assert r.headers["www-authenticate"].startswith("Bearer")
        assert_problem(http("GET", fin.url(path), headers={"Authorization": "Bearer wrong-token"}), 401)
        assert_problem(http("GET", fin.url(path), headers={"Authorization": f"Bearer {TOKEN_OTHER}"}), 403)
        assert http("GET", fin.url(path), headers=ok).status == 200, path
    assert http("GET", fin.url("/healthz")).status == 200
    assert http("GET", fin.url("/openapi.json")).status == 200
    assert http("GET", fin.url("/readyz")).status in (200, 503)  # public, whatever it says
    assert fin.stop() == 0
    log = fin.log_text()
    assert TOKEN_READ not in log and TOKEN_OTHER not in log


# ---------------------------------------------------------------- shutdown

def test_sigterm_exits_0_and_commits_what_is_billed(start_financial):
    fin = start_financial()
    first = event()
    publish(fin, first)
    wait_billed(fin, first["appointment_id"])
    assert fin.stop() == 0
    assert any(r.get("msg") == "stopped" for r in fin.log_records())
    # The billed event's offset was committed on the way out: a new member of
    # the group does not read it again.
    again = start_financial()
    second = event()
    publish(again, second)
    wait_billed(again, second["appointment_id"])
    assert metric(again, "clinic_duplicates_ignored_total") == 0
    assert metric(again, "clinic_billings_created_total") == 1
    assert again.stop() == 0


def assignment_log(svc) -> list[tuple[str, str | None]]:
    """The consumer group lines of a financial log, in order."""
    keep = ("partitions assigned", "partitions revoked", "shutting down", "leaving the consumer group")
    return [(r["msg"], r.get("partitions")) for r in svc.log_records() if r.get("msg") in keep]


def assert_one_line_per_assignment(svc) -> None:
    """Each assignment taken is logged once and revoked once before the next
    one; none is taken once shutdown began."""
    held = None
    stopping = False
    for msg, parts in assignment_log(svc):
        if msg == "partitions assigned":
            assert not stopping, f"assignment taken while shutting down: {assignment_log(svc)}"
            assert held is None, f"assigned twice without a revoke: {assignment_log(svc)}"
            held = parts
        elif msg == "partitions revoked":
            assert held == parts, f"revoked {parts}, held {held}: {assignment_log(svc)}"
            held = None
        else:
            stopping = True
    assert held is None, f"exited holding {held}: {assignment_log(svc)}"


def test_one_partitions_assigned_line_per_assignment(start_financial):
    """A member stopped before its first assignment arrives declines it (it
    used to take it after "shutting down", start fetching and hand it back a
    second later, so across a restart the same partitions were logged
    assigned twice); a member that stays logs one line for its one
    assignment and one for its revoke."""
    early = start_financial(wait_ready=False)  # SIGTERM at once: the join is still under way
    t0 = time.monotonic()
    assert early.stop() == 0
    assert time.monotonic() - t0 < 5, "SIGTERM to exit"
    fin = start_financial()
    ev = event()
    publish(fin, ev)
    wait_billed(fin, ev["appointment_id"])
    assert fin.stop() == 0
    for svc in (early, fin):
        assert_one_line_per_assignment(svc)
    all_six = "0,1,2,3,4,5"
    assert [m for m in assignment_log(fin) if m[0].startswith("partitions")] == [
        ("partitions assigned", all_six), ("partitions revoked", all_six)]


# ---------------------------------------------------------------- no single message stops its partition (issue 19)

ONE_MB = 1_000_000


def _bill_on_partition(svc, partition: int, n: int = 3, timeout: float = 15.0) -> None:
    """n ordinary events on `partition` are billed within `timeout` seconds."""
    evs = [event() for _ in range(n)]
    for ev in evs:
        publish(svc, ev, partition=partition)
    for ev in evs:
        wait_billed(svc, ev["appointment_id"], timeout=timeout)


@pytest.mark.parametrize("dlq_max_bytes", [None, 65536], ids=["copied-whole", "too-large-for-the-dlq"])
def test_a_1_mb_event_is_dead_lettered_and_its_partition_moves_on(start_financial, dlq_max_bytes):
    """librdkafka's producer refuses a message over 1,000,000 bytes by default,
    below what the broker takes: the dead-letter copy of a 1 MB event failed
    for ever, read as "the dead-letter topic is down", and every later
    consultation of the partition stayed unbilled, after restarts too. Now
    the copy goes whole, and where the dead-letter topic's own limit refuses
    it, a small `too_large` record says where the message is."""
    fin = start_financial()
    dlq = fin.topic + ".dlq"
    if dlq_max_bytes:
        set_topic_config(fin.bootstrap, dlq, {"max.message.bytes": str(dlq_max_bytes)})
    dlq_before = end_offsets(fin.bootstrap, dlq)
    key = str(uuid.uuid4())
    big = b"{" + b"x" * (ONE_MB - 1)  # not JSON: undecodable
    part, off = produce(fin.bootstrap, fin.topic, big, key=key, headers=ce_headers(), partition=0,
                        config={"message.max.bytes": 2 * ONE_MB})
    _bill_on_partition(fin, 0)
    letters = consume(fin.bootstrap, dlq, dlq_before, timeout=15, max_messages=1)
    assert len(letters) == 1
    h = letters[0].headers
    assert (h["dlq_source_topic"], int(h["dlq_source_partition"]), int(h["dlq_source_offset"])) == \
        (fin.topic, part, off)
    if dlq_max_bytes is None:
        assert h["dlq_reason"].startswith("undecodable") or "JSON" in h["dlq_reason"], h["dlq_reason"]
        assert letters[0].value == big
    else:
        assert h["dlq_reason"] == "too_large"
        rec = letters[0].json()
        assert rec["reason"] == "too_large" and rec["original_reason"]
        assert (rec["source_topic"], rec["source_partition"], rec["source_offset"]) == (fin.topic, part, off)
        assert rec["key"] == key and rec["value_bytes"] == ONE_MB
        assert rec["value_head"] == big[:1024].decode()
        assert len(letters[0].value) < 4096
    wait_drained(fin)
    # A new member (a restart) starts after the big message: nothing wedges,
    # and it is not dead-lettered twice.
    fin.stop()
    fin = start_financial()
    _bill_on_partition(fin, 0, n=2)
    assert len(consume(fin.bootstrap, dlq, dlq_before, timeout=3)) == 1


def _refuse_billing_of(svc, stack, appointment_id: str) -> None:
    """Makes PostgreSQL, under FerretDB, refuse one billing document: a
    trigger on the billings table raises for that appointment id, as a
    constraint a DBA added would. Everything else is written as usual."""
    schema = svc.env["MONGODB_URI"].rsplit("/", 1)[1].split("?")[0]
    table = stack.postgres.psql(
        f"SELECT _jsonb->>'table' FROM \"{schema}\"._ferretdb_database_metadata "
        f"WHERE _jsonb->>'_id' = 'billings'").strip()
    assert table, "the billings table"
    stack.postgres.psql(f"""
        CREATE OR REPLACE FUNCTION "{schema}".refuse_one() RETURNS trigger AS $$
        BEGIN
            IF NEW._jsonb->>'_id' = '{appointment_id}' THEN
                RAISE EXCEPTION 'billing refused by a test trigger';
            END IF;
            RETURN NEW;
        END $$ LANGUAGE plpgsql;
        CREATE TRIGGER refuse_one BEFORE INSERT ON "{schema}"."{table}"
            FOR EACH ROW EXECUTE FUNCTION "{schema}".refuse_one();""")


def test_a_billing_the_database_refuses_is_dead_lettered_and_the_rest_bill(start_financial, stack):
    """Any write error but a duplicate key was read as "the database is down":
    one document the database refuses every time paused the consumer for ever.
    Now the batch is written one by one, and after BILLING_WRITE_ATTEMPTS
    refusals of the same message it is dead-lettered `refused`; the others,
    before and after it on its partition, are billed."""
    fin = start_financial(BILLING_WRITE_ATTEMPTS=2)
    _bill_on_partition(fin, 1, n=1)  # the collection exists
    dlq = fin.topic + ".dlq"
    dlq_before = end_offsets(fin.bootstrap, dlq)
    refused = event()
    _refuse_billing_of(fin, stack, refused["appointment_id"])
    before = event()
    publish(fin, before, partition=1)
    _, (part, off) = publish(fin, refused, partition=1)
    _bill_on_partition(fin, 1, n=3, timeout=30)
    wait_billed(fin, before["appointment_id"])
    letters = consume(fin.bootstrap, dlq, dlq_before, timeout=15, max_messages=1)
    assert len(letters) == 1
    h = letters[0].headers
    assert h["dlq_reason"].startswith("refused"), h["dlq_reason"]
    assert (int(h["dlq_source_partition"]), int(h["dlq_source_offset"])) == (part, off)
    assert get_billing(fin, refused["appointment_id"]).status == 404
    assert metric(fin, "clinic_billings_refused_total") == 1
    wait_drained(fin)
    # After a restart the refused message is not read again.
    fin.stop()
    fin = start_financial(BILLING_WRITE_ATTEMPTS=2)
    _bill_on_partition(fin, 1, n=2)
    assert len(consume(fin.bootstrap, dlq, dlq_before, timeout=3)) == 1


# ---------------------------------------------------------------- every read is bounded (issue 19)

def test_a_range_longer_than_366_days_is_422_naming_to(fin):
    for path in ("/billings?", "/billings/summary?group_by=day&"):
        r = http("GET", fin.url(f"{path}from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:01Z"))
        assert_problem(r, 422, "to")
        assert "366 days" in r.body["detail"]
        # 2024 is a leap year: its 366 days are a range like any other.
        assert http("GET", fin.url(f"{path}from=2024-01-01T00:00:00Z&to=2025-01-01T00:00:00Z")).status == 200


def test_a_summary_over_more_than_367_days_of_billings_is_422_naming_from(fin):
    """A summary reads one end day at a time; one without from/to over a long
    history would read all of it. Past 367 end days it answers 422 naming
    `from` (nothing read); a range within the cap answers as usual."""
    first = datetime(2023, 1, 1, 9, 0, tzinfo=timezone.utc)
    insert_billings(fin.env["MONGODB_URI"], PHYS, PAT, [first + timedelta(days=i) for i in range(368)])
    r = http("GET", fin.url("/billings/summary?group_by=physician"))
    assert_problem(r, 422, "from")
    r = http("GET", fin.url("/billings/summary?group_by=day&from=2023-01-01T00:00:00Z&to=2023-02-01T00:00:00Z"))
    assert r.status == 200, r.body
    assert len(r.body["groups"]) == 31 and r.body["count"] == 31


# ---------------------------------------------------------------- only our events are billed (issue 18)

def test_events_that_are_not_ours_are_dead_lettered_never_billed(start_financial):
    """Anyone who can write the topic could bill: a well-formed event with no
    ce_type was taken for ours. Now only ce_type clinic.appointment.finished.v1
    from EVENT_SOURCE (the appointment service's) is billed; the rest is
    dead-lettered, its reason naming the header, and the partition goes on."""
    fin = start_financial()
    dlq = fin.topic + ".dlq"
    dlq_before = end_offsets(fin.bootstrap, dlq)
    h = ce_headers()
    no_type = {k: v for k, v in h.items() if k != "ce_type"}
    no_source = {k: v for k, v in h.items() if k != "ce_source"}
    cases = [  # (headers, dlq_reason prefix)
        (no_type, "ce_type: missing"),
        (dict(h, ce_type="clinic.appointment.finished.v2"), "ce_type: another type"),
        (no_source, "ce_source: missing"),
        (dict(h, ce_source="/intruder"), "ce_source: another producer"),
        ({}, "ce_type: missing"),  # a plain producer's message, no headers at all
    ]
    forged = {}
    for headers, why in cases:
        ev = event()
        forged[ev["appointment_id"]] = (why, produce(fin.bootstrap, fin.topic, json.dumps(ev),
                                                     key=ev["appointment_id"], headers=headers, partition=2))
    ours = event()
    publish(fin, ours, partition=2)
    wait_billed(fin, ours["appointment_id"])
    letters = consume(fin.bootstrap, dlq, dlq_before, timeout=15, max_messages=len(cases))
    assert len(letters) == len(cases)
    for m in letters:
        why, where = forged[m.key]
        assert m.headers["dlq_reason"].startswith(why), m.headers["dlq_reason"]
        assert "not ours" in m.headers["dlq_reason"]
        assert (int(m.headers["dlq_source_partition"]), int(m.headers["dlq_source_offset"])) == where
    for aid in forged:
        assert get_billing(fin, aid).status == 404
    # Another configured producer: the appointment service's events are then not ours.
    fin.stop()
    other = start_financial(EVENT_SOURCE="/another/producer")
    ev = event()
    publish(other, ev, partition=2)
    letters = consume(other.bootstrap, dlq, dlq_before, timeout=15, max_messages=len(cases) + 1)
    assert len(letters) == len(cases) + 1
    assert letters[-1].key == ev["appointment_id"]
    assert letters[-1].headers["dlq_reason"].startswith("ce_source: another producer")
    assert get_billing(other, ev["appointment_id"]).status == 404
