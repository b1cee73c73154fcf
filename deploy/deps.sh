#!/usr/bin/env bash
# Installs what the build, the local stack and the tests need, skipping what is
# already there: apt packages (PostgreSQL among them), the Kafka jars, the
# FerretDB binary and the Python test venv. Safe to run again and again (`make deps`); the second run
# only checks markers and takes well under a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEPS="$ROOT/.deps"
# Go from the official tarball lives here and is often not on a login PATH.
if [[ -x /usr/local/go/bin/go && ":$PATH:" != *":/usr/local/go/bin:"* ]]; then
    PATH="$PATH:/usr/local/go/bin"
fi

log() { printf 'deps: %s\n' "$*"; }
die() { printf 'deps: ERROR: %s\n' "$*" >&2; exit 1; }
have() { command -v "$1" >/dev/null 2>&1; }
# A marker holds the hash of the inputs an install step came from, so editing a
# pin (pom, go.sum, requirements) reinstalls and nothing else does.
hash_of() { cat "$@" | sha256sum | cut -d' ' -f1; }
marker_ok() { [[ -f "$1" && "$(cat "$1")" == "$2" ]]; }

mkdir -p "$DEPS"

# ---------------------------------------------------------------- apt
apt_install() {
    local want=(build-essential pkg-config librdkafka-dev libmongoc-dev libbson-dev libjansson-dev
        libcivetweb-dev check kcat python3-venv python3-yaml wrk clang-format curl
        clang libclang-rt-14-dev valgrind chromium jq postgresql prometheus)
    # clang + its runtime: libFuzzer targets (make fuzz); valgrind: leak checks;
    # chromium: the headless /docs test; wrk: make bench; jq: README's examples;
    # postgresql: FerretDB's backend (deploy/postgres/postgres.sh runs a
    # cluster of its own; its binaries are under /usr/lib/postgresql/*/bin).
    # prometheus: promtool checks deploy/prometheus/ in make test, and make
    # run starts one of its own on 127.0.0.1:9090 (the package's system
    # service is stopped and disabled below, as PostgreSQL's main cluster is
    # never created).
    have java || want+=(openjdk-17-jre-headless)
    have mvn || want+=(maven)
    have npm || want+=(npm)
    # JWT bearer tokens (common/auth_jwt.c): libjwt verifies, libssl-dev's
    # libcrypto checks the key at start.
    want+=(libjwt-dev libssl-dev)
    # No Debian golang: its 1.19 cannot build FerretDB (see ensure_go).

    local missing=() pkg status
    for pkg in "${want[@]}"; do
        status="$(dpkg-query -W -f='${db:Status-Abbrev}' "$pkg" 2>/dev/null || true)"
        [[ "$status" == ii* ]] || missing+=("$pkg")
    done
    [[ ${#missing[@]} -eq 0 ]] && return 0

    local sudo=()
    if [[ $(id -u) -ne 0 ]]; then
        have sudo || die "apt packages missing (${missing[*]}) and not root"
        sudo=(sudo)
    fi
    # Debian's postgresql would create and start a "main" cluster on 5432 that
    # nothing here uses: say no before it is installed (pg_createcluster can
    # still make one by hand).
    if [[ " ${missing[*]} " == *" postgresql "* && ! -e /etc/postgresql-common/createcluster.d/clinic-events.conf ]] &&
        ! dpkg-query -W -f='${db:Status-Abbrev}' postgresql-common 2>/dev/null | grep -q '^ii'; then
        "${sudo[@]}" mkdir -p /etc/postgresql-common/createcluster.d
        printf '# clinic-events: its own clusters only (deploy/postgres/postgres.sh)\ncreate_main_cluster = false\n' |
            "${sudo[@]}" tee /etc/postgresql-common/createcluster.d/clinic-events.conf >/dev/null
    fi
    log "installing apt packages: ${missing[*]}"
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y -q --no-install-recommends "${missing[@]}"
    # Debian starts the package's Prometheus (0.0.0.0:9090, /var/lib/prometheus)
    # where systemd runs: make run's own would find its port taken.
    if [[ " ${missing[*]} " == *" prometheus "* && -d /run/systemd/system ]]; then
        "${sudo[@]}" systemctl disable --now prometheus >/dev/null 2>&1 || true
    fi
}

# ---------------------------------------------------------------- Kafka jars
kafka_jars() {
    local pom="$ROOT/deploy/kafka/pom.xml" libs="$DEPS/kafka/libs"
    local marker="$DEPS/kafka/.installed" want
    want="$(hash_of "$pom")"
    marker_ok "$marker" "$want" && return 0

    log "installing Kafka jars from Maven Central into .deps/kafka/libs (about a minute the first time)"
    rm -rf "$libs" "$marker"
    mkdir -p "$libs"
    # Maven 3.8 prints colour codes even in batch mode: keep its output in a
    # file and show it only when it fails.
    if ! mvn -q -B -f "$pom" -Dmaven.repo.local="$DEPS/m2" \
        dependency:copy-dependencies -DoutputDirectory="$libs" -DincludeScope=runtime \
        >"$DEPS/kafka/mvn.log" 2>&1; then
        cat "$DEPS/kafka/mvn.log" >&2
        die "mvn failed fetching the Kafka jars"
    fi
    ls "$libs"/kafka_2.13-*.jar >/dev/null 2>&1 || die "Kafka jars missing after mvn"
    printf '%s' "$want" >"$marker"
}

# ---------------------------------------------------------------- FerretDB
# FerretDB's go.mod says `go 1.24`. Go >= 1.21 fetches that toolchain itself
# through the module proxy (GOTOOLCHAIN=auto). Without Go, or with an older
# one (Debian 12 ships 1.19), fetch the toolchain the way Go itself does: as
# the module golang.org/toolchain, from the module proxy.
GO_TOOLCHAIN=1.24.4
GO=go

go_is_recent() {
    local v major rest minor
    v="$(go env GOVERSION 2>/dev/null)" || return 1
    v="${v#go}" major="${v%%.*}" rest="${v#*.}"
    minor="${rest%%[.a-z]*}"
    (( major > 1 || (major == 1 && minor >= 21) ))
}

ensure_go() {
    if [[ -z "${DEPS_GO_FROM_PROXY:-}" ]] && have go && go_is_recent; then return 0; fi
    local dir="$DEPS/go" arch tmp
    GO="$dir/bin/go"
    [[ -x "$GO" ]] && return 0
    arch="$(dpkg --print-architecture)"
    log "fetching the Go $GO_TOOLCHAIN toolchain from the Go module proxy into .deps/go"
    tmp="$(mktemp -d "$DEPS/go-fetch.XXXXXX")"
    curl -fsSL -o "$tmp/go.zip" \
        "https://proxy.golang.org/golang.org/toolchain/@v/v0.0.1-go$GO_TOOLCHAIN.linux-$arch.zip"
    python3 -c 'import sys, zipfile; zipfile.ZipFile(sys.argv[1]).extractall(sys.argv[2])' \
        "$tmp/go.zip" "$tmp/x"
    rm -rf "$dir"
    mv "$tmp"/x/golang.org/toolchain@*/ "$dir"
    rm -rf "$tmp"
    # Python's zipfile drops the executable bits.
    chmod +x "$dir"/bin/* "$dir"/pkg/tool/*/*
    "$GO" version >/dev/null || die "the fetched Go toolchain does not run"
}

ferretdb() {
    local src="$ROOT/deploy/ferretdb" bin="$DEPS/bin/ferretdb"
    local marker="$DEPS/bin/.ferretdb.installed" want
    want="$(hash_of "$src/go.mod" "$src/go.sum" "$src/tools.go")"
    marker_ok "$marker" "$want" && [[ -x "$bin" ]] && return 0

    ensure_go
    local version
    version="$(awk '$1 == "require" && $2 == "github.com/FerretDB/FerretDB" {print $3}' "$src/go.mod")"
    [[ -n "$version" ]] || die "cannot read the FerretDB version from $src/go.mod"
    log "building FerretDB $version into .deps/bin/ferretdb (about a minute the first time)"

    # `go install ...@version` needs the proxy's @v/list, which is not reachable
    # here; a pinned module + vendor only needs the module zips.
    local build="$DEPS/ferretdb-build"
    rm -rf "$build"
    mkdir -p "$build" "$DEPS/bin"
    cp "$src/go.mod" "$src/go.sum" "$src/tools.go" "$build/"
    (
        cd "$build"
        export GOTOOLCHAIN=auto GOFLAGS=-buildvcs=false CGO_ENABLED=0
        "$GO" mod vendor
        # The module zip lacks this embedded file and the binary panics without it.
        printf '%s\n' "$version" >vendor/github.com/FerretDB/FerretDB/build/version/version.txt
        "$GO" build -mod=vendor -trimpath -o "$bin.tmp" github.com/FerretDB/FerretDB/cmd/ferretdb
    )
    mv -f "$bin.tmp" "$bin"
    "$bin" --version >/dev/null || die "the built ferretdb does not run"
    rm -rf "$build"
    printf '%s' "$want" >"$marker"
}

# ---------------------------------------------------------------- compose-check
# tests/compose: Docker Compose's own loader (compose-go) for make test's check
# of docker-compose.yml. go.mod/go.sum pin every module, so the build fetches
# only their zips from the module proxy, with the Go FerretDB is built with.
compose_check() {
    local src="$ROOT/tests/compose" bin="$DEPS/bin/compose-check"
    local marker="$DEPS/bin/.compose-check.installed" want
    want="$(hash_of "$src/go.mod" "$src/go.sum" "$src/main.go")"
    marker_ok "$marker" "$want" && [[ -x "$bin" ]] && return 0

    ensure_go
    log "building compose-check into .deps/bin/compose-check"
    mkdir -p "$DEPS/bin"
    (
        cd "$src"
        export GOTOOLCHAIN=auto GOFLAGS="-buildvcs=false -mod=readonly" CGO_ENABLED=0
        "$GO" build -trimpath -o "$bin.tmp" .
    )
    mv -f "$bin.tmp" "$bin"
    "$bin" -version >/dev/null || die "the built compose-check does not run"
    printf '%s' "$want" >"$marker"
}

# ---------------------------------------------------------------- Python venv
venv() {
    local req="$ROOT/tests/requirements.txt" dir="$DEPS/venv"
    local marker="$dir/.installed" want py
    py="$(command -v python3)" || die "python3 not found"
    # The interpreter's version is part of the key: a venv is bound to it.
    want="$(hash_of "$req") $("$py" -c 'import sys; print("%d.%d.%d" % sys.version_info[:3])')"
    marker_ok "$marker" "$want" && [[ -x "$dir/bin/python" ]] && return 0

    log "installing the Python test venv into .deps/venv (pins in tests/requirements.txt)"
    rm -rf "$dir"
    "$py" -m venv "$dir"
    # Wheels only: confluent-kafka's wheel bundles a current librdkafka, while a
    # source build would pick up Debian's older one.
    "$dir/bin/python" -m pip install -q --disable-pip-version-check \
        --only-binary=:all: -r "$req"
    printf '%s' "$want" >"$marker"
}

# ---------------------------------------------------------------- Swagger UI
# The services serve /docs from these files (DOCS_DIR, default .deps/swagger-ui).
swagger_ui() {
    local pkg="$ROOT/deploy/swagger-ui/package.json" dir="$DEPS/swagger-ui"
    local marker="$dir/.installed" want
    want="$(hash_of "$pkg")"
    marker_ok "$marker" "$want" && return 0
    have npm || die "npm not found (Node.js is needed to fetch Swagger UI)"
    log "installing Swagger UI (npm swagger-ui-dist) into .deps/swagger-ui"
    rm -rf "$DEPS/swagger-ui-npm" "$dir"
    mkdir -p "$DEPS/swagger-ui-npm"
    cp "$pkg" "$DEPS/swagger-ui-npm/package.json"
    (cd "$DEPS/swagger-ui-npm" && npm install --silent --no-audit --no-fund --ignore-scripts \
        --omit=dev >/dev/null)
    mkdir -p "$dir"
    cp "$DEPS/swagger-ui-npm/node_modules/swagger-ui-dist/"{swagger-ui.css,swagger-ui-bundle.js,swagger-ui-standalone-preset.js,favicon-32x32.png} "$dir/"
    printf '%s' "$want" >"$marker"
}

apt_install
# shellcheck source=deploy/postgres/pgbin.sh
source "$ROOT/deploy/postgres/pgbin.sh"
pg_bindir >/dev/null || die "PostgreSQL server binaries (initdb) not found after installing postgresql"
kafka_jars
ferretdb
compose_check
venv
swagger_ui
