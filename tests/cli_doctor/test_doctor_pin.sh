#!/bin/sh
# tokenkey doctor with a wrong PIN, on a token of its own (a failed login
# sets the token's CKF_USER_PIN_COUNT_LOW): the login check fails with the
# exact line and hint, the token saw exactly one C_Login (the PKCS#11
# layer's debug log counts them: doctor never retries), the token reports
# COUNT_LOW afterwards, and the next doctor run with the right PIN warns
# about it and passes. A locked PIN or a last try stops doctor before any
# login (exit 3). Without --pin-file, the PIN comes from the provider's
# variables in the provider's order (TOKENKEY_PIN_SOURCE, TOKENKEY_PIN_FILE,
# TOKENKEY_PIN), or from the tokenkey section of the client's openssl.cnf
# (OPENSSL_CONF), which wins as it does for the provider; one that cannot be
# read costs no login. No PIN appears in any output or in the debug log.
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
tk_run 3 "wrong PIN" doctor --pin-file "$D/wrong.pin" --key client --ca "$D/ca.pem"
unset TOKENKEY_DEBUG TOKENKEY_DEBUG_FILE
tk_line "wrong PIN: pin state was fine" "ok    pin: user PIN initialised, no failed login reported" "$D/out"
tk_line "wrong PIN: FAIL" "FAIL  login: the token rejected the PIN from '$D/wrong.pin' (CKR_PIN_INCORRECT)" "$D/out"
tk_line "wrong PIN: hint" "hint: the token rejected the PIN from '$D/wrong.pin': check it; tokenkey did not retry, and the token now reports a failed login (CKF_USER_PIN_COUNT_LOW), not how many tries are left" "$D/out"
tk_if "wrong PIN: stops at login" "$(wc -l < "$D/out")" -eq 6
tk_empty "wrong PIN: nothing on stderr" "$D/err"
logins=$(grep -c 'C_Login(' "$D/debug.log")
tk_if "wrong PIN: exactly one C_Login" "$logins" -eq 1
tk_has "wrong PIN: the one C_Login failed" "= CKR_PIN_INCORRECT" "$D/debug.log"
for p in "$PIN" "$D/wrong.pin"; do
    if grep -qF -f "$p" "$D/debug.log"; then not_ok "debug log holds a PIN"; else ok "debug log holds no PIN"; fi
done
tk_if "after: the token reports COUNT_LOW" "$(pin_state)" = COUNT_LOW

TOKENKEY_PIN=$(cat "$D/wrong.pin")
export TOKENKEY_PIN
tk_run 3 "wrong PIN in TOKENKEY_PIN, --json" doctor --key client --json
unset TOKENKEY_PIN
tk_json "TOKENKEY_PIN json: login failed last" "d['checks'][-1] == {'check': 'login', 'status': 'fail', 'detail': 'the token rejected the PIN in TOKENKEY_PIN (CKR_PIN_INCORRECT)'}"
tk_json "TOKENKEY_PIN json: pin state warned" "d['checks'][3]['status'] == 'warn'"
tk_json "TOKENKEY_PIN json: hint" "d['hint'].startswith('the token rejected the PIN in TOKENKEY_PIN: check it; tokenkey did not retry')"

tk_run 0 "right PIN after a wrong one" doctor --pin-file "$PIN" --key client --ca "$D/ca.pem"
tk_line "right PIN: COUNT_LOW is a warning" "warn  pin: a wrong PIN was given since the last successful login (CKF_USER_PIN_COUNT_LOW); the token does not say how many tries are left" "$D/out"
tk_line "right PIN: logged in" "ok    login: logged in with the PIN from '$PIN'" "$D/out"
tk_line "right PIN: signature" "ok    signature: an ECDSA-SHA256 signature made by the token verifies with the certificate's public key" "$D/out"
tk_if "a good login clears COUNT_LOW" "$(pin_state)" = OK

