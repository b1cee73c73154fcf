"""The physician and patient registries (appointment/registry_*.c) over real
HTTP against FerretDB: every route, ETag / If-Match, the unique license and
CPF, validation and scopes; the check a start makes (REGISTRY_CHECK=on,
which the harness turns off for the other suites) and the price it
captures; the cache in front of it, counted through /metrics; and that
patient data never reaches the service's log."""

from __future__ import annotations

import random
import threading
import time
import uuid

import pytest

from harness import assert_problem, consume, http, metric, wait_ready, wait_until

TOKEN_ALL = "registry-all-scopes-0123456789"
TOKEN_PHYS_R = "registry-read-only-0123456789"
TOKEN_APPT = "appointments-only-0123456789"
SCOPES_ALL = ("appointments:write,appointments:read,metrics:read,registry:read,registry:write,"
              "patients:read,patients:write")
MERGE = {"Content-Type": "application/merge-patch+json"}


def cpf(seed: int | None = None) -> str:
    """A valid CPF (random nine digits, then the two check digits)."""
    rng = random.Random(seed)
    while True:
        d = [rng.randrange(10) for _ in range(9)]
        if len(set(d)) > 1:
            break
    for n in (9, 10):
        s = sum(d[i] * (n + 1 - i) for i in range(n))
        d.append(s * 10 % 11 % 10)
    return "".join(map(str, d))


def license_no() -> str:
    return str(random.randrange(10**5, 10**7))


def physician(**kw) -> dict:
    body = {"name": "Dra. Ana Souza", "specialty": "cardiology",
            "license": {"system": "CRM-SP", "value": license_no()}, "hourly_price": 350.00,
            "currency": "BRL"}
    body.update(kw)
    return body


def patient(**kw) -> dict:
    body = {"name": "João da Silva", "birth_date": "1984-03-12",
            "document": {"system": "CPF", "value": cpf()}, "email": "joao@example.com"}
    body.update(kw)
    return body


@pytest.fixture
def reg(start_service, topic):
    svc = start_service("appointment", KAFKA_TOPIC=topic, REGISTRY_CHECK="on",
                        KAFKA_MESSAGE_TIMEOUT_MS=3000, OUTBOX_RELAY_INTERVAL_MS=200)
    wait_ready(svc, 30, everything=False)  # writes wait for the unique indexes
    svc.topic = topic
    return svc


def post(svc, path, body, **kw):
    return http("POST", svc.url(path), json=body, **kw)


def create(svc, path, body):
    r = post(svc, path, body)
    assert r.status == 201, r.body
    return r.body


def loads(svc, kind="physician") -> float:
    return metric(svc, f'clinic_registry_loads_total{{kind="{kind}"}}')


def cache(svc, result, kind="physician") -> float:
    return metric(svc, f'clinic_registry_cache_requests_total{{kind="{kind}",result="{result}"}}')


def start(svc, phys, pat):
    return post(svc, "/appointments", {"physician_id": phys, "patient_id": pat})


# ---------------------------------------------------------------- routes

def test_physician_create_get_and_etag(reg):
    body = physician()
    r = post(reg, "/physicians", body)
    assert r.status == 201, r.body
    p = r.body
    assert r.headers["location"] == f"/physicians/{p['id']}"
    assert uuid.UUID(p["id"]).version == 7
    assert {k: p[k] for k in body} == body and p["active"] is True
    assert b'"hourly_price":350.00' in r.raw
    assert p["created_at"] == p["updated_at"]
    assert r.headers["etag"]
    g = http("GET", reg.url(r.headers["location"]))
    assert g.status == 200 and g.body == p and g.headers["etag"] == r.headers["etag"]
    assert_problem(http("GET", reg.url(f"/physicians/{uuid.uuid4()}")), 404, "id")
    assert_problem(http("GET", reg.url("/physicians/not-a-uuid")), 400, "id")


@pytest.mark.parametrize("change,field", [
    ({"name": ""}, "name"),
    ({"name": "x" * 201}, "name"),
    ({"specialty": None}, "specialty"),
    ({"license": {"system": "CRM-SP"}}, "license"),
    ({"license": {"system": "crm/sp", "value": "1"}}, "license"),
    ({"hourly_price": 0}, "hourly_price"),
    ({"hourly_price": -5}, "hourly_price"),
    ({"hourly_price": 10.005}, "hourly_price"),
    ({"hourly_price": "350.00"}, "hourly_price"),
    ({"currency": "brl"}, "currency"),
    ({"active": "yes"}, "active"),
    ({"nickname": "Ana"}, "nickname"),
])
def test_physician_validation_names_the_field(reg, change, field):
    body = physician()
    body.update(change)
    body = {k: v for k, v in body.items() if v is not None}
    assert_problem(post(reg, "/physicians", body), 400, field)
    assert http("GET", reg.url("/physicians")).body["items"] == []


