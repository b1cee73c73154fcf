"""Dead letters an operator can see, fix and replay (financial; issue 21).

Each dead-lettered message is recorded in the `dead_letters` collection
before its offset is stored (the topic keeps its copy too); /dead-letters
lists, reads, replays and discards them (scope billing:admin); replay jobs
run on a background thread; every replay and discard is audited.
"""

from __future__ import annotations

import json
import time
import uuid
from datetime import timedelta

import pytest

from harness import assert_problem, committed, consume, end_offsets, http, produce, wait_drained, wait_until
from harness import metric as harness_metric
from harness.dead_letters import AS_ADMIN, AS_READER, TOKENS, admin

from test_financial import T0, ce_headers, db, event, publish, start_ferretdb, wait_billed

REASONS = ("undecodable", "schema", "end_before_start", "not_ours", "too_long", "too_large",
           "currency", "bad_signature", "refused")


def records(svc) -> list[dict]:
    c, d = db(svc)
    with c:
        return list(d["dead_letters"].find({}))


def audits(svc) -> list[dict]:
    c, d = db(svc)
    with c:
        return list(d["audit"].find({}))


def listed(svc, query: str = "", count: int = 1, timeout: float = 20.0) -> list[dict]:
    """The items of GET /dead-letters?query once it holds `count` of them."""
    def ready():
        r = http("GET", svc.url(f"/dead-letters{query}"), headers=AS_ADMIN)
        assert r.status == 200, r.body
        return len(r.body["items"]) >= count and r.body["items"]
    return wait_until(ready, timeout, message=f"{count} dead letters listed for {query!r}")


def metric(svc, name: str) -> float:
    """harness.metric with the admin token (these services run with auth on)."""
    return harness_metric(svc, name, headers=AS_ADMIN)


def open_metric(svc, reason: str) -> float:
    return metric(svc, f'clinic_dead_letters_open{{reason="{reason}"}}')


# ---------------------------------------------------------------- recorded, listed, read

def test_dead_letters_are_recorded_listed_and_read_with_billing_admin(start_financial):
    fin = start_financial(AUTH_TOKENS=TOKENS, HTTP_HOST="127.0.0.1")
    bad_json_key = str(uuid.uuid4())
    where_bad = produce(fin.bootstrap, fin.topic, b"not json {", key=bad_json_key, headers=ce_headers(),
                        partition=0)
    backwards = event(start=T0, end=T0 - timedelta(minutes=1))
    publish(fin, backwards, partition=0)
    good = event()
    publish(fin, good, partition=0)
    wait_billed(fin, good["appointment_id"], headers=AS_READER)
    wait_drained(fin)

    items = listed(fin, count=2)
    assert len(items) == 2
    by_reason = {i["reason"]: i for i in items}
    assert set(by_reason) == {"undecodable", "end_before_start"}
    u = by_reason["undecodable"]
    assert u["source"] == f"{fin.topic}/{where_bad[0]}/{where_bad[1]}"
    assert (u["topic"], u["partition"], u["offset"]) == (fin.topic, where_bad[0], where_bad[1])
    assert u["status"] == "open" and u["attempts"] == 1 and u["appointment_id"] is None
    assert u["truncated"] is False and u["value_bytes"] == len(b"not json {")
    e = by_reason["end_before_start"]
    assert e["appointment_id"] == backwards["appointment_id"]
    assert e["detail"] == "end_date: before start_date"
    assert PAT_NOT_IN(e)

    full = admin(fin, "GET", f"/dead-letters/{u['id']}")
    assert full.status == 200
    assert full.body["key"] == bad_json_key and full.body["value"] == "not json {"
    assert {"name": "ce_type", "value": "clinic.appointment.finished.v1"} in full.body["headers"]
    # the stored record: _id is the source, the API's id its UUIDv5
    recs = {r["_id"]: r for r in records(fin)}
    assert recs[u["source"]]["id"] == u["id"] and recs[u["source"]]["reason"] == "undecodable"

    # filters (equalities) and paging with a cursor
    assert [i["reason"] for i in listed(fin, "?reason=end_before_start")] == ["end_before_start"]
    assert http("GET", fin.url("/dead-letters?status=replayed"), headers=AS_ADMIN).body["items"] == []
    first = admin(fin, "GET", "/dead-letters?limit=1")
    assert len(first.body["items"]) == 1 and first.body["next_cursor"]
    second = admin(fin, "GET", f"/dead-letters?limit=1&cursor={first.body['next_cursor'].replace('/', '%2F')}")
    assert len(second.body["items"]) == 1 and second.body["next_cursor"] is None
    assert {first.body["items"][0]["id"], second.body["items"][0]["id"]} == {u["id"], e["id"]}
    assert_problem(admin(fin, "GET", "/dead-letters?reason=nope"), 400, "reason")
    assert_problem(admin(fin, "GET", "/dead-letters?limit=101"), 400, "limit")
    assert_problem(admin(fin, "GET", "/dead-letters/not-a-uuid"), 400, "id")
    assert_problem(admin(fin, "GET", f"/dead-letters/{uuid.uuid4()}"), 404, "id")

    # scopes: none 401, billings:read 403, for every route
    jid = str(uuid.uuid4())
    for method, path in (("GET", "/dead-letters"), ("GET", f"/dead-letters/{u['id']}"),
                         ("POST", f"/dead-letters/{u['id']}/replay"),
                         ("POST", f"/dead-letters/{u['id']}/discard"), ("POST", "/dead-letter-replays"),
                         ("GET", f"/dead-letter-replays/{jid}"), ("POST", f"/dead-letter-replays/{jid}/cancel")):
        body = {} if method == "POST" else None
        assert_problem(http(method, fin.url(path), json=body), 401)
        assert_problem(http(method, fin.url(path), json=body, headers=AS_READER), 403)

    # metrics: every reason present, the open ones counted
    wait_until(lambda: open_metric(fin, "undecodable") == 1 and open_metric(fin, "end_before_start") == 1,
               15, message="clinic_dead_letters_open refreshed")
    for r in REASONS:
        assert open_metric(fin, r) >= 0
    assert metric(fin, "clinic_billing_delay_seconds_count") >= 1

    # discard: a note is required; then 409
    assert_problem(admin(fin, "POST", f"/dead-letters/{u['id']}/discard", {}), 400, "note")
    d = admin(fin, "POST", f"/dead-letters/{u['id']}/discard", {"note": "garbage from a test producer"})
    assert d.status == 200 and d.body["status"] == "discarded"
    assert_problem(admin(fin, "POST", f"/dead-letters/{u['id']}/discard", {"note": "again"}), 409, "id")
    assert_problem(admin(fin, "POST", f"/dead-letters/{u['id']}/replay", {}), 409, "id")
    a = [x for x in audits(fin) if x["action"] == "dead_letter.discard"]
    assert len(a) == 1 and a[0]["who"].startswith("t:") and a[0]["note"] == "garbage from a test producer"
    assert a[0]["filter"]["ids"] == [u["id"]] and a[0]["trace_id"]
    assert fin.stop() == 0


