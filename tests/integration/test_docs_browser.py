"""/docs in a real browser: headless Chromium (Debian's, /usr/bin/chromium)
loads each service's Swagger UI, which must list every route of the
service's OpenAPI document, and "Try it out" must reach the same service.
A screenshot of each page goes to var/screenshots/<service>-docs.png.

Chromium is driven over the DevTools protocol on a pipe
(--remote-debugging-pipe: JSON messages ended by NUL on fds 3 and 4), so the
test needs no driver package and opens no debugging port. Background network
features are off: the page must render from the service alone (Swagger UI's
validatorUrl is null, its files are served by the service).
"""

from __future__ import annotations

import base64
import json
import os
import shutil
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from harness import ROOT, http, wait_until
from harness.openapi_check import HTTP_METHODS

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
SCREENSHOTS = ROOT / "var" / "screenshots"
FLAGS = [
    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
    "--no-first-run", "--no-default-browser-check", "--disable-background-networking",
    "--disable-component-update", "--disable-sync", "--disable-default-apps",
    "--metrics-recording-only", "--disable-quic", "--disable-extensions",
    "--window-size=1280,2000", "--remote-debugging-pipe", "about:blank",
]

pytestmark = [
    pytest.mark.skipif(not (os.access(CHROMIUM, os.X_OK) or shutil.which("chromium")),
                       reason=f"{CHROMIUM} is missing (deploy/deps.sh installs chromium)"),
    pytest.mark.slow,
]


