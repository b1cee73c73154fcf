"""Abuse over HTTP, the long run (`make chaos`): 10,000 malformed, hostile and
odd requests (ABUSE_REQUESTS) against appointment and financial, each with
auth off and on. Same generator and assertions as
tests/integration/test_abuse.py (see tests/harness/abuse.py): no 5xx,
problem+json naming the field, slow clients cut off, 100 MB bodies refused
early, no crash, exit 0 on SIGTERM, nothing written, no event published.
The figures go to var/chaos/abuse.json."""

from __future__ import annotations

import json
import os
import time

import pytest

from harness import ROOT, abuse

pytestmark = pytest.mark.chaos

RESULTS = ROOT / "var" / "chaos" / "abuse.json"


def test_abuse_full(start_service, stack, topic):
    total = int(os.environ.get("ABUSE_REQUESTS", "10000"))
    seed = int(os.environ.get("ABUSE_SEED", str(int(time.time()))))
    out = abuse.scenario(start_service, stack, topic, total // 4, seed=seed)
    print(f"\nabuse (seed {seed}):", out.summary())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "seed": seed, "requests": out.requests(), "by_category": dict(out.by_category()),
        "server_errors": out.server_errors(), "check_failures": len(out.failures()),
        "exit_codes": out.exit_codes, "documents_before": out.counts_before,
        "documents_after": out.counts_after, "seconds": round(out.seconds, 1),
        "statuses": {k: dict(r.statuses) for k, r in out.reports.items()},
    }, indent=2) + "\n")
    out.assert_clean()
