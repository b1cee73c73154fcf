"""The registry's data side: deploy/registry.py (`make load-sample`,
`make import FILE=...`, `make run`'s first start).

The first tests need no service: the sample is deterministic (the same seed
gives the same 60 physicians and 2,000 patients), its CPFs are valid by the
check-digit algorithm (written out again here, not taken from the script),
its prices are in range and exact in cents, and the NDJSON and CSV readers
report bad rows by line and field. The others run the script against a real
appointment service; they skip while its OpenAPI document has no
/physicians route (the registry is a separate change) and run as soon as it
does.
"""

from __future__ import annotations

import json
import re
import uuid
from collections import Counter
from datetime import date
from decimal import Decimal

import pytest

from harness import free_port, http, wait_ready
from harness.registry import NO_REGISTRY, has_registry, load_sample, registry, run, summary

needs_registry = pytest.mark.skipif(not has_registry(), reason=NO_REGISTRY)

SAMPLE = registry.sample()
PHYS = [r for r in SAMPLE if r.kind == "physician"]
PATS = [r for r in SAMPLE if r.kind == "patient"]


def cpf_valid(value: str) -> bool:
    """The CPF rule: 11 digits, not all the same; digit 10 is
    (Σ d_i·(10−i) for the first 9) · 10 mod 11 mod 10, digit 11 the same
    over the first 10 with weights 11..2."""
    if not re.fullmatch(r"[0-9]{11}", value) or len(set(value)) == 1:
        return False
    d = [int(c) for c in value]
    for n in (9, 10):
        if sum(d[i] * (n + 1 - i) for i in range(n)) * 10 % 11 % 10 != d[n]:
            return False
    return True


# --------------------------------------------------------------------- the sample (no service)

def test_cpf_checker_of_these_tests_knows_valid_and_invalid_cpfs():
    for good in ("52998224725", "11144477735", "39053344705"):
        assert cpf_valid(good), good
    for bad in ("52998224726", "11144477734", "11111111111", "5299822472", "5299822472a"):
        assert not cpf_valid(bad), bad


def test_same_seed_gives_the_same_sample_and_another_seed_another():
    again = registry.sample()
    assert [r.to_ndjson() for r in again] == [r.to_ndjson() for r in SAMPLE]
    other = registry.sample(seed=registry.SEED + 1)
    assert [r.id for r in other] == [r.id for r in SAMPLE], "ids are by index, not by seed"
    assert sum(a.body != b.body for a, b in zip(other, SAMPLE)) > 2000


def test_sample_has_60_physicians_and_2000_patients_with_fixed_uuid5_ids():
    assert (len(PHYS), len(PATS)) == (60, 2000)
    assert [r.kind for r in SAMPLE] == ["physician"] * 60 + ["patient"] * 2000
    ids = [r.id for r in SAMPLE]
    assert len(set(ids)) == len(ids)
    for k, r in enumerate(PHYS):
        assert uuid.UUID(r.id) == uuid.uuid5(registry.NAMESPACE, f"physician/{k}")
        assert str(uuid.UUID(r.id)) == r.id and uuid.UUID(r.id).version == 5
    for k, r in enumerate(PATS):
        assert uuid.UUID(r.id) == uuid.uuid5(registry.NAMESPACE, f"patient/{k}")
    assert [r.line for r in SAMPLE] == list(range(1, 2061)), "lines of `registry.py sample`"


def test_every_patient_cpf_is_valid_and_unique():
    cpfs = [r.body["document"]["value"] for r in PATS]
    assert all(r.body["document"]["system"] == "CPF" for r in PATS)
    invalid = [c for c in cpfs if not cpf_valid(c)]
    assert not invalid, f"CPFs failing the check digits: {invalid[:5]}"
    assert len(set(cpfs)) == len(cpfs)


