"""docker-compose.yml and deploy/Dockerfile, checked by reading them.

No Docker engine runs on the build machines, so the compose stack cannot be
started here; these tests keep it honest instead: every image pinned, every
variable the services read (their `--help`) set or deliberately defaulted and
nothing they do not read, ports and healthchecks matching the services, start
order by conditions, and a multi-stage, non-root Dockerfile. Needs neither
Kafka nor MongoDB/FerretDB, only the built binaries.

Beside this reading, .deps/bin/compose-check (tests/compose, built by
deploy/deps.sh) loads the file with compose-go, the loader `docker compose`
itself uses: the Compose Specification's schema, interpolation and the
consistency checks. Its resolved project must agree with what is read here.
"""
import json
import os
import re
import subprocess
from pathlib import Path

import pytest
import yaml

from harness import ROOT, api_source, help_vars

COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
DOCKERIGNORE = ROOT / ".dockerignore"

SERVICES = {"appointment": 8080, "financial": 8081}  # service -> HTTP_PORT default
KAFDROP_PORT = "19000:9000"

# Variables a service reads that docker-compose.yml may leave to the service's
# default. Keep it short and deliberate: anything here runs with whatever the
# binary defaults to, which may change under the compose file's feet.
ALLOWED_DEFAULTS = {
    "appointment": set(),
    "financial": set(),
}

# Every long-running service restarts; one-shots must not.
ONE_SHOTS = {"kafka-init", "mongodb-keyfile"}

# The secrets docker-compose.yml requires (${VAR:?message}: no default, so
# `docker compose up` without them stops with the message), and the values
# these tests give them.
REQUIRED = {
    # As docker-compose.yml's header asks: the token in deploy/demo-token (what
    # Prometheus scrapes with and financial reconciles with) among the services'.
    "APPOINTMENT_TOKENS": "test-appt-token-0123456789=appointments:write,appointments:read,metrics:read;"
                          "demo-token-CHANGE-ME-0123456789=appointments:read,metrics:read",
    "FINANCIAL_TOKENS": "test-fin-token-0123456789=billings:read,metrics:read;"
                        "demo-token-CHANGE-ME-0123456789=metrics:read",
    "MONGO_ROOT_PASSWORD": "test-root-pw",
    "APPOINTMENT_MONGODB_PASSWORD": "test-appt-pw",
    "FINANCIAL_MONGODB_PASSWORD": "test-fin-pw",
}
NEED_HEALTHCHECK = {"kafka", "mongodb", "appointment", "financial"}


@pytest.fixture(scope="module")
def compose():
    with open(COMPOSE) as f:
        doc = yaml.safe_load(f)
    assert isinstance(doc, dict) and isinstance(doc.get("services"), dict), \
        "docker-compose.yml has no services mapping"
    return doc


