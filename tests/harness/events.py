"""appointment.finished events written by a test straight onto a topic, in
the contract's exact form (proto/examples/appointment.finished.json +
.headers.json), so a test controls what the financial consumer sees: good
events, re-deliveries, poison messages (test_financial, test_dead_letters,
tests/chaos/test_chaos_dead_letters.py)."""

from __future__ import annotations

import json
import uuid
from datetime import datetime, timedelta, timezone

from harness.kafka_client import produce
from harness.util import iso

PHYS = "3f2b8c1e-9d4a-4e6b-8a7c-2d1f0e9b8a76"
PAT = "8c6d4b2a-1e3f-4a5b-9c7d-6e8f0a1b2c3d"
T0 = datetime(2024, 5, 1, 14, 30, tzinfo=timezone.utc)


def event(appointment_id: str | None = None, start: datetime = T0, duration: timedelta | None = None,
          end: datetime | None = None, physician_id: str = PHYS, patient_id: str = PAT,
          price_cents: int = 20000, currency: str = "BRL") -> dict:
    """An appointment.finished value, exactly as the contract writes it."""
    if end is None:
        end = start + (duration if duration is not None else timedelta(hours=1))
    return {
        "appointment_id": appointment_id or str(uuid.uuid4()),
        "physician_id": physician_id,
        "patient_id": patient_id,
        "start_date": iso(start),
        "end_date": iso(end),
        "hourly_price_cents": price_cents,
        "currency": currency,
    }


def ce_headers(ce_id: str | None = None, end_date: str | None = None) -> dict[str, str]:
    """The CloudEvents headers (binary mode) the appointment service writes."""
    return {
        "ce_specversion": "1.0",
        "ce_id": ce_id or str(uuid.uuid4()),
        "ce_source": "/clinic-events/appointment",
        "ce_type": "clinic.appointment.finished.v1",
        "ce_time": end_date or iso(datetime.now(timezone.utc)),
        "content-type": "application/json",
        "traceparent": "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01",
    }


def publish(svc, ev: dict, ce_id: str | None = None, **kw) -> tuple[str, tuple[int, int]]:
    """Produce one event keyed by its appointment id onto svc.topic (svc: a
    financial Service of the start_financial fixture); returns (ce_id,
    (partition, offset))."""
    h = ce_headers(ce_id, ev["end_date"])
    where = produce(svc.bootstrap, svc.topic, json.dumps(ev, separators=(",", ":")),
                    key=ev["appointment_id"], headers=h, **kw)
    return h["ce_id"], where
