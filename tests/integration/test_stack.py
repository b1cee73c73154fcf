"""Smoke test of the harness and the local stack itself: the broker, the
database (FerretDB on PostgreSQL) and the scripts the other suites rely on
start, keep their data across a stop and a crash, and the helpers work."""

import json
import os
import re
import socket
import stat
import subprocess
import time
import uuid
from pathlib import Path

import pytest

from harness import (POSTGRES_SH, ROOT, FerretDB, Postgres, Service, consume, end_offsets, free_port,
                     http, mongo_client, port_open, produce, wait_until)


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


def java_cmdline(pidfile: Path) -> list[str]:
    return (Path("/proc") / pidfile.read_text().strip() / "cmdline").read_bytes().decode().split("\0")


def test_kafka_jit_knob(stack, tmp_path):
    """Tests' brokers start with C1 only (KAFKA_JIT=c1, the default: a fast
    start); make run and make bench ask for C2 too (full); anything else is
    refused before a JVM starts."""
    assert "-XX:TieredStopAtLevel=1" in java_cmdline(stack.kafka.home / "node1" / "kafka.pid")
    r = subprocess.run(["bash", str(ROOT / "deploy" / "kafka" / "kafka.sh"), "status"],
                       env={**os.environ, "KAFKA_HOME_DIR": str(tmp_path), "KAFKA_JIT": "c2"},
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 1 and "KAFKA_JIT must be c1 or full, not 'c2'" in r.stderr, r
    run_local = (ROOT / "deploy" / "run-local.sh").read_text()
    assert 'export KAFKA_JIT="${KAFKA_JIT:-full}"' in run_local


def test_ferretdb_go_runtime_and_debug_addr(stack):
    """FerretDB runs with GOGC=400 and GOMEMLIMIT=512MiB (ferretdb.sh), its
    debug handler off; FERRETDB_DEBUG_ADDR takes loopback addresses only."""
    pid = (stack.ferretdb.home / "ferretdb.pid").read_text().strip()
    env = dict(kv.split("=", 1) for kv in
               Path(f"/proc/{pid}/environ").read_bytes().decode().split("\0") if "=" in kv)
    assert (env.get("GOGC"), env.get("GOMEMLIMIT")) == ("400", "512MiB")
    assert "--debug-addr=-" in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    for bad in ("0.0.0.0:8088", ":8088", "localhost:8088"):
        r = subprocess.run(["bash", str(ROOT / "deploy" / "ferretdb" / "ferretdb.sh"), "status"],
                           env={**os.environ, **stack.ferretdb.env, "FERRETDB_DEBUG_ADDR": bad},
                           capture_output=True, text=True, timeout=30)
        assert r.returncode == 1 and "loopback only" in r.stderr, (bad, r)


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


# ---------------------------------------------------------------- PostgreSQL under FerretDB

def ferretdb_table(collection: str) -> str:
    """The PostgreSQL table FerretDB 1.24 gives a new collection: its name,
    lower-cased, then _ and the FNV-1a 32-bit hash of the name in hex."""
    h = 0x811C9DC5
    for b in collection.encode():
        h = ((h ^ b) * 0x01000193) & 0xFFFFFFFF
    return f"{re.sub(r'[^a-z0-9_]', '_', collection.lower())}_{h:08x}"


def test_ferretdb_start_drops_empty_orphan_tables(stack, dbname):
    """A collection whose creation an outage cut in two (table created, its
    metadata row not written) cannot be created again through FerretDB;
    ferretdb.sh start drops such an empty table, and never one with rows."""
    import pymongo.errors
    uri = stack.ferretdb.uri(dbname)
    with mongo_client(uri) as c:
        c[dbname].things.insert_one({"_id": "a"})  # the database (schema) exists
    # What the cut leaves: FerretDB's table, without its metadata row.
    stack.postgres.psql(f'CREATE TABLE "{dbname}"."{ferretdb_table("cut")}" (_jsonb jsonb)')
    stack.postgres.psql(f'CREATE TABLE "{dbname}"."kept_orphan" (_jsonb jsonb);'
                        f'INSERT INTO "{dbname}"."kept_orphan" VALUES (\'{{"_id": 1}}\')')
    with mongo_client(uri) as c:
        with pytest.raises(pymongo.errors.OperationFailure) as e:
            c[dbname].cut.insert_one({"_id": "x"})
        assert "SQLSTATE 42P07" in str(e.value), e.value
    stack.ferretdb.restart()
    with mongo_client(uri) as c:
        c[dbname].cut.insert_one({"_id": "x"})
        assert c[dbname].cut.find_one({"_id": "x"}) == {"_id": "x"}
        assert c[dbname].things.find_one({"_id": "a"}) == {"_id": "a"}
    tables = stack.postgres.psql("SELECT table_name FROM information_schema.tables "
                                 f"WHERE table_schema = '{dbname}'").split()
    assert "kept_orphan" in tables, tables
    assert stack.postgres.psql(f'SELECT count(*) FROM "{dbname}"."kept_orphan"').strip() == "1"


def test_service_not_ready_until_its_collections_exist_then_recovers(stack, dbname, start_service,
                                                                      topic):
    """appointment cannot create its buckets' collection (an orphan table of
    that name, as a cut creation leaves): /readyz 503 with mongodb
    "setting-up" (the database answers, the set-up is not done), requests
    answer problems, never a crash; a FerretDB restart drops the orphan and
    the service's own retries make it ready, with no restart of its own."""
    with mongo_client(stack.ferretdb.uri(dbname)) as c:
        c[dbname].placeholder.insert_one({"_id": "a"})  # the database (schema) exists
    stack.postgres.psql(f'CREATE TABLE "{dbname}"."{ferretdb_table("appointment_buckets")}" '
                        "(_jsonb jsonb)")
    appt = start_service("appointment", KAFKA_TOPIC=topic)
    r = wait_until(lambda: (x := http("GET", appt.url("/readyz"))).body["status"] != "starting"
                   and x, 15, message="the first probe ends")
    assert r.status == 503 and r.body["checks"]["mongodb"] == "setting-up", r.body
    assert r.headers["retry-after"]
    assert appt.running()
    stack.ferretdb.restart()
    r = wait_until(lambda: (x := http("GET", appt.url("/readyz"))).status == 200 and x, 30,
                   message="ready once the orphan is gone")
    assert r.body["checks"]["mongodb"] == "ok"
    s = http("POST", appt.url("/appointments"),
             {"physician_id": str(uuid.uuid4()), "patient_id": str(uuid.uuid4())})
    assert s.status == 201, s.body
    assert "cannot create indexes yet" in appt.log_path.read_text()


def pg_sh(pg: Postgres, *args: str, **env: str) -> subprocess.CompletedProcess:
    """deploy/postgres/postgres.sh run as the harness does, its exit code kept."""
    return subprocess.run(["bash", str(POSTGRES_SH), *args], env={**os.environ, **pg.env, **env},
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=120)


def cluster_pids(pg: Postgres) -> list[int]:
    """The postmaster (its command line names this cluster's data directory)
    and its children (checkpointer, walwriter, backends...)."""
    data = pg_sh(pg, "datadir").stdout.strip()
    procs: dict[int, tuple[int, str]] = {}
    for d in Path("/proc").iterdir():
        try:
            if d.name.isdigit():
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
                procs[int(d.name)] = (ppid, (d / "cmdline").read_bytes().replace(b"\0", b" ").decode())
        except (OSError, ValueError, IndexError):
            pass
    masters = {p for p, (_, cmd) in procs.items() if f"-D {data}" in cmd}
    return sorted(masters | {p for p, (pp, _) in procs.items() if pp in masters})


@pytest.fixture
def own_postgres(stack):
    """A PostgreSQL of its own (not the session's), removed afterwards."""
    pg = Postgres(stack.dir / f"postgres-{uuid.uuid4().hex[:6]}", script_log=stack.script_log)
    yield pg
    pg.remove()


def test_postgres_script_keeps_data_across_stop_and_kill(own_postgres):
    pg = own_postgres
    r = pg_sh(pg, "status")
    assert (r.returncode, r.stdout.strip()) == (3, "postgres: stopped")
    assert pg_sh(pg, "kill").returncode == 0 and pg_sh(pg, "stop").returncode == 0  # nothing to do

    pg.start()
    r = pg_sh(pg, "status")
    assert r.returncode == 0 and "running" in r.stdout and pg.url() in r.stdout, r.stdout
    assert pg_sh(pg, "url").stdout.strip() == pg.url()
    assert pg_sh(pg, "url", "other").stdout.strip() == pg.url("other")
    # Loopback only, a socket directory of its own, never the packaged cluster's.
    assert pg.psql("SHOW listen_addresses").strip() == "127.0.0.1"
    assert pg.psql("SHOW port").strip() == str(pg.port)
    sock = pg.psql("SHOW unix_socket_directories").strip()
    assert "clinic-events-pg" in sock or sock.startswith(str(pg.home)), sock
    assert pg.psql("SHOW plan_cache_mode").strip() == "force_custom_plan"  # see gin-twins.sql
    # The speed settings keep every commit durable (postgres.sh): a kill -9
    # below, or a power loss, loses nothing acknowledged.
    for durable in ("fsync", "synchronous_commit", "full_page_writes"):
        assert pg.psql(f"SHOW {durable}").strip() == "on", durable
    data = Path(pg_sh(pg, "datadir").stdout.strip())
    if os.geteuid() == 0:  # run as the postgres user, which owns the data
        st = data.stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (pg_uid(), 0o700)
        assert all(Path(f"/proc/{p}").stat().st_uid == pg_uid() for p in cluster_pids(pg))

    pg.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (1)")
    pg.start()  # already running: no-op
    pg.stop()
    assert pg_sh(pg, "status").returncode == 3
    assert not port_open(pg.port) and cluster_pids(pg) == []
    pg.start()
    assert pg.psql("SELECT x FROM t").split() == ["1"]

    pg.psql("INSERT INTO t VALUES (2)")
    assert len(cluster_pids(pg)) > 1  # postmaster + its processes
    assert sorted(pg.pids()) == cluster_pids(pg) and pg.pid() in pg.pids()
    pg.kill()
    assert pg_sh(pg, "status").returncode == 3 and pg.pid() is None and pg.pids() == []
    assert not port_open(pg.port) and cluster_pids(pg) == [], "processes of the cluster survive kill"
    pg.start()  # crash recovery
    assert pg.psql("SELECT x FROM t ORDER BY x").split() == ["1", "2"]
    assert "automatic recovery in progress" in pg.log_tail(200)


def pg_uid() -> int:
    import pwd
    return pwd.getpwnam("postgres").pw_uid


@pytest.mark.skipif(os.geteuid() != 0, reason="the private directory is for root's runs (runuser)")
def test_postgres_moves_to_a_private_dir_when_the_postgres_user_cannot_reach_it(stack):
    closed = stack.dir / f"closed-{uuid.uuid4().hex[:6]}"
    closed.mkdir(mode=0o700)  # like a CI clone under /tmp/tmp.XXXX
    pg = Postgres(closed / "postgres", script_log=stack.script_log)
    try:
        r = pg_sh(pg, "start")
        assert r.returncode == 0, r.stderr
        assert "cannot reach" in r.stderr, r.stderr
        link = pg.home / "pg"
        target = Path(os.readlink(link))
        assert link.is_symlink() and target.parent == Path("/var/tmp/clinic-events-pg"), target
        assert str(target) in r.stderr
        st = target.stat()
        assert (st.st_uid, stat.S_IMODE(st.st_mode)) == (pg_uid(), 0o700)
        assert (target / "origin").read_text().strip() == str(pg.home)
        pg.psql("CREATE TABLE t (x int); INSERT INTO t VALUES (7)")
        pg.stop()
        pg.start()  # the same private dir again, its data kept
        assert pg.psql("SELECT x FROM t").split() == ["7"]
        assert Path(os.readlink(link)) == target
        pg.stop()
        # A private dir whose state dir is gone is collected by the next start
        # of any cluster (once idle for a minute).
        subprocess.run(["rm", "-rf", str(pg.home)], check=True)
        subprocess.run(["touch", "-d", "-5 min", str(target)], check=True)
        other = Postgres(closed / "postgres2", script_log=stack.script_log)
        r = pg_sh(other, "init")
        assert r.returncode == 0, r.stderr
        assert not target.exists(), r.stderr
        assert "orphaned" in r.stderr
        other.remove()
        assert not (closed / "postgres2" / "pg").exists()
    finally:
        pg_sh(pg, "remove")
        subprocess.run(["rm", "-rf", str(closed)])


def test_ferretdb_refuses_to_start_without_postgres(stack):
    down = Postgres(stack.dir / f"postgres-down-{uuid.uuid4().hex[:6]}")  # never started
    fdb = FerretDB(stack.dir / f"ferretdb-nopg-{uuid.uuid4().hex[:6]}", down, script_log=stack.script_log)
    with pytest.raises(RuntimeError, match="PostgreSQL is not reachable at " + down.url()):
        fdb.start()
    assert not fdb.running() and not port_open(fdb.port)


def test_gin_in_place_of_each_non_unique_btree_and_twins_for_unique_ones(stack, dbname):
    """Each non-unique btree index FerretDB creates is replaced by a GIN
    index on its leading key under its own name (FerretDB never uses a btree here:
    it was write cost only); each unique one (the _id index, unique: true)
    stays and gets a GIN twin per key. So every equality filter FerretDB
    pushes down (_jsonb->'f' @> v) uses an index, uniqueness is still
    enforced, and FerretDB's listIndexes and dropIndexes work as before."""
    import pymongo.errors
    pg = stack.postgres
    with mongo_client(stack.ferretdb.uri(dbname)) as c:
        things = c[dbname].things
        things.create_index("a")
        things.create_index([("b", 1), ("_id", -1)])
        things.create_index("u", unique=True)
        things.create_index([("a", 1), ("c", -1)])
        things.insert_many([{"_id": f"id{i}", "a": i % 50, "b": f"b{i % 300}", "c": i, "u": i}
                            for i in range(3000)])
        with pytest.raises(pymongo.errors.DuplicateKeyError):  # the btree still enforces it
            things.insert_one({"_id": "dup", "u": 5})
        with pytest.raises(pymongo.errors.DuplicateKeyError):
            things.insert_one({"_id": "id7", "u": -1})
        table = pg.psql(f"SELECT _jsonb->>'table' FROM \"{dbname}\"._ferretdb_database_metadata "
                        "WHERE _jsonb->>'_id' = 'things'").strip()
        assert table.startswith("things_")

        def indexes() -> dict[str, str]:
            rows = pg.psql(f"SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = '{dbname}' "
                           f"AND tablename = '{table}'")
            return dict(line.split("|", 1) for line in rows.splitlines())

        def keys(d: str) -> list[str]:
            return re.findall(r"_jsonb -> '([^']+)'", d)

        now = indexes()
        gins = {n: d for n, d in now.items() if "USING gin" in d}
        btrees = {n: d for n, d in now.items() if "USING btree" in d}
        assert len(now) == len(gins) + len(btrees), now
        # Only the unique btrees are left: _id's and u's.
        assert sorted(k for d in btrees.values() for k in keys(d)) == ["_id", "u"], btrees
        assert all("UNIQUE" in d for d in btrees.values()), btrees
        twins = {n: d for n, d in gins.items() if n.endswith("_gin")}
        assert sorted(k for d in twins.values() for k in keys(d)) == ["_id", "u"], twins
        in_place = sorted(keys(d) for n, d in gins.items() if n not in twins)
        assert in_place == [["a"], ["a"], ["b"]], gins
        for name, d in gins.items():
            assert "jsonb_path_ops" in d and "fastupdate=off" in d, d
            assert len(name) <= 63, name
        # FerretDB still lists every index by its own name.
        assert sorted(things.index_information()) == ["_id_", "a_1", "a_1_c_-1", "b_1__id_-1", "u_1"]
        # FerretDB's metadata table is left alone.
        assert "USING gin" not in pg.psql(f"SELECT string_agg(indexdef, ' ') FROM pg_indexes "
                                          f"WHERE schemaname = '{dbname}' AND tablename LIKE '\\_ferretdb%'")

        pg.psql(f'ANALYZE "{dbname}"."{table}"')
        out = subprocess.run(["bash", str(ROOT / "deploy" / "postgres" / "explain.sh"), "--json", "--analyze",
                              dbname, "things", "_id", '"id42"', "things", "a", "7", "things", "b", '"b3"',
                              "things", "u", "9"],
                             env={**os.environ, "POSTGRES_URL": pg.url()}, capture_output=True, text=True,
                             timeout=60)
        assert out.returncode == 0, out.stderr
        plans = [json.loads(line) for line in out.stdout.splitlines()]
        assert [(p["field"], p["scan"]) for p in plans] == [("_id", False), ("a", False), ("b", False),
                                                             ("u", False)], plans
        assert all(p["index"] and p["index"][0] in gins for p in plans), plans
        # And what FerretDB itself runs for {_id: ...} and {b: ...}: its own explain.
        plan = json.dumps(c[dbname].command("explain", {"find": "things", "filter": {"_id": "id42"}}))
        assert "Bitmap Index Scan" in plan and any(n in plan for n in gins), plan
        plan = json.dumps(c[dbname].command("explain", {"find": "things", "filter": {"b": "b3"}}))
        assert "Bitmap Index Scan" in plan and any(n in plan for n in gins), plan
        assert sorted(d["_id"] for d in things.find({"b": "b3"})) == sorted(f"id{i}" for i in range(3, 3000, 300))

        # dropIndexes drops the GIN that holds the btree's name; the twins stay
        # while their unique btree does.
        things.drop_index("b_1__id_-1")
        things.drop_index("a_1")
        assert sorted(things.index_information()) == ["_id_", "a_1_c_-1", "u_1"]
        assert sorted(keys(d) for d in indexes().values() if "USING gin" in d) == [["_id"], ["a"], ["u"]]
        things.drop_index("a_1_c_-1")
        things.drop_index("u_1")
        assert sorted(things.index_information()) == ["_id_"]
        assert sorted(keys(d) for d in indexes().values()) == [["_id"], ["_id"]], indexes()
        # And creates again as the first time.
        things.create_index("a")
        assert sorted(keys(d) for d in indexes().values() if "USING gin" in d) == [["_id"], ["a"]]
        assert things.count_documents({"a": 7}) == 60


def test_an_older_database_is_converted_by_the_backfill(stack, dbname):
    """A database made before the GIN replacement (btrees everywhere plus a
    twin per key) is converted when gin-twins.sql runs again at start: each
    non-unique btree becomes a GIN under its name and the twins it made
    redundant go; the unique btrees and their twins stay."""
    pg = stack.postgres
    with mongo_client(stack.ferretdb.uri(dbname)) as c:
        old = c[dbname].old
        old.insert_one({"_id": "x", "a": 1, "u": 1})
        table = pg.psql(f"SELECT _jsonb->>'table' FROM \"{dbname}\"._ferretdb_database_metadata "
                        "WHERE _jsonb->>'_id' = 'old'").strip()
        # As an older version left it: the trigger off, a plain btree and its twin.
        pg.psql("ALTER EVENT TRIGGER clinic_gin_twins_on_create DISABLE")
        try:
            old.create_index("a")
            old.create_index("u", unique=True)
        finally:
            pg.psql("ALTER EVENT TRIGGER clinic_gin_twins_on_create ENABLE")

        def methods() -> list[tuple[str, str]]:
            rows = pg.psql(f"SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = '{dbname}' "
                           f"AND tablename = '{table}'")
            return sorted((re.findall(r"_jsonb -> '([^']+)'", d)[0], "gin" if "USING gin" in d else "btree")
                          for d in (line.split("|", 1)[1] for line in rows.splitlines()))

        assert methods() == [("_id", "btree"), ("_id", "gin"), ("a", "btree"), ("u", "btree")]
        pg.psql((ROOT / "deploy" / "postgres" / "gin-twins.sql").read_text())
        assert methods() == [("_id", "btree"), ("_id", "gin"), ("a", "gin"), ("u", "btree"), ("u", "gin")]
        assert sorted(old.index_information()) == ["_id_", "a_1", "u_1"]
        assert old.find_one({"a": 1})["_id"] == "x"


# What FerretDB 1.24 answers while PostgreSQL is down: MongoDB error code 1
# (InternalError; libmongoc: domain MONGOC_ERROR_SERVER) with pgx's message
# in errmsg, one of these. A query on a pooled connection PostgreSQL just
# closed gets the SQLSTATE 57P01 / EOF kind; later ones (and every new
# connection) "failed to connect to ..." (connection refused, or SQLSTATE
# 57P03 while it starts or shuts down). common/mongo.c's
# mongo_error_is_unavailable must take all of them for "unavailable".
PG_DOWN_MESSAGE = re.compile(r"failed to connect to|SQLSTATE 57P0[123]|SQLSTATE 08|unexpected EOF"
                             r"|conn closed|connection reset by peer|broken pipe")


def test_postgres_outage_under_ferretdb_then_back(stack, dbname):
    """PostgreSQL stopped, then killed, under a running FerretDB: FerretDB
    stays up and answers each command with an error (the one the services
    must take for "database unavailable"), then serves the same data again."""
    import pymongo.errors
    uri = stack.ferretdb.uri(dbname)
    with mongo_client(uri) as c:
        c[dbname].things.insert_one({"_id": "a", "n": 1})
    for outage in (stack.postgres.stop, stack.postgres.kill):
        with mongo_client(uri) as c:
            assert c[dbname].things.find_one({"_id": "a"})  # a pooled connection in use
            outage()
            try:
                assert stack.ferretdb.running() and port_open(stack.ferretdb.port)
                for attempt in range(3):
                    with pytest.raises(pymongo.errors.OperationFailure) as e:
                        c[dbname].things.find_one({"_id": "a"})
                    assert e.value.code == 1 and e.value.details["codeName"] == "InternalError"
                    assert PG_DOWN_MESSAGE.search(str(e.value)), e.value
                    time.sleep(1.1)  # FerretDB's pool pings connections idle for over 1 s
                # Then every command gets the connect error, ping included.
                assert "failed to connect to `user=postgres database=ferretdb`" in str(e.value), e.value
                with pytest.raises(pymongo.errors.OperationFailure) as e:
                    c[dbname].command("ping")
                assert e.value.code == 1 and PG_DOWN_MESSAGE.search(str(e.value)), e.value
            finally:
                stack.postgres.start()
            assert wait_until(lambda: c[dbname].things.find_one({"_id": "a"}), 20) == {"_id": "a", "n": 1}


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


@pytest.mark.slow
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
    port = free_port()
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
