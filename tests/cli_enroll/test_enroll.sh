#!/bin/sh
# The whole enrollment of an mTLS client on a fresh SoftHSM2 token, as
# docs/enrollment.md tells a person to do it, for an EC P-256 and an RSA
# 2048 key: keygen -> csr (checked with openssl req) -> a test CA made with
# the stock openssl CLI signs it -> import-cert -> list -> export -> the
# exported key reference and certificate complete a TLS handshake with
# s_server -Verify 1 -> kafka-config's files work the way librdkafka uses
# them. Every command's exit status is checked; the PIN is never in a
# file written or in any output.
set -u

# shellcheck source=../lib/fixture.sh
. "$TK_FIXTURE_SH"
tk_fixture_setup tk-enroll || exit 1
D=$TK_FIXTURE_DIR
# shellcheck source=lib.sh
. "$TK_CLI_ENROLL_LIB"
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE"
unset TOKENKEY_PIN TOKENKEY_PIN_FILE TOKENKEY_PIN_SOURCE
PIN=$TOKENKEY_TEST_PIN_FILE
P="-provider default -provider tokenkey"
# Public files are 0644 whatever the umask.
umask 077

tk_make_ca enroll-ca

# ---- keygen: EC with a given id, RSA with a random one, Ed25519 through the PIN prompt ----
tk_run 0 "keygen ec:P-256" keygen --type ec:P-256 --label client-ec --id 01 --pin-file "$PIN"
tk_line "keygen prints the EC key's URI" "$(tk_uri client-ec private %01)" "$D/out"
tk_quiet "keygen EC: nothing on stderr"
tk_run 0 "keygen rsa:2048" keygen --type rsa:2048 --label client-rsa --pin-file "$PIN"
tk_err "keygen RSA: one progress line (stderr is no terminal)" \
    "tokenkey keygen: generating RSA 2048 key on token 'tk-enroll' (this can take a while)"
rsa_uri=$(cat "$D/out")
case $rsa_uri in
    "$(tk_uri client-rsa private '')"%??%??%??%??%??%??%??%??%??%??%??%??%??%??%??%??)
        ok "keygen RSA: a random 16-byte id" ;;
    *) not_ok "keygen RSA: URI '$rsa_uri'" ;;
esac
tk_cmd "keygen ed25519, PIN typed at the prompt" python3 "$TK_TYPE_PIN" "$PIN" \
    "$TK_CLI" keygen --type ed25519 --label client-ed --id 03
tk_line "keygen asked for the PIN, which was not echoed" "PIN for the token: " "$D/cmd.out"
tk_line "keygen ed25519 prints its URI" "$(tk_uri client-ed private %03)" "$D/cmd.out"
# Not a PIN at the prompt: each says why, sends nothing, makes no key, and leaves echo on
# (type-pin.py: 126 if it was left off). Ctrl-C ends the process by its signal (128+2).
# prompt_answer ANSWER EXPECTED-STATUS TEXT
prompt_answer() {
    python3 "$TK_TYPE_PIN" --answer="$1" "$PIN" "$TK_CLI" keygen --type ec:P-256 --label never-made \
        > "$D/cmd.out" 2>&1
    got=$?
    if [ "$got" -eq "$2" ]; then ok "prompt, $1: exit $2"; else not_ok "prompt, $1: exit $got, expected $2"; fi
    [ -z "$3" ] || tk_has "prompt, $1: says why" "$3" "$D/cmd.out"
}
prompt_answer empty 3 "tokenkey keygen: nothing was typed at the PIN prompt; type the token's user PIN"
prompt_answer long 3 "tokenkey keygen: the PIN typed is longer than 254 characters, so it was not sent"
prompt_answer nul 3 "tokenkey keygen: the PIN typed holds a NUL character (Ctrl-@), so it was not sent"
prompt_answer interrupt 130 ""
# On a terminal, RSA generation shows a dot a second until done.
tk_cmd "keygen rsa:3072 on a terminal" python3 "$TK_TYPE_PIN" "$PIN" \
    "$TK_CLI" keygen --type rsa:3072 --label client-rsa3k
if grep -qx "tokenkey keygen: generating RSA 3072 key on token 'tk-enroll' \.* done" "$D/cmd.out"
then
    ok "keygen rsa:3072: progress on the terminal"
else
    not_ok "keygen rsa:3072: no progress line"