# A PIN file others can read: the client works, doctor says what to fix.
cp "$PIN" "$D/open.pin"
chmod 644 "$D/open.pin"
tk_run 0 "a PIN file others can read" doctor --pin-file "$D/open.pin" --key client --ca "$D/ca.pem"
tk_line "a PIN file others can read: warned" "warn  login: logged in with the PIN from '$D/open.pin', but '$D/open.pin' can be read by other users (mode 0644): chmod 600 it" "$D/out"
# No PIN source at all: the client fails ("no PIN available"), so doctor does, without a prompt.
tk_run 3 "no PIN source" doctor --key client --ca "$D/ca.pem"
tk_line "no PIN source: FAIL" "FAIL  login: the client has no PIN source, and fails with \"no PIN available\"" "$D/out"
tk_line "no PIN source: hint" "hint: give the client a PIN file: 'pin = file:/path' in the tokenkey section of its openssl.cnf ('tokenkey kafka-config --pin-file FILE' writes it), or TOKENKEY_PIN_FILE in its environment" "$D/out"

tk_run 0 "without --key: the token's one key" doctor --pin-file "$PIN" --token tk-doctor-pin --ca "$D/ca.pem"
tk_line "without --key: found" "ok    key: $(tk_key_uri client 01) (EC, 256 bits)" "$D/out"

# ---- without --pin-file: the provider's PIN variables, as the Kafka client reads them ----
unset TOKENKEY_PIN TOKENKEY_PIN_FILE TOKENKEY_PIN_SOURCE
TOKENKEY_PIN_FILE=$PIN
export TOKENKEY_PIN_FILE
tk_run 0 "TOKENKEY_PIN_FILE" doctor --key client --ca "$D/ca.pem"
tk_line "TOKENKEY_PIN_FILE: logged in" "ok    login: logged in with the PIN from '$PIN'" "$D/out"
TOKENKEY_PIN_FILE=$D/no-such.pin
tk_run 0 "--pin-file wins over TOKENKEY_PIN_FILE" doctor --pin-file "$PIN" --key client --ca "$D/ca.pem"
tk_line "--pin-file wins: logged in" "ok    login: logged in with the PIN from '$PIN'" "$D/out"
# The provider takes a URI's pin-source= before any setting; so does the CLI.
tk_run 0 "pin-source= in --key wins over TOKENKEY_PIN_FILE" doctor --key "$(tk_key_uri client 01)?pin-source=file:$PIN" --ca "$D/ca.pem"
tk_line "pin-source=: logged in" "ok    login: logged in with the PIN from '$PIN'" "$D/out"
tk_run 3 "empty pin-source=" doctor --key "$(tk_key_uri client 01)?pin-source=file:" --ca "$D/ca.pem"
tk_err "empty pin-source=: one line" "tokenkey doctor: empty PIN source 'file:'"
TOKENKEY_PIN_SOURCE=file:$PIN
export TOKENKEY_PIN_SOURCE
tk_run 0 "TOKENKEY_PIN_SOURCE wins over TOKENKEY_PIN_FILE" doctor --key client --ca "$D/ca.pem"
tk_line "TOKENKEY_PIN_SOURCE=file: logged in" "ok    login: logged in with the PIN from '$PIN'" "$D/out"
TK_TEST_THE_PIN=$(cat "$PIN")
TOKENKEY_PIN_SOURCE=env:TK_TEST_THE_PIN
export TK_TEST_THE_PIN
tk_run 0 "TOKENKEY_PIN_SOURCE=env:" doctor --key client --ca "$D/ca.pem"
tk_line "TOKENKEY_PIN_SOURCE=env: logged in" "ok    login: logged in with the PIN in TK_TEST_THE_PIN" "$D/out"
tk_run 0 "list with TOKENKEY_PIN_SOURCE=env:" list --token tk-doctor-pin
tk_has "list: the private key" "client" "$D/out"
unset TK_TEST_THE_PIN TOKENKEY_PIN_SOURCE
# A PIN source that cannot be read costs no login: nothing reaches the token.
TOKENKEY_DEBUG=1 TOKENKEY_DEBUG_FILE="$D/nopin.log"
export TOKENKEY_DEBUG TOKENKEY_DEBUG_FILE
tk_run 3 "TOKENKEY_PIN_FILE unreadable" doctor --key client --ca "$D/ca.pem"
tk_has "unreadable: the token was reached" "C_GetTokenInfo(" "$D/nopin.log"
tk_line "unreadable: FAIL" "FAIL  login: no PIN: the PIN from '$D/no-such.pin' could not be had (see the message above)" "$D/out"
tk_line "unreadable: why" "tokenkey doctor: cannot read PIN file '$D/no-such.pin': No such file or directory" "$D/err"
tk_line "unreadable: the hint names the variables" "hint: fix the environment (TOKENKEY_PIN_SOURCE, TOKENKEY_PIN_FILE or TOKENKEY_PIN, the first one set), where the client reads it" "$D/out"
TOKENKEY_PIN_SOURCE=pin-itself
export TOKENKEY_PIN_SOURCE
# A bad setting is a bad setup, as it is for the provider: found before anything runs.
tk_run 3 "TOKENKEY_PIN_SOURCE malformed" doctor --key client --ca "$D/ca.pem"
tk_err "malformed: one line" "tokenkey doctor: TOKENKEY_PIN_SOURCE must be file:/path or env:VARIABLE"
tk_empty "malformed: no checks run" "$D/out"
unset TOKENKEY_DEBUG TOKENKEY_DEBUG_FILE TOKENKEY_PIN_SOURCE TOKENKEY_PIN_FILE
if grep -q 'C_Login(' "$D/nopin.log"; then not_ok "no PIN: no C_Login"; else ok "no PIN: no C_Login"; fi
if grep -qF -- "pin-itself" "$D/out" "$D/err"; then not_ok "malformed source not echoed"; else ok "malformed source not echoed"; fi

