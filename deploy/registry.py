#!/usr/bin/env python3
"""The registry of physicians and patients, filled over HTTP:
`make load-sample` and `make import FILE=...`.

  registry.py load-sample [--if-empty]  the sample: 60 physicians over 12
                                        specialties, 2,000 patients
  registry.py import FILE               physicians and patients from NDJSON or CSV
  registry.py sample                    the sample as NDJSON on stdout (what
                                        load-sample sends; an import file too)

Every record goes to the appointment service as `PUT /physicians/{id}` or
`PUT /patients/{id}` with the record's own id, after a `GET` of the same id:
a record the service already holds as it is gets no PUT and counts as
"unchanged", so loading or importing twice changes nothing. Requests run
concurrently (REGISTRY_THREADS keep-alive connections).

The sample is deterministic: ids are uuid5 of a fixed namespace and the
record's index, names come from Faker's pt_BR locale (pinned in
tests/requirements.txt) seeded with SEED, everything else from a
random.Random of the same seed. CPFs carry valid check digits.

Import formats (docs/operations.md, "Importing physicians and patients"):
- NDJSON (.ndjson, .jsonl, or a file whose first character is `{`): one
  object per line, `"kind": "physician"|"patient"`, `"id"`, then the body
  fields of the PUT (`license` and `document` as objects).
- CSV (anything else): a header row naming some of the columns
  kind,id,name,specialty,license_system,license_value,hourly_price,currency,
  birth_date,document_system,document_value,email,phone,active; columns not of
  the row's kind are ignored, an empty cell is an absent field, `active` is
  true/false (empty: true).

Output: one line per refused row (`FILE:LINE: kind id: refused: field: detail`)
and a closing line `N rows: N imported, N unchanged, N refused`; `--json`
adds that summary as one JSON line. Exit status 0 when every row was
imported or unchanged, 1 when any was refused (the others are imported all
the same), 2 when the file cannot be read or the service cannot be used
(unreachable, no registry routes, a token refused).

Environment: APPOINTMENT_URL (http://127.0.0.1:8080), TOKEN (sent as
`Authorization: Bearer TOKEN` when set), REGISTRY_THREADS (8).
"""

from __future__ import annotations

import argparse
import csv
import http.client
import io
import json
import os
import random
import re
import socket
import sys
import threading
import time
import unicodedata
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import date, timedelta
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any, Iterable, Iterator
from urllib.parse import urlsplit

SEED = 20
PHYSICIANS = 60
PATIENTS = 2000
# The namespace of the sample's ids: uuid5(NAMESPACE, "physician/<k>") and
# uuid5(NAMESPACE, "patient/<k>").
NAMESPACE = uuid.UUID("5b7e2c1a-3f4d-5e6a-8b9c-0d1e2f3a4b5c")
PRICE_MIN_CENTS, PRICE_MAX_CENTS = 15000, 65000
UNAVAILABLE_WAIT_S = 30  # how long a 503 is retried
SPECIALTIES = (
    "Cardiologia", "Clínica Médica", "Dermatologia", "Endocrinologia", "Gastroenterologia",
    "Ginecologia", "Neurologia", "Oftalmologia", "Ortopedia", "Pediatria", "Psiquiatria",
    "Urologia",
)
# Federative units and one area code (DDD) of each: a physician's CRM is
# per state, a phone number starts with its area code.
UF_DDD = (("SP", 11), ("RJ", 21), ("MG", 31), ("RS", 51), ("PR", 41), ("BA", 71), ("PE", 81),
          ("CE", 85), ("SC", 48), ("DF", 61), ("GO", 62), ("PA", 91))
EMAIL_DOMAINS = ("example.com", "example.com.br", "example.net", "example.org")

KINDS = ("physician", "patient")
# Every body field of each kind, for comparing what the service holds.
FIELDS = {
    "physician": ("name", "specialty", "license", "hourly_price", "currency", "active"),
    "patient": ("name", "birth_date", "document", "email", "phone", "active"),
}
CSV_COLUMNS = ("kind", "id", "name", "specialty", "license_system", "license_value",
               "hourly_price", "currency", "birth_date", "document_system", "document_value",
               "email", "phone", "active")
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_MONEY = re.compile(r"^[0-9]+(\.[0-9]{1,2})?$")


