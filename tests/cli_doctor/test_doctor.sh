#!/bin/sh
# tokenkey doctor on a fresh SoftHSM2 token: passes on a good setup (EC key
# made by tokenkey's keygen, CA-signed certificate on the token, CA file),
# and for each broken setup fails at the right check, with the exact line a
# user sees, its hint and exit code (1 a check failed, 3 module/token unusable).
set -u

# shellcheck source=../lib/fixture.sh
. "$TK_FIXTURE_SH"
tk_fixture_setup tk-doctor || exit 1
D=$TK_FIXTURE_DIR
# shellcheck source=lib.sh
. "$TK_CLI_DOCTOR_LIB"
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE" TOKENKEY_PIN_FILE="$TOKENKEY_TEST_PIN_FILE"
unset TOKENKEY_PIN
TOKEN="pkcs11:serial=$TOKENKEY_TEST_SERIAL"
MOD=$TOKENKEY_TEST_MODULE
PIN=$TOKENKEY_TEST_PIN_FILE

# ---- the setups, made with the stock openssl CLI and the PKCS#11 layer ----
tk_make_ca ca-one
tk_make_ca ca-two
# ca-one -> ca-inter -> the key "inter"'s certificate: a chain with an intermediate CA.
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/ca-inter.key" \
    -subj /CN=ca-inter -out "$D/ca-inter.csr" > "$D/openssl.log" 2>&1 || exit 1
printf 'basicConstraints = critical, CA:TRUE\nkeyUsage = critical, keyCertSign, cRLSign\n' > "$D/ca.ext"
openssl x509 -req -in "$D/ca-inter.csr" -CA "$D/ca-one.pem" -CAkey "$D/ca-one.key" -CAcreateserial \
    -days 3650 -extfile "$D/ca.ext" -out "$D/ca-inter.pem" > "$D/openssl.log" 2>&1 || exit 1
for k in good:01 mismatch:04 untrusted:05 expired:06 notyet:07 soon:08 nocert:09 inter:0a; do
    tk_genkey "${k%:*}" "${k#*:}"
done
"$TK_STORE_MKOBJ" keygen ec twin 02 && "$TK_STORE_MKOBJ" keygen ec twin 03 || exit 1
for k in good untrusted expired notyet soon inter; do
    tk_csr "$k" "$k-client" "$D/$k.csr"
done
tk_sign ca-one "$D/good.csr" "$D/good.pem"
tk_sign ca-two "$D/untrusted.csr" "$D/untrusted.pem"
tk_sign ca-inter "$D/inter.csr" "$D/inter.pem"
tk_sign ca-one "$D/expired.csr" "$D/expired.pem" -startdate 20200101000000Z -enddate 20210101000000Z
tk_sign ca-one "$D/notyet.csr" "$D/notyet.pem" -startdate 20990101000000Z -enddate 20991231000000Z
tk_sign ca-one "$D/soon.csr" "$D/soon.pem" -enddate "$(date -u -d '+10 days 1 hour' +%Y%m%d%H%M%SZ)"
tk_store_cert good 01 "$D/good.pem"
tk_store_cert mismatch 04 "$D/good.pem"   # another key's certificate
tk_store_cert untrusted 05 "$D/untrusted.pem"
tk_store_cert expired 06 "$D/expired.pem"
tk_store_cert notyet 07 "$D/notyet.pem"
tk_store_cert soon 08 "$D/soon.pem"
tk_store_cert inter 0a "$D/inter.pem"

doctor() { want=$1 name=$2; shift 2; tk_run "$want" "$name" doctor --pin-file "$PIN" "$@"; }

# ---- a good setup ----
doctor 0 "good setup" --key good --ca "$D/ca-one.pem"
tk_line "good: provider" "ok    provider: '$OPENSSL_MODULES/tokenkey.so' loads (by name, from OPENSSL_MODULES)" "$D/out"
tk_has "good: module" "ok    module: '$MOD' loaded and initialised (" "$D/out"
tk_has "good: token" "ok    token: 'tk-doctor' (SoftHSM v2, serial $TOKENKEY_TEST_SERIAL) in slot " "$D/out"
tk_line "good: pin" "ok    pin: user PIN initialised, no failed login reported" "$D/out"
tk_line "good: login" "ok    login: logged in with the PIN from '$PIN'" "$D/out"
tk_line "good: key" "ok    key: $(tk_key_uri good 01) (EC, 256 bits)" "$D/out"
tk_line "good: certificate" "ok    certificate: 'CN=good-client' issued by 'CN=ca-one', on the token (id 01), matches the key" "$D/out"
tk_line "good: chain" "ok    chain: verifies against '$D/ca-one.pem' for TLS client use: 'CN=good-client' <- 'CN=ca-one'" "$D/out"
tk_has "good: dates" "ok    dates: valid now; the first to expire is 'CN=good-client', on " "$D/out"
tk_line "good: signature" "ok    signature: an ECDSA-SHA256 signature made by the token verifies with the certificate's public key" "$D/out"
tk_if "good: ten lines, no hint" "$(wc -l < "$D/out")" -eq 10
tk_empty "good: nothing on stderr" "$D/err"

