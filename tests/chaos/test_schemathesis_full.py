"""Schemathesis, the long run (`make chaos`): the same property-based tests
as tests/integration/test_schemathesis.py with more examples per operation
and mode (SCHEMATHESIS_MAX_EXAMPLES, default 200 here)."""

from __future__ import annotations

import os

import pytest

pytest.importorskip("schemathesis")

from harness import http, wait_ready  # noqa: E402
from harness import schemathesis_run as st_run  # noqa: E402

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("service", ["appointment", "financial"])
def test_schemathesis_full(service, start_service, topic, monkeypatch):
    monkeypatch.setenv("SCHEMATHESIS_MAX_EXAMPLES", os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "200"))
    svc = start_service(service, KAFKA_TOPIC=topic, KAFKA_DLQ_TOPIC=topic + ".dlq",
                        AUTH_TOKENS=f"{st_run.TOKEN}={st_run.SCOPES}", HTTP_HOST="127.0.0.1")
    # Fuzz a service that is ready, as a load balancer would send it traffic:
    # /readyz is 503 by contract while it sets up, which Schemathesis would
    # count as a server error.
    wait_ready(svc, 30, everything=False)
    auth = {"Authorization": f"Bearer {st_run.TOKEN}"}
    if service == "appointment":
        r = http("POST", svc.url("/appointments"), json={"physician_id": st_run.PHYS, "patient_id": st_run.PAT},
                 headers=auth)
        known = [r.body["id"]]
    else:
        known = [st_run.known_billing(svc.env["MONGODB_URI"])]
    out = st_run.fuzz(service, svc.base_url, st_run.max_examples(), known)
    st_run.record(service, out)
    print(f"\nschemathesis {service}: {out['cases']} cases, statuses {out['statuses']}, "
          f"{len(out['failures'])} failures")
    assert svc.running(), svc.log_tail()
    assert not out["failures"], f"{len(out['failures'])} failures in {out['cases']} cases:\n" + \
        "\n".join(out["failures"][:40])
    assert svc.stop() == 0
