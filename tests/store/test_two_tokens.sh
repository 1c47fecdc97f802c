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
. "$(dirname "$0")/tokens_lib.sh"

# Token B, in the same SoftHSM2 configuration, with a PIN of its own.
od -An -N8 -tx1 /dev/urandom | tr -d ' \n' > "$D/b.pin" && chmod 600 "$D/b.pin" &&
"$TK_INIT_TOKEN" "$TOKENKEY_TEST_MODULE" tk-two-b "$TOKENKEY_TEST_SO_PIN_FILE" "$D/b.pin" \
    > "$D/b.slot" || { echo "setup: token B not created" >&2; exit 1; }

genkey tk-two-a "$TOKENKEY_TEST_PIN_FILE" only-a
genkey tk-two-a "$TOKENKEY_TEST_PIN_FILE" both
genkey tk-two-b "$D/b.pin" both

# load uses token A's PIN (the fixture's).
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

finish
