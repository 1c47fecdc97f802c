#!/bin/sh
# What a Kafka client reports when the token side is wrong: a key reference
# whose token key does not match the certificate, no PIN, an absent token,
# a wrong module path or a bad setting in openssl.cnf.
# Each fails at client creation (rd_kafka_new) with a message that names
# the problem, promptly, never a hang: the example exits 2 with
# librdkafka's error text, which carries tokenkey's.
set -eu
# shellcheck source=tests/kafka/kafka_lib.sh
. "${TK_KAFKA_LIB:?run with meson test}"
# shellcheck source=tests/kafka/token_lib.sh
. "${TK_KAFKA_TOKEN_LIB:?run with meson test}"
kafka_setup token-refused
token_setup

kafka_start --topic tk-refused:1
token_enroll good ec:P-256 "/O=tokenkey test/CN=good-token-client" || kafka_finish "enrollment"
token_enroll other ec:P-256 "/O=tokenkey test/CN=other-token-client" || kafka_finish "enrollment"

# expect_refused TAG PATTERN [env options/assignments...]: the example with good's files fails
# with exit 2 within the time limit, and its stderr matches PATTERN.
expect_refused() {
    tag=$1
    pattern=$2
    shift 2
    rc=0
    env "$@" OPENSSL_CONF="$KAFKA_DIR/good/openssl.cnf" PKCS11SPY_OUTPUT=/dev/null \
        timeout 30 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/good/client.properties" -t tk-refused -n 1 \
        >"$KAFKA_DIR/$tag.out" 2>"$KAFKA_DIR/$tag.err" || rc=$?
    [ "$rc" -eq 2 ] || { fail "$tag: exit status $rc, expected 2 (client creation refused)"; show "$KAFKA_DIR/$tag.err"; }
    grep -q "$pattern" "$KAFKA_DIR/$tag.err" || { fail "$tag: stderr lacks '$pattern'"; show "$KAFKA_DIR/$tag.err"; }
}

# 1. The certificate of another token key next to good's key reference.
cp "$KAFKA_DIR/good/cert.pem" "$KAFKA_DIR/good-cert.pem"
cp "$KAFKA_DIR/other/cert.pem" "$KAFKA_DIR/good/cert.pem"
expect_refused mismatch "key values mismatch"
cp "$KAFKA_DIR/good-cert.pem" "$KAFKA_DIR/good/cert.pem"

# 2. No PIN anywhere: the openssl.cnf kafka-config writes without --pin-file
#    (no pin line), and no TOKENKEY_PIN* in the environment.
grep -v "^pin *=" "$KAFKA_DIR/good/openssl.cnf" >"$KAFKA_DIR/nopin.cnf"
mv "$KAFKA_DIR/good/openssl.cnf" "$KAFKA_DIR/good/openssl.cnf.orig"
cp "$KAFKA_DIR/nopin.cnf" "$KAFKA_DIR/good/openssl.cnf"
expect_refused no-pin "no PIN available" -u TOKENKEY_PIN_FILE -u TOKENKEY_PIN -u TOKENKEY_PIN_SOURCE
mv "$KAFKA_DIR/good/openssl.cnf.orig" "$KAFKA_DIR/good/openssl.cnf"

# 3. The token is not there: SoftHSM2 pointed at an empty token directory.
mkdir -p "$KAFKA_DIR/empty-tokens"
printf 'directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$KAFKA_DIR/empty-tokens" >"$KAFKA_DIR/empty.conf"
expect_refused no-token "no token in .* matches" SOFTHSM2_CONF="$KAFKA_DIR/empty.conf"

# 4. A wrong pkcs11-module path in openssl.cnf, and 5. a bad setting there:
#    the section's own error, not "no PKCS#11 module configured" from a copy
#    of the provider that librdkafka loads by name without the section.
mv "$KAFKA_DIR/good/openssl.cnf" "$KAFKA_DIR/good/openssl.cnf.orig"
sed 's|^pkcs11-module *=.*|pkcs11-module = /nonexistent/libpkcs11.so|' \
    "$KAFKA_DIR/good/openssl.cnf.orig" >"$KAFKA_DIR/good/openssl.cnf"
expect_refused bad-module "PKCS#11 module '/nonexistent/libpkcs11.so' not found"
{ cat "$KAFKA_DIR/good/openssl.cnf.orig"; echo "debug = 7"; } >"$KAFKA_DIR/good/openssl.cnf"
expect_refused bad-setting "invalid openssl.cnf setting: 'debug' must be 0, 1 or 2, not '7'"
mv "$KAFKA_DIR/good/openssl.cnf.orig" "$KAFKA_DIR/good/openssl.cnf"

# And with all restored, the same files work.
rc=0
OPENSSL_CONF=$KAFKA_DIR/good/openssl.cnf PKCS11SPY_OUTPUT=/dev/null timeout 90 "$TK_KAFKA_EXAMPLE" \
    -F "$KAFKA_DIR/good/client.properties" -t tk-refused -n 3 >"$KAFKA_DIR/ok.out" 2>"$KAFKA_DIR/ok.err" || rc=$?
[ "$rc" -eq 0 ] || { fail "the restored setup failed with status $rc"; show "$KAFKA_DIR/ok.err"; }

kafka_finish "token-side errors reported at client creation"
