"""tests/include_graph.py catches what it is there for: each test copies the
C tree (common/, appointment/, financial/) to a temporary directory, breaks
one rule with one added #include, and runs the script on the copy, as
tests/run.sh runs it on the tree. No service, no database: a second."""

from __future__ import annotations

import shutil
import subprocess
import sys

import pytest

from harness import ROOT

SCRIPT = ROOT / "tests" / "include_graph.py"


def run(tree) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), str(tree)], capture_output=True,
                          text=True, timeout=60)


@pytest.fixture
def tree(tmp_path):
    for d in ("common", "appointment", "financial"):
        shutil.copytree(ROOT / d, tmp_path / d)
    return tmp_path


def failure(tree) -> str:
    """Runs the script on tree, which must fail (exit 1): its output."""
    r = run(tree)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "include_graph: FAILED" in r.stdout
    return r.stdout


def failure_with(tree, path: str, header: str) -> str:
    """failure() once #include "header" is added after the first line of
    tree/path."""
    f = tree / path
    first, rest = f.read_text().split("\n", 1)
    f.write_text(f'{first}\n#include "{header}"\n{rest}')
    return failure(tree)


def test_the_tree_passes(tree):
    r = run(tree)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "include_graph: ok" in r.stdout


def test_a_cycle_within_one_layer_fails_naming_its_chain(tree):
    # json.h includes buf.h; buf.c including json.h closes a cycle between
    # two modules of the same layer (base), so only the cycle rule sees it.
    out = failure_with(tree, "common/buf.c", "json.h")
    assert "include cycle: common/buf -> common/json -> common/buf" in out
    assert "common/buf.c includes common/json.h" in out
    assert "common/json.h includes common/buf.h" in out
    assert "(layer " not in out, out


def test_the_cycle_api_and_service_had_fails(tree):
    out = failure_with(tree, "common/api.c", "service.h")
    assert "include cycle: common/api -> common/service -> common/api" in out
    assert "common/api.c (layer api) includes common/service.h (layer service)" in out


def test_common_including_a_service_header_fails(tree):
    out = failure_with(tree, "common/mongo.c", "appt_store.h")
    assert ("common/mongo.c includes appointment/appt_store.h: common/ must not include "
            "appointment/ headers") in out


def test_one_service_including_the_other_fails(tree):
    out = failure_with(tree, "financial/billing.c", "appt_request.h")
    assert "financial/ must not include appointment/ headers" in out


def test_a_header_including_a_higher_layer_fails(tree):
    # billing (domain) must not know the dead-letter producer (worker); dlq
    # includes nothing of billing, so this is no cycle, only a layer breach.
    out = failure_with(tree, "financial/billing.h", "dlq.h")
    assert ("financial/billing.h (layer domain) includes financial/dlq.h (layer worker)"
            in out)
    assert "cycle" not in out


def test_a_module_without_a_layer_fails(tree):
    (tree / "common" / "newthing.h").write_text('#include "buf.h"\n')
    out = failure(tree)
    assert "common/newthing: no layer" in out


def test_namesake_headers_fail(tree):
    shutil.copy(tree / "common" / "log.h", tree / "financial" / "log.h")
    out = failure(tree)
    assert "namesake headers: common/log.h, financial/log.h" in out
