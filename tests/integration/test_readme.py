"""The README and docs/ stay true: the configuration table (docs/configuration.md)
lists exactly the variables each service reads (as `--help` prints them), with
the same defaults; the README stays a short front page that links every page
of docs/; every relative link of the README, docs/ and tests/README.md reaches
a file and a heading that exist; and every `_or_reply` function of the code
is named where the convention is described."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from harness import ROOT, SERVICES, help_vars

DOCS = ROOT / "docs"
README_MAX_LINES = 300


def doc_files() -> list[Path]:
    """README.md, then every page of docs/."""
    return [ROOT / "README.md", *sorted(DOCS.glob("*.md"))]


def outside_fences(text: str) -> str:
    """The text with its fenced code blocks blanked (a `# comment` in a sh
    block is not a heading)."""
    return re.sub(r"^```.*?^```", "", text, flags=re.M | re.S)


def section(title: str) -> str:
    """The text under the Markdown heading `title` (at any level) in the
    README or a docs/ page, up to the next heading."""
    for path in doc_files():
        text = outside_fences(path.read_text())
        m = re.search(rf"^#+ {re.escape(title)}\n", text, re.M)
        if m:
            rest = text[m.end():]
            nxt = re.search(r"^#+ ", rest, re.M)
            return rest[:nxt.start()] if nxt else rest
    raise AssertionError(f"no heading {title!r} in README.md or docs/*.md")


def readme_rows() -> dict[str, tuple[str, str]]:
    """{VAR: (services column, default column)} from the Configuration table."""
    rows = {}
    for m in re.finditer(r"^\| `([A-Z][A-Z0-9_]+)` \| ([^|]+) \| ([^|]+) \|", section("Configuration"),
                         re.M):
        rows[m.group(1)] = (m.group(2).strip(), m.group(3).strip())
    return rows


@pytest.mark.parametrize("service", SERVICES)
def test_readme_lists_every_variable_with_its_default(service):
    rows = readme_rows()
    for var, default in help_vars(service).items():
        assert var in rows, f"the configuration table (docs/configuration.md) lacks {var} ({service})"
        who, doc_default = rows[var]
        assert who in ("both", service), f"{var}: the docs say {who!r}, but {service} reads it"
        if default == "unset":
            assert "empty" in doc_default or "unset" in doc_default, (var, doc_default)
        else:
            assert f"`{default}`" in doc_default, f"{var}: docs' default {doc_default!r}, --help says {default!r}"


def test_readme_lists_no_variable_nobody_reads():
    read = {s: set(help_vars(s)) for s in SERVICES}
    for var, (who, _) in readme_rows().items():
        readers = [s for s in SERVICES if var in read[s]]
        expect = "both" if len(readers) == 2 else readers[0] if readers else None
        assert who == expect, f"the docs say {var} is read by {who!r}; it is read by {readers}"


def test_readme_shows_the_two_commands():
    text = (ROOT / "README.md").read_text()
    assert "make run" in text and "make test" in text


def test_readme_is_one_to_three_screenfuls_and_links_every_doc():
    text = (ROOT / "README.md").read_text()
    lines = text.count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines (at most {README_MAX_LINES})"
    pages = sorted(DOCS.glob("*.md"))
    assert pages, "docs/ holds no page"
    unlinked = [p.name for p in pages if f"](docs/{p.name}" not in text]
    assert not unlinked, f"README.md links no docs/ page {unlinked}"


def slug(heading: str) -> str:
    """GitHub's anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    text = re.sub(r"[^\w\- ]", "", heading.strip().lower())
    return text.replace(" ", "-")


def anchors(path: Path) -> set[str]:
    seen: dict[str, int] = {}
    out = set()
    for m in re.finditer(r"^#+ (.+)$", outside_fences(path.read_text()), re.M):
        s = slug(m.group(1))
        n = seen.get(s, 0)
        seen[s] = n + 1
        out.add(s if n == 0 else f"{s}-{n}")
    return out


def test_slug_is_githubs():
    assert slug("Using it: the API") == "using-it-the-api"
    assert slug("Docker Compose (production-like)") == "docker-compose-production-like"
    assert slug("The original Python service's routes") == "the-original-python-services-routes"


def test_every_relative_link_reaches_a_file_and_a_heading():
    broken = []
    checked = 0
    for path in [*doc_files(), ROOT / "tests" / "README.md"]:
        for target in re.findall(r"\]\(([^)\s]+)\)", outside_fences(path.read_text())):
            if re.match(r"[a-z]+:", target):
                continue  # https:, mailto:
            file_part, _, anchor = target.partition("#")
            dest = (path.parent / file_part).resolve() if file_part else path
            checked += 1
            if not dest.exists():
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such file)")
            elif anchor and dest.suffix == ".md" and anchor not in anchors(dest):
                broken.append(f"{path.relative_to(ROOT)}: {target} (no such heading)")
    assert checked > 20, f"only {checked} links found: is the link pattern still right?"
    assert not broken, "broken links:\n" + "\n".join(broken)


def test_every_or_reply_function_is_described():
    """The `_or_reply` convention lists every function that follows it."""
    defined = set()
    for src in [*ROOT.glob("common/*.c"), *ROOT.glob("appointment/*.c"), *ROOT.glob("financial/*.c")]:
        defined |= set(re.findall(r"^(?:static )?\w[\w ]*?\b(\w+_or_reply)\(", src.read_text(), re.M))
    assert defined, "no _or_reply function found in the sources"
    described = section("The result convention")
    missing = sorted(f for f in defined if f"`{f}`" not in described)
    assert not missing, f"_or_reply functions not named in docs' 'The result convention': {missing}"