def env_of(svc):
    """A service's environment as a dict, from either compose form."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        out = {}
        for item in env:
            k, _, v = str(item).partition("=")
            out[k] = v
        return out
    return {k: "" if v is None else str(v) for k, v in env.items()}


_SUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::?-([^}]*))?\}")
_REQUIRED_SUBST = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*):\?([^}]*)\}")


def resolve(value):
    """The value compose would use with none of the referenced variables set
    but the REQUIRED ones."""
    value = _REQUIRED_SUBST.sub(lambda m: REQUIRED[m.group(1)], value)
    return _SUBST.sub(lambda m: m.group(2) or "", value)


def published_ports(svc):
    """[(host_port, container_port)] from short or long port syntax."""
    out = []
    for p in svc.get("ports") or []:
        if isinstance(p, dict):
            out.append((str(p.get("published", "")), str(p["target"])))
            continue
        s = str(p).split("/")[0]
        parts = s.split(":")
        if len(parts) == 1:
            out.append(("", parts[0]))
        else:
            out.append((parts[-2], parts[-1]))
    return out


def test_compose_services_present(compose):
    want = {"kafka", "kafka-init", "mongodb", "mongodb-keyfile", "kafdrop", "appointment",
            "financial", "prometheus"}
    assert want <= set(compose["services"]), f"missing: {sorted(want - set(compose['services']))}"


_PINNED_TAG = re.compile(r"^v?\d+\.\d+\.\d+")  # prom/prometheus tags are vX.Y.Z


def test_every_image_is_pinned(compose):
    for name, svc in compose["services"].items():
        if "build" in svc:
            build = svc["build"]
            if isinstance(build, str):
                build = {"context": build}
            assert build.get("dockerfile") == "deploy/Dockerfile", \
                f"{name}: builds from {build.get('dockerfile')!r}, not deploy/Dockerfile"
            assert (ROOT / build.get("context", ".") / build["dockerfile"]).resolve() == DOCKERFILE
            continue
        image = svc.get("image")
        assert image, f"{name}: neither image nor build"
        if "@sha256:" in image:
            continue
        repo, _, tag = image.rpartition(":")
        assert repo and "/" not in tag, f"{name}: image {image!r} has no tag"
        assert tag != "latest" and _PINNED_TAG.match(tag), \
            f"{name}: image {image!r} is not pinned to a MAJOR.MINOR.PATCH tag"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_service_environment_matches_help(compose, service):
    reads = help_vars(service, unset="")
    env = env_of(compose["services"][service])
    allowed = ALLOWED_DEFAULTS[service]
    stale = allowed - reads.keys()
    assert not stale, f"ALLOWED_DEFAULTS[{service}] names variables it does not read: {sorted(stale)}"
    unread = env.keys() - reads.keys()
    assert not unread, f"compose sets variables {service} does not read: {sorted(unread)}"
    missing = reads.keys() - env.keys() - allowed
    assert not missing, (f"{service} reads variables compose neither sets nor allows to default "
                         f"(set them, or add them to ALLOWED_DEFAULTS): {sorted(missing)}")


@pytest.mark.parametrize("service,port", sorted(SERVICES.items()))
def test_service_ports_and_listen_address(compose, service, port):
    reads = help_vars(service, unset="")
    assert reads.get("HTTP_PORT") == str(port), \
        f"{service}'s HTTP_PORT default is {reads.get('HTTP_PORT')}, the design says {port}"
    svc = compose["services"][service]
    env = env_of(svc)
    container_port = resolve(env.get("HTTP_PORT", reads["HTTP_PORT"]))
    assert container_port == str(port)
    assert (str(port), str(port)) in published_ports(svc), \
        f"{service} must publish {port}:{port}, has {svc.get('ports')}"
    # The services bind 127.0.0.1 only while auth is off: the published port
    # needs tokens and 0.0.0.0.
    assert resolve(env.get("HTTP_HOST", reads["HTTP_HOST"])) == "0.0.0.0"


def test_kafdrop_port(compose):
    kd = compose["services"]["kafdrop"]
    host, target = KAFDROP_PORT.split(":")
    assert (host, target) in published_ports(kd), f"kafdrop must publish {KAFDROP_PORT}"
    assert env_of(kd).get("KAFKA_BROKERCONNECT"), "kafdrop needs KAFKA_BROKERCONNECT"


def _route_scopes(service):
    src = api_source(service).read_text()
    return {m.group(1) for m in re.finditer(
        r'\{\s*"[A-Z]+"\s*,\s*"[^"]*"\s*,\s*\w+\s*,\s*"([^"]+)"\s*,\s*(?:true|false)\s*\}', src)}


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_tokens_are_required_and_their_message_names_every_scope(compose, service):
    """No public demo token: AUTH_TOKENS is ${VAR:?message}, and the message
    shows the entry to set, with every scope the service's routes check."""
    raw = env_of(compose["services"][service]).get("AUTH_TOKENS", "")
    m = _REQUIRED_SUBST.fullmatch(raw)
    assert m, f"{service}: AUTH_TOKENS must be a ${{VAR:?message}} substitution, is {raw!r}"
    assert m.group(1) in REQUIRED and m.group(1) in m.group(2), (service, raw)
    example = m.group(2).split("=", 2)[-1].rstrip("'")
    scopes = set(re.split(r"[, ]", example)) - {""}
    need = _route_scopes(service)
    assert need <= scopes, f"{service}: the message's entry lacks scopes {sorted(need - scopes)}"
    for entry in filter(None, resolve(raw).split(";")):
        assert len(entry.partition("=")[0]) >= 16


