#!/bin/sh
# tokenkey inspect on a fresh SoftHSM2 token: a key made by tokenkey's
# keygen shows no export path (exit 0, "export_possible": false), with the
# provider and the PKCS#11 layer shown refusing; a key the token would hand
# out (CKA_EXTRACTABLE=TRUE, CKA_SENSITIVE=FALSE, made through the PKCS#11
# layer) shows EXPORT POSSIBLE and exits 1. Plus the errors a user meets.
set -u

# shellcheck source=../lib/fixture.sh
. "$TK_FIXTURE_SH"
tk_fixture_setup tk-inspect || exit 1
D=$TK_FIXTURE_DIR
# shellcheck source=lib.sh
. "$TK_CLI_DOCTOR_LIB"
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE" TOKENKEY_PIN_FILE="$TOKENKEY_TEST_PIN_FILE"
unset TOKENKEY_PIN
TOKEN="pkcs11:serial=$TOKENKEY_TEST_SERIAL"
PIN=$TOKENKEY_TEST_PIN_FILE

tk_make_ca ca
tk_genkey sealed 11
tk_csr sealed inspect-client "$D/sealed.csr"
tk_sign ca "$D/sealed.csr" "$D/sealed.pem"
tk_store_cert sealed 11 "$D/sealed.pem"
"$TK_MKEXPORTABLE" loose 12 || exit 1
"$TK_STORE_MKOBJ" keygen ec twin 13 && "$TK_STORE_MKOBJ" keygen ec twin 14 || exit 1
"$TK_STORE_MKOBJ" keygen rsa rsa 15 || exit 1
"$TK_MKEXPORTABLE" locked-once 16 locked || exit 1

inspect() { want=$1 name=$2; shift 2; tk_run "$want" "$name" inspect --pin-file "$PIN" "$@"; }