doctor 0 "good setup, --json" --key good --ca "$D/ca-one.pem" --json
tk_json "json: the ten checks in order" "[c['check'] for c in d['checks']] == ['provider', 'module', 'token', 'pin', 'login', 'key', 'certificate', 'chain', 'dates', 'signature']"
tk_json "json: all ok" "all(c['status'] == 'ok' for c in d['checks'])"
tk_json "json: no hint" "d['hint'] is None"
tk_json "json: key detail" "d['checks'][5]['detail'] == '$(tk_key_uri good 01) (EC, 256 bits)'"

# A URI's scheme in any case is a URI (RFC 3986), not a key label.
doctor 0 "an upper-case PKCS11: scheme" --key "PKCS11:${TOKEN#pkcs11:};object=good" --ca "$D/ca-one.pem"
tk_line "PKCS11: the key" "ok    key: $(tk_key_uri good 01) (EC, 256 bits)" "$D/out"

doctor 0 "good setup, certificate from --cert" --key good --cert "$D/good.pem" --ca "$D/ca-one.pem"
tk_line "--cert: used" "ok    certificate: 'CN=good-client' issued by 'CN=ca-one', from '$D/good.pem', matches the key" "$D/out"
# A certificate not for TLS client authentication: the hint names the field that says so.
printf 'keyUsage=critical,keyEncipherment\nextendedKeyUsage=clientAuth\n' > "$D/ku.ext"
tk_ca_sign ca-one "$D/good.csr" "$D/ku.pem" 365 "$D/ku.ext"
doctor 1 "keyUsage without digitalSignature" --key good --cert "$D/ku.pem" --ca "$D/ca-one.pem"
tk_line "keyUsage: hint" "hint: the certificate's keyUsage lacks digitalSignature, which a TLS client's key signs with: ask the CA for a client certificate" "$D/out"
printf 'keyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' > "$D/eku.ext"
tk_ca_sign ca-one "$D/good.csr" "$D/eku.pem" 365 "$D/eku.ext"
doctor 1 "extendedKeyUsage without clientAuth" --key good --cert "$D/eku.pem" --ca "$D/ca-one.pem"
tk_line "extendedKeyUsage: hint" "hint: the certificate is not for TLS client authentication (its extendedKeyUsage lacks clientAuth): ask the CA for a client certificate" "$D/out"
# A CA that may not issue client certificates (its extendedKeyUsage is serverAuth only): the
# purpose error is the CA's, at depth 1, and the hint says so - not the leaf's keyUsage,
# keyAgreement alone, which OpenSSL's client check takes.
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/ca-srv.key" \
    -subj /CN=ca-srv -days 3650 -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" -addext "extendedKeyUsage=serverAuth" -out "$D/ca-srv.pem" \
    > "$D/openssl.log" 2>&1 || exit 1
printf 'keyUsage=critical,keyAgreement\nextendedKeyUsage=clientAuth\n' > "$D/ka.ext"
tk_ca_sign ca-srv "$D/good.csr" "$D/srv-issued.pem" 365 "$D/ka.ext"
doctor 1 "a CA not for client certificates" --key good --cert "$D/srv-issued.pem" --ca "$D/ca-srv.pem"
tk_line "CA purpose: hint" "hint: a CA certificate in the chain may not issue TLS client certificates (its extendedKeyUsage or keyUsage): ask the CA which chain to use" "$D/out"
# The certificate, then a damaged block: the client would fail to load the file.
{ cat "$D/good.pem"; sed '3s/^./!/' "$D/ca-one.pem"; } > "$D/good-damaged.pem"
doctor 1 "--cert with a damaged block" --key good --cert "$D/good-damaged.pem" --ca "$D/ca-one.pem"
tk_line "--cert damaged: FAIL" "FAIL  certificate: '$D/good-damaged.pem': certificate 2 in the file is damaged (its PEM block or the DER in it does not read), and the client fails to load such a file" "$D/out"

