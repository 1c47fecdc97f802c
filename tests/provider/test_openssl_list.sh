#!/bin/sh
# `openssl list -providers` with tokenkey: what a user runs first to see
# whether the provider loads. Checks the exit status of every run (a crash
# at exit is a failure too) and the text the user would read.
set -eu

: "${TK_PROVIDER_DIR:?run with meson test}"
. "${TK_FIXTURE_SH:?run with meson test}"

# Nothing from the caller's environment decides what the provider does.
unset TOKENKEY_MODULE TOKENKEY_INIT_ARGS TOKENKEY_PIN TOKENKEY_PIN_FILE TOKENKEY_PIN_SOURCE \
      TOKENKEY_DEBUG TOKENKEY_DEBUG_FILE TOKENKEY_SESSION_KEY_COPY

tk_fixture_setup tokenkey-provider
out=$TK_FIXTURE_DIR/out
err=$TK_FIXTURE_DIR/err
failures=0

fail() {
    echo "FAIL: $*" >&2
    echo "--- stdout:" >&2; cat "$out" >&2
    echo "--- stderr:" >&2; cat "$err" >&2
    failures=$((failures + 1))
}

list_providers() {
    rc=0
    openssl list -providers -provider-path "$TK_PROVIDER_DIR" -provider tokenkey >"$out" 2>"$err" || rc=$?
}

# 1. No module configured: the provider still loads (it needs a module only when used).
list_providers
[ "$rc" -eq 0 ] || fail "openssl list exited $rc"
grep -q '^  tokenkey$' "$out" || fail "tokenkey is not listed"
grep -q 'status: active' "$out" || fail "tokenkey is not active"
grep -q 'name: tokenkey' "$out" || fail "no name line"

# 2. A module path that does not exist: the provider loads (an activation
# from openssl.cnf that failed would lose the error), and the first use
# fails and says which path.
TOKENKEY_MODULE=/nonexistent/x.so list_providers
[ "$rc" -eq 0 ] || fail "TOKENKEY_MODULE=/nonexistent/x.so: exit status $rc"
grep -q 'status: active' "$out" || fail "tokenkey not listed with a missing module"
rc=0
TOKENKEY_MODULE=/nonexistent/x.so openssl storeutl -provider-path "$TK_PROVIDER_DIR" \
    -provider default -provider tokenkey 'pkcs11:token=any' >"$out" 2>"$err" || rc=$?
[ "$rc" -ne 0 ] || fail "storeutl with TOKENKEY_MODULE=/nonexistent/x.so: exit status 0"
[ "$rc" -lt 128 ] || fail "storeutl with TOKENKEY_MODULE=/nonexistent/x.so: killed by signal $((rc - 128))"
grep -q "'/nonexistent/x.so' not found" "$err" || fail "stderr does not name '/nonexistent/x.so'"
grep -q 'PKCS#11 module' "$err" || fail "stderr does not say it is the PKCS#11 module"

# storeutl_certs URI: list the certificates URI names (the first use of the module).
storeutl_certs() {
    rc=0
    openssl storeutl -provider-path "$TK_PROVIDER_DIR" -provider default -provider tokenkey \
        -certs "$1" >"$out" 2>"$err" || rc=$?
}

# 3. The fixture's SoftHSM2 as the module: loads, active, exit 0; and at first use
# (listing does not open the module) it finds the fixture's token and searches it: the
# token holds no certificate, which is what the error says (not "no token").
TOKENKEY_MODULE=$TOKENKEY_TEST_MODULE list_providers
[ "$rc" -eq 0 ] || fail "TOKENKEY_MODULE=$TOKENKEY_TEST_MODULE: exit status $rc"
grep -q 'status: active' "$out" || fail "tokenkey not active with the SoftHSM2 module"
TOKENKEY_MODULE=$TOKENKEY_TEST_MODULE storeutl_certs "pkcs11:token=$TOKENKEY_TEST_TOKEN"
[ "$rc" -eq 0 ] || fail "storeutl with the SoftHSM2 module: exit status $rc"
grep -q '^Total found: 0$' "$out" || fail "storeutl with the SoftHSM2 module: no 'Total found: 0'"
grep -q "no certificate matches pkcs11:token=$TOKENKEY_TEST_TOKEN\$" "$err" \
    || fail "storeutl with the SoftHSM2 module: the token was not searched"

# 4. An empty TOKENKEY_MODULE means unset, not the current directory: the provider
# loads, and its first use says no module is configured. (storeutl exits 0 here, with
# the error printed: the status says nothing, the message does.)
TOKENKEY_MODULE= list_providers
[ "$rc" -eq 0 ] || fail "TOKENKEY_MODULE='': exit status $rc"
TOKENKEY_MODULE= storeutl_certs "pkcs11:token=$TOKENKEY_TEST_TOKEN"
[ "$rc" -lt 128 ] || fail "storeutl with TOKENKEY_MODULE='': killed by signal $((rc - 128))"
grep -q 'no PKCS#11 module configured' "$err" || fail "TOKENKEY_MODULE='': not 'no PKCS#11 module configured'"

if [ "$failures" -ne 0 ]; then
    echo "$failures check(s) failed" >&2
    exit 1
fi
echo "ok: openssl list -providers"
