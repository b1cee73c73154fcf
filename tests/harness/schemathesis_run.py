"""Property-based runs of the services' APIs with Schemathesis, shared by
tests/integration/test_schemathesis.py (SCHEMATHESIS_MAX_EXAMPLES, default 8,
in `make test`) and tests/chaos/test_schemathesis_full.py (200, `make chaos`):
check_service() is the body of both tests.

fuzz() generates requests from proto/<service>.openapi.json, valid ones and,
in negative mode, ones that break the schema, sends them to the running
service, and checks every response with CHECKS: no 5xx, a documented status
and content type, a body matching its documented schema. record() writes the
cases run and the failures found to var/test-results/schemathesis-<service>.json.

Imports schemathesis: a test module calls pytest.importorskip("schemathesis")
before importing this one.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Callable

import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from harness.http_client import http, wait_ready
from harness.mongo import insert_billing
from harness.paths import PROTO, ROOT

TOKEN = "schemathesis-all-scopes-0123456789"
SCOPES = ("appointments:write,appointments:read,billings:read,metrics:read,registry:read,registry:write,"
          "patients:read,patients:write")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
PHYS = "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
PAT = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
JWT_SECRET = "schemathesis-jwt-secret-0123456789abcdef"


def max_examples(default: int = 8) -> int:
    """Examples per operation and mode: SCHEMATHESIS_MAX_EXAMPLES, else `default`."""
    return int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", str(default)))


def jwt_token() -> str:
    """An HS256 JWT (JWT_SECRET) holding every scope of SCOPES, valid for an hour."""
    import jwt
    now = int(time.time())
    return jwt.encode({"iss": "https://idp.test", "sub": "schemathesis", "aud": "clinic", "iat": now,
                       "exp": now + 3600, "scope": SCOPES.replace(",", " ")}, JWT_SECRET, algorithm="HS256")


def fuzz(service: str, base_url: str, examples: int, known_ids: list[str], token: str = TOKEN) -> dict:
    """Runs every operation of the service's OpenAPI document in both modes,
    with `token` as the bearer token; returns {"cases": n, "failures": [...],
    "statuses": {...}}."""
    os.environ.setdefault("SCHEMATHESIS_TELEMETRY", "false")
    schema = schemathesis.openapi.from_path(str(PROTO / f"{service}.openapi.json"))
    headers = {"Authorization": f"Bearer {token}"}
    cases = 0
    statuses: dict[str, int] = {}
    failures: list[str] = []
    for result in schema.get_all_operations():
        op = result.ok()
        if op.path.startswith("/docs"):
            continue  # static files of Swagger UI
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            strategy = op.as_strategy(generation_mode=mode)
            if known_ids and "{" in op.path:
                # Half the cases on an id that exists: 200/409 paths, not only 404.
                name = op.path.split("{", 1)[1].split("}", 1)[0]
                known = op.as_strategy(generation_mode=mode,
                                       path_parameters={name: known_ids[0]})
                strategy = st.one_of(strategy, known)
            seen: list[str] = []

            @settings(max_examples=examples, deadline=None, database=None, derandomize=False,
                      phases=[Phase.explicit, Phase.generate],
                      suppress_health_check=list(HealthCheck))
            @given(case=strategy)
            def run(case):  # noqa: ANN001
                nonlocal cases
                cases += 1
                try:
                    resp = case.call(base_url=base_url, headers=headers, timeout=30)
                except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - a connection error is a failure too
                    seen.append(f"{op.method.upper()} {op.path} [{mode.value}]: {e!r}")
                    return
                statuses[str(resp.status_code)] = statuses.get(str(resp.status_code), 0) + 1
                if os.environ.get("SCHEMATHESIS_TRACE"):
                    print(resp.status_code, case.method, case.formatted_path, case.query, case.headers)
                try:
                    case.validate_response(resp, checks=CHECKS)
                except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - collected, reported together
                    text = str(e).strip().splitlines()
                    seen.append(f"{op.method.upper()} {op.path} [{mode.value}] -> {resp.status_code}: "
                                + " | ".join(t for t in text[:12] if t.strip())[:900])

            try:
                run()
            except Unsatisfiable:
                # Negative mode of an operation that takes nothing: no input can break its schema.
                if mode == GenerationMode.POSITIVE:
                    seen.append(f"{op.method.upper()} {op.path} [{mode.value}]: no case could be generated")
            except (Exception, BaseExceptionGroup) as e:  # noqa: BLE001 - hypothesis errors are failures too
                seen.append(f"{op.method.upper()} {op.path} [{mode.value}]: {type(e).__name__}: {e}"[:600])
            failures += sorted(set(seen))
    return {"cases": cases, "failures": failures, "statuses": statuses}


def record(service: str, out: dict, examples: int) -> None:
    path = ROOT / "var" / "test-results" / f"schemathesis-{service}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({**out, "max_examples": examples,
                                "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}, indent=2) + "\n")


def known_billing(uri: str) -> str:
    """A billing written straight into the database: an id the runs can read."""
    return insert_billing(uri, PHYS, PAT, hours=2)


def check_service(service: str, start_service: Callable[..., Any], topic: str, tmp_dir: Path,
                  examples: int, jwt: bool) -> None:
    """One service, fuzzed and checked: started with auth on (the static
    token TOKEN holding SCOPES; with `jwt`, HS256 JWTs configured too and
    every generated request carrying jwt_token() instead of TOKEN), one
    appointment or billing it can find, `examples` per operation and mode;
    no failure, the service still running and exiting 0 on SIGTERM."""
    env = {"KAFKA_TOPIC": topic, "KAFKA_DLQ_TOPIC": topic + ".dlq", "AUTH_TOKENS": f"{TOKEN}={SCOPES}",
           "HTTP_HOST": "127.0.0.1"}
    if jwt:
        (tmp_dir / "jwt.key").write_text(JWT_SECRET)
        env.update(AUTH_JWT_ALG="HS256", AUTH_JWT_KEY_FILE=str(tmp_dir / "jwt.key"),
                   AUTH_JWT_ISSUER="https://idp.test", AUTH_JWT_AUDIENCE="clinic")
    svc = start_service(service, **env)
    # Fuzz a service that is ready, as a load balancer would send it traffic:
    # /readyz is 503 by contract while it sets up, which Schemathesis would
    # count as a server error.
    wait_ready(svc, 30, everything=False)
    auth = {"Authorization": f"Bearer {TOKEN}"}
    if service == "appointment":
        r = http("POST", svc.url("/appointments"), json={"physician_id": PHYS, "patient_id": PAT}, headers=auth)
        assert r.status == 201, r
        known = [r.body["id"]]
    else:
        known = [known_billing(svc.env["MONGODB_URI"])]
    out = fuzz(service, svc.base_url, examples, known, token=jwt_token() if jwt else TOKEN)
    record(service, out, examples)
    print(f"\nschemathesis {service}: {out['cases']} cases, statuses {out['statuses']}, "
          f"{len(out['failures'])} failures")
    assert svc.running(), svc.log_tail()
    assert not out["failures"], f"{len(out['failures'])} failures in {out['cases']} cases:\n" + \
        "\n".join(out["failures"][:40])
    assert svc.stop() == 0
