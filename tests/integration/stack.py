"""Test harness for the integration and end-to-end suites.

Real processes, nothing mocked: Kafka, PostgreSQL and FerretDB on it are
started through the same scripts `make run` uses (deploy/kafka/kafka.sh,
deploy/postgres/postgres.sh, deploy/ferretdb/ferretdb.sh), the services are
the built binaries (build/<name>, or $BUILD/<name>).

Helpers:     free_port, http, consume, produce, create_topic, end_offsets,
             wait_until, mongo_client, iso
Processes:   Kafka, Postgres, FerretDB, Service, Stack
Fixtures:    stack (session), dbname, service_env, start_service, topic,
             kafka_cluster (module, 3 brokers)  -- defined here and re-exported
             by conftest.py, so another test folder (tests/e2e) gets them all
             with a conftest.py of two lines (see conftest.py).

State of a test session goes to var/test/<run-id>/: kafka/, postgres/ (its
pg/ holds the cluster and postgres.log; a symlink to /var/tmp/clinic-events-pg/…
when the postgres user cannot reach var/), ferretdb/,
logs/<test>/<service>-<n>.log, stack.log (output of the start/stop scripts).
It is removed when every test passed, unless KEEP_TEST_STATE=1.
"""

from __future__ import annotations

import atexit
import itertools
import json as jsonlib
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

__all__ = [
    # helpers
    "ROOT", "api_source", "build_dir", "free_port", "free_ports", "port_open", "wait_until", "http", "Response",
    "Message", "consume", "produce", "create_topic", "end_offsets", "mongo_client",
    "iso", "metric", "wait_ready", "committed",
    # processes
    "Kafka", "Postgres", "FerretDB", "Service", "Stack", "get_stack", "shutdown_stack",
    # pytest fixtures and hooks (for `from stack import *` in a conftest.py)
    "stack", "_stack_guard", "dbname", "service_env", "start_service", "topic", "kafka_cluster",
    "pytest_runtest_makereport", "pytest_sessionfinish",
]

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
FERRETDB_SH = ROOT / "deploy" / "ferretdb" / "ferretdb.sh"
POSTGRES_SH = ROOT / "deploy" / "postgres" / "postgres.sh"
TEST_VAR = ROOT / "var" / "test"
_API_SOURCES = {"appointment": "appointment/appt_api.c", "financial": "financial/fin_api.c"}


def api_source(service: str) -> Path:
    """The C file holding the service's route table."""
    return ROOT / _API_SOURCES[service]
DEFAULT_TOPICS = "appointment.finished:6,appointment.finished.dlq:1"


def build_dir() -> Path:
    b = Path(os.environ.get("BUILD", "build"))
    return b if b.is_absolute() else ROOT / b


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

def iso(dt: "datetime") -> str:
    """An RFC 3339 UTC timestamp with second precision, as clients send them."""
    from datetime import timezone
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


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


# --------------------------------------------------------------------- HTTP

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
    service's proto/<name>.openapi.json (openapi_check.py): one the document
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
        _check_contract(method, url, status, headers_out, body, raw)
    return Response(status, headers_out, body, raw)


# Which service answers on which port: set by Service, read by http() to pick
# the OpenAPI document. Ports are never handed out twice in a session.
_SERVICE_BY_PORT: dict[int, str] = {}
# Contract violations of the running test, also those a wait_until swallowed;
# _stack_guard fails a test that passed in spite of them.
_VIOLATIONS: list[str] = []


def _check_contract(method: str, url: str, status: int, headers: dict[str, str], body: Any,
                    raw: bytes) -> None:
    import urllib.parse
    u = urllib.parse.urlsplit(url)
    name = _SERVICE_BY_PORT.get(u.port or 80) if u.hostname in ("127.0.0.1", "localhost") else None
    if name is None or not (ROOT / "proto" / f"{name}.openapi.json").is_file():
        return
    from openapi_check import ContractError, check_response
    path = u.path + (f"?{u.query}" if u.query else "")
    try:
        check_response(name, method, path or "/", status, headers, body, raw)
    except ContractError as e:
        _VIOLATIONS.append(str(e))
        raise


# --------------------------------------------------------------------- Kafka client helpers

@dataclass
class Message:
    key: str | None
    headers: dict[str, str]
    value: bytes | None
    partition: int
    offset: int
    topic: str = ""
    timestamp_ms: int | None = None

    def json(self) -> Any:
        return jsonlib.loads(self.value) if self.value is not None else None


def _decode(b: bytes | None) -> str | None:
    return None if b is None else b.decode("utf-8", errors="replace")


