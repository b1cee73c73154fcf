"""The session's stack: one Kafka (1 node), one PostgreSQL and one FerretDB
on it for a whole test session (or a soak, or a bench), on free ports.

State of a session goes to var/test/<run-id>/: kafka/, postgres/ (its pg/
holds the cluster and postgres.log; a symlink to /var/tmp/clinic-events-pg/...
when the postgres user cannot reach var/), ferretdb/,
logs/<test>/<service>-<n>.log, stack.log (output of the start/stop scripts),
owner.pid and service.pids (for the next session to clean up after one that
died). It is removed when every test passed, unless KEEP_TEST_STATE=1.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from harness import state
from harness.paths import FERRETDB_SH, KAFKA_SH, POSTGRES_SH, TEST_VAR
from harness.processes import FerretDB, Kafka, Postgres, Service

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
        # Brokers first, then FerretDB before the PostgreSQL under it.
        for proc in [*self.extra, self.kafka, self.ferretdb, self.postgres]:
            try:
                proc.stop()
            except Exception:  # noqa: BLE001 - fall back to SIGKILL, keep tearing down
                try:
                    proc.kill()
                except Exception:  # noqa: BLE001
                    pass


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
        remove_run_dir(d)


def remove_run_dir(d: Path) -> None:
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
    with _STACK_LOCK:
        if state.stack is None:
            _reap_abandoned_runs()
            run_dir = TEST_VAR / f"{time.strftime('%Y%m%d-%H%M%S')}-{os.getpid()}"
            run_dir.mkdir(parents=True)
            (run_dir / "owner.pid").write_text(f"{os.getpid()}\n")
            st = Stack(run_dir)
            state.stack = st
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
        return state.stack


def shutdown_stack(keep: bool | None = None) -> None:
    """Stop the session's stack; remove its dir unless `keep` (default: keep
    when KEEP_TEST_STATE=1)."""
    st, state.stack = state.stack, None
    if st is None:
        return
    st.teardown()
    if keep is None:
        keep = os.environ.get("KEEP_TEST_STATE") == "1"
    (st.dir / "owner.pid").unlink(missing_ok=True)
    if not keep:
        remove_run_dir(st.dir)
    else:
        print(f"\ntest stack state kept in {st.dir}", file=sys.stderr)