# ---- a key made by tokenkey: no way out ----
inspect 0 "tokenkey key" sealed
tk_line "sealed: uri" "key:           $(tk_key_uri sealed 11)" "$D/out"
tk_line "sealed: class" "class:         CKO_PRIVATE_KEY" "$D/out"
tk_line "sealed: type" "type:          CKK_EC prime256v1, 256 bits" "$D/out"
tk_line "sealed: label" "label:         sealed" "$D/out"
tk_line "sealed: id" "id:            11" "$D/out"
for a in SENSITIVE:TRUE EXTRACTABLE:FALSE ALWAYS_SENSITIVE:TRUE NEVER_EXTRACTABLE:TRUE \
         ALWAYS_AUTHENTICATE:FALSE LOCAL:TRUE PRIVATE:TRUE TOKEN:TRUE; do
    tk_line "sealed: CKA_${a%:*}" "$(printf '  %-24s %s' "CKA_${a%:*}" "${a#*:}")" "$D/out"
done
tk_line "sealed: no mechanism limit" "$(printf '  %-24s %s' CKA_ALLOWED_MECHANISMS '(any)')" "$D/out"
tk_has "sealed: certificate" "certificate:   pkcs11:token=tk-inspect;" "$D/out"
tk_line "sealed: certificate subject" "  subject:     CN=inspect-client" "$D/out"
tk_line "sealed: certificate issuer" "  issuer:      CN=ca" "$D/out"
tk_line "sealed: certificate matches" "  matches key: yes (X509_check_private_key with the token key)" "$D/out"
tk_line "sealed: no export path" "export paths:  none" "$D/out"
tk_line "sealed: the token refuses" "  token         none: CKA_SENSITIVE=TRUE and CKA_EXTRACTABLE=FALSE, so the token refuses to reveal the private value (C_GetAttributeValue) and to wrap it out (C_WrapKey) (PKCS#11 v2.40 section 4.9)" "$D/out"
tk_line "sealed: the provider refuses" "  provider      refused: private key material never leaves the token: only the public part can be exported (EVP_PKEY_todata(EVP_PKEY_KEYPAIR))" "$D/out"
tk_line "sealed: the PKCS#11 layer refuses" "  pkcs11-layer  refused: CKA_PRIVATE_EXPONENT, CKA_VALUE: TK_CKR_SECRET_ATTRIBUTE (tokenkey never asks the token for them)" "$D/out"
tk_line "sealed: the encoder writes a reference" "  encoder       none: PEM_write_bio_PrivateKey_ex writes a TOKENKEY KEY REFERENCE (the key's URI), no key material" "$D/out"
tk_line "sealed: origin" "origin:        generated on the token, always sensitive, never extractable" "$D/out"
tk_empty "sealed: nothing on stderr" "$D/err"

inspect 0 "tokenkey key, --json, --key" --key sealed --json
tk_json "json: export_possible is false" "d['export_possible'] is False"
tk_json "json: made on the token" "d['made_on_token'] is True"
tk_json "json: uri" "d['uri'] == '$(tk_key_uri sealed 11)'"
tk_json "json: class, type, size" "(d['class'], d['key_type'], d['curve'], d['bits']) == ('CKO_PRIVATE_KEY', 'CKK_EC', 'prime256v1', 256)"
tk_json "json: label and id" "(d['label'], d['id']) == ('sealed', '11')"
tk_json "json: attributes" "d['attributes'] == {'CKA_SENSITIVE': True, 'CKA_EXTRACTABLE': False, 'CKA_ALWAYS_SENSITIVE': True, 'CKA_NEVER_EXTRACTABLE': True, 'CKA_ALWAYS_AUTHENTICATE': False, 'CKA_LOCAL': True, 'CKA_PRIVATE': True, 'CKA_TOKEN': True, 'CKA_MODIFIABLE': True}"
tk_json "json: no mechanism limit" "d['allowed_mechanisms'] == 'any'"
tk_json "json: certificate" "(d['certificate']['subject'], d['certificate']['issuer'], d['certificate']['matches_key']) == ('CN=inspect-client', 'CN=ca', True)"
tk_json "json: certificate dates and serial" "all(d['certificate'][k] for k in ('serial', 'not_before', 'not_after', 'uri'))"
tk_json "json: four paths, none possible" "[(p['path'], p['possible']) for p in d['export_paths']] == [('token', False), ('provider', False), ('pkcs11-layer', False), ('encoder', False)]"
tk_json "json: provider refused" "d['export_paths'][1]['detail'].startswith('refused: private key material never leaves the token')"
tk_json "json: layer refused with TK_CKR_SECRET_ATTRIBUTE" "'TK_CKR_SECRET_ATTRIBUTE' in d['export_paths'][2]['detail']"

inspect 0 "RSA key without a certificate, by URI" "$TOKEN;object=rsa;id=%15" --json
tk_json "rsa: type and size" "(d['key_type'], d['curve'], d['bits']) == ('CKK_RSA', None, 2048)"
tk_json "rsa: no certificate" "d['certificate'] is None"
tk_json "rsa: no export path" "d['export_possible'] is False"

# ---- a key the token hands out ----
inspect 1 "exportable key" loose
tk_line "loose: EXPORT POSSIBLE" "export paths:  EXPORT POSSIBLE: CKA_SENSITIVE=FALSE: any program logged in to the token can read the private value with C_GetAttributeValue; CKA_EXTRACTABLE=TRUE: C_WrapKey can take the key off the token" "$D/out"
tk_line "loose: attributes" "$(printf '  %-24s %s' CKA_EXTRACTABLE TRUE)" "$D/out"
tk_line "loose: tokenkey still refuses" "  provider      refused: private key material never leaves the token: only the public part can be exported (EVP_PKEY_todata(EVP_PKEY_KEYPAIR))" "$D/out"
tk_line "loose: the error" "tokenkey inspect: EXPORT POSSIBLE: '$(tk_key_uri loose 12)' can leave the token: replace it with a key made by 'tokenkey keygen'" "$D/err"
tk_if "loose: one error line" "$(wc -l < "$D/err")" -eq 1

inspect 1 "exportable key, --json" loose --json
tk_json "loose json: export_possible is true" "d['export_possible'] is True"
tk_json "loose json: the token path is open" "d['export_paths'][0]['possible'] is True and d['export_paths'][0]['detail'].startswith('EXPORT POSSIBLE: CKA_SENSITIVE=FALSE')"
tk_json "loose json: attributes" "(d['attributes']['CKA_SENSITIVE'], d['attributes']['CKA_EXTRACTABLE']) == (False, True)"
tk_json "loose json: tokenkey paths shut" "[p['possible'] for p in d['export_paths'][1:]] == [False, False, False]"

# ---- a key exportable once, locked since (after a backup, say): no way out now, but its value
# existed off the token, which is what a rule that forbids that asks about ----
inspect 1 "a key once exportable, locked since" locked-once
tk_line "locked-once: no export path now" "export paths:  none" "$D/out"
tk_line "locked-once: origin" "origin:        CKA_ALWAYS_SENSITIVE is FALSE: the key was not always sensitive" "$D/out"
tk_err "locked-once: one line" "tokenkey inspect: MADE OFF THE TOKEN: '$(tk_key_uri locked-once 16)': CKA_ALWAYS_SENSITIVE is FALSE: the key was not always sensitive, so its value existed outside it: replace it with a key made by 'tokenkey keygen'"
inspect 1 "locked-once, --json" locked-once --json
tk_json "locked-once json: not made on the token, no export path" "(d['made_on_token'], d['export_possible']) == (False, False)"

# ---- errors ----
inspect 3 "no such key" no-such-key
tk_line "no such key: one line" "tokenkey inspect: no private key matches 'no-such-key': see 'tokenkey list'" "$D/err"
# A key reference file named without a '/' is a label: said, with the way to read the file.
tk_run 0 "export a key reference" export --key sealed --key-out "$D/sealed.ref.pem" --pin-file "$PIN"
cd "$D" || exit 1
inspect 3 "a key reference file named without ./" sealed.ref.pem
cd - > /dev/null || exit 1
tk_line "key reference without ./: the way to read it" "tokenkey inspect: no private key matches 'sealed.ref.pem': see 'tokenkey list' (a file of that name is in this directory: give it as ./sealed.ref.pem to read it as a key reference)" "$D/err"
# A pin-source= in the key's URI may be the PIN typed in the wrong place: not echoed.
inspect 3 "no such key, pin-source= in its URI" "pkcs11:object=no-such-key?pin-source=qzx-4711"
tk_line "no such key, pin-source= in its URI: not shown" "tokenkey inspect: no private key matches 'pkcs11:object=no-such-key;type=private': see 'tokenkey list'" "$D/err"
inspect 3 "two keys, pin-source= in their URI" "pkcs11:object=twin?pin-source=qzx-4711"
tk_has "two keys, pin-source= in their URI: not shown" "tokenkey inspect: 2 private keys match 'pkcs11:object=twin;type=private' (" "$D/err"
inspect 3 "two keys" twin
tk_has "two keys: message" "tokenkey inspect: 2 private keys match 'twin' (" "$D/err"
tk_has "two keys: lists 13" "$(tk_key_uri twin 13)" "$D/err"
tk_has "two keys: lists 14" "$(tk_key_uri twin 14)" "$D/err"
tk_has "two keys: what to do" "): name one by its id=" "$D/err"
inspect 3 "no such token" sealed --token no-such-token
tk_line "no such token: one line" "tokenkey inspect: no token matches 'pkcs11:token=no-such-token' in '$TOKENKEY_TEST_MODULE': see 'tokenkey tokens'" "$D/err"
inspect 2 "a certificate URI" "$TOKEN;object=sealed;type=cert"
tk_line "cert URI: one line" "tokenkey inspect: the key URI names a cert object: inspect takes a key pair by its private key (type=private)" "$D/err"
inspect 2 "no key given"
tk_line "no key: one line" "tokenkey inspect: which key? pass its pkcs11: URI, label or key reference file, or --key KEY" "$D/err"
inspect 2 "two keys given" sealed --key loose
tk_line "two keys given: one line" "tokenkey inspect: give the key once: as the argument or with --key, not both" "$D/err"
inspect 2 "a stray argument" sealed extra
tk_line "stray argument: one line" "tokenkey inspect: unexpected argument 4 after 'tokenkey inspect' (not shown: it may be a PIN typed in the wrong place; see tokenkey inspect --help)" "$D/err"
inspect 2 "key twice" --key loose sealed
tk_line "key twice: one line" "tokenkey inspect: give the key once: as the argument or with --key, not both" "$D/err"
tk_run 2 "--pin refused" inspect --pin 1234 sealed
tk_line "--pin: one line" "tokenkey inspect: PINs are never taken from the command line: use --pin-file FILE, TOKENKEY_PIN_FILE, or the prompt" "$D/err"
tk_run 3 "missing PIN file" inspect --pin-file "$D/no-such.pin" sealed
tk_line "missing PIN file: one line" "tokenkey inspect: cannot read PIN file '$D/no-such.pin': No such file or directory" "$D/err"
tk_run 0 "--help" inspect --help
tk_has "--help: usage" "usage: tokenkey inspect KEY|--key KEY" "$D/out"

# A key with two certificates, an expired one beside the current one (a renewal without
# --replace; SoftHSM2 finds the one stored last first): inspect shows the current one, as
# doctor takes it, not the first found.
tk_genkey renewed 17
tk_csr renewed renewed-client "$D/renewed.csr"
tk_sign ca "$D/renewed.csr" "$D/renewed-old.pem" -startdate 20200101000000Z -enddate 20210101000000Z
tk_sign ca "$D/renewed.csr" "$D/renewed-new.pem"
tk_store_cert renewed 17 "$D/renewed-new.pem"
tk_store_cert renewed 17 "$D/renewed-old.pem"
inspect 0 "two certificates for the key" renewed
tk_line "two certificates: the current one" "  not after:   $(openssl x509 -in "$D/renewed-new.pem" -noout -enddate | cut -d= -f2)" "$D/out"

tk_finish