doctor 0 "without --ca: a warning" --key good
tk_line "no --ca: chain warns" "warn  chain: not checked: pass --ca CAFILE (the CAs the brokers trust) to verify the certificate chain" "$D/out"
doctor 0 "--chain without --ca" --key good --chain "$D/ca-inter.pem"
tk_line "--chain alone: chain warns it was not read" "warn  chain: not checked: pass --ca CAFILE (the CAs the brokers trust) to verify the certificate chain (--chain gives intermediates, not trust: it was not read)" "$D/out"
tk_has "no --ca: still signs" "ok    signature: " "$D/out"

doctor 0 "expiring soon: a warning" --key soon --ca "$D/ca-one.pem"
tk_has "soon: dates warn" "warn  dates: 'CN=soon-client' expires on " "$D/out"
tk_has "soon: in ten days" ", in 10 days: renew it soon" "$D/out"

doctor 0 "the other CA trusts its own certificate" --key untrusted --ca "$D/ca-two.pem"

# An intermediate CA: missing, then from --chain, then from the token.
doctor 1 "intermediate CA missing" --key inter --ca "$D/ca-one.pem"
tk_line "no intermediate: FAIL" "FAIL  chain: 'CN=inter-client' (issued by 'CN=ca-inter') does not verify against '$D/ca-one.pem': unable to get local issuer certificate" "$D/out"
doctor 0 "intermediate CA from --chain" --key inter --ca "$D/ca-one.pem" --chain "$D/ca-inter.pem"
tk_line "--chain: the whole chain" "ok    chain: verifies against '$D/ca-one.pem' for TLS client use: 'CN=inter-client' <- 'CN=ca-inter' <- 'CN=ca-one'" "$D/out"
# The intermediate, then a damaged block: the damage is reported, not taken for the end.
{ cat "$D/ca-inter.pem"; sed '3s/^./!/' "$D/ca-one.pem"; } > "$D/chain-damaged.pem"
doctor 1 "a damaged block in --chain" --key inter --ca "$D/ca-one.pem" --chain "$D/chain-damaged.pem"
tk_line "damaged --chain: FAIL" "FAIL  chain: cannot read certificates from --chain '$D/chain-damaged.pem' (none there, or one damaged)" "$D/out"
tk_store_cert ca-inter ff "$D/ca-inter.pem"
doctor 0 "intermediate CA on the token" --key inter --ca "$D/ca-one.pem"
tk_line "token chain: the whole chain" "ok    chain: verifies against '$D/ca-one.pem' for TLS client use: 'CN=inter-client' <- 'CN=ca-inter' <- 'CN=ca-one'" "$D/out"
doctor 1 "a CA file that is not the root" --key inter --ca "$D/ca-two.pem"
tk_has "wrong root: FAIL" "FAIL  chain: 'CN=ca-inter' (issued by 'CN=ca-one') does not verify against '$D/ca-two.pem': unable to get local issuer certificate" "$D/out"
# export sends the intermediate stored by another tool (no CKA_CERTIFICATE_CATEGORY), not the root.
tk_store_cert ca-one fe "$D/ca-one.pem"
tk_run 0 "export with an intermediate on the token" export --key inter --out-dir "$D/export-inter"
{ openssl crl2pkcs7 -nocrl -certfile "$D/export-inter/cert.pem" -out "$D/chain.p7" &&
    openssl pkcs7 -in "$D/chain.p7" -print_certs -noout; } > "$D/chain.txt" 2>&1 ||
    not_ok "export: the chain exported does not read"
tk_if "export: the client certificate, then the intermediate, no root" \
    "$(grep '^subject' "$D/chain.txt" | tr '\n' '|')" = "subject=CN = inter-client|subject=CN = ca-inter|"
# --cert checks the file the client presents: the intermediates in it count, the token's do not.
doctor 0 "--cert: the file export wrote, with its intermediate" --key inter \
    --cert "$D/export-inter/cert.pem" --ca "$D/ca-one.pem"
tk_line "--cert file: the whole chain" "ok    chain: verifies against '$D/ca-one.pem' for TLS client use: 'CN=inter-client' <- 'CN=ca-inter' <- 'CN=ca-one'" "$D/out"
doctor 1 "--cert: the certificate alone, its intermediate only on the token" --key inter \
    --cert "$D/inter.pem" --ca "$D/ca-one.pem"