def PAT_NOT_IN(item: dict) -> bool:
    """The detail names fields, never patient data."""
    return "8c6d4b2a" not in item["detail"]


# ---------------------------------------------------------------- nothing lost while a store is down

def test_database_down_a_bad_message_waits_then_is_recorded_and_dead_lettered(start_financial, stack):
    fin = start_financial()
    warm = event()
    publish(fin, warm)
    wait_billed(fin, warm["appointment_id"])
    wait_drained(fin)
    base = committed(fin.bootstrap, fin.group, fin.topic)
    dlq = fin.topic + ".dlq"
    dlq_before = end_offsets(fin.bootstrap, dlq)
    stack.ferretdb.stop()
    try:
        where = produce(fin.bootstrap, fin.topic, b"{broken", key="k-db-down", headers=ce_headers())
        wait_until(lambda: http("GET", fin.url("/readyz")).body["checks"].get("consumer") == "paused-db-down",
                   20, message="consumer paused, the dead letter not recorded")
        time.sleep(2)
        assert committed(fin.bootstrap, fin.group, fin.topic) == base
        assert consume(fin.bootstrap, dlq, dlq_before, timeout=2) == []  # the record comes first
    finally:
        start_ferretdb(stack)
    wait_drained(fin, timeout=60)
    recs = [r for r in records(fin) if r["_id"] == f"{fin.topic}/{where[0]}/{where[1]}"]
    assert len(recs) == 1 and recs[0]["reason"] == "undecodable" and recs[0]["status"] == "open"
    letters = consume(fin.bootstrap, dlq, dlq_before, timeout=15, max_messages=1)
    assert [m.key for m in letters] == ["k-db-down"]
    assert fin.stop() == 0