fi
tk_run 0 "list" list --pin-file "$PIN"
tk_line "list: EC key, never extractable" \
    "private-key 'client-ec' id=01 EC prime256v1 [SENSITIVE,ALWAYS_SENSITIVE,NEVER_EXTRACTABLE]" \
    "$D/out"
tk_has "list: RSA key" "private-key 'client-rsa' id=" "$D/out"
tk_hasnt "list: no key from the prompts answered without a PIN" "never-made" "$D/out"

# ---- csr, CA, import-cert, export, TLS: for each key type ----
if ! openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes \
        -keyout "$D/server.key" -subj "/CN=127.0.0.1" -out "$D/server.csr" > "$D/openssl.log" 2>&1 \
    || ! openssl x509 -req -in "$D/server.csr" -CA "$D/enroll-ca.pem" -CAkey "$D/enroll-ca.key" \
        -CAcreateserial -days 2 -out "$D/server.pem" > "$D/openssl.log" 2>&1; then
    cat "$D/openssl.log"
    exit 1
fi
port=$((20000 + $$ % 20000))
mkfifo "$D/server.in" || exit 1

# handshake NAME KEYFILE CERTFILE SUBJECT: s_client with the files against s_server -Verify 1.
handshake() {
    server_pid=
    # s_server ends a connection when its stdin ends: give it a FIFO we hold open.
    exec 3<> "$D/server.in"
    for _try in 1 2 3 4 5; do
        timeout 60 openssl s_server -accept "127.0.0.1:$port" -cert "$D/server.pem" \
            -key "$D/server.key" -CAfile "$D/enroll-ca.pem" -Verify 1 -verify_return_error \
            -naccept 1 < "$D/server.in" > "$D/server.log" 2>&1 &
        server_pid=$!
        # Until it listens, or dies (the port was taken): 60 s at most, for a loaded machine.
        _i=0
        while [ "$_i" -lt 300 ]; do
            grep -q ACCEPT "$D/server.log" 2>/dev/null && break
            kill -0 "$server_pid" 2>/dev/null || break
            sleep 0.2
            _i=$((_i + 1))
        done
        grep -q ACCEPT "$D/server.log" && break
        wait "$server_pid" 2>/dev/null
        server_pid=
        port=$((port + 1))
    done
    if [ -z "$server_pid" ]; then
        not_ok "$1: s_server did not start"
        exec 3>&-
        return
    fi
    # Only the key reference and the PIN file's path: nothing on argv names a secret.
    tk_cmd "$1: s_client with the exported files" env TOKENKEY_PIN_FILE="$PIN" sh -c \
        "echo | timeout 60 openssl s_client $P -connect 127.0.0.1:$port -key '$2' -cert '$3' \
         -CAfile '$D/enroll-ca.pem' -verify_return_error"
    tk_has "$1: s_client verified the server" "Verify return code: 0 (ok)" "$D/cmd.out"
    wait "$server_pid"
    rc=$?
    if [ "$rc" -eq 0 ]; then ok "$1: s_server exit 0"; else not_ok "$1: s_server exit $rc"; fi
    exec 3>&-
    tk_line "$1: s_server verified the client certificate" "verify return:1" "$D/server.log"
    tk_line "$1: s_server saw the client's subject" "subject=$4" "$D/server.log"
    port=$((port + 1))
}