tk_line "--cert alone: FAIL" "FAIL  chain: 'CN=inter-client' (issued by 'CN=ca-inter') does not verify against '$D/ca-one.pem': unable to get local issuer certificate" "$D/out"
tk_line "--cert alone: hint" "hint: the certificate's issuer is not a CA in the --ca file: use the CA file the brokers trust, and put intermediate CAs in the --cert file after the certificate (as 'tokenkey export' writes it) or give them with --chain FILE" "$D/out"
# A CA rolled over under the same name: only the old certificate is on the token, and the
# client's was issued with the new key. Same names, wrong signature: not sent.
for v in old new; do
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$D/ca-rolled-$v.key" -subj /CN=ca-rolled -out "$D/ca-rolled-$v.csr" \
        > "$D/openssl.log" 2>&1 &&
    openssl x509 -req -in "$D/ca-rolled-$v.csr" -CA "$D/ca-one.pem" -CAkey "$D/ca-one.key" \
        -CAcreateserial -days 3650 -extfile "$D/ca.ext" -out "$D/ca-rolled-$v.pem" \
        > "$D/openssl.log" 2>&1 || exit 1
done
tk_genkey rolled 0b
tk_csr rolled rolled-client "$D/rolled.csr"
openssl x509 -req -in "$D/rolled.csr" -CA "$D/ca-rolled-new.pem" -CAkey "$D/ca-rolled-new.key" \
    -CAcreateserial -days 365 -out "$D/rolled.pem" > "$D/openssl.log" 2>&1 || exit 1
tk_store_cert rolled 0b "$D/rolled.pem"
tk_store_cert ca-rolled fd "$D/ca-rolled-old.pem"
tk_run 0 "export beside a CA certificate of the same name, another key" export --key rolled \
    --out-dir "$D/export-rolled"
tk_if "export: not the CA certificate that did not sign it" \
    "$(grep -c 'BEGIN CERTIFICATE' "$D/export-rolled/cert.pem")" -eq 1

# ---- broken setups: the first FAIL, its hint, nothing after ----
# The tokenkey.so the client loads: the 'module' of its openssl.cnf section, or
# tokenkey.so in the modules directory (kcat: "Failed to load OpenSSL provider").
printf 'openssl_conf = init\n[init]\nproviders = prov\n[prov]\ndefault = def\ntokenkey = tk\n[def]\nactivate = 1\n[tk]\nmodule = %s\nactivate = 1\n' \
    "$D/nowhere/tokenkey.so" > "$D/badmod.cnf"
OPENSSL_CONF="$D/badmod.cnf" doctor 3 "provider: a wrong module line" --key good
tk_line "provider: a wrong module line: FAIL" "FAIL  provider: the client cannot load tokenkey.so: $D/nowhere/tokenkey.so: cannot open shared object file: No such file or directory" "$D/out"
tk_line "provider: a wrong module line: hint" "hint: fix 'module' in section [tk] of '$D/badmod.cnf': the path of tokenkey.so (tokenkey kafka-config --provider-module PATH --force writes it)" "$D/out"
mkdir -p "$D/no-modules"
OPENSSL_MODULES="$D/no-modules" doctor 3 "provider: not installed" --key good
tk_line "provider: not installed: FAIL" "FAIL  provider: the client cannot load tokenkey.so: $D/no-modules/tokenkey.so: cannot open shared object file: No such file or directory" "$D/out"
tk_has "provider: not installed: hint" "hint: install tokenkey (meson install)" "$D/out"
sed "s|^module = .*|module = $TK_PROVIDER_DIR/tokenkey.so|" "$D/badmod.cnf" > "$D/goodmod.cnf"
OPENSSL_CONF="$D/goodmod.cnf" OPENSSL_MODULES="$D/no-modules" doctor 0 "provider: a module line" --key good
tk_line "provider: a module line: ok" "ok    provider: '$TK_PROVIDER_DIR/tokenkey.so' loads ('module' in section [tk] of '$D/goodmod.cnf')" "$D/out"
# A file that activates tokenkey alone: a client that does not load default
# itself would have no digests (and SoftHSM2 would reject the right PIN);
# tokenkey itself does not load the file. A warning: librdkafka's
# ssl.providers=default,tokenkey loads default.
grep -v '^default = def$' "$D/goodmod.cnf" > "$D/nodefault.cnf"
OPENSSL_CONF="$D/nodefault.cnf" doctor 0 "provider: no default provider" --key good
tk_line "provider: no default provider: warned" "warn  provider: '$TK_PROVIDER_DIR/tokenkey.so' loads, but '$D/nodefault.cnf' activates providers without 'default': a client that does not load default itself (librdkafka does with ssl.providers=default,tokenkey) has no software algorithms, and tokenkey refuses to log in: add 'default = default_sect' to its providers section, and a [default_sect] with 'activate = 1', as tokenkey kafka-config writes" "$D/out"
# Debian's openssl.cnf layout: default declared, its activate commented out.
grep -v '^activate = 1$' "$D/goodmod.cnf" | sed 's/^\[tk\]$/[tk]\nactivate = 1/' > "$D/deb.cnf"
OPENSSL_CONF="$D/deb.cnf" doctor 0 "provider: default declared, not activated" --key good
tk_has "provider: default declared, not activated: the fix" "add 'activate = 1' to its [def]" "$D/out"
# tokenkey activated before default: OpenSSL's unqualified fetches reach it first.
sed 's/^default = def$/tokenkey = tk/; t; s/^tokenkey = tk$/default = def/' "$D/goodmod.cnf" > "$D/tkfirst.cnf"
tk_if "provider: tokenkey first: the file lists tokenkey first" \
    "$(grep -m1 -x 'tokenkey = tk\|default = def' "$D/tkfirst.cnf")" = "tokenkey = tk"
