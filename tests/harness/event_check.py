"""Checks an appointment.finished event (a Kafka message the appointment
service produced) against its contract: the value against
proto/appointment.finished.schema.json, the headers against the CloudEvents
binary mode the producer uses (common/event.h).

The harness's `consume` helper calls `check_event` for every message it reads
that carries the producer's ce_source and was not written by the harness's own
`produce` (tests write malformed events on purpose to test the consumer).
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from typing import Mapping

from jsonschema import Draft202012Validator, FormatChecker

from harness.paths import PROTO

SCHEMA = PROTO / "appointment.finished.schema.json"
PRODUCER_SOURCE = "/clinic-events/appointment"
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-[0-9a-f]{32}-[0-9a-f]{16}-[0-9a-f]{2}$")
_RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")


class EventContractError(AssertionError):
    """An event the producer emitted that breaks the event contract."""


@lru_cache(maxsize=None)
def validator() -> Draft202012Validator:
    """The validator of the event schema, with formats checked; raises
    jsonschema's SchemaError if the schema itself is not a valid draft
    2020-12 schema. The same for every event a test reads and for
    tests/integration/test_contracts.py."""
    schema = json.loads(SCHEMA.read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def is_producer_event(headers: Mapping[str, str]) -> bool:
    """The producer's events; a dead letter (dlq_reason) keeps the headers of
    the message that could not be billed, which broke the contract on purpose."""
    return headers.get("ce_source") == PRODUCER_SOURCE and "dlq_reason" not in headers


def check_event(key: str | None, headers: Mapping[str, str], value: bytes | None,
                where: str = "event") -> dict:
    """Raise EventContractError unless the message is a valid appointment.finished
    event; returns the parsed value."""
    problems = []
    try:
        doc = json.loads(value) if value is not None else None
    except ValueError as e:
        raise EventContractError(f"{where}: value is not JSON ({e}): {value[:200]!r}") from None
    for e in sorted(validator().iter_errors(doc), key=lambda e: list(e.path)):
        problems.append(f"value at {'/'.join(map(str, e.absolute_path)) or '(root)'}: {e.message}")
    want = {"ce_specversion": "1.0", "ce_type": "clinic.appointment.finished.v1",
            "content-type": "application/json"}
    for name, expected in want.items():
        if headers.get(name) != expected:
            problems.append(f"header {name} is {headers.get(name)!r}, expected {expected!r}")
    if not _UUID.match(headers.get("ce_id", "")):
        problems.append(f"header ce_id {headers.get('ce_id')!r} is not a lower-case UUID")
    if not _RFC3339.match(headers.get("ce_time", "")):
        problems.append(f"header ce_time {headers.get('ce_time')!r} is not RFC 3339 UTC")
    if "traceparent" in headers and not _TRACEPARENT.match(headers["traceparent"]):
        problems.append(f"header traceparent {headers['traceparent']!r} is malformed")
    ts = headers.get("tracestate")
    if ts is not None and ("traceparent" not in headers or not re.fullmatch(r"[\x20-\x7e]{1,511}", ts)):
        problems.append(f"header tracestate {ts!r} is malformed or without a traceparent")
    if isinstance(doc, dict) and key != doc.get("appointment_id"):
        problems.append(f"key {key!r} is not the appointment_id {doc.get('appointment_id')!r}")
    if problems:
        raise EventContractError(f"{where}: the event breaks its contract "
                                 f"(proto/appointment.finished.schema.json, common/event.h):\n  "
                                 + "\n  ".join(problems) + f"\n  value: {value[:300]!r}")
    return doc
