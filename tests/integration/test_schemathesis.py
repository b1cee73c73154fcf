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
var/test-results/schemathesis-<service>.json. The runner, and the body of
this test, is tests/harness/schemathesis_run.py (check_service).
"""

from __future__ import annotations

import pytest

pytest.importorskip("schemathesis")

from harness.schemathesis_run import check_service, max_examples  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("service", ["appointment", "financial"])
def test_schemathesis(service, start_service, topic, tmp_path):
    check_service(service, start_service, topic, tmp_path, max_examples(8), jwt=True)