# --------------------------------------------------------------------- records

@dataclass
class Record:
    """One physician or patient: the PUT's path and body. hourly_price is
    kept in cents (int) and written as a number of two decimals."""

    kind: str
    id: str
    body: dict[str, Any]
    line: int = 0  # its line in the import file (the sample's: in `registry.py sample`)

    @property
    def path(self) -> str:
        return f"/{self.kind}s/{self.id}"

    def to_json(self) -> str:
        """The PUT body: money as a JSON number with two decimals (150.00),
        as the API writes `price`."""
        parts = []
        for k, v in self.body.items():
            if k == "hourly_price" and isinstance(v, int):
                value = f"{v // 100}.{v % 100:02d}"
            else:
                value = json.dumps(v, ensure_ascii=False, separators=(",", ":"))
            parts.append(f"{json.dumps(k)}:{value}")
        return "{" + ",".join(parts) + "}"

    def to_ndjson(self) -> str:
        """The record as a line of an NDJSON import file."""
        head = json.dumps({"kind": self.kind, "id": self.id}, separators=(",", ":"))
        return head[:-1] + "," + self.to_json()[1:]


def physician_id(k: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"physician/{k}"))


def patient_id(k: int) -> str:
    return str(uuid.uuid5(NAMESPACE, f"patient/{k}"))


def cpf_check_digits(nine: str) -> str:
    """The two check digits of a CPF's first nine digits (mod 11, weights
    10..2 then 11..2)."""
    digits = [int(c) for c in nine]
    for weights_from in (10, 11):
        s = sum(d * w for d, w in zip(digits, range(weights_from, 1, -1)))
        r = s * 10 % 11
        digits.append(0 if r == 10 else r)
    return f"{digits[9]}{digits[10]}"


def _ascii(text: str) -> str:
    return unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()


def sample(seed: int = SEED, physicians: int = PHYSICIANS, patients: int = PATIENTS) -> list[Record]:
    """The sample: `physicians` physicians (specialty k % 12, the first two at
    the lowest and highest price), then `patients` patients. The same seed
    gives the same records."""
    from faker import Faker  # the test venv's (tests/requirements.txt)

    fake = Faker("pt_BR")
    fake.seed_instance(seed)
    rng = random.Random(seed)

    def person_name() -> str:
        first = fake.first_name_female() if rng.random() < 0.5 else fake.first_name_male()
        last = fake.last_name()
        if rng.random() < 0.6:
            last = f"{fake.last_name()} {last}"
        return f"{first} {last}"

    out: list[Record] = []
    licenses = rng.sample(range(10000, 300000), physicians)
    for k in range(physicians):
        uf, _ = rng.choice(UF_DDD)
        if k < 2:
            cents = (PRICE_MIN_CENTS, PRICE_MAX_CENTS)[k]
        else:
            cents = rng.randrange(PRICE_MIN_CENTS, PRICE_MAX_CENTS + 1, 50)
        out.append(Record("physician", physician_id(k), {
            "name": person_name(),
            "specialty": SPECIALTIES[k % len(SPECIALTIES)],
            "license": {"system": f"CRM-{uf}", "value": str(licenses[k])},
            "hourly_price": cents,
            "currency": "BRL",
            "active": True,
        }, line=len(out) + 1))

    cpfs: set[str] = set()
    first_day, days = date(1930, 1, 1), (date(2024, 12, 31) - date(1930, 1, 1)).days
    for k in range(patients):
        name = person_name()
        while True:
            nine = "".join(str(rng.randrange(10)) for _ in range(9))
            cpf = nine + cpf_check_digits(nine)
            if len(set(nine)) > 1 and cpf not in cpfs:
                break
        cpfs.add(cpf)
        body: dict[str, Any] = {
            "name": name,
            "birth_date": (first_day + timedelta(days=rng.randrange(days + 1))).isoformat(),
            "document": {"system": "CPF", "value": cpf},
        }
        if rng.random() < 0.85:
            parts = _ascii(name).split()
            local = f"{parts[0]}.{parts[-1]}{rng.randrange(1, 100) if rng.random() < 0.5 else ''}"
            body["email"] = f"{local}@{rng.choice(EMAIL_DOMAINS)}"
        if rng.random() < 0.9:
            _, ddd = rng.choice(UF_DDD)
            body["phone"] = f"+55{ddd}9{rng.randrange(10**8):08d}"
        body["active"] = True
        out.append(Record("patient", patient_id(k), body, line=len(out) + 1))
    return out


