"""/metrics of both running services, read by the Prometheus client
library's own exposition parser (prometheus_client.parser), plus the checks
that parser is too lax to make: it turns a sample outside any declared
family into an "untyped" family of its own instead of failing, and it
accepts the same family twice."""

from __future__ import annotations

import os
import re

import pytest
from prometheus_client.parser import text_string_to_metric_families

from harness import build_dir, http, wait_until

PHYS = "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a"
PAT = "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a"


def families(text: str) -> dict:
    """{family name: prometheus_client Metric}. The parser raises on a
    malformed line; a sample outside any `# TYPE` family, a family declared
    twice or one without HELP fail here. (The parser names a counter family
    without its _total suffix, as OpenMetrics does.)"""
    out = {}
    for m in text_string_to_metric_families(text):
        assert m.type != "untyped", f"samples outside a declared family: {m.samples[:2]}"
        assert m.name not in out, f"family {m.name} declared twice"
        assert m.documentation, f"{m.name} has no HELP"
        assert m.name.startswith(("clinic_", "process_")), f"{m.name}: not clinic_ or process_"
        out[m.name] = m
    return out


def value(fams: dict, name: str, **labels) -> float:
    """The value of the one sample of family `name` with these labels."""
    got = [s.value for s in fams[name].samples if all(s.labels.get(k) == v for k, v in labels.items())]
    assert len(got) == 1, (name, labels, fams[name].samples)
    return got[0]


def proc_stat(pid: int) -> list[str]:
    """/proc/<pid>/stat's fields from the state on (field 3 is index 0)."""
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()


def built_version() -> str | None:
    """The version the Makefile wrote into the build the tests run."""
    try:
        text = (build_dir() / "gen" / "version.h").read_text()
    except OSError:
        return None
    m = re.search(r'CLINIC_VERSION "([^"]*)"', text)
    return m.group(1) if m else None


@pytest.fixture
def services(pair):
    """Both services on this test's topic (the harness's pair fixture), and
    one consultation through both, so request counters, histograms and the
    consumer's series have samples."""
    appt, fin = pair
    a = http("POST", appt.url("/appointments"),
             json={"physician_id": PHYS, "patient_id": PAT, "start_date": "2024-05-01T14:00:00Z"})
    assert a.status == 201, a.body
    aid = a.body["id"]
    f = http("POST", appt.url(f"/appointments/{aid}/finish"), json={"end_date": "2024-05-01T15:01:00Z"})
    assert f.status == 200, f.body
    wait_until(lambda: http("GET", fin.url(f"/billings/{aid}")).status == 200, 30,
               message="the consultation billed")
    return {"appointment": appt, "financial": fin}


@pytest.mark.parametrize("name", ["appointment", "financial"])
def test_metrics_parse_with_the_prometheus_parser(services, name):
    svc = services[name]
    started_after, started_before = svc.spawned_at
    r = http("GET", svc.url("/metrics"))
    assert r.status == 200
    assert r.headers["content-type"] == "text/plain; version=0.0.4", r.headers["content-type"]
    fams = families(r.raw.decode())

    # The standard process collector's families, with sane values.
    cpu = value(fams, "process_cpu_seconds")
    assert fams["process_cpu_seconds"].type == "counter"
    ticks = os.sysconf("SC_CLK_TCK")
    stat = proc_stat(svc.pid)
    own_cpu = (int(stat[11]) + int(stat[12])) / ticks  # utime + stime
    assert 0 <= cpu <= own_cpu + 0.05, (cpu, own_cpu)
    rss = value(fams, "process_resident_memory_bytes")
    assert 1 << 20 < rss < 2 << 30, rss
    page = os.sysconf("SC_PAGE_SIZE")
    assert abs(rss - int(stat[21]) * page) < 64 << 20, (rss, int(stat[21]) * page)
    fds = value(fams, "process_open_fds")
    assert 3 <= fds < 10000 and abs(fds - len(os.listdir(f"/proc/{svc.pid}/fd"))) <= 8, fds
    start = value(fams, "process_start_time_seconds")
    assert started_after - 2 <= start <= started_before + 2, (start, started_after, started_before)
    assert value(fams, "process_max_fds") >= fds
    assert value(fams, "process_virtual_memory_bytes") >= rss

    # Which build is running.
    info = fams["clinic_build_info"]
    assert info.type == "gauge" and len(info.samples) == 1, info.samples
    sample = info.samples[0]
    assert sample.value == 1 and sample.labels["service"] == name, sample
    assert re.fullmatch(r"[A-Za-z0-9._+-]+", sample.labels["version"]), sample
    if built_version():
        assert sample.labels["version"] == built_version()

    # What the readiness probe found, and the request metrics.
    assert value(fams, "clinic_ready") == 1
    assert value(fams, "clinic_check_up", check="mongodb") == 1
    assert value(fams, "clinic_check_up", check="kafka") == 1
    assert fams["clinic_http_requests"].type == "counter"
    assert value(fams, "clinic_http_requests", method="GET", route="/readyz", status="200") >= 1
    assert fams["clinic_http_request_duration_seconds"].type == "histogram"
    assert fams["clinic_db_commands"].type == "counter"
    own = {"appointment": ["clinic_events_published", "clinic_outbox_pending"],
           "financial": ["clinic_billings_created", "clinic_consumer_lag", "clinic_consumer_state"]}
    for fam in own[name]:
        assert fam in fams, (fam, sorted(fams))
    if name == "financial":
        assert value(fams, "clinic_billings_created") == 1
        assert value(fams, "clinic_consumer_state", state="running") == 1
    else:
        assert value(fams, "clinic_events_published") == 1