def test_backing_services_are_addressed_by_compose_names(compose):
    services = compose["services"]
    kafka_env = env_of(services["kafka"])
    advertised = kafka_env.get("KAFKA_ADVERTISED_LISTENERS", "")
    for name in SERVICES:
        env = env_of(services[name])
        uri = resolve(env.get("MONGODB_URI", ""))
        m = re.match(r"mongodb://(?:[^@/]+@)?([^/:?@]+):(\d+)/([^?]*)\?(.*)$", uri)
        assert m, f"{name}: MONGODB_URI {uri!r} is not mongodb://[user:password@]host:port/db?options"
        assert m.group(1) in services, f"{name}: MongoDB host {m.group(1)} is not a compose service"
        opts = dict(o.split("=", 1) for o in m.group(4).split("&"))
        assert opts.get("replicaSet") == "rs0" and opts.get("w") == "majority", \
            f"{name}: MONGODB_URI needs replicaSet=rs0&w=majority"
        for addr in resolve(env.get("KAFKA_BOOTSTRAP", "")).split(","):
            host, _, port = addr.partition(":")
            assert host in services, f"{name}: Kafka host {host} is not a compose service"
            assert f"//{host}:{port}" in advertised, \
                f"{name}: {addr} is not an advertised Kafka listener ({advertised})"


def test_topics_are_created_by_the_init_service(compose):
    services = compose["services"]
    init = services["kafka-init"]
    script = " ".join(init.get("command") if isinstance(init.get("command"), list)
                      else [str(init.get("command", ""))])
    script += " " + " ".join(init.get("entrypoint") or [])
    assert "--if-not-exists" in script, "topic creation must be idempotent"
    assert env_of(services["kafka"]).get("KAFKA_AUTO_CREATE_TOPICS_ENABLE") == "false"
    topics = {resolve(env_of(services[n]).get("KAFKA_TOPIC", "appointment.finished")) for n in SERVICES}
    assert topics == {"appointment.finished"}
    dlq = resolve(env_of(services["financial"]).get("KAFKA_DLQ_TOPIC", "appointment.finished.dlq"))
    for topic, parts in (("appointment.finished", 6), (dlq, 1)):
        assert re.search(rf"--topic {re.escape(topic)} --partitions {parts}\b", script), \
            f"kafka-init must create {topic} with {parts} partition(s)"


def test_healthchecks(compose):
    services = compose["services"]
    for name in NEED_HEALTHCHECK:
        hc = services[name].get("healthcheck")
        assert hc and not hc.get("disable"), f"{name} has no healthcheck"
        test = hc["test"]
        assert test and test != ["NONE"], f"{name}: empty healthcheck"
    for name, port in SERVICES.items():
        test = services[name]["healthcheck"]["test"]
        line = " ".join(test) if isinstance(test, list) else test
        assert f":{port}/healthz" in line, f"{name}: the healthcheck must GET :{port}/healthz"
        if "curl" in line:
            assert "curl" in _runtime_stage(), "healthchecks use curl but the runtime image lacks it"