def test_prices_from_150_to_650_reais_exact_in_cents_as_two_decimal_numbers():
    cents = [r.body["hourly_price"] for r in PHYS]
    assert all(isinstance(c, int) and 15000 <= c <= 65000 for c in cents), cents
    assert min(cents) == 15000 and max(cents) == 65000
    assert len(set(cents)) > 30, "prices are spread, not a few values"
    for r in PHYS:
        text = r.to_json()
        m = re.search(r'"hourly_price":([0-9.]+)[,}]', text)
        assert m and re.fullmatch(r"[0-9]+\.[0-9]{2}", m.group(1)), text
        body = json.loads(text, parse_float=Decimal)
        assert body["hourly_price"] * 100 == r.body["hourly_price"]
        assert body["currency"] == "BRL" and body["active"] is True


def test_a_dozen_specialties_five_physicians_each_and_unique_licenses():
    spec = Counter(r.body["specialty"] for r in PHYS)
    assert len(spec) == 12 and set(spec.values()) == {5}, spec
    lic = [(r.body["license"]["system"], r.body["license"]["value"]) for r in PHYS]
    assert len(set(lic)) == 60
    assert all(re.fullmatch(r"CRM-[A-Z]{2}", s) and re.fullmatch(r"[0-9]{4,6}", v) for s, v in lic)


def test_patients_look_brazilian_and_real():
    births = [date.fromisoformat(r.body["birth_date"]) for r in PATS]
    assert min(births) >= date(1930, 1, 1) and max(births) <= date(2024, 12, 31)
    assert len({b.year for b in births}) > 80, "birth years spread over the decades"
    names = [r.body["name"] for r in PATS]
    assert all(len(n.split()) >= 2 for n in names)
    assert len(set(names)) > 1900
    assert any(re.search(r"[ãáâçéêíóôõú]", n) for n in names), "pt_BR names have accents"
    emails = [r.body["email"] for r in PATS if "email" in r.body]
    phones = [r.body["phone"] for r in PATS if "phone" in r.body]
    assert 1500 < len(emails) < 2000 and 1600 < len(phones) < 2000, "optional, mostly there"
    assert all(re.fullmatch(r"[a-z]+(\.[a-z]+)[0-9]*@example\.(com|com\.br|net|org)", e)
               for e in emails), [e for e in emails if not re.fullmatch(r"\S+@\S+", e)][:3]
    assert all(re.fullmatch(r"\+55[1-9][0-9]9[0-9]{8}", p) for p in phones)


def test_sample_as_ndjson_reads_back_as_the_same_records():
    text = "\n".join(r.to_ndjson() for r in SAMPLE) + "\n"
    parsed = registry.parse_ndjson(text)
    assert not parsed.refused
    assert [(r.kind, r.id, r.body, r.line) for r in parsed.records] == \
        [(r.kind, r.id, r.body, r.line) for r in SAMPLE]


PHYS_A = "0b6c4a52-6a43-4e0e-9a55-2d3f1c0e0001"
PAT_B = "0b6c4a52-6a43-4e0e-9a55-2d3f1c0e0002"


def refusals(parsed) -> list[tuple[int, str]]:
    return [(r.line, r.field) for r in parsed.refused]


