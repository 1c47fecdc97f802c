# Shared by the tokenkey inspect/doctor shell tests (POSIX sh): source it
# after the fixture. The assertions and tk_make_ca come from
# tests/lib/cli.sh; here, what these tests make:
#
#   tk_sign CA CSR OUT [openssl ca dates...]   the CA signs CSR (a year, no extensions)
#   tk_csr KEYLABEL CN OUT     a CSR signed by the token key, through the provider
#   tk_genkey LABEL IDHEX      a non-exportable P-256 key made by tokenkey's keygen ($D/LABEL.ref)
#   tk_store_cert LABEL IDHEX CERT.pem   the certificate on the token
#   tk_key_uri LABEL IDHEX     the URI tokenkey prints for that private key

# shellcheck source=../lib/cli.sh
. "${TK_CLI_LIB:?}"

tk_sign() {
    ca=$1 csr=$2 out=$3
    shift 3
    tk_ca_sign "$ca" "$csr" "$out" 365 "" "$@"
}

tk_csr() {
    openssl req -new -provider tokenkey -provider default -key "$TOKEN;object=$1;type=private" \
        -subj "/CN=$2" -out "$3" > "$D/openssl.log" 2>&1 \
        || { cat "$D/openssl.log"; echo "cannot make a CSR for $1" >&2; exit 1; }
}

tk_genkey() {
    openssl genpkey -provider tokenkey -provider default -algorithm EC -pkeyopt group:P-256 \
        -pkeyopt "token:$TOKEN" -pkeyopt "label:$1" -pkeyopt "id:$2" -out "$D/$1.ref" \
        > "$D/openssl.log" 2>&1 \
        || { cat "$D/openssl.log"; echo "cannot generate key $1" >&2; exit 1; }
}

tk_store_cert() {
    "$TK_STORE_MKOBJ" cert "$1" "$2" "$3" || { echo "cannot store $3" >&2; exit 1; }
}

tk_key_uri() {
    echo "pkcs11:token=$TOKENKEY_TEST_TOKEN;manufacturer=SoftHSM%20project;serial=$TOKENKEY_TEST_SERIAL;model=SoftHSM%20v2;object=$1;type=private;id=%$2"
}
