#!/usr/bin/env bash
# Local Apache Kafka in KRaft mode, run from the jars in .deps/kafka/libs.
#
#   kafka.sh start [NODE]   format storage the first time, start in the background,
#                           wait until ready, create the topics
#   kafka.sh stop [NODE]    SIGTERM (controlled shutdown) and wait
#   kafka.sh kill [NODE]    SIGKILL: a crash, data stays on disk
#   kafka.sh status [NODE]  exit 0 if running, 3 if not
#   kafka.sh wait           wait until every node is up and the topics exist
#   kafka.sh topics         create missing topics, then list them
#   kafka.sh bootstrap      print the bootstrap servers
#
# Environment (defaults):
#   KAFKA_HOME_DIR         state dir (var/kafka under the repo); data kept across
#                          stop/start, so a stop is an outage, not a reset
#   KAFKA_NODES            1, or 3: three combined broker+controller nodes on loopback
#                          (default: what KAFKA_HOME_DIR was set up with, else 1)
#   KAFKA_PORT             first client port (9092); node i uses PORT+i-1
#   KAFKA_CONTROLLER_PORT  first controller port (PORT+NODES: 9093 for 1 node,
#                          9095 for 3); node i uses CONTROLLER_PORT+i-1
#   KAFKA_TOPICS           name:partitions,... ("appointment.finished:6,appointment.finished.dlq:1");
#                          replication factor = min(NODES, 3), min.insync.replicas = 2 with 3 nodes
#   KAFKA_HEAP             max heap per node (512m for 1 node, 256m each for 3)
#   KAFKA_JIT              c1: the client compiler only, a fast start (for tests,
#                          whose brokers live seconds); full: C1 then C2, for a
#                          broker that runs for hours (make run sets it)
#   KAFKA_JAVA_OPTS        extra JVM options
#   KAFKA_EXTRA_CONFIG     extra server.properties lines (newline separated)
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (90)
#
# A secured cluster (docs/security.md; tests/integration/test_secured_kafka.py):
#   KAFKA_SECURITY         plaintext (default), or sasl_ssl: the client listener
#                          speaks SASL_SSL with SCRAM-SHA-512, the controller
#                          listener TLS with client certificates, and KRaft's
#                          StandardAuthorizer is on (no ACL: only super users)
#   KAFKA_SSL_KEYSTORE     sasl_ssl: PEM file with the broker's unencrypted PKCS#8
#                          key and its certificate (valid for 127.0.0.1, with the
#                          serverAuth and clientAuth usages)
#   KAFKA_SSL_CA           sasl_ssl: PEM CA the brokers' and clients' certificates chain to
#   KAFKA_SSL_PRINCIPAL    sasl_ssl: the broker certificate's principal (User:CN=...),
#                          a super user: the brokers talk to the controllers with it
#   KAFKA_ADMIN_USER       sasl_ssl: SCRAM super user the brokers and this script use
#   KAFKA_ADMIN_PASSWORD_FILE  sasl_ssl: its password (first line)
#   KAFKA_SCRAM_USERS      sasl_ssl: more SCRAM-SHA-512 users created at format time,
#                          name=password-file,... (passwords without , = [ ] ")
#   The script writes $KAFKA_HOME_DIR/admin.properties (Java tools' --command-config)
#   and $KAFKA_HOME_DIR/kcat.conf (kcat -F) for the admin user, mode 600.
#   KAFKA_STOP_TIMEOUT     seconds to wait for a controlled shutdown before SIGKILL (60)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
LIBS="$ROOT/.deps/kafka/libs"

HOME_DIR="${KAFKA_HOME_DIR:-$ROOT/var/kafka}"
mkdir -p "$HOME_DIR"
HOME_DIR="$(cd "$HOME_DIR" && pwd)"
# Without KAFKA_NODES, a state dir already set up says how many nodes it has.
NODES="${KAFKA_NODES:-$(cat "$HOME_DIR/nodes" 2>/dev/null || echo 1)}"
PORT="${KAFKA_PORT:-9092}"
CPORT="${KAFKA_CONTROLLER_PORT:-$((PORT + NODES))}"
TOPICS="${KAFKA_TOPICS:-appointment.finished:6,appointment.finished.dlq:1}"
START_TIMEOUT="${KAFKA_START_TIMEOUT:-90}"
STOP_TIMEOUT="${KAFKA_STOP_TIMEOUT:-60}"