def test_license_is_unique_per_system_and_value(reg):
    p = create(reg, "/physicians", physician())
    assert_problem(post(reg, "/physicians", physician(license=p["license"])), 409, "license")
    other = create(reg, "/physicians", physician(license={"system": "CRM-RJ",
                                                          "value": p["license"]["value"]}))
    # Taking another's license by PATCH or PUT is a 409 too, and changes nothing.
    r = http("PATCH", reg.url(f"/physicians/{other['id']}"), json={"license": {"system": "CRM-SP"}},
             headers=MERGE)
    assert_problem(r, 409, "license")
    assert_problem(http("PUT", reg.url(f"/physicians/{uuid.uuid4()}"),
                        json=physician(license=p["license"])), 409, "license")
    assert http("GET", reg.url(f"/physicians/{other['id']}")).body == other


def test_list_filters_and_cursor(reg):
    made = [create(reg, "/physicians", physician(specialty=s))
            for s in ("cardiology", "dermatology", "cardiology", "cardiology", "pediatrics")]
    assert http("DELETE", reg.url(f"/physicians/{made[2]['id']}")).status == 204
    ids = [p["id"] for p in made]
    r = http("GET", reg.url("/physicians?limit=2"))
    assert r.status == 200 and r.headers["etag"]
    assert [p["id"] for p in r.body["items"]] == ids[::-1][:2]
    seen, cursor = [], None
    while True:
        q = "/physicians?limit=2" + (f"&cursor={cursor}" if cursor else "")
        page = http("GET", reg.url(q)).body
        seen += [p["id"] for p in page["items"]]
        cursor = page["next_cursor"]
        if not cursor:
            break
    assert seen == ids[::-1]
    cardio = http("GET", reg.url("/physicians?specialty=cardiology&active=true")).body["items"]
    assert [p["id"] for p in cardio] == [ids[3], ids[0]]
    inactive = http("GET", reg.url("/physicians?active=false")).body["items"]
    assert [p["id"] for p in inactive] == [ids[2]]
    assert_problem(http("GET", reg.url("/physicians?active=yes")), 400, "active")
    assert_problem(http("GET", reg.url("/physicians?limit=101")), 400, "limit")
    assert_problem(http("GET", reg.url("/physicians?cursor=nope")), 400, "cursor")


def test_patch_is_a_json_merge_patch(reg):
    p = create(reg, "/physicians", physician())
    url = reg.url(f"/physicians/{p['id']}")
    r = http("PATCH", url, json={"hourly_price": 400, "license": {"value": "999999"}}, headers=MERGE)
    assert r.status == 200, r.body
    assert r.body["hourly_price"] == 400.0 and r.body["name"] == p["name"]
    assert r.body["license"] == {"system": "CRM-SP", "value": "999999"}  # nested objects merge
    assert r.body["updated_at"] >= p["updated_at"] and r.headers["etag"] != ""
    # A required field removed by null is a 400 naming it; a wrong type too.
    assert_problem(http("PATCH", url, json={"name": None}, headers=MERGE), 400, "name")
    assert_problem(http("PATCH", url, json={"currency": 3}, headers=MERGE), 400, "currency")
    # Only application/merge-patch+json.
    assert_problem(http("PATCH", url, json={"name": "x"}), 415, "Content-Type")
    assert_problem(http("PATCH", reg.url(f"/physicians/{uuid.uuid4()}"), json={"name": "x"},
                        headers=MERGE), 404, "id")

    pt = create(reg, "/patients", patient(phone="+55 11 91234-5678"))
    r = http("PATCH", reg.url(f"/patients/{pt['id']}"), json={"phone": None, "email": None},
             headers=MERGE)
    assert r.status == 200, r.body
    assert "phone" not in r.body and "email" not in r.body  # null removes


def test_put_creates_replaces_and_an_identical_put_changes_nothing(reg):
    pid = str(uuid.uuid4())
    url = reg.url(f"/physicians/{pid}")
    body = physician()
    r = http("PUT", url, json=body)
    assert r.status == 201, r.body
    assert r.body["id"] == pid and r.headers["location"] == f"/physicians/{pid}"
    first = r.body
    time.sleep(0.01)
    again = http("PUT", url, json=body)
    assert again.status == 200 and again.body == first
    assert again.headers["etag"] == r.headers["etag"]
    # The representation read back may be sent back: its read-only fields are ignored.
    assert http("PUT", url, json=first).body["updated_at"] == first["updated_at"]
    changed = http("PUT", url, json=physician(name="Dra. Ana S. Souza", license=body["license"]))
    assert changed.status == 200 and changed.body["name"] == "Dra. Ana S. Souza"
    assert changed.body["updated_at"] > first["updated_at"]
    assert changed.headers["etag"] != r.headers["etag"]
    assert changed.body["created_at"] == first["created_at"]


def test_delete_deactivates_and_the_record_stays(reg):
    p = create(reg, "/physicians", physician())
    url = reg.url(f"/physicians/{p['id']}")
    r = http("DELETE", url)
    assert r.status == 204 and r.raw == b"" and r.headers["etag"]
    g = http("GET", url)
    assert g.status == 200 and g.body["active"] is False
    assert http("DELETE", url).status == 204  # again: nothing changes
    assert http("GET", url).body == g.body
    assert_problem(http("DELETE", reg.url(f"/physicians/{uuid.uuid4()}")), 404, "id")
    # PATCH brings it back.
    assert http("PATCH", url, json={"active": True}, headers=MERGE).body["active"] is True


def test_if_match_that_no_longer_matches_is_412(reg):
    p = create(reg, "/physicians", physician())
    url = reg.url(f"/physicians/{p['id']}")
    tag = http("GET", url).headers["etag"]
    ok = http("PATCH", url, json={"specialty": "neurology"}, headers={**MERGE, "If-Match": tag})
    assert ok.status == 200
    for method, kw in (("PATCH", {"json": {"specialty": "x"}, "headers": MERGE}),
                       ("PUT", {"json": physician(license=p["license"])}), ("DELETE", {})):
        hdrs = {**kw.pop("headers", {}), "If-Match": tag}
        assert_problem(http(method, url, headers=hdrs, **kw), 412, "If-Match")
    g = http("GET", url)
    assert g.body["specialty"] == "neurology" and g.body["active"] is True
    assert http("PATCH", url, json={"specialty": "x"}, headers={**MERGE, "If-Match": "*"}).status == 200
    assert http("DELETE", url, headers={"If-Match": f'"nope", {g.headers["etag"]}'}).status == 412
    assert http("DELETE", url, headers={"If-Match": http("GET", url).headers["etag"]}).status == 204
    # If-Match on a record that does not exist: nothing to match.
    assert_problem(http("PUT", reg.url(f"/physicians/{uuid.uuid4()}"), json=physician(),
                        headers={"If-Match": "*"}), 412, "If-Match")


@pytest.mark.parametrize("change,field", [
    ({"document": {"system": "CPF", "value": "52998224724"}}, "document"),  # wrong check digit
    ({"document": {"system": "CPF", "value": "11111111111"}}, "document"),
    ({"document": {"system": "CPF", "value": "5299822472"}}, "document"),
    ({"document": {"system": "RG", "value": "52998224725"}}, "document"),
    ({"birth_date": "2999-01-01"}, "birth_date"),
    ({"birth_date": "1990-02-30"}, "birth_date"),
    ({"email": "not-an-email"}, "email"),
    ({"phone": "call me"}, "phone"),
    ({"name": 5}, "name"),
])
def test_patient_validation_names_the_field(reg, change, field):
    assert_problem(post(reg, "/patients", patient(**change)), 400, field)


def test_patient_document_is_unique_and_routes_work(reg):
    body = patient(document={"system": "CPF", "value": "52998224725"})
    p = create(reg, "/patients", body)
    assert p["document"] == body["document"] and p["email"] == body["email"]
    assert_problem(post(reg, "/patients", patient(document=body["document"])), 409, "document")
    assert http("GET", reg.url(f"/patients/{p['id']}")).body == p
    assert [x["id"] for x in http("GET", reg.url("/patients?active=true")).body["items"]] == [p["id"]]
    pid = str(uuid.uuid4())
    assert http("PUT", reg.url(f"/patients/{pid}"), json=patient()).status == 201
    assert http("DELETE", reg.url(f"/patients/{pid}")).status == 204
    assert http("GET", reg.url(f"/patients/{pid}")).body["active"] is False