OPENSSL_CONF="$D/tkfirst.cnf" doctor 0 "provider: tokenkey first" --key good
tk_line "provider: tokenkey first: warned" "warn  provider: '$TK_PROVIDER_DIR/tokenkey.so' loads, but '$D/tkfirst.cnf' activates tokenkey before default: OpenSSL then gives tokenkey what asks for \"EC\", \"RSA\" or \"ECDSA\" by name, which breaks TLS with the P-256, P-384 and P-521 groups and checking certificates signed with SHA-3: list default first in its providers section, as tokenkey kafka-config writes" "$D/out"
# ... the providers named by 'identity', under other entry names, the same.
printf 'openssl_conf = init\n[init]\nproviders = prov\n[prov]\nmine = tk\nsoft = def\n[def]\nidentity = default\nactivate = 1\n[tk]\nidentity = tokenkey\nmodule = %s\nactivate = 1\n' \
    "$TK_PROVIDER_DIR/tokenkey.so" > "$D/tkfirst-identity.cnf"
OPENSSL_CONF="$D/tkfirst-identity.cnf" doctor 0 "provider: tokenkey first, by identity" --key good
tk_has "provider: tokenkey first, by identity: warned" "'$D/tkfirst-identity.cnf' activates tokenkey before default" "$D/out"
# OpenSSL 3.0 reads 'x.activate' as 'activate' too (here: default's).
sed '0,/^activate = 1$/s//x.activate = 1/' "$D/goodmod.cnf" > "$D/xact.cnf"
OPENSSL_CONF="$D/xact.cnf" doctor 0 "provider: x.activate" --key good
tk_has "provider: x.activate: ok" "ok    provider: '$TK_PROVIDER_DIR/tokenkey.so' loads ('module' in section [tk] of '$D/xact.cnf')" "$D/out"

doctor 3 "missing module" --key good --module "$D/missing.so"
tk_line "missing module: FAIL" "FAIL  module: '$D/missing.so': No such file or directory" "$D/out"
tk_line "missing module: hint" "hint: install the token's PKCS#11 library or correct the path in --module, OPENSSL_CONF's pkcs11-module or TOKENKEY_MODULE (SoftHSM2's is /usr/lib/softhsm/libsofthsm2.so)" "$D/out"
tk_if "missing module: stops there" "$(wc -l < "$D/out")" -eq 3

doctor 3 "missing module, --json" --key good --module "$D/missing.so" --json
tk_json "missing module json: one failed check" "d['checks'][1:] == [{'check': 'module', 'status': 'fail', 'detail': \"'$D/missing.so': No such file or directory\"}]"
tk_json "missing module json: hint" "d['hint'].startswith(\"install the token's PKCS#11 library\")"

doctor 3 "not a PKCS#11 module" --key good --module /etc/hostname
tk_line "not a module: FAIL" "FAIL  module: cannot load '/etc/hostname': /etc/hostname: file too short" "$D/out"

doctor 3 "no such token" --key good --token no-such-token
tk_line "no such token: FAIL" "FAIL  token: no token matches 'pkcs11:token=no-such-token' in '$MOD'" "$D/out"
tk_line "no such token: hint" "hint: the tokens present are 'tk-doctor' (serial $TOKENKEY_TEST_SERIAL): name one with --token LABEL or token= in the key URI" "$D/out"
# A key reference file whose token is not there: the file names it, so --token is no fix.
printf 'asn1=SEQUENCE:ref\n[ref]\ndesc=VISIBLESTRING:tokenkey key reference v1\nuri=UTF8String:pkcs11:token=gone-token;object=good;type=private\n' > "$D/gone.asn1"
openssl asn1parse -genconf "$D/gone.asn1" -noout -out "$D/gone.der" > "$D/openssl.log" 2>&1 || exit 1
{ echo "-----BEGIN TOKENKEY KEY REFERENCE-----"; base64 -w 64 "$D/gone.der"
  echo "-----END TOKENKEY KEY REFERENCE-----"; } > "$D/gone.ref.pem"
