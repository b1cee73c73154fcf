"""End to end: consultations started and finished through the appointment API
become billings in the financial service, through the real broker and FerretDB,
whatever is down when they finish.

Each scenario prints (and puts in its assertion messages) one line
"sent=N billed=N duplicates=N lost=N":
  sent        consultations finished through the appointment API
  billed      of those, how many have a billing with the right total
  duplicates  billing documents beyond one per appointment
  lost        sent - billed
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

from harness import (consume, end_offsets, http, iso, metric, mongo_client, now, wait_drained, wait_ready,
                     wait_until)

PHYS = "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
PAT = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"


# ---------------------------------------------------------------- helpers

def expected_cents(duration: timedelta, hourly_cents: int = 20000) -> int:
    secs = int(duration.total_seconds())
    return max(1, -(-secs // 3600)) * hourly_cents


def start(appt, start_date: datetime, physician_id: str = PHYS, patient_id: str = PAT) -> dict:
    r = http("POST", appt.url("/appointments"),
             json={"physician_id": physician_id, "patient_id": patient_id, "start_date": iso(start_date)})
    assert r.status == 201, (r.status, r.body)
    return r.body


def finish(appt, appointment_id: str, end_date: datetime | None = None):
    body = {} if end_date is None else {"end_date": iso(end_date)}
    return http("POST", appt.url(f"/appointments/{appointment_id}/finish"), json=body)


def billings(svc) -> list[dict]:
    with mongo_client(svc.env["MONGODB_URI"]) as c:
        return list(c.get_default_database()["billings"].find({}))


def counts(fin, expected: dict[str, int]) -> tuple[str, dict[str, int]]:
    """The scenario's count line, from the billings collection itself."""
    docs = billings(fin)
    per_appt: dict[str, int] = {}
    for doc in docs:
        per_appt[doc["appointment_id"]] = per_appt.get(doc["appointment_id"], 0) + 1
    billed = sum(1 for a, cents in expected.items()
                 if per_appt.get(a) and any(d["appointment_id"] == a and d["total_cents"] == cents
                                            for d in docs))
    figures = {"sent": len(expected), "billed": billed,
               "duplicates": len(docs) - len(per_appt) + sum(1 for a in per_appt if a not in expected),
               "lost": len(expected) - billed}
    line = " ".join(f"{k}={v}" for k, v in figures.items())
    return line, figures


def report(fin, expected: dict[str, int]) -> str:
    line, f = counts(fin, expected)
    print(f"\n{line}")
    print(f"  (financial: clinic_duplicates_ignored_total={metric(fin, 'clinic_duplicates_ignored_total'):.0f}, "
          f"events on the topic={sum(end_offsets(fin.bootstrap, fin.topic).values())})")
    assert f["billed"] == f["sent"] and f["duplicates"] == 0 and f["lost"] == 0, line
    return line


def assert_each_billed_once(appt, fin, expected: dict[str, int], created: int,
                            drain_timeout: float = 20.0) -> None:
    """A scenario's end: every event handled and its offset committed, each
    appointment of `expected` billed with its total, the count line clean,
    `created` billings created (clinic_billings_created_total); then both
    services exit 0 on SIGTERM."""
    wait_drained(fin, drain_timeout)
    for aid, cents in expected.items():
        assert http("GET", fin.url(f"/billings/{aid}")).body["total_price"] == cents / 100, aid
    line = report(fin, expected)
    assert metric(fin, "clinic_billings_created_total") == created, line
    assert appt.stop() == 0
    assert fin.stop() == 0


def wait_count(fin, n: int, timeout: float, expected: dict[str, int]) -> None:
    try:
        wait_until(lambda: len(billings(fin)) >= n, timeout, interval=0.5)
    except AssertionError as e:
        raise AssertionError(f"{counts(fin, expected)[0]}: {e}") from None


# ---------------------------------------------------------------- scenarios

DURATIONS = [
    (timedelta(minutes=5), 20000),
    (timedelta(hours=1), 20000),
    (timedelta(minutes=61), 40000),
    (timedelta(hours=26), 520000),
]


def test_finished_consultations_become_billings_with_the_right_total(pair):
    appt, fin = pair
    expected = {}
    for duration, cents in DURATIONS:
        s = start(appt, now() - duration - timedelta(minutes=10))
        begin = datetime.fromisoformat(s["start_date"].replace("Z", "+00:00"))
        f = finish(appt, s["id"], begin + duration)
        assert f.status == 200, f.body
        assert f.body["status"] == "finished"
        expected[s["id"]] = cents
        assert expected_cents(duration) == cents
    for aid, cents in expected.items():
        r = wait_until(lambda: (x := http("GET", fin.url(f"/billings/{aid}"))).status == 200 and x, 30,
                       message=f"billing of {aid}")
        a = http("GET", appt.url(f"/appointments/{aid}")).body
        b = r.body
        assert b["total_price"] == cents / 100, (b, a)
        assert (b["physician_id"], b["patient_id"]) == (a["physician_id"], a["patient_id"])
        assert (b["start_date"], b["end_date"]) == (a["start_date"], a["end_date"])
        assert b["hourly_price"] == a["price"] == 200.00 and b["currency"] == "BRL"
        compat = http("GET", fin.url(f"/{aid}/")).body
        assert compat["total_price"] == cents / 100
    assert_each_billed_once(appt, fin, expected, len(DURATIONS))


