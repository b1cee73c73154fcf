"""Both services against a secured Kafka: the same Kafka 3.9, started by
deploy/kafka/kafka.sh with KAFKA_SECURITY=sasl_ssl (a SASL_SSL listener with
SCRAM-SHA-512, TLS with client certificates to the controller, KRaft's
StandardAuthorizer), a CA and certificates made here with the openssl
command line, SCRAM users created at format time and least-privilege ACLs:

- appointment may WRITE and DESCRIBE appointment.finished;
- financial may READ it, READ its group, WRITE (and DESCRIBE) the dead-letter topic;
- intruder is a valid user with no ACL.

Shown: the whole pipeline bills over SASL_SSL, and no password reaches a log,
/readyz or /metrics; a wrong password or an untrusted CA leaves a service
running, healthy for HTTP, with /readyz's kafka check down, a log line that
says why, and its CPU low (no busy loop); the broker refuses the intruder
(and financial) a write to the topic; a poison message reaches the
dead-letter topic through financial's own ACL; a client certificate and its
key load, a mismatched key stops the service at start; docs/security.md's
example connects as printed; mistakes in the settings stop a service at
start (exit 2) with a message naming the variable, never a secret.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import pytest

from harness import (ROOT, UP_STATES, Kafka, Service, build_dir, free_port, get_stack, http,
                     wait_ready, wait_until)
from harness.tls import Cert, make_ca, make_cert

PASSWORDS = {"admin": "admin-S3cret-1", "appointment": "appt-S3cret-2",
             "financial": "fin-S3cret-3", "intruder": "intruder-S3cret-4"}
TOPIC, DLQ, GROUP = "appointment.finished", "appointment.finished.dlq", "financial"


@dataclass
class Secured:
    kafka: Kafka
    ca: Cert
    rogue_ca: Cert
    dir: Path

    def password_file(self, user: str) -> Path:
        return self.dir / f"{user}.password"

    def client_conf(self, user: str) -> dict[str, str]:
        """librdkafka properties of `user` (kcat -X, confluent-kafka)."""
        return {"bootstrap.servers": self.kafka.bootstrap, "security.protocol": "sasl_ssl",
                "sasl.mechanisms": "SCRAM-SHA-512", "sasl.username": user,
                "sasl.password": PASSWORDS[user], "ssl.ca.location": str(self.ca.cert)}

    def service_env(self, user: str, dbname: str, password_file: Path | None = None,
                    ca: Path | None = None) -> dict[str, str]:
        """What a service needs to reach the secured broker as `user`."""
        return {"MONGODB_URI": get_stack().ferretdb.uri(dbname),
                "KAFKA_BOOTSTRAP": self.kafka.bootstrap,
                "KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
                "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
                "KAFKA_SASL_USERNAME": user,
                "KAFKA_SASL_PASSWORD_FILE": str(password_file or self.password_file(user)),
                "KAFKA_SSL_CA_FILE": str(ca or self.ca.cert)}


def grant_acls(conf: dict[str, str]) -> None:
    from confluent_kafka.admin import (AclBinding, AclOperation, AclPermissionType, AdminClient,
                                       ResourcePatternType, ResourceType)
    op, rt = AclOperation, ResourceType
    grants = [("appointment", rt.TOPIC, TOPIC, op.WRITE), ("appointment", rt.TOPIC, TOPIC, op.DESCRIBE),
              ("financial", rt.TOPIC, TOPIC, op.READ), ("financial", rt.GROUP, GROUP, op.READ),
              ("financial", rt.TOPIC, DLQ, op.WRITE), ("financial", rt.TOPIC, DLQ, op.DESCRIBE)]
    bindings = [AclBinding(kind, name, ResourcePatternType.LITERAL, f"User:{user}", "*", what,
                           AclPermissionType.ALLOW) for user, kind, name, what in grants]
    admin = AdminClient(conf)  # alive until every future is done
    for fut in admin.create_acls(bindings, request_timeout=30).values():
        fut.result(30)


@pytest.fixture(scope="module")
def secured() -> Iterator[Secured]:
    stack = get_stack()  # FerretDB for the services; the run dir
    tag = uuid.uuid4().hex[:6]
    d = stack.dir / f"tls-{tag}"
    ca = make_ca(d / "ca", "clinic")
    broker = make_cert(ca, "broker")
    rogue = make_ca(d / "rogue", "rogue")
    for user, pw in PASSWORDS.items():
        f = d / f"{user}.password"
        f.write_text(pw + "\n")
        f.chmod(0o600)
    users = ",".join(f"{u}={d / f'{u}.password'}" for u in PASSWORDS if u != "admin")
    # "kafka*": a session that dies leaves it for the next one to kill (session.py).
    k = Kafka(stack.dir / f"kafka-secured-{tag}", script_log=stack.script_log, extra_env={
        "KAFKA_SECURITY": "sasl_ssl", "KAFKA_SSL_KEYSTORE": str(broker.pem),
        "KAFKA_SSL_CA": str(ca.cert), "KAFKA_SSL_PRINCIPAL": "User:CN=broker",
        "KAFKA_ADMIN_USER": "admin", "KAFKA_ADMIN_PASSWORD_FILE": str(d / "admin.password"),
        "KAFKA_SCRAM_USERS": users})
    stack.extra.append(k)
    k.start()
    s = Secured(k, ca, rogue, d)
    grant_acls(s.client_conf("admin"))
    yield s
    try:
        k.stop()
    finally:
        stack.extra.remove(k)


@pytest.fixture
def dbname() -> str:
    return f"t_secured_{uuid.uuid4().hex[:8]}"


def kcat_produce(s: Secured, user: str, topic: str) -> str:
    """One message produced by kcat as `user`; returns kcat's output."""
    args = ["kcat", "-P", "-b", s.kafka.bootstrap, "-t", topic, "-m", "15"]
    for k, v in s.client_conf(user).items():
        if k != "bootstrap.servers":
            args += ["-X", f"{k}={v}"]
    proc = subprocess.run(args, input="not an event\n", capture_output=True, text=True, timeout=60)
    return f"rc={proc.returncode} {proc.stdout}{proc.stderr}"


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def assert_no_password_leaks(*services: Service) -> None:
    for svc in services:
        seen = svc.log_text() + "".join(http("GET", svc.url(p)).raw.decode(errors="replace")
                                        for p in ("/readyz", "/metrics"))
        for user, pw in PASSWORDS.items():
            assert pw not in seen, f"{svc.name}: {user}'s password in its log, /readyz or /metrics"


