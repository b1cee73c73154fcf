"""Abuse over HTTP, the short run of `make test` (tests/chaos/test_abuse_full.py
is the long one): about 1,000 malformed, hostile and odd requests against
appointment and financial, each with auth off and on (see tests/harness/abuse.py for the
categories). Asserts: no 5xx, every 4xx is problem+json naming the field at
fault, the right status per case, slow clients cut off within the request
timeout, a 100 MB body refused early, no process dies, each exits 0 on
SIGTERM, and nothing is written: the collections' counts and the event
topics' offsets are the same before and after."""

from __future__ import annotations

import os
import socket
import time

import pytest

from harness import abuse, http


@pytest.mark.slow
def test_abuse_short(start_service, stack, topic):
    per_target = int(os.environ.get("ABUSE_REQUESTS", "1000")) // 4
    out = abuse.scenario(start_service, stack, topic, per_target, seed=int(os.environ.get("ABUSE_SEED", "1")))
    print("\nabuse:", out.summary())
    out.assert_clean()


# ---------------------------------------------------------------- regressions of the HTTP layer's fixes

TIMEOUT_MS = 1500


@pytest.fixture
def appt_env():
    """The appt fixture's service (tests/harness/fixtures.py) with a short request timeout and 4 workers."""
    return {"HTTP_REQUEST_TIMEOUT_MS": TIMEOUT_MS, "HTTP_THREADS": 4}


def _read_all(s: socket.socket, limit: float) -> tuple[bytes, float, bool]:
    """Reads until the server closes or `limit` seconds pass; (data, seconds, closed)."""
    t0 = time.monotonic()
    data = b""
    s.settimeout(0.2)
    while time.monotonic() - t0 < limit:
        try:
            d = s.recv(65536)
        except socket.timeout:
            continue
        except OSError:
            return data, time.monotonic() - t0, True
        if not d:
            return data, time.monotonic() - t0, True
        data += d
    return data, time.monotonic() - t0, False


def test_a_body_sent_a_byte_at_a_time_is_cut_off_with_408(appt):
    """civetweb bounds each read of a body, not the body: without the
    watchdog, a byte every 200 ms kept a worker thread for ever."""
    head = (b"POST /appointments HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n")
    socks = [socket.create_connection(("127.0.0.1", appt.port)) for _ in range(4)]  # every worker thread
    for s in socks:
        s.sendall(head)
    t0 = time.monotonic()
    closed_at = {}
    while len(closed_at) < len(socks) and time.monotonic() - t0 < TIMEOUT_MS / 1000 + 5:
        for i, s in enumerate(socks):
            if i in closed_at:
                continue
            try:
                s.send(b" ")
            except OSError:
                closed_at[i] = time.monotonic() - t0
        time.sleep(0.2)
    answers = []
    for s in socks:
        data, _, _ = _read_all(s, 2)
        answers.append(data)
        s.close()
    assert len(closed_at) == len(socks), f"still open after {time.monotonic() - t0:.1f}s"
    assert max(closed_at.values()) <= TIMEOUT_MS / 1000 + 1.5, closed_at
    for a in answers:
        assert a.startswith(b"HTTP/1.1 408 "), a[:200]
        assert b"application/problem+json" in a and b'"field":"body"' in a
    # the workers are free again
    assert http("GET", appt.url("/healthz"), timeout=3).status == 200
    assert appt.stop() == 0


@pytest.mark.parametrize("head", [
    b"POST /appointments HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n",
    b"POST /appointments HTTP/1.1\r\nContent-Type: text/plain\r\nContent-Length: 104857600\r\n\r\n",
    b"POST /nothing HTTP/1.1\r\nContent-Type: application/json\r\nContent-Length: 104857600\r\n\r\n",
    b"PUT /appointments HTTP/1.1\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n",
], ids=["413", "415", "404", "405-chunked"])
def test_an_unread_body_closes_the_connection_instead_of_being_drained(appt, head):
    """Answered before its body was read, a request's connection is closed:
    civetweb used to read and discard all 100 MB (or a byte a second) first."""
    s = socket.create_connection(("127.0.0.1", appt.port))
    s.sendall(head.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nHost: x\r\n"))
    piece = b"x" * 65536
    if b"chunked" in head:
        piece = b"10000\r\n" + piece + b"\r\n"
    sent = 0
    s.settimeout(5)
    try:
        while sent < 100 * 1024 * 1024:
            sent += s.send(piece)
    except OSError:
        pass  # reset or broken pipe: the server closed
    data, _, closed = _read_all(s, 5)
    s.close()
    assert sent < 32 * 1024 * 1024, f"the server read {sent} bytes of a body it had refused"
    assert data.startswith(b"HTTP/1.1 4"), data[:100]


def test_64_header_lines_are_refused_not_truncated(appt):
    """civetweb keeps 64 header lines and drops the rest: a Content-Length
    past them made the body a request of its own."""
    hidden = b"GET /healthz HTTP/1.1\r\nHost: y\r\n\r\n"
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(70))
    s = socket.create_connection(("127.0.0.1", appt.port))
    s.sendall(b"POST /appointments HTTP/1.1\r\nHost: x\r\n" + many +
              b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(hidden) + hidden)
    data, _, _ = _read_all(s, 3)
    s.close()
    assert data.startswith(b"HTTP/1.1 431 "), data[:100]
    assert b"/problems/headers-too-large" in data
    r = http("GET", appt.url("/appointments"), headers={f"X-H{i}": "v" for i in range(40)})
    assert r.status == 200


def test_paths_are_routed_as_sent(appt):
    """With civetweb decoding paths, "%00" cut them: /appointments/%00/finish
    was routed as POST /appointments and started a consultation."""
    body = {"physician_id": abuse.PHYS, "patient_id": abuse.PAT}
    r = http("POST", appt.url("/appointments/%00/finish"), json=body)
    assert r.status == 400 and r.body["field"] == "id", r
    assert http("GET", appt.url("/docs/swagger-ui.css%00.html")).status == 404
    assert http("GET", appt.url("/appointments")).body["items"] == []
