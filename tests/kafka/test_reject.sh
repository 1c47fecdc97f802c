#!/bin/sh
# The gateway refuses clients it cannot verify, with TLS 1.2 and with
# TLS 1.3 (where the client learns of it only after its side of the
# handshake): no client certificate, and a certificate from an unrelated
# CA. The gateway logs "rejected client" with OpenSSL's reason and lets
# no bytes through; the client fails with a TLS error, quickly.
set -eu
# shellcheck source=tests/kafka/kafka_lib.sh
. "${TK_KAFKA_LIB:?run with meson test}"
kafka_setup reject

# Short librdkafka timeouts so a failure cannot look like a hang.
short='socket.timeout.ms=5000
message.timeout.ms=10000'

# try CASE CLIENT: the example must fail (exit 1), stopping on the TLS error (it says so)
# rather than at its own 30 s timeout; timeout(1) only ends a client that hangs.
try() {
    kafka_props "$KAFKA_DIR/$1.properties" "$2" "$short"
    rc=0
    timeout 120 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/$1.properties" -t tk-reject -n 3 -T 30 \
        >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" || rc=$?
    [ "$rc" -eq 1 ] || { fail "$1: tokenkey-kafka-example exited with status $rc, expected 1"; show "$KAFKA_DIR/err"; }
    grep -qx 'produced 0, consumed 0' "$KAFKA_DIR/out" || fail "$1: a message got through"
    grep -q 'SSL' "$KAFKA_DIR/err" || { fail "$1: the client reported no TLS error"; show "$KAFKA_DIR/err"; }
    grep -q 'stopped after a TLS or authentication error' "$KAFKA_DIR/err" ||
        fail "$1: the client did not stop on the TLS error"
}

for v in 1.2 1.3; do
    kafka_start --tls-min "$v" --tls-max "$v" --topic tk-reject:1

    try "no-cert-$v" none
    grep -q 'rejected client: peer did not return a certificate (broker=' "$KAFKA_LOG" ||
        fail "TLS $v, no certificate: no 'rejected client: peer did not return a certificate'"

    try "other-ca-$v" other-client
    grep -qF 'rejected client: certificate verify failed: unable to get local issuer certificate (subject=CN=rogue-client,O=elsewhere)' "$KAFKA_LOG" ||
        fail "TLS $v, other CA: no 'rejected client: certificate verify failed' naming CN=rogue-client"

    if grep -q 'verified client' "$KAFKA_LOG"; then
        fail "TLS $v: the gateway let a client in"
    fi

    # The gateway still serves a good client afterwards.
    kafka_props "$KAFKA_DIR/good.properties" client
    rc=0
    timeout 90 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/good.properties" -t tk-reject -n 3 \
        >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" || rc=$?
    [ "$rc" -eq 0 ] || { fail "TLS $v: a good client after the rejected ones: exit status $rc"; show "$KAFKA_DIR/err"; }

    kafka_stop
    mv "$KAFKA_LOG" "$KAFKA_LOG.$v"
done

kafka_finish "clients without a certificate or from another CA are rejected"
