#!/usr/bin/env python3
"""Soak: `make soak`. SOAK_SECONDS (default 1800) of mixed load against both
services on a local stack of its own (Kafka + PostgreSQL + FerretDB started through
the harness, tests/harness/session.py, under var/test/<run>/, removed when it
passes).

A script, not a test suite: `make soak` runs it (`python tests/soak.py`; its
directory, tests/, is then on the import path, so `harness` imports).

Load (SOAK_THREADS client threads, SOAK_RATE requests per second in all):
starts, finishes, reads and lists of appointments, billing reads, lists and
summaries, and a few bad requests (malformed JSON, bad UUIDs, unknown ids,
wrong method or media type, an oversized body) that must get a 4xx.

Checks, printed at the end; exit status 1 if one fails:
  - each service's RSS after the warm-up (SOAK_WARMUP_SECONDS, default 10 %
    of the run, at least 20 s, at most 120 s) and at the end: flat within
    SOAK_RSS_TOLERANCE (default 0.10, i.e. 10 %);
  - no 5xx answer and no request without an answer;
  - the reconciliation of every consultation finished during the soak:
    0 missing, 0 extra, 0 mismatched (waits up to 120 s for the last ones);
  - both services still running, and exit 0 on SIGTERM.
The result line also goes to var/chaos/results.jsonl (scenario "soak").
"""

from __future__ import annotations

import os
import random
import sys
import threading
import time
import uuid
from collections import Counter
from datetime import timedelta

from harness import Service, get_stack, http, iso, now, rss_kib, shutdown_stack, wait_ready
from harness.chaos import PATIENTS, PHYSICIANS, databases, record, settle
from harness.reconcile import format_report


def env_float(name: str, default: float) -> float:
    v = os.environ.get(name)
    return float(v) if v else default


