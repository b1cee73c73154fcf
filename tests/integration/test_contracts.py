"""The contracts in proto/ against themselves and against the C code.

- proto/*.json parse; the event schema is a valid JSON Schema draft 2020-12,
  its examples and proto/examples/ validate, and it rejects what the consumer
  must dead-letter;
- the example headers are the CloudEvents binary-mode headers common/event.h
  defines;
- each OpenAPI document lists exactly the routes of its service's route table
  (appointment/appt_api.c, financial/billing_api.c), with the route's auth scope, its path parameters, and the
  error responses the HTTP layer can give it;
- the binary serves the same bytes at /openapi.json (the file is linked in).
Needs neither Kafka nor MongoDB/FerretDB.
"""
import json
import os
import re
import subprocess
import time
import urllib.request

import pytest
from jsonschema import Draft202012Validator, FormatChecker

from harness import PROTO, ROOT, SERVICES, api_source, build_dir, free_port
from harness import event_check
from harness.openapi_check import HTTP_METHODS

EXAMPLE = PROTO / "examples" / "appointment.finished.json"
EXAMPLE_HEADERS = PROTO / "examples" / "appointment.finished.headers.json"


def load(path):
    with open(path, encoding="utf-8") as f:
        return json.load(f)


# ---------------------------------------------------------------- JSON

@pytest.mark.parametrize("path", sorted(PROTO.rglob("*.json")), ids=lambda p: str(p.relative_to(ROOT)))
def test_proto_files_are_valid_json(path):
    load(path)


def test_openapi_files_exist():
    for s in SERVICES:
        assert (PROTO / f"{s}.openapi.json").exists(), f"proto/{s}.openapi.json is missing"


# ---------------------------------------------------------------- event schema

@pytest.fixture(scope="module")
def validator():
    """The harness's validator of every event (its schema checked as a valid draft 2020-12 schema)."""
    return event_check.validator()


def test_schema_is_draft_2020_12(validator):
    assert validator.schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert set(validator.schema["required"]) == {
        "appointment_id", "physician_id", "patient_id", "start_date", "end_date",
        "hourly_price_cents", "currency"}


def test_examples_validate(validator):
    example = load(EXAMPLE)
    validator.validate(example)
    assert validator.schema.get("examples"), "the schema carries no examples"
    for e in validator.schema["examples"]:
        validator.validate(e)
    assert example in validator.schema["examples"], \
        "proto/examples/appointment.finished.json and the schema's example differ"


def test_example_is_in_the_producers_form():
    """The example is byte-for-byte what event_encode writes: compact, in field order."""
    raw = EXAMPLE.read_text().rstrip("\n")
    assert raw == json.dumps(load(EXAMPLE), separators=(",", ":"))
    assert list(load(EXAMPLE)) == ["appointment_id", "physician_id", "patient_id", "start_date",
                                   "end_date", "hourly_price_cents", "currency"]


def _mutated(**changes):
    ev = load(EXAMPLE)
    for k, v in changes.items():
        if v is KeyError:
            del ev[k]
        else:
            ev[k] = v
    return ev


@pytest.mark.parametrize("change", [
    {"appointment_id": KeyError},
    {"currency": KeyError},
    {"hourly_price_cents": KeyError},
    {"physician_id": "not-a-uuid"},
    {"patient_id": "8C6D4B2A-1E3F-4A5B-9C7D-6E8F0A1B2C3D"},
    {"start_date": "2024-05-01 14:30:00"},
    {"end_date": "2024-05-01T16:10:00+00:00"},
    {"end_date": "2024-05-01T16:10:00"},
    {"hourly_price_cents": -1},
    {"hourly_price_cents": 200.5},
    {"hourly_price_cents": "20000"},
    {"currency": "brl"},
    {"currency": "REAL"},
], ids=lambda c: ",".join(f"{k}={v!r}" for k, v in c.items()))
def test_schema_rejects(validator, change):
    assert not validator.is_valid(_mutated(**change))


def test_schema_is_forward_compatible(validator):
    assert validator.is_valid(_mutated(clinic_id="c-1", notes={"a": 1}))
    assert validator.is_valid(_mutated(start_date="2024-05-01T14:30:00.250Z"))


def _c_define(name):
    m = re.search(rf'#define\s+{name}\s+"([^"]*)"', (ROOT / "common" / "event.h").read_text())
    assert m, f"{name} not found in common/event.h"
    return m.group(1)


