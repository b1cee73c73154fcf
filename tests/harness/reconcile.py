"""deploy/reconcile.py, the code `make reconcile` runs, for the chaos
scenarios, the soak and the bench: finished appointments against billings.

deploy/ is not a package and not on the import path, so the script is loaded
from its file once and its functions are re-exported here.
"""

from __future__ import annotations

from harness.paths import ROOT
from harness.util import load_script

_mod = load_script(ROOT / "deploy" / "reconcile.py", "clinic_deploy_reconcile")
billed_hours = _mod.billed_hours
format_report = _mod.format_report
is_clean = _mod.is_clean
reconcile = _mod.reconcile

__all__ = ["billed_hours", "format_report", "is_clean", "reconcile"]
