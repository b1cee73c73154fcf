"""Abuse over HTTP, the long run (`make chaos`): 10,000 malformed, hostile and
odd requests (ABUSE_REQUESTS) against appointment and financial, each with
auth off and on. Same generator and assertions as
tests/integration/test_abuse.py (see tests/harness/abuse.py): no 5xx,
problem+json naming the field, slow clients cut off, 100 MB bodies refused
early, no crash, exit 0 on SIGTERM, nothing written, no event published.
Besides (issue 19: no single message, client or query stops the service):
SLOW_CLIENTS (100) connections trickle headers on each target while its
requests run, which must still answer as above with no 5xx; and, while
financial consumes, hostile events go straight to the topic (1 MB that is
not JSON, 1 MB of JSON with a huge string, a 100 h consultation, wrong
ce_types), each dead-lettered with its dlq_reason, and ordinary events
produced after them are billed within seconds.
The figures go to var/chaos/abuse.json."""

from __future__ import annotations

import json
import os
import time

import pytest

from harness import ROOT, abuse

pytestmark = pytest.mark.chaos

RESULTS = ROOT / "var" / "chaos" / "abuse.json"
SLOW_CLIENTS = int(os.environ.get("ABUSE_SLOW_CLIENTS", "100"))


def test_abuse_full(start_service, stack, topic):
    total = int(os.environ.get("ABUSE_REQUESTS", "10000"))
    seed = int(os.environ.get("ABUSE_SEED", str(int(time.time()))))
    out = abuse.scenario(start_service, stack, topic, total // 4, seed=seed, slow_clients=SLOW_CLIENTS,
                         hostile=True)
    print(f"\nabuse (seed {seed}):", out.summary())
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({
        "seed": seed, "requests": out.requests(), "by_category": dict(out.by_category()),
        "server_errors": out.server_errors(), "check_failures": len(out.failures()),
        "exit_codes": out.exit_codes, "documents_before": out.counts_before,
        "documents_after": out.counts_after, "seconds": round(out.seconds, 1),
        "statuses": {k: dict(r.statuses) for k, r in out.reports.items()},
        "slow_clients": SLOW_CLIENTS, "slow_clients_reconnects": out.slow_reconnects,
        "hostile_events": out.events, "extra_failures": out.extra_failures,
    }, indent=2) + "\n")
    assert out.slow_reconnects and out.events, "the slow clients or the hostile events did not run"
    out.assert_clean()