# --------------------------------------------------------------------- import files

@dataclass
class Refusal:
    """A row that was not imported: where, and the field the parser or the
    service named."""

    line: int
    field: str
    detail: str
    kind: str = ""
    id: str = ""
    status: int | None = None  # the service's answer; None: refused before sending

    def __str__(self) -> str:
        who = f" {self.kind} {self.id}:" if self.id else ""
        status = f" ({self.status})" if self.status else ""
        return f"{self.line}:{who} refused: {self.field}: {self.detail}{status}"


@dataclass
class Parsed:
    records: list[Record] = field(default_factory=list)
    refused: list[Refusal] = field(default_factory=list)


class FileError(Exception):
    """The file as a whole cannot be read (no such file, a CSV header without
    kind and id, an unknown column)."""


def _price_cents(value: Any) -> int | None:
    """Cents of a price read as a JSON number (int or Decimal): at most two
    decimals, not negative; None when it is not one."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        value = Decimal(value)
    if not isinstance(value, Decimal):
        return None
    try:
        cents = value * 100
    except InvalidOperation:
        return None
    if cents < 0 or cents != cents.to_integral_value():
        return None
    return int(cents)


class _Duplicates:
    """The first line of each kind + id, license and CPF in a file: a later
    row with the same one is refused here (sent at the same time, which of
    the two the service would take is up to the timing)."""

    def __init__(self) -> None:
        self.seen: dict[tuple[str, ...], int] = {}

    def check(self, rec: Record) -> Refusal | None:
        keys = [("id", (rec.kind, rec.id), f"the same {rec.kind}")]
        for fld in ("license", "document"):
            coded = rec.body.get(fld)
            if isinstance(coded, dict) and isinstance(coded.get("system"), str) \
                    and isinstance(coded.get("value"), str):
                keys.append((fld, (fld, coded["system"], coded["value"]), f"the same {fld}"))
        for fld, key, what in keys:
            first = self.seen.get(key)
            if first is not None:
                return Refusal(rec.line, fld, f"{what} as line {first}", rec.kind, rec.id)
        for _, key, _ in keys:
            self.seen[key] = rec.line
        return None


def _show(value: Any) -> str:
    """A value as the file had it (JSON; a decimal as written)."""
    if isinstance(value, Decimal):
        return str(value)
    return json.dumps(value, ensure_ascii=False)


def _record(line: int, kind: Any, rid: Any, body: dict[str, Any]) -> Record | Refusal:
    """Checks what the importer itself needs (kind, id, price, active); the
    service checks the rest."""
    if kind not in KINDS:
        return Refusal(line, "kind", f'kind must be "physician" or "patient", not {_show(kind)}')
    if not isinstance(rid, str) or not _UUID.match(rid.lower()):
        return Refusal(line, "id", f"id must be a UUID, not {_show(rid)}", kind)
    rid = rid.lower()
    if "hourly_price" in body:
        cents = _price_cents(body["hourly_price"])
        if cents is None:
            return Refusal(line, "hourly_price",
                           f"hourly_price must be a number of at most two decimals, not "
                           f"{_show(body['hourly_price'])}", kind, rid)
        body["hourly_price"] = cents
    if not isinstance(body.get("active", True), bool):
        return Refusal(line, "active", f"active must be true or false, not {_show(body['active'])}",
                       kind, rid)
    body.setdefault("active", True)
    return Record(kind, rid, body, line)


def parse_ndjson(text: str) -> Parsed:
    """One object per line; blank lines are skipped. Line numbers from 1."""
    out, dups = Parsed(), _Duplicates()
    for n, raw in enumerate(text.splitlines(), 1):
        if not raw.strip():
            continue
        try:
            obj = json.loads(raw, parse_float=Decimal)
        except ValueError as e:
            out.refused.append(Refusal(n, "body", f"not JSON: {e}"))
            continue
        if not isinstance(obj, dict):
            out.refused.append(Refusal(n, "body", "each line must be a JSON object"))
            continue
        body = {k: v for k, v in obj.items() if k not in ("kind", "id")}
        _add(out, dups, _record(n, obj.get("kind"), obj.get("id"), body))
    return out


_TRUE, _FALSE = {"true", "1", "yes"}, {"false", "0", "no"}


def parse_csv(text: str) -> Parsed:
    """A header row (line 1), then one row per record; a row's line number is
    the line it starts on (a quoted cell may span lines)."""
    out, dups = Parsed(), _Duplicates()
    reader = csv.reader(io.StringIO(text))
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        return out
    unknown = [h for h in header if h not in CSV_COLUMNS]
    if unknown or "kind" not in header or "id" not in header:
        raise FileError(f"CSV header: {'unknown columns ' + ', '.join(unknown) if unknown else 'kind and id are required'}"
                        f"; the columns are {','.join(CSV_COLUMNS)}")
    line = reader.line_num + 1
    for row in reader:
        n, line = line, reader.line_num + 1
        if not any(c.strip() for c in row):
            continue
        if len(row) != len(header):
            out.refused.append(Refusal(n, "body", f"{len(row)} cells for {len(header)} columns"))
            continue
        cells = {h: c.strip() for h, c in zip(header, row) if c.strip()}
        kind = cells.get("kind", "")
        body: dict[str, Any] = {}
        if kind == "physician":
            for k in ("name", "specialty", "hourly_price", "currency"):
                if k in cells:
                    body[k] = cells[k]
            if _MONEY.match(body.get("hourly_price", "")):
                body["hourly_price"] = Decimal(body["hourly_price"])
            if "license_system" in cells or "license_value" in cells:
                body["license"] = {k: cells[f"license_{k}"] for k in ("system", "value")
                                   if f"license_{k}" in cells}
        elif kind == "patient":
            for k in ("name", "birth_date", "email", "phone"):
                if k in cells:
                    body[k] = cells[k]
            if "document_system" in cells or "document_value" in cells:
                body["document"] = {k: cells[f"document_{k}"] for k in ("system", "value")
                                    if f"document_{k}" in cells}
        if "active" in cells:
            a = cells["active"].lower()
            body["active"] = True if a in _TRUE else False if a in _FALSE else cells["active"]
        _add(out, dups, _record(n, kind, cells.get("id", ""), body))
    return out


def _add(out: Parsed, dups: _Duplicates, r: Record | Refusal) -> None:
    if isinstance(r, Refusal):
        out.refused.append(r)
        return
    dup = dups.check(r)
    if dup:
        out.refused.append(dup)
    else:
        out.records.append(r)


def parse_file(path: Path) -> Parsed:
    """NDJSON by its extension (.ndjson, .jsonl) or a first character `{`,
    CSV otherwise."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise FileError(f"{path}: {e}") from e
    if path.suffix.lower() in (".ndjson", ".jsonl") or text.lstrip().startswith("{"):
        return parse_ndjson(text)
    return parse_csv(text)