def test_dead_letter_topic_down_the_record_is_kept_and_the_offset_waits(start_service, topic, stack):
    """The dead-letter topic does not exist yet (the broker creates none by
    itself): the record is written, the offset waits until the topic takes
    the message."""
    missing = f"{topic}.dlq-later"
    group = f"financial-test-{uuid.uuid4().hex[:10]}"
    fin = start_service("financial", KAFKA_TOPIC=topic, KAFKA_DLQ_TOPIC=missing, KAFKA_GROUP_ID=group,
                        KAFKA_SESSION_TIMEOUT_MS=6000, CONSUMER_RETRY_MAX_MS=500)
    fin.topic, fin.group, fin.bootstrap = topic, group, stack.kafka.bootstrap
    wait_until(lambda: http("GET", fin.url("/readyz")).body["checks"].get("consumer") == "running", 40,
               message="consumer running")
    base = committed(fin.bootstrap, fin.group, fin.topic)
    where = produce(fin.bootstrap, fin.topic, b"", key="k-dlq-down", headers=ce_headers())
    source = f"{fin.topic}/{where[0]}/{where[1]}"
    wait_until(lambda: any(r["_id"] == source for r in records(fin)), 20, message="record written first")
    wait_until(lambda: http("GET", fin.url("/readyz")).body["checks"].get("consumer") == "paused-dlq-down",
               30, message="consumer paused on the dead-letter topic")
    assert committed(fin.bootstrap, fin.group, fin.topic) == base
    stack.kafka.create_topic(missing, 1)
    wait_drained(fin, timeout=60)
    letters = consume(fin.bootstrap, missing, True, timeout=15, max_messages=1)
    assert [m.key for m in letters] == ["k-dlq-down"]
    recs = [r for r in records(fin) if r["_id"] == source]
    assert len(recs) == 1 and recs[0]["attempts"] >= 1 and recs[0]["reason"] == "undecodable"
    assert fin.stop() == 0


# ---------------------------------------------------------------- the currency story

def test_usd_event_listed_then_billed_once_by_a_replay_after_currencies_brl_usd(start_financial):
    fin = start_financial(AUTH_TOKENS=TOKENS, HTTP_HOST="127.0.0.1", CURRENCIES="BRL")
    usd = event(currency="USD")
    publish(fin, usd)
    [item] = listed(fin, "?reason=currency")
    assert item["appointment_id"] == usd["appointment_id"] and item["status"] == "open"
    assert item["detail"] == "currency: USD is not accepted (CURRENCIES)"
    # still refused today: stays open, attempts + 1
    r = admin(fin, "POST", f"/dead-letters/{item['id']}/replay", {})
    assert r.status == 200 and r.body["result"] == "still_failing", r.body
    assert r.body["dead_letter"]["status"] == "open" and r.body["dead_letter"]["attempts"] == 2
    assert fin.stop() == 0

    fin = start_financial(AUTH_TOKENS=TOKENS, HTTP_HOST="127.0.0.1", CURRENCIES="BRL,USD")
    dry = admin(fin, "POST", f"/dead-letters/{item['id']}/replay", {"dry_run": True})
    assert dry.status == 200 and dry.body["result"] == "billed" and dry.body["dry_run"] is True
    assert dry.body["dead_letter"]["status"] == "open" and dry.body["dead_letter"]["attempts"] == 2
    assert_problem(http("GET", fin.url(f"/billings/{usd['appointment_id']}"), headers=AS_READER), 404)
    first = admin(fin, "POST", f"/dead-letters/{item['id']}/replay", {})
    assert first.status == 200 and first.body["result"] == "billed", first.body
    assert first.body["dead_letter"]["status"] == "replayed"
    b = http("GET", fin.url(f"/billings/{usd['appointment_id']}"), headers=AS_READER)
    assert b.status == 200 and b.body["currency"] == "USD" and b.body["total_price"] == 200.00
    again = admin(fin, "POST", f"/dead-letters/{item['id']}/replay", {})
    assert again.status == 200 and again.body["result"] == "already_billed"
    c, d = db(fin)
    with c:
        assert d["billings"].count_documents({"_id": usd["appointment_id"]}) == 1
    assert metric(fin, 'clinic_dead_letter_replays_total{result="billed"}') == 1
    assert metric(fin, 'clinic_dead_letter_replays_total{result="already_billed"}') == 1
    replays = [a for a in audits(fin) if a["action"] == "dead_letter.replay"]
    assert len(replays) == 4  # still failing, dry run, billed, already billed
    assert all(a["who"].startswith("t:") and a["trace_id"] and a["filter"]["ids"] == [item["id"]]
               for a in replays)
    assert sorted(k for a in replays for k, v in a["counts"].items() if v and k != "matched") == \
        ["already_billed", "billed", "billed", "still_failing"]
    assert fin.stop() == 0


# ---------------------------------------------------------------- replay jobs