def test_example_headers_match_event_h():
    h = load(EXAMPLE_HEADERS)
    assert h["ce_specversion"] == _c_define("EVENT_SPECVERSION") == "1.0"
    assert h["ce_type"] == _c_define("EVENT_TYPE")
    assert h["ce_source"] == _c_define("EVENT_SOURCE")
    assert h["content-type"] == _c_define("EVENT_CONTENT_TYPE")
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", h["ce_id"])
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{3})?Z", h["ce_time"])
    assert re.fullmatch(r"00-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}", h["traceparent"])
    # Every header the producer sets is in the example, and nothing else.
    produced = set(re.findall(r'rd_kafka_header_add\(h,\s*"([^"]+)"',
                              (ROOT / "appointment" / "outbox.c").read_text()))
    assert produced == set(h), f"outbox.c sets {sorted(produced)}, the example has {sorted(h)}"


# ---------------------------------------------------------------- OpenAPI vs route tables

_ROUTE = re.compile(r'\{\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*(NULL|"[^"]*")\s*,\s*(true|false)\s*,'
                    r'\s*(true|false)\s*\}')


def c_routes(service):
    """[(method, pattern, scope or None, takes_body)] from the service's route table."""
    return [r[:4] for r in c_route_rows(service)]


def c_route_rows(service):
    """[(method, pattern, scope or None, takes_body, compat)] from the service's route table."""
    src = api_source(service).read_text()
    if "OPS_ROUTES" in src:  # the shared operational rows, from common/ops.h
        ops = (ROOT / "common" / "ops.h").read_text()
        src = src.replace("OPS_ROUTES", ops[ops.index("#define OPS_ROUTES"):])
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = re.sub(r"//[^\n]*", "", src)
    routes = [(m.group(1), m.group(2), None if m.group(4) == "NULL" else m.group(4).strip('"'),
               m.group(5) == "true", m.group(6) == "true") for m in _ROUTE.finditer(src)]
    assert routes, f"no route table found in {api_source(service)}"
    return routes


def norm(path):
    """'/appointments/{id}/finish' and '/appointments/{appointment_id}/finish' compare equal."""
    return re.sub(r"\{[^}/]+\}", "{}", path.rstrip("/") or "/")


def openapi(service):
    return load(PROTO / f"{service}.openapi.json")


def operations(doc):
    """{(METHOD, normalised path): (path, operation, path item)}"""
    ops = {}
    for path, item in doc["paths"].items():
        for method in HTTP_METHODS:
            if method in item:
                ops[(method.upper(), norm(path))] = (path, item[method], item)
    return ops


def deref(doc, obj):
    seen = 0
    while isinstance(obj, dict) and "$ref" in obj:
        ref = obj["$ref"]
        assert ref.startswith("#/"), f"external $ref {ref}"
        node = doc
        for part in ref[2:].split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        obj = node
        seen += 1
        assert seen < 20, f"$ref loop at {ref}"
    return obj


@pytest.mark.parametrize("service", SERVICES)
def test_openapi_header(service):
    doc = openapi(service)
    assert doc["openapi"].startswith("3.1."), "OpenAPI 3.1 expected"
    assert doc["servers"] == [{"url": "/"}], "Swagger UI's try-it-out must hit the serving service"
    scheme = doc["components"]["securitySchemes"]["bearerAuth"]
    assert scheme["type"] == "http" and scheme["scheme"] == "bearer"


@pytest.mark.parametrize("service", SERVICES)
def test_every_route_is_documented(service):
    ops = operations(openapi(service))
    missing = [f"{m} {p}" for m, p, _, _ in c_routes(service) if (m, norm(p)) not in ops]
    assert not missing, f"{service}.openapi.json lacks routes of {api_source(service).name}: {missing}"


@pytest.mark.parametrize("service", SERVICES)
def test_every_documented_route_exists(service):
    routes = {(m, norm(p)) for m, p, _, _ in c_routes(service)}
    extra = [f"{m} {p}" for (m, p) in operations(openapi(service)) if (m, p) not in routes]
    assert not extra, f"{service}.openapi.json documents routes {api_source(service).name} does not serve: {extra}"