def test_depends_on_uses_conditions(compose):
    services = compose["services"]
    for name, svc in services.items():
        deps = svc.get("depends_on")
        if deps is None:
            continue
        assert isinstance(deps, dict), f"{name}: depends_on must use conditions (long syntax)"
        for dep, spec in deps.items():
            assert dep in services, f"{name} depends on unknown service {dep}"
            cond = (spec or {}).get("condition")
            assert cond in ("service_healthy", "service_completed_successfully"), \
                f"{name} -> {dep}: condition {cond!r}"
            if cond == "service_healthy":
                assert services[dep].get("healthcheck"), f"{name} waits for {dep}'s health, it has no healthcheck"
            else:
                assert dep in ONE_SHOTS, f"{name} waits for {dep} to complete, but it is not a one-shot"
    for name in SERVICES:
        deps = services[name].get("depends_on") or {}
        assert deps.get("mongodb", {}).get("condition") == "service_healthy"
        assert deps.get("kafka-init", {}).get("condition") == "service_completed_successfully"


def test_restart_policies_and_volumes(compose):
    declared = set((compose.get("volumes") or {}).keys())
    for name, svc in compose["services"].items():
        want = "no" if name in ONE_SHOTS else "unless-stopped"
        assert str(svc.get("restart", "no")) == want, f"{name}: restart should be {want}"
        for v in svc.get("volumes") or []:
            src = v.get("source") if isinstance(v, dict) else str(v).split(":")[0]
            if src and not src.startswith((".", "/", "~")):
                assert src in declared, f"{name}: named volume {src} is not declared"
    for name in ("kafka", "mongodb"):
        assert compose["services"][name].get("volumes"), f"{name} keeps its data in no volume"


@pytest.mark.parametrize("service", sorted(SERVICES))
def test_stop_grace_covers_shutdown_flush(compose, service):
    """SIGKILL comes stop_grace_period (default 10 s) after SIGTERM: leave the
    graceful shutdown (flush the producer, commit offsets) its time."""
    reads = help_vars(service, unset="")
    svc = compose["services"][service]
    assert svc.get("command") == [service], f"{service}: command should be [{service!r}]"
    grace = str(svc.get("stop_grace_period", "10s"))
    m = re.fullmatch(r"(\d+)(ms|s|m)", grace)
    assert m, f"{service}: stop_grace_period {grace!r}"
    grace_ms = int(m.group(1)) * {"ms": 1, "s": 1000, "m": 60000}[m.group(2)]
    assert grace_ms > 10000, f"{service}: stop_grace_period should exceed docker's 10 s default"
    if "SHUTDOWN_FLUSH_MS" in reads:
        flush_ms = int(resolve(env_of(svc).get("SHUTDOWN_FLUSH_MS", reads["SHUTDOWN_FLUSH_MS"])))
        assert grace_ms > flush_ms, f"{service}: SIGKILL ({grace}) would cut the shutdown flush short"


# ---------------------------------------------------------------- Compose's own loader

COMPOSE_CHECK = ROOT / ".deps" / "bin" / "compose-check"


def compose_check(directory, extra_env=None, *args, required=True):
    """compose-check on directory/docker-compose.yml, with none of the
    caller's variables (nor a developer's .env) in play unless given, and
    the REQUIRED secrets set unless required=False."""
    if not COMPOSE_CHECK.exists():
        pytest.fail(f"{COMPOSE_CHECK} is not built (run `make deps`)")
    env = {k: os.environ[k] for k in ("PATH", "HOME", "TMPDIR") if k in os.environ}
    env.update(REQUIRED if required else {})
    env.update(extra_env or {})
    return subprocess.run([str(COMPOSE_CHECK), "-C", str(directory),
                           "-f", str(Path(directory) / "docker-compose.yml"), *args],
                          capture_output=True, text=True, timeout=60, env=env)


@pytest.fixture(scope="module")
def loaded():
    """The project as compose-go resolved it (its JSON)."""
    r = compose_check(ROOT, {"COMPOSE_DISABLE_ENV_FILE": "1"})
    assert r.returncode == 0, f"Compose's loader rejects docker-compose.yml:\n{r.stderr}"
    assert "warning" not in r.stderr, r.stderr
    return json.loads(r.stdout)


def test_compose_loader_accepts_the_file(loaded, compose):
    assert loaded["name"] == compose["name"] == "clinic-events"
    assert set(loaded["services"]) == set(compose["services"])
    assert set(loaded.get("volumes") or {}) == set(compose.get("volumes") or {})


