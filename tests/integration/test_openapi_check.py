"""The contract checkers the harness applies to every response and event
(openapi_check.py, event_check.py) catch what they must, and the harness's
http() really applies them. Needs neither Kafka nor FerretDB."""

from __future__ import annotations

import json
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import harness
from harness import ROOT, http
from harness.event_check import EventContractError, check_event
from harness.fixtures import sweep_events
from harness.openapi_check import ContractError, check_response

APPOINTMENT = {
    "id": "0190a1b2-c3d4-7e5f-8a6b-7c8d9e0f1a2b",
    "physician_id": "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a",
    "patient_id": "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a",
    "start_date": "2024-05-01T14:00:00Z", "end_date": None,
    "price": 200.00, "currency": "BRL", "status": "started",
}
JSON = {"content-type": "application/json"}
PROBLEM = {"content-type": "application/problem+json"}


def problem(status: int, **extra) -> dict:
    return {"type": "/problems/x", "title": "T", "status": status, "detail": "d",
            "request_id": "r-1", **extra}


def check(service, method, path, status, headers, body):
    raw = json.dumps(body).encode() if not isinstance(body, (bytes, str)) else (
        body.encode() if isinstance(body, str) else body)
    check_response(service, method, path, status, headers, body, raw)


def test_a_documented_response_passes():
    check("appointment", "POST", "/appointments", 201, {**JSON, "location": "/appointments/x"},
          APPOINTMENT)
    check("appointment", "GET", f"/appointments/{APPOINTMENT['id']}?x=1", 200, JSON, APPOINTMENT)
    check("financial", "GET", "/billings?limit=1", 400, PROBLEM, problem(400, field="limit"))


@pytest.mark.parametrize("change, what", [
    ({"price": "200.00"}, "price"),                 # a string, not a number
    ({"id": "not-a-uuid"}, "id"),                   # format uuid
    ({"status": "cancelled"}, "status"),             # not in the enum
    ({"start_date": None}, "start_date"),
], ids=["price-string", "id-format", "status-enum", "start-null"])
def test_a_wrong_body_fails_and_names_the_field(change, what):
    with pytest.raises(ContractError, match=rf"(?s)startAppointment.*at {what}"):
        check("appointment", "POST", "/appointments", 201, JSON, {**APPOINTMENT, **change})


def test_a_missing_required_field_fails():
    body = {k: v for k, v in APPOINTMENT.items() if k != "physician_id"}
    with pytest.raises(ContractError, match="physician_id"):
        check("appointment", "GET", f"/appointments/{APPOINTMENT['id']}", 200, JSON, body)


def test_an_undocumented_status_fails():
    with pytest.raises(ContractError, match="status 418 is not documented"):
        check("appointment", "GET", "/appointments", 418, PROBLEM, problem(418))
    with pytest.raises(ContractError, match="status 409 is not documented"):
        check("financial", "GET", "/billings/summary", 409, PROBLEM, problem(409))


def test_an_undocumented_content_type_fails():
    with pytest.raises(ContractError, match="content type 'text/html' is not documented"):
        check("appointment", "GET", "/healthz", 200, {"content-type": "text/html"}, "<p>ok</p>")
    with pytest.raises(ContractError, match="not documented"):  # a problem must be problem+json
        check("appointment", "GET", "/appointments/x", 400, JSON, problem(400))


def test_a_content_type_parameter_the_document_names_must_match():
    metrics = "# HELP x\nx 1\n"
    check("financial", "GET", "/metrics", 200, {"content-type": "text/plain; version=0.0.4; charset=utf-8"},
          metrics)
    with pytest.raises(ContractError, match="not documented"):
        check("financial", "GET", "/metrics", 200, {"content-type": "text/plain; version=1.0.0"}, metrics)


def test_unknown_paths_must_be_404_problems():
    check("appointment", "GET", "/nope/nothing/here", 404, PROBLEM, problem(404))
    with pytest.raises(ContractError, match="no path of appointment.openapi.json matches"):
        check("appointment", "GET", "/nope/nothing/here", 200, JSON, {})
    with pytest.raises(ContractError, match="problem"):
        check("appointment", "GET", "/nope/nothing/here", 404, {"content-type": "text/plain"}, "no")


