"""Slow clients do not starve the API (issue 19, point 3).

civetweb serves a connection on one worker thread from its first byte to its
last, and a client that trickles its headers holds that thread for up to
HTTP_REQUEST_TIMEOUT_MS. With the old default of 16 threads, 16 such clients
made every other request wait for their timeout. Here 50 clients send their
headers a byte a second (and reconnect when cut off, as a slowloris does)
while a normal client makes 100 requests: each must answer, p99 under 1 s,
and the service's memory must stay bounded. `make bench` measures the same
with 200 clients (slow_clients_p99_ms)."""

from __future__ import annotations

import socket
import time
import uuid

from harness import http
from harness.slow_clients import SlowClients
from harness.util import rss_kib

SLOW_CLIENTS = 50
REQUESTS = 100


def test_50_slow_clients_do_not_starve_a_normal_request(start_service, topic):
    appt = start_service("appointment", KAFKA_TOPIC=topic)
    rss_before = rss_kib(appt.proc.pid)
    with SlowClients("127.0.0.1", appt.port, SLOW_CLIENTS) as slow:
        slow.wait_connected(timeout=10)
        latencies = []
        statuses = []
        for _ in range(REQUESTS):
            t0 = time.monotonic()
            r = http("GET", f"{appt.base_url}/appointments/{uuid.uuid4()}", timeout=10)
            latencies.append(time.monotonic() - t0)
            statuses.append(r.status)
        rss_during = rss_kib(appt.proc.pid)
        held = slow.connected()
    latencies.sort()
    p99 = latencies[int(len(latencies) * 0.99) - 1]
    print(f"\nslow clients: {SLOW_CLIENTS} held {held} connections; p50 {latencies[len(latencies) // 2] * 1000:.1f} ms, "
          f"p99 {p99 * 1000:.1f} ms, max {latencies[-1] * 1000:.1f} ms; RSS {rss_before} -> {rss_during} KiB")
    assert held >= SLOW_CLIENTS * 0.9, "the slow clients were not connected while the requests ran"
    assert set(statuses) == {404}, statuses
    assert p99 < 1.0, f"p99 {p99:.3f} s with {SLOW_CLIENTS} slow clients"
    assert rss_during - rss_before < 64 * 1024, f"RSS grew {rss_before} -> {rss_during} KiB"
    assert appt.proc.poll() is None


def test_slow_clients_are_still_cut_off_at_the_request_timeout(start_service, topic):
    """More threads must not mean a connection is held for ever: a client that
    never finishes its headers is closed within HTTP_REQUEST_TIMEOUT_MS."""
    appt = start_service("appointment", KAFKA_TOPIC=topic, HTTP_REQUEST_TIMEOUT_MS=1500)
    s = socket.create_connection(("127.0.0.1", appt.port))
    s.settimeout(0.2)
    t0 = time.monotonic()
    closed = None
    head = b"GET /healthz HTTP/1.1\r\nX-Slow: " + b"a" * 100
    i = 0
    while time.monotonic() - t0 < 8 and closed is None:
        try:
            s.send(head[i:i + 1] if i < len(head) else b"a")
            i += 1
            data = s.recv(4096)
            if not data:
                closed = time.monotonic() - t0
        except socket.timeout:
            pass
        except OSError:
            closed = time.monotonic() - t0
        time.sleep(0.3)
    s.close()
    assert closed is not None, "a client trickling its headers kept its connection 8 s"
    assert closed < 1.5 + 2.0, f"closed after {closed:.1f} s"
    assert http("GET", f"{appt.base_url}/healthz").status == 200
