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
- Configuration mistakes (a malformed AUTH_TOKENS or one with an unknown
  scope, an unknown LOG_LEVEL, a JWT setting without its algorithm or key, an
  unreadable or unsuitable key file) stop the service at start with exit 2
  and a message naming the variable, before it connects to anything.
- Idempotency keys belong to a client (a static token, a JWT's iss + sub, or
  the one anonymous client while auth is off): the same key from two
  clients is two keys, and no client ever gets another's response; the
  database holds no token.
(test_appointment.py / test_financial.py check a few routes each; this
covers all of them. JWTs themselves: test_jwt.py.)
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import uuid
from pathlib import Path

import pytest

from harness import ROOT, Service, build_dir, free_port, http, mongo_client

SCOPES = ("appointments:write", "appointments:read", "billings:read", "metrics:read", "registry:read",
          "registry:write", "patients:read", "patients:write", "billing:admin")
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


# ---------------------------------------------------------------- configuration mistakes

def _run_with(service: str, tmp_path: Path, **env: str) -> subprocess.CompletedProcess:
    """Starts the binary with env on top of a configuration that is otherwise
    valid but points at nothing (no database, no broker on those ports): a
    mistake must stop it before it tries to connect."""
    base = {k: v for k, v in os.environ.items() if not k.startswith(("AUTH_", "LOG_LEVEL"))}
    base.update(HTTP_PORT=str(free_port()), MONGODB_URI=f"mongodb://127.0.0.1:{free_port()}/x",
                KAFKA_BOOTSTRAP=f"127.0.0.1:{free_port()}")
    return subprocess.run([str(build_dir() / service)], env={**base, **env}, capture_output=True,
                          text=True, timeout=20, cwd=tmp_path)


def _key_files(tmp_path: Path) -> dict[str, Path]:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    pub = serialization.PublicFormat.SubjectPublicKeyInfo
    rsa_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    ec_key = ec.generate_private_key(ec.SECP256R1())
    files = {
        "rsa_pub": rsa_key.public_key().public_bytes(serialization.Encoding.PEM, pub),
        "rsa_pem": rsa_key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                         serialization.NoEncryption()),
        "ec_pub": ec_key.public_key().public_bytes(serialization.Encoding.PEM, pub),
        "garbage": b"-----BEGIN PUBLIC KEY-----\nbm90IGEga2V5\n-----END PUBLIC KEY-----\n",
        "short_secret": b"too-short-for-hs256\n",
    }
    out = {}
    for name, data in files.items():
        (tmp_path / f"{name}.key").write_bytes(data)
        out[name] = tmp_path / f"{name}.key"
    return out