log() { printf 'kafka: %s\n' "$*" >&2; }
die() { printf 'kafka: ERROR: %s\n' "$*" >&2; exit 1; }

[[ "$NODES" == 1 || "$NODES" == 3 ]] || die "KAFKA_NODES must be 1 or 3, not '$NODES'"
if (( CPORT < PORT + NODES && PORT < CPORT + NODES )); then
    die "client ports $PORT..$((PORT + NODES - 1)) overlap controller ports $CPORT..$((CPORT + NODES - 1))"
fi
if (( NODES == 3 )); then RF=3 MIN_ISR=2; else RF=1 MIN_ISR=1; fi
HEAP="${KAFKA_HEAP:-$([[ $NODES == 1 ]] && echo 512m || echo 256m)}"

SECURITY="${KAFKA_SECURITY:-plaintext}"
KCAT_ARGS=()
TOOL_ARGS=()
case "$SECURITY" in
    plaintext) LISTENER=PLAINTEXT ;;
    sasl_ssl)
        LISTENER=SASL_SSL
        for v in KAFKA_SSL_KEYSTORE KAFKA_SSL_CA KAFKA_SSL_PRINCIPAL KAFKA_ADMIN_USER KAFKA_ADMIN_PASSWORD_FILE; do
            [[ -n "${!v:-}" ]] || die "$v must be set when KAFKA_SECURITY is sasl_ssl"
        done
        for v in KAFKA_SSL_KEYSTORE KAFKA_SSL_CA KAFKA_ADMIN_PASSWORD_FILE; do
            [[ -r "${!v}" ]] || die "$v: cannot read '${!v}'"
        done
        ADMIN_PASSWORD="$(head -n 1 "$KAFKA_ADMIN_PASSWORD_FILE")"
        IFS=',' read -ra _users <<<"${KAFKA_SCRAM_USERS:-}"
        for _u in "${_users[@]}"; do
            [[ "$_u" == *=* && -r "${_u#*=}" ]] || die "KAFKA_SCRAM_USERS: '$_u' is not name=readable-password-file"
        done
        KCAT_ARGS=(-F "$HOME_DIR/kcat.conf")
        TOOL_ARGS=(--command-config "$HOME_DIR/admin.properties")
        ;;
    *) die "KAFKA_SECURITY must be plaintext or sasl_ssl, not '$SECURITY'" ;;
esac

# The admin's client settings for kcat and the Java tools (secrets: mode 600).
write_client_configs() {
    [[ "$SECURITY" == sasl_ssl ]] || return 0
    (
        umask 077
        cat >"$HOME_DIR/kcat.conf" <<EOF
security.protocol=sasl_ssl
sasl.mechanisms=SCRAM-SHA-512
sasl.username=$KAFKA_ADMIN_USER
sasl.password=$ADMIN_PASSWORD
ssl.ca.location=$KAFKA_SSL_CA
EOF
        cat >"$HOME_DIR/admin.properties" <<EOF
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_ADMIN_USER" password="$ADMIN_PASSWORD";
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_SSL_CA
EOF
    )
}

# server.properties lines of a secured node: SASL_SSL for clients (SCRAM),
# TLS with client certificates between brokers and controllers, the
# StandardAuthorizer (super users: the admin and the brokers' certificate).
security_config() {
    [[ "$SECURITY" == sasl_ssl ]] || return 0
    cat <<EOF
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$KAFKA_ADMIN_USER" password="$ADMIN_PASSWORD";
listener.name.controller.ssl.client.auth=required
ssl.keystore.type=PEM
ssl.keystore.location=$KAFKA_SSL_KEYSTORE
ssl.truststore.type=PEM
ssl.truststore.location=$KAFKA_SSL_CA
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:$KAFKA_ADMIN_USER;$KAFKA_SSL_PRINCIPAL
allow.everyone.if.no.acl.found=false
EOF
}