def test_ndjson_bad_rows_are_refused_with_their_line_and_field():
    lines = [
        # 1: good
        json.dumps({"kind": "physician", "id": PHYS_A, "name": "Ana Souza", "specialty": "Pediatria",
                    "license": {"system": "CRM-SP", "value": "900001"}, "hourly_price": 220.5,
                    "currency": "BRL"}),
        "",  # 2: blank, skipped but counted
        # 3: good, upper-case id
        json.dumps({"kind": "patient", "id": PAT_B.upper(), "name": "Bruno Lima",
                    "birth_date": "1990-04-01", "document": {"system": "CPF", "value": "52998224725"},
                    "active": False}),
        json.dumps({"kind": "doctor", "id": str(uuid.uuid4())}),  # 4: kind
        json.dumps({"kind": "patient", "id": "not-a-uuid"}),  # 5: id
        '{"kind":"physician","id":"%s","hourly_price":220.505}' % uuid.uuid4(),  # 6: 3 decimals
        '{"kind":"physician","id":"%s","hourly_price":"220.50"}' % uuid.uuid4(),  # 7: a string
        '{"kind":"physician","id":"%s","hourly_price":-1}' % uuid.uuid4(),  # 8: negative
        '{"kind":"patient","id":"%s","active":"yes"}' % uuid.uuid4(),  # 9: active
        "not json",  # 10: body
        "[1, 2]",  # 11: body
        json.dumps({"kind": "physician", "id": PHYS_A, "name": "Again"}),  # 12: same id as 1
        json.dumps({"kind": "physician", "id": str(uuid.uuid4()),  # 13: license of line 1
                    "license": {"system": "CRM-SP", "value": "900001"}}),
        json.dumps({"kind": "patient", "id": str(uuid.uuid4()),  # 14: CPF of line 3
                    "document": {"system": "CPF", "value": "52998224725"}}),
        json.dumps({"kind": "patient", "id": PHYS_A, "name": "a patient may share a physician's id"}),
    ]
    parsed = registry.parse_ndjson("\n".join(lines) + "\n")
    assert refusals(parsed) == [(4, "kind"), (5, "id"), (6, "hourly_price"), (7, "hourly_price"),
                                (8, "hourly_price"), (9, "active"), (10, "body"), (11, "body"),
                                (12, "id"), (13, "license"), (14, "document")]
    good = {r.line: r for r in parsed.records}
    assert sorted(good) == [1, 3, 15]
    assert good[1].body["hourly_price"] == 22050 and good[1].body["active"] is True
    assert '"hourly_price":220.50' in good[1].to_json()
    assert good[3].id == PAT_B and good[3].body["active"] is False
    assert "kind" not in good[3].body and "id" not in good[3].body
    assert str(parsed.refused[1]).startswith("5: refused: id: id must be a UUID")


CSV_HEADER = ("kind,id,name,specialty,license_system,license_value,hourly_price,currency,"
              "birth_date,document_system,document_value,email,phone,active")


def test_csv_rows_become_bodies_and_bad_rows_keep_their_starting_line():
    text = "\n".join([
        CSV_HEADER,  # 1
        f'physician,{PHYS_A},"Elias Ramos",Urologia,CRM-RJ,900011,310,BRL,,,,,,',  # 2
        f'patient,{PAT_B},"Fábia ""Fafá"" Reis",,,,,,1985-07-09,CPF,11144477735,'
        f'fabia@example.com,+5521999990000,FALSE',  # 3
        f'physician,{uuid.uuid4()},"Two',  # 4-5: a quoted cell over two lines, bad price
        f'Lines",Urologia,CRM-RJ,900012,31.999,BRL,,,,,,true',
        f'patient,{uuid.uuid4()},Gil,,,,,,1985-07-09,CPF,11144477735,,,',  # 6: CPF of line 3
        f'patient,{uuid.uuid4()},Gil,,,,,,1985-07-09,CPF,52998224725,,,maybe',  # 7: active
        f'patient,{uuid.uuid4()},too,few',  # 8: cells
        ",,,,,,,,,,,,,",  # 9: empty row, skipped
        f'nurse,{uuid.uuid4()},X,,,,,,,,,,,',  # 10: kind
    ]) + "\n"
    parsed = registry.parse_csv(text)
    assert refusals(parsed) == [(4, "hourly_price"), (6, "document"), (7, "active"), (8, "body"),
                                (10, "kind")]
    phys, pat = parsed.records
    assert (phys.line, pat.line) == (2, 3)
    assert phys.body == {"name": "Elias Ramos", "specialty": "Urologia",
                         "license": {"system": "CRM-RJ", "value": "900011"},
                         "hourly_price": 31000, "currency": "BRL", "active": True}
    assert pat.body == {"name": 'Fábia "Fafá" Reis', "birth_date": "1985-07-09",
                        "document": {"system": "CPF", "value": "11144477735"},
                        "email": "fabia@example.com", "phone": "+5521999990000", "active": False}


