# Shared by the enrollment shell tests (POSIX sh): source it after the
# fixture, with D set to the fixture directory. The assertions and
# tk_make_ca come from tests/lib/cli.sh; here:
#
#   tk_uri LABEL TYPE ID-ESCAPED   the URI tokenkey prints for an object on the fixture token
#   tk_sign CA CSR OUT [-startdate ... -enddate ...]   the CA signs CSR for TLS client use

# shellcheck source=../lib/cli.sh
. "${TK_CLI_LIB:?}"

tk_uri() {
    echo "pkcs11:token=$TOKENKEY_TEST_TOKEN;manufacturer=SoftHSM%20project;serial=$TOKENKEY_TEST_SERIAL;model=SoftHSM%20v2;object=$1;type=$2;id=$3"
}

# What a cluster operator's CA adds to a client certificate.
tk_client_ext() {
    printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\n'
    printf 'extendedKeyUsage=clientAuth\n'
}

tk_sign() {
    ca=$1 csr=$2 out=$3
    shift 3
    tk_client_ext > "$D/client.ext"
    tk_ca_sign "$ca" "$csr" "$out" 2 "$D/client.ext" "$@"
}
