#!/bin/sh
# Debian's python3-confluent-kafka produces and consumes over mTLS with the
# same properties kcat takes (roundtrip.py).
set -eu
# shellcheck source=tests/kafka/kafka_lib.sh
. "${TK_KAFKA_LIB:?run with meson test}"

# Debian's package is for Debian's python3; a python3 earlier in PATH (a
# pyenv, a venv) may not have it.
py=
# TK_PYTHON: the sanitizer setup's wrapper (tests/setups/meson.build).
for p in ${TK_PYTHON:-} /usr/bin/python3 python3; do
    if "$p" -c 'import confluent_kafka' 2>/dev/null; then
        py=$p
        break
    fi
done
if [ -z "$py" ]; then
    echo "FAIL: no python3 with confluent_kafka (Debian: apt-get install python3-confluent-kafka)" >&2
    exit 1
fi

kafka_setup python
kafka_start --topic tk-python:3
kafka_props "$KAFKA_DIR/client.properties" client

rc=0
timeout 90 "$py" "${TK_KAFKA_PY:?run with meson test}" "$KAFKA_DIR/client.properties" tk-python \
    >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" || rc=$?
[ "$rc" -eq 0 ] || { fail "roundtrip.py exited with status $rc"; show "$KAFKA_DIR/out"; show "$KAFKA_DIR/err"; }
grep -q '^read back ' "$KAFKA_DIR/out" || fail "roundtrip.py did not read its message back"
grep -q 'verified client: subject=CN=kafka-client-1,O=tokenkey test' "$KAFKA_LOG" ||
    fail "the gateway did not log the Python client's certificate"

kafka_finish "confluent-kafka-python over mTLS"