# --------------------------------------------------------------------- HTTP

class ServiceError(Exception):
    """The service cannot be used at all (unreachable, no registry routes,
    the token refused): no use going on with the other rows."""


class Client:
    """Keep-alive HTTP/1.1 to the appointment service, one connection per
    thread."""

    def __init__(self, base_url: str, token: str | None = None, timeout: float = 15):
        u = urlsplit(base_url)
        if u.scheme not in ("http", "https") or not u.hostname:
            raise ServiceError(f"APPOINTMENT_URL must be http(s)://host[:port], not {base_url!r}")
        self.https = u.scheme == "https"
        self.host, self.port = u.hostname, u.port or (443 if self.https else 80)
        self.prefix = u.path.rstrip("/")
        self.headers = {"Accept": "application/json"}
        if token:
            self.headers["Authorization"] = f"Bearer {token}"
        self.timeout = timeout
        self.local = threading.local()
        # Set once a request raised ServiceError: the other threads' requests
        # then raise at once instead of retrying for nothing.
        self.stopped = threading.Event()

    def _conn(self) -> http.client.HTTPConnection:
        c = getattr(self.local, "conn", None)
        if c is None:
            cls = http.client.HTTPSConnection if self.https else http.client.HTTPConnection
            c = self.local.conn = cls(self.host, self.port, timeout=self.timeout)
            c.connect()
            # Headers and body go in one send, but the answer may not:
            # no Nagle delay on either side of a small request.
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return c

    def request(self, method: str, path: str, body: str | None = None) -> tuple[int, Any]:
        """(status, parsed JSON body or None). Retries a dropped keep-alive
        connection twice, and a 503 (a service still setting up its
        database, or a database outage) after its Retry-After (at most 2 s)
        for up to UNAVAILABLE_WAIT_S."""
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = body.encode()
            headers["Content-Type"] = "application/json"
        deadline = time.monotonic() + UNAVAILABLE_WAIT_S
        attempt = 0
        while True:
            attempt += 1
            if self.stopped.is_set():
                raise ServiceError("stopped: another request failed")
            try:
                c = self._conn()
                c.request(method, self.prefix + path, body=data, headers=headers)
                r = c.getresponse()
                raw = r.read()
                retry_after = r.getheader("Retry-After")
                if r.getheader("Connection", "").lower() == "close":
                    self._drop()
            except (OSError, http.client.HTTPException) as e:
                self._drop()
                if attempt >= 3:
                    raise ServiceError(f"{method} {path}: {e}") from e
                time.sleep(0.2 * attempt)
                continue
            if r.status == 503 and time.monotonic() < deadline:
                time.sleep(min(2.0, float(retry_after)) if (retry_after or "").isdigit() else 0.5)
                continue
            try:
                return r.status, json.loads(raw) if raw else None
            except ValueError:
                return r.status, None

    def _drop(self) -> None:
        c = getattr(self.local, "conn", None)
        if c is not None:
            c.close()
        self.local.conn = None


