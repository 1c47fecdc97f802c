#!/bin/sh
# Four clients at once through one gateway, each with its own unique
# payloads on the same topic: all read back all of theirs.
set -eu
# shellcheck source=tests/kafka/kafka_lib.sh
. "${TK_KAFKA_LIB:?run with meson test}"
kafka_setup parallel

kafka_start --topic tk-parallel:3
kafka_props "$KAFKA_DIR/client.properties" client

pids=
for i in 1 2 3 4; do
    timeout 120 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/client.properties" -t tk-parallel -n 50 \
        >"$KAFKA_DIR/out.$i" 2>"$KAFKA_DIR/err.$i" &
    pids="$pids $!"
done
i=0
for pid in $pids; do
    i=$((i + 1))
    rc=0
    wait "$pid" || rc=$?
    if [ "$rc" -ne 0 ]; then
        fail "client $i exited with status $rc"
        show "$KAFKA_DIR/err.$i"
    fi
    grep -qx 'produced 50, consumed 50' "$KAFKA_DIR/out.$i" || fail "client $i: not 'produced 50, consumed 50'"
done
n=$(grep -c 'verified client: subject=CN=kafka-client-1' "$KAFKA_LOG" || true)
[ "$n" -ge 4 ] || fail "only $n verified connections for 4 clients"

kafka_finish "4 clients in parallel"