def test_replay_jobs_one_at_a_time_cancel_dry_run_and_audit(start_financial):
    fin = start_financial(AUTH_TOKENS=TOKENS, HTTP_HOST="127.0.0.1", CURRENCIES="BRL")
    evs = [event(currency="USD") for _ in range(4)]
    for ev in evs:
        publish(fin, ev)
    listed(fin, "?reason=currency", count=4)
    assert_problem(admin(fin, "POST", "/dead-letter-replays", {"reason": "nope"}), 400, "reason")
    assert_problem(admin(fin, "POST", "/dead-letter-replays", {"ids": ["x"]}), 400, "ids")
    assert_problem(admin(fin, "POST", "/dead-letter-replays", {"max_per_second": 0}), 400, "max_per_second")
    assert_problem(admin(fin, "POST", "/dead-letter-replays", {"bogus": 1}), 400, "bogus")

    slow = admin(fin, "POST", "/dead-letter-replays", {"reason": "currency", "max_per_second": 1})
    assert slow.status == 202, slow.body
    job = slow.body
    assert job["status"] == "running" and slow.headers["location"] == f"/dead-letter-replays/{job['id']}"
    busy = admin(fin, "POST", "/dead-letter-replays", {"reason": "currency"})
    assert_problem(busy, 409)
    assert job["id"] in busy.body["detail"]
    wait_until(lambda: admin(fin, "GET", f"/dead-letter-replays/{job['id']}").body["counts"]["matched"] >= 1,
               10, message="the job makes progress")
    assert admin(fin, "POST", f"/dead-letter-replays/{job['id']}/cancel").status == 202
    done = wait_until(lambda: (x := admin(fin, "GET", f"/dead-letter-replays/{job['id']}").body)["status"]
                      != "running" and x, 10, message="job cancelled")
    assert done["status"] == "cancelled" and done["finished_at"]
    assert 1 <= done["counts"]["matched"] < 4 and done["counts"]["still_failing"] == done["counts"]["matched"]
    assert_problem(admin(fin, "POST", f"/dead-letter-replays/{job['id']}/cancel"), 409, "id")
    assert_problem(admin(fin, "GET", f"/dead-letter-replays/{uuid.uuid4()}"), 404, "id")

    # a dry run of everything: counts, and no record touched
    before = {r["_id"]: r["attempts"] for r in records(fin)}
    dry = admin(fin, "POST", "/dead-letter-replays", {"reason": "currency", "dry_run": True,
                                                       "max_per_second": 1000})
    assert dry.status == 202
    end = wait_until(lambda: (x := admin(fin, "GET", f"/dead-letter-replays/{dry.body['id']}").body)["status"]
                     == "done" and x, 20, message="dry run done")
    assert end["dry_run"] is True and end["counts"]["matched"] == 4 and end["counts"]["still_failing"] == 4
    assert {r["_id"]: r["attempts"] for r in records(fin)} == before

    # the audit trail: one record per job, with who, the filter and the counts
    jobs = [a for a in audits(fin) if a["action"] == "dead_letter.replay_job"]
    assert sorted(a["job_id"] for a in jobs) == sorted([job["id"], dry.body["id"]])
    for a in jobs:
        assert a["who"].startswith("t:") and a["trace_id"] and a["filter"]["reason"] == "currency"
        assert a["counts"]["matched"] >= 1
    assert fin.stop() == 0

    # after CURRENCIES=BRL,USD a job bills them all, each once
    fin = start_financial(AUTH_TOKENS=TOKENS, HTTP_HOST="127.0.0.1", CURRENCIES="BRL,USD")
    ids = [i["id"] for i in listed(fin, "?reason=currency", count=4)]
    run = admin(fin, "POST", "/dead-letter-replays", {"reason": "currency", "max_per_second": 1000})
    assert run.status == 202
    end = wait_until(lambda: (x := admin(fin, "GET", f"/dead-letter-replays/{run.body['id']}").body)["status"]
                     == "done" and x, 20, message="job done")
    assert end["counts"]["matched"] == 4 and end["counts"]["billed"] == 4, end
    for ev in evs:
        assert http("GET", fin.url(f"/billings/{ev['appointment_id']}"), headers=AS_READER).status == 200
    # by ids: already billed, nothing written twice
    again = admin(fin, "POST", "/dead-letter-replays", {"ids": ids, "max_per_second": 1000})
    end = wait_until(lambda: (x := admin(fin, "GET", f"/dead-letter-replays/{again.body['id']}").body)["status"]
                     == "done" and x, 20, message="job by ids done")
    assert end["counts"]["already_billed"] == 4 and end["counts"]["billed"] == 0, end
    assert admin(fin, "GET", "/dead-letters?status=replayed").body["items"].__len__() == 4
    assert fin.stop() == 0
