#!/bin/sh
# The openssl command line with tokenkey.so (OPENSSL_MODULES, from meson's
# tk_test_env) on a fresh SoftHSM2 token: storeutl, pkeyutl -sign, req,
# x509 -new / -signkey, pkey writing and reading key references, and a
# mutual TLS handshake of s_client -key pkcs11:... against s_server.
# Every command's exit status is checked; the PIN comes from a file.
set -u

. "$TK_FIXTURE_SH"
tk_fixture_setup tokenkey-cli || exit 1
export TOKENKEY_MODULE="$TOKENKEY_TEST_MODULE" TOKENKEY_PIN_FILE="$TOKENKEY_TEST_PIN_FILE"
D=$TK_FIXTURE_DIR
P="-provider tokenkey -provider default"
passed=0
failed=0

ok() { passed=$((passed + 1)); echo "ok - $1"; }
not_ok() {
    failed=$((failed + 1))
    echo "not ok - $1"
    [ -f "$D/out" ] && sed 's/^/#   /' "$D/out"
}
# run NAME COMMAND...: the command must exit 0 (output in $D/out).
run() {
    name=$1
    shift
    if "$@" > "$D/out" 2>&1; then ok "$name"; else not_ok "$name (exit $?)"; fi
}
# has NAME TEXT FILE: FILE must contain TEXT.
has() {
    if grep -qF -- "$2" "$3"; then ok "$1"; else not_ok "$1: no '$2' in $3"; cp "$3" "$D/out"; fi
}
hasnt() {
    if grep -qF -- "$2" "$3"; then not_ok "$1: '$2' in $3"; cp "$3" "$D/out"; else ok "$1"; fi
}

"$TK_STORE_MKOBJ" keygen rsa cli-rsa 01 "$D/rsa.pub.pem" || exit 1
"$TK_STORE_MKOBJ" keygen ec cli-ec 02 "$D/ec.pub.pem" || exit 1
TOKEN="pkcs11:serial=$TOKENKEY_TEST_SERIAL"
RSA="$TOKEN;object=cli-rsa;type=private"
EC="$TOKEN;object=cli-ec;type=private"

# ---- storeutl ----
# A listing that could hand out a private key hands out one at most: an
# application taking the first private key of a token-wide URI must not get
# one of two. (storeutl 3.0 prints a failed load's errors and exits 0.)
if openssl storeutl $P "$TOKEN" > "$D/list.out" 2>&1; then ok "storeutl, two private keys: exit 0"
else not_ok "storeutl, two private keys: exit $?"; fi
has "storeutl, two private keys: nothing listed" "Total found: 0" "$D/list.out"
has "storeutl, two private keys: ambiguity explained" "matches 2 private keys" "$D/list.out"
run "storeutl lists the token's public keys" openssl storeutl $P "$TOKEN;type=public"
has "storeutl type=public: 2 public keys" "Total found: 2" "$D/out"
run "storeutl lists one key pair" openssl storeutl $P "$TOKEN;object=cli-ec"
has "storeutl object=: its private and public key" "Total found: 2" "$D/out"
# Expecting private keys with two on the token: an error listing both, never a
# pick. (storeutl 3.0 prints a failed load's errors and exits 0 regardless.)
if openssl storeutl $P -keys "$TOKEN" > "$D/keys.out" 2>&1; then ok "storeutl -keys: exit 0"
else not_ok "storeutl -keys: exit $?"; fi
has "storeutl -keys: no key picked" "Total found: 0" "$D/keys.out"
has "storeutl -keys: ambiguity explained" "matches 2 private keys" "$D/keys.out"
has "storeutl -keys: lists the RSA key" "object=cli-rsa;type=private;id=%01" "$D/keys.out"
has "storeutl -keys: lists the EC key" "object=cli-ec;type=private;id=%02" "$D/keys.out"
run "storeutl -keys with object=" openssl storeutl $P -keys "$TOKEN;object=cli-ec"
has "storeutl -keys object=: one key" "Total found: 1" "$D/out"
if openssl storeutl $P "$TOKEN;colour=blue" > "$D/out" 2>&1; then
    not_ok "storeutl refuses a malformed URI"
else
    has "storeutl: malformed URI explained" "unknown attribute at offset" "$D/out"
fi

# ---- pkeyutl -sign ----
printf '%s' "tokenkey signs this" | openssl dgst -sha256 -binary > "$D/digest"
run "pkeyutl -sign RSA" openssl pkeyutl -sign $P -inkey "$RSA" -pkeyopt digest:sha256 \
    -in "$D/digest" -out "$D/rsa.sig"
run "RSA signature verifies" openssl pkeyutl -verify -pubin -inkey "$D/rsa.pub.pem" \
    -pkeyopt digest:sha256 -in "$D/digest" -sigfile "$D/rsa.sig"
run "pkeyutl -sign EC" openssl pkeyutl -sign $P -inkey "$EC" -in "$D/digest" -out "$D/ec.sig"
run "EC signature verifies" openssl pkeyutl -verify -pubin -inkey "$D/ec.pub.pem" \
    -in "$D/digest" -sigfile "$D/ec.sig"

# ---- req, x509 ----
run "req -new with a token key" openssl req -new $P -key "$EC" -subj /CN=x -out "$D/x.csr"
run "req -verify" openssl req -verify -in "$D/x.csr" -noout
has "req -verify says OK" "verify OK" "$D/out"
run "x509 -new self-signed by a token key" openssl x509 -new $P -key "$RSA" \
    -subj "/CN=tokenkey self-signed" -days 1 -out "$D/self.pem"
run "self-signed certificate verifies" openssl verify -CAfile "$D/self.pem" "$D/self.pem"
run "x509 -req -signkey with a token key" openssl x509 -req $P -in "$D/x.csr" -signkey "$EC" \
    -days 1 -out "$D/x.pem"