def test_the_pipeline_bills_over_sasl_ssl(secured, dbname):
    appt = Service("appointment", secured.service_env("appointment", dbname)).start()
    fin = Service("financial", secured.service_env("financial", dbname)).start()
    assert wait_ready(appt).body["checks"]["kafka"] == "ok"
    assert wait_ready(fin).body["checks"]["kafka"] == "ok"
    s = http("POST", appt.url("/appointments"),
             json={"physician_id": str(uuid.uuid4()), "patient_id": str(uuid.uuid4())})
    assert s.status == 201, s.body
    f = http("POST", appt.url(f"/appointments/{s.body['id']}/finish"), json={})
    assert f.status == 200 and f.body["status"] == "finished", f.body
    b = wait_until(lambda: (x := http("GET", fin.url(f"/billings/{s.body['id']}"))).status == 200
                   and x, 30, message="the billing, over SASL_SSL")
    assert b.body["total_price"] == 200.00 and b.body["currency"] == "BRL", b.body
    logs = appt.log_text() + fin.log_text()
    assert '"protocol":"sasl_ssl"' in logs and "sasl.password=[redacted]" in logs
    assert_no_password_leaks(appt, fin)
    assert appt.stop() == 0 and fin.stop() == 0


@pytest.mark.parametrize("service", ["appointment", "financial"])
@pytest.mark.parametrize("fault", ["wrong password", "untrusted CA"])
def test_a_refused_connection_leaves_the_service_up_not_ready_for_kafka_and_idle(
        secured, dbname, service, fault):
    env = secured.service_env(service, dbname)
    if fault == "wrong password":
        wrong = secured.dir / f"wrong-{uuid.uuid4().hex[:6]}.password"
        wrong.write_text("not-the-password\n")
        env["KAFKA_SASL_PASSWORD_FILE"] = str(wrong)
        why = "Authentication failed"
    else:
        env["KAFKA_SSL_CA_FILE"] = str(secured.rogue_ca.cert)
        why = "certificate verify failed"
    svc = Service(service, env).start()
    r = wait_until(lambda: (x := http("GET", svc.url("/readyz"))).body["status"] != "starting"
                   and x, 20, message="the first probe ends")
    assert r.body["checks"]["kafka"] == "down", r.body
    wait_until(lambda: any(why in rec.get("msg", "") for rec in svc.log_records()), 20,
               message=f"a log line saying {why!r}")
    # No busy loop: over 5 s of refused connections, under 0.5 s of CPU.
    before, t0 = cpu_seconds(svc.pid), time.monotonic()
    time.sleep(5)
    used = cpu_seconds(svc.pid) - before
    assert used < 0.1 * (time.monotonic() - t0), f"{used:.2f} s of CPU in 5 s"
    assert svc.running()
    assert http("GET", svc.url("/healthz")).status == 200
    assert http("GET", svc.url("/readyz")).body["checks"]["kafka"] == "down"
    errors = [rec for rec in svc.log_records() if rec.get("level") == "error"]
    assert len(errors) < 30, f"{len(errors)} error lines in ~10 s: the log floods"
    assert_no_password_leaks(svc)
    assert svc.stop() == 0


