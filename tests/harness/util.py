"""Small helpers with no process behind them: free ports, polling, dates,
/proc readings."""

from __future__ import annotations

import importlib.util
import random
import socket
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from types import ModuleType
from typing import Any, Callable

# --------------------------------------------------------------------- ports

# Chosen below the kernel's ephemeral range (32768+), so an outgoing
# connection cannot take a port between our check and the server's bind, and
# at random, so parallel test sessions on one machine rarely pick the same.
_PORT_LOW, _PORT_HIGH = 20000, 32000
_port_lock = threading.Lock()
_handed_out: set[int] = set()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_ports(count: int) -> int:
    """First of `count` consecutive free TCP ports on 127.0.0.1."""
    with _port_lock:
        for _ in range(2000):
            base = random.randrange(_PORT_LOW, _PORT_HIGH - count)
            ports = range(base, base + count)
            if any(p in _handed_out for p in ports):
                continue
            if all(_bindable(p) for p in ports):
                _handed_out.update(ports)
                return base
    raise RuntimeError(f"no {count} consecutive free ports in {_PORT_LOW}-{_PORT_HIGH}")


def free_port() -> int:
    """A free TCP port on 127.0.0.1 (never the same twice in one session)."""
    return free_ports(1)


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


# --------------------------------------------------------------------- waiting

def wait_until(predicate: Callable[[], Any], timeout: float = 10.0, interval: float = 0.1,
               message: str | None = None) -> Any:
    """Poll `predicate` until it returns something truthy; return that value.

    Exceptions from the predicate count as "not yet"; on timeout the last
    value or exception is in the AssertionError.
    """
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        try:
            last = predicate()
            if last:
                return last
        except Exception as e:  # noqa: BLE001 - retried until the deadline
            last = e
        if time.monotonic() >= deadline:
            what = message or getattr(predicate, "__name__", "condition")
            raise AssertionError(f"{what}: not true after {timeout}s (last: {last!r})")
        time.sleep(interval)



# --------------------------------------------------------------------- dates

def iso(dt: datetime) -> str:
    """A datetime as RFC 3339 UTC to the second, as clients send them (what
    the APIs accept)."""
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def now() -> datetime:
    """The current UTC time to the second."""
    return datetime.now(timezone.utc).replace(microsecond=0)


def ms(dt: datetime) -> int:
    """Unix time in milliseconds; a naive datetime (as pymongo returns them) is UTC."""
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


# --------------------------------------------------------------------- /proc

def rss_kib(pid: int) -> int:
    """Resident set size of a process, in KiB (VmRSS)."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


# --------------------------------------------------------------------- scripts

def load_script(path: Path, name: str) -> ModuleType:
    """A Python script that is not on the import path (deploy/*.py) as the
    module `name`, loaded from its file once."""
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod
