"""deploy/prometheus/: the Prometheus configurations and the alert rules,
checked by Prometheus' own promtool (Debian's `prometheus` package, which
deploy/deps.sh installs): the configs load, the rules parse, and
tests.yml's fixtures (each alert firing, not firing, its metric absent)
pass. Plus what promtool does not check: every alert has a severity, a
summary and a runbook_url whose section exists in docs/operations.md. Needs
no running service."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import ROOT

PROM = ROOT / "deploy" / "prometheus"
OPERATIONS = ROOT / "docs" / "operations.md"
REQUIRED = {"OutboxBacklogStuck", "ConsumerLagGrowing", "DeadLettersOpen", "ConsultationsUnbilled",
            "ReconcilerStale"}


def promtool(*args: str, cwd: Path = PROM) -> subprocess.CompletedProcess:
    exe = shutil.which("promtool")
    if not exe:
        pytest.fail("promtool not found: install Debian's prometheus package (make deps)")
    return subprocess.run([exe, *args], cwd=cwd, capture_output=True, text=True, timeout=120)


def rules() -> list[dict]:
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"] if "alert" in r]


def slug(heading: str) -> str:
    """GitHub's anchor of a heading (as tests/integration/test_readme.py)."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def test_local_config_is_valid():
    r = promtool("check", "config", "prometheus.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "1 rule files found" in r.stdout + r.stderr


def test_compose_config_is_valid():
    # --syntax-only: its token file exists inside the container only.
    r = promtool("check", "config", "--syntax-only", "prometheus.compose.yml")
    assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("name", ["prometheus.yml", "prometheus.compose.yml"])
def test_configs_scrape_both_services_with_the_rules(name):
    cfg = yaml.safe_load((PROM / name).read_text())
    assert cfg["rule_files"] == ["alerts.yml"]
    jobs = {s["job_name"]: s for s in cfg["scrape_configs"]}
    assert set(jobs) == {"appointment", "financial"}
    ports = {"appointment": "8080", "financial": "8081"}
    for job, sc in jobs.items():
        (target,) = [t for c in sc["static_configs"] for t in c["targets"]]
        assert target.endswith(":" + ports[job]), (name, target)


def test_rules_are_valid():
    r = promtool("check", "rules", "alerts.yml")
    assert r.returncode == 0, r.stdout + r.stderr


def test_rule_unit_tests_pass():
    r = promtool("test", "rules", "tests.yml")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "SUCCESS" in r.stdout


def test_a_broken_rule_fails_its_unit_tests(tmp_path):
    """The fixtures can fail: with ConsultationsUnbilled's threshold moved,
    promtool test rules says so."""
    for f in ("alerts.yml", "tests.yml"):
        shutil.copy(PROM / f, tmp_path / f)
    text = (tmp_path / "alerts.yml").read_text()
    assert "expr: clinic_unbilled_consultations > 0" in text
    (tmp_path / "alerts.yml").write_text(
        text.replace("expr: clinic_unbilled_consultations > 0", "expr: clinic_unbilled_consultations > 5"))
    r = promtool("test", "rules", "tests.yml", cwd=tmp_path)
    assert r.returncode != 0 and "ConsultationsUnbilled" in r.stdout + r.stderr, r.stdout + r.stderr


def test_the_alerts_the_design_needs_exist():
    by_name = {r["alert"]: r for r in rules()}
    assert REQUIRED <= set(by_name), f"missing alerts: {sorted(REQUIRED - set(by_name))}"
    down = [r for r in rules() if "absent(" in r["expr"] and "up{" in r["expr"]]
    assert {r["alert"] for r in down} >= {"AppointmentServiceDown", "FinancialServiceDown"}


def test_every_alert_has_severity_summary_and_a_runbook_section():
    text = OPERATIONS.read_text()
    anchors = {slug(m.group(1)) for m in re.finditer(r"^#+ (.+)$", text, re.M)}
    for r in rules():
        name = r["alert"]
        assert r.get("labels", {}).get("severity") in ("page", "ticket"), name
        ann = r.get("annotations", {})
        assert ann.get("summary"), f"{name}: no summary"
        url = ann.get("runbook_url", "")
        m = re.fullmatch(r"docs/operations\.md#([\w-]+)", url)
        assert m, f"{name}: runbook_url {url!r} does not point into docs/operations.md"
        assert m.group(1) in anchors, f"{name}: docs/operations.md has no section #{m.group(1)}"
        assert r.get("for"), f"{name}: no `for:` (a single bad scrape would page)"


def test_every_alert_has_firing_and_quiet_fixtures():
    doc = yaml.safe_load((PROM / "tests.yml").read_text())
    fires, quiet = set(), set()
    for t in doc["tests"]:
        for a in t.get("alert_rule_test", []):
            (fires if a.get("exp_alerts") else quiet).add(a["alertname"])
    names = {r["alert"] for r in rules()}
    assert names <= fires, f"never seen firing in tests.yml: {sorted(names - fires)}"
    assert names <= quiet, f"never seen quiet in tests.yml: {sorted(names - quiet)}"
