#!/bin/sh
# Debian's kcat and python3-confluent-kafka, given exactly what
# `tokenkey kafka-config` wrote (OPENSSL_CONF=openssl.cnf, -F
# client.properties) and nothing else, produce and consume over mTLS with
# a token key; the key file holds no key material.
set -eu
# shellcheck source=tests/kafka/kafka_lib.sh
. "${TK_KAFKA_LIB:?run with meson test}"
# shellcheck source=tests/kafka/token_lib.sh
. "${TK_KAFKA_TOKEN_LIB:?run with meson test}"
kafka_setup token-tools
token_setup

kafka_start --topic tk-tools:1
token_enroll tools-client ec:P-256 "/O=tokenkey test/CN=tools-token-client" || kafka_finish "enrollment"
cfg=$KAFKA_DIR/tools-client

# The key reference names the key; it holds neither key material nor a PIN.
head -n 1 "$cfg/key.pem" | grep -qx -- "-----BEGIN TOKENKEY KEY REFERENCE-----" ||
    fail "key.pem is not a key reference"
if grep -q "PRIVATE KEY" "$cfg/key.pem"; then fail "key.pem holds a private key"; fi
if grep -rqF -f "$TOKENKEY_TEST_PIN_FILE" "$cfg"; then fail "the PIN appears in a file kafka-config wrote"; fi
grep -qx "ssl.providers=default,tokenkey" "$cfg/client.properties" ||
    fail "client.properties does not list ssl.providers=default,tokenkey"

export OPENSSL_CONF="$cfg/openssl.cnf"
payload="kcat-token-$$-$(date +%s%N)"
rc=0
printf '%s\n' "$payload" | PKCS11SPY_OUTPUT=$KAFKA_DIR/spy-kcat-p.log timeout 60 \
    kcat -F "$cfg/client.properties" -P -t tk-tools >"$KAFKA_DIR/kcat.out" 2>"$KAFKA_DIR/kcat.err" || rc=$?
[ "$rc" -eq 0 ] || { fail "kcat -P exited with status $rc"; show "$KAFKA_DIR/kcat.err"; }
rc=0
PKCS11SPY_OUTPUT=$KAFKA_DIR/spy-kcat-c.log timeout 60 kcat -F "$cfg/client.properties" -C -t tk-tools \
    -o beginning -e -q >"$KAFKA_DIR/kcat.out" 2>"$KAFKA_DIR/kcat.err" || rc=$?
[ "$rc" -eq 0 ] || { fail "kcat -C exited with status $rc"; show "$KAFKA_DIR/kcat.err"; }
grep -qxF "$payload" "$KAFKA_DIR/kcat.out" || { fail "kcat did not read back '$payload'"; show "$KAFKA_DIR/kcat.out"; }
for log in "$KAFKA_DIR/spy-kcat-p.log" "$KAFKA_DIR/spy-kcat-c.log"; do
    [ "$(spy_count "$log" C_Sign)" -ge 1 ] || fail "kcat made no signature on the token ($log)"
done

# confluent-kafka-python: Debian's package, under Debian's python3.
# TK_PYTHON: the sanitizer setup's wrapper (tests/setups/meson.build).
python=${TK_PYTHON:-/usr/bin/python3}
[ -x "$python" ] || python=python3
rc=0
PKCS11SPY_OUTPUT=$KAFKA_DIR/spy-py.log timeout 90 "$python" "$TK_KAFKA_PY" "$cfg/client.properties" \
    tk-tools >"$KAFKA_DIR/py.out" 2>"$KAFKA_DIR/py.err" || rc=$?
[ "$rc" -eq 0 ] || { fail "confluent-kafka-python exited with status $rc"; show "$KAFKA_DIR/py.err"; }
[ "$(spy_count "$KAFKA_DIR/spy-py.log" C_Sign)" -ge 1 ] || fail "python made no signature on the token"
unset OPENSSL_CONF

grep -q "verified client: subject=CN=tools-token-client,O=tokenkey test" "$KAFKA_LOG" ||
    fail "the gateway did not verify the token client"
kafka_finish "kcat and confluent-kafka-python with kafka-config's files and a token key"