def test_an_undocumented_method_must_be_405_with_the_documented_allow():
    path = f"/appointments/{uuid.uuid4()}"
    check("appointment", "DELETE", path, 405, {**PROBLEM, "allow": "GET"}, problem(405))
    with pytest.raises(ContractError, match="must be 405"):
        check("appointment", "DELETE", path, 200, JSON, APPOINTMENT)
    with pytest.raises(ContractError, match="Allow"):
        check("appointment", "DELETE", path, 405, {**PROBLEM, "allow": "GET, DELETE"}, problem(405))


def test_matching_follows_the_router():
    aid = str(uuid.uuid4())
    # a trailing slash is ignored; literal paths win over the compatibility template
    check("appointment", "POST", f"/{aid}/", 200, JSON, {**APPOINTMENT, "status": "finished",
                                                          "start_date": "2024-05-01T14:00:00.000000",
                                                          "end_date": "2024-05-01T15:00:00.000000"})
    check("financial", "GET", "/billings/summary?from=2024-01-01T00:00:00Z", 400, PROBLEM,
          problem(400, field="to"))
    with pytest.raises(ContractError, match="summarizeBillings"):
        check("financial", "GET", "/billings/summary", 200, JSON, {"not": "a summary"})
    # HEAD is GET without a body
    check("appointment", "HEAD", "/healthz", 200, JSON, b"")


COMPAT_APPOINTMENT = {**APPOINTMENT, "start_date": "2024-05-01T14:00:00.000000"}


def test_the_compatibility_routes_answer_in_the_original_services_forms():
    """POST / answers 200 (not 201) and every compatibility route's dates are
    naive with microseconds, as the original Python service wrote them; the
    RFC 3339 form of the other routes is not theirs, nor theirs the others'."""
    aid = str(uuid.uuid4())
    check("appointment", "POST", "/", 200, JSON, COMPAT_APPOINTMENT)
    with pytest.raises(ContractError, match="status 201 is not documented"):
        check("appointment", "POST", "/", 201, JSON, COMPAT_APPOINTMENT)
    with pytest.raises(ContractError, match=r"(?s)startAppointmentCompat.*at start_date"):
        check("appointment", "POST", "/", 200, JSON, APPOINTMENT)
    with pytest.raises(ContractError, match=r"(?s)finishAppointmentCompat.*at end_date"):
        check("appointment", "POST", f"/{aid}", 200, JSON,
              {**COMPAT_APPOINTMENT, "status": "finished", "end_date": "2024-05-01T15:00:00.123"})
    with pytest.raises(ContractError, match=r"(?s)startAppointment\b.*at start_date"):
        check("appointment", "POST", "/appointments", 201, JSON, COMPAT_APPOINTMENT)
    billing = {"appointment_id": aid, "total_price": 200.0, "currency": "BRL", "billed_hours": 1,
               "hourly_price": 200.0, "physician_id": APPOINTMENT["physician_id"],
               "patient_id": APPOINTMENT["patient_id"], "start_date": "2024-05-01T14:00:00.000000",
               "end_date": "2024-05-01T14:30:00.000000", "created_at": "2024-05-01T14:30:01.250000"}
    check("financial", "GET", f"/{aid}/", 200, JSON, billing)
    with pytest.raises(ContractError, match=r"(?s)getBillingCompat.*at created_at"):
        check("financial", "GET", f"/{aid}", 200, JSON, {**billing, "created_at": "2024-05-01T14:30:01Z"})
    with pytest.raises(ContractError, match=r"(?s)getBilling\b.*at start_date"):
        check("financial", "GET", f"/billings/{aid}", 200, JSON,
              {**billing, "created_at": "2024-05-01T14:30:01Z", "end_date": "2024-05-01T14:30:00Z"})


