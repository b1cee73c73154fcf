"""Abuse over HTTP, the short run of `make test` (tests/chaos/test_abuse_full.py
is the long one): about 1,000 malformed, hostile and odd requests against
appointment and financial, each with auth off and on (see abuse.py for the
categories). Asserts: no 5xx, every 4xx is problem+json naming the field at
fault, the right status per case, slow clients cut off within the request
timeout, a 100 MB body refused early, no process dies, each exits 0 on
SIGTERM, and nothing is written: the collections' counts and the event
topics' offsets are the same before and after."""

from __future__ import annotations

import os

import abuse


def test_abuse_short(start_service, stack, topic):
    per_target = int(os.environ.get("ABUSE_REQUESTS", "1000")) // 4
    out = abuse.scenario(start_service, stack, topic, per_target, seed=int(os.environ.get("ABUSE_SEED", "1")))
    print("\nabuse:", out.summary())
    out.assert_clean()