def _admin(bootstrap: str):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topic(bootstrap: str, name: str, partitions: int = 1, replication_factor: int = 1,
                 config: dict[str, str] | None = None, timeout: float = 30.0) -> None:
    """Create a topic (no error if it exists) and wait until it has leaders."""
    from confluent_kafka import KafkaError, KafkaException
    from confluent_kafka.admin import NewTopic
    admin = _admin(bootstrap)
    fut = admin.create_topics([NewTopic(name, partitions, replication_factor, config=config or {})],
                              operation_timeout=timeout)[name]
    try:
        fut.result(timeout)
    except KafkaException as e:
        if e.args[0].code() != KafkaError.TOPIC_ALREADY_EXISTS:
            raise

    def ready() -> bool:
        md = admin.list_topics(name, timeout=5).topics.get(name)
        return bool(md and md.error is None and len(md.partitions) == partitions
                    and all(p.leader >= 0 for p in md.partitions.values()))
    wait_until(ready, timeout, message=f"topic {name} ready")


def end_offsets(bootstrap: str, topic: str, timeout: float = 10.0) -> dict[int, int]:
    """High watermark of each partition: where the next message will land."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": f"test-{uuid.uuid4()}",
                  "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=timeout).topics[topic].partitions
        return {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1] for p in parts}
    finally:
        c.close()


def consume(bootstrap: str, topic: str, from_beginning: bool | dict[int, int] = True,
            timeout: float = 10.0, max_messages: int | None = None) -> list[Message]:
    """Read messages of `topic` without joining a consumer group.

    from_beginning: True = from the first message, False = only messages
    produced after this call, or {partition: offset} (e.g. from end_offsets()).
    Stops at `max_messages`, or after `timeout` seconds; with max_messages
    None it also stops as soon as it has read up to the end of every
    partition (so it returns what is there now, quickly).
    """
    from confluent_kafka import OFFSET_BEGINNING, OFFSET_END, Consumer, KafkaError, TopicPartition
    c = Consumer({
        "bootstrap.servers": bootstrap,
        "group.id": f"test-{uuid.uuid4()}",  # required by the client; never joined
        "enable.auto.commit": False,
        "enable.partition.eof": True,
        "fetch.wait.max.ms": 50,  # an empty partition reports its end sooner
    })
    out: list[Message] = []
    try:
        md = c.list_topics(topic, timeout=timeout).topics[topic]
        if md.error is not None:
            raise RuntimeError(f"topic {topic}: {md.error}")
        parts = sorted(md.partitions)
        if isinstance(from_beginning, dict):
            start = {p: from_beginning.get(p, OFFSET_BEGINNING) for p in parts}
        elif from_beginning:
            start = {p: OFFSET_BEGINNING for p in parts}
        else:
            # Resolve "end" now, not when the fetch starts, so nothing produced
            # right after this call is missed.
            start = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=timeout)[1]
                     for p in parts}
        c.assign([TopicPartition(topic, p, o) for p, o in start.items()])
        at_end: set[int] = set()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if max_messages is not None and len(out) >= max_messages:
                break
            if max_messages is None and len(at_end) == len(parts):
                break
            m = c.poll(min(0.2, max(0.0, deadline - time.monotonic())))
            if m is None:
                continue
            if m.error():
                if m.error().code() == KafkaError._PARTITION_EOF:
                    at_end.add(m.partition())
                    continue
                if m.error().retriable() or not m.error().fatal():
                    continue
                raise RuntimeError(f"consume {topic}: {m.error()}")
            at_end.discard(m.partition())
            ts_type, ts = m.timestamp()
            out.append(Message(
                key=_decode(m.key()),
                headers={k: _decode(v) or "" for k, v in (m.headers() or [])},
                value=m.value(), partition=m.partition(), offset=m.offset(), topic=m.topic(),
                timestamp_ms=ts if ts_type != 0 else None))
            _check_event(bootstrap, out[-1])
    finally:
        c.close()
    return out


def _check_event(bootstrap: str, m: Message) -> None:
    """An event the appointment service produced must satisfy
    proto/appointment.finished.schema.json and the CloudEvents headers
    (event_check.py): every such event a test reads is checked."""
    from event_check import EventContractError, check_event, is_producer_event
    if (bootstrap, m.topic, m.partition, m.offset) in _PRODUCED_HERE or not is_producer_event(m.headers):
        return
    try:
        check_event(m.key, m.headers, m.value, where=f"{m.topic}[{m.partition}]@{m.offset}")
    except EventContractError as e:
        _VIOLATIONS.append(str(e))
        raise


def produce(bootstrap: str, topic: str, value: bytes | str | dict | None, key: str | None = None,
            headers: dict[str, str] | None = None, partition: int | None = None,
            timeout: float = 10.0) -> tuple[int, int]:
    """Produce one message (dict values as JSON), wait for the ack; returns (partition, offset)."""
    from confluent_kafka import KafkaException, Producer
    p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True, "acks": "all"})
    if isinstance(value, dict):
        value = jsonlib.dumps(value)
    result: dict[str, Any] = {}

    def report(err: Any, msg: Any) -> None:
        result["err"], result["msg"] = err, msg

    kwargs: dict[str, Any] = {"value": value, "key": key, "on_delivery": report,
                              "headers": list((headers or {}).items())}
    if partition is not None:
        kwargs["partition"] = partition
    p.produce(topic, **kwargs)
    remaining = p.flush(timeout)
    if remaining or "msg" not in result:
        raise TimeoutError(f"produce to {topic}: no ack in {timeout}s")
    if result["err"] is not None:
        raise KafkaException(result["err"])
    _PRODUCED_HERE.add((bootstrap, topic, result["msg"].partition(), result["msg"].offset()))
    return result["msg"].partition(), result["msg"].offset()


# Messages written by produce() above: tests write malformed events on purpose,
# so consume() checks the event contract only on the others (the services').
_PRODUCED_HERE: set[tuple[str, str, int, int]] = set()


def mongo_client(uri: str, timeout_ms: int = 5000):
    """A pymongo client with short timeouts (FerretDB speaks the MongoDB protocol)."""
    import pymongo
    return pymongo.MongoClient(uri, serverSelectionTimeoutMS=timeout_ms,
                               connectTimeoutMS=timeout_ms, socketTimeoutMS=timeout_ms)


def insert_billing(uri: str, physician_id: str, patient_id: str, hours: int = 1) -> str:
    """Writes one billing straight into the database named by uri, shaped as
    financial/billing_store.c writes it (for read-only tests that need one to exist).
    Returns its appointment id."""
    from datetime import datetime, timedelta, timezone
    bid = str(uuid.uuid4())
    now = datetime.now(timezone.utc).replace(microsecond=0)
    day = now.strftime("%Y-%m-%d")
    with mongo_client(uri) as c:
        db = c.get_default_database()
        # The bucket records first, as the store notes them (common/buckets.c):
        # a uuid4 id falls in the bucket of its creation day.
        for scope, d in (("all", day), (f"physician/{physician_id}", day), ("end", day)):
            db.billing_buckets.update_one({"_id": f"{scope}/{d}"},
                                          {"$setOnInsert": {"scope": scope, "day": d}}, upsert=True)
        db.billings.insert_one({
            "_id": bid, "appointment_id": bid, "physician_id": physician_id, "patient_id": patient_id,
            "start_date": now - timedelta(hours=hours), "end_date": now, "end_day": day,
            "bucket": day, "billed_hours": hours, "hourly_price_cents": 20000,
            "total_cents": 20000 * hours, "currency": "BRL", "created_at": now})
    return bid


# --------------------------------------------------------------------- probes of a running service
# Shared by the e2e, chaos and soak suites.

def iso(dt: Any) -> str:
    """A datetime as RFC 3339 UTC to the second (what the APIs accept)."""
    from datetime import timezone
    return dt.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def metric(svc: "Service", name: str) -> float:
    """The value of a sample of the service's /metrics: `name` is its name,
    with its labels as printed if it has any ('clinic_check_up{check="kafka"}')."""
    for line in http("GET", svc.url("/metrics")).body.splitlines():
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


def committed(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """Committed offsets of a consumer group, read without joining it."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False})
    try:
        parts = c.list_topics(topic, timeout=10).topics[topic].partitions
        return {tp.partition: tp.offset
                for tp in c.committed([TopicPartition(topic, p) for p in parts], timeout=10)}
    finally:
        c.close()