def test_scopes(start_service, topic):
    tokens = (f"{TOKEN_ALL}={SCOPES_ALL};{TOKEN_PHYS_R}=registry:read;"
              f"{TOKEN_APPT}=appointments:write,appointments:read")
    svc = start_service("appointment", KAFKA_TOPIC=topic, AUTH_TOKENS=tokens, HTTP_HOST="127.0.0.1")
    wait_ready(svc, 30, everything=False)
    bearer = lambda t: {"Authorization": f"Bearer {t}"}  # noqa: E731
    assert_problem(http("GET", svc.url("/physicians")), 401)
    assert_problem(http("GET", svc.url("/patients"), headers=bearer("wrong-token-0123456789")), 401)
    assert http("GET", svc.url("/physicians"), headers=bearer(TOKEN_PHYS_R)).status == 200
    assert_problem(post(svc, "/physicians", physician(), headers=bearer(TOKEN_PHYS_R)), 403)
    assert_problem(http("GET", svc.url("/patients"), headers=bearer(TOKEN_PHYS_R)), 403)
    assert_problem(http("GET", svc.url("/physicians"), headers=bearer(TOKEN_APPT)), 403)
    assert_problem(post(svc, "/patients", patient(), headers=bearer(TOKEN_APPT)), 403)
    assert post(svc, "/physicians", physician(), headers=bearer(TOKEN_ALL)).status == 201
    assert post(svc, "/patients", patient(), headers=bearer(TOKEN_ALL)).status == 201


def test_patient_data_never_reaches_the_log(reg):
    name, mail, doc = "Maria Confidencial Pereira", "maria.secreta@example.org", cpf(7)
    p = create(reg, "/patients", patient(name=name, email=mail,
                                         document={"system": "CPF", "value": doc}))
    url = reg.url(f"/patients/{p['id']}")
    # Errors too: a duplicate, bad values, a bad patch, a stale If-Match.
    post(reg, "/patients", patient(name=name, email=mail, document={"system": "CPF", "value": doc}))
    post(reg, "/patients", patient(name=name, email=mail + "@", birth_date="3000-01-01"))
    bad = doc[:10] + str((int(doc[10]) + 1) % 10)
    post(reg, "/patients", patient(name=name, email=mail, document={"system": "CPF", "value": bad}))
    http("PATCH", url, json={"name": name + " II", "email": None}, headers=MERGE)
    http("PATCH", url, json={"document": {"value": bad}}, headers=MERGE)
    http("PUT", url, json=patient(name=name, email=mail), headers={"If-Match": '"v999"'})
    http("GET", reg.url(f"/patients?limit=5&active=true"))
    http("DELETE", url)
    start(reg, str(uuid.uuid4()), p["id"])
    log = reg.log_text()
    for secret in (name, mail, doc, bad, "Confidencial", "maria.secreta"):
        assert secret not in log, f"{secret!r} is in the service log"


# ---------------------------------------------------------------- the start's check

def test_start_names_unknown_and_inactive_parties(reg):
    ph = create(reg, "/physicians", physician())
    pt = create(reg, "/patients", patient())
    assert_problem(start(reg, str(uuid.uuid4()), pt["id"]), 422, "physician_id")
    assert_problem(start(reg, ph["id"], str(uuid.uuid4())), 422, "patient_id")
    r = post(reg, "/", {"physician_id": str(uuid.uuid4()), "patient_id": pt["id"]})
    assert_problem(r, 422, "physician_id")
    assert http("DELETE", reg.url(f"/patients/{pt['id']}")).status == 204
    assert_problem(start(reg, ph["id"], pt["id"]), 409, "patient_id")
    assert http("DELETE", reg.url(f"/physicians/{ph['id']}")).status == 204
    assert_problem(start(reg, ph["id"], pt["id"]), 409, "physician_id")
    assert_problem(post(reg, "/", {"physician_id": ph["id"], "patient_id": pt["id"]}), 409,
                   "physician_id")
    assert http("GET", reg.url("/appointments")).body["items"] == []


def test_start_captures_the_physicians_price_and_a_later_change_does_not_alter_the_bill(reg):
    ph = create(reg, "/physicians", physician(hourly_price=123.45, currency="USD"))
    pt = create(reg, "/patients", patient())
    s = start(reg, ph["id"], pt["id"])
    assert s.status == 201, s.body
    assert s.body["price"] == 123.45 and s.body["currency"] == "USD"
    r = http("PATCH", reg.url(f"/physicians/{ph['id']}"), json={"hourly_price": 999, "currency": "EUR"},
             headers=MERGE)
    assert r.status == 200
    later = start(reg, ph["id"], pt["id"])  # the write evicted the cached price
    assert later.body["price"] == 999.0 and later.body["currency"] == "EUR"
    f = http("POST", reg.url(f"/appointments/{s.body['id']}/finish"), json={})
    assert f.status == 200 and f.body["price"] == 123.45 and f.body["currency"] == "USD"

    def event():
        for m in consume(reg.env["KAFKA_BOOTSTRAP"], reg.topic, True, timeout=5):
            if m.json()["appointment_id"] == s.body["id"]:
                return m.json()
        return None
    ev = wait_until(event, 30, message="the finished event")
    assert ev["hourly_price_cents"] == 12345 and ev["currency"] == "USD"


