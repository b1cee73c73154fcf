"""The compatibility routes called exactly as the original Python service's
clients called it, and answering what that service answered.

Its clients used the `requests` library and sent bodies as
`data=json.dumps(...)`, which sets no Content-Type (the service, FastAPI,
read them as JSON); they finished with `POST /{id}` and no body, or with the
trailing-slash forms; they checked `status_code == 200` after a start; and
they read dates with `datetime.fromisoformat`, which on Python 3.7 to 3.10
takes only the naive form the service wrote (`2024-05-01T14:30:00.123456`,
no offset, no `Z`). Every date here goes through `parse_naive`, a parser as
strict as that one.

Every response is also checked against the service's OpenAPI document, as
harness.http() does for the other tests. The API's own routes
(/appointments, /billings) keep their stricter contract: the last test
checks that these clients' habits still get 415 and 400 there.
"""

from __future__ import annotations

import json
import re
import uuid
from datetime import datetime, timedelta, timezone

import requests

from harness import mongo_client, wait_until
from harness.contracts import check_http

PHYS = "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
PAT = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
# What the original service's start and finish answered, and its billing.
APPOINTMENT_FIELDS = {"id", "start_date", "end_date", "physician_id", "patient_id", "price"}
BILLING_FIELDS = {"appointment_id", "total_price", "start_date", "end_date"}
# The only form Python 3.7's datetime.fromisoformat reads of what the service wrote.
NAIVE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?")


def parse_naive(s: object) -> datetime:
    """A date as an old client parses it: datetime.fromisoformat of Python
    3.7 (no offset, no Z, six fraction digits or none), as UTC."""
    assert isinstance(s, str) and NAIVE.fullmatch(s), f"{s!r}: Python 3.7's fromisoformat rejects it"
    fmt = "%Y-%m-%dT%H:%M:%S.%f" if "." in s else "%Y-%m-%dT%H:%M:%S"
    return datetime.strptime(s, fmt).replace(tzinfo=timezone.utc)