# ---- the client's openssl.cnf (kafka-config's), named by OPENSSL_CONF: its section wins ----
tk_run 0 "kafka-config" kafka-config --key client --ca "$D/ca.pem" --out-dir "$D/kc" \
    --pin-file "$PIN" --provider-module "$TK_PROVIDER_DIR/tokenkey.so"
unset TOKENKEY_MODULE
OPENSSL_CONF=$D/kc/openssl.cnf TOKENKEY_PIN_FILE=$D/no-such.pin
export OPENSSL_CONF TOKENKEY_PIN_FILE
tk_run 0 "OPENSSL_CONF: module and PIN from its tokenkey section" doctor --key client --ca "$D/ca.pem"
tk_has "OPENSSL_CONF: the section's module" "ok    module: '$TOKENKEY_TEST_MODULE' loaded" "$D/out"
tk_line "OPENSSL_CONF: its pin wins over TOKENKEY_PIN_FILE" "ok    login: logged in with the PIN from '$PIN'" "$D/out"
# The section's pin unreadable: the hint sends the user there, not to TOKENKEY_PIN_FILE (which it beats).
sed -e "s|^pin = .*|pin = file:$D/no-such.pin|" "$D/kc/openssl.cnf" > "$D/badpin.cnf"
OPENSSL_CONF=$D/badpin.cnf TOKENKEY_PIN_FILE=$PIN
tk_run 3 "OPENSSL_CONF: its pin unreadable" doctor --key client --ca "$D/ca.pem"
tk_line "its pin unreadable: FAIL" "FAIL  login: no PIN: the PIN from '$D/no-such.pin' could not be had (see the message above)" "$D/out"
tk_line "its pin unreadable: the hint names the section" "hint: fix 'pin' in section [tokenkey_sect] of '$D/badpin.cnf', where the client reads it" "$D/out"
unset TOKENKEY_PIN_FILE
printf '[tokenkey_sect\npin = file:%s\n' "$PIN" > "$D/broken.cnf"
OPENSSL_CONF=$D/broken.cnf
tk_run 3 "OPENSSL_CONF that does not parse" doctor --key client --ca "$D/ca.pem"
tk_err "does not parse: one line" "tokenkey doctor: OpenSSL configuration '$D/broken.cnf' does not parse (line 1): fix it (OPENSSL_CONF names it)"
# With --module the configuration is read later, by the module check: still one FAIL, no crash.
tk_run 3 "OPENSSL_CONF that does not parse, with --module" doctor --module "$TOKENKEY_TEST_MODULE" --pin-file "$PIN" --key client --ca "$D/ca.pem"
tk_line "does not parse, --module: FAIL" "FAIL  provider: the client's tokenkey settings cannot be read" "$D/out"
tk_err "does not parse, --module: the reason" "tokenkey doctor: OpenSSL configuration '$D/broken.cnf' does not parse (line 1): fix it (OPENSSL_CONF names it)"
sed -e 's/^pin = .*/pin = pin-itself/' "$D/kc/openssl.cnf" > "$D/pinvalue.cnf"
OPENSSL_CONF=$D/pinvalue.cnf
tk_run 3 "OPENSSL_CONF with a PIN in its pin" doctor --key client --ca "$D/ca.pem"
tk_err "PIN in pin: one line" "tokenkey doctor: OpenSSL configuration '$D/pinvalue.cnf', section [tokenkey_sect]: 'pin' must be file:/path/to/pinfile or env:VARIABLE (a PIN itself is not accepted in configuration)"
# Found as OpenSSL finds it: a dotted entry, a section renamed by identity; the
# file's top level is not the section (OpenSSL hands a provider nothing from there).
cat > "$D/identity.cnf" <<EOF
debug = 5
pin = file:$D/no-such.pin
openssl_conf = init_sect
[init_sect]
providers = provider_list
[provider_list]
x.tk = tk_sect
[tk_sect]
identity = tokenkey
pkcs11-module = $TOKENKEY_TEST_MODULE
EOF
OPENSSL_CONF=$D/identity.cnf TOKENKEY_PIN_FILE=$PIN
export TOKENKEY_PIN_FILE
tk_run 0 "OPENSSL_CONF: section by identity" doctor --key client --ca "$D/ca.pem"
tk_has "identity: the section's module" "ok    module: '$TOKENKEY_TEST_MODULE' loaded" "$D/out"
tk_line "identity: top-level pin ignored" "ok    login: logged in with the PIN from '$PIN'" "$D/out"
unset TOKENKEY_PIN_FILE
OPENSSL_CONF=/dev/null TOKENKEY_MODULE=$TOKENKEY_TEST_MODULE
export TOKENKEY_MODULE

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