doctor 3 "a key reference to a token not there" --key "$D/gone.ref.pem"
tk_line "key reference, token not there: FAIL" "FAIL  token: no token matches 'pkcs11:token=gone-token' in '$MOD'" "$D/out"
tk_line "key reference, token not there: hint" "hint: the key reference '$D/gone.ref.pem' names a token that is not there (the tokens present are 'tk-doctor' (serial $TOKENKEY_TEST_SERIAL)): insert that token, or write the file again for a key on a present token with 'tokenkey export --key KEY --key-out FILE --force'" "$D/out"

doctor 3 "no key" --key no-such-key
tk_line "no key: FAIL" "FAIL  key: no private key matches 'pkcs11:object=no-such-key;type=private'" "$D/out"
tk_line "no key: hint lists the keys, sorted" "hint: the token's private keys are 'expired' (id 06), 'good' (id 01), 'inter' (id 0a), 'mismatch' (id 04), 'nocert' (id 09), 'notyet' (id 07), 'rolled' (id 0b), 'soon' (id 08), 'twin' (id 02), 'twin' (id 03), 'untrusted' (id 05): name one with --key" "$D/out"

doctor 3 "two keys" --key twin
tk_has "two keys: FAIL" "FAIL  key: 2 private keys match 'pkcs11:object=twin;type=private': " "$D/out"
tk_has "two keys: lists id 02" "$(tk_key_uri twin 02)" "$D/out"
tk_has "two keys: lists id 03" "$(tk_key_uri twin 03)" "$D/out"
tk_has "two keys: hint" "hint: name one with --key and its id=, e.g. --key 'pkcs11:token=tk-doctor;" "$D/out"

# Keys made after the list of keys above. pkcs11-tool gets the PIN through its env: form only.
TK_TOOL_PIN=$(cat "$PIN")
export TK_TOOL_PIN
p11tool() {
    pkcs11-tool --module "$MOD" --token-label "$TOKENKEY_TEST_TOKEN" --login --pin env:TK_TOOL_PIN \
        "$@" > "$D/p11tool.log" 2>&1 || { cat "$D/p11tool.log"; echo "pkcs11-tool $*: failed" >&2; exit 1; }
}
# Two key pairs under one CKA_ID: which public key is whose cannot be told, and is not guessed.
"$TK_STORE_MKOBJ" keygen ec dupid-a 20 && "$TK_STORE_MKOBJ" keygen ec dupid-b 20 || exit 1
doctor 3 "two key pairs share an id" --key dupid-a
tk_has "shared id: FAIL names it" "FAIL  key: " "$D/out"
tk_has "shared id: says why" "two key pairs share the key's CKA_ID, and which public key is its own cannot be told: give each key pair its own id: $(tk_key_uri dupid-a 20): another private key has its CKA_ID, and the key's public half would have to come from the public keys or certificates with that id" "$D/err"
# The other pair's private key deleted: its public key stays beside dupid-a's under the id.
p11tool --delete-object --type privkey --label dupid-b --id 20
doctor 3 "a stale public key shares the id" --key dupid-a
tk_has "stale public key: FAIL names it" "FAIL  key: " "$D/out"
tk_has "stale public key: says why" "two key pairs share the key's CKA_ID, and which public key is its own cannot be told: give each key pair its own id: $(tk_key_uri dupid-a 20): the public keys (or certificates) with its CKA_ID hold different public keys" "$D/err"
# A key whose public half is only in its certificates, renewed: the old and the new
# certificate share its id and its public key, so either gives the public half.
tk_genkey renewed 0c
tk_csr renewed renewed-client "$D/renewed.csr"
tk_sign ca-one "$D/renewed.csr" "$D/renewed-old.pem"
tk_sign ca-one "$D/renewed.csr" "$D/renewed-new.pem"
p11tool --delete-object --type pubkey --id 0c
tk_store_cert renewed 0c "$D/renewed-old.pem"
tk_store_cert renewed 0c "$D/renewed-new.pem"
doctor 0 "renewed certificate beside the old one, no public key object" --key renewed \
    --ca "$D/ca-one.pem"
# (Two certificates with the key's id: export refuses them, so a warning, not ok.)
tk_has "renewed: the key's public half from its certificates" "warn  certificate: 'CN=renewed-client'" "$D/out"
unset TK_TOOL_PIN

doctor 1 "no certificate" --key nocert --ca "$D/ca-one.pem"
tk_line "no certificate: FAIL" "FAIL  certificate: no certificate on the token has the key's id 09" "$D/out"
tk_line "no certificate: hint" "hint: store the CA-signed certificate with 'tokenkey import-cert --key KEY --cert FILE', or pass it with --cert FILE" "$D/out"