def to_ms(dt: datetime) -> datetime:
    """dt truncated to the millisecond the services keep."""
    return dt.replace(microsecond=dt.microsecond // 1000 * 1000)


def naive(dt: datetime) -> str:
    """A UTC datetime as the old clients sent it: isoformat() of a naive one."""
    return dt.astimezone(timezone.utc).replace(tzinfo=None).isoformat()


def checked(r: requests.Response) -> requests.Response:
    """r, after the OpenAPI document of the service that answered has been
    checked to describe it (harness.contracts)."""
    headers = {k.lower(): v for k, v in r.headers.items()}
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    body = r.json() if r.content and (ctype == "application/json" or ctype.endswith("+json")) else r.text
    check_http(r.request.method, r.url, r.status_code, headers, body, r.content)
    return r


def post(url: str, body: dict | None = None, **kw) -> requests.Response:
    """POST as the old clients did: the body a json.dumps string, no
    Content-Type (asserted: requests sets none for a str)."""
    r = checked(requests.post(url, data=json.dumps(body) if body is not None else None,
                              timeout=10, **kw))
    if "headers" not in kw:
        assert "Content-Type" not in r.request.headers, r.request.headers
    return r


def get(url: str) -> requests.Response:
    return checked(requests.get(url, timeout=10))


def assert_problem(r: requests.Response, status: int, field: str) -> None:
    assert r.status_code == status, (r.status_code, r.text)
    assert r.headers["Content-Type"].startswith("application/problem+json")
    assert r.json()["status"] == status and r.json().get("field") == field, r.json()


def assert_appointment(body: dict) -> None:
    assert APPOINTMENT_FIELDS <= set(body), body
    assert (body["physician_id"], body["patient_id"]) == (PHYS, PAT)
    parse_naive(body["start_date"])
    if body["end_date"] is not None:
        assert parse_naive(body["end_date"]) >= parse_naive(body["start_date"])


def count(svc) -> int:
    with mongo_client(svc.env["MONGODB_URI"]) as c:
        return c.get_default_database()["appointments"].count_documents({})


def billed(fin, path: str) -> requests.Response:
    return wait_until(lambda: (r := get(fin.url(path))).status_code == 200 and r, 30,
                      message=f"GET {path} 200 (billed)")


def test_start_finish_and_bill_as_the_old_clients_did(pair):
    appt, fin = pair
    start_at = datetime.now(timezone.utc).replace(microsecond=123456) - timedelta(hours=3)
    end_at = start_at + timedelta(hours=1, minutes=1)  # 2 started hours

    r = post(appt.url("/"), {"physician_id": PHYS, "patient_id": PAT, "start_date": naive(start_at)})
    assert r.status_code == 200, r.text
    assert "Location" not in r.headers
    s = r.json()
    assert_appointment(s)
    assert s["end_date"] is None and s["price"] == 200.0
    assert parse_naive(s["start_date"]) == to_ms(start_at), "a naive date is UTC"
    uuid.UUID(s["id"])

    f = post(appt.url(f"/{s['id']}/"), {"end_date": naive(end_at)})
    assert f.status_code == 200, f.text
    assert_appointment(f.json())
    assert f.json()["id"] == s["id"] and f.json()["start_date"] == s["start_date"]
    assert parse_naive(f.json()["end_date"]) == to_ms(end_at)

    for path in (f"/{s['id']}/", f"/{s['id']}"):
        b = billed(fin, path).json()
        assert BILLING_FIELDS <= set(b), b
        assert b["appointment_id"] == s["id"] and b["total_price"] == 400.0, b
        assert (b["start_date"], b["end_date"]) == (f.json()["start_date"], f.json()["end_date"])
        assert parse_naive(b["created_at"]) >= parse_naive(b["end_date"])


def test_finish_with_no_body_and_again(pair):
    appt, fin = pair
    before = datetime.now(timezone.utc).replace(microsecond=0)
    r = post(appt.url("/"), {"physician_id": PHYS, "patient_id": PAT})
    assert r.status_code == 200, r.text
    s = r.json()
    assert_appointment(s)
    assert parse_naive(s["start_date"]) >= before - timedelta(seconds=1)

    f = post(appt.url(f"/{s['id']}"))  # requests.post(url): no body at all
    assert f.status_code == 200, f.text
    assert_appointment(f.json())
    assert f.json()["end_date"] is not None
    again = post(appt.url(f"/{s['id']}/"))
    assert again.status_code == 200 and again.json() == f.json()
    b = billed(fin, f"/{s['id']}/").json()
    assert b["total_price"] == 200.0, b  # under an hour bills one
    parse_naive(b["start_date"])


def test_every_date_form_is_the_same_instant(pair):
    appt, _ = pair
    for sent in ("2024-05-01T14:30:00.250000",  # isoformat() of a naive datetime
                 "2024-05-01T14:30:00.25",
                 "2024-05-01 14:30:00.250",       # the form the README documented
                 "2024-05-01T14:30:00.250Z",      # RFC 3339, as before
                 "2024-05-01T11:30:00.250-03:00"):
        r = post(appt.url("/"), {"physician_id": PHYS, "patient_id": PAT, "start_date": sent})
        assert r.status_code == 200, (sent, r.text)
        assert r.json()["start_date"] == "2024-05-01T14:30:00.250000", sent
        end = post(appt.url(f"/{r.json()['id']}"), {"end_date": "2024-05-01T15:00:00"})
        assert end.status_code == 200, end.text
        assert end.json()["end_date"] == "2024-05-01T15:00:00.000000"
    r = post(appt.url("/"), {"physician_id": PHYS, "patient_id": PAT, "start_date": "2024-05-01 14:30:00"})
    assert parse_naive(r.json()["start_date"]) == datetime(2024, 5, 1, 14, 30, tzinfo=timezone.utc)


def test_a_retried_start_with_an_idempotency_key_answers_200_again(pair):
    appt, _ = pair
    key = {"Idempotency-Key": f"old-client-{uuid.uuid4()}"}
    body = {"physician_id": PHYS, "patient_id": PAT, "start_date": "2024-05-01T14:30:00"}
    first = post(appt.url("/"), body, headers=key)
    retry = post(appt.url("/"), body, headers=key)
    assert first.status_code == retry.status_code == 200, (first.text, retry.text)
    assert retry.json() == first.json()
    assert "Content-Type" not in retry.request.headers
    assert count(appt) == 1


def test_what_the_old_service_refused_is_refused_naming_the_field(pair):
    appt, fin = pair
    url = appt.url("/")
    ok = {"physician_id": PHYS, "patient_id": PAT}
    # Ids stay UUIDs: an old integer or ObjectId-like id is a 400 naming the field.
    assert_problem(post(url, {**ok, "physician_id": "12345"}), 400, "physician_id")
    assert_problem(post(url, {**ok, "patient_id": "65b9f1d2a1b2c3d4e5f60718"}), 400, "patient_id")
    assert_problem(post(url, {"patient_id": PAT}), 400, "physician_id")
    for bad in ("2024-13-01T10:00:00", "2024-05-01T14:30", "01/05/2024 14:30", "2024-05-01T14:30:00+01"):
        assert_problem(post(url, {**ok, "start_date": bad}), 400, "start_date")
    # Without a Content-Type the body is JSON, so what is not JSON is a 400 ...
    r = checked(requests.post(url, data="physician_id=" + PHYS, timeout=10))
    assert "Content-Type" not in r.request.headers
    assert_problem(r, 400, "body")
    # ... and a body that says it is something else than JSON is still a 415.
    assert_problem(post(url, ok, headers={"Content-Type": "text/plain"}), 415, "Content-Type")
    form = checked(requests.post(url, data=ok, timeout=10))  # requests form-encodes a dict
    assert form.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert_problem(form, 415, "Content-Type")
    assert count(appt) == 0

    missing = str(uuid.uuid4())
    assert_problem(post(appt.url(f"/{missing}/")), 404, "id")
    assert_problem(post(appt.url(f"/{missing}"), {"end_date": "2024-05-01T15:00:00"}), 404, "id")
    assert_problem(get(fin.url(f"/{missing}/")), 404, "appointment_id")
    # Only UUID-shaped segments are compatibility routes: others are no resource.
    assert post(appt.url("/12345/")).status_code == 404
    assert get(fin.url("/12345/")).status_code == 404


def test_the_api_routes_keep_their_stricter_contract(pair):
    """What the compatibility routes take from the old clients, the API's
    own routes still refuse; and they answer 201 and RFC 3339."""
    appt, fin = pair
    ok = {"physician_id": PHYS, "patient_id": PAT}
    assert_problem(post(appt.url("/appointments"), ok), 415, "Content-Type")
    s = post(appt.url("/"), ok).json()
    assert_problem(post(appt.url(f"/appointments/{s['id']}/finish"), {}), 415, "Content-Type")
    json_ct = {"Content-Type": "application/json"}
    assert_problem(post(appt.url("/appointments"), {**ok, "start_date": "2024-05-01T14:30:00.123456"},
                        headers=json_ct), 400, "start_date")
    r = post(appt.url("/appointments"), {**ok, "start_date": "2024-05-01T14:30:00.123Z"}, headers=json_ct)
    assert r.status_code == 201 and r.headers["Location"] == f"/appointments/{r.json()['id']}"
    assert r.json()["start_date"] == "2024-05-01T14:30:00.123Z"
    same = get(appt.url(f"/appointments/{s['id']}")).json()
    assert same["id"] == s["id"] and same["start_date"].endswith("Z")
    assert to_ms(parse_naive(s["start_date"])) == datetime.fromisoformat(
        same["start_date"].replace("Z", "+00:00"))
    f = post(appt.url(f"/{s['id']}"))
    assert f.status_code == 200
    b = billed(fin, f"/billings/{s['id']}").json()
    assert b["end_date"].endswith("Z") and b["created_at"].endswith("Z")
    assert parse_naive(billed(fin, f"/{s['id']}").json()["end_date"]) == datetime.fromisoformat(
        b["end_date"].replace("Z", "+00:00"))