def test_financial_down_while_50_finish_then_each_billed_once(pair):
    appt, fin = pair
    base = now() - timedelta(hours=12)
    started = [start(appt, base)["id"] for _ in range(50)]
    assert fin.stop() == 0  # financial goes away (it had joined the group)

    expected = {}
    for i, aid in enumerate(started):
        duration = timedelta(minutes=13 * (i + 1), seconds=i)
        f = finish(appt, aid, base + duration)
        assert f.status == 200, f.body
        expected[aid] = expected_cents(duration)
    # every event on the broker before financial comes back
    wait_until(lambda: sum(end_offsets(fin.bootstrap, fin.topic).values()) >= 50, 20,
               message="50 events published")

    fin.start()
    wait_ready(fin)
    wait_count(fin, 50, 60, expected)
    assert_each_billed_once(appt, fin, expected, 50)


def test_refinish_with_the_same_end_date_bills_once(pair, stack):
    appt, fin = pair
    s = start(appt, now() - timedelta(hours=3))
    end = now() - timedelta(minutes=30)
    first = finish(appt, s["id"], end)
    assert first.status == 200
    expected = {s["id"]: 60000}  # 2.5 h -> 3 started hours
    billed = wait_until(lambda: (x := http("GET", fin.url(f"/billings/{s['id']}"))).status == 200 and x,
                        30, message="first billing").body

    again = finish(appt, s["id"], end)
    bare = finish(appt, s["id"])
    compat = http("POST", appt.url(f"/{s['id']}"), json={"end_date": iso(end)})
    assert again.status == bare.status == compat.status == 200
    assert again.body == bare.body == first.body
    assert_conflict = finish(appt, s["id"], end - timedelta(minutes=1))
    assert assert_conflict.status == 409

    time.sleep(1.5)  # give a (wrong) second event time to be produced
    events = [m for m in consume(stack.kafka.bootstrap, fin.topic, timeout=10) if m.key == s["id"]]
    assert len(events) >= 1
    assert len({(m.value, m.headers["ce_id"]) for m in events}) == 1, "a second event payload"
    wait_drained(fin)
    assert http("GET", fin.url(f"/billings/{s['id']}")).body == billed
    assert_each_billed_once(appt, fin, expected, 1)


def test_broker_down_while_20_finish_then_each_billed_once(pair, stack):
    appt, fin = pair
    base = now() - timedelta(hours=6)
    started = [start(appt, base)["id"] for _ in range(20)]
    expected = {}
    stack.kafka.stop()
    try:
        for i, aid in enumerate(started):
            duration = timedelta(minutes=17 * (i + 1))
            f = finish(appt, aid, base + duration)
            assert f.status == 200, (f.status, f.body)
            expected[aid] = expected_cents(duration)
        # Appointment stays ready (finishing works); /readyz says the broker is down.
        r = wait_until(lambda: (x := http("GET", appt.url("/readyz"))).body["checks"]["kafka"]
                       == "down" and x, 10, message="appointment /readyz says kafka down")
        assert r.status == 200, r.body
        time.sleep(3.5)  # past KAFKA_MESSAGE_TIMEOUT_MS: the outbox relay owns the events now
        assert len(billings(fin)) == 0
    finally:
        stack.kafka.start()
    wait_count(fin, 20, 90, expected)
    wait_ready(appt)
    wait_ready(fin)
    assert_each_billed_once(appt, fin, expected, 20, drain_timeout=30)


def _log_lines(svc, msg: str, appointment_id: str) -> list[dict]:
    return [r for r in svc.log_records()
            if r.get("msg") == msg and r.get("appointment_id") == appointment_id]


def test_one_trace_id_follows_a_consultation_through_both_services(pair, stack):
    appt, fin = pair
    tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    traced = start(appt, now() - timedelta(hours=1))["id"]
    f = http("POST", appt.url(f"/appointments/{traced}/finish"), json={},
             headers={"traceparent": tp, "tracestate": "clinic=t61rcWkgMzE"})
    assert f.status == 200, f.body
    untraced = start(appt, now() - timedelta(hours=1))["id"]
    assert finish(appt, untraced).status == 200
    wait_until(lambda: _log_lines(fin, "billing created", traced)
               and _log_lines(fin, "billing created", untraced), 30, message="both billed")

    # The caller's trace, end to end: the finish's line, the event, the billing's line.
    done = _log_lines(appt, "appointment finished", traced)[0]
    billed = _log_lines(fin, "billing created", traced)[0]
    assert (done["trace_id"], done["span_id"]) == ("4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7")
    assert (billed["trace_id"], billed["span_id"]) == (done["trace_id"], done["span_id"])
    msgs = {m.key: m for m in consume(stack.kafka.bootstrap, fin.topic, timeout=15, max_messages=2)}
    assert msgs[traced].headers["traceparent"] == tp
    assert msgs[traced].headers["tracestate"] == "clinic=t61rcWkgMzE"

    # No traceparent: the finish starts a trace, and financial logs the same one.
    done = _log_lines(appt, "appointment finished", untraced)[0]
    billed = _log_lines(fin, "billing created", untraced)[0]
    assert len(done["trace_id"]) == 32 and done["trace_id"] != "4bf92f3577b34da6a3ce929d0e0e4736"
    assert billed["trace_id"] == done["trace_id"]
    assert msgs[untraced].headers["traceparent"].split("-")[1] == done["trace_id"]
    assert "tracestate" not in msgs[untraced].headers