_MISTAKES = [
    # (id, env, what the message must say)
    ("unknown-scope", {"AUTH_TOKENS": f"{ALL}=appointments:read,appointment:write"},
     "AUTH_TOKENS: entry 1 has an unknown scope 'appointment:write' (known: appointments:write"),
    ("scope-typo-in-second-entry", {"AUTH_TOKENS": f"{ALL}=metrics:read;{ONLY['billings:read']}=billing:read"},
     "AUTH_TOKENS: entry 2 has an unknown scope 'billing:read'"),
    ("no-scope", {"AUTH_TOKENS": f"{ALL}="}, "AUTH_TOKENS: entry 1 has no scope"),
    ("unknown-log-level", {"LOG_LEVEL": "verbose"},
     "LOG_LEVEL must be debug, info, warn or error, got 'verbose'"),
    ("log-level-warning", {"LOG_LEVEL": "warning"}, "LOG_LEVEL must be debug, info, warn or error"),
    ("alg-without-key", {"AUTH_JWT_ALG": "RS256"}, "AUTH_JWT_ALG is RS256 but AUTH_JWT_KEY_FILE is not set"),
    ("key-without-alg", {"AUTH_JWT_KEY_FILE": "{rsa_pub}"}, "AUTH_JWT_KEY_FILE is set but AUTH_JWT_ALG is not"),
    ("issuer-without-alg", {"AUTH_JWT_ISSUER": "https://idp"}, "AUTH_JWT_ISSUER is set but AUTH_JWT_ALG is not"),
    ("audience-without-alg", {"AUTH_JWT_AUDIENCE": "clinic"}, "AUTH_JWT_AUDIENCE is set but AUTH_JWT_ALG is not"),
    ("unknown-alg", {"AUTH_JWT_ALG": "PS256", "AUTH_JWT_KEY_FILE": "{rsa_pub}"},
     "AUTH_JWT_ALG must be RS256, ES256 or HS256, got 'PS256'"),
    ("alg-none", {"AUTH_JWT_ALG": "none", "AUTH_JWT_KEY_FILE": "{rsa_pub}"},
     "AUTH_JWT_ALG: unsigned tokens (none) are never accepted"),
    ("missing-key-file", {"AUTH_JWT_ALG": "RS256", "AUTH_JWT_KEY_FILE": "{tmp}/nope.pem"},
     "AUTH_JWT_KEY_FILE: cannot read {tmp}/nope.pem: No such file or directory"),
    ("key-file-is-a-directory", {"AUTH_JWT_ALG": "ES256", "AUTH_JWT_KEY_FILE": "{tmp}"},
     "AUTH_JWT_KEY_FILE: {tmp} is unreadable"),
    ("unparsable-key", {"AUTH_JWT_ALG": "RS256", "AUTH_JWT_KEY_FILE": "{garbage}"},
     "is not a PEM public key"),
    ("private-key", {"AUTH_JWT_ALG": "RS256", "AUTH_JWT_KEY_FILE": "{rsa_pem}"}, "holds a private key"),
    ("wrong-key-type", {"AUTH_JWT_ALG": "RS256", "AUTH_JWT_KEY_FILE": "{ec_pub}"},
     "is not an RSA key, which RS256 needs"),
    ("es256-with-rsa-key", {"AUTH_JWT_ALG": "ES256", "AUTH_JWT_KEY_FILE": "{rsa_pub}"},
     "is not an EC key on P-256"),
    ("hs256-with-public-key", {"AUTH_JWT_ALG": "HS256", "AUTH_JWT_KEY_FILE": "{rsa_pub}"},
     "holds a PEM key, but HS256 needs a shared secret"),
    ("hs256-short-secret", {"AUTH_JWT_ALG": "HS256", "AUTH_JWT_KEY_FILE": "{short_secret}"},
     "is shorter than 32 bytes"),
    ("negative-leeway", {"AUTH_JWT_ALG": "RS256", "AUTH_JWT_KEY_FILE": "{rsa_pub}", "AUTH_JWT_LEEWAY_S": "-1"},
     "AUTH_JWT_LEEWAY_S must be an integer from 0 to 3600, got '-1'"),
]


@pytest.mark.parametrize("service", ["appointment", "financial"])
@pytest.mark.parametrize("env,message", [m[1:] for m in _MISTAKES], ids=[m[0] for m in _MISTAKES])
def test_configuration_mistakes_fail_at_start(service, env, message, tmp_path):
    files = {k: str(v) for k, v in _key_files(tmp_path).items()}
    fill = {**files, "tmp": str(tmp_path)}
    env = {k: v.format(**fill) for k, v in env.items()}
    proc = _run_with(service, tmp_path, **env)
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    errors = [json.loads(line) for line in proc.stderr.splitlines() if line.startswith("{")]
    errors = [e for e in errors if e.get("level") == "error"]
    assert errors and errors[-1]["msg"] == "invalid configuration", proc.stderr
    assert message.format(**fill) in errors[-1]["error"], errors[-1]["error"]
    # it stopped before connecting to anything, and said nothing about listening
    assert "listening" not in proc.stderr
    assert ALL not in proc.stderr and ONLY["billings:read"] not in proc.stderr


def test_valid_jwt_configuration_starts(tmp_path, start_service, topic):
    files = _key_files(tmp_path)
    svc = start_service("appointment", KAFKA_TOPIC=topic, AUTH_JWT_ALG="RS256",
                        AUTH_JWT_KEY_FILE=str(files["rsa_pub"]), HTTP_HOST="0.0.0.0")
    # JWTs alone turn auth on: no static token, yet every interface is bound
    assert _listen_addrs(svc.pid, svc.port) == {"0.0.0.0"}
    assert "auth is off" not in svc.log_text()
    assert http("GET", svc.url("/appointments")).status == 401
    assert svc.stop() == 0


# ---------------------------------------------------------------- idempotency keys per client

PHYS, PAT = "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a", "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"