class Load:
    """Client threads issuing a weighted mix of requests at a bounded rate."""

    MIX = [("start", 14), ("finish", 14), ("get", 12), ("list", 10), ("billing", 12),
           ("billings", 8), ("summary", 8), ("compat_billing", 4), ("health", 6), ("bad", 6),
           ("metrics", 2), ("refinish", 4)]

    def __init__(self, appt: Service, fin: Service, threads: int, rate: float):
        self.appt, self.fin = appt, fin
        self.threads, self.rate = threads, rate
        self.stop = threading.Event()
        self.lock = threading.Lock()
        self.started: list[tuple[str, object]] = []  # (id, start datetime) not yet finished
        self.finished: dict[str, str] = {}  # id -> end_date sent
        self.statuses: Counter = Counter()  # (op, status)
        self.failures: list[str] = []
        self.ops, self.weights = zip(*self.MIX)
        self.workers: list[threading.Thread] = []

    def run(self) -> None:
        for i in range(self.threads):
            t = threading.Thread(target=self._worker, args=(i,), daemon=True, name=f"load-{i}")
            t.start()
            self.workers.append(t)

    def halt(self) -> None:
        self.stop.set()
        for t in self.workers:
            t.join(30)

    def _worker(self, i: int) -> None:
        rng = random.Random(i * 7777 + int(time.time()))
        period = self.threads / self.rate if self.rate > 0 else 0.0
        nxt = time.monotonic()
        while not self.stop.is_set():
            op = rng.choices(self.ops, self.weights)[0]
            try:
                st = getattr(self, "_" + op)(rng)
            except OSError as e:  # no answer at all: a hang or a crash
                st = "noanswer"
                with self.lock:
                    self.failures.append(f"{op}: {e!r}")
            with self.lock:
                self.statuses[(op, st)] += 1
                if isinstance(st, int) and st >= 500:
                    self.failures.append(f"{op}: {st}")
            nxt += period
            delay = nxt - time.monotonic()
            if delay > 0:
                self.stop.wait(delay)
            else:
                nxt = time.monotonic()

    # ---- operations: each returns the HTTP status
    def _start(self, rng: random.Random) -> int:
        start = now() - timedelta(minutes=rng.randint(5, 48 * 60))
        r = http("POST", self.appt.url("/appointments"),
                 json={"physician_id": rng.choice(PHYSICIANS), "patient_id": rng.choice(PATIENTS),
                       "start_date": iso(start)})
        if r.status == 201:
            with self.lock:
                self.started.append((r.body["id"], start))
        return r.status

    def _finish(self, rng: random.Random) -> int:
        with self.lock:
            if not self.started:
                item = None
            else:
                item = self.started.pop(rng.randrange(len(self.started)))
        if item is None:
            return self._start(rng)
        aid, start = item
        end = min(now(), start + timedelta(minutes=rng.randint(1, 30 * 60)))  # type: ignore[operator]
        r = http("POST", self.appt.url(f"/appointments/{aid}/finish"), json={"end_date": iso(end)})
        if r.status == 200:
            with self.lock:
                self.finished[aid] = iso(end)
        else:
            with self.lock:
                self.started.append(item)
        return r.status

    def _some_finished(self, rng: random.Random) -> tuple[str, str] | None:
        with self.lock:
            if not self.finished:
                return None
            # recent ones mostly: a dict keeps insertion order
            keys = list(self.finished)[-200:]
            aid = rng.choice(keys)
            return aid, self.finished[aid]

    def _refinish(self, rng: random.Random) -> int:
        got = self._some_finished(rng)
        if not got:
            return self._start(rng)
        aid, end = got
        r = http("POST", self.appt.url(f"/appointments/{aid}/finish"), json={"end_date": end})
        return r.status

    def _get(self, rng: random.Random) -> int:
        got = self._some_finished(rng)
        aid = got[0] if got else str(uuid.uuid4())
        return http("GET", self.appt.url(f"/appointments/{aid}")).status

    def _list(self, rng: random.Random) -> int:
        q = rng.choice(["?limit=20", "?status=finished&limit=50", "?status=started",
                        f"?physician_id={rng.choice(PHYSICIANS)}&limit=10",
                        f"?patient_id={rng.choice(PATIENTS)}"])
        r = http("GET", self.appt.url("/appointments" + q))
        if r.status == 200 and r.body.get("next_cursor") and rng.random() < 0.5:
            r = http("GET", self.appt.url(f"/appointments?limit=20&cursor={r.body['next_cursor']}"))
        return r.status

    def _billing(self, rng: random.Random) -> int:
        got = self._some_finished(rng)
        aid = got[0] if got else str(uuid.uuid4())
        return http("GET", self.fin.url(f"/billings/{aid}")).status  # 404 until consumed

    def _compat_billing(self, rng: random.Random) -> int:
        got = self._some_finished(rng)
        aid = got[0] if got else str(uuid.uuid4())
        return http("GET", self.fin.url(f"/{aid}/")).status

    def _billings(self, rng: random.Random) -> int:
        frm = iso(now() - timedelta(days=3))
        q = rng.choice([f"?physician_id={rng.choice(PHYSICIANS)}&from={frm}&limit=50",
                        f"?patient_id={rng.choice(PATIENTS)}", "?limit=100"])
        return http("GET", self.fin.url("/billings" + q)).status

    def _summary(self, rng: random.Random) -> int:
        frm, to = iso(now() - timedelta(days=3)), iso(now() + timedelta(days=1))
        g = rng.choice(["physician", "patient", "day"])
        return http("GET", self.fin.url(f"/billings/summary?from={frm}&to={to}&group_by={g}")).status

    def _health(self, rng: random.Random) -> int:
        svc = rng.choice([self.appt, self.fin])
        return http("GET", svc.url(rng.choice(["/healthz", "/readyz"]))).status

    def _metrics(self, rng: random.Random) -> int:
        return http("GET", rng.choice([self.appt, self.fin]).url("/metrics")).status

    def _bad(self, rng: random.Random) -> int:
        a, f = self.appt, self.fin
        kind = rng.randrange(8)
        if kind == 0:
            r = http("POST", a.url("/appointments"), raw_body=b'{"physician_id": ',
                     headers={"Content-Type": "application/json"})
        elif kind == 1:
            r = http("POST", a.url("/appointments"), json={"physician_id": "not-a-uuid",
                                                          "patient_id": rng.choice(PATIENTS)})
        elif kind == 2:
            r = http("GET", a.url("/appointments/not-a-uuid"))
        elif kind == 3:
            r = http("POST", a.url(f"/appointments/{uuid.uuid4()}/finish"), json={})
        elif kind == 4:
            r = http("DELETE", a.url("/appointments"))
        elif kind == 5:
            r = http("POST", a.url("/appointments"), raw_body=b"physician_id=x",
                     headers={"Content-Type": "text/plain"})
        elif kind == 6:
            r = http("POST", a.url("/appointments"), raw_body=b'{"x":"' + b"a" * 70000 + b'"}',
                     headers={"Content-Type": "application/json"})
        else:
            r = http("GET", f.url("/billings/summary?from=yesterday&group_by=planet"))
        if not 400 <= r.status < 500:
            with self.lock:
                self.failures.append(f"bad request #{kind} answered {r.status}")
        return r.status


