"""MongoDB credentials: in the URI or in MONGODB_URI_FILE, and never in a log.

- A malformed URI holding a password (libmongoc's own reason quotes it:
  `Password "er:s3cr3t" must not have unescaped chars`) stops the service
  with a message naming the variable and the URI with its user info
  redacted; the password is in no log line, at debug level.
- MONGODB_URI_FILE: a URI with credentials (authMechanism=PLAIN, how
  FerretDB 1.24 on PostgreSQL takes them) read from a file; the service
  works, and the password is not in its log, /readyz or /metrics.
- Credentials the server refuses (a user PostgreSQL does not know) leave the
  service running and not ready, saying why, without the password.
- MONGODB_URI_FILE with MONGODB_URI, or an unreadable one: exit 2 naming it.
- FerretDB checks the password: for a PostgreSQL role whose pg_hba line asks
  for scram-sha-256 (the rest of the session's PostgreSQL trusts loopback,
  see docs/security.md), the right password works and a wrong one leaves the
  service up and not ready, saying why, the password in no log line.
"""

from __future__ import annotations

import subprocess
import uuid
from pathlib import Path

import pytest

from harness import Service, build_dir, free_port, http, wait_ready, wait_until

SECRET = "s3cr3t-M0ngo"


def run_to_exit(service: str, env: dict[str, str], timeout: float = 20) -> tuple[int, str]:
    proc = subprocess.run([str(build_dir() / service)], env={
        "PATH": "/usr/bin:/bin", "HTTP_PORT": str(free_port()), "LOG_LEVEL": "debug", **env},
        capture_output=True, text=True, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("service", ["appointment", "financial"])
@pytest.mark.parametrize("userinfo", [f"us:er:{SECRET}", f"user:{SECRET}/x", f"user:{SECRET}%zz"])
def test_a_malformed_uri_never_shows_its_password(service, userinfo):
    rc, out = run_to_exit(service, {"MONGODB_URI": f"mongodb://{userinfo}@127.0.0.1:1/clinic"})
    assert rc != 0, out
    assert "MONGODB_URI: not a valid MongoDB URI (mongodb://[redacted]@" in out, out
    assert SECRET not in out, out


def test_the_uri_file_names_itself_and_hides_its_password(tmp_path: Path):
    f = tmp_path / "uri"
    f.write_text(f"mongodb://us:er:{SECRET}@127.0.0.1:1/clinic\n")
    rc, out = run_to_exit("financial", {"MONGODB_URI_FILE": str(f)})
    assert rc != 0 and "MONGODB_URI_FILE: not a valid MongoDB URI" in out, out
    assert SECRET not in out, out


@pytest.mark.parametrize("env,message", [
    ({"MONGODB_URI_FILE": "/nonexistent/uri"}, "MONGODB_URI_FILE: cannot read '/nonexistent/uri'"),
    ({"MONGODB_URI_FILE": "/dev/null"}, "MONGODB_URI_FILE: '/dev/null' is empty"),
    ({"MONGODB_URI_FILE": "/etc/hostname", "MONGODB_URI": "mongodb://127.0.0.1:1/x"},
     "MONGODB_URI_FILE and MONGODB_URI are both set"),
])
def test_uri_file_mistakes_stop_the_service_at_start(env, message):
    rc, out = run_to_exit("appointment", env)
    assert rc == 2 and message in out, out


def uri_file(directory: Path, port: int, dbname: str, user: str) -> Path:
    f = directory / f"uri-{uuid.uuid4().hex[:6]}"
    f.write_text(f"mongodb://{user}:{SECRET}@127.0.0.1:{port}/{dbname}?authMechanism=PLAIN\n")
    f.chmod(0o600)
    return f


def assert_no_secret(svc: Service) -> None:
    seen = svc.log_text() + "".join(http("GET", svc.url(p)).raw.decode(errors="replace")
                                    for p in ("/readyz", "/metrics"))
    assert SECRET not in seen, f"{svc.name}: the password in its log, /readyz or /metrics"


def test_credentials_from_the_uri_file_work_and_stay_secret(stack, dbname, tmp_path, topic):
    f = uri_file(tmp_path, stack.ferretdb.port, dbname, "postgres")
    appt = Service("appointment", {"MONGODB_URI_FILE": str(f), "KAFKA_TOPIC": topic,
                                   "KAFKA_BOOTSTRAP": stack.kafka.bootstrap,
                                   "LOG_LEVEL": "debug"}).start()
    wait_ready(appt)
    s = http("POST", appt.url("/appointments"),
             json={"physician_id": str(uuid.uuid4()), "patient_id": str(uuid.uuid4())})
    assert s.status == 201, s.body
    assert http("GET", appt.url(f"/appointments/{s.body['id']}")).status == 200
    assert_no_secret(appt)
    assert appt.stop() == 0


def test_refused_credentials_leave_the_service_up_not_ready_and_quiet_about_the_password(
        stack, dbname, tmp_path):
    user = f"nobody_{uuid.uuid4().hex[:6]}"
    f = uri_file(tmp_path, stack.ferretdb.port, dbname, user)
    fin = Service("financial", {"MONGODB_URI_FILE": str(f), "KAFKA_BOOTSTRAP": stack.kafka.bootstrap,
                                "LOG_LEVEL": "debug"}).start()
    r = wait_until(lambda: (x := http("GET", fin.url("/readyz"))).body["status"] != "starting"
                   and x, 20, message="the first probe ends")
    assert r.status == 503 and r.body["checks"]["mongodb"] == "down", r.body
    wait_until(lambda: "cannot create indexes yet" in fin.log_text(), 20,
               message="the set-up says why it waits")
    # the driver's reason, from FerretDB: PostgreSQL refused that user
    assert any(rec.get("msg") == "cannot create indexes yet; retrying"
               and f"failed to connect to `user={user}" in rec.get("error", "")
               for rec in fin.log_records()), fin.log_tail()
    assert fin.running()
    assert_no_secret(fin)
    assert fin.stop() == 0


@pytest.fixture
def checked_role(stack) -> tuple[str, str]:
    """A PostgreSQL role whose password is checked (scram-sha-256 for it
    alone on 127.0.0.1; the rest of the session stack stays on trust), with
    what FerretDB needs to work in its database as that role."""
    role, password = f"clinic_{uuid.uuid4().hex[:6]}", f"pw-{uuid.uuid4().hex}"
    pg = stack.postgres
    pg.psql(f"SET password_encryption = 'scram-sha-256'; "
            f"CREATE ROLE {role} LOGIN PASSWORD '{password}'; "
            f"GRANT CONNECT, CREATE, TEMPORARY ON DATABASE ferretdb TO {role}")
    hba = Path(pg.psql("SHOW hba_file").strip())
    original = hba.read_text()
    hba.write_text(f"host all {role} 127.0.0.1/32 scram-sha-256\n" + original)
    pg.psql("SELECT pg_reload_conf()")
    yield role, password
    hba.write_text(original)
    pg.psql("SELECT pg_reload_conf()")


def test_ferretdb_checks_the_password_through_postgresql(stack, dbname, tmp_path, checked_role):
    """FerretDB 1.24 takes PLAIN credentials to PostgreSQL: the right
    password works, a wrong one leaves the service up, not ready, saying
    why, and neither password is in its log, /readyz or /metrics."""
    role, password = checked_role
    good = tmp_path / "good.uri"
    good.write_text(f"mongodb://{role}:{password}@127.0.0.1:{stack.ferretdb.port}/{dbname}"
                    "?authMechanism=PLAIN\n")
    env = {"KAFKA_BOOTSTRAP": stack.kafka.bootstrap, "LOG_LEVEL": "debug"}
    fin = Service("financial", {**env, "MONGODB_URI_FILE": str(good)}).start()
    r = wait_ready(fin, everything=False)
    assert r.body["checks"]["mongodb"] == "ok", r.body
    assert http("GET", fin.url("/billings")).status == 200
    assert password not in fin.log_text()
    assert fin.stop() == 0

    bad = tmp_path / "bad.uri"
    bad.write_text(f"mongodb://{role}:{SECRET}@127.0.0.1:{stack.ferretdb.port}/{dbname}"
                   "?authMechanism=PLAIN\n")
    fin = Service("financial", {**env, "MONGODB_URI_FILE": str(bad)}).start()
    wait_until(lambda: any(rec.get("msg") == "cannot create indexes yet; retrying"
                           # PostgreSQL's SCRAM refused it (the driver's message is
                           # cut at 504 bytes, before PostgreSQL's own words)
                           and f"failed to connect to `user={role}" in rec.get("error", "")
                           and "failed SASL auth" in rec.get("error", "")
                           for rec in fin.log_records()), 20,
               message="the set-up says the password was refused")
    r = http("GET", fin.url("/readyz"))
    assert r.status == 503 and r.body["checks"]["mongodb"] == "down", r.body
    assert fin.running()
    assert_no_secret(fin)
    assert password not in fin.log_text()
    assert fin.stop() == 0
