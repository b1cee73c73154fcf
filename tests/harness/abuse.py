"""Hostile and malformed HTTP requests for both services, over raw sockets.

A generator of cases (`cases(service, n, ...)`) and a runner (`run(...)`)
shared by tests/integration/test_abuse.py (short, in `make test`) and
tests/chaos/test_abuse_full.py (10,000 requests, `make chaos`).

Every case is a request that must not change anything: it is invalid, names
an appointment that does not exist, or only reads. The runner checks each
response: never a 5xx, every 4xx is application/problem+json with type,
title, status and detail, naming the field when one is at fault, and the
status is one of those the case allows. Requests are raw bytes on a socket of
their own, so anything can be sent: broken framing, huge headers, bytes that
are not UTF-8, pipelined requests, a 100 MB body streamed, a body dribbled.

Categories (the report counts requests per category):
  bad_json, duplicate_key, extended_json, deep_nesting, huge_headers,
  big_body, invalid_utf8, slow, injection, bad_uuid, bad_cursor, overflow,
  bad_date, wrong_method, content_type, chunked, pipelining, path, headers,
  auth, jwt

The long run (scenario(..., slow_clients=100, hostile_events=True)) adds
slow clients trickling headers on every target while its cases run
(tests/harness/slow_clients.py), and hostile events produced straight to
the topic while financial consumes (hostile_events): each must be
dead-lettered with its dlq_reason, and ordinary events produced after them
billed within seconds.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import random
import select
import socket
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Callable, Iterable
from urllib.parse import quote

PHYS = "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
PAT = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"

ALL_SCOPES = "appointments:write,appointments:read,billings:read,metrics:read"
TOKEN_ALL = "abuse-all-scopes-0123456789abcdef"
TOKEN_METRICS = "abuse-metrics-only-0123456789abcdef"
AUTH_TOKENS = f"{TOKEN_ALL}={ALL_SCOPES};{TOKEN_METRICS}=metrics:read"
# The auth-on services also take HS256 JWTs signed with this secret (jwt_env).
JWT_SECRET = b"abuse-jwt-secret-0123456789abcdef-0123456789"


def jwt_env(directory) -> dict[str, str]:
    """AUTH_JWT_* for a service that takes HS256 JWTs signed with JWT_SECRET
    (the key file is written into directory)."""
    from pathlib import Path
    key = Path(directory) / "abuse-jwt.key"
    key.write_bytes(JWT_SECRET)
    return {"AUTH_JWT_ALG": "HS256", "AUTH_JWT_KEY_FILE": str(key)}

# Any field a problem may name (None: no field).
ANY = object()


@dataclass
class Case:
    category: str
    raw: bytes  # the whole request (for "stream" and "slow": the head only)
    expect: frozenset[int] | None = None  # allowed statuses (None: any below 500)
    field: object = None  # None: not checked; ANY: some field; str or set of str
    mode: str = "plain"  # plain | pipeline | stream | slow_head | slow_body
    responses: int = 1  # pipeline: how many responses must come back
    stream_bytes: int = 0  # stream: how much body to offer
    chunked: bool = False  # stream / slow_body: send the body chunked
    silent_close: bool = False  # civetweb may close without an answer ("*", absolute-form targets)
    note: str = ""


@dataclass
class Result:
    case: Case
    statuses: list[int] = field(default_factory=list)
    failures: list[str] = field(default_factory=list)
    elapsed: float = 0.0
    sent_before_response: int = 0


# ---------------------------------------------------------------- request building

def request(method: str, target: str | bytes, headers: Iterable[tuple[str | bytes, str | bytes]] = (),
            body: bytes | str | None = None, content_type: str | bytes | None = "application/json",
            length: bool = True, close: bool = True, token: str | None = None) -> bytes:
    """An HTTP/1.1 request as bytes; nothing is escaped or checked."""
    def b(x: str | bytes) -> bytes:
        return x if isinstance(x, bytes) else x.encode("utf-8", "surrogateescape")
    out = [b(method) + b" " + b(target) + b" HTTP/1.1", b"Host: 127.0.0.1"]
    if token:
        out.append(b"Authorization: Bearer " + b(token))
    if body is not None:
        body = b(body)
        if content_type is not None:
            out.append(b"Content-Type: " + b(content_type))
        if length:
            out.append(b"Content-Length: %d" % len(body))
    for k, v in headers:
        out.append(b(k) + b": " + b(v))
    if close:
        out.append(b"Connection: close")
    return b"\r\n".join(out) + b"\r\n\r\n" + (body or b"")


def chunk(data: bytes) -> bytes:
    return b"%x\r\n" % len(data) + data + b"\r\n"


def rand_uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


# ---------------------------------------------------------------- response parsing

class _Conn:
    def __init__(self, port: int, timeout: float):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""
        self.closed = False

    def fill(self, deadline: float) -> bool:
        if self.closed:
            return False
        left = deadline - time.monotonic()
        if left <= 0:
            return False
        self.sock.settimeout(left)
        try:
            d = self.sock.recv(65536)
        except socket.timeout:
            return False
        except (ConnectionResetError, BrokenPipeError):
            self.closed = True
            return False
        if not d:
            self.closed = True
            return False
        self.buf += d
        return True

    def response(self, deadline: float, head_only: bool = False) -> tuple[int, dict[str, str], bytes] | None:
        """One response (status, lower-case headers, body), or None."""
        while b"\r\n\r\n" not in self.buf:
            if not self.fill(deadline):
                return None
        head, _, rest = self.buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ", 2)
        status = int(parts[1])
        headers: dict[str, str] = {}
        for line in lines[1:]:
            k, _, v = line.partition(":")
            headers[k.strip().lower()] = v.strip()
        n = 0 if head_only else int(headers.get("content-length", "0"))
        while len(rest) < n:
            self.buf = head + b"\r\n\r\n" + rest
            if not self.fill(deadline):
                return None
            head, _, rest = self.buf.partition(b"\r\n\r\n")
        self.buf = rest[n:]
        return status, headers, rest[:n]

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass


def check_response(case: Case, status: int, headers: dict[str, str], body: bytes, method: str) -> list[str]:
    bad = []
    if status >= 500:
        bad.append(f"status {status}")
    if case.expect is not None and status not in case.expect:
        bad.append(f"status {status} not in {sorted(case.expect)}")
    if 400 <= status < 500:
        ctype = headers.get("content-type", "")
        if not ctype.startswith("application/problem+json"):
            bad.append(f"{status} with content-type {ctype!r}")
        elif method != "HEAD":
            try:
                p = json.loads(body)
            except ValueError:
                return bad + [f"{status} body is not JSON: {body[:80]!r}"]
            for k in ("type", "title", "status", "detail"):
                if k not in p:
                    bad.append(f"problem lacks {k}")
            if p.get("status") != status:
                bad.append(f"problem status {p.get('status')} != {status}")
            want = case.field
            got = p.get("field")
            if want is ANY and not got:
                bad.append(f"problem names no field: {p}")
            elif isinstance(want, str) and got != want:
                bad.append(f"problem field {got!r}, expected {want!r}")
            elif isinstance(want, (set, frozenset)) and got not in want:
                bad.append(f"problem field {got!r}, expected one of {sorted(map(repr, want))}")
        if status == 405 and "allow" not in headers:
            bad.append("405 without Allow")
        if status == 401 and "www-authenticate" not in headers:
            bad.append("401 without WWW-Authenticate")
    return bad


# ---------------------------------------------------------------- running cases

def _method_of(raw: bytes) -> str:
    return raw.split(b" ", 1)[0].decode("latin-1")


def run_case(port: int, case: Case, timeout_ms: int = 2000) -> Result:
    res = Result(case)
    t0 = time.monotonic()
    try:
        if case.mode in ("plain", "pipeline"):
            _run_plain(port, case, res)
        elif case.mode == "stream":
            _run_stream(port, case, res)
        else:
            _run_slow(port, case, res, timeout_ms)
    except OSError as e:
        res.failures.append(f"socket error {e!r}")
    except Exception as e:  # noqa: BLE001 - a checker bug must fail the run, not vanish in a thread
        res.failures.append(f"checker error {e!r}")
    res.elapsed = time.monotonic() - t0
    return res


def _run_plain(port: int, case: Case, res: Result) -> None:
    c = _Conn(port, 10)
    try:
        try:
            c.sock.sendall(case.raw)
        except (BrokenPipeError, ConnectionResetError):
            pass  # the server may answer and close before reading everything
        deadline = time.monotonic() + 15
        method = _method_of(case.raw)
        for i in range(case.responses):
            r = c.response(deadline, head_only=method == "HEAD")
            if r is None:
                # A pipeline may end early when one of its requests closes the
                # connection (an error with an unread body); one answer is a must.
                if i == 0 and not (case.silent_close and c.closed):
                    res.failures.append("no response")
                break
            status, headers, body = r
            res.statuses.append(status)
            res.failures += check_response(case, status, headers, body, method)
            if headers.get("connection", "").lower() == "close":
                break
    finally:
        c.close()


def _run_stream(port: int, case: Case, res: Result) -> None:
    """Offers case.stream_bytes of body after the head; the answer must come
    long before the body ends (413 early), and the server must not read it all."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    try:
        s.sendall(case.raw)
        s.setblocking(False)
        piece = b"x" * 65536
        data = chunk(piece) if case.chunked else piece
        sent = 0
        buf = b""
        deadline = time.monotonic() + 30
        at_response = None
        while time.monotonic() < deadline and sent < case.stream_bytes:
            r, w, _ = select.select([s], [s], [], 2)
            if r:
                try:
                    d = s.recv(65536)
                except (ConnectionResetError, BrokenPipeError):
                    break
                if not d:
                    break
                buf += d
                if at_response is None and b"\r\n\r\n" in buf:
                    at_response = sent
                    break
            if w:
                try:
                    sent += s.send(data)
                except BlockingIOError:
                    pass
                except (BrokenPipeError, ConnectionResetError):
                    break
            if not r and not w:
                break
        if at_response is None:  # the server stopped reading: the answer should be there
            s.setblocking(True)
            s.settimeout(5)
            try:
                while b"\r\n\r\n" not in buf:
                    d = s.recv(65536)
                    if not d:
                        break
                    buf += d
            except OSError:
                pass
            at_response = sent
        res.sent_before_response = at_response
        if b"\r\n\r\n" not in buf:
            res.failures.append(f"no response after {sent} bytes of body")
            return
        head, _, body = buf.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ")[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
        n = int(headers.get("content-length", "0"))
        s.setblocking(True)
        s.settimeout(5)
        try:
            while len(body) < n:
                d = s.recv(65536)
                if not d:
                    break
                body += d
        except OSError:
            pass
        res.statuses.append(status)
        res.failures += check_response(case, status, headers, body[:n], _method_of(case.raw))
        if at_response > 16 * 1024 * 1024:
            res.failures.append(f"answered only after {at_response} bytes of body")
    finally:
        s.close()


