"""deploy/registry.py (what `make load-sample` and `make import` run),
loaded from its file like harness.reconcile, for the registry tests, the
README tour and the bench; and whether the appointment service has the
registry routes at all.

Until the registry is part of the appointment service, the tests and the
bench steps that need it skip with NO_REGISTRY: the check is the OpenAPI
document (proto/appointment.openapi.json), so they run as soon as the routes
are there.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from harness.openapi_check import OpenAPIDoc
from harness.paths import ROOT
from harness.util import load_script

SCRIPT = ROOT / "deploy" / "registry.py"
NO_REGISTRY = ("route /physicians not in the OpenAPI document (proto/appointment.openapi.json): "
               "the appointment service has no registry yet")

registry = load_script(SCRIPT, "clinic_deploy_registry")


def has_registry() -> bool:
    """Whether proto/appointment.openapi.json has the route /physicians."""
    return "/physicians" in OpenAPIDoc.for_service("appointment").doc["paths"]


def run(base_url: str, *args: str, token: str | None = None,
        timeout: float = 180) -> subprocess.CompletedProcess[str]:
    """deploy/registry.py ARGS against the appointment service at base_url,
    as `make load-sample` / `make import` run it."""
    env = {**os.environ, "APPOINTMENT_URL": base_url}
    env.pop("TOKEN", None)
    if token:
        env["TOKEN"] = token
    return subprocess.run([sys.executable, str(SCRIPT), *args], env=env, capture_output=True,
                          text=True, timeout=timeout)


def summary(proc: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    """The --json summary line of a run (its last line)."""
    lines = proc.stdout.strip().splitlines()
    assert lines and lines[-1].startswith("{"), \
        f"registry.py printed no summary (exit {proc.returncode}):\n{proc.stdout}\n{proc.stderr}"
    return json.loads(lines[-1])


def load_sample(base_url: str, token: str | None = None) -> dict[str, Any]:
    """`make load-sample` against base_url; its summary. Fails on any refusal."""
    proc = run(base_url, "load-sample", "--json", token=token)
    assert proc.returncode == 0, \
        f"load-sample exited {proc.returncode}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return summary(proc)