def test_compose_loader_agrees_with_the_parse(loaded, compose):
    """The environment resolve() computes, the ports, images, start order and
    healthchecks read above are the ones Compose itself resolves."""
    for name, svc in compose["services"].items():
        got = loaded["services"][name]
        want_env = {k: resolve(v) for k, v in env_of(svc).items()}
        assert (got.get("environment") or {}) == want_env, f"{name}: environment differs"
        assert got.get("image") == svc.get("image"), name
        ports = {(str(p.get("published", "")), str(p["target"])) for p in got.get("ports") or []}
        assert ports == set(published_ports(svc)), f"{name}: ports {got.get('ports')}"
        deps = {d: (s or {}).get("condition") for d, s in (svc.get("depends_on") or {}).items()}
        assert {d: s["condition"] for d, s in (got.get("depends_on") or {}).items()} == deps, name
        if "healthcheck" in svc:  # `$$` is Compose's escape for a literal `$`
            assert got["healthcheck"]["test"] == [t.replace("$$", "$")
                                                  for t in svc["healthcheck"]["test"]], name
    for name in SERVICES:
        assert loaded["services"][name]["command"] == [name]
    # `$$` is Compose's escape for a literal `$`: the shell gets $topics.
    script = "\n".join(loaded["services"]["kafka-init"]["command"])
    assert "$topics --bootstrap-server" in script and "$$" not in script
    assert "--if-not-exists" in script


def _mounts(loaded, service):
    """{container path: host path} of a service's bind mounts, as Compose resolved them."""
    return {v["target"]: v["source"] for v in loaded["services"][service].get("volumes") or []
            if v.get("type") == "bind"}


def _default_token_scopes(compose, service):
    """{token: scopes} of a service's default AUTH_TOKENS."""
    value = resolve(env_of(compose["services"][service])["AUTH_TOKENS"])
    return {t: set(re.split(r"[, ]", s)) for t, _, s in
            (e.partition("=") for e in filter(None, value.split(";")))}


def test_prometheus_scrapes_both_services_on_localhost_only(loaded, compose):
    prom = loaded["services"]["prometheus"]
    assert prom["image"].startswith("prom/prometheus:")
    ports = prom.get("ports") or []
    assert ports, "prometheus publishes no port"
    for p in ports:
        assert p.get("host_ip") == "127.0.0.1", f"prometheus must publish on 127.0.0.1 only: {p}"
    assert {(str(p["published"]), p["target"]) for p in ports} == {("9090", 9090)}
    mounts = _mounts(loaded, "prometheus")
    config_arg = [a for a in prom["command"] if a.startswith("--config.file=")]
    assert config_arg, prom["command"]
    config_in = config_arg[0].split("=", 1)[1]
    config_dir, _, config_name = config_in.rpartition("/")
    host_dir = Path(mounts[config_dir])
    assert host_dir == ROOT / "deploy" / "prometheus", mounts
    config = yaml.safe_load((host_dir / config_name).read_text())
    assert (host_dir / config["rule_files"][0]).exists()
    targets = {t for s in config["scrape_configs"] for c in s["static_configs"] for t in c["targets"]}
    assert targets == {"appointment:8080", "financial:8081"}
    # Both services require metrics:read: the token file it scrapes with holds one.
    token_file = {s["authorization"]["credentials_file"] for s in config["scrape_configs"]}
    assert len(token_file) == 1
    token = Path(mounts[token_file.pop()]).read_text().strip()
    for name in SERVICES:
        assert "metrics:read" in _default_token_scopes(compose, name).get(token, set()), name


def test_financial_reconciles_through_the_appointment_api(loaded, compose):
    env = loaded["services"]["financial"]["environment"]
    assert env["APPOINTMENT_URL"] == "http://appointment:8080"
    token = Path(_mounts(loaded, "financial")[env["APPOINTMENT_TOKEN_FILE"]]).read_text().strip()
    assert "appointments:read" in _default_token_scopes(compose, "appointment").get(token, set())