@pytest.mark.parametrize("service", SERVICES)
def test_routes_security_parameters_and_errors(service):
    doc = openapi(service)
    ops = operations(doc)
    problems = []
    for method, pattern, scope, takes_body in c_routes(service):
        if (method, norm(pattern)) not in ops:
            continue  # reported by test_every_route_is_documented
        path, op, item = ops[(method, norm(pattern))]
        where = f"{method} {path}"
        responses = op.get("responses", {})
        codes = set(responses)
        security = op.get("security", doc.get("security"))
        if scope is None:
            if security != []:
                problems.append(f"{where}: public route, needs security: []")
        else:
            if security != [{"bearerAuth": [scope]}]:
                problems.append(f"{where}: security should be [{{bearerAuth: [{scope}]}}], is {security}")
            if not {"401", "403"} <= codes:
                problems.append(f"{where}: needs 401 and 403")
            if scope.split(":")[0] in ("appointments", "billings") and "503" not in codes:
                problems.append(f"{where}: reads MongoDB, needs 503")
        if "405" not in codes:
            problems.append(f"{where}: needs 405 (the path with another method)")
        # Path parameters: one declared per {x} in the OpenAPI path, matching in number the C pattern.
        names = re.findall(r"\{([^}]+)\}", path)
        if len(names) != len(re.findall(r"\{[^}]+\}", pattern)):
            problems.append(f"{where}: path parameters differ from {pattern}")
        params = [deref(doc, p) for p in item.get("parameters", []) + op.get("parameters", [])]
        declared = {p["name"] for p in params if p.get("in") == "path" and p.get("required")}
        if set(names) != declared:
            problems.append(f"{where}: path parameters {names} declared as {sorted(declared)}")
        # A validated (UUID) path parameter answers 400 when malformed; a file
        # name under /docs is only ever found or not (404).
        validated = [p for p in params if p.get("in") == "path"
                     and deref(doc, p.get("schema", {})).get("format") == "uuid"]
        if validated and "400" not in codes:
            problems.append(f"{where}: a bad path parameter is a 400")
        if takes_body:
            if "requestBody" not in op:
                problems.append(f"{where}: takes a body, documents none")
            for c in ("400", "413", "415"):
                if c not in codes:
                    problems.append(f"{where}: takes a body, needs {c}")
        elif "requestBody" in op:
            problems.append(f"{where}: documents a body the route does not read")
        for code, resp in responses.items():
            resp = deref(doc, resp)
            content = resp.get("content", {})
            if code.startswith(("4", "5")) and not (code == "503" and "application/json" in content):
                schema = content.get("application/problem+json", {}).get("schema")
                if not schema or deref(doc, schema) is not deref(doc, {"$ref": "#/components/schemas/Problem"}):
                    problems.append(f"{where} {code}: must be application/problem+json Problem")
            if code == "503" and "Retry-After" not in resp.get("headers", {}):
                problems.append(f"{where} 503: needs the Retry-After header")
            if code == "405" and "Allow" not in resp.get("headers", {}):
                problems.append(f"{where} 405: needs the Allow header")
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("service", SERVICES)
def test_refs_resolve_and_problem_shape(service):
    doc = openapi(service)

    def walk(node):
        if isinstance(node, dict):
            if "$ref" in node:
                deref(doc, node)
            for v in node.values():
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)
    walk(doc)
    problem = doc["components"]["schemas"]["Problem"]
    assert {"type", "title", "status", "detail", "field", "request_id"} <= set(problem["properties"])
    assert {"type", "title", "status", "detail"} <= set(problem["required"])
    # Every operation's schemas are valid 2020-12 schemas (OpenAPI 3.1's dialect).
    for name, schema in doc["components"]["schemas"].items():
        Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("service", SERVICES)
def test_compat_routes_are_the_documented_compatibility_operations(service):
    """The routes the C table marks compat (a body without Content-Type is
    JSON, the original service's forms) are the operations tagged
    "compatibility", and those answer their success with the original
    service's dates (DateCompat), the others never."""
    doc = openapi(service)
    ops = operations(doc)
    compat = {(m, norm(p)) for m, p, _, _, c in c_route_rows(service) if c}
    tagged = {k for k, (_, op, _) in ops.items() if "compatibility" in op.get("tags", [])}
    assert compat and compat == tagged, (compat, tagged)
    for key, (path, op, _) in ops.items():
        for code, resp in op["responses"].items():
            schema = deref(doc, resp).get("content", {}).get("application/json", {}).get("schema")
            if not code.startswith("2") or schema is None:
                continue
            text = json.dumps(deref(doc, schema))
            dates = re.findall(r'"#/components/schemas/(DateCompat)"|"format": "(date-time)"', text)
            kinds = {a or b for a, b in dates}
            if key in compat:
                assert kinds == {"DateCompat"}, f"{key[0]} {path} {code}: dates {kinds}"
            else:
                assert "DateCompat" not in kinds, f"{key[0]} {path} {code}: dates {kinds}"