def test_a_documented_header_is_checked_against_its_schema():
    with pytest.raises(ContractError, match="header Retry-After"):
        check("appointment", "GET", "/appointments", 503, {**PROBLEM, "retry-after": "soon"},
              problem(503))


# ---------------------------------------------------------------- event_check

def example_event():
    value = (ROOT / "proto" / "examples" / "appointment.finished.json").read_bytes()
    headers = json.loads((ROOT / "proto" / "examples" / "appointment.finished.headers.json").read_text())
    return json.loads(value)["appointment_id"], headers, value


def test_the_example_event_passes():
    key, headers, value = example_event()
    assert check_event(key, headers, value)["appointment_id"] == key


@pytest.mark.parametrize("mutate, what", [
    (lambda k, h, v: (k, h, json.dumps({**json.loads(v), "hourly_price_cents": "20000"}).encode()),
     "hourly_price_cents"),
    (lambda k, h, v: (k, h, json.dumps({**json.loads(v), "end_date": None}).encode()), "end_date"),
    (lambda k, h, v: (k, {**h, "ce_type": "clinic.appointment.finished"}, v), "ce_type"),
    (lambda k, h, v: (k, {**h, "ce_id": "42"}, v), "ce_id"),
    (lambda k, h, v: (str(uuid.uuid4()), h, v), "key"),
    (lambda k, h, v: (k, h, b"{not json"), "not JSON"),
], ids=["price-string", "end-null", "ce_type", "ce_id", "key", "not-json"])
def test_a_broken_event_fails(mutate, what):
    key, headers, value = mutate(*example_event())
    with pytest.raises(EventContractError, match=what):
        check_event(key, headers, value)


# ---------------------------------------------------------------- the harness applies it

class _Liar(BaseHTTPRequestHandler):
    """Answers /healthz like a service whose code drifted from its contract."""

    def do_GET(self):  # noqa: N802 - http.server's naming
        body = json.dumps({"status": 1}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def test_the_harness_http_checks_responses_of_registered_services():
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Liar)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    port = server.server_address[1]
    try:
        url = f"http://127.0.0.1:{port}/healthz"
        assert http("GET", url).status == 200  # not a service of the harness: unchecked
        harness.SERVICE_BY_PORT[port] = "appointment"
        with pytest.raises(ContractError, match=r"(?s)healthz.*at status"):
            http("GET", url)
        assert http("GET", url, check_openapi=False).body == {"status": 1}
    finally:
        harness.SERVICE_BY_PORT.pop(port, None)
        harness.VIOLATIONS.clear()  # recorded on purpose above
        server.shutdown()
        server.server_close()


def test_money_multiple_of_is_decimal():
    """0.07 / 0.01 is not whole in binary floating point; the check must not care."""
    for price in (0.07, 123.45, 999999.99):
        check("appointment", "POST", "/appointments", 201, JSON, {**APPOINTMENT, "price": price})
    with pytest.raises(ContractError, match="multiple of"):
        check("appointment", "POST", "/appointments", 201, JSON, {**APPOINTMENT, "price": 200.001})


def test_teardown_sweep_checks_every_event_an_appointment_service_wrote(stack, topic):
    """Events nobody in the test read are checked too: a bad one written as if
    by the producer (not through produce(), which tests use for poison on
    purpose) is recorded as a violation."""
    from confluent_kafka import Producer

    key, headers, value = example_event()
    bad = json.dumps({**json.loads(value), "currency": "reais"}).encode()
    p = Producer({"bootstrap.servers": stack.kafka.bootstrap})
    p.produce(topic, value=bad, key=key, headers=list(headers.items()))
    assert p.flush(10) == 0
    svc = harness.Service("appointment", {"KAFKA_BOOTSTRAP": stack.kafka.bootstrap, "KAFKA_TOPIC": topic})
    try:
        sweep_events([svc])
        found = list(harness.VIOLATIONS)
    finally:
        harness.VIOLATIONS.clear()  # recorded on purpose
        harness.Service.instances.remove(svc)  # never started; the real sweep must not see it
    assert len(found) == 1 and "currency" in found[0], found
