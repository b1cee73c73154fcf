#!/usr/bin/env python3
"""make bench: throughput, latency and CPU of both services next to their
ceilings, on the local stack (Kafka + PostgreSQL + FerretDB on it).

Run by tests/bench/run.sh (which builds the C tools first), with
PYTHONPATH=tests so that the test harness (tests/harness/) imports. Starts its
own Kafka, PostgreSQL and FerretDB through the harness's classes on free ports under var/bench/run-<timestamp>/ (removed after a clean run,
kept otherwise), prints one table and writes it as JSON to
var/bench/<timestamp>.json and var/bench/latest.json ("summary": the
figures issue 11 asks for).

Steps:
  ceiling   bare civetweb (bare_http) under wrk, 16 and 64 connections
  start     POST /appointments under wrk, 16 and 64 connections; then, with
            REGISTRY_CHECK=on and the sample registry loaded (make
            load-sample's), 16 connections starting consultations between
            its physicians and patients: the check's CPU next to off
            (start_cpu_registry_ratio), its database round trips per
            start and, with loadgen's start + finish pairs over the same
            people, per consultation, next to off (not measured while the
            service has no registry)
  slow      200 clients trickle their headers a byte a second while one
            client GETs 100 times: slow_clients_p99_ms and the RSS
  pairs     start + finish pairs from loadgen with financial consuming, on
            empty collections: flat out first, then each offered rate
            (BENCH_RATES): billed pairs/s, finish -> billed latency, CPU per
            consultation of each process, database round trips, reconcile
  grown     collections seeded (mongo_raw seed, through the store functions)
            to each BENCH_PRELOAD size, pairs flat out at each; at the last
            size the list and summary latencies over HTTP, and the plan
            PostgreSQL runs for every hot query (explain): index scan or FAIL
  kafka     raw produce/consume (kafka_raw) vs the outbox relay and the
            financial consumer on the same messages
  db        the store's operations alone (mongo_raw rw)

BENCH_STEPS (all of them) runs some steps only, in this order; such a partial
run writes var/bench/<timestamp>-partial.json and leaves latest.json alone.

CPU figures are utime+stime from /proc/PID/stat (10 ms ticks), so other load
on the machine does not count; PostgreSQL's is its postmaster's (with the
cutime/cstime of the backends it has reaped) plus each live child's. Rates
and latencies do feel other load (2 cores shared by loadgen/wrk, Kafka,
PostgreSQL, FerretDB and both services).
"""

from __future__ import annotations

import http.client
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Callable
from urllib.parse import urlencode

import harness as st  # the test harness (tests/harness/)
from harness import iso, metric, ms, rss_kib
from harness.paths import ROOT
from harness.reconcile import billed_hours
from harness.registry import NO_REGISTRY, has_registry, load_sample, registry
from harness.slow_clients import SlowClients

SECONDS = float(os.environ.get("BENCH_SECONDS", "10"))
PAIRS = int(os.environ.get("BENCH_PAIRS", "5000"))
RATES = [float(r) for r in os.environ.get("BENCH_RATES", "0,200,500").split(",") if r]
PAIR_SECONDS = float(os.environ.get("BENCH_PAIR_SECONDS", "30"))
PRELOAD = sorted(int(p) for p in os.environ.get("BENCH_PRELOAD", "10000,100000").split(",")
                 if p.strip() and int(p) > 0)
SEED_THREADS = int(os.environ.get("BENCH_SEED_THREADS", "8"))
LIST_N = int(os.environ.get("BENCH_LIST_N", "50"))
LIST_SECONDS = float(os.environ.get("BENCH_LIST_SECONDS", "10"))
KAFKA_N = int(os.environ.get("BENCH_KAFKA_N", "2000"))
RELAY_N = int(os.environ.get("BENCH_RELAY_N", "500"))
DB_N = int(os.environ.get("BENCH_DB_N", "1000"))
REGISTRY_PAIRS = int(os.environ.get("BENCH_REGISTRY_PAIRS", "1000"))
# Idempotency keys the explain step gives idempotency_keys (see explain).
IDEM_KEYS = 20000
# The broker's JIT (deploy/kafka/kafka.sh's KAFKA_JIT): full (C1 then C2)
# unless set, as make run's broker, which runs for hours: the bench measures
# that broker, not the one tests start for seconds (c1). C2 compiles the hot
# paths (request metrics' histograms, produce and fetch handling) during the
# first minutes of traffic, at a CPU cost that is not the broker's steady
# state: the broker first gets this many seconds of raw produce/consume
# traffic (0: none), before any step or idle figure is taken. With 40 s the
# compiler still ran into the first steps (docs/operations.md, "Local stack
# settings").
os.environ.setdefault("KAFKA_JIT", "full")
KAFKA_WARMUP_S = float(os.environ.get("BENCH_KAFKA_WARMUP", "90"))
ALL_STEPS = ("ceiling", "start", "slow", "pairs", "grown", "kafka", "db")
SLOW_CLIENTS = int(os.environ.get("BENCH_SLOW_CLIENTS", "200"))
SLOW_REQUESTS = 100
STEPS = [x for x in os.environ.get("BENCH_STEPS", ",".join(ALL_STEPS)).split(",") if x]
CONNS = (16, 64)
LOADGEN_CONNS = 16  # = HTTP_THREADS: civetweb holds a worker per keep-alive connection
TOOLS = Path(os.environ.get("BENCH_TOOLS") or st.build_dir() / "bench")
LUA = ROOT / "tests" / "bench" / "start.lua"
OUT = ROOT / "var" / "bench"
CLK = os.sysconf("SC_CLK_TCK")
BILL_WAIT_S = 120  # longest wait for the last billing of a step

# Issue 11's targets (benchmark figures, not timed tests).
T_BILLED, T_P99_200, T_P99_500 = 800, 50, 250
T_CPU_US, T_ROUND_TRIPS, T_RATIO, T_LIST_MS = 250, 3, 4, 50
# Issue 20's: the registry check costs at most 20 % more CPU per start and no
# database round trip per consultation (beyond noise: readiness pings, the
# bench's reads of /metrics).
T_REGISTRY_RATIO, T_REGISTRY_EXTRA_TRIPS = 1.2, 0.05
RSS_TARGET_MIB = 64

# The ids mongo_raw seeds and loadgen uses (physician k, patient k).
def physician(k: int) -> str:
    return f"00000000-0000-4000-8000-{k:012d}"


def patient(k: int) -> str:
    return f"00000000-0000-4000-9000-{k:012d}"


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------- /proc

def _stat(pid: int) -> list[str]:
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def cpu_us(pid: int) -> float:
    """utime + stime of a process (all its threads), in µs."""
    s = _stat(pid)
    return (int(s[11]) + int(s[12])) * 1e6 / CLK


def family_cpu_us(master: int) -> float:
    """A process and its children: its own utime+stime, the cutime+cstime of
    the children it has reaped, and the utime+stime of each live child. The
    difference of two readings is exact across children that exit in
    between (PostgreSQL's postmaster reaps its backends at once)."""
    s = _stat(master)
    total = sum(int(s[i]) for i in (11, 12, 13, 14))
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            c = _stat(int(d))
        except (OSError, IndexError):
            continue
        if int(c[1]) == master:
            total += int(c[11]) + int(c[12])
    return total * 1e6 / CLK


def rss_mib(pid: int) -> float:
    return rss_kib(pid) / 1024


class Cpu:
    """CPU used by named meters (functions returning µs) between two readings."""

    def __init__(self, meters: dict[str, Callable[[], float]]):
        self.meters = meters
        self.t0 = {k: m() for k, m in meters.items()}

    def used(self) -> dict[str, float]:
        return {k: m() - self.t0[k] for k, m in self.meters.items()}


def pidfile(path: Path) -> int:
    return int(path.read_text().strip())


# --------------------------------------------------------------------- load tools

def wrk(url: str, conns: int, seconds: float, people: Path | None = None) -> dict[str, Any]:
    """start.lua's POSTs; with people (a file of physician<TAB>patient ids),
    spread over those pairs instead of one fixed body."""
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{max(1, int(seconds))}s", "--timeout", "5s",
           "-s", str(LUA), url]
    env = {**os.environ, "BENCH_START_PEOPLE": str(people) if people else ""}
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60, env=env)
    m = re.search(r"^BENCH (\{.*\})$", p.stdout, re.M)
    if not m:
        raise RuntimeError(f"wrk printed no summary:\n{p.stdout}\n{p.stderr}")
    r = json.loads(m.group(1))
    r["rps"] = r["requests"] / (r["duration_us"] / 1e6)
    return r