def test_csv_with_a_partial_header_and_a_bad_header():
    parsed = registry.parse_csv(f"id,kind,name,birth_date,document_value,document_system\n"
                                f"{PAT_B},patient,Ana,2000-01-01,52998224725,CPF\n")
    assert not parsed.refused and parsed.records[0].body["document"] == \
        {"system": "CPF", "value": "52998224725"}
    with pytest.raises(registry.FileError, match="unknown columns price"):
        registry.parse_csv("kind,id,price\n")
    with pytest.raises(registry.FileError, match="kind and id are required"):
        registry.parse_csv("name,specialty\n")


def test_file_format_by_extension_or_first_character(tmp_path):
    row = {"kind": "patient", "id": PAT_B, "name": "Ana"}
    for name, text in (("a.ndjson", json.dumps(row)), ("a.jsonl", json.dumps(row)),
                       ("a.txt", "\n" + json.dumps(row)),
                       ("a.csv", f"kind,id,name\npatient,{PAT_B},Ana"),
                       ("b.txt", f"\ufeffkind,id,name\npatient,{PAT_B},Ana")):
        (tmp_path / name).write_text(text, encoding="utf-8")
        parsed = registry.parse_file(tmp_path / name)
        assert [(r.kind, r.id, r.body["name"]) for r in parsed.records] == \
            [("patient", PAT_B, "Ana")], name


def test_cli_exits_2_when_the_file_or_the_service_is_missing(tmp_path):
    url = f"http://127.0.0.1:{free_port()}"
    proc = run(url, "import", str(tmp_path / "none.csv"))
    assert proc.returncode == 2 and "none.csv" in proc.stderr
    f = tmp_path / "one.ndjson"
    f.write_text(json.dumps({"kind": "patient", "id": PAT_B, "name": "Ana"}) + "\n")
    proc = run(url, "import", str(f))
    assert proc.returncode == 2 and "Connection refused" in proc.stderr, proc.stderr
    proc = run(url, "load-sample")
    assert proc.returncode == 2 and "Connection refused" in proc.stderr, proc.stderr


def test_cli_prints_the_sample_as_an_import_file():
    proc = run("http://127.0.0.1:9", "sample")
    assert proc.returncode == 0
    assert proc.stdout.splitlines() == [r.to_ndjson() for r in SAMPLE]


# --------------------------------------------------------------------- against the service

def all_ids(svc, route: str) -> list[str]:
    """Every id GET /<route> lists, page by page."""
    ids: list[str] = []
    cursor = None
    for _ in range(100):
        r = http("GET", svc.url(f"/{route}?limit=100" + (f"&cursor={cursor}" if cursor else "")))
        assert r.status == 200, r.body
        ids += [item["id"] for item in r.body["items"]]
        cursor = r.body["next_cursor"]
        if cursor is None:
            return ids
    raise AssertionError(f"/{route} never ended")