def test_compose_loader_interpolates_from_env_and_dotenv(tmp_path):
    """The process environment wins over the project's .env, as with `docker compose`."""
    (tmp_path / "docker-compose.yml").write_text(COMPOSE.read_text())
    (tmp_path / "deploy" / "mongo").mkdir(parents=True)
    (tmp_path / "deploy" / "mongo" / "init-users.js").write_text("")
    (tmp_path / ".env").write_text("APPOINTMENT_TOKENS=dotenv-token-0123456789=appointments:read\n"
                                   "FINANCIAL_TOKENS=dotenv-token-0123456789=billings:read\n")
    r = compose_check(tmp_path, {"APPOINTMENT_TOKENS": "osenv-token-0123456789=metrics:read"},
                      required=False)
    assert r.returncode == 1 and "MONGO_ROOT_PASSWORD is missing a value" in r.stderr, r.stderr
    passwords = {k: v for k, v in REQUIRED.items() if "PASSWORD" in k}
    r = compose_check(tmp_path, {"APPOINTMENT_TOKENS": "osenv-token-0123456789=metrics:read",
                                 **passwords}, required=False)
    assert r.returncode == 0, r.stderr
    services = json.loads(r.stdout)["services"]
    assert services["appointment"]["environment"]["AUTH_TOKENS"] == "osenv-token-0123456789=metrics:read"
    assert services["financial"]["environment"]["AUTH_TOKENS"] == "dotenv-token-0123456789=billings:read"


# (name, what to replace or append, with what, what the loader must say)
_DEP = "      kafka-init:\n        condition: service_completed_successfully\n"
_DEFECTS = [
    ("unknown-top-level-key", None, "\nbogus_top_level: true\n",
     ["additional properties 'bogus_top_level' not allowed"]),
    ("invalid-port", '- "127.0.0.1:8080:8080"', '- "127.0.0.1:8080:80x80"',
     ["Invalid containerPort: 80x80"]),
    ("unknown-depends-on", _DEP, _DEP.replace("kafka-init", "kafka-setup"),
     ['service "appointment" depends on undefined service "kafka-setup"']),
    ("unset-required-variable", 'LOG_LEVEL: "info"', 'LOG_LEVEL: "${CLINIC_LOG_LEVEL:?set it}"',
     ["services.appointment.environment.LOG_LEVEL",
      "required variable CLINIC_LOG_LEVEL is missing a value"]),
    ("unset-variable", 'LOG_LEVEL: "info"', 'LOG_LEVEL: "${CLINIC_LOG_LEVEL}"',
     ['The "CLINIC_LOG_LEVEL" variable is not set']),
]


def _defective_copy(tmp_path, old, new):
    text = COMPOSE.read_text()
    if old is None:
        text += new
    else:
        assert old in text, f"docker-compose.yml no longer contains {old!r}: update the defect"
        text = text.replace(old, new, 1)
    (tmp_path / "docker-compose.yml").write_text(text)
    return tmp_path


@pytest.mark.parametrize("name,old,new,messages", _DEFECTS, ids=[d[0] for d in _DEFECTS])
def test_compose_loader_rejects_defects(tmp_path, name, old, new, messages):
    r = compose_check(_defective_copy(tmp_path, old, new))
    assert r.returncode == 1, f"{name}: compose-check accepted it\n{r.stderr}"
    assert r.stdout == ""
    for m in messages:
        assert m in r.stderr, f"{name}: {m!r} not in\n{r.stderr}"


def test_compose_loader_required_variable_once_set(tmp_path):
    d = _defective_copy(tmp_path, 'LOG_LEVEL: "info"', 'LOG_LEVEL: "${CLINIC_LOG_LEVEL:?set it}"')
    r = compose_check(d, {"CLINIC_LOG_LEVEL": "debug"})
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["services"]["appointment"]["environment"]["LOG_LEVEL"] == "debug"


