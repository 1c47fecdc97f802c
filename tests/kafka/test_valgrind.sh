#!/bin/sh
# tk-kafka-cluster under valgrind while clients work through it: a good
# client, a rejected one, and an idle consumer still connected at SIGTERM.
# No memory errors, no leaks of any kind but "still reachable" (librdkafka
# initialises Cyrus SASL once per process and never tears it down), and
# exit status 0.
set -eu
# shellcheck source=tests/kafka/kafka_lib.sh
. "${TK_KAFKA_LIB:?run with meson test}"
kafka_setup valgrind

KAFKA_WRAP="valgrind --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite,indirect,possible --show-leak-kinds=definite,indirect,possible --log-file=$KAFKA_DIR/valgrind.log"
kafka_start --topic tk-valgrind:3

kafka_props "$KAFKA_DIR/client.properties" client
rc=0
timeout 120 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/client.properties" -t tk-valgrind -n 100 \
    >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" || rc=$?
[ "$rc" -eq 0 ] || { fail "good client: exit status $rc"; show "$KAFKA_DIR/err"; }

kafka_props "$KAFKA_DIR/other.properties" other-client 'socket.timeout.ms=5000
message.timeout.ms=10000'
rc=0
timeout 60 "$TK_KAFKA_EXAMPLE" -F "$KAFKA_DIR/other.properties" -t tk-valgrind -n 1 -T 30 \
    >"$KAFKA_DIR/out" 2>"$KAFKA_DIR/err" || rc=$?
[ "$rc" -eq 1 ] || { fail "client from the other CA: exit status $rc, expected 1"; show "$KAFKA_DIR/err"; }

# An idle consumer, connected when SIGTERM comes: one more verified client than before it.
before=$(grep -c 'verified client' "$KAFKA_LOG" || true)
timeout 120 kcat -F "$KAFKA_DIR/client.properties" -C -t tk-idle -q >/dev/null 2>&1 &
kcat_pid=$!
i=0
until [ "$(grep -c 'verified client' "$KAFKA_LOG")" -gt "$before" ] || [ "$i" -ge 600 ]; do
    i=$((i + 1))
    sleep 0.1
done
[ "$(grep -c 'verified client' "$KAFKA_LOG")" -gt "$before" ] || fail "the idle consumer did not connect"
kafka_stop
kill "$kcat_pid" 2>/dev/null || true
wait "$kcat_pid" 2>/dev/null || true

grep -q 'ERROR SUMMARY: 0 errors' "$KAFKA_DIR/valgrind.log" || fail "valgrind found errors"
if [ "$failures" -ne 0 ]; then
    show "$KAFKA_DIR/valgrind.log"
fi
kafka_finish "tk-kafka-cluster is valgrind-clean"