# --------------------------------------------------------------------- processes

def _run_script(script: Path, args: list[str], env: dict[str, str], log: Path | None,
                timeout: float) -> str:
    proc = subprocess.run(["bash", str(script), *args], env={**os.environ, **env},
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, timeout=timeout)
    if log is not None:
        with open(log, "a") as f:
            f.write(f"$ {script.name} {' '.join(args)}  (rc {proc.returncode})\n{proc.stdout}")
    if not (proc.returncode == 0 or (proc.returncode == 3 and args[0] == "status")):
        raise RuntimeError(f"{script.name} {' '.join(args)} failed (rc {proc.returncode}):\n{proc.stdout}")
    return proc.stdout


class Kafka:
    """A local Kafka (KRaft) of 1 or 3 nodes, driven by deploy/kafka/kafka.sh.

    Data survive stop()/kill(): start() again is a restart of the same
    cluster, so "the broker is down" is a real outage. Node numbers are 1..nodes.
    """

    def __init__(self, home: Path | str, nodes: int = 1, topics: str = DEFAULT_TOPICS,
                 port: int | None = None, extra_config: str = "", script_log: Path | None = None):
        self.home = Path(home)
        self.nodes = nodes
        self.topics = topics
        # Client ports port..port+n-1, then controller ports: one block of 2n.
        self.port = port if port is not None else free_ports(2 * nodes)
        self.controller_port = self.port + nodes
        self.extra_config = extra_config
        self.script_log = script_log

    @property
    def env(self) -> dict[str, str]:
        return {"KAFKA_HOME_DIR": str(self.home), "KAFKA_NODES": str(self.nodes),
                "KAFKA_PORT": str(self.port), "KAFKA_CONTROLLER_PORT": str(self.controller_port),
                "KAFKA_TOPICS": self.topics, "KAFKA_EXTRA_CONFIG": self.extra_config}

    @property
    def bootstrap(self) -> str:
        return ",".join(f"127.0.0.1:{p}" for p in self.ports)

    @property
    def ports(self) -> list[int]:
        return [self.port + i for i in range(self.nodes)]

    def node_port(self, node: int) -> int:
        return self.port + node - 1

    def _sh(self, *args: str, timeout: float = 180) -> str:
        return _run_script(KAFKA_SH, list(args), self.env, self.script_log, timeout)

    def start(self, node: int | None = None) -> None:
        """Start every node (or one) and wait until ready with the topics created."""
        self._sh("start", *([str(node)] if node else []))

    def stop(self, node: int | None = None) -> None:
        """SIGTERM (controlled shutdown), and wait until it has exited."""
        self._sh("stop", *([str(node)] if node else []))

    def kill(self, node: int | None = None) -> None:
        """SIGKILL: a crash; the data stays."""
        self._sh("kill", *([str(node)] if node else []))

    def restart(self, node: int | None = None) -> None:
        self.stop(node)
        self.start(node)

    def wait(self) -> None:
        """Wait until all nodes are up and the topics have leaders."""
        self._sh("wait")

    def running(self, node: int | None = None) -> bool:
        return _run_script(KAFKA_SH, ["status", *([str(node)] if node else [])], self.env,
                           None, 30).count("running") == (1 if node else self.nodes)

    def create_topic(self, name: str, partitions: int = 1) -> None:
        rf = 3 if self.nodes >= 3 else 1
        create_topic(self.bootstrap, name, partitions, rf,
                     {"min.insync.replicas": "2" if rf == 3 else "1"})

    def log_tail(self, node: int = 1, lines: int = 40) -> str:
        return _tail(self.home / f"node{node}" / "logs" / "server.log", lines)


