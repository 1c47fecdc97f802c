#!/bin/sh
# tokenkey doctor with a wrong PIN, on a token of its own (a failed login
# sets the token's CKF_USER_PIN_COUNT_LOW): the login check fails with the
# exact line and hint, the token saw exactly one C_Login (the PKCS#11
# layer's debug log counts them: doctor never retries), the token reports
# COUNT_LOW afterwards, and the next doctor run with the right PIN warns
# about it and passes. A locked PIN or a last try stops doctor before any
# login (exit 3). No PIN appears in any output or in the debug log.
set -u

# shellcheck source=../lib/fixture.sh
. "$TK_FIXTURE_SH"
tk_fixture_setup tk-doctor-pin || exit 1
D=$TK_FIXTURE_DIR
# shellcheck source=lib.sh
. "$TK_CLI_DOCTOR_LIB"
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE"
unset TOKENKEY_PIN TOKENKEY_PIN_FILE
TOKEN="pkcs11:serial=$TOKENKEY_TEST_SERIAL"
PIN=$TOKENKEY_TEST_PIN_FILE

# A good setup, so the only thing wrong below is the PIN.
TOKENKEY_PIN_FILE=$PIN
export TOKENKEY_PIN_FILE
tk_make_ca ca
tk_genkey client 01
tk_csr client client "$D/client.csr"
tk_sign ca "$D/client.csr" "$D/client.pem"
tk_store_cert client 01 "$D/client.pem"
unset TOKENKEY_PIN_FILE

( umask 077 && printf '%s\n' "not-$(cat "$PIN")" > "$D/wrong.pin" ) || exit 1

pin_state() {
    "$TK_CLI" tokens --json > "$D/tokens.json" 2> "$D/tokens.err" || { echo "tokens --json failed"; return; }
    python3 -c 'import json, sys
print([t["pin_state"] for t in json.load(open(sys.argv[1])) if t["label"] == "tk-doctor-pin"][0])' "$D/tokens.json"
}

tk_if "before: PIN state OK" "$(pin_state)" = OK

# Assignments in front of a shell function may or may not last: export, then unset.
TOKENKEY_DEBUG=1 TOKENKEY_DEBUG_FILE="$D/debug.log"
export TOKENKEY_DEBUG TOKENKEY_DEBUG_FILE
tk_run 1 "wrong PIN" doctor --pin-file "$D/wrong.pin" --key client --ca "$D/ca.pem"
unset TOKENKEY_DEBUG TOKENKEY_DEBUG_FILE
tk_line "wrong PIN: pin state was fine" "ok    pin: user PIN initialised, no failed login reported" "$D/out"
tk_line "wrong PIN: FAIL" "FAIL  login: the token rejected the PIN from '$D/wrong.pin' (CKR_PIN_INCORRECT)" "$D/out"
tk_line "wrong PIN: hint" "hint: the token rejected the PIN from '$D/wrong.pin': check it; tokenkey did not retry, and the token now reports a failed login (CKF_USER_PIN_COUNT_LOW), not how many tries are left" "$D/out"
tk_if "wrong PIN: stops at login" "$(wc -l < "$D/out")" -eq 5
tk_empty "wrong PIN: nothing on stderr" "$D/err"
logins=$(grep -c 'C_Login(' "$D/debug.log")
tk_if "wrong PIN: exactly one C_Login" "$logins" -eq 1
tk_has "wrong PIN: the one C_Login failed" "= CKR_PIN_INCORRECT" "$D/debug.log"
for p in "$PIN" "$D/wrong.pin"; do
    if grep -qF -- "$(cat "$p")" "$D/debug.log"; then not_ok "debug log holds a PIN"; else ok "debug log holds no PIN"; fi
done
tk_if "after: the token reports COUNT_LOW" "$(pin_state)" = COUNT_LOW

TOKENKEY_PIN=$(cat "$D/wrong.pin")
export TOKENKEY_PIN
tk_run 1 "wrong PIN in TOKENKEY_PIN, --json" doctor --key client --json
unset TOKENKEY_PIN
tk_json "TOKENKEY_PIN json: login failed last" "d['checks'][-1] == {'check': 'login', 'status': 'fail', 'detail': 'the token rejected the PIN in TOKENKEY_PIN (CKR_PIN_INCORRECT)'}"
tk_json "TOKENKEY_PIN json: pin state warned" "d['checks'][2]['status'] == 'warn'"
tk_json "TOKENKEY_PIN json: hint" "d['hint'].startswith('the token rejected the PIN in TOKENKEY_PIN: check it; tokenkey did not retry')"

tk_run 0 "right PIN after a wrong one" doctor --pin-file "$PIN" --key client --ca "$D/ca.pem"
tk_line "right PIN: COUNT_LOW is a warning" "warn  pin: a wrong PIN was given since the last successful login (CKF_USER_PIN_COUNT_LOW); the token does not say how many tries are left" "$D/out"
tk_line "right PIN: logged in" "ok    login: logged in with the PIN from '$PIN'" "$D/out"
tk_line "right PIN: signature" "ok    signature: an ECDSA-SHA256 signature made by the token verifies with the certificate's public key" "$D/out"
tk_if "a good login clears COUNT_LOW" "$(pin_state)" = OK

tk_run 0 "without --key: the token's one key" doctor --pin-file "$PIN" --token tk-doctor-pin --ca "$D/ca.pem"
tk_line "without --key: found" "ok    key: $(tk_key_uri client 01) (EC, 256 bits)" "$D/out"

# ---- a locked PIN and a last try (SoftHSM2 has neither: the shim reports them) ----
TOKENKEY_DEBUG=1 TOKENKEY_DEBUG_FILE="$D/shim.log"
export TOKENKEY_DEBUG TOKENKEY_DEBUG_FILE TK_TOKENFLAGS
TK_TOKENFLAGS=LOCKED
tk_run 3 "locked PIN" doctor --module "$TK_TOKENSHIM" --pin-file "$PIN" --key client
tk_line "locked: FAIL" "FAIL  pin: the user PIN is locked (CKF_USER_PIN_LOCKED)" "$D/out"
tk_line "locked: hint" "hint: the security officer must unlock the user PIN (e.g. pkcs11-tool --login-type so --init-pin)" "$D/out"
TK_TOKENFLAGS=FINAL_TRY
tk_run 3 "last PIN try" doctor --module "$TK_TOKENSHIM" --pin-file "$PIN" --key client --json
tk_json "last try: FAIL" "d['checks'][-1] == {'check': 'pin', 'status': 'fail', 'detail': 'one PIN attempt is left (CKF_USER_PIN_FINAL_TRY): tokenkey will not spend it'}"
tk_json "last try: hint" "d['hint'] == 'verify the PIN with the token\\'s own tool (one more wrong PIN locks it) or have the security officer reset it'"
unset TOKENKEY_DEBUG TOKENKEY_DEBUG_FILE TK_TOKENFLAGS
tk_has "locked, last try: the PIN state was read" "C_GetTokenInfo(" "$D/shim.log"
if grep -q 'C_Login(' "$D/shim.log"; then not_ok "locked, last try: no C_Login"; else ok "locked, last try: no C_Login"; fi

tk_finish
