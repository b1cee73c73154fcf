"""The harness's run state, shared by its modules: the session's stack (set
by session.get_stack(), None before and after) and the test running now (the
per-test guard in fixtures.py sets it; a Service's log goes under its name)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from harness.paths import TEST_VAR

if TYPE_CHECKING:
    from harness.session import Stack

stack: "Stack | None" = None
current_test = "session"


def log_root() -> Path:
    """var/test/<run-id>/logs/<test>/: where a Service started now logs by default."""
    return (stack.dir if stack else TEST_VAR / "no-stack") / "logs" / current_test