class _ScriptedServer:
    """A local server driven by one of deploy/'s start/stop/kill/status
    scripts (SCRIPT), its environment from `env`."""

    SCRIPT: Path
    SCRIPT_TIMEOUT = 60.0

    home: Path
    script_log: Path | None

    @property
    def env(self) -> dict[str, str]:
        raise NotImplementedError

    def _sh(self, *args: str, timeout: float | None = None) -> str:
        return _run_script(self.SCRIPT, list(args), self.env, self.script_log,
                           timeout if timeout is not None else self.SCRIPT_TIMEOUT)

    def start(self) -> None:
        self._sh("start")

    def stop(self) -> None:
        self._sh("stop")

    def kill(self) -> None:
        """SIGKILL: a crash; the data stay."""
        self._sh("kill")

    def restart(self) -> None:
        self.stop()
        self.start()

    def running(self) -> bool:
        return "running" in _run_script(self.SCRIPT, ["status"], self.env, None, 30)


class Postgres(_ScriptedServer):
    """A local PostgreSQL cluster (FerretDB's backend), driven by
    deploy/postgres/postgres.sh, on a free port. Data survive stop()/kill():
    start() again is a restart of the same cluster, so "PostgreSQL is down"
    is a real outage (FerretDB stays up and answers errors meanwhile)."""

    SCRIPT = POSTGRES_SH
    SCRIPT_TIMEOUT = 90.0

    def __init__(self, home: Path | str, port: int | None = None, script_log: Path | None = None):
        self.home = Path(home)
        self.port = port if port is not None else free_port()
        self.script_log = script_log

    @property
    def env(self) -> dict[str, str]:
        return {"POSTGRES_HOME_DIR": str(self.home), "POSTGRES_PORT": str(self.port)}

    def url(self, dbname: str = "ferretdb") -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{dbname}"

    # start: initdb the first time, start, wait until it accepts connections,
    # create the database and install the GIN twins; stop: fast shutdown
    # (clients disconnected, checkpoint); kill: SIGKILL of the postmaster.

    def remove(self) -> None:
        """Stop and delete the cluster, wherever it lives (also a private
        directory outside the run dir)."""
        self._sh("remove")

    def psql(self, sql: str, dbname: str = "ferretdb") -> str:
        """Runs SQL through psql (unaligned, tuples only); returns its output."""
        proc = subprocess.run([str(_pg_bin("psql")), "-X", "-qAt", "-v", "ON_ERROR_STOP=1",
                               "-d", self.url(dbname), "-c", sql],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)
        if proc.returncode != 0:
            raise RuntimeError(f"psql failed (rc {proc.returncode}): {proc.stderr}")
        return proc.stdout

    def pid(self) -> int | None:
        """The postmaster's pid while running, else None."""
        try:
            pid = int((self.home / "pg" / "data" / "postmaster.pid").read_text().split()[0])
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        except (OSError, ValueError, IndexError):
            return None
        return pid if " -D " in cmd else None

    def pids(self) -> list[int]:
        """The postmaster and its children (backends, one per FerretDB
        connection, and background workers): where PostgreSQL's CPU goes."""
        master = self.pid()
        if master is None:
            return []
        out = [master]
        for d in Path("/proc").iterdir():
            try:
                if d.name.isdigit() and int((d / "stat").read_text().rsplit(")", 1)[1].split()[1]) == master:
                    out.append(int(d.name))
            except (OSError, ValueError, IndexError):
                pass
        return out

    def log_path(self) -> Path:
        return self.home / "pg" / "postgres.log"

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.log_path(), lines)


