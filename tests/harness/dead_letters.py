"""The financial service's dead-letter admin API (/dead-letters,
/dead-letter-replays; scope billing:admin) as the suites use it:
test_dead_letters (each route) and tests/chaos/test_chaos_dead_letters.py
(a replay after a fix, at scale)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from harness.http_client import http
from harness.util import wait_until

ADMIN = "dead-letter-admin-0123456789abcdef"
READER = "billing-reader-0123456789abcdef"
# AUTH_TOKENS of a financial service with an admin and a reader.
TOKENS = f"{ADMIN}=billing:admin,billings:read,metrics:read;{READER}=billings:read,metrics:read"
AS_ADMIN = {"Authorization": f"Bearer {ADMIN}"}
AS_READER = {"Authorization": f"Bearer {READER}"}


def admin(svc, method: str, path: str, body: Any = None):
    """One request to `path` with the admin token."""
    return http(method, svc.url(path), json=body, headers=AS_ADMIN)


def all_dead_letters(svc, query: str = "") -> list[dict]:
    """Every item of GET /dead-letters?<query>, page after page (100 a page)."""
    items: list[dict] = []
    cursor = None
    while True:
        q = f"?limit=100{'&' + query if query else ''}" + (f"&cursor={quote(cursor, safe='')}" if cursor else "")
        r = admin(svc, "GET", "/dead-letters" + q)
        assert r.status == 200, (r.status, r.body)
        items += r.body["items"]
        cursor = r.body["next_cursor"]
        if not cursor:
            return items


def replay_job(svc, body: dict, timeout: float = 60.0) -> dict:
    """POST /dead-letter-replays with `body`, then the job once it is no
    longer running (its status, counts, ...)."""
    r = admin(svc, "POST", "/dead-letter-replays", body)
    assert r.status == 202, (r.status, r.body)
    jid = r.body["id"]

    def finished() -> Any:
        j = admin(svc, "GET", f"/dead-letter-replays/{jid}")
        assert j.status == 200, (j.status, j.body)
        return j.body["status"] != "running" and j.body
    return wait_until(finished, timeout, message=f"replay job {jid} finished")
