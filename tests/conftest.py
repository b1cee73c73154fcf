"""pytest wiring of every suite (integration, e2e, chaos): the harness's
fixtures and hooks (tests/harness/fixtures.py), one session stack for all.

The harness is importable because pytest.ini sets `pythonpath = tests`. Its
asserts are rewritten like a test's, so a failing helper (assert_problem,
assert_clean, ...) reports the values it compared.
"""

import pytest

pytest.register_assert_rewrite("harness")

from harness.fixtures import *  # noqa: E402,F401,F403