for k in ec rsa; do
    case $k in
        ec) id=%01 ku="Digital Signature" ;;
        rsa) id=${rsa_uri##*;id=} ku="Digital Signature, Key Encipherment" ;;
    esac
    san="DNS:client-$k.example.com,IP:192.0.2.10,IP:2001:db8::10,email:ops@example.com,URI:spiffe://example.com/client-$k"
    tk_run 0 "$k: csr" csr --key "client-$k" --subject "/C=DE/O=Acme Corp/CN=client-$k" \
        --san "$san" --out "$D/$k.csr" --pin-file "$PIN"
    tk_quiet "$k: csr is quiet"
    tk_mode "$k: the CSR is mode 644" 644 "$D/$k.csr"
    tk_cmd "$k: openssl req -verify" openssl req -verify -in "$D/$k.csr" -noout
    tk_has "$k: CSR signature verifies" "verify OK" "$D/cmd.out"
    tk_cmd "$k: openssl req -text" openssl req -in "$D/$k.csr" -noout -text
    cp "$D/cmd.out" "$D/$k.csr.txt"
    tk_has "$k: CSR subject" "Subject: C = DE, O = Acme Corp, CN = client-$k" "$D/$k.csr.txt"
    tk_has "$k: CSR SAN" "DNS:client-$k.example.com, IP Address:192.0.2.10, IP Address:2001:DB8:0:0:0:0:0:10, email:ops@example.com, URI:spiffe://example.com/client-$k" "$D/$k.csr.txt"
    tk_has "$k: CSR key usage is critical" "X509v3 Key Usage: critical" "$D/$k.csr.txt"
    tk_line "$k: CSR key usage" "                    $ku" "$D/$k.csr.txt"
    tk_line "$k: CSR asks for clientAuth" "                    TLS Web Client Authentication" \
        "$D/$k.csr.txt"
    # The same subject in RFC 4514 form, to stdout.
    tk_run 0 "$k: csr to stdout, RFC 4514 subject" csr --key "client-$k" \
        --subject "CN=client-$k,O=Acme Corp,C=DE" --pin-file "$PIN"
    tk_cmd "$k: stdout is a CSR" openssl req -in "$D/out" -noout -subject
    tk_line "$k: RFC 4514 gives the same subject" "subject=C = DE, O = Acme Corp, CN = client-$k" \
        "$D/cmd.out"

    tk_sign enroll-ca "$D/$k.csr" "$D/$k.pem"
    tk_run 0 "$k: import-cert with the CA as chain" import-cert --key "client-$k" \
        --cert "$D/$k.pem" --chain "$D/enroll-ca.pem" --pin-file "$PIN"
    tk_line "$k: import-cert prints the certificate's URI" "$(tk_uri "client-$k" cert "$id")" \
        "$D/out"
    tk_has "$k: import-cert prints the CA's URI" ";object=enroll-ca;type=cert;id=%" "$D/out"
    tk_quiet "$k: import-cert is quiet"
    tk_run 0 "$k: list after import" list --pin-file "$PIN"
    tk_line "$k: list shows the certificate" "  subject: /C=DE/O=Acme Corp/CN=client-$k" "$D/out"
    tk_line "$k: list shows its issuer" "  issuer:  /CN=enroll-ca" "$D/out"
    tk_line "$k: list shows the certificate's URI" "  uri: $(tk_uri "client-$k" cert "$id")" \
        "$D/out"

    tk_run 0 "$k: export" export --key "client-$k" --out-dir "$D/export-$k" --pin-file "$PIN"
    tk_line "$k: export names the key reference" "$D/export-$k/key.pem" "$D/out"
    tk_line "$k: export names the certificate" "$D/export-$k/cert.pem" "$D/out"
    tk_mode "$k: key.pem is 644" 644 "$D/export-$k/key.pem"
    tk_mode "$k: cert.pem is 644" 644 "$D/export-$k/cert.pem"
    tk_line "$k: key.pem is a key reference" "-----BEGIN TOKENKEY KEY REFERENCE-----" \
        "$D/export-$k/key.pem"
    tk_cmd "$k: cert.pem is the CA-signed certificate" cmp "$D/export-$k/cert.pem" "$D/$k.pem"
    handshake "$k" "$D/export-$k/key.pem" "$D/export-$k/cert.pem" \
        "C = DE, O = Acme Corp, CN = client-$k"
done
tk_run 0 "ed25519: csr" csr --key client-ed --subject "/CN=client-ed" --san "DNS:ed.example.com" \
    --out "$D/ed.csr" --pin-file "$PIN"
tk_cmd "ed25519: openssl req -verify" openssl req -verify -in "$D/ed.csr" -noout -text
tk_has "ed25519: CSR signed with Ed25519" "Signature Algorithm: ED25519" "$D/cmd.out"

# ---- an RSA key that may sign with PSS only (CKA_ALLOWED_MECHANISMS; made by OpenSC's
# pkcs11-tool, the PIN through its env: form only): csr signs with RSASSA-PSS, and the key
# completes a TLS 1.3 handshake through its exported reference ----
TK_TOOL_PIN=$(cat "$PIN")
export TK_TOOL_PIN
tk_cmd "pss-only: key pair by pkcs11-tool" pkcs11-tool --module "$TOKENKEY_TEST_MODULE" \
    --token-label "$TOKENKEY_TEST_TOKEN" --login --pin env:TK_TOOL_PIN --keypairgen \
    --key-type rsa:2048 --label client-pss --id 50 \
    --allowed-mechanisms RSA-PKCS-PSS,SHA256-RSA-PKCS-PSS
unset TK_TOOL_PIN
tk_run 0 "pss-only: inspect" inspect --key client-pss --pin-file "$PIN"
tk_line "pss-only: inspect lists the allowed mechanisms" \
    "  CKA_ALLOWED_MECHANISMS   CKM_RSA_PKCS_PSS, CKM_SHA256_RSA_PKCS_PSS" "$D/out"
tk_run 0 "pss-only: inspect --json" inspect --key client-pss --json --pin-file "$PIN"
tk_json "pss-only: allowed_mechanisms in JSON" \
    "d['allowed_mechanisms'] == ['CKM_RSA_PKCS_PSS', 'CKM_SHA256_RSA_PKCS_PSS']"
tk_run 0 "pss-only: csr" csr --key client-pss --subject "/CN=client-pss" --out "$D/pss.csr" \
    --pin-file "$PIN"
tk_cmd "pss-only: openssl req -verify" openssl req -verify -in "$D/pss.csr" -noout -text
tk_has "pss-only: CSR signature verifies" "verify OK" "$D/cmd.out"
tk_has "pss-only: CSR signed with RSASSA-PSS" "Signature Algorithm: rsassaPss" "$D/cmd.out"
tk_cmd "pss-only: openssl req with -sigopt rsa_padding_mode:pss" env TOKENKEY_PIN_FILE="$PIN" \
    openssl req -new $P -key "$(tk_uri client-pss private %50)" -subj "/CN=client-pss" \
    -sigopt rsa_padding_mode:pss -out "$D/pss2.csr"
tk_cmd "pss-only: that CSR verifies" openssl req -verify -in "$D/pss2.csr" -noout -text
tk_has "pss-only: that CSR is RSASSA-PSS too" "Signature Algorithm: rsassaPss" "$D/cmd.out"
tk_sign enroll-ca "$D/pss.csr" "$D/pss.pem"
tk_run 0 "pss-only: import-cert" import-cert --key client-pss --cert "$D/pss.pem" --pin-file "$PIN"
tk_run 0 "pss-only: doctor" doctor --key client-pss --ca "$D/enroll-ca.pem" --pin-file "$PIN"
tk_has "pss-only: doctor names the limit" "(RSA, 2048 bits, signs with PSS only)" "$D/out"
tk_has "pss-only: doctor's test signature is PSS" \
    "ok    signature: an RSA-PSS-SHA256 signature made by the token verifies" "$D/out"
tk_run 0 "pss-only: export" export --key client-pss --out-dir "$D/export-pss" --pin-file "$PIN"
handshake pss-only "$D/export-pss/key.pem" "$D/export-pss/cert.pem" "CN = client-pss"

# ---- the other way round: an RSA key that may not sign with PSS, which TLS 1.3 asks of
# an RSA client key: doctor's test signature is the handshake's, and fails ----
TK_TOOL_PIN=$(cat "$PIN")
export TK_TOOL_PIN
tk_cmd "pkcs1-only: key pair by pkcs11-tool" pkcs11-tool --module "$TOKENKEY_TEST_MODULE" \
    --token-label "$TOKENKEY_TEST_TOKEN" --login --pin env:TK_TOOL_PIN --keypairgen \
    --key-type rsa:2048 --label client-v15 --id 51 \
    --allowed-mechanisms RSA-PKCS,SHA256-RSA-PKCS
unset TK_TOOL_PIN
tk_run 0 "pkcs1-only: csr" csr --key client-v15 --subject "/CN=client-v15" --out "$D/v15.csr" \
    --pin-file "$PIN"
tk_sign enroll-ca "$D/v15.csr" "$D/v15.pem"
tk_run 0 "pkcs1-only: import-cert" import-cert --key client-v15 --cert "$D/v15.pem" --pin-file "$PIN"
tk_run 1 "pkcs1-only: doctor" doctor --key client-v15 --ca "$D/enroll-ca.pem" --pin-file "$PIN"
tk_has "pkcs1-only: doctor's test signature is the handshake's, and fails" \
    "FAIL  signature: the token did not make an RSA-PSS-SHA256 signature, the one a TLS 1.3 handshake asks for" \
    "$D/out"

tk_run 0 "list after both imports" list --pin-file "$PIN"
n=$(grep -c "^certificate 'enroll-ca'" "$D/out")
if [ "$n" -eq 1 ]; then ok "the CA is stored once"; else not_ok "the CA is stored $n times"; fi
tk_run 0 "list --json" list --json --pin-file "$PIN"
tk_json "list --json: client-ec's private key, public key and certificate" \
    "sorted(o['class'] for o in d if o['label'] == 'client-ec') == ['certificate', 'private-key', 'public-key']"
tk_json "list --json: key types, Ed25519's on both halves" \
    "{(o['label'], o['class']): o['key_type'] for o in d if o['class'] != 'certificate' and o['label'] in ('client-ec', 'client-ed')} == {('client-ec', 'private-key'): 'EC prime256v1', ('client-ec', 'public-key'): 'EC prime256v1', ('client-ed', 'private-key'): 'EdDSA ED25519', ('client-ed', 'public-key'): 'EdDSA ED25519'}"
tk_json "list --json: private keys sensitive, never extractable" \
    "all(o['flags'] == 'SENSITIVE,ALWAYS_SENSITIVE,NEVER_EXTRACTABLE' for o in d if o['class'] == 'private-key')"
tk_json "list --json: the certificate's subject, issuer and date" \
    "[(o['subject'], o['issuer']) for o in d if o['label'] == 'client-ec' and o['class'] == 'certificate'] == [('/C=DE/O=Acme Corp/CN=client-ec', '/CN=enroll-ca')] and all(o['not_after'].endswith(' GMT') for o in d if o['class'] == 'certificate')"
tk_json "list --json: each object's URI names it" \
    "all(o['uri'].startswith('pkcs11:') and ('object=' + (o['label'] or '')) in o['uri'] for o in d)"
tk_run 0 "tokens" tokens
tk_line "tokens: the token's label" "  token:         $TOKENKEY_TEST_TOKEN" "$D/out"
tk_line "tokens: its serial" "  serial:        $TOKENKEY_TEST_SERIAL" "$D/out"
tk_has "tokens: its user PIN state" "  user PIN:      " "$D/out"
tk_has "tokens: its URI" "  uri:           pkcs11:" "$D/out"

# ---- kafka-config: the files librdkafka gets ----
K=$D/kafka
tk_run 0 "kafka-config" kafka-config --key client-ec --ca "$D/enroll-ca.pem" --out-dir "$K" \
    --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --bootstrap 127.0.0.1:9093 --pin-file "$PIN"
tk_quiet "kafka-config is quiet"
tk_line "kafka-config: line 1 to use it" "export OPENSSL_CONF=$K/openssl.cnf" "$D/out"
tk_line "kafka-config: line 2 to use it" "kcat -F $K/client.properties -L" "$D/out"
for f in key.pem cert.pem ca.pem client.properties openssl.cnf; do
    tk_mode "kafka-config: $f is 644" 644 "$K/$f"
done
for line in "bootstrap.servers=127.0.0.1:9093" "security.protocol=ssl" \
    "ssl.providers=default,tokenkey" "ssl.key.location=$K/key.pem" \
    "ssl.certificate.location=$K/cert.pem" "ssl.ca.location=$K/ca.pem"; do
    tk_line "client.properties: $line" "$line" "$K/client.properties"
done
for line in "openssl_conf = openssl_init" "tokenkey = tokenkey_sect" \
    "module = $TK_PROVIDER_DIR/tokenkey.so" "pkcs11-module = $TOKENKEY_TEST_MODULE" \
    "pin = file:$PIN" "activate = 1"; do
    tk_line "openssl.cnf: $line" "$line" "$K/openssl.cnf"
done
tk_cmd "ca.pem is the CA" openssl x509 -in "$K/ca.pem" -noout -subject
tk_line "ca.pem's subject" "subject=CN = enroll-ca" "$D/cmd.out"
# Nothing from this test's environment: the configuration alone must do.
# conf CNF CMD...: CMD with OPENSSL_CONF=CNF and none of the test's tokenkey variables.
conf() {
    cnf=$1
    shift
    env -u TOKENKEY_MODULE -u OPENSSL_MODULES -u TOKENKEY_PIN_FILE -u TOKENKEY_PIN \
        OPENSSL_CONF="$cnf" "$@"
}
tk_cmd "the EC certificate's public key" openssl x509 -in "$D/ec.pem" -noout -pubkey -out "$D/ec.pub.pem"
tk_cmd "OPENSSL_CONF: openssl pkey reads key.pem" conf "$K/openssl.cnf" openssl pkey -in "$K/key.pem" -pubout \
    -out "$D/kafka.pub.pem"
tk_cmd "key.pem's public key is the certificate's" cmp "$D/kafka.pub.pem" "$D/ec.pub.pem"
tk_cmd "OPENSSL_CONF: librdkafka's loading works" conf "$K/openssl.cnf" "$TK_KAFKA_LOAD" "$K/cert.pem" \
    "$K/key.pem"
# A client with OpenSSL linked in (confluent-kafka-go, the confluent-kafka wheels): two
# libcryptos in one process. It used to crash at exit, after the work was done.
tk_cmd "OPENSSL_CONF: the same with OpenSSL linked into the client" conf "$K/openssl.cnf" \
    "$TK_KAFKA_LOAD_STATIC" "$K/cert.pem" "$K/key.pem"
tk_line "OpenSSL linked into the client: the key signed" \
    "librdkafka's key loading works: certificate, key reference, check, signature" "$D/cmd.out"
# ... and when the system's libcrypto, which tokenkey runs on, is torn down first (its exit
# handler registered after the client's OpenSSL, by another library that initialised it).
# Not in the p11-kit rerun (suite p11kit, TK_TOKEN_VIA): that case is the provider's, not the
# module's, and under valgrind with the proxy, glibc leaves 40 bytes of its list of
# tokenkey.so's dependencies (dl-deps.c) unreferenced at exit there, which memcheck counts
# as a definite leak: an allocation of the dynamic loader, not of tokenkey.
if [ -z "${TK_TOKEN_VIA:-}" ]; then
    tk_cmd "OpenSSL linked into the client, the system's libcrypto torn down first" \
        conf "$K/openssl.cnf" env TK_KAFKA_LOAD_SYSTEM_CLEANUP_FIRST=1 \
        "$TK_KAFKA_LOAD_STATIC" "$K/cert.pem" "$K/key.pem"
fi
# doctor on the key reference kafka-config wrote: the certificate checked is the one the
# client sends (client.properties' ssl.certificate.location), not the token's copy.
tk_run 0 "doctor --key key.pem" doctor --key "$K/key.pem" --ca "$D/enroll-ca.pem" --pin-file "$PIN"
tk_line "doctor --key key.pem: the client's certificate" \
    "ok    client: '$K/client.properties' names this key reference: checking the certificate the client sends, '$K/cert.pem' (give --cert to check another)" \
    "$D/out"
tk_has "doctor --key key.pem: that certificate matches" "ok    certificate: 'CN=client-ec,O=Acme Corp,C=DE' issued by 'CN=enroll-ca', from '$K/cert.pem', matches the key" "$D/out"
KD=$D/kafka-stale
mkdir "$KD"
cp "$K/key.pem" "$KD/key.pem"
sed "s|$K/|$KD/|g" "$K/client.properties" > "$KD/client.properties"
cp "$D/rsa.pem" "$KD/cert.pem"
tk_run 1 "doctor: the client sends another key's certificate" doctor --key "$KD/key.pem" \
    --ca "$D/enroll-ca.pem" --pin-file "$PIN"
tk_line "doctor: another key's certificate fails" \
    "FAIL  certificate: 'CN=client-rsa,O=Acme Corp,C=DE' from '$KD/cert.pem' does not match the key: it certifies another public key" \
    "$D/out"
tk_line "doctor: the token holds the right one: export it again" \
    "hint: the token holds this key's own certificate: write the file again from it: tokenkey export --key KEY --cert-out $KD/cert.pem --force (or tokenkey kafka-config ... --force)" \
    "$D/out"
# The client's certificate file gone: the fix is writing it again, not --cert.
mv "$KD/cert.pem" "$KD/cert.pem.gone"
tk_run 1 "doctor: the client's certificate file is missing" doctor --key "$KD/key.pem" \
    --ca "$D/enroll-ca.pem" --pin-file "$PIN"
tk_line "doctor: missing certificate file: hint" \
    "hint: the token holds this key's own certificate: write the file again from it: tokenkey export --key KEY --cert-out $KD/cert.pem --force (or tokenkey kafka-config ... --force)" \
    "$D/out"
mv "$KD/cert.pem.gone" "$KD/cert.pem"
# A relative ssl.key.location is the client's working directory's: said, not guessed.
sed "s|^ssl.key.location=.*|ssl.key.location=key.pem|" "$KD/client.properties" > "$KD/rel.properties"
cp "$KD/client.properties" "$KD/abs.properties"
cp "$KD/rel.properties" "$KD/client.properties"
tk_run 0 "doctor: a relative ssl.key.location" doctor --key "$KD/key.pem" --ca "$D/enroll-ca.pem" \
    --pin-file "$PIN"
tk_line "doctor: a relative ssl.key.location: warned" \
    "warn  client: '$KD/client.properties' names the key by a relative path, 'key.pem', which the client resolves in its own working directory: checking the token's certificate (give --cert for the client's)" \
    "$D/out"
cp "$KD/abs.properties" "$KD/client.properties"
# A directory with a space and a quote: the lines to copy are shell-quoted, and the files work.
K3="$D/kafka it's"
tk_run 0 "kafka-config into a path with a space and a quote" kafka-config --key client-ec \
    --ca "$D/enroll-ca.pem" --out-dir "$K3" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" \
    --bootstrap 127.0.0.1:9093 --pin-file "$PIN"
tk_line "quoted path: line 1 to use it" "export OPENSSL_CONF='$D/kafka it'\\''s/openssl.cnf'" "$D/out"
tk_cmd "quoted path: line 1 works in a shell" sh -c "$(head -n 1 "$D/out") && test -f \"\$OPENSSL_CONF\""
tk_cmd "quoted path: librdkafka's loading works" conf "$K3/openssl.cnf" "$TK_KAFKA_LOAD" \
    "$K3/cert.pem" "$K3/key.pem"
# What openssl.cnf reads otherwise unless it is quoted: ' and ` (dropped), $ (a variable),
# # (a comment), \ and " (escapes), blanks at either end (trimmed), in the PIN file's path;
# and a module's own init-args, quotes and all, as NSS softokn's look. The client must read
# both back as they were: tk-tokenshim initialises only with exactly these init-args.
Q="$D/pins o'b \"q\" \\x \$HOME #1 \`t\`"
mkdir -p "$Q" && cp "$PIN" "$Q/ pin "
INIT_ARGS="configDir='sql:/etc/pki/nssdb' certPrefix='' flags=readOnly"
TK_TOKENSHIM_INIT_ARGS=$INIT_ARGS
TOKENKEY_INIT_ARGS=$INIT_ARGS
export TK_TOKENSHIM_INIT_ARGS TOKENKEY_INIT_ARGS
tk_run 0 "kafka-config: a PIN file path and init-args that need quoting" kafka-config \
    --module "$TK_TOKENSHIM" --key client-ec --ca "$D/enroll-ca.pem" --out-dir "$D/kafka-quoted" \
    --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --pin-file "$Q/ pin "
unset TOKENKEY_INIT_ARGS
tk_cmd "quoting: librdkafka's loading works, with the PIN file and init-args as written" \
    conf "$D/kafka-quoted/openssl.cnf" "$TK_KAFKA_LOAD" "$D/kafka-quoted/cert.pem" \
    "$D/kafka-quoted/key.pem"
unset TK_TOKENSHIM_INIT_ARGS
# A newline cannot be carried by openssl.cnf: refused, nothing written.
tk_run 1 "kafka-config into a path with a newline" kafka-config --key client-ec \
    --ca "$D/enroll-ca.pem" --out-dir "$D/kafka
x" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --pin-file "$PIN"
tk_has "newline: refused" "holds a line break, which openssl.cnf and client.properties can't carry" \
    "$D/err"
tk_if "newline: nothing written" ! -e "$D/kafka
x/openssl.cnf"
# No --pin-file: the PIN comes from TOKENKEY_PIN here; the client sets TOKENKEY_PIN_FILE.
K2=$D/kafka-nopin
TOKENKEY_PIN=$(cat "$PIN")
export TOKENKEY_PIN
tk_run 0 "kafka-config without --pin-file" kafka-config --key client-rsa --ca "$D/enroll-ca.pem" \
    --out-dir "$K2" --provider-module "$TK_PROVIDER_DIR/tokenkey.so"
unset TOKENKEY_PIN
tk_line "kafka-config without --bootstrap: line 2" "kcat -F $K2/client.properties -b BROKER:PORT -L" \
    "$D/out"
if grep -q '^pin' "$K2/openssl.cnf"; then not_ok "openssl.cnf: a pin line"; else ok "openssl.cnf: no pin line"; fi
tk_line "openssl.cnf: says how to give the PIN" \
    "# No PIN source was given: set TOKENKEY_PIN_FILE=/path/to/pin-file (mode 0600)" \
    "$K2/openssl.cnf"
tk_hasnt "client.properties: no bootstrap.servers" "bootstrap.servers" "$K2/client.properties"
tk_cmd "TOKENKEY_PIN_FILE: librdkafka's loading works" conf "$K2/openssl.cnf" \
    env TOKENKEY_PIN_FILE="$PIN" \
    "$TK_KAFKA_LOAD" "$K2/cert.pem" "$K2/key.pem"
# setsid: no terminal for OpenSSL's own pass phrase prompt to wait on. The failure must be
# the load's, for want of a PIN (exit 1, the reason), not a crash or a timeout.
conf "$K2/openssl.cnf" timeout 60 setsid -w "$TK_KAFKA_LOAD" "$K2/cert.pem" "$K2/key.pem" > "$D/cmd.out" 2>&1
rc=$?
if [ "$rc" -eq 1 ]; then ok "without any PIN source: exit 1"; else not_ok "without any PIN source: exit $rc, expected 1"; fi
tk_has "without any PIN source the key does not load" \
    "tk-kafka-load: SSL_CTX_use_PrivateKey_file (ssl.key.location) failed" "$D/cmd.out"
tk_has "without any PIN source: the reason" "no PIN available: set pin-source in the URI" "$D/cmd.out"
tk_run 1 "kafka-config again: files exist" kafka-config --key client-ec --ca "$D/enroll-ca.pem" \
    --out-dir "$K" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --pin-file "$PIN"
tk_err "kafka-config again: says why" \
    "tokenkey kafka-config: '$K/key.pem' already exists: pass --force to overwrite it"
# Renewing as tokenkey(1) shows: --force with the client's OPENSSL_CONF and neither
# --pin-file nor --bootstrap keeps the PIN file (the source this run used) and the brokers.
OPENSSL_CONF=$K/openssl.cnf
export OPENSSL_CONF
tk_run 0 "kafka-config --force, renewing" kafka-config --key client-ec --ca "$D/enroll-ca.pem" \
    --out-dir "$K" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" --force
unset OPENSSL_CONF
tk_line "renewing: the PIN file kept" "pin = file:$PIN" "$K/openssl.cnf"
tk_line "renewing: the brokers kept" "bootstrap.servers=127.0.0.1:9093" "$K/client.properties"
tk_line "renewing: line 2 needs no broker" "kcat -F $K/client.properties -L" "$D/out"
tk_cmd "renewing: librdkafka's loading works" conf "$K/openssl.cnf" "$TK_KAFKA_LOAD" "$K/cert.pem" \
    "$K/key.pem"
tk_run 0 "kafka-config --force --bootstrap: other brokers" kafka-config --key client-ec \
    --ca "$D/enroll-ca.pem" --out-dir "$K" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" \
    --pin-file "$PIN" --bootstrap 127.0.0.2:9094 --force
tk_line "--bootstrap wins over the old file" "bootstrap.servers=127.0.0.2:9094" "$K/client.properties"
# The file as an operator edits it, read as kcat -F reads it: blanks before the key and
# around the value, the last line for a key counts; 'key =' is another key (kcat refuses it).
printf '  bootstrap.servers=  127.0.0.3:9095 \nbootstrap.servers =127.0.0.4:9096\n' >> "$K/client.properties"
tk_run 0 "kafka-config --force after a hand edit" kafka-config --key client-ec \
    --ca "$D/enroll-ca.pem" --out-dir "$K" --provider-module "$TK_PROVIDER_DIR/tokenkey.so" \
    --pin-file "$PIN" --force
tk_line "hand edit: the brokers the client used kept" "bootstrap.servers=127.0.0.3:9095" "$K/client.properties"
# A PIN source naming a variable is kept as that variable, not its value.
K4=$D/kafka-pinvar
KAFKA_CLIENT_PIN=$(cat "$PIN")
export KAFKA_CLIENT_PIN
TOKENKEY_PIN_SOURCE=env:KAFKA_CLIENT_PIN
export TOKENKEY_PIN_SOURCE
tk_run 0 "kafka-config with TOKENKEY_PIN_SOURCE=env:..." kafka-config --key client-ec \
    --ca "$D/enroll-ca.pem" --out-dir "$K4" --provider-module "$TK_PROVIDER_DIR/tokenkey.so"
unset TOKENKEY_PIN_SOURCE
tk_line "openssl.cnf: the PIN's variable" "pin = env:KAFKA_CLIENT_PIN" "$K4/openssl.cnf"
tk_cmd "pin = env: librdkafka's loading works" conf "$K4/openssl.cnf" "$TK_KAFKA_LOAD" \
    "$K4/cert.pem" "$K4/key.pem"
unset KAFKA_CLIENT_PIN

# ---- the PIN is in no file written ----
if grep -rlF -f "$PIN" "$D"/*.csr "$D"/*.pem "$D"/export-* "$K" "$K2" "$K4" > "$D/cmd.out"; then
    not_ok "a written file holds the PIN"
else
    ok "no written file holds the PIN"
fi

tk_finish