def tool(*args: Any, timeout: float = 600) -> dict[str, Any]:
    p = subprocess.run([str(TOOLS / str(args[0])), *map(str, args[1:])], capture_output=True,
                       text=True, timeout=timeout)
    if p.returncode != 0:
        raise RuntimeError(f"{args[0]} {args[1]} failed ({p.returncode}):\n{p.stdout[-2000:]}"
                           f"{p.stderr[-2000:]}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


def day_of(ms_: float) -> str:
    return datetime.fromtimestamp(ms_ / 1000, timezone.utc).strftime("%Y-%m-%d")


def v7_bound(ms_: int) -> str:
    """The largest UUIDv7 of millisecond ms_: a list cursor that starts the
    walk with the ids made before ms_ + 1 (the cursor is the last id seen)."""
    return f"{ms_ >> 16:08x}-{ms_ & 0xffff:04x}-7fff-bfff-ffffffffffff"


def plan_nodes(plan: Any) -> list[dict[str, Any]]:
    """Every node of a PostgreSQL EXPLAIN (FORMAT JSON) plan."""
    out: list[dict[str, Any]] = []
    if isinstance(plan, dict):
        if "Node Type" in plan:
            out.append(plan)
        for v in plan.values():
            out.extend(plan_nodes(v))
    elif isinstance(plan, list):
        for v in plan:
            out.extend(plan_nodes(v))
    return out


# --------------------------------------------------------------------- the bench

class Bench:
    def __init__(self) -> None:
        self.stamp = time.strftime("%Y%m%d-%H%M%S")
        self.dir = OUT / f"run-{self.stamp}"
        self.dir.mkdir(parents=True)
        self.stack = st.Stack(self.dir)
        self.services: list[st.Service] = []
        self.r: dict[str, Any] = {
            "when": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "git": subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT,
                                  capture_output=True, text=True).stdout.strip(),
            "config": {"steps": STEPS, "seconds": SECONDS, "pairs": PAIRS, "pair_seconds": PAIR_SECONDS,
                       "rates": RATES, "preload": PRELOAD, "seed_threads": SEED_THREADS,
                       "list_n": LIST_N, "list_seconds": LIST_SECONDS, "kafka_n": KAFKA_N, "relay_n": RELAY_N, "db_n": DB_N,
                       "loadgen_conns": LOADGEN_CONNS, "cores": os.cpu_count(),
                       "kafka_jit": os.environ["KAFKA_JIT"],
                       "loadavg_at_start": os.getloadavg()[0]},
        }
        self.t_start = time.monotonic()

    # ---- processes

    @property
    def fdb(self) -> st.FerretDB:
        return self.stack.ferretdb

    @property
    def kafka(self) -> st.Kafka:
        return self.stack.kafka

    def infra_meters(self) -> dict[str, Callable[[], float]]:
        fdb = pidfile(self.fdb.home / "ferretdb.pid")
        kafka = pidfile(self.kafka.home / "node1" / "kafka.pid")
        pg = self.stack.postgres.pid()
        if pg is None:
            raise RuntimeError("PostgreSQL is not running")
        return {"ferretdb": lambda: cpu_us(fdb), "postgres": lambda: family_cpu_us(pg),
                "kafka": lambda: cpu_us(kafka)}

    def service(self, name: str, db: str, **env: Any) -> st.Service:
        """A service on database db; REGISTRY_CHECK=off unless env says
        otherwise (loadgen and mongo_raw use ids no registry holds)."""
        e = {"MONGODB_URI": self.fdb.uri(db), "KAFKA_BOOTSTRAP": self.kafka.bootstrap,
             "REGISTRY_CHECK": "off", **{k: str(v) for k, v in env.items()}}
        svc = st.Service(name, e, log_path=self.dir / "logs" / f"{name}-{db}.log")
        self.services.append(svc)
        return svc.start(timeout=60)

    def stop(self, svc: st.Service) -> None:
        """SIGTERM; a service that hangs on its way out is killed and noted."""
        if not svc.running():
            return
        try:
            svc.stop(timeout=30)
        except AssertionError:
            svc.kill()
            self.r.setdefault("errors", {})[f"stop {svc.name} {svc.port}"] = \
                "did not exit within 30 s of SIGTERM (killed)"

    def step(self, name: str, fn: Any) -> None:
        """Runs one step; a failure is recorded and the bench goes on (after
        restarting FerretDB if it stopped answering)."""
        t0 = time.monotonic()
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - reported in the table and the JSON
            log(f"step {name} failed: {e!s:.300}")
            self.r.setdefault("errors", {})[name] = f"{type(e).__name__}: {e!s:.500}"
            self.revive_db(name)
        self.r.setdefault("step_seconds", {})[name] = round(time.monotonic() - t0, 1)

    def revive_db(self, name: str) -> None:
        try:
            st.mongo_client(self.fdb.uri("admin"), timeout_ms=5000).admin.command("ping")
        except Exception as e:  # noqa: BLE001
            log(f"FerretDB does not answer after step {name} ({e!s:.100}): restarting it")
            self.r.setdefault("errors", {})[f"{name}: ferretdb"] = \
                f"FerretDB did not answer a ping after the step ({e!s:.200}); restarted"
            self.fdb.kill()
            self.fdb.start()

    def mongo(self, db: str) -> Any:
        return st.mongo_client(self.fdb.uri(db), timeout_ms=120000)[db]

    # ---- steps: HTTP

    def ceiling(self) -> None:
        port = st.free_port()
        proc = subprocess.Popen([str(TOOLS / "bare_http"), str(port), "16"])
        try:
            st.wait_until(lambda: st.port_open(port), 10, message="bare_http listening")
            url = f"http://127.0.0.1:{port}/appointments"
            for c in CONNS:
                cpu = Cpu({"bare": lambda: cpu_us(proc.pid)})
                w = wrk(url, c, SECONDS)
                w["cpu_us_per_req"] = cpu.used()["bare"] / max(1, w["requests"])
                self.r[f"ceiling_c{c}"] = w
                log(f"ceiling c={c}: {w['rps']:.0f} req/s, {w['cpu_us_per_req']:.1f} µs CPU/req")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)

    def start_wrk(self, svc: st.Service, c: int, label: str,
                  people: Path | None = None) -> dict[str, Any]:
        """wrk's starts on svc with c connections: CPU per request of the
        service, FerretDB and PostgreSQL, database round trips per request."""
        cpu = Cpu({"appointment": lambda: cpu_us(svc.pid), **self.infra_meters()})
        cmds0 = metric(svc, "clinic_db_commands_total")
        w = wrk(svc.url("/appointments"), c, SECONDS, people)
        used = cpu.used()
        n = max(1, w["requests"] - w["non_2xx"])
        w["cpu_us_per_req"] = used["appointment"] / n
        w["ferretdb_cpu_us_per_req"] = used["ferretdb"] / n
        w["postgres_cpu_us_per_req"] = used["postgres"] / n
        w["db_round_trips_per_req"] = (metric(svc, "clinic_db_commands_total") - cmds0) / n
        if f"ceiling_c{c}" in self.r:
            w["ratio_to_ceiling"] = w["cpu_us_per_req"] / self.r[f"ceiling_c{c}"]["cpu_us_per_req"]
        ratio = w.get("ratio_to_ceiling")
        log(f"{label} c={c}: {w['rps']:.0f} req/s, p99 {w['p99_us'] / 1000:.1f} ms, "
            f"{w['cpu_us_per_req']:.0f} µs CPU/req "
            f"({'no ceiling measured' if ratio is None else f'{ratio:.1f}× ceiling'}), "
            f"ferretdb {w['ferretdb_cpu_us_per_req']:.0f} postgres "
            f"{w['postgres_cpu_us_per_req']:.0f} µs/req, {w['db_round_trips_per_req']:.2f} "
            f"round trips/req, non-2xx {w['non_2xx']}, timeouts {w['timeouts']}")
        return w

    def drop(self, db: str) -> None:
        """Database db gone, so that PostgreSQL's autovacuum of its tens of
        thousands of rows does not run (and count) during the next steps."""
        st.mongo_client(self.fdb.uri(db), timeout_ms=60000).drop_database(db)
        self.checkpoint()

    def people_file(self) -> Path:
        """physician_id<TAB>patient_id lines over the sample registry
        (make load-sample's): each patient once, the 60 physicians in turn.
        start.lua's BENCH_START_PEOPLE and loadgen's PEOPLE."""
        people = self.dir / "people.tsv"
        if not people.exists():
            sample = registry.sample()
            phys = [x.id for x in sample if x.kind == "physician"]
            pats = [x.id for x in sample if x.kind == "patient"]
            people.write_text("".join(f"{phys[k % len(phys)]}\t{p}\n" for k, p in enumerate(pats)))
        return people

    def consultations(self, svc: st.Service, label: str, n: int = REGISTRY_PAIRS) -> dict[str, Any]:
        """n start + finish pairs from loadgen over the sample's physicians
        and patients, on appointment alone (nothing consumes): its database
        round trips per consultation, the relay's marks included."""
        cmds0 = metric(svc, "clinic_db_commands_total")
        pub0 = metric(svc, "clinic_events_published_total")
        lg = tool("loadgen", "127.0.0.1", svc.port, n, 0, LOADGEN_CONNS,
                  PAIR_SECONDS, self.dir / f"ids-consultations-{label}.tsv", self.people_file(),
                  timeout=900)
        deadline = time.monotonic() + 30
        while (metric(svc, "clinic_events_published_total") - pub0 < lg["ok"]
               and time.monotonic() < deadline):
            time.sleep(0.05)
        lg["db_round_trips_per_pair"] = \
            (metric(svc, "clinic_db_commands_total") - cmds0) / max(1, lg["ok"])
        log(f"consultations REGISTRY_CHECK={label}: {lg['ok']} of {lg['pairs']} pairs, "
            f"{lg['db_round_trips_per_pair']:.2f} appointment round trips/pair")
        return lg

    def start_only(self) -> None:
        svc = self.service("appointment", "bench_start")
        try:
            for c in CONNS:
                self.r[f"start_c{c}"] = self.start_wrk(svc, c, "start")
            if has_registry():
                # The same requests as with the check (wrk's bodies from the
                # sample's ids), so that only the check differs.
                self.r["start_people_c16"] = self.start_wrk(svc, 16, "start over the sample's ids",
                                                            self.people_file())
                self.r["consultations_check_off"] = self.consultations(svc, "off")
        finally:
            self.stop(svc)
            self.drop("bench_start")
        self.start_registry()

    def start_registry(self) -> None:
        """Starts with REGISTRY_CHECK=on between the sample registry's
        physicians and patients (loaded as make load-sample does; 2,000
        pairs, each patient once, the 60 physicians in turn), 16
        connections: the check's cost next to the same requests with
        REGISTRY_CHECK=off (start_people_c16); then consultations over the
        same pairs, next to those of off. Before the measures, one pass of
        consultations over every pair: the check's cache starts cold, and
        that pass says what a cold one costs."""
        if not has_registry():
            self.r["start_registry"] = {"not_measured": NO_REGISTRY}
            log(f"start with REGISTRY_CHECK=on: not measured ({NO_REGISTRY})")
            return
        svc = self.service("appointment", "bench_registry", REGISTRY_CHECK="on")
        try:
            self.r["start_registry"] = load_sample(svc.base_url)
            people = self.people_file()
            self.r["consultations_check_on_cold"] = self.consultations(
                svc, "on-cold", len(people.read_text().splitlines()))
            c = CONNS[0]
            off = self.r.get(f"start_people_c{c}", self.r[f"start_c{c}"])
            w = self.start_wrk(svc, c, "start REGISTRY_CHECK=on", people)
            w["ratio_to_check_off"] = w["cpu_us_per_req"] / off["cpu_us_per_req"]
            w["extra_db_round_trips_per_req"] = (w["db_round_trips_per_req"]
                                                 - off["db_round_trips_per_req"])
            self.r[f"start_registry_c{c}"] = w
            if w["non_2xx"] or w["socket_errors"] or w["timeouts"]:
                raise RuntimeError(f"the sample's starts got {w['non_2xx']} non-2xx answers, "
                                   f"{w['socket_errors']} socket errors, {w['timeouts']} timeouts")
            lg = self.r["consultations_check_on"] = self.consultations(svc, "on")
            if lg["errors"]:
                raise RuntimeError(f"{lg['errors']} of the sample's consultations failed")
        finally:
            self.stop(svc)
            self.drop("bench_registry")

    def slow_clients(self) -> None:
        """SLOW_CLIENTS connections trickle their headers a byte a second
        (reconnecting when cut off) while one client makes SLOW_REQUESTS
        ordinary GETs, one after the other: their latency, and the service's
        RSS before and during (issue 19: p99 under 1 s with 200)."""
        svc = self.service("appointment", "bench_slow")
        try:
            rss0 = rss_kib(svc.pid)
            with SlowClients("127.0.0.1", svc.port, SLOW_CLIENTS) as slow:
                slow.wait_connected(timeout=30)
                lat = []
                for _ in range(SLOW_REQUESTS):
                    t0 = time.monotonic()
                    status = st.http("GET", svc.url(f"/appointments/{uuid.uuid4()}"), timeout=30,
                                     check_openapi=False).status
                    lat.append((time.monotonic() - t0) * 1000)
                    if status != 404:
                        raise RuntimeError(f"slow clients: a GET answered {status}")
                held, rss1 = slow.connected(), rss_kib(svc.pid)
            x = {"clients": SLOW_CLIENTS, "held": held, "requests": SLOW_REQUESTS,
                 "p50_ms": pct(lat, 50), "p99_ms": pct(lat, 99), "max_ms": max(lat),
                 "rss_mib_before": rss0 / 1024, "rss_mib_during": rss1 / 1024}
            self.r["slow_clients"] = x
            log(f"slow clients: {held} of {SLOW_CLIENTS} held, GET p50 {x['p50_ms']:.1f} ms, p99 "
                f"{x['p99_ms']:.1f} ms, RSS {x['rss_mib_before']:.1f} -> {x['rss_mib_during']:.1f} MiB")
        finally:
            self.stop(svc)

    def checkpoint(self) -> None:
        """A CHECKPOINT now, so that the dirty pages of the step before are
        not written (and counted) during the next one."""
        self.psql("CHECKPOINT")

    def psql(self, sql: str) -> None:
        pg = self.stack.postgres
        subprocess.run([str(st.pg_bin("psql")), "-X", "-qAt", "-v", "ON_ERROR_STOP=1", "-d",
                        pg.url(), "-c", sql], stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=900, check=True)

    def vacuum(self) -> None:
        """VACUUM ANALYZE of FerretDB's database after a seed: what autovacuum
        does in a clinic whose collections grew over a year, done before the
        measurement instead of during it (and fresh statistics for the plans)."""
        t0 = time.monotonic()
        self.psql("VACUUM ANALYZE")
        self.psql("CHECKPOINT")
        self.r.setdefault("vacuum_seconds", []).append(round(time.monotonic() - t0, 1))

    # ---- steps: pairs

    def pair_services(self, tag: str, topic: str | None = None) -> None:
        """appointment + financial on databases bench_<tag>_appt/_fin (and
        topic/group of their own when topic is given), warmed up."""
        self.appt_name, self.fin_name = f"bench_{tag}_appt", f"bench_{tag}_fin"
        self.appt_db, self.fin_db = self.mongo(self.appt_name), self.mongo(self.fin_name)
        self.docs = 0  # appointments in appt_db (the step's "documents")
        self.pair_tag, self.pair_topic = tag, topic
        self.start_pair_services()

    def start_pair_services(self) -> None:
        tag, topic = self.pair_tag, self.pair_topic
        env_a: dict[str, Any] = {}
        env_f: dict[str, Any] = {}
        if topic:
            for t, parts in ((topic, 6), (topic + ".dlq", 1)):
                self.kafka.create_topic(t, parts)
            env_a = {"KAFKA_TOPIC": topic}
            env_f = {"KAFKA_TOPIC": topic, "KAFKA_DLQ_TOPIC": topic + ".dlq",
                     "KAFKA_GROUP_ID": f"bench-{tag}"}
        self.appt = self.service("appointment", self.appt_name, **env_a)
        self.fin = self.service("financial", self.fin_name, **env_f)
        # Warm-up: the consumer must own its partitions before the clock runs.
        self.pairs("warmup", 20, 20)

    def stop_pair_services(self) -> None:
        for svc in (getattr(self, "appt", None), getattr(self, "fin", None)):
            if svc is not None:
                self.stop(svc)

    def idle_burn(self) -> None:
        """What both services burn with nothing to do (relay and consumer
        polls, driver heartbeats): at low rates it is much of the CPU per pair."""
        cpu = Cpu({"appointment": lambda: cpu_us(self.appt.pid),
                   "financial": lambda: cpu_us(self.fin.pid), **self.infra_meters()})
        time.sleep(5)
        self.idle_us_per_s = {k: v / 5 for k, v in cpu.used().items()}
        self.r["idle_cpu_us_per_s"] = self.idle_us_per_s

    def db_commands(self) -> float:
        return metric(self.appt, "clinic_db_commands_total") + metric(self.fin, "clinic_db_commands_total")

    def pairs(self, label: str, n: int, rate: float) -> dict[str, Any]:
        ids_file = self.dir / f"ids-{label}.tsv"
        appt_pid, fin_pid = self.appt.pid, self.fin.pid
        docs_before = self.docs
        cpu = Cpu({"appointment": lambda: cpu_us(appt_pid), "financial": lambda: cpu_us(fin_pid),
                   **self.infra_meters()})
        cmds0 = self.db_commands()
        pub0 = metric(self.appt, "clinic_events_published_total")
        created0 = metric(self.fin, "clinic_billings_created_total")
        lg = tool("loadgen", "127.0.0.1", self.appt.port, n, rate, LOADGEN_CONNS, PAIR_SECONDS,
                  ids_file, timeout=900)
        # The step ends when its last billing exists: financial counts a
        # billing once its write is acknowledged.
        deadline = time.monotonic() + BILL_WAIT_S
        while metric(self.fin, "clinic_billings_created_total") - created0 < lg["ok"]:
            if time.monotonic() > deadline:
                break
            time.sleep(0.05)
        t_end_ms = time.time() * 1000
        used = cpu.used()
        # Delivery reports are counted when the outbox thread polls them, which
        # may come after the billing: wait for them before counting re-publishes.
        deadline = time.monotonic() + 30
        while (metric(self.appt, "clinic_events_published_total") - pub0 < lg["ok"]
               and time.monotonic() < deadline):
            time.sleep(0.05)
        # (includes the pending counts of the bench's own 2 reads of appointment's /metrics)
        cmds = self.db_commands() - cmds0
        published = metric(self.appt, "clinic_events_published_total") - pub0
        created = metric(self.fin, "clinic_billings_created_total") - created0
        self.docs += lg["ok"]

        # Read back this step's documents by their day buckets (an indexed
        # equality; an $in on the ids would make FerretDB read everything).
        rows = [line.split("\t") for line in ids_file.read_text().splitlines()]
        ids = {r[0] for r in rows}
        days = sorted({day_of(lg["t0_ms"]), day_of(t_end_ms)})
        appts: dict[str, Any] = {}
        bills: dict[str, Any] = {}
        for d in days:
            for a in self.appt_db.appointments.find(
                    {"bucket": d}, {"status": 1, "start_date": 1, "end_date": 1,
                                    "price_cents": 1, "outbox.time": 1}):
                if a["_id"] in ids:
                    appts[a["_id"]] = a
            for b in self.fin_db.billings.find(
                    {"bucket": d}, {"created_at": 1, "total_cents": 1, "billed_hours": 1}):
                if b["_id"] in ids:
                    bills[b["_id"]] = b
        # Reconcile: every finished appointment of the step billed once, right.
        finished = {i: a for i, a in appts.items() if a.get("status") == "finished"}
        missing = sorted(set(finished) - set(bills))
        extra = sorted(set(bills) - set(finished))
        mismatched = []
        for i in set(finished) & set(bills):
            a, b = finished[i], bills[i]
            h = billed_hours(ms(a["start_date"]), ms(a["end_date"]))
            if int(b["billed_hours"]) != h or int(b["total_cents"]) != h * int(a["price_cents"]):
                mismatched.append(i)
        rec = {"finished": len(finished), "billed": len(set(finished) & set(bills)),
               "missing": len(missing), "extra": len(extra), "mismatched": len(mismatched),
               "missing_ids": missing[:5], "mismatched_ids": sorted(mismatched)[:5],
               "not_found": len(ids - set(appts))}
        clean = (rec["missing"] == rec["extra"] == rec["mismatched"] == rec["not_found"] == 0
                 and created == len(bills))
        lat = [ms(bills[i]["created_at"]) - ms(a["outbox"]["time"]) for i, a in finished.items()
               if i in bills and "outbox" in a]
        wall_s = max(0.001, (t_end_ms - lg["t0_ms"]) / 1000)
        last_bill_ms = max((ms(b["created_at"]) for b in bills.values()), default=t_end_ms)
        ok = max(1, lg["ok"])
        res = {
            **lg, "docs_before": docs_before, "offered_per_s": rate or None,
            "billed": len(bills), "step_seconds": wall_s,
            "billed_pairs_per_s": len(bills) / wall_s,
            # the same, ending at the last billing's created_at (stamped just
            # before its write, so slightly early) instead of when the bench saw it
            "billed_pairs_per_s_by_created_at":
                len(bills) / max(0.001, (last_bill_ms - lg["t0_ms"]) / 1000),
            "billed_p50_ms": pct(lat, 0.5), "billed_p99_ms": pct(lat, 0.99),
            "billed_max_ms": max(lat) if lat else None,
            "lost": rec["missing"], "reconcile_clean": clean, "reconcile": rec,
            "events_published": published, "events_extra": published - lg["ok"],
            "billings_created": created,
            "db_commands": cmds, "db_round_trips_per_pair": cmds / ok,
            "appointment_rss_mib": rss_mib(self.appt.pid), "financial_rss_mib": rss_mib(self.fin.pid),
        }
        for k, v in used.items():
            res[f"{k}_cpu_us_per_pair"] = v / ok
        res["services_cpu_us_per_pair"] = (res["appointment_cpu_us_per_pair"]
                                           + res["financial_cpu_us_per_pair"])
        idle = getattr(self, "idle_us_per_s", {})
        res["services_net_cpu_us_per_pair"] = (
            sum(used[k] - idle.get(k, 0) * wall_s for k in ("appointment", "financial")) / ok)
        if label != "warmup":
            log(f"pairs {label} ({docs_before} docs): {lg['finishes_per_s']:.0f} finishes/s, "
                f"billed {res['billed_pairs_per_s']:.0f} pairs/s, bill p50 {res['billed_p50_ms']} "
                f"p99 {res['billed_p99_ms']} ms, services {res['services_cpu_us_per_pair']:.0f} "
                f"ferretdb {res['ferretdb_cpu_us_per_pair']:.0f} postgres "
                f"{res['postgres_cpu_us_per_pair']:.0f} µs/pair, "
                f"{res['db_round_trips_per_pair']:.2f} round trips/pair, clean {clean}")
        return res

    def pairs_empty(self) -> None:
        """Pairs on empty collections: flat out first (0 documents), then the
        offered rates (on what the earlier steps left: a few thousand)."""
        self.pair_services("empty")
        self.idle_burn()
        for rate in RATES:
            label = f"{int(rate)}" if rate else "max"
            self.r[f"pairs_{label}"] = self.pairs(label, PAIRS, rate)
        self.stop_pair_services()

    # ---- steps: grown collections

    def seed(self, n: int) -> None:
        s = tool("mongo_raw", "seed", self.fdb.uri(self.appt_name), self.fdb.uri(self.fin_name), n,
                 SEED_THREADS, "published", timeout=3600)
        self.docs += n
        self.r.setdefault("seed", []).append(s)
        log(f"seeded {n} appointments ({s['finished']} finished, {s['started']} started) and "
            f"{s['billings']} billings in {s['seconds']:.0f} s: insert+finish "
            f"{s['insert_finish_per_s']:.0f}/s ({s['threads']} threads), marks "
            f"{s['mark_seconds']:.0f} s, billings {s['billings_per_s']:.0f}/s")

    def grown(self) -> None:
        if not PRELOAD:
            return
        self.pair_services("grown", topic="bench.grown")
        for size in PRELOAD:
            if size > self.docs:
                # Stopped meanwhile: while the seed's entries wait for their
                # published mark, the relay's claim would read them all each
                # second (its equality matches every pending entry).
                self.stop_pair_services()
                self.seed(size - self.docs)
                self.vacuum()
                self.start_pair_services()
            self.r[f"pairs_max_{self.size_label(size)}"] = self.pairs(
                f"max-{self.size_label(size)}", PAIRS, 0)
        self.size = PRELOAD[-1]
        # The pairs steps put thousands of consultations into today's bucket
        # within minutes, which no clinic does: measure the lists on the
        # seeded year as a clinic would have it, and say how many were removed.
        self.step("explain", self.explain)
        self.step("lists", lambda: (self.drop_todays_pairs(), self.lists()))
        self.stop_pair_services()

    def drop_todays_pairs(self) -> None:
        today = day_of(time.time() * 1000)
        gone = {name: db[coll].delete_many({"bucket": today}).deleted_count
                for name, db, coll in (("appointments", self.appt_db, "appointments"),
                                       ("billings", self.fin_db, "billings"))}
        self.r["bench_pairs_removed_before_lists"] = gone
        log(f"removed the bench's own consultations from today's buckets before the lists: {gone}")

    @staticmethod
    def size_label(n: int) -> str:
        return f"{n // 1000}k" if n % 1000 == 0 else str(n)

    def lists(self) -> None:
        """List and summary latencies over HTTP: LIST_N requests per shape
        (fewer if they take more than LIST_SECONDS), one at a time on one
        keep-alive connection per service."""
        now = time.time()
        today = datetime.fromtimestamp(now, timezone.utc).replace(hour=0, minute=0, second=0,
                                                                    microsecond=0)
        day = today - timedelta(days=30)
        one_day = {"from": iso(day), "to": iso(day + timedelta(days=1))}
        phys, pat = physician(7), patient(42)
        a_conn = http.client.HTTPConnection("127.0.0.1", self.appt.port, timeout=60)
        f_conn = http.client.HTTPConnection("127.0.0.1", self.fin.port, timeout=60)

        def get(conn: http.client.HTTPConnection, path: str) -> tuple[float, Any]:
            t0 = time.perf_counter()
            conn.request("GET", path)
            resp = conn.getresponse()
            body = resp.read()
            took = (time.perf_counter() - t0) * 1000
            if resp.status != 200:
                raise RuntimeError(f"GET {path}: {resp.status} {body[:200]!r}")
            return took, json.loads(body)

        first = get(a_conn, "/appointments")[1]
        past_cursor = v7_bound(int(today.timestamp() * 1000) - 1)
        shapes: list[tuple[str, http.client.HTTPConnection, str]] = [
            ("appointments, first page", a_conn, "/appointments"),
            ("appointments by physician", a_conn, f"/appointments?physician_id={phys}"),
            ("appointments by patient", a_conn, f"/appointments?patient_id={pat}"),
            ("appointments status=started", a_conn, "/appointments?status=started"),
            ("appointments status=finished", a_conn, "/appointments?status=finished"),
            ("appointments, second page (cursor)", a_conn,
             f"/appointments?cursor={first['next_cursor']}"),
            ("appointments, a page of yesterday (cursor)", a_conn,
             f"/appointments?cursor={past_cursor}"),
            ("billings, first page", f_conn, "/billings"),
            ("billings by physician", f_conn, f"/billings?physician_id={phys}"),
            ("billings by patient", f_conn, f"/billings?patient_id={pat}"),
            ("billings from/to one day", f_conn, "/billings?" + urlencode(one_day)),
            ("summary of one day by physician", f_conn,
             "/billings/summary?" + urlencode({**one_day, "group_by": "physician"})),
            ("summary of one day by day", f_conn,
             "/billings/summary?" + urlencode({**one_day, "group_by": "day"})),
        ]
        out = []
        for name, conn, path in shapes:
            times, items = [], 0
            until = time.monotonic() + LIST_SECONDS
            while len(times) < LIST_N and (len(times) < 3 or time.monotonic() < until):
                took, body = get(conn, path)
                times.append(took)
                items = len(body.get("items", body.get("groups", [])))
            row = {"shape": name, "path": path, "n": len(times), "items": items,
                   "p50_ms": pct(times, 0.5), "p99_ms": pct(times, 0.99)}
            # the one "first page / one day" figure the target is about
            row["target"] = "yesterday" not in name and "second page" not in name
            out.append(row)
            log(f"list {name}: p50 {row['p50_ms']:.1f} ms p99 {row['p99_ms']:.1f} ms "
                f"({items} items)")
        # 366 days, the longest range a summary takes (BILLING_RANGE_MAX_DAYS).
        # The first of its 3 runs stores the day and month totals; the median is a later one.
        year = {"from": iso(today - timedelta(days=365)), "to": iso(today + timedelta(days=1)),
                "group_by": "physician"}
        runs = [get(f_conn, "/billings/summary?" + urlencode(year)) for _ in range(3)]
        a_conn.close()
        f_conn.close()
        self.r["lists"] = out
        self.r["summary_year"] = {
            "path": "/billings/summary?" + urlencode(year),
            "ms": [r[0] for r in runs], "ms_median": pct([r[0] for r in runs], 0.5),
            "documents_read": runs[0][1]["count"], "groups": len(runs[0][1]["groups"])}
        # How many documents today's buckets hold: the benchmark's own pairs.
        self.r["today_bucket"] = {
            "appointments": self.appt_db.command("count", "appointments",
                                                 query={"bucket": day_of(now * 1000)})["n"],
            "a_past_day_appointments": self.appt_db.command(
                "count", "appointments", query={"bucket": day.strftime("%Y-%m-%d")})["n"]}
        log(f"summary over a year: {self.r['summary_year']['ms_median']:.0f} ms, "
            f"{self.r['summary_year']['documents_read']} billings summed (runs "
            f"{', '.join(f'{x:.0f}' for x in self.r['summary_year']['ms'])} ms); today's bucket "
            f"{self.r['today_bucket']}")

    def explain(self) -> None:
        """The PostgreSQL plan FerretDB runs for each hot query (FerretDB's
        explain returns it in queryPlanner on its PostgreSQL handler), and
        the query's time. findAndModify, update and count are explained as
        the find of the same filter: FerretDB explains find and aggregate
        only, and reads only "filter" (count's "query" is pushed down the
        same way, handler/msg_count.go)."""
        a, b = self.appt_db, self.fin_db
        # A finished consultation of the newest day that has one (today's may
        # have been removed before the lists).
        some = None
        for back in range(0, 30):
            d = day_of((time.time() - back * 86400) * 1000)
            some = a.appointments.find_one({"bucket": d, "status": "finished"})
            if some is not None:
                break
        if some is None:
            raise RuntimeError("no finished appointment in the last 30 days to explain with")
        aid, phys, pat = some["_id"], some["physician_id"], some["patient_id"]
        day = some["bucket"]
        past = (datetime.now(timezone.utc) - timedelta(days=30)).strftime("%Y-%m-%d")
        now = datetime.now(timezone.utc)
        # The service creates idempotency_keys at set-up, but the bench's
        # starts send no Idempotency-Key: on an empty table PostgreSQL plans
        # a seq scan whatever the indexes, so give it keys shaped like the
        # service's (appt_store_idem_put) before explaining its lookup.
        idem = a.idempotency_keys
        if idem.estimated_document_count() < IDEM_KEYS:
            t0 = time.perf_counter()
            idem.insert_many([{"_id": f"bench-client key-{i}", "client": "bench-client",
                               "key": f"key-{i}", "appointment_id": str(uuid.uuid4()),
                               "physician_id": phys, "patient_id": pat, "start_given": False,
                               "start_date": now, "created_at": now,
                               "day": (now - timedelta(days=i % 40)).strftime("%Y-%m-%d")}
                              for i in range(IDEM_KEYS)],
                             ordered=False)
            log(f"idempotency keys: {IDEM_KEYS} written for the explain in "
                f"{time.perf_counter() - t0:.1f} s")
        q: list[tuple[str, Any, dict[str, Any]]] = [
            ("appointment get / finish miss (by _id)", a,
             {"find": "appointments", "filter": {"_id": aid}, "limit": 1}),
            ("appointment finish (findAndModify {_id,status $in,start_date<=})", a,
             {"find": "appointments", "filter": {"_id": aid, "status": {"$in": ["started"]},
                                                 "start_date": {"$lte": now}}, "limit": 1}),
            ("appointment published mark (update {_id})", a,
             {"find": "appointments", "filter": {"_id": aid}}),
            ("appointment outbox due {outbox_pending,next_attempt_at<=}", a,
             {"find": "appointments", "filter": {"outbox_pending": True,
                                                 "outbox.next_attempt_at": {"$lte": now}},
              "sort": {"outbox.next_attempt_at": 1}, "limit": 64}),
            ("appointment outbox claim (findAndModify {_id,outbox_pending $in,next_attempt_at})", a,
             {"find": "appointments", "filter": {"_id": aid, "outbox_pending": {"$in": [True]},
                                                 "outbox.next_attempt_at": now}, "limit": 1}),
            ("appointment pending count {outbox_pending}", a,
             {"find": "appointments", "filter": {"outbox_pending": True}}),
            ("appointment bucket walk {bucket}", a,
             {"find": "appointments", "filter": {"bucket": past}, "sort": {"_id": -1},
              "limit": 21}),
            ("appointment bucket walk {physician_id,bucket}", a,
             {"find": "appointments", "filter": {"physician_id": phys, "bucket": past},
              "sort": {"_id": -1}, "limit": 21}),
            ("appointment list by patient {patient_id}", a,
             {"find": "appointments", "filter": {"patient_id": pat}, "sort": {"_id": -1},
              "limit": 21}),
            ("appointment list started {status}", a,
             {"find": "appointments", "filter": {"status": "started"}, "sort": {"_id": -1},
              "limit": 21}),
            ("appointment records {scope}", a,
             {"find": "appointment_buckets", "filter": {"scope": "all"},
              "projection": {"day": 1}}),
            ("appointment record note (upsert {_id})", a,
             {"find": "appointment_buckets", "filter": {"_id": f"all/{day}"}}),
            ("billing insert (duplicate check) / get (by _id)", b,
             {"find": "billings", "filter": {"_id": aid}, "limit": 1}),
            ("billing bucket walk {bucket}", b,
             {"find": "billings", "filter": {"bucket": past}, "sort": {"_id": -1}, "limit": 21}),
            ("billing list by patient {patient_id}", b,
             {"find": "billings", "filter": {"patient_id": pat}, "sort": {"_id": -1},
              "limit": 21}),
            ("billing end day {end_day,currency} (summary, ranges)", b,
             {"find": "billings", "filter": {"end_day": past, "currency": "BRL"},
              "projection": {"physician_id": 1, "total_cents": 1}}),
            ("billing records {scope}", b,
             {"find": "billing_buckets", "filter": {"scope": "end"}, "projection": {"day": 1}}),
            ("billing record note (upsert {_id})", b,
             {"find": "billing_buckets", "filter": {"_id": f"end/{day}"}}),
        ]
        q.insert(1, ("appointment idempotency key (by _id)", a,
                     {"find": "idempotency_keys", "filter": {"_id": "bench-client key-7"},
                      "limit": 1}))
        # The expiry sweep's deleteMany({day}), explained as the find of its
        # filter: served by the day index's GIN twin.
        q.insert(2, ("appointment idempotency expiry (deleteMany {day})", a,
                     {"find": "idempotency_keys", "filter": {"day": past}}))
        out = []
        for name, db, cmd in q:
            row: dict[str, Any] = {"query": name, "command": json.dumps(cmd, default=str)}
            try:
                plan = db.command("explain", cmd, verbosity="queryPlanner")
                nodes = plan_nodes(plan.get("queryPlanner", {}))
                idx = sorted({n["Index Name"] for n in nodes if "Index Name" in n})
                types = [n["Node Type"] for n in nodes]
                # Any index scan is a GIN's: FerretDB pushes down only @>, which
                # a btree cannot serve (a twin "<...>_gin", or a GIN in place of
                # a non-unique btree under FerretDB's own index name).
                gin_scan = any(n["Node Type"] in ("Bitmap Index Scan", "Index Scan",
                                                  "Index Only Scan")
                               and n.get("Index Name") for n in nodes)
                seq = "Seq Scan" in types
                took = []
                for _ in range(5):
                    t0 = time.perf_counter()
                    db.command(dict(cmd))
                    took.append((time.perf_counter() - t0) * 1000)
                row.update({"ok": gin_scan and not seq, "nodes": types, "indexes": idx,
                            "pushdown": plan.get("filterPushdown"), "ms": pct(took, 0.5),
                            "plan": plan.get("queryPlanner")})
            except Exception as e:  # noqa: BLE001 - a FAIL row, not a crash
                row.update({"ok": False, "error": f"{type(e).__name__}: {e!s:.200}"})
            out.append(row)
            log(f"explain {name}: {'index scan' if row['ok'] else 'FAIL'} "
                f"{row.get('nodes', row.get('error'))} {row.get('indexes', '')}")
        self.r["queries"] = out

    def warm_broker(self) -> None:
        """What a broker that has run for a while has: its hot paths compiled
        by C2 (KAFKA_JIT=full), so that the steps measure that broker and not
        the compiler."""
        if os.environ["KAFKA_JIT"] != "full" or KAFKA_WARMUP_S <= 0:
            return
        t0, rounds = time.monotonic(), 0
        self.kafka.create_topic("bench.warmup", 6)
        while time.monotonic() - t0 < KAFKA_WARMUP_S:
            # each round appends N and reads the topic's first N (a fresh group)
            tool("kafka_raw", "produce", self.kafka.bootstrap, "bench.warmup", KAFKA_N * 10)
            tool("kafka_raw", "consume", self.kafka.bootstrap, "bench.warmup", KAFKA_N * 10)
            rounds += 1
        self.r["kafka_warmup_seconds"] = round(time.monotonic() - t0, 1)
        log(f"broker warmed up (C2): {rounds} rounds of {KAFKA_N * 10} events in "
            f"{self.r['kafka_warmup_seconds']} s")

    # ---- steps: Kafka paths

    def kafka_paths(self) -> None:
        n = KAFKA_N
        for t in ("bench.raw", "bench.raw.dlq", "bench.relay"):
            self.kafka.create_topic(t, 1 if t.endswith(".dlq") else 6)
        self.r["kafka_raw_produce"] = tool("kafka_raw", "produce", self.kafka.bootstrap, "bench.raw", n)
        self.r["kafka_raw_consume"] = tool("kafka_raw", "consume", self.kafka.bootstrap, "bench.raw", n)
        log(f"kafka raw: produce {self.r['kafka_raw_produce']['per_s']:.0f}/s, "
            f"consume {self.r['kafka_raw_consume']['per_s']:.0f}/s")

        # financial's consumer on the same messages, in a group and database of its own.
        fin = self.service("financial", "bench_consume", KAFKA_TOPIC="bench.raw",
                           KAFKA_DLQ_TOPIC="bench.raw.dlq", KAFKA_GROUP_ID="bench-consume")
        db = self.mongo("bench_consume")
        cpu = Cpu({"financial": lambda: cpu_us(fin.pid)})
        # From the first billing seen to the last (the group join before it
        # is not throughput), polled every 20 ms.
        deadline = time.monotonic() + 300
        first: tuple[float, float] | None = None
        while (c := metric(fin, "clinic_billings_created_total")) < n:
            if first is None and c > 0:
                first = (time.monotonic(), c)
            if time.monotonic() > deadline:
                raise RuntimeError(f"consumer path: {c} of {n} billed after 300 s")
            time.sleep(0.02)
        t_last = time.monotonic()
        used = cpu.used()["financial"]
        t_first, c_first = first or (t_last, 0)
        secs = max(0.02, t_last - t_first)
        self.r["consumer_path"] = {"msgs": n, "seconds": secs, "per_s": (n - c_first) / secs,
                                   "first_seen": c_first, "cpu_us_per_event": used / n,
                                   "billings": db.command("count", "billings")["n"]}
        self.stop(fin)
        log(f"consumer path: {self.r['consumer_path']['per_s']:.0f} billings/s")

        # The outbox relay: N pending entries (due), published by the relay thread alone.
        seeded = tool("mongo_raw", "seed", self.fdb.uri("bench_relay"), "-", RELAY_N, 4,
                      "pending", 1)
        n = seeded["finished"]  # each a pending entry, due
        t0 = time.monotonic()
        appt = self.service("appointment", "bench_relay", KAFKA_TOPIC="bench.relay",
                            OUTBOX_RELAY_INTERVAL_MS=10)
        cpu = Cpu({"appointment": lambda: cpu_us(appt.pid)})
        st.wait_until(lambda: metric(appt, "clinic_events_published_total") >= n,
                      300, 0.2, message="relay: all acknowledged")
        on_topic = time.monotonic() - t0
        ts = [m.timestamp_ms for m in st.consume(self.kafka.bootstrap, "bench.relay", timeout=60)
              if m.timestamp_ms]
        span = max(0.001, (max(ts) - min(ts)) / 1000) if ts else on_topic
        rdb = self.mongo("bench_relay")
        st.wait_until(lambda: rdb.command("count", "appointments",
                                          query={"outbox_pending": True})["n"] == 0,
                      300, 0.5, message="relay: all marked published")
        marked = time.monotonic() - t0
        self.r["relay_path"] = {"msgs": n, "seconds_on_topic": on_topic, "per_s": (n - 1) / span,
                                "first_to_last_s": span, "seconds_marked": marked,
                                "cpu_us_per_event": cpu.used()["appointment"] / n}
        self.stop(appt)
        log(f"relay path: {self.r['relay_path']['per_s']:.0f} events/s")

    def db_raw(self) -> None:
        cpu = Cpu(self.infra_meters())
        self.r["db_raw"] = d = tool("mongo_raw", "rw", self.fdb.uri("bench_raw_appt"),
                                    self.fdb.uri("bench_raw_fin"), DB_N, LOADGEN_CONNS)
        used = cpu.used()
        # The get is not part of a consultation but ran too: per pair, this
        # is a little more than the consultation's database work.
        for k in ("ferretdb", "postgres"):
            d[f"{k}_cpu_us_per_pair"] = used[k] / d["n"]
        log("db raw: " + ", ".join(f"{o} {d[o + '_per_s']:.0f}/s" for o in
                                   ("insert", "get", "finish", "mark_published", "bill"))
            + f" -> {d['pairs_per_s']:.0f} pairs/s, {d['db_commands_per_pair']:.2f} commands/pair, "
            f"ferretdb {d['ferretdb_cpu_us_per_pair']:.0f} + postgres "
            f"{d['postgres_cpu_us_per_pair']:.0f} µs CPU/pair")

    # ---- profile (tests/bench/run.sh profile)

    def profile(self, n: int) -> int:
        """appointment under callgrind for a fixed load (n start + finish
        pairs, 4 connections): instruction counts, whatever else the machine
        runs. Writes var/bench/callgrind-<ts>.out and profile-<ts>.txt."""
        ok = False
        try:
            self.stack.start()
            cg = OUT / f"callgrind-{self.stamp}.out"
            wrapper = self.dir / "appointment-callgrind.sh"
            wrapper.write_text(f"#!/bin/sh\nexec valgrind --tool=callgrind --callgrind-out-file={cg} "
                               f"{st.build_dir() / 'appointment'}\n")
            wrapper.chmod(0o755)
            svc = st.Service("appointment", {"MONGODB_URI": self.fdb.uri("bench_profile"),
                                             "KAFKA_BOOTSTRAP": self.kafka.bootstrap,
                                             "REGISTRY_CHECK": "off"},
                             binary=wrapper, log_path=self.dir / "logs" / "appointment-callgrind.log")
            self.services.append(svc)
            svc.start(timeout=120)
            lg = tool("loadgen", "127.0.0.1", svc.port, n, 0, 4, 0, self.dir / "ids-profile.tsv",
                      timeout=1800)
            log(f"profile load: {lg}")
            svc.stop(timeout=120)
            ann = subprocess.run(["callgrind_annotate", "--inclusive=no", str(cg)],
                                 capture_output=True, text=True).stdout
            inc = subprocess.run(["callgrind_annotate", "--inclusive=yes", str(cg)],
                                 capture_output=True, text=True).stdout
            text = (f"appointment, {lg['ok']} start+finish pairs ({n} asked), 4 connections\n\n"
                    "== self\n" + "\n".join(ann.splitlines()[:60])
                    + "\n\n== inclusive\n" + "\n".join(inc.splitlines()[:60]) + "\n")
            (OUT / f"profile-{self.stamp}.txt").write_text(text)
            print(text)
            ok = True
        finally:
            self.close(ok)
        return 0

    # ---- report

    def summarize(self) -> None:
        """The figures issue 11 asks for, as numbers (absent when not measured)."""
        r, s = self.r, {}
        big = self.size_label(PRELOAD[-1]) if PRELOAD else None

        def put(key: str, fn: Callable[[], Any]) -> None:
            try:
                v = fn()
                if v is not None and v == v:  # not NaN
                    s[key] = round(float(v), 2)
            except (KeyError, TypeError, ValueError, ZeroDivisionError, IndexError):
                pass

        best = r.get("pairs_max", {})
        put("billed_pairs_per_s_max", lambda: best["billed_pairs_per_s"])
        for size in PRELOAD:
            lab = self.size_label(size)
            put(f"billed_pairs_per_s_max_{lab}", lambda: r[f"pairs_max_{lab}"]["billed_pairs_per_s"])
            put(f"services_cpu_us_per_consultation_{lab}",
                lambda: r[f"pairs_max_{lab}"]["services_cpu_us_per_pair"])
            put(f"db_round_trips_per_consultation_{lab}",
                lambda: r[f"pairs_max_{lab}"]["db_round_trips_per_pair"])
        put("finish_to_billed_p99_ms_200", lambda: r["pairs_200"]["billed_p99_ms"])
        put("finish_to_billed_p99_ms_500", lambda: r["pairs_500"]["billed_p99_ms"])
        put("finish_to_billed_p50_ms_200", lambda: r["pairs_200"]["billed_p50_ms"])
        put("finish_to_billed_p50_ms_500", lambda: r["pairs_500"]["billed_p50_ms"])
        put("finish_to_billed_p99_ms_max", lambda: best["billed_p99_ms"])
        put("finishes_per_s_max", lambda: best["finishes_per_s"])
        put("services_cpu_us_per_consultation", lambda: best["services_cpu_us_per_pair"])
        put("services_net_cpu_us_per_consultation", lambda: best["services_net_cpu_us_per_pair"])
        for k in ("appointment", "financial", "ferretdb", "postgres", "kafka"):
            put(f"{k}_cpu_us_per_consultation", lambda k=k: best[f"{k}_cpu_us_per_pair"])
        # The database side as one figure (FerretDB + PostgreSQL), the one to watch.
        put("db_cpu_us_per_consultation",
            lambda: best["ferretdb_cpu_us_per_pair"] + best["postgres_cpu_us_per_pair"])
        put("db_round_trips_per_consultation", lambda: best["db_round_trips_per_pair"])
        if big and r.get("lists"):
            put(f"list_p50_ms_max_{big}", lambda: max(x["p50_ms"] for x in r["lists"] if x["target"]))
            put(f"list_p99_ms_max_{big}", lambda: max(x["p99_ms"] for x in r["lists"] if x["target"]))
        if big and "summary_year" in r:
            put(f"summary_year_ms_{big}", lambda: r["summary_year"]["ms_median"])
            put(f"summary_year_documents_{big}", lambda: r["summary_year"]["documents_read"])
            put(f"today_bucket_appointments_{big}", lambda: r["today_bucket"]["appointments"])
            put(f"list_p50_ms_past_day_page_{big}", lambda: next(
                x["p50_ms"] for x in r["lists"] if "yesterday" in x["shape"]))
        if "queries" in r:
            put("hot_queries_explained", lambda: len(r["queries"]))
            put("hot_queries_scanning", lambda: sum(not q["ok"] for q in r["queries"]))
        put("slow_clients_p99_ms", lambda: r["slow_clients"]["p99_ms"])
        put("slow_clients_rss_mib", lambda: r["slow_clients"]["rss_mib_during"])
        put("start_req_per_s", lambda: r["start_c16"]["rps"])
        put("start_cpu_us_per_req", lambda: r["start_c16"]["cpu_us_per_req"])
        put("start_cpu_ratio_to_bare", lambda: r["start_c16"]["ratio_to_ceiling"])
        put("start_cpu_us_registry", lambda: r["start_registry_c16"]["cpu_us_per_req"])
        put("start_cpu_registry_ratio", lambda: r["start_registry_c16"]["ratio_to_check_off"])
        put("db_round_trips_per_start", lambda: r["start_c16"]["db_round_trips_per_req"])
        put("db_round_trips_per_start_registry",
            lambda: r["start_registry_c16"]["db_round_trips_per_req"])
        put("db_round_trips_per_start_registry_extra",
            lambda: r["start_registry_c16"]["extra_db_round_trips_per_req"])
        put("appointment_db_round_trips_per_consultation",
            lambda: r["consultations_check_off"]["db_round_trips_per_pair"])
        put("appointment_db_round_trips_per_consultation_registry",
            lambda: r["consultations_check_on"]["db_round_trips_per_pair"])
        put("appointment_db_round_trips_per_consultation_registry_cold",
            lambda: r["consultations_check_on_cold"]["db_round_trips_per_pair"])
        put("start_cpu_us_per_req_sample_ids", lambda: r["start_people_c16"]["cpu_us_per_req"])
        put("db_round_trips_per_consultation_registry_extra",
            lambda: r["consultations_check_on"]["db_round_trips_per_pair"]
            - r["consultations_check_off"]["db_round_trips_per_pair"])
        put("bare_req_per_s", lambda: r["ceiling_c16"]["rps"])
        if r.get("seed"):
            put("seed_insert_finish_per_s", lambda: r["seed"][-1]["insert_finish_per_s"])
            put("seed_billings_per_s", lambda: r["seed"][-1]["billings_per_s"])
            put("seed_seconds_total", lambda: sum(x["seconds"] for x in r["seed"]))
        put("db_raw_pairs_per_s", lambda: r["db_raw"]["pairs_per_s"])
        put("db_raw_ferretdb_cpu_us_per_pair", lambda: r["db_raw"]["ferretdb_cpu_us_per_pair"])
        put("db_raw_postgres_cpu_us_per_pair", lambda: r["db_raw"]["postgres_cpu_us_per_pair"])
        put("db_cpu_cap_pairs_per_s", lambda: (os.cpu_count() or 1) * 1e6 / (
            best["ferretdb_cpu_us_per_pair"] + best["postgres_cpu_us_per_pair"]))
        put("bench_seconds", lambda: time.monotonic() - self.t_start)
        r["summary"] = s

    def targets(self) -> list[str]:
        r, s = self.r, self.r.get("summary", {})
        big = self.size_label(PRELOAD[-1]) if PRELOAD else "?"
        rows = [
            (f"billed ≥ {T_BILLED} pairs/s flat out at 0 documents", s.get("billed_pairs_per_s_max"),
             lambda v: v >= T_BILLED, "pairs/s"),
            (f"billed ≥ {T_BILLED} pairs/s flat out at {big} documents",
             s.get(f"billed_pairs_per_s_max_{big}"), lambda v: v >= T_BILLED, "pairs/s"),
            (f"finish→billed p99 ≤ {T_P99_200} ms at 200/s", s.get("finish_to_billed_p99_ms_200"),
             lambda v: v <= T_P99_200, "ms"),
            (f"finish→billed p99 ≤ {T_P99_500} ms at 500/s", s.get("finish_to_billed_p99_ms_500"),
             lambda v: v <= T_P99_500, "ms"),
            (f"services ≤ {T_CPU_US} µs CPU per consultation",
             s.get("services_cpu_us_per_consultation"), lambda v: v <= T_CPU_US, "µs"),
            (f"≤ {T_ROUND_TRIPS} database round trips per consultation",
             s.get("db_round_trips_per_consultation"), lambda v: v <= T_ROUND_TRIPS, ""),
            ("a GET's p99 < 1,000 ms while 200 clients trickle their headers",
             s.get("slow_clients_p99_ms"), lambda v: v < 1000, "ms"),
            (f"start ≤ {T_RATIO}× the bare handler's CPU", s.get("start_cpu_ratio_to_bare"),
             lambda v: v <= T_RATIO, "×"),
            (f"start with REGISTRY_CHECK=on ≤ {T_REGISTRY_RATIO}× the CPU of off",
             s.get("start_cpu_registry_ratio"), lambda v: v <= T_REGISTRY_RATIO, "×"),
            ("REGISTRY_CHECK=on adds no database round trip per consultation",
             s.get("db_round_trips_per_consultation_registry_extra"),
             lambda v: v <= T_REGISTRY_EXTRA_TRIPS, "extra per consultation"),
            (f"every first list page and one day's summary ≤ {T_LIST_MS} ms p50 at {big}",
             s.get(f"list_p50_ms_max_{big}"), lambda v: v <= T_LIST_MS, "ms (slowest)"),
            ("every hot query an index scan (explain)", s.get("hot_queries_scanning"),
             lambda v: v == 0, "scanning"),
        ]
        out = []
        for name, v, ok, unit in rows:
            state = "not measured" if v is None else ("MET" if ok(v) else "MISSED")
            out.append(f"  {state:12} {name}: {'' if v is None else f'{v:g} {unit}'}")
        r["targets"] = out
        return out

    def bound(self) -> str:
        r = self.r
        best = r.get("pairs_max", {})
        achieved = best.get("billed_pairs_per_s", 0)
        procs = ("appointment", "financial", "ferretdb", "postgres", "kafka")
        per_pair_cpu = sum(best.get(f"{k}_cpu_us_per_pair", 0) for k in procs)
        cores = os.cpu_count() or 1
        db_us = best.get("ferretdb_cpu_us_per_pair", 0) + best.get("postgres_cpu_us_per_pair", 0)
        caps = {
            "HTTP (bare civetweb, 2 requests per pair)": r["ceiling_c16"]["rps"] / 2,
            f"database CPU ({cores} cores / FerretDB + PostgreSQL µs per pair, nothing else running)":
                cores * 1e6 / db_us if db_us else float("inf"),
            "database (the store's operations alone, mongo_raw rw)": r["db_raw"]["pairs_per_s"],
            "Kafka produce (raw)": r["kafka_raw_produce"]["per_s"],
            "financial consumer path": r["consumer_path"]["per_s"],
            f"CPU ({cores} cores / all processes' µs per pair)":
                cores * 1e6 / per_pair_cpu if per_pair_cpu else float("inf"),
        }
        name, cap = min(caps.items(), key=lambda kv: kv[1])
        shares = {k: best.get(f"{k}_cpu_us_per_pair", 0) for k in procs}
        r["capacities_pairs_per_s"] = caps
        return (f"flat out at 0 documents {achieved:.0f} billed pairs/s is bounded by {name} "
                f"(~{cap:.0f}/s); CPU per pair {per_pair_cpu:.0f} µs: "
                + ", ".join(f"{k} {v:.0f}" for k, v in sorted(shares.items(), key=lambda kv: -kv[1])))

    def table(self) -> str:
        lines: list[str] = []
        for section in (self.table_http, self.table_pairs, self.table_seed, self.table_lists,
                        self.table_explain, self.table_kafka, self.table_db):
            try:
                section(lines)
            except (KeyError, TypeError, ValueError, IndexError) as e:
                lines.append(f"({section.__name__[6:]}: not measured: {e!r})")
            lines.append("")
        for name, err in self.r.get("errors", {}).items():
            lines.append(f"ERROR in {name}: {err[:300]}")
        try:
            lines.append(self.bound())
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            lines.append(f"(bound: not computed: {e!r})")
        lines.append("")
        lines.append("targets (issue 11):")
        lines.extend(self.targets())
        return "\n".join(lines)

    def table_http(self, lines: list[str]) -> None:
        r = self.r
        row = lines.append
        row(f"clinic-events bench {r['when']} git {r['git']}  (FerretDB on PostgreSQL; pairs "
            f"≤{PAIRS} or {PAIR_SECONDS:g} s per step, wrk {SECONDS:g} s, "
            f"{os.cpu_count()} cores shared with the load generators)")
        row("")
        row(f"{'HTTP':30} {'req/s':>7} {'p50 ms':>7} {'p99 ms':>7} {'CPU µs/req':>10} "
            f"{'× bare':>7} {'fdb µs':>7} {'pg µs':>7} {'errors':>6}")
        for c in CONNS:
            w = r.get(f"ceiling_c{c}")
            if w is None:
                continue
            row(f"{'bare civetweb, c=' + str(c):30} {w['rps']:7.0f} {w['p50_us'] / 1000:7.2f} "
                f"{w['p99_us'] / 1000:7.2f} {w['cpu_us_per_req']:10.1f} {'':>7} {'':>7} {'':>7} "
                f"{w['non_2xx'] + w['socket_errors'] + w['timeouts']:6d}")
        def start_row(label: str, w: dict[str, Any]) -> None:
            row(f"{label:30} {w['rps']:7.0f} {w['p50_us'] / 1000:7.2f} "
                f"{w['p99_us'] / 1000:7.2f} {w['cpu_us_per_req']:10.1f} "
                f"{w.get('ratio_to_ceiling', float('nan')):6.1f}× "
                f"{w['ferretdb_cpu_us_per_req']:7.0f} {w['postgres_cpu_us_per_req']:7.0f} "
                f"{w['non_2xx'] + w['socket_errors'] + w['timeouts']:6d}")

        for c in CONNS:
            start_row(f"start appointment, c={c}", r[f"start_c{c}"])
        w = r.get("start_registry_c16")
        if w is None:
            why = r.get("start_registry", {}).get("not_measured", "the start step did not get there")
            row(f"{'start, REGISTRY_CHECK=on':30} not measured: {why}")
            return
        off = r.get("start_people_c16", r["start_c16"])
        start_row("start, the sample's ids, c=16", off)
        start_row("start, REGISTRY_CHECK=on, c=16", w)
        row(f"  REGISTRY_CHECK=on: {w['ratio_to_check_off']:.2f}× the CPU per start of off "
            f"(the same requests), {w['db_round_trips_per_req']:.2f} database round trips per "
            f"start (off: {off['db_round_trips_per_req']:.2f}); the sample "
            f"({r['start_registry']['physicians']} physicians, {r['start_registry']['patients']} "
            f"patients) loaded in {r['start_registry']['seconds']:.1f} s")
        on, off = r.get("consultations_check_on"), r.get("consultations_check_off")
        cold = r.get("consultations_check_on_cold")
        if on and off and cold:
            row(f"  start + finish over the sample (loadgen, appointment alone): "
                f"{on['db_round_trips_per_pair']:.2f} appointment round trips per consultation "
                f"with the check, {off['db_round_trips_per_pair']:.2f} without, "
                f"{cold['db_round_trips_per_pair']:.2f} in the first pass (cache cold)")

    def table_pairs(self, lines: list[str]) -> None:
        r = self.r
        row = lines.append
        row("start+finish pairs, financial consuming (billed/s: billings that exist at the end, "
            "per second from the first start to the last billing; CPU µs per pair)")
        row(f"{'step':16} {'docs':>6} {'pairs':>6} {'fin/s':>6} {'billed/s':>8} {'bill p50':>8} "
            f"{'p99':>6} {'max':>6} {'lost':>4} {'extra':>5} {'rt/pair':>7} {'appt':>5} {'fin':>5} "
            f"{'fdb':>5} {'pg':>5} {'kafka':>5}")
        keys = [k for k in r if k.startswith("pairs_")]
        for k in keys:
            p = r[k]
            label = k[6:] + ("/s" if k[6:].isdigit() else "")
            row(f"{label:16} {p['docs_before']:6d} {p['ok']:6d} {p['finishes_per_s']:6.0f} "
                f"{p['billed_pairs_per_s']:8.0f} {p['billed_p50_ms']:7.0f}m {p['billed_p99_ms']:5.0f}m "
                f"{p['billed_max_ms'] or 0:5.0f}m {p['lost']:4d} {p['events_extra']:5.0f} "
                f"{p['db_round_trips_per_pair']:7.2f} {p['appointment_cpu_us_per_pair']:5.0f} "
                f"{p['financial_cpu_us_per_pair']:5.0f} {p['ferretdb_cpu_us_per_pair']:5.0f} "
                f"{p['postgres_cpu_us_per_pair']:5.0f} {p['kafka_cpu_us_per_pair']:5.0f}")
        best = r.get("pairs_max", {})
        if best:
            row(f"  flat out at 0 documents: appointment + financial = "
                f"{best['services_cpu_us_per_pair']:.0f} µs CPU per consultation "
                f"({best['services_net_cpu_us_per_pair']:.0f} without their idle burn); "
                f"reconciled clean in every step: {all(r[k]['reconcile_clean'] for k in keys)}")
            last = r[keys[-1]]
            row(f"  RSS at the end: appointment {last['appointment_rss_mib']:.1f} MiB, financial "
                f"{last['financial_rss_mib']:.1f} MiB (target < {RSS_TARGET_MIB})")

    def table_seed(self, lines: list[str]) -> None:
        for s in self.r.get("seed", []):
            lines.append(
                f"seeded {s['n']} appointments over {s['days']} days ({s['physicians']} physicians, "
                f"{s['patients']} patients, {s['started']} still started) in {s['seconds']:.0f} s: "
                f"insert+finish one by one {s['insert_finish_per_s']:.0f}/s on {s['threads']} "
                f"threads, published marks {s['mark_seconds']:.0f} s, {s['billings']} billings "
                f"{s['billings_per_s']:.0f}/s (batches of {s['bill_batch']})")

    def table_lists(self, lines: list[str]) -> None:
        r = self.r
        if "lists" not in r:
            return
        big = self.size_label(PRELOAD[-1])
        row = lines.append
        tb = r.get("today_bucket", {})
        row(f"lists over HTTP at {big} documents (n requests each; today's bucket holds "
            f"{tb.get('appointments', '?')} appointments, the benchmark's own; a past day "
            f"{tb.get('a_past_day_appointments', '?')})")
        row(f"  {'shape':46} {'p50 ms':>8} {'p99 ms':>8} {'items':>6} {'n':>4}")
        for x in r["lists"]:
            mark = "" if x["target"] else "  (not in the target)"
            row(f"  {x['shape']:46} {x['p50_ms']:8.1f} {x['p99_ms']:8.1f} {x['items']:6d} "
                f"{x['n']:4d}{mark}")
        y = r.get("summary_year")
        if y:
            row(f"  {'summary over a year by physician':46} {y['ms_median']:8.0f} "
                f"{'':>8} {y['groups']:6d}  (sums {y['documents_read']} billings, from month and day totals once "
                f"stored; the first read {y['ms'][0]:.0f} ms)")

    def table_explain(self, lines: list[str]) -> None:
        r = self.r
        if "queries" not in r:
            return
        row = lines.append
        row(f"hot queries: PostgreSQL's plan under FerretDB at {self.size_label(PRELOAD[-1])} "
            f"documents (OK = a GIN index scan, FAIL = a scan)")
        for q in r["queries"]:
            what = ("; ".join(q.get("nodes", [])) + " " + ",".join(q.get("indexes", []))
                    if "nodes" in q else q.get("error", ""))
            took = f"{q['ms']:7.2f} ms" if "ms" in q else " " * 10
            row(f"  {'OK  ' if q['ok'] else 'FAIL'} {q['query']:60} {took}  {what[:110]}")

    def table_kafka(self, lines: list[str]) -> None:
        r = self.r
        row = lines.append
        best = r.get("pairs_max", {})
        row(f"{'Kafka paths (N events)':46} {'events/s':>9} {'CPU µs/event':>13}")
        rows = [
            (f"raw librdkafka produce, outbox settings ({KAFKA_N})", "kafka_raw_produce", False),
            (f"outbox relay: claim+produce+mark ({RELAY_N})", "relay_path", True),
            ("outbox inline (HTTP finish, flat out)", "pairs_max", False),
            (f"raw librdkafka consume ({KAFKA_N})", "kafka_raw_consume", False),
            (f"financial consumer + billing write ({KAFKA_N})", "consumer_path", True),
        ]
        for name, key, has_cpu in rows:
            x = best if key == "pairs_max" else r.get(key)
            if not x:
                row(f"{name:46} {'not measured':>9}")
                continue
            rate = x["finishes_per_s"] if key == "pairs_max" else x["per_s"]
            row(f"{name:46} {rate:9.0f}" + (f" {x['cpu_us_per_event']:13.0f}" if has_cpu else ""))

    def table_db(self, lines: list[str]) -> None:
        d = self.r["db_raw"]
        lines.append(
            f"database alone (mongo_raw rw: {d['n']} consultations through the store functions, "
            f"{d['threads']} threads; marks {d['mark_batch']} per bulk on {d['mark_threads']}, "
            f"bills {d['bill_batch']} per bulk on {d['bill_threads']}): "
            + ", ".join(f"{o} {d[o + '_per_s']:.0f}/s p99 {d[o + '_p99_ms']:.1f} ms"
                        for o in ("insert", "get", "finish", "mark_published", "bill"))
            + f" → {d['pairs_per_s']:.0f} pairs/s, {d['db_commands_per_pair']:.2f} commands/pair; "
            f"CPU per pair (get included): ferretdb {d['ferretdb_cpu_us_per_pair']:.0f} µs, "
            f"postgres {d['postgres_cpu_us_per_pair']:.0f} µs")

    # ---- run

    def close(self, ok: bool) -> None:
        """The services still running killed, the stack stopped; the run's
        state removed after a run that went well, kept (and said where) otherwise."""
        for s in self.services:
            if s.running():
                s.kill()
        self.stack.teardown()
        if ok:
            st.remove_run_dir(self.dir)
        else:
            log(f"state kept in {self.dir}")

    def run(self) -> int:
        ok = False
        text = ""
        try:
            log(f"stack under {self.dir}")
            self.stack.start()
            unknown = set(STEPS) - set(ALL_STEPS)
            if unknown:
                raise ValueError(f"BENCH_STEPS: unknown {sorted(unknown)}; steps: {ALL_STEPS}")
            self.warm_broker()
            for name, fn in (("ceiling", self.ceiling), ("start", self.start_only),
                             ("slow", self.slow_clients),
                             ("pairs", self.pairs_empty), ("grown", self.grown),
                             ("kafka", self.kafka_paths), ("db", self.db_raw)):
                if name in STEPS:
                    self.step(name, fn)
                if name == "grown":
                    for svc in list(self.services):
                        self.stop(svc)
            self.r["config"]["loadavg_at_end"] = os.getloadavg()[0]
            self.summarize()
            text = self.table()
            ok = "errors" not in self.r
        finally:
            self.close(ok)
        print(text)
        self.r["table"] = text
        # Only a run of every step is the latest: a partial one is kept apart.
        partial = set(STEPS) != set(ALL_STEPS)
        path = OUT / f"{self.stamp}{'-partial' if partial else ''}.json"
        path.write_text(json.dumps(self.r, indent=1, default=str) + "\n")
        if not partial:
            shutil.copyfile(path, OUT / "latest.json")
        print(f"\nsummary: {json.dumps(self.r.get('summary', {}))}")
        print(f"written to {path.relative_to(ROOT)}"
              + ("" if partial else " and var/bench/latest.json"))
        return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if sys.argv[1:2] == ["profile"]:
        sys.exit(Bench().profile(int(os.environ.get("BENCH_PROFILE_PAIRS", "500"))))
    sys.exit(Bench().run())
