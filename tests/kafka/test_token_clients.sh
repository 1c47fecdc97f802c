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
# verified subject, and C_Sign == handshakes for this run.
run_client() {
    before=$(verified_count)
    rc=0
    OPENSSL_CONF=$KAFKA_DIR/$1/openssl.cnf PKCS11SPY_OUTPUT=$KAFKA_DIR/spy-$2.log \
        timeout 90 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/$1/client.properties" -b "$KAFKA_BOOTSTRAP" \
        -t tk-token -n 20 >"$KAFKA_DIR/$2.out" 2>"$KAFKA_DIR/$2.err" || rc=$?
    [ "$rc" -eq 0 ] || { fail "$2: the example exited with status $rc"; show "$KAFKA_DIR/$2.err"; }
    grep -q "^produced 20, consumed 20$" "$KAFKA_DIR/$2.out" || fail "$2: not all 20 messages came back"
    handshakes=$(($(verified_count) - before))
    signs=$(spy_count "$KAFKA_DIR/spy-$2.log" C_Sign)
    [ "$handshakes" -ge 1 ] || fail "$2: the gateway verified no client certificate"
    [ "$signs" -eq "$handshakes" ] ||
        fail "$2: $signs C_Sign calls reached the token for $handshakes verified handshakes"
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

# Several clients at once, all on the same token key.
kafka_start --topic tk-token:2
before=$(verified_count)
pids=
for i in 1 2 3 4; do
    OPENSSL_CONF=$KAFKA_DIR/ec-client/openssl.cnf PKCS11SPY_OUTPUT=$KAFKA_DIR/spy-par$i.log \
        timeout 90 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/ec-client/client.properties" \
        -b "$KAFKA_BOOTSTRAP" -t tk-token -n 10 >"$KAFKA_DIR/par$i.out" 2>"$KAFKA_DIR/par$i.err" &
    pids="$pids $!"
done
i=0
for pid in $pids; do
    i=$((i + 1))
    rc=0
    wait "$pid" || rc=$?
    [ "$rc" -eq 0 ] || { fail "parallel client $i exited with status $rc"; show "$KAFKA_DIR/par$i.err"; }
done
signs=0
for i in 1 2 3 4; do
    signs=$((signs + $(spy_count "$KAFKA_DIR/spy-par$i.log" C_Sign)))
done
handshakes=$(($(verified_count) - before))
[ "$handshakes" -ge 4 ] || fail "parallel: only $handshakes verified handshakes for 4 clients"
[ "$signs" -eq "$handshakes" ] || fail "parallel: $signs C_Sign calls for $handshakes handshakes"

kafka_finish "librdkafka clients with RSA and EC token keys over TLS 1.2 and 1.3"
