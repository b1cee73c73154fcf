"""README.md stays true: its configuration table lists exactly the variables
each service reads (as `--help` prints them), with the same defaults."""

from __future__ import annotations

import re

import pytest

from harness import ROOT, SERVICES, help_vars


def readme_rows() -> dict[str, tuple[str, str]]:
    """{VAR: (services column, default column)} from the Configuration table."""
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Configuration"):]
    section = section[:section.index("\n## ", 5)]
    rows = {}
    for m in re.finditer(r"^\| `([A-Z][A-Z0-9_]+)` \| ([^|]+) \| ([^|]+) \|", section, re.M):
        rows[m.group(1)] = (m.group(2).strip(), m.group(3).strip())
    return rows


@pytest.mark.parametrize("service", SERVICES)
def test_readme_lists_every_variable_with_its_default(service):
    rows = readme_rows()
    for var, default in help_vars(service).items():
        assert var in rows, f"README's configuration table lacks {var} ({service})"
        who, doc_default = rows[var]
        assert who in ("both", service), f"{var}: README says {who!r}, but {service} reads it"
        if default == "unset":
            assert "empty" in doc_default or "unset" in doc_default, (var, doc_default)
        else:
            assert f"`{default}`" in doc_default, f"{var}: README default {doc_default!r}, --help says {default!r}"


def test_readme_lists_no_variable_nobody_reads():
    read = {s: set(help_vars(s)) for s in SERVICES}
    for var, (who, _) in readme_rows().items():
        readers = [s for s in SERVICES if var in read[s]]
        expect = "both" if len(readers) == 2 else readers[0] if readers else None
        assert who == expect, f"README says {var} is read by {who!r}; it is read by {readers}"


def test_readme_shows_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text