def test_a_physician_deactivated_mid_consultation_still_finishes(reg):
    ph = create(reg, "/physicians", physician())
    pt = create(reg, "/patients", patient())
    s = start(reg, ph["id"], pt["id"])
    assert s.status == 201
    assert http("DELETE", reg.url(f"/physicians/{ph['id']}")).status == 204
    assert http("DELETE", reg.url(f"/patients/{pt['id']}")).status == 204
    f = http("POST", reg.url(f"/appointments/{s.body['id']}/finish"), json={})
    assert f.status == 200 and f.body["status"] == "finished" and f.body["price"] == 350.0


def test_registry_check_off_takes_any_ids_at_hourly_price(start_service, topic):
    svc = start_service("appointment", KAFKA_TOPIC=topic, REGISTRY_CHECK="off", HOURLY_PRICE="210.00")
    r = start(svc, str(uuid.uuid4()), str(uuid.uuid4()))
    assert r.status == 201 and r.body["price"] == 210.0
    assert svc.log_text().count("registry check off") == 1


# ---------------------------------------------------------------- the cache

def test_100_concurrent_starts_of_a_cold_physician_load_it_once(reg):
    ph = create(reg, "/physicians", physician())
    pt = create(reg, "/patients", patient())
    before = loads(reg)
    results: list[int] = []
    go = threading.Barrier(100)

    def one():
        go.wait()
        results.append(start(reg, ph["id"], pt["id"]).status)
    threads = [threading.Thread(target=one) for _ in range(100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == [201] * 100
    assert loads(reg) - before == 1
    assert loads(reg, "patient") >= 1


def test_an_unknown_physician_is_loaded_once_then_answered_from_the_cache(reg):
    pt = create(reg, "/patients", patient())
    unknown = str(uuid.uuid4())
    before, neg = loads(reg), cache(reg, "negative")
    for _ in range(5):
        assert_problem(start(reg, unknown, pt["id"]), 422, "physician_id")
    assert loads(reg) - before == 1
    assert cache(reg, "negative") - neg == 4


def test_a_physician_created_right_after_a_422_is_seen_at_once(reg):
    pt = create(reg, "/patients", patient())
    pid = str(uuid.uuid4())
    assert_problem(start(reg, pid, pt["id"]), 422, "physician_id")
    assert http("PUT", reg.url(f"/physicians/{pid}"), json=physician()).status == 201
    r = start(reg, pid, pt["id"])
    assert r.status == 201, r.body
    # Deactivating is seen at once as well.
    assert http("DELETE", reg.url(f"/physicians/{pid}")).status == 204
    assert_problem(start(reg, pid, pt["id"]), 409, "physician_id")


def test_set_up_creates_both_collections_and_their_unique_indexes(reg):
    from harness import mongo_client
    uri = reg.env["MONGODB_URI"]
    with mongo_client(uri) as c:
        db = c.get_default_database()
        assert {"physicians", "patients"} <= set(db.list_collection_names())
        phys, pats = db.physicians.index_information(), db.patients.index_information()
    assert phys["license_key"].get("unique") and {"active", "specialty"} <= set(phys)
    assert pats["cpf"].get("unique") and "active" in pats


def test_expired_entries_serve_while_the_database_is_away_and_an_uncached_id_is_503(
        start_service, topic, stack):
    svc = start_service("appointment", KAFKA_TOPIC=topic, REGISTRY_CHECK="on",
                        REGISTRY_CACHE_TTL_MS=300)
    wait_ready(svc, 30, everything=False)
    ph = create(svc, "/physicians", physician())
    pt = create(svc, "/patients", patient())
    assert start(svc, ph["id"], pt["id"]).status == 201  # both cached
    time.sleep(0.5)  # and expired
    stale = (cache(svc, "stale"), cache(svc, "stale", "patient"))
    stack.ferretdb.stop()
    try:
        # The lookups fail and are answered from the expired entries; the insert is the 503.
        assert_problem(start(svc, ph["id"], pt["id"]), 503)
        assert (cache(svc, "stale") - stale[0], cache(svc, "stale", "patient") - stale[1]) == (1, 1)
        r = start(svc, str(uuid.uuid4()), pt["id"])  # nothing cached for it
        assert_problem(r, 503)
        assert r.headers["retry-after"]
    finally:
        stack.ferretdb.start()
    wait_until(lambda: start(svc, ph["id"], pt["id"]).status == 201, 30,
               message="starts after the database is back")