# ---------------------------------------------------------------- Dockerfile

def _dockerfile_lines():
    text = DOCKERFILE.read_text().replace("\\\n", " ")
    return [ln.strip() for ln in text.splitlines() if ln.strip() and not ln.strip().startswith("#")]


def _stages():
    """[(from_line, [instructions])]"""
    stages = []
    for ln in _dockerfile_lines():
        if ln.upper().startswith("FROM "):
            stages.append((ln, []))
        elif stages:
            stages[-1][1].append(ln)
    return stages


def _runtime_stage():
    return "\n".join(_stages()[-1][1])


def test_dockerfile_multistage_pinned():
    stages = _stages()
    assert len(stages) >= 2, "the Dockerfile must be multi-stage"
    names = set()
    for line, _ in stages:
        m = re.match(r"FROM\s+(?:--platform=\S+\s+)?(\S+)(?:\s+AS\s+(\S+))?$", line, re.I)
        assert m, f"cannot parse {line!r}"
        image = m.group(1)
        if image not in names:
            repo, _, tag = image.rpartition(":")
            assert "@sha256:" in image or (repo and tag != "latest" and re.match(r"^\d+(\.\d+)+", tag)), \
                f"base image {image!r} is not pinned to a versioned tag"
        if m.group(2):
            names.add(m.group(2))


def test_dockerfile_runtime_stage():
    runtime = _runtime_stage()
    users = re.findall(r"^USER\s+(\S+)", runtime, re.M)
    assert users, "the runtime stage sets no USER"
    assert users[-1].split(":")[0] not in ("root", "0"), "the runtime stage runs as root"
    exposed = set()
    for m in re.finditer(r"^EXPOSE\s+(.+)$", runtime, re.M):
        exposed |= {p.split("/")[0] for p in m.group(1).split()}
    assert {str(p) for p in SERVICES.values()} <= exposed, f"EXPOSE {sorted(exposed)}"
    for lib in ("librdkafka1", "libmongoc-1.0-0", "libbson-1.0-0", "libjansson4", "libcivetweb1", "libjwt0",
                "ca-certificates"):
        assert re.search(rf"\b{re.escape(lib)}\b", runtime), f"the runtime stage does not install {lib}"
    assert not re.search(r"\b\S+-dev\b", runtime), "the runtime stage installs -dev packages"
    for svc in SERVICES:
        assert re.search(rf"^COPY\s+--from=\S+.*\bbuild/{svc}\b", runtime, re.M), \
            f"the runtime stage does not copy build/{svc}"
    build = "\n".join(_stages()[0][1])
    assert re.search(r"\bmake\b.*build/appointment.*build/financial", build), \
        "the build stage must run make build/appointment build/financial"


def test_dockerignore():
    entries = {ln.strip().rstrip("/") for ln in DOCKERIGNORE.read_text().splitlines()
               if ln.strip() and not ln.startswith("#")}
    for d in ("build", ".deps", "var"):
        assert d in entries or f"/{d}" in entries, f".dockerignore must exclude {d}/"


# ---------------------------------------------------------------- safe by default

def test_compose_refuses_to_start_without_its_secrets():
    """`docker compose up` with none of the secrets set stops before anything
    starts, naming each variable and what it is for."""
    r = compose_check(ROOT, {"COMPOSE_DISABLE_ENV_FILE": "1"}, required=False)
    assert r.returncode == 1 and r.stdout == "", r.stderr
    for var in REQUIRED:
        assert f"required variable {var} is missing a value: set {var}" in r.stderr, (var, r.stderr)


def test_every_published_port_is_on_loopback_only(loaded, compose):
    for name, svc in compose["services"].items():
        for p in svc.get("ports") or []:
            assert isinstance(p, str) and p.startswith("127.0.0.1:"), \
                f"{name}: port {p!r} is not published on 127.0.0.1 only"
        for p in loaded["services"][name].get("ports") or []:
            assert p.get("host_ip") == "127.0.0.1", f"{name}: compose publishes {p} beyond loopback"
    published = {n for n, svc in compose["services"].items() if svc.get("ports")}
    assert {"kafka", "mongodb", "kafdrop", *SERVICES} <= published