run "signed certificate verifies" openssl verify -CAfile "$D/x.pem" "$D/x.pem"

# ---- key reference files ----
run "pkey writes a key reference" openssl pkey $P -in "$RSA" -out "$D/ref.pem"
has "key reference label" "-----BEGIN TOKENKEY KEY REFERENCE-----" "$D/ref.pem"
run "pkey -text of a key reference" openssl pkey $P -in "$D/ref.pem" -text -noout
cp "$D/out" "$D/text"
has "text: modulus" "modulus:" "$D/text"
has "text: where the private key is" "private key: on token, not exportable (pkcs11:" "$D/text"
hasnt "text: no private exponent" "privateExponent" "$D/text"
run "pkey -pubout of a key reference" openssl pkey $P -in "$D/ref.pem" -pubout -out "$D/ref.pub.pem"
run "the public key is the token's" cmp "$D/ref.pub.pem" "$D/rsa.pub.pem"
run "genpkey writes a key reference" openssl genpkey $P -algorithm EC \
    -pkeyopt group:P-256 -pkeyopt "token:$TOKEN" -pkeyopt label:cli-gen -out "$D/gen.pem"
has "genpkey output is a key reference" "-----BEGIN TOKENKEY KEY REFERENCE-----" "$D/gen.pem"
run "the generated key signs" openssl pkeyutl -sign $P -inkey "$D/gen.pem" -in "$D/digest" \
    -out "$D/gen.sig"

# ---- s_client -key pkcs11:... against s_server -Verify 1 ----
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/ca.key" \
    -subj "/CN=tokenkey cli CA" -days 1 -out "$D/ca.pem" > "$D/out" 2>&1 || exit 1
openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$D/server.key" \
    -subj "/CN=127.0.0.1" -out "$D/server.csr" > "$D/out" 2>&1 || exit 1
openssl x509 -req -in "$D/server.csr" -CA "$D/ca.pem" -CAkey "$D/ca.key" -CAcreateserial \
    -days 1 -out "$D/server.pem" > "$D/out" 2>&1 || exit 1
run "client CSR from the token key" openssl req -new $P -key "$RSA" \
    -subj "/CN=tokenkey cli client" -out "$D/client.csr"
run "client certificate from the CA" openssl x509 -req -in "$D/client.csr" -CA "$D/ca.pem" \
    -CAkey "$D/ca.key" -CAcreateserial -days 1 -out "$D/client.pem"

port=$((20000 + $$ % 20000))
server_pid=
# s_server ends a connection when its stdin ends: give it a FIFO we hold open.
mkfifo "$D/server.in" || exit 1
exec 3<> "$D/server.in"
for try in 1 2 3 4 5; do
    # -naccept 1: it exits after one connection; timeout bounds it anyway.
    timeout 60 openssl s_server -accept "127.0.0.1:$port" -cert "$D/server.pem" \
        -key "$D/server.key" -CAfile "$D/ca.pem" -Verify 1 -verify_return_error -naccept 1 \
        < "$D/server.in" > "$D/server.log" 2>&1 &
    server_pid=$!
    # Until it listens, or dies (the port was taken): 60 s at most, for a loaded machine.
    i=0
    while [ "$i" -lt 300 ]; do
        grep -q ACCEPT "$D/server.log" 2>/dev/null && break
        kill -0 "$server_pid" 2>/dev/null || break
        sleep 0.2
        i=$((i + 1))
    done
    grep -q ACCEPT "$D/server.log" && break
    wait "$server_pid" 2>/dev/null
    server_pid=
    port=$((port + 1))
done
if [ -z "$server_pid" ]; then
    not_ok "s_server did not start"
else
    run "s_client -key pkcs11: handshake" sh -c "echo | timeout 60 openssl s_client $P \
        -connect 127.0.0.1:$port -cert '$D/client.pem' -key '$RSA' -CAfile '$D/ca.pem' \
        -verify_return_error -brief"
    has "s_client: connection established" "CONNECTION ESTABLISHED" "$D/out"
    has "s_client: server verified" "Verification: OK" "$D/out"
    # s_client exits 0 whether or not the server accepted the client's signature (TLS 1.3
    # finishes the client's side first): s_server exits 0, and prints the client's subject,
    # only when the handshake verified.
    wait "$server_pid"
    rc=$?
    if [ "$rc" -eq 0 ]; then ok "s_server exit 0"; else not_ok "s_server exit $rc"; fi
    if grep -qx "subject=CN = tokenkey cli client" "$D/server.log"; then
        ok "s_server verified the client, its signature made on the token"
    else
        not_ok "s_server did not verify the client"
        sed 's/^/#   /' "$D/server.log"
    fi
fi
exec 3>&-

# ---- a token with more keys than one search batch ----
# 20 more key pairs, 23 of each class with the two above and genpkey's: a
# listing of public keys returns every one, and the ambiguity message
# counts them all (lookups once stopped at 16).
i=10
while [ "$i" -lt 30 ]; do
    "$TK_STORE_MKOBJ" keygen ec "many-$i" "$i" "$D/many.pub.pem" > "$D/out" 2>&1 ||
        not_ok "mkobj keygen many-$i"
    i=$((i + 1))
done
run "storeutl lists a token with 23 public keys" openssl storeutl $P "$TOKEN;type=public"
has "storeutl: 23 public keys" "Total found: 23" "$D/out"
if openssl storeutl $P -keys "$TOKEN" > "$D/keys.out" 2>&1; then ok "storeutl -keys, 23 keys: exit 0"
else not_ok "storeutl -keys, 23 keys: exit $?"; fi
has "storeutl -keys: all 23 private keys counted" "matches 23 private keys" "$D/keys.out"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
