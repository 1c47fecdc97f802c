#!/bin/sh
# The C example client (standard librdkafka properties only, from
# `tokenkey kafka-config`) produces N messages and consumes them back over
# mTLS with an RSA and with an EC token key, over TLS 1.2 and TLS 1.3; then
# 4 clients at once. The broker verifies each client certificate, and the
# token sees exactly one C_Sign per handshake (pkcs11-spy's count against
# the gateway's): the client's proof of possession is made on the token.
set -eu
# shellcheck source=tests/kafka/kafka_lib.sh
. "${TK_KAFKA_LIB:?run with meson test}"
# shellcheck source=tests/kafka/token_lib.sh
. "${TK_KAFKA_TOKEN_LIB:?run with meson test}"
kafka_setup token-clients
token_setup

kafka_start --topic tk-token:2
token_enroll rsa-client rsa:2048 "/O=tokenkey test/CN=rsa-token-client" || kafka_finish "enrollment"
token_enroll ec-client ec:P-256 "/O=tokenkey test/CN=ec-token-client" || kafka_finish "enrollment"
kafka_stop

# run_client NAME TAG: the example with NAME's files; checks its output, the
# verified subject, and one C_Sign per handshake for this run (check_signs).
run_client() {
    before=$(verified_count)
    before_closed=$(closed_count)
    rc=0
    OPENSSL_CONF=$KAFKA_DIR/$1/openssl.cnf PKCS11SPY_OUTPUT=$KAFKA_DIR/spy-$2.log \
        timeout 90 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/$1/client.properties" -b "$KAFKA_BOOTSTRAP" \
        -t tk-token -n 20 >"$KAFKA_DIR/$2.out" 2>"$KAFKA_DIR/$2.err" || rc=$?
    [ "$rc" -eq 0 ] || { fail "$2: the example exited with status $rc"; show "$KAFKA_DIR/$2.err"; }
    grep -q "^produced 20, consumed 20$" "$KAFKA_DIR/$2.out" || fail "$2: not all 20 messages came back"
    signs=$(spy_count "$KAFKA_DIR/spy-$2.log" C_Sign)
    count_handshakes "$before" "$before_closed" "$signs"
    [ "$handshakes" -ge 1 ] || fail "$2: the gateway verified no client certificate"
    check_signs "$2" "$signs"
    # Never an attempt to read key material: C_GetAttributeValue of a private exponent or value.
    if grep -q "CKA_PRIVATE_EXPONENT\|CKA_PRIME_1" "$KAFKA_DIR/spy-$2.log"; then
        fail "$2: a private key attribute was requested"
    fi
}

for tls in 1.2 1.3; do
    kafka_start --topic tk-token:2 --tls-min "$tls" --tls-max "$tls"
    run_client rsa-client "rsa-tls$tls"
    grep -q "subject=CN=rsa-token-client,O=tokenkey test .*protocol=TLSv$tls" "$KAFKA_LOG" ||
        fail "TLS $tls: the gateway did not verify the RSA token client"
    run_client ec-client "ec-tls$tls"
    grep -q "subject=CN=ec-token-client,O=tokenkey test .*protocol=TLSv$tls" "$KAFKA_LOG" ||
        fail "TLS $tls: the gateway did not verify the EC token client"
    kafka_stop
done

# Several client instances at once on the same token key: 4 librdkafka
# producer/consumer pairs in one process (confluent-kafka-python threads
# released together), so their handshakes sign concurrently. (Separate
# processes starting at the same instant are not used here: SoftHSM2
# rewrites its token file on every login and a process initialising
# meanwhile may not see the token; docs/kafka.md explains.)
kafka_start --topic tk-token:2
before=$(verified_count)
before_closed=$(closed_count)
# TK_PYTHON: the sanitizer setup's wrapper (tests/setups/meson.build).
python=${TK_PYTHON:-/usr/bin/python3}
[ -x "$python" ] || python=python3
# kafka-config's properties, pointed at this run's cluster.
sed "s|^bootstrap.servers=.*|bootstrap.servers=$KAFKA_BOOTSTRAP|" \
    "$KAFKA_DIR/ec-client/client.properties" >"$KAFKA_DIR/par.properties"
rc=0
OPENSSL_CONF=$KAFKA_DIR/ec-client/openssl.cnf PKCS11SPY_OUTPUT=$KAFKA_DIR/spy-par.log \
    timeout 120 "$python" "$TK_KAFKA_PY" "$KAFKA_DIR/par.properties" tk-token 4 \
    >"$KAFKA_DIR/par.out" 2>"$KAFKA_DIR/par.err" || rc=$?
[ "$rc" -eq 0 ] || { fail "4 instances at once: status $rc"; show "$KAFKA_DIR/par.err"; }
grep -q "^4 of 4 instances read their message back$" "$KAFKA_DIR/par.out" ||
    fail "not all 4 instances read their message back"
signs=$(spy_count "$KAFKA_DIR/spy-par.log" C_Sign)
count_handshakes "$before" "$before_closed" "$signs"
[ "$handshakes" -ge 8 ] || fail "4 instances at once: only $handshakes verified handshakes"
check_signs "4 instances at once" "$signs"

kafka_finish "librdkafka clients with RSA and EC token keys over TLS 1.2 and 1.3"