def _same(rec: Record, held: Any) -> bool:
    """Whether the service holds rec as it is (money compared in cents;
    an optional field absent on one side must be absent on the other)."""
    if not isinstance(held, dict):
        return False
    for k in set(FIELDS[rec.kind]) | set(rec.body):
        want, got = rec.body.get(k), held.get(k)
        if k == "hourly_price" and want is not None:
            got = _price_cents(Decimal(repr(got)) if isinstance(got, float) else got)
        if want != got:
            return False
    return True


def sync_one(client: Client, rec: Record) -> str | Refusal:
    """"imported", "unchanged", or the Refusal the service answered with.
    Raises ServiceError when the service cannot take any record."""
    status, held = client.request("GET", rec.path)
    if status == 200 and _same(rec, held):
        return "unchanged"
    if status not in (200, 404):
        _fail(status, held, "GET", rec.path)
    status, problem = client.request("PUT", rec.path, rec.to_json())
    if status in (200, 201):
        return "imported"
    if status not in (400, 409, 413, 422):
        _fail(status, problem, "PUT", rec.path)
    p = problem if isinstance(problem, dict) else {}
    return Refusal(rec.line, str(p.get("field") or "body"),
                   str(p.get("detail") or p.get("title") or ""), rec.kind, rec.id, status)


def _fail(status: int, body: Any, method: str, path: str) -> None:
    """Raises ServiceError for an answer that no other record would get
    past either."""
    detail = body.get("detail") if isinstance(body, dict) else ""
    if status in (401, 403):
        raise ServiceError(f"{method} {path}: {status} {detail} (TOKEN needs the scopes "
                           "registry:write and patients:write)")
    if status in (404, 405):
        raise ServiceError(f"{method} {path}: {status}: this appointment service has no registry "
                           "routes (/physicians, /patients)")
    raise ServiceError(f"{method} {path}: {status} {detail}")


@dataclass
class Report:
    rows: int = 0
    imported: int = 0
    unchanged: int = 0
    refused: list[Refusal] = field(default_factory=list)
    seconds: float = 0.0
    by_kind: dict[str, int] = field(default_factory=lambda: {"physician": 0, "patient": 0})

    def summary(self) -> dict[str, Any]:
        return {"rows": self.rows, "imported": self.imported, "unchanged": self.unchanged,
                "refused": len(self.refused), "physicians": self.by_kind["physician"],
                "patients": self.by_kind["patient"], "seconds": round(self.seconds, 2),
                "refusals": [{"line": r.line, "field": r.field, "detail": r.detail,
                              "kind": r.kind, "id": r.id, "status": r.status}
                             for r in self.refused]}

    def line(self) -> str:
        return (f"{self.rows} rows: {self.imported} imported, {self.unchanged} unchanged, "
                f"{len(self.refused)} refused ({self.seconds:.1f} s)")