def main() -> int:
    seconds = env_float("SOAK_SECONDS", 1800)
    warmup = env_float("SOAK_WARMUP_SECONDS", min(120.0, max(20.0, seconds * 0.1)))
    threads = int(env_float("SOAK_THREADS", 4))
    rate = env_float("SOAK_RATE", 20)
    tolerance = env_float("SOAK_RSS_TOLERANCE", 0.10)
    if warmup >= seconds:
        print(f"soak: SOAK_WARMUP_SECONDS ({warmup}) must be below SOAK_SECONDS ({seconds})",
              file=sys.stderr)
        return 2
    print(f"soak: {seconds:.0f} s of mixed load ({threads} threads, ~{rate:g} req/s), "
          f"RSS sampled after {warmup:.0f} s of warm-up and at the end (tolerance "
          f"{tolerance:.0%})", flush=True)
    began = time.monotonic()
    ok = False
    try:
        st = get_stack()
        print(f"soak: stack up in {time.monotonic() - began:.0f} s ({st.dir})", flush=True)
        # Its consultations last up to 30 h: above the 24 h default.
        env = {"MONGODB_URI": st.ferretdb.uri(f"soak_{uuid.uuid4().hex[:8]}"),
               "KAFKA_BOOTSTRAP": st.kafka.bootstrap, "MAX_CONSULTATION_HOURS": "48"}
        fin = Service("financial", env, log_path=st.dir / "logs" / "soak" / "financial.log").start()
        appt = Service("appointment", env,
                       log_path=st.dir / "logs" / "soak" / "appointment.log").start()
        wait_ready(fin, 60)
        wait_ready(appt, 60)

        load = Load(appt, fin, threads, rate)
        t0 = time.monotonic()
        load.run()
        time.sleep(warmup)
        rss0 = {"appointment": rss_kib(appt.pid), "financial": rss_kib(fin.pid)}
        print(f"soak: after warm-up RSS appointment {rss0['appointment']} KiB, "
              f"financial {rss0['financial']} KiB", flush=True)
        next_report = time.monotonic() + 60
        while time.monotonic() - t0 < seconds:
            time.sleep(1)
            if not (appt.running() and fin.running()):
                break
            if time.monotonic() >= next_report:
                next_report += 60
                print(f"soak: {time.monotonic() - t0:.0f} s, {sum(load.statuses.values())} requests, "
                      f"{len(load.finished)} finished, RSS appointment {rss_kib(appt.pid)} KiB, "
                      f"financial {rss_kib(fin.pid)} KiB", flush=True)
        alive = appt.running() and fin.running()
        rss1 = {"appointment": rss_kib(appt.pid) if appt.running() else 0,
                "financial": rss_kib(fin.pid) if fin.running() else 0}
        load.halt()
        elapsed = time.monotonic() - t0

        ids = set(load.finished)
        appt_db, fin_db = databases(appt, fin)
        r = settle(appt_db, fin_db, ids, timeout=120)
        total = sum(load.statuses.values())
        print(f"\nsoak: {elapsed:.0f} s, {total} requests ({total / elapsed:.1f}/s), "
              f"{len(ids)} consultations finished")
        by_op: dict[str, Counter] = {}
        for (op, status), n in sorted(load.statuses.items(), key=str):
            by_op.setdefault(op, Counter())[status] += n
        for op, c in by_op.items():
            print(f"  {op:15s} " + " ".join(f"{s}:{n}" for s, n in sorted(c.items(), key=str)))
        growth = {k: (rss1[k] - rss0[k]) / rss0[k] for k in rss0}
        for k in rss0:
            print(f"RSS {k:12s} after warm-up {rss0[k]:7d} KiB, end {rss1[k]:7d} KiB "
                  f"({growth[k]:+.1%})")
        print("reconciliation of the soak's consultations:")
        print(format_report(r))
        codes = {}
        if alive:
            codes = {"appointment": appt.stop(), "financial": fin.stop()}
        row = record("soak", len(ids), r, fin_db, ids, began, seconds=round(elapsed),
                     requests=total, rss_kib_start=rss0, rss_kib_end=rss1,
                     rss_growth={k: round(v, 4) for k, v in growth.items()},
                     failures=len(load.failures), exit_codes=codes)
        problems = []
        if not alive:
            problems.append("a service died during the soak")
        problems += [f"{k} RSS {growth[k]:+.1%} beyond ±{tolerance:.0%}"
                     for k in growth if abs(growth[k]) > tolerance]
        if load.failures:
            problems.append(f"{len(load.failures)} failed requests, e.g. {load.failures[:5]}")
        if row["lost"] or row["doubled"] or row["mismatched"] or row["billed"] != row["sent"]:
            problems.append("not reconciled")
        if any(c != 0 for c in codes.values()):
            problems.append(f"exit codes on SIGTERM: {codes}")
        for p in problems:
            print(f"FAIL: {p}")
        ok = not problems
        print("soak: OK" if ok else "soak: FAILED")
    finally:
        shutdown_stack(keep=not ok)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