doctor 1 "certificate of another key" --key mismatch --ca "$D/ca-one.pem"
tk_line "mismatch: FAIL" "FAIL  certificate: 'CN=good-client' on the token (id 04) does not match the key: it certifies another public key" "$D/out"
tk_line "mismatch: hint" "hint: that certificate was issued for another key: make a CSR with this key ('tokenkey csr --key ...'), have the CA sign it, then 'tokenkey import-cert'" "$D/out"

doctor 1 "--cert of another key" --key untrusted --cert "$D/good.pem"
tk_line "--cert mismatch: FAIL" "FAIL  certificate: 'CN=good-client' from '$D/good.pem' does not match the key: it certifies another public key" "$D/out"

doctor 1 "untrusted chain" --key untrusted --ca "$D/ca-one.pem"
tk_line "untrusted: FAIL" "FAIL  chain: 'CN=untrusted-client' (issued by 'CN=ca-two') does not verify against '$D/ca-one.pem': unable to get local issuer certificate" "$D/out"
tk_line "untrusted: hint" "hint: the certificate's issuer is not a CA in the --ca file: use the CA file the brokers trust, and give intermediate CAs with --chain FILE (or store them with 'tokenkey import-cert --chain')" "$D/out"

doctor 1 "expired certificate" --key expired --ca "$D/ca-one.pem"
tk_line "expired: chain still fine" "ok    chain: verifies against '$D/ca-one.pem' for TLS client use: 'CN=expired-client' <- 'CN=ca-one'" "$D/out"
tk_line "expired: FAIL" "FAIL  dates: 'CN=expired-client' expired on Jan  1 00:00:00 2021 GMT" "$D/out"
tk_line "expired: hint" "hint: the certificate needs renewing: make a CSR with this key ('tokenkey csr --key ...'), have the CA sign it, then 'tokenkey import-cert'" "$D/out"

doctor 1 "not yet valid" --key notyet --ca "$D/ca-one.pem"
tk_line "not yet valid: FAIL" "FAIL  dates: 'CN=notyet-client' is not valid before Jan  1 00:00:00 2099 GMT" "$D/out"

doctor 1 "unreadable CA file" --key good --ca "$D/no-such-ca.pem"
tk_line "no CA file: FAIL" "FAIL  chain: cannot read CA certificates from '$D/no-such-ca.pem'" "$D/out"

tk_run 3 "missing PIN file" doctor --pin-file "$D/no-such.pin" --key good
tk_line "missing PIN file: FAIL" "FAIL  login: cannot read PIN file '$D/no-such.pin': No such file or directory" "$D/out"

# A PIN file that is a pipe (a secrets manager's): read once, by the login.
mkfifo "$D/pin.fifo"
cat "$PIN" > "$D/pin.fifo" &
writer=$!
tk_run 0 "PIN file is a pipe" doctor --pin-file "$D/pin.fifo" --key good
tk_line "PIN file is a pipe: login" "ok    login: logged in with the PIN from '$D/pin.fifo'" "$D/out"
kill "$writer" 2> /dev/null
wait "$writer" 2> /dev/null