@needs_registry
def test_load_sample_twice_second_run_changes_nothing(start_service, topic):
    appt = start_service("appointment", KAFKA_TOPIC=topic)
    proc = run(appt.base_url, "load-sample", "--if-empty", "--json")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    first = summary(proc)
    assert (first["imported"], first["unchanged"], first["refused"]) == (2060, 0, 0), first
    assert (first["physicians"], first["patients"]) == (60, 2000)
    assert "60 physicians and 2000 patients in the registry (2060 loaded" in proc.stdout

    second = load_sample(appt.base_url)
    assert (second["imported"], second["unchanged"], second["refused"]) == (0, 2060, 0), second
    proc = run(appt.base_url, "load-sample", "--if-empty")
    assert proc.returncode == 0 and "sample not loaded: the registry already has physicians" \
        in proc.stdout

    assert sorted(all_ids(appt, "physicians")) == sorted(r.id for r in PHYS)
    assert sorted(all_ids(appt, "patients")) == sorted(r.id for r in PATS)
    for rec in (PHYS[0], PHYS[1], PHYS[59], PATS[0], PATS[1999]):
        got = http("GET", appt.url(rec.path))
        assert got.status == 200
        for k, v in rec.body.items():
            if k == "hourly_price":
                assert round(Decimal(repr(got.body[k])) * 100) == v
            else:
                assert got.body[k] == v, (rec.id, k)
    cardio = http("GET", appt.url("/physicians?specialty=Cardiologia&limit=100"))
    assert sorted(i["id"] for i in cardio.body["items"]) == \
        sorted(r.id for r in PHYS if r.body["specialty"] == "Cardiologia")


