#!/bin/sh
# tk-kafka-cluster itself: option errors, the ready file, loopback-only
# listeners, plaintext refused, a client leaving mid-handshake, exit 0 on SIGTERM and SIGINT (also with a
# client connected), the --lifetime bound, and exit 3 without the right to
# create a network namespace.
set -eu
# shellcheck source=tests/kafka/kafka_lib.sh
. "${TK_KAFKA_LIB:?run with meson test}"
kafka_setup cluster
d=$KAFKA_DIR

# run EXPECTED-STATUS DESCRIPTION cmd...: output in $d/out, $d/err.
run() {
    want=$1 what=$2
    shift 2
    rc=0
    "$@" >"$d/out" 2>"$d/err" || rc=$?
    [ "$rc" -eq "$want" ] || { fail "$what: exit status $rc, expected $want"; show "$d/err"; }
}

# 1. Options.
run 0 "--help" "$TK_KAFKA_CLUSTER" --help
grep -q '^usage: tk-kafka-cluster' "$d/out" || fail "--help prints no usage"
run 2 "no --ca" "$TK_KAFKA_CLUSTER" --cert "$d/broker.crt" --key "$d/broker.key"
grep -q -- '--ca, --cert and --key are required' "$d/err" || fail "no --ca: message"
run 2 "--tls-min 1.1" "$TK_KAFKA_CLUSTER" --ca "$d/ca.crt" --cert "$d/broker.crt" \
    --key "$d/broker.key" --tls-min 1.1
grep -q -- "--tls-min '1.1'" "$d/err" || fail "--tls-min 1.1: message does not quote the value"
run 2 "--tls-min 1.3 --tls-max 1.2" "$TK_KAFKA_CLUSTER" --ca "$d/ca.crt" \
    --cert "$d/broker.crt" --key "$d/broker.key" --tls-min 1.3 --tls-max 1.2
run 2 "--brokers 0" "$TK_KAFKA_CLUSTER" --ca "$d/ca.crt" --cert "$d/broker.crt" \
    --key "$d/broker.key" --brokers 0
run 2 "--key not matching --cert" timeout 20 "$TK_KAFKA_CLUSTER" --ca "$d/ca.crt" \
    --cert "$d/broker.crt" --key "$d/client.key"
grep -q 'does not match' "$d/err" || fail "mismatched key: message"
run 2 "missing --cert file" timeout 20 "$TK_KAFKA_CLUSTER" --ca "$d/ca.crt" \
    --cert "$d/nonexistent.crt" --key "$d/broker.key"
grep -qF "$d/nonexistent.crt" "$d/err" || fail "missing --cert: message does not name the file"

# 2. Three brokers: the ready file lists them; each port has exactly one
# listener in this namespace, the gateway's, on 127.0.0.1.
kafka_start
echo "$KAFKA_BOOTSTRAP" | grep -Eqx '127\.0\.0\.1:[0-9]+(,127\.0\.0\.1:[0-9]+){2}' ||
    fail "ready file: unexpected '$KAFKA_BOOTSTRAP'"
for hp in $(echo "$KAFKA_BOOTSTRAP" | tr ',' ' '); do
    port=${hp#127.0.0.1:}
    ss -Hltn "sport = :$port" >"$d/ss"
    [ "$(wc -l <"$d/ss")" -eq 1 ] || { fail "port $port: not exactly one listener"; show "$d/ss"; }
    awk '{print $4}' "$d/ss" | grep -qx "127.0.0.1:$port" ||
        { fail "port $port: listener not on 127.0.0.1"; show "$d/ss"; }
done

# 3. A plaintext Kafka client gets nowhere: the gateway speaks only TLS.
port=${KAFKA_BOOTSTRAP%%,*}
run 1 "plaintext kcat -L" timeout 30 kcat -b "$port" -L -m 5 -X socket.timeout.ms=5000
grep -q 'rejected client: ' "$d/cluster.log" || fail "plaintext client: no 'rejected client' logged"

# A client that connects and leaves before any TLS is not "rejected".
python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 5).close()' \
    "${port#127.0.0.1:}" || fail "cannot connect to $port"