def test_the_broker_refuses_a_write_without_an_acl(secured):
    out = kcat_produce(secured, "intruder", TOPIC)
    assert "Topic authorization failed" in out, out
    # financial only reads the topic
    out = kcat_produce(secured, "financial", TOPIC)
    assert "Topic authorization failed" in out, out
    # what appointment may do, kcat does too: the refusals above are the ACLs'
    out = kcat_produce(secured, "appointment", TOPIC)
    assert "authorization failed" not in out and out.startswith("rc=0"), out


def test_a_poison_message_is_dead_lettered_through_financials_acl(secured, dbname):
    from confluent_kafka import Consumer, TopicPartition
    fin = Service("financial", secured.service_env("financial", dbname)).start()
    wait_ready(fin)
    c = Consumer({**secured.client_conf("admin"), "group.id": f"t-{uuid.uuid4()}",
                  "enable.auto.commit": False})
    try:
        end = c.get_watermark_offsets(TopicPartition(DLQ, 0), timeout=10)[1]
        out = kcat_produce(secured, "appointment", TOPIC)  # "not an event": unbillable
        assert out.startswith("rc=0"), out
        wait_until(lambda: c.get_watermark_offsets(TopicPartition(DLQ, 0), timeout=10)[1] > end,
                   30, message="a message in the dead-letter topic")
    finally:
        c.close()
    assert fin.running()
    assert_no_password_leaks(fin)
    assert fin.stop() == 0


def documented_example() -> tuple[dict[str, str], str]:
    """docs/security.md's example: its variables and its client properties file."""
    text = (ROOT / "docs" / "security.md").read_text()
    section = text[text.index("### Example"):]
    env_block = re.search(r"^```sh\n(.*?)^```", section, re.M | re.S).group(1)
    props = re.search(r"^```properties\n(.*?)^```", section, re.M | re.S).group(1)
    env = dict(line.split("=", 1) for line in env_block.splitlines() if line and line[0] != "#")
    return env, props


def test_the_documented_example_connects(secured, dbname, tmp_path):
    env, props = documented_example()
    # The files and the broker are the test's; the rest is used as printed.
    conf = tmp_path / "kafka-client.properties"
    conf.write_text(props)
    uri = tmp_path / "mongodb.uri"
    uri.write_text(f"mongodb://postgres:unused@127.0.0.1:{get_stack().ferretdb.port}/{dbname}"
                   "?authMechanism=PLAIN\n")
    ours = {"KAFKA_BOOTSTRAP": secured.kafka.bootstrap,
            "KAFKA_SASL_PASSWORD_FILE": str(secured.password_file(env["KAFKA_SASL_USERNAME"])),
            "KAFKA_SSL_CA_FILE": str(secured.ca.cert), "KAFKA_CONFIG_FILE": str(conf),
            "MONGODB_URI_FILE": str(uri)}
    assert set(ours) <= set(env), f"the example no longer sets {sorted(set(ours) - set(env))}"
    fin = Service("financial", {**env, **ours}).start()
    r = wait_ready(fin)
    assert r.body["checks"]["kafka"] == "ok" and r.body["checks"]["consumer"] in UP_STATES, r.body
    names = [line.split("=", 1)[0].strip() for line in props.splitlines()
             if line.strip() and not line.startswith("#")]
    described = next(rec for rec in fin.log_records() if rec.get("msg") == "kafka security")
    assert all(f"{n}=..." in described["settings"] for n in names), described
    assert fin.stop() == 0


