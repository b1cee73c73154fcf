"""The processes of a test: Kafka, PostgreSQL and FerretDB on it, driven by
the same scripts `make run` uses (deploy/kafka/kafka.sh,
deploy/postgres/postgres.sh, deploy/ferretdb/ferretdb.sh), and the services,
the built binaries ($BUILD/<name>, default build/<name>). Nothing is mocked.
"""

from __future__ import annotations

import itertools
import json as jsonlib
import os
import re
import signal
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from harness import state
from harness.contracts import SERVICE_BY_PORT
from harness.http_client import http
from harness.kafka_client import create_topic
from harness.paths import FERRETDB_SH, KAFKA_SH, POSTGRES_SH, ROOT, build_dir
from harness.util import free_port, free_ports

DEFAULT_TOPICS = "appointment.finished:6,appointment.finished.dlq:1"


# --------------------------------------------------------------------- the deploy scripts

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
                 port: int | None = None, extra_config: str = "", script_log: Path | None = None,
                 extra_env: dict[str, str] | None = None):
        self.home = Path(home)
        # kafka.sh's other settings, e.g. KAFKA_SECURITY=sasl_ssl and its files
        self.extra_env = dict(extra_env or {})
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
                "KAFKA_TOPICS": self.topics, "KAFKA_EXTRA_CONFIG": self.extra_config,
                **self.extra_env}

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
        return tail(self.home / f"node{node}" / "logs" / "server.log", lines)


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
        proc = subprocess.run([str(pg_bin("psql")), "-X", "-qAt", "-v", "ON_ERROR_STOP=1",
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
        return tail(self.log_path(), lines)


def pg_bin(name: str) -> Path:
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
        return tail(self.home / "ferretdb.log", lines)


def tail(path: Path, lines: int) -> str:
    """The last `lines` lines of a (log) file, or a note that it does not exist."""
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            f.seek(max(0, f.tell() - 256 * 1024))
            text = f.read().decode("utf-8", errors="replace")
    except FileNotFoundError:
        return f"({path} does not exist)"
    return "\n".join(text.splitlines()[-lines:])


# Short timeouts, so outages are handed to the outbox relay / retried within
# seconds: the services the fixtures (appt, fin, pair) and the chaos
# scenarios start.
# The suites' consultations last up to 26 h (a billing crossing a leap day,
# the chaos scenarios' 1 min to 25 h): above MAX_CONSULTATION_HOURS' 24 h
# default, which test_consultation_length.py tests with services started
# without these settings.
APPOINTMENT_ENV = {"KAFKA_MESSAGE_TIMEOUT_MS": 3000, "OUTBOX_RELAY_INTERVAL_MS": 200,
                   "OUTBOX_RETRY_MAX_MS": 1000, "MAX_CONSULTATION_HOURS": 48}
FINANCIAL_ENV = {"KAFKA_SESSION_TIMEOUT_MS": 6000, "CONSUMER_RETRY_MAX_MS": 500,
                 "MAX_CONSULTATION_HOURS": 48}


def financial_env(topic: str, group: str | None = None) -> dict[str, Any]:
    """financial's environment on `topic`: its dead-letter topic `<topic>.dlq`,
    consumer group `group` (by default one of its own) and FINANCIAL_ENV."""
    return {**FINANCIAL_ENV, "KAFKA_TOPIC": topic, "KAFKA_DLQ_TOPIC": topic + ".dlq",
            "KAFKA_GROUP_ID": group or f"financial-{uuid.uuid4().hex[:10]}"}


def appointment_env(topic: str) -> dict[str, Any]:
    """appointment's environment on `topic`, with APPOINTMENT_ENV."""
    return {**APPOINTMENT_ENV, "KAFKA_TOPIC": topic}


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
        if name == "appointment":
            # Most tests start consultations with random ids: the registry
            # check is off unless a test turns it on (test_registry.py).
            env.setdefault("REGISTRY_CHECK", "off")
        self.port = int(port or env.get("HTTP_PORT") or free_port())
        env["HTTP_PORT"] = str(self.port)
        self.env = env
        n = next(Service._counter)
        self.log_path = Path(log_path) if log_path else (
            state.log_root() / f"{name}-{n}.log")
        self.proc: subprocess.Popen | None = None
        # Wall-clock time (time.time()) just before and just after the last
        # start spawned the process: its process_start_time_seconds is between.
        self.spawned_at: tuple[float, float] | None = None
        Service.instances.append(self)
        SERVICE_BY_PORT[self.port] = name

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
            before = time.time()
            self.proc = subprocess.Popen([str(self.binary)], env={**os.environ, **self.env},
                                         stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                                         start_new_session=True)
            self.spawned_at = (before, time.time())
        if state.stack is not None:
            # For the next session to kill it if this one dies without teardown.
            with open(state.stack.dir / "service.pids", "a") as f:
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
        return tail(self.log_path, lines)

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



# --------------------------------------------------------------------- a binary's own description

_HELP_LINE = re.compile(r"^\s+([A-Z][A-Z0-9_]*)\s+.*\(default: (.*)\)\s*$", re.M)


def help_vars(service: str, unset: str = "unset") -> dict[str, str]:
    """{VAR: default} of the variables `$BUILD/<service> --help` lists; a
    variable without a default ("unset") gets `unset`."""
    binary = build_dir() / service
    if not binary.exists():
        raise FileNotFoundError(f"{binary} is not built (run `make`)")
    out = subprocess.run([str(binary), "--help"], capture_output=True, text=True, check=True,
                         timeout=30).stdout
    found = {m.group(1): unset if m.group(2) == "unset" else m.group(2)
             for m in _HELP_LINE.finditer(out)}
    assert found, f"{service} --help lists no variables:\n{out}"
    return found
