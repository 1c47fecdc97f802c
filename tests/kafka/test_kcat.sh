#!/bin/sh
# Debian's kcat produces and consumes over mTLS with nothing but a -F
# properties file: security.protocol=ssl, ssl.ca.location,
# ssl.certificate.location, ssl.key.location.
set -eu
# shellcheck source=tests/kafka/kafka_lib.sh
. "${TK_KAFKA_LIB:?run with meson test}"
kafka_setup kcat

kafka_start --topic tk-kcat:3
kafka_props "$KAFKA_DIR/kcat.properties" client
payload="kcat-$$-$(date +%s%N)"

rc=0
printf '%s\n' "$payload" | timeout 60 kcat -F "$KAFKA_DIR/kcat.properties" -P -t tk-kcat \
    -X message.timeout.ms=30000 >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" || rc=$?
[ "$rc" -eq 0 ] || { fail "kcat -P exited with status $rc"; show "$KAFKA_DIR/err"; }

# -e: exit at the end of every partition; -o beginning: all of it.
rc=0
timeout 60 kcat -F "$KAFKA_DIR/kcat.properties" -C -t tk-kcat -o beginning -e -q \
    >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" || rc=$?
[ "$rc" -eq 0 ] || { fail "kcat -C exited with status $rc"; show "$KAFKA_DIR/err"; }
grep -qxF "$payload" "$KAFKA_DIR/out" || { fail "kcat -C did not read back '$payload'"; show "$KAFKA_DIR/out"; }

grep -q 'verified client: subject=CN=kafka-client-1,O=tokenkey test issuer=CN=tokenkey test CA protocol=TLSv1.3' "$KAFKA_LOG" ||
    fail "the gateway did not log kcat's certificate"

kafka_finish "kcat over mTLS"
