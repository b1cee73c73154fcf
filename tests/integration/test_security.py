"""Security of both services, route by route, from their contracts.

- Every route of proto/<service>.openapi.json (which test_contracts.py ties
  to the C route tables) is public exactly when the design says so
  (/healthz, /readyz, /openapi.json, /docs, /docs/{file}); every other one
  answers 401 without a token, 401 with an unknown one, 403 with a valid
  token lacking its scope, and not 401/403 with the scope.
- Tokens never reach the logs, whatever place a client puts them in
  (Authorization, query string, path, body, other headers), at debug level.
- With auth off (no AUTH_TOKENS) the services listen on 127.0.0.1 only,
  even when HTTP_HOST asks for every interface; with tokens they bind it.
  A malformed AUTH_TOKENS refuses to start.
(test_appointment.py / test_financial.py check a few routes each; this
covers all of them.)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from stack import Service, build_dir, free_port, http

ROOT = Path(__file__).resolve().parents[2]
SCOPES = ("appointments:write", "appointments:read", "billings:read", "metrics:read")
PUBLIC = {"/healthz", "/readyz", "/openapi.json", "/docs", "/docs/{file}"}
ALL = "sec-all-scopes-0123456789abcdef"
# One token per scope, and one per scope holding every *other* scope.
ONLY = {s: f"sec-only-{s.replace(':', '-')}-0123456789" for s in SCOPES}
ALL_BUT = {s: f"sec-all-but-{s.replace(':', '-')}-0123456789" for s in SCOPES}


def auth_tokens() -> str:
    entries = [f"{ALL}={','.join(SCOPES)}"]
    entries += [f"{t}={s}" for s, t in ONLY.items()]
    entries += [f"{t}={','.join(x for x in SCOPES if x != s)}" for s, t in ALL_BUT.items()]
    return ";".join(entries)


def operations(service: str) -> list[tuple[str, str, str | None, bool]]:
    """[(METHOD, path, required scope or None, takes a body)] from the OpenAPI document."""
    doc = json.loads((ROOT / "proto" / f"{service}.openapi.json").read_text())
    out = []
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method not in ("get", "post", "put", "delete", "patch"):
                continue
            sec = op.get("security", doc.get("security"))
            scope = sec[0]["bearerAuth"][0] if sec else None
            out.append((method.upper(), path, scope, "requestBody" in op))
    assert out, f"no operations in {service}.openapi.json"
    return out


def concrete(path: str) -> str:
    return path.replace("{file}", "swagger-ui.css").replace("{id}", str(uuid.uuid4())) \
        .replace("{appointment_id}", str(uuid.uuid4()))


def call(svc: Service, method: str, path: str, body: bool, token: str | None):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return http(method, svc.url(path), json={} if body else None, headers=headers)


@pytest.mark.parametrize("service", ["appointment", "financial"])
def test_every_route_is_public_or_needs_its_scope(service, start_service, topic):
    ops = operations(service)
    public = {p for _, p, s, _ in ops if s is None}
    assert public == PUBLIC & {p for _, p, _, _ in ops}, f"public routes of {service}: {sorted(public)}"
    svc = start_service(service, KAFKA_TOPIC=topic, KAFKA_DLQ_TOPIC=topic + ".dlq",
                        AUTH_TOKENS=auth_tokens(), HTTP_HOST="127.0.0.1")
    problems = []
    for method, path, scope, body in ops:
        where = f"{method} {path}"
        url_path = concrete(path)
        if scope is None:
            r = call(svc, method, url_path, body, None)
            if r.status in (401, 403):
                problems.append(f"{where}: public, got {r.status} without a token")
            continue
        if scope not in SCOPES:
            problems.append(f"{where}: unknown scope {scope}")
            continue
        r = call(svc, method, url_path, body, None)
        if r.status != 401 or not r.headers.get("www-authenticate", "").startswith("Bearer"):
            problems.append(f"{where}: no token -> {r.status}")
        for bad in ("not-a-token-0123456789abcdef", ALL[:-1], ALL + "x"):
            r = call(svc, method, url_path, body, bad)
            if r.status != 401 or 'error="invalid_token"' not in r.headers.get("www-authenticate", ""):
                problems.append(f"{where}: invalid token -> {r.status}")
        r = call(svc, method, url_path, body, ALL_BUT[scope])
        if r.status != 403 or r.body.get("type") != "/problems/forbidden":
            problems.append(f"{where}: every scope but {scope} -> {r.status}")
        for other, tok in ONLY.items():
            if other != scope:
                r = call(svc, method, url_path, body, tok)
                if r.status != 403:
                    problems.append(f"{where}: only {other} -> {r.status}")
        for tok in (ONLY[scope], ALL):
            r = call(svc, method, url_path, body, tok)
            if r.status in (401, 403) or r.status >= 500:
                problems.append(f"{where}: with {scope} -> {r.status} {r.body}")
        if r.status in (401, 403):
            continue
        for h in r.headers:
            assert "token" not in r.headers[h].lower() or h == "www-authenticate", (h, r.headers[h])
    assert not problems, "\n".join(problems)
    assert svc.stop() == 0


def test_tokens_never_reach_the_logs(start_service, topic):
    """Valid, invalid and wrong-scope tokens, in every place a client might
    put one, at LOG_LEVEL=debug: no log line of either service holds one."""
    secrets = {
        "valid_all": ALL,
        "valid_scope": ONLY["appointments:read"],
        "wrong_scope": ONLY["metrics:read"],
        "invalid": "invalid-token-5e5e5e5e5e5e5e5e",
        "invalid_long": "invalid-" + "q" * 300,
    }
    env = dict(KAFKA_TOPIC=topic, KAFKA_DLQ_TOPIC=topic + ".dlq", AUTH_TOKENS=auth_tokens(),
               HTTP_HOST="127.0.0.1", LOG_LEVEL="debug")
    appt = start_service("appointment", **env)
    fin = start_service("financial", **env)
    phys, pat = str(uuid.uuid4()), str(uuid.uuid4())
    for svc, paths in ((appt, ["/appointments", f"/appointments/{uuid.uuid4()}", "/metrics"]),
                       (fin, ["/billings", "/billings/summary?group_by=day", f"/billings/{uuid.uuid4()}",
                              "/metrics"])):
        for tok in secrets.values():
            for path in paths:
                sep = "&" if "?" in path else "?"
                http("GET", svc.url(path), headers={"Authorization": f"Bearer {tok}"})
                http("GET", svc.url(f"{path}{sep}access_token={tok}&token={tok}"))
                http("GET", svc.url(f"{path}{sep}physician_id={tok}"), headers={"Authorization": f"Bearer {ALL}"})
                http("GET", svc.url(path), headers={"Authorization": tok, "Cookie": f"token={tok}",
                                                    "User-Agent": tok, "Referer": f"http://x/?t={tok}",
                                                    "X-Api-Key": tok, "traceparent": tok})
            http("GET", svc.url(f"/nothing/{tok}"), headers={"Authorization": f"Bearer {ALL}"})
            http("DELETE", svc.url(f"/appointments/{tok}"), headers={"Authorization": f"Bearer {tok}"})
    for tok in secrets.values():
        auth = {"Authorization": f"Bearer {ALL}"}
        # in a body field, in the Idempotency-Key, and as a path parameter
        http("POST", appt.url("/appointments"), json={"physician_id": tok, "patient_id": pat}, headers=auth)
        http("POST", appt.url("/appointments"), json={"physician_id": phys, "patient_id": pat},
             headers={**auth, "Idempotency-Key": tok[:200]})
        http("POST", appt.url(f"/appointments/{tok}/finish"), json={"end_date": tok}, headers=auth)
        http("POST", appt.url("/appointments"), json={"physician_id": phys, "patient_id": pat},
             headers={"Authorization": f"Bearer {tok}"})
        http("POST", appt.url(f"/appointments?token={tok}"), raw_body=tok, headers={"Content-Type": "text/plain"})
    # 413 and 405 paths, and a protocol error with the token in the request line
    http("POST", appt.url("/appointments"), raw_body=b"x" * 70000,
         headers={"Content-Type": "application/json", "Authorization": f"Bearer {ALL}"})
    for svc in (appt, fin):
        with socket.create_connection(("127.0.0.1", svc.port), timeout=5) as s:
            s.sendall(f"GET /{ALL} HTTP/9.9\r\nAuthorization: Bearer {ALL}\r\n\r\n".encode())
            try:
                s.recv(4096)
            except OSError:
                pass
    assert appt.stop() == 0 and fin.stop() == 0
    for svc in (appt, fin):
        log = svc.log_text()
        assert '"msg":"stopped"' in log, f"{svc.name}: its log is incomplete ({svc.log_path})"
        for name, tok in secrets.items():
            for piece in {tok, tok[:16], tok[-16:]}:
                assert piece not in log, f"{svc.name} logged the {name} token ({piece!r}) in {svc.log_path}"


def _listen_addrs(pid: int, port: int) -> set[str]:
    """Local addresses of the LISTEN sockets on `port` of process `pid` (from /proc/<pid>/net/tcp*)."""
    out = set()
    for name, width in (("tcp", 8), ("tcp6", 32)):
        try:
            lines = Path(f"/proc/{pid}/net/{name}").read_text().splitlines()[1:]
        except FileNotFoundError:
            continue
        for line in lines:
            f = line.split()
            addr, p = f[1].split(":")
            if int(p, 16) == port and f[3] == "0A":  # TCP_LISTEN
                if width == 8:
                    out.add(socket.inet_ntoa(bytes.fromhex(addr)[::-1]))
                else:
                    out.add(addr)
    return out


def _external_ip() -> str | None:
    """An address of this machine that is not loopback (a UDP connect sends nothing)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
            s.connect(("192.0.2.1", 9))  # TEST-NET-1: never routed, nothing is sent
            ip = s.getsockname()[0]
            return None if ip.startswith("127.") else ip
    except OSError:
        return None