# --add-scram arguments for the storage format: the admin and KAFKA_SCRAM_USERS.
scram_args() {
    [[ "$SECURITY" == sasl_ssl ]] || return 0
    local entry users=()
    printf '%s\n' --add-scram "SCRAM-SHA-512=[name=$KAFKA_ADMIN_USER,password=$ADMIN_PASSWORD]"
    IFS=',' read -ra users <<<"${KAFKA_SCRAM_USERS:-}"
    for entry in "${users[@]}"; do
        printf '%s\n' --add-scram "SCRAM-SHA-512=[name=${entry%%=*},password=$(head -n 1 "${entry#*=}")]"
    done
}

# Serial GC. JIT: C1 only (KAFKA_JIT=c1, the default) was measured here to
# start in the same wall-clock time with ~30% less CPU (2.2 s instead of
# 3.0 s), which the services and tests sharing this 2-core box get instead: a
# test's broker never runs long enough for C2 to pay off. C2 (full) spends
# CPU compiling for the first minutes of traffic and uses 20-40% less per
# consultation after that: right for make run's broker, which runs for hours
# (docs/operations.md, "Local stack settings").
JIT="${KAFKA_JIT:-c1}"
case "$JIT" in
    c1) JIT_OPTS=(-XX:TieredStopAtLevel=1) ;;
    full) JIT_OPTS=() ;;
    *) die "KAFKA_JIT must be c1 or full, not '$JIT'" ;;
esac
JAVA_OPTS=(-Xmx"$HEAP" -XX:+UseSerialGC "${JIT_OPTS[@]}" -XX:+ExitOnOutOfMemoryError
    -Djava.awt.headless=true -Djava.net.preferIPv4Stack=true)
# shellcheck disable=SC2206  # word splitting of user-supplied options is intended
[[ -n "${KAFKA_JAVA_OPTS:-}" ]] && JAVA_OPTS+=(${KAFKA_JAVA_OPTS})

node_dir() { printf '%s/node%s' "$HOME_DIR" "$1"; }
client_port() { echo $((PORT + $1 - 1)); }
bootstrap() {
    local i out=""
    for ((i = 1; i <= NODES; i++)); do out+="${out:+,}127.0.0.1:$(client_port "$i")"; done
    printf '%s\n' "$out"
}

