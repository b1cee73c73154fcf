"""README.md's curl tour works as printed: its shell blocks under
"Using it" run, in order, in one bash (so `ID=$(curl … | jq -r .id)` feeds
the next commands), with the real curl, against an appointment and a
financial service started for this test (localhost:8080/8081 become their
ports) and the sample registry loaded, as `make run` does at its first
start. Every curl must get the status its operation documents in
proto/<service>.openapi.json, and together they must call every route of
both services.

While the appointment service has no registry (NO_REGISTRY: no /physicians
in its OpenAPI document), the tour's registry commands cannot run: they are
left out, and DOC and PAT, the physician and patient they would pick, are
the sample's first ones."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from urllib.parse import urlsplit

import pytest

from harness.openapi_check import HTTP_METHODS, OpenAPIDoc
from harness import ROOT, produce
from harness.registry import has_registry, load_sample, registry

# Each curl call reports on stderr what it did (write-out's %{stderr}, curl ≥ 7.63).
PRELUDE = r"""set -euo pipefail
curl() { command curl -w '%{stderr}CURL %{http_code} %{method} %{url_effective}\n' "$@"; }
"""


def readme_blocks() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text[text.index("## Using it"):]
    section = section[:section.index("\n## ", 5)]
    return [b for b in re.findall(r"^```sh\n(.*?)^```", section, re.M | re.S) if "curl " in b]


def shell_commands(block: str) -> list[str]:
    """A block's commands: lines joined where they end in a backslash or
    leave a quote open (a -d '{…}' over two lines); comments alone."""
    out: list[str] = []
    cur = ""
    for line in block.splitlines(keepends=True):
        if not cur and line.lstrip().startswith("#"):
            out.append(line)  # a comment: its apostrophes quote nothing
            continue
        cur += line
        if cur.rstrip("\n").endswith("\\") or cur.count("'") % 2:
            continue
        out.append(cur)
        cur = ""
    if cur:
        out.append(cur)
    return out


def without_registry(script: str) -> str:
    """The tour less the commands that call /physicians or /patients, with
    DOC and PAT set to the sample's first physician and patient."""
    keep = [c for c in shell_commands(script)
            if not re.search(r"\$A/(physicians|patients)\b", c)]
    return (f"DOC={registry.physician_id(0)} PAT={registry.patient_id(0)}\n" + "".join(keep))


def documented_success(doc: OpenAPIDoc, template: str, method: str) -> set[int]:
    responses = doc.doc["paths"][template][method]["responses"]
    return {int(k) for k in responses if k.isdigit() and 200 <= int(k) < 300}


@pytest.mark.skipif(not (shutil.which("curl") and shutil.which("jq")),
                    reason="curl and jq are needed (deploy/deps.sh installs them)")
def test_readme_curl_examples_run_and_cover_every_route(pair, tmp_path, topic, stack):
    appt, fin = pair
    # The dead-letter examples start from an event in USD (financial bills BRL).
    usd = {"appointment_id": str(uuid.uuid4()), "physician_id": "2b3c1a5e-8f7d-4c2b-9a1e-1f2e3d4c5b6a",
           "patient_id": "7d8e9f0a-1b2c-4d3e-8f4a-5b6c7d8e9f0a", "start_date": "2024-05-03T09:00:00Z",
           "end_date": "2024-05-03T10:00:00Z", "hourly_price_cents": 20000, "currency": "USD"}
    produce(stack.kafka.bootstrap, topic, json.dumps(usd), key=usd["appointment_id"],
            headers={"ce_type": "clinic.appointment.finished.v1", "ce_id": str(uuid.uuid4()),
                     "ce_source": "/clinic-events/appointment"})
    blocks = readme_blocks()
    assert blocks, "README's 'Using it' section has no sh block with curl examples"
    script = "\n".join(blocks)
    if has_registry():
        load_sample(appt.base_url)
    else:
        script = without_registry(script)
    for default, svc in (("8080", appt), ("8081", fin)):
        assert re.search(rf"(127\.0\.0\.1|localhost):{default}\b", script), \
            f"the examples never name {svc.name}'s default port {default}"
        script = re.sub(rf"(127\.0\.0\.1|localhost):{default}\b", f"127.0.0.1:{svc.port}", script)
    proc = subprocess.run(["bash", "-c", PRELUDE + script], cwd=tmp_path, capture_output=True,
                          text=True, timeout=120)
    calls = [line.split(" ", 3)[1:] for line in proc.stderr.splitlines() if line.startswith("CURL ")]
    assert proc.returncode == 0, (f"README examples failed (exit {proc.returncode}):\n"
                                  f"stderr: {proc.stderr[-3000:]}\nstdout: {proc.stdout[-2000:]}")

    docs = {appt.port: OpenAPIDoc.for_service("appointment"),
            fin.port: OpenAPIDoc.for_service("financial")}
    covered: set[tuple[str, str, str]] = set()
    for status, method, url in calls:
        u = urlsplit(url)
        doc = docs[u.port]
        template, op_method = doc.match(method, u.path)
        assert op_method, f"README calls {method} {u.path} on {doc.name}: no such operation"
        want = documented_success(doc, template, op_method)
        assert int(status) in want, (f"README's {method} {url} got {status}; {doc.name}'s "
                                     f"{method} {template} documents {sorted(want)}")
        covered.add((doc.name, op_method.upper(), template))

    every = {(d.name, m.upper(), p) for d in docs.values()
             for p, item in d.doc["paths"].items() for m in item if m in HTTP_METHODS}
    missing = sorted(every - covered)
    assert not missing, f"routes without a curl example in README.md: {missing}"


def test_every_make_target_readme_names_exists():
    """Over the README and docs/: every target the Makefile's users need is
    named, and every `make X` named is a target."""
    pages = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
    text = "\n".join(p.read_text() for p in pages)
    named = set(re.findall(r"\bmake ([a-z][a-z-]*)\b", text))
    for target in ("test", "run", "bench", "chaos", "fuzz", "soak", "reconcile"):
        assert target in named, f"README and docs/ do not mention make {target}"
    makefile = (ROOT / "Makefile").read_text()
    defined = set(re.findall(r"^([a-z][a-z-]*):", makefile, re.M))
    missing = sorted(named - defined)
    assert not missing, f"README or docs/ name make targets the Makefile lacks: {missing}"
