#!/bin/sh
# tokenkey-kafka-example (examples/kafka-example.c) produces and consumes
# through the mTLS gateway with a CA-signed client certificate (a software
# key, for now), once with TLS 1.2 and once with TLS 1.3 forced by the
# gateway; the gateway logs the verified subject and protocol. Also: a key
# file that cannot be loaded fails at rd_kafka_new with exit status 2.
set -eu
# shellcheck source=tests/kafka/kafka_lib.sh
. "${TK_KAFKA_LIB:?run with meson test}"
kafka_setup example

subject='subject=CN=kafka-client-1,O=tokenkey test issuer=CN=tokenkey test CA'

for v in 1.2 1.3; do
    kafka_start --tls-min "$v" --tls-max "$v" --topic "tk-example:3"
    # bootstrap.servers from the file: no -b.
    kafka_props "$KAFKA_DIR/client.properties" client
    rc=0
    timeout 90 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/client.properties" -t tk-example -n 20 \
        >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "TLS $v: tokenkey-kafka-example exited with status $rc"
        show "$KAFKA_DIR/out"; show "$KAFKA_DIR/err"
    fi
    grep -qx 'produced 20, consumed 20' "$KAFKA_DIR/out" ||
        fail "TLS $v: no 'produced 20, consumed 20' line"
    grep -qF "verified client: $subject protocol=TLSv$v broker=" "$KAFKA_LOG" ||
        fail "TLS $v: the gateway did not log 'verified client: $subject protocol=TLSv$v'"
    if grep -q 'rejected client' "$KAFKA_LOG"; then
        fail "TLS $v: the gateway rejected a client"; grep "rejected client" "$KAFKA_LOG" >&2
    fi
    kafka_stop
    mv "$KAFKA_LOG" "$KAFKA_LOG.$v"
done

# -b instead of bootstrap.servers; a key that cannot be loaded: rd_kafka_new
# fails, exit status 2, and the reason names ssl.key.location.
kafka_start --topic tk-example:1
kafka_props "$KAFKA_DIR/bad.properties" client
sed -i -e '/^bootstrap.servers=/d' -e "s|^ssl.key.location=.*|ssl.key.location=$KAFKA_DIR/missing.key|" \
    "$KAFKA_DIR/bad.properties"
rc=0
timeout 60 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/bad.properties" -b "$KAFKA_BOOTSTRAP" \
    -t tk-example -n 1 >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" || rc=$?
[ "$rc" -eq 2 ] || fail "missing key file: exit status $rc, expected 2"
grep -q 'cannot create the producer: .*ssl.key.location' "$KAFKA_DIR/err" ||
    { fail "missing key file: stderr does not give rd_kafka_new's reason"; show "$KAFKA_DIR/err"; }

# The same with a good key and -b: works.
kafka_props "$KAFKA_DIR/nob.properties" client
sed -i '/^bootstrap.servers=/d' "$KAFKA_DIR/nob.properties"
rc=0
timeout 90 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/nob.properties" -b "$KAFKA_BOOTSTRAP" \
    -t tk-example -n 5 >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" || rc=$?
[ "$rc" -eq 0 ] || { fail "-b: exit status $rc"; show "$KAFKA_DIR/err"; }
grep -qx 'produced 5, consumed 5' "$KAFKA_DIR/out" || fail "-b: no 'produced 5, consumed 5'"

kafka_finish "tokenkey-kafka-example over mTLS (TLS 1.2 and 1.3)"
