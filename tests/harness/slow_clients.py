"""Slow clients: connections that send their request headers one byte a
second and never finish them, reconnecting when the server cuts them off (a
slowloris). Used by tests/integration/test_slow_clients.py (50 of them) and
the bench's slow-clients step (200, slow_clients_p99_ms).

    with SlowClients("127.0.0.1", port, 50) as slow:
        slow.wait_connected()
        ...  # the normal requests whose latency is measured

Loopback only; every socket is closed when the block ends."""

from __future__ import annotations

import selectors
import socket
import threading
import time



_HEAD = b"GET /healthz HTTP/1.1\r\nHost: slow\r\nX-Slow: "


class SlowClients:
    def __init__(self, host: str, port: int, n: int, interval_s: float = 1.0):
        self.host, self.port, self.n, self.interval = host, port, n, interval_s
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._socks: dict[int, tuple[socket.socket, int]] = {}  # slot -> (socket, bytes sent)
        self._thread = threading.Thread(target=self._run, name="slow-clients", daemon=True)
        self.reconnects = 0

    def __enter__(self) -> "SlowClients":
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        with self._lock:
            for s, _ in self._socks.values():
                s.close()
            self._socks.clear()

    def connected(self) -> int:
        with self._lock:
            return len(self._socks)

    def wait_connected(self, timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while self.connected() < self.n:
            if time.monotonic() > deadline:
                raise TimeoutError(f"{self.connected()} of {self.n} slow clients connected")
            time.sleep(0.05)

    def _connect(self, slot: int) -> None:
        try:
            s = socket.create_connection((self.host, self.port), timeout=2)
            s.setblocking(False)
            s.send(_HEAD[:1])
        except OSError:
            return
        with self._lock:
            self._socks[slot] = (s, 1)

    def _run(self) -> None:
        for slot in range(self.n):
            self._connect(slot)
        sel = selectors.DefaultSelector()
        while not self._stop.is_set():
            tick = time.monotonic()
            with self._lock:
                items = list(self._socks.items())
            for slot, (s, sent) in items:
                byte = _HEAD[sent:sent + 1] or b"a"
                alive = True
                try:
                    # A closed connection shows as readable with b"" (or an
                    # error): the server cut it off, so reconnect.
                    sel.register(s, selectors.EVENT_READ)
                    ready = sel.select(0)
                    sel.unregister(s)
                    if ready and not s.recv(4096):
                        alive = False
                    else:
                        s.send(byte)
                except (BlockingIOError, InterruptedError):
                    pass
                except OSError:
                    alive = False
                if alive:
                    with self._lock:
                        if slot in self._socks:
                            self._socks[slot] = (s, sent + 1)
                else:
                    s.close()
                    with self._lock:
                        self._socks.pop(slot, None)
                    self.reconnects += 1
                    self._connect(slot)
            with self._lock:
                missing = [slot for slot in range(self.n) if slot not in self._socks]
            for slot in missing:
                self._connect(slot)
            self._stop.wait(max(0.0, self.interval - (time.monotonic() - tick)))
        sel.close()
