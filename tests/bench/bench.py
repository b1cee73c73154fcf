#!/usr/bin/env python3
"""make bench: throughput, latency and CPU of both services next to their ceilings.

Run by tests/bench/run.sh (which builds the C tools first). Starts its own
Kafka + FerretDB through tests/integration/stack.py's classes on free ports
under var/bench/run-<timestamp>/ (removed after a clean run, kept otherwise),
prints one table and writes it as JSON to var/bench/<timestamp>.json and
var/bench/latest.json.

Steps (each with a database of its own unless said):
  ceiling     bare civetweb (bare_http) under wrk, 16 and 64 connections
  start       POST /appointments under wrk, 16 and 64 connections
  pairs       start + finish pairs from loadgen at each BENCH_RATES rate, with
              financial consuming: finish -> billed latency, CPU, reconcile
  kafka       raw produce/consume (kafka_raw) vs the outbox relay and the
              financial consumer on the same messages
  db          the store's operations alone (mongo_raw rw)
  grown       collections preloaded to BENCH_PRELOAD documents, pairs again,
              and each service query's plan (FerretDB explain) and latency

CPU figures are utime+stime from /proc/PID/stat (10 ms ticks) of each
process, so other load on the machine does not count; rates and latencies do
feel it (the 2 cores are shared by wrk/loadgen, Kafka, FerretDB and both
services).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from datetime import timezone
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "tests" / "integration"))
sys.path.insert(0, str(ROOT / "deploy"))
import stack as st  # noqa: E402  (the harness of the integration tests)
from reconcile import is_clean, reconcile  # noqa: E402

SECONDS = float(os.environ.get("BENCH_SECONDS", "20"))
PAIRS = int(os.environ.get("BENCH_PAIRS", "5000"))
RATES = [float(r) for r in os.environ.get("BENCH_RATES", "200,500,1000,0").split(",") if r]
PAIR_SECONDS = float(os.environ.get("BENCH_PAIR_SECONDS", "30"))
PRELOAD = int(os.environ.get("BENCH_PRELOAD", "10000"))
KAFKA_N = int(os.environ.get("BENCH_KAFKA_N", "2000"))
RELAY_N = int(os.environ.get("BENCH_RELAY_N", "500"))
DB_N = int(os.environ.get("BENCH_DB_N", "1000"))
CONNS = (16, 64)
LOADGEN_CONNS = 16  # = HTTP_THREADS: civetweb holds a worker per keep-alive connection
TOOLS = Path(os.environ.get("BENCH_TOOLS") or st.build_dir() / "bench")
LUA = ROOT / "tests" / "bench" / "start.lua"
OUT = ROOT / "var" / "bench"
CLK = os.sysconf("SC_CLK_TCK")
CPU_TARGET_US, RSS_TARGET_MIB, RATIO_TARGET = 200, 64, 4


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------- /proc

def cpu_us(pid: int) -> float:
    """utime + stime of a process (all its threads), in µs."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) * 1e6 / CLK


