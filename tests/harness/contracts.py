"""The contracts in proto/ checked on everything a test sees.

http() checks every response of a service the harness started against that
service's OpenAPI document (openapi_check.py); consume() checks every event
the appointment service produced against proto/appointment.finished.schema.json
and its CloudEvents headers (event_check.py). A violation raises in the test,
and is also recorded here, so the per-test guard (fixtures.py) fails a test
in which a wait_until or an except swallowed one.
"""

from __future__ import annotations

import urllib.parse
from typing import Any, Mapping

from harness.paths import PROTO

# Which service answers on which port: set by Service, read by http() to pick
# the OpenAPI document. Ports are never handed out twice in a session.
SERVICE_BY_PORT: dict[int, str] = {}
# Contract violations of the running test, also those a wait_until swallowed;
# the per-test guard fails a test that passed in spite of them.
VIOLATIONS: list[str] = []
# Messages written by produce(): tests write malformed events on purpose,
# so consume() checks the event contract only on the others (the services').
PRODUCED_HERE: set[tuple[str, str, int, int]] = set()


def check_http(method: str, url: str, status: int, headers: dict[str, str], body: Any,
               raw: bytes) -> None:
    """Raise ContractError (and record it) if `url` is a service the harness
    started and its OpenAPI document does not describe the response."""
    u = urllib.parse.urlsplit(url)
    name = SERVICE_BY_PORT.get(u.port or 80) if u.hostname in ("127.0.0.1", "localhost") else None
    if name is None or not (PROTO / f"{name}.openapi.json").is_file():
        return
    from harness.openapi_check import ContractError, check_response
    path = u.path + (f"?{u.query}" if u.query else "")
    try:
        check_response(name, method, path or "/", status, headers, body, raw)
    except ContractError as e:
        VIOLATIONS.append(str(e))
        raise


def check_message(bootstrap: str, topic: str, partition: int, offset: int, key: str | None,
                  headers: Mapping[str, str], value: bytes | None) -> None:
    """An event the appointment service produced must satisfy
    proto/appointment.finished.schema.json and the CloudEvents headers
    (event_check.py): every such event a test reads is checked. Raise
    EventContractError (and record it) if it does not."""
    from harness.event_check import EventContractError, check_event, is_producer_event
    if (bootstrap, topic, partition, offset) in PRODUCED_HERE or not is_producer_event(headers):
        return
    try:
        check_event(key, headers, value, where=f"{topic}[{partition}]@{offset}")
    except EventContractError as e:
        VIOLATIONS.append(str(e))
        raise