def test_appointment_idempotency_key_on_start_routes():
    doc = openapi("appointment")
    for path in ("/appointments", "/"):
        params = [deref(doc, p) for p in doc["paths"][path]["post"].get("parameters", [])]
        assert any(p["name"] == "Idempotency-Key" and p["in"] == "header" for p in params), \
            f"POST {path} must document Idempotency-Key"
        assert "422" in doc["paths"][path]["post"]["responses"]


@pytest.mark.parametrize("service", SERVICES)
def test_schema_examples_validate(service):
    """Every component schema's `example` validates against that schema."""
    schemas = openapi(service)["components"]["schemas"]
    checked = 0
    for name, schema in schemas.items():
        if "example" not in schema:
            continue
        text = json.dumps({"$defs": schemas, **schema}).replace("#/components/schemas/", "#/$defs/")
        Draft202012Validator(json.loads(text), format_checker=FormatChecker()).validate(schema["example"])
        checked += 1
    assert checked, f"{service}.openapi.json has no schema examples"


_PROBLEM_CALL = re.compile(r'(?:http_reply_problem|reply_problem_h)\(\s*[^,]+,\s*\w+,\s*"([a-z0-9-]+)"')


@pytest.mark.parametrize("service", SERVICES)
def test_problem_types_are_documented(service):
    """Every /problems/<slug> the service's handlers send is listed in Problem.type."""
    c_routes(service)
    slugs = set(_PROBLEM_CALL.findall(api_source(service).read_text()))
    desc = openapi(service)["components"]["schemas"]["Problem"]["properties"]["type"]["description"]
    missing = sorted(s for s in slugs if not re.search(rf"(?<![a-z-]){re.escape(s)}(?![a-z-])", desc))
    assert not missing, f"{service}.openapi.json's Problem.type does not list {missing}"


# ---------------------------------------------------------------- the binary serves the file

@pytest.mark.parametrize("service", SERVICES)
def test_binary_serves_the_linked_document(service, tmp_path):
    """GET /openapi.json returns proto/<service>.openapi.json byte for byte.

    The services start without MongoDB and Kafka (they answer 503 until those
    are reachable), so this needs neither; they point at a closed port."""
    if not (ROOT / service / "main.c").exists():
        pytest.skip(f"{service}/main.c does not exist yet")
    binary = build_dir() / service
    if not binary.exists():
        pytest.fail(f"{binary} is not built (run `make`)")
    port = free_port()
    dead = free_port()
    env = {k: v for k, v in os.environ.items() if k not in ("AUTH_TOKENS",)}
    env.update(HTTP_PORT=str(port), HTTP_HOST="127.0.0.1", LOG_LEVEL="error",
               MONGODB_URI=f"mongodb://127.0.0.1:{dead}/contracts_test",
               KAFKA_BOOTSTRAP=f"127.0.0.1:{dead}")
    log = open(tmp_path / f"{service}.log", "wb")
    proc = subprocess.Popen([str(binary)], env=env, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 15
        body = None
        while time.monotonic() < deadline:
            if proc.poll() is not None:
                break
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/openapi.json", timeout=2) as r:
                    assert r.status == 200
                    assert r.headers["Content-Type"].startswith("application/json")
                    body = r.read()
                break
            except (ConnectionError, urllib.error.URLError):
                time.sleep(0.1)
        if body is None:
            log.flush()
            pytest.fail(f"{service} did not serve /openapi.json:\n{(tmp_path / f'{service}.log').read_text()[-2000:]}")
        assert body == (PROTO / f"{service}.openapi.json").read_bytes(), \
            f"{binary} serves a stale OpenAPI document: rebuild (make)"
    finally:
        # Graceful shutdown is tested elsewhere; with its dependencies
        # unreachable it takes seconds here.
        proc.kill()
        proc.wait()
        log.close()