@pytest.mark.parametrize("service,host", [("appointment", "0.0.0.0"), ("financial", "0.0.0.0"),
                                          ("appointment", "::"), ("financial", "192.0.2.1")])
def test_auth_off_listens_on_loopback_only(service, host, start_service, topic):
    svc = start_service(service, KAFKA_TOPIC=topic, KAFKA_DLQ_TOPIC=topic + ".dlq", HTTP_HOST=host,
                        AUTH_TOKENS="")
    assert _listen_addrs(svc.pid, svc.port) == {"127.0.0.1"}
    assert "auth is off" in svc.log_text()
    ip = _external_ip()
    if ip:
        with pytest.raises(OSError):
            socket.create_connection((ip, svc.port), timeout=2).close()
    assert http("GET", svc.url("/healthz")).status == 200
    assert svc.stop() == 0


@pytest.mark.parametrize("service", ["appointment", "financial"])
def test_auth_on_binds_what_http_host_asks(service, start_service, topic):
    svc = start_service(service, KAFKA_TOPIC=topic, KAFKA_DLQ_TOPIC=topic + ".dlq", HTTP_HOST="0.0.0.0",
                        AUTH_TOKENS=f"{ALL}={','.join(SCOPES)}")
    assert _listen_addrs(svc.pid, svc.port) == {"0.0.0.0"}
    assert "auth is off" not in svc.log_text()
    ip = _external_ip()
    if ip:
        socket.create_connection((ip, svc.port), timeout=2).close()
    assert svc.stop() == 0


@pytest.mark.parametrize("tokens", ["short=appointments:read", "=appointments:read", "no-equals-sign-0123456789",
                                    f"{ALL}=appointments:read;x=metrics:read"])
def test_malformed_auth_tokens_refuse_to_start(tokens, service_env, topic):
    env = {**service_env, "KAFKA_TOPIC": topic, "AUTH_TOKENS": tokens, "HTTP_PORT": str(free_port())}
    proc = subprocess.run([str(build_dir() / "appointment")], env={**os.environ, **env},
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0
    assert "AUTH_TOKENS" in proc.stderr
    for piece in tokens.replace("=", ";").split(";"):
        if len(piece) >= 16:
            assert piece not in proc.stderr, "a token was logged"