def registry_routes(client: Client) -> bool:
    """Whether the service serves GET /physicians (a 404 means it has no
    registry)."""
    status, body = client.request("GET", "/physicians?limit=1")
    if status not in (200, 404):
        _fail(status, body, "GET", "/physicians")
    return status == 200


def is_empty(client: Client) -> bool:
    """No physician yet (GET /physicians?limit=1 lists none)."""
    status, body = client.request("GET", "/physicians?limit=1")
    if status != 200:
        _fail(status, body, "GET", "/physicians")
    return not (isinstance(body, dict) and body.get("items"))


def sync(client: Client, records: Iterable[Record], threads: int = 8,
         refused: Iterable[Refusal] = ()) -> Report:
    """Sends every record (concurrently); refusals of the parser are counted
    with the service's. Raises ServiceError as soon as one record does."""
    t0 = time.monotonic()
    records = list(records)
    rep = Report(refused=list(refused))
    rep.rows = len(records) + len(rep.refused)
    if records and not registry_routes(client):
        raise ServiceError("this appointment service has no registry routes (GET /physicians "
                           "answers 404): it predates the registry")
    first: list[ServiceError] = []  # the error that stopped the others

    def one(rec: Record) -> str | Refusal:
        try:
            return sync_one(client, rec)
        except ServiceError as e:
            if not client.stopped.is_set():
                client.stopped.set()
                first.append(e)
            raise

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        try:
            results = list(pool.map(one, records))
        except ServiceError as e:
            raise (first[0] if first else e) from None
    for rec, res in zip(records, results):
        if isinstance(res, Refusal):
            rep.refused.append(res)
            continue
        rep.by_kind[rec.kind] += 1
        if res == "imported":
            rep.imported += 1
        else:
            rep.unchanged += 1
    rep.refused.sort(key=lambda r: r.line)
    rep.seconds = time.monotonic() - t0
    return rep


# --------------------------------------------------------------------- CLI

def _client() -> Client:
    return Client(os.environ.get("APPOINTMENT_URL", "http://127.0.0.1:8080"),
                  os.environ.get("TOKEN") or None)


def _threads() -> int:
    return int(os.environ.get("REGISTRY_THREADS", "8"))


def _finish(rep: Report, as_json: bool, where: str = "") -> int:
    for r in rep.refused:
        print(f"{where}{r}")
    print(rep.line())
    if as_json:
        print(json.dumps(rep.summary()))
    return 1 if rep.refused else 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="registry.py", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("load-sample", help="load the sample (60 physicians, 2,000 patients)")
    p.add_argument("--if-empty", action="store_true",
                   help="only when the service has no physician yet (make run's first start)")
    p.add_argument("--json", action="store_true", help="also print the summary as JSON")
    p = sub.add_parser("import", help="import an NDJSON or CSV file")
    p.add_argument("file", type=Path)
    p.add_argument("--json", action="store_true", help="also print the summary as JSON")
    sub.add_parser("sample", help="print the sample as NDJSON")
    a = ap.parse_args(argv)

    if a.cmd == "sample":
        for rec in sample():
            print(rec.to_ndjson())
        return 0
    try:
        client = _client()
        if a.cmd == "load-sample":
            if a.if_empty:
                if not registry_routes(client):
                    print("sample not loaded: this appointment service has no registry routes")
                    return 0
                if not is_empty(client):
                    print("sample not loaded: the registry already has physicians")
                    return 0
            rep = sync(client, sample(), _threads())
            print(f"sample: {rep.by_kind['physician']} physicians and {rep.by_kind['patient']} "
                  f"patients in the registry ({rep.imported} loaded, {rep.unchanged} already there)")
            return _finish(rep, a.json, "sample:")
        parsed = parse_file(a.file)
        return _finish(sync(client, parsed.records, _threads(), parsed.refused), a.json,
                       f"{a.file}:")
    except (ServiceError, FileError) as e:
        print(f"registry: {e}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
