# Sourced by tests/kafka/test_*.sh (via TK_KAFKA_LIB, set by meson): a temp
# dir with test certificates, the test cluster started in the background and
# always stopped, librdkafka properties files, and failure bookkeeping.
#
# Certificates (all P-256, made with the stock openssl CLI):
#   ca.crt                   "tokenkey test CA": signs the broker and client 1
#   broker.crt/.key          CN=localhost, SAN IP:127.0.0.1, DNS:localhost
#   client.crt/.key          CN=kafka-client-1,O=tokenkey test
#   other-ca.crt             an unrelated CA ...
#   other-client.crt/.key    ... and a client certificate it signed
# shellcheck shell=sh

: "${TK_KAFKA_CLUSTER:?run with meson test}"
: "${TK_KAFKA_EXAMPLE:?run with meson test}"

KAFKA_DIR=
KAFKA_PID=
KAFKA_BOOTSTRAP=
KAFKA_LOG=
KAFKA_WRAP=     # run the cluster under this (valgrind ...)
failures=0

fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

# Shows a file on stderr, for a failure's context.
show() {
    echo "--- $1:" >&2
    cat "$1" >&2 2>/dev/null || true
}

kafka_cleanup() {
    if [ -n "$KAFKA_PID" ] && kill -0 "$KAFKA_PID" 2>/dev/null; then
        kill -KILL "$KAFKA_PID" 2>/dev/null || true
        wait "$KAFKA_PID" 2>/dev/null || true
    fi
    if [ -n "$KAFKA_DIR" ]; then
        if [ "$failures" -ne 0 ]; then
            for f in "$KAFKA_LOG"*; do
                [ ! -f "$f" ] || show "$f"
            done
        fi
        rm -rf "$KAFKA_DIR"
    fi
}

# kafka_setup NAME: the temp dir, the trap, the certificates.
kafka_setup() {
    if [ "$(id -u)" -ne 0 ]; then
        echo "FAIL: the Kafka tests need root (a network namespace for the test cluster)" >&2
        exit 1
    fi
    KAFKA_DIR=$(mktemp -d "${TMPDIR:-/tmp}/tk-kafka-$1.XXXXXX")
    KAFKA_LOG=$KAFKA_DIR/cluster.log
    trap kafka_cleanup EXIT
    trap 'exit 130' INT TERM
    kafka_make_certs "$KAFKA_DIR"
}

# _cert DIR NAME SUBJECT ISSUER EXTENSIONS: NAME.key and NAME.crt signed by ISSUER.
_cert() {
    printf '%s\n' "$5" >"$1/$2.ext"
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1/$2.key" -out "$1/$2.csr" -subj "$3" 2>>"$1/openssl.err"
    openssl x509 -req -in "$1/$2.csr" -CA "$1/$4.crt" -CAkey "$1/$4.key" \
        -CAcreateserial -days 2 -extfile "$1/$2.ext" -out "$1/$2.crt" 2>>"$1/openssl.err"
}

_ca() {
    openssl req -x509 -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$1/$2.key" -out "$1/$2.crt" -subj "$3" -days 2 \
        -addext basicConstraints=critical,CA:TRUE \
        -addext keyUsage=critical,keyCertSign,cRLSign 2>>"$1/openssl.err"
}

kafka_make_certs() {
    _ca "$1" ca "/CN=tokenkey test CA"
    _cert "$1" broker "/CN=localhost" ca \
        "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
    _cert "$1" client "/O=tokenkey test/CN=kafka-client-1" ca "extendedKeyUsage=clientAuth"
    _ca "$1" other-ca "/CN=unrelated test CA"
    _cert "$1" other-client "/O=elsewhere/CN=rogue-client" other-ca "extendedKeyUsage=clientAuth"
}

# kafka_start [tk-kafka-cluster options...]: starts the cluster (under
# $KAFKA_WRAP if set), waits (at most 30 s) for its ready file; sets
# KAFKA_PID and KAFKA_BOOTSTRAP.
kafka_start() {
    rm -f "$KAFKA_DIR/ready"
    # shellcheck disable=SC2086 # KAFKA_WRAP: a command and its options, or nothing
    $KAFKA_WRAP "$TK_KAFKA_CLUSTER" --ca "$KAFKA_DIR/ca.crt" --cert "$KAFKA_DIR/broker.crt" \
        --key "$KAFKA_DIR/broker.key" --log "$KAFKA_LOG" --ready-file "$KAFKA_DIR/ready" \
        --lifetime 170 "$@" &
    KAFKA_PID=$!
    i=0
    while [ ! -s "$KAFKA_DIR/ready" ]; do
        if ! kill -0 "$KAFKA_PID" 2>/dev/null; then
            rc=0
            wait "$KAFKA_PID" || rc=$?
            KAFKA_PID=
            fail "tk-kafka-cluster $* exited with status $rc before it was ready"
            return 1
        fi
        i=$((i + 1))
        if [ "$i" -gt 300 ]; then
            fail "tk-kafka-cluster $* not ready after 30 s"
            return 1
        fi
        sleep 0.1
    done
    KAFKA_BOOTSTRAP=$(cat "$KAFKA_DIR/ready")
}

# kafka_stop: SIGTERM; the cluster must exit 0 within 15 s.
kafka_stop() {
    [ -n "$KAFKA_PID" ] || return 0
    kill -TERM "$KAFKA_PID"
    i=0
    while kill -0 "$KAFKA_PID" 2>/dev/null && [ "$i" -lt 150 ]; do
        i=$((i + 1))
        sleep 0.1
    done
    if kill -0 "$KAFKA_PID" 2>/dev/null; then
        fail "tk-kafka-cluster still running 15 s after SIGTERM"
        kill -KILL "$KAFKA_PID"
    fi
    rc=0
    wait "$KAFKA_PID" || rc=$?
    KAFKA_PID=
    [ "$rc" -eq 0 ] || fail "tk-kafka-cluster exited with status $rc after SIGTERM"
}

# kafka_props FILE CLIENT [extra lines]: a librdkafka properties file for
# mTLS with CLIENT.crt/CLIENT.key (CLIENT "none": no client certificate).
kafka_props() {
    {
        echo "# written by tests/kafka/kafka_lib.sh"
        echo "bootstrap.servers=$KAFKA_BOOTSTRAP"
        echo "security.protocol=ssl"
        echo "ssl.ca.location=$KAFKA_DIR/ca.crt"
        if [ "$2" != none ]; then
            echo "ssl.certificate.location=$KAFKA_DIR/$2.crt"
            echo "ssl.key.location=$KAFKA_DIR/$2.key"
        fi
        [ $# -lt 3 ] || printf '%s\n' "$3"
    } >"$1"
}

# kafka_finish: the test's exit status.
kafka_finish() {
    kafka_stop
    if [ "$failures" -ne 0 ]; then
        echo "$failures check(s) failed" >&2
        exit 1
    fi
    echo "ok: $1"
}