def _run_slow(port: int, case: Case, res: Result, timeout_ms: int) -> None:
    """Dribbles one byte every 200 ms (the head for slow_head, the body for
    slow_body); the server must answer or close within its request timeout."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    t0 = time.monotonic()
    bound = timeout_ms / 1000 + 1.5
    try:
        if case.mode == "slow_head":
            drip = case.raw
        else:
            s.sendall(case.raw)
            drip = b"1\r\n \r\n" * 1000 if case.chunked else b" " * 1000
        buf = b""
        closed = False
        i = 0
        s.settimeout(0.2)
        while time.monotonic() - t0 < bound + 3:
            if i < len(drip):
                try:
                    s.send(drip[i:i + 1])
                    i += 1
                except OSError:
                    closed = True
            try:
                d = s.recv(65536)
                if not d:
                    closed = True
                buf += d
            except socket.timeout:
                pass
            except OSError:
                closed = True
            if closed:
                break
        took = time.monotonic() - t0
        res.elapsed = took
        if not closed:
            res.failures.append(f"still open after {took:.1f}s (bound {bound:.1f}s)")
        elif took > bound:
            res.failures.append(f"cut off after {took:.1f}s (bound {bound:.1f}s)")
        if b"\r\n\r\n" in buf:
            head, _, body = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            status = int(lines[0].split(" ")[1])
            headers = {k.strip().lower(): v.strip() for k, _, v in (ln.partition(":") for ln in lines[1:])}
            res.statuses.append(status)
            res.failures += check_response(case, status, headers, body, "POST")
    finally:
        s.close()


@dataclass
class Report:
    results: list[Result]

    @property
    def by_category(self) -> Counter:
        c: Counter = Counter()
        for r in self.results:
            c[r.case.category] += max(1, r.case.responses if r.case.mode == "pipeline" else 1)
        return c

    @property
    def requests(self) -> int:
        return sum(self.by_category.values())

    @property
    def statuses(self) -> Counter:
        return Counter(s for r in self.results for s in r.statuses)

    @property
    def server_errors(self) -> int:
        return sum(1 for r in self.results for s in r.statuses if s >= 500)

    def failures(self) -> list[str]:
        out = []
        for r in self.results:
            for f in r.failures:
                out.append(f"[{r.case.category}] {f}: {r.case.raw[:160]!r} {r.case.note}")
        return out

    def summary(self) -> str:
        cats = ", ".join(f"{k} {v}" for k, v in sorted(self.by_category.items()))
        sts = ", ".join(f"{k}: {v}" for k, v in sorted(self.statuses.items()))
        return (f"{self.requests} requests ({cats}); statuses {sts}; "
                f"5xx {self.server_errors}; failures {len(self.failures())}")


def run(port: int, cases: list[Case], timeout_ms: int = 2000, workers: int = 4) -> Report:
    """Runs every case against 127.0.0.1:port; slow ones all at once in threads
    (each takes about the request timeout), the rest by `workers` threads."""
    slow = [c for c in cases if c.mode.startswith("slow")]
    fast = [c for c in cases if not c.mode.startswith("slow")]
    results: list[Result] = []
    lock = threading.Lock()

    # At most 4 slow clients at once: each holds a worker thread for the
    # request timeout, and the bound is measured from the connect, so a slow
    # client queued behind busy workers would be measured unfairly.
    gate = threading.Semaphore(4)

    def slow_one(c: Case) -> None:
        with gate:
            r = run_case(port, c, timeout_ms)
        with lock:
            results.append(r)

    threads = [threading.Thread(target=slow_one, args=(c,), daemon=True) for c in slow]
    for t in threads:
        t.start()
    queue = list(fast)

    def worker() -> None:
        while True:
            with lock:
                if not queue:
                    return
                c = queue.pop()
            r = run_case(port, c, timeout_ms)
            with lock:
                results.append(r)

    ws = [threading.Thread(target=worker, daemon=True) for _ in range(workers)]
    for t in ws:
        t.start()
    for t in ws + threads:
        t.join(600)
    return Report(results)


# ---------------------------------------------------------------- the cases

BAD_JSON = [
    b"{", b"}", b"{\"physician_id\":", b"[]", b"[1,2]", b"\"text\"", b"1", b"null", b"true",
    b"{\"a\":1}{\"b\":2}", b"{'physician_id':'x'}", b"{\"a\":NaN}", b"{\"a\":Infinity}",
    b"{\"a\":-Infinity}", b"{\"a\":1,}", b"{\"a\" 1}", b"{\"a\":01}", b"{\"a\":\"\x01\"}",
    b"{\"a\":\"\\ud800\"}", b"\xef\xbb\xbf{\"a\":1}", b"{\"a\":1e999999}", b"{/*c*/}",
    b"{\"a\":\"\\u0000\"}", b"{\"a\":1}\x00", b"{\"a\":\"unterminated}", b"{\"a\":tru}",
    b"{\"a\":[1,2}", b"{\"a\":{\"b\":1}", b"{,}", b"{:}", b"{\"\":}", b"{\"a\":\"\\x41\"}",
    b"{\"a\":+1}", b"{\"a\":.5}", b"{\"a\":1.}", b"{\"a\":0x10}", b"\x00", b"{\"a\":\"\t\"}",
    b"{\"a\":undefined}", b"{\"a\":1}\n]", b"{\"a\":1} x", b"{\"a\":\"b\"\"c\"}",
    b"{\"a\":99999999999999999999}", b"{\"a\":-99999999999999999999}",
    b"{\"a\":9223372036854775808}", b"{\"a\":-9223372036854775809}",
]

# Valid JSON objects that miss or break a required field: 400 naming it.
START_BAD_FIELDS = [
    ({}, "physician_id"),
    ({"physician_id": PHYS}, "patient_id"),
    ({"patient_id": PAT}, "physician_id"),
    ({"physician_id": None, "patient_id": PAT}, "physician_id"),
    ({"physician_id": 1, "patient_id": PAT}, "physician_id"),
    ({"physician_id": 1.5e308, "patient_id": PAT}, "physician_id"),
    ({"physician_id": True, "patient_id": PAT}, "physician_id"),
    ({"physician_id": [PHYS], "patient_id": PAT}, "physician_id"),
    ({"physician_id": PHYS, "patient_id": {"id": PAT}}, "patient_id"),
    ({"physician_id": PHYS, "patient_id": PAT, "start_date": "9999-12-31T23:59:59Z"}, "start_date"),
    ({"physician_id": PHYS, "patient_id": PAT, "start_date": 1714572000}, "start_date"),
    ({"physician_id": PHYS, "patient_id": PAT, "start_date": "yesterday"}, "start_date"),
    ({"physician_id": PHYS, "patient_id": PAT, "start_date": ""}, "start_date"),
    ({"physician_id": PHYS, "patient_id": PAT, "start_date": {"$date": 0}}, "start_date"),
    ({"physician_id": PHYS, "patient_id": PAT, "start_date": "2024-02-30T00:00:00Z"}, "start_date"),
    ({"physician_id": PHYS, "patient_id": PAT, "start_date": "2024-05-01T25:00:00Z"}, "start_date"),
    ({"physician_id": PHYS, "patient_id": PAT, "start_date": "2024-05-01T14:00:00+99:99"}, "start_date"),
    ({"physician_id": PHYS, "patient_id": PAT, "start_date": "+275760-09-13T00:00:00Z"}, "start_date"),
    ({"physician_id": PHYS, "patient_id": PAT, "start_date": "2999-01-01 00:00:00"}, "start_date"),
]

OPERATORS = [
    {"$gt": ""}, {"$ne": None}, {"$ne": ""}, {"$where": "sleep(1000) || true"}, {"$regex": ".*"},
    {"$exists": True}, {"$in": [PHYS]}, {"$expr": {"$eq": [1, 1]}}, {"$function": {"body": "x"}},
    {"$oid": "0" * 24}, {"$date": 0}, {"$numberLong": "1"}, {"$binary": {"base64": "", "subType": "00"}},
]
# MongoDB Extended JSON (canonical and relaxed): plain objects to a plain JSON
# parser, so a field holding one is that field's wrong type (400 naming it).
EXTENDED_JSON = [
    {"$numberLong": "1"}, {"$numberLong": "20000"}, {"$numberInt": "5"}, {"$numberDouble": "1.5"},
    {"$numberDouble": "NaN"}, {"$numberDecimal": "1"}, {"$oid": "65b9f1d2a1b2c3d4e5f60718"},
    {"$date": 0}, {"$date": "2024-05-01T14:00:00Z"}, {"$date": {"$numberLong": "1714572000000"}},
    {"$uuid": PAT}, {"$binary": {"base64": "K7wa", "subType": "04"}}, {"$symbol": "x"},
    {"$regularExpression": {"pattern": ".*", "options": ""}}, {"$timestamp": {"t": 1, "i": 1}},
    {"$minKey": 1}, {"$maxKey": 1}, {"$undefined": True}, {"$code": "x"},
    {"$dbPointer": {"$ref": "a", "$id": {"$oid": "65b9f1d2a1b2c3d4e5f60718"}}},
]

OP_STRINGS = ["$gt", "$ne", "$where", "{\"$gt\": \"\"}", "{\"$ne\": null}", "this.x == 1", "'; return true; //",
              "a.b", "$", ".", "a\u0000b", "$$ROOT", "[$ne]=1", "1; db.dropDatabase()"]

BAD_UUIDS = [
    "x", "0", "abc", "{" + PHYS + "}", "urn:uuid:" + PHYS, PHYS + " ", " " + PHYS, PHYS[:-1], PHYS + "0",
    PHYS.replace("-", ""), PHYS.replace("-", "_"), PHYS[:-1] + "g", PHYS[:8] + "+" + PHYS[9:],
    "00000000-0000-0000-0000-00000000000g", "%00", "-" * 36, "z" * 36, "1" * 1000, "..", ".",
    "%2e%2e", "$where", "%24gt", "null", "undefined", "NaN", "-1", "9" * 40,
    "%ff%fe%fd", "%c0%af", "%ed%a0%80", "%e2%80%8b" + PHYS,
]

BAD_INTS = ["99999999999999999999", "-99999999999999999999", "9223372036854775808", "-1", "0", "101",
            "1e2", "0x10", "+5", " 5", "5 ", "10.0", "", "five", "%00", "1%00", "NaN", "Infinity",
            "-0x1", "１０", "5,6", "[5]", "{\"$gt\":0}", "1" * 500]

BAD_DATES = ["yesterday", "2024-02-30T00:00:00Z", "2024-13-01T00:00:00Z", "2024-05-01T24:00:01Z",
             "2024-05-01T14:00:00+99:99", "+275760-09-13T00:00:00Z", "-000001-01-01T00:00:00Z",
             "2024-05-01T14:00:00.99999999999999999999999Z", "2024-05-01", "1714572000",
             "2024-05-01T14:00:00", "%ff", "{\"$gt\":\"\"}", "2024-05-01T14:00:00Z%00",
             "9999999999-01-01T00:00:00Z", "2024-05-01T14:00:00+24:00", "2024-5-1T1:0:0Z"]

METHODS = ["PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "CONNECT", "PROPFIND", "FOO", "get", "Get",
           "POST", "GET", "HEAD", "M-SEARCH", "X" * 100, "PRI"]

CONTENT_TYPES = ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x",
                 "application/xml", "text/json", "application/jsonx", "json", "application", "*/*", "",
                 "application/json\x00", "text/html; charset=utf-8", "application/octet-stream",
                 "application/x-json-stream"]

PATHS = [
    "/../../etc/passwd", "/appointments/../metrics", "//appointments", "/appointments//x",
    "/%2e%2e/%2e%2e/etc/passwd", "/docs/../../../etc/passwd", "/docs/%2e%2e%2f%2e%2e%2fetc%2fpasswd",
    "/docs/..%2f..%2fMakefile", "/docs/swagger-ui.css%00.html", "/appointments/%00", "/appointments%00",
    "/appointments?", "/appointments#frag", "*", "http://evil.example/appointments", "/a" * 3000,
    "/" + "x" * 20000, "/appointments/" + "%41" * 3000, "/%", "/%zz", "/appointments/%",
    "/appointments/\\..\\..\\", "/./appointments", "/appointments/./x", "/APPOINTMENTS", "/billings/",
    "/billings/summary/x", "/billings/summary/../x", "/metrics/../healthz", "/healthz/../../",
    "/openapi.json/x", "/docs/", "/docs/nothing.js", "/docs/%2fetc%2fpasswd", "/\t/", "/ /",
]


def _rid(rng: random.Random) -> str:
    return rand_uuid(rng)


def _nul_refuses_body(body: dict, field: str) -> str:
    """The field a body's 400 names: a NUL anywhere (\\u0000 in any string or
    key) refuses the whole body ("body"); otherwise `field`."""
    return "body" if "\\u0000" in json.dumps(body) else field


def _mutate(rng: random.Random, data: bytes) -> bytes:
    b = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        op = rng.randrange(4)
        i = rng.randrange(len(b) + 1)
        if op == 0 and b:
            del b[min(i, len(b) - 1)]
        elif op == 1:
            b.insert(i, rng.randrange(256))
        elif op == 2 and b:
            b[min(i, len(b) - 1)] = rng.choice(b"{}[]\":,\\ \x00\xff")
        else:
            b[i:i] = rng.choice([b"{", b"[", b"\"", b"\\u", b"\xc3", b"$gt", b"\x00", b"e999"])
    return bytes(b)


class Generator:
    """Cases for one service. `existing`: an id that exists (an appointment
    still started, or a billed appointment), used only by cases that must
    fail before changing it. `token`: sent on every case when auth is on."""

    def __init__(self, service: str, rng: random.Random, existing: str, token: str | None):
        self.service = service
        self.rng = rng
        self.existing = existing
        self.token = token

    # -- helpers
    def req(self, method, target, body=None, **kw) -> bytes:
        kw.setdefault("token", self.token)
        return request(method, target, body=body, **kw)

    def post_targets(self) -> list[tuple[str, str | None]]:
        """(path, the field a bad path names) of the body-taking routes."""
        r = self.rng
        return [("/appointments", None), ("/", None), (f"/appointments/{_rid(r)}/finish", None),
                (f"/{_rid(r)}", None)]

    def read_paths(self) -> list[str]:
        if self.service == "appointment":
            return ["/appointments", f"/appointments/{self.existing}", f"/appointments/{_rid(self.rng)}"]
        return ["/billings", "/billings/summary?group_by=day", f"/billings/{self.existing}",
                f"/{self.existing}", f"/billings/{_rid(self.rng)}"]

    # -- categories; each returns one Case
    def bad_json(self) -> Case:
        r = self.rng
        path = r.choice(["/appointments", "/", f"/appointments/{_rid(r)}/finish", f"/{_rid(r)}"])
        if r.random() < 0.5:
            body = r.choice(BAD_JSON)
        else:  # a mutated body, never a valid start: it has no patient_id
            body = _mutate(r, json.dumps({"physician_id": PHYS, "x": "y"}).encode())
        # Malformed: 400 naming the body; still JSON after the mutation: 400
        # naming the field, or 404 for the finish of an unknown appointment.
        return Case("bad_json", self.req("POST", path, body), frozenset({400, 404}), field=ANY)

    def body_routes(self, finish_only: bool = False) -> list[tuple[str, list[str]]]:
        """(path, the body fields it reads) of the routes that take a body; a
        finish of an unknown id still reads its body first, so a bad body is
        400 there too."""
        r = self.rng
        finish = [(f"/appointments/{r.choice([self.existing, _rid(r)])}/finish", ["end_date"]),
                  (f"/{r.choice([self.existing, _rid(r)])}", ["end_date"])]
        start = [("/appointments", ["physician_id", "patient_id", "start_date"]),
                 ("/", ["physician_id", "patient_id", "start_date"])]
        return finish if finish_only else start + finish

    def duplicate_key(self) -> Case:
        """A key given twice: refused naming it, whichever value would win,
        however it is spelt (escapes are decoded first), at any depth."""
        r = self.rng
        path, fields = r.choice(self.body_routes())
        good = {"physician_id": PHYS, "patient_id": PAT, "start_date": "2024-05-01T14:00:00Z",
                "end_date": "2024-05-01T15:00:00Z"}
        members = [(f, json.dumps(good[f])) for f in fields]
        kind = r.randrange(4)
        if kind == 0:  # a field the route reads, given again (same or another value)
            key = r.choice(fields)
            again = r.choice([json.dumps(good[key]), json.dumps(_rid(r)), "null", "1",
                              json.dumps(r.choice(OPERATORS))])
            members.insert(r.randrange(len(members) + 1), (key, again))
        elif kind == 1:  # the same, the second spelt with an escape
            key = r.choice(fields)
            spelt = "".join(f"\\u{ord(c):04x}" if i == 0 or r.random() < 0.3 else c for i, c in enumerate(key))
            members.append((None, f'"{spelt}":{json.dumps(_rid(r))}'))
        elif kind == 2:  # a key nobody reads, twice
            key = r.choice(["x", "$where", "_id", "__proto__", "a.b", "é"])
            members += [(key, "1"), (key, "2")]
        else:  # twice inside a nested object or array of objects
            key = r.choice(["a", "$gt", "id"])
            inner = f'{{"{key}":1,"{key}":2}}'
            members.append(("note", r.choice([inner, f"[{{}},{inner}]", f'{{"deeper":{inner}}}'])))
        body = "{" + ",".join(m if k is None else f"{json.dumps(k)}:{m}" for k, m in members) + "}"
        return Case("duplicate_key", self.req("POST", path, body), frozenset({400}), field=key)

    def extended_json(self) -> Case:
        """MongoDB Extended JSON in a field: that field's wrong type, 400 naming it."""
        r = self.rng
        path, fields = r.choice(self.body_routes())
        body = {"physician_id": PHYS, "patient_id": PAT} if "physician_id" in fields else {}
        f = r.choice(fields)
        body[f] = r.choice(EXTENDED_JSON)
        raw = json.dumps(body)
        if r.random() < 0.2:  # "$" escaped: the same key once decoded
            raw = raw.replace('"$', '"\\u0024')
        return Case("extended_json", self.req("POST", path, raw), frozenset({400}), field=f)

    def deep_nesting(self) -> Case:
        r = self.rng
        depth = r.choice([40, 100, 1000, 10000])
        kind = r.randrange(4)
        if kind == 0:
            body = b"{\"a\":" * depth + b"1" + b"}" * depth
        elif kind == 1:
            body = b"{\"physician_id\":" + b"[" * depth + b"]" * depth + b"}"
        elif kind == 2:
            body = b"{\"a\":" + b"[" * depth  # unbalanced
        else:
            body = b"{\"a\":" + b"[{\"b\":" * (depth // 2) + b"1" + b"}]" * (depth // 2) + b"}"
        if self.service == "financial":  # no bodies there: nested JSON in a query parameter
            name = r.choice(["physician_id", "from", "cursor"])
            q = quote(body[:12000].decode(), safe="")
            return Case("deep_nesting", self.req("GET", f"/billings?{name}={q}"), frozenset({400, 413, 414, 431}),
                        field={name, None}, note=f"depth {depth}")
        path = self.rng.choice(["/appointments", "/", f"/appointments/{_rid(r)}/finish"])
        return Case("deep_nesting", self.req("POST", path, body), frozenset({400, 413}), field="body",
                    note=f"depth {depth}")

    def huge_headers(self) -> Case:
        r = self.rng
        path = r.choice(self.read_paths())
        kind = r.randrange(5)
        if kind == 0:
            hdrs = [("X-Big", "a" * 65536)]
        elif kind == 1:
            hdrs = [(f"X-H{i}", "v") for i in range(1000)]
        elif kind == 2:
            hdrs = [(f"X-H{i}", "v") for i in range(r.randint(64, 200))]
        elif kind == 3:
            hdrs = [("Cookie", "c=" + "x" * 20000)]
        else:
            hdrs = [("X-Request-Id", "r" * 17000)]
        return Case("huge_headers", self.req("GET", path, headers=hdrs), frozenset({400, 413, 414, 431}))

    def big_body(self) -> Case:
        r = self.rng
        chunked = r.random() < 0.5
        path = r.choice(["/appointments", "/", f"/appointments/{_rid(r)}/finish"]) \
            if self.service == "appointment" else r.choice(self.read_paths())
        method = "POST" if self.service == "appointment" else r.choice(["GET", "POST"])
        head = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json"]
        if self.token:
            head.append(f"Authorization: Bearer {self.token}")
        head.append("Transfer-Encoding: chunked" if chunked else f"Content-Length: {100 * 1024 * 1024}")
        raw = ("\r\n".join(head) + "\r\n\r\n").encode()
        if self.service == "appointment":
            expect = frozenset({413})
        else:
            expect = None  # a GET that takes no body is answered without reading it
        return Case("big_body", raw, expect, field="body" if expect else None, mode="stream",
                    stream_bytes=100 * 1024 * 1024, chunked=chunked)

    def invalid_utf8(self) -> Case:
        r = self.rng
        bad = r.choice([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xf8\x88\x80\x80\x80", b"\xc3", b"\xe2\x82",
                        b"\xf4\x90\x80\x80", b"\x80"])
        kind = r.randrange(4) if self.service == "appointment" else r.choice([1, 2])
        if kind == 0:
            body = b"{\"physician_id\":\"" + bad + b"\",\"patient_id\":\"" + PAT.encode() + b"\"}"
            return Case("invalid_utf8", self.req("POST", "/appointments", body), frozenset({400}), field="body")
        if kind == 1:
            base = "/appointments/" if self.service == "appointment" else r.choice(["/billings/", "/"])
            path = base.encode() + r.choice([bad, quote(bad).encode(), PHYS[:30].encode() + bad])
            return Case("invalid_utf8", self.req("GET", path), frozenset({400, 404}))
        if kind == 2:
            name = r.choice(["physician_id", "patient_id", "cursor", "status", "limit"] if self.service == "appointment"
                            else ["physician_id", "patient_id", "cursor", "from", "to", "limit"])
            val = r.choice([bad, quote(bad).encode()])
            base = "/appointments" if self.service == "appointment" else "/billings"
            return Case("invalid_utf8", self.req("GET", base.encode() + b"?" + name.encode() + b"=" + val),
                        frozenset({400}), field=name if b"%" in val else {name, None})
        body = json.dumps({"end_date": "x"}).encode().replace(b"x", bad)
        return Case("invalid_utf8", self.req("POST", f"/appointments/{self.existing}/finish", body),
                    frozenset({400}), field="body")

    def slow(self) -> Case:
        r = self.rng
        kind = r.randrange(3) if self.service == "appointment" else 0
        if kind == 0:
            head = self.req("GET", r.choice(self.read_paths()), close=False)
            return Case("slow", head, frozenset({400, 408}), mode="slow_head")
        chunked = kind == 2
        hdrs = [("Transfer-Encoding", "chunked")] if chunked else []
        raw = request("POST", "/appointments", body=b"", headers=hdrs, token=self.token, length=not chunked,
                      close=False)
        if not chunked:
            raw = raw.replace(b"Content-Length: 0", b"Content-Length: 1000")
        return Case("slow", raw, frozenset({400, 408}), field="body", mode="slow_body", chunked=chunked)

    def injection(self) -> Case:
        r = self.rng
        kind = r.randrange(5) if self.service == "appointment" else r.choice([2, 3])
        if kind == 0:  # an operator object in a field of the body
            f = r.choice(["physician_id", "patient_id", "start_date"])
            body = {"physician_id": PHYS, "patient_id": PAT}
            body[f] = r.choice(OPERATORS)
            return Case("injection", self.req("POST", r.choice(["/appointments", "/"]), json.dumps(body)),
                        frozenset({400}), field=f)
        if kind == 1:  # operator / dotted keys beside a broken required field (never a valid start)
            key = r.choice(["$where", "$set", "physician_id.$ne", "patient_id.x", "$gt", "a.b.c", "$", "_id",
                            "__proto__", "constructor", "$regex"])
            body = {key: r.choice(OPERATORS + OP_STRINGS)}
            if r.random() < 0.5:
                body["physician_id"] = PHYS  # and no patient_id
                field = "patient_id"
            else:
                body["physician_id"] = r.choice(OPERATORS + OP_STRINGS)
                body["patient_id"] = PAT
                field = "physician_id"
            return Case("injection", self.req("POST", "/appointments", json.dumps(body)), frozenset({400}),
                        field=_nul_refuses_body(body, field))
        if kind == 2:  # query parameters
            if self.service == "appointment":
                base, params, extra = "/appointments", ["physician_id", "patient_id", "cursor", "status", "limit"], ""
            elif r.random() < 0.5:
                base, params, extra = "/billings", ["physician_id", "patient_id", "cursor", "from", "to", "limit"], ""
            else:
                base, params, extra = "/billings/summary", ["group_by", "from", "to", "currency"], "&group_by=day"
            name = r.choice(params)
            val = r.choice(OP_STRINGS + [json.dumps(o) for o in OPERATORS])
            style = r.randrange(3)
            if style == 0:
                q = f"{name}={quote(val)}" + ("" if name == "group_by" else extra)
                return Case("injection", self.req("GET", f"{base}?{q}"), frozenset({400}), field=name)
            # PHP / qs style names: not parameters of the service, so ignored
            op = r.choice(["$ne", "$gt", "$where", "$regex"])
            q = (f"{name}[{op}]={quote(val)}" if style == 1 else f"{name}.{op}={quote(val)}") + extra
            return Case("injection", self.req("GET", f"{base}?{q}"), frozenset({200}))
        if kind == 3:  # in the path
            val = quote(r.choice(OP_STRINGS + [json.dumps(o) for o in OPERATORS]), safe="")
            if self.service == "appointment":
                path, field = r.choice([(f"/appointments/{val}", "id"), (f"/appointments/{val}/finish", "id")])
            else:
                path, field = f"/billings/{val}", "appointment_id"
            method = "POST" if path.endswith("finish") else "GET"
            # "." and ".." segments are resolved by civetweb, so some land on
            # another route (a list: 200; "/" with GET: 405).
            return Case("injection", self.req(method, path, b"{}" if method == "POST" else None),
                        frozenset({200, 400, 404, 405}) if method == "GET" else frozenset({400, 404, 405}),
                        field={field, None})
        # an operator in the finish body of an existing appointment
        body = {"end_date": r.choice(OPERATORS + OP_STRINGS)}
        return Case("injection", self.req("POST", f"/appointments/{self.existing}/finish", json.dumps(body)),
                    frozenset({400}), field=_nul_refuses_body(body, "end_date"))

    def bad_uuid(self) -> Case:
        r = self.rng
        v = r.choice(BAD_UUIDS)
        if self.service == "appointment":
            kind = r.randrange(3)
            if kind == 0:
                return Case("bad_uuid", self.req("GET", f"/appointments/{v}"), frozenset({200, 400, 404, 405}),
                            field={"id", None})
            if kind == 1:
                return Case("bad_uuid", self.req("POST", f"/appointments/{v}/finish", b"{}"),
                            frozenset({400, 404, 405}), field={"id", None})
            f = r.choice(["physician_id", "patient_id"])
            body = {"physician_id": PHYS, "patient_id": PAT, f: v}
            return Case("bad_uuid", self.req("POST", "/appointments", json.dumps(body)), frozenset({400}), field=f)
        kind = r.randrange(2)
        if kind == 0:
            return Case("bad_uuid", self.req("GET", f"/billings/{v}"), frozenset({200, 400, 404}),
                        field={"appointment_id", None})
        f = r.choice(["physician_id", "patient_id"])
        return Case("bad_uuid", self.req("GET", f"/billings?{f}={quote(v, safe='%')}"), frozenset({400}), field=f)

    def bad_cursor(self) -> Case:
        r = self.rng
        base = "/appointments" if self.service == "appointment" else "/billings"
        v = r.choice(BAD_UUIDS + ["", "eyJpZCI6MX0=", "0" * 36, "next", "-1"])
        if v in ("",):
            return Case("bad_cursor", self.req("GET", f"{base}?cursor="), frozenset({200, 400}))
        if v == "0" * 36:
            return Case("bad_cursor", self.req("GET", f"{base}?cursor={v}"), frozenset({400}), field="cursor")
        return Case("bad_cursor", self.req("GET", f"{base}?cursor={quote(v, safe='%')}&limit=5"),
                    frozenset({400}), field="cursor")

    def overflow(self) -> Case:
        r = self.rng
        v = r.choice(BAD_INTS)
        if self.service == "appointment" and r.random() < 0.3:
            n = r.choice([b"1e400", b"-1e400", b"99999999999999999999", b"1" * 400, b"-0", b"1e-400"])
            body = b"{\"physician_id\":" + n + b",\"patient_id\":\"" + PAT.encode() + b"\"}"
            return Case("overflow", self.req("POST", "/appointments", body), frozenset({400}),
                        field={"body", "physician_id"})
        base = "/appointments" if self.service == "appointment" else r.choice(["/billings"])
        if v == "":
            return Case("overflow", self.req("GET", f"{base}?limit="), frozenset({200, 400}),
                        field={"limit", None})
        return Case("overflow", self.req("GET", f"{base}?limit={quote(v, safe='%')}"), frozenset({400}),
                    field="limit")

    def bad_date(self) -> Case:
        r = self.rng
        v = r.choice(BAD_DATES)
        if self.service == "appointment":
            if r.random() < 0.5:  # an appointment that does not exist: 400 for the date, else 404
                body = json.dumps({"end_date": v})
                return Case("bad_date", self.req("POST", f"/appointments/{_rid(r)}/finish", body),
                            frozenset({400, 404}), field={"end_date", "id"})
            body = json.dumps({"end_date": v})
            return Case("bad_date", self.req("POST", f"/appointments/{self.existing}/finish", body),
                        frozenset({400}), field="end_date")
        name = r.choice(["from", "to"])
        base = r.choice(["/billings", "/billings/summary?group_by=physician"])
        sep = "&" if "?" in base else "?"
        return Case("bad_date", self.req("GET", f"{base}{sep}{name}={quote(v, safe='%')}"), frozenset({400}),
                    field=name)

    def wrong_method(self) -> Case:
        r = self.rng
        m = r.choice(METHODS)
        e = self.existing
        if self.service == "appointment":
            served = {"/appointments": {"GET", "POST"}, f"/appointments/{e}": {"GET"},
                      f"/appointments/{e}/finish": {"POST"}, "/healthz": {"GET"}, "/metrics": {"GET"},
                      "/openapi.json": {"GET"}, "/": {"POST"}, f"/{e}": {"POST"}}
        else:
            served = {"/billings": {"GET"}, f"/billings/{e}": {"GET"}, "/billings/summary": {"GET"},
                      "/healthz": {"GET"}, f"/{e}": {"GET"}}
        path = r.choice(sorted(served))
        ok = served[path] | ({"HEAD"} if "GET" in served[path] else set())
        if m in ok:
            m = r.choice(["PUT", "DELETE", "PATCH"])
        body = b"{}" if r.random() < 0.3 else None
        # civetweb answers 400 to methods it does not know (FOO, get, TRACE),
        # the router 405 with Allow to known ones, 404 where nothing matches.
        return Case("wrong_method", self.req(m, path, body), frozenset({400, 404, 405}))

    def content_type(self) -> Case:
        r = self.rng
        ct = r.choice(CONTENT_TYPES)
        body = r.choice([b"physician_id=x", b"<xml/>", json.dumps({"physician_id": PHYS}).encode(), b"--x--"])
        if self.service == "financial":  # no route takes a body: 405 for POST
            return Case("content_type", self.req("POST", r.choice(["/billings", "/billings/summary"]), body,
                                                 content_type=ct or None),
                        frozenset({400, 405}) if "\x00" in ct else frozenset({405}))
        path = r.choice(["/appointments", "/", f"/appointments/{_rid(r)}/finish"])
        raw = self.req("POST", path, body, content_type=ct or None)
        if "\x00" in ct:  # civetweb cuts the header at the NUL: then it is JSON, and a bad body
            return Case("content_type", raw, frozenset({400, 404, 415}))
        if not ct and path == "/":  # the compatibility route reads an untyped body as JSON: no start
            return Case("content_type", raw, frozenset({400}), field={"body", "patient_id"})
        return Case("content_type", raw, frozenset({415}), field="Content-Type")

    def chunked(self) -> Case:
        r = self.rng
        if self.service == "financial":
            raw = self.req("GET", "/billings", b"", headers=[("Transfer-Encoding", "chunked")], length=False)
            return Case("chunked", raw + chunk(b"{}") + b"0\r\n\r\n", frozenset({200}))
        kind = r.randrange(7)
        path = r.choice(["/appointments", f"/appointments/{_rid(r)}/finish"])
        head = self.req("POST", path, b"", headers=[("Transfer-Encoding", "chunked")], length=False)
        good = json.dumps({"physician_id": PHYS}).encode()  # never a valid start: no patient_id
        if kind == 0:
            data = b"".join(chunk(good[i:i + 3]) for i in range(0, len(good), 3)) + b"0\r\n\r\n"
            return Case("chunked", head + data, frozenset({400, 404}), field={"patient_id", "id"})
        if kind == 1:
            return Case("chunked", head + b"zz\r\n" + good + b"\r\n0\r\n\r\n", frozenset({400, 404}))
        if kind == 2:
            return Case("chunked", head + b"ffffffffffffffff\r\n" + good + b"\r\n0\r\n\r\n",
                        frozenset({400, 413, 404}))
        if kind == 3:
            return Case("chunked", head + b"-5\r\nabcde\r\n0\r\n\r\n", frozenset({400, 404}))
        if kind == 4:  # both Content-Length and chunked (request smuggling's favourite)
            raw = head.replace(b"Transfer-Encoding: chunked", b"Transfer-Encoding: chunked\r\nContent-Length: 4")
            return Case("chunked", raw + chunk(good) + b"0\r\n\r\n", frozenset({400, 404}))
        if kind == 5:
            raw = head.replace(b"chunked", r.choice([b"gzip, chunked", b"chunked, identity", b"xchunked",
                                                      b"CHUNKED", b"identity"]))
            return Case("chunked", raw + chunk(good) + b"0\r\n\r\n", frozenset({400, 404, 411, 413, 501}) - {501})
        data = chunk(b"{\"physician_id\":") + b"5;ext=1\r\n\"abc\r\n" + b"0\r\nX-Trailer: 1\r\n\r\n"
        return Case("chunked", head + data, frozenset({400, 404}))

    def pipelining(self) -> Case:
        r = self.rng
        n = r.randint(2, 8)
        reqs = []
        for i in range(n):
            if self.service == "appointment" and r.random() < 0.4:
                body = json.dumps({"physician_id": r.choice(BAD_UUIDS), "patient_id": PAT})
                reqs.append(self.req("POST", "/appointments", body, close=i == n - 1))
            else:
                reqs.append(self.req("GET", r.choice(self.read_paths() + ["/healthz", "/nothing"]), close=i == n - 1))
        return Case("pipelining", b"".join(reqs), frozenset({200, 400, 404}), mode="pipeline", responses=n)

    def path(self) -> Case:
        r = self.rng
        p = r.choice(PATHS)
        m = r.choice(["GET", "POST"])
        # civetweb resolves "." and ".." and "//", so some of these land on a
        # real route (GET: 200); "*" and absolute-form targets are closed
        # without an answer by civetweb itself.
        allowed = {400, 404, 405, 414, 431} | ({200} if m == "GET" else {415})
        return Case("path", self.req(m, p, b"{}" if m == "POST" else None), frozenset(allowed),
                    silent_close=p == "*" or p.startswith("http:"))

    def headers(self) -> Case:
        """Odd values of the headers the services read."""
        r = self.rng
        kind = r.randrange(4) if self.service == "appointment" else r.choice([1, 2, 3])
        if kind == 0:
            key = r.choice([b"\xff\xfe", b"x" * 201, b"", b"a b", b"\x01", b"k\x7f"])
            body = json.dumps({"physician_id": PHYS, "patient_id": PAT})
            return Case("headers", self.req("POST", "/appointments", body, headers=[(b"Idempotency-Key", key)]),
                        frozenset({400}), field={"Idempotency-Key", None})
        if kind == 1:
            v = r.choice([b"\xff" * 10, b"x" * 65, b"a b", b"../../", b"\x00", b"$where", b"{\"$gt\":\"\"}"])
            return Case("headers", self.req("GET", r.choice(self.read_paths()), headers=[(b"X-Request-Id", v)]),
                        frozenset({200, 400, 404}))
        if kind == 2:
            v = r.choice([b"00-" + b"f" * 32 + b"-" + b"f" * 16 + b"-01\xff", b"ff-" + b"1" * 32 + b"-" + b"1" * 16 + b"-01",
                          b"00-" + b"0" * 32 + b"-" + b"1" * 16 + b"-01", b"x" * 55, b"\xff" * 55])
            return Case("headers", self.req("GET", r.choice(self.read_paths()), headers=[(b"traceparent", v)]),
                        frozenset({200, 400, 404}))
        v = r.choice([b"-1", b"abc", b"99999999999999999999", b"1, 2", b" 5"])
        # A bad Content-Length on a GET: civetweb refuses some (411); the
        # others announce a body the route does not read (answered, then closed).
        return Case("headers", self.req("GET", r.choice(self.read_paths()), headers=[(b"Content-Length", v)]),
                    frozenset({200, 400, 404, 411, 413}))

    def auth(self) -> Case:
        """Only when auth is on: tokens missing, wrong, misplaced or of another scope."""
        r = self.rng
        path = r.choice(self.read_paths()) if r.random() < 0.6 or self.service == "financial" else "/appointments"
        method = "POST" if path == "/appointments" and r.random() < 0.5 else "GET"
        body = json.dumps({"physician_id": PHYS}) if method == "POST" else None
        kind = r.randrange(8)
        if kind == 0:
            return Case("auth", request(method, path, body=body), frozenset({401}))
        if kind == 1:
            tok = r.choice(["wrong-token-0123456789abcdef", TOKEN_ALL[:-1], TOKEN_ALL + "x", TOKEN_ALL.upper(),
                            "x" * 10000, "", " ", "\xff" * 20, TOKEN_ALL[::-1]])
            return Case("auth", request(method, path, body=body, token=tok), frozenset({401}))
        if kind == 2:
            return Case("auth", request(method, path, body=body, token=TOKEN_METRICS), frozenset({403}))
        if kind == 3:
            sep = "&" if "?" in path else "?"
            return Case("auth", request(method, f"{path}{sep}access_token={TOKEN_ALL}", body=body), frozenset({401}))
        if kind == 4:
            hdr = r.choice([("Authorization", f"Basic {TOKEN_ALL}"), ("Authorization", TOKEN_ALL),
                            ("Authorization", f"Token {TOKEN_ALL}"), ("X-Api-Key", TOKEN_ALL),
                            ("Cookie", f"token={TOKEN_ALL}"), ("Authorization", f"Bearer  {TOKEN_ALL}"),
                            ("Authorization", f"Bearer{TOKEN_ALL}")])
            return Case("auth", request(method, path, body=body, headers=[hdr]), frozenset({401}))
        if kind == 5:  # two Authorization headers: the first one counts
            return Case("auth", request(method, path, body=body,
                                        headers=[("Authorization", "Bearer nope-nope-nope-nope"),
                                                 ("Authorization", f"Bearer {TOKEN_ALL}")]), frozenset({401}))
        if kind == 6:
            return Case("auth", request("GET", "/metrics", token=r.choice([None, "wrong-wrong-wrong-wrong"])),
                        frozenset({401}))
        return Case("auth", request("GET", "/metrics", token=TOKEN_METRICS), frozenset({200}))

    def jwt(self) -> Case:
        """Only when auth is on: hostile and invalid JWTs (huge, deeply nested
        header or claims JSON, bad base64, wrong segment count, alg none,
        another algorithm, tampered, expired, duplicate keys): always 401."""
        r = self.rng
        path = r.choice(self.read_paths())

        def b64(data: bytes) -> str:
            return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

        def signed(header: bytes, claims: bytes, secret: bytes = JWT_SECRET) -> str:
            h, c = b64(header), b64(claims)
            return f"{h}.{c}.{b64(hmac.new(secret, f'{h}.{c}'.encode(), hashlib.sha256).digest())}"

        now = int(time.time())
        hs = b'{"alg":"HS256","typ":"JWT"}'
        good = json.dumps({"sub": "abuse", "exp": now + 600, "scope": ALL_SCOPES.replace(",", " ")}).encode()
        depth = r.choice([17, 100, 1000, 3000])
        kind = r.randrange(14)
        if kind == 0:
            tok = signed(hs, good) + "A" * r.choice([5000, 9000, 15000])  # huge
        elif kind == 1:
            tok = signed(b'{"alg":"HS256","x":' + b'{"a":' * depth + b"1" + b"}" * (depth + 1), good)
        elif kind == 2:
            tok = signed(hs, b'{"sub":"s","exp":9999999999,"x":' + b"[" * depth + b"]" * depth + b"}")
        elif kind == 3:  # bad base64: junk, padding, standard alphabet, non-canonical bits
            t = signed(hs, good)
            i = r.randrange(1, len(t) - 1)
            # Only real changes: a token with no "-" is unchanged by the
            # alphabet swap and would (rightly) be accepted.
            tok = r.choice([x for x in (t[:i] + r.choice("*=+/ %!\\") + t[i:], t + "==",
                                        t.replace("-", "+"), t.replace("_", "/"),
                                        t[:-1] + ("B" if t[-1] == "A" else "A")) if x != t])
        elif kind == 4:  # segment counts
            t = signed(hs, good)
            tok = r.choice([t.rsplit(".", 1)[0], t + ".x", "..", ".", "a.b", t.replace(".", "..")])
        elif kind == 5:  # alg none, with and without a signature
            h = b64(json.dumps({"alg": r.choice(["none", "None", "NONE", ""])}).encode())
            tok = f"{h}.{b64(good)}." + r.choice(["", b64(b"x" * 32)])
        elif kind == 6:  # another algorithm, same secret
            tok = signed(json.dumps({"alg": r.choice(["HS384", "HS512", "RS256", "ES256", "hs256"])}).encode(), good)
        elif kind == 7:  # tampered claims under a valid signature
            h, _, sig = signed(hs, good).split(".")
            tok = f"{h}.{b64(good.replace(b'abuse', b'admin'))}.{sig}"
        elif kind == 8:  # signed with another secret
            tok = signed(hs, good, b"another-secret-0123456789abcdef0123456789")
        elif kind == 9:  # expired, not yet valid, no exp, no sub
            c = r.choice([{"sub": "s", "exp": now - 3600}, {"sub": "s", "exp": now + 600, "nbf": now + 3600},
                          {"sub": "s"}, {"exp": now + 600}, {"sub": "s", "exp": "soon"}])
            tok = signed(hs, json.dumps(c).encode())
        elif kind == 10:  # duplicate keys, NUL, invalid UTF-8, not an object
            tok = signed(r.choice([b'{"alg":"HS256","alg":"none"}', hs, b'["HS256"]', b"null"]),
                         r.choice([b'{"sub":"a","sub":"b","exp":9999999999}', b'{"sub":"a\\u0000","exp":9999999999}',
                                   b'{"sub":"\xff","exp":9999999999}', b"[]", b"{"]))
        elif kind == 11:  # typ and crit
            tok = signed(r.choice([b'{"alg":"HS256","typ":"at+jwt"}', b'{"alg":"HS256","crit":["exp"]}',
                                   b'{"alg":"HS256","typ":7}']), good)
        elif kind == 12:  # random bytes in each segment
            tok = ".".join(b64(r.randbytes(r.randrange(0, 200))) for _ in range(3))
        else:  # a mutated valid token
            tok = _mutate(r, signed(hs, good).encode()).decode("latin-1")
        raw = request("GET", path, token=tok)
        # Past civetweb's 16 KiB of headers it answers itself; a mutation may break the framing.
        big_or_mutated = len(raw) > 16000 or kind == 13
        return Case("jwt", raw, frozenset({400, 401, 413, 431}) if big_or_mutated else frozenset({401}))

    CATEGORIES = ["bad_json", "duplicate_key", "extended_json", "deep_nesting", "huge_headers", "big_body",
                  "invalid_utf8", "slow", "injection", "bad_uuid", "bad_cursor", "overflow", "bad_date",
                  "wrong_method", "content_type", "chunked", "pipelining", "path", "headers", "auth", "jwt"]
    # Relative frequency: the expensive ones are rare.
    WEIGHTS = {"big_body": 0.1, "slow": 0.05, "deep_nesting": 0.5, "huge_headers": 0.5}

    def cases(self, n: int) -> list[Case]:
        cats = [c for c in self.CATEGORIES if c not in ("auth", "jwt") or self.token]
        if self.service == "financial":  # no route takes a body
            cats = [c for c in cats if c not in ("bad_json", "duplicate_key", "extended_json")]
        weights = [self.WEIGHTS.get(c, 1.0) for c in cats]
        out = [getattr(self, c)() for c in cats]  # every category at least once
        while len(out) < n:
            out.append(getattr(self, self.rng.choices(cats, weights)[0])())
        return out


def cases(service: str, n: int, seed: int, existing: str, token: str | None) -> list[Case]:
    return Generator(service, random.Random(seed), existing, token).cases(n)


# ---------------------------------------------------------------- the whole scenario

def _counts(uri: str) -> dict[str, int]:
    from harness import mongo_client
    with mongo_client(uri) as c:
        db = c.get_default_database()
        return {n: db[n].count_documents({}) for n in sorted(db.list_collection_names())}


@dataclass
class Outcome:
    reports: dict[str, Report]  # "appointment/auth-off" -> its report
    services: list  # the Service objects, stopped
    exit_codes: dict[str, int | None]
    counts_before: dict[str, int]
    counts_after: dict[str, int]
    offsets_before: dict[str, dict[int, int]]
    offsets_after: dict[str, dict[int, int]]
    existing_status: str
    seconds: float
    # The long run's extras (scenario's slow_clients and hostile_events).
    slow_reconnects: dict[str, int] = field(default_factory=dict)
    extra_failures: list[str] = field(default_factory=list)
    events: dict = field(default_factory=dict)

    def requests(self) -> int:
        return sum(r.requests for r in self.reports.values())

    def by_category(self) -> Counter:
        c: Counter = Counter()
        for r in self.reports.values():
            c.update(r.by_category)
        return c

    def server_errors(self) -> int:
        return sum(r.server_errors for r in self.reports.values())

    def failures(self) -> list[str]:
        return ([f"{k}: {f}" for k, r in self.reports.items() for f in r.failures()]
                + self.extra_failures)

    def summary(self) -> str:
        cats = ", ".join(f"{k} {v}" for k, v in sorted(self.by_category().items()))
        extras = ""
        if self.slow_reconnects:
            extras += f"; slow clients' reconnects {self.slow_reconnects}"
        if self.events:
            extras += f"; hostile events {self.events}"
        return (f"{self.requests()} requests in {self.seconds:.1f}s ({cats}); 5xx {self.server_errors()}; "
                f"check failures {len(self.failures())}; exit codes {self.exit_codes}; "
                f"documents {self.counts_before} -> {self.counts_after}; "
                f"topic offsets {sum(sum(v.values()) for v in self.offsets_before.values())} -> "
                f"{sum(sum(v.values()) for v in self.offsets_after.values())}{extras}")

    def assert_clean(self) -> None:
        fails = self.failures()
        assert not fails, f"{len(fails)} bad answers ({self.summary()}):\n" + "\n".join(fails[:60])
        assert self.server_errors() == 0, self.summary()
        assert all(c == 0 for c in self.exit_codes.values()), f"exit codes {self.exit_codes}"
        assert self.counts_after == self.counts_before, f"documents written: {self.summary()}"
        assert self.offsets_after == self.offsets_before, f"events published: {self.summary()}"
        assert self.existing_status == "started", "the appointment used by the abuse was changed"
        for svc in self.services:
            log = svc.log_text()
            for bad in ("AddressSanitizer", "LeakSanitizer", "runtime error:", "handler sent no response"):
                assert bad not in log, f"{svc.name}: {bad} in its log {svc.log_path}"


ONE_MB = 1_000_000
EVENT_TYPE = "clinic.appointment.finished.v1"
# How long an ordinary event produced after the hostile ones may take to be billed.
BILLED_WITHIN_S = 15.0


def _finished(hours: float) -> dict:
    """An appointment.finished value of a consultation of `hours` hours."""
    t0 = time.time() - 200 * 3600
    iso = lambda t: time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(t))  # noqa: E731
    return {"appointment_id": str(uuid.uuid4()), "physician_id": PHYS, "patient_id": PAT,
            "start_date": iso(t0), "end_date": iso(t0 + hours * 3600),
            "hourly_price_cents": 20000, "currency": "BRL"}