# ---- the command line ----
tk_run 2 "--pin refused" doctor --pin 1234 --key good
tk_line "--pin: one line" "tokenkey doctor: PINs are never taken from the command line: use --pin-file FILE, TOKENKEY_PIN_FILE, or the prompt" "$D/err"
tk_run 2 "pin-value= refused" doctor --key "$TOKEN;object=good?pin-value=1234"
tk_line "pin-value=: one line" "tokenkey doctor: the --key URI holds pin-value=: PINs are never taken from the command line (ps shows it to every user): use --pin-file FILE, TOKENKEY_PIN_FILE, or the prompt" "$D/err"
if grep -q 1234 "$D/out" "$D/err"; then not_ok "pin-value=: not echoed"; else ok "pin-value=: not echoed"; fi
# A malformed URI holding a PIN: refused for the PIN, never quoted.
tk_run 2 "pin-value= in a malformed URI" doctor --key "$TOKEN;object=go%zzod?pin-value=1234"
tk_line "pin-value= in a malformed URI: one line" "tokenkey doctor: the --key URI holds pin-value=: PINs are never taken from the command line (ps shows it to every user): use --pin-file FILE, TOKENKEY_PIN_FILE, or the prompt" "$D/err"
if grep -q 1234 "$D/out" "$D/err"; then not_ok "malformed URI: pin-value not echoed"; else ok "malformed URI: pin-value not echoed"; fi
tk_run 2 "unknown option" doctor --colour blue
tk_line "unknown option: one line" "tokenkey doctor: unknown option '--colour' (see tokenkey doctor --help)" "$D/err"
tk_run 2 "stray argument" doctor good
tk_line "stray argument: one line" "tokenkey doctor: unexpected argument 1 after 'tokenkey doctor' (not shown: it may be a PIN typed in the wrong place; see tokenkey doctor --help)" "$D/err"
tk_run 0 "--help" doctor --help
tk_has "--help: usage" "usage: tokenkey doctor [--key LABEL|URI|FILE]" "$D/out"
tk_has "--help: --ca" "--ca" "$D/out"
tk_run 0 "--opt=value" doctor --pin-file="$PIN" --key=good --ca="$D/ca-one.pem"
tk_line "--opt=value: the key" "ok    key: $(tk_key_uri good 01) (EC, 256 bits)" "$D/out"
# --key takes the key reference a client's ssl.key.location names.
tk_run 0 "export the key reference" export --pin-file "$PIN" --key good --key-out "$D/good.ref.pem"
doctor 0 "--key as a key reference file" --key "$D/good.ref.pem" --ca "$D/ca-one.pem"
tk_line "key reference file: the key" "ok    key: $(tk_key_uri good 01) (EC, 256 bits)" "$D/out"
printf -- '-----BEGIN TOKENKEY KEY REFERENCE-----\nAAAA\n-----END TOKENKEY KEY REFERENCE-----\n' > "$D/broken.ref.pem"
# A key file that gives no key is what doctor is run to find: a FAIL in the report, not a
# usage error, and nothing after it (which token to check, only the file could have said).
hint_key_file="hint: ssl.key.location must name the key reference 'tokenkey export' writes: write it again with 'tokenkey export --key KEY --key-out FILE --force', or give doctor --key LABEL or a pkcs11: URI"
doctor 3 "--key as a broken key reference" --key "$D/broken.ref.pem"
tk_line "broken key reference: FAIL" "FAIL  key file: key reference '$D/broken.ref.pem': the PEM body is not a key reference (DER SEQUENCE { VisibleString, UTF8String })" "$D/out"
tk_line "broken key reference: hint" "$hint_key_file" "$D/out"
tk_hasnt "broken key reference: stops there" "token:" "$D/out"
tk_quiet "broken key reference: nothing on stderr"
doctor 3 "--key as a file not there" --key "$D/no-such.ref.pem"
tk_line "key file not there: FAIL" "FAIL  key file: cannot read key reference '$D/no-such.ref.pem': give a readable key reference file, a key label or a pkcs11: URI" "$D/out"
tk_line "key file not there: hint" "$hint_key_file" "$D/out"
doctor 3 "--key as a certificate file, --json" --key "$D/ca-one.pem" --json
tk_json "certificate as key file json: provider, module, then the key file" "[c['check'] for c in d['checks']] == ['provider', 'module', 'key file'] and d['checks'][2]['status'] == 'fail'"
tk_json "certificate as key file json: the detail" "d['checks'][2]['detail'] == \"'$D/ca-one.pem' is not a key reference (-----BEGIN TOKENKEY KEY REFERENCE-----): give one, a key label or a pkcs11: URI\""
tk_json "certificate as key file json: hint" "d['hint'] == \"${hint_key_file#hint: }\""
# The other commands take a bad key file as a bad argument.
tk_run 2 "export: --key as a broken key reference" export --pin-file "$PIN" --key "$D/broken.ref.pem" --key-out "$D/never.pem"
tk_err "export, broken key reference: one line" "tokenkey export: key reference '$D/broken.ref.pem': the PEM body is not a key reference (DER SEQUENCE { VisibleString, UTF8String })"

# Last, as it leaves "good" with two certificates: an expired one stored beside the current
# one (a renewal without --replace). The current one counts, with a warning that export and
# kafka-config refuse two.
tk_sign ca-one "$D/good.csr" "$D/good-old.pem" -startdate 20200101000000Z -enddate 20210101000000Z
tk_store_cert good 01 "$D/good-old.pem"
doctor 0 "two certificates for the key" --key good --ca "$D/ca-one.pem"
tk_line "two certificates: the current one, and a warning" "warn  certificate: 'CN=good-client' issued by 'CN=ca-one', on the token (id 01), matches the key; 2 certificates on the token have the key's id, which 'tokenkey export' and 'kafka-config' refuse: keep this one with 'tokenkey import-cert --replace'" "$D/out"
tk_has "two certificates: its dates are the current one's" "ok    dates: valid now" "$D/out"

tk_finish
