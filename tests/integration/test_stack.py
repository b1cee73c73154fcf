"""Smoke test of the harness and the local stack itself: the broker and the
database the other suites rely on start, keep their data across a stop, and
the helpers work."""

import socket
import uuid

import pytest
from stack import (Service, consume, end_offsets, http, mongo_client, port_open, produce,
                   wait_until)


def test_kafka_message_survives_broker_restart(stack):
    kafka = stack.kafka
    key = str(uuid.uuid4())
    start = end_offsets(kafka.bootstrap, "appointment.finished")
    partition, offset = produce(kafka.bootstrap, "appointment.finished", {"appointment_id": key},
                                key=key, headers={"ce_id": key, "content-type": "application/json"})

    got = consume(kafka.bootstrap, "appointment.finished", from_beginning=start, max_messages=1)
    assert len(got) == 1
    m = got[0]
    assert (m.key, m.partition, m.offset) == (key, partition, offset)
    assert m.headers == {"ce_id": key, "content-type": "application/json"}
    assert m.json() == {"appointment_id": key}

    kafka.stop()
    assert not kafka.running()
    assert not port_open(kafka.port), "broker still listening after stop"
    kafka.start()
    assert kafka.running()

    again = consume(kafka.bootstrap, "appointment.finished", from_beginning=True)
    assert [(x.key, x.partition, x.offset) for x in again if x.key == key] == [(key, partition, offset)]


def test_kafka_survives_sigkill(stack):
    kafka = stack.kafka
    key = str(uuid.uuid4())
    partition, offset = produce(kafka.bootstrap, "appointment.finished", b"x", key=key)
    kafka.kill()
    assert not port_open(kafka.port)
    kafka.start()
    again = consume(kafka.bootstrap, "appointment.finished", from_beginning={partition: offset},
                    max_messages=1)
    assert [(m.key, m.value) for m in again] == [(key, b"x")]


def test_topics_created_with_partitions(stack):
    from confluent_kafka.admin import AdminClient
    md = AdminClient({"bootstrap.servers": stack.kafka.bootstrap}).list_topics(timeout=10)
    assert len(md.topics["appointment.finished"].partitions) == 6
    assert len(md.topics["appointment.finished.dlq"].partitions) == 1


def test_ferretdb_keeps_documents_across_restart(stack, dbname):
    uri = stack.ferretdb.uri(dbname)
    with mongo_client(uri) as c:
        c[dbname].things.insert_one({"_id": "a", "n": 1})
        assert c[dbname].things.find_one({"_id": "a"}) == {"_id": "a", "n": 1}
    stack.ferretdb.stop()
    assert not port_open(stack.ferretdb.port)
    stack.ferretdb.start()
    with mongo_client(uri) as c:
        assert c[dbname].things.find_one({"_id": "a"}) == {"_id": "a", "n": 1}
        # A unique index reports duplicates with MongoDB's code, as the services expect.
        c[dbname].things.create_index("n", unique=True)
        import pymongo.errors
        with pytest.raises(pymongo.errors.DuplicateKeyError) as e:
            c[dbname].things.insert_one({"_id": "b", "n": 1})
        assert e.value.code == 11000


def test_each_test_gets_its_own_database(stack, dbname):
    with mongo_client(stack.ferretdb.uri(dbname)) as c:
        assert c[dbname].things.count_documents({}) == 0


def test_fresh_topic_fixture(stack, topic):
    produce(stack.kafka.bootstrap, topic, b"only-here", key="k")
    assert [m.value for m in consume(stack.kafka.bootstrap, topic)] == [b"only-here"]
    assert consume(stack.kafka.bootstrap, topic + ".dlq") == []


def test_service_harness_with_a_stand_in_binary(tmp_path, service_env):
    """Service start/health/stop/kill/restart, against a tiny Python HTTP server
    standing in for a service binary (the real ones have their own suites)."""
    fake = tmp_path / "fake-service"
    fake.write_text(FAKE_SERVICE)
    fake.chmod(0o755)
    svc = Service("fake", service_env, binary=fake).start()
    status, headers, body = http("GET", svc.url("/healthz"))
    assert status == 200 and headers["content-type"] == "application/json"
    assert body["env"]["MONGODB_URI"] == service_env["MONGODB_URI"]
    assert body["env"]["KAFKA_BOOTSTRAP"] == service_env["KAFKA_BOOTSTRAP"]
    assert http("POST", svc.url("/echo"), json={"a": 1}).body == {"got": {"a": 1}}
    assert http("POST", svc.url("/echo"), raw_body=b"not json").status == 400
    assert svc.stop() == 0
    assert not port_open(svc.port)
    svc.start()
    assert svc.kill() == -9
    svc.restart()
    assert svc.running()
    assert any(r.get("msg") == "listening" for r in svc.log_records())


def test_three_broker_cluster_keeps_working_with_one_broker_down(kafka_cluster):
    k = kafka_cluster
    assert k.bootstrap.count(",") == 2
    first = produce(k.bootstrap, "appointment.finished", b"before", key="a")
    k.kill(2)
    assert not k.running(2) and not port_open(k.node_port(2))
    # min.insync.replicas=2: two brokers of three still take acks=all writes.
    second = produce(k.bootstrap, "appointment.finished", b"during", key="b", timeout=30)
    k.start(2)
    k.wait()
    assert k.running()
    got = {(m.partition, m.offset): m.value for m in consume(k.bootstrap, "appointment.finished")}
    assert got[first] == b"before" and got[second] == b"during"


def test_wait_until_reports_the_last_value():
    with pytest.raises(AssertionError, match="last: 0"):
        wait_until(lambda: 0, timeout=0.3)
    assert wait_until(lambda: 5) == 5


def test_free_ports_are_free():
    port = pytest.importorskip("stack").free_port()
    with socket.socket() as s:
        s.bind(("127.0.0.1", port))


FAKE_SERVICE = r'''#!/usr/bin/env python3
import http.server, json, os, signal, sys, threading
def log(msg): print(json.dumps({"level": "info", "service": "fake", "msg": msg}), file=sys.stderr, flush=True)
class H(http.server.BaseHTTPRequestHandler):
    def reply(self, code, obj):
        b = json.dumps(obj).encode()
        self.send_response(code); self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(b))); self.end_headers(); self.wfile.write(b)
    def do_GET(self):
        self.reply(200, {"env": {k: os.environ.get(k) for k in ("MONGODB_URI", "KAFKA_BOOTSTRAP")}})
    def do_POST(self):
        raw = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        try: self.reply(200, {"got": json.loads(raw)})
        except ValueError: self.reply(400, {"title": "bad json"})
    def log_message(self, *a): pass
srv = http.server.ThreadingHTTPServer(("127.0.0.1", int(os.environ["HTTP_PORT"])), H)
signal.signal(signal.SIGTERM, lambda *a: threading.Thread(target=srv.shutdown).start())
log("listening"); srv.serve_forever(); log("bye")
'''
