"""deploy/reconcile.py, the code `make reconcile` runs, for the chaos
scenarios, the soak and the bench: finished appointments against billings.

deploy/ is not a package and not on the import path, so the script is loaded
from its file once and its functions are re-exported here.
"""

from __future__ import annotations

import importlib.util
import sys

from harness.paths import ROOT

_NAME = "clinic_deploy_reconcile"


def _load():
    if _NAME in sys.modules:
        return sys.modules[_NAME]
    spec = importlib.util.spec_from_file_location(_NAME, ROOT / "deploy" / "reconcile.py")
    assert spec is not None and spec.loader is not None
    mod = importlib.util.module_from_spec(spec)
    sys.modules[_NAME] = mod
    spec.loader.exec_module(mod)
    return mod


_mod = _load()
billed_hours = _mod.billed_hours
format_report = _mod.format_report
is_clean = _mod.is_clean
reconcile = _mod.reconcile

__all__ = ["billed_hours", "format_report", "is_clean", "reconcile"]