# Running = the pid file's process is alive and is this node's JVM (pids get reused).
node_pid() {
    local dir pid
    dir="$(node_dir "$1")"
    [[ -f "$dir/kafka.pid" ]] || return 1
    pid="$(<"$dir/kafka.pid")"
    [[ -n "$pid" ]] && kill -0 "$pid" 2>/dev/null || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -qF "$dir/server.properties" || return 1
    printf '%s\n' "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# During startup only: the JVM we just started is still alive. Its cmdline is
# not checked, because right after the fork it may not show the exec'd java yet.
node_started_alive() {
    local pidfile
    pidfile="$(node_dir "$1")/kafka.pid"
    [[ -f "$pidfile" ]] && kill -0 "$(<"$pidfile")" 2>/dev/null
}

# Nodes that exist on disk (for stop/kill/status without KAFKA_NODES set).
existing_nodes() {
    local d
    for d in "$HOME_DIR"/node*; do
        [[ -d "$d" ]] && printf '%s\n' "${d##*/node}"
    done
}

tool() {
    java -Xmx256m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true \
        -Dlog4j.configuration="file:$ROOT/deploy/kafka/tools-log4j.properties" \
        -cp "$LIBS/*" "$@"
}

write_config() {
    local i="$1" dir voters="" j
    dir="$(node_dir "$i")"
    for ((j = 1; j <= NODES; j++)); do voters+="${voters:+,}$j@127.0.0.1:$((CPORT + j - 1))"; done
    mkdir -p "$dir/data" "$dir/logs"
    cat >"$dir/server.properties" <<EOF
# Generated by deploy/kafka/kafka.sh on each start; edit the script, not this.
process.roles=broker,controller
node.id=$i
controller.quorum.voters=$voters
listeners=$LISTENER://127.0.0.1:$(client_port "$i"),CONTROLLER://127.0.0.1:$((CPORT + i - 1))
advertised.listeners=$LISTENER://127.0.0.1:$(client_port "$i")
controller.listener.names=CONTROLLER
inter.broker.listener.name=$LISTENER
listener.security.protocol.map=$LISTENER:$LISTENER,CONTROLLER:$([[ $SECURITY == plaintext ]] && echo PLAINTEXT || echo SSL)
$(security_config)
log.dirs=$dir/data
num.network.threads=2
num.io.threads=4
num.partitions=1
default.replication.factor=$RF
min.insync.replicas=$MIN_ISR
offsets.topic.replication.factor=$RF
offsets.topic.num.partitions=6
transaction.state.log.replication.factor=$RF
transaction.state.log.min.isr=$MIN_ISR
transaction.state.log.num.partitions=6
auto.create.topics.enable=false
unclean.leader.election.enable=false
# Tests join and leave consumer groups all the time: no initial delay, and
# allow the short session timeouts they use.
group.initial.rebalance.delay.ms=0
group.min.session.timeout.ms=1000
replica.lag.time.max.ms=10000
# After a SIGKILL the controller refuses the restarted broker until the old
# registration's session expires (9 s by default), and a dead broker of a
# cluster is fenced only then: shorter, so a crash test restarts in seconds.
broker.session.timeout.ms=2500
broker.heartbeat.interval.ms=500
${KAFKA_EXTRA_CONFIG:-}
EOF
    # a secured node's file holds the admin's password
    [[ "$SECURITY" == plaintext ]] || chmod 600 "$dir/server.properties"
}

cluster_id() {
    local f="$HOME_DIR/cluster.id" id
    if [[ ! -s "$f" ]]; then
        # Kafka's Uuid is 16 random bytes in URL-safe base64; a leading '-'
        # would read as an option on the command line.
        while :; do
            id="$(head -c16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
            [[ "$id" != -* ]] && break
        done
        printf '%s\n' "$id" >"$f"
    fi
    cat "$f"
}

format_nodes() {
    local i dir cid pids=() scram
    if [[ -f "$HOME_DIR/nodes" && "$(<"$HOME_DIR/nodes")" != "$NODES" ]]; then
        die "$HOME_DIR holds a $(<"$HOME_DIR/nodes")-node cluster; set KAFKA_NODES=$(<"$HOME_DIR/nodes") or remove the directory"
    fi
    cid="$(cluster_id)"
    for ((i = 1; i <= NODES; i++)); do
        dir="$(node_dir "$i")"
        [[ -f "$dir/data/meta.properties" ]] && continue
        log "formatting storage of node $i (cluster $cid)"
        mapfile -t scram < <(scram_args)
        tool kafka.tools.StorageTool format -t "$cid" -c "$dir/server.properties" --ignore-formatted \
            "${scram[@]}" >"$dir/logs/format.log" 2>&1 &
        pids+=($!)
    done
    for i in "${pids[@]}"; do
        wait "$i" || die "storage format failed: $(cat "$HOME_DIR"/node*/logs/format.log)"
    done
    printf '%s\n' "$NODES" >"$HOME_DIR/nodes"
}

start_node() {
    local i="$1" dir p
    dir="$(node_dir "$i")"
    if node_pid "$i" >/dev/null; then
        log "node $i already running (pid $(node_pid "$i"))"
        return 0
    fi
    p="$(client_port "$i")"
    for p in "$p" "$((CPORT + i - 1))"; do
        port_open "$p" && die "port $p is already in use (another Kafka? try: KAFKA_HOME_DIR=... $0 stop)"
    done
    # setsid: a Ctrl-C meant for the caller must not hit the broker; the
    # caller stops it in order (services first).
    setsid java "${JAVA_OPTS[@]}" \
        -Dlog4j.configuration="file:$ROOT/deploy/kafka/log4j.properties" \
        -Dkafka.logs.dir="$dir/logs" \
        -cp "$LIBS/*" kafka.Kafka "$dir/server.properties" \
        </dev/null >>"$dir/logs/stdout.log" 2>&1 &
    printf '%s\n' "$!" >"$dir/kafka.pid"
}

# Prints the metadata kcat sees, or fails.
metadata() { kcat "${KCAT_ARGS[@]}" -L -b "$(bootstrap)" -m 3 2>/dev/null; }

# Ready = all nodes listed as brokers, every wanted topic present with all its
# partitions led by someone.
ready() {
    local md spec name parts specs
    md="$(metadata)" || return 1
    grep -qE "^ $NODES brokers:" <<<"$md" || return 1
    grep -q 'leader -1' <<<"$md" && return 1
    IFS=',' read -ra specs <<<"$TOPICS"
    for spec in "${specs[@]}"; do
        name="${spec%%:*}"
        grep -qF "topic \"$name\" with" <<<"$md" || return 1
    done
}

check_alive() {
    local i
    for ((i = 1; i <= NODES; i++)); do
        if ! node_started_alive "$i"; then
            tail -n 30 "$(node_dir "$i")/logs/server.log" "$(node_dir "$i")/logs/stdout.log" >&2 2>/dev/null || true
            die "node $i exited during startup (logs above, in $(node_dir "$i")/logs)"
        fi
    done
}

wait_brokers() {
    local deadline=$((SECONDS + START_TIMEOUT)) md
    while :; do
        check_alive
        if md="$(metadata)" && grep -qE "^ $NODES brokers:" <<<"$md"; then return 0; fi
        (( SECONDS < deadline )) || die "brokers not up after ${START_TIMEOUT}s (logs in $HOME_DIR/node*/logs)"
        sleep 0.2
    done
}

create_topics() {
    local md spec name parts specs pids=() p
    md="$(metadata)" || die "cannot read metadata from $(bootstrap)"
    IFS=',' read -ra specs <<<"$TOPICS"
    for spec in "${specs[@]}"; do
        name="${spec%%:*}" parts="${spec##*:}"
        [[ "$name" != "$spec" && "$parts" =~ ^[0-9]+$ ]] || die "bad KAFKA_TOPICS entry '$spec' (want name:partitions)"
        if grep -qF "topic \"$name\" with" <<<"$md"; then
            grep -qF "topic \"$name\" with $parts partitions" <<<"$md" ||
                log "warning: topic $name exists with another partition count than $parts; left as is"
            continue
        fi
        log "creating topic $name ($parts partitions, replication factor $RF, min.insync.replicas $MIN_ISR)"
        # One JVM per topic, in parallel: the tool takes one topic at a time.
        tool org.apache.kafka.tools.TopicCommand --bootstrap-server "$(bootstrap)" "${TOOL_ARGS[@]}" \
            --create --if-not-exists --topic "$name" --partitions "$parts" \
            --replication-factor "$RF" --config min.insync.replicas="$MIN_ISR" >/dev/null &
        pids+=($!)
    done
    for p in "${pids[@]}"; do wait "$p" || die "topic creation failed"; done
}

wait_ready() {
    local deadline=$((SECONDS + START_TIMEOUT))
    until ready; do
        check_alive
        (( SECONDS < deadline )) || die "topics not ready after ${START_TIMEOUT}s: $(metadata | grep topic || true)"
        sleep 0.2
    done
}

cmd_start() {
    local t0="$EPOCHREALTIME" i nodes
    compgen -G "$LIBS/kafka_2.13-*.jar" >/dev/null || die "Kafka jars missing in $LIBS: run 'make deps'"
    if [[ -n "${1:-}" ]]; then nodes=("$1"); else mapfile -t nodes < <(seq 1 "$NODES"); fi
    for ((i = 1; i <= NODES; i++)); do write_config "$i"; done
    write_client_configs
    format_nodes
    for i in "${nodes[@]}"; do start_node "$i"; done
    # A single restarted node of a 3-node cluster: the others are already up
    # (or deliberately down), so wait only for this one to listen.
    if [[ -n "${1:-}" && "$NODES" != 1 ]]; then
        local deadline=$((SECONDS + START_TIMEOUT))
        until port_open "$(client_port "$1")"; do
            node_started_alive "$1" || die "node $1 exited during startup (see $(node_dir "$1")/logs)"
            (( SECONDS < deadline )) || die "node $1 not listening after ${START_TIMEOUT}s"
            sleep 0.2
        done
    else
        wait_brokers
        create_topics
        wait_ready
    fi
    log "ready at $(bootstrap) in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')s (state in $HOME_DIR)"
}

# SIGTERM to every node at once, then wait. A node of a 3-node cluster that
# is the last one up cannot finish a controlled shutdown: the controller
# quorum that must approve it is gone, and Kafka then waits up to 5 minutes.
# So when a stop leaves no node running, nodes still up after CLUSTER_GRACE
# seconds get SIGKILL: what they hold is on disk, the next start recovers it.
CLUSTER_GRACE=15

cmd_stop() {
    local sig="$1" node="${2:-}" i pid nodes alive others=0 killed=() stopped=()
    local -A node_pids=()
    if [[ -n "$node" ]]; then nodes=("$node"); else mapfile -t nodes < <(existing_nodes); fi
    for i in $(existing_nodes); do
        [[ " ${nodes[*]} " == *" $i "* ]] || ! node_pid "$i" >/dev/null || others=$((others + 1))
    done
    for i in "${nodes[@]}"; do
        if pid="$(node_pid "$i")"; then
            kill "-$sig" "$pid" 2>/dev/null || true
            node_pids[$i]="$pid"
        fi
    done
    local deadline=$((SECONDS + STOP_TIMEOUT))
    if [[ "$(existing_nodes | wc -l)" -gt 1 && "$others" -eq 0 ]] && (( STOP_TIMEOUT > CLUSTER_GRACE )); then
        deadline=$((SECONDS + CLUSTER_GRACE))
    fi
    while :; do
        alive=()
        for i in "${!node_pids[@]}"; do kill -0 "${node_pids[$i]}" 2>/dev/null && alive+=("$i"); done
        [[ ${#alive[@]} -eq 0 ]] && break
        if (( SECONDS >= deadline )) && [[ "$sig" != KILL ]]; then
            log "node(s) ${alive[*]} still shutting down after the wait; SIGKILL (data is kept)"
            for i in "${alive[@]}"; do kill -KILL "${node_pids[$i]}" 2>/dev/null || true; done
            killed=("${alive[@]/#/node}")
            deadline=$((SECONDS + 10))
        fi
        sleep 0.1
    done
    for i in "${nodes[@]}"; do
        rm -f "$(node_dir "$i")/kafka.pid"
        [[ -n "${node_pids[$i]:-}" && " ${killed[*]} " != *" node$i "* ]] && stopped+=("node$i")
    done
    if [[ "$sig" == KILL ]]; then
        [[ ${#stopped[@]} -gt 0 ]] && log "killed ${stopped[*]}"
    else
        [[ ${#stopped[@]} -gt 0 ]] && log "stopped ${stopped[*]}"
        [[ ${#killed[@]} -gt 0 ]] && log "killed ${killed[*]} after ${CLUSTER_GRACE}s+ of shutdown"
    fi
    return 0
}

cmd_status() {
    local node="${1:-}" i pid rc=0 nodes
    if [[ -n "$node" ]]; then nodes=("$node"); else mapfile -t nodes < <(existing_nodes); fi
    [[ ${#nodes[@]} -gt 0 ]] || { echo "kafka: not set up in $HOME_DIR"; return 3; }
    for i in "${nodes[@]}"; do
        if pid="$(node_pid "$i")"; then
            echo "kafka node$i: running (pid $pid, 127.0.0.1:$(client_port "$i"))"
        else
            echo "kafka node$i: stopped"
            rc=3
        fi
    done
    return "$rc"
}

case "${1:-}" in
    start) cmd_start "${2:-}" ;;
    stop) cmd_stop TERM "${2:-}" ;;
    kill) cmd_stop KILL "${2:-}" ;;
    status) cmd_status "${2:-}" ;;
    wait) wait_brokers; wait_ready ;;
    topics) wait_brokers; create_topics; wait_ready; metadata | grep -E '^  topic "[^_]' ;;
    bootstrap) bootstrap ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
