"""JWT bearer tokens, minted by a real JWT library (PyJWT), against the
running services configured as an OAuth2 resource server would be
(AUTH_JWT_ALG, AUTH_JWT_KEY_FILE, AUTH_JWT_ISSUER, AUTH_JWT_AUDIENCE,
AUTH_JWT_LEEWAY_S), for each of RS256, ES256 and HS256:

- a valid token with the scope passes; one without it gets 403
  insufficient_scope; scopes come from `scope` or `scp`;
- expired, not yet valid, issued in the future, wrong issuer, wrong
  audience, no exp, no sub, signed by another key, a tampered signature or
  claims, another algorithm (including HS256 keyed with the RS256 public key,
  the classic key confusion), `alg: none`: 401 invalid_token;
- hostile tokens (huge, deeply nested header JSON, bad base64, wrong segment
  count, duplicate header keys) are a clear 401 and the service stays up;
- static tokens keep working beside JWTs; tokens never reach the logs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from harness import http

ISSUER = "https://idp.example.test/realms/clinic"
AUDIENCE = "clinic-appointment"
STATIC = "static-token-beside-jwts-0123456789"
ALGS = ("RS256", "ES256", "HS256")


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class Keys:
    """A signing key per algorithm, the PEM/secret the service gets, and a
    second key of the same kind that the service does not trust."""

    def __init__(self, alg: str):
        self.alg = alg
        if alg == "RS256":
            self.priv, self.other = (rsa.generate_private_key(public_exponent=65537, key_size=2048)
                                     for _ in range(2))
        elif alg == "ES256":
            self.priv, self.other = (ec.generate_private_key(ec.SECP256R1()) for _ in range(2))
        else:
            self.priv, self.other = b"s" * 16 + uuid.uuid4().hex.encode(), uuid.uuid4().hex.encode() * 2
        if alg == "HS256":
            self.verify_bytes = self.priv + b"\n"  # as `echo secret > file` writes it
        else:
            self.verify_bytes = self.priv.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)

    def sign(self, claims: dict, key=None, alg: str | None = None, headers: dict | None = None) -> str:
        return jwt.encode(claims, key if key is not None else self.priv, algorithm=alg or self.alg,
                          headers=headers)


def claims(**over) -> dict:
    now = int(time.time())
    c = {"iss": ISSUER, "sub": "svc-reception", "aud": AUDIENCE, "iat": now, "exp": now + 300,
         "scope": "appointments:read appointments:write"}
    for k, v in over.items():
        if v is None:
            c.pop(k, None)
        else:
            c[k] = v
    return c


def raw_token(header: dict | str, payload: dict | str, signature: bytes | str) -> str:
    h = header if isinstance(header, str) else b64(json.dumps(header).encode())
    p = payload if isinstance(payload, str) else b64(json.dumps(payload).encode())
    s = signature if isinstance(signature, str) else b64(signature)
    return f"{h}.{p}.{s}"


def get(svc, token: str | None, path: str = "/appointments?limit=1"):
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return http("GET", svc.url(path), headers=headers)


def assert_invalid(r, why: str | None = None):
    assert r.status == 401, (r.status, r.body)
    www = r.headers.get("www-authenticate", "")
    assert www.startswith("Bearer ") and 'error="invalid_token"' in www, www
    assert r.headers.get("content-type", "").startswith("application/problem+json")
    assert r.body["type"] == "/problems/unauthorized" and r.body["status"] == 401
    if why:
        assert why in r.body["detail"], r.body["detail"]


@pytest.fixture(scope="module", params=ALGS)
def keys(request) -> Keys:
    return Keys(request.param)


@pytest.fixture
def jwt_service(keys, start_service, topic, tmp_path):
    key_file = tmp_path / f"{keys.alg}.key"
    key_file.write_bytes(keys.verify_bytes)

    def start(name: str = "appointment", **env):
        base = dict(KAFKA_TOPIC=topic, KAFKA_DLQ_TOPIC=topic + ".dlq", HTTP_HOST="127.0.0.1",
                    AUTH_JWT_ALG=keys.alg, AUTH_JWT_KEY_FILE=str(key_file), AUTH_JWT_ISSUER=ISSUER,
                    AUTH_JWT_AUDIENCE=AUDIENCE, LOG_LEVEL="debug")
        return start_service(name, **{**base, **env})
    return start


def test_valid_token_passes_and_scopes_decide(keys, jwt_service):
    svc = jwt_service()
    assert get(svc, keys.sign(claims())).status == 200
    # aud may be an array; scp (an array) works as well as scope
    assert get(svc, keys.sign(claims(aud=["other", AUDIENCE]))).status == 200
    assert get(svc, keys.sign(claims(scope=None, scp=["appointments:read"]))).status == 200
    # a float exp (NumericDate may be non-integer)
    assert get(svc, keys.sign(claims(exp=time.time() + 60.5))).status == 200
    r = get(svc, keys.sign(claims(scope="appointments:write openid")))
    assert r.status == 403, r.body
    assert r.body["type"] == "/problems/forbidden"
    www = r.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in www and 'scope="appointments:read"' in www, www
    r = get(svc, keys.sign(claims(scope=None)))
    assert r.status == 403
    # a write through a JWT, and /metrics needs metrics:read
    body = {"physician_id": str(uuid.uuid4()), "patient_id": str(uuid.uuid4())}
    r = http("POST", svc.url("/appointments"), json=body,
             headers={"Authorization": f"Bearer {keys.sign(claims())}"})
    assert r.status == 201, r.body
    assert get(svc, keys.sign(claims()), "/metrics").status == 403
    assert get(svc, keys.sign(claims(scope="metrics:read")), "/metrics").status == 200
    # without any token: 401 without an error code (RFC 6750 3.1)
    r = get(svc, None)
    assert r.status == 401 and "error=" not in r.headers["www-authenticate"]
    assert svc.stop() == 0


def test_time_claims_honour_the_leeway(keys, jwt_service):
    svc = jwt_service(AUTH_JWT_LEEWAY_S="30")
    now = int(time.time())
    assert_invalid(get(svc, keys.sign(claims(exp=now - 120))), "expired")
    assert get(svc, keys.sign(claims(exp=now - 5))).status == 200  # within the leeway
    assert_invalid(get(svc, keys.sign(claims(nbf=now + 300))), "not valid yet")
    assert get(svc, keys.sign(claims(nbf=now + 5))).status == 200
    assert_invalid(get(svc, keys.sign(claims(iat=now + 300))), "issued in the future")
    assert_invalid(get(svc, keys.sign(claims(exp=None))), "no exp")
    assert_invalid(get(svc, keys.sign(claims(exp="tomorrow"))), "exp claim is not a number")
    assert svc.stop() == 0


def test_issuer_audience_and_subject_are_checked(keys, jwt_service):
    svc = jwt_service()
    assert_invalid(get(svc, keys.sign(claims(iss="https://evil.example.test"))), "another issuer")
    assert_invalid(get(svc, keys.sign(claims(iss=ISSUER + "/"))), "another issuer")
    assert_invalid(get(svc, keys.sign(claims(iss=None))), "no iss")
    assert_invalid(get(svc, keys.sign(claims(aud="clinic-financial"))), "another audience")
    assert_invalid(get(svc, keys.sign(claims(aud=["a", "b"]))), "another audience")
    assert_invalid(get(svc, keys.sign(claims(aud=None))), "no aud")
    assert_invalid(get(svc, keys.sign(claims(sub=None))), "no sub")
    assert svc.stop() == 0


def test_issuer_and_audience_unset_are_not_checked(keys, jwt_service):
    svc = jwt_service(AUTH_JWT_ISSUER="", AUTH_JWT_AUDIENCE="")
    assert get(svc, keys.sign(claims(iss="https://any", aud="any"))).status == 200
    assert get(svc, keys.sign(claims(iss=None, aud=None))).status == 200
    assert "AUTH_JWT_ISSUER or AUTH_JWT_AUDIENCE is unset" in svc.log_text()
    assert svc.stop() == 0


def test_signatures_and_algorithms(keys, jwt_service):
    svc = jwt_service()
    good = keys.sign(claims())
    h, p, s = good.split(".")
    # tampered signature (first character changed), tampered claims
    assert_invalid(get(svc, f"{h}.{p}.{('A' if s[0] != 'A' else 'B')}{s[1:]}"))
    forged = b64(json.dumps(claims(scope="appointments:read metrics:read", sub="admin")).encode())
    assert_invalid(get(svc, f"{h}.{forged}.{s}"), "signature does not verify")
    # a key of the right kind the service does not trust
    assert_invalid(get(svc, keys.sign(claims(), key=keys.other)), "signature does not verify")
    # alg none, as PyJWT writes it, and with a signature appended
    none = jwt.encode(claims(), None, algorithm="none")
    assert_invalid(get(svc, none), "unsigned")
    assert_invalid(get(svc, none + b64(b"x" * 32)), "another algorithm")
    assert_invalid(get(svc, raw_token({"alg": "None"}, claims(), b"x" * 32)), "another algorithm")
    # every other algorithm
    others = {"RS256": rsa.generate_private_key(public_exponent=65537, key_size=2048),
              "ES256": ec.generate_private_key(ec.SECP256R1()),
              "HS256": b"an-hmac-secret-of-at-least-32-bytes!!"}
    for alg, key in others.items():
        if alg != keys.alg:
            assert_invalid(get(svc, keys.sign(claims(), key=key, alg=alg)), "another algorithm")
    if keys.alg in ("RS256", "ES256"):
        # The classic confusion: HS256 keyed with the public key the service
        # holds (PyJWT refuses to do it, so by hand). libjwt 1.10 alone would
        # accept it; the pinned algorithm does not.
        header = b64(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
        payload = b64(json.dumps(claims()).encode())
        mac = hmac.new(keys.verify_bytes, f"{header}.{payload}".encode(), hashlib.sha256).digest()
        assert_invalid(get(svc, f"{header}.{payload}.{b64(mac)}"), "another algorithm")
    # still fine after all that
    assert get(svc, good).status == 200
    assert svc.stop() == 0


def test_hostile_tokens_are_a_clear_401(keys, jwt_service):
    svc = jwt_service()
    good = keys.sign(claims())
    h, p, s = good.split(".")
    deep_header = b64(('{"alg":"%s","x":' % keys.alg + '{"a":' * 5000 + "1" + "}" * 5001).encode())
    deep_claims = b64(('{"sub":"s","exp":9999999999,"x":' + "[" * 3000 + "]" * 3000 + "}").encode())
    dup_alg = b64(b'{"alg":"%s","alg":"none"}' % keys.alg.encode())
    nul_claims = b64(b'{"sub":"a\\u0000b","iss":"%s","aud":"%s","exp":9999999999}'
                     % (ISSUER.encode(), AUDIENCE.encode()))
    bad_utf8 = b64(b'{"sub":"\xff","iss":"%s","aud":"%s","exp":9999999999}'
                   % (ISSUER.encode(), AUDIENCE.encode()))
    cases = {
        "huge": h + "." + "A" * 9000 + "." + s,
        "deep header": f"{deep_header[:6000]}.{p}.{s}",
        "deep header, small": b64(('{"alg":"%s","x":' % keys.alg + "[" * 40 + "]" * 40 + "}").encode())
                              + f".{p}.{s}",
        "deep claims": f"{h}.{deep_claims[:6000]}.{s}",
        "bad base64 junk": f"{h}.{p[:10]}*{p[10:]}.{s}",
        "bad base64 padding": f"{h}.{p}==.{s}",
        "standard base64": f"{h}.{p}.{s.replace('-', '+').replace('_', '/')}+/",
        "two segments": f"{h}.{p}",
        "four segments": f"{good}.{s}",
        "empty segments": "..",
        "not json": f"{b64(b'not json')}.{p}.{s}",
        "header array": f"{b64(json.dumps([keys.alg]).encode())}.{p}.{s}",
        "duplicate alg": f"{dup_alg}.{p}.{s}",
        "typ at+jwt": keys.sign(claims(), headers={"typ": "at+jwt"}),
        "crit": keys.sign(claims(), headers={"crit": ["exp"]}),
        "nul in claims": f"{h}.{nul_claims}.{s}",
        "invalid utf-8": f"{h}.{bad_utf8}.{s}",
    }
    for name, tok in cases.items():
        r = get(svc, tok)
        if name == "huge":
            assert_invalid(r, "too long")
        elif name == "duplicate alg":
            assert_invalid(r, "the token's header repeats a key")
        elif name.startswith("deep"):
            assert_invalid(r, "nested too deeply")
        else:
            assert r.status == 401 and 'error="invalid_token"' in r.headers["www-authenticate"], \
                (name, r.status, r.body)
    # a token over civetweb's header limit is refused by it, not a crash
    r = http("GET", svc.url("/appointments"), headers={"Authorization": "Bearer " + "A" * 20000},
             check_openapi=False)
    assert r.status in (400, 401, 413, 431), r.status
    assert http("GET", svc.url("/healthz")).status == 200
    assert get(svc, good).status == 200
    assert svc.stop() == 0


def test_static_tokens_beside_jwts_and_tokens_never_logged(keys, jwt_service):
    svc = jwt_service(AUTH_TOKENS=f"{STATIC}=appointments:read")
    fin = jwt_service("financial", AUTH_TOKENS=f"{STATIC}=billings:read",
                      AUTH_JWT_AUDIENCE="clinic-financial")
    valid = keys.sign(claims())
    expired = keys.sign(claims(exp=int(time.time()) - 3600))
    assert get(svc, STATIC).status == 200
    assert get(svc, valid).status == 200
    assert_invalid(get(svc, expired))
    assert_invalid(get(svc, STATIC + "x"))
    # financial: its own audience, billings:read
    fin_tok = keys.sign(claims(aud="clinic-financial", scope="billings:read"))
    assert get(fin, fin_tok, "/billings").status == 200
    assert get(fin, STATIC, "/billings").status == 200
    assert_invalid(get(fin, valid, "/billings"), "another audience")
    assert svc.stop() == 0 and fin.stop() == 0
    for s in (svc, fin):
        log = s.log_text()
        assert "bearer token refused" in log  # LOG_LEVEL=debug says why, without the token
        for tok in (valid, expired, fin_tok, STATIC):
            for piece in {tok, *tok.split(".")} - {""}:
                assert piece not in log, f"{s.name} logged a token piece in {s.log_path}"