# ---- a PIN to be changed (a warning), and a PIN pad with a PIN file (the file's PIN is sent) ----
export TK_TOKENFLAGS
TK_TOKENFLAGS=TO_BE_CHANGED
tk_run 0 "PIN to be changed" doctor --module "$TK_TOKENSHIM" --pin-file "$PIN" --key client
tk_line "to be changed: warned" "warn  pin: the token asks for a new user PIN (CKF_USER_PIN_TO_BE_CHANGED): set one with the token's own tool (pkcs11-tool --change-pin); some tokens refuse logins until then" "$D/out"
TK_TOKENFLAGS=TO_BE_CHANGED,COUNT_LOW
tk_run 0 "PIN to be changed, and a failed PIN" doctor --module "$TK_TOKENSHIM" --pin-file "$PIN" --key client
tk_line "failed PIN first, with the change" "warn  pin: a wrong PIN was given since the last successful login (CKF_USER_PIN_COUNT_LOW); the token does not say how many tries are left; it also asks for a new user PIN (CKF_USER_PIN_TO_BE_CHANGED)" "$D/out"
TK_TOKENFLAGS=PROTECTED_PATH
tk_run 0 "PIN pad with a PIN file" doctor --module "$TK_TOKENSHIM" --pin-file "$PIN" --key client
tk_line "PIN pad: the file's PIN" "ok    login: logged in with the PIN from '$PIN'" "$D/out"
unset TK_TOKENFLAGS

tk_finish