def _listeners(value):
    """{NAME: port} of a Kafka listener list ("NAME://host:port,...")."""
    return {m.group(1): m.group(2) for m in re.finditer(r"([A-Z_]+)://[^:,]*:(\d+)", value)}


def test_kafka_internal_listener_is_separate_from_the_host_one(compose):
    services = compose["services"]
    env = env_of(services["kafka"])
    listeners = _listeners(env["KAFKA_LISTENERS"])
    advertised = env["KAFKA_ADVERTISED_LISTENERS"]
    assert {"INTERNAL", "EXTERNAL", "CONTROLLER"} <= listeners.keys(), listeners
    assert len(set(listeners.values())) == len(listeners), "two listeners share a port"
    assert env["KAFKA_INTER_BROKER_LISTENER_NAME"] == "INTERNAL"
    assert re.search(rf"EXTERNAL://(localhost|127\.0\.0\.1):{listeners['EXTERNAL']}\b", advertised)
    assert re.search(rf"INTERNAL://kafka:{listeners['INTERNAL']}\b", advertised)
    # the host reaches EXTERNAL only, on loopback
    targets = {target for _, target in published_ports(services["kafka"])}
    assert targets == {listeners["EXTERNAL"]}, f"kafka publishes {targets}"
    # everything inside the network uses INTERNAL
    internal = f"kafka:{listeners['INTERNAL']}"
    for name in SERVICES:
        assert resolve(env_of(services[name])["KAFKA_BOOTSTRAP"]) == internal, name
    assert env_of(services["kafdrop"])["KAFKA_BROKERCONNECT"] == internal
    assert f"--bootstrap-server {internal}" in " ".join(services["kafka-init"]["command"])


INIT_USERS = ROOT / "deploy" / "mongo" / "init-users.js"


def test_mongodb_has_a_root_user_and_a_least_privilege_user_per_service(compose):
    services = compose["services"]
    mongo = services["mongodb"]
    env = env_of(mongo)
    assert env.get("MONGO_INITDB_ROOT_USERNAME") == "root"
    assert _REQUIRED_SUBST.fullmatch(env.get("MONGO_INITDB_ROOT_PASSWORD", "")), \
        "the root password must be required, with no default"
    # authorization on a replica set needs the members' key file
    assert "--keyFile" in mongo["command"]
    assert services["mongodb-keyfile"]["volumes"][0].split(":")[0] == "mongodb-keyfile"
    mounts = [str(v) for v in mongo.get("volumes") or []]
    assert "./deploy/mongo/init-users.js:/docker-entrypoint-initdb.d/init-users.js:ro" in mounts
    script = INIT_USERS.read_text()
    users = {m.group(1): (m.group(2), m.group(3)) for m in re.finditer(
        r'\{\s*user:\s*"(\w+)",\s*db:\s*"(\w+)",\s*env:\s*"(\w+)"\s*\}', script)}
    assert set(users) == set(SERVICES), users
    assert 'roles: [{ role: "readWrite", db: u.db }]' in script, "each user: readWrite on its db only"
    for name in SERVICES:
        db, pw_var = users[name]
        assert db == name, f"{name}'s user works on {db}"
        # the init script reads the password the service's URI uses
        assert _REQUIRED_SUBST.fullmatch(env.get(pw_var, "")), f"mongodb lacks a required {pw_var}"
        uri = env_of(services[name])["MONGODB_URI"]
        m = re.match(r"mongodb://(\w+):\$\{(\w+):\?[^}]*\}@mongodb:27017/(\w+)\?(.*)$", uri)
        assert m, f"{name}: MONGODB_URI {uri!r} has no user and required password"
        assert (m.group(1), m.group(2), m.group(3)) == (name, pw_var, name), uri
        assert "authSource=admin" in m.group(4).split("&"), uri