def _pg_bin(name: str) -> Path:
    """A PostgreSQL binary by full path (Debian's are not on PATH)."""
    out = subprocess.run(["bash", "-c", f'source "{ROOT}/deploy/postgres/pgbin.sh" && pg_bindir'],
                         capture_output=True, text=True)
    if out.returncode != 0:
        raise FileNotFoundError("PostgreSQL binaries not found (run `make deps`)")
    return Path(out.stdout.strip()) / name


class FerretDB(_ScriptedServer):
    """A local FerretDB on its PostgreSQL handler, driven by
    deploy/ferretdb/ferretdb.sh; its data live in `postgres` (a Postgres), so
    they survive stop()/kill() of either."""

    SCRIPT = FERRETDB_SH

    def __init__(self, home: Path | str, postgres: Postgres, port: int | None = None,
                 script_log: Path | None = None):
        self.home = Path(home)
        self.postgres = postgres
        self.port = port if port is not None else free_port()
        self.script_log = script_log

    @property
    def env(self) -> dict[str, str]:
        return {"FERRETDB_HOME_DIR": str(self.home), "FERRETDB_PORT": str(self.port),
                "FERRETDB_POSTGRES_URL": self.postgres.url()}

    def uri(self, dbname: str = "clinic") -> str:
        return f"mongodb://127.0.0.1:{self.port}/{dbname}"

    def log_tail(self, lines: int = 40) -> str:
        return _tail(self.home / "ferretdb.log", lines)


def _tail(path: Path, lines: int) -> str:
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