@needs_registry
def test_import_reports_good_unchanged_and_refused_rows_by_line(start_service, topic, tmp_path):
    appt = start_service("appointment", KAFKA_TOPIC=topic)
    wait_ready(appt, everything=False)  # writes wait for the database's set-up
    # Already there before the import: a physician whose license and a
    # patient whose CPF the file's rows then try to take.
    held_phys, held_pat = str(uuid.uuid4()), str(uuid.uuid4())
    r = http("PUT", appt.url(f"/physicians/{held_phys}"),
             json={"name": "Helena Prado", "specialty": "Neurologia",
                   "license": {"system": "CRM-SP", "value": "777001"}, "hourly_price": 400.00,
                   "currency": "BRL", "active": True})
    assert r.status == 201, r.body
    r = http("PUT", appt.url(f"/patients/{held_pat}"),
             json={"name": "Hugo Prado", "birth_date": "1970-01-31",
                   "document": {"system": "CPF", "value": "39053344705"}, "active": True})
    assert r.status == 201, r.body

    ok_phys, ok_pat = str(uuid.uuid4()), str(uuid.uuid4())
    ndjson = tmp_path / "people.ndjson"
    ndjson.write_text("\n".join([
        json.dumps({"kind": "physician", "id": ok_phys, "name": "Ana Souza",  # 1 imported
                    "specialty": "Pediatria", "license": {"system": "CRM-SP", "value": "900001"},
                    "hourly_price": 220.5, "currency": "BRL", "active": True}),
        json.dumps({"kind": "patient", "id": ok_pat, "name": "Bruno Lima",  # 2 imported
                    "birth_date": "1990-04-01", "document": {"system": "CPF", "value": "52998224725"},
                    "email": "bruno@example.com", "active": True}),
        "",  # 3
        json.dumps({"kind": "patient", "id": str(uuid.uuid4()), "name": "Carla Dias",  # 4: 400
                    "birth_date": "1991-04-01", "document": {"system": "CPF", "value": "52998224726"},
                    "active": True}),
        json.dumps({"kind": "physician", "id": str(uuid.uuid4()), "name": "Dora Reis",  # 5: 409
                    "specialty": "Pediatria", "license": {"system": "CRM-SP", "value": "777001"},
                    "hourly_price": 180, "currency": "BRL", "active": True}),
        json.dumps({"kind": "patient", "id": str(uuid.uuid4()), "name": "Eva Dias",  # 6: 409
                    "birth_date": "1991-04-01", "document": {"system": "CPF", "value": "39053344705"},
                    "active": True}),
        json.dumps({"kind": "patient", "id": str(uuid.uuid4()), "name": "Fábio Lins",  # 7: 400
                    "birth_date": "1991-02-30", "document": {"system": "CPF", "value": "11144477735"},
                    "active": True}),
        "{oops",  # 8: not JSON
        json.dumps({"kind": "physician", "id": str(uuid.uuid4()), "name": "Gil",  # 9: price
                    "hourly_price": "cem"}),
    ]) + "\n")
    proc = run(appt.base_url, "import", str(ndjson), "--json")
    res = summary(proc)
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert (res["rows"], res["imported"], res["unchanged"], res["refused"]) == (8, 2, 0, 6), res
    got = [(x["line"], x["field"], x["status"]) for x in res["refusals"]]
    assert got == [(4, "document", 400), (5, "license", 409), (6, "document", 409),
                   (7, "birth_date", 400), (8, "body", None), (9, "hourly_price", None)], got
    assert f"{ndjson}:5: physician " in proc.stdout and "refused: license:" in proc.stdout
    assert http("GET", appt.url(f"/physicians/{ok_phys}")).body["hourly_price"] == 220.5
    assert http("GET", appt.url(f"/patients/{ok_pat}")).body["email"] == "bruno@example.com"

    # Again: the good rows are unchanged, the bad ones refused the same way.
    again = summary(run(appt.base_url, "import", str(ndjson), "--json"))
    assert (again["imported"], again["unchanged"], again["refused"]) == (0, 2, 6), again
    assert [(x["line"], x["field"]) for x in again["refusals"]] == [g[:2] for g in got]

    # The same people as CSV, one of them changed: imported (replaced), one unchanged.
    csv = tmp_path / "people.csv"
    csv.write_text("\n".join([
        CSV_HEADER,
        f"physician,{ok_phys},Ana Souza,Pediatria,CRM-SP,900001,240.00,BRL,,,,,,true",  # 2
        f"patient,{ok_pat},Bruno Lima,,,,,,1990-04-01,CPF,52998224725,bruno@example.com,,",  # 3
        f"patient,{uuid.uuid4()},Ivo,,,,,,1990-04-01,CPF,39053344705,,,",  # 4: 409
    ]) + "\n")
    proc = run(appt.base_url, "import", str(csv), "--json")
    res = summary(proc)
    assert proc.returncode == 1
    assert (res["imported"], res["unchanged"], res["refused"]) == (1, 1, 1), res
    assert [(x["line"], x["field"]) for x in res["refusals"]] == [(4, "document")]
    assert http("GET", appt.url(f"/physicians/{ok_phys}")).body["hourly_price"] == 240.0

    # Only good rows: exit 0.
    good = tmp_path / "good.csv"
    good.write_text("\n".join(csv.read_text().splitlines()[:3]) + "\n")
    proc = run(appt.base_url, "import", str(good))
    assert proc.returncode == 0 and "2 rows: 0 imported, 2 unchanged, 0 refused" in proc.stdout


@needs_registry
def test_the_sample_starts_consultations_with_registry_check_on(start_service, topic):
    appt = start_service("appointment", KAFKA_TOPIC=topic, REGISTRY_CHECK="on")
    load_sample(appt.base_url)
    for i in range(6):
        phys, pat = PHYS[i * 11], PATS[i * 397]
        r = http("POST", appt.url("/appointments"),
                 json={"physician_id": phys.id, "patient_id": pat.id})
        assert r.status == 201, r.body
        assert round(Decimal(repr(r.body["price"])) * 100) == phys.body["hourly_price"], \
            "the physician's hourly price is captured"
        if i == 0:
            r = http("POST", appt.url(f"/appointments/{r.body['id']}/finish"), json={})
            assert r.status == 200, r.body
    unknown = str(uuid.uuid4())
    for body, field in (({"physician_id": unknown, "patient_id": PATS[0].id}, "physician_id"),
                        ({"physician_id": PHYS[0].id, "patient_id": unknown}, "patient_id"),
                        ({"physician_id": PATS[0].id, "patient_id": PHYS[0].id}, "physician_id")):
        r = http("POST", appt.url("/appointments"), json=body)
        assert 400 <= r.status < 500 and r.body.get("field") == field, (r.status, r.body)
