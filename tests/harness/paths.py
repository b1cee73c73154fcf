"""Where things are: the repository, the deploy scripts the harness drives,
the build tree, the contracts in proto/."""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PROTO = ROOT / "proto"
KAFKA_SH = ROOT / "deploy" / "kafka" / "kafka.sh"
FERRETDB_SH = ROOT / "deploy" / "ferretdb" / "ferretdb.sh"
POSTGRES_SH = ROOT / "deploy" / "postgres" / "postgres.sh"
TEST_VAR = ROOT / "var" / "test"  # one directory per test session: var/test/<run-id>/
SERVICES = ("appointment", "financial")
_API_SOURCES = {"appointment": "appointment/appt_api.c", "financial": "financial/billing_api.c"}


def api_source(service: str) -> Path:
    """The C file holding the service's route table."""
    return ROOT / _API_SOURCES[service]


def build_dir() -> Path:
    """$BUILD (default build), relative to the repository unless absolute."""
    b = Path(os.environ.get("BUILD", "build"))
    return b if b.is_absolute() else ROOT / b
