#!/bin/sh
# A PIN goes to one token only. Two SoftHSM2 tokens on one module, each with
# its own user PIN: a key URI without token attributes logs in only to the
# token whose public objects match it, and when that cannot be told it is
# refused before any PIN is sent (a PIN sent to the wrong token costs one of
# that token's tries; tokens lock).
set -u

. "$TK_FIXTURE_SH"
tk_fixture_setup tk-two-a || exit 1
D=$TK_FIXTURE_DIR
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE"
P="-provider tokenkey -provider default"
passed=0
failed=0
ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() { failed=$((failed + 1)); echo "not ok - $1"; }

# Token B, in the same SoftHSM2 configuration, with a PIN of its own.
od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > "$D/b.pin" && chmod 600 "$D/b.pin" &&
"$TK_INIT_TOKEN" "$TOKENKEY_TEST_MODULE" tk-two-b "$TOKENKEY_TEST_SO_PIN_FILE" "$D/b.pin" \
    > "$D/b.slot" || { echo "setup: token B not created" >&2; exit 1; }

genkey() { # TOKEN PINFILE LABEL
    TOKENKEY_PIN_FILE=$2 openssl genpkey $P -algorithm EC -pkeyopt group:P-256 \
        -pkeyopt "token:$1" -pkeyopt "label:$3" -out "$D/$1-$3.pem" > "$D/setup.log" 2>&1 ||
        { cat "$D/setup.log"; echo "setup: key $3 on $1 not made" >&2; exit 1; }
}
genkey tk-two-a "$TOKENKEY_TEST_PIN_FILE" only-a
genkey tk-two-a "$TOKENKEY_TEST_PIN_FILE" both
genkey tk-two-b "$D/b.pin" both

# load NAME STATUS URI: openssl pkey with A's PIN, the PKCS#11 calls logged.
load() {
    rm -f "$D/calls.log"
    TOKENKEY_PIN_FILE=$TOKENKEY_TEST_PIN_FILE TOKENKEY_DEBUG=1 TOKENKEY_DEBUG_FILE="$D/calls.log" \
        openssl pkey $P -in "$3" -pubout -out /dev/null > "$D/out" 2> "$D/err"
    rc=$?
    if [ "$rc" -eq "$2" ]; then ok "$1: exit $2"; else not_ok "$1: exit $rc, expected $2"; sed 's/^/#   /' "$D/err"; fi
    logins=$(grep -c 'C_Login(' "$D/calls.log")
}

load "a key on token A only" 0 "pkcs11:object=only-a;type=private"
if [ "$logins" -eq 1 ]; then ok "one C_Login, to token A"; else not_ok "$logins C_Login calls"; fi
if grep 'C_Login(' "$D/calls.log" | grep -q 'CKR_OK'; then ok "the login succeeded"; else not_ok "the login failed"; fi
# The one C_Login above shows the log records logins: "no C_Login" below means none.
load "a key on both tokens" 1 "pkcs11:object=both;type=private"
if [ "$logins" -eq 0 ]; then ok "both: no PIN sent anywhere"; else not_ok "both: $logins C_Login calls"; fi
# The tokens come in slot order, which SoftHSM2 does not fix.
if grep -qF "2 tokens need a login ('tk-two-" "$D/err" && grep -qF "'tk-two-a'" "$D/err" \
   && grep -qF "'tk-two-b'" "$D/err" \
   && grep -qF "and the URI's public key or certificate is on more than one of them" "$D/err"
then ok "both: the error names the tokens"; else not_ok "both: no error naming the tokens"; sed 's/^/#   /' "$D/err"; fi
if grep -qF "add token= or serial= to the URI" "$D/err"; then ok "both: says what to do"; else not_ok "both: no advice"; fi
load "a URI with neither label nor id" 1 "pkcs11:type=private"
if [ "$logins" -eq 0 ]; then ok "no label: no PIN sent"; else not_ok "no label: $logins C_Login calls"; fi
if grep -qF "no public key or certificate on them tells which holds the key" "$D/err"
then ok "no label: says why"; else not_ok "no label: no reason"; sed 's/^/#   /' "$D/err"; fi
load "the token named" 0 "pkcs11:token=tk-two-a;object=both;type=private"
if [ "$logins" -eq 1 ]; then ok "named: one C_Login"; else not_ok "named: $logins C_Login calls"; fi

echo "1..$((passed + failed))"
echo "# $passed passed, $failed failed"
[ "$failed" -eq 0 ]
