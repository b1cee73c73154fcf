"""Schemathesis, the long run (`make chaos`): the same property-based tests
as tests/integration/test_schemathesis.py (the one body,
tests/harness/schemathesis_run.py's check_service) with more examples per
operation and mode (SCHEMATHESIS_MAX_EXAMPLES, default 200 here), and the
static token on every request instead of a JWT."""

from __future__ import annotations

import pytest

pytest.importorskip("schemathesis")

from harness.schemathesis_run import check_service, max_examples  # noqa: E402

pytestmark = pytest.mark.chaos


@pytest.mark.parametrize("service", ["appointment", "financial"])
def test_schemathesis_full(service, start_service, topic, tmp_path):
    check_service(service, start_service, topic, tmp_path, max_examples(200), jwt=False)
