#!/bin/sh
# README's first command, tools/demo.sh, on this build tree
# (TOKENKEY_DEMO_BUILD: no install, no build): it must exit 0, say that the
# message it produced came back, name the client subject the cluster
# verified and the signatures made on the token, and leave nothing behind in
# its temporary directory or running.
set -eu
: "${TK_SOURCE_DIR:?run with meson test}"
: "${TK_BUILD_DIR:?run with meson test}"

failures=0
fail() {
    echo "FAIL: $*" >&2
    failures=$((failures + 1))
}

d=$(mktemp -d "${TMPDIR:-/tmp}/tk-demo.XXXXXX")
trap 'rm -rf "$d"' EXIT
mkdir "$d/tmp"

rc=0
# The demo's own environment: no test OPENSSL_CONF (it writes and sets the client's).
env -u OPENSSL_CONF TMPDIR="$d/tmp" TOKENKEY_DEMO_BUILD="$TK_BUILD_DIR" \
    timeout 150 sh "$TK_SOURCE_DIR/tools/demo.sh" >"$d/out" 2>"$d/err" </dev/null || rc=$?
if [ "$rc" -ne 0 ]; then
    fail "tools/demo.sh exited with status $rc"
fi

grep -q '^consumed: hello from a key that never left the token' "$d/out" ||
    fail "no 'consumed: hello from a key that never left the token' line"
grep -qE '^== done: the broker verified the client certificate "O=tokenkey demo,CN=demo-client" on [1-9][0-9]* mTLS connection' "$d/out" ||
    fail "no '== done:' line naming the verified client subject"
grep -qE '^   the client proved it holds the key with [1-9][0-9]* signature\(s\) made on the token' "$d/out" ||
    fail "no line counting the signatures made on the token"
grep -q '^key.pem is a key reference: -----BEGIN TOKENKEY KEY REFERENCE-----' "$d/out" ||
    fail "the demo did not show a key reference as key.pem"

left=$(ls -A "$d/tmp")
[ -z "$left" ] || fail "the demo left files in its TMPDIR: $left"
if pgrep -f "$d/tmp/" >/dev/null 2>&1; then
    fail "a process the demo started is still running"
    pgrep -af "$d/tmp/" >&2 || true
fi

if [ "$failures" -ne 0 ]; then
    echo "--- demo stdout:" >&2; cat "$d/out" >&2
    echo "--- demo stderr:" >&2; cat "$d/err" >&2
    echo "$failures failure(s)" >&2
    exit 1
fi
echo "tools/demo.sh: the token key made the client's handshake signatures; nothing left behind"