def _start(svc: Service, token: str | None, key: str, patient: str = PAT):
    headers = {"Idempotency-Key": key}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    return http("POST", svc.url("/appointments"), json={"physician_id": PHYS, "patient_id": patient},
                headers=headers)


def test_idempotency_keys_are_scoped_per_client(start_service, topic, service_env, tmp_path):
    import jwt as pyjwt
    import time
    secret = "an-hs256-secret-for-idempotency-tests-0123"
    (tmp_path / "hs.key").write_text(secret)
    a_tok, b_tok = ONLY["appointments:write"], ALL
    svc = start_service("appointment", KAFKA_TOPIC=topic, HTTP_HOST="127.0.0.1",
                        AUTH_TOKENS=auth_tokens(), AUTH_JWT_ALG="HS256",
                        AUTH_JWT_KEY_FILE=str(tmp_path / "hs.key"))

    def jwt_for(iss: str, sub: str) -> str:
        now = int(time.time())
        return pyjwt.encode({"iss": iss, "sub": sub, "exp": now + 300, "jti": uuid.uuid4().hex,
                             "scope": "appointments:write"}, secret, algorithm="HS256")

    key = f"visit-{uuid.uuid4()}"
    a1 = _start(svc, a_tok, key)
    assert a1.status == 201
    # Another client, the same key: its own consultation, never A's response...
    b1 = _start(svc, b_tok, key)
    assert b1.status == 201 and b1.body["id"] != a1.body["id"]
    # ...even with another body, which for A would be a 422.
    b2 = _start(svc, b_tok, key + "-other", patient=str(uuid.uuid4()))
    assert b2.status == 201
    assert _start(svc, a_tok, key, patient=str(uuid.uuid4())).status == 422
    # Each client's retry gets its own first response.
    assert _start(svc, a_tok, key).body == a1.body
    assert _start(svc, b_tok, key).body == b1.body
    # JWT clients are iss + sub: a new token of the same client replays, another
    # subject or the same subject of another issuer does not.
    j1 = _start(svc, jwt_for("https://idp-1", "svc-reception"), key)
    assert j1.status == 201 and j1.body["id"] not in (a1.body["id"], b1.body["id"])
    assert _start(svc, jwt_for("https://idp-1", "svc-reception"), key).body == j1.body
    j2 = _start(svc, jwt_for("https://idp-1", "svc-billing"), key)
    j3 = _start(svc, jwt_for("https://idp-2", "svc-reception"), key)
    ids = {a1.body["id"], b1.body["id"], j1.body["id"], j2.body["id"], j3.body["id"]}
    assert len(ids) == 5
    assert svc.stop() == 0

    # What is stored: one document per (client, key), no token anywhere.
    with mongo_client(service_env["MONGODB_URI"]) as client:
        docs = list(client.get_default_database()["idempotency_keys"].find({"key": key}))
    assert len(docs) == 5
    for d in docs:
        assert d["_id"] == f"{d['client']} {key}"
        assert d["client"][:2] in ("t:", "j:") and len(d["client"]) == 66
    blob = json.dumps(docs, default=str)
    for tok in (a_tok, b_tok, secret):
        assert tok not in blob and tok[:16] not in blob


def test_idempotency_with_auth_off_is_one_anonymous_client(start_service, topic, service_env):
    svc = start_service("appointment", KAFKA_TOPIC=topic, AUTH_TOKENS="")
    key = f"visit-{uuid.uuid4()}"
    # A key recorded before keys were scoped (its _id is the bare key) is
    # never replayed: it could be anyone's.
    old_id = str(uuid.uuid4())
    with mongo_client(service_env["MONGODB_URI"]) as client:
        client.get_default_database()["idempotency_keys"].insert_one(
            {"_id": key, "appointment_id": old_id, "physician_id": PHYS, "patient_id": PAT,
             "start_given": False})
    first = _start(svc, None, key)
    assert first.status == 201 and first.body["id"] != old_id
    assert _start(svc, None, key).body == first.body
    assert _start(svc, None, key, patient=str(uuid.uuid4())).status == 422
    with mongo_client(service_env["MONGODB_URI"]) as client:
        doc = client.get_default_database()["idempotency_keys"].find_one({"_id": f"anonymous {key}"})
    assert doc and doc["appointment_id"] == first.body["id"]
    assert svc.stop() == 0
