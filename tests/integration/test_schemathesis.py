"""Property-based API tests: Schemathesis generates requests from
proto/<service>.openapi.json (valid ones and, in negative mode, ones that
break the schema) and sends them to the running service; every response
must be no 5xx (not_a_server_error), have a documented status
(status_code_conformance) and content type (content_type_conformance), and
match its documented schema (response_schema_conformance).

Both services run with auth on, static tokens and HS256 JWTs both
configured; every generated request carries a JWT holding every scope (the
setup uses the static token), so the documented security applies too and
the JWT path is exercised on every request. SCHEMATHESIS_MAX_EXAMPLES sets the examples
per operation and mode (default 8 here: about a minute in all; `make chaos`
runs tests/chaos/test_schemathesis_full.py with more). Schemathesis 4 has no
telemetry; the Hypothesis example database is off, so nothing is written
outside var/test. The cases run and failures found go to
var/test-results/schemathesis-<service>.json. The runner is
tests/harness/schemathesis_run.py.
"""

from __future__ import annotations

import time

import pytest

pytest.importorskip("schemathesis")

from harness import http, wait_ready  # noqa: E402
from harness.schemathesis_run import (PAT, PHYS, SCOPES, TOKEN, fuzz, known_billing,  # noqa: E402
                                      max_examples, record)

pytestmark = pytest.mark.slow

JWT_SECRET = "schemathesis-jwt-secret-0123456789abcdef"


def _jwt() -> str:
    import jwt
    now = int(time.time())
    return jwt.encode({"iss": "https://idp.test", "sub": "schemathesis", "aud": "clinic", "iat": now,
                       "exp": now + 3600, "scope": SCOPES.replace(",", " ")}, JWT_SECRET, algorithm="HS256")


@pytest.mark.parametrize("service", ["appointment", "financial"])
def test_schemathesis(service, start_service, topic, tmp_path):
    (tmp_path / "jwt.key").write_text(JWT_SECRET)
    svc = start_service(service, KAFKA_TOPIC=topic, KAFKA_DLQ_TOPIC=topic + ".dlq",
                        AUTH_TOKENS=f"{TOKEN}={SCOPES}", HTTP_HOST="127.0.0.1", AUTH_JWT_ALG="HS256",
                        AUTH_JWT_KEY_FILE=str(tmp_path / "jwt.key"), AUTH_JWT_ISSUER="https://idp.test",
                        AUTH_JWT_AUDIENCE="clinic")
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
    out = fuzz(service, svc.base_url, max_examples(), known, token=_jwt())
    record(service, out)
    print(f"\nschemathesis {service}: {out['cases']} cases, statuses {out['statuses']}, "
          f"{len(out['failures'])} failures")
    assert svc.running(), svc.log_tail()
    assert not out["failures"], f"{len(out['failures'])} failures in {out['cases']} cases:\n" + \
        "\n".join(out["failures"][:40])
    assert svc.stop() == 0