i=0
until grep -q 'client closed the connection during the TLS handshake' "$KAFKA_LOG" || [ "$i" -ge 600 ]; do
    i=$((i + 1))
    sleep 0.1
done
grep -q 'client closed the connection during the TLS handshake' "$KAFKA_LOG" ||
    fail "a bare TCP connect and close: not logged as 'client closed the connection'"
[ "$(grep -c 'rejected client: ' "$KAFKA_LOG")" -eq "$(grep -c 'rejected client: wrong version number' "$KAFKA_LOG")" ] ||
    fail "something other than the plaintext client was rejected"

# 4. SIGTERM with a client connected (a kcat consumer that never ends):
# exit 0 (kafka_stop checks), the ready file is gone.
kafka_props "$d/client.properties" client
timeout 60 kcat -F "$d/client.properties" -C -t tk-idle -q >"$d/kcat.out" 2>"$d/kcat.err" &
kcat_pid=$!
i=0
until grep -q 'verified client' "$KAFKA_LOG" || [ "$i" -ge 600 ]; do
    i=$((i + 1))
    sleep 0.1
done
grep -q 'verified client' "$KAFKA_LOG" || fail "the idle consumer did not connect"
kafka_stop
grep -q 'Terminated: exiting' "$KAFKA_LOG" || fail "no 'Terminated: exiting' in the log"
[ ! -e "$d/ready" ] || fail "ready file left behind after SIGTERM"
kill "$kcat_pid" 2>/dev/null || true
wait "$kcat_pid" 2>/dev/null || true

# 5. SIGINT: exit 0 too.
kafka_start --brokers 1
echo "$KAFKA_BOOTSTRAP" | grep -Eqx '127\.0\.0\.1:[0-9]+' || fail "--brokers 1: '$KAFKA_BOOTSTRAP'"
kill -INT "$KAFKA_PID"
rc=0
wait "$KAFKA_PID" || rc=$?
KAFKA_PID=
[ "$rc" -eq 0 ] || fail "exit status $rc after SIGINT"

# 6. --lifetime 3: exits by itself, status 0, not before 2 s have passed (a slow machine
# only makes it later: no upper bound but the test's timeout).
start=$(date +%s)
kafka_start --brokers 1 --lifetime 3
rc=0
wait "$KAFKA_PID" || rc=$?
KAFKA_PID=
took=$(($(date +%s) - start))
[ "$rc" -eq 0 ] || fail "--lifetime 3: exit status $rc"
[ "$took" -ge 2 ] || fail "--lifetime 3: exited after $took s"
grep -q 'lifetime of 3 s reached' "$KAFKA_LOG" || fail "--lifetime 3: not logged"

# 7. Without CAP_SYS_ADMIN (as nobody, no capabilities): one line, exit 3. The program
# is copied beside its files: nobody may not reach the build (a clone under /root).
mkdir "$d/pub"
cp "$d/ca.crt" "$d/broker.crt" "$d/broker.key" "$TK_KAFKA_CLUSTER" "$d/pub/"
chmod 755 "$d" "$d/pub"
chmod 644 "$d/pub/"*
chmod 755 "$d/pub/$(basename "$TK_KAFKA_CLUSTER")"
rc=0
timeout 20 setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all \
    "$d/pub/$(basename "$TK_KAFKA_CLUSTER")" --ca "$d/pub/ca.crt" --cert "$d/pub/broker.crt" \
    --key "$d/pub/broker.key" >"$d/out" 2>"$d/err" || rc=$?
[ "$rc" -eq 3 ] || { fail "as nobody: exit status $rc, expected 3"; show "$d/err"; }
grep -q 'needs root or CAP_SYS_ADMIN for a network namespace' "$d/err" ||
    fail "as nobody: no 'needs root or CAP_SYS_ADMIN' message"

kafka_finish "tk-kafka-cluster lifecycle"
