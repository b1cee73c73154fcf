"""HTTP against the services: the client every test uses (checked against
the OpenAPI documents), and probes of a running service (/metrics, /readyz,
problem+json answers)."""

from __future__ import annotations

import json as jsonlib
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Iterator

from harness.contracts import check_http
from harness.util import wait_until

if TYPE_CHECKING:
    from harness.processes import Service

@dataclass
class Response:
    status: int
    headers: dict[str, str]  # lower-case names
    body: Any  # parsed JSON for JSON media types, else text
    raw: bytes

    def __iter__(self) -> Iterator[Any]:
        # `status, headers, body = http(...)`
        return iter((self.status, self.headers, self.body))


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirect)


def http(method: str, url: str, json: Any = None, headers: dict[str, str] | None = None,
         raw_body: bytes | str | None = None, timeout: float = 10.0,
         check_openapi: bool = True) -> Response:
    """One HTTP request with the standard library; 4xx/5xx are returned, not raised.

    `json` is serialized with Content-Type application/json; `raw_body` is
    sent as is (with only the headers given). Redirects are not followed.
    A response of a service the harness started is checked against that
    service's proto/<name>.openapi.json (contracts.py): one the document
    does not describe fails the test. check_openapi=False opts out, for a
    request the contract deliberately does not cover.
    """
    hdrs = {k: v for k, v in (headers or {}).items()}
    data: bytes | None = None
    if raw_body is not None:
        data = raw_body.encode() if isinstance(raw_body, str) else raw_body
    elif json is not None:
        data = jsonlib.dumps(json).encode()
        if not any(k.lower() == "content-type" for k in hdrs):
            hdrs["Content-Type"] = "application/json"
    req = urllib.request.Request(url, data=data, method=method.upper(), headers=hdrs)
    try:
        resp = _opener.open(req, timeout=timeout)
    except urllib.error.HTTPError as e:
        resp = e
    with resp:
        raw = resp.read()
        status = resp.status if hasattr(resp, "status") else resp.code
        headers_out = {k.lower(): v for k, v in resp.headers.items()}
    ctype = headers_out.get("content-type", "").split(";")[0].strip().lower()
    body: Any = raw.decode("utf-8", errors="replace")
    if ctype == "application/json" or ctype.endswith("+json"):
        try:
            body = jsonlib.loads(raw) if raw else None
        except ValueError:
            pass  # left as text: the test asserting on it will show it
    if check_openapi:
        check_http(method, url, status, headers_out, body, raw)
    return Response(status, headers_out, body, raw)




# --------------------------------------------------------------------- probes of a running service

def metric(svc: "Service", name: str, headers: dict[str, str] | None = None) -> float:
    """The value of a sample of the service's /metrics: `name` is its name,
    with its labels as printed if it has any ('clinic_check_up{check="kafka"}');
    `headers` (a token) when the service runs with auth on."""
    for line in http("GET", svc.url("/metrics"), headers=headers).body.splitlines():
        if line.startswith(name + " "):
            return float(line.split()[1])
    raise AssertionError(f"{name} not in /metrics")


UP_STATES = ("ok", "running", "not-assigned")  # /readyz check states that mean "working"


def wait_ready(svc: "Service", timeout: float = 30.0, everything: bool = True) -> Any:
    """Wait until /readyz answers 200 (the service can serve: MongoDB is up)
    and, unless everything=False, every check in its body is up too (Kafka
    reachable, the consumer in the group): what a test that goes on to
    produce or consume needs. Returns the last /readyz response."""
    def up() -> Any:
        r = http("GET", svc.url("/readyz"))
        ok = r.status == 200 and (not everything
                                  or all(v in UP_STATES for v in r.body["checks"].values()))
        return ok and r
    return wait_until(up, timeout, message=f"{svc.name} /readyz 200"
                      + (" with every check up" if everything else ""))


def assert_problem(r: Response, status: int, field: str | None = None) -> None:
    """`r` is an application/problem+json answer with this status (and,
    if given, naming this field)."""
    assert r.status == status, (r.status, r.body)
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.body["status"] == status and r.body["title"] and r.body["detail"]
    assert r.body["type"].startswith("/problems/")
    if field is not None:
        assert r.body.get("field") == field, r.body