def _ce_headers(ce_type: str = EVENT_TYPE) -> dict[str, str]:
    return {"ce_specversion": "1.0", "ce_id": str(uuid.uuid4()), "ce_source": "/clinic-events/appointment",
            "ce_type": ce_type, "ce_time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "content-type": "application/json"}


def hostile_events(bootstrap: str, topic: str, fin) -> tuple[list[str], dict]:
    """Produces hostile events to partition 0 of `topic` while financial
    consumes it (fin: a financial Service on it, to read billings), then
    ordinary ones on the same partition. Returns (failures, figures): each
    hostile event must be dead-lettered once with a dlq_reason of its kind,
    and every ordinary one billed within BILLED_WITHIN_S seconds."""
    from harness import consume, end_offsets, http, produce, wait_until

    dlq = topic + ".dlq"
    before = end_offsets(bootstrap, dlq)
    huge_field = _finished(1)
    huge_field["patient_id"] = "7" * ONE_MB  # valid JSON, a 1 MB string where a UUID goes
    too_long = _finished(100)  # past MAX_CONSULTATION_HOURS (24; 48 in the harness's suites)
    hostile = [  # (name, value, ce_type, dlq_reason prefixes)
        ("1 MB not JSON", b"{" + b"x" * (ONE_MB - 1), EVENT_TYPE, ("body", "undecodable", "too_large")),
        ("1 MB JSON, huge string", json.dumps(huge_field).encode(), EVENT_TYPE, ("patient_id", "too_large")),
        ("100 h consultation", json.dumps(too_long).encode(), EVENT_TYPE, ("too_long",)),
        ("another ce_type", json.dumps(_finished(1)).encode(), "clinic.appointment.cancelled.v1", ("ce_type",)),
        ("ce_type in capitals", json.dumps(_finished(1)).encode(), EVENT_TYPE.upper(), ("ce_type",)),
    ]
    keys = {}
    for name, value, ce_type, _ in hostile:
        keys[name] = str(uuid.uuid4())
        produce(bootstrap, topic, value, key=keys[name], headers=_ce_headers(ce_type), partition=0,
                config={"message.max.bytes": 2 * ONE_MB})
    normal = [_finished(1) for _ in range(3)]
    t0 = time.monotonic()
    for ev in normal:
        produce(bootstrap, topic, json.dumps(ev), key=ev["appointment_id"], headers=_ce_headers(), partition=0)
    failures = []
    for ev in normal:
        aid = ev["appointment_id"]
        left = max(0.5, BILLED_WITHIN_S - (time.monotonic() - t0))
        try:
            wait_until(lambda: http("GET", fin.url(f"/billings/{aid}")).status == 200, left)
        except AssertionError:
            failures.append(f"ordinary event {aid} produced after the hostile ones not billed "
                            f"within {BILLED_WITHIN_S:.0f} s")
    billed_s = round(time.monotonic() - t0, 1)
    letters = consume(bootstrap, dlq, before, timeout=20, max_messages=len(hostile))
    by_key: dict = {}
    for m in letters:
        by_key.setdefault(m.key, []).append(m)
    reasons = {}
    for name, _, _, prefixes in hostile:
        got = by_key.get(keys[name], [])
        if len(got) != 1:
            failures.append(f"{name}: dead-lettered {len(got)} times, not once")
            continue
        why = got[0].headers.get("dlq_reason", "")
        reasons[name] = why[:60]
        if not why.startswith(prefixes):
            failures.append(f"{name}: dlq_reason {why!r}, expected one starting with {prefixes}")
    return failures, {"billed_within_s": billed_s, "dlq_reasons": reasons}


def scenario(start: Callable[..., object], stack, topic: str, per_target: int, seed: int,
             timeout_ms: int = 2000, slow_clients: int = 0, hostile: bool = False) -> Outcome:
    """Starts appointment and financial with auth off and with auth on (four
    processes, one database, one topic), runs `per_target` cases against each,
    then stops them with SIGTERM. `start(name, **env)` starts one service.
    slow_clients: that many connections trickling headers on each target
    while its cases run (tests/harness/slow_clients.py). hostile: after the
    cases (and their no-write checks), hostile_events while financial
    consumes."""
    from harness import end_offsets, http, insert_billing
    from harness.slow_clients import SlowClients

    env = dict(KAFKA_TOPIC=topic, KAFKA_DLQ_TOPIC=topic + ".dlq", HTTP_REQUEST_TIMEOUT_MS=timeout_ms,
               OUTBOX_RELAY_INTERVAL_MS=200)
    targets = {
        "appointment/auth-off": start("appointment", **env),
        "appointment/auth-on": start("appointment", AUTH_TOKENS=AUTH_TOKENS, HTTP_HOST="127.0.0.1",
                                     **jwt_env(stack.dir), **env),
        "financial/auth-off": start("financial", **env),
        "financial/auth-on": start("financial", AUTH_TOKENS=AUTH_TOKENS, HTTP_HOST="127.0.0.1",
                                   **jwt_env(stack.dir), **env),
    }
    a = targets["appointment/auth-off"]
    uri = a.env["MONGODB_URI"]
    r = http("POST", a.url("/appointments"), json={"physician_id": PHYS, "patient_id": PAT})
    assert r.status == 201, r
    existing_appt = r.body["id"]
    existing_bill = insert_billing(uri, PHYS, PAT)
    time.sleep(0.5)  # let the relay and consumers settle before the baseline
    counts_before = _counts(uri)
    topics = (topic, topic + ".dlq")
    offsets_before = {t: end_offsets(stack.kafka.bootstrap, t) for t in topics}

    t0 = time.monotonic()
    reports = {}
    reconnects: dict[str, int] = {}
    extra_failures: list[str] = []
    for i, (name, svc) in enumerate(targets.items()):
        service, mode = name.split("/")
        token = TOKEN_ALL if mode == "auth-on" else None
        existing = existing_appt if service == "appointment" else existing_bill
        todo = cases(service, per_target, seed + i, existing, token)
        if slow_clients:
            with SlowClients("127.0.0.1", svc.port, slow_clients) as slow:
                slow.wait_connected()
                reports[name] = run(svc.port, todo, timeout_ms)
                held = slow.connected()
                reconnects[name] = slow.reconnects
            if held < slow_clients // 2:
                extra_failures.append(f"{name}: only {held} of {slow_clients} slow clients held at the end")
        else:
            reports[name] = run(svc.port, todo, timeout_ms)
        assert svc.running(), f"{name} died during the abuse:\n{svc.log_tail()}"
    seconds = time.monotonic() - t0

    time.sleep(1.0)  # an event, if one had been triggered, would be out by now
    g = http("GET", a.url(f"/appointments/{existing_appt}"))
    counts_after = _counts(uri)
    offsets_after = {t: end_offsets(stack.kafka.bootstrap, t) for t in topics}
    events: dict = {}
    if hostile:
        fails, events = hostile_events(stack.kafka.bootstrap, topic, targets["financial/auth-off"])
        extra_failures += [f"hostile events: {f}" for f in fails]
        for name, svc in targets.items():
            assert svc.running(), f"{name} died during the hostile events:\n{svc.log_tail()}"
    exit_codes = {name: svc.stop() for name, svc in targets.items()}
    return Outcome(reports, list(targets.values()), exit_codes, counts_before, counts_after, offsets_before,
                   offsets_after, g.body.get("status") if isinstance(g.body, dict) else str(g.body), seconds,
                   reconnects, extra_failures, events)