class Service:
    """One of the service binaries (build/<name>) as a child process.

    The environment is os.environ plus `env` plus HTTP_PORT (a free port
    unless given). stdout and stderr go to `log_path` (appended across
    restarts); when a test fails, the tail of every log of the services it
    started is printed in the report.
    """

    instances: list["Service"] = []  # every Service created in this process, in order
    _counter = itertools.count(1)

    def __init__(self, name: str, env: dict[str, str] | None = None, binary: Path | str | None = None,
                 log_path: Path | str | None = None, port: int | None = None):
        self.name = name
        self.binary = Path(binary) if binary else build_dir() / name
        env = dict(env or {})
        self.port = int(port or env.get("HTTP_PORT") or free_port())
        env["HTTP_PORT"] = str(self.port)
        self.env = env
        n = next(Service._counter)
        self.log_path = Path(log_path) if log_path else (
            _log_root() / f"{name}-{n}.log")
        self.proc: subprocess.Popen | None = None
        Service.instances.append(self)
        _SERVICE_BY_PORT[self.port] = name

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        return self.base_url + path

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc else None

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, timeout: float = 20.0, wait_healthy: bool = True) -> "Service":
        """Start and wait until GET /healthz answers 200; fails fast if the process exits."""
        if self.running():
            raise RuntimeError(f"{self.name} already running (pid {self.pid})")
        if not os.access(self.binary, os.X_OK):
            raise FileNotFoundError(f"{self.binary} not built (run `make`)")
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with open(self.log_path, "ab") as log:
            log.write(f"=== {self.name} started {time.strftime('%H:%M:%S')} env: "
                      f"{ {k: v for k, v in self.env.items() if 'TOKEN' not in k} }\n".encode())
            log.flush()
            # Own session: a Ctrl-C on pytest must not reach the service
            # before the harness stops it; the harness always does.
            self.proc = subprocess.Popen([str(self.binary)], env={**os.environ, **self.env},
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
        if _STACK is not None:
            # For the next session to kill it if this one dies without teardown.
            with open(_STACK.dir / "service.pids", "a") as f:
                f.write(f"{self.proc.pid} {self.binary}\n")
        if wait_healthy:
            self.wait_healthy(timeout)
        return self

    def wait_healthy(self, timeout: float = 20.0) -> None:
        deadline = time.monotonic() + timeout
        last: Any = None
        while time.monotonic() < deadline:
            if not self.running():
                code = self.proc.returncode if self.proc else None
                raise RuntimeError(f"{self.name} exited with {code} before becoming healthy:\n"
                                   f"{self.log_tail()}")
            try:
                r = http("GET", self.url("/healthz"), timeout=2)
                if r.status == 200:
                    return
                last = r.status
            except OSError as e:
                last = e
            time.sleep(0.05)
        self.kill()
        raise RuntimeError(f"{self.name}: /healthz not 200 after {timeout}s (last: {last!r}):\n"
                           f"{self.log_tail()}")

    def stop(self, timeout: float = 20.0) -> int | None:
        """SIGTERM, wait, return the exit code (None if it was not started).

        A service still running after `timeout` is killed and the test fails:
        a graceful shutdown that hangs is a bug.
        """
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise AssertionError(f"{self.name} did not exit within {timeout}s of SIGTERM:\n"
                                     f"{self.log_tail()}")
        return self.proc.returncode

    def kill(self) -> int | None:
        """SIGKILL (a crash), wait, return the exit code (-9)."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.kill()
        return self.proc.wait()

    def restart(self, timeout: float = 20.0) -> "Service":
        self.stop()
        return self.start(timeout)

    def log_text(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def log_tail(self, lines: int = 60) -> str:
        return _tail(self.log_path, lines)

    def log_records(self) -> list[dict]:
        """The JSON log lines, parsed (other lines skipped)."""
        out = []
        for line in self.log_text().splitlines():
            if line.startswith("{"):
                try:
                    out.append(jsonlib.loads(line))
                except ValueError:
                    pass
        return out

    def __repr__(self) -> str:
        return f"<Service {self.name} port={self.port} pid={self.pid}>"


# --------------------------------------------------------------------- the session stack

def _log_root() -> Path:
    return (_STACK.dir if _STACK else TEST_VAR / "no-stack") / "logs" / _CURRENT_TEST


_CURRENT_TEST = "session"


class Stack:
    """One Kafka (1 node) + one PostgreSQL + one FerretDB on it for the whole
    test session, on free ports."""

    def __init__(self, run_dir: Path):
        self.dir = run_dir
        self.script_log = run_dir / "stack.log"
        self.kafka = Kafka(run_dir / "kafka", script_log=self.script_log)
        self.postgres = Postgres(run_dir / "postgres", script_log=self.script_log)
        self.ferretdb = FerretDB(run_dir / "ferretdb", self.postgres, script_log=self.script_log)
        self.extra: list[Kafka] = []  # other clusters started by fixtures, torn down with this

    def start(self) -> None:
        self.postgres.start()
        self.ferretdb.start()
        self.kafka.start()

    def ensure_running(self) -> None:
        """Bring back whatever a test left stopped, so the next test finds a working stack."""
        if not self.postgres.running():
            self.postgres.start()
        if not self.ferretdb.running():
            self.ferretdb.start()
        for k in (self.kafka, *self.extra):
            if not k.running():
                k.start()

    def teardown(self) -> None:
        for svc in Service.instances:
            if svc.running():
                svc.kill()
        for k in [*self.extra, self.kafka]:
            try:
                k.stop()
            except Exception:  # noqa: BLE001 - fall back to SIGKILL, keep tearing down
                try:
                    k.kill()
                except Exception:  # noqa: BLE001
                    pass
        for db in (self.ferretdb, self.postgres):
            try:
                db.stop()
            except Exception:  # noqa: BLE001 - fall back to SIGKILL, keep tearing down
                try:
                    db.kill()
                except Exception:  # noqa: BLE001
                    pass


_STACK: Stack | None = None
_STACK_LOCK = threading.Lock()


def _reap_abandoned_runs() -> None:
    """Kill the stacks of earlier sessions that died without tearing down
    (SIGKILL, power loss): their owner pid is gone. Keep the newest 3 of
    their dirs for post-mortems."""
    if not TEST_VAR.is_dir():
        return
    dead = []
    for d in TEST_VAR.iterdir():
        owner = d / "owner.pid"
        if not owner.is_file():
            continue
        try:
            pid = int(owner.read_text().strip())
            with open(f"/proc/{pid}/stat") as f:
                if f.read().rsplit(")", 1)[1].split()[0] != "Z":
                    continue  # alive: another session's stack
        except (ValueError, OSError):
            pass  # no such process: abandoned
        for script, sub, var in ((KAFKA_SH, "kafka", "KAFKA_HOME_DIR"),
                                 (KAFKA_SH, "kafka3", "KAFKA_HOME_DIR"),
                                 (FERRETDB_SH, "ferretdb", "FERRETDB_HOME_DIR"),
                                 (POSTGRES_SH, "postgres", "POSTGRES_HOME_DIR")):
            for home in d.glob(f"{sub}*"):
                if home.is_dir():
                    subprocess.run(["bash", str(script), "kill"], env={**os.environ, var: str(home)},
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)
        for line in (d / "service.pids").read_text().splitlines() if (d / "service.pids").exists() else []:
            pid_s, _, binary = line.partition(" ")
            try:
                with open(f"/proc/{pid_s}/cmdline", "rb") as f:
                    if binary.encode() in f.read():
                        os.kill(int(pid_s), signal.SIGKILL)
            except (OSError, ValueError):
                pass
        owner.unlink(missing_ok=True)
        dead.append(d)
    for d in sorted(dead, key=lambda p: p.stat().st_mtime)[:-3]:
        _remove_run_dir(d)


def _remove_run_dir(d: Path) -> None:
    """rm -rf of a run dir, and of the clusters it links outside (a
    PostgreSQL whose data could not live under var/, see postgres.sh)."""
    for home in d.glob("postgres*/pg"):
        if home.is_symlink():
            subprocess.run(["bash", str(POSTGRES_SH), "remove"],
                           env={**os.environ, "POSTGRES_HOME_DIR": str(home.parent)},
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=120)
    shutil.rmtree(d, ignore_errors=True)


def _sigterm(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def get_stack() -> Stack:
    """The session's stack, started on first use (one per process)."""
    global _STACK
    with _STACK_LOCK:
        if _STACK is None:
            _reap_abandoned_runs()
            run_dir = TEST_VAR / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            run_dir.mkdir(parents=True)
            (run_dir / "owner.pid").write_text(f"{os.getpid()}\n")
            st = Stack(run_dir)
            _STACK = st
            atexit.register(shutdown_stack)
            # SIGTERM would end pytest without teardown or atexit; make it a
            # Ctrl-C, which pytest turns into "stop the session, tear down".
            if (threading.current_thread() is threading.main_thread()
                    and signal.getsignal(signal.SIGTERM) == signal.SIG_DFL):
                signal.signal(signal.SIGTERM, _sigterm)
            try:
                st.start()
            except BaseException:
                shutdown_stack(keep=True)
                raise
        return _STACK


def shutdown_stack(keep: bool | None = None) -> None:
    """Stop the session's stack; remove its dir unless `keep` (default: keep
    when KEEP_TEST_STATE=1)."""
    global _STACK
    st, _STACK = _STACK, None
    if st is None:
        return
    st.teardown()
    if keep is None:
        keep = os.environ.get("KEEP_TEST_STATE") == "1"
    (st.dir / "owner.pid").unlink(missing_ok=True)
    if not keep:
        _remove_run_dir(st.dir)
    else:
        print(f"\ntest stack state kept in {st.dir}", file=sys.stderr)


# --------------------------------------------------------------------- pytest fixtures and hooks
# Re-exported by conftest.py.

def _slug(text: str, limit: int = 60) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")[:limit] or "x"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """One Kafka + one PostgreSQL + one FerretDB for the session (var/test/<run-id>/)."""
    yield get_stack()


@pytest.fixture(autouse=True)
def _stack_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    global _CURRENT_TEST
    _CURRENT_TEST = _slug(request.node.nodeid.split("::", 1)[-1], 80)
    request.node.stash[_FIRST_SERVICE] = len(Service.instances)
    _VIOLATIONS.clear()
    yield
    # Services a test left running are killed, not waited for: the test is over.
    mine = Service.instances[request.node.stash[_FIRST_SERVICE]:]
    for svc in mine:
        if svc.running():
            svc.kill()
    # Under BUILD=build/sanitize a UBSan report only prints, and an ASan report
    # of a killed process has no exit code to check: read the logs.
    for svc in mine:
        found = [m for m in SANITIZER_MARKERS if m in svc.log_text()]
        assert not found, f"{svc.name}: sanitizer report in {svc.log_path}: {found}"
    if _STACK is not None and "stack" in request.fixturenames:
        _STACK.ensure_running()
        _sweep_events(mine)
    _CURRENT_TEST = "session"
    # A contract violation raises in http()/consume(); one a wait_until or an
    # except swallowed still fails a test that otherwise passed.
    swallowed, _ = list(_VIOLATIONS), _VIOLATIONS.clear()
    if swallowed and not request.node.stash.get(_CALL_FAILED, False):
        pytest.fail("responses or events the contracts in proto/ do not describe:\n"
                    + "\n".join(swallowed[:5]), pytrace=False)


def _sweep_events(services: list[Service]) -> None:
    """Read the topics the test's appointment services wrote to, so every
    event they produced is checked against the event contract (consume()
    checks and records), also those only the financial service read."""
    from event_check import EventContractError
    targets = {(s.env.get("KAFKA_BOOTSTRAP", ""), s.env.get("KAFKA_TOPIC", "appointment.finished"))
               for s in services if s.name == "appointment" and s.env.get("KAFKA_BOOTSTRAP")}
    for bootstrap, topic_name in sorted(targets):
        try:
            consume(bootstrap, topic_name, True, timeout=10)
        except EventContractError:
            pass  # recorded in _VIOLATIONS, reported below
        except Exception:  # noqa: BLE001 - a cluster the test took down: nothing to read
            pass


_FIRST_SERVICE = pytest.StashKey[int]()
_CALL_FAILED = pytest.StashKey[bool]()
SANITIZER_MARKERS = ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:")


@pytest.fixture
def dbname(request: pytest.FixtureRequest) -> str:
    """A database name of its own for this test: tests never see each other's data."""
    return f"t_{_slug(request.node.name, 40).lower()}_{uuid.uuid4().hex[:8]}"


@pytest.fixture
def service_env(stack: Stack, dbname: str) -> dict[str, str]:
    """MONGODB_URI (this test's database) and KAFKA_BOOTSTRAP for a service."""
    return {"MONGODB_URI": stack.ferretdb.uri(dbname), "KAFKA_BOOTSTRAP": stack.kafka.bootstrap}


@pytest.fixture
def start_service(service_env: dict[str, str]) -> Callable[..., Service]:
    """start_service("appointment", KAFKA_TOPIC=..., ...) -> a started, healthy Service.

    The environment is service_env plus the keyword arguments; the service
    is killed at the end of the test if still running.
    """
    def _start(name: str, binary: Path | str | None = None, wait_healthy: bool = True,
               **env: Any) -> Service:
        svc = Service(name, {**service_env, **{k: str(v) for k, v in env.items()}}, binary=binary)
        return svc.start(wait_healthy=wait_healthy)
    return _start


@pytest.fixture
def topic(stack: Stack, request: pytest.FixtureRequest) -> str:
    """A fresh topic of 6 partitions, plus its dead-letter topic `<name>.dlq`,
    so a test's events are not read by another test's consumers."""
    name = f"test.{_slug(request.node.name, 40)}.{uuid.uuid4().hex[:8]}"
    stack.kafka.create_topic(name, 6)
    stack.kafka.create_topic(name + ".dlq", 1)
    return name


@pytest.fixture(scope="module")
def kafka_cluster(stack: Stack) -> Iterator[Kafka]:
    """A 3-broker cluster (replication factor 3, min.insync.replicas 2) for one
    test module; its nodes can be stopped/killed one by one."""
    k = Kafka(stack.dir / f"kafka3-{uuid.uuid4().hex[:6]}", nodes=3, script_log=stack.script_log)
    stack.extra.append(k)
    k.start()
    yield k
    try:
        k.stop()
    finally:
        stack.extra.remove(k)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Iterator[None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.when in ("setup", "call"):
        item.stash[_CALL_FAILED] = True
        first = item.stash.get(_FIRST_SERVICE, len(Service.instances))
        for svc in Service.instances[first:]:
            report.sections.append((f"{svc.name} log (tail of {svc.log_path})", svc.log_tail()))


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    keep = True if session.testsfailed else None  # keep the evidence of a failure
    shutdown_stack(keep=keep)
