"""End to end through a real Prometheus (Debian's, as `make run` starts it):
with the financial consumer not billing, finished consultations make the
reconciliation count them, Prometheus scrapes that, and its rule
ConsultationsUnbilled (deploy/prometheus/alerts.yml, only its `for:`
shortened) fires, as its HTTP API (/api/v1/alerts) reports."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import time
import urllib.request
import uuid

import pytest

from harness import ROOT, free_port, http, metric, state, wait_ready, wait_until

PHYS = "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
PAT = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"
RULES = ROOT / "deploy" / "prometheus" / "alerts.yml"


def alerts(port: int) -> list[dict]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/alerts", timeout=5) as r:
        body = json.load(r)
    assert body["status"] == "success", body
    return body["data"]["alerts"]


def targets(port: int) -> list[dict]:
    """Each target's job, health and last scrape error (for failure messages)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/targets", timeout=5) as r:
        body = json.load(r)
    return [{k: t.get(k) for k in ("scrapePool", "health", "lastError")}
            for t in body["data"]["activeTargets"]]


def firing(port: int, name: str) -> list[dict]:
    return [a for a in alerts(port) if a["labels"]["alertname"] == name and a["state"] == "firing"]


@pytest.fixture
def prometheus(tmp_path):
    """Start Prometheus on a free port; yields a function taking the scrape targets."""
    exe = shutil.which("prometheus")
    if not exe:
        pytest.fail("prometheus not found: install Debian's prometheus package (make deps)")
    procs = []

    def start(appointment_port: int, financial_port: int) -> int:
        # The real rules, with every `for:` cut to 2s so the test takes seconds.
        rules = re.sub(r"^(\s+for:) .*$", r"\1 2s", RULES.read_text(), flags=re.M)
        (tmp_path / "alerts.yml").write_text(rules)
        (tmp_path / "prometheus.yml").write_text(f"""
global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: [alerts.yml]
scrape_configs:
  - job_name: appointment
    static_configs: [{{targets: ["127.0.0.1:{appointment_port}"]}}]
  - job_name: financial
    static_configs: [{{targets: ["127.0.0.1:{financial_port}"]}}]
""")
        port = free_port()
        log = open(state.log_root() / f"prometheus-{port}.log", "ab")
        procs.append(subprocess.Popen(
            [exe, f"--config.file={tmp_path / 'prometheus.yml'}", f"--storage.tsdb.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}"],
            stdin=subprocess.DEVNULL, stdout=log, stderr=log, start_new_session=True))
        log.close()

        def ready():
            assert procs[-1].poll() is None, "prometheus exited"
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=2) as r:
                return r.status == 200
        wait_until(ready, 30, message="prometheus never became ready")
        return port

    yield start
    for p in procs:
        p.terminate()
        try:
            p.wait(20)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def test_consultations_unbilled_fires_in_prometheus(start_service, stack, dbname, topic, prometheus):
    appt = start_service("appointment", KAFKA_TOPIC=topic)
    # The consumer reads a topic nothing is published to: it bills nothing.
    idle = f"{topic}.idle"
    stack.kafka.create_topic(idle, 1)
    fin = start_service("financial", MONGODB_URI=stack.ferretdb.uri(dbname + "_fin"), KAFKA_TOPIC=idle,
                        KAFKA_GROUP_ID=f"g-{uuid.uuid4().hex[:8]}", APPOINTMENT_URL=appt.base_url,
                        RECONCILE_INTERVAL_S=1, RECONCILE_AFTER_S=2, RECONCILE_WINDOW_S=3600)
    wait_ready(appt, everything=False)
    wait_ready(fin, everything=False)
    port = prometheus(appt.port, fin.port)

    # Both scraped (service discovery hands targets over after up to 5 s;
    # until then the service-down rules may fire, rightly), then evaluated a
    # few times with nothing unbilled: quiet.
    wait_until(lambda: metric(fin, "clinic_reconciliation_up") == 1, 20)
    wait_until(lambda: sorted((t["scrapePool"], t["health"]) for t in targets(port))
               == [("appointment", "up"), ("financial", "up")], 30,
               message="prometheus never scraped both services")
    wait_until(lambda: not firing(port, "FinancialServiceDown")
               and not firing(port, "AppointmentServiceDown"), 10, message=str(targets(port)))
    time.sleep(4)
    assert firing(port, "ConsultationsUnbilled") == []

    for _ in range(2):
        r = http("POST", appt.url("/appointments"), json={"physician_id": PHYS, "patient_id": PAT})
        assert r.status == 201, r.body
        assert http("POST", appt.url(f"/appointments/{r.body['id']}/finish"), json={}).status == 200

    started = time.monotonic()
    got = wait_until(lambda: firing(port, "ConsultationsUnbilled"), 60,
                     message="ConsultationsUnbilled did not fire within 60 s")
    (alert,) = got
    assert alert["labels"]["severity"] == "page" and alert["labels"]["job"] == "financial"
    assert float(alert["value"]) == 2
    assert alert["annotations"]["runbook_url"] == "docs/operations.md#consultationsunbilled"
    assert time.monotonic() - started < 60
