#!/bin/sh
# A key is looked for on every token the URI matches, however many the
# module has: ten SoftHSM2 tokens on one module, a key on the last one in
# slot order is found, and a label on the first and the last is refused as
# ambiguous (a search that stopped early would pick the first silently).
set -u

. "$TK_FIXTURE_SH"
tk_fixture_setup tk-many-0 || exit 1
D=$TK_FIXTURE_DIR
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE"
P="-provider tokenkey -provider default"
. "$(dirname "$0")/tokens_lib.sh"

for i in 1 2 3 4 5 6 7 8 9; do
    "$TK_INIT_TOKEN" "$TOKENKEY_TEST_MODULE" "tk-many-$i" "$TOKENKEY_TEST_SO_PIN_FILE" \
        "$TOKENKEY_TEST_PIN_FILE" > /dev/null || { echo "setup: token tk-many-$i not created" >&2; exit 1; }
done
# Slot order is SoftHSM2's (directory order); ask an independent client for it.
pkcs11-tool --module "$TOKENKEY_TEST_MODULE" -L > "$D/slots" 2>&1 ||
    { cat "$D/slots"; echo "setup: pkcs11-tool -L failed" >&2; exit 1; }
sed -n 's/^ *token label *: *//p' "$D/slots" | sed 's/ *$//' > "$D/order"
if [ "$(wc -l < "$D/order")" -ne 10 ]; then
    cat "$D/slots"; echo "setup: expected 10 tokens" >&2; exit 1
fi
first=$(head -n 1 "$D/order")
last=$(tail -n 1 "$D/order")
echo "# slot order: $(tr '\n' ' ' < "$D/order")"

genkey "$last" "$TOKENKEY_TEST_PIN_FILE" far
genkey "$first" "$TOKENKEY_TEST_PIN_FILE" twice
genkey "$last" "$TOKENKEY_TEST_PIN_FILE" twice

load "a key on the tenth token" 0 "pkcs11:object=far;type=private"
if [ "$logins" -eq 1 ]; then ok "far: one C_Login"; else not_ok "far: $logins C_Login calls"; fi
# The key loaded is the one made on the last token: same public key as its key reference.
TOKENKEY_PIN_FILE=$TOKENKEY_TEST_PIN_FILE openssl pkey $P -in "$D/$last-far.pem" -pubout \
    -out "$D/far-ref.pub" 2> "$D/err"
if [ $? -eq 0 ] && cmp -s "$D/far-ref.pub" "$D/pub.pem"
then ok "far: the key made on '$last'"; else not_ok "far: another key"; sed 's/^/#   /' "$D/err"; fi

load "a label on the first and the tenth token" 1 "pkcs11:object=twice;type=private"
if [ "$logins" -eq 0 ]; then ok "twice: no PIN sent"; else not_ok "twice: $logins C_Login calls"; fi
if grep -qF "10 tokens need a login" "$D/err" \
   && grep -qF "and the URI's public key or certificate is on more than one of them" "$D/err"
then ok "twice: refused as ambiguous"; else not_ok "twice: not refused as ambiguous"; sed 's/^/#   /' "$D/err"; fi

load "the tenth token named" 0 "pkcs11:token=$last;object=twice;type=private"
if [ "$logins" -eq 1 ]; then ok "named: one C_Login"; else not_ok "named: $logins C_Login calls"; fi

finish