class Browser:
    """Headless Chromium with one page, driven over --remote-debugging-pipe."""

    def __init__(self, user_data_dir: str, log_path: Path):
        to_chrome_r, self._to_chrome = os.pipe()
        self._from_chrome, from_chrome_w = os.pipe()
        self._log = open(log_path, "ab")

        def fds() -> None:  # Chromium reads commands on fd 3 and writes replies on fd 4
            r, w = os.dup(to_chrome_r), os.dup(from_chrome_w)  # neither may be 3 or 4 itself
            r, w = (os.dup(r) if r in (3, 4) else r), (os.dup(w) if w in (3, 4) else w)
            os.dup2(r, 3)
            os.dup2(w, 4)

        binary = CHROMIUM if os.access(CHROMIUM, os.X_OK) else shutil.which("chromium")
        self.proc = subprocess.Popen([binary, f"--user-data-dir={user_data_dir}", *FLAGS],
                                     stdin=subprocess.DEVNULL, stdout=self._log, stderr=self._log,
                                     preexec_fn=fds, pass_fds=(3, 4))
        os.close(to_chrome_r)
        os.close(from_chrome_w)
        self._buf = b""
        self._next_id = 0
        self.session: str | None = None
        self.events: list[dict] = []  # DevTools events received so far (Network.*, ...)
        target = self.call("Target.createTarget", {"url": "about:blank"}, timeout=60)["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        self.call("Page.enable")
        self.call("Runtime.enable")
        self.call("Network.enable")

    def call(self, method: str, params: dict | None = None, timeout: float = 30.0) -> dict:
        self._next_id += 1
        msg: dict[str, Any] = {"id": self._next_id, "method": method, "params": params or {}}
        if self.session and not method.startswith("Target."):
            msg["sessionId"] = self.session
        os.write(self._to_chrome, json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        while True:
            while b"\0" in self._buf:
                raw, self._buf = self._buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self._next_id:
                    if "error" in reply:
                        raise RuntimeError(f"{method}: {reply['error']}")
                    return reply.get("result", {})
                if "method" in reply:
                    self.events.append(reply)
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise TimeoutError(f"chromium: no answer to {method} in {timeout}s "
                                   f"(exit code {self.proc.poll()})")
            import select
            ready, _, _ = select.select([self._from_chrome], [], [], 0.5)
            if ready:
                chunk = os.read(self._from_chrome, 1 << 20)
                if not chunk:
                    raise RuntimeError(f"chromium closed the pipe during {method}")
                self._buf += chunk

    def eval(self, expression: str, timeout: float = 30.0) -> Any:
        r = self.call("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                           "awaitPromise": True}, timeout)
        if "exceptionDetails" in r:
            raise RuntimeError(f"page script failed: {r['exceptionDetails']}")
        return r["result"].get("value")

    def load(self, url: str, ready_js: str, timeout: float = 60.0, attempts: int = 3) -> Any:
        """Navigate and wait until `ready_js` is truthy; reload on a slow or
        failed load (the machine is shared and loaded)."""
        last: Any = None
        for _ in range(attempts):
            self.call("Page.navigate", {"url": url}, timeout)
            try:
                return wait_until(lambda: self.eval(ready_js), timeout, 0.25,
                                  message=f"{url}: {ready_js}")
            except AssertionError as e:
                last = e
        raise AssertionError(f"{url} did not render in {attempts} attempts: {last}")

    def screenshot(self, path: Path) -> None:
        height = self.eval("Math.min(document.documentElement.scrollHeight, 8000)") or 2000
        self.call("Emulation.setDeviceMetricsOverride",
                  {"width": 1280, "height": int(height), "deviceScaleFactor": 1, "mobile": False})
        data = self.call("Page.captureScreenshot", {"format": "png"}, timeout=60)["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))

    def close(self) -> None:
        try:
            self.call("Browser.close", timeout=5)
        except Exception:  # noqa: BLE001 - killed below anyway
            pass
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self._to_chrome)
        os.close(self._from_chrome)
        self._log.close()


@pytest.fixture
def browser(tmp_path):
    profile = tempfile.mkdtemp(prefix="chromium-", dir=tmp_path)
    last: Exception | None = None
    for _ in range(3):  # a start can time out on a loaded machine
        try:
            b = Browser(profile, tmp_path / "chromium.log")
            break
        except (TimeoutError, RuntimeError) as e:
            last = e
    else:
        log = (tmp_path / "chromium.log").read_text(errors="replace")[-3000:]
        raise AssertionError(f"chromium did not start: {last}\n{log}")
    yield b
    b.close()


# Each documented operation as Swagger UI renders it: method + path.
RENDERED_OPS = """
[...document.querySelectorAll('.opblock')].map(b => [
  (b.querySelector('.opblock-summary-method') || {}).textContent,
  (b.querySelector('.opblock-summary-path') || {}).getAttribute
    ? b.querySelector('.opblock-summary-path').getAttribute('data-path') : null])
"""


@pytest.mark.parametrize("service", ["appointment", "financial"])
def test_docs_render_every_route_and_try_it_out_calls_the_same_service(service, start_service,
                                                                        topic, browser):
    env = {"KAFKA_GROUP_ID": f"g-{topic}"} if service == "financial" else {}
    svc = start_service(service, KAFKA_TOPIC=topic, **env)
    spec = http("GET", svc.url("/openapi.json")).body
    documented = sorted((m.upper(), p) for p, item in spec["paths"].items()
                        for m in item if m in HTTP_METHODS)

    # "Try it out" sends requests to the spec's servers, resolved against the
    # page: none, or only relative URLs ("/"), keep them on this service.
    for server in spec.get("servers", []):
        assert server["url"].startswith("/") and not server["url"].startswith("//"), (
            f"servers url {server['url']!r} would send Try it out elsewhere than {svc.base_url}")

    want = len(documented)
    browser.load(svc.url("/docs"), f"document.querySelectorAll('.opblock').length >= {want}")
    rendered = sorted((m.strip().upper(), p) for m, p in browser.eval(RENDERED_OPS))
    assert rendered == documented, f"/docs of {service} renders {rendered}, the spec has {documented}"
    title = browser.eval("(document.querySelector('.info .title') || {}).textContent")
    assert title and spec["info"]["title"] in title, title
    browser.screenshot(SCREENSHOTS / f"{service}-docs.png")
    # The page needs nothing but the service: no public network call.
    urls = [e["params"]["request"]["url"] for e in browser.events
            if e["method"] == "Network.requestWillBeSent"]
    assert svc.url("/openapi.json") in urls, urls
    elsewhere = [u for u in urls if not u.startswith((svc.base_url + "/", "data:"))]
    assert not elsewhere, f"/docs of {service} requested {elsewhere}"

    # Try it out on GET /healthz: the request goes to this page's origin and succeeds.
    browser.eval("""(() => {
      const op = document.querySelector('#operations-operations-healthz');
      op.querySelector('.opblock-summary-control').click();
      return true; })()""")
    wait_until(lambda: browser.eval(
        "!!document.querySelector('#operations-operations-healthz .try-out__btn')"), 20, 0.2)
    browser.eval("document.querySelector('#operations-operations-healthz .try-out__btn').click()")
    wait_until(lambda: browser.eval(
        "!!document.querySelector('#operations-operations-healthz .execute')"), 20, 0.2)
    browser.eval("document.querySelector('#operations-operations-healthz .execute').click()")
    request_url, status = wait_until(lambda: browser.eval("""(() => {
      const op = document.querySelector('#operations-operations-healthz');
      const url = op.querySelector('.request-url pre');
      const code = op.querySelector('.live-responses-table tbody .response-col_status');
      return url && code ? [url.textContent.trim(), code.textContent.trim()] : null; })()"""),
        30, 0.25, message="Try it out response")
    assert request_url == svc.url("/healthz"), request_url
    assert status.startswith("200"), status