def test_a_client_certificate_is_loaded_and_a_mismatched_key_refused_at_start(secured, dbname):
    """Mutual TLS settings: a certificate and its key are accepted (the broker
    here authenticates by SCRAM and ignores it); a key of another
    certificate stops the service at start, exit 2, naming the variable."""
    client = make_cert(secured.ca, "appointment-client")
    other = make_cert(secured.ca, "other-client")
    env = {**secured.service_env("appointment", dbname),
           "KAFKA_SSL_CERT_FILE": str(client.cert), "KAFKA_SSL_KEY_FILE": str(client.key)}
    appt = Service("appointment", env).start()
    assert wait_ready(appt).body["checks"]["kafka"] == "ok"
    assert appt.stop() == 0
    bad = Service("appointment", {**env, "KAFKA_SSL_KEY_FILE": str(other.key)})
    bad.start(wait_healthy=False)
    assert bad.proc.wait(20) == 2
    line = next(r for r in bad.log_records() if r.get("msg") == "invalid configuration")
    assert line["error"].startswith("KAFKA_SSL_KEY_FILE: librdkafka refuses it:"), line


CONFIG_MISTAKES = [
    ({"KAFKA_SECURITY_PROTOCOL": "ssl", "KAFKA_SASL_MECHANISM": "PLAIN"},
     "KAFKA_SASL_MECHANISM is set but KAFKA_SECURITY_PROTOCOL is ssl"),
    ({"KAFKA_SECURITY_PROTOCOL": "sasl_ssl", "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
      "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD_FILE": "/nonexistent/pw"},
     "KAFKA_SASL_PASSWORD_FILE: cannot read '/nonexistent/pw'"),
    ({"KAFKA_SECURITY_PROTOCOL": "ssl", "KAFKA_SSL_CERT_FILE": "/etc/hostname"},
     "KAFKA_SSL_CERT_FILE is set without KAFKA_SSL_KEY_FILE"),
    ({"KAFKA_SECURITY_PROTOCOL": "tls"}, "KAFKA_SECURITY_PROTOCOL must be plaintext, ssl"),
    ({"KAFKA_CONFIG_FILE": "linger.msec=5\n"}, "KAFKA_CONFIG_FILE line 1: No such configuration property"),
    ({"KAFKA_CONFIG_FILE": f"# secret\nsasl.password={PASSWORDS['admin']}\n"},
     "KAFKA_CONFIG_FILE line 2: sasl.password is set by KAFKA_SASL_PASSWORD_FILE"),
]


@pytest.mark.parametrize("service", ["appointment", "financial"])
@pytest.mark.parametrize("env,message", CONFIG_MISTAKES, ids=[m[1][:40] for m in CONFIG_MISTAKES])
def test_kafka_setting_mistakes_stop_the_service_at_start_naming_the_variable(
        service, env, message, tmp_path):
    env = dict(env)
    if "KAFKA_CONFIG_FILE" in env:  # the value above is the file's content
        f = tmp_path / "client.properties"
        f.write_text(env["KAFKA_CONFIG_FILE"])
        env["KAFKA_CONFIG_FILE"] = str(f)
    proc = subprocess.run([str(build_dir() / service)], capture_output=True, text=True, timeout=20,
                          env={"PATH": "/usr/bin:/bin", "HTTP_PORT": str(free_port()),
                               "MONGODB_URI": f"mongodb://127.0.0.1:{free_port()}/x", **env})
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, out
    line = next(json.loads(ln) for ln in out.splitlines() if '"invalid configuration"' in ln)
    assert message in line["error"], line
    assert PASSWORDS["admin"] not in out
