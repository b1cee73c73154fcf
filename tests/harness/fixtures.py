"""The pytest fixtures and hooks of the harness, registered for every suite
by tests/conftest.py.

Fixtures:  stack (session: Kafka + PostgreSQL + FerretDB, see session.py),
           dbname, service_env, start_service, topic,
           appt, appt_env, start_financial, fin, pair (the services on the
           test's topic, with processes.APPOINTMENT_ENV / FINANCIAL_ENV),
           kafka_cluster (module: 3 brokers)
Per test (autouse _stack_guard): the services a test started are killed at
its end and their logs read for sanitizer reports; a stack component a test
left stopped is started again; every event the test's appointment services
produced is read and checked against the event contract; a contract
violation a test swallowed fails it. When a test fails, the tail of the log
of every service it started is in its report.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from harness import state
from harness.contracts import VIOLATIONS
from harness.http_client import wait_ready as _wait_ready  # start_financial's argument takes the name
from harness.kafka_client import consume
from harness.processes import Kafka, Service, appointment_env, financial_env
from harness.session import Stack, get_stack, shutdown_stack

__all__ = [
    "stack", "_stack_guard", "dbname", "service_env", "start_service", "topic",
    "appt_env", "appt", "start_financial", "fin", "pair", "kafka_cluster",
    "pytest_runtest_makereport", "pytest_sessionfinish",
]

def _slug(text: str, limit: int = 60) -> str:
    return re.sub(r"[^A-Za-z0-9_]+", "_", text).strip("_")[:limit] or "x"


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    """One Kafka + one PostgreSQL + one FerretDB for the session (var/test/<run-id>/)."""
    yield get_stack()


@pytest.fixture(autouse=True)
def _stack_guard(request: pytest.FixtureRequest) -> Iterator[None]:
    state.current_test = _slug(request.node.nodeid.split("::", 1)[-1], 80)
    request.node.stash[_FIRST_SERVICE] = len(Service.instances)
    VIOLATIONS.clear()
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
    if state.stack is not None and "stack" in request.fixturenames:
        state.stack.ensure_running()
        sweep_events(mine)
    state.current_test = "session"
    # A contract violation raises in http()/consume(); one a wait_until or an
    # except swallowed still fails a test that otherwise passed.
    swallowed, _ = list(VIOLATIONS), VIOLATIONS.clear()
    if swallowed and not request.node.stash.get(_CALL_FAILED, False):
        pytest.fail("responses or events the contracts in proto/ do not describe:\n"
                    + "\n".join(swallowed[:5]), pytrace=False)


def sweep_events(services: list[Service]) -> None:
    """Read the topics the test's appointment services wrote to, so every
    event they produced is checked against the event contract (consume()
    checks and records), also those only the financial service read."""
    from harness.event_check import EventContractError
    targets = {(s.env.get("KAFKA_BOOTSTRAP", ""), s.env.get("KAFKA_TOPIC", "appointment.finished"))
               for s in services if s.name == "appointment" and s.env.get("KAFKA_BOOTSTRAP")}
    for bootstrap, topic_name in sorted(targets):
        try:
            consume(bootstrap, topic_name, True, timeout=10)
        except EventContractError:
            pass  # recorded in VIOLATIONS, reported by the guard
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


@pytest.fixture
def appt_env() -> dict[str, Any]:
    """Settings the appt fixture adds to APPOINTMENT_ENV's (or changes):
    none here; a test module that needs others overrides this fixture."""
    return {}


@pytest.fixture
def appt(start_service: Callable[..., Service], topic: str, appt_env: dict[str, Any]) -> Service:
    """The appointment service on this test's topic, with APPOINTMENT_ENV's
    short timeouts plus appt_env; healthy, svc.topic is the topic."""
    svc = start_service("appointment", **{**appointment_env(topic), **appt_env})
    svc.topic = topic
    return svc


@pytest.fixture
def start_financial(start_service: Callable[..., Service], topic: str, stack: Stack) -> Callable[..., Service]:
    """start_financial(wait_ready=True, **env) -> financial on this test's
    topic, its dead-letter topic and a consumer group of this test's own,
    with FINANCIAL_ENV's short retries plus `env`; svc.topic, svc.group and
    svc.bootstrap set. Ready (the broker reachable, the consumer in the
    group) unless wait_ready=False. Every call starts one more instance in
    the same group."""
    group = f"financial-test-{uuid.uuid4().hex[:10]}"

    def _start(wait_ready: bool = True, **env: Any) -> Service:
        svc = start_service("financial", **{**financial_env(topic, group), **env})
        svc.topic, svc.group, svc.bootstrap = topic, group, stack.kafka.bootstrap
        if wait_ready:
            _wait_ready(svc, 30)
        return svc
    return _start


@pytest.fixture
def fin(start_financial: Callable[..., Service]) -> Service:
    """financial, ready, on this test's topic (start_financial())."""
    return start_financial()


@pytest.fixture
def pair(fin: Service, appt: Service) -> tuple[Service, Service]:
    """(appt, fin): both services on this test's topic and database, both
    ready, so an appointment finished now is billed."""
    _wait_ready(appt, 30)
    return appt, fin


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