def rss_mib(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Cpu:
    """CPU used by named processes between two snapshots."""

    def __init__(self, pids: dict[str, int]):
        self.pids = pids
        self.t0 = {k: cpu_us(p) for k, p in pids.items()}

    def used(self) -> dict[str, float]:
        return {k: cpu_us(p) - self.t0[k] for k, p in self.pids.items()}


def pidfile(path: Path) -> int:
    return int(path.read_text().strip())


# --------------------------------------------------------------------- load tools

def wrk(url: str, conns: int, seconds: float) -> dict[str, Any]:
    cmd = ["wrk", "-t2", f"-c{conns}", f"-d{max(1, int(seconds))}s", "--timeout", "5s",
           "-s", str(LUA), url]
    p = subprocess.run(cmd, capture_output=True, text=True, timeout=seconds + 60)
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
        raise RuntimeError(f"{args[0]} {args[1]} failed ({p.returncode}):\n{p.stdout}{p.stderr}")
    return json.loads(p.stdout.strip().splitlines()[-1])


def ms(dt: Any) -> int:
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return int(dt.timestamp() * 1000)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    v = sorted(values)
    return v[min(len(v) - 1, int(p * (len(v) - 1) + 0.5))]


def metric(svc: st.Service, name: str) -> float:
    with urllib.request.urlopen(svc.url("/metrics"), timeout=10) as r:
        for line in r.read().decode().splitlines():
            if line.startswith(name + " ") or line.startswith(name + "{"):
                return float(line.rsplit(" ", 1)[1])
    return 0.0


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
            "config": {"seconds": SECONDS, "pairs": PAIRS, "pair_seconds": PAIR_SECONDS,
                       "rates": RATES, "preload": PRELOAD, "kafka_n": KAFKA_N,
                       "relay_n": RELAY_N, "db_n": DB_N,
                       "loadgen_conns": LOADGEN_CONNS, "cores": os.cpu_count(),
                       "loadavg_at_start": os.getloadavg()[0]},
        }

    # ---- processes

    @property
    def fdb(self) -> st.FerretDB:
        return self.stack.ferretdb

    @property
    def kafka(self) -> st.Kafka:
        return self.stack.kafka

    def infra_pids(self) -> dict[str, int]:
        return {"ferretdb": pidfile(self.fdb.home / "ferretdb.pid"),
                "kafka": pidfile(self.kafka.home / "node1" / "kafka.pid")}

    def service(self, name: str, db: str, **env: Any) -> st.Service:
        e = {"MONGODB_URI": self.fdb.uri(db), "KAFKA_BOOTSTRAP": self.kafka.bootstrap,
             **{k: str(v) for k, v in env.items()}}
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
        """Runs one step; a failure is recorded and the bench goes on."""
        try:
            fn()
        except Exception as e:  # noqa: BLE001 - reported in the table and the JSON
            log(f"step {name} failed: {e!s:.300}")
            self.r.setdefault("errors", {})[name] = f"{type(e).__name__}: {e!s:.500}"

    def mongo(self, db: str) -> Any:
        return st.mongo_client(self.fdb.uri(db), timeout_ms=60000)[db]

    # ---- steps

    def ceiling(self) -> None:
        port = st.free_port()
        proc = subprocess.Popen([str(TOOLS / "bare_http"), str(port), "16"])
        try:
            st.wait_until(lambda: st.port_open(port), 10, message="bare_http listening")
            url = f"http://127.0.0.1:{port}/appointments"
            for c in CONNS:
                cpu = Cpu({"bare": proc.pid})
                w = wrk(url, c, SECONDS)
                w["cpu_us_per_req"] = cpu.used()["bare"] / max(1, w["requests"])
                self.r[f"ceiling_c{c}"] = w
                log(f"ceiling c={c}: {w['rps']:.0f} req/s, {w['cpu_us_per_req']:.1f} µs CPU/req")
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(10)

    def start_only(self) -> None:
        svc = self.service("appointment", "bench_start")
        try:
            for c in CONNS:
                cpu = Cpu({"appointment": svc.pid, **self.infra_pids()})
                w = wrk(svc.url("/appointments"), c, SECONDS)
                used = cpu.used()
                n = max(1, w["requests"] - w["non_2xx"])
                w["cpu_us_per_req"] = used["appointment"] / n
                w["ferretdb_cpu_us_per_req"] = used["ferretdb"] / n
                w["ratio_to_ceiling"] = w["cpu_us_per_req"] / self.r[f"ceiling_c{c}"]["cpu_us_per_req"]
                self.r[f"start_c{c}"] = w
                log(f"start c={c}: {w['rps']:.0f} req/s, p99 {w['p99_us'] / 1000:.1f} ms, "
                    f"{w['cpu_us_per_req']:.0f} µs CPU/req ({w['ratio_to_ceiling']:.1f}× ceiling), "
                    f"non-2xx {w['non_2xx']}, timeouts {w['timeouts']}")
        finally:
            self.stop(svc)

    def pair_services(self) -> None:
        self.appt = self.service("appointment", "bench_appt")
        self.fin = self.service("financial", "bench_fin")
        self.appt_db, self.fin_db = self.mongo("bench_appt"), self.mongo("bench_fin")
        # Warm-up: the consumer must own its partitions before the clock runs.
        self.pairs("warmup", 20, 20)
        # What both services burn with nothing to do (relay and consumer polls,
        # driver heartbeats): at low rates it is most of the CPU per pair.
        cpu = Cpu({"appointment": self.appt.pid, "financial": self.fin.pid})
        time.sleep(5)
        self.idle_us_per_s = {k: v / 5 for k, v in cpu.used().items()}
        self.r["idle_cpu_us_per_s"] = self.idle_us_per_s

    def pairs(self, label: str, n: int, rate: float) -> dict[str, Any]:
        ids_file = self.dir / f"ids-{label}.tsv"
        pids = {"appointment": self.appt.pid, "financial": self.fin.pid, **self.infra_pids()}
        cpu = Cpu(pids)
        pub0 = metric(self.appt, "clinic_events_published_total")
        # Billed = financial's counter: polling FerretDB instead (count, $in)
        # made it decode every billing ten times a second, which showed up as
        # the database's CPU per pair.
        created0 = metric(self.fin, "clinic_billings_created_total")
        t0 = time.monotonic()
        lg = tool("loadgen", "127.0.0.1", self.appt.port, n, rate, LOADGEN_CONNS, PAIR_SECONDS,
                  ids_file, timeout=900)
        st.wait_until(lambda: metric(self.fin, "clinic_billings_created_total") - created0 >= lg["ok"],
                      300, 0.1, message=f"{label}: all billed")
        wall_billed = time.monotonic() - t0
        used = cpu.used()
        rows = [line.split("\t") for line in ids_file.read_text().splitlines()]
        ids = [r[0] for r in rows]
        ce_time = {a["_id"]: ms(a["outbox"]["time"]) for a in
                   self.appt_db.appointments.find({"_id": {"$in": ids}}, {"outbox.time": 1})}
        billed = {b["_id"]: ms(b["created_at"]) for b in
                  self.fin_db.billings.find({"_id": {"$in": ids}}, {"created_at": 1})}
        lat = [billed[i] - ce_time[i] for i in ids if i in billed and i in ce_time]
        rec = reconcile(self.appt_db, self.fin_db, ids=set(ids))
        published = metric(self.appt, "clinic_events_published_total") - pub0
        ok = max(1, lg["ok"])
        res = {
            **lg, "offered_per_s": rate or None, "wall_to_all_billed_s": wall_billed,
            "billed_p50_ms": pct(lat, 0.5), "billed_p99_ms": pct(lat, 0.99),
            "billed_max_ms": max(lat) if lat else None,
            "lost": len(rec["missing"]) if isinstance(rec["missing"], list) else rec["missing"],
            "reconcile_clean": is_clean(rec),
            "events_published": published, "events_extra": published - lg["ok"],
            "appointment_cpu_us_per_pair": used["appointment"] / ok,
            "financial_cpu_us_per_pair": used["financial"] / ok,
            "ferretdb_cpu_us_per_pair": used["ferretdb"] / ok,
            "kafka_cpu_us_per_pair": used["kafka"] / ok,
            "appointment_rss_mib": rss_mib(self.appt.pid), "financial_rss_mib": rss_mib(self.fin.pid),
            "reconcile": {k: rec[k] for k in ("finished", "billed", "missing", "extra", "mismatched")
                          if k in rec},
        }
        res["services_cpu_us_per_pair"] = (res["appointment_cpu_us_per_pair"]
                                           + res["financial_cpu_us_per_pair"])
        idle = getattr(self, "idle_us_per_s", {})
        res["services_net_cpu_us_per_pair"] = (
            sum(used[k] - idle.get(k, 0) * wall_billed for k in ("appointment", "financial")) / ok)
        log(f"pairs {label}: {lg['finishes_per_s']:.0f} finishes/s (behind {lg['behind_max_ms']:.0f} ms),"
            f" billed p50 {res['billed_p50_ms']} ms p99 {res['billed_p99_ms']} ms,"
            f" services {res['services_cpu_us_per_pair']:.0f} µs CPU/pair,"
            f" ferretdb {res['ferretdb_cpu_us_per_pair']:.0f}, clean {res['reconcile_clean']}")
        return res

    def pair_rates(self) -> None:
        for rate in RATES:
            label = f"{int(rate)}" if rate else "max"
            self.r[f"pairs_{label}"] = self.pairs(label, PAIRS, rate)

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
        cpu = Cpu({"financial": fin.pid})
        st.wait_until(lambda: metric(fin, "clinic_billings_created_total") >= n, 300, 0.1,
                      message="consumer path: all billed")
        used = cpu.used()["financial"]
        first = db.billings.find_one({}, sort=[("created_at", 1)])["created_at"]
        last = db.billings.find_one({}, sort=[("created_at", -1)])["created_at"]
        secs = max(0.001, (ms(last) - ms(first)) / 1000)
        self.r["consumer_path"] = {"msgs": n, "seconds": secs, "per_s": (n - 1) / secs,
                                   "cpu_us_per_event": used / n}
        self.stop(fin)
        log(f"consumer path: {self.r['consumer_path']['per_s']:.0f} billings/s")

        # The outbox relay: N pending entries, published by the relay thread alone.
        n = RELAY_N
        tool("mongo_raw", "preload", self.fdb.uri("bench_relay"), n, "pending")
        t0 = time.monotonic()
        appt = self.service("appointment", "bench_relay", KAFKA_TOPIC="bench.relay",
                            OUTBOX_RELAY_INTERVAL_MS=10)
        cpu = Cpu({"appointment": appt.pid})
        # Polled once a second (appointment's /metrics counts the outbox, a
        # scan on FerretDB); the rate comes from the messages' own timestamps.
        st.wait_until(lambda: metric(appt, "clinic_events_published_total") >= n,
                      300, 1.0, message="relay: all acknowledged")
        on_topic = time.monotonic() - t0
        ts = [m.timestamp_ms for m in st.consume(self.kafka.bootstrap, "bench.relay", timeout=60)
              if m.timestamp_ms]
        span = max(0.001, (max(ts) - min(ts)) / 1000) if ts else on_topic
        rdb = self.mongo("bench_relay")
        st.wait_until(lambda: rdb.appointments.count_documents({"outbox.state": "pending"}) == 0,
                      300, 1.0, message="relay: all marked published")
        marked = time.monotonic() - t0
        self.r["relay_path"] = {"msgs": n, "seconds_on_topic": on_topic, "per_s": (n - 1) / span,
                                "first_to_last_s": span,
                                "seconds_marked": marked,
                                "cpu_us_per_event": cpu.used()["appointment"] / n}
        self.stop(appt)
        log(f"relay path: {self.r['relay_path']['per_s']:.0f} events/s")

    def db_raw(self) -> None:
        self.r["db_raw"] = tool("mongo_raw", "rw", self.fdb.uri("bench_raw"), DB_N, LOADGEN_CONNS)
        d = self.r["db_raw"]
        log(f"db raw: insert {d['insert_per_s']:.0f}/s get {d['get_per_s']:.0f}/s "
            f"finish {d['finish_per_s']:.0f}/s mark {d['mark_published_per_s']:.0f}/s")

    def grown(self) -> None:
        if PRELOAD <= 0:
            return
        have_a = self.appt_db.appointments.estimated_document_count()
        have_b = self.fin_db.billings.estimated_document_count()
        t0 = time.monotonic()
        if PRELOAD > have_a:
            tool("mongo_raw", "preload", self.fdb.uri("bench_appt"), PRELOAD - have_a, "published")
        if PRELOAD > have_b:
            tool("mongo_raw", "preload", self.fdb.uri("bench_fin"), PRELOAD - have_b, "billings")
        log(f"preloaded to {PRELOAD} documents in {time.monotonic() - t0:.0f} s")
        self.r["grown_preload_s"] = time.monotonic() - t0
        self.r["pairs_max_grown"] = self.pairs("max-grown", PAIRS, 0)
        # Explained with the services stopped: their relay scans compete.
        self.stop(self.appt)
        self.stop(self.fin)
        self.r["queries"] = self.explain()

    def explain(self) -> list[dict[str, Any]]:
        """Every query shape the services send, against the grown collections:
        FerretDB's plan and the measured time. findAndModify/update are
        explained as the find of the same filter (FerretDB explains find,
        count and aggregate only)."""
        a, b = self.appt_db, self.fin_db
        some = a.appointments.find_one({}, sort=[("_id", -1)])
        aid, phys, pat = some["_id"], some["physician_id"], some["patient_id"]
        evid = some.get("outbox", {}).get("event_id", "")
        now = some["created_at"]
        q: list[tuple[str, Any, str, dict[str, Any]]] = [
            ("appointment get / finish / idempotency (by _id)", a, "appointments",
             {"find": "appointments", "filter": {"_id": aid}, "limit": 1}),
            ("appointment finish (findAndModify _id+status)", a, "appointments",
             {"find": "appointments", "filter": {"_id": aid, "status": "started"}, "limit": 1}),
            ("appointment outbox mark (update _id+event_id+state)", a, "appointments",
             {"find": "appointments", "filter": {"_id": aid, "outbox.event_id": evid,
                                                 "outbox.state": "pending"}}),
            ("appointment list newest", a, "appointments",
             {"find": "appointments", "filter": {}, "sort": {"_id": -1}, "limit": 21}),
            ("appointment list by physician", a, "appointments",
             {"find": "appointments", "filter": {"physician_id": phys}, "sort": {"_id": -1},
              "limit": 21}),
            ("appointment list by patient", a, "appointments",
             {"find": "appointments", "filter": {"patient_id": pat}, "sort": {"_id": -1},
              "limit": 21}),
            ("appointment list by status", a, "appointments",
             {"find": "appointments", "filter": {"status": "started"}, "sort": {"_id": -1},
              "limit": 21}),
            ("appointment list with cursor", a, "appointments",
             {"find": "appointments", "filter": {"_id": {"$lt": aid}}, "sort": {"_id": -1},
              "limit": 21}),
            ("appointment relay claim (pending, due)", a, "appointments",
             {"find": "appointments", "filter": {"outbox.state": "pending",
                                                 "outbox.next_attempt_at": {"$lte": now}},
              "sort": {"outbox.next_attempt_at": 1}, "limit": 1}),
            ("appointment /metrics clinic_outbox_pending (count)", a, "appointments",
             {"count": "appointments", "query": {"outbox.state": "pending"}}),
            ("financial get / upsert (by _id)", b, "billings",
             {"find": "billings", "filter": {"_id": aid}, "limit": 1}),
            ("financial list by physician", b, "billings",
             {"find": "billings", "filter": {"physician_id": phys}, "sort": {"_id": -1},
              "limit": 21}),
            ("financial list by date range", b, "billings",
             {"find": "billings", "filter": {"end_date": {"$gte": now, "$lt": now}},
              "sort": {"_id": -1}, "limit": 21}),
            ("financial summary (aggregate)", b, "billings",
             {"aggregate": "billings", "pipeline": [
                 {"$match": {"end_date": {"$gte": now}, "currency": "BRL"}},
                 {"$group": {"_id": {"k": "$physician_id", "t": "$total_cents"},
                             "n": {"$sum": 1}}},
                 {"$sort": {"_id.k": 1, "_id.t": 1}}], "cursor": {}}),
        ]
        out = []
        for name, db, coll, cmd in q:
            try:
                plan = db.command("explain", cmd, verbosity="queryPlanner")
            except Exception as e:  # noqa: BLE001 - reported, not fatal
                plan = {"error": str(e)}
            run = dict(cmd)
            t0 = time.perf_counter()
            db.command(run)
            took = (time.perf_counter() - t0) * 1000
            planner = plan.get("queryPlanner", {})
            text = json.dumps(planner)
            out.append({
                "query": name, "ms": took,
                "pushdown": plan.get("pushdown", plan.get("filterPushdown")),
                "sort_pushdown": plan.get("sortPushdown"),
                "limit_pushdown": plan.get("limitPushdown"),
                "index": (re.findall(r"USING (?:COVERING )?INDEX ([\w]+)", text)
                          or re.findall(r"USING (INTEGER PRIMARY KEY|PRIMARY KEY)", text) or None),
                "scan": bool(re.search(r"SCAN\b", text)) and "USING" not in text,
                "sqlite_plan": "; ".join(str(d).split("detail=")[-1] for d in planner.get("Plan", [])),
                "plan": planner,
            })
        return out

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
                                             "KAFKA_BOOTSTRAP": self.kafka.bootstrap},
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
            for s in self.services:
                if s.running():
                    s.kill()
            self.stack.teardown()
            if ok:
                shutil.rmtree(self.dir, ignore_errors=True)
        return 0

    # ---- report

    def bound(self) -> str:
        r = self.r
        best = r.get("pairs_max", {})
        achieved = best.get("finishes_per_s", 0)
        per_pair_cpu = sum(best.get(f"{k}_cpu_us_per_pair", 0)
                           for k in ("appointment", "financial", "ferretdb", "kafka"))
        caps = {
            "HTTP (bare civetweb, 2 requests per pair)": r["ceiling_c16"]["rps"] / 2,
            "database (the store's 4 operations alone)": r["db_raw"]["pairs_per_s"],
            "Kafka produce (raw)": r["kafka_raw_produce"]["per_s"],
            "financial consumer path": r["consumer_path"]["per_s"],
            f"CPU ({os.cpu_count()} cores / all processes' µs per pair)":
                (os.cpu_count() or 1) * 1e6 / per_pair_cpu if per_pair_cpu else float("inf"),
        }
        name, cap = min(caps.items(), key=lambda kv: kv[1])
        shares = {k: best.get(f"{k}_cpu_us_per_pair", 0) for k in
                  ("appointment", "financial", "ferretdb", "kafka")}
        top = max(shares, key=shares.get) if per_pair_cpu else "?"
        r["capacities_pairs_per_s"] = caps
        return (f"end-to-end {achieved:.0f} pairs/s is bounded by {name} (~{cap:.0f}/s); "
                f"of the CPU per pair ({per_pair_cpu:.0f} µs) {top} uses the most "
                f"({shares.get(top, 0):.0f} µs)")

    def table(self) -> str:
        lines: list[str] = []
        for section in (self.table_http, self.table_pairs, self.table_kafka, self.table_db):
            try:
                section(lines)
            except (KeyError, TypeError, ValueError) as e:
                lines.append(f"({section.__name__[6:]}: not measured: {e!r})")
            lines.append("")
        for name, err in self.r.get("errors", {}).items():
            lines.append(f"ERROR in {name}: {err[:200]}")
        try:
            lines.append(self.bound())
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as e:
            lines.append(f"(bound: not computed: {e!r})")
        return "\n".join(lines)

    def table_http(self, lines: list[str]) -> None:
        r = self.r
        row = lines.append
        row(f"clinic-events bench {r['when']} git {r['git']}  (pairs ≤{PAIRS} or {PAIR_SECONDS:g} s "
            f"per rate, wrk {SECONDS:g} s, "
            f"{os.cpu_count()} cores shared with the load generators)")
        row("")
        row(f"{'HTTP':38} {'req/s':>9} {'p50 ms':>8} {'p99 ms':>8} {'CPU µs/req':>11} {'× ceiling':>10} {'errors':>7}")
        for c in CONNS:
            w = r[f"ceiling_c{c}"]
            row(f"{'ceiling: bare civetweb, c=' + str(c):38} {w['rps']:9.0f} {w['p50_us'] / 1000:8.2f} "
                f"{w['p99_us'] / 1000:8.2f} {w['cpu_us_per_req']:11.1f} {'':>10} "
                f"{w['non_2xx'] + w['socket_errors'] + w['timeouts']:7d}")
        for c in CONNS:
            w = r[f"start_c{c}"]
            row(f"{'start appointment, c=' + str(c):38} {w['rps']:9.0f} {w['p50_us'] / 1000:8.2f} "
                f"{w['p99_us'] / 1000:8.2f} {w['cpu_us_per_req']:11.1f} "
                f"{w['ratio_to_ceiling']:9.1f}× {w['non_2xx'] + w['socket_errors'] + w['timeouts']:7d}")
        row(f"  (target ≤ {RATIO_TARGET}× the ceiling's CPU per request)")

    def table_pairs(self, lines: list[str]) -> None:
        r = self.r
        row = lines.append
        row(f"{'finish → billed':22} {'pairs':>6} {'finish/s':>9} {'behind':>7} {'bill p50':>9} {'p99':>7} {'max':>7} "
            f"{'lost':>5} {'acks-pairs':>10} {'appt µs':>8} {'fin µs':>7} {'db µs':>7} {'kafka µs':>8}")
        keys = [k for k in r if k.startswith("pairs_")]
        for k in keys:
            p = r[k]
            label = k[6:] + ("/s offered" if k[6:].isdigit() else "")
            row(f"{label:22} {p['ok']:6d} {p['finishes_per_s']:9.0f} {p['behind_max_ms']:6.0f}m "
                f"{p['billed_p50_ms']:8.0f}m {p['billed_p99_ms']:6.0f}m {p['billed_max_ms'] or 0:6.0f}m "
                f"{p['lost']:5} {p['events_extra']:10.0f} {p['appointment_cpu_us_per_pair']:8.0f} "
                f"{p['financial_cpu_us_per_pair']:7.0f} {p['ferretdb_cpu_us_per_pair']:7.0f} "
                f"{p['kafka_cpu_us_per_pair']:8.0f}")
        best = r.get("pairs_max", {})
        if best:
            row(f"  CPU per consultation (start+finish+billing), flat out: appointment + financial = "
                f"{best['services_cpu_us_per_pair']:.0f} µs, {best['services_net_cpu_us_per_pair']:.0f} µs "
                f"without their idle burn (target ≤ {CPU_TARGET_US}); "
                f"reconciled clean: {all(r[k]['reconcile_clean'] for k in keys)}")
            last = r[keys[-1]]
            row(f"  RSS at the end: appointment {last['appointment_rss_mib']:.1f} MiB, financial "
                f"{last['financial_rss_mib']:.1f} MiB (target < {RSS_TARGET_MIB})")

    def table_kafka(self, lines: list[str]) -> None:
        r = self.r
        row = lines.append
        best = r.get("pairs_max", {})
        row(f"{'Kafka paths (N events)':44} {'events/s':>9} {'CPU µs/event':>13}")
        row(f"{f'raw librdkafka produce, outbox settings ({KAFKA_N})':44} {r['kafka_raw_produce']['per_s']:9.0f}")
        row(f"{f'outbox relay: claim+produce+mark ({RELAY_N})':44} {r['relay_path']['per_s']:9.0f} "
            f"{r['relay_path']['cpu_us_per_event']:13.0f}")
        if best:
            row(f"{'outbox inline (HTTP finish, flat out)':44} {best['finishes_per_s']:9.0f}")
        row(f"{f'raw librdkafka consume ({KAFKA_N})':44} {r['kafka_raw_consume']['per_s']:9.0f}")
        row(f"{f'financial consumer + billing write ({KAFKA_N})':44} {r['consumer_path']['per_s']:9.0f} "
            f"{r['consumer_path']['cpu_us_per_event']:13.0f}")

    def table_db(self, lines: list[str]) -> None:
        r = self.r
        row = lines.append
        d = r["db_raw"]
        row(f"database alone (FerretDB/SQLite, {d['n']} appointments, {d['threads']} threads, "
            "appointment/store.c): "
            + ", ".join(f"{o} {d[o + '_per_s']:.0f}/s p99 {d[o + '_p99_ms']:.1f} ms"
                        for o in ("insert", "get", "finish", "mark_published"))
            + f" → {d['pairs_per_s']:.0f} pairs/s")
        if "queries" in r:
            row("")
            row(f"queries at {PRELOAD} documents (FerretDB explain):")
            for q in r["queries"]:
                row(f"  {q['query']:52} {q['ms']:8.1f} ms  pushdown={q['pushdown']} "
                    f"sqlite: {q.get('sqlite_plan') or q['index']}")

    # ---- run

    def run(self) -> int:
        ok = False
        try:
            log(f"stack under {self.dir}")
            self.stack.start()
            self.step("ceiling", self.ceiling)
            self.step("start", self.start_only)
            self.step("pairs", lambda: (self.pair_services(), self.pair_rates()))
            self.step("grown", self.grown)
            # Stopped first (if grown() did not): their relay scans the outbox every second.
            for svc in list(self.services):
                self.stop(svc)
            self.step("kafka", self.kafka_paths)
            self.step("db", self.db_raw)
            self.r["config"]["loadavg_at_end"] = os.getloadavg()[0]
            text = self.table()
            ok = "errors" not in self.r
        finally:
            for s in self.services:
                if s.running():
                    s.kill()
            self.stack.teardown()
            if ok:
                shutil.rmtree(self.dir, ignore_errors=True)
            else:
                log(f"state kept in {self.dir}")
        print(text)
        self.r["table"] = text
        path = OUT / f"{self.stamp}.json"
        path.write_text(json.dumps(self.r, indent=1, default=str) + "\n")
        shutil.copyfile(path, OUT / "latest.json")
        print(f"\nwritten to {path.relative_to(ROOT)} and var/bench/latest.json")
        return 0


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    if sys.argv[1:2] == ["profile"]:
        sys.exit(Bench().profile(int(os.environ.get("BENCH_PROFILE_PAIRS", "500"))))
    sys.exit(Bench().run())
